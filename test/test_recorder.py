"""MCAP recorder: schema text and a real record → decode round trip."""

from __future__ import annotations

import time

import pytest

from yard_ros.msg_definitions import field_types, schema_text, split_type


def test_schema_text_has_every_dependency_once():
    text = schema_text("nav_msgs/msg/Odometry")
    assert text.startswith("# This represents an estimate")
    for dep in ("std_msgs/Header", "geometry_msgs/PoseWithCovariance", "geometry_msgs/TwistWithCovariance",
                "geometry_msgs/Pose", "geometry_msgs/Point", "geometry_msgs/Quaternion", "geometry_msgs/Twist",
                "geometry_msgs/Vector3", "builtin_interfaces/Time"):
        assert text.count(f"MSG: {dep}\n") == 1, dep


def test_field_types_skip_constants_and_primitives():
    text = "uint8 STATUS_OK=0\nint8 X = 3\nfloat64[9] covariance\nHeader header\nPoint[] pts\nstring<=5 s\n"
    assert field_types(text, "geometry_msgs") == [("std_msgs", "Header"), ("geometry_msgs", "Point")]


def test_split_type_rejects_nonsense():
    assert split_type("sensor_msgs/msg/Imu") == ("sensor_msgs", "Imu")
    with pytest.raises(ValueError):
        split_type("Imu")


@pytest.mark.node
def test_recorder_round_trip(rclpy_context, tmp_path):
    import rclpy
    from mcap_ros2.reader import read_ros2_messages
    from nav_msgs.msg import Odometry
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from std_msgs.msg import String

    from yard_ros.qos import LATCHED, STATE
    from yard_ros.recorder import McapRecorderNode

    out = tmp_path / "run.mcap"
    pub_node = Node("pub", context=rclpy_context)
    latched = pub_node.create_publisher(String, "/latched_doc", LATCHED)
    latched.publish(String(data='{"hello": 1}'))  # before the recorder exists: must still arrive
    odom_pub = pub_node.create_publisher(Odometry, "/carrier_01/odom", STATE)
    rec = McapRecorderNode(context=rclpy_context, parameter_overrides=[
        Parameter("output", value=str(out)), Parameter("exclude", value=["^/rosout$", "^/parameter_events$"]),
        Parameter("discovery_period_s", value=0.1)])
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(pub_node)
    ex.add_node(rec)
    deadline = time.monotonic() + 10.0
    sent = 0
    while time.monotonic() < deadline and (rec.counts.get("/carrier_01/odom", 0) < 5
                                           or rec.counts.get("/latched_doc", 0) < 1):
        msg = Odometry()
        msg.header.frame_id = "map"
        msg.pose.pose.position.x = float(sent)
        odom_pub.publish(msg)
        sent += 1
        ex.spin_once(timeout_sec=0.05)
    rec.close()
    ex.shutdown()
    pub_node.destroy_node()
    rec.destroy_node()
    assert rec.counts["/latched_doc"] == 1
    assert rec.counts["/carrier_01/odom"] >= 5

    decoded = list(read_ros2_messages(str(out)))
    topics = {m.channel.topic for m in decoded}
    assert {"/latched_doc", "/carrier_01/odom"} <= topics
    odoms = [m.ros_msg for m in decoded if m.channel.topic == "/carrier_01/odom"]
    xs = [o.pose.pose.position.x for o in odoms]
    assert xs == sorted(xs) and all(o.header.frame_id == "map" for o in odoms)
    doc = next(m.ros_msg for m in decoded if m.channel.topic == "/latched_doc")
    assert doc.data == '{"hello": 1}'
    _ = rclpy
