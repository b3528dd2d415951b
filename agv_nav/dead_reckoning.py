"""Dead reckoning of the localization filter with the covariance propagated lazily (issue #14, speed).

Wheel speed and gyro rate arrive at 40-125 Hz; GNSS and the other measurements at about 10 Hz. An
EKF that propagates its covariance at every input sample spends most of its time on 10 x 10 matrix
products nobody reads. Here every input step integrates only the *state* with scalar arithmetic and
adds a few scalars to running sums from which the exact interval transition ``Phi`` and process noise
``Q`` are formed when a measurement (or an output) needs the covariance: ``P = Phi P0 Phi' + Q``.
This is the same linearisation as step-by-step propagation (the nominal trajectory does not change
between measurements); it is exact for this planar model because every sensitivity of the final state
to the initial state and to the noise of an intermediate step has a closed form:

* turning the initial heading by ``d`` rotates everything driven since: ``dp = J (p - p0) d``;
* a gyro bias error ``db`` changes the heading by ``-t db`` after driving ``t`` seconds, so each step's
  displacement rotates by ``-(t_k + dt/2) db`` (sum ``A_bg``);
* wheel scale error ``k_v`` and the rear slip coefficient ``k_s`` scale or add along/across components
  of each step (sums ``A_kv``, ``A_ks``);
* rate noise of step k turns the rest of the drive: ``dp_N = dt J (p_N - m_k) n + e_k n`` with ``m_k`` the
  step's midpoint and ``e_k`` the lateral slide it causes; squared and summed, this needs only ``sum q dt``,
  ``sum q h`` and ``sum q h h' / dt`` with ``h = -dt J m + e`` (positions relative to the interval start).

Kinematics (docs/localization.md): ``omega = gyro - b_g``, ``v = (1 + k_v) v_wheel``, and base_link slides
sideways at ``v_y = omega (d + ... ) - k_s v^2 omega``: the rear axle ``d`` behind it has no lateral velocity
except the tyres' slip angle, which grows with the lateral acceleration ``v omega`` (``k_s`` [rad per m/s^2]).

The cursor is a flat list of floats (``C_*`` indices) so that a snapshot per event is one list copy.
Pure Python + numpy, no rclpy.
"""

from __future__ import annotations

import math

import numpy as np

# state vector (also the first N_STATE entries of a cursor)
IX, IY, IYAW, IBG, IKV, IBE, IBN, ILX, ILY, IKS = range(10)
N_STATE = 10

# accumulators since the covariance anchor, held inputs and bookkeeping (cursor layout)
(C_T, C_RX, C_RY, C_TG, C_ABGX, C_ABGY, C_AKVX, C_AKVY, C_AKSX, C_AKSY, C_W, C_HX, C_HY, C_HHXX, C_HHXY, C_HHYY,
 C_VXX, C_VXY, C_VYY, C_SISO, C_SPSI, C_TT, C_TMV,
 C_DFX, C_DFY, C_DFPSI,
 C_SPEED, C_ODOM_RATE, C_ODOM_T, C_GYRO, C_GYRO_T, C_STILL_SUM, C_STILL_N) = range(N_STATE, N_STATE + 33)
N_CURSOR = N_STATE + 33
ACC = slice(C_RX, C_TMV + 1)  # the covariance accumulators (zeroed when P is re-anchored)
N_ACC = C_TMV + 1 - C_RX

STALE_ODOM_SPEED_SIGMA = 3.0  # [m/s] speed uncertainty assumed while wheel odometry is silent
STALE_ODOM_YAW_RATE_SIGMA = 0.2  # [rad/s] likewise for yaw rate
STANDSTILL_YAW_RATE_RADPS = 0.01  # [rad/s] wheel odometry yaw rate below which a stopped carrier is still
MAX_STEP_S = 0.05  # [s] longest single integration step
_EYE = np.eye(N_STATE)


def new_cursor() -> list[float]:
    c = [0.0] * N_CURSOR
    c[C_ODOM_T] = c[C_GYRO_T] = -math.inf
    return c


class Kinematics:
    """Constants of the process model and its noise (from LocalizationParams and the carrier geometry)."""

    __slots__ = ("d_rear", "q_gyro", "q_odom_rate", "q_speed", "slip2", "walk_g2", "walk_v2", "walk_s2",
                 "standstill_speed", "timeout")

    def __init__(self, p, d_rear: float):
        self.d_rear = d_rear
        self.q_gyro = p.gyro_noise_density**2
        self.q_odom_rate = p.odom_yaw_rate_noise_density**2
        self.q_speed = p.speed_noise_density**2
        self.slip2 = p.slip_sigma**2
        self.walk_g2 = p.gyro_bias_walk**2
        self.walk_v2 = p.wheel_scale_walk**2
        self.walk_s2 = 0.0
        self.standstill_speed = p.standstill_speed_mps
        self.timeout = p.input_timeout_s

    def standing_still(self, c: list[float], now: float) -> bool:
        """Live wheel odometry says the carrier stands: then it cannot turn either (Ackermann)."""
        return (abs(c[C_SPEED]) < self.standstill_speed and abs(c[C_ODOM_RATE]) < STANDSTILL_YAW_RATE_RADPS
                and now - c[C_ODOM_T] <= self.timeout)


