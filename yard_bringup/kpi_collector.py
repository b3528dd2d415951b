"""The ``yard_kpis`` node: measures a port day in the running graph and writes ``kpi.json``, ``kpi.md``, ``day.png``.

``yard-autonomy sim --out DIR`` starts it beside the graph. It hears what the KPI log of
``yard-autonomy day`` is fed (:class:`yard_harness.kpis.KpiLog`), from the topics:
``/yard/gate_events``, ``/fleet/order_events``, ``/<crane>/job_events``, ``/yard/events``,
``/yard/state``, ``/<carrier>/follower/status`` and ``/fleet/state`` as they come, and every
``sample_period_s`` of simulation time the carriers' truth (latest ``ground_truth/odometry`` and
``battery``). Once the simulation clock reaches ``duration_s`` (counted from the simulator's
start, t = 0, as the day's scenario is) it writes the report to ``output_dir`` and exits 0: a
sentinel that ends the run. Stopped earlier (Ctrl-C), it writes the report of the part that ran.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import BatteryState
from std_msgs.msg import String

from yard_harness.kpis import CarrierTruth, KpiLog
from yard_model import load_world
from yard_model.documents import DocumentError, parse_document
from yard_model.params import spec
from yard_model.resources import DEFAULT_WORLD, world_path
from yard_ros import qos
from yard_ros.params import declare
from yard_ros.spin import fast_executor, run_node


@dataclass
class KpiCollectorParams:
    """Parameters of the KPI collector (set by the bringup)."""

    world: str = field(default=DEFAULT_WORLD, metadata=spec(
        "World file: a path, or the name of a world in the package's sim_worlds (youyiguan, small_yard)."))
    carrier_ids: list[str] = field(default_factory=lambda: ["carrier_01"], metadata=spec(
        "Carriers of the fleet (their namespaces)."))
    output_dir: str = field(default="kpis", metadata=spec("Folder for kpi.json, kpi.md and day.png."))
    duration_s: float = field(default=0.0, metadata=spec(
        "Write the report and exit once simulation time reaches this (0 = only when stopped).", "s", 0.0, 1e7))
    sample_period_s: float = field(default=1.0, metadata=spec(
        "Carrier truth and time shares are sampled this often (simulated time).", "s", 0.1, 60.0))
    plot_period_s: float = field(default=60.0, metadata=spec(
        "Time-series resolution of day.png (simulated time).", "s", 1.0, 3600.0))
    seed: int = field(default=-1, metadata=spec(
        "Seed of the demand, copied to kpi.json (-1 = no demand node: no scenario section).", "", -1, 2**31 - 1))
    containers_per_day: float = field(default=0.0, metadata=spec(
        "Demand per direction, copied to kpi.json.", "", 0.0, 1e6))
    command: str = field(default="", metadata=spec("Command line shown in kpi.md."))
    plot: bool = field(default=True, metadata=spec("Also draw day.png (matplotlib)."))


class KpiCollectorNode(Node):
    """See the module docstring."""

    def __init__(self, **node_kwargs):
        node_kwargs.setdefault("node_name", "kpi_collector")
        super().__init__(**node_kwargs)
        self.p = p = declare(self, KpiCollectorParams)
        self.world = load_world(world_path(p.world))
        self.log = KpiLog(self.world, p.carrier_ids, p.plot_period_s)
        self.truth: dict[str, list[float]] = {}  # carrier -> [x, y, v, soc]
        self.bad_documents = 0
        self.written: Path | None = None
        feeds = {"/yard/gate_events": ("gate_event", self.log.gate_event, qos.EVENTS),
                 "/fleet/order_events": ("order_event", self.log.order_event, qos.EVENTS),
                 "/yard/events": ("sim_event", self.log.sim_event, qos.EVENTS),
                 "/yard/state": ("yard_state", self.log.yard_state, qos.LATCHED),
                 "/fleet/state": ("fleet_state", self.log.fleet_state, qos.LATCHED)}
        feeds.update({f"/{k}/job_events": ("crane_job_event", self.log.crane_event, qos.EVENTS)
                      for k in self.world.cranes})
        feeds.update({f"/{c}/follower/status": ("follower_status", self.log.follower_status, qos.STATE)
                      for c in p.carrier_ids})
        for topic, (schema, sink, profile) in feeds.items():
            self.create_subscription(String, topic, lambda m, s=schema, f=sink: self._feed(s, f, m), profile)
        for c in p.carrier_ids:
            self.truth[c] = [math.nan, math.nan, 0.0, math.nan]
            self.create_subscription(Odometry, f"/{c}/ground_truth/odometry",
                                     lambda m, c=c: self._on_truth(c, m), qos.SENSOR_SUB)
            self.create_subscription(BatteryState, f"/{c}/battery", lambda m, c=c: self._on_battery(c, m),
                                     qos.SENSOR_SUB)
        self.create_timer(p.sample_period_s, self._sample)
        if p.plot:  # import the plotting stack now, not in the seconds a shutdown allows
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot  # noqa: F401
        until = f"{p.duration_s:g} s of simulation time" if p.duration_s > 0 else "stopped"
        self.get_logger().info(f"measuring '{self.world.name}' with {len(p.carrier_ids)} carriers until {until}; "
                               f"report to {Path(p.output_dir).resolve()}")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _feed(self, schema: str, sink, msg: String) -> None:
        try:
            doc = parse_document(schema, msg.data)
        except DocumentError as exc:
            self.bad_documents += 1
            self.get_logger().warning(f"ignored {schema}: {exc}")
            return
        sink(doc)

    def _on_truth(self, carrier: str, msg: Odometry) -> None:
        tr = self.truth[carrier]
        tr[0], tr[1], tr[2] = msg.pose.pose.position.x, msg.pose.pose.position.y, msg.twist.twist.linear.x

    def _on_battery(self, carrier: str, msg: BatteryState) -> None:
        self.truth[carrier][3] = float(msg.percentage)

    def _sample(self) -> None:
        t = self._now()
        if t <= 0.0 or self.written is not None:
            return
        carriers = {c: CarrierTruth(*v) for c, v in self.truth.items() if all(math.isfinite(x) for x in v)}
        self.log.sample(t, carriers)
        if 0.0 < self.p.duration_s <= t:
            self.write()

    def write(self) -> None:
        """Write the report of what was measured so far (once)."""
        if self.written is not None:
            return
        from .day_report import write_report

        out = Path(self.p.output_dir).expanduser().resolve()
        scenario = {"seed": self.p.seed, "containers_per_day": self.p.containers_per_day} if self.p.seed >= 0 else None
        k = self.log.kpis("graph", scenario)
        try:
            write_report(self.log, out, self.p.command, kpis=k, plot=self.p.plot)
        except (OSError, DocumentError) as exc:
            self.get_logger().error(f"cannot write the report to {out}: {exc}")
        self.written = out
        o, lt = k["orders"], k["lead_time_s"]
        self.get_logger().info(
            f"{k['simulated_hours']:.3f} h: {o['completed']} orders completed of {o['accepted']} accepted, "
            f"mean lead time {lt['mean']} s, {k['safety']['collisions']} collisions, "
            f"{k['safety']['crane_limit_violations']} crane limit violations; wrote {out}/kpi.json")


def main(args=None) -> int:
    """Measure until ``duration_s`` of simulation time (or Ctrl-C), write the report, exit 0."""
    return run_node(KpiCollectorNode, "kpi_collector", args, on_exit=KpiCollectorNode.write,
                    done=lambda n: n.written is not None, executor_factory=fast_executor)


if __name__ == "__main__":
    raise SystemExit(main())
