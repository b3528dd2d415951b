"""Joint trajectories for the simulated cranes: validation, interpolation, limit checks.

A crane is commanded with ``trajectory_msgs/JointTrajectory`` (docs/architecture.md, "Crane joint
encoding"). This module holds the ROS-free form of such a command and turns it into one reference
per axis, the way ros2_control's ``joint_trajectory_controller`` samples one:

* each segment between two points is a polynomial chosen by what both ends carry: positions,
  velocities and accelerations -> quintic; positions and velocities -> cubic (Hermite);
  positions only -> linear (the JTC "spline interpolation" table);
* a command whose first point is still ahead on receipt starts from the axis's *current* state,
  so a first point in the future is approached smoothly from where the axis is;
* a command received after its first point is *joined where it is*: the axis follows the
  command's own segment through the time of receipt (from the last point already past), as JTC
  samples a trajectory at the current time. It is never squeezed: points already past are not
  dropped in favour of a segment from the axis's state to the next point, which for a command
  arriving a few milliseconds before a point asks for any acceleration at all (a command
  0.47 s late asked a hoist for 26 m/s^2 and 8,812 m/s^3 that way). Nor is it shifted: the
  stamps are the clock the controller and the drive share, and the controller's next command
  splices into this one on that clock. If the command's state at receipt is not the axis's, the
  command came too late to continue the motion it replaces: the reference steps, the axis
  closes the step within its limits, and :func:`continuity_steps` reports it;
* a command wholly in the past on receipt (every point already due, e.g. a single point at
  ``time_from_start`` 0) is a step reference to its last point ("go there as fast as the limits
  allow"), which is not a limit violation;
* after the last point the reference holds its position at rest.

``limit_violations`` samples the reference once at receipt and names every axis limit the command
asks to exceed (travel, velocity, acceleration on cubic/quintic segments, jerk on quintic segments).
A segment shorter than ``SHORT_SEGMENT_S`` is not sampled: over such a sliver of time the
polynomial's jerk and acceleration come from the rounding of its end positions (two points 20 ns
apart on one constant-jerk motion gave 1e6 m/s^2; 10 us apart, hundreds of m/s^3), while its
position and velocity are its ends' to within rounding. Its end is checked instead against its start carried
forward at the jerk limit; a gap is reported as a step. The axis itself
never exceeds a limit (see :mod:`yard_sim.axis`); the violations are reported so that a crane
controller that plans badly, or too late, is caught. Velocity steps between linear segments are not
counted: position-only points are waypoints and the axis smooths them.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

from yard_model.world import AxisLimits

SAMPLES_PER_SEGMENT = 16  # limit checks evaluate each segment at this many interior points
STEP_POSITION_M = 1e-3  # [m] a joined command this far from the axis's position at receipt is a step
STEP_TIME_S = 0.01  # [s] ... and one asking for a velocity (acceleration) the axis cannot reach in this long
SHORT_SEGMENT_S = 1e-3  # [s] segments shorter than this are checked by their ends (see the module docstring)


class TrajectoryError(ValueError):
    """A trajectory command is malformed (unknown joint, NaN, bad timing); the message says why."""


@dataclass(frozen=True)
class TrajectoryPoint:
    """One point: ``time_from_start_s`` [s] and per-joint values in ``joint_names`` order."""

    time_from_start_s: float
    positions: tuple[float, ...]
    velocities: tuple[float, ...] | None = None
    accelerations: tuple[float, ...] | None = None


@dataclass(frozen=True)
class JointTrajectory:
    """A crane command: joint names, points, and the absolute start time ``start_t`` [s, sim time]."""

    joint_names: tuple[str, ...]
    points: tuple[TrajectoryPoint, ...]
    start_t: float

    def validate(self, known_joints: Sequence[str]) -> None:
        """Raise TrajectoryError naming the first problem; an empty point list is valid (= stop)."""
        names = self.joint_names
        if len(set(names)) != len(names):
            raise TrajectoryError(f"duplicate joint names in {list(names)}")
        for n in names:
            if n not in known_joints:
                raise TrajectoryError(f"unknown joint '{n}' (this crane has {', '.join(known_joints)})")
        if not math.isfinite(self.start_t):
            raise TrajectoryError("start time is not finite")
        if self.points and not names:
            raise TrajectoryError("points given but no joint names")
        prev = -math.inf
        for i, p in enumerate(self.points):
            if not math.isfinite(p.time_from_start_s) or p.time_from_start_s < 0.0:
                raise TrajectoryError(f"point {i}: time_from_start {p.time_from_start_s} is not a finite time >= 0")
            if p.time_from_start_s <= prev:
                raise TrajectoryError(f"point {i}: time_from_start must increase ({p.time_from_start_s} <= {prev})")
            prev = p.time_from_start_s
            for field_name in ("positions", "velocities", "accelerations"):
                values = getattr(p, field_name)
                if values is None:
                    if field_name == "positions":
                        raise TrajectoryError(f"point {i}: positions are required")
                    continue
                if len(values) != len(names):
                    raise TrajectoryError(
                        f"point {i}: {len(values)} {field_name} for {len(names)} joints")
                if not all(math.isfinite(v) for v in values):
                    raise TrajectoryError(f"point {i}: {field_name} contain NaN or infinity")
            if p.accelerations is not None and p.velocities is None:
                raise TrajectoryError(f"point {i}: accelerations without velocities")


@dataclass(frozen=True)
class Knot:
    """Reference state of one axis at absolute time ``t`` [s]; v/a None when not given."""

    t: float
    p: float
    v: float | None = None
    a: float | None = None


def _segment_coefficients(k0: Knot, k1: Knot) -> tuple[str, tuple[float, ...]]:
    """Polynomial coefficients c0..c5 in tau = t - k0.t for the segment k0 -> k1, and its kind."""
    T = k1.t - k0.t
    p0, p1 = k0.p, k1.p
    if k0.v is not None and k1.v is not None and k0.a is not None and k1.a is not None:
        v0, v1, a0, a1 = k0.v, k1.v, k0.a, k1.a
        T2, T3, T4, T5 = T * T, T**3, T**4, T**5
        c3 = (20 * (p1 - p0) - (8 * v1 + 12 * v0) * T - (3 * a0 - a1) * T2) / (2 * T3)
        c4 = (30 * (p0 - p1) + (14 * v1 + 16 * v0) * T + (3 * a0 - 2 * a1) * T2) / (2 * T4)
        c5 = (12 * (p1 - p0) - 6 * (v1 + v0) * T - (a0 - a1) * T2) / (2 * T5)
        return "quintic", (p0, v0, a0 / 2.0, c3, c4, c5)
    if k0.v is not None and k1.v is not None:
        v0, v1 = k0.v, k1.v
        c2 = (3 * (p1 - p0) - (2 * v0 + v1) * T) / (T * T)
        c3 = (2 * (p0 - p1) + (v0 + v1) * T) / T**3
        return "cubic", (p0, v0, c2, c3, 0.0, 0.0)
    return "linear", (p0, (p1 - p0) / T, 0.0, 0.0, 0.0, 0.0)


def _eval(c: tuple[float, ...], tau: float) -> tuple[float, float, float]:
    c0, c1, c2, c3, c4, c5 = c
    p = c0 + tau * (c1 + tau * (c2 + tau * (c3 + tau * (c4 + tau * c5))))
    v = c1 + tau * (2 * c2 + tau * (3 * c3 + tau * (4 * c4 + tau * 5 * c5)))
    a = 2 * c2 + tau * (6 * c3 + tau * (12 * c4 + tau * 20 * c5))
    return p, v, a


def _jerk(c: tuple[float, ...], tau: float) -> float:
    return 6 * c[3] + tau * (24 * c[4] + tau * 60 * c[5])


class AxisReference:
    """Piecewise-polynomial reference of one axis over absolute time; holds at rest after the end.

    ``step_target`` set means no future knot was left: the reference is that position at rest from
    the start (a step), to be reached as fast as the limits allow.
    """

    def __init__(self, knots: Sequence[Knot]):
        if not knots:
            raise TrajectoryError("an axis reference needs at least one knot")
        self.knots = list(knots)
        self.times = [k.t for k in self.knots]
        self.segments = [_segment_coefficients(a, b) for a, b in zip(self.knots, self.knots[1:])]
        self.end_t = self.knots[-1].t
        self.end_p = self.knots[-1].p
        self._i = 0  # segment cache: time only moves forward

    @classmethod
    def step(cls, t: float, position: float) -> AxisReference:
        return cls([Knot(t, position, 0.0, 0.0)])

    def sample(self, t: float) -> tuple[float, float, float]:
        """(position, velocity, acceleration) of the reference at absolute time t."""
        if t >= self.end_t or not self.segments:
            return self.end_p, 0.0, 0.0
        if t <= self.times[0]:
            k = self.knots[0]
            return k.p, k.v or 0.0, k.a or 0.0
        i = self._i
        if not (self.times[i] <= t < self.times[i + 1]):
            i = bisect.bisect_right(self.times, t) - 1
            self._i = i
        return _eval(self.segments[i][1], t - self.times[i])

    def kind_at(self, t: float) -> str:
        """Kind of the segment in force at absolute time t ("hold" before the first knot's segment or after the end)."""
        if not self.segments or t >= self.end_t or t < self.times[0]:
            return "hold"
        return self.segments[bisect.bisect_right(self.times, t) - 1][0]


@dataclass(frozen=True)
class LimitViolation:
    """A command asking for more than an axis can do: which joint, which limit, how much."""

    joint: str
    limit: str  # "travel" | "velocity" | "acceleration" | "jerk" | "position_step" | "velocity_step" | ...
    requested: float  # the worst value asked for [m, m/s, m/s^2, m/s^3]; for a step, its size
    allowed: float  # the limit it breaks (for travel: the end of travel it passes; for a step: the tolerance)


def joined(traj: JointTrajectory, t_received: float) -> bool:
    """True if a command received at ``t_received`` is joined where it is: its first point is due, its last is not."""
    return bool(traj.points) and (traj.start_t + traj.points[0].time_from_start_s <= t_received
                                  < traj.start_t + traj.points[-1].time_from_start_s)


def axis_knots(traj: JointTrajectory, joint_index: int, t_received: float,
               current: tuple[float, float, float]) -> list[Knot]:
    """Knots of one joint's reference for a command received at ``t_received`` (module docstring).

    First point still ahead: the current state at receipt, then every point. Otherwise the points
    from the last one already past (the command's own segment through ``t_received``). Every
    point past: a single knot at the last point's position (a step reference).
    """
    j = joint_index
    knots = [Knot(traj.start_t + p.time_from_start_s, p.positions[j],
                  None if p.velocities is None else p.velocities[j],
                  None if p.accelerations is None else p.accelerations[j]) for p in traj.points]
    past = bisect.bisect_right([k.t for k in knots], t_received)
    if past == len(knots):
        return [Knot(t_received, knots[-1].p, 0.0, 0.0)]
    if past == 0:
        p0, v0, a0 = current
        return [Knot(t_received, p0, v0, a0), *knots]
    return knots[past - 1:]


def continuity_steps(joint: str, ref: AxisReference, t: float, current: tuple[float, float, float],
                     limits: AxisLimits) -> list[LimitViolation]:
    """Steps between the axis's state and its new reference at ``t``: a command that does not continue the motion.

    A position step beyond ``STEP_POSITION_M``, or a velocity (acceleration) step the axis could not
    make in ``STEP_TIME_S`` at its acceleration (jerk) limit, is reported; smaller ones are rounding.
    Velocity is compared only on cubic and quintic segments and acceleration only on quintic ones,
    as :func:`limit_violations` treats position-only points as waypoints.
    """
    rp, rv, ra = ref.sample(t)
    p, v, a = current
    kind = ref.kind_at(t)
    checks = [("position_step", rp - p, STEP_POSITION_M)]
    if kind in ("cubic", "quintic"):
        checks.append(("velocity_step", rv - v, limits.max_acceleration_mps2 * STEP_TIME_S))
    if kind == "quintic":
        checks.append(("acceleration_step", ra - a, limits.max_jerk_mps3 * STEP_TIME_S))
    return [LimitViolation(joint, name, step, tol) for name, step, tol in checks if abs(step) > tol]


def limit_violations(joint: str, ref: AxisReference, limits: AxisLimits, tolerance: float = 0.02
                     ) -> list[LimitViolation]:
    """Limits the reference asks to exceed by more than ``tolerance`` (relative), worst value each."""
    worst: dict[str, tuple[float, float]] = {}

    def note(kind: str, requested: float, allowed: float) -> None:
        if kind not in worst or abs(requested) > abs(worst[kind][0]):
            worst[kind] = (requested, allowed)

    span = max(limits.max_m - limits.min_m, 1.0)
    travel_tol = 1e-6 * span
    for k in ref.knots:
        if k.p > limits.max_m + travel_tol:
            note("travel", k.p, limits.max_m)
        elif k.p < limits.min_m - travel_tol:
            note("travel", k.p, limits.min_m)
    v_lim = limits.max_velocity_mps * (1 + tolerance)
    a_lim = limits.max_acceleration_mps2 * (1 + tolerance)
    j_lim = limits.max_jerk_mps3 * (1 + tolerance)
    for (kind, c), k0, k1 in zip(ref.segments, ref.knots, ref.knots[1:]):
        T = k1.t - k0.t
        if T < SHORT_SEGMENT_S:
            for v in _short_segment_steps(joint, kind, k0, k1, limits):
                note(v.limit, v.requested, v.allowed)
            continue
        for s in range(SAMPLES_PER_SEGMENT + 1):
            tau = T * s / SAMPLES_PER_SEGMENT
            p, v, a = _eval(c, tau)
            if p > limits.max_m + travel_tol:
                note("travel", p, limits.max_m)
            elif p < limits.min_m - travel_tol:
                note("travel", p, limits.min_m)
            if abs(v) > v_lim:
                note("velocity", v, limits.max_velocity_mps)
            if kind != "linear" and abs(a) > a_lim:
                note("acceleration", a, limits.max_acceleration_mps2)
            if kind == "quintic":
                j = _jerk(c, tau)
                if abs(j) > j_lim:
                    note("jerk", j, limits.max_jerk_mps3)
    order = ("travel", "velocity", "acceleration", "jerk", "position_step", "velocity_step", "acceleration_step")
    return [LimitViolation(joint, k, worst[k][0], worst[k][1]) for k in order if k in worst]


def _short_segment_steps(joint: str, kind: str, k0: Knot, k1: Knot, limits: AxisLimits) -> list[LimitViolation]:
    """A segment too short to sample: its end against its start carried forward at the jerk limit (steps if not)."""
    if kind == "linear":
        return []  # position-only points are waypoints
    T = k1.t - k0.t
    v0, a0 = k0.v, k0.a or 0.0
    j = max(-limits.max_jerk_mps3, min(limits.max_jerk_mps3, (k1.a - a0) / T)) if kind == "quintic" else 0.0
    p = k0.p + v0 * T + a0 * T * T / 2.0 + j * T ** 3 / 6.0
    checks = [("position_step", k1.p - p, STEP_POSITION_M),
              ("velocity_step", k1.v - (v0 + a0 * T + j * T * T / 2.0), limits.max_acceleration_mps2 * STEP_TIME_S)]
    if kind == "quintic":
        checks.append(("acceleration_step", k1.a - (a0 + j * T), limits.max_jerk_mps3 * STEP_TIME_S))
    return [LimitViolation(joint, name, step, tol) for name, step, tol in checks if abs(step) > tol]
