"""Initial pose of a carrier with a single GNSS antenna: heading from motion, a spot, or a heading receiver.

One antenna gives position but not heading, and with the antenna 6 m ahead of ``base_link`` an
unknown heading is a 12 m position ambiguity, so the filter does not start until heading is known.
Three sources, best first:

* **GNSS heading** (dual antenna): heading at once; position = fix minus the rotated lever arm.
* **Spot** (standstill): carriers park in marked spots and bays whose poses the world file holds.
  If the first fix is where the antenna would be at exactly one spot, that spot's heading is used
  with a standard deviation of ``init_spot_yaw_sigma_rad``; the filter refines it once moving.
* **Motion**: wheel odometry and gyro are dead-reckoned in a relative frame from the first fix;
  the antenna track they predict is aligned with the GNSS antenna track by a weighted 2-D
  Procrustes fit (rotation + translation, closed form — Umeyama 1991 without scale). This works on
  curves, unlike a course-over-ground heading, and its residuals reveal multipath or slip.
  The heading is accepted when the fitted heading's standard deviation is below
  ``init_max_yaw_sigma_rad`` and the track spans ``init_min_distance_m``.

A gyro bias estimated while standing still (mean rate at zero wheel speed) is handed to the
filter with its uncertainty. Pure Python, no rclpy; times are float seconds.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass

import numpy as np

from .gnss_trust import FixNoise
from .localization_params import LocalizationParams

MAX_TRACK_S = 30.0  # [s] the relative dead-reckoned track is trusted this long (gyro bias unknown)
MAX_STANDSTILL_S = 30.0  # [s] window of the standstill gyro average
HEADING_PAIRING_S = 1.0  # [s] a heading and a fix this close in time are combined


@dataclass(frozen=True)
class InitialPose:
    """Pose of base_link in ``map`` at time ``t`` with its covariance."""

    t: float
    x: float  # [m]
    y: float  # [m]
    yaw: float  # [rad]
    cov: np.ndarray  # (3, 3) over x, y, yaw
    gyro_bias: float  # [rad/s] estimated at a standstill (0 if unknown)
    gyro_bias_var: float  # [(rad/s)^2]
    source: str  # 'gnss_heading' | 'spot:<id>' | 'motion' | 'bay_positioning'
    # [m^2] Covariance, per horizontal axis, of this position's error with the slow GNSS error of the last fix:
    # a position taken from fixes carries their slow error, so later fixes (which carry it too) are not new
    # evidence about it. Without it the filter counts the first fix twice and halves its position variance
    # within a second at a standstill. 0 for a position not taken from GNSS.
    gnss_error_cov: float = 0.0


@dataclass(frozen=True)
class SpotPose:
    """A place a carrier may stand at start-up (parking spot, charger, carrier bay)."""

    id: str
    x: float
    y: float
    yaw: float


def world_spots(world) -> list[SpotPose]:
    """The places of a ``yard_model.World`` where a carrier may stand at start-up: its spots and carrier bays."""
    spots = [SpotPose(s.id, s.pose.x, s.pose.y, s.pose.yaw) for s in world.spots.values()]
    spots += [SpotPose(b.id, b.pose.x, b.pose.y, b.pose.yaw) for b in world.carrier_bays()]
    return spots


def rot(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s], [s, c]])


def drot(yaw: float) -> np.ndarray:
    """d rot(yaw) / d yaw."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[-s, -c], [c, -s]])


def align_tracks(predicted: np.ndarray, measured: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray]:
    """Rotation angle and translation that map ``predicted`` points onto ``measured`` (weighted least squares).

    Closed form for 2-D (Umeyama, without scale): theta = atan2(sum w (a x m), sum w (a . m)) on
    centred points, then t = mean(m) - R(theta) mean(a).
    """
    w = weights / np.sum(weights)
    a_mean = w @ predicted
    m_mean = w @ measured
    a = predicted - a_mean
    m = measured - m_mean
    cross = float(np.sum(w * (a[:, 0] * m[:, 1] - a[:, 1] * m[:, 0])))
    dot = float(np.sum(w * (a[:, 0] * m[:, 0] + a[:, 1] * m[:, 1])))
    theta = math.atan2(cross, dot)
    return theta, m_mean - rot(theta) @ a_mean


