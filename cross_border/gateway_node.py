"""ROS 2 node of one side's border gateway: the ROS topics of :mod:`cross_border.exchange`, over a Zenoh link.

Subscribes ``/customs/manifests`` and ``/customs/decisions``: a manifest whose ``origin_side`` or a
decision whose ``side`` is this gateway's side goes into the outbox and across; the other side's
documents, verified and in order per container, are published on the same topics exactly once,
so every consumer of this side (fleet manager, customs) sees both sides' documents in one place.
``/border/events`` is the audit trail (queued, acknowledged, delivered, duplicate, rejected,
refused, with reasons); ``/diagnostics`` reports the link, the outbox and rejections.

The link is wall-clock business (the two sites' ROS clocks may be simulated and differ), so the
processing timers run on the steady clock and envelopes carry POSIX time; event stamps use the
node's clock (``use_sim_time`` honoured).
"""

from __future__ import annotations

import collections
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from std_msgs.msg import String

from yard_model.documents import DocumentError, dump_document, parse_document
from yard_ros import qos
from yard_ros.params import declare
from yard_ros.spin import run_node

from .exchange import Exchange, Received, SubmitError
from .link import Link
from .params import GatewayParams
from .signing import fingerprint, load_private_key, load_public_key
from .store import InRow, Store

TOPIC = {"customs_manifest": "/customs/manifests", "clearance_decision": "/customs/decisions"}
SIDE_FIELD = {"customs_manifest": "origin_side", "clearance_decision": "side"}
ID_FIELD = {"customs_manifest": "manifest_id", "clearance_decision": "decision_id"}
REMEMBERED = 100_000  # ids this node published itself (its own deliveries come back on the same topics)


