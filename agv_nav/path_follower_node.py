"""ROS 2 node of one carrier's path follower: translates messages and time for ``agv_nav.follower``.

Subscribes (relative to the carrier's namespace): ``route`` and ``movement_authority`` (JSON in
std_msgs/String), ``localization/odometry`` (nav_msgs/Odometry), ``emergency_stop`` (std_msgs/Bool,
latched) and ``/<other>/localization/odometry`` of the other carriers. Publishes ``cmd_vel``
(geometry_msgs/TwistStamped) at ``control_rate_hz``, ``follower/status`` (JSON) at ``status_rate_hz``
and on every state change, and ``/diagnostics``.

Bad input is logged with its reason and counted (diagnostics), and the node keeps running: malformed
or schema-invalid JSON leaves the follower as it was; a well-formed route that cannot be followed puts
it in ``fault`` (stopping) with the reason in the status, because the fleet manager meant it for us.
"""

from __future__ import annotations

import math
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import TwistStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from std_msgs.msg import Bool, String

from yard_model import load_world
from yard_model.documents import DocumentError, dump_document, parse_document
from yard_model.resources import world_path
from yard_ros import params as params_mod
from yard_ros.orientation import yaw_of
from yard_ros.qos import COMMAND, LATCHED, SENSOR_SUB, STATE
from yard_ros.spin import fast_executor, run_node
from yard_ros.stamps import from_sec, to_sec
from yard_ros.topics import ODOMETRY_THROTTLE

from .follower import PathFollower, PoseEstimate, pose_estimate
from .follower_params import PathFollowerParams
from .safety import OtherCarrier

DISCOVERY_PERIOD_S = 2.0  # [s] how often other carriers' localization topics are looked for


def pose_from_odometry(msg: Odometry) -> PoseEstimate:
    cov = msg.pose.covariance
    return pose_estimate(to_sec(msg.header.stamp), msg.pose.pose.position.x, msg.pose.pose.position.y,
                         yaw_of(msg.pose.pose.orientation), msg.twist.twist.linear.x, msg.twist.twist.angular.z,
                         [[cov[0], cov[1]], [cov[6], cov[7]]], cov[35])


