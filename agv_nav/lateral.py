"""Lateral control: linear-quadratic preview control of the deck centre with the steering lag in the model.

Method: discrete LQ tracking with preview of a known disturbance (Tomizuka, "Optimal continuous
finite preview problem", IEEE TAC 1975; Sharp & Valtetsiotis, "Optimal preview car steering
control", 2001). Pure pursuit (and Nav2's Regulated Pure Pursuit) steers towards one look-ahead point
and so cuts every curve by roughly ``L_d^2 kappa / 2``; with a 0.2 s steering lag and a 0.5 rad/s
steering-rate limit an 8 m-wheelbase carrier needs about a second to wind the wheel from straight to
full lock, so a curvature step in the lane *must* be anticipated. Preview control does that optimally:
the command is a state feedback plus a weighted sum of the path curvature over the next
``preview_time_s`` (the "look-ahead", scaled by speed because the samples are taken in time).

Error model (Frenet frame of the reference path, deck centre P half a wheelbase ``a`` ahead of the rear
axle, rear-axle curvature ``kappa`` = tan(steer)/L, speed v along base_link x):

* ``e``: lateral offset of P, positive left; ``de/dt = v chi``;
* ``chi``: course error, the direction P moves in minus the path tangent, ``chi = psi + atan(a kappa)``
  where psi is the yaw error (P slips sideways by ``a * yaw_rate`` on a curve, so yaw alone would
  leave a steady offset on every arc); ``dchi/dt = v (kappa - w) + a dkappa/dt``;
* ``kappa``: the realised curvature, a first-order lag of the command c: ``dkappa/dt = (c - kappa)/tau``;
* ``w``: the rear-axle curvature that keeps P on the path, ``w = k / sqrt(1 - (a k)^2)`` for path
  curvature k, known ahead along the path (the preview).

Discretised exactly (zero-order hold) at the control period and augmented with the previous command so
that the cost weighs the command *rate* (the steering rate): state ``z = [e, chi, kappa, c_prev]``,
input ``d = c - c_prev``, cost ``sum q_e e^2 + q_chi chi^2 + r d^2``. The Riccati solution P gives
``d = -K z - sum_j Kw_j w_(k+j)`` with ``Kw_0 = S^-1 B' P E`` and ``Kw_j = S^-1 B' (A - BK)'^j P E``
(S = r + B'PB). The sum beyond the horizon is folded into the last gain assuming w stays constant,
which makes the steady state on a constant arc exact (e = chi = 0). Gains depend on speed; they are
computed once for a grid of speeds and interpolated linearly (a few ms at start-up).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.linalg import expm, solve_discrete_are


@dataclass(frozen=True)
class LateralDesign:
    """What the gain schedule is designed for."""

    dt_s: float  # control period [s]
    half_wheelbase_m: float  # a: rear axle to deck centre [m]
    steering_time_constant_s: float  # tau [s]
    preview_time_s: float  # horizon [s]
    q_lateral: float  # weight on e [1/m^2]
    q_course: float  # weight on chi [1/rad^2]
    r_rate: float  # weight on the command change per step [m^2]
    speeds_mps: tuple[float, ...]  # grid


def discrete_error_model(v: float, design: LateralDesign) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A, B, E) of the augmented discrete model at speed v (module docstring)."""
    a, tau, dt = design.half_wheelbase_m, max(design.steering_time_constant_s, 1e-3), design.dt_s
    # Continuous: x = [e, chi, kappa], inputs [c, w].
    ac = np.array([[0.0, v, 0.0],
                   [0.0, 0.0, v - a / tau],
                   [0.0, 0.0, -1.0 / tau]])
    bc = np.array([[0.0, 0.0],
                   [a / tau, -v],
                   [1.0 / tau, 0.0]])
    big = np.zeros((5, 5))
    big[:3, :3] = ac
    big[:3, 3:] = bc
    phi = expm(big * dt)
    ad, bd, ed = phi[:3, :3], phi[:3, 3], phi[:3, 4]
    A = np.zeros((4, 4))
    A[:3, :3] = ad
    A[:3, 3] = bd
    A[3, 3] = 1.0
    B = np.concatenate([bd, [1.0]])[:, None]
    E = np.concatenate([ed, [0.0]])[:, None]
    return A, B, E


