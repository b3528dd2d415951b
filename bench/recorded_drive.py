"""Recorded-style carrier drives from a generator that shares nothing with ``yard_sim`` (issue #14).

The localization filter must not be tuned to the project's own simulator, so the benchmark and the
robustness tests also feed it drives made here, with a different vehicle model, different sensor
rates and latencies, and a matrix of GNSS error models (:data:`ERROR_MODELS`). Nothing here imports
``yard_sim``; the readings are the plain messages the node reads (``agv_nav.localization_inputs``),
in arrival order, as a recording of a real carrier would replay them.

Vehicle (not the simulator's kinematic bicycle): the path is a chain of straights, arcs and stops;
the curvature the carrier drives lags the drawn one (steering lag), speed follows a jerk-free profile
with acceleration limits, and the tyres slip: the rear axle's lateral velocity is proportional to the
lateral acceleration (slip angle ``rear_slip_rad_per_mps2``), so the point without lateral velocity is
not the rear axle, and the wheel speed differs from the true speed by a load-dependent radius error
and a traction slip proportional to the acceleration.

Sensors: gyro at 125 Hz (turn-on bias, a slowly wandering bias, a scale error, white noise, jittered
stamps, a few dropped samples), wheel odometry at 40 Hz (radius error, traction slip, encoder
quantisation, a noisy differential yaw rate), GNSS at 10 Hz aligned to whole epochs, 60-250 ms late,
and a dual-antenna heading at 10 Hz (white + slow error) while the receiver has an RTK solution.

GNSS errors (:class:`GnssErrorModel`): a white part, any number of first-order Gauss-Markov parts
with their own correlation times, RTK-float windows with their own error, multipath events (a
constant offset of 1-10 m for 0.3-3 s, the receiver's covariance unchanged), a reported covariance
that is too optimistic or too pessimistic, and a true antenna position that differs from the
configured one. Every random stream has its own generator, so changing one model changes no other
draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from agv_nav.localization_inputs import FixReading, HeadingReading, ImuReading, OdomReading
from yard_model.geodesy import Datum, LocalFrame
from yard_model.gnss_status import COVARIANCE_TYPE_DIAGONAL_KNOWN, STATUS_FIX, STATUS_GBAS_FIX

FRAME = LocalFrame(Datum(21.9764, 106.7122, 212.0))  # Youyiguan gate
LEVER = (6.0, 0.5)  # [m] configured GNSS antenna in base_link (x, y)
ANTENNA_Z = 2.8
D_REAR = 4.0  # [m] configured rear axle behind base_link
DT = 0.002  # [s] truth integration step
OUTPUT_HZ = 50.0


@dataclass(frozen=True)
class GnssErrorModel:
    """A receiver's true horizontal error (per axis) and what it reports."""

    name: str
    description: str
    white_m: float = 0.0  # sigma of the white part
    slow: tuple[tuple[float, float], ...] = ()  # (sigma [m], correlation time [s]) Gauss-Markov parts
    reported_scale: float = 1.0  # reported sigma = this x the true total sigma
    multipath_rate_hz: float = 0.0  # events per second (Poisson) while RTK fixed or float
    multipath_jump_m: tuple[float, float] = (1.0, 10.0)
    multipath_duration_s: tuple[float, float] = (0.3, 3.0)
    float_windows: tuple[tuple[float, float], ...] = ()  # (from, until) [s after the start of motion]: RTK float
    float_white_m: float = 0.05
    float_slow: tuple[tuple[float, float], ...] = ((0.30, 20.0),)
    antenna_error_m: tuple[float, float] = (0.0, 0.0)  # true antenna minus configured, in base_link

    @property
    def total_sigma_m(self) -> float:
        return math.sqrt(self.white_m**2 + sum(s * s for s, _ in self.slow))

    @property
    def float_sigma_m(self) -> float:
        return math.sqrt(self.float_white_m**2 + sum(s * s for s, _ in self.float_slow))


