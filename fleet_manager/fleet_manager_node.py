"""ROS 2 node of the fleet manager: translates topics to and from :class:`~fleet_manager.manager.FleetManager`.

Subscribes ``/fleet/orders``, ``/yard/state``, and per carrier ``follower/status``,
``localization/odometry_throttle`` (10 Hz), ``battery``, per crane ``job_events``. Publishes
``/fleet/order_events``, ``/fleet/state``, ``/fleet/bay_status``, and per carrier
``route`` and ``movement_authority``, per crane ``jobs``. All planning happens
in the core; this file only parses, stamps, publishes and confirms the
durable messages (outbox) once they are handed to the middleware.

Order ingress: ``/fleet/orders`` is taken by a second node (``<name>_ingress``) spun by its own
thread and executor, which only appends each message to a queue — so planning never keeps orders
waiting in the middleware, whose buffers are small. The main thread processes the queue in
batches of ``order_batch`` (screen, validate, store in one transaction, answer; see
:mod:`fleet_manager.order_intake`), woken by a guard condition, between its other callbacks.
When more than ``max_pending_orders`` are waiting, the ingress thread answers each further message
``rejected`` with reason ``overloaded`` at once: shed, never silently dropped.
"""

from __future__ import annotations

import collections
import math
import traceback

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import BatteryState
from std_msgs.msg import String

from yard_model import load_world
from yard_model.documents import DocumentError, dump_document, parse_document
from yard_model.params import ParameterError
from yard_model.resources import world_path
from yard_ros import qos
from yard_ros.params import declare
from yard_ros.spin import ExecutorThread, fast_executor, run_node
from yard_ros.topics import ODOMETRY_THROTTLE

from .ingress import overloaded, peek_order_id, rejection
from .manager import FleetManager, Output
from .network import YardNetwork
from .params import FleetManagerParams
from .routing import Router
from .store import FleetStore

SCHEMA_OF = {"order_event": "order_event", "route": "carrier_route", "authority": "movement_authority",
             "crane_job": "crane_job", "bay_status": "bay_status", "fleet_state": "fleet_state"}


