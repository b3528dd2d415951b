"""``localization`` node: one carrier's GNSS/RTK + wheel odometry + gyro filter on ROS.

Runs in the carrier's namespace (``/carrier_01``), vehicle id = namespace unless the
``vehicle_id`` parameter says otherwise. Translation only; the algorithm is in
:mod:`agv_nav.localization_filter` (see docs/localization.md).

Subscribes (sensor QoS, best effort): ``gnss/fix`` (NavSatFix), ``odom/wheel`` (Odometry, twist),
``imu/data`` (Imu, gyro z), ``gnss/heading`` (Imu orientation, optional), ``bay_positioning/pose``
(PoseWithCovarianceStamped in ``map``, the crane-mounted positioning at a bay; ``use_bay_positioning``).
Publishes: ``localization/odometry`` (Odometry, frame ``map``, child ``<vehicle>/base_link``, full
6x6 covariances) on a timer in ROS time; the same at ``throttle_rate_hz`` on
``localization/odometry_throttle`` for other carriers and the fleet manager; ``/diagnostics``;
``map -> <vehicle>/base_link`` on ``/tf`` when ``tf2_ros`` is importable (not on PyPI-only installs).
Service: ``localization/reset`` (std_srvs/Trigger).
"""

from __future__ import annotations

import math
from collections import Counter

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseWithCovarianceStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import Imu, NavSatFix
from std_srvs.srv import Trigger

from yard_model import load_world
from yard_model.resources import world_path
from yard_ros import qos
from yard_ros.orientation import yaw_quaternion
from yard_ros.params import declare
from yard_ros.spin import fast_executor, run_node
from yard_ros.stamps import from_sec, to_sec
from yard_ros.topics import ODOMETRY_THROTTLE

from .lever_arm_check import lever_arm_findings
from .localization_filter import Estimate, LocalizationFilter
from .localization_inputs import (
    BayPoseReading,
    FixReading,
    HeadingReading,
    ImuReading,
    InputScreen,
    OdomReading,
    Rejected,
)
from .localization_params import LocalizationParams
from .pose_init import world_spots

try:  # full ROS installs only
    from geometry_msgs.msg import TransformStamped
    from tf2_ros import TransformBroadcaster
except ImportError:  # PyPI wheels carry no tf2_ros: no TF, documented
    TransformBroadcaster = None
    TransformStamped = None

PLANAR_RATE_VARIANCE = 1e-4  # [(m/s)^2, (rad/s)^2] reported for vz, roll and pitch rates (flat yard)


def odometry_msg(est: Estimate, vehicle: str, p: LocalizationParams) -> Odometry:
    """nav_msgs/Odometry of an estimate: pose in map, twist in base_link, 6x6 covariances (x y z roll pitch yaw)."""
    msg = Odometry()
    msg.header.stamp = from_sec(est.t)
    msg.header.frame_id = "map"
    msg.child_frame_id = f"{vehicle}/base_link"
    msg.pose.pose.position.x, msg.pose.pose.position.y = est.x, est.y
    msg.pose.pose.orientation = yaw_quaternion(est.yaw)
    idx = (0, 1, 5)  # x, y, yaw in the 6x6 row-major ROS order
    pose_cov = [0.0] * 36
    twist_cov = [0.0] * 36
    for a, ia in enumerate(idx):
        for b, ib in enumerate(idx):
            pose_cov[ia * 6 + ib] = float(est.pose_cov[a, b])
            twist_cov[ia * 6 + ib] = float(est.twist_cov[a, b])
    pose_cov[2 * 6 + 2] = p.z_sigma_m**2
    pose_cov[3 * 6 + 3] = pose_cov[4 * 6 + 4] = p.roll_pitch_sigma_rad**2
    for i in (2, 3, 4):
        twist_cov[i * 6 + i] = PLANAR_RATE_VARIANCE
    msg.pose.covariance = pose_cov
    msg.twist.twist.linear.x, msg.twist.twist.linear.y = est.vx, est.vy
    msg.twist.twist.angular.z = est.wz
    msg.twist.covariance = twist_cov
    return msg


