"""Time-optimal, jerk-limited crane motion with ruckig, and the clearance rules of a vertical lift.

Every move is built from ruckig trajectories (Berscheid & Kröger, "Jerk-limited Real-time Trajectory
Generation with Arbitrary Target States", RSS 2021): each is time-optimal for its boundary states
and never exceeds the axis's velocity, acceleration and jerk limits, so the crane's drives can follow
it exactly. We compose them rather than write a trajectory generator of our own.

The clearance rule of a vertical-lift crane is that the gantry and trolley move only while the
spreader is at or above the safe height (``safe_height_empty_m`` / ``safe_height_loaded_m`` of the
world, which clear a container standing on a truck or carrier). A naive controller hoists up, stops,
traverses, stops, lowers. :func:`transfer` blends the phases instead, keeping the rule exact:

1. *up*: the hoist rises from rest and crosses the safe height ``S`` still moving up at ``v_c``;
2. *traverse*: the horizontal axes start the instant the hoist reaches ``S`` (a synchronised
   gantry+trolley move of duration ``T_h``) while the hoist makes a loop above ``S`` (from
   ``(S, +v_c)`` to ``(S, -v_d)`` in exactly ``T_h``, ruckig's ``minimum_duration``);
3. *down*: the hoist crosses ``S`` moving down at ``v_d`` the instant the horizontal axes stop, and
   lands at the target height.

The crossing speeds are chosen from a grid to minimise the total time. The hoist never brakes to a
stop at ``S``, which saves its braking and re-acceleration at both ends of the traverse; the
horizontal axes never move below ``S``. :func:`stop` brings every axis to rest with ruckig's
velocity interface (the jerk-limited emergency stop).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from ruckig import ControlInterface, InputParameter, Result, Ruckig, Synchronization, Trajectory

from yard_model.world import AxisLimits

EPS_M = 1e-4  # [m] position tolerance of the clearance checks
REST_MPS = 1e-3  # [m/s] an axis slower than this is at rest
CROSSING_FRACTIONS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0)  # v_c, v_d as a fraction of v_max
SAME_TIME_S = 1e-6  # [s] jerk switches closer than this are one (rounding of ruckig's phase durations)
# [s] a regular sample this close to a jerk switch is left out: the switch is the point that matters, and a drive
# fitting a polynomial over a sliver of time gets its derivatives from the rounding of the positions
SAMPLE_GAP_S = 1e-3
MESSAGE_TICK_S = 1e-9  # [s] resolution of a JointTrajectory point's time_from_start (builtin_interfaces/Duration)


class MotionError(RuntimeError):
    """No trajectory satisfies the request (limits or clearance); the message says why."""


@dataclass(frozen=True)
class AxisState:
    """Position [m], velocity [m/s] and acceleration [m/s²] of one axis."""

    p: float
    v: float = 0.0
    a: float = 0.0


@dataclass
class _Piece:
    t0: float  # [s] start, relative to the plan
    traj: Trajectory
    dof: int
    sampled: bool = False  # velocity interface: ruckig's position_extrema do not apply, sample instead

    def breakpoints(self) -> list[float]:
        """Plan times where this piece's jerk switches (ruckig's phase boundaries), start and end included."""
        prof = self.traj.profiles[0][self.dof]
        out, t = [self.t0], self.t0
        for dt in prof.brake.t:
            t += dt
            out.append(t)
        t = self.t0 + prof.brake.duration
        for dt in prof.t:
            t += dt
            out.append(t)
        out.append(self.t1)
        return [x for x in out if self.t0 <= x <= self.t1 + 1e-9]

    def extrema(self) -> tuple[float, float]:
        if self.sampled or self.traj.duration <= 0.0:
            n = max(1, math.ceil(self.traj.duration / 0.01))
            ps = [self.traj.at_time(self.traj.duration * i / n)[0][self.dof] for i in range(n + 1)]
            return min(ps), max(ps)
        ext = self.traj.position_extrema[self.dof]
        return ext.min, ext.max

    @property
    def t1(self) -> float:
        return self.t0 + self.traj.duration

    def at(self, t: float) -> AxisState:
        p, v, a = self.traj.at_time(min(max(t - self.t0, 0.0), self.traj.duration))
        return AxisState(p[self.dof], v[self.dof], a[self.dof])


@dataclass
class AxisProfile:
    """Motion of one axis over a plan: ruckig pieces in time order, at rest before, between and after."""

    start: AxisState
    pieces: list[_Piece] = field(default_factory=list)

    def add(self, t0: float, traj: Trajectory, dof: int = 0, sampled: bool = False) -> None:
        self.pieces.append(_Piece(t0, traj, dof, sampled))

    @property
    def end_time(self) -> float:
        return self.pieces[-1].t1 if self.pieces else 0.0

    def at(self, t: float) -> AxisState:
        last = None
        for piece in self.pieces:
            if t < piece.t0:
                break
            last = piece
        if last is None:
            return self.start
        s = last.at(t)
        if t > last.t1:  # after a piece the axis holds its end position (pieces end at rest or hand over)
            return AxisState(s.p, 0.0, 0.0)
        return s

    def extrema(self) -> tuple[float, float]:
        lo = hi = self.start.p
        for piece in self.pieces:
            p_lo, p_hi = piece.extrema()
            lo, hi = min(lo, p_lo), max(hi, p_hi)
        return lo, hi


@dataclass(frozen=True)
class TrajectoryPoint:
    """One JointTrajectory point: time from start [s] and per-joint position/velocity/acceleration."""

    t: float
    positions: dict[str, float]
    velocities: dict[str, float]
    accelerations: dict[str, float]


@dataclass
class Plan:
    """A multi-axis motion (and twistlock command) that a crane drive follows from ``start_s``.

    ``kind`` says what it is for logs and checks: ``transfer``, ``vertical``, ``stop`` or ``hold``.
    ``twistlock`` is the commanded twistlock target for the whole plan (0 open, 1 locked).
    """

    kind: str
    profiles: dict[str, AxisProfile]
    twistlock: float
    twistlock_time_s: float = 0.0  # time the twistlock needs to turn to its target
    start_s: float = 0.0  # absolute (sim/ROS) time the plan starts; set when issued
    note: str = ""
    stamp_s: float | None = None  # message stamp (times of points() are relative to it); None = start_s
    lead_in: list[TrajectoryPoint] = field(default_factory=list)  # previous plan from stamp_s to start_s
    before: Plan | None = None  # the plan the drive follows until start_s (this one was spliced into it)

    @property
    def duration(self) -> float:
        return max([p.end_time for p in self.profiles.values()] + [self.twistlock_time_s])

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration

    def state(self, t_rel: float) -> dict[str, AxisState]:
        return {axis: prof.at(t_rel) for axis, prof in self.profiles.items()}

    def state_at(self, now_s: float) -> dict[str, AxisState]:
        """Commanded state at absolute time ``now_s``: before the start, that of the plan spliced into."""
        if self.before is not None and now_s < self.start_s:
            return self.before.state_at(now_s)
        return self.state(now_s - self.start_s)

    def forget_before(self, t: float) -> None:
        """Drop the spliced-into plans that ended their part before ``t`` (no state before ``t`` is asked for)."""
        plan = self
        while plan.before is not None:
            if plan.start_s <= t:
                plan.before = None
                return
            plan = plan.before

    def end(self) -> dict[str, float]:
        return {axis: prof.at(math.inf).p for axis, prof in self.profiles.items()}

    def extrema(self, axis: str) -> tuple[float, float]:
        return self.profiles[axis].extrema()

    def points(self, dt: float) -> list[TrajectoryPoint]:
        """Samples every ``dt`` [s], at every piece boundary and at the end, for a JointTrajectory.

        With ``stamp_s`` set, times are relative to it and the ``lead_in`` points (the previous plan
        until this one starts) come first: the message then splices the old motion into the new one
        exactly, whenever between stamp and start it reaches the drive.

        The boundaries matter: a drive interpolating between points then starts the horizontal axes
        exactly when the hoist reaches the safe height, not up to ``dt`` earlier; and with a point at
        every jerk switch of every axis, the quintic interpolation of a ros2_control-style follower
        reproduces the ruckig trajectory exactly (constant jerk between points), so it never asks a
        drive for more jerk than the limit. Each time is on the nanosecond grid a message carries, with the state
        at that time (see :func:`message_time`).
        """
        n = max(1, math.ceil(self.duration / dt - 1e-9))
        switches = [0.0, self.duration]
        for prof in self.profiles.values():
            for piece in prof.pieces:
                switches += [min(b, self.duration) for b in piece.breakpoints()]
        times = with_samples(switches, [i * dt for i in range(1, n)])
        offset = self.start_s - self.stamp_s if self.stamp_s is not None else 0.0
        out = [p for p in self.lead_in if p.t < offset - SAME_TIME_S]
        for t in times:
            t_msg = message_time(t + offset)
            st = self.state(t_msg - offset)
            pos = {a: s.p for a, s in st.items()}
            vel = {a: s.v for a, s in st.items()}
            acc = {a: s.a for a, s in st.items()}
            pos["twistlock"] = self.twistlock
            vel["twistlock"] = 0.0
            acc["twistlock"] = 0.0
            out.append(TrajectoryPoint(t_msg, pos, vel, acc))
        return out

    def breakpoints_abs(self) -> list[float]:
        """Absolute times where any axis's jerk switches (phase boundaries of every piece), those of the
        plan spliced into before the start included."""
        own = {self.start_s + b for prof in self.profiles.values() for piece in prof.pieces
               for b in piece.breakpoints()}
        if self.before is not None:
            own.update(b for b in self.before.breakpoints_abs() if b < self.start_s)
        return sorted(own)


def message_time(t: float) -> float:
    """``t`` [s] rounded to what a JointTrajectory point carries (whole nanoseconds).

    A point's state must be the plan's at the time the drive reads, not at the time before rounding: at
    1.2 m/s half a nanosecond is 6e-10 m, and a drive's quintic over the 1.2 ms to the next point (a jerk
    switch) turns that into 18 m/s^3 (issue #10, jerk limit 1 m/s^3).
    """
    return round(t / MESSAGE_TICK_S) * MESSAGE_TICK_S


def with_samples(switches, samples) -> list[float]:
    """Every jerk switch (those within ``SAME_TIME_S`` taken as one), and the regular ``samples`` that are not
    within ``SAMPLE_GAP_S`` of one, sorted.

    Every switch must stay a point: a quintic segment spanning one, even 0.4 ms into it, asks a drive for
    more jerk than the plan (1.003 of the limit seen, and the drive saturated and fell behind).
    """
    kept: list[float] = []
    for t in sorted(switches):
        if not kept or t - kept[-1] > SAME_TIME_S:
            kept.append(t)
    out = list(kept)
    for t in samples:
        i = bisect.bisect_left(kept, t)
        near = [kept[k] for k in (i - 1, i) if 0 <= k < len(kept)]
        if all(abs(t - b) >= SAMPLE_GAP_S for b in near):
            out.append(t)
    return sorted(out)


# --------------------------------------------------------------------------- ruckig wrappers
def _limits_into(inp: InputParameter, limits: list[AxisLimits]) -> None:
    inp.max_velocity = [lim.max_velocity_mps for lim in limits]
    inp.max_acceleration = [lim.max_acceleration_mps2 for lim in limits]
    inp.max_jerk = [lim.max_jerk_mps3 for lim in limits]


def _clip_state(s: AxisState, lim: AxisLimits) -> AxisState:
    """Measured states can exceed a limit by noise; ruckig rejects those, so clip them onto the limits."""
    v = max(-lim.max_velocity_mps, min(lim.max_velocity_mps, s.v))
    a = max(-lim.max_acceleration_mps2, min(lim.max_acceleration_mps2, s.a))
    return AxisState(s.p, v, a)


def ruckig_move(starts: list[AxisState], targets: list[AxisState], limits: list[AxisLimits],
                min_duration: float | None = None, synchronize: bool = True) -> Trajectory:
    """Time-optimal jerk-limited trajectory from ``starts`` to ``targets`` (one dof per entry)."""
    n = len(starts)
    inp = InputParameter(n)
    starts = [_clip_state(s, lim) for s, lim in zip(starts, limits)]
    inp.current_position = [s.p for s in starts]
    inp.current_velocity = [s.v for s in starts]
    inp.current_acceleration = [s.a for s in starts]
    inp.target_position = [s.p for s in targets]
    inp.target_velocity = [s.v for s in targets]
    inp.target_acceleration = [s.a for s in targets]
    _limits_into(inp, limits)
    inp.synchronization = Synchronization.Time if synchronize else Synchronization.No
    if min_duration is not None:
        inp.minimum_duration = min_duration
    traj = Trajectory(n)
    result = Ruckig(n).calculate(inp, traj)
    if result not in (Result.Working, Result.Finished):
        raise MotionError(f"ruckig could not plan {starts} -> {targets}: {result}")
    return traj


def ruckig_stop(starts: list[AxisState], limits: list[AxisLimits]) -> Trajectory:
    """Time-optimal jerk-limited stop of every dof (velocity interface, no synchronisation)."""
    n = len(starts)
    inp = InputParameter(n)
    starts = [_clip_state(s, lim) for s, lim in zip(starts, limits)]
    inp.current_position = [s.p for s in starts]
    inp.current_velocity = [s.v for s in starts]
    inp.current_acceleration = [s.a for s in starts]
    inp.target_velocity = [0.0] * n
    inp.target_acceleration = [0.0] * n
    _limits_into(inp, limits)
    inp.control_interface = ControlInterface.Velocity
    inp.synchronization = Synchronization.No
    traj = Trajectory(n)
    result = Ruckig(n).calculate(inp, traj)
    if result not in (Result.Working, Result.Finished):
        raise MotionError(f"ruckig could not plan a stop from {starts}: {result}")
    return traj


def optimal_duration(p0: float, p1: float, lim: AxisLimits) -> float:
    """Duration [s] of the time-optimal rest-to-rest move of one axis (the benchmark's lower bound)."""
    if abs(p1 - p0) < 1e-9:
        return 0.0
    return ruckig_move([AxisState(p0)], [AxisState(p1)], [lim]).duration


def optimal_duration_nd(p0: dict[str, float], p1: dict[str, float], limits: dict[str, AxisLimits]) -> float:
    """Duration [s] of the time-optimal rest-to-rest move of several axes together (the slowest one)."""
    return max([optimal_duration(p0[a], p1[a], limits[a]) for a in p1] + [0.0])


# ------------------------------------------------------------------------------ plans
def hold(positions: dict[str, float], twistlock: float, twistlock_time_s: float = 0.0, note: str = "") -> Plan:
    """Keep every axis where it is (optionally while the twistlocks turn)."""
    return Plan("hold", {a: AxisProfile(AxisState(p)) for a, p in positions.items()}, twistlock, twistlock_time_s,
                note=note)


def stop(states: dict[str, AxisState], limits: dict[str, AxisLimits], twistlock: float, note: str = "") -> Plan:
    """Bring every axis to rest as fast as its limits allow (jerk-limited emergency stop)."""
    axes = list(states)
    traj = ruckig_stop([states[a] for a in axes], [limits[a] for a in axes])
    profiles = {}
    for i, a in enumerate(axes):
        prof = AxisProfile(states[a])
        prof.add(0.0, traj, i, sampled=True)
        profiles[a] = prof
    return Plan("stop", profiles, twistlock, note=note)


def vertical(states: dict[str, AxisState], height_m: float, limits: dict[str, AxisLimits], twistlock: float,
             note: str = "") -> Plan:
    """Move the hoist to ``height_m``; any horizontal axis still moving is brought to rest where it is."""
    profiles = {}
    for a, s in states.items():
        if a == "hoist":
            prof = AxisProfile(s)
            prof.add(0.0, ruckig_move([s], [AxisState(height_m)], [limits[a]]))
        elif abs(s.v) > REST_MPS or abs(s.a) > 1e-3:
            prof = AxisProfile(s)
            prof.add(0.0, ruckig_stop([s], [limits[a]]), sampled=True)
        else:
            prof = AxisProfile(AxisState(s.p))  # at rest: hold exactly, do not carry sensor noise along
        profiles[a] = prof
    return Plan("vertical", profiles, twistlock, note=note)


def _horizontal_at_rest(states: dict[str, AxisState], axes: tuple[str, ...]) -> bool:
    return all(abs(states[a].v) <= REST_MPS and abs(states[a].a) <= 1e-3 for a in axes)


def transfer(states: dict[str, AxisState], target: dict[str, float], end_height_m: float, safe_height_m: float,
             limits: dict[str, AxisLimits], twistlock: float, note: str = "") -> Plan:
    """Blended hoist-traverse-lower move to ``target`` (horizontal axes) ending at rest at ``end_height_m``.

    The horizontal axes move only while the hoist is at or above ``safe_height_m``. Raises
    MotionError if that cannot be kept from ``states`` (e.g. horizontal axes moving while the
    hoist is below the safe height); the caller then stops first and plans again from rest.
    """
    hz = tuple(a for a in target)
    hoist_lim = limits["hoist"]
    safe = safe_height_m
    h = states["hoist"]
    moves_horizontally = any(abs(states[a].p - target[a]) > EPS_M for a in hz) or not _horizontal_at_rest(states, hz)
    if not moves_horizontally:
        return vertical(states, end_height_m, limits, twistlock, note)
    if end_height_m > hoist_lim.max_m + EPS_M or safe > hoist_lim.max_m + EPS_M:
        raise MotionError(f"end height {end_height_m:.2f} m or safe height {safe:.2f} m is above hoist travel")

    h_starts = [states[a] for a in hz]
    h_limits = [limits[a] for a in hz]
    h_targets = [AxisState(target[a]) for a in hz]
    base_traj = ruckig_move(h_starts, h_targets, h_limits)
    t_h = base_traj.duration
    above = h.p >= safe - EPS_M
    if not above and not _horizontal_at_rest(states, hz):
        raise MotionError(f"horizontal axes move while the hoist is {safe - h.p:.2f} m below the safe height")
    descend = end_height_m < safe - EPS_M
    v_max = hoist_lim.max_velocity_mps

    # up phase candidates: reach safe moving up at v_c (or start the traverse at once if already above safe)
    ups: list[tuple[float, Trajectory | None, AxisState]] = []
    if above:
        ups.append((0.0, None, h))
    else:
        for f in CROSSING_FRACTIONS:
            try:
                tr = ruckig_move([h], [AxisState(safe, f * v_max)], [hoist_lim])
            except MotionError:
                continue
            if h.v >= -REST_MPS and tr.position_extrema[0].min < h.p - EPS_M:
                continue  # would dip towards what it stands on before rising
            if tr.position_extrema[0].max > safe + EPS_M:
                continue
            ups.append((tr.duration, tr, AxisState(safe, f * v_max)))
    # down phase candidates: cross safe moving down at v_d and land at rest without undershoot
    downs: list[tuple[float, Trajectory | None, AxisState]] = []
    if descend:
        for f in CROSSING_FRACTIONS:
            try:
                tr = ruckig_move([AxisState(safe, -f * v_max)], [AxisState(end_height_m)], [hoist_lim])
            except MotionError:
                continue
            ext = tr.position_extrema[0]
            if ext.min < end_height_m - EPS_M or ext.max > safe + EPS_M:
                continue
            downs.append((tr.duration, tr, AxisState(safe, -f * v_max)))
    else:
        downs.append((0.0, None, AxisState(end_height_m)))

    best = None
    for t_up, tr_up, s_cross_up in ups:
        for t_down, tr_down, s_cross_down in downs:
            if best is not None and t_up + t_h + t_down >= best[0]:
                continue  # cannot beat the best even if the loop fits in T_h
            try:
                loop = ruckig_move([s_cross_up], [s_cross_down], [hoist_lim], min_duration=t_h)
            except MotionError:
                continue
            ext = loop.position_extrema[0]
            if ext.min < safe - EPS_M or ext.max > hoist_lim.max_m:
                continue
            total = t_up + loop.duration + t_down
            if best is None or total < best[0]:
                best = (total, t_up, tr_up, loop, tr_down)
    if best is None:
        raise MotionError(f"no blended transfer keeps the hoist above {safe:.2f} m from {h}")
    _, t_up, tr_up, loop, tr_down = best
    h_traj = base_traj
    if loop.duration > t_h + 1e-6:  # the hoist loop needs longer: stretch the traverse to match
        h_traj = ruckig_move(h_starts, h_targets, h_limits, min_duration=loop.duration)

    profiles: dict[str, AxisProfile] = {}
    hoist_prof = AxisProfile(h)
    if tr_up is not None:
        hoist_prof.add(0.0, tr_up)
    hoist_prof.add(t_up, loop)
    if tr_down is not None:
        hoist_prof.add(t_up + loop.duration, tr_down)
    profiles["hoist"] = hoist_prof
    for i, a in enumerate(hz):
        prof = AxisProfile(states[a])
        prof.add(t_up, h_traj, i)
        profiles[a] = prof
    for a, s in states.items():  # axes not named in target (none today) hold still
        profiles.setdefault(a, AxisProfile(s))
    return Plan("transfer", profiles, twistlock, note=note)