HOLD_NONE, HOLD_ODOM, HOLD_GYRO = -1, 0, 1


def advance(c: list[float], k: Kinematics, t_end: float, next_odom: tuple[float, float] | None,
            next_gyro: tuple[float, float] | None) -> None:
    """Integrate the cursor from c[C_T] to t_end with the held inputs, interpolated towards the next samples.

    ``next_odom`` / ``next_gyro``: (stamp, value) of the stream's next sample when already known (first-order
    hold: no half-sample lag), else None (the held value is kept).
    """
    if t_end > c[C_T]:
        run(c, k, [(t_end, HOLD_NONE, 0.0, 0.0, next_odom, next_gyro)], 1)


def run(c: list[float], k: Kinematics, stops: list, snap_every: int, stop_at_standstill_gyro: bool = False):
    """Integrate the cursor through a run of input samples; the hot loop of the filter (issue #14, speed).

    ``stops``: per sample ``(t, hold, value, rate, next_odom, next_gyro)``: integrate to t (with the next samples
    of each stream for the first-order hold), then hold the sample (``HOLD_ODOM``: speed ``value`` and yaw rate
    ``rate``; ``HOLD_GYRO``: rate ``value``; ``HOLD_NONE``: nothing). The cursor lives in local variables and is
    written back (and copied) only every ``snap_every`` stops and at the last one. Returns
    ``(stops done, {stop index: snapshot list})``; with ``stop_at_standstill_gyro`` it returns early after a
    gyro sample held while standing (the caller's zero-rate update comes next).
    """
    (x, y, psi, bg, kv) = c[IX], c[IY], c[IYAW], c[IBG], c[IKV]
    ks = c[IKS]
    (t, rx, ry, tg, abx, aby, akx, aky, asx, asy, w_acc, hx_acc, hy_acc, hhxx, hhxy, hhyy, vxx, vxy, vyy, siso,
     spsi, tt, tmv, dfx, dfy, dfpsi, speed_h, odom_rate, odom_t, gyro_h, gyro_t) = c[C_T:C_GYRO_T + 1]
    timeout, still_v = k.timeout, k.standstill_speed
    d_rear, q_gyro, q_odom, slip2 = k.d_rear, k.q_gyro, k.q_odom_rate, k.slip2
    stale_p, stale_psi = STALE_ODOM_SPEED_SIGMA**2, STALE_ODOM_YAW_RATE_SIGMA**2
    cos, sin, pi, two_pi = math.cos, math.sin, math.pi, 2.0 * math.pi
    snaps = {}
    n = len(stops)
    done = n
    moving_gyro = False
    for idx in range(n):
        t_end, hold, value, rate, next_odom, next_gyro = stops[idx]
        dt_total = t_end - t
        if dt_total > 0.0:
            steps = 1 if dt_total <= MAX_STEP_S else min(200, math.ceil(dt_total / MAX_STEP_S))
            dt = dt_total / steps
            for _ in range(steps):
                now = t + dt
                tt += dt
                if now - odom_t > timeout:
                    # Without wheel odometry the speed is unknown: a random walk wide enough for any carrier speed
                    # keeps the covariance honest and lets GNSS carry the position alone.
                    siso += stale_p * dt
                    spsi += stale_psi * dt
                elif not (-still_v < speed_h < still_v and -STANDSTILL_YAW_RATE_RADPS < odom_rate
                          < STANDSTILL_YAW_RATE_RADPS):  # standing, it cannot move or turn
                    mid = now - 0.5 * dt
                    speed = speed_h
                    if next_odom is not None and next_odom[0] > odom_t:
                        speed += (mid - odom_t) / (next_odom[0] - odom_t) * (next_odom[1] - speed)
                    gyro_live = now - gyro_t <= timeout
                    if gyro_live:
                        g = gyro_h
                        if next_gyro is not None and next_gyro[0] > gyro_t:
                            g += (mid - gyro_t) / (next_gyro[0] - gyro_t) * (next_gyro[1] - g)
                        w = g - bg
                        q = q_gyro
                    else:
                        w = odom_rate
                        q = q_odom
                    v = speed * (1.0 + kv)
                    d_eff = d_rear - ks * v * v  # the point without lateral velocity moves forward in fast curves
                    vy = w * d_eff
                    yaw_mid = psi + 0.5 * w * dt
                    co, si = cos(yaw_mid), sin(yaw_mid)
                    dx = (v * co - vy * si) * dt
                    dy = (v * si + vy * co) * dt
                    # sensitivities of this step (module docstring); J dp = (-dy, dx)
                    if gyro_live:
                        tau = tg + 0.5 * dt
                        abx += tau * dy + d_eff * si * dt
                        aby += -tau * dx - d_eff * co * dt
                        tg += dt
                    akx += co * speed * dt
                    aky += si * speed * dt
                    lat = -v * v * w * dt  # d(vy dt)/d k_s
                    asx -= si * lat
                    asy += co * lat
                    # rate noise: h = -dt J m + e, m = midpoint relative to the anchor, e = lateral slide per rate
                    ex, ey = -si * d_eff * dt, co * d_eff * dt
                    hx = dt * (ry + 0.5 * dy) + ex
                    hy = -dt * (rx + 0.5 * dx) + ey
                    w_acc += q * dt
                    hx_acc += q * hx
                    hy_acc += q * hy
                    qd = q / dt
                    hhxx += qd * hx * hx
                    hhxy += qd * hx * hy
                    hhyy += qd * hy * hy
                    # wheel speed noise along the heading, and unmodelled slip
                    vxx += co * co * dt
                    vxy += co * si * dt
                    vyy += si * si * dt
                    siso += slip2 * (v if v >= 0.0 else -v) * dt
                    tmv += dt
                    rx += dx
                    ry += dy
                    x += dx
                    y += dy
                    dpsi = w * dt
                    psi = (psi + dpsi + pi) % two_pi - pi
                    dfx += dx
                    dfy += dy
                    dfpsi += dpsi
                t = now
            t = t_end
        if hold == HOLD_ODOM:
            speed_h, odom_rate, odom_t = value, rate, t_end
        elif hold == HOLD_GYRO:
            gyro_h, gyro_t = value, t_end
        early = (stop_at_standstill_gyro and hold == HOLD_GYRO and -still_v < speed_h < still_v
                 and -STANDSTILL_YAW_RATE_RADPS < odom_rate < STANDSTILL_YAW_RATE_RADPS and t_end - odom_t <= timeout)
        if hold == HOLD_GYRO and not early:
            moving_gyro = True  # a gyro sample while moving ends any standstill batch
        if early or idx == n - 1 or idx % snap_every == snap_every - 1:
            c[IX], c[IY], c[IYAW] = x, y, psi
            c[C_T:C_GYRO_T + 1] = (t, rx, ry, tg, abx, aby, akx, aky, asx, asy, w_acc, hx_acc, hy_acc, hhxx, hhxy,
                                    hhyy, vxx, vxy, vyy, siso, spsi, tt, tmv, dfx, dfy, dfpsi, speed_h, odom_rate,
                                    odom_t, gyro_h, gyro_t)
            if moving_gyro:
                c[C_STILL_SUM] = c[C_STILL_N] = 0.0
            snaps[idx] = c[:]
            if early:
                done = idx + 1
                break
    return done, snaps


