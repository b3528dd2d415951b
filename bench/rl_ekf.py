"""A robot_localization-style EKF in Python, the peer that ``bench/localization.py`` runs in the same process.

Written from robot_localization's documentation and its published behaviour (``ekf_node`` with
``two_d_mode`` and ``navsat_transform_node``), none of its code: the point is to measure the
*approach* side by side with ours on the same readings and the same CPU, not its C++.

* State ``[x, y, yaw, vx, vy, vyaw, ax, ay]`` (the planar part of its 15 states), omnidirectional
  constant-acceleration motion model, process noise ``Q * dt`` with the package's ``params/ekf.yaml``
  defaults, initial covariance 1e-9.
* Measurements, each with its reported covariance: wheel odometry twist ``vx``, ``vy`` (base_link's lateral
  velocity, as a driver publishing base_link twist reports it: yaw rate x distance to the rear axle) and
  ``vyaw``; the gyro ``vyaw``; the dual-antenna heading as an absolute ``yaw`` (navsat_transform needs one);
  and navsat_transform's ``odometry/gps``: the fix in ``map`` (the datum given, its best case) minus the
  antenna lever arm turned by the filter's yaw at the fix's stamp, with the fix covariance.
* Joseph-form update; optional Mahalanobis rejection per measurement (``*_rejection_threshold``, in
  standard deviations, default infinite).
* ``frequency`` 50 Hz: measurements are queued and integrated in stamp order at each cycle;
  ``smooth_lagged_data`` with a 1 s ``history_length``: a measurement older than the last one integrated
  reverts the filter to the state before it and the later measurements are integrated again.

Inputs are ``agv_nav.localization_inputs`` readings (what the node reads); the GNSS position goes through
the same geodetic conversion as ours (``LocalFrame``), so the comparison is about the filters.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from agv_nav.localization_inputs import FixReading, HeadingReading, ImuReading, OdomReading

# params/ekf.yaml process_noise_covariance diagonal: x, y, yaw, vx, vy, vyaw, ax, ay (the planar states)
Q_DIAG = np.array([0.05, 0.05, 0.06, 0.025, 0.025, 0.02, 0.01, 0.01])
N = 8
X, Y, YAW, VX, VY, VYAW, AX, AY = range(N)


def _wrap(a: float) -> float:
    return (a + math.pi) % (2.0 * math.pi) - math.pi


@dataclass
class PeerEstimate:
    t: float
    x: float
    y: float
    yaw: float
    cov_xy: np.ndarray


class RlStyleEkf:
    """See the module docstring. ``feed(reading)`` queues; ``cycle(now)`` integrates and returns the output."""

    def __init__(self, frame, lever: tuple[float, float], rear_axle_x_m: float, gps_threshold_sigma: float = math.inf,
                 odom_speed_sigma: float = 0.01, odom_yaw_rate_sigma: float = 0.01, gyro_sigma: float = 0.003,
                 history_s: float = 1.0):
        self.frame = frame
        self.lever = lever
        self.d_rear = -rear_axle_x_m
        self.gps_threshold = gps_threshold_sigma
        self.sig = (odom_speed_sigma, odom_yaw_rate_sigma, gyro_sigma)
        self.history_s = history_s
        self.x = np.zeros(N)
        self.P = np.eye(N) * 1e-9
        self.t: float | None = None
        self.queue: list = []
        self.history: list = []  # (stamp, state after, P after, measurement) of integrated measurements
        self.yaw_history: list[tuple[float, float]] = []  # (stamp, yaw) for navsat's lever arm lookup
        self.started: set[int] = set()  # pose components set by their first measurement
        self.gps_rejected = 0
        self.gps_accepted = 0
        self.gps_decisions: dict[float, bool] = {}  # fix stamp -> used (the last decision, lagged data included)

    @property
    def navsat_ready(self) -> bool:
        return YAW in self.started

    # ----------------------------------------------------------------- inputs
    def feed(self, r) -> None:
        self.queue.append(r)

    def _measurement(self, r):
        """(stamp, z, H rows as state indices, R diag, is_gps, angle index) of a reading, or None."""
        vs, vw, gs = self.sig
        if isinstance(r, OdomReading):
            var_v = vs**2 + (0.005 * r.speed_mps) ** 2
            return (r.stamp, np.array([r.speed_mps, r.yaw_rate_radps * self.d_rear, r.yaw_rate_radps]),
                    (VX, VY, VYAW), np.array([var_v, (vw * self.d_rear) ** 2 + 1e-4, vw**2]), False)
        if isinstance(r, ImuReading):
            return r.stamp, np.array([r.yaw_rate_radps]), (VYAW,), np.array([gs**2]), False
        if isinstance(r, HeadingReading):
            qx, qy, qz, qw = r.quaternion
            yaw = math.atan2(2.0 * (qw * qz + qx * qy), 1.0 - 2.0 * (qy * qy + qz * qz))
            var = r.yaw_variance if r.yaw_variance > 0 and math.isfinite(r.yaw_variance) else 1e-4
            return r.stamp, np.array([yaw]), (YAW,), np.array([var]), False
        if isinstance(r, FixReading):
            if r.status < 0 or not math.isfinite(r.latitude_deg):
                return None
            e, n, _ = self.frame.enu_from_geodetic(r.latitude_deg, r.longitude_deg, r.altitude_m)
            var_e, var_n = max(r.cov9[0], 1e-6), max(r.cov9[4], 1e-6)
            return r.stamp, np.array([e, n]), (X, Y), np.array([var_e, var_n]), True
        return None

    # ------------------------------------------------------------------- core
    def _predict(self, dt: float) -> None:
        if dt <= 0.0:
            return
        x = self.x
        c, s = math.cos(x[YAW]), math.sin(x[YAW])
        F = np.eye(N)
        F[X, VX], F[X, VY] = c * dt, -s * dt
        F[Y, VX], F[Y, VY] = s * dt, c * dt
        F[X, AX], F[X, AY] = 0.5 * c * dt * dt, -0.5 * s * dt * dt
        F[Y, AX], F[Y, AY] = 0.5 * s * dt * dt, 0.5 * c * dt * dt
        F[YAW, VYAW] = dt
        F[VX, AX] = F[VY, AY] = dt
        J = F.copy()
        vx, vy, ax, ay = x[VX], x[VY], x[AX], x[AY]
        J[X, YAW] = (-s * vx - c * vy) * dt + 0.5 * (-s * ax - c * ay) * dt * dt
        J[Y, YAW] = (c * vx - s * vy) * dt + 0.5 * (c * ax - s * ay) * dt * dt
        self.x = F @ x
        self.x[YAW] = _wrap(self.x[YAW])
        self.P = J @ self.P @ J.T
        self.P[np.diag_indices(N)] += Q_DIAG * dt

    def _update(self, z, idx, r_diag, is_gps: bool, stamp: float) -> None:
        x, P = self.x, self.P
        if idx[0] not in self.started:
            # The first measurement of a pose component sets it (navsat_transform's world frame starts where the
            # robot is at the first fix; the first absolute yaw likewise), with the measurement's variance.
            self.started.add(idx[0])
            if is_gps or idx == (YAW,):
                if is_gps:
                    z = z - self._lever_in_map(stamp)
                for row, i in enumerate(idx):
                    x[i] = z[row]
                    P[i, :] = P[:, i] = 0.0
                    P[i, i] = r_diag[row]
                if is_gps:
                    self.gps_accepted += 1
                    self.gps_decisions[stamp] = True
                return
        if is_gps:  # navsat_transform: base_link = antenna - R(yaw at the fix) lever arm
            z = z - self._lever_in_map(stamp)
        H = np.zeros((len(idx), N))
        for row, i in enumerate(idx):
            H[row, i] = 1.0
        innov = z - x[list(idx)]
        for row, i in enumerate(idx):
            if i == YAW:
                innov[row] = _wrap(innov[row])
        R = np.diag(r_diag)
        S = H @ P @ H.T + R
        if is_gps and math.isfinite(self.gps_threshold):
            d2 = float(innov @ np.linalg.solve(S, innov))
            if d2 >= self.gps_threshold**2:
                self.gps_rejected += 1
                self.gps_decisions[stamp] = False
                return
        if is_gps:
            self.gps_accepted += 1
            self.gps_decisions[stamp] = True
        K = np.linalg.solve(S, H @ P).T
        self.x = x + K @ innov
        self.x[YAW] = _wrap(self.x[YAW])
        IKH = np.eye(N) - K @ H
        self.P = IKH @ P @ IKH.T + K @ R @ K.T

    def _lever_in_map(self, stamp: float) -> np.ndarray:
        yaw = self._yaw_at(stamp)
        c, s = math.cos(yaw), math.sin(yaw)
        lx, ly = self.lever
        return np.array([c * lx - s * ly, s * lx + c * ly])

    def _yaw_at(self, stamp: float) -> float:
        h = self.yaw_history
        i = bisect_right(h, (stamp, math.inf)) - 1
        return h[i][1] if i >= 0 else self.x[YAW]

    def cycle(self, now: float) -> PeerEstimate | None:
        """One ekf_node cycle at ``now``: integrate the queue in stamp order (reverting for lagged data), output."""
        if self.queue:
            meas = [m for m in (self._measurement(r) for r in self.queue) if m is not None]
            self.queue.clear()
            meas.sort(key=lambda m: (m[0], m[4]))  # in stamp order; a heading before a fix of the same stamp
            if meas:
                self._integrate(meas)
        if self.t is None:
            return None
        self._predict(now - self.t)  # predict_to_current_time
        self.t = now
        self.yaw_history.append((now, float(self.x[YAW])))
        while self.yaw_history and self.yaw_history[0][0] < now - 2.0 * self.history_s:
            self.yaw_history.pop(0)
        return PeerEstimate(now, float(self.x[X]), float(self.x[Y]), float(self.x[YAW]), self.P[:2, :2].copy())

    def _integrate(self, meas: list) -> None:
        if self.t is not None and meas[0][0] < self.t:
            # smooth_lagged_data: revert to the last state before the oldest new measurement, re-integrate
            keep = [h for h in self.history if h[0] <= meas[0][0]]
            redo = [h[3] for h in self.history if h[0] > meas[0][0]]
            if keep:
                self.t, self.x, self.P = keep[-1][0], keep[-1][1].copy(), keep[-1][2].copy()
                self.history = keep
                meas = sorted(meas + redo, key=lambda m: m[0])
        for m in meas:
            stamp, z, idx, r_diag, is_gps = m
            if is_gps and YAW not in self.started:
                continue  # navsat_transform publishes nothing before it has a heading
            if self.t is None:
                self.t = stamp  # the first measurement starts the filter (state 0, covariance 1e-9)
            self._predict(stamp - self.t)
            self.t = max(self.t, stamp)
            self._update(z, idx, r_diag, is_gps, stamp)
            self.history.append((stamp, self.x.copy(), self.P.copy(), m))
        horizon = self.t - self.history_s
        while self.history and self.history[0][0] < horizon:
            self.history.pop(0)
