"""ROS 2 node of one crane: translates topics to and from :class:`crane_control.controller.CraneController`.

Runs in the crane's namespace (``/cn_crane_1``); the crane id is the namespace unless the
``crane_id`` parameter says otherwise. All logic lives in the core; this file converts messages,
parameters and time, and keeps running whatever arrives (bad documents are logged and rejected).
"""

from __future__ import annotations

import functools
import math
import threading
import time

import rclpy
from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from yard_model import load_world
from yard_model.documents import DocumentError, dump_document, parse_document
from yard_model.resources import world_path
from yard_ros import params, qos
from yard_ros.spin import ExecutorThread, fast_executor, run_node
from yard_ros.stamps import to_sec

from .controller import CraneController
from .model import CraneModel, JointReading
from .motion import Plan
from .params import CraneControllerParams
from .timing import ClockEstimate

RAIL_CLAIMS_TOPIC = "/cranes/rail_claims"
# Several cranes publish claims (each latched, depth 1); the subscriber keeps a deeper queue so
# back-to-back claims of two neighbours are not collapsed into one.
CLAIMS_SUB_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=20, reliability=ReliabilityPolicy.RELIABLE,
                            durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Joint states: only the newest matters. A deeper queue hands a controller that was held up a backlog of
# old states first (a starved process took them for the present and planned from where the crane had been).
JOINT_STATES_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
CLOCK_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
JOINTS = ("gantry", "trolley", "hoist", "twistlock")
MAX_RETIMES = 3  # re-plans of a trajectory that would reach the drive late, then it waits for the next tick


def joint_reading(msg: JointState, received_s: float, axes: tuple[str, ...]) -> JointReading:
    """JointReading from a crane JointState (docs/architecture.md); raises ValueError if unusable.

    Stamped with the measurement time (the header stamp; the time of receipt if the stamp is zero),
    so that a state that waited in a queue or a slow network is known for how old it is.
    """
    index = {n: i for i, n in enumerate(msg.name)}
    missing = [j for j in (*axes, "twistlock") if j not in index]
    if missing:
        raise ValueError(f"joint_states lacks {', '.join(missing)}")
    if len(msg.position) != len(msg.name):
        raise ValueError("joint_states has fewer positions than names")

    def value(seq, joint, default=0.0):
        i = index[joint]
        return float(seq[i]) if i < len(seq) else default

    pos = {a: value(msg.position, a) for a in axes}
    vel = {a: value(msg.velocity, a) for a in axes}
    load = value(msg.effort, "hoist")
    twistlock = value(msg.position, "twistlock")
    if not all(math.isfinite(x) for x in (*pos.values(), *vel.values(), load, twistlock)):
        raise ValueError("joint_states holds a non-finite value")
    stamp = to_sec(msg.header.stamp)
    return JointReading(stamp if stamp > 0.0 else received_s, pos, vel, load, twistlock)


def trajectory_msg(plan: Plan, sample_s: float, joints: tuple[str, ...]) -> JointTrajectory:
    """JointTrajectory for a plan, every joint in every point, stamped when it was computed."""
    msg = JointTrajectory()
    stamp = plan.stamp_s if plan.stamp_s is not None else plan.start_s
    sec = math.floor(stamp)
    msg.header.stamp = Time(sec=int(sec), nanosec=min(999_999_999, int(round((stamp - sec) * 1e9))))
    msg.joint_names = list(joints)
    for p in plan.points(sample_s):
        pt = JointTrajectoryPoint()
        pt.positions = [float(p.positions[j]) for j in joints]
        pt.velocities = [float(p.velocities[j]) for j in joints]
        pt.accelerations = [float(p.accelerations[j]) for j in joints]
        whole = math.floor(p.t)
        pt.time_from_start = Duration(sec=int(whole), nanosec=min(999_999_999, int(round((p.t - whole) * 1e9))))
        msg.points.append(pt)
    return msg


