"""Sanity checks that turn raw sensor readings into filter inputs, or reject them with a reason.

The node copies each message into a plain reading (stamp, arrival time on the node's clock,
numbers); :class:`InputScreen` decides whether it is usable. Rejection reasons (also the keys of
the diagnostics counters):

* ``no_stamp`` — zero or non-finite stamp (a driver that never sets ``header.stamp``);
* ``not_finite`` — NaN or infinite values where numbers are required;
* ``absurd`` — values no carrier can produce (speed, yaw rate, a fix 50 km away, a non-unit
  quaternion, an unknown NavSatStatus);
* ``future`` — stamped ahead of the node's clock by more than ``future_tolerance_s``;
* ``stale`` — arrived later than the stream's latency bound after its stamp;
* ``out_of_order`` — not newer than the stream's previous accepted stamp (duplicates included).

Across streams any order is fine: the filter fuses everything at its stamp. Pure Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from yard_model.geodesy import LocalFrame
from yard_model.geometry import yaw_of_quaternion
from yard_model.gnss_status import STATUS_GBAS_FIX, STATUS_NO_FIX

from .gnss_trust import fix_noise, mode_of_fix
from .localization_filter import BayPosition, GnssHeading, GnssNoFix, GnssPosition, GyroSample, OdomSample
from .localization_params import LocalizationParams

REASONS = ("no_stamp", "not_finite", "absurd", "future", "stale", "out_of_order")


@dataclass(frozen=True)
class Rejected:
    """A reading that must not reach the filter, and why."""

    reason: str  # one of REASONS
    detail: str  # human-readable, for the (throttled) log line


@dataclass(frozen=True)
class FixReading:
    """Content of a ``sensor_msgs/NavSatFix``."""

    stamp: float  # [s] measurement time
    arrival: float  # [s] node clock when received
    latitude_deg: float
    longitude_deg: float
    altitude_m: float  # ellipsoidal
    status: int  # NavSatStatus.status
    cov_type: int  # position_covariance_type
    cov9: tuple[float, ...]  # position_covariance, ENU row-major [m^2]


@dataclass(frozen=True)
class OdomReading:
    """Twist of a wheel odometry ``nav_msgs/Odometry`` (in base_link)."""

    stamp: float
    arrival: float
    speed_mps: float  # twist.linear.x
    yaw_rate_radps: float  # twist.angular.z


@dataclass(frozen=True)
class ImuReading:
    """Gyro z of a ``sensor_msgs/Imu`` (imu_link is aligned with base_link)."""

    stamp: float
    arrival: float
    yaw_rate_radps: float  # angular_velocity.z


@dataclass(frozen=True)
class HeadingReading:
    """Orientation of a GNSS heading ``sensor_msgs/Imu``: quaternion (x, y, z, w) and yaw variance."""

    stamp: float
    arrival: float
    quaternion: tuple[float, float, float, float]
    yaw_variance: float  # orientation_covariance[8]; <= 0 or NaN = unknown


@dataclass(frozen=True)
class BayPoseReading:
    """Content of a bay positioning ``geometry_msgs/PoseWithCovarianceStamped`` (base_link in ``map``)."""

    stamp: float
    arrival: float
    frame_id: str
    x: float
    y: float
    quaternion: tuple[float, float, float, float]
    cov36: tuple[float, ...]  # pose covariance, ROS order (x, y, z, roll, pitch, yaw)


MAX_BAY_YAW_VARIANCE = 0.1  # [rad^2] a reported yaw variance above this (or <= 0, NaN) means yaw not measured


class InputScreen:
    """Per-stream checks with the memory they need (last accepted stamp per stream)."""

    def __init__(self, p: LocalizationParams, frame: LocalFrame):
        self.p = p
        self.frame = frame
        self.last_stamp: dict[str, float] = {}

    def reset(self) -> None:
        self.last_stamp.clear()

    def _time(self, stream: str, stamp: float, arrival: float, max_latency_s: float) -> Rejected | None:
        if not math.isfinite(stamp) or stamp <= 0.0:
            return Rejected("no_stamp", f"{stream}: stamp {stamp!r} is not set")
        if math.isfinite(arrival):
            if stamp > arrival + self.p.future_tolerance_s:
                return Rejected("future", f"{stream}: stamp {stamp:.3f} s is {stamp - arrival:.3f} s "
                                          "ahead of the clock")
            if arrival - stamp > max_latency_s:
                return Rejected("stale", f"{stream}: arrived {arrival - stamp:.3f} s after its stamp "
                                         f"(limit {max_latency_s:.3f} s)")
        last = self.last_stamp.get(stream, -math.inf)
        if stamp <= last:
            return Rejected("out_of_order", f"{stream}: stamp {stamp:.3f} s is not after the previous {last:.3f} s")
        return None

    def _accept(self, stream: str, stamp: float) -> None:
        self.last_stamp[stream] = stamp

    # ------------------------------------------------------------------ streams
    def fix(self, r: FixReading) -> GnssPosition | GnssNoFix | Rejected:
        bad = self._time("gnss/fix", r.stamp, r.arrival, self.p.gnss_max_latency_s)
        if bad:
            return bad
        if not isinstance(r.status, int) or not STATUS_NO_FIX <= r.status <= STATUS_GBAS_FIX:
            return Rejected("absurd", f"gnss/fix: unknown NavSatStatus.status {r.status!r}")
        if r.status == STATUS_NO_FIX:
            self._accept("gnss/fix", r.stamp)
            return GnssNoFix(r.stamp)
        if not all(math.isfinite(v) for v in (r.latitude_deg, r.longitude_deg, r.altitude_m)):
            return Rejected("not_finite", "gnss/fix: a fix reports a non-finite position")
        if abs(r.latitude_deg) > 90.0 or abs(r.longitude_deg) > 180.0:
            return Rejected("absurd", f"gnss/fix: latitude/longitude ({r.latitude_deg}, {r.longitude_deg}) "
                                      "out of range")
        if abs(r.altitude_m - self.frame.datum.altitude_m) > self.p.max_altitude_error_m:
            return Rejected("absurd", f"gnss/fix: height {r.altitude_m:.1f} m is more than "
                                      f"{self.p.max_altitude_error_m:.0f} m from the datum's")
        e, n, _ = self.frame.enu_from_geodetic(r.latitude_deg, r.longitude_deg, r.altitude_m)
        if not (math.isfinite(e) and math.isfinite(n)) or math.hypot(e, n) > self.p.max_distance_from_datum_m:
            return Rejected("absurd", f"gnss/fix: {math.hypot(e, n):.0f} m from the map datum")
        cov9 = tuple(r.cov9) if r.cov9 is not None and len(r.cov9) == 9 else None
        mode = mode_of_fix(r.status, r.cov_type, cov9)
        self._accept("gnss/fix", r.stamp)
        return GnssPosition(r.stamp, float(e), float(n), fix_noise(mode, r.cov_type, cov9, self.p))

    def odom(self, r: OdomReading) -> OdomSample | Rejected:
        bad = self._time("odom/wheel", r.stamp, r.arrival, self.p.input_max_latency_s)
        if bad:
            return bad
        if not (math.isfinite(r.speed_mps) and math.isfinite(r.yaw_rate_radps)):
            return Rejected("not_finite", "odom/wheel: non-finite twist")
        if abs(r.speed_mps) > self.p.max_speed_mps:
            return Rejected("absurd", f"odom/wheel: speed {r.speed_mps:.2f} m/s beyond {self.p.max_speed_mps} m/s")
        if abs(r.yaw_rate_radps) > self.p.max_yaw_rate_radps:
            return Rejected("absurd", f"odom/wheel: yaw rate {r.yaw_rate_radps:.2f} rad/s beyond "
                                      f"{self.p.max_yaw_rate_radps} rad/s")
        self._accept("odom/wheel", r.stamp)
        return OdomSample(r.stamp, float(r.speed_mps), float(r.yaw_rate_radps))

    def imu(self, r: ImuReading) -> GyroSample | Rejected:
        bad = self._time("imu/data", r.stamp, r.arrival, self.p.input_max_latency_s)
        if bad:
            return bad
        if not math.isfinite(r.yaw_rate_radps):
            return Rejected("not_finite", "imu/data: non-finite angular velocity")
        if abs(r.yaw_rate_radps) > self.p.max_yaw_rate_radps:
            return Rejected("absurd", f"imu/data: yaw rate {r.yaw_rate_radps:.2f} rad/s beyond "
                                      f"{self.p.max_yaw_rate_radps} rad/s")
        self._accept("imu/data", r.stamp)
        return GyroSample(r.stamp, float(r.yaw_rate_radps))

    def heading(self, r: HeadingReading) -> GnssHeading | Rejected:
        bad = self._time("gnss/heading", r.stamp, r.arrival, self.p.gnss_max_latency_s)
        if bad:
            return bad
        q = r.quaternion
        if not all(math.isfinite(v) for v in q):
            return Rejected("not_finite", "gnss/heading: non-finite orientation")
        norm = math.sqrt(sum(v * v for v in q))
        if abs(norm - 1.0) > 0.01:
            return Rejected("absurd", f"gnss/heading: quaternion norm {norm:.3f} is not 1")
        var = r.yaw_variance
        if not math.isfinite(var) or var <= 0.0:
            var = self.p.gnss_heading_default_sigma_rad**2
        self._accept("gnss/heading", r.stamp)
        return GnssHeading(r.stamp, yaw_of_quaternion(*(v / norm for v in q)), float(var))

    def bay_pose(self, r: BayPoseReading) -> BayPosition | Rejected:
        """A bay positioning pose: position always, yaw only when its variance is a usable number."""
        stream = "bay_positioning/pose"
        bad = self._time(stream, r.stamp, r.arrival, self.p.bay_positioning_max_latency_s)
        if bad:
            return bad
        if r.frame_id.strip("/") != "map":
            return Rejected("absurd", f"{stream}: frame '{r.frame_id}' is not map")
        q = r.quaternion
        if not (math.isfinite(r.x) and math.isfinite(r.y) and all(math.isfinite(v) for v in q)):
            return Rejected("not_finite", f"{stream}: non-finite pose")
        if math.hypot(r.x, r.y) > self.p.max_distance_from_datum_m:
            return Rejected("absurd", f"{stream}: {math.hypot(r.x, r.y):.0f} m from the map datum")
        norm = math.sqrt(sum(v * v for v in q))
        if abs(norm - 1.0) > 0.01:
            return Rejected("absurd", f"{stream}: quaternion norm {norm:.3f} is not 1")
        cov = tuple(r.cov36) if r.cov36 is not None and len(r.cov36) == 36 else (0.0,) * 36
        if not all(math.isfinite(cov[i]) for i in (0, 1, 6, 7)):
            return Rejected("not_finite", f"{stream}: non-finite position covariance")
        floor = self.p.bay_positioning_min_sigma_m ** 2
        vxx, vyy, vxy = max(cov[0], floor), max(cov[7], floor), cov[1]
        if vxy * vxy >= vxx * vyy:
            vxy = 0.0  # not positive definite: keep the variances, drop the correlation
        var_yaw = cov[35]
        if not (math.isfinite(var_yaw) and 0.0 < var_yaw <= MAX_BAY_YAW_VARIANCE):
            var_yaw = math.inf
        self._accept(stream, r.stamp)
        return BayPosition(r.stamp, float(r.x), float(r.y), (vxx, vxy, vxy, vyy),
                           yaw_of_quaternion(*(v / norm for v in q)), var_yaw)
