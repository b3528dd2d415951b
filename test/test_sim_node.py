"""The yard_sim node in-process with real rclpy: topics and types, cmd_vel, stale stop, crane trajectories,
bad input; plus the README parameter table."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import pytest

from yard_model.params import markdown_table
from yard_sim.sensors import SensorConfig
from yard_sim.sim_params import SimParams

REPO = Path(__file__).resolve().parents[1]
CARRIERS = ("carrier_01", "carrier_02", "carrier_03")
CRANES = ("cn_crane_1", "cn_crane_2", "vn_crane_1")


class Harness:
    """The simulator node and a probe node in one executor; collects what the probe hears."""

    def __init__(self, ctx, **params):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.parameter import Parameter

        from yard_sim.sim_node import SimNode

        overrides = [Parameter(k, value=v) for k, v in {"world": "small_yard", "carriers": 3, "seed": 1,
                                                         "real_time_factor": 4.0, **params}.items()]
        self.sim = SimNode(context=ctx, parameter_overrides=overrides)
        self.probe = rclpy.create_node("probe", context=ctx)
        self.executor = SingleThreadedExecutor(context=ctx)
        self.executor.add_node(self.sim)
        self.executor.add_node(self.probe)
        self.heard: dict[str, list] = {}

    def listen(self, topic: str, msg_type, qos) -> None:
        self.heard.setdefault(topic, [])
        self.probe.create_subscription(msg_type, topic, lambda m, t=topic: self.heard[t].append(m), qos)

    def spin_until(self, done, timeout_s: float = 60.0) -> bool:
        """Spin until done() is true; the wall-clock limit only bounds a broken run."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)
            if done():
                return True
        return False

    def spin_sim_seconds(self, seconds: float, each=None) -> None:
        t_end = self.sim.engine.t + seconds
        while self.sim.engine.t < t_end:
            if each is not None:
                each()
            self.executor.spin_once(timeout_sec=0.02)

    def close(self) -> None:
        self.executor.shutdown()
        self.sim.destroy_node()
        self.probe.destroy_node()


@pytest.fixture
def harness(rclpy_context):
    h = Harness(rclpy_context)
    yield h
    h.close()


def documented_topics() -> dict[str, str]:
    """Simulator topics and types from the table in docs/architecture.md, expanded for small_yard."""
    doc = (REPO / "docs" / "architecture.md").read_text()
    section = doc.split("### Simulator")[1].split("\n### ")[0]
    out = {}
    for topic, typ in re.findall(r"^\| `([^`]+)` \| `([^`]+)`", section, flags=re.M):
        typ = typ.split(" ")[0]
        if topic.startswith("/<c>/"):
            for c in CARRIERS:
                out[topic.replace("<c>", c)] = typ
        elif topic.startswith("/<k>/"):
            for k in CRANES:
                out[topic.replace("<k>", k)] = typ
        else:
            out[topic] = typ
    return out


@pytest.mark.node
def test_node_publishes_every_documented_topic_with_its_type(rclpy_context):
    harness = Harness(rclpy_context, static_markers_period_s=0.0)  # static layout only once: latched
    try:
        check_every_topic(harness)
    finally:
        harness.close()


