"""The ``customs_sim`` node: simulated customs authorities for the running graph (issue #15).

Runs :class:`~yard_sim.customs.CustomsSim` on the node's clock (simulated time with
``use_sim_time``): every manifest on ``/customs/manifests`` (and, with ``manifests_from_orders``,
every new transport order on ``/fleet/orders``, the simulated TOS's manifest) is decided by the
export and the import side this node simulates, and each decision is published on
``/customs/decisions`` when its time comes, where the fleet manager (``clearance_required``) and
the border gateways take it. Figures are assumptions (``yard_sim.customs``).
"""

from __future__ import annotations

import hashlib

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from std_msgs.msg import String

from yard_model import load_world
from yard_model.documents import DocumentError, dump_document, parse_document
from yard_model.resources import world_path
from yard_ros import qos
from yard_ros.params import declare
from yard_ros.spin import run_node

from .customs import CustomsSim
from .customs_params import CustomsSimParams


class CustomsSimNode(Node):
    """See the module docstring."""

    def __init__(self, **node_kwargs):
        node_kwargs.setdefault("node_name", "customs_sim")
        super().__init__(**node_kwargs)
        self.p = p = declare(self, CustomsSimParams)
        self.world = load_world(world_path(p.world))
        countries = sorted({st.country for st in self.world.stations.values()})
        sides = [s for s in p.sides if s] or countries
        self.sim = CustomsSim({s: p.customs_config() for s in sides}, p.seed)
        self.seen: set[str] = set()  # manifest ids decided on (a re-sent order or manifest is one manifest)
        self.published = 0
        self.pub = self.create_publisher(String, "/customs/decisions", qos.EVENTS)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(String, "/customs/manifests", self._on_manifest, qos.ORDERS)
        if p.manifests_from_orders:
            self.create_subscription(String, "/fleet/orders", self._on_order, qos.ORDERS)
        self.create_timer(p.step_period_s, self._step)
        self.create_timer(1.0, self._diagnostics)
        self.get_logger().info(f"customs of {', '.join(sides)} for '{self.world.name}': median decision "
                               f"{p.decision_median_s:g} s, hold {p.hold_rate:.0%}, inspect {p.inspect_rate:.0%}")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _manifest(self, manifest_id: str, container_id: str, export_side: str, import_side: str) -> None:
        if manifest_id not in self.seen:
            self.seen.add(manifest_id)
            self.sim.manifest(container_id, manifest_id, export_side, import_side, self._now())

    def _on_manifest(self, msg: String) -> None:
        try:
            doc = parse_document("customs_manifest", msg.data)
        except DocumentError as exc:
            self.get_logger().warning(f"/customs/manifests: ignored: {exc}")
            return
        self._manifest(doc["manifest_id"], doc["container_id"], doc["origin_side"], doc["destination_side"])

    def _on_order(self, msg: String) -> None:
        try:
            doc = parse_document("transport_order", msg.data)
        except DocumentError:
            return  # the fleet manager answers bad orders; nothing to decide on
        stations = self.world.stations
        origin, dest = (doc.get("origin") or {}).get("station"), (doc.get("destination") or {}).get("station")
        if doc.get("cancel") or doc.get("query") or not doc.get("container_id"):
            return
        if origin in stations and dest in stations:
            manifest_id = f"m-{doc['order_id']}"
            if len(manifest_id) > 64:  # the schema's limit: a long order id is shortened by its digest
                manifest_id = f"m-{hashlib.sha1(doc['order_id'].encode()).hexdigest()[:24]}"
            self._manifest(manifest_id, doc["container_id"], stations[origin].country, stations[dest].country)

    def _step(self) -> None:
        for decision in self.sim.due(self._now()):
            self.pub.publish(String(data=dump_document("clearance_decision", decision)))
            self.published += 1

    def _diagnostics(self) -> None:
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        values = {"manifests": len(self.seen), "decisions_published": self.published, "held": self.sim.held,
                  "inspected": self.sim.inspected}
        arr.status = [DiagnosticStatus(level=DiagnosticStatus.OK, name="customs_sim", hardware_id="customs_sim",
                                       message=f"{len(self.seen)} manifests, {self.published} decisions",
                                       values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])]
        self.pub_diag.publish(arr)


def main(args=None) -> int:
    """Run the simulated customs until Ctrl-C or SIGTERM (exit 0); exit 1 if its parameters or world are bad."""
    return run_node(CustomsSimNode, "customs_sim", args)


if __name__ == "__main__":
    raise SystemExit(main())
