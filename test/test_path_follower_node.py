"""Node tests of agv_nav.path_follower_node with real rclpy (one process, private DDS domain)."""

from __future__ import annotations

import json
import math

import pytest
from path_scenarios import Straight, route_doc

pytestmark = pytest.mark.node


class Harness:
    """The follower node plus a test node that plays localization, fleet manager and another carrier."""

    def __init__(self, ctx, extra_params=()):
        from geometry_msgs.msg import TwistStamped
        from nav_msgs.msg import Odometry
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.parameter import Parameter
        from std_msgs.msg import Bool, String

        from agv_nav.path_follower_node import PathFollowerNode
        from yard_ros.qos import COMMAND, LATCHED, SENSOR_PUB, STATE

        overrides = [Parameter("control_rate_hz", value=50.0), Parameter("status_rate_hz", value=10.0),
                     *extra_params]
        self.node = PathFollowerNode(context=ctx, namespace="carrier_01", parameter_overrides=overrides)
        self.test = Node("tester", context=ctx)
        self.route_pub = self.test.create_publisher(String, "/carrier_01/route", COMMAND)
        self.estop_pub = self.test.create_publisher(Bool, "/carrier_01/emergency_stop", LATCHED)
        self.odom_pub = self.test.create_publisher(Odometry, "/carrier_01/localization/odometry", SENSOR_PUB)
        self.other_pub = self.test.create_publisher(Odometry, "/carrier_02/localization/odometry_throttle", SENSOR_PUB)
        self.status: list[dict] = []
        self.cmds: list[tuple[float, float]] = []
        self.test.create_subscription(String, "/carrier_01/follower/status",
                                      lambda m: self.status.append(json.loads(m.data)), STATE)
        self.test.create_subscription(TwistStamped, "/carrier_01/cmd_vel",
                                      lambda m: self.cmds.append((m.twist.linear.x, m.twist.angular.z)), COMMAND)
        self.publish_odometry = True
        self.other_pose: tuple[float, float] | None = None
        self.test.create_timer(0.02, self._tick)
        self.ex = SingleThreadedExecutor(context=ctx)
        self.ex.add_node(self.node)
        self.ex.add_node(self.test)
        self._Odometry, self._String, self._Bool = Odometry, String, Bool

    def _odom(self, x: float, y: float):
        msg = self._Odometry()
        msg.header.stamp = self.test.get_clock().now().to_msg()
        msg.header.frame_id = "map"
        msg.pose.pose.position.x, msg.pose.pose.position.y = x, y
        msg.pose.pose.orientation.w = 1.0
        cov = [0.0] * 36
        cov[0] = cov[7] = 0.01**2
        cov[35] = 0.005**2
        msg.pose.covariance = cov
        return msg

    def _tick(self) -> None:
        if self.publish_odometry:
            self.odom_pub.publish(self._odom(0.0, 0.0))  # the carrier stands at the route's start
        if self.other_pose is not None:
            self.other_pub.publish(self._odom(*self.other_pose))

    def send_route(self, doc_or_text) -> None:
        text = doc_or_text if isinstance(doc_or_text, str) else json.dumps(doc_or_text)
        self.route_pub.publish(self._String(data=text))

    def estop(self, on: bool) -> None:
        self.estop_pub.publish(self._Bool(data=on))

    def spin_until(self, cond, max_spins: int = 600) -> bool:
        for _ in range(max_spins):
            self.ex.spin_once(timeout_sec=0.02)
            if cond():
                return True
        return False

    def latest(self) -> dict:
        return self.status[-1] if self.status else {}

    def close(self) -> None:
        self.ex.shutdown()
        self.node.destroy_node()
        self.test.destroy_node()


@pytest.fixture
def harness(rclpy_context):
    h = Harness(rclpy_context)
    yield h
    h.close()


def _following(h: Harness) -> None:
    h.send_route(route_doc(Straight(200).points(), 3.0))
    assert h.spin_until(lambda: h.latest().get("state") == "following")
    assert h.spin_until(lambda: h.cmds and h.cmds[-1][0] > 0.0)


