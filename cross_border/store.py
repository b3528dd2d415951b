"""SQLite store of one gateway: outbox, inbox, per-container sequence and replay memory.

Why SQLite: the outbox must survive a crash or a power cut of the gateway (a document queued is a
document that will reach the other side), the store is local to one process, and the standard
library has it. Every change is committed before the caller acts on it (WAL journal, synchronous
FULL), so an acknowledgement is only sent for a document that is on disk.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    msg_id TEXT PRIMARY KEY, kind TEXT NOT NULL, container_id TEXT, seq INTEGER, body TEXT NOT NULL,
    created_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_send_at REAL NOT NULL,
    acked_at REAL, ack_status TEXT, ack_reason TEXT);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (acked_at, next_send_at);
CREATE TABLE IF NOT EXISTS inbox (
    msg_id TEXT PRIMARY KEY, sender TEXT NOT NULL, kind TEXT NOT NULL, container_id TEXT, seq INTEGER,
    body TEXT NOT NULL, status TEXT NOT NULL, received_at REAL NOT NULL, delivered_at REAL);
CREATE INDEX IF NOT EXISTS inbox_stream ON inbox (sender, container_id, seq);
CREATE INDEX IF NOT EXISTS inbox_open ON inbox (status);
CREATE TABLE IF NOT EXISTS streams (
    sender TEXT NOT NULL, container_id TEXT NOT NULL, next_seq INTEGER NOT NULL,
    PRIMARY KEY (sender, container_id));
CREATE TABLE IF NOT EXISTS seen (envelope TEXT PRIMARY KEY, sent_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS seen_age ON seen (sent_at);
"""


@dataclass(frozen=True)
class OutRow:
    """One outbox document."""

    msg_id: str
    kind: str
    container_id: str | None
    seq: int | None
    body: dict[str, Any]
    attempts: int
    created_at: float


@dataclass(frozen=True)
class InRow:
    """One inbox document from the other side."""

    msg_id: str
    sender: str
    kind: str
    container_id: str | None
    seq: int | None
    body: dict[str, Any]
    status: str  # pending | delivered | rejected