FIXED = 0.010  # [m] per axis: a typical RTK fixed receiver (8 mm + 1 ppm horizontal)
_H = FIXED / math.sqrt(2.0)
ERROR_MODELS = [
    GnssErrorModel("white", "RTK fixed, white 1.0 cm (many receivers at 10 Hz)", white_m=FIXED),
    GnssErrorModel("white_1.5cm", "RTK fixed, white 1.5 cm", white_m=0.015),
    GnssErrorModel("gm_1s", "RTK fixed, Gauss-Markov 1.0 cm, tau 1 s", slow=((FIXED, 1.0),)),
    GnssErrorModel("gm_5s", "RTK fixed, Gauss-Markov 1.0 cm, tau 5 s", slow=((FIXED, 5.0),)),
    GnssErrorModel("gm_30s", "RTK fixed, Gauss-Markov 1.0 cm, tau 30 s", slow=((FIXED, 30.0),)),
    GnssErrorModel("gm_120s", "RTK fixed, Gauss-Markov 1.0 cm, tau 120 s", slow=((FIXED, 120.0),)),
    GnssErrorModel("mixture", "RTK fixed, white 0.7 cm + GM 0.5 cm tau 2 s + GM 0.5 cm tau 60 s",
                   white_m=_H, slow=((0.5 * FIXED, 2.0), (0.5 * FIXED, 60.0))),
    GnssErrorModel("optimistic_3x", "mixture, receiver reports a third of its sigma", white_m=_H,
                   slow=((0.5 * FIXED, 2.0), (0.5 * FIXED, 60.0)), reported_scale=1.0 / 3.0),
    GnssErrorModel("pessimistic_3x", "mixture, receiver reports three times its sigma", white_m=_H,
                   slow=((0.5 * FIXED, 2.0), (0.5 * FIXED, 60.0)), reported_scale=3.0),
    GnssErrorModel("float_40s", "RTK fixed (mixture) with RTK float for 40 s (30 cm, tau 20 s)", white_m=_H,
                   slow=((0.5 * FIXED, 2.0), (0.5 * FIXED, 60.0)), float_windows=((30.0, 70.0),)),
    GnssErrorModel("multipath", "mixture + multipath jumps of 1-10 m for 0.3-3 s at 0.2 Hz", white_m=_H,
                   slow=((0.5 * FIXED, 2.0), (0.5 * FIXED, 60.0)), multipath_rate_hz=0.2),
    GnssErrorModel("multipath_white", "white 1.0 cm + multipath jumps of 1-10 m at 0.2 Hz", white_m=FIXED,
                   multipath_rate_hz=0.2),
    GnssErrorModel("float_multipath", "RTK float 30 cm tau 20 s for 60 s with multipath 1-10 m at 0.5 Hz",
                   white_m=_H, slow=((0.5 * FIXED, 2.0), (0.5 * FIXED, 60.0)), float_windows=((20.0, 80.0),),
                   multipath_rate_hz=0.5),
    GnssErrorModel("lever_arm_1.5m", "mixture; true antenna 1.5 m behind the configured one",
                   white_m=_H, slow=((0.5 * FIXED, 2.0), (0.5 * FIXED, 60.0)), antenna_error_m=(-1.5, 0.0)),
]
MODELS = {m.name: m for m in ERROR_MODELS}


# ----------------------------------------------------------------------------- drive
@dataclass(frozen=True)
class Leg:
    """A piece of the drawn path: ``length_m`` at curvature ``curvature`` (0 = straight), at most ``speed_mps``;
    ``stop_s`` > 0 = stand still that long at the end of the leg."""

    length_m: float
    curvature: float = 0.0
    speed_mps: float = 5.0
    stop_s: float = 0.0