def preview_gains(v: float, design: LateralDesign, horizon_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """State gain K (4,) and preview gains Kw (horizon_steps + 1,) at speed v."""
    A, B, E = discrete_error_model(v, design)
    Q = np.diag([design.q_lateral, design.q_course, 0.0, 0.0])
    R = np.array([[design.r_rate]])
    P = solve_discrete_are(A, B, Q, R)
    S = float(R[0, 0] + (B.T @ P @ B)[0, 0])
    K = (B.T @ P @ A / S).ravel()
    a_cl_t = (A - B @ K[None, :]).T
    v_j = P @ E  # (A_cl')^j P E, j = 0
    kw = np.empty(horizon_steps + 1)
    for j in range(horizon_steps + 1):
        kw[j] = float((B.T @ v_j)[0, 0]) / S
        if j < horizon_steps:
            v_j = a_cl_t @ v_j
    # Tail j > N with w held at w_N: sum_(j>N) (A_cl')^j PE = (A_cl')^(N+1) (I - A_cl')^-1 PE.
    tail = a_cl_t @ v_j
    tail = np.linalg.solve(np.eye(4) - a_cl_t, tail)
    kw[-1] += float((B.T @ tail)[0, 0]) / S
    return K, kw


@lru_cache(maxsize=8)
def gain_schedule(design: LateralDesign) -> tuple[np.ndarray, np.ndarray]:
    """(K, Kw) stacked over ``design.speeds_mps``; cached, since followers of one fleet share a design."""
    horizon = max(1, int(round(design.preview_time_s / design.dt_s)))
    gains = [preview_gains(max(v, 0.05), design, horizon) for v in design.speeds_mps]
    k = np.array([g[0] for g in gains])
    kw = np.array([g[1] for g in gains])
    k.setflags(write=False)
    kw.setflags(write=False)
    return k, kw


class LateralController:
    """Preview LQ steering for the deck centre; call :meth:`command` once per control period."""

    def __init__(self, design: LateralDesign, max_curvature: float, max_curvature_step: float):
        self.design = design
        self.max_curvature = max_curvature  # [1/m] rear axle, steering limit
        self.max_curvature_step = max_curvature_step  # [1/m] per control period (steering-rate limit)
        self.horizon_steps = max(1, int(round(design.preview_time_s / design.dt_s)))
        self.speeds = np.asarray(design.speeds_mps, dtype=float)
        self.K, self.Kw = gain_schedule(design)  # (n_speeds, 4), (n_speeds, N + 1)
        self.step_times = np.arange(self.horizon_steps + 1) * design.dt_s
        self._half_t2 = 0.5 * self.step_times * self.step_times
        # per control step (issue #14, speed): plain floats for the state gains, the preview gains and their
        # differences per speed bin, so that interpolating is two dot products, not new arrays
        self._speeds = self.speeds.tolist()
        self._K = [k.tolist() for k in self.K]
        self._dK = [(b - a).tolist() for a, b in zip(self.K[:-1], self.K[1:])] + [[0.0] * self.K.shape[1]]
        # per speed bin: the preview gains and their change to the next bin, one (2, N + 1) matrix
        dkw = np.vstack([np.diff(self.Kw, axis=0), np.zeros((1, self.Kw.shape[1]))])
        self._Kw_pairs = [np.ascontiguousarray(np.vstack([kw, d])) for kw, d in zip(self.Kw, dkw)]

    def gains_at(self, v: float) -> tuple[np.ndarray, np.ndarray]:
        """Interpolated (K, Kw) at speed v (clamped to the grid)."""
        sp = self.speeds
        if v <= sp[0]:
            return self.K[0], self.Kw[0]
        if v >= sp[-1]:
            return self.K[-1], self.Kw[-1]
        i = int(np.searchsorted(sp, v) - 1)
        f = (v - sp[i]) / (sp[i + 1] - sp[i])
        return self.K[i] + f * (self.K[i + 1] - self.K[i]), self.Kw[i] + f * (self.Kw[i + 1] - self.Kw[i])

    def preview_offsets(self, v: float, accel: float) -> np.ndarray:
        """Arc-length offsets [m] of the preview samples for the current speed and acceleration."""
        ds = v * self.step_times
        if accel != 0.0:
            ds += accel * self._half_t2
        if accel < 0.0 and v > 0.0:  # stops where the speed reaches zero
            np.minimum(ds, v * v / (-2.0 * accel), out=ds)
        return np.maximum(ds, 0.0, out=ds)

    def command(self, v: float, lateral_m: float, course_rad: float, kappa: float, c_prev: float,
                w_preview: np.ndarray) -> float:
        """New curvature command [1/m] of the rear axle (steering = atan(L c))."""
        sp = self._speeds
        if v <= sp[0]:
            i, f = 0, 0.0
        elif v >= sp[-1]:
            i, f = len(sp) - 1, 0.0
        else:
            i = bisect_right(sp, v) - 1
            f = (v - sp[i]) / (sp[i + 1] - sp[i])
        pw, dpw = (self._Kw_pairs[i] @ w_preview).tolist()
        k0, k1, k2, k3 = self._K[i]
        d = -(k0 * lateral_m + k1 * course_rad + k2 * kappa + k3 * c_prev) - pw
        if f > 0.0:
            e0, e1, e2, e3 = self._dK[i]
            d -= f * (e0 * lateral_m + e1 * course_rad + e2 * kappa + e3 * c_prev + dpw)
        step = self.max_curvature_step
        d = step if d > step else -step if d < -step else d
        c = c_prev + d
        lim = self.max_curvature
        return lim if c > lim else -lim if c < -lim else c


class PreviewTable:
    """The rear-axle curvature to preview, on a uniform grid along the route (issue #14, speed).

    The preview reads the path at 151 arc lengths every control step; on a uniform grid that is one
    multiply-add and one ``take`` instead of a binary search per sample. The grid step (2 cm, coarser for
    routes beyond 10 km) moves a curvature step of the route by less than that, far below what the
    steering can resolve. The grid reaches 10 m before the route and 60 m past it (the preview runs on).
    """

    STEP_M = 0.02
    MAX_CELLS = 500_000
    BEFORE_M, AFTER_M = 10.0, 60.0

    def __init__(self, s: np.ndarray, values: np.ndarray):
        s = np.asarray(s, dtype=float)
        values = np.asarray(values, dtype=float)
        self.start = float(s[0]) - self.BEFORE_M
        span = float(s[-1]) + self.AFTER_M - self.start
        self.step = max(self.STEP_M, span / self.MAX_CELLS)
        cells = int(span / self.step) + 1
        # cell c holds the value of the last sample at or before start + c * step: sample i covers the cells
        # from ceil((s_i - start) / step) to the next sample's first cell
        first = np.ceil((s - self.start) / self.step - 1e-9).astype(np.intp)
        first[0] = 0
        counts = np.diff(np.append(first, cells))
        self.values = np.repeat(values, np.maximum(counts, 0))[:cells]
        self.inv_step = 1.0 / self.step

    def at(self, s0: float, offsets: np.ndarray) -> np.ndarray:
        """Values at arc lengths s0 + offsets (offsets >= 0; clamped to the grid's ends)."""
        cells = offsets * self.inv_step
        cells += (s0 - self.start) * self.inv_step
        return self.values.take(cells.astype(np.intp), mode="clip")

    def previewed(self, s0: float, lateral: LateralController, v: float, accel: float) -> np.ndarray:
        """``at(s0, lateral.preview_offsets(v, accel))`` with fewer array operations: the clamps of the offsets
        are only applied where they can bite (braking, reversing)."""
        if v < 0.0 or accel < 0.0:
            return self.at(s0, lateral.preview_offsets(v, accel))
        cells = v * lateral.step_times
        if accel != 0.0:
            cells += accel * lateral._half_t2
        cells *= self.inv_step
        cells += (s0 - self.start) * self.inv_step
        return self.values.take(cells.astype(np.intp), mode="clip")


class SteeringEstimate:
    """The carrier's wheel angle as its actuator would realise our commands (lag, rate and angle limits).

    The same first-order lag and rate limit as the carrier (``CarrierType``), integrated exactly per
    control period; optionally nudged towards the angle implied by the measured yaw rate when moving.
    """

    def __init__(self, wheelbase_m: float, time_constant_s: float, max_rate_radps: float, max_angle_rad: float):
        self.wheelbase_m = wheelbase_m
        self.time_constant_s = time_constant_s
        self.max_rate_radps = max_rate_radps
        self.max_angle_rad = max_angle_rad
        self.angle_rad = 0.0

    @property
    def curvature(self) -> float:
        return math.tan(self.angle_rad) / self.wheelbase_m

    def advance(self, commanded_curvature: float, dt: float) -> None:
        lim = self.max_angle_rad
        target = math.atan(self.wheelbase_m * commanded_curvature)
        target = lim if target > lim else -lim if target < -lim else target
        if dt != getattr(self, "_dt", None):  # the decay of the lag per step, once per step length
            tau = self.time_constant_s
            self._dt, self._decay = dt, (math.exp(-dt / tau) if tau > 0.0 else 0.0)
        angle = self.angle_rad
        step = self.max_rate_radps * dt
        delta = (target - angle) * (1.0 - self._decay)
        delta = step if delta > step else -step if delta < -step else delta
        angle += delta
        self.angle_rad = lim if angle > lim else -lim if angle < -lim else angle

    def correct(self, speed_mps: float, yaw_rate_radps: float, gain: float) -> None:
        """Blend towards the angle the measured yaw rate implies (only meaningful while moving)."""
        if abs(speed_mps) < 0.5 or not math.isfinite(yaw_rate_radps):
            return
        measured = math.atan(self.wheelbase_m * yaw_rate_radps / speed_mps)
        self.angle_rad += gain * (measured - self.angle_rad)
