"""The localization node in-process with real rclpy: recorded-style sensor streams in, odometry and diagnostics out.

A probe node plays a drive made by the simulator's own sensor models (``loc_sim_streams``) as
ROS messages (``yard_sim.carrier_msgs``) on a sim clock it publishes itself, with some garbage
mixed in, and checks what the node under test publishes: frames, rate in sim time, covariance
that covers the real error, rejection counts in /diagnostics, and the reset service.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from loc_sim_streams import drive

pytestmark = pytest.mark.node

VEHICLE = "carrier_01"


class Harness:
    """Node under test + probe node in one executor, driven tick by tick on a published /clock."""

    def __init__(self, ctx, world_name: str, **params):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PoseWithCovarianceStamped
        from nav_msgs.msg import Odometry
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.parameter import Parameter
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import Imu, NavSatFix
        from std_srvs.srv import Trigger

        from agv_nav.localization_node import LocalizationNode
        from yard_ros import qos

        overrides = [Parameter("use_sim_time", value=True), Parameter("world", value=world_name)]
        overrides += [Parameter(k, value=v) for k, v in params.items()]
        self.node = LocalizationNode(context=ctx, namespace=VEHICLE, parameter_overrides=overrides)
        self.probe = rclpy.create_node("probe", context=ctx)
        self.executor = SingleThreadedExecutor(context=ctx)
        self.executor.add_node(self.node)
        self.executor.add_node(self.probe)
        self.Clock = Clock
        self.pub_clock = self.probe.create_publisher(Clock, "/clock", 10)
        ns = f"/{VEHICLE}/"
        self.pub = {
            "fix": self.probe.create_publisher(NavSatFix, ns + "gnss/fix", qos.SENSOR_PUB),
            "odom": self.probe.create_publisher(Odometry, ns + "odom/wheel", qos.SENSOR_PUB),
            "imu": self.probe.create_publisher(Imu, ns + "imu/data", qos.SENSOR_PUB),
            "heading": self.probe.create_publisher(Imu, ns + "gnss/heading", qos.SENSOR_PUB),
            "bay": self.probe.create_publisher(PoseWithCovarianceStamped, ns + "bay_positioning/pose",
                                               qos.SENSOR_PUB),
        }
        self.odometry: list = []
        self.diagnostics: list = []
        self.probe.create_subscription(Odometry, ns + "localization/odometry", self.odometry.append, qos.STATE)
        self.probe.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        self.reset_client = self.probe.create_client(Trigger, ns + "localization/reset")
        self.Trigger = Trigger

    def spin(self, rounds: int = 6) -> None:
        for _ in range(rounds):
            self.executor.spin_once(timeout_sec=0.0)

    def tick(self, t: float, messages) -> None:
        from yard_ros.stamps import from_sec

        self.pub_clock.publish(self.Clock(clock=from_sec(t)))
        self.spin(1)
        for kind, msg in messages:
            self.pub[kind].publish(msg)
        self.spin(2 + len(messages))

    def reset(self):
        assert self.reset_client.wait_for_service(timeout_sec=5.0)
        future = self.reset_client.call_async(self.Trigger.Request())
        for _ in range(2000):
            self.spin(1)
            if future.done():
                return future.result()
        raise AssertionError("reset service did not answer")

    def latest_status(self):
        for arr in reversed(self.diagnostics):
            for st in arr.status:
                if st.name == f"localization: {VEHICLE}":
                    return st
        return None

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.probe.destroy_node()


def ros_messages(stream):
    """(arrival, kind, message) of a simulator stream, as the simulator node publishes them."""
    from yard_sim import carrier_msgs
    from yard_sim.sensors import BayPose, GnssFix, GnssHeading, ImuSample, WheelOdom

    out = []
    for arrival, m in stream.items:
        if isinstance(m, GnssFix):
            out.append((arrival, "fix", carrier_msgs.gnss_fix_msg(m, f"{VEHICLE}/gnss_link")))
        elif isinstance(m, WheelOdom):
            out.append((arrival, "odom", carrier_msgs.wheel_odom_msg(m, f"{VEHICLE}/odom", f"{VEHICLE}/base_link")))
        elif isinstance(m, ImuSample):
            out.append((arrival, "imu", carrier_msgs.imu_msg(m, f"{VEHICLE}/imu_link")))
        elif isinstance(m, GnssHeading):
            out.append((arrival, "heading", carrier_msgs.gnss_heading_msg(m, f"{VEHICLE}/gnss_link")))
        elif isinstance(m, BayPose):
            out.append((arrival, "bay", carrier_msgs.bay_pose_msg(m)))
    return out


def batches(stream, msgs):
    """(t, [(kind, message), ...]) for every physics tick of the drive: the messages that have arrived by t."""
    i = 0
    for t in stream.truth[:, 0]:
        batch = []
        while i < len(msgs) and msgs[i][0] <= t + 1e-9:
            batch.append((msgs[i][1], msgs[i][2]))
            i += 1
        yield float(t), batch


def garbage(t: float):
    """Bad messages the node must drop and count: (kind, message, counter key)."""
    from nav_msgs.msg import Odometry
    from sensor_msgs.msg import Imu, NavSatFix, NavSatStatus

    from yard_ros.stamps import from_sec

    nan_fix = NavSatFix(status=NavSatStatus(status=NavSatStatus.STATUS_FIX))
    nan_fix.header.stamp = from_sec(t - 0.05)
    nan_fix.latitude = nan_fix.longitude = nan_fix.altitude = math.nan
    stale_odom = Odometry()
    stale_odom.header.stamp = from_sec(t - 1.0)
    absurd_odom = Odometry()
    absurd_odom.header.stamp = from_sec(t + 0.001)
    absurd_odom.twist.twist.linear.x = 100.0
    unstamped_imu = Imu()
    return [
        ("fix", nan_fix, "gnss/fix rejected: not_finite"),
        ("odom", stale_odom, "odom/wheel rejected: stale"),
        ("odom", absurd_odom, "odom/wheel rejected: absurd"),
        ("imu", unstamped_imu, "imu/data rejected: no_stamp"),
    ]


@pytest.mark.parametrize("dual_antenna", [False, True], ids=["single_antenna", "dual_antenna"])
def test_node_publishes_map_odometry_at_50hz_within_its_covariance_counts_bad_input_and_resets(
        rclpy_context, youyiguan_world, dual_antenna):
    world = youyiguan_world
    spot = world.spots["cn_park_1"]  # carriers start at parking spots; this one faces south along its row
    stream = drive(world, spot.pose, [(2.0, 0.0, 0.0), (10.0, 2.0, 0.0), (2.0, 0.0, 0.0)], seed=5,
                   gnss_heading_enabled=dual_antenna)
    msgs = ros_messages(stream)
    h = Harness(rclpy_context, "youyiguan", use_gnss_heading=dual_antenna)
    t_garbage, t_reset = 104.0, 107.0
    expected_rejections = {}
    reset_answer = None
    try:
        for t, batch in batches(stream, msgs):
            if abs(t - t_garbage) < 1e-6:
                for kind, msg, key in garbage(t):
                    batch.append((kind, msg))
                    expected_rejections[key] = expected_rejections.get(key, 0) + 1
            h.tick(t, batch)
            if abs(t - t_reset) < 1e-6:
                reset_answer = h.reset()
        h.spin(20)
    finally:
        status = h.latest_status()
        h.close()

    # -- frames and covariance
    odo = h.odometry
    assert odo, "no localization/odometry published"
    assert {m.header.frame_id for m in odo} == {"map"}
    assert {m.child_frame_id for m in odo} == {f"{VEHICLE}/base_link"}
    for m in odo[::25]:
        cov = np.array(m.pose.covariance).reshape(6, 6)
        assert np.allclose(cov, cov.T)
        assert np.all(np.linalg.eigvalsh(cov) > 0.0), "pose covariance must be positive definite"
        assert np.all(np.diag(np.array(m.twist.covariance).reshape(6, 6)) > 0.0)

    # -- rate in sim time: the carrier started at a spot, so output begins at the first fix
    stamps = np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in odo])
    assert np.all(np.diff(stamps) > 0.0)
    before_reset = stamps[(stamps >= 100.5) & (stamps < t_reset)]
    assert len(before_reset) >= 0.97 * 50.0 * (t_reset - 100.5)

    # -- accuracy within the reported covariance (NEES of the x/y block against the simulator's truth). A single
    # antenna starting from a spot knows its heading to init_spot_yaw_sigma_rad (0.05 rad): 30 cm at the 6 m lever
    # arm until driving has told it more. Over 12 seeds of this drive the largest error is 8-39 cm, with this filter
    # and with the one of issue #3 alike (seed 5 here: 20-21 cm with either), so a one-antenna start is held to
    # 0.3 m and, above all, to the NEES bound below; with a dual-antenna heading to 0.2 m.
    d2 = []
    for m, t in zip(odo, stamps):
        x, y, _ = stream.truth_at(t)
        d = np.array([m.pose.pose.position.x - x, m.pose.pose.position.y - y])
        cov = np.array(m.pose.covariance).reshape(6, 6)[:2, :2]
        d2.append(float(d @ np.linalg.solve(cov, d)))
        assert math.hypot(*d) < (0.2 if dual_antenna else 0.3)
    assert np.mean(np.array(d2) < 13.82) > 0.97  # chi-square 2 dof, 99.9 %

    # -- reset: answered; without a heading sensor the output stops while re-initialising from motion, with
    # one the next fix and heading (10 Hz) re-initialise it at once
    assert reset_answer is not None and reset_answer.success
    gap = stamps[stamps > t_reset]
    assert len(gap) and gap[-1] > 113.0, "the filter re-initialised and published again"
    if dual_antenna:
        assert gap[0] < t_reset + 0.5, "a dual-antenna heading re-initialises the filter within a few fixes"
    else:
        assert gap[0] > t_reset + 0.5, "output must stop until the filter is initialised again"

    # -- diagnostics: counts of every dropped message, health, state
    assert status is not None
    values = {kv.key: kv.value for kv in status.values}
    for key, n in expected_rejections.items():
        assert int(values.get(key, "0")) == n, (key, values)
    assert values["resets"] == "1"
    assert values["state"] == "tracking"
    assert values["initialised from"] == ("gnss_heading" if dual_antenna else "motion")
    assert float(values["position sigma [m]"]) < 0.1
    assert status.level == status.OK, status.message


def test_node_refuses_to_start_with_a_bad_parameter(rclpy_context):
    from rclpy.parameter import Parameter

    from agv_nav.localization_node import LocalizationNode
    from yard_model.params import ParameterError

    with pytest.raises(ParameterError, match="gnss_max_latency_s"):
        LocalizationNode(context=rclpy_context, namespace=VEHICLE,
                         parameter_overrides=[Parameter("gnss_max_latency_s", value=2.0)])


def test_node_fuses_bay_positioning_under_a_crane_in_rtk_float_and_counts_bad_poses(rclpy_context, youyiguan_world):
    """Standing on a carrier bay with the receiver in RTK float (sigma 30 cm): only the crane's bay positioning
    (1 cm) can put the estimate within 2 cm, so this fails if the node does not consume the topic."""
    from geometry_msgs.msg import PoseWithCovarianceStamped

    from yard_ros.stamps import from_sec

    world = youyiguan_world
    bay = world.bays["cn_bay_a1"]
    stream = drive(world, bay.pose, [(8.0, 0.0, 0.0)], seed=11, forced=((0.0, "rtk_float"),))
    msgs = ros_messages(stream)
    assert any(kind == "bay" for _, kind, _ in msgs)
    h = Harness(rclpy_context, "youyiguan")
    t_bad = 104.0
    try:
        for t, batch in batches(stream, msgs):
            if abs(t - t_bad) < 1e-6:
                bad = PoseWithCovarianceStamped()
                bad.header.stamp = from_sec(t - 0.01)
                bad.header.frame_id = "map"
                bad.pose.pose.position.x = math.nan
                bad.pose.pose.orientation.w = 1.0
                batch.append(("bay", bad))
            h.tick(t, batch)
        h.spin(20)
    finally:
        status = h.latest_status()
        h.close()
    odo = h.odometry
    assert odo
    last = odo[-1]
    t_last = last.header.stamp.sec + last.header.stamp.nanosec * 1e-9
    x, y, _ = stream.truth_at(t_last)
    assert math.hypot(last.pose.pose.position.x - x, last.pose.pose.position.y - y) < 0.02
    assert math.sqrt(max(np.linalg.eigvalsh(np.array(last.pose.covariance).reshape(6, 6)[:2, :2]))) < 0.02
    values = {kv.key: kv.value for kv in status.values}
    assert int(values["bay_positioning/pose accepted"]) > 50
    assert values["bay_positioning/pose rejected: not_finite"] == "1"
    assert float(values["last accepted bay positioning age [s]"]) < 0.5