YARD_LOOP = (  # about two minutes: straights at 5 m/s, 15-40 m curves, an S-bend, a stop, a U-turn
    Leg(60.0, 0.0, 5.0), Leg(math.pi / 2 * 20.0, 1 / 20.0, 3.5), Leg(80.0, 0.0, 6.0),
    Leg(25.0, -1 / 40.0, 4.0), Leg(25.0, 1 / 40.0, 4.0), Leg(40.0, 0.0, 5.0, stop_s=5.0),
    Leg(math.pi * 15.0, 1 / 15.0, 3.0), Leg(120.0, 0.0, 6.0), Leg(math.pi / 2 * 25.0, -1 / 25.0, 3.5),
    Leg(50.0, 0.0, 4.0),
)


@dataclass(frozen=True)
class VehicleModel:
    accel_mps2: float = 0.6
    decel_mps2: float = 0.7
    steer_lag_s: float = 0.35  # the driven curvature lags the drawn one (preview-free driver)
    rear_slip_rad_per_mps2: float = 0.008  # rear axle slip angle per m/s^2 of lateral acceleration
    radius_error: float = 0.008  # wheel odometry reads 0.8 % fast (tyre radius under load)
    traction_slip_per_mps2: float = 0.002  # extra wheel speed per m/s^2 of acceleration


@dataclass
class Truth:
    t: np.ndarray
    x: np.ndarray  # base_link
    y: np.ndarray
    yaw: np.ndarray
    v: np.ndarray  # base_link forward speed
    w: np.ndarray  # yaw rate
    vy_rear: np.ndarray  # rear axle lateral velocity (tyre slip)
    t_motion: float  # first time the carrier moves
    first_turn_end: float  # time the first curve of more than 60 degrees is complete

    def at(self, t: float) -> tuple[float, float, float]:
        i = int(np.clip(np.searchsorted(self.t, t) - 1, 0, len(self.t) - 2))
        f = float(np.clip((t - self.t[i]) / (self.t[i + 1] - self.t[i]), 0.0, 1.0))
        dyaw = math.remainder(self.yaw[i + 1] - self.yaw[i], 2 * math.pi)
        return (float(self.x[i] + f * (self.x[i + 1] - self.x[i])), float(self.y[i] + f * (self.y[i + 1] - self.y[i])),
                float(self.yaw[i] + f * dyaw))

    def at_many(self, ts: np.ndarray) -> np.ndarray:
        """(N, 2) base_link positions at times ts (linear interpolation)."""
        return np.column_stack([np.interp(ts, self.t, self.x), np.interp(ts, self.t, self.y)])


