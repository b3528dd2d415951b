"""Longitudinal control: the speed regulation chain, a jerk-limited speed reference, and the precise stop.

The chain (each a small pure function, as Nav2 RPP's regulation heuristics, applied as a minimum):

1. ``static_speed_profile``: per path sample, the speed cap of ``yard_model.drivable.segment_speed_caps``
   (the route's lane limit, the curve limit ``sqrt(a_lat / |k|)`` with the carrier type's lateral
   acceleration, the carrier's top speed and ``max_speed_mps``: the rule the fleet manager and the
   simulated yards apply too) and the steering-transition limit (``steering_transition_limit``: the
   steering rate must wind the wheel through a curvature change without shifting the path more than a
   few centimetres), then a backward pass so that every lower limit ahead is reached braking at
   ``decel`` (v^2 = v_next^2 + 2 a ds). Computed once per route.
2. dynamic caps at run time: the stop law for the goal and for the movement authority, the gap to a
   carrier ahead, the localization-quality cap.
3. ``SpeedReference``: a jerk-limited tracker of that target (acceleration and jerk bounded), whose
   acceleration also feeds a lead term ``v_cmd = v_ref + tau * a_ref`` that cancels the drive's
   first-order lag tau, so the carrier's actual speed follows the reference instead of trailing it.

The stop (``stop_speed``): a first-order drive still rolls ``v * tau`` after the command drops to zero,
so the law works on the *predicted* remaining distance ``d_p = d - v tau``. Far away it allows the
jerk-limited braking speed for ``d_p``; close in it is ``v = k d_p``, for which the closed loop with the
lag is ``(tau s + 1)(s + k)``: two real poles, so the carrier neither oscillates nor overshoots for any
gain k; a creep floor closes the last millimetres in finite time, and the command is zero once the
predicted stop point is within a tolerance. This is the part that makes Nav2-style approaches (speed
scaled towards a fixed minimum, goal checker 0.25 m) stop short or long.
"""

from __future__ import annotations

import math

import numpy as np


def backward_braking_pass(s: np.ndarray, v_limit: np.ndarray, decel: float) -> np.ndarray:
    """Lower ``v_limit`` so that each sample can brake to every later limit at ``decel``.

    v_i^2 = min over j >= i of (v_limit_j^2 + 2 decel (s_j - s_i)): a reverse running minimum.
    """
    v = np.asarray(v_limit, dtype=float)
    s = np.asarray(s, dtype=float)
    w = v * v + 2.0 * decel * s  # inf stays inf
    reach = np.minimum.accumulate(w[::-1])[::-1] - 2.0 * decel * s
    return np.minimum(v, np.sqrt(np.maximum(reach, 0.0)))


def steering_transition_limit(s: np.ndarray, rear_curvature: np.ndarray, wheelbase_m: float,
                               steering_rate_radps: float, max_shift_m: float, window_m: float = 12.0) -> np.ndarray:
    """Speed cap [m/s] where the curvature changes faster than the steering can follow.

    Winding the wheel by ``d_delta`` takes ``T = d_delta / steering_rate``; at speed v the carrier's
    curvature therefore ramps over ``l = v T`` metres, a clothoid whose circle is shifted by
    ``p = d_kappa l^2 / 24`` from the drawn one. Capping ``p <= max_shift_m`` gives
    ``v <= sqrt(24 max_shift / d_kappa) / T``, applied within ``window_m`` of the change. The preview
    controller spreads the transition around the step, so the tracking error is about a quarter of p.
    """
    from scipy.ndimage import maximum_filter1d, minimum_filter1d

    if len(s) < 2:
        return np.full(len(s), np.inf)
    ds = max(float(np.mean(np.diff(s))), 1e-3)
    size = max(3, int(window_m / ds) | 1)
    delta = np.arctan(wheelbase_m * rear_curvature)
    d_delta = maximum_filter1d(delta, size, mode="nearest") - minimum_filter1d(delta, size, mode="nearest")
    d_kappa = maximum_filter1d(rear_curvature, size, mode="nearest") - minimum_filter1d(rear_curvature, size,
                                                                                       mode="nearest")
    t_wind = d_delta / steering_rate_radps
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.sqrt(24.0 * max_shift_m / np.maximum(d_kappa, 1e-12)) / np.maximum(t_wind, 1e-12)
    return np.where((d_kappa > 1e-6) & (t_wind > 1e-6), v, np.inf)


def static_speed_profile(s: np.ndarray, cap: np.ndarray, decel: float, jerk: float | None = None,
                         transition_cap: np.ndarray | None = None) -> np.ndarray:
    """Speed [m/s] per path sample: the cap (lane, curve, top speed) and the steering transitions,
    braking-feasible.

    With ``jerk``, every braking curve starts ``v decel / jerk`` earlier: the jerk-limited reference
    (``SpeedReference``) needs that long to build up the deceleration and would otherwise reach a lower
    cap (a curve) about ``decel^2 / (2 jerk)`` too fast.
    """
    cap = np.asarray(cap, dtype=float)
    if transition_cap is not None:
        cap = np.minimum(cap, transition_cap)
    v = backward_braking_pass(s, cap, decel)
    if jerk is None or len(s) < 2:
        return v
    finite = np.where(np.isfinite(v), v, 1e9)  # interpolate without inf - inf
    shifted = np.interp(np.minimum(s + np.where(np.isfinite(v), v, 0.0) * decel / jerk, s[-1]), s, finite)
    return np.minimum(v, np.where(shifted >= 1e9, np.inf, shifted))