def test_route_json_rejection_keeps_the_node_running(harness):
    h = harness
    assert h.spin_until(lambda: h.latest().get("state") == "idle")
    h.send_route("{not json")
    h.send_route(json.dumps({"route_id": "r0", "carrier_id": "carrier_01"}))  # schema: points missing
    h.spin_until(lambda: h.node.rejected["route"] >= 2, 200)
    assert h.node.rejected["route"] == 2 and h.latest()["state"] == "idle"
    kinked = route_doc([(0, 0), (20, 0), (40, 15)], 3.0, route_id="bad")
    h.send_route(kinked)
    assert h.spin_until(lambda: h.latest().get("state") == "fault")
    st = h.latest()
    assert st["route_id"] == "bad" and "kinked" in st["reason"]
    assert all(v == 0.0 for v, _ in h.cmds[-5:])
    h.send_route(route_doc(Straight(50).points(), 3.0, route_id="good"))  # recovers with a good route
    assert h.spin_until(lambda: h.latest().get("state") == "following" and h.latest()["route_id"] == "good")
    assert h.latest()["remaining_m"] == pytest.approx(50.0, abs=0.1)


def test_stale_localization_stops_the_carrier(harness):
    h = harness
    _following(h)
    h.publish_odometry = False
    # wait for the reason too: a status from before the first pose ("no localization yet") may still be in flight
    assert h.spin_until(lambda: h.latest().get("state") == "blocked" and "stale" in h.latest()["reason"])
    n = len(h.cmds)
    h.spin_until(lambda: len(h.cmds) > n + 5)
    assert all(v == 0.0 for v, _ in h.cmds[n:])
    h.publish_odometry = True
    assert h.spin_until(lambda: h.latest().get("state") == "following")


def test_emergency_stop_is_latched_and_released(harness):
    h = harness
    _following(h)
    h.estop(True)
    assert h.spin_until(lambda: h.latest().get("state") == "blocked" and h.latest()["reason"] == "emergency stop")
    n = len(h.cmds)
    h.spin_until(lambda: len(h.cmds) > n + 5)
    assert all(v == 0.0 for v, _ in h.cmds[n:])
    h.estop(False)
    assert h.spin_until(lambda: h.latest().get("state") == "following")
    assert h.spin_until(lambda: h.cmds[-1][0] > 0.0)


def test_carrier_ahead_blocks_the_lane(harness):
    h = harness
    _following(h)
    h.other_pose = (18.0, 0.2)  # carrier_02 stands 18 m ahead: bumper gap 3 m < standstill gap 4 m
    assert h.spin_until(lambda: h.latest().get("state") == "blocked" and "carrier_02" in h.latest()["reason"], 800)
    assert "carrier_02" in h.node._others
    n = len(h.cmds)
    h.spin_until(lambda: len(h.cmds) > n + 5)
    assert max(v for v, _ in h.cmds[n:]) < 0.05
    h.other_pose = (18.0, 6.0)  # it moves to the next lane: the way is free
    assert h.spin_until(lambda: h.latest().get("state") == "following", 800)


def test_parameters_come_from_the_dataclass_with_descriptions(rclpy_context):
    from rclpy.parameter import Parameter

    h = Harness(rclpy_context, extra_params=[Parameter("max_speed_mps", value=3)])
    try:
        assert h.node.params.max_speed_mps == 3.0
        d = h.node.describe_parameter("localization_timeout_s")
        assert "stale" in d.description.lower() or "older" in d.description
        res = h.node.set_parameters([Parameter("max_speed_mps", value=-1.0)])
        assert not res[0].successful and h.node.params.max_speed_mps == 3.0
        res = h.node.set_parameters([Parameter("preview_time_s", value=2.0)])
        assert not res[0].successful  # read-only: the gains are designed at start-up
        assert math.isfinite(h.node.follower.dt)
    finally:
        h.close()