def drive(legs=YARD_LOOP, start=(0.0, 0.0, 0.3), standstill_s: float = 4.0, t0: float = 1000.0,
          vehicle: VehicleModel = VehicleModel()) -> Truth:
    """Drive the legs from a standstill; returns the truth sampled every DT."""
    # Speed plan along the path: each leg's limit, braking ahead of slower legs and stops (backward pass).
    ends = np.cumsum([leg.length_m for leg in legs])
    x, y, yaw = start
    t, s, v, kappa = t0, 0.0, 0.0, 0.0
    out = {k: [] for k in ("t", "x", "y", "yaw", "v", "w", "vy")}
    state = "standing"
    stand_until = t0 + standstill_s
    leg_i = 0
    turned, first_turn_end, t_motion = 0.0, math.inf, math.inf
    while leg_i < len(legs):
        leg = legs[leg_i]
        if state == "standing":
            v_target = 0.0
            if t >= stand_until:
                state = "driving"
        else:
            remaining = ends[leg_i] - s
            v_target = leg.speed_mps
            # brake for a stop at the end of this leg, or for the next leg's lower limit
            nxt = legs[leg_i + 1] if leg_i + 1 < len(legs) else None
            end_v = 0.0 if (leg.stop_s > 0.0 or nxt is None) else min(nxt.speed_mps, leg.speed_mps)
            v_target = min(v_target, math.sqrt(end_v**2 + 2.0 * vehicle.decel_mps2 * max(remaining, 0.0)))
            if end_v == 0.0 and remaining > 0.01:
                v_target = max(v_target, 0.2)  # creep the last centimetres
            if remaining <= (0.01 if end_v == 0.0 else 0.0):
                if leg.stop_s > 0.0 or nxt is None:
                    state = "standing"
                    stand_until = t + leg.stop_s
                    v_target, v = 0.0, 0.0
                leg_i += 1
                if leg_i >= len(legs):
                    break
                continue
        dv = v_target - v
        v += min(max(dv, -vehicle.decel_mps2 * DT), vehicle.accel_mps2 * DT)
        v = max(v, 0.0)
        drawn = leg.curvature if state == "driving" else kappa
        kappa += (drawn - kappa) * (1.0 - math.exp(-v * DT / max(vehicle.steer_lag_s * max(v, 0.5), 1e-3)))
        w = v * kappa
        vy_rear = -vehicle.rear_slip_rad_per_mps2 * v * w * v  # slip angle x speed, outwards in a turn
        if v > 0.0 and t_motion == math.inf:
            t_motion = t
        # integrate the rear axle, then base_link D_REAR ahead of it
        xr, yr = x - D_REAR * math.cos(yaw), y - D_REAR * math.sin(yaw)
        mid = yaw + 0.5 * w * DT
        xr += (v * math.cos(mid) - vy_rear * math.sin(mid)) * DT
        yr += (v * math.sin(mid) + vy_rear * math.cos(mid)) * DT
        yaw = math.remainder(yaw + w * DT, 2 * math.pi)
        x, y = xr + D_REAR * math.cos(yaw), yr + D_REAR * math.sin(yaw)
        s += v * DT
        turned = turned + w * DT if abs(leg.curvature) > 0 else 0.0
        if abs(turned) > math.radians(60.0) and first_turn_end == math.inf and state == "driving" \
                and ends[leg_i] - s < 0.5:
            first_turn_end = t
        t += DT
        for k, val in zip(out, (t, x, y, yaw, v, w, vy_rear)):
            out[k].append(val)
    for _ in range(int(3.0 / DT)):  # stand at the end
        t += DT
        for k, val in zip(out, (t, x, y, yaw, 0.0, 0.0, 0.0)):
            out[k].append(val)
    arr = {k: np.array(a) for k, a in out.items()}
    return Truth(arr["t"], arr["x"], arr["y"], arr["yaw"], arr["v"], arr["w"], arr["vy"], t_motion,
                 first_turn_end)


# --------------------------------------------------------------------------- sensors
@dataclass(frozen=True)
class SensorSetup:
    gyro_hz: float = 125.0
    gyro_sigma: float = 0.003  # [rad/s] per sample
    gyro_bias_sigma: float = 0.002  # [rad/s] turn-on bias
    gyro_bias_wander: tuple[float, float] = (2e-4, 100.0)  # (sigma, tau) of the slowly wandering bias
    gyro_scale: float = 0.003
    gyro_latency_s: tuple[float, float] = (0.003, 0.008)
    odom_hz: float = 40.0
    odom_quantum_m: float = 0.002  # encoder resolution per sample
    odom_sigma: float = 0.01  # [m/s]
    odom_yaw_rate_sigma: float = 0.01  # [rad/s] differential wheel yaw rate noise
    odom_yaw_rate_scale: float = 0.03
    odom_latency_s: tuple[float, float] = (0.010, 0.025)
    gnss_hz: float = 10.0
    gnss_latency_s: tuple[float, float] = (0.06, 0.25)
    gnss_drop: float = 0.005  # share of epochs lost
    heading: bool = True
    heading_white_rad: float = 0.003
    heading_slow_rad: float = 0.001
    input_drop: float = 0.002
    jitter_s: float = 0.0005


@dataclass
class Recording:
    model: GnssErrorModel
    seed: int
    items: list  # (arrival, reading) in arrival order
    truth: Truth
    fixes: list = field(default_factory=list)  # (stamp, mode, multipath) per fix, in stamp order
    true_lever: tuple[float, float] = LEVER

    def fix_info(self) -> dict[float, tuple[str, bool]]:
        return {s: (m, mp) for s, m, mp in self.fixes}