class FleetManagerNode(Node):
    """See the module docstring."""

    def __init__(self, **node_kwargs):
        node_kwargs.setdefault("node_name", "fleet_manager")
        super().__init__(**node_kwargs)
        self.p = declare(self, FleetManagerParams)
        self.world = load_world(world_path(self.p.world))
        t0 = self._now()
        net = YardNetwork(self.world, self.p.network_config())
        router = Router(net)
        self.store = FleetStore(self.p.db_file(), self.p.db_synchronous)
        self._check_db(net)
        self.core = FleetManager(self.world, self.store, self.p.manager_config(), t0, net, router)
        restored = sum(1 for o in self.core.orders.values() if not o.final)
        self.get_logger().info(
            f"world '{self.world.name}', {len(self.p.carrier_ids)} carriers, {len(net.resources)} traffic resources, "
            f"db {self.p.db_file()} ({restored} unfinished orders resumed)")

        self.pub_events = self.create_publisher(String, "/fleet/order_events", qos.ORDER_EVENTS)
        self.pub_state = self.create_publisher(String, "/fleet/state", qos.LATCHED)
        self.pub_bays = self.create_publisher(String, "/fleet/bay_status", qos.LATCHED)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.pub_route = {c: self.create_publisher(String, f"/{c}/route", qos.COMMAND) for c in self.p.carrier_ids}
        self.pub_auth = {c: self.create_publisher(String, f"/{c}/movement_authority", qos.COMMAND)
                         for c in self.p.carrier_ids}
        self.pub_jobs = {k: self.create_publisher(String, f"/{k}/jobs", qos.COMMAND) for k in self.world.cranes}

        self.create_subscription(String, "/yard/state", self._on_yard_state, qos.LATCHED)
        for c in self.p.carrier_ids:
            self.create_subscription(String, f"/{c}/follower/status", self._on_status, qos.SENSOR_SUB)
            self.create_subscription(Odometry, f"/{c}/{ODOMETRY_THROTTLE}",
                                     lambda m, c=c: self._on_odom(c, m), qos.SENSOR_SUB)
            self.create_subscription(BatteryState, f"/{c}/battery", lambda m, c=c: self._on_battery(c, m),
                                     qos.SENSOR_SUB)
        for k in self.world.cranes:
            self.create_subscription(String, f"/{k}/job_events", self._on_job_event, qos.EVENTS)
        if self.p.clearance_required:  # both sides' customs decisions (the border gateway brings the other's)
            self.create_subscription(String, "/customs/decisions", self._on_clearance, qos.ORDERS)

        self._odom_t: dict[str, float] = {}
        self.shed_at_ingress = 0
        self.create_timer(1.0 / self.p.tick_rate_hz, self._tick)
        self.create_timer(1.0 / self.p.state_rate_hz, self._publish_state)
        self.create_timer(1.0, self._diagnostics)
        self._errors = 0
        self._start_ingress()
        self._flush()

    # ---------------------------------------------------------------- helpers
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _check_db(self, net: YardNetwork) -> None:
        """A database written for another yard (or another cell layout) must not be resumed."""
        key = f"{self.world.name}:{len(net.resources)}:{self.p.cell_length_m}:{self.p.lateral_margin_m}"
        with self.store.transaction():
            old = self.store.get_meta("network")
            if old is None:
                self.store.set_meta("network", key)
        if old is not None and old != key:
            raise ParameterError(f"db_path {self.p.db_file()} belongs to network '{old}', not '{key}': "
                                 "use another db_path or delete the file")

    def _guard(self, what: str, fn, *args) -> None:
        """Run a core call; a bug or bad input is logged, never takes the node down."""
        try:
            fn(*args)
        except DocumentError as exc:
            self.get_logger().warning(f"{what}: ignored: {exc}")
        except Exception as exc:  # keep running, but say loudly what happened
            self._errors += 1
            self.get_logger().error(f"{what}: {exc}\n{traceback.format_exc()}")
        self._flush()

    def _flush(self) -> None:
        """Publish what the core produced; confirm outbox rows once handed to the middleware."""
        seqs = []
        for out in self.core.drain():
            try:
                self._publish(out)
            except DocumentError as exc:  # our own bug: log it, do not crash
                self._errors += 1
                self.get_logger().error(f"not publishing invalid {out.kind}: {exc}")
                continue
            if out.seq is not None:
                seqs.append(out.seq)
        if seqs:
            self.core.published(seqs)

    def _publish(self, out: Output) -> None:
        text = dump_document(SCHEMA_OF[out.kind], out.doc)
        msg = String(data=text)
        if out.kind == "order_event":
            self.pub_events.publish(msg)
        elif out.kind == "route":
            self.pub_route[out.key].publish(msg)
        elif out.kind == "authority":
            self.pub_auth[out.key].publish(msg)
        elif out.kind == "crane_job":
            if out.key in self.pub_jobs:
                self.pub_jobs[out.key].publish(msg)
        elif out.kind == "bay_status":
            self.pub_bays.publish(msg)
        elif out.kind == "fleet_state":
            self.pub_state.publish(msg)

    # ---------------------------------------------------------------- callbacks
    # ---------------------------------------------------------------- order ingress
    def _start_ingress(self) -> None:
        """The ``/fleet/orders`` subscription on its own node, thread and executor (module docstring)."""
        self._pending: collections.deque[str] = collections.deque()
        self._wake_pending = False
        self._wake = self.create_guard_condition(self._drain_orders)
        ingress = rclpy.create_node(f"{self.get_name()}_ingress", namespace=self.get_namespace(),
                                    context=self.context, use_global_arguments=False, start_parameter_services=False)
        ingress.create_subscription(String, self.resolve_topic_name("/fleet/orders"), self._take_order, qos.ORDERS)
        self._pub_shed = ingress.create_publisher(String, self.resolve_topic_name("/fleet/order_events"),
                                                  qos.ORDER_EVENTS)
        self._ingress = ExecutorThread(ingress, fast_executor(self.context), "order_ingress")

    def _take_order(self, msg: String) -> None:
        """Ingress thread: queue the message (or shed it) and wake the main thread; nothing else."""
        if len(self._pending) >= self.p.max_pending_orders:
            self.shed_at_ingress += 1
            doc = overloaded(msg.data, f"{len(self._pending):,} orders waiting (max_pending_orders)", self._now())
            self._pub_shed.publish(String(data=dump_document("order_event", doc)))
            return
        self._pending.append(msg.data)
        if not self._wake_pending:
            self._wake_pending = True
            self._wake.trigger()

    def _drain_orders(self) -> None:
        """Main thread: one batch of queued messages into the core (stored, answered); more later."""
        self._wake_pending = False  # before taking: a message queued from now on triggers again
        batch = []
        while self._pending and len(batch) < self.p.order_batch:
            batch.append(self._pending.popleft())
        if batch:
            now = self._now()
            try:
                self.core.on_orders(batch, now)
            except Exception as exc:  # nothing of the batch was kept: one by one, so one bad message costs one
                self._errors += 1
                self.get_logger().error(f"order batch of {len(batch)}: {exc}; taking them one by one\n"
                                        f"{traceback.format_exc()}")
                for text in batch:
                    try:
                        self.core.on_orders([text], now)
                    except Exception as exc1:
                        self._errors += 1
                        self.get_logger().error(f"order: {exc1}\n{traceback.format_exc()}")
                        self._publish(Output("order_event", "", rejection(
                            peek_order_id(text), "internal error while storing the order: not stored, retry "
                                                 "later", now)))
            self._flush()
        if self._pending:
            self._wake.trigger()  # the rest after the other callbacks had their turn

    def _on_yard_state(self, msg: String) -> None:
        self._guard("yard_state", lambda: self.core.on_yard_state(parse_document("yard_state", msg.data),
                                                                  self._now()))

    def _on_status(self, msg: String) -> None:
        self._guard("follower_status", lambda: self.core.on_follower_status(
            parse_document("follower_status", msg.data), self._now()))

    def _on_job_event(self, msg: String) -> None:
        self._guard("crane_job_event", lambda: self.core.on_crane_event(
            parse_document("crane_job_event", msg.data), self._now()))

    def _on_clearance(self, msg: String) -> None:
        self._guard("clearance_decision", lambda: self.core.on_clearance(
            parse_document("clearance_decision", msg.data), self._now()))

    def _on_odom(self, carrier: str, msg: Odometry) -> None:
        now = self._now()
        if now - self._odom_t.get(carrier, -math.inf) < 0.2:  # the pose is needed a few times a second only
            return
        self._odom_t[carrier] = now
        q = msg.pose.pose.orientation
        yaw = math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))
        p = msg.pose.pose.position
        v = msg.twist.twist.linear.x
        self._guard("odometry", self.core.on_odometry, carrier, p.x, p.y, yaw, v, now)

    def _on_battery(self, carrier: str, msg: BatteryState) -> None:
        self._guard("battery", self.core.on_battery, carrier, float(msg.percentage), self._now())

    def _tick(self) -> None:
        self._guard("tick", self.core.tick, self._now())

    def _publish_state(self) -> None:
        try:
            self._publish(Output("fleet_state", "", self.core.fleet_state(self._now())))
        except Exception as exc:
            self._errors += 1
            self.get_logger().error(f"fleet_state: {exc}")

    def _diagnostics(self) -> None:
        st = self.core.fleet_state(self._now())
        faulted = [c for c, v in st["carriers"].items() if v["health"] == "faulted"]
        out = [c for c, v in st["carriers"].items() if v["health"] == "out_of_service"]
        level = DiagnosticStatus.ERROR if self.core.deadlocked() else \
            DiagnosticStatus.WARN if faulted or out or self._errors else DiagnosticStatus.OK
        msg = "deadlock" if level == DiagnosticStatus.ERROR else "; ".join(
            [f"faulted: {', '.join(faulted)}"] * bool(faulted) + [f"out of service: {', '.join(out)}"] * bool(out)
            + ["errors logged"] * bool(self._errors)) or "ok"
        values = {"open_orders": st["stats"]["open"], "completed": st["stats"]["completed"],
                  "rejected": st["stats"]["rejected"], "failed": st["stats"]["failed"],
                  "reservations": st["stats"]["reservations"], "faulted_carriers": len(faulted),
                  "out_of_service_carriers": len(out), "internal_errors": self._errors,
                  "pending_orders": len(self._pending), "shed_overloaded": self.core.shed + self.shed_at_ingress}
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [DiagnosticStatus(level=level, name="fleet_manager", hardware_id="fleet_manager", message=msg,
                                       values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])]
        levels = {"ok": DiagnosticStatus.OK, "warn": DiagnosticStatus.WARN, "error": DiagnosticStatus.ERROR}
        arr.status += [DiagnosticStatus(level=levels[d["level"]], name=d["name"], hardware_id=d["name"].split("/")[-1],
                                        message=d["message"],
                                        values=[KeyValue(key=k, value=str(v)) for k, v in d["values"].items()])
                       for d in self.core.carrier_diagnostics()]
        self.pub_diag.publish(arr)

    def destroy_node(self):
        self._ingress.close()
        self.store.close()
        super().destroy_node()


def main(args=None) -> int:
    """Run the fleet manager until Ctrl-C or SIGTERM (exit 0); exit 1 if its parameters or world are bad."""
    return run_node(FleetManagerNode, "fleet_manager", args)  # a guard condition wakes it: not EventsExecutor


if __name__ == "__main__":
    raise SystemExit(main())