class BorderGatewayNode(Node):
    """See the module docstring."""

    def __init__(self, **node_kwargs):
        node_kwargs.setdefault("node_name", "border_gateway")
        super().__init__(**node_kwargs)
        self.p = declare(self, GatewayParams)
        key = load_private_key(self.p.private_key_file)
        peer_key = load_public_key(self.p.peer_public_key_file)
        self.peer_fingerprint = fingerprint(peer_key)
        self.store = Store(self.p.db_path)
        self.exchange = Exchange(self.p.exchange_config(), self.store, key, peer_key)
        try:
            self.link = Link(self.p.link_config())
        except Exception as exc:  # zenoh.ZError: an endpoint that cannot be listened on
            self.store.close()
            raise ValueError(f"zenoh session: {exc}") from exc
        self.pub = {kind: self.create_publisher(String, topic, qos.EVENTS) for kind, topic in TOPIC.items()}
        self.pub_events = self.create_publisher(String, "/border/events", qos.EVENTS)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        for kind, topic in TOPIC.items():
            self.create_subscription(String, topic, lambda m, k=kind: self._on_local(k, m), qos.ORDERS)
        self._published: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.delivered = 0
        self._last_rejection = ""
        self._rejected_before = 0
        self._link_up = False
        self._last_prune = time.time()
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(1.0 / self.p.process_rate_hz, self._process, clock=steady)
        self.create_timer(self.p.diagnostics_period_s, self._diagnostics, clock=steady)
        pending, _ = self.store.outbox_pending()
        self.get_logger().info(
            f"side {self.p.side} <-> {self.p.peer_side} (peer key {self.peer_fingerprint}), zenoh {self.p.zenoh_mode} "
            f"listen {self.p.zenoh_listen} connect {self.p.zenoh_connect}, db {self.p.db_path} "
            f"({pending} unacknowledged documents to re-send)")

    # ---------------------------------------------------------------- helpers
    def _stamp(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _event(self, event: str, **fields) -> None:
        doc = {"event": event, "side": self.p.side, "stamp": self._stamp(),
               **{k: v for k, v in fields.items() if v is not None}}
        self.pub_events.publish(String(data=dump_document("border_event", doc)))

    # ---------------------------------------------------------------- local documents
    def _on_local(self, kind: str, msg: String) -> None:
        try:
            doc = parse_document(kind, msg.data)
        except DocumentError as exc:
            self.get_logger().warning(f"{TOPIC[kind]}: refused: {exc}")
            self._event("refused", kind=kind, code="invalid_document", reason=str(exc))
            return
        msg_id = doc[ID_FIELD[kind]]
        if doc[SIDE_FIELD[kind]] != self.p.side:
            if msg_id not in self._published:  # not one this gateway delivered: someone published the peer's
                self._event("refused", kind=kind, msg_id=msg_id, container_id=doc["container_id"], code="not_ours",
                            reason=f"{SIDE_FIELD[kind]} is {doc[SIDE_FIELD[kind]]}, not this side ({self.p.side}); "
                                   f"only the other side's gateway may publish its documents here")
            return
        try:
            new, seq = self.exchange.submit(kind, doc, time.time())
        except SubmitError as exc:
            code = "id_reused" if str(exc).startswith("id_reused") else "invalid_document"
            self.get_logger().warning(f"{TOPIC[kind]}: refused: {exc}")
            self._event("refused", kind=kind, msg_id=msg_id, container_id=doc["container_id"], code=code,
                        reason=str(exc))
            return
        if new:
            self._event("queued", kind=kind, msg_id=msg_id, container_id=doc["container_id"], seq=seq)

    # ---------------------------------------------------------------- the link
    def _process(self) -> None:
        now = time.time()
        up = self.link.up()
        if up and not self._link_up:
            n = self.exchange.link_restored(now)
            self.get_logger().info(f"link to {self.p.peer_side} up; re-sending {n} unacknowledged documents")
        elif self._link_up and not up:
            self.get_logger().warning(f"link to {self.p.peer_side} down; documents wait in the outbox")
        self._link_up = up
        payloads = self.link.take()
        if payloads:
            for got in self.exchange.receive_many(payloads, now):  # committed before any acknowledgement leaves
                self._received(got)
        self.exchange.deliver(now, self._publish_delivery)
        if up:
            for env in self.exchange.due(now):
                self.link.send(env)
        if now - self._last_prune > 60.0:
            self.exchange.prune(now)
            self._last_prune = now

    def _received(self, got: Received) -> None:
        for reply in got.replies:
            self.link.send(reply)
        r = got.rejection
        if r is not None:
            self._last_rejection = f"{r.code}: {r.reason}"
            self.get_logger().warning(f"rejected envelope {r.msg_id or '?'} from the link: {r.code}: {r.reason}")
            self._event("rejected", msg_id=r.msg_id, kind=r.kind, container_id=r.container_id, code=r.code,
                        reason=r.reason)
        if got.acked is not None:
            msg_id, status, reason, attempts, container = got.acked
            self._event("acknowledged", msg_id=msg_id, container_id=container, ack_status=status, attempts=attempts,
                        reason=reason or None)
            if status == "rejected":
                self.get_logger().error(f"{self.p.peer_side} rejected {msg_id}: {reason}")
        if got.duplicate is not None:
            self._event("duplicate", msg_id=got.duplicate)

    def _publish_delivery(self, row: InRow) -> None:
        self._published[row.msg_id] = None
        while len(self._published) > REMEMBERED:
            self._published.popitem(last=False)
        self.pub[row.kind].publish(String(data=dump_document(row.kind, row.body)))
        self.delivered += 1
        self._event("delivered", msg_id=row.msg_id, kind=row.kind, container_id=row.container_id, seq=row.seq)

    # ---------------------------------------------------------------- diagnostics
    def _diagnostics(self) -> None:
        now = time.time()
        pending, oldest = self.store.outbox_pending()
        age = now - oldest if oldest is not None else 0.0
        rejected = sum(self.exchange.rejections.values())
        problems = []
        if not self._link_up:
            problems.append(f"link to {self.p.peer_side} down")
        if age > self.p.stale_outbox_s:
            problems.append(f"oldest unacknowledged document {age:.0f} s old")
        if rejected > self._rejected_before:  # WARN for one period after each rejection, then back to OK
            problems.append(f"rejected {rejected - self._rejected_before} envelopes (last: {self._last_rejection})")
        self._rejected_before = rejected
        level = DiagnosticStatus.ERROR if not self._link_up and age > self.p.stale_outbox_s else \
            DiagnosticStatus.WARN if problems else DiagnosticStatus.OK
        values = {"side": self.p.side, "peer": self.p.peer_side, "peer_key": self.peer_fingerprint,
                  "link_up": str(self._link_up).lower(), "outbox_pending": str(pending),
                  "oldest_unacked_s": f"{age:.1f}", "inbox_waiting": str(self.store.inbox_waiting()),
                  "delivered": str(self.delivered),
                  **{f"rejected_{code}": str(n) for code, n in self.exchange.rejections.items()}}
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [DiagnosticStatus(level=level, name=f"border_gateway/{self.p.side}", hardware_id=self.p.side,
                                       message="; ".join(problems) or (f"link up, {pending} documents awaiting "
                                                                       "acknowledgement" if pending else
                                                                       "link up, outbox empty"),
                                       values=[KeyValue(key=k, value=v) for k, v in values.items()])]
        self.pub_diag.publish(arr)

    def close(self) -> None:
        """Close the Zenoh session and the database (before the node is destroyed)."""
        self.link.close()
        self.store.close()


def main(args=None) -> int:
    """Run one side's gateway until Ctrl-C or SIGTERM (exit 0); exit 1 if its parameters or keys are bad."""
    return run_node(BorderGatewayNode, "border_gateway", args, on_exit=lambda node: node.close())


if __name__ == "__main__":
    raise SystemExit(main())