class PathFollowerNode(Node):
    """One carrier's path follower (module docstring)."""

    def __init__(self, **node_kwargs):
        super().__init__("path_follower", **node_kwargs)
        self.params = params_mod.declare(self, PathFollowerParams)
        ns = self.get_namespace().strip("/")
        self.vehicle_id = self.params.vehicle_id or ns.split("/")[-1] or "carrier_01"
        world_file = world_path(self.params.world)
        self.world = load_world(world_file)
        self.follower = PathFollower(self.params, self.world.carrier_type, self.vehicle_id)
        self.rejected = {"route": 0, "authority": 0, "localization": 0}
        self.last_rejection = ""
        self._last_state = None
        self._step_time_s = 0.0
        self._others: dict[str, object] = {}

        self.cmd_pub = self.create_publisher(TwistStamped, "cmd_vel", COMMAND)
        self.status_pub = self.create_publisher(String, "follower/status", STATE)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(String, "route", self._on_route, COMMAND)
        self.create_subscription(String, "movement_authority", self._on_authority, COMMAND)
        self.create_subscription(Bool, "emergency_stop", self._on_estop, LATCHED)
        self.create_subscription(Odometry, "localization/odometry", self._on_odometry, SENSOR_SUB)
        fixed = [c.strip() for c in self.params.other_carriers.split(",") if c.strip()]
        for cid in fixed:
            self._watch(cid)
        if not fixed:
            self.create_timer(DISCOVERY_PERIOD_S, self._discover)
            self._discover()
        self.create_timer(1.0 / self.params.control_rate_hz, self._on_control)
        self.create_timer(1.0 / self.params.status_rate_hz, self._publish_status)
        self.create_timer(1.0, self._publish_diagnostics)
        self.get_logger().info(f"path follower for {self.vehicle_id} ({world_file.name}), "
                               f"{self.params.control_rate_hz:g} Hz")

    # ------------------------------------------------------------------ time
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # ---------------------------------------------------------------- inputs
    def _reject(self, kind: str, reason: str) -> None:
        self.rejected[kind] += 1
        self.last_rejection = reason
        self.get_logger().warning(reason)

    def _on_route(self, msg: String) -> None:
        try:
            doc = parse_document("carrier_route", msg.data)
        except DocumentError as exc:
            self._reject("route", f"route ignored: {exc}")
            return
        reason = self.follower.set_route(doc)
        if reason is not None:
            self._reject("route", reason)
        else:
            self.get_logger().info(f"route {doc['route_id']} accepted ({len(doc['points'])} points)")
        self._publish_status()

    def _on_authority(self, msg: String) -> None:
        try:
            doc = parse_document("movement_authority", msg.data)
        except DocumentError as exc:
            self._reject("authority", f"movement authority ignored: {exc}")
            return
        reason = self.follower.set_authority(doc)
        if reason is not None:
            self._reject("authority", reason)

    def _on_estop(self, msg: Bool) -> None:
        if msg.data != self.follower.emergency_stop:
            self.get_logger().warning(f"emergency stop {'ON' if msg.data else 'released'}")
        self.follower.set_emergency_stop(msg.data)

    def _on_odometry(self, msg: Odometry) -> None:
        if msg.header.frame_id not in ("map", ""):
            self._reject("localization", f"localization in frame '{msg.header.frame_id}' ignored (expected map)")
            return
        reason = self.follower.update_pose(pose_from_odometry(msg))
        if reason is not None:
            self._reject("localization", reason)

    def _watch(self, carrier_id: str) -> None:
        if carrier_id == self.vehicle_id or carrier_id in self._others:
            return

        def on_other(msg: Odometry, cid=carrier_id) -> None:
            self.follower.update_other(OtherCarrier(cid, to_sec(msg.header.stamp), msg.pose.pose.position.x,
                                                    msg.pose.pose.position.y, yaw_of(msg.pose.pose.orientation)))

        self._others[carrier_id] = self.create_subscription(
            Odometry, f"/{carrier_id}/{ODOMETRY_THROTTLE}", on_other, SENSOR_SUB)
        self.get_logger().info(f"watching {carrier_id}")

    def _discover(self) -> None:
        for name, types in self.get_topic_names_and_types():
            parts = name.strip("/").split("/")
            if "/".join(parts[1:]) == ODOMETRY_THROTTLE and "nav_msgs/msg/Odometry" in types:
                self._watch(parts[0])

    # --------------------------------------------------------------- outputs
    def _on_control(self) -> None:
        t = self._now()
        t0 = time.perf_counter()  # compute-time diagnostic only; control uses the ROS clock
        cmd = self.follower.step(t)
        self._step_time_s = time.perf_counter() - t0
        msg = TwistStamped()
        msg.header.stamp = from_sec(t)
        msg.header.frame_id = f"{self.vehicle_id}/base_link"
        msg.twist.linear.x = float(cmd.v_mps)
        msg.twist.angular.z = float(cmd.yaw_rate_radps)
        self.cmd_pub.publish(msg)
        key = (self.follower.state, self.follower.reason, self.follower.status_route_id)
        if key != self._last_state:
            self._last_state = key
            if self.follower.state in ("blocked", "fault"):
                self.get_logger().warning(f"{self.follower.state}: {self.follower.reason}")
            else:
                self.get_logger().info(f"state {self.follower.state}")
            self._publish_status()

    def _publish_status(self) -> None:
        self.status_pub.publish(String(data=dump_document("follower_status", self.follower.status(self._now()))))

    def _publish_diagnostics(self) -> None:
        f = self.follower
        level = {"fault": DiagnosticStatus.ERROR, "blocked": DiagnosticStatus.WARN}.get(f.state, DiagnosticStatus.OK)
        age = self._now() - f.pose.t if f.pose is not None else math.inf
        values = {
            "state": f.state, "reason": f.reason, "route_id": str(f.status_route_id),
            "lateral_error_m": f"{f.lateral_error:.4f}", "progress_m": f"{f.s:.2f}",
            "speed_cmd_mps": f"{f.last_command.v_mps:.3f}", "localization_age_s": f"{age:.3f}",
            "localization_std_m": f"{f.pose.std_xy_m:.3f}" if f.pose else "none",
            "docking_error": str(f.docking_error), "step_time_ms": f"{self._step_time_s * 1e3:.3f}",
            "rejected_routes": str(self.rejected["route"]), "rejected_authorities": str(self.rejected["authority"]),
            "rejected_localization": str(self.rejected["localization"]), "last_rejection": self.last_rejection,
            "watched_carriers": ",".join(sorted(self._others)),
        }
        st = DiagnosticStatus(level=level, name=f"{self.get_fully_qualified_name()}: path follower",
                              hardware_id=self.vehicle_id, message=f.reason or f.state,
                              values=[KeyValue(key=k, value=v) for k, v in values.items()])
        arr = DiagnosticArray(status=[st])
        arr.header.stamp = from_sec(self._now())
        self.diag_pub.publish(arr)


def main(args=None) -> int:
    """Run one follower until Ctrl-C or SIGTERM (exit 0); exit 1 if its parameters or world are bad."""
    return run_node(PathFollowerNode, "path_follower", args, executor_factory=fast_executor)


if __name__ == "__main__":
    raise SystemExit(main())
