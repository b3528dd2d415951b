"""Readable synthetic drives and sensor streams for localization core tests.

A drive is a list of legs (``Straight(seconds, speed)``, ``Arc(seconds, speed, radius)``,
``Stop(seconds)``) integrated with rear-axle Ackermann kinematics; base_link is ``d_rear`` ahead
of the rear axle, as on the carriers. Sensors follow the simulator's documented behaviour
(docs/architecture.md): gyro with bias and white noise at 100 Hz, wheel odometry with a scale
error at 50 Hz, GNSS at 10 Hz arriving 50-150 ms late, with RTK fixed / float / single errors
made of a slowly wandering part and a white part, multipath jumps and outages.
The bench and the node tests use the simulator's own sensor models instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from agv_nav.localization_inputs import FixReading, HeadingReading, ImuReading, OdomReading
from yard_model.geodesy import Datum, LocalFrame
from yard_model.gnss_status import COVARIANCE_TYPE_DIAGONAL_KNOWN, COVARIANCE_TYPE_UNKNOWN, status_for_mode

FRAME = LocalFrame(Datum(21.9764, 106.7122, 212.0))
LEVER = (6.0, 0.5)
D_REAR = 4.0


@dataclass(frozen=True)
class Straight:
    seconds: float
    speed: float


@dataclass(frozen=True)
class Arc:
    seconds: float
    speed: float
    radius: float  # [m] of the rear axle path, positive = left


@dataclass(frozen=True)
class Stop:
    seconds: float


@dataclass
class Truth:
    t: np.ndarray
    x: np.ndarray  # base_link
    y: np.ndarray
    yaw: np.ndarray
    v: np.ndarray  # rear axle speed = base_link forward speed
    w: np.ndarray

    def at(self, t: float) -> tuple[float, float, float]:
        """base_link pose at time t, interpolated between samples."""
        i = int(np.clip(np.searchsorted(self.t, t) - 1, 0, len(self.t) - 2))
        f = float(np.clip((t - self.t[i]) / (self.t[i + 1] - self.t[i]), 0.0, 1.0))
        dyaw = (self.yaw[i + 1] - self.yaw[i] + math.pi) % (2 * math.pi) - math.pi
        return (float(self.x[i] + f * (self.x[i + 1] - self.x[i])), float(self.y[i] + f * (self.y[i + 1] - self.y[i])),
                float(self.yaw[i] + f * dyaw))

    def antenna(self, i: int) -> tuple[float, float]:
        c, s = math.cos(self.yaw[i]), math.sin(self.yaw[i])
        return (self.x[i] + c * LEVER[0] - s * LEVER[1], self.y[i] + s * LEVER[0] + c * LEVER[1])


def drive(legs, start=(0.0, 0.0, 0.0), t0: float = 100.0, dt: float = 0.01, ramp_s: float = 1.0) -> Truth:
    """Integrate legs at dt; speed changes ramp linearly over ramp_s (smooth like a real drive)."""
    xr, yr, yaw = start[0] - D_REAR * math.cos(start[2]), start[1] - D_REAR * math.sin(start[2]), start[2]
    ts, xs, ys, yaws, vs, ws = [], [], [], [], [], []
    t, v = t0, 0.0
    for leg in legs:
        target = 0.0 if isinstance(leg, Stop) else leg.speed
        kappa = 1.0 / leg.radius if isinstance(leg, Arc) else 0.0
        for _ in range(int(round(leg.seconds / dt))):
            v += float(np.clip(target - v, -dt * 5.0 / ramp_s, dt * 5.0 / ramp_s))
            w = v * kappa
            ts.append(t)
            xs.append(xr + D_REAR * math.cos(yaw))
            ys.append(yr + D_REAR * math.sin(yaw))
            yaws.append(yaw)
            vs.append(v)
            ws.append(w)
            xr += v * math.cos(yaw + 0.5 * w * dt) * dt
            yr += v * math.sin(yaw + 0.5 * w * dt) * dt
            yaw = (yaw + w * dt + math.pi) % (2 * math.pi) - math.pi
            t += dt
    return Truth(*(np.array(a) for a in (ts, xs, ys, yaws, vs, ws)))


@dataclass
class GnssModel:
    """Solution mode over time and its errors."""

    mode_at: object = lambda t: "rtk_fixed"  # callable t -> mode
    sigma_white: dict = field(default_factory=lambda: {"rtk_fixed": 0.002, "rtk_float": 0.02, "single": 0.1})
    sigma_slow: dict = field(default_factory=lambda: {"rtk_fixed": 0.012, "rtk_float": 0.3, "single": 1.5})
    tau_s: dict = field(default_factory=lambda: {"rtk_fixed": 5.0, "rtk_float": 30.0, "single": 60.0})
    reported_sigma: dict = field(default_factory=lambda: {"rtk_fixed": 0.015, "rtk_float": 0.3, "single": 2.0})
    multipath_at: object = lambda t: False  # callable t -> True inside multipath areas
    multipath_rate_hz: float = 0.5
    multipath_jump_m: tuple[float, float] = (1.0, 10.0)
    multipath_duration_s: tuple[float, float] = (0.2, 1.0)
    latency_s: tuple[float, float] = (0.05, 0.15)
    unknown_covariance: bool = False


@dataclass
class Stream:
    """Readings in arrival order, plus what the bench needs to score them."""

    items: list  # (arrival, reading)
    truth: Truth
    multipath: set  # stamps of fixes displaced by multipath
    fix_stamps: list


def sensors(truth: Truth, gnss: GnssModel | None = None, seed: int = 1, gyro_bias: float = 0.002,
            gyro_sigma: float = 0.003, odom_scale: float = 1.01, odom_sigma: float = 0.02,
            heading_sigma: float | None = None) -> Stream:
    """Sample the sensors along a drive; returns readings sorted by arrival time."""
    gnss = gnss or GnssModel()
    rng = np.random.default_rng(seed)
    items: list = []
    slow = np.zeros(2)
    mode_prev = None
    mp_until, mp_offset = -1.0, np.zeros(2)
    multipath, fix_stamps = set(), []
    n = len(truth.t)
    for i in range(n):
        t = float(truth.t[i])
        items.append((t + 0.001, ImuReading(t, t + 0.001, truth.w[i] + gyro_bias + rng.normal(0, gyro_sigma))))
        if i % 2 == 0:
            items.append((t + 0.002, OdomReading(t, t + 0.002, truth.v[i] * odom_scale + rng.normal(0, odom_sigma)
                                                 * (truth.v[i] != 0.0), truth.w[i])))
        if i % 10 == 0:
            arrival = t + rng.uniform(*gnss.latency_s)
            mode = gnss.mode_at(t)
            if mode != mode_prev:
                slow = rng.normal(0, gnss.sigma_slow.get(mode, 0.0), 2)
                mode_prev = mode
            phi = math.exp(-0.1 / gnss.tau_s.get(mode, 30.0))
            slow = phi * slow + math.sqrt(1 - phi * phi) * rng.normal(0, gnss.sigma_slow.get(mode, 0.0), 2)
            status, cov_type = status_for_mode(mode)
            if mode == "none":
                items.append((arrival, FixReading(t, arrival, math.nan, math.nan, math.nan, status, cov_type,
                                                  (0.0,) * 9)))
                continue
            e, nn = truth.antenna(i)
            e += slow[0] + rng.normal(0, gnss.sigma_white[mode])
            nn += slow[1] + rng.normal(0, gnss.sigma_white[mode])
            if gnss.multipath_at(t):
                if t >= mp_until and rng.random() < gnss.multipath_rate_hz * 0.1:
                    mp_until = t + rng.uniform(*gnss.multipath_duration_s)
                    ang, dist = rng.uniform(0, 2 * math.pi), rng.uniform(*gnss.multipath_jump_m)
                    mp_offset = dist * np.array([math.cos(ang), math.sin(ang)])
                if t < mp_until:
                    e += mp_offset[0]
                    nn += mp_offset[1]
                    multipath.add(t)
            lat, lon, alt = FRAME.geodetic_from_enu(e, nn, 2.8)
            var = gnss.reported_sigma[mode] ** 2
            cov = (var, 0.0, 0.0, 0.0, var, 0.0, 0.0, 0.0, 4 * var)
            if gnss.unknown_covariance:
                cov_type, cov = COVARIANCE_TYPE_UNKNOWN, (0.0,) * 9
            else:
                cov_type = COVARIANCE_TYPE_DIAGONAL_KNOWN
            items.append((arrival, FixReading(t, arrival, lat, lon, alt, status, cov_type, cov)))
            fix_stamps.append(t)
            if heading_sigma is not None:
                yaw = truth.yaw[i] + rng.normal(0, heading_sigma)
                q = (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))
                items.append((arrival, HeadingReading(t, arrival, q, heading_sigma**2)))
    items.sort(key=lambda it: it[0])
    return Stream(items, truth, multipath, fix_stamps)


@dataclass
class Run:
    """What a filter made of a stream: estimates at 50 Hz (after init) and every outcome."""

    t: np.ndarray
    est: list  # Estimate per sample time (None before initialisation)
    outcomes: list  # (reading, Outcome | Rejected)
    filt: object

    def errors(self, truth: Truth, t_from: float = -math.inf, t_to: float = math.inf) -> np.ndarray:
        """Horizontal base_link position errors [m] at the sample times in [t_from, t_to]."""
        out = []
        for t, e in zip(self.t, self.est):
            if e is None or not t_from <= t <= t_to:
                continue
            x, y, _ = truth.at(t)
            out.append(math.hypot(e.x - x, e.y - y))
        return np.array(out)


def run_filter(stream: Stream, params=None, lever=LEVER, spots=(), rate_hz: float = 50.0) -> Run:
    """Feed a stream in arrival order through InputScreen and the filter; sample the output at rate_hz."""
    from agv_nav.localization_filter import LocalizationFilter
    from agv_nav.localization_inputs import InputScreen, Rejected
    from agv_nav.localization_params import LocalizationParams

    p = params or LocalizationParams()
    screen = InputScreen(p, FRAME)
    filt = LocalizationFilter(p, lever, -D_REAR, spots)
    handlers = {FixReading: screen.fix, OdomReading: screen.odom, ImuReading: screen.imu,
                HeadingReading: screen.heading}
    period = 1.0 / rate_hz
    next_t = stream.truth.t[0]
    ts, ests, outcomes = [], [], []
    for arrival, reading in stream.items:
        while next_t <= arrival:
            ts.append(next_t)
            ests.append(filt.estimate(next_t))
            next_t += period
        m = handlers[type(reading)](reading)
        outcomes.append((reading, m if isinstance(m, Rejected) else filt.add(m)))
    return Run(np.array(ts), ests, outcomes, filt)