def braking_speed(distance_m: float, decel: float, jerk: float) -> float:
    """Largest speed [m/s] that a jerk-limited brake (ramp to ``decel`` and back) stops within ``distance_m``.

    Stopping distance of a symmetric trapezoidal deceleration: v^2 / (2a) + v a / (2j).
    """
    if distance_m <= 0.0:
        return 0.0
    c = decel / (2.0 * jerk)
    return decel * (-c + math.sqrt(c * c + 2.0 * distance_m / decel))


def stop_speed(remaining_m: float, speed_mps: float, lag_s: float, decel: float, jerk: float, gain: float,
               creep: float, tolerance: float, braking: float | None = None) -> float:
    """Speed command [m/s] that stops the deck centre at ``remaining_m`` ahead (module docstring).

    ``remaining_m`` may be negative (past the point): then the command is zero; reversing is the
    caller's decision. ``braking``: ``braking_speed`` of the predicted distance, if the caller has it.
    """
    predicted = remaining_m - speed_mps * lag_s
    if predicted <= tolerance:
        return 0.0
    v = min(braking_speed(predicted, decel, jerk) if braking is None else braking, gain * predicted)
    return max(v, creep)


class SpeedReference:
    """Jerk-limited speed reference: speed ``v`` [m/s] and acceleration ``a`` [m/s^2]."""

    def __init__(self) -> None:
        self.v = 0.0
        self.a = 0.0

    def reset(self, v: float, a: float = 0.0) -> None:
        self.v, self.a = v, a

    def step(self, target: float, dt: float, max_accel: float, max_decel: float, jerk: float) -> None:
        """Move towards ``target`` with |a| and |da/dt| bounded; reaches it with a = 0 (no overshoot)."""
        dv = target - self.v
        # Acceleration from which the jerk limit just brings a to zero when v reaches the target.
        a_des = math.copysign(math.sqrt(2.0 * jerk * abs(dv)), dv)
        a_des = min(max(a_des, -max_decel), max_accel)
        da = jerk * dt
        self.a += min(max(a_des - self.a, -da), da)
        v_next = self.v + self.a * dt
        if (v_next - target) * (self.v - target) < 0.0 or abs(v_next - target) < 1e-9:
            v_next, self.a = target, 0.0
        self.v = max(v_next, 0.0)
        if self.v == 0.0 and self.a < 0.0:
            self.a = 0.0


class AlongTrackEstimate:
    """The deck centre's arc length along the route, filtered over the approach (issue #14, docking).

    The stop law and the docked check used to read one pose sample: with 1.5 cm of white noise on the
    localization output the carrier stopped (and was judged docked) 2-3 cm off. Here each sample's arc
    length ``z`` is fused by a one-state Kalman filter whose prediction integrates the measured speed; the
    noise of ``z`` is not assumed but measured, as the filter measures a receiver's (``agv_nav.gnss_noise``):
    the increment of two samples minus the distance driven between them has twice the white variance of one
    sample. A smooth localization output (the carrier's own filter) has tiny increments, so the estimate
    follows it without lag; a white-noisy one is averaged over the approach and the standstill. A sample far
    outside the expected spread (4 sigma) is a real correction of the localization (bay positioning taking
    over, say) and is taken at once.
    """

    SPEED_ERROR = 0.01  # share of the speed the measured speed may be off by (wheel scale, latency)
    SPEED_NOISE_MPS = 0.005
    CLIP = 4.0  # an increment counts at most this many times the current noise estimate
    WINDOW = 50  # samples in the running noise estimate
    JUMP_SIGMA = 4.0

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.ready = False  # a first sample has been fused
        self.s = math.nan
        self.var = 0.0
        self.t: float | None = None
        self.noise = 0.0  # white variance of one sample [m^2]
        self.weight = 0.0
        self.driven = 0.0  # [m] since the last sample
        self.last_z = math.nan


    def predict(self, t: float, speed_mps: float) -> None:
        """Drive the estimate on to time t with the measured speed."""
        if self.t is not None and t > self.t and self.ready:
            dt = t - self.t
            d = speed_mps * dt
            self.s += d
            self.driven += d
            q = (self.SPEED_ERROR * abs(speed_mps) + self.SPEED_NOISE_MPS) * dt
            self.var += q * q
        self.t = t if self.t is None else max(self.t, t)

    def update(self, z: float, prior_var: float) -> None:
        """Fuse one sample's arc length ``z`` [m]; ``prior_var`` [m^2] is the sample's reported variance (a start)."""
        if not math.isfinite(z):
            return
        if not self.ready:
            self.ready = True
            self.s, self.var = z, max(prior_var, 1e-8)
            self.noise, self.weight = max(prior_var, 1e-8), 3.0
            self.last_z, self.driven = z, 0.0
            return
        inc = z - self.last_z - self.driven
        self.last_z, self.driven = z, 0.0
        x = min(0.5 * inc * inc, self.CLIP * self.noise)
        self.weight = min(self.weight + 1.0, float(self.WINDOW))
        self.noise = max(self.noise + (x - self.noise) / self.weight, 1e-10)
        innov = z - self.s
        s_var = self.var + self.noise
        if innov * innov > self.JUMP_SIGMA**2 * s_var and abs(innov) > 0.01:
            self.s, self.var = z, self.noise  # the localization corrected itself: follow at once
            return
        k = self.var / s_var
        self.s += k * innov
        self.var *= 1.0 - k
