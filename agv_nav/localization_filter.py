"""Carrier localization: an extended Kalman filter over GNSS/RTK, wheel odometry and gyro, fused at the stamps.

Method (details and the reasons in docs/localization.md):

* **State** ``s = [x, y, yaw, b_g, k_v, b_e, b_n, l_x, l_y, k_s]``: base_link position [m] and heading
  [rad] in ``map``, gyro z bias [rad/s], wheel odometry scale error [-], the slowly varying GNSS error
  [m] (first-order Gauss-Markov, Brown & Hwang ch. 4), the correction of the configured GNSS antenna
  lever arm [m] (estimated when ``estimate_lever_arm``), and the rear tyres' slip angle per lateral
  acceleration [rad per m/s^2] (the carrier's slip point moves forward as it corners faster).
* **Process model**: wheel speed and gyro rate are *inputs* (first-order hold between samples), as in
  strapdown dead reckoning (Groves ch. 14), with the Ackermann constraint (the slip point behind
  base_link has no lateral velocity). At a standstill a carrier cannot turn, and the gyro reads its bias
  (zero-angular-rate update). The covariance is propagated lazily, once per measurement, from exact
  interval sums (:mod:`agv_nav.dead_reckoning`): inputs cost a few scalar operations.
* **GNSS position update** at the antenna, ``h(s) = p + R(yaw) (l + dl) + b``. How much of a fix's
  variance is white and how much slow is *measured* from fix-to-fix increments (:mod:`agv_nav.gnss_noise`),
  not assumed. Gating (one helper for every update, :meth:`LocalizationFilter._gated_update`): a
  chi-square gate on the innovation, and, for GNSS, the increment tells a *jump* (multipath starting:
  the run of fixes it starts stays rejected while it continues, up to ``gnss_gate_recovery_s``) from a
  *drift* (fixes that agree with each other and with dead reckoning but not with the filter: the filter
  is wrong, and after ``gnss_drift_confirm_s`` it widens the pose, heading and lever arm and follows).
* **Bay positioning update** (a crane-mounted positioning system measuring base_link under a portal):
  ``h(s) = [x, y(, yaw)]`` without the GNSS error term; gated, with its own recovery.
* **Latency**: every input and measurement is an event in a time-ordered history with the filter
  state after it. Events are processed up to the *frontier* (the newest stamp every live input stream
  has reached, so the first-order hold always knows both ends); a late measurement is inserted at its
  stamp and the events after it are re-processed (exact, unlike extrapolating the measurement). Inputs are
  integrated on demand (an output or a measurement needs the state; at the latest half the history late), so
  a late fix and its heading re-run the inputs since their stamp once.
* **Robustness**: a step that would produce a non-finite or non-positive covariance is undone and
  counted; the state never goes NaN.

Pure Python + numpy, no rclpy, no clock: times are float seconds supplied by the caller.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import dead_reckoning as dr
from .dead_reckoning import (
    C_DFPSI,
    C_DFX,
    C_DFY,
    C_GYRO,
    C_GYRO_T,
    C_ODOM_RATE,
    C_ODOM_T,
    C_SPEED,
    C_STILL_N,
    C_STILL_SUM,
    C_T,
    IBE,
    IBG,
    IBN,
    IKS,
    IKV,
    ILX,
    ILY,
    IX,
    IY,
    IYAW,
    N_STATE,
)
from .gnss_noise import WhiteNoiseEstimate, increment_variance, split
from .gnss_trust import FixNoise
from .localization_params import LocalizationParams
from .pose_init import InitialPose, PoseInitializer, SpotPose

MIN_VAR = 1e-12  # floor on diagonal variances, keeps P positive definite
ZERO_RATE_BATCH = 10  # standstill gyro readings averaged per zero-rate update
_EYE = np.eye(N_STATE)
_DIAG = np.diag_indices(N_STATE)
SNAP_EVERY = 4  # a snapshot every this many input samples (a late event re-runs at most this many more)
RECOVERY_YAW_SIGMA = 0.5  # [rad] heading uncertainty after the gate gave up on the filter's own state
MAX_FIX_VARIANCE_M2 = 1e6  # [m^2] a fix claiming more is absurd
MAX_TIME_JUMP_S = 3600.0  # [s] an input this far past the newest one restarts the filter
MAX_BLIND_S = 3600.0  # [s] extrapolating further than this past the last input adds no more uncertainty
MAX_INCREMENT_GAP_S = 0.5  # [s] consecutive fixes further apart are not compared (jump test, noise estimate)
TURNED_RAD = 0.02  # [rad] turned during a drift of the fixes: the lever arm may be what is wrong
MAX_LEVER_VAR = 9.0  # [m^2] the lever arm is never widened beyond 3 m
LAZY_BACKLOG = 0.5  # inputs are integrated on demand (output, measurement), at the latest this share of history_s late

MODES = ("rtk_fixed", "rtk_float", "single")
_MODE_INDEX = {m: i for i, m in enumerate(MODES)}

# GNSS memory layout (a flat list, copied with every snapshot)
(G_BIAS_VAR, G_BIAS_TAU, G_LAST_FIX_T, G_LAST_SEEN_T, G_LAST_BAY_T, G_PREV_T, G_PREV_E, G_PREV_N,
 G_WHITE) = range(9)  # G_WHITE..: per mode (variance, weight)
G_RUN = G_WHITE + 2 * len(MODES)  # runs of rejections per stream: since, kind, first e, n, last e, n, yaw at start
RUN_FIELDS = 7
RUN_GNSS, RUN_BAY, RUN_HEADING = (G_RUN + i * RUN_FIELDS for i in range(3))
G_TURN_REC = G_RUN + 3 * RUN_FIELDS  # drift recoveries while turning (lever arm diagnostics)
G_TRACK_SINCE = G_TURN_REC + 1  # first fix of the track the filter follows (start, or the last recovery)
# the track left by the last recovery that moved the pose: when, the innovation that moved it, that track's start
G_LEFT_T, G_LEFT_E, G_LEFT_N, G_LEFT_SINCE = range(G_TRACK_SINCE + 1, G_TRACK_SINCE + 5)
N_G = G_LEFT_SINCE + 1
RUN_NONE, RUN_DRIFT, RUN_JUMP = 0.0, 1.0, 2.0


def wrap(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


# ----------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class OdomSample:
    """Wheel odometry twist of base_link at its stamp."""

    t: float  # [s]
    speed_mps: float  # linear.x
    yaw_rate_radps: float  # angular.z (used only while the gyro is silent)


@dataclass(frozen=True)
class GyroSample:
    """IMU gyro z (yaw rate) at its stamp."""

    t: float  # [s]
    yaw_rate_radps: float


@dataclass(frozen=True)
class GnssPosition:
    """A usable GNSS fix: antenna position in ``map`` at the measurement time, with its noise."""

    t: float  # [s]
    east_m: float
    north_m: float
    noise: FixNoise


@dataclass(frozen=True)
class GnssNoFix:
    """The receiver says it has no solution (starts a new GNSS error model when fixes return)."""

    t: float


@dataclass(frozen=True)
class GnssHeading:
    """Dual-antenna heading of base_link x in ``map`` (ENU yaw)."""

    t: float  # [s]
    yaw_rad: float
    variance: float  # [rad^2]


@dataclass(frozen=True)
class BayPosition:
    """Bay positioning (crane-mounted): base_link position, and yaw when ``yaw_variance`` is finite, in ``map``."""

    t: float  # [s]
    x: float  # [m]
    y: float
    cov_xy: tuple[float, float, float, float]  # 2x2 row-major [m^2]
    yaw: float = 0.0  # [rad]
    yaw_variance: float = math.inf  # [rad^2]; inf = yaw not measured


@dataclass(frozen=True)
class Outcome:
    """What became of one input: used or not, why, and the normalised innovation squared."""

    accepted: bool
    reason: str = ""  # rejection key ('gate', 'stale', ...) or '' when accepted
    nis: float = math.nan


_ACCEPTED = Outcome(True)
_RECOVERED = ("recovered", "returned")  # taken after widening the covariance (returned: back to a track left)
PENDING = Outcome(True, "pending")
"""What ``add`` returns for a measurement stamped beyond the newest inputs: it is decided (and counted) once
the inputs around it have arrived."""


@dataclass
class Estimate:
    """Filter output at time ``t``: base_link pose and twist with covariances."""

    t: float
    x: float
    y: float
    yaw: float
    vx: float  # [m/s] in base_link
    vy: float
    wz: float  # [rad/s]
    pose_cov: np.ndarray  # (3, 3) over x, y, yaw
    twist_cov: np.ndarray  # (3, 3) over vx, vy, wz
    state: np.ndarray = field(repr=False)
    P: np.ndarray = field(repr=False)


STREAM_OF = {OdomSample: "odom/wheel", GyroSample: "imu/data", GnssPosition: "gnss/fix",
             GnssNoFix: "gnss/fix no-fix", GnssHeading: "gnss/heading",
             BayPosition: "bay_positioning/pose"}
"""Counter keys of each input kind: '<stream> accepted' / '<stream> rejected: <reason>'."""
K_ODOM, K_GYRO, K_FIX, K_NOFIX, K_HEADING, K_BAY = range(6)
STREAM_NAMES = ("odom/wheel", "imu/data", "gnss/fix", "gnss/fix no-fix", "gnss/heading", "bay_positioning/pose")
_ACCEPTED_KEY = tuple(f"{s} accepted" for s in STREAM_NAMES)
_KIND = {OdomSample: K_ODOM, GyroSample: K_GYRO, GnssPosition: K_FIX, GnssNoFix: K_NOFIX, GnssHeading: K_HEADING,
         BayPosition: K_BAY}


# ------------------------------------------------------------------------ internal
class _State:
    """Everything the filter knows at one instant: cursor (state, sums, held inputs), GNSS memory, covariance.

    A snapshot is kept after every event, so copies are cheap: the cursor is copied, while the GNSS memory
    (changed only by measurements, which call :meth:`own_g` first) and the covariance (always replaced,
    never changed in place) are shared until changed.
    """

    __slots__ = ("c", "g", "P", "mode")

    def __init__(self, c: list[float], g: list[float], P: np.ndarray, mode: str):
        self.c, self.g, self.P, self.mode = c, g, P, mode

    def copy(self) -> _State:
        return _State(self.c[:], self.g, self.P, self.mode)

    def own_g(self) -> list[float]:
        """The GNSS memory, copied before this state changes it."""
        self.g = self.g[:]
        return self.g


class _Event:
    __slots__ = ("t", "seq", "kind", "data", "outcome", "snap", "counted")

    def __init__(self, t: float, seq: int, kind: int, data):
        self.t, self.seq, self.kind, self.data = t, seq, kind, data
        self.outcome: Outcome | None = None  # decided on first processing, kept on re-processing
        self.snap: _State | None = None
        self.counted = False

    @property
    def key(self) -> tuple[float, int]:
        return (self.t, self.seq)


def _new_gnss_memory(p: LocalizationParams) -> list[float]:
    g = [0.0] * N_G
    g[G_BIAS_TAU] = p.gnss_bias_time_constant_fixed_s
    g[G_LAST_FIX_T] = g[G_LAST_SEEN_T] = g[G_LAST_BAY_T] = g[G_PREV_T] = g[G_TRACK_SINCE] = g[G_LEFT_T] = -math.inf
    for run in (RUN_GNSS, RUN_BAY, RUN_HEADING):
        g[run] = math.inf
    return g


class LocalizationFilter:
    """EKF with a history for late measurements. Feed it with ``add``; read it with ``estimate``."""

    def __init__(self, p: LocalizationParams, lever_arm_xy: tuple[float, float], rear_axle_x_m: float,
                 spots: list[SpotPose] | tuple[SpotPose, ...] = ()):
        self.p = p
        self.lever = (float(lever_arm_xy[0]), float(lever_arm_xy[1]))
        self.d_rear = -float(rear_axle_x_m)
        self.kin = dr.Kinematics(p, self.d_rear)
        self.init = PoseInitializer(p, lever_arm_xy, rear_axle_x_m, spots)
        self.counts: Counter[str] = Counter()  # see STREAM_OF; also gnss_recovered, numerical_fault
        self.recent_nis: deque[float] = deque(maxlen=100)
        self.gyro_period_s = 0.01  # [s] measured sample periods (for per-sample noise from densities)
        self.odom_period_s = 0.02
        self._last_input_t = [-math.inf, -math.inf]
        self.initial_pose: InitialPose | None = None
        self.reset()

    # ----------------------------------------------------------------- lifecycle
    def reset(self) -> None:
        """Forget the pose and the history: the filter initialises again from what comes next."""
        self.init.reset()
        self._events: list[_Event] = []
        self._keys: list[tuple[float, int]] = []
        self._done = 0  # events[:done] are processed (each has its snapshot)
        self._held_from = math.inf  # first event processed beyond the frontier (with an input held)
        self._base: _State | None = None
        self._seq = 0
        self._latest_t = -math.inf
        self._newest_input = [-math.inf, -math.inf]  # odom, gyro stamps
        self.initial_pose = None
        self.resets = getattr(self, "resets", -1) + 1

    @property
    def initialised(self) -> bool:
        return self._base is not None

    @property
    def latest_t(self) -> float:
        """Newest stamp the filter has seen [s]."""
        return self._latest_t

    # ---------------------------------------------------------------------- input
    def add(self, m: OdomSample | GyroSample | GnssPosition | GnssNoFix | GnssHeading | BayPosition) -> Outcome:
        """Fuse one input or measurement at its stamp. Never raises on bad numbers; never goes NaN."""
        kind = _KIND.get(type(m))
        if kind is None:
            return self._count(type(m).__name__, Outcome(False, "absurd"))
        bad = _input_fault(m, kind, self.p) if kind <= K_GYRO else \
            ("not_finite" if not _finite(m) else "absurd" if not self._plausible(m) else None)
        if bad is not None:
            return self._count(STREAM_NAMES[kind], Outcome(False, bad))
        stream = STREAM_NAMES[kind]
        if m.t - self._latest_t > MAX_TIME_JUMP_S and math.isfinite(self._latest_t):
            self.counts["time_jump_reset"] += 1  # everything known is hours old: start afresh
            self.reset()
        if m.t < self._latest_t - self.p.history_s:
            return self._count(stream, Outcome(False, "stale"))
        if self.initialised and m.t < self._base.c[C_T]:
            return self._count(stream, Outcome(False, "stale"))
        self._track_period(kind, m.t)
        self._latest_t = max(self._latest_t, m.t)
        ev = _Event(m.t, self._seq, kind, m)
        self._seq += 1
        key = ev.key
        if not self._keys or key > self._keys[-1]:
            i = len(self._events)
            self._events.append(ev)
            self._keys.append(key)
        else:
            i = bisect_right(self._keys, key)
            self._events.insert(i, ev)
            self._keys.insert(i, key)
        if kind <= K_GYRO:
            self._newest_input[kind] = max(self._newest_input[kind], m.t)
            ev.outcome = _ACCEPTED
        if not self.initialised:
            outcome = self._count(stream, self._feed_initializer(m))
            ev.counted = True
        else:
            if i < self._done:
                self._done = i  # a late event: re-process from its stamp
            if kind <= K_GYRO and self._held_from < self._done:
                self._done = self._held_from  # events processed with this input held: now it is known
            if kind > K_GYRO:
                # A measurement is decided at once, from the inputs before its stamp. The inputs after it (and new
                # inputs) are integrated when an output or the next measurement needs them: a late fix and its
                # heading re-run the inputs since their stamp once, not once each plus once per input in between.
                self._process(i + 1)
            elif self._done < len(self._events) and \
                    self._events[self._done].t < self._latest_t - LAZY_BACKLOG * self.p.history_s:
                self._process()  # nobody asked for an output for a while: keep the backlog (and the history) short
            if kind <= K_GYRO:
                self.counts[_ACCEPTED_KEY[kind]] += 1
                outcome = _ACCEPTED
            else:
                outcome = ev.outcome if ev.outcome is not None else PENDING
        self._trim()
        return outcome

    def _plausible(self, m) -> bool:
        """Magnitudes a carrier can produce (the node's InputScreen checks the same, with messages)."""
        p = self.p
        if isinstance(m, OdomSample):
            return abs(m.speed_mps) <= p.max_speed_mps and abs(m.yaw_rate_radps) <= p.max_yaw_rate_radps
        if isinstance(m, GyroSample):
            return abs(m.yaw_rate_radps) <= p.max_yaw_rate_radps
        if isinstance(m, GnssPosition):
            w = m.noise.white_cov
            return (math.hypot(m.east_m, m.north_m) <= p.max_distance_from_datum_m
                    and 0.0 < w[0, 0] <= MAX_FIX_VARIANCE_M2 and 0.0 < w[1, 1] <= MAX_FIX_VARIANCE_M2
                    and w[0, 0] * w[1, 1] > w[0, 1] * w[1, 0] and 0.0 <= m.noise.bias_var_m2 <= MAX_FIX_VARIANCE_M2
                    and m.noise.bias_time_constant_s > 0.0)
        if isinstance(m, GnssHeading):
            return abs(m.yaw_rad) <= 4.0 * math.pi and 0.0 < m.variance <= math.pi**2
        if isinstance(m, BayPosition):
            a, b, c, d = m.cov_xy
            return (math.hypot(m.x, m.y) <= p.max_distance_from_datum_m and 0.0 < a <= MAX_FIX_VARIANCE_M2
                    and 0.0 < d <= MAX_FIX_VARIANCE_M2 and a * d > b * c and abs(m.yaw) <= 4.0 * math.pi
                    and m.yaw_variance > 0.0)
        return True

    def _track_period(self, kind: int, t: float) -> None:
        """Running estimate of the gyro and odometry sample periods (per-sample noise = density^2 / period)."""
        if kind > K_GYRO:
            return
        last = self._last_input_t[kind]
        if 1e-4 < t - last < 1.0:
            if kind == K_GYRO:
                self.gyro_period_s = 0.95 * self.gyro_period_s + 0.05 * (t - last)
            else:
                self.odom_period_s = 0.95 * self.odom_period_s + 0.05 * (t - last)
        self._last_input_t[kind] = t

    def _count(self, stream: str, outcome: Outcome) -> Outcome:
        if outcome.accepted:
            self.counts[f"{stream} accepted"] += 1
        else:
            self.counts[f"{stream} rejected: {outcome.reason}"] += 1
        return outcome

    def _trim(self) -> None:
        """Forget processed events older than the history; the last one forgotten becomes the base."""
        horizon = self._latest_t - self.p.history_s
        if not self._events or self._events[0].t >= horizon:
            return
        drop = 0
        limit = min(len(self._events) - 1, self._done) if self.initialised else len(self._events) - 1
        while drop < limit and self._events[drop].t < horizon:
            drop += 1
        if self.initialised:
            while drop > 0 and self._events[drop - 1].snap is None:
                drop -= 1  # the new base must be a snapshot
        if drop:
            if self.initialised:
                self._base = self._events[drop - 1].snap
                self._done -= drop
                self._held_from -= drop
            del self._events[:drop]
            del self._keys[:drop]

    # ----------------------------------------------------------- initialisation
    def _feed_initializer(self, m) -> Outcome:
        pose = None
        if isinstance(m, OdomSample):
            self.init.add_odometry(m.t, m.speed_mps, m.yaw_rate_radps)
        elif isinstance(m, GyroSample):
            self.init.add_gyro(m.t, m.yaw_rate_radps)
        elif isinstance(m, GnssPosition):
            pose = self.init.add_fix(m.t, np.array([m.east_m, m.north_m]), m.noise)
        elif isinstance(m, GnssHeading):
            pose = self.init.add_heading(m.t, m.yaw_rad, m.variance)
        elif isinstance(m, BayPosition) and math.isfinite(m.yaw_variance):
            bias, bias_var = self.init.gyro_bias()  # gyro bias from any standstill so far
            cov = np.zeros((3, 3))
            cov[:2, :2] = np.asarray(m.cov_xy, dtype=float).reshape(2, 2)
            cov[2, 2] = m.yaw_variance
            pose = InitialPose(m.t, m.x, m.y, m.yaw, cov, bias, bias_var, "bay_positioning")
        if pose is not None:
            self._start(pose)
            return Outcome(True, nis=math.nan)
        if isinstance(m, (OdomSample, GyroSample)):
            return _ACCEPTED
        return Outcome(False, "initialising") if isinstance(m, (GnssPosition, GnssHeading, BayPosition)) \
            else _ACCEPTED

    def _start(self, pose: InitialPose) -> None:
        """Start the filter at the initial pose and process the events after it."""
        p = self.p
        c = dr.new_cursor()
        c[IX], c[IY], c[IYAW] = pose.x, pose.y, pose.yaw
        c[IBG] = pose.gyro_bias
        c[C_T] = pose.t
        P = np.zeros((N_STATE, N_STATE))
        P[:3, :3] = pose.cov
        P[IBG, IBG] = pose.gyro_bias_var
        P[IKV, IKV] = p.wheel_scale_sigma**2
        var_l = max(p.gnss_antenna_sigma_m**2 if p.estimate_lever_arm else 0.0, MIN_VAR)
        P[ILX, ILX] = P[ILY, ILY] = var_l
        if pose.gnss_error_cov > 0.0 or pose.source in ("gnss_heading", "motion") or pose.source.startswith("spot"):
            # base_link was placed the lever arm back from the antenna: its error includes the lever arm's
            rot = np.array([[math.cos(pose.yaw), -math.sin(pose.yaw)], [math.sin(pose.yaw), math.cos(pose.yaw)]])
            P[:2, :2] += rot @ rot.T * var_l
            P[:2, ILX:ILY + 1] = -rot * var_l
            P[ILX:ILY + 1, :2] = -rot.T * var_l
        P[IKS, IKS] = max(p.rear_slip_sigma**2, MIN_VAR)
        g = _new_gnss_memory(p)
        mode = "none"
        for e in self._events:  # inputs in effect at the initial stamp
            if e.t > pose.t:
                break
            self._hold(c, e)
        fix = next((e.data for e in reversed(self._events) if e.t <= pose.t and e.kind == K_FIX), None)
        if fix is not None:
            mode = fix.noise.mode
            white, slow = self._noise_split(g, fix.noise)
            g[G_BIAS_VAR], g[G_BIAS_TAU] = slow, fix.noise.bias_time_constant_s
            P[IBE, IBE] = P[IBN, IBN] = max(slow, MIN_VAR)
            # The initial position carries this fix's slow error: its error is minus the error state's. The
            # share is capped so that the joint covariance stays positive semi-definite: c^2 / var(bias) may
            # not exceed the smallest variance of the position given the yaw.
            pos_given_yaw = P[:2, :2] - np.outer(P[:2, IYAW], P[:2, IYAW]) / max(P[IYAW, IYAW], MIN_VAR)
            cap = math.sqrt(max(float(np.linalg.eigvalsh(pos_given_yaw)[0]), 0.0) * P[IBE, IBE])
            share = pose.gnss_error_cov * slow / max(fix.noise.bias_var_m2, MIN_VAR) if fix.noise.bias_var_m2 > 0 \
                else 0.0
            shared = -min(share, cap)
            P[IX, IBE] = P[IBE, IX] = P[IY, IBN] = P[IBN, IY] = shared
            g[G_LAST_FIX_T] = g[G_LAST_SEEN_T] = g[G_PREV_T] = g[G_TRACK_SINCE] = fix.t
            g[G_PREV_E], g[G_PREV_N] = fix.east_m, fix.north_m
        else:
            P[IBE, IBE] = P[IBN, IBN] = MIN_VAR
        self.initial_pose = pose
        self._base = _State(c, g, P, mode)
        first = bisect_right(self._keys, (pose.t, math.inf))
        for e in self._events[:first]:
            e.outcome = e.outcome or _ACCEPTED
            e.counted = True
        del self._events[:first]
        del self._keys[:first]
        self._done = 0
        self._process()

    # ----------------------------------------------------------------- history
    def _frontier(self) -> float:
        """Newest stamp up to which events can be processed: every live input stream has reached it."""
        odom, gyro = self._newest_input
        newest = max(odom, gyro)
        if not math.isfinite(newest) or self._latest_t - newest > self.p.input_timeout_s:
            return self._latest_t  # no live inputs: measurements alone move the filter on
        live_floor = newest - self.p.input_timeout_s
        return min(t for t in (odom, gyro) if t >= live_floor)

    def _process(self, until: int | None = None) -> None:
        """Process events from ``_done`` up to the frontier (and before index ``until``), from the last snapshot
        before them.

        A measurement stamped beyond the frontier (it came earlier than the inputs around it) is processed
        at once with the inputs held, so that it is decided now; an input that arrives later with an earlier
        stamp is then inserted before it and the measurement re-processed, as any late event. Runs of input
        samples go through ``dead_reckoning.run`` (the hot loop), which keeps a snapshot every ``SNAP_EVERY``
        samples; measurements always get one.
        """
        events = self._events
        i, n = self._done, len(events)
        if i >= n:
            return
        frontier = self._frontier()
        end = n
        while end > i and events[end - 1].kind <= K_GYRO and events[end - 1].t > frontier:
            end -= 1  # inputs beyond the frontier wait for the next sample of the other stream
        if until is not None:
            end = min(end, until)
        if end <= i:
            return
        j = i
        while j > 0 and events[j - 1].snap is None:
            j -= 1  # back to the last snapshot
        start = j
        st = (events[j - 1].snap if j > 0 else self._base).copy()
        kin = self.kin
        nxt_odom, nxt_gyro = self._next_inputs(start)
        while j < end:
            e = events[j]
            if e.kind <= K_GYRO:
                r = j
                while r < end and events[r].kind <= K_GYRO:
                    r += 1
                stops = []
                for k in range(j, r):
                    ev = events[k]
                    d = ev.data
                    if ev.kind == K_ODOM:
                        stops.append((ev.t, dr.HOLD_ODOM, d.speed_mps, d.yaw_rate_radps, nxt_odom[k - start],
                                      nxt_gyro[k - start]))
                    else:
                        stops.append((ev.t, dr.HOLD_GYRO, d.yaw_rate_radps, 0.0, nxt_odom[k - start],
                                      nxt_gyro[k - start]))
                done, snaps = dr.run(st.c, kin, stops, SNAP_EVERY, stop_at_standstill_gyro=True)
                for k in range(done):
                    snap = snaps.get(k)
                    events[j + k].snap = None if snap is None else _State(snap, st.g, st.P, st.mode)
                j += done
                last = events[j - 1]
                if last.kind == K_GYRO and kin.standing_still(st.c, last.t):
                    self._zero_rate_update(st, last.data)  # at a standstill the gyro reads its bias
                    last.snap = st.copy()
            else:
                self._advance(st, e.t, nxt_odom[j - start], nxt_gyro[j - start])
                self._apply(st, e)
                if not e.counted:
                    e.counted = True
                    self._count(STREAM_NAMES[e.kind], e.outcome)
                e.snap = st.copy()
                j += 1
        self._done = end
        held = bisect_right(self._keys, (frontier, math.inf), i, end)
        self._held_from = held if held < end else math.inf

    def _next_inputs(self, i: int) -> tuple[list, list]:
        """For each event from i on: (stamp, value) of the first odometry and gyro sample at or after it."""
        events = self._events
        n = len(events)
        odom = gyro = None
        no: list = [None] * (n - i)
        ng: list = [None] * (n - i)
        for j in range(n - 1, i - 1, -1):
            e = events[j]
            if e.kind == K_ODOM:
                odom = (e.t, e.data.speed_mps)
            elif e.kind == K_GYRO:
                gyro = (e.t, e.data.yaw_rate_radps)
            no[j - i] = odom
            ng[j - i] = gyro
        return no, ng

    def _advance(self, st: _State, t: float, next_odom, next_gyro) -> None:
        if t > st.c[C_T]:
            dr.advance(st.c, self.kin, t, next_odom, next_gyro)

    @staticmethod
    def _hold(c: list[float], e: _Event) -> None:
        if e.kind == K_ODOM:
            c[C_SPEED], c[C_ODOM_RATE], c[C_ODOM_T] = e.data.speed_mps, e.data.yaw_rate_radps, e.t
        elif e.kind == K_GYRO:
            c[C_GYRO], c[C_GYRO_T] = e.data.yaw_rate_radps, e.t

    def _apply(self, st: _State, e: _Event) -> None:
        """A measurement event (inputs are handled inline by _process)."""
        st.own_g()
        kind = e.kind
        if kind == K_FIX:
            e.outcome = self._gnss_update(st, e.data, e.outcome)
        elif kind == K_HEADING:
            e.outcome = self._heading_update(st, e.data, e.outcome)
        elif kind == K_BAY:
            e.outcome = self._bay_update(st, e.data, e.outcome)
        elif kind == K_NOFIX:
            st.mode = "none"
            st.g[G_PREV_T] = -math.inf
            e.outcome = e.outcome or _ACCEPTED

    # ------------------------------------------------------------- covariance
    def _cov(self, st: _State) -> np.ndarray:
        """Materialise the covariance at the cursor's time and start new sums from it."""
        g = st.g
        P = dr.covariance(st.c, st.P, self.kin, g[G_BIAS_VAR], g[G_BIAS_TAU])
        if P is not st.P:
            st.P = 0.5 * (P + P.T)
            dr.decay_gnss_error(st.c, st.c[dr.C_TT], g[G_BIAS_TAU])  # its mean decays as its covariance does
            dr.anchor(st.c)
        return st.P

    def _set_state(self, st: _State, s: np.ndarray) -> None:
        c = st.c
        c[:N_STATE] = s.tolist()
        c[IYAW] = wrap(c[IYAW])

    def _update(self, st: _State, H: np.ndarray, innov: np.ndarray, R: np.ndarray,
                stats: tuple[np.ndarray, np.ndarray] | None = None) -> bool:
        """Joseph-form update; undone (returns False) if it would break P. ``stats``: (P H', S^-1) if known."""
        P = self._cov(st)
        PHt, S_inv = stats if stats is not None else _innovation_stats(P, H, R)
        if S_inv is None:
            self.counts["numerical_fault"] += 1
            return False
        K = PHt @ S_inv
        s_new = np.array(st.c[:N_STATE]) + K @ innov
        IKH = _EYE - K @ H
        P_new = IKH @ P @ IKH.T + K @ R @ K.T
        P_new = 0.5 * (P_new + P_new.T)
        diag = P_new.diagonal()
        if not (math.isfinite(float(s_new.sum())) and math.isfinite(float(diag.sum()))
                and math.isfinite(float(P_new.sum())) and diag.min() > 0.0):
            self.counts["numerical_fault"] += 1
            return False
        if diag.min() < MIN_VAR:
            P_new[_DIAG] = np.maximum(diag, MIN_VAR)
        self._set_state(st, s_new)
        st.P = P_new
        return True

    def _update_direct(self, st: _State, i: int, innov: float, r: float) -> bool:
        """Update with a direct measurement of state i (H = e_i): K = P e_i / (P_ii + r), P -= K P_i."""
        P = self._cov(st)
        s_ii = P[i, i] + r
        if not (math.isfinite(innov) and s_ii > 0.0):
            self.counts["numerical_fault"] += 1
            return False
        k = P[:, i] / s_ii
        s_new = np.array(st.c[:N_STATE]) + k * innov
        P_new = _symmetric(P - np.outer(k, P[i, :]))
        if not (np.all(np.isfinite(s_new)) and np.all(np.diag(P_new) > 0.0)):
            self.counts["numerical_fault"] += 1
            return False
        self._set_state(st, s_new)
        st.P = P_new
        return True

    # --------------------------------------------------------- gated updates
    def _gated_update(self, st: _State, run: int, t: float, measure: Callable, gate: float,
                      decided: Outcome | None, decide: Callable, recover: Callable | None = None,
                      always_decide: bool = False) -> Outcome:
        """The one gated update of every measurement kind.

        ``measure(st) -> (innovation, H, R)``. The first time a measurement is processed, one inside the
        chi-square ``gate`` is taken, unless ``always_decide``; otherwise ``decide(st, innovation, nis)``
        takes the stream's decision. A measurement decided ``recovered`` (the run of rejections says the
        filter, not the sensor, is wrong) first has ``recover(st, innovation)`` widen the covariance, on
        every re-processing too, and is then taken. The run of rejections of the stream (its start, first
        and latest innovation, heading at its start) lives in the snapshots, so re-processing a rejected
        measurement records it again.
        """
        P = self._cov(st)
        innov, H, R = measure(st)
        stats = _innovation_stats(P, H, R)
        if stats[1] is None:
            return Outcome(False, "numerical")
        nis = float(innov @ stats[1] @ innov)
        if not math.isfinite(nis):
            return Outcome(False, "numerical")
        if decided is None:
            decided = Outcome(True, "", nis) if nis <= gate and not always_decide else decide(st, innov, nis)
        if decided.reason in _RECOVERED:
            recover(st, innov)
            innov, H, R = measure(st)  # the recovery widened the covariance (or restarted the GNSS error)
            stats = None
        if not decided.accepted:
            if decided.reason == "gate":  # on every re-processing too
                self._note_rejection(st, run, t, innov)
            return decided
        if not self._update(st, H, innov, R, stats):
            return Outcome(False, "numerical", nis)
        self._end_run(st, run)
        return decided

    @staticmethod
    def _note_rejection(st: _State, run: int, t: float, innov: np.ndarray) -> None:
        """Extend the stream's run of rejections (its start, first and latest innovation) by this one."""
        g = st.g
        e, n = float(innov[0]), (float(innov[1]) if len(innov) > 1 else 0.0)
        if g[run] == math.inf:
            g[run], g[run + 2], g[run + 3], g[run + 6] = t, e, n, st.c[IYAW]
        g[run + 4], g[run + 5] = e, n

    @staticmethod
    def _end_run(st: _State, run: int) -> None:
        st.g[run] = math.inf
        st.g[run + 1] = RUN_NONE

    def _widen_pose_to(self, st: _State, d: np.ndarray, yaw_var: float, lever_var: float = 0.0,
                       lever_yaw: float = 0.0) -> None:
        """Recovery when the filter, not the sensor, is wrong: forget the pose's cross-correlations and widen
        its position covariance by the innovation d; the heading's variance becomes at least ``yaw_var``.

        ``lever_var`` > 0 (lever arm estimated): the lever arm may be off by that much, and then the position,
        taken from fixes while the carrier headed ``lever_yaw``, is off by minus that error turned by
        ``lever_yaw``: both are widened together, anti-correlated, so a turn can tell them apart.
        """
        P = self._cov(st).copy()
        keep = np.diag(P)[:3].copy()
        P[:3, :] = 0.0
        P[:, :3] = 0.0
        P[IX, IX], P[IY, IY], P[IYAW, IYAW] = keep
        P[IX:IY + 1, IX:IY + 1] += np.outer(d, d) + np.eye(2) * float(d @ d)
        P[IYAW, IYAW] = max(P[IYAW, IYAW], yaw_var)
        if lever_var > 0.0 and self.p.estimate_lever_arm:
            co, si = math.cos(lever_yaw), math.sin(lever_yaw)
            rot = np.array([[co, -si], [si, co]])
            P[IX:IY + 1, IX:IY + 1] += np.eye(2) * lever_var
            P[IX:IY + 1, ILX:ILY + 1] -= rot * lever_var
            P[ILX:ILY + 1, IX:IY + 1] -= rot.T * lever_var
            P[ILX, ILX] += lever_var
            P[ILY, ILY] += lever_var
        st.P = P

    # ------------------------------------------------------------------- GNSS
    def _noise_split(self, g: list[float], noise: FixNoise) -> tuple[float, float]:
        """(white, slow) variance per axis of a fix of this mode, from the white noise measured so far."""
        k = G_WHITE + 2 * _MODE_INDEX[noise.mode]
        if g[k + 1] <= 0.0:  # nothing measured yet for this mode: the prior, worth a few increments
            g[k], g[k + 1] = max(noise.prior_white_var, MIN_VAR), float(self.p.gnss_noise_prior_fixes)
        return split(noise.reported_var, g[k], self.p.gnss_slow_floor)

    def _antenna(self, c: list[float]) -> tuple[np.ndarray, np.ndarray]:
        """Predicted antenna position (with GNSS error) and its Jacobian H (2 x N)."""
        co, sn = math.cos(c[IYAW]), math.sin(c[IYAW])
        lx, ly = self.lever[0] + c[ILX], self.lever[1] + c[ILY]
        z = np.array([c[IX] + co * lx - sn * ly + c[IBE], c[IY] + sn * lx + co * ly + c[IBN]])
        H = np.zeros((2, N_STATE))
        H[0, IX] = H[1, IY] = H[0, IBE] = H[1, IBN] = 1.0
        H[0, IYAW] = -sn * lx - co * ly
        H[1, IYAW] = co * lx - sn * ly
        H[0, ILX], H[0, ILY], H[1, ILX], H[1, ILY] = co, -sn, sn, co
        return z, H

    def _dr_antenna_displacement(self, c: list[float]) -> tuple[float, float]:
        """How far dead reckoning moved the antenna since the last fix."""
        lx, ly = self.lever[0] + c[ILX], self.lever[1] + c[ILY]
        y1 = c[IYAW]
        y0 = y1 - c[C_DFPSI]
        dxr = (math.cos(y1) - math.cos(y0)) * lx - (math.sin(y1) - math.sin(y0)) * ly
        dyr = (math.sin(y1) - math.sin(y0)) * lx + (math.cos(y1) - math.cos(y0)) * ly
        return c[C_DFX] + dxr, c[C_DFY] + dyr

    def _restart_gnss_error(self, st: _State, slow: float) -> None:
        """A new solution (mode change, or fixes back after a gap): its slow error starts afresh."""
        P = self._cov(st).copy()
        st.c[IBE] = st.c[IBN] = 0.0
        P[[IBE, IBN], :] = 0.0
        P[:, [IBE, IBN]] = 0.0
        P[IBE, IBE] = P[IBN, IBN] = max(slow, MIN_VAR)
        st.P = P

    def _gnss_update(self, st: _State, m: GnssPosition, decided: Outcome | None) -> Outcome:
        p, c, g = self.p, st.c, st.g
        noise = m.noise
        # A new solution starts when the mode changes or the receiver was silent (not when we rejected it).
        new_solution = noise.mode != st.mode or m.t - g[G_LAST_SEEN_T] > p.gnss_timeout_s
        white, slow = self._noise_split(g, noise)
        self._cov(st)  # the interval so far with the previous noise model
        restarted = g[G_BIAS_VAR] if new_solution else 0.0  # the old solution's slow error, gone at once
        g[G_BIAS_VAR], g[G_BIAS_TAU] = slow, noise.bias_time_constant_s
        if new_solution:
            self._restart_gnss_error(st, slow)
            st.mode = noise.mode
        g[G_LAST_SEEN_T] = m.t
        z = (m.east_m, m.north_m)
        # Fix-to-fix increment against dead reckoning: a jump (multipath starting or ending) or not.
        increment = None
        gap = m.t - g[G_PREV_T]
        if gap <= MAX_INCREMENT_GAP_S:
            de, dn = self._dr_antenna_displacement(c)
            ie, in_ = z[0] - g[G_PREV_E] - de, z[1] - g[G_PREV_N] - dn
            var = increment_variance(white, slow, noise.bias_time_constant_s, gap, math.hypot(de, dn))
            var += (st.P[ILX, ILX] + st.P[ILY, ILY]) * c[C_DFPSI] ** 2 + restarted + (slow if restarted else 0.0)
            increment = (ie * ie + in_ * in_, var, gap)
        jump = increment is not None and increment[0] / increment[1] > p.gnss_jump_gate_chi2
        run_kind_before = g[RUN_GNSS + 1]
        R = np.eye(2) * white

        def measure(s: _State):
            zp, H = self._antenna(s.c)
            return np.array(z) - zp, H, R

        verdict = [decided]

        def decide(s: _State, innov: np.ndarray, nis: float) -> Outcome:
            verdict[0] = self._gnss_decision(s, m, innov, R, slow, nis, jump, increment is None)
            return verdict[0]

        def recover(s: _State, innov: np.ndarray) -> None:
            self._gnss_recover(s, innov, R, slow, m.t, verdict[0] is not None and verdict[0].reason == "returned")

        # While a multipath event goes on (a run started by a jump), every fix is judged by the decision: one that
        # did not jump back continues the event, whatever the gate says (the gate widens while fixes are rejected).
        first = decided is None
        out = self._gated_update(st, RUN_GNSS, m.t, measure, p.gnss_gate_chi2, decided, decide, recover,
                                 always_decide=run_kind_before == RUN_JUMP)
        if out.accepted:
            g[G_LAST_FIX_T] = m.t
            if first and math.isfinite(out.nis):
                self.recent_nis.append(out.nis)
        elif out.reason == "gate":
            if run_kind_before == RUN_NONE:  # a run without a known start (after a gap) may be multipath too
                g[RUN_GNSS + 1] = RUN_JUMP if (jump or increment is None) else RUN_DRIFT
            elif run_kind_before == RUN_DRIFT and jump:  # multipath starting within a drift
                g[RUN_GNSS], g[RUN_GNSS + 1] = m.t, RUN_JUMP
        # learn the white noise from every increment (clipped: a jump counts no more than a few ordinary ones)
        if increment is not None:
            k = G_WHITE + 2 * _MODE_INDEX[noise.mode]
            est = WhiteNoiseEstimate(g[k], g[k + 1]).updated(increment[0], increment[2], p.gnss_noise_window_s)
            g[k], g[k + 1] = est.var, est.weight
        g[G_PREV_T], g[G_PREV_E], g[G_PREV_N] = m.t, z[0], z[1]
        c[C_DFX] = c[C_DFY] = c[C_DFPSI] = 0.0
        return out

    def _gnss_decision(self, st: _State, m: GnssPosition, innov: np.ndarray, R: np.ndarray, slow: float, nis: float,
                       jump: bool, no_increment: bool) -> Outcome:
        """A fix outside the gate (or continuing a multipath event): reject, or trust it again (module docstring)."""
        p, g = self.p, st.g
        kind, since = g[RUN_GNSS + 1], g[RUN_GNSS]
        last = np.array([g[RUN_GNSS + 4], g[RUN_GNSS + 5]])
        if kind == RUN_JUMP and nis <= p.gnss_gate_chi2 and (jump or no_increment):
            return Outcome(True, "", nis)  # jumped back: the event is over
        spread = 3.0 * math.sqrt(R[0, 0] + slow) + 0.2
        if kind != RUN_DRIFT and m.t - g[G_LEFT_T] <= p.gnss_gate_recovery_s:
            # Back on the track the last recovery left, soon after: the track it followed was the outlier (a
            # multipath event that outlasted a young track); return at once rather than after another run.
            left = math.hypot(g[G_LEFT_E], g[G_LEFT_N])
            if math.hypot(innov[0] + g[G_LEFT_E], innov[1] + g[G_LEFT_N]) <= max(spread, 0.1 * left):
                self.counts["gnss_recovered"] += 1
                return Outcome(True, "returned", nis)
        if kind == RUN_JUMP:
            # A multipath event is short and the track before it long. Right after the start (or a recovery) the
            # track the filter follows may itself have been the outlier: the longer story wins, within the
            # recovery time, and not before gnss_young_track_s.
            story = since - g[G_TRACK_SINCE]
            lasting = m.t - since >= min(p.gnss_gate_recovery_s, max(story, p.gnss_young_track_s))
            if not (lasting and math.isfinite(last[0]) and float(np.linalg.norm(innov - last)) <= spread):
                return Outcome(False, "gate", nis)
        elif jump or kind == RUN_NONE or m.t - since < p.gnss_drift_confirm_s:
            return Outcome(False, "gate", nis)
        # The run lasted and its fixes agree: trust the receiver again.
        self.counts["gnss_recovered"] += 1
        return Outcome(True, "recovered", nis)

    def _gnss_recover(self, st: _State, innov: np.ndarray, R: np.ndarray, slow: float, t: float,
                      returned: bool = False) -> None:
        """Trust the receiver again after a run of rejections: restart its slow error, or widen the pose
        (``returned``: back to the track the last recovery left, whose story goes on)."""
        g = st.g
        kind = g[RUN_GNSS + 1]
        if returned:
            g[G_TRACK_SINCE], g[G_LEFT_T] = g[G_LEFT_SINCE], -math.inf
            self._widen_pose_to(st, innov, RECOVERY_YAW_SIGMA**2)
            return
        left_since = g[G_TRACK_SINCE]
        g[G_TRACK_SINCE] = g[RUN_GNSS]  # the track followed from now on began with the run
        if self._within_gnss_error(st, innov, R, slow):
            # The receiver's own slow error moved (a single solution wanders by metres; a multipath jump outlasted
            # the recovery time): its state, not the pose, starts afresh from the fix.
            self._restart_gnss_error(st, slow)
            self._end_run(st, RUN_GNSS)
        else:
            size = float(np.linalg.norm(innov))
            turned = abs(wrap(st.c[IYAW] - g[RUN_GNSS + 6]))
            lever_var = 0.0
            if kind == RUN_DRIFT and turned > TURNED_RAD:
                # Fixes drifting away while the carrier turns: a lever arm off by l moves the antenna by about
                # l x (angle turned), so that is how uncertain the lever arm has proved to be.
                g[G_TURN_REC] += 1.0
                lever_var = min((size / turned) ** 2, MAX_LEVER_VAR)
            yaw_var = min((size / max(math.hypot(*self.lever), 1.0)) ** 2, RECOVERY_YAW_SIGMA**2) \
                if kind == RUN_DRIFT else RECOVERY_YAW_SIGMA**2
            if kind != RUN_DRIFT:  # the pose leaves a track for another: remember it, it may come back
                g[G_LEFT_T], g[G_LEFT_E], g[G_LEFT_N], g[G_LEFT_SINCE] = t, float(innov[0]), float(innov[1]), left_since
            self._widen_pose_to(st, innov, yaw_var, lever_var, g[RUN_GNSS + 6])

    def _within_gnss_error(self, st: _State, innov: np.ndarray, R: np.ndarray, slow: float) -> bool:
        """True if the innovation is within the gate against the fix's noise with its slow error at its full
        (stationary) variance and the pose's own covariance: nothing says the pose is wrong."""
        S = self._cov(st)[:2, :2] + R + np.eye(2) * slow
        return float(innov @ np.linalg.solve(S, innov)) <= self.p.gnss_gate_chi2

    # ---------------------------------------------------------------- heading
    def _heading_update(self, st: _State, m: GnssHeading, decided: Outcome | None) -> Outcome:
        """Dual-antenna yaw, gated; headings rejected for ``gnss_drift_confirm_s`` that agree with each other mean
        the filter's yaw is wrong (a bad first reading, say): it is widened and the heading taken."""
        p = self.p
        H = np.zeros((1, N_STATE))
        H[0, IYAW] = 1.0
        R = np.array([[max(m.variance, 1e-8)]])

        def measure(s: _State):
            return np.array([wrap(m.yaw_rad - s.c[IYAW])]), H, R

        def decide(s: _State, innov: np.ndarray, nis: float) -> Outcome:
            since, last = s.g[RUN_HEADING], s.g[RUN_HEADING + 4]
            if since != math.inf and m.t - since >= p.gnss_drift_confirm_s \
                    and abs(wrap(innov[0] - last)) <= 3.0 * math.sqrt(R[0, 0]) + 0.01:
                self.counts["gnss_heading_recovered"] += 1
                return Outcome(True, "recovered", nis)
            return Outcome(False, "gate", nis)

        def recover(s: _State, innov: np.ndarray) -> None:
            # The yaw is wrong, and base_link was placed from the antenna with it: widen both together, so that
            # the heading turns the carrier about its antenna, where the fixes hold it.
            c = s.c
            co, si = math.cos(c[IYAW]), math.sin(c[IYAW])
            lx, ly = self.lever[0] + c[ILX], self.lever[1] + c[ILY]
            v = np.zeros(N_STATE)
            v[IYAW] = 1.0
            v[IX], v[IY] = si * lx + co * ly, -(co * lx - si * ly)
            s.P = self._cov(s) + np.outer(v, v) * float(innov[0]) ** 2

        return self._gated_update(st, RUN_HEADING, m.t, measure, p.gnss_heading_gate_chi2, decided, decide, recover)

    # ------------------------------------------------------- bay positioning
    def _bay_update(self, st: _State, m: BayPosition, decided: Outcome | None) -> Outcome:
        """Direct pose measurement of base_link (no GNSS error term), gated; recovers from a wrong filter."""
        p, g = self.p, st.g
        with_yaw = math.isfinite(m.yaw_variance)
        idx = [IX, IY, IYAW] if with_yaw else [IX, IY]
        H = np.zeros((len(idx), N_STATE))
        for r, i in enumerate(idx):
            H[r, i] = 1.0
        R = np.zeros((len(idx), len(idx)))
        R[:2, :2] = np.asarray(m.cov_xy, dtype=float).reshape(2, 2)
        if with_yaw:
            R[2, 2] = m.yaw_variance

        def measure(s: _State):
            c = s.c
            return np.array([m.x - c[IX], m.y - c[IY]] + ([wrap(m.yaw - c[IYAW])] if with_yaw else [])), H, R

        def decide(s: _State, innov: np.ndarray, nis: float) -> Outcome:
            since, last = s.g[RUN_BAY], (s.g[RUN_BAY + 4], s.g[RUN_BAY + 5])
            if (since != math.inf and m.t - since >= p.bay_positioning_recovery_s
                    and math.hypot(innov[0] - last[0], innov[1] - last[1])
                    <= 3.0 * math.sqrt(max(R[0, 0], R[1, 1])) + p.bay_positioning_recovery_spread_m):
                self.counts["bay_positioning_recovered"] += 1
                return Outcome(True, "recovered", nis)
            return Outcome(False, "gate", nis)

        def recover(s: _State, innov: np.ndarray) -> None:
            # The pose, not the crane, is wrong: widen the pose covariance to the innovation and let the
            # measurement pull it.
            yaw_var = self._cov(s)[IYAW, IYAW] + (innov[2] ** 2 if with_yaw else 0.0)
            self._widen_pose_to(s, innov[:2], yaw_var)

        out = self._gated_update(st, RUN_BAY, m.t, measure, p.bay_positioning_gate_chi2, decided, decide, recover)
        if out.accepted:
            g[G_LAST_BAY_T] = m.t
        return out

    # ------------------------------------------------------------- standstill
    def _zero_rate_update(self, st: _State, m: GyroSample) -> None:
        """At a standstill the true yaw rate is zero, so the gyro reads its bias (+ white noise).

        Samples are averaged over ZERO_RATE_BATCH readings (the mean has 1/n of a sample's
        variance): the same information for a tenth of the updates.
        """
        c = st.c
        c[C_STILL_SUM] += m.yaw_rate_radps
        c[C_STILL_N] += 1.0
        if c[C_STILL_N] < ZERO_RATE_BATCH:
            return
        mean, n = c[C_STILL_SUM] / c[C_STILL_N], c[C_STILL_N]
        c[C_STILL_SUM] = c[C_STILL_N] = 0.0
        self._update_direct(st, IBG, mean - c[IBG], self.p.gyro_noise_density**2 / self.gyro_period_s / n)

    # ------------------------------------------------------------------ output
    def _newest(self) -> _State:
        """The state after the last event up to the frontier (the events beyond it not yet included)."""
        self._process()
        return self._events[self._done - 1].snap if self._done > 0 else self._base

    def estimate(self, t: float | None = None) -> Estimate | None:
        """Pose and twist at time t (default: the newest event), predicted with the held inputs.

        None until initialised. Inputs beyond the frontier are included with a zero-order hold. Beyond
        ``max_extrapolation_s`` past the newest input, the position and yaw variances grow as if the
        carrier might have kept its last speed.
        """
        if not self.initialised:
            return None
        st = self._newest().copy()
        for e in self._events[self._done:]:  # inputs beyond the frontier, held
            self._advance(st, e.t, None, None)
            self._hold(st.c, e)
        newest = st.c[C_T]
        if t is None or not math.isfinite(t):
            t = newest
        t = max(t, newest)
        ahead = t - newest
        self._advance(st, newest + min(ahead, self.p.max_extrapolation_s), None, None)
        P = self._cov(st)
        c = st.c
        beyond = min(ahead - self.p.max_extrapolation_s, MAX_BLIND_S)
        if beyond > 0.0:
            P = P.copy()
            P[IX, IX] += (abs(c[C_SPEED]) * beyond) ** 2 + 1e-4 * beyond
            P[IY, IY] += (abs(c[C_SPEED]) * beyond) ** 2 + 1e-4 * beyond
            P[IYAW, IYAW] += (abs(c[C_GYRO]) * beyond) ** 2 + 1e-6 * beyond
        return self._make_estimate(t, c, P)

    def _make_estimate(self, t: float, c: list[float], P: np.ndarray) -> Estimate:
        p = self.p
        still = self.kin.standing_still(c, t)
        gyro_live = t - c[C_GYRO_T] <= p.input_timeout_s
        if still:
            w = v = 0.0
            var_w = var_v = 1e-8
        else:
            w = c[C_GYRO] - c[IBG] if gyro_live else c[C_ODOM_RATE]
            v = c[C_SPEED] * (1.0 + c[IKV])
            # per-sample variance of a white input = density^2 / sample period
            var_w = (P[IBG, IBG] + p.gyro_noise_density**2 / self.gyro_period_s if gyro_live
                     else p.odom_yaw_rate_noise_density**2 / self.odom_period_s)
            var_v = c[C_SPEED]**2 * P[IKV, IKV] + p.speed_noise_density**2 / self.odom_period_s
        d_eff = self.d_rear - c[IKS] * v * v
        twist_cov = np.diag([var_v, d_eff**2 * var_w, var_w])
        twist_cov[1, 2] = twist_cov[2, 1] = d_eff * var_w
        s = np.array(c[:N_STATE])
        return Estimate(t, float(s[IX]), float(s[IY]), float(s[IYAW]), float(v), float(w * d_eff), float(w),
                        P[:3, :3].copy(), twist_cov, s, P.copy())

    # -------------------------------------------------------------- diagnostics
    def position_sigma(self) -> float:
        """Largest standard deviation of the horizontal position [m] (inf before initialisation)."""
        est = self.estimate()
        if est is None:
            return math.inf
        return math.sqrt(max(float(np.linalg.eigvalsh(est.pose_cov[:2, :2])[-1]), 0.0))

    @property
    def gnss_mode(self) -> str:
        """Mode of the GNSS error model in effect (the last fix's mode; 'none' after a no-fix)."""
        return self._newest().mode if self.initialised else "none"

    @property
    def last_bay_t(self) -> float:
        """Stamp of the last accepted bay positioning measurement (-inf if none)."""
        return self._newest().g[G_LAST_BAY_T] if self.initialised else -math.inf

    @property
    def last_fix_t(self) -> float:
        return self._newest().g[G_LAST_FIX_T] if self.initialised else -math.inf

    def gnss_white_sigma(self) -> dict[str, float]:
        """White GNSS noise per axis [m] measured so far, per solution mode (the modes seen)."""
        if not self.initialised:
            return {}
        g = self._newest().g
        return {mode: math.sqrt(g[G_WHITE + 2 * i]) for i, mode in enumerate(MODES) if g[G_WHITE + 2 * i + 1] > 0}

    def lever_arm(self) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """(estimated antenna x, y in base_link [m], their standard deviations) or None before initialisation."""
        if not self.initialised:
            return None
        st = self._newest()
        P = st.P
        return ((self.lever[0] + st.c[ILX], self.lever[1] + st.c[ILY]),
                (math.sqrt(P[ILX, ILX]), math.sqrt(P[ILY, ILY])))

    @property
    def turn_recoveries(self) -> int:
        """How often fixes had to be trusted again while turning (a wrong lever arm or slip point shows here)."""
        return int(self._newest().g[G_TURN_REC]) if self.initialised else 0


def _innovation_stats(P: np.ndarray, H: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(P H', S^-1) of a measurement, S = H P H' + R; the inverse in closed form for 1 and 2 rows (None if singular
    or not finite)."""
    PHt = P @ H.T
    S = H @ PHt + R
    m = S.shape[0]
    if m == 1:
        s = float(S[0, 0])
        return PHt, (np.array([[1.0 / s]]) if s > 0.0 and math.isfinite(s) else None)
    if m == 2:
        a, b, c, d = S.ravel().tolist()
        det = a * d - b * c
        if not (det > 0.0 and math.isfinite(det)):
            return PHt, None
        return PHt, np.array([[d, -b], [-c, a]]) / det
    try:
        return PHt, np.linalg.inv(S)
    except np.linalg.LinAlgError:
        return PHt, None


def _symmetric(P: np.ndarray) -> np.ndarray:
    P = 0.5 * (P + P.T)
    d = np.diag(P)
    if np.any(d < MIN_VAR):
        P[np.diag_indices_from(P)] = np.maximum(d, MIN_VAR)
    return P


def _input_fault(m, kind: int, p: LocalizationParams) -> str | None:
    """Why an odometry or gyro sample cannot be used ('not_finite', 'absurd'), or None (the per-sample fast path of
    _finite and _plausible)."""
    t = m.t
    if kind == K_GYRO:
        r = m.yaw_rate_radps
        if not (math.isfinite(t) and math.isfinite(r)):
            return "not_finite"
        return None if -p.max_yaw_rate_radps <= r <= p.max_yaw_rate_radps else "absurd"
    v, r = m.speed_mps, m.yaw_rate_radps
    if not (math.isfinite(t) and math.isfinite(v) and math.isfinite(r)):
        return "not_finite"
    if -p.max_speed_mps <= v <= p.max_speed_mps and -p.max_yaw_rate_radps <= r <= p.max_yaw_rate_radps:
        return None
    return "absurd"


def _finite(m) -> bool:
    if isinstance(m, OdomSample):
        vals = (m.t, m.speed_mps, m.yaw_rate_radps)
    elif isinstance(m, GyroSample):
        vals = (m.t, m.yaw_rate_radps)
    elif isinstance(m, GnssPosition):
        return all(math.isfinite(v) for v in (m.t, m.east_m, m.north_m, m.noise.bias_var_m2)) \
            and bool(np.all(np.isfinite(m.noise.white_cov)))
    elif isinstance(m, GnssHeading):
        vals = (m.t, m.yaw_rad, m.variance)
    elif isinstance(m, BayPosition):
        vals = (m.t, m.x, m.y, *m.cov_xy, m.yaw)  # yaw_variance may be inf (yaw not measured)
    else:
        vals = (m.t,)
    return all(math.isfinite(v) for v in vals)