def check_every_topic(harness: Harness) -> None:
    from diagnostic_msgs.msg import DiagnosticArray
    from nav_msgs.msg import Odometry
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import BatteryState, Imu, JointState, NavSatFix
    from std_msgs.msg import String
    from visualization_msgs.msg import MarkerArray

    from yard_ros import qos

    topics = documented_topics()
    heading = "/carrier_01/gnss/heading"
    assert heading in topics  # documented, but only published with sensors.gnss_heading_enabled
    types = {"/clock": (Clock, QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)),
             "/yard/state": (String, qos.LATCHED), "/yard/events": (String, qos.EVENTS),
             "/diagnostics": (DiagnosticArray, 10), "/yard/markers": (MarkerArray, qos.LATCHED)}
    for c in CARRIERS:
        types.update({f"/{c}/gnss/fix": (NavSatFix, qos.SENSOR_SUB), f"/{c}/odom/wheel": (Odometry, qos.SENSOR_SUB),
                      f"/{c}/imu/data": (Imu, qos.SENSOR_SUB),
                      f"/{c}/ground_truth/odometry": (Odometry, qos.SENSOR_SUB),
                      f"/{c}/battery": (BatteryState, qos.STATE)})
    for k in CRANES:
        types[f"/{k}/joint_states"] = (JointState, qos.STATE)
    for topic, (typ, profile) in types.items():
        doc_type = topics[topic]
        assert f"{typ.__module__.split('.')[0]}/{typ.__name__}" == doc_type, topic
        harness.listen(topic, typ, profile)
    harness.probe.create_publisher(String, "/yard/sim/commands", qos.COMMAND).publish(String(data=json.dumps(
        {"command": "spawn_truck", "truck_id": "T1", "bay": "cn_truck_11", "container_id": "C1"})))
    assert harness.spin_until(lambda: all(harness.heard[t] for t in types), 60.0), \
        [t for t in types if not harness.heard[t]]
    # Every publisher and subscription the table names exists with the documented type.
    graph = dict(harness.probe.get_topic_names_and_types())
    for topic, doc_type in topics.items():
        if topic.endswith("/gnss/heading"):
            continue
        assert graph.get(topic) == [doc_type.replace("/", "/msg/")], topic
    assert harness.spin_until(lambda: "T1" in json.loads(harness.heard["/yard/state"][-1].data)["trucks"])
    state = json.loads(harness.heard["/yard/state"][-1].data)
    assert state["trucks"]["T1"]["container_id"] == "C1"
    assert harness.spin_until(lambda: len(harness.heard["/yard/events"]) >= 2)  # same step, may come later
    events = [json.loads(m.data) for m in harness.heard["/yard/events"]]
    assert [e["event"] for e in events][:2] == ["command_applied", "truck_arrived"]
    joints = harness.heard["/cn_crane_1/joint_states"][-1]
    assert list(joints.name) == ["gantry", "trolley", "hoist", "twistlock"]
    assert harness.heard["/carrier_01/battery"][-1].percentage == pytest.approx(1.0, abs=1e-3)
    diag = {kv.key: kv.value for kv in harness.heard["/diagnostics"][-1].status[0].values}
    assert diag["carriers"] == "3" and diag["collisions"] == "0"
    # A late joiner gets the static layout (published once, at start) and the latest dynamic markers:
    # the simulator has two latched writers on /yard/markers.
    from rclpy.qos import DurabilityPolicy, HistoryPolicy

    late: list = []
    # KEEP_ALL: under load this probe takes messages more slowly than the dynamic markers arrive, and a
    # short KEEP_LAST history would drop the static layout it just received before the callback runs.
    deep = QoSProfile(depth=5, history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)
    harness.probe.create_subscription(MarkerArray, "/yard/markers", late.append, deep)
    assert harness.spin_until(lambda: {m.ns for a in late for m in a.markers} >= {"lanes", "carriers"})


@pytest.mark.node
def test_cmd_vel_moves_a_carrier_and_stale_commands_stop_it(harness):
    from geometry_msgs.msg import TwistStamped
    from nav_msgs.msg import Odometry

    from yard_ros import qos

    harness.listen("/carrier_03/ground_truth/odometry", Odometry, qos.SENSOR_SUB)
    pub = harness.probe.create_publisher(TwistStamped, "/carrier_03/cmd_vel", qos.COMMAND)
    assert harness.spin_until(lambda: harness.heard["/carrier_03/ground_truth/odometry"])
    start = harness.heard["/carrier_03/ground_truth/odometry"][-1].pose.pose.position
    x0, y0 = start.x, start.y

    last = [-1.0]

    def drive():  # 20 Hz in simulation time, as a path follower would
        if harness.sim.engine.t - last[0] >= 0.05:
            last[0] = harness.sim.engine.t
            msg = TwistStamped()
            msg.twist.linear.x = 2.0
            pub.publish(msg)

    def heard_after(t: float):
        """The ground-truth message stamped at or after sim time t, once it has arrived."""
        def check():
            msgs = harness.heard["/carrier_03/ground_truth/odometry"]
            return msgs and msgs[-1].header.stamp.sec + msgs[-1].header.stamp.nanosec * 1e-9 >= t
        assert harness.spin_until(check)
        return harness.heard["/carrier_03/ground_truth/odometry"][-1]

    harness.spin_sim_seconds(3.0, each=drive)
    t_drive_end = harness.sim.engine.t
    moving = heard_after(t_drive_end - 0.1)
    assert moving.twist.twist.linear.x > 1.0
    assert math.hypot(moving.pose.pose.position.x - x0, moving.pose.pose.position.y - y0) > 1.0
    # No more cmd_vel: stale 0.5 s after the last one arrived, the carrier brakes (2 m/s at 1.5 m/s^2: 1.3 s).
    harness.spin_sim_seconds(0.3)  # commands still in flight arrive
    last_cmd_t = harness.sim.engine.carriers["carrier_03"].cmd_t
    assert last_cmd_t is not None and last_cmd_t >= t_drive_end - 0.1
    stopped = heard_after(last_cmd_t + 2.5)
    assert stopped.twist.twist.linear.x == 0.0