class Store:
    """The gateway's durable state; ``path`` ':memory:' for a throw-away store (tests)."""

    def __init__(self, path: str | Path = ":memory:"):
        if str(path) != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(Path(path).expanduser()) if str(path) != ":memory:" else path,
                                  isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        self._depth = 0

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction (one disk sync) around everything inside; nested uses join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self.db.execute("ROLLBACK")
            raise
        self._depth = 0
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ outbox
    def outbox_get(self, msg_id: str) -> tuple[str, str | None] | None:
        """(body JSON, ack_status) of an outbox document, or None."""
        row = self.db.execute("SELECT body, ack_status FROM outbox WHERE msg_id=?", (msg_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    def outbox_add(self, msg_id: str, kind: str, container_id: str | None, body: dict[str, Any],
                   now: float) -> int | None:
        """Queue a document; returns its sequence number among this container's documents."""
        with self.transaction():
            seq = None
            if container_id is not None:
                (last,) = self.db.execute("SELECT MAX(seq) FROM outbox WHERE container_id=?",
                                          (container_id,)).fetchone()
                seq = (last or 0) + 1
            self.db.execute("INSERT INTO outbox (msg_id, kind, container_id, seq, body, created_at, next_send_at)"
                            " VALUES (?,?,?,?,?,?,?)", (msg_id, kind, container_id, seq, _dump(body), now, now))
        return seq

    def outbox_due(self, now: float, limit: int) -> list[OutRow]:
        """Unacknowledged documents whose next send time has come, oldest first."""
        rows = self.db.execute("SELECT msg_id, kind, container_id, seq, body, attempts, created_at FROM outbox"
                               " WHERE acked_at IS NULL AND next_send_at<=? ORDER BY created_at, rowid LIMIT ?",
                               (now, limit)).fetchall()
        return [OutRow(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6]) for r in rows]

    def outbox_sent(self, msg_id: str, attempts: int, next_send_at: float) -> None:
        self.db.execute("UPDATE outbox SET attempts=?, next_send_at=? WHERE msg_id=?",
                        (attempts, next_send_at, msg_id))

    def outbox_ack(self, msg_id: str, status: str, reason: str, now: float) -> tuple[bool, int, str | None]:
        """Mark acknowledged; returns (first ack?, attempts, container_id); unknown ids give (False, 0, None)."""
        row = self.db.execute("SELECT attempts, container_id, acked_at FROM outbox WHERE msg_id=?",
                              (msg_id,)).fetchone()
        if row is None:
            return False, 0, None
        if row[2] is not None:
            return False, row[0], row[1]
        self.db.execute("UPDATE outbox SET acked_at=?, ack_status=?, ack_reason=? WHERE msg_id=?",
                        (now, status, reason, msg_id))
        return True, row[0], row[1]

    def outbox_resend_now(self, now: float) -> int:
        """Make every unacknowledged document due at once (the link came back)."""
        return self.db.execute("UPDATE outbox SET next_send_at=? WHERE acked_at IS NULL", (now,)).rowcount

    def outbox_pending(self) -> tuple[int, float | None]:
        """(unacknowledged documents, creation time of the oldest)."""
        n, oldest = self.db.execute("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE acked_at IS NULL").fetchone()
        return n, oldest

    # ------------------------------------------------------------------ inbox
    def inbox_status(self, msg_id: str) -> str | None:
        row = self.db.execute("SELECT status FROM inbox WHERE msg_id=?", (msg_id,)).fetchone()
        return None if row is None else row[0]

    def inbox_add(self, msg_id: str, sender: str, kind: str, container_id: str | None, seq: int | None,
                  body: dict[str, Any], status: str, now: float) -> None:
        self.db.execute("INSERT INTO inbox (msg_id, sender, kind, container_id, seq, body, status, received_at)"
                        " VALUES (?,?,?,?,?,?,?,?)",
                        (msg_id, sender, kind, container_id, seq, _dump(body), status, now))

    def next_deliverable(self) -> InRow | None:
        """The first pending document that is next in its container's order (rejected ones are passed over)."""
        while True:
            row = self.db.execute(
                "SELECT i.msg_id, i.sender, i.kind, i.container_id, i.seq, i.body, i.status FROM inbox i"
                " LEFT JOIN streams s ON s.sender=i.sender AND s.container_id=i.container_id"
                " WHERE i.status!='delivered' AND (i.seq IS NULL OR i.seq=COALESCE(s.next_seq, 1))"
                " AND NOT (i.seq IS NULL AND i.status='rejected') ORDER BY i.received_at, i.rowid LIMIT 1").fetchone()
            if row is None:
                return None
            found = InRow(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6])
            if found.status != "rejected":
                return found
            self._advance(found.sender, found.container_id, found.seq)  # a refused document keeps no one waiting

    def mark_delivered(self, row: InRow, now: float) -> None:
        """Delivered to the application: never again; the container's next document may follow."""
        with self.transaction():
            self.db.execute("UPDATE inbox SET status='delivered', delivered_at=? WHERE msg_id=?", (now, row.msg_id))
            if row.seq is not None:
                self._advance(row.sender, row.container_id, row.seq)

    def _advance(self, sender: str, container_id: str | None, seq: int | None) -> None:
        if seq is None or container_id is None:
            return
        self.db.execute("INSERT INTO streams (sender, container_id, next_seq) VALUES (?,?,?) ON CONFLICT"
                        " (sender, container_id) DO UPDATE SET next_seq=MAX(next_seq, excluded.next_seq)",
                        (sender, container_id, seq + 1))

    def inbox_waiting(self) -> int:
        """Documents received but held back for an earlier one of their container."""
        (n,) = self.db.execute("SELECT COUNT(*) FROM inbox WHERE status='pending'").fetchone()
        return n

    # ------------------------------------------------------------------ replay memory
    def seen_add(self, envelope: str, sent_at: float) -> bool:
        """Remember an envelope (msg_id#attempt); False if it was seen before."""
        cur = self.db.execute("INSERT OR IGNORE INTO seen (envelope, sent_at) VALUES (?,?)", (envelope, sent_at))
        return cur.rowcount == 1

    def seen_prune(self, older_than: float) -> int:
        """Forget envelopes sent before ``older_than`` (the replay window rejects them by their time)."""
        return self.db.execute("DELETE FROM seen WHERE sent_at<?", (older_than,)).rowcount


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
