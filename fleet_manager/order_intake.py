"""Order intake: every message on ``/fleet/orders`` answered, every accepted order stored before its answer.

The node hands over raw messages in batches (:meth:`OrderIntake.on_orders`); one store transaction
takes the whole batch, so a burst costs one commit per batch, not per order. Per message, after
:func:`~fleet_manager.ingress.screen`:

* malformed → ``rejected`` with the reason and the client's id when readable (not stored: the same
  bytes would be judged the same way again);
* a new, possible order → stored, ``accepted`` (durable, with ``seq``);
* a new, impossible order → ``rejected`` with the reason, remembered (bounded: ``rejections_kept``
  rows, ``rejections_kept_s`` seconds) so that a re-sent copy gets the same answer;
* more than ``max_open_orders`` unfinished → ``rejected`` ``overloaded`` (not stored: retry later);
* a known id (a re-send, e.g. after a restart, or a query) → its current state, from memory or the
  store; an unknown id in a query or cancel → ``unknown``;
* a cancel → ``cancelled`` until the container is lifted, else the current state and why not.

Rejections are logged at most ``LOG_PER_S`` a second (the rest counted), so a flood of bad input
costs no more than its answers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from .fleet_core import FleetCore, Output
from .ingress import quote, rejection, screen
from .orders import Order, OrderRejected, check_order, digest_of, order_from_doc

log = logging.getLogger("fleet_manager")

LOG_PER_S = 10  # rejection log lines per second (of the manager's clock); the rest are counted
HOUSEKEEPING_PERIOD_S = 60.0  # pruning of remembered rejections and of the published outbox
OUTBOX_KEPT = 10000  # published outbox rows kept (their seq numbers are never reused)


class OrderIntake(FleetCore):
    """The order intake of :class:`~fleet_manager.manager.FleetManager`."""

    def on_order(self, text: str, now: float) -> None:
        """One raw message of ``/fleet/orders``."""
        self.on_orders([text], now)

    def on_orders(self, texts: Iterable[str], now: float) -> None:
        """Raw messages of ``/fleet/orders``, in arrival order: each answered, all stored in one transaction.

        If the store fails, nothing of the batch is kept (the node then hands the messages over
        one by one, so one poisonous message cannot cost the others their answers).
        """
        active = {o.container_id: o.order_id for o in self.orders.values() if not o.final}
        added: list[str] = []
        try:
            with self._tx():
                for text in texts:
                    self._take(text, active, added, now)
                if self._rejections_since_prune > max(1, self.cfg.rejections_kept // 10):
                    self._prune_rejections(now)
        except BaseException:
            for oid in added:
                self.orders.pop(oid, None)
            raise
        if added:
            self._alloc_dirty = True

    def _take(self, text: str, active: dict[str, str], added: list[str], now: float) -> None:
        s = screen(text, self.cfg.ingress)
        if s.kind == "malformed":
            self._refuse(s.order_id, s.reason, now)
            return
        oid = s.order_id
        if s.kind == "query":
            self._answer_known(oid, "query", now)
            return
        if s.kind == "cancel":
            o = self.orders.get(oid)
            if o is None or o.final:
                self._answer_known(oid, "cancel", now)
            elif self._cancel(o, now):
                active.pop(o.container_id, None)
            return
        doc = s.doc
        dig = digest_of(doc)
        known = self.orders.get(oid) or self.store.get_order(oid)
        if known is not None:
            note = "duplicate order id: already known" if known.digest == dig else \
                "duplicate order id with different content: ignored, the first order stands"
            self._answer_state(known, note, now)
            return
        rej = self.store.get_rejection(oid)
        if rej is not None and rej[0] == dig:
            self._emit(Output("order_event", "", rejection(oid, f"duplicate of a rejected order: {rej[1]}", now)))
            return
        if len(active) >= self.cfg.max_open_orders:
            self.shed += 1
            self._refuse(oid, f"overloaded: {len(active):,} unfinished orders (max_open_orders); not stored, "
                              "retry later", now)
            return
        try:
            check_order(doc, self.world, self.yard_state, active, lambda a, b: (a, b) in self._reach)
        except OrderRejected as exc:
            self.store.save_rejection(oid, dig, exc.reason, now)
            self._rejections_since_prune += 1
            ev = {**rejection(oid, exc.reason, now), "container_id": doc["container_id"]}
            seq = self.store.append_outbox("order_event", "", ev)
            self._emit(Output("order_event", "", ev, seq))
            self._note_rejection(oid, exc.reason, now)
            return
        order = order_from_doc(doc, now, dig)
        self._save(order, now)
        self._event(order, "accepted", now)
        self.orders[oid] = order
        active[order.container_id] = oid
        added.append(oid)
        log.info("accepted order %s: %s from %s to %s", quote(oid), order.container_id, order.origin_truck_bay,
                 order.dest_station)

    def _refuse(self, oid: str, reason: str, now: float) -> None:
        """Answer a message that leaves nothing behind (malformed, overloaded)."""
        self._emit(Output("order_event", "", rejection(oid, reason, now)))
        self._note_rejection(oid, reason, now)

    def _note_rejection(self, oid: str, reason: str, now: float) -> None:
        if not reason.startswith("overloaded"):
            self.counts["rejected"] += 1
        sec = int(now)
        if sec != self._log_second:
            if self._log_suppressed:
                log.warning("%d more rejections not logged in the previous second(s)", self._log_suppressed)
            self._log_second, self._log_lines, self._log_suppressed = sec, 0, 0
        if self._log_lines < LOG_PER_S:
            self._log_lines += 1
            log.warning("rejected order %s: %s", quote(oid, self.cfg.ingress.max_string_chars), reason)
        else:
            self._log_suppressed += 1

    def _answer_state(self, o: Order, note: str, now: float) -> None:
        self._emit(Output("order_event", "", {"order_id": o.order_id, "event": o.state, "reason": note, "stamp": now,
                                              "carrier_id": o.carrier_id, "container_id": o.container_id}))

    def _answer_known(self, oid: str, why: str, now: float) -> None:
        """A query, or a cancel of an order that is not open: its state, its rejection, or ``unknown``."""
        o = self.orders.get(oid) or self.store.get_order(oid)
        if o is not None:
            note = f"{why}: order already {o.state}" if why == "cancel" else f"{why}: current state"
            self._answer_state(o, f"{note}: {o.reason}" if o.reason else note, now)
            return
        rej = self.store.get_rejection(oid)
        if rej is not None:
            self._emit(Output("order_event", "", rejection(oid, f"{why}: the order was rejected: {rej[1]}", now)))
            return
        self._emit(Output("order_event", "", {"order_id": oid, "event": "unknown", "stamp": now,
                                              "reason": f"{why}: no order with this id is known (never received, "
                                                        "or rejected and forgotten)"}))

    def _cancel(self, o: Order, now: float) -> bool:
        """Cancel an open order unless its container is lifted already; True if cancelled."""
        if o.loaded or o.container_at.startswith("crane:"):
            self._answer_state(o, "cancel refused: the container is already lifted", now)
            return False
        self._end(o, "cancelled", "cancelled by request", now)
        return True

    def _prune_rejections(self, now: float) -> None:
        self.store.prune_rejections(now - self.cfg.rejections_kept_s, self.cfg.rejections_kept)
        self._rejections_since_prune = 0

    def _housekeep(self, now: float) -> None:
        """Bound what the store remembers of rejections and of published messages (every minute).

        Between two prunings at most ``rejections_kept // 10`` rejections are added (a batch prunes
        when it passes that), so the table never holds much more than ``rejections_kept`` rows.
        """
        if now - self._last_housekeeping < HOUSEKEEPING_PERIOD_S:
            return
        self._last_housekeeping = now
        with self.store.transaction():
            self._prune_rejections(now)
            self.store.prune_outbox(OUTBOX_KEPT)