@pytest.mark.node
def test_joint_trajectory_moves_a_crane_and_bad_input_is_ignored(harness):
    from builtin_interfaces.msg import Duration
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import TwistStamped
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    from yard_ros import qos

    harness.listen("/vn_crane_1/joint_states", JointState, qos.STATE)
    harness.listen("/yard/events", String, qos.EVENTS)
    harness.listen("/diagnostics", DiagnosticArray, 10)
    traj_pub = harness.probe.create_publisher(JointTrajectory, "/vn_crane_1/joint_trajectory", qos.COMMAND)
    cmd_pub = harness.probe.create_publisher(String, "/yard/sim/commands", qos.COMMAND)
    twist_pub = harness.probe.create_publisher(TwistStamped, "/carrier_01/cmd_vel", qos.COMMAND)
    assert harness.spin_until(lambda: harness.heard["/vn_crane_1/joint_states"])
    home = harness.sim.world.cranes["vn_crane_1"].home_trolley_m

    traj = JointTrajectory(joint_names=["trolley"])
    traj.points = [JointTrajectoryPoint(positions=[home + 2.0], velocities=[0.0], accelerations=[0.0],
                                        time_from_start=Duration(sec=4))]
    traj_pub.publish(traj)
    bad_traj = JointTrajectory(joint_names=["boom"])
    bad_traj.points = [JointTrajectoryPoint(positions=[1.0], time_from_start=Duration(sec=1))]
    traj_pub.publish(bad_traj)  # after the good one: it is ignored, the good one keeps running
    cmd_pub.publish(String(data="{this is not json"))
    nan_twist = TwistStamped()
    nan_twist.twist.linear.x = math.nan
    twist_pub.publish(nan_twist)

    def trolley() -> float:
        js = harness.heard["/vn_crane_1/joint_states"][-1]
        return js.position[list(js.name).index("trolley")]

    assert harness.spin_until(lambda: abs(trolley() - (home + 2.0)) < 1e-6, 15.0)
    events = [json.loads(m.data) for m in harness.heard["/yard/events"]]
    rejected = [e for e in events if e["event"] == "command_rejected"]
    assert len(rejected) == 1 and "not valid JSON" in rejected[0]["reason"]
    assert harness.sim.bad_messages == {"cmd_vel": 1, "joint_trajectory": 1, "sim_command": 1}
    t_before = harness.sim.engine.t
    assert harness.spin_until(lambda: harness.heard["/diagnostics"] and harness.sim.engine.t > t_before + 1.5)
    diag = {kv.key: kv.value for kv in harness.heard["/diagnostics"][-1].status[0].values}
    assert (diag["bad_cmd_vel"], diag["bad_joint_trajectory"], diag["bad_sim_command"]) == ("1", "1", "1")
    assert harness.sim.engine.carriers["carrier_01"].state.speed_mps == 0.0


def test_readme_parameter_table_matches_the_code():
    readme = (REPO / "README.md").read_text()
    section = readme.split("<!-- section: simulator (owner: yard_sim) -->")[1].split("<!-- section:")[0]
    assert markdown_table(SimParams) in section  # the sensor table (no prefix) is kept by test_sensors


def test_shipped_config_sets_every_parameter_to_its_default():
    import yaml

    from yard_model.params import default_of, param_fields

    cfg = yaml.safe_load((REPO / "config" / "yard_sim.yaml").read_text())["/**"]["ros__parameters"]
    expected = {f.name: default_of(f) for f in param_fields(SimParams)}
    expected.update({f"sensors.{f.name}": default_of(f) for f in param_fields(SensorConfig)})
    flat = {k: v for k, v in cfg.items() if k != "sensors"}
    flat.update({f"sensors.{k}": v for k, v in cfg.get("sensors", {}).items()})
    assert flat.keys() == expected.keys()
    for key, value in expected.items():
        assert flat[key] == (pytest.approx(value) if isinstance(value, float) else value), key
