"""Durable fleet state in SQLite: orders, the outbox, carriers, routes and reservations.

Write-ahead of every acknowledgement: an order, each state change and each
message that carries it (order events, crane jobs) are committed in one
transaction *before* anything is published (the transactional-outbox pattern).
After a crash the outbox rows not marked published are sent again; every
such message is idempotent by id (order events carry a sequence number
``seq``, crane jobs and routes a stable id). Routes, movement authorities and
the reservation table are stored so that a restarted fleet manager resumes
the same traffic plan in the same order (the order is what keeps the fleet
deadlock-free, see :mod:`fleet_manager.reservations`).

SQLite in WAL mode; ``synchronous=NORMAL`` survives a crash or ``kill -9`` of
the process (the WAL is in the OS page cache), ``FULL`` also a power loss.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields

from .orders import Order

_ORDER_COLS = [f.name for f in fields(Order)]

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS orders ({", ".join(c + (" TEXT PRIMARY KEY" if c == "order_id" else "")
                                              for c in _ORDER_COLS)});
CREATE TABLE IF NOT EXISTS rejections (order_id TEXT PRIMARY KEY, digest TEXT, reason TEXT, stamp REAL);
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT, key TEXT, doc TEXT,
                                   published INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS carriers (carrier_id TEXT PRIMARY KEY, doc TEXT);
CREATE TABLE IF NOT EXISTS routes (carrier_id TEXT PRIMARY KEY, route_id TEXT, doc TEXT, path TEXT, purpose TEXT,
                                   authority_m REAL);
CREATE TABLE IF NOT EXISTS reservations (carrier_id TEXT, resource INTEGER, enter_m REAL, exit_m REAL,
                                         t_start REAL, t_end REAL, granted INTEGER);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


def _num(x: float) -> float | None:
    return None if not math.isfinite(x) else x


def _inf(x) -> float:
    return math.inf if x is None else float(x)


class FleetStore:
    """One SQLite database file (``:memory:`` for tests)."""

    def __init__(self, path: str, synchronous: str = "NORMAL"):
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be NORMAL or FULL")
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        if path != ":memory:":
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={synchronous}")
        self.db.executescript(SCHEMA)
        self._depth = 0
        self._seq: int | None = None  # next outbox seq, known inside a transaction (one writer)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes; nested uses join the outer transaction. Commits on success, rolls back on error."""
        if self._depth == 0:
            self.db.execute("BEGIN IMMEDIATE")
            self._seq = None
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self.db.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self.db.execute("COMMIT")

    # ---------------------------------------------------------------- orders
    def save_order(self, order: Order) -> None:
        row = order.to_row()
        cols = ", ".join(_ORDER_COLS)
        marks = ", ".join("?" for _ in _ORDER_COLS)
        self.db.execute(f"INSERT OR REPLACE INTO orders ({cols}) VALUES ({marks})", [row[c] for c in _ORDER_COLS])

    def load_orders(self, unfinished_only: bool = False) -> list[Order]:
        q = "SELECT * FROM orders"
        if unfinished_only:
            q += " WHERE state NOT IN ('completed', 'failed', 'cancelled', 'rejected')"
        return [Order.from_row(dict(r)) for r in self.db.execute(q + " ORDER BY accepted_s, order_id")]

    def get_order(self, order_id: str) -> Order | None:
        r = self.db.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone()
        return None if r is None else Order.from_row(dict(r))

    def save_rejection(self, order_id: str, digest: str, reason: str, stamp: float) -> None:
        self.db.execute("INSERT OR REPLACE INTO rejections VALUES (?, ?, ?, ?)", (order_id, digest, reason, stamp))

    def prune_rejections(self, older_than: float, keep: int) -> int:
        """Forget rejections stamped before ``older_than`` and all but the newest ``keep``; returns how many."""
        n = self.db.execute("DELETE FROM rejections WHERE stamp < ?", (older_than,)).rowcount
        n += self.db.execute("DELETE FROM rejections WHERE order_id NOT IN "
                             "(SELECT order_id FROM rejections ORDER BY stamp DESC LIMIT ?)", (keep,)).rowcount
        return n

    def count_rejections(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM rejections").fetchone()[0])

    def get_rejection(self, order_id: str) -> tuple[str, str] | None:
        r = self.db.execute("SELECT digest, reason FROM rejections WHERE order_id = ?", (order_id,)).fetchone()
        return None if r is None else (r["digest"], r["reason"])

    # ---------------------------------------------------------------- outbox
    def append_outbox(self, kind: str, key: str, doc: dict) -> int:
        """Queue a message; order events get the row's sequence number as ``seq`` (for de-duplication).

        Inside a transaction the next number is counted here (one writer: ``BEGIN IMMEDIATE``), so an
        order event is one INSERT with its ``seq`` already in the document.
        """
        if self._depth == 0:
            with self.transaction():
                return self.append_outbox(kind, key, doc)
        seq = self.next_seq() if self._seq is None else self._seq
        self._seq = seq + 1
        if kind == "order_event":
            doc["seq"] = seq
        self.db.execute("INSERT INTO outbox (seq, kind, key, doc) VALUES (?, ?, ?, ?)",
                        (seq, kind, key, json.dumps(doc, sort_keys=True)))
        return seq

    def next_seq(self) -> int:
        """The number the next outbox row gets (never one used before, even by a pruned row)."""
        r = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        m = self.db.execute("SELECT MAX(seq) FROM outbox").fetchone()
        return max(int(r[0]) if r else 0, int(m[0]) if m and m[0] is not None else 0) + 1

    def mark_published(self, seqs: list[int]) -> None:
        if seqs:
            self.db.executemany("UPDATE outbox SET published = 1 WHERE seq = ?", [(s,) for s in seqs])

    def unpublished(self) -> list[tuple[int, str, str, dict]]:
        return [(r["seq"], r["kind"], r["key"], json.loads(r["doc"]))
                for r in self.db.execute("SELECT * FROM outbox WHERE published = 0 ORDER BY seq")]

    def prune_outbox(self, keep: int = 10000) -> int:
        """Forget published rows older than the newest ``keep`` (sequence numbers are never reused)."""
        return self.db.execute("DELETE FROM outbox WHERE published = 1 AND seq < (SELECT MAX(seq) FROM outbox) - ?",
                               (keep,)).rowcount

    # ---------------------------------------------------------------- carriers, routes, reservations
    def save_carrier(self, carrier_id: str, doc: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO carriers VALUES (?, ?)", (carrier_id, json.dumps(doc, sort_keys=True)))

    def load_carriers(self) -> dict[str, dict]:
        return {r["carrier_id"]: json.loads(r["doc"]) for r in self.db.execute("SELECT * FROM carriers")}

    def save_route(self, carrier_id: str, route_id: str, doc: dict, path: dict, purpose: str,
                   authority_m: float) -> None:
        self.db.execute("INSERT OR REPLACE INTO routes VALUES (?, ?, ?, ?, ?, ?)",
                        (carrier_id, route_id, json.dumps(doc), json.dumps(path), purpose, authority_m))

    def save_authority(self, carrier_id: str, route_id: str, authority_m: float) -> None:
        self.db.execute("UPDATE routes SET authority_m = ? WHERE carrier_id = ? AND route_id = ?",
                        (authority_m, carrier_id, route_id))

    def clear_route(self, carrier_id: str) -> None:
        self.db.execute("DELETE FROM routes WHERE carrier_id = ?", (carrier_id,))

    def load_routes(self) -> dict[str, dict]:
        return {r["carrier_id"]: {"route_id": r["route_id"], "doc": json.loads(r["doc"]), "path": json.loads(r["path"]),
                                  "purpose": r["purpose"], "authority_m": r["authority_m"]}
                for r in self.db.execute("SELECT * FROM routes")}

    def save_reservations(self, rows: list) -> None:
        """Replace the whole reservation table (rows: Reservation objects)."""
        self.db.execute("DELETE FROM reservations")
        self.db.executemany("INSERT INTO reservations VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [(r.carrier, r.resource, r.enter_m, _num(r.exit_m), r.t_start, _num(r.t_end),
                              int(r.granted)) for r in rows])

    def load_reservations(self) -> list[tuple]:
        return [(r["carrier_id"], int(r["resource"]), r["enter_m"], _inf(r["exit_m"]), r["t_start"], _inf(r["t_end"]),
                 bool(r["granted"])) for r in self.db.execute("SELECT * FROM reservations")]

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        r = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if r is None else r["value"]

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