class LocalizationNode(Node):
    """Thin ROS wrapper: messages -> InputScreen -> LocalizationFilter -> odometry, TF, diagnostics."""

    def __init__(self, **node_kwargs):
        super().__init__("localization", **node_kwargs)
        self.p = declare(self, LocalizationParams)
        ns = self.get_namespace().strip("/")
        self.vehicle = self.p.vehicle_id or ns.split("/")[-1] or "carrier"
        world = load_world(world_path(self.p.world))
        if self.p.geometry_from_world:
            ax, ay, _ = world.carrier_type.gnss_antenna_m
            rear_x = -world.carrier_type.wheelbase_m / 2.0
        else:
            ax, ay, _ = self.p.gnss_antenna_m
            rear_x = self.p.rear_axle_x_m
        self.lever_configured = (float(ax), float(ay))
        self.screen = InputScreen(self.p, world.frame)
        self.filter = LocalizationFilter(self.p, (ax, ay), rear_x, world_spots(world))
        self.rejected: Counter[str] = Counter()  # '<stream> rejected: <reason>' from the screen
        self._last_log: dict[str, float] = {}
        self._latency_sum: dict[str, float] = Counter()
        self._latency_n: dict[str, int] = Counter()
        self._published = 0
        self._last_out_t = -math.inf

        self.pub_odom = self.create_publisher(Odometry, "localization/odometry", qos.STATE)
        self.pub_throttle = self.create_publisher(Odometry, ODOMETRY_THROTTLE, qos.STATE) \
            if self.p.throttle_rate_hz > 0.0 else None
        self._next_throttle_t = -math.inf
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.tf = TransformBroadcaster(self) if (self.p.publish_tf and TransformBroadcaster is not None) else None
        self.create_subscription(NavSatFix, "gnss/fix", self._on_fix, qos.SENSOR_SUB)
        self.create_subscription(Odometry, "odom/wheel", self._on_odom, qos.SENSOR_SUB)
        self.create_subscription(Imu, "imu/data", self._on_imu, qos.SENSOR_SUB)
        if self.p.use_gnss_heading:
            self.create_subscription(Imu, "gnss/heading", self._on_heading, qos.SENSOR_SUB)
        if self.p.use_bay_positioning:
            self.create_subscription(PoseWithCovarianceStamped, "bay_positioning/pose", self._on_bay_pose,
                                     qos.SENSOR_SUB)
        self.create_service(Trigger, "localization/reset", self._on_reset)
        self.create_timer(1.0 / self.p.output_rate_hz, self._publish)
        self.create_timer(self.p.diagnostics_period_s, self._publish_diagnostics)
        self.get_logger().info(
            f"localization for {self.vehicle} in world '{world.name}': antenna ({ax:.2f}, {ay:.2f}) m, rear axle "
            f"x {rear_x:.2f} m, output {self.p.output_rate_hz:.0f} Hz, TF "
            f"{'on' if self.tf else 'off (tf2_ros not importable)' if self.p.publish_tf else 'off'}")

    # ---------------------------------------------------------------------- time
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _log_rejection(self, stream: str, r: Rejected) -> None:
        key = f"{stream} rejected: {r.reason}"
        self.rejected[key] += 1
        now = self._now()
        if now - self._last_log.get(key, -math.inf) >= self.p.log_throttle_s:
            self._last_log[key] = now
            self.get_logger().warning(f"dropped {r.detail} ({self.rejected[key]} so far)")

    def _feed(self, stream: str, z, latency: float) -> None:
        if isinstance(z, Rejected):
            self._log_rejection(stream, z)
            return
        self._latency_sum[stream] += latency
        self._latency_n[stream] += 1
        out = self.filter.add(z)
        if not out.accepted and out.reason not in ("gate", "initialising"):
            self._log_rejection(stream, Rejected(out.reason, f"{stream}: {out.reason} at stamp {z.t:.3f} s"))

    # ----------------------------------------------------------------- callbacks
    def _on_fix(self, msg: NavSatFix) -> None:
        arrival, stamp = self._now(), to_sec(msg.header.stamp)
        r = FixReading(stamp, arrival, msg.latitude, msg.longitude, msg.altitude, int(msg.status.status),
                       int(msg.position_covariance_type), tuple(msg.position_covariance))
        self._feed("gnss/fix", self.screen.fix(r), arrival - stamp)

    def _on_odom(self, msg: Odometry) -> None:
        arrival, stamp = self._now(), to_sec(msg.header.stamp)
        tw = msg.twist.twist
        self._feed("odom/wheel", self.screen.odom(OdomReading(stamp, arrival, tw.linear.x, tw.angular.z)),
                   arrival - stamp)

    def _on_imu(self, msg: Imu) -> None:
        arrival, stamp = self._now(), to_sec(msg.header.stamp)
        self._feed("imu/data", self.screen.imu(ImuReading(stamp, arrival, msg.angular_velocity.z)), arrival - stamp)

    def _on_heading(self, msg: Imu) -> None:
        arrival, stamp = self._now(), to_sec(msg.header.stamp)
        q = msg.orientation
        r = HeadingReading(stamp, arrival, (q.x, q.y, q.z, q.w), msg.orientation_covariance[8])
        self._feed("gnss/heading", self.screen.heading(r), arrival - stamp)

    def _on_bay_pose(self, msg: PoseWithCovarianceStamped) -> None:
        arrival, stamp = self._now(), to_sec(msg.header.stamp)
        pose = msg.pose.pose
        q = pose.orientation
        r = BayPoseReading(stamp, arrival, msg.header.frame_id, pose.position.x, pose.position.y,
                           (q.x, q.y, q.z, q.w), tuple(msg.pose.covariance))
        self._feed("bay_positioning/pose", self.screen.bay_pose(r), arrival - stamp)

    def _on_reset(self, request, response):
        self.filter.reset()
        response.success = True
        response.message = (f"{self.vehicle}: localization reset; re-initialising (GNSS heading, a spot at a "
                            "standstill, or driving)")
        self.get_logger().info(response.message)
        return response

    # -------------------------------------------------------------------- output
    def _publish(self) -> None:
        now = self._now()
        if now <= 0.0:
            return  # no clock yet (sim time before the first /clock)
        est = self.filter.estimate(now)
        if est is None or est.t <= self._last_out_t:
            return
        self._last_out_t = est.t
        msg = odometry_msg(est, self.vehicle, self.p)
        self.pub_odom.publish(msg)
        self._published += 1
        if self.pub_throttle is not None and est.t >= self._next_throttle_t:
            period = 1.0 / self.p.throttle_rate_hz
            self._next_throttle_t = max(self._next_throttle_t + period, est.t + 0.5 * period)
            self.pub_throttle.publish(msg)
        if self.tf is not None:
            tf = TransformStamped()
            tf.header = msg.header
            tf.child_frame_id = msg.child_frame_id
            tf.transform.translation.x, tf.transform.translation.y = est.x, est.y
            tf.transform.rotation = msg.pose.pose.orientation
            self.tf.sendTransform(tf)

    def diagnostic_status(self) -> DiagnosticStatus:
        """Health of the filter now: OK / WARN / ERROR, with the figures behind it."""
        f, p, now = self.filter, self.p, self._now()
        est = f.estimate(now)
        problems_warn, problems_error = [], []
        values: dict[str, str] = {}
        if est is None:
            problems_warn.append("initialising: waiting for a GNSS heading, a standstill at a spot, or driving "
                                 f"{p.init_min_distance_m:.0f} m")
            sigma = yaw_sigma = math.inf
        else:
            sigma = f.position_sigma()
            yaw_sigma = math.sqrt(max(est.pose_cov[2, 2], 0.0))
            if sigma > p.error_position_sigma_m:
                problems_error.append(f"position sigma {sigma:.2f} m > {p.error_position_sigma_m} m")
            elif sigma > p.warn_position_sigma_m:
                problems_warn.append(f"position sigma {sigma:.2f} m > {p.warn_position_sigma_m} m")
            fix_age = now - f.last_fix_t
            if fix_age > p.gnss_timeout_s and now - f.last_bay_t > p.gnss_timeout_s:
                problems_warn.append(f"dead reckoning: no accepted GNSS fix (nor bay positioning) for {fix_age:.1f} s")
        lever_values, lever_problems = lever_arm_findings(self.filter, self.lever_configured, self.p)
        values.update(lever_values)
        problems_warn += lever_problems
        stamps = self.screen.last_stamp
        for stream in ("odom/wheel", "imu/data"):
            age = now - stamps.get(stream, -math.inf)
            values[f"{stream} age [s]"] = f"{age:.3f}" if math.isfinite(age) else "never"
            if age > p.input_timeout_s:
                (problems_error if stream == "odom/wheel" and est is not None else problems_warn).append(
                    f"{stream} silent for {age:.1f} s" if math.isfinite(age) else f"no {stream} yet")
        level = DiagnosticStatus.ERROR if problems_error else DiagnosticStatus.WARN if problems_warn \
            else DiagnosticStatus.OK
        message = "; ".join(problems_error + problems_warn) or f"tracking ({f.gnss_mode})"
        init = f.initial_pose
        nis = list(f.recent_nis)
        values.update({
            "state": "tracking" if est is not None else "initialising",
            "initialised from": init.source if init is not None else "",
            "gnss mode": f.gnss_mode,
            "last accepted fix age [s]": f"{now - f.last_fix_t:.2f}" if math.isfinite(f.last_fix_t) else "never",
            "last accepted bay positioning age [s]": (f"{now - f.last_bay_t:.2f}" if math.isfinite(f.last_bay_t)
                                                      else "never"),
            "position sigma [m]": f"{sigma:.4f}",
            "yaw sigma [rad]": f"{yaw_sigma:.5f}",
            "mean NIS of recent fixes (2 expected)": f"{sum(nis) / len(nis):.2f}" if nis else "",
            "odometry published": str(self._published),
            "resets": str(f.resets),
        })
        for stream, n in sorted(self._latency_n.items()):
            values[f"{stream} mean latency [s]"] = f"{self._latency_sum[stream] / n:.3f}"
        for key, n in sorted((self.rejected + f.counts).items()):
            values[key] = str(n)
        return DiagnosticStatus(level=level, name=f"localization: {self.vehicle}", message=message,
                                hardware_id=self.vehicle,
                                values=[KeyValue(key=k, value=v) for k, v in values.items()])

    def _publish_diagnostics(self) -> None:
        msg = DiagnosticArray(status=[self.diagnostic_status()])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_diag.publish(msg)


def main(args=None) -> int:
    """Run until Ctrl-C or SIGTERM (exit 0); exit code 1 if the parameters or the world are unusable."""
    return run_node(LocalizationNode, "localization", args, executor_factory=fast_executor)


if __name__ == "__main__":
    raise SystemExit(main())
