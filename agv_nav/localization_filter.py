"""Carrier localization: an extended Kalman filter over GNSS/RTK, wheel odometry and gyro, fused at the stamps.

Method (details and the reasons in docs/localization.md):

* **State** ``s = [x, y, yaw, b_g, k_v, b_e, b_n]``: base_link position [m] and heading [rad] in
  ``map``, gyro z bias [rad/s], wheel odometry scale error [-] (true speed = (1 + k_v) * wheel
  speed), and the slowly varying GNSS error [m] (first-order Gauss-Markov, Brown & Hwang ch. 4).
* **Process model**: wheel speed and gyro rate are *inputs* (interpolated between samples once the
  next one is known, held after the newest), as in strapdown dead reckoning (Groves, *Principles of
  GNSS, Inertial and Multisensor Navigation*, ch. 14), with the Ackermann constraint that the rear
  axle has no lateral velocity (base_link, ahead of it, slides sideways at yaw rate x lever). Input
  noise and slip enter the process noise; biases walk. At a standstill a carrier cannot turn, and
  the gyro reading measures its bias (zero-angular-rate update).
* **GNSS position update** at the antenna, ``h(s) = p + R(yaw) l + b``, with fix-aware noise
  (:mod:`agv_nav.gnss_trust`), a chi-square gate on the Mahalanobis distance of the innovation
  that also keeps rejecting a multipath event while it lasts and recovers when the filter itself
  is wrong (or restarts the GNSS error state when the rejected fixes are within the solution's own
  slow error), and a Joseph-form update.
* **Bay positioning update** (a crane-mounted positioning system measuring base_link under a crane
  portal): ``h(s) = [x, y(, yaw)]`` directly, *without* the GNSS error term, so near a bay it pins
  the position to the bay's reference and makes the GNSS error state observable (float fixes then
  correct their bias instead of pulling the pose). Chi-square gated (2 or 3 degrees of freedom);
  a run of rejected measurements that agree with each other for ``bay_positioning_recovery_s``
  means the filter, not the crane, is wrong (a float-biased approach): the pose covariance is
  inflated to the innovation and the measurement accepted.
* **Latency**: every input and measurement is an event in a time-ordered history with the filter
  state after it. A late fix is inserted at its stamp and the events after it are re-propagated
  (exact, unlike extrapolating the measurement). Out-of-stamp-order arrivals across streams are
  therefore harmless; the history length bounds how late a message may be.
* **Robustness**: a step that would produce a non-finite or non-positive covariance is undone
  and counted; the state never goes NaN.

Pure Python + numpy, no rclpy, no clock: times are float seconds supplied by the caller.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from .gnss_trust import FixNoise
from .localization_params import LocalizationParams
from .pose_init import InitialPose, PoseInitializer, SpotPose

IX, IY, IYAW, IBG, IKV, IBE, IBN = range(7)
N_STATE = 7
MAX_STEP_S = 0.05  # [s] longest single integration step
MIN_VAR = 1e-12  # floor on diagonal variances, keeps P positive definite
ZERO_RATE_BATCH = 10  # standstill gyro readings averaged per zero-rate update
RECOVERY_YAW_SIGMA = 0.5  # [rad] heading uncertainty after the gate gave up on the filter's own state
MAX_STEPS = 200  # most integration steps per prediction: after a long silence the inputs are stale anyway
MAX_FIX_VARIANCE_M2 = 1e6  # [m^2] a fix claiming more is absurd
MAX_TIME_JUMP_S = 3600.0  # [s] an input this far past the newest one restarts the filter
MAX_BLIND_S = 3600.0  # [s] extrapolating further than this past the last input adds no more uncertainty
STANDSTILL_YAW_RATE_RADPS = 0.01  # [rad/s] wheel odometry yaw rate below which a stopped carrier is still
STALE_ODOM_SPEED_SIGMA = 3.0  # [m/s] speed uncertainty assumed while wheel odometry is silent
STALE_ODOM_YAW_RATE_SIGMA = 0.2  # [rad/s] likewise for yaw rate
_EYE = np.eye(N_STATE)
_DIAG = np.diag_indices(N_STATE)


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


# ------------------------------------------------------------------------ internal
@dataclass
class _Held:
    """Inputs in effect (zero-order hold) and GNSS bookkeeping: part of every snapshot."""

    speed: float = 0.0
    odom_rate: float = 0.0
    odom_t: float = -math.inf
    gyro: float = 0.0
    gyro_t: float = -math.inf
    next_odom: OdomSample | None = None  # the sample after the held one, when already known
    next_gyro: GyroSample | None = None
    bias_mode: str = "none"  # GNSS mode the error state currently models
    bias_var: float = 0.0  # steady-state variance of the GNSS error state [m^2]
    bias_tau: float = 60.0  # its correlation time [s]
    last_fix_t: float = -math.inf  # stamp of the last accepted fix
    last_seen_t: float = -math.inf  # stamp of the last usable fix, accepted or not (receiver gaps)
    reject_since: float = math.inf  # stamp of the first fix of the current run of rejections
    reject_innov: tuple[float, float] | None = None  # innovation of the last rejected fix
    reject_first: tuple[float, float] | None = None  # innovation of the first fix of the run of rejections
    last_bay_t: float = -math.inf  # stamp of the last accepted bay positioning measurement
    bay_reject_since: float = math.inf  # stamp of the first bay measurement of the current run of rejections
    bay_reject_innov: tuple[float, float] | None = None  # position innovation of the last rejected one
    still_sum: float = 0.0  # gyro readings at a standstill not yet used (zero-rate update batch)
    still_n: int = 0

    def copy(self) -> _Held:
        return _Held(**self.__dict__)


@dataclass
class _Snap:
    t: float
    s: np.ndarray
    P: np.ndarray
    held: _Held

    def copy(self) -> _Snap:
        return _Snap(self.t, self.s.copy(), self.P.copy(), self.held.copy())


@dataclass
class _Event:
    t: float
    seq: int
    data: object
    outcome: Outcome | None = None  # decided on first processing, kept on re-propagation
    snap: _Snap | None = None

    @property
    def key(self) -> tuple[float, int]:
        return (self.t, self.seq)


class LocalizationFilter:
    """EKF with a history for late measurements. Feed it with ``add``; read it with ``estimate``."""

    def __init__(self, p: LocalizationParams, lever_arm_xy: tuple[float, float], rear_axle_x_m: float,
                 spots: list[SpotPose] | tuple[SpotPose, ...] = ()):
        self.p = p
        self.lever = np.asarray(lever_arm_xy, dtype=float)
        self.d_rear = -float(rear_axle_x_m)
        self.init = PoseInitializer(p, lever_arm_xy, rear_axle_x_m, spots)
        self.counts: Counter[str] = Counter()  # see STREAM_OF; also gnss_recovered, numerical_fault
        self.recent_nis: deque[float] = deque(maxlen=100)
        self.gyro_period_s = 0.01  # [s] measured sample periods (for per-sample noise from densities)
        self.odom_period_s = 0.02
        self.initial_pose: InitialPose | None = None
        self.reset()

    # ----------------------------------------------------------------- lifecycle
    def reset(self) -> None:
        """Forget the pose and the history: the filter initialises again from what comes next."""
        self.init.reset()
        self._events: list[_Event] = []
        self._base: _Snap | None = None
        self._seq = 0
        self._latest_t = -math.inf
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
        kind = STREAM_OF.get(type(m), type(m).__name__)
        if not all(math.isfinite(v) for v in _numbers(m)):
            return self._count(kind, Outcome(False, "not_finite"))
        if not self._plausible(m):
            return self._count(kind, Outcome(False, "absurd"))
        if m.t - self._latest_t > MAX_TIME_JUMP_S and math.isfinite(self._latest_t):
            self.counts["time_jump_reset"] += 1  # everything known is hours old: start afresh
            self.reset()
        if m.t < self._latest_t - self.p.history_s:
            return self._count(kind, Outcome(False, "stale"))
        self._track_period(m)
        self._latest_t = max(self._latest_t, m.t)
        ev = _Event(m.t, self._seq, m)
        self._seq += 1
        if not self._events or ev.key > self._events[-1].key:
            i = len(self._events)
            self._events.append(ev)
            if isinstance(m, (OdomSample, GyroSample)):
                # The steps since the previous sample of this stream held its value: re-run them
                # interpolating towards this sample (first-order hold, no half-sample lag).
                j = i - 1
                while j >= 0 and not isinstance(self._events[j].data, type(m)):
                    j -= 1
                i = j + 1 if j >= 0 else i
        else:
            i = bisect_right([e.key for e in self._events], ev.key)
            self._events.insert(i, ev)
        if not self.initialised:
            outcome = self._feed_initializer(m)
        elif m.t < self._base.t:
            self._events.remove(ev)
            outcome = Outcome(False, "stale")
        else:
            self._replay(i)
            outcome = ev.outcome
        self._trim()
        return self._count(kind, outcome)

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

    def _track_period(self, m) -> None:
        """Running estimate of the gyro and odometry sample periods (per-sample noise = density^2 / period)."""
        if isinstance(m, (GyroSample, OdomSample)):
            attr = "gyro" if isinstance(m, GyroSample) else "odom"
            last = getattr(self, f"_last_{attr}_t", None)
            if last is not None and 1e-4 < m.t - last < 1.0:
                period = getattr(self, f"{attr}_period_s")
                setattr(self, f"{attr}_period_s", 0.95 * period + 0.05 * (m.t - last))
            setattr(self, f"_last_{attr}_t", m.t)

    def _count(self, kind: str, outcome: Outcome) -> Outcome:
        if outcome.accepted:
            self.counts[f"{kind} accepted"] += 1
        else:
            self.counts[f"{kind} rejected: {outcome.reason}"] += 1
        return outcome

    def _trim(self) -> None:
        horizon = self._latest_t - self.p.history_s
        drop = 0
        while drop < len(self._events) - 1 and self._events[drop].t < horizon:
            drop += 1
        if drop:
            if self.initialised:
                self._base = self._events[drop - 1].snap
            del self._events[:drop]

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
            return Outcome(True)
        return Outcome(False, "initialising") if isinstance(m, (GnssPosition, GnssHeading, BayPosition)) \
            else Outcome(True)

    def _start(self, pose: InitialPose) -> None:
        """Start the filter at the initial pose and re-propagate the inputs buffered after it."""
        s = np.zeros(N_STATE)
        s[[IX, IY, IYAW]] = pose.x, pose.y, pose.yaw
        s[IBG] = pose.gyro_bias
        P = np.zeros((N_STATE, N_STATE))
        P[:3, :3] = pose.cov
        P[IBG, IBG] = pose.gyro_bias_var
        P[IKV, IKV] = self.p.wheel_scale_sigma**2
        held = _Held()
        for e in self._events:  # inputs in effect at the initial stamp
            if e.t > pose.t:
                break
            self._hold(held, e.data)
        fix = next((e.data for e in reversed(self._events) if e.t <= pose.t and isinstance(e.data, GnssPosition)),
                   None)
        if fix is not None:
            held.bias_mode, held.bias_var = fix.noise.mode, fix.noise.bias_var_m2
            held.bias_tau = fix.noise.bias_time_constant_s
            P[IBE, IBE] = P[IBN, IBN] = max(fix.noise.bias_var_m2, MIN_VAR)
            # The initial position carries this fix's slow error: its error is minus the error state's. The
            # share is capped so that the joint covariance stays positive semi-definite: c^2 / var(bias) may
            # not exceed the smallest variance of the position given the yaw.
            pos_given_yaw = P[:2, :2] - np.outer(P[:2, IYAW], P[:2, IYAW]) / max(P[IYAW, IYAW], MIN_VAR)
            cap = math.sqrt(max(float(np.linalg.eigvalsh(pos_given_yaw)[0]), 0.0) * P[IBE, IBE])
            shared = -min(pose.gnss_error_cov, cap)
            P[IX, IBE] = P[IBE, IX] = P[IY, IBN] = P[IBN, IY] = shared
            held.last_fix_t = held.last_seen_t = fix.t
        else:
            P[IBE, IBE] = P[IBN, IBN] = MIN_VAR
        self.initial_pose = pose
        self._base = _Snap(pose.t, s, P, held)
        first = bisect_right([e.t for e in self._events], pose.t)
        for e in self._events[:first]:
            e.outcome = e.outcome or Outcome(True)
        del self._events[:first]
        self._replay(0)

    # ----------------------------------------------------------------- history
    def _replay(self, i: int) -> None:
        """Re-propagate events i.. from the snapshot before event i."""
        events = self._events
        nxt: list[tuple[OdomSample | None, GyroSample | None]] = [(None, None)] * len(events)
        odom = gyro = None
        for j in range(len(events) - 1, i - 1, -1):  # the next input samples after each event
            d = events[j].data
            if isinstance(d, OdomSample):
                odom = d
            elif isinstance(d, GyroSample):
                gyro = d
            nxt[j] = (odom, gyro)
        snap = (events[i - 1].snap if i > 0 else self._base).copy()
        for j in range(i, len(events)):
            e = events[j]
            snap.held.next_odom, snap.held.next_gyro = nxt[j]
            self._apply(snap, e)
            e.snap = snap.copy()

    @staticmethod
    def _hold(held: _Held, m) -> None:
        if isinstance(m, OdomSample):
            held.speed, held.odom_rate, held.odom_t = m.speed_mps, m.yaw_rate_radps, m.t
        elif isinstance(m, GyroSample):
            held.gyro, held.gyro_t = m.yaw_rate_radps, m.t

    def _apply(self, snap: _Snap, e: _Event) -> None:
        m = e.data
        self._predict(snap, e.t)
        if isinstance(m, GyroSample):
            self._hold(snap.held, m)
            if self._standing_still(snap.held, e.t):
                self._zero_rate_update(snap, m)
            else:
                snap.held.still_sum, snap.held.still_n = 0.0, 0
            e.outcome = e.outcome or Outcome(True)
        elif isinstance(m, OdomSample):
            self._hold(snap.held, m)
            e.outcome = e.outcome or Outcome(True)
        elif isinstance(m, GnssPosition):
            e.outcome = self._gnss_update(snap, m, e.outcome)
        elif isinstance(m, GnssHeading):
            e.outcome = self._heading_update(snap, m, e.outcome)
        elif isinstance(m, BayPosition):
            e.outcome = self._bay_update(snap, m, e.outcome)
        elif isinstance(m, GnssNoFix):
            snap.held.bias_mode = "none"
            e.outcome = e.outcome or Outcome(True)

    # ----------------------------------------------------------------- predict
    def _standing_still(self, h: _Held, now: float) -> bool:
        """Live wheel odometry says the carrier stands: then it cannot turn either (Ackermann)."""
        return (abs(h.speed) < self.p.standstill_speed_mps and abs(h.odom_rate) < STANDSTILL_YAW_RATE_RADPS
                and now - h.odom_t <= self.p.input_timeout_s)

    def _predict(self, snap: _Snap, t: float) -> None:
        dt_total = t - snap.t
        if dt_total <= 0.0:
            return
        steps = MAX_STEPS if dt_total >= MAX_STEPS * MAX_STEP_S else max(1, math.ceil(dt_total / MAX_STEP_S))
        dt = dt_total / steps
        for _ in range(steps):
            self._predict_step(snap, dt)
        snap.t = t

    def _predict_step(self, snap: _Snap, dt: float) -> None:
        """One step of the process model ``s' = f(s, u)`` and ``P' = F P F^T + G Qu G^T + Qd``."""
        s, h, p = snap.s, snap.held, self.p
        F = _EYE.copy()
        q_diag = np.zeros(N_STATE)  # diagonal process noise
        now = snap.t + dt
        odom_live = now - h.odom_t <= p.input_timeout_s
        gyro_live = now - h.gyro_t <= p.input_timeout_s
        G = None
        speed, gyro = h.speed, h.gyro
        mid = now - 0.5 * dt
        if h.next_odom is not None and h.next_odom.t > h.odom_t:
            f = (mid - h.odom_t) / (h.next_odom.t - h.odom_t)
            speed += f * (h.next_odom.speed_mps - h.speed)
        if h.next_gyro is not None and h.next_gyro.t > h.gyro_t:
            f = (mid - h.gyro_t) / (h.next_gyro.t - h.gyro_t)
            gyro += f * (h.next_gyro.yaw_rate_radps - h.gyro)
        if not odom_live:
            # Without wheel odometry the speed is unknown: a random walk wide enough for any carrier
            # speed keeps the covariance honest and lets GNSS carry the position alone.
            q_diag[IX] = q_diag[IY] = STALE_ODOM_SPEED_SIGMA**2 * dt
            q_diag[IYAW] = STALE_ODOM_YAW_RATE_SIGMA**2 * dt
        elif not self._standing_still(h, now):
            if gyro_live:
                w = gyro - s[IBG]
                w_var_density = p.gyro_noise_density**2
            else:
                w = h.odom_rate
                w_var_density = p.odom_yaw_rate_noise_density**2
            scale = 1.0 + s[IKV]
            v = speed * scale
            vy = w * self.d_rear
            yaw_mid = s[IYAW] + 0.5 * w * dt
            c, sn = math.cos(yaw_mid), math.sin(yaw_mid)
            dx = (v * c - vy * sn) * dt
            dy = (v * sn + vy * c) * dt
            # Jacobians: d/dyaw, d/dk_v, and G = d/d(w, v) for the input noise (the bias enters as -w)
            F[IX, IYAW] = -dy
            F[IY, IYAW] = dx
            F[IX, IKV] = speed * c * dt
            F[IY, IKV] = speed * sn * dt
            G = np.zeros((N_STATE, 2))
            G[IX, 0] = -0.5 * dy - self.d_rear * sn * dt
            G[IY, 0] = 0.5 * dx + self.d_rear * c * dt
            G[IYAW, 0] = dt
            G[IX, 1] = c * dt * scale
            G[IY, 1] = sn * dt * scale
            if gyro_live:
                F[IX, IBG] = -G[IX, 0]
                F[IY, IBG] = -G[IY, 0]
                F[IYAW, IBG] = -dt
            G[:, 0] *= math.sqrt(w_var_density / dt)
            G[:, 1] *= p.speed_noise_density / math.sqrt(dt)
            slip = p.slip_sigma**2 * abs(v) * dt
            q_diag[IX] = q_diag[IY] = slip
            q_diag[IKV] = p.wheel_scale_walk**2 * dt
            s[IX] += dx
            s[IY] += dy
            s[IYAW] = wrap(s[IYAW] + w * dt)
        q_diag[IBG] = p.gyro_bias_walk**2 * dt
        phi = math.exp(-dt / h.bias_tau)
        F[IBE, IBE] = F[IBN, IBN] = phi
        s[IBE] *= phi
        s[IBN] *= phi
        q_diag[IBE] = q_diag[IBN] = max(h.bias_var, MIN_VAR) * (1.0 - phi * phi)
        P = F @ snap.P @ F.T
        if G is not None:
            P += G @ G.T
        P[_DIAG] += q_diag
        snap.P = 0.5 * (P + P.T)
        snap.t += dt

    # ------------------------------------------------------------------ updates
    def _update(self, snap: _Snap, H: np.ndarray, innov: np.ndarray, R: np.ndarray) -> bool:
        """Joseph-form update; undone (returns False) if it would break P."""
        P = snap.P
        S = H @ P @ H.T + R
        try:
            K = np.linalg.solve(S, H @ P).T  # K = P H^T S^-1
        except np.linalg.LinAlgError:
            self.counts["numerical_fault"] += 1
            return False
        s_new = snap.s + K @ innov
        IKH = np.eye(N_STATE) - K @ H
        P_new = _symmetric(IKH @ P @ IKH.T + K @ R @ K.T)
        if not (np.all(np.isfinite(s_new)) and np.all(np.isfinite(P_new)) and np.all(np.diag(P_new) > 0.0)):
            self.counts["numerical_fault"] += 1
            return False
        s_new[IYAW] = wrap(s_new[IYAW])
        snap.s, snap.P = s_new, P_new
        return True

    def _antenna(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted antenna position (with GNSS error) and its Jacobian H (2 x N)."""
        c, sn = math.cos(s[IYAW]), math.sin(s[IYAW])
        lx, ly = self.lever
        z = np.array([s[IX] + c * lx - sn * ly + s[IBE], s[IY] + sn * lx + c * ly + s[IBN]])
        H = np.zeros((2, N_STATE))
        H[0, IX] = H[1, IY] = H[0, IBE] = H[1, IBN] = 1.0
        H[0, IYAW] = -sn * lx - c * ly
        H[1, IYAW] = c * lx - sn * ly
        return z, H

    def _restart_gnss_error(self, snap: _Snap, noise: FixNoise) -> None:
        """A new solution (mode change, or fixes back after a gap): its slow error starts afresh."""
        s, P, h = snap.s, snap.P, snap.held
        s[IBE] = s[IBN] = 0.0
        P[[IBE, IBN], :] = 0.0
        P[:, [IBE, IBN]] = 0.0
        P[IBE, IBE] = P[IBN, IBN] = max(noise.bias_var_m2, MIN_VAR)
        h.bias_mode = noise.mode
        h.reject_since, h.reject_innov, h.reject_first = math.inf, None, None

    def _gnss_update(self, snap: _Snap, m: GnssPosition, decided: Outcome | None) -> Outcome:
        h = snap.held
        # A new solution starts when the mode changes or the receiver was silent (not when we rejected it).
        gap = m.t - h.last_seen_t > self.p.gnss_timeout_s
        if m.noise.mode != h.bias_mode or gap:
            self._restart_gnss_error(snap, m.noise)
        h.last_seen_t = m.t
        h.bias_var, h.bias_tau = m.noise.bias_var_m2, m.noise.bias_time_constant_s
        z_pred, H = self._antenna(snap.s)
        innov = np.array([m.east_m, m.north_m]) - z_pred
        R = m.noise.white_cov
        S = H @ snap.P @ H.T + R
        try:
            nis = float(innov @ np.linalg.solve(S, innov))
        except np.linalg.LinAlgError:
            return Outcome(False, "numerical")
        if decided is None:
            if nis <= self.p.gnss_gate_chi2 and not self._continues_rejected_jump(h, innov, S, nis):
                decided = Outcome(True, "", nis)
                self.recent_nis.append(nis)
            elif self._consistent_rejections(snap, m, innov, R):
                decided = Outcome(True, "recovered", nis)
                self.counts["gnss_recovered"] += 1
            else:
                self._note_rejection(h, m, innov)
                return Outcome(False, "gate", nis)
        elif not decided.accepted:
            if decided.reason == "gate":  # on every replay too: the run of rejections lives in the snapshots
                self._note_rejection(h, m, innov)
            return decided
        if decided.reason == "recovered" and self._within_gnss_error(snap, innov, R):
            # The receiver's own slow error moved (a single solution wanders by metres; a multipath jump
            # outlasted the gate's memory): the innovation is what that error may be, so its state, not
            # the pose, starts afresh from the fix. Inflating the pose instead would put it on the
            # solution's metre-level error.
            self._restart_gnss_error(snap, m.noise)
            z_pred, H = self._antenna(snap.s)
            innov = np.array([m.east_m, m.north_m]) - z_pred
        elif decided.reason == "recovered":
            # The filter, not the receiver, is wrong: forget the pose's cross-correlations, inflate the
            # position by the innovation and the heading to RECOVERY_YAW_SIGMA; the fix (and the next
            # ones, as the carrier moves) then pull position and heading back.
            P = self._widen_pose_to(snap, innov)
            P[IYAW, IYAW] = max(P[IYAW, IYAW], RECOVERY_YAW_SIGMA**2)
        if not self._update(snap, H, innov, R):
            return Outcome(False, "numerical", nis)
        h.last_fix_t = m.t
        h.reject_since, h.reject_innov, h.reject_first = math.inf, None, None
        return decided

    @staticmethod
    def _widen_pose_to(snap: _Snap, d: np.ndarray) -> np.ndarray:
        """Recovery when the filter, not the sensor, is wrong: forget the pose's cross-correlations and widen its
        position covariance by the position innovation d; returns P for the caller's yaw adjustment."""
        P = snap.P
        keep = np.diag(P)[:3].copy()
        P[:3, :] = 0.0
        P[:, :3] = 0.0
        P[IX, IX], P[IY, IY], P[IYAW, IYAW] = keep
        P[IX:IY + 1, IX:IY + 1] += np.outer(d, d) + np.eye(2) * float(d @ d)
        return P

    @staticmethod
    def _note_rejection(h: _Held, m: GnssPosition, innov: np.ndarray) -> None:
        """Extend the current run of gated fixes (its start, first and latest innovation) by this one."""
        h.reject_since = min(h.reject_since, m.t)
        h.reject_innov = (float(innov[0]), float(innov[1]))
        h.reject_first = h.reject_first or h.reject_innov

    def _within_gnss_error(self, snap: _Snap, innov: np.ndarray, R: np.ndarray) -> bool:
        """True if the innovation is within the gate against the fix's noise with its slow error at its full
        (stationary) variance and the pose's own covariance: nothing says the pose is wrong."""
        h = snap.held
        S = snap.P[:2, :2] + R + np.eye(2) * h.bias_var
        return float(innov @ np.linalg.solve(S, innov)) <= self.p.gnss_gate_chi2

    def _continues_rejected_jump(self, h: _Held, innov: np.ndarray, S: np.ndarray, nis: float) -> bool:
        """True if a fix sits on the offset that started the current run of rejections (multipath going on).

        While fixes are rejected the predicted GNSS error grows (it may drift), so the gate slowly
        widens; a displaced fix stream would then be let in after a second or two. A fix that is
        nearer (Mahalanobis) to the first rejected fix's innovation than to the prediction
        belongs to the same event; when the event ends the fixes return to the prediction.
        """
        if h.reject_first is None:
            return False
        d = innov - np.array(h.reject_first)
        return float(d @ np.linalg.solve(S, d)) < nis

    def _consistent_rejections(self, snap: _Snap, m: GnssPosition, innov: np.ndarray, R: np.ndarray) -> bool:
        """True after a long run of rejected fixes that agree with each other: trust the receiver again.

        A multipath jump comes and goes; a filter that is wrong (bad start, wheel slip in an
        outage) sees the same innovation fix after fix. Dead reckoning forever would be worse.
        """
        h = snap.held
        if h.reject_innov is None or m.t - h.reject_since < self.p.gnss_gate_recovery_s:
            return False
        jump = innov - np.array(h.reject_innov)
        spread = 3.0 * math.sqrt(max(np.linalg.eigvalsh(R + np.eye(2) * h.bias_var)[-1], 1e-6)) + 0.2
        return float(np.linalg.norm(jump)) <= spread

    def _heading_update(self, snap: _Snap, m: GnssHeading, decided: Outcome | None) -> Outcome:
        innov = wrap(m.yaw_rad - snap.s[IYAW])
        r = max(m.variance, 1e-8)
        nis = innov**2 / (snap.P[IYAW, IYAW] + r)
        if decided is None:
            if nis > self.p.gnss_heading_gate_chi2:
                return Outcome(False, "gate", nis)
            decided = Outcome(True, "", nis)
        elif not decided.accepted:
            return decided
        if not self._update_direct(snap, IYAW, innov, r):
            return Outcome(False, "numerical", nis)
        return decided

    def _bay_update(self, snap: _Snap, m: BayPosition, decided: Outcome | None) -> Outcome:
        """Direct pose measurement of base_link (no GNSS error term), gated; recovers from a wrong filter."""
        h, s = snap.held, snap.s
        with_yaw = math.isfinite(m.yaw_variance)
        idx = [IX, IY, IYAW] if with_yaw else [IX, IY]
        H = np.zeros((len(idx), N_STATE))
        for r, i in enumerate(idx):
            H[r, i] = 1.0
        R = np.zeros((len(idx), len(idx)))
        R[:2, :2] = np.asarray(m.cov_xy, dtype=float).reshape(2, 2)
        innov = np.array([m.x - s[IX], m.y - s[IY]] + ([wrap(m.yaw - s[IYAW])] if with_yaw else []))
        if with_yaw:
            R[2, 2] = m.yaw_variance
        S = H @ snap.P @ H.T + R
        try:
            nis = float(innov @ np.linalg.solve(S, innov))
        except np.linalg.LinAlgError:
            return Outcome(False, "numerical")
        if decided is None:
            if nis <= self.p.bay_positioning_gate_chi2:
                decided = Outcome(True, "", nis)
            elif (h.bay_reject_innov is not None and m.t - h.bay_reject_since >= self.p.bay_positioning_recovery_s
                  and float(np.linalg.norm(innov[:2] - np.array(h.bay_reject_innov)))
                  <= 3.0 * math.sqrt(max(R[0, 0], R[1, 1])) + self.p.bay_positioning_recovery_spread_m):
                decided = Outcome(True, "recovered", nis)
                self.counts["bay_positioning_recovered"] += 1
            else:
                decided = Outcome(False, "gate", nis)
        if not decided.accepted:
            if decided.reason == "gate":  # on every replay too: the run of rejections lives in the snapshots
                h.bay_reject_since = min(h.bay_reject_since, m.t)
                h.bay_reject_innov = (float(innov[0]), float(innov[1]))
            return decided
        if decided.reason == "recovered":
            # The pose, not the crane, is wrong: widen the pose covariance to the innovation (keeping the
            # correlations' signs meaningless is worse than dropping them) and let the measurement pull it.
            P = self._widen_pose_to(snap, innov[:2])
            if with_yaw:
                P[IYAW, IYAW] += innov[2] ** 2
        if not self._update(snap, H, innov, R):
            return Outcome(False, "numerical", nis)
        h.last_bay_t = m.t
        h.bay_reject_since, h.bay_reject_innov = math.inf, None
        return decided

    def _zero_rate_update(self, snap: _Snap, m: GyroSample) -> None:
        """At a standstill the true yaw rate is zero, so the gyro reads its bias (+ white noise).

        Samples are averaged over ZERO_RATE_BATCH readings (the mean has 1/n of a sample's
        variance): the same information for a tenth of the updates.
        """
        h = snap.held
        h.still_sum += m.yaw_rate_radps
        h.still_n += 1
        if h.still_n < ZERO_RATE_BATCH:
            return
        mean, n = h.still_sum / h.still_n, h.still_n
        h.still_sum, h.still_n = 0.0, 0
        self._update_direct(snap, IBG, mean - snap.s[IBG], self.p.gyro_noise_density**2 / self.gyro_period_s / n)

    def _update_direct(self, snap: _Snap, i: int, innov: float, r: float) -> bool:
        """Update with a direct measurement of state i (H = e_i): K = P e_i / (P_ii + r), P -= K P_i."""
        P = snap.P
        s_ii = P[i, i] + r
        if not (math.isfinite(innov) and s_ii > 0.0):
            self.counts["numerical_fault"] += 1
            return False
        k = P[:, i] / s_ii
        s_new = snap.s + k * innov
        P_new = P - np.outer(k, P[i, :])
        P_new = _symmetric(P_new)
        if not (np.all(np.isfinite(s_new)) and np.all(np.diag(P_new) > 0.0)):
            self.counts["numerical_fault"] += 1
            return False
        s_new[IYAW] = wrap(s_new[IYAW])
        snap.s, snap.P = s_new, P_new
        return True

    # ------------------------------------------------------------------ output
    def estimate(self, t: float | None = None) -> Estimate | None:
        """Pose and twist at time t (default: the newest event), predicted with the held inputs.

        None until initialised. Beyond ``max_extrapolation_s`` past the newest input, the
        position and yaw variances grow as if the carrier might have kept its last speed.
        """
        if not self.initialised:
            return None
        snap = (self._events[-1].snap if self._events else self._base).copy()
        if t is None or not math.isfinite(t):
            t = snap.t
        t = max(t, snap.t)
        ahead = t - snap.t
        self._predict(snap, snap.t + min(ahead, self.p.max_extrapolation_s))
        snap.t = t
        s, P, h = snap.s, snap.P, snap.held
        beyond = min(ahead - self.p.max_extrapolation_s, MAX_BLIND_S)
        if beyond > 0.0:
            P = P.copy()
            P[IX, IX] += (abs(h.speed) * beyond) ** 2 + 1e-4 * beyond
            P[IY, IY] += (abs(h.speed) * beyond) ** 2 + 1e-4 * beyond
            P[IYAW, IYAW] += (abs(h.gyro) * beyond) ** 2 + 1e-6 * beyond
        return self._make_estimate(t, s, P, h)

    def _make_estimate(self, t: float, s: np.ndarray, P: np.ndarray, h: _Held) -> Estimate:
        p = self.p
        still = self._standing_still(h, t)
        gyro_live = t - h.gyro_t <= p.input_timeout_s
        if still:
            w = v = 0.0
            var_w = var_v = 1e-8
        else:
            w = h.gyro - s[IBG] if gyro_live else h.odom_rate
            v = h.speed * (1.0 + s[IKV])
            # per-sample variance of a white input = density^2 / sample period
            var_w = (P[IBG, IBG] + p.gyro_noise_density**2 / self.gyro_period_s if gyro_live
                     else p.odom_yaw_rate_noise_density**2 / self.odom_period_s)
            var_v = h.speed**2 * P[IKV, IKV] + p.speed_noise_density**2 / self.odom_period_s
        twist_cov = np.diag([var_v, self.d_rear**2 * var_w, var_w])
        twist_cov[1, 2] = twist_cov[2, 1] = self.d_rear * var_w
        return Estimate(t, float(s[IX]), float(s[IY]), float(s[IYAW]), float(v), float(w * self.d_rear), float(w),
                        P[:3, :3].copy(), twist_cov, s.copy(), P.copy())

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
        if not self.initialised:
            return "none"
        return (self._events[-1].snap if self._events else self._base).held.bias_mode

    @property
    def last_bay_t(self) -> float:
        """Stamp of the last accepted bay positioning measurement (-inf if none)."""
        if not self.initialised:
            return -math.inf
        return (self._events[-1].snap if self._events else self._base).held.last_bay_t

    @property
    def last_fix_t(self) -> float:
        if not self.initialised:
            return -math.inf
        return (self._events[-1].snap if self._events else self._base).held.last_fix_t


def _symmetric(P: np.ndarray) -> np.ndarray:
    P = 0.5 * (P + P.T)
    d = np.diag(P)
    if np.any(d < MIN_VAR):
        P[np.diag_indices_from(P)] = np.maximum(d, MIN_VAR)
    return P


def _numbers(m) -> list[float]:
    if isinstance(m, OdomSample):
        return [m.t, m.speed_mps, m.yaw_rate_radps]
    if isinstance(m, GyroSample):
        return [m.t, m.yaw_rate_radps]
    if isinstance(m, GnssPosition):
        return [m.t, m.east_m, m.north_m, m.noise.bias_var_m2, *m.noise.white_cov.ravel()]
    if isinstance(m, GnssHeading):
        return [m.t, m.yaw_rad, m.variance]
    if isinstance(m, BayPosition):
        return [m.t, m.x, m.y, *m.cov_xy, m.yaw]  # yaw_variance may be inf (yaw not measured)
    return [m.t]
