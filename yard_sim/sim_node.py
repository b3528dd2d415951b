"""The ``yard_sim`` node: runs :class:`~yard_sim.engine.SimEngine` against the wall clock and speaks ROS.

It only translates (docs/architecture.md, "Simulator" topic table): cmd_vel, joint trajectories and
sim commands go into the engine; each physics step's sensor measurements and events come out, and
/clock (``clock_rate_hz``, 50 Hz: every sim-time node wakes for each one), ground truth, joint
states, batteries, the yard state, markers and diagnostics are published at their rates in
*simulation* time. The simulator is the clock: its pacing timer runs
on the steady (monotonic) wall clock whatever ``use_sim_time`` says, and every stamp it publishes
is simulation time. With ``real_time_factor`` r > 0 each tick runs the steps that bring simulation
time to r x (wall time since start), at most ``max_catchup_steps`` (then the backlog is dropped and
the achieved factor, reported in /diagnostics, falls below r); with r = 0 ticks follow each other
as fast as possible. Either way no step runs while a carrier's controller lags behind the clock by
more than ``controller_max_lag_s`` (:mod:`yard_sim.pacing`): the simulator waits for it, so
simulated time only passes as fast as the controllers can follow it. And one tick runs at most
``COMMAND_SERVICE_S`` of simulated time and then yields to the executor, so a command (a crane
trajectory, a cmd_vel) that arrives while the simulator catches up is applied within that much
simulated time of its arrival, not after the whole burst: a drive gets its commands when they
come, and a trajectory stamped on the simulated clock is not made late by the simulator itself.

Bad input (a NaN twist, an unknown joint, a malformed or impossible sim command) is logged with a
reason, counted in /diagnostics, and ignored; the simulation keeps running.
"""

from __future__ import annotations

import math
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseWithCovarianceStamped, TwistStamped
from nav_msgs.msg import Odometry
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import BatteryState, Imu, JointState, NavSatFix
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg
from visualization_msgs.msg import MarkerArray

from yard_model import load_world
from yard_model.documents import DocumentError, dump_document
from yard_model.resources import world_path
from yard_ros import qos
from yard_ros.markers import dynamic_markers, static_markers
from yard_ros.params import declare
from yard_ros.spin import run_node
from yard_ros.stamps import from_sec, to_sec

from . import carrier_msgs
from .engine import SimEngine, StepOutput
from .pacing import ControllerPacer
from .sensors import BayPose, GnssFix, GnssHeading, ImuSample, SensorConfig, WheelOdom
from .sim_params import SimParams
from .trajectory import JointTrajectory, TrajectoryError, TrajectoryPoint

CLOCK_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)  # as rclpy's TimeSource subscribes
COMMAND_SERVICE_S = 0.05  # [s] most simulated time one tick runs before subscriptions are served again
PACING_SLEEP_S = 0.0005  # [s] wall time the simulator yields while it waits for a lagging controller
LAG_WARN_FRACTION = 0.9  # achieved / requested real-time factor below this is a WARN


class RateGate:
    """True once per period of simulation time (``due(t)``), without drift."""

    def __init__(self, rate_hz: float):
        self.period = 1.0 / rate_hz
        self.next_t = 0.0

    def due(self, t: float) -> bool:
        if t + 1e-9 < self.next_t:
            return False
        self.next_t += self.period * max(1, math.floor((t - self.next_t) / self.period + 1e-9) + 1)
        return True


def trajectory_from_msg(msg: JointTrajectoryMsg, now: float) -> JointTrajectory:
    """The engine's form of a JointTrajectory message (zero stamp = now)."""
    stamp = to_sec(msg.header.stamp)
    points = []
    for p in msg.points:
        points.append(TrajectoryPoint(
            p.time_from_start.sec + p.time_from_start.nanosec * 1e-9,
            tuple(float(v) for v in p.positions),
            tuple(float(v) for v in p.velocities) if len(p.velocities) else None,
            tuple(float(v) for v in p.accelerations) if len(p.accelerations) else None,
        ))
    return JointTrajectory(tuple(msg.joint_names), tuple(points), now if stamp == 0.0 else stamp)