def _gm_step(state: np.ndarray, sigma: float, tau: float, dt: float, rng) -> np.ndarray:
    phi = math.exp(-dt / tau)
    return phi * state + sigma * math.sqrt(1.0 - phi * phi) * rng.standard_normal(state.shape)


def record(model: GnssErrorModel, seed: int, truth: Truth | None = None, setup: SensorSetup = SensorSetup(),
           vehicle: VehicleModel = VehicleModel()) -> Recording:
    """Sample every sensor along a drive; readings in arrival order."""
    truth = truth if truth is not None else drive(vehicle=vehicle)
    ss = np.random.SeedSequence([seed, 14])
    rngs = {k: np.random.default_rng(s) for k, s in zip(
        ("gyro", "odom", "gnss", "mp", "lat", "heading", "drop"), ss.spawn(7))}
    items: list = []
    n = len(truth.t)

    def sample_times(rate: float, rng) -> np.ndarray:
        period = 1.0 / rate
        ts = np.arange(truth.t[0] + period, truth.t[-1], period)
        return ts + rng.uniform(-setup.jitter_s, setup.jitter_s, len(ts))

    # gyro
    g = rngs["gyro"]
    bias0 = g.normal(0.0, setup.gyro_bias_sigma)
    wander = np.zeros(1)
    prev = None
    for ts in sample_times(setup.gyro_hz, g):
        i = min(int(np.searchsorted(truth.t, ts)), n - 1)
        wander = _gm_step(wander, setup.gyro_bias_wander[0], setup.gyro_bias_wander[1],
                          (ts - prev) if prev else 0.01, g)
        prev = ts
        wz = truth.w[i] * (1.0 + setup.gyro_scale) + bias0 + float(wander[0]) + g.normal(0.0, setup.gyro_sigma)
        if rngs["drop"].random() < setup.input_drop:
            continue
        arrival = ts + g.uniform(*setup.gyro_latency_s)
        items.append((arrival, ImuReading(float(ts), float(arrival), float(wz))))
    # wheel odometry
    o = rngs["odom"]
    accel_t = np.gradient(truth.v, truth.t)
    wheel_speed = truth.v * (1.0 + vehicle.radius_error + vehicle.traction_slip_per_mps2 * accel_t)
    travelled = np.concatenate([[0.0], np.cumsum(wheel_speed[:-1] * np.diff(truth.t))])  # wheel distance
    ticks_prev, t_prev = 0, None
    for ts in sample_times(setup.odom_hz, o):
        i = min(int(np.searchsorted(truth.t, ts)), n - 1)
        v = truth.v[i]
        # the wheel turns a little more than the carrier moves (radius under load, traction slip); the encoder
        # counts whole ticks, and the driver reports ticks per sample period as the speed
        ticks = int(math.floor(travelled[i] / setup.odom_quantum_m))
        wheel = (ticks - ticks_prev) * setup.odom_quantum_m / (ts - t_prev) if t_prev is not None else 0.0
        ticks_prev, t_prev = ticks, ts
        if v > 0.0:
            wheel += o.normal(0.0, setup.odom_sigma)
        wz = truth.w[i] * (1.0 + setup.odom_yaw_rate_scale)
        if v > 0.0:
            wz += o.normal(0.0, setup.odom_yaw_rate_sigma)
        if rngs["drop"].random() < setup.input_drop:
            continue
        arrival = ts + o.uniform(*setup.odom_latency_s)
        items.append((arrival, OdomReading(float(ts), float(arrival), float(max(wheel, 0.0)), float(wz))))
    # GNSS and heading at whole epochs
    gn, mp, lat_rng, hd = rngs["gnss"], rngs["mp"], rngs["lat"], rngs["heading"]
    period = 1.0 / setup.gnss_hz
    epochs = np.arange(math.ceil(truth.t[0] / period) * period, truth.t[-1], period)
    slow = [np.zeros(2) + gn.normal(0.0, s, 2) for s, _ in model.slow]  # stationary start
    fslow = [gn.normal(0.0, s, 2) for s, _ in model.float_slow]
    lever = (LEVER[0] + model.antenna_error_m[0], LEVER[1] + model.antenna_error_m[1])
    mp_until, mp_offset = -math.inf, np.zeros(2)
    head_slow = 0.0
    last_arrival = -math.inf
    fixes = []
    for ts in epochs:
        for k, (s, tau) in enumerate(model.slow):
            slow[k] = _gm_step(slow[k], s, tau, period, gn)
        for k, (s, tau) in enumerate(model.float_slow):
            fslow[k] = _gm_step(fslow[k], s, tau, period, gn)
        white = gn.standard_normal(2)
        fwhite = gn.standard_normal(2)
        draws = mp.random(4)
        latency = lat_rng.uniform(*setup.gnss_latency_s)
        drop = rngs["drop"].random() < setup.gnss_drop
        head_slow = float(_gm_step(np.array([head_slow]), setup.heading_slow_rad, 10.0, period, hd)[0])
        head_noise = hd.normal(0.0, setup.heading_white_rad)
        rel = ts - truth.t_motion if math.isfinite(truth.t_motion) else ts - truth.t[0]
        floating = any(a <= rel < b for a, b in model.float_windows)
        x, y, yaw = truth.at(ts)
        c, s_ = math.cos(yaw), math.sin(yaw)
        e = x + c * lever[0] - s_ * lever[1]
        nn = y + s_ * lever[0] + c * lever[1]
        if floating:
            err = model.float_white_m * fwhite + sum(fslow)
            sigma_true, mode = model.float_sigma_m, "rtk_float"
        else:
            err = model.white_m * white + (sum(slow) if slow else np.zeros(2))
            sigma_true, mode = model.total_sigma_m, "rtk_fixed"
        multipath = False
        if model.multipath_rate_hz > 0.0:
            if ts >= mp_until and draws[0] < 1.0 - math.exp(-model.multipath_rate_hz * period):
                lo, hi = model.multipath_jump_m
                d, a = lo + (hi - lo) * draws[1], 2 * math.pi * draws[2]
                mp_offset = d * np.array([math.cos(a), math.sin(a)])
                dlo, dhi = model.multipath_duration_s
                mp_until = ts + dlo + (dhi - dlo) * draws[3]
            multipath = ts < mp_until
        if multipath:
            err = err + mp_offset
        if drop:
            continue
        reported = max(sigma_true * model.reported_scale, 1e-4)
        if mode == "rtk_fixed" and reported > 0.05:  # what the receiver says decides what it is
            mode = "rtk_float"
        lat, lon, alt = FRAME.geodetic_from_enu(e + float(err[0]), nn + float(err[1]), ANTENNA_Z)
        var = reported**2
        cov = (var, 0.0, 0.0, 0.0, var, 0.0, 0.0, 0.0, 4.0 * var)
        status = STATUS_GBAS_FIX if mode in ("rtk_fixed", "rtk_float") else STATUS_FIX
        arrival = max(ts + latency, last_arrival + 0.001)  # a receiver sends its solutions in order
        last_arrival = arrival
        items.append((arrival, FixReading(float(ts), float(arrival), float(lat), float(lon), float(alt), status,
                                          COVARIANCE_TYPE_DIAGONAL_KNOWN, cov)))
        fixes.append((float(ts), mode, multipath))
        if setup.heading:
            hyaw = yaw + head_slow + head_noise
            q = (0.0, 0.0, math.sin(hyaw / 2), math.cos(hyaw / 2))
            sig = math.hypot(setup.heading_white_rad, setup.heading_slow_rad)
            items.append((arrival + 0.002, HeadingReading(float(ts), float(arrival + 0.002), q, sig**2)))
    items.sort(key=lambda it: it[0])
    return Recording(model, seed, items, truth, fixes, lever)
