"""Sensor models of one carrier: GNSS/RTK receiver, dual-antenna heading, wheel odometry, IMU.

Each sensor samples the ground truth at its own rate and hands its measurement out only once
its latency has passed, stamped with the *measurement* time, as a real driver would.

GNSS position errors are first-order Gauss-Markov processes (Gelb, *Applied Optimal
Estimation*, §3.8; the usual model of slowly varying GNSS errors, e.g. Rankin 1994), one
independent 3-D process per solution mode with its own sigma and correlation time, so a fix
error does not jump around from epoch to epoch the way white noise would, and switching mode
changes the error level at once. Receivers differ (issue #14): a mode may add a white horizontal
part (``gnss_<mode>_white_sigma_m``: many receivers' RTK fixed error is mostly white at 10 Hz;
white + Gauss-Markov is a mixture), the correlation times are configurable, and the reported
horizontal sigma is the mode's total sigma times ``gnss_reported_sigma_scale`` (1 = honest, 1/3 =
an optimistic receiver, 3 = a pessimistic one). The reported covariance is otherwise consistent
with the actual errors, except during a multipath event: zones with
``multipath_rate_hz`` > 0 start events as a Poisson process; each displaces the fixes by a
constant horizontal offset (uniform magnitude in the zone's ``multipath_jump_m``, uniform
direction) for a uniform ``multipath_min_duration_s``..``multipath_max_duration_s`` while the
receiver keeps its usual covariance (that is what makes them outliers). An event ends early
when the antenna leaves the zone; the next one can start from the following epoch. Multipath
follows the zones even while a mode is forced with ``force_mode`` (a fix of mode 'none' carries
no position, so no jump).

Solution mode: the best mode available at the antenna is the worst zone's mode there
(``World.gnss_zone_at``; open sky = ``rtk_fixed``) or the forced mode. After any loss of the
RTK fix (an outage, a single or float zone) the receiver reports ``rtk_float`` for
``gnss_refix_time_s`` of fixed-quality sky before it fixes the ambiguities again. It starts
converged (fixed) in open sky.

Wheel odometry: speed with a scale error and noise, yaw rate with a scale error, a bias while
the wheels turn (an Ackermann vehicle's wheel odometry reports no rotation at standstill) and
noise; the pose is dead-reckoned from those erroneous values in ``<c>/odom``, starting at the
origin. The IMU (axes aligned with base_link at ``carrier_type.imu_m``) has gyro and
accelerometer turn-on biases per vehicle, a gyro bias random walk and white noise; the
accelerometer measures specific force (flat ground: +g on z) including the lever-arm terms.

Bay positioning (a crane-mounted positioning system, "CPS": laser scanners on the crane portal
that measure the vehicle under it, as ASC/STS cranes use to guide chassis and AGVs to a few mm–cm):
while base_link is within ``bay_positioning_range_along_m`` along and
``bay_positioning_range_across_m`` across the bay axis of a carrier bay whose station has a
crane, the sensor reports base_link's position and yaw in ``map`` with white noise of
``bay_positioning_sigma_m`` / ``bay_positioning_yaw_sigma_rad`` (reported as its covariance),
at ``bay_positioning_rate_hz``, ``bay_positioning_latency_s`` late. It is referenced to the bay,
not to GNSS: no slowly varying error is shared with the fixes. Its noise is drawn every epoch,
in range or not, so entering or leaving a bay changes no other draw.

Randomness: one ``numpy.random.Generator`` per (seed, vehicle_index, stream) through
``SeedSequence(seed, spawn_key=(vehicle_index, stream))`` and a fixed number of draws per
sample, so adding a sensor or a vehicle, or a multipath event, changes no other noise stream.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np

from yard_model.gnss_status import COVARIANCE_TYPE_UNKNOWN, RTK_FIXED_MAX_SIGMA_M, status_for_mode
from yard_model.params import ParameterError, spec
from yard_model.world import CarrierType, GnssZone, World

from .carrier_model import CarrierState, advance_base_link

GRAVITY_MPS2 = 9.80665  # [m/s^2] standard gravity
_EPS_S = 1e-6  # [s] tolerance when comparing sample and release times
_STREAMS = {"gnss_noise": 1, "gnss_latency": 2, "gnss_multipath": 3, "gnss_heading": 4, "odom": 5, "imu": 6,
           "bay_positioning": 7, "gnss_white": 8}
"""Fixed stream ids: never renumber them, or every seeded run changes."""


@dataclass
class SensorConfig:
    """Rates, noise, latency and biases of the carrier sensors (shared by every carrier)."""

    gnss_rate_hz: float = field(default=10.0, metadata=spec("GNSS fix rate.", "Hz", 0.1, 100.0))
    gnss_latency_min_s: float = field(default=0.05, metadata=spec("Shortest GNSS output latency.", "s", 0.0, 1.0))
    gnss_latency_max_s: float = field(default=0.15, metadata=spec(
        "Longest GNSS output latency (uniform between min and max).", "s", 0.0, 1.0))
    gnss_fixed_sigma_m: float = field(default=0.015, metadata=spec(
        "RTK fixed horizontal error sigma per axis of the slowly varying (Gauss-Markov) part.", "m", 0.0, 0.05))
    gnss_fixed_white_sigma_m: float = field(default=0.0, metadata=spec(
        "RTK fixed white horizontal error sigma per axis, added to the slow part (a mixture); the reported sigma is "
        "the total.", "m", 0.0, 0.05))
    gnss_fixed_sigma_up_m: float = field(default=0.03, metadata=spec("RTK fixed vertical error sigma.", "m", 0.0, 1.0))
    gnss_fixed_time_constant_s: float = field(default=5.0, metadata=spec(
        "Correlation time of the RTK fixed error (Gauss-Markov).", "s", 0.01, 3600.0))
    gnss_float_sigma_m: float = field(default=0.3, metadata=spec(
        "RTK float horizontal error sigma per axis.", "m", 0.05, 10.0))
    gnss_float_sigma_up_m: float = field(default=0.6, metadata=spec("RTK float vertical error sigma.", "m", 0.0, 20.0))
    gnss_float_time_constant_s: float = field(default=30.0, metadata=spec(
        "Correlation time of the RTK float error.", "s", 0.01, 3600.0))
    gnss_float_white_sigma_m: float = field(default=0.0, metadata=spec(
        "RTK float white horizontal error sigma per axis, added to the slow part.", "m", 0.0, 10.0))
    gnss_single_sigma_m: float = field(default=2.0, metadata=spec(
        "Single (autonomous) horizontal error sigma per axis.", "m", 0.05, 50.0))
    gnss_single_sigma_up_m: float = field(default=4.0, metadata=spec("Single vertical error sigma.", "m", 0.0, 100.0))
    gnss_single_time_constant_s: float = field(default=60.0, metadata=spec(
        "Correlation time of the single-point error.", "s", 0.01, 3600.0))
    gnss_single_white_sigma_m: float = field(default=0.0, metadata=spec(
        "Single white horizontal error sigma per axis, added to the slow part.", "m", 0.0, 50.0))
    gnss_reported_sigma_scale: float = field(default=1.0, metadata=spec(
        "The receiver reports its true horizontal sigma times this: 1 = honest, below 1 = optimistic (1/3: three "
        "times too small), above 1 = pessimistic.", "", 0.1, 10.0))
    gnss_refix_time_s: float = field(default=8.0, metadata=spec(
        "Time in fixed-quality sky, reporting RTK float, before the receiver fixes again after losing RTK fixed.",
        "s", 0.0, 600.0))
    multipath_min_duration_s: float = field(default=0.5, metadata=spec(
        "Shortest multipath event (jump magnitude and rate come from the world's zones).", "s", 0.0, 60.0))
    multipath_max_duration_s: float = field(default=3.0, metadata=spec("Longest multipath event.", "s", 0.0, 60.0))
    gnss_heading_enabled: bool = field(default=True, metadata=spec(
        "Publish a dual-antenna GNSS heading (only while the receiver has an RTK solution), as Youyiguan's "
        "carriers have."))
    gnss_heading_rate_hz: float = field(default=10.0, metadata=spec("GNSS heading rate.", "Hz", 0.1, 100.0))
    gnss_heading_sigma_rad: float = field(default=0.005, metadata=spec(
        "GNSS heading noise sigma (white), also reported.", "rad", 0.0, 1.0))
    odom_rate_hz: float = field(default=50.0, metadata=spec("Wheel odometry rate.", "Hz", 0.1, 1000.0))
    odom_latency_s: float = field(default=0.02, metadata=spec("Wheel odometry latency.", "s", 0.0, 1.0))
    odom_scale_error: float = field(default=0.005, metadata=spec(
        "Wheel speed scale error (0.005 = reads 0.5 % fast).", "", -0.2, 0.2))
    odom_speed_sigma_mps: float = field(default=0.01, metadata=spec("Wheel speed noise sigma.", "m/s", 0.0, 1.0))
    odom_yaw_rate_scale_error: float = field(default=0.01, metadata=spec(
        "Odometry yaw-rate scale error.", "", -0.2, 0.2))
    odom_yaw_rate_bias_radps: float = field(default=0.0005, metadata=spec(
        "Odometry yaw-rate bias while the wheels turn (heading drift).", "rad/s", -0.1, 0.1))
    odom_yaw_rate_sigma_radps: float = field(default=0.002, metadata=spec(
        "Odometry yaw-rate noise sigma.", "rad/s", 0.0, 1.0))
    odom_pose_sigma_fraction: float = field(default=0.01, metadata=spec(
        "Reported dead-reckoning position sigma per metre driven.", "", 0.0, 1.0))
    imu_rate_hz: float = field(default=100.0, metadata=spec("IMU rate.", "Hz", 0.1, 1000.0))
    imu_latency_s: float = field(default=0.005, metadata=spec("IMU latency.", "s", 0.0, 1.0))
    imu_gyro_sigma_radps: float = field(default=0.002, metadata=spec(
        "Gyro white noise sigma per sample.", "rad/s", 0.0, 1.0))
    imu_gyro_bias_sigma_radps: float = field(default=0.001, metadata=spec(
        "Sigma of the gyro turn-on bias drawn per vehicle and axis.", "rad/s", 0.0, 1.0))
    imu_gyro_bias_walk_radps_sqrt_s: float = field(default=1e-5, metadata=spec(
        "Gyro bias random walk.", "rad/s/sqrt(s)", 0.0, 1.0))
    imu_accel_sigma_mps2: float = field(default=0.05, metadata=spec(
        "Accelerometer white noise sigma per sample.", "m/s^2", 0.0, 10.0))
    imu_accel_bias_sigma_mps2: float = field(default=0.02, metadata=spec(
        "Sigma of the accelerometer turn-on bias per vehicle and axis.", "m/s^2", 0.0, 10.0))

    bay_positioning_enabled: bool = field(default=True, metadata=spec(
        "Crane-mounted bay positioning (CPS): publish <c>/bay_positioning/pose while the carrier is within range "
        "of a carrier bay whose station has a crane."))
    bay_positioning_rate_hz: float = field(default=10.0, metadata=spec("Bay positioning rate.", "Hz", 0.1, 100.0))
    bay_positioning_latency_s: float = field(default=0.05, metadata=spec(
        "Bay positioning output latency.", "s", 0.0, 1.0))
    bay_positioning_sigma_m: float = field(default=0.01, metadata=spec(
        "Bay positioning noise sigma per horizontal axis (white), also reported.", "m", 0.0, 1.0))
    bay_positioning_yaw_sigma_rad: float = field(default=0.002, metadata=spec(
        "Bay positioning yaw noise sigma (white), also reported.", "rad", 0.0, 1.0))
    bay_positioning_range_along_m: float = field(default=30.0, metadata=spec(
        "Bay positioning sees base_link up to this far from the bay pose along the bay's axis.", "m", 0.0, 500.0))
    bay_positioning_range_across_m: float = field(default=3.0, metadata=spec(
        "Bay positioning sees base_link up to this far from the bay's axis.", "m", 0.0, 50.0))

    def check(self) -> None:
        """Combinations the per-field ranges cannot express."""
        if self.gnss_latency_min_s > self.gnss_latency_max_s:
            raise ParameterError("gnss_latency_min_s must not exceed gnss_latency_max_s")
        if self.multipath_min_duration_s > self.multipath_max_duration_s:
            raise ParameterError("multipath_min_duration_s must not exceed multipath_max_duration_s")
        if not self.gnss_fixed_sigma_m < self.gnss_float_sigma_m < self.gnss_single_sigma_m:
            raise ParameterError("GNSS sigmas must grow from fixed to float to single")
        if self.reported_sigma("rtk_float") <= RTK_FIXED_MAX_SIGMA_M:
            raise ParameterError(f"the reported RTK float sigma must exceed {RTK_FIXED_MAX_SIGMA_M} m, or consumers "
                                 "read float fixes as RTK fixed (docs/architecture.md)")
        if self.reported_sigma("rtk_fixed") > RTK_FIXED_MAX_SIGMA_M:
            raise ParameterError(f"the reported RTK fixed sigma must not exceed {RTK_FIXED_MAX_SIGMA_M} m, or "
                                 "consumers read fixed fixes as RTK float (docs/architecture.md)")

    def reported_sigma(self, mode: str) -> float:
        """Horizontal sigma per axis [m] the receiver reports in a mode: its total sigma times the scale."""
        key = {"rtk_fixed": "fixed", "rtk_float": "float", "single": "single"}[mode]
        slow, white = getattr(self, f"gnss_{key}_sigma_m"), getattr(self, f"gnss_{key}_white_sigma_m")
        return math.hypot(slow, white) * self.gnss_reported_sigma_scale


# ------------------------------------------------------------------ measurements
@dataclass(frozen=True)
class GnssFix:
    """One GNSS position fix of the antenna (WGS84, ellipsoidal height), see docs/architecture.md."""

    stamp: float  # [s] measurement time
    lat_deg: float  # NaN without a fix
    lon_deg: float
    alt_m: float
    status: int  # NavSatStatus.status
    covariance_type: int  # NavSatFix.position_covariance_type
    covariance: tuple[float, ...]  # 9 values, ENU row-major [m^2]
    mode: str  # 'rtk_fixed' | 'rtk_float' | 'single' | 'none' (truth, for evaluation)
    multipath: bool  # a multipath jump displaces this fix (truth, for evaluation)


@dataclass(frozen=True)
class GnssHeading:
    """Dual-antenna heading: ENU yaw of base_link x."""

    stamp: float  # [s]
    yaw_rad: float
    sigma_rad: float


@dataclass(frozen=True)
class WheelOdom:
    """Wheel odometry: base_link twist and the pose dead-reckoned from it in ``<c>/odom``."""

    stamp: float  # [s]
    vx_mps: float
    wz_radps: float
    x: float  # [m] in <c>/odom
    y: float
    yaw: float  # [rad]
    twist_cov: tuple[float, ...]  # 36 values, ROS order (x, y, z, rot x, rot y, rot z)
    pose_cov: tuple[float, ...]  # 36 values
    vy_mps: float = 0.0  # [m/s] base_link lateral speed implied by the geometry (wz * wheelbase / 2)


@dataclass(frozen=True)
class ImuSample:
    """Gyro [rad/s] and specific force [m/s^2] in imu_link (axes of base_link)."""

    stamp: float  # [s]
    wx: float
    wy: float
    wz: float
    ax: float
    ay: float
    az: float
    gyro_var: float  # [(rad/s)^2] per axis
    accel_var: float  # [(m/s^2)^2] per axis


@dataclass(frozen=True)
class BayPose:
    """Crane-mounted bay positioning: base_link pose in ``map`` measured from the crane over a carrier bay."""

    stamp: float  # [s] measurement time
    x: float  # [m] base_link in map
    y: float
    yaw: float  # [rad]
    sigma_m: float  # per horizontal axis (reported)
    yaw_sigma_rad: float
    bay_id: str  # the bay whose crane measured (truth, for evaluation)


Measurement = GnssFix | GnssHeading | WheelOdom | ImuSample | BayPose


def _diag36(values: tuple[float, float, float, float, float, float]) -> tuple[float, ...]:
    cov = [0.0] * 36
    for i, v in enumerate(values):
        cov[i * 7] = float(v)
    return tuple(cov)


class _Schedule:
    """Sample times t0 + k / rate from the first call; missed samples are skipped, never bunched."""

    def __init__(self, rate_hz: float):
        self.period_s = 1.0 / rate_hz
        self.t0: float | None = None
        self.k = 0

    def due(self, t: float) -> bool:
        if self.t0 is None:
            self.t0 = t
        if t + _EPS_S < self.t0 + self.k * self.period_s:
            return False
        while self.t0 + self.k * self.period_s <= t + _EPS_S:
            self.k += 1
        return True


class CarrierSensors:
    """All sensors of one carrier; ``step`` is called every physics tick with the truth."""

    def __init__(self, world: World, carrier_type: CarrierType, config: SensorConfig, seed: int,
                 vehicle_index: int):
        config.check()
        self.world, self.type, self.cfg = world, carrier_type, config
        self._rng = {name: np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(vehicle_index, sid)))
                     for name, sid in _STREAMS.items()}
        self._pending: list[tuple[float, int, Measurement]] = []  # heap of (release time, sequence, measurement)
        self._seq = 0
        self._last_t: float | None = None
        self._last_yaw_rate = 0.0
        self._yaw_accel = 0.0

        # GNSS receiver
        c = config
        self._gm = {  # mode -> (horizontal sigma, vertical sigma, time constant, white horizontal sigma)
            "rtk_fixed": (c.gnss_fixed_sigma_m, c.gnss_fixed_sigma_up_m, c.gnss_fixed_time_constant_s,
                          c.gnss_fixed_white_sigma_m),
            "rtk_float": (c.gnss_float_sigma_m, c.gnss_float_sigma_up_m, c.gnss_float_time_constant_s,
                          c.gnss_float_white_sigma_m),
            "single": (c.gnss_single_sigma_m, c.gnss_single_sigma_up_m, c.gnss_single_time_constant_s,
                       c.gnss_single_white_sigma_m),
        }
        self._gm_state = {m: self._rng["gnss_noise"].standard_normal(3) for m in self._gm}  # stationary start
        self._gnss = _Schedule(c.gnss_rate_hz)
        self._heading = _Schedule(c.gnss_heading_rate_hz)
        self._last_gnss_release = -math.inf
        self._last_heading_release = -math.inf
        self._fixed_ready_t = -math.inf  # [s] earliest time the receiver may report fixed; None = lost
        self._fixed_lost = False
        self.mode = "rtk_fixed"  # receiver's current solution (read-only for callers)
        self._forced: str | None = None
        self._forced_until: float | None = None
        self._mp_offset: tuple[float, float] | None = None  # active multipath offset (east, north) [m]
        self._mp_end_t = 0.0
        self._mp_zone: str | None = None

        # wheel odometry
        self._odom = _Schedule(c.odom_rate_hz)
        self._odom_pose = (0.0, 0.0, 0.0)
        self._odom_prev: tuple[float, float, float] | None = None  # (t, vx, wz) of the previous sample
        self._odom_distance_m = 0.0
        self._odom_turned_rad = 0.0
        self._odom_moving_s = 0.0

        # IMU
        imu = self._rng["imu"]
        self._imu = _Schedule(c.imu_rate_hz)
        self._gyro_bias = imu.standard_normal(3) * c.imu_gyro_bias_sigma_radps
        self._accel_bias = imu.standard_normal(3) * c.imu_accel_bias_sigma_mps2
        self._imu_prev_t: float | None = None

        # bay positioning: carrier bays whose station has a crane
        self._bay = _Schedule(c.bay_positioning_rate_hz)
        self._bays = [b for b in world.carrier_bays()
                      if b.station in world.stations and world.stations[b.station].cranes]
        self._last_bay_release = -math.inf

    # ------------------------------------------------------------ interface
    def force_mode(self, mode: str | None, until_t: float | None = None) -> None:
        """Force the GNSS solution ('rtk_fixed' | 'rtk_float' | 'single' | 'none') regardless of zones.

        None (or reaching ``until_t`` [s]) returns to the zones; the re-fix time then applies as
        after any real loss of fix. Forcing 'rtk_fixed' counts as a converged receiver.
        """
        if mode is not None and mode not in self._gm and mode != "none":
            raise ValueError(f"unknown GNSS mode '{mode}' (rtk_fixed, rtk_float, single, none)")
        self._forced = mode
        self._forced_until = until_t if mode is not None else None

    def step(self, t: float, truth: CarrierState) -> list[Measurement]:
        """Sample every sensor that is due at t [s]; return the measurements released by t, in release order."""
        if self._last_t is not None and t > self._last_t:
            self._yaw_accel = (truth.yaw_rate_radps - self._last_yaw_rate) / (t - self._last_t)
        if self._last_t is None or t > self._last_t:
            self._last_t, self._last_yaw_rate = t, truth.yaw_rate_radps
        if self._gnss.due(t):
            self._sample_gnss(t, truth)
        if self.cfg.gnss_heading_enabled and self._heading.due(t):
            self._sample_heading(t, truth)
        if self._odom.due(t):
            self._sample_odom(t, truth)
        if self._imu.due(t):
            self._sample_imu(t, truth)
        if self.cfg.bay_positioning_enabled and self._bay.due(t):
            self._sample_bay(t, truth)
        out: list[Measurement] = []
        while self._pending and self._pending[0][0] <= t + _EPS_S:
            out.append(heapq.heappop(self._pending)[2])
        return out

    # ------------------------------------------------------------- helpers
    def _release(self, release_t: float, m: Measurement) -> None:
        heapq.heappush(self._pending, (release_t, self._seq, m))
        self._seq += 1

    def antenna_enu(self, truth: CarrierState) -> tuple[float, float, float]:
        """True antenna position (east, north, up) [m] in map: base_link pose plus the lever arm."""
        ax, ay, az = self.type.gnss_antenna_m
        c, s = math.cos(truth.yaw), math.sin(truth.yaw)
        return truth.x + c * ax - s * ay, truth.y + s * ax + c * ay, az

    def _available_mode(self, t: float, east: float, north: float) -> tuple[str, GnssZone | None]:
        """(best mode the sky allows, zone at the antenna or None)."""
        zone = self.world.gnss_zone_at(east, north)
        if self._forced is not None and self._forced_until is not None and t >= self._forced_until:
            self._forced = self._forced_until = None
        if self._forced is not None:
            return self._forced, zone
        return (zone.mode if zone is not None else "rtk_fixed"), zone

    def _receiver_mode(self, t: float, available: str) -> str:
        """Solution reported at t, with the float-before-fixed re-convergence after a loss of fix."""
        if self._forced == "rtk_fixed":
            self._fixed_lost = False
            self._fixed_ready_t = -math.inf
            return "rtk_fixed"
        if available != "rtk_fixed":
            self._fixed_lost = True
            return available
        if self._fixed_lost:
            self._fixed_lost = False
            self._fixed_ready_t = t + self.cfg.gnss_refix_time_s
        return "rtk_fixed" if t + _EPS_S >= self._fixed_ready_t else "rtk_float"

    def _sample_gnss(self, t: float, truth: CarrierState) -> None:
        cfg = self.cfg
        dt = self._gnss.period_s
        noise = self._rng["gnss_noise"]
        for m, (_, _, tau, _) in self._gm.items():  # every process evolves every epoch (fixed draw count)
            phi = math.exp(-dt / tau)
            self._gm_state[m] = phi * self._gm_state[m] + math.sqrt(1.0 - phi * phi) * noise.standard_normal(3)
        lat_rng = self._rng["gnss_latency"]
        latency = float(lat_rng.uniform(cfg.gnss_latency_min_s, cfg.gnss_latency_max_s))
        mp = self._rng["gnss_multipath"]
        mp_draws = mp.random(4).tolist()  # event?, magnitude, direction, duration: fixed draw count per epoch
        white = self._rng["gnss_white"].standard_normal(2).tolist()  # own stream: a white part changes no other draw

        east, north, up = self.antenna_enu(truth)
        available, zone = self._available_mode(t, east, north)
        self.mode = mode = self._receiver_mode(t, available)
        status, cov_type = status_for_mode(mode)

        ended = self._mp_offset is not None and (t + _EPS_S >= self._mp_end_t or zone is None
                                                 or zone.id != self._mp_zone)
        if ended:  # a new event may start from the next epoch on, so every event is seen on its own
            self._mp_offset = None
        if (not ended and self._mp_offset is None and zone is not None and zone.multipath_rate_hz > 0.0
                and mp_draws[0] < 1.0 - math.exp(-zone.multipath_rate_hz * dt)):
            lo, hi = zone.multipath_jump_m
            magnitude = lo + (hi - lo) * mp_draws[1]
            direction = 2.0 * math.pi * mp_draws[2]
            self._mp_offset = (magnitude * math.cos(direction), magnitude * math.sin(direction))
            self._mp_end_t = t + cfg.multipath_min_duration_s + \
                (cfg.multipath_max_duration_s - cfg.multipath_min_duration_s) * mp_draws[3]
            self._mp_zone = zone.id

        release = max(t + latency, self._last_gnss_release)
        self._last_gnss_release = release
        if mode == "none":
            self._release(release, GnssFix(t, math.nan, math.nan, math.nan, status, COVARIANCE_TYPE_UNKNOWN,
                                           (0.0,) * 9, mode, False))
            return
        sigma_h, sigma_u, _, sigma_w = self._gm[mode]
        err = self._gm_state[mode].tolist()
        east += sigma_h * err[0] + sigma_w * white[0]
        north += sigma_h * err[1] + sigma_w * white[1]
        up += sigma_u * err[2]
        multipath = self._mp_offset is not None
        if multipath:
            east += self._mp_offset[0]
            north += self._mp_offset[1]
        lat, lon, alt = self.world.frame.geodetic_from_enu(east, north, up)
        var_h = cfg.reported_sigma(mode) ** 2
        cov = (var_h, 0.0, 0.0, 0.0, var_h, 0.0, 0.0, 0.0, (sigma_u * cfg.gnss_reported_sigma_scale) ** 2)
        self._release(release, GnssFix(t, float(lat), float(lon), float(alt), status, cov_type, cov, mode, multipath))

    def _sample_heading(self, t: float, truth: CarrierState) -> None:
        cfg = self.cfg
        rng = self._rng["gnss_heading"]
        noise = float(rng.standard_normal())
        latency = float(rng.uniform(cfg.gnss_latency_min_s, cfg.gnss_latency_max_s))
        if self.mode not in ("rtk_fixed", "rtk_float"):
            return
        yaw = math.remainder(truth.yaw + cfg.gnss_heading_sigma_rad * noise, 2.0 * math.pi)
        release = max(t + latency, self._last_heading_release)
        self._last_heading_release = release
        self._release(release, GnssHeading(t, yaw, cfg.gnss_heading_sigma_rad))

    def _sample_odom(self, t: float, truth: CarrierState) -> None:
        cfg = self.cfg
        n = self._rng["odom"].standard_normal(2).tolist()
        moving = abs(truth.speed_mps) > 0.01
        vx = truth.speed_mps * (1.0 + cfg.odom_scale_error) + (cfg.odom_speed_sigma_mps * n[0] if moving else 0.0)
        wz = truth.yaw_rate_radps * (1.0 + cfg.odom_yaw_rate_scale_error)
        if moving:
            wz += cfg.odom_yaw_rate_bias_radps + cfg.odom_yaw_rate_sigma_radps * n[1]
        half_l = self.type.wheelbase_m / 2.0
        if self._odom_prev is not None:  # trapezoidal dead reckoning from the previous sample
            t0, vx0, wz0 = self._odom_prev
            dt = t - t0
            ds, dyaw = 0.5 * (vx0 + vx) * dt, 0.5 * (wz0 + wz) * dt
            self._odom_pose = advance_base_link(*self._odom_pose, ds, dyaw, half_l)
            self._odom_distance_m += abs(ds)
            self._odom_turned_rad += abs(dyaw)
            if moving:
                self._odom_moving_s += dt
        self._odom_prev = (t, vx, wz)
        var_v = cfg.odom_speed_sigma_mps ** 2 + (cfg.odom_scale_error * vx) ** 2
        var_w = cfg.odom_yaw_rate_sigma_radps ** 2 + cfg.odom_yaw_rate_bias_radps ** 2 \
            + (cfg.odom_yaw_rate_scale_error * wz) ** 2
        planar = 1e-6  # z, roll and pitch rates on flat ground: known to be ~0
        twist_cov = _diag36((var_v, half_l ** 2 * var_w, planar, planar, planar, var_w))
        sigma_xy = cfg.odom_pose_sigma_fraction * self._odom_distance_m + 0.001
        sigma_yaw = abs(cfg.odom_yaw_rate_bias_radps) * self._odom_moving_s \
            + abs(cfg.odom_yaw_rate_scale_error) * self._odom_turned_rad + 0.001
        pose_cov = _diag36((sigma_xy ** 2, sigma_xy ** 2, planar, planar, planar, sigma_yaw ** 2))
        x, y, yaw = self._odom_pose
        self._release(t + cfg.odom_latency_s, WheelOdom(t, vx, wz, x, y, yaw, twist_cov, pose_cov, wz * half_l))

    def _sample_imu(self, t: float, truth: CarrierState) -> None:
        cfg = self.cfg
        rng = self._rng["imu"]
        n = rng.standard_normal(6).tolist()
        walk = rng.standard_normal(3)
        if self._imu_prev_t is not None and t > self._imu_prev_t:
            self._gyro_bias = self._gyro_bias + walk * cfg.imu_gyro_bias_walk_radps_sqrt_s * math.sqrt(
                t - self._imu_prev_t)
        self._imu_prev_t = t
        w, alpha, v = truth.yaw_rate_radps, self._yaw_accel, truth.speed_mps
        c = self.type.wheelbase_m / 2.0
        # base_link (deck centre) acceleration in body axes: body velocity (v, w*c) in a frame turning at w
        ax0, ay0 = truth.accel_mps2 - w * w * c, alpha * c + w * v
        rx, ry, _ = self.type.imu_m  # rigid-body transfer to the IMU: alpha x r - w^2 r
        ax = ax0 - alpha * ry - w * w * rx
        ay = ay0 + alpha * rx - w * w * ry
        gb, ab = self._gyro_bias.tolist(), self._accel_bias.tolist()
        gs, acs = cfg.imu_gyro_sigma_radps, cfg.imu_accel_sigma_mps2
        self._release(t + cfg.imu_latency_s, ImuSample(
            t, gb[0] + gs * n[0], gb[1] + gs * n[1], w + gb[2] + gs * n[2],
            ax + ab[0] + acs * n[3], ay + ab[1] + acs * n[4], GRAVITY_MPS2 + ab[2] + acs * n[5],
            gs * gs, acs * acs))

    def bay_in_range(self, x: float, y: float) -> str | None:
        """Id of the nearest crane-served carrier bay whose measuring range covers base_link at (x, y), or None."""
        cfg = self.cfg
        best, best_d = None, math.inf
        for b in self._bays:
            dx, dy = x - b.pose.x, y - b.pose.y
            c, s = math.cos(b.pose.yaw), math.sin(b.pose.yaw)
            along, across = c * dx + s * dy, -s * dx + c * dy
            if abs(along) <= cfg.bay_positioning_range_along_m and abs(across) <= cfg.bay_positioning_range_across_m:
                d = math.hypot(dx, dy)
                if d < best_d:
                    best, best_d = b.id, d
        return best

    def _sample_bay(self, t: float, truth: CarrierState) -> None:
        cfg = self.cfg
        n = self._rng["bay_positioning"].standard_normal(3).tolist()  # fixed draw count per epoch
        bay = self.bay_in_range(truth.x, truth.y)
        if bay is None:
            return
        sig, sig_yaw = cfg.bay_positioning_sigma_m, cfg.bay_positioning_yaw_sigma_rad
        release = max(t + cfg.bay_positioning_latency_s, self._last_bay_release)
        self._last_bay_release = release
        self._release(release, BayPose(t, truth.x + sig * n[0], truth.y + sig * n[1],
                                       math.remainder(truth.yaw + sig_yaw * n[2], 2.0 * math.pi), sig, sig_yaw, bay))
