"""Client of the fleet manager's order interface: submit, wait for the answer, re-send until answered.

The client contract (docs/fleet_manager.md, "Client contract") in code:

* an order id is idempotent: re-sending an order answers with its current state, so a client
  re-sends every order it has no answer for — nothing is lost by sending twice;
* every message on ``/fleet/orders`` is answered on ``/fleet/order_events`` with its ``order_id``;
  no answer within ``retry_s`` (the manager restarting, a message lost) → send again, waiting
  twice as long each time up to ``max_retry_s``;
* ``rejected`` with a reason starting ``overloaded`` is not an answer to keep: nothing was stored,
  send again later (after the back-off);
* ``{"order_id": ..., "query": true}`` asks for an order's current state (answered from the
  manager's store, whatever its age); ``unknown`` means the manager never stored it: send the
  order again.

:class:`OrderClient` has its own ROS context, node and executor thread, so it works from any
program (a test, a script, the ``yard-autonomy order`` command) without touching the caller's
executor. :func:`submit_orders` is the one-call form.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from typing import Any

import rclpy
from std_msgs.msg import String

from . import qos
from .spin import ExecutorThread, fast_executor

FINAL = ("completed", "failed", "cancelled", "rejected")  # an order in one of these moves no more


def is_overloaded(event: dict[str, Any]) -> bool:
    return event.get("event") == "rejected" and str(event.get("reason", "")).startswith("overloaded")


def is_final(event: dict[str, Any] | None) -> bool:
    return event is not None and event.get("event") in FINAL and not is_overloaded(event)


class OrderClient:
    """Orders out on ``/fleet/orders``, answers in from ``/fleet/order_events`` (see the module docstring)."""

    def __init__(self, retry_s: float = 2.0, max_retry_s: float = 10.0, node_name: str = "order_client"):
        self.retry_s, self.max_retry_s = retry_s, max_retry_s
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(node_name, context=self.context, start_parameter_services=False)
        self._pub = self.node.create_publisher(String, "/fleet/orders", qos.ORDERS)
        self._lock = threading.Condition()
        self.latest: dict[str, dict[str, Any]] = {}  # order id -> the answer that says most (final ones stick)
        self.events: list[dict[str, Any]] = []  # every event received, in order (seq duplicates dropped)
        self._seqs: set[int] = set()
        self.node.create_subscription(String, "/fleet/order_events", self._on_event, qos.ORDER_EVENTS)
        self._spinner = ExecutorThread(self.node, fast_executor(self.context), "order_client")

    def _on_event(self, msg: String) -> None:
        try:
            ev = json.loads(msg.data)
        except ValueError:
            return
        if not isinstance(ev, dict) or not isinstance(ev.get("order_id"), str):
            return
        with self._lock:
            seq = ev.get("seq")
            if isinstance(seq, int):
                if seq in self._seqs:
                    return  # re-sent after a restart of the manager: seen already
                self._seqs.add(seq)
            self.events.append(ev)
            oid = ev["order_id"]
            if not is_final(self.latest.get(oid)):
                self.latest[oid] = ev
            self._lock.notify_all()

    def close(self) -> None:
        self._spinner.close()
        rclpy.try_shutdown(context=self.context)

    def __enter__(self) -> OrderClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def wait_for_manager(self, timeout_s: float = 10.0) -> bool:
        """True once a fleet manager subscribes to /fleet/orders (messages sent before would be lost)."""
        end = time.monotonic() + timeout_s
        while self._pub.get_subscription_count() == 0:
            if time.monotonic() >= end:
                return False
            time.sleep(0.05)
        return True

    def send(self, doc: dict[str, Any] | str) -> None:
        """Publish one message as is (no waiting, no retry)."""
        self._pub.publish(String(data=doc if isinstance(doc, str) else json.dumps(doc)))

    # ------------------------------------------------------------------ the contract
    def submit(self, docs: Iterable[dict[str, Any]], timeout_s: float = 30.0, until: str = "ack") -> dict[str, dict]:
        """Send orders (or cancels, queries) and wait until each has an answer (``until="ack"``) or a final
        state (``until="final"``), re-sending as the contract says. Returns order id -> latest answer; ids
        not answered within ``timeout_s`` are missing."""
        if until not in ("ack", "final"):
            raise ValueError("until must be 'ack' or 'final'")
        docs = list(docs)
        by_id = {str(d["order_id"]): d for d in docs}
        with self._lock:
            for oid in by_id:  # answers to an earlier use of the same ids do not count
                self.latest.pop(oid, None)
        self.wait_for_manager(min(timeout_s, 10.0))
        end = time.monotonic() + timeout_s
        due = {oid: 0.0 for oid in by_id}  # next (re-)send
        backoff = dict.fromkeys(by_id, self.retry_s)
        done: dict[str, dict] = {}
        while True:
            now = time.monotonic()
            with self._lock:
                for oid in list(due):
                    if self._answered(by_id[oid], self.latest.get(oid), until):
                        done[oid] = self.latest[oid]
                        del due[oid]
            if not due or now >= end:
                break
            for oid, t in due.items():
                if now < t:
                    continue
                ev = self.latest.get(oid)
                # waiting for a final state with an answer in hand: ask for the state rather than re-send
                ask = ev is not None and self._answered(by_id[oid], ev, "ack")
                self.send({"order_id": oid, "query": True} if ask else by_id[oid])
                due[oid] = now + backoff[oid]
                backoff[oid] = min(2.0 * backoff[oid], self.max_retry_s)
            with self._lock:
                self._lock.wait(timeout=min(0.1, max(0.0, end - now)))
        with self._lock:  # timed out: the last real answer, if any, even if not the one waited for
            for oid in due:
                ev = self.latest.get(oid)
                if ev is not None and not is_overloaded(ev):
                    done[oid] = ev
        return done

    @staticmethod
    def _answered(doc: dict[str, Any], ev: dict[str, Any] | None, until: str) -> bool:
        """Whether ``ev`` answers ``doc``: anything but 'overloaded' does for a query or a cancel; an order
        needs to be known to the manager (not 'unknown') and, with ``until="final"``, finished."""
        if ev is None or is_overloaded(ev):
            return False
        if doc.get("query") or doc.get("cancel"):
            return until == "ack" or is_final(ev) or ev.get("event") == "unknown"
        return ev.get("event") != "unknown" and (until == "ack" or is_final(ev))

    def cancel(self, order_id: str, timeout_s: float = 30.0) -> dict | None:
        return self.submit([{"order_id": order_id, "cancel": True}], timeout_s).get(order_id)

    def query(self, order_id: str, timeout_s: float = 30.0) -> dict | None:
        """The order's current state (``unknown`` if the manager never stored it), or None without answer."""
        self.submit([{"order_id": order_id, "query": True}], timeout_s)
        with self._lock:
            return self.latest.get(order_id)


def submit_orders(docs: Iterable[dict[str, Any]], timeout_s: float = 30.0, until: str = "ack",
                  retry_s: float = 2.0, max_retry_s: float = 10.0) -> dict[str, dict]:
    """Submit orders, wait for their answers (or final states), re-sending until answered; see :class:`OrderClient`."""
    with OrderClient(retry_s, max_retry_s) as client:
        return client.submit(docs, timeout_s, until)
