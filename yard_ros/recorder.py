"""Record a running graph to an MCAP file that Foxglove and rosbag2 tools open.

rosbag2 is not installable from PyPI, so this node does what ``ros2 bag record
-s mcap`` does: it discovers topics as they appear, subscribes to each with a
QoS that matches its publishers (best effort if any publisher is, transient
local if all are, so latched topics arrive), takes the serialized CDR bytes
without deserialising (``raw=True``) and writes them with the ``ros2msg``
schema from :mod:`yard_ros.msg_definitions`. Log times are the node's ROS time,
so a simulated run plays back on the simulated clock.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field

from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from yard_model.params import spec
from yard_ros import params
from yard_ros.mcap_sink import McapSink
from yard_ros.spin import run_node


@dataclass
class RecorderParams:
    """Parameters of the MCAP recorder node."""

    output: str = field(default="yard.mcap", metadata=spec("MCAP file to write (parent folders are created)"))
    include: list[str] = field(default_factory=lambda: [".*"],
                               metadata=spec("Regular expressions of topics to record"))
    exclude: list[str] = field(default_factory=lambda: ["^/parameter_events$", "^/rosout$"],
                               metadata=spec("Regular expressions of topics never recorded (wins over include)"))
    discovery_period_s: float = field(default=0.5, metadata=spec("How often new topics are looked for (wall time)",
                                                                 "s", 0.05, 60.0))
    compression: str = field(default="zstd", metadata=spec("Chunk compression", choices=("none", "lz4", "zstd")))


def message_class(type_name: str):
    """Python class of 'pkg/msg/Name' (rosidl_runtime_py is not on PyPI)."""
    package, kind, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


class McapRecorderNode(Node):
    """Subscribes to every matching topic and writes what it receives to MCAP."""

    def __init__(self, **node_kwargs):
        super().__init__(node_kwargs.pop("node_name", "recorder"), **node_kwargs)
        self.p = params.declare(self, RecorderParams)
        self._include = [re.compile(x) for x in self.p.include]
        self._exclude = [re.compile(x) for x in self.p.exclude]
        self._sink = McapSink(self.p.output, self.p.compression, library="yard_autonomy recorder")
        self.counts = self._sink.counts
        self._seen: set[str] = set()
        self._subs = []
        self._discover()
        self.create_timer(self.p.discovery_period_s, self._discover, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(f"recording to {self._sink.path}")

    def wanted(self, topic: str) -> bool:
        return any(r.search(topic) for r in self._include) and not any(r.search(topic) for r in self._exclude)

    def _qos_for(self, topic: str) -> QoSProfile:
        infos = self.get_publishers_info_by_topic(topic)
        best_effort = any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for i in infos)
        latched = bool(infos) and all(i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for i in infos)
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=100,
            reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
        )

    def _discover(self) -> None:
        for topic, types in self.get_topic_names_and_types():
            if topic in self._seen or not self.wanted(topic) or not self.get_publishers_info_by_topic(topic):
                continue
            self._seen.add(topic)
            if len(types) != 1:
                self.get_logger().warning(f"not recording {topic}: it has several types {types}")
                continue
            try:
                cls = message_class(types[0])
                self._sink.add_channel(topic, types[0])
            except (LookupError, ImportError, AttributeError, ValueError) as exc:
                self.get_logger().warning(f"not recording {topic}: {exc}")
                continue
            self._subs.append(self.create_subscription(
                cls, topic, lambda data, t=topic: self._sink.write_raw(t, data, self.get_clock().now().nanoseconds),
                self._qos_for(topic), raw=True))

    def close(self) -> None:
        """Finish the MCAP file (summary and index) so it is readable."""
        self._sink.close()


def main(args=None) -> int:
    """Record until Ctrl-C or SIGTERM; the MCAP file is closed (indexed, readable) on the way out."""
    return run_node(McapRecorderNode, "yard_recorder", args, on_exit=McapRecorderNode.close)


if __name__ == "__main__":
    raise SystemExit(main())
