"""The ``yard_traffic`` node: a port day's demand (trucks and transport orders) for the running graph.

The outside world of the yard (the gates and the terminal operating system): it runs
:class:`~yard_sim.traffic.TrafficDriver` on simulation time and acts only through documented
topics. Subscribes ``/yard/state`` (which bays hold trucks), ``/yard/events`` (rejected spawns)
and ``/fleet/order_events`` (which orders the fleet manager answered); publishes
``/yard/sim/commands`` (``spawn_truck``), ``/fleet/orders`` (``transport_order``),
``/yard/gate_events`` (``gate_event``), with ``pre_clearance`` ``/customs/manifests``
(``customs_manifest``, filed as each truck reaches the gate) and ``/diagnostics``.

The day starts once the simulator listens for commands and has sent a ``yard_state``, the fleet
manager listens for orders, and ``wait_for_observers`` subscribers listen for gate events;
until then nothing is spawned. Scenario time is simulation time (t = 0 is the start of the
simulation, ``start_hour`` o'clock), so the same seed gives the trucks of ``yard-autonomy day``.
"""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from std_msgs.msg import String

from yard_model import load_world
from yard_model.documents import DocumentError, dump_document, parse_document
from yard_model.resources import world_path
from yard_ros import qos
from yard_ros.params import declare
from yard_ros.spin import fast_executor, run_node

from .scenario import TrafficScenario
from .traffic import TrafficDriver
from .traffic_params import TrafficParams


class TrafficNode(Node):
    """See the module docstring."""

    def __init__(self, **node_kwargs):
        node_kwargs.setdefault("node_name", "traffic")
        super().__init__(**node_kwargs)
        self.p = p = declare(self, TrafficParams)
        self.world = load_world(world_path(p.world))
        self.driver = TrafficDriver(TrafficScenario(self.world, p.scenario_config(), seed=p.seed),
                                    p.order_delay_s, p.order_resend_s)
        self.started_at: float | None = None
        self.bad_documents = 0
        self.pub_commands = self.create_publisher(String, "/yard/sim/commands", qos.COMMAND)
        self.pub_orders = self.create_publisher(String, "/fleet/orders", qos.COMMAND)
        self.pub_gate = self.create_publisher(String, "/yard/gate_events", qos.EVENTS)
        self.pub_manifests = self.create_publisher(String, "/customs/manifests", qos.COMMAND)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(String, "/yard/state", self._on_yard_state, qos.LATCHED)
        self.create_subscription(String, "/yard/events", self._on_sim_event, qos.EVENTS)
        self.create_subscription(String, "/fleet/order_events", self._on_order_event, qos.EVENTS)
        self.create_timer(p.step_period_s, self._step)
        self.create_timer(1.0, self._diagnostics)
        self.get_logger().info(
            f"demand for '{self.world.name}': {p.containers_per_day:g} containers a day each way, seed {p.seed}, "
            f"delivery bays {self.driver.scenario.delivery_bays}")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _parse(self, kind: str, msg: String) -> dict | None:
        try:
            return parse_document(kind, msg.data)
        except DocumentError as exc:
            self.bad_documents += 1
            self.get_logger().warning(f"ignored {kind}: {exc}")
            return None

    # ---------------------------------------------------------------- inputs
    def _on_yard_state(self, msg: String) -> None:
        doc = self._parse("yard_state", msg)
        if doc is not None:
            self.driver.on_yard_state(doc, self._now())

    def _on_sim_event(self, msg: String) -> None:
        doc = self._parse("sim_event", msg)
        if doc is not None:
            self.driver.on_sim_event(doc)

    def _on_order_event(self, msg: String) -> None:
        doc = self._parse("order_event", msg)
        if doc is not None:
            self.driver.on_order_event(doc)

    # ---------------------------------------------------------------- step
    def _waiting_for(self) -> str:
        """Why the day has not started yet ("" once it may)."""
        if self.pub_commands.get_subscription_count() == 0:
            return "the simulator (/yard/sim/commands)"
        if not self.driver.seen_state:
            return "a /yard/state"
        if self.pub_orders.get_subscription_count() == 0:
            return "the fleet manager (/fleet/orders)"
        if self.pub_gate.get_subscription_count() < self.p.wait_for_observers:
            return f"{self.p.wait_for_observers} observer(s) of /yard/gate_events"
        return ""

    def _step(self) -> None:
        t = self._now()
        if t <= 0.0:  # no /clock yet
            return
        if self.started_at is None:
            why = self._waiting_for()
            if why:
                self.get_logger().info(f"waiting for {why}", throttle_duration_sec=5.0)
                return
            self.started_at = t
            self.get_logger().info(f"port day started at {t:.1f} s of simulation time")
        out = self.driver.step(t, can_order=self.pub_orders.get_subscription_count() > 0)
        for ev in out.gate_events:
            self._publish(self.pub_gate, "gate_event", ev)
        for doc in out.manifests:
            self._publish(self.pub_manifests, "customs_manifest", doc)
        for cmd in out.commands:
            self._publish(self.pub_commands, "sim_command", cmd)
        for order in out.orders:
            self._publish(self.pub_orders, "transport_order", order)

    def _publish(self, pub, kind: str, doc: dict) -> None:
        try:
            pub.publish(String(data=dump_document(kind, doc)))
        except DocumentError as exc:  # our own bug: say so, keep running
            self.get_logger().error(f"not publishing an invalid {kind}: {exc}")

    def _diagnostics(self) -> None:
        st = self.driver.status()
        why = "" if self.started_at is not None else self._waiting_for()
        level = DiagnosticStatus.WARN if why or st["spawns_rejected"] or st["orders_rejected"] else DiagnosticStatus.OK
        message = f"waiting for {why}" if why else \
            f"{st['orders_sent']} orders issued, {st['gate_queue']} trucks at the gates"
        values = {**st, "bad_documents": self.bad_documents,
                  "started_at_s": "" if self.started_at is None else f"{self.started_at:.2f}"}
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [DiagnosticStatus(level=level, name=f"{self.get_fully_qualified_name()}: demand",
                                       hardware_id="yard_traffic", message=message,
                                       values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])]
        self.pub_diag.publish(arr)


def main(args=None) -> int:
    """Run the demand node until Ctrl-C or SIGTERM (exit 0); exit 1 if its parameters or world are bad."""
    return run_node(TrafficNode, "traffic", args, executor_factory=fast_executor)


if __name__ == "__main__":
    raise SystemExit(main())