class PoseInitializer:
    """Collects inputs until the carrier's heading is known, then returns an :class:`InitialPose`."""

    def __init__(self, p: LocalizationParams, lever_arm_xy: tuple[float, float], rear_axle_x_m: float,
                 spots: list[SpotPose] | tuple[SpotPose, ...] = ()):
        self.p = p
        self.lever = np.asarray(lever_arm_xy, dtype=float)
        self.d_rear = -rear_axle_x_m
        self.spots = list(spots) if p.init_from_world_spots else []
        self.reset()

    def reset(self) -> None:
        self._t: float | None = None  # time of the dead-reckoned pose
        self._pose = np.zeros(3)  # relative x, y, yaw
        self._speed = 0.0
        self._odom_rate = 0.0
        self._gyro: float | None = None
        self._track: deque[tuple[float, float, float, float]] = deque()  # (t, x, y, yaw)
        self._pairs: deque[tuple[float, np.ndarray, np.ndarray, FixNoise]] = deque()
        self._heading: tuple[float, float, float] | None = None  # (t, yaw, var)
        self._last_fix: tuple[float, np.ndarray, FixNoise] | None = None
        self._still: deque[tuple[float, float]] = deque()  # (t, gyro) at standstill

    # ------------------------------------------------------------- dead reckoning
    @property
    def standing_still(self) -> bool:
        return abs(self._speed) < max(self.p.standstill_speed_mps, 1e-9) and abs(self._odom_rate) < 0.01

    def gyro_bias(self) -> tuple[float, float]:
        """Gyro bias [rad/s] and its variance known so far (for a start from a full pose measurement)."""
        return self._bias()

    def _bias(self) -> tuple[float, float]:
        """Gyro bias [rad/s] and its variance from the standstill average (prior if none)."""
        if len(self._still) < 10:
            return 0.0, self.p.gyro_bias_sigma**2
        rates = np.array([g for _, g in self._still])
        duration = self._still[-1][0] - self._still[0][0]
        var = self.p.gyro_noise_density**2 / max(duration, 1e-3) + (self.p.gyro_bias_walk**2) * duration
        return float(np.mean(rates)), min(var, self.p.gyro_bias_sigma**2)

    def _step(self, pose: np.ndarray, dt: float) -> np.ndarray:
        """Dead-reckon a relative pose over dt with the held inputs (same kinematics as the filter)."""
        if self.standing_still:
            w, v = 0.0, 0.0
        else:
            w = (self._gyro - self._bias()[0]) if self._gyro is not None else self._odom_rate
            v = self._speed
        x, y, yaw = pose
        mid = yaw + 0.5 * w * dt
        vy = w * self.d_rear
        return np.array([x + (v * math.cos(mid) - vy * math.sin(mid)) * dt,
                         y + (v * math.sin(mid) + vy * math.cos(mid)) * dt, yaw + w * dt])

    def _advance(self, t: float) -> None:
        if self._t is None:
            self._t = t
            self._track.append((t, 0.0, 0.0, 0.0))
            return
        dt = t - self._t
        if dt <= 0.0:
            return
        self._pose = self._step(self._pose, dt)
        self._t = t
        self._track.append((t, *self._pose))
        while self._track and self._track[0][0] < t - MAX_TRACK_S:
            self._track.popleft()
        while self._pairs and self._pairs[0][0] < t - MAX_TRACK_S:
            self._pairs.popleft()

    def add_odometry(self, t: float, speed_mps: float, yaw_rate_radps: float) -> None:
        self._advance(t)
        self._speed, self._odom_rate = speed_mps, yaw_rate_radps

    def add_gyro(self, t: float, yaw_rate_radps: float) -> None:
        self._advance(t)
        self._gyro = yaw_rate_radps
        if self.standing_still:
            self._still.append((t, yaw_rate_radps))
            while self._still and self._still[0][0] < t - MAX_STANDSTILL_S:
                self._still.popleft()
        else:
            self._still.clear()

    def _relative_pose_at(self, t: float) -> np.ndarray | None:
        """Dead-reckoned relative pose at time t (interpolated; None outside the track)."""
        if not self._track or t < self._track[0][0] or t > self._track[-1][0] + 0.5:
            return None
        times = [s[0] for s in self._track]
        i = bisect_right(times, t) - 1
        if i >= len(self._track) - 1:  # after the newest input: extrapolate with the held inputs
            return self._step(np.array(self._track[-1][1:]), t - self._track[-1][0])
        t0, *p0 = self._track[i]
        t1, *p1 = self._track[i + 1]
        f = (t - t0) / (t1 - t0) if t1 > t0 else 0.0
        p0, p1 = np.array(p0), np.array(p1)
        return p0 + f * (p1 - p0)

    # ------------------------------------------------------------------ sources
    def add_heading(self, t: float, yaw: float, var: float) -> InitialPose | None:
        self._heading = (t, yaw, var)
        if self._last_fix is not None:
            return self._from_heading(*self._last_fix)
        return None

    def add_fix(self, t: float, antenna_en: np.ndarray, noise: FixNoise) -> InitialPose | None:
        """Offer a fix (antenna position in map); returns the initial pose once heading is known."""
        antenna_en = np.asarray(antenna_en, dtype=float)
        if self._t is None:  # no input yet: the relative track starts at this fix
            self._advance(t)
        self._last_fix = (t, antenna_en, noise)
        if self._heading is not None:
            pose = self._from_heading(t, antenna_en, noise)
            if pose is not None:
                return pose
        if self.spots and self.standing_still:
            pose = self._from_spot(t, antenna_en, noise)
            if pose is not None:
                return pose
        return self._from_motion(t, antenna_en, noise)

    def _fix_cov(self, noise: FixNoise) -> np.ndarray:
        return noise.white_cov + np.eye(2) * noise.bias_var_m2

    def _pose_from_antenna(self, t: float, antenna_en: np.ndarray, noise: FixNoise, yaw: float, yaw_var: float,
                           source: str) -> InitialPose:
        pos = antenna_en - rot(yaw) @ self.lever
        j = drot(yaw) @ self.lever
        cov = np.zeros((3, 3))
        cov[:2, :2] = self._fix_cov(noise) + np.outer(j, j) * yaw_var
        cov[:2, 2] = cov[2, :2] = -j * yaw_var
        cov[2, 2] = yaw_var
        bias, bias_var = self._bias()
        return InitialPose(t, float(pos[0]), float(pos[1]), yaw, cov, bias, bias_var, source, noise.bias_var_m2)

    def _from_heading(self, t_fix: float, antenna_en: np.ndarray, noise: FixNoise) -> InitialPose | None:
        t_h, yaw_h, var_h = self._heading
        if abs(t_h - t_fix) > HEADING_PAIRING_S:
            return None
        a, b = self._relative_pose_at(t_h), self._relative_pose_at(t_fix)
        turn = float(b[2] - a[2]) if a is not None and b is not None else 0.0
        return self._pose_from_antenna(t_fix, antenna_en, noise, yaw_h + turn, var_h, "gnss_heading")

    def _from_spot(self, t: float, antenna_en: np.ndarray, noise: FixNoise) -> InitialPose | None:
        sigma = math.sqrt(max(np.linalg.eigvalsh(self._fix_cov(noise))))
        radius = self.p.init_spot_radius_m + 3.0 * sigma
        hits = []
        for s in self.spots:
            expected = np.array([s.x, s.y]) + rot(s.yaw) @ self.lever
            if float(np.linalg.norm(antenna_en - expected)) <= radius:
                hits.append(s)
        if len(hits) != 1:
            return None
        s = hits[0]
        return self._pose_from_antenna(t, antenna_en, noise, s.yaw, self.p.init_spot_yaw_sigma_rad**2, f"spot:{s.id}")

    def _from_motion(self, t: float, antenna_en: np.ndarray, noise: FixNoise) -> InitialPose | None:
        rel = self._relative_pose_at(t)
        if rel is None:
            return None
        predicted = rel[:2] + rot(rel[2]) @ self.lever
        self._pairs.append((t, predicted, antenna_en, noise))
        for _ in range(3):  # drop up to three outliers (multipath, slip)
            pose = self._fit(t, rel)
            if pose is not False:
                return pose
        return None

    def _fit(self, t: float, rel_now: np.ndarray) -> InitialPose | None | bool:
        """Try the alignment; None = not enough yet, False = an outlier was removed, retry."""
        if len(self._pairs) < 3:
            return None
        pred = np.array([q[1] for q in self._pairs])
        meas = np.array([q[2] for q in self._pairs])
        white = np.array([0.5 * float(np.trace(q[3].white_cov)) for q in self._pairs])
        gnss_bias_var = max(q[3].bias_var_m2 for q in self._pairs)  # the fixes' slow error [m^2]
        total = white + gnss_bias_var
        span = float(np.max(np.linalg.norm(pred - pred[0], axis=1)))
        if span < self.p.init_min_distance_m:
            return None
        w = 1.0 / total
        theta, trans = align_tracks(pred, meas, w)
        resid = meas - (pred @ rot(theta).T + trans)
        r2 = np.sum(resid**2, axis=1) / total
        dof = max(2 * len(r2) - 3, 1)
        if float(np.sum(r2)) / dof > 4.0 and len(self._pairs) > 3:
            worst = int(np.argmax(r2))
            del self._pairs[worst]
            return False
        centred = pred - w @ pred / np.sum(w)
        info = float(np.sum(w * np.sum(centred**2, axis=1)))
        yaw_var = 1.0 / info * max(1.0, float(np.sum(r2)) / dof)
        duration = self._pairs[-1][0] - self._pairs[0][0]
        gyro_bias, gyro_bias_var = self._bias()
        yaw_var += gyro_bias_var * duration**2  # relative dead reckoning drifts with the unknown gyro bias
        if math.sqrt(yaw_var) > self.p.init_max_yaw_sigma_rad:
            return None
        yaw = math.atan2(math.sin(theta + rel_now[2]), math.cos(theta + rel_now[2]))
        a_mean = w @ pred / np.sum(w)
        pos = rot(theta) @ (rel_now[:2] - a_mean) + (w @ meas / np.sum(w))
        j = drot(theta) @ (rel_now[:2] - a_mean)
        cov = np.zeros((3, 3))
        cov[:2, :2] = np.eye(2) * (1.0 / np.sum(1.0 / white) + gnss_bias_var) + np.outer(j, j) * yaw_var
        cov[:2, 2] = cov[2, :2] = j * yaw_var
        cov[2, 2] = yaw_var
        return InitialPose(t, float(pos[0]), float(pos[1]), yaw, cov, gyro_bias, gyro_bias_var, "motion",
                           self._shared_gnss_error(t, w))

    def _shared_gnss_error(self, t: float, w: np.ndarray) -> float:
        """Covariance of the fitted position's error with the last fix's slow error (see InitialPose).

        The position is a weighted mean of fixes; each carries the slow error of its solution, correlated
        with the last one's by exp(-age / time constant) when the solution (mode) is the same, not at all
        otherwise.
        """
        last = self._pairs[-1][3]
        shared = sum(wi * math.exp(-(t - q[0]) / last.bias_time_constant_s)
                     for wi, q in zip(w, self._pairs) if q[3].mode == last.mode)
        return float(shared / np.sum(w)) * last.bias_var_m2
