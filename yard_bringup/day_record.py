"""Record a simulated day (:mod:`yard_harness.day`) to MCAP for Foxglove, without a ROS graph.

An observer of :class:`~yard_harness.day.SimulatedDay` that writes ROS 2
messages through :class:`yard_ros.mcap_sink.McapSink` (``ros2msg`` schemas,
CDR), on the topics the live graph uses, stamped with simulated time from
:data:`~yard_harness.day.DAY_EPOCH_S`:

=====================================  ===========================  =========================
topic                                  type                         rate (simulated time)
=====================================  ===========================  =========================
``/clock``                             ``rosgraph_msgs/Clock``      ``pose_period_s``
``/<carrier>/ground_truth/odometry``   ``nav_msgs/Odometry``        ``pose_period_s``, frame
                                                                    ``map``, child
                                                                    ``<carrier>/base_link``
``/<carrier>/battery``                 ``sensor_msgs/BatteryState`` ``state_period_s``
``/yard/markers``                      ``visualization_msgs/        layout once at the start,
                                       MarkerArray``                carriers, trucks and
                                                                    containers every
                                                                    ``marker_period_s``, the
                                                                    carriers' boxes and labels
                                                                    every ``pose_period_s``
``/fleet/state``                       ``std_msgs/String``          ``state_period_s``
                                       (JSON ``fleet_state``)
``/fleet/order_events``                ``std_msgs/String``          every event
                                       (JSON ``order_event``)
=====================================  ===========================  =========================

Defaults keep a 24 h day with 12 carriers to tens of megabytes (zstd chunks). Building
every marker of the yard takes tens of milliseconds, so between full arrays only the carriers'
markers (same namespaces and ids as :func:`yard_ros.markers.dynamic_markers`, so they replace
each other) are moved: the message objects are kept and only their poses and stamps change.
Needs the ROS message packages (PyPI ``ros-jazzy-*`` wheels); no rclpy context.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Quaternion
from nav_msgs.msg import Odometry
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import BatteryState
from std_msgs.msg import String
from visualization_msgs.msg import MarkerArray

from yard_harness.day import DAY_EPOCH_S, SimulatedDay
from yard_ros.markers import dynamic_markers, static_markers
from yard_ros.mcap_sink import McapSink


@dataclass(frozen=True)
class RecordConfig:
    """Recording rates [s of simulated time]."""

    pose_period_s: float = 1.0
    marker_period_s: float = 30.0
    state_period_s: float = 10.0
    compression: str = "zstd"

    def __post_init__(self) -> None:
        for name in ("pose_period_s", "marker_period_s", "state_period_s"):
            v = getattr(self, name)
            if not (v > 0.0 and math.isfinite(v)):
                raise ValueError(f"{name} must be a positive number of seconds, got {v}")


def stamp_of(t: float) -> tuple[Time, int]:
    """ROS stamp and MCAP log time [ns] of simulated time t."""
    ns = int(round((DAY_EPOCH_S + t) * 1e9))
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000), ns


def _duration(seconds: float) -> Duration:
    return Duration(sec=int(seconds), nanosec=int(round((seconds - int(seconds)) * 1e9)))


def _quat(yaw: float) -> Quaternion:
    return Quaternion(x=0.0, y=0.0, z=math.sin(yaw / 2.0), w=math.cos(yaw / 2.0))


class DayRecorder:
    """Observer writing one simulated day to ``path`` (call :meth:`close` at the end)."""

    def __init__(self, path: str | Path, day: SimulatedDay, config: RecordConfig | None = None):
        self.cfg = config or RecordConfig()
        self.day = day
        self.sink = McapSink(path, self.cfg.compression, library="yard_autonomy day")
        self.path = self.sink.path
        self._next = {"pose": 0.0, "marker": 0.0, "state": 0.0}
        self._odom: dict[str, Odometry] = {}
        self._carrier_markers: dict[str, list] = {}  # carrier id -> [box, label] from the last full array
        stamp, ns = stamp_of(day.t)
        self.sink.write("/yard/markers", static_markers(day.world, stamp), ns)
        self._write_events(day)
        day.observers.append(self)

    def __call__(self, day: SimulatedDay) -> None:
        t = day.t
        self._write_events(day)
        if t >= self._next["marker"] - 1e-9:
            self._next["marker"] = t + self.cfg.marker_period_s
            self._write_markers(day)
            moved_markers = True
        else:
            moved_markers = False
        if t >= self._next["pose"] - 1e-9:
            self._next["pose"] = t + self.cfg.pose_period_s
            self._write_poses(day)
            if not moved_markers:
                self._move_carrier_markers(day)
        if t >= self._next["state"] - 1e-9:
            self._next["state"] = t + self.cfg.state_period_s
            self._write_state(day)

    def _write_events(self, day: SimulatedDay) -> None:
        for ev in day.new_events:
            _, ns = stamp_of(float(ev.get("stamp", day.t)))
            self.sink.write("/fleet/order_events", String(data=json.dumps(ev)), ns)

    def _write_poses(self, day: SimulatedDay) -> None:
        stamp, ns = stamp_of(day.t)
        self.sink.write("/clock", Clock(clock=stamp), ns)
        for cid, p in day.carrier_poses().items():
            msg = self._odom.get(cid)
            if msg is None:
                msg = self._odom[cid] = Odometry()
                msg.header.frame_id = "map"
                msg.child_frame_id = f"{cid}/base_link"
            msg.header.stamp = stamp
            msg.pose.pose.position.x = p["x"]
            msg.pose.pose.position.y = p["y"]
            msg.pose.pose.orientation = _quat(p["yaw"])
            msg.twist.twist.linear.x = p["v"]
            self.sink.write(f"/{cid}/ground_truth/odometry", msg, ns)

    def _write_markers(self, day: SimulatedDay) -> None:
        stamp, ns = stamp_of(day.t)
        sim, world = day.sim, day.world
        trucks, containers = {}, {}
        for bay_id, tr in sim.trucks.items():
            bay = world.bays[bay_id]
            trucks[tr["id"]] = {"x": bay.pose.x, "y": bay.pose.y, "yaw": bay.pose.yaw}
        carriers = {c.id: c for c in sim.carriers.values()}
        for cid, where in sim.containers.items():
            if where["holder"] == "carrier" and where["holder_id"] in carriers:
                c = carriers[where["holder_id"]]
                containers[cid] = {"x": c.x, "y": c.y, "z": world.carrier_type.deck_height_m, "yaw": c.yaw}
            elif where["holder"] == "truck" and where.get("bay") in world.bays:
                bay = world.bays[where["bay"]]
                containers[cid] = {"x": bay.pose.x, "y": bay.pose.y, "z": world.truck_type.bed_height_m,
                                   "yaw": bay.pose.yaw}
        snapshot = {"carriers": {cid: {"x": p["x"], "y": p["y"], "yaw": p["yaw"]}
                                 for cid, p in day.carrier_poses().items()},
                    "trucks": trucks, "containers": containers}
        arr = dynamic_markers(world, snapshot, stamp, lifetime_s=self.cfg.marker_period_s + 1.0)
        self.sink.write("/yard/markers", arr, ns)
        boxes = {mk.id: mk for mk in arr.markers if mk.ns == "carriers"}
        self._carrier_markers = {mk.text: [boxes[mk.id], mk] for mk in arr.markers
                                 if mk.ns == "carrier_labels" and mk.id in boxes}
        for box, label in self._carrier_markers.values():
            box.lifetime = label.lifetime = _duration(self.cfg.pose_period_s + 1.0)

    def _move_carrier_markers(self, day: SimulatedDay) -> None:
        """The carriers' boxes and labels moved to their poses now (cheap: no new messages)."""
        stamp, ns = stamp_of(day.t)
        markers = []
        for cid, p in day.carrier_poses().items():
            for mk in self._carrier_markers.get(cid, ()):
                mk.header.stamp = stamp
                mk.pose.position.x, mk.pose.position.y = p["x"], p["y"]
                if mk.ns == "carriers":
                    mk.pose.orientation = _quat(p["yaw"])
                markers.append(mk)
        self.sink.write("/yard/markers", MarkerArray(markers=markers), ns)

    def _write_state(self, day: SimulatedDay) -> None:
        stamp, ns = stamp_of(day.t)
        self.sink.write("/fleet/state", String(data=json.dumps(day.mgr.fleet_state(day.t))), ns)
        for cid, p in day.carrier_poses().items():
            msg = BatteryState()
            msg.header.stamp = stamp
            msg.header.frame_id = f"{cid}/base_link"
            msg.percentage = float(p["soc"])
            msg.present = True
            self.sink.write(f"/{cid}/battery", msg, ns)

    def close(self) -> None:
        if self in self.day.observers:
            self.day.observers.remove(self)
        self.sink.close()