def decay_gnss_error(c: list[float], dt: float, tau: float) -> None:
    """The GNSS slow error's mean decays with its correlation time (kept out of the hot loop)."""
    if dt > 0.0:
        phi = math.exp(-dt / tau)
        c[IBE] *= phi
        c[IBN] *= phi


def covariance(c: list[float], P0: np.ndarray, k: Kinematics, bias_var: float, bias_tau: float) -> np.ndarray:
    """P at the cursor's time: Phi P0 Phi' + Q from the accumulators (module docstring)."""
    tt = c[C_TT]
    if tt <= 0.0 and c[C_SISO] == 0.0:
        return P0
    rx, ry = c[C_RX], c[C_RY]
    jx, jy = -ry, rx  # J (p - p0)
    phi_b = math.exp(-tt / bias_tau)
    F = _EYE.copy()
    F[IX, IYAW], F[IY, IYAW] = jx, jy
    F[IX, IBG], F[IY, IBG], F[IYAW, IBG] = c[C_ABGX], c[C_ABGY], -c[C_TG]
    F[IX, IKV], F[IY, IKV] = c[C_AKVX], c[C_AKVY]
    F[IX, IKS], F[IY, IKS] = c[C_AKSX], c[C_AKSY]
    F[IBE, IBE] = F[IBN, IBN] = phi_b
    P = F @ P0 @ F.T
    w, hx, hy = c[C_W], c[C_HX], c[C_HY]
    qv = k.q_speed * (1.0 + c[IKV]) ** 2
    iso = c[C_SISO]
    P[IX, IX] += w * jx * jx + 2.0 * jx * hx + c[C_HHXX] + qv * c[C_VXX] + iso
    P[IY, IY] += w * jy * jy + 2.0 * jy * hy + c[C_HHYY] + qv * c[C_VYY] + iso
    pxy = w * jx * jy + jx * hy + hx * jy + c[C_HHXY] + qv * c[C_VXY]
    P[IX, IY] += pxy
    P[IY, IX] += pxy
    P[IX, IYAW] += w * jx + hx
    P[IYAW, IX] += w * jx + hx
    P[IY, IYAW] += w * jy + hy
    P[IYAW, IY] += w * jy + hy
    P[IYAW, IYAW] += w + c[C_SPSI]
    P[IBG, IBG] += k.walk_g2 * tt
    P[IKV, IKV] += k.walk_v2 * c[C_TMV]
    gm = max(bias_var, 1e-12) * (1.0 - phi_b * phi_b)
    P[IBE, IBE] += gm
    P[IBN, IBN] += gm
    return P


def anchor(c: list[float]) -> None:
    """Start new accumulators at the cursor's time (after its covariance was materialised)."""
    c[C_RX:C_TMV + 1] = _ZEROS


_ZEROS = [0.0] * N_ACC