class SimNode(Node):
    """Publishes the simulated yard; see the module docstring."""

    def __init__(self, **node_kwargs):
        super().__init__("yard_sim", **node_kwargs)
        self.params = p = declare(self, SimParams)
        sensors = declare(self, SensorConfig, prefix="sensors.")
        path = world_path(p.world)
        self.world = load_world(path)
        self.engine = SimEngine(self.world, p.carrier_list(), p.engine_config(sensors), seed=p.seed)
        if self.get_parameter("use_sim_time").value:
            self.get_logger().info("use_sim_time is ignored: the simulator is the clock")
        self.get_logger().info(
            f"simulating '{self.world.name}' ({path}) with {len(self.engine.carriers)} carriers "
            f"{list(self.engine.carriers)} and cranes {list(self.engine.cranes)}, seed {p.seed}, "
            f"real-time factor {p.real_time_factor or 'max'}")
        self.bad_messages: dict[str, int] = {"cmd_vel": 0, "joint_trajectory": 0, "sim_command": 0}
        self.pacer = ControllerPacer(p.controller_max_lag_s, p.controller_give_up_s)
        self._make_publishers()
        self._make_subscriptions()
        self._gates = {name: RateGate(getattr(p, f"{name}_rate_hz")) for name in
                       ("clock", "ground_truth", "joint_state", "battery", "yard_state", "markers", "diagnostics")}
        period = p.static_markers_period_s
        self._static_gate = RateGate(1.0 / period) if period > 0 else None
        if self._static_gate is not None:
            self._static_gate.next_t = period
        self._publish_static_markers()
        self._wall_start = time.monotonic()  # pacing only: the simulator is the clock
        self._sim_start = self.engine.t
        self._diag_wall, self._diag_sim = self._wall_start, self.engine.t
        self.achieved_rtf = 0.0
        self.backlog_drops = 0
        self._burst_steps = max(1, round(COMMAND_SERVICE_S / p.step_s))
        period = 0.0 if p.real_time_factor == 0 else max(p.step_s / p.real_time_factor, 0.001)
        self._timer = self.create_timer(period, self._tick, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self._publish_step(self.engine.step())

    # ------------------------------------------------------------- wiring
    def _make_publishers(self) -> None:
        e = self.engine
        self.pub_clock = self.create_publisher(ClockMsg, "/clock", CLOCK_QOS)
        self.pub_fix, self.pub_heading, self.pub_wheel, self.pub_imu, self.pub_truth, self.pub_battery = (
            {}, {}, {}, {}, {}, {})
        self.pub_bay: dict = {}
        for cid in e.carriers:
            self.pub_fix[cid] = self.create_publisher(NavSatFix, f"/{cid}/gnss/fix", qos.SENSOR_PUB)
            if self.engine.config.sensors.gnss_heading_enabled:
                self.pub_heading[cid] = self.create_publisher(Imu, f"/{cid}/gnss/heading", qos.SENSOR_PUB)
            if self.engine.config.sensors.bay_positioning_enabled:
                self.pub_bay[cid] = self.create_publisher(PoseWithCovarianceStamped, f"/{cid}/bay_positioning/pose",
                                                          qos.SENSOR_PUB)
            self.pub_wheel[cid] = self.create_publisher(Odometry, f"/{cid}/odom/wheel", qos.SENSOR_PUB)
            self.pub_imu[cid] = self.create_publisher(Imu, f"/{cid}/imu/data", qos.SENSOR_PUB)
            self.pub_truth[cid] = self.create_publisher(Odometry, f"/{cid}/ground_truth/odometry", qos.SENSOR_PUB)
            self.pub_battery[cid] = self.create_publisher(BatteryState, f"/{cid}/battery", qos.STATE)
        self.pub_joints = {k: self.create_publisher(JointState, f"/{k}/joint_states", qos.STATE) for k in e.cranes}
        # Two writers on /yard/markers: each keeps its own latched history, so a late joiner with a
        # history depth of 2 or more gets the static layout and the latest dynamic markers at once;
        # the static layout is also re-sent every static_markers_period_s for everyone else.
        self.pub_static_markers = self.create_publisher(MarkerArray, "/yard/markers", qos.LATCHED)
        self.pub_markers = self.create_publisher(MarkerArray, "/yard/markers", qos.LATCHED)
        self.pub_state = self.create_publisher(String, "/yard/state", qos.LATCHED)
        self.pub_events = self.create_publisher(String, "/yard/events", qos.EVENTS)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

    def _make_subscriptions(self) -> None:
        for cid in self.engine.carriers:
            self.create_subscription(TwistStamped, f"/{cid}/cmd_vel",
                                     lambda msg, cid=cid: self._on_cmd_vel(cid, msg), qos.COMMAND)
        for k in self.engine.cranes:
            self.create_subscription(JointTrajectoryMsg, f"/{k}/joint_trajectory",
                                     lambda msg, k=k: self._on_trajectory(k, msg), qos.COMMAND)
        self.create_subscription(String, "/yard/sim/commands", self._on_command, qos.COMMAND)

    # ---------------------------------------------------------- callbacks
    def _bad(self, kind: str, why: str) -> None:
        self.bad_messages[kind] += 1
        self.get_logger().warning(f"ignored {kind}: {why}")

    def _on_cmd_vel(self, cid: str, msg: TwistStamped) -> None:
        vw = carrier_msgs.cmd_from_twist(msg)
        if vw is None:
            self._bad("cmd_vel", f"/{cid}/cmd_vel has a non-finite speed or yaw rate")
            return
        self.engine.command_carrier(cid, *vw)
        self.pacer.command(cid, to_sec(msg.header.stamp), self.engine.t,  # answered, even if a fault ignores it
                           moving=vw[0] != 0.0 or vw[1] != 0.0)

    def _on_trajectory(self, crane_id: str, msg: JointTrajectoryMsg) -> None:
        try:
            self.engine.command_crane(crane_id, trajectory_from_msg(msg, self.engine.t))
        except TrajectoryError as exc:
            self._bad("joint_trajectory", f"/{crane_id}/joint_trajectory: {exc}")

    def _on_command(self, msg: String) -> None:
        result = self.engine.apply_command(msg.data)
        if not result.ok:
            self._bad("sim_command", result.reason)

    # ------------------------------------------------------------- pacing
    def _tick(self) -> None:
        p, e = self.params, self.engine
        now = time.monotonic()
        if p.real_time_factor > 0.0:
            target = self._sim_start + (now - self._wall_start) * p.real_time_factor
            n = math.floor((target - e.t) / e.dt + 1e-6)
            if n > p.max_catchup_steps:  # cannot keep up: drop the backlog, keep running
                self.backlog_drops += 1
                n = p.max_catchup_steps
                self._wall_start, self._sim_start = now, e.t + n * e.dt
        else:
            n = self._burst_steps
        for _ in range(min(n, self._burst_steps)):  # the rest of a backlog after the next service
            if not self.pacer.may_step(e.t, now):
                self._wall_start, self._sim_start = now, e.t  # waited: no catch-up burst afterwards
                time.sleep(PACING_SLEEP_S)  # then serve the subscriptions (the late command) and ask again
                return
            self._publish_step(e.step())
        if self.pacer.given_up:
            for k in self.pacer.given_up:
                self.get_logger().warning(f"controller pacing: {k} sent no cmd_vel for {self.pacer.give_up_s:g} s "
                                          "of wall time; not waiting for it until it sends again")
            self.pacer.given_up.clear()

    # --------------------------------------------------------- publishing
    def _publish_step(self, out: StepOutput) -> None:
        e, t = self.engine, out.t
        stamp = from_sec(t)
        g = self._gates
        if g["clock"].due(t):
            self.pub_clock.publish(ClockMsg(clock=stamp))
        for cid, m in out.measurements:
            self._publish_measurement(cid, m)
        for ev in out.events:
            self._publish_event(ev)
        if g["ground_truth"].due(t):
            for cid, c in e.carriers.items():
                self.pub_truth[cid].publish(carrier_msgs.ground_truth_msg(c.state, t, f"{cid}/base_link"))
        if g["joint_state"].due(t):
            for k, crane in e.cranes.items():
                names, pos, vel, eff = crane.joint_state()
                msg = JointState(name=names, position=pos, velocity=vel, effort=eff)
                msg.header.stamp = stamp
                self.pub_joints[k].publish(msg)
        if g["battery"].due(t):
            for cid, c in e.carriers.items():
                self.pub_battery[cid].publish(carrier_msgs.battery_msg(c.state, t, e.world.carrier_type,
                                                                       f"{cid}/base_link"))
        state_due = g["yard_state"].due(t)  # advance the gate even when a change forces a publish
        if state_due or out.state_changed:
            self._publish_document(self.pub_state, "yard_state", e.yard_state())
        if g["markers"].due(t):
            self.pub_markers.publish(dynamic_markers(e.world, e.snapshot(), t))
        if self._static_gate is not None and self._static_gate.due(t):
            self._publish_static_markers()
        if g["diagnostics"].due(t):
            self._publish_diagnostics(t)

    def _publish_measurement(self, cid: str, m) -> None:
        if isinstance(m, ImuSample):
            self.pub_imu[cid].publish(carrier_msgs.imu_msg(m, f"{cid}/imu_link"))
        elif isinstance(m, WheelOdom):
            self.pub_wheel[cid].publish(carrier_msgs.wheel_odom_msg(m, f"{cid}/odom", f"{cid}/base_link"))
        elif isinstance(m, GnssFix):
            self.pub_fix[cid].publish(carrier_msgs.gnss_fix_msg(m, f"{cid}/gnss_link"))
        elif isinstance(m, GnssHeading) and cid in self.pub_heading:
            self.pub_heading[cid].publish(carrier_msgs.gnss_heading_msg(m, f"{cid}/gnss_link"))
        elif isinstance(m, BayPose) and cid in self.pub_bay:
            self.pub_bay[cid].publish(carrier_msgs.bay_pose_msg(m))

    def _publish_document(self, pub, name: str, doc: dict) -> None:
        try:
            pub.publish(String(data=dump_document(name, doc)))
        except DocumentError as exc:  # our own bug: say so loudly, keep simulating
            self.get_logger().error(f"not publishing an invalid {name} document: {exc}")

    def _publish_event(self, ev: dict) -> None:
        if ev["event"] == "collision":
            self.get_logger().warning(f"collision {ev['bodies'][0]} / {ev['bodies'][1]} at "
                                      f"({ev['x']:.1f}, {ev['y']:.1f}), {ev['count']} so far")
        elif ev["event"] in ("container_dropped", "container_misplaced", "crane_limit_violation"):
            self.get_logger().warning(f"{ev['event']}: {ev}")
        self._publish_document(self.pub_events, "sim_event", ev)

    def _publish_static_markers(self) -> None:
        self.pub_static_markers.publish(static_markers(self.world, 0.0))

    def _publish_diagnostics(self, t: float) -> None:
        now = time.monotonic()
        if now > self._diag_wall:
            self.achieved_rtf = (t - self._diag_sim) / (now - self._diag_wall)
        self._diag_wall, self._diag_sim = now, t
        d = self.engine.diagnostics()
        d.update({f"bad_{k}": v for k, v in self.bad_messages.items()})
        d["real_time_factor_requested"] = self.params.real_time_factor
        d["real_time_factor_achieved"] = round(self.achieved_rtf, 3)
        d["backlog_drops"] = self.backlog_drops
        d["pacing_waits"] = self.pacer.waits
        d["pacing_wait_wall_s"] = round(self.pacer.wait_wall_s, 3)
        problems = []
        if self.params.real_time_factor > 0 and self.achieved_rtf < LAG_WARN_FRACTION * self.params.real_time_factor:
            problems.append(f"running at {self.achieved_rtf:.2f}x, asked {self.params.real_time_factor:g}x")
        if d["collisions"]:
            problems.append(f"{d['collisions']} collisions")
        if d["containers_dropped"]:
            problems.append(f"{d['containers_dropped']} containers dropped")
        status = DiagnosticStatus(
            level=DiagnosticStatus.WARN if problems else DiagnosticStatus.OK,
            name="yard_sim: simulator", hardware_id="yard_sim",
            message="; ".join(problems) or f"running at {self.achieved_rtf:.2f}x real time",
            values=[KeyValue(key=k, value=str(v)) for k, v in d.items()])
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = from_sec(t)
        self.pub_diag.publish(msg)


def main(args=None) -> int:
    """Run the simulator until Ctrl-C or SIGTERM; exit code 1 if it cannot start (bad parameters or world)."""
    return run_node(SimNode, "yard_sim", args)


if __name__ == "__main__":
    raise SystemExit(main())
