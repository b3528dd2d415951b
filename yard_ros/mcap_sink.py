"""Write ROS 2 messages to an MCAP file the way rosbag2 does (``ros2`` profile, CDR, ``ros2msg`` schemas).

Shared by the live recorder node (raw CDR bytes from subscriptions) and by in-process runs such as
the simulated day (message objects serialised here). Foxglove opens the result directly.
"""

from __future__ import annotations

from pathlib import Path

from mcap.writer import CompressionType, Writer

from yard_ros.msg_definitions import schema_text

COMPRESSION = {"none": CompressionType.NONE, "lz4": CompressionType.LZ4, "zstd": CompressionType.ZSTD}


def type_name_of(msg) -> str:
    """'pkg/msg/Name' of a message instance or class."""
    cls = msg if isinstance(msg, type) else type(msg)
    package = cls.__module__.split(".")[0]
    return f"{package}/msg/{cls.__name__}"


class McapSink:
    """An open MCAP file with one channel per topic; ``close()`` writes the summary and index."""

    def __init__(self, path: str | Path, compression: str = "zstd", library: str = "yard_autonomy"):
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        self.path = out
        self._file = open(out, "wb")  # noqa: SIM115 - closed in close()
        self._writer = Writer(self._file, compression=COMPRESSION[compression])
        self._writer.start(profile="ros2", library=library)
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self.counts: dict[str, int] = {}
        self.closed = False

    def add_channel(self, topic: str, type_name: str) -> int:
        """Register (once) the channel of a topic; raises LookupError if the type's .msg is not installed."""
        if topic in self._channels:
            return self._channels[topic]
        if type_name not in self._schemas:
            self._schemas[type_name] = self._writer.register_schema(
                name=type_name.replace("/msg/", "/"), encoding="ros2msg", data=schema_text(type_name).encode())
        channel = self._writer.register_channel(topic=topic, message_encoding="cdr",
                                                schema_id=self._schemas[type_name])
        self._channels[topic] = channel
        self.counts[topic] = 0
        return channel

    def write_raw(self, topic: str, data: bytes, log_time_ns: int) -> None:
        """Append serialised CDR bytes to a registered topic."""
        if self.closed:
            return
        self._writer.add_message(channel_id=self._channels[topic], log_time=log_time_ns, publish_time=log_time_ns,
                                 data=data, sequence=self.counts[topic])
        self.counts[topic] += 1

    def write(self, topic: str, msg, log_time_ns: int) -> None:
        """Serialise a message object and append it (the channel is created on first use)."""
        from rclpy.serialization import serialize_message  # needs the ROS libraries, not a running context

        if self.closed:
            return
        self.add_channel(topic, type_name_of(msg))
        self.write_raw(topic, serialize_message(msg), log_time_ns)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._writer.finish()
            self._file.close()