def _guard(fn):
    """A callback must never take the node down: log the bug and carry on."""

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            return fn(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the node keeps running; the error is logged with its cause
            self.errors += 1
            self.get_logger().error(f"{fn.__name__} failed: {type(exc).__name__}: {exc}")
            return None

    return wrapper


class CraneControllerNode(Node):
    """Per-crane lift job controller (see crane_control/controller.py)."""

    def __init__(self, **node_kwargs):
        super().__init__(node_kwargs.pop("node_name", "crane_controller"), **node_kwargs)
        self.p = params.declare(self, CraneControllerParams)
        self.crane_id = self.p.crane_id or self.get_namespace().strip("/")
        if not self.crane_id:
            raise params.ParameterError("crane_id: empty and the node has no namespace")
        world = load_world(world_path(self.p.world))
        self.model = CraneModel.from_world(world, self.crane_id, self.p.container_tare_kg)
        self.core = CraneController(self.model, self.p, set(world.bays))
        self.joints = (*self.model.axes, "twistlock")
        self.errors = 0
        self.bad_documents = 0
        self.late_plans = 0  # trajectories re-planned (or held back) because they would have reached the drive late
        self.sim_clock = ClockEstimate(self.p.max_command_lead_s) if self.get_parameter("use_sim_time").value \
            else None
        self._last_tick: float | None = None  # estimated drive time of the previous tick
        ns = f"/{self.crane_id}/"
        self.traj_pub = self.create_publisher(JointTrajectory, ns + "joint_trajectory", qos.COMMAND)
        self.event_pub = self.create_publisher(String, ns + "job_events", qos.EVENTS)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(String, ns + "jobs", self._on_job, qos.COMMAND)
        self.create_subscription(JointState, ns + "joint_states", self._on_joints, JOINT_STATES_QOS)
        self.create_subscription(Bool, ns + "emergency_stop", self._on_estop, qos.LATCHED)
        self.create_subscription(String, "/fleet/bay_status", self._on_bay_status, qos.LATCHED)
        if self.p.check_containers:
            self.create_subscription(String, "/yard/state", self._on_yard_state, qos.LATCHED)
        self.claim_pub = None
        if self.core.rail is not None:
            self.claim_pub = self.create_publisher(String, RAIL_CLAIMS_TOPIC, qos.LATCHED)
            self.create_subscription(String, RAIL_CLAIMS_TOPIC, self._on_claim, CLAIMS_SUB_QOS)
            for peer in self.model.rail_neighbours:
                self.create_subscription(JointState, f"/{peer}/joint_states",
                                         functools.partial(self._on_peer_joints, peer), JOINT_STATES_QOS)
        self._clock_lock = threading.Lock()
        self._clock_probe: ExecutorThread | None = None
        if self.sim_clock is not None:
            self._start_clock_probe()
        self.create_timer(1.0 / self.p.control_rate_hz, self._tick)
        self.create_timer(1.0, self._publish_diagnostics)
        self.get_logger().info(f"crane controller for '{self.crane_id}' ({world.name}), axes {self.model.axes}, "
                               f"rail neighbours {list(self.model.rail_neighbours) or 'none'}")

    # ------------------------------------------------------------------ time
    def now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def drive_time(self) -> tuple[float, float]:
        """(now on the ROS clock, how far the drive's clock is estimated to be ahead of it).

        With simulated time the ROS clock is the last /clock the executor processed, stale by however
        long the process was held up since; the simulator's clock is estimated from the newest /clock
        sample and the wall time it was sent (crane_control.timing). On the system clock the lag is 0.
        """
        now = self.now_s()
        if self.sim_clock is None:
            return now, 0.0
        with self._clock_lock:
            est = self.sim_clock.now(time.time())
        return now, max(0.0, est - now) if est is not None else 0.0

    def _start_clock_probe(self) -> None:
        """``/clock`` with its DDS source timestamps, on a node of its own spun by a plain executor thread.

        The node itself runs on rclpy's EventsExecutor (about half the CPU per callback), which cannot
        deliver a message's info (Jazzy 7.1.6 wheels: ``SystemError: null argument to internal
        routine``), and ClockEstimate needs the time each sample was *sent*.
        """
        probe = rclpy.create_node(f"{self.get_name()}_clock_probe", namespace=self.get_namespace(),
                                  context=self.context, use_global_arguments=False, start_parameter_services=False)
        probe.create_subscription(Clock, "/clock", self._on_clock, CLOCK_QOS)
        self._clock_probe = ExecutorThread(probe, SingleThreadedExecutor(context=self.context), "clock_probe")

    def _on_clock(self, msg: Clock, info) -> None:
        with self._clock_lock:
            self.sim_clock.add(to_sec(msg.clock), info["source_timestamp"] * 1e-9)

    # ------------------------------------------------------------- inputs
    @_guard
    def _on_job(self, msg: String) -> None:
        self._publish_events(self.core.submit(msg.data, self.now_s()))

    @_guard
    def _on_joints(self, msg: JointState) -> None:
        try:
            reading = joint_reading(msg, self.now_s(), self.model.axes)
        except ValueError as exc:
            self.bad_documents += 1
            self.get_logger().warning(f"ignoring joint_states: {exc}", throttle_duration_sec=5.0)
            return
        self.core.on_joint_reading(reading)

    @_guard
    def _on_peer_joints(self, peer: str, msg: JointState) -> None:
        if "gantry" not in msg.name:
            return
        i = msg.name.index("gantry")
        if i >= len(msg.position) or not math.isfinite(msg.position[i]):
            return
        v = float(msg.velocity[i]) if i < len(msg.velocity) and math.isfinite(msg.velocity[i]) else 0.0
        self.core.on_peer_joints(peer, float(msg.position[i]), v, self.now_s())

    @_guard
    def _on_estop(self, msg: Bool) -> None:
        self.get_logger().warning(f"emergency stop {'ACTIVE' if msg.data else 'released'}")
        self.core.on_emergency_stop(bool(msg.data), self.now_s())
        self._publish_events(self.core.drain())

    @_guard
    def _on_bay_status(self, msg: String) -> None:
        try:
            doc = parse_document("bay_status", msg.data)
        except DocumentError as exc:
            self.bad_documents += 1
            self.get_logger().warning(f"ignoring bay_status (previous one kept): {exc}")
            return
        self.core.on_bay_status(doc, self.now_s())

    @_guard
    def _on_yard_state(self, msg: String) -> None:
        try:
            doc = parse_document("yard_state", msg.data)
        except DocumentError as exc:
            self.bad_documents += 1
            self.get_logger().warning(f"ignoring yard_state: {exc}", throttle_duration_sec=10.0)
            return
        self.core.on_yard_state(doc)

    @_guard
    def _on_claim(self, msg: String) -> None:
        try:
            doc = parse_document("rail_claim", msg.data)
        except DocumentError as exc:
            self.bad_documents += 1
            self.get_logger().warning(f"ignoring rail claim: {exc}", throttle_duration_sec=5.0)
            return
        if doc["crane_id"] != self.crane_id:
            self.core.on_peer_claim(doc, self.now_s())

    # ------------------------------------------------------------ outputs
    @_guard
    def _tick(self) -> None:
        now, lag = self.drive_time()
        if self._last_tick is not None:  # a tick later than its period: the process was held up that long
            self.core.note_stall(max(0.0, now + lag - self._last_tick - 1.0 / self.p.control_rate_hz), now)
        self._last_tick = now + lag
        out = self.core.step(now, lag)
        self._publish_events(out.events)
        if out.plan is not None:
            self._send(out.plan, now + lag)
        if out.claim is not None and self.claim_pub is not None:
            self.claim_pub.publish(String(data=dump_document("rail_claim", out.claim)))

    def _send(self, plan: Plan, tick_s: float) -> None:
        """Publish a plan, unless it would reach the drive late: then plan it again for a later start.

        Computing the plan and its message takes time the clock does not show while the callback runs;
        the drive's clock is read again just before publishing, and a plan with less than the core's
        ``reserve_s`` left before its start is re-timed (at most MAX_RETIMES times, then held back: the
        next tick plans again). Every such delay is noted, so the lead grows while the machine is slow.
        """
        for attempt in range(MAX_RETIMES + 1):
            msg = trajectory_msg(plan, self.p.trajectory_sample_s, self.joints)
            now, lag = self.drive_time()
            self.core.note_stall(now + lag - tick_s, now)
            if plan.start_s - (now + lag) >= self.core.reserve_s:
                self.traj_pub.publish(msg)
                return
            self.late_plans += 1
            self.get_logger().warning(
                f"{plan.kind} plan ({plan.note}) would reach the drive late ({now + lag - tick_s:.2f} s to compute, "
                f"{plan.start_s - now - lag:.2f} s of its lead left): re-planned, lead {self.core.lead_s:.2f} s",
                throttle_duration_sec=5.0)
            tick_s = now + lag
            plan = self.core.retime(now, lag) if attempt < MAX_RETIMES else None
            if plan is None:
                self.core.withdraw()
                return

    def _publish_events(self, events: list[dict]) -> None:
        for e in events:
            text = f"job '{e['job_id']}' {e['event']}" + (f": {e['reason']}" if e.get("reason") else "")
            if e["event"] in ("rejected", "failed"):
                self.get_logger().warning(text)
            else:
                self.get_logger().info(text)
            self.event_pub.publish(String(data=dump_document("crane_job_event", e)))

    @_guard
    def _publish_diagnostics(self) -> None:
        level, message, values = self.core.diagnostics(self.now_s())
        if self.errors and level < 2:
            level, message = 1, f"{message} ({self.errors} callback errors, see log)"
        values = {**values, "bad_documents": str(self.bad_documents), "late_plans": str(self.late_plans)}
        status = DiagnosticStatus(level=bytes([level]), name=f"crane_controller: {self.crane_id}",
                                  message=message, hardware_id=self.crane_id,
                                  values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
        arr = DiagnosticArray(status=[status])
        arr.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(arr)

    def destroy_node(self):
        if self._clock_probe is not None:
            self._clock_probe.close()
        super().destroy_node()


def main(args=None) -> int:
    """Run one crane controller until Ctrl-C or SIGTERM (exit 0); exit 1 if its parameters or world are bad.

    rclpy's EventsExecutor (yard_ros.spin.fast_executor): the /clock samples that need their source
    timestamps come in on a probe node of their own (``_start_clock_probe``).
    """
    return run_node(CraneControllerNode, "crane_controller", args, executor_factory=fast_executor)


if __name__ == "__main__":
    raise SystemExit(main())
