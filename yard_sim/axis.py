"""One crane axis (gantry, trolley or hoist drum) following a reference within its limits.

Method: online trajectory generation with Ruckig (Berscheid & Kröger, "Jerk-limited Real-time
Trajectory Generation with Arbitrary Target States", RSS 2021), the library crane_control also
plans with. Every step the axis asks Ruckig for the time-optimal, jerk-limited motion from its
current state to the reference's state one step ahead (position clipped to travel, velocity and
acceleration clipped to the limits):

* if Ruckig reaches that state within one step, the axis takes it exactly, so a feasible
  reference is followed without lag or drift;
* otherwise the axis moves one step along Ruckig's motion (it saturates) and catches up later.

Either way the reported velocity, acceleration and jerk (acceleration change per step) stay
within the limits. Travel is protected by an invariant: every state the axis takes must be able
to brake to rest (velocity interface, jerk-limited) inside its travel; a step that would break
it is replaced by a braking step, so the axis never runs past an end even when a reference
jumps. A cheap analytic bound on the braking distance skips the exact Ruckig check far from the
ends. A soft ``floor`` (the slack-rope limit of a landed hoist) clips the reference from below
but is not guarded: crossing it is how a slack rope pays out.
"""

from __future__ import annotations

import math

from ruckig import ControlInterface, InputParameter, OutputParameter, Result, Ruckig, RuckigError, Trajectory

from yard_model.world import AxisLimits

from .trajectory import AxisReference

_FINISHED = (Result.Finished,)
_OK = (Result.Working, Result.Finished)


def braking_distance_bound(v: float, a: float, a_max: float, j_max: float) -> float:
    """Upper bound [m] on how far (either way) a jerk-limited stop from (v, a) moves the axis.

    Conservative: the acceleration is taken along the motion whatever its sign (an acceleration
    against the motion can make the axis reverse before it stops, by less than this), first
    ramped to zero (the speed grows by a^2/2j meanwhile), then the stop from that peak speed is
    the classic jerk-limited profile.
    """
    v, a_up = abs(v), abs(a)
    t0 = a_up / j_max
    v_peak = v + a_up * a_up / (2.0 * j_max)
    if v_peak <= 0.0:
        return 0.0
    if v_peak >= a_max * a_max / j_max:
        d1 = 0.5 * v_peak * (v_peak / a_max + a_max / j_max)
    else:
        d1 = v_peak * math.sqrt(v_peak / j_max)
    return v_peak * t0 + d1


class AxisSim:
    """State (p, v, a) of one axis and its Ruckig generator; ``step`` advances by dt."""

    def __init__(self, name: str, limits: AxisLimits, position: float, dt: float):
        if not limits.min_m <= position <= limits.max_m:
            raise ValueError(f"{name}: start position {position} is outside travel [{limits.min_m}, {limits.max_m}]")
        self.name = name
        self.limits = limits
        self.dt = dt
        self.p, self.v, self.a = float(position), 0.0, 0.0
        self.reference: AxisReference | None = None
        self.floor: float | None = None  # soft lower clip of the reference [m]
        self.saturated = False  # the last step could not follow the reference exactly
        self.internal_errors = 0  # Ruckig failures (fell back to a hard hold); expected 0
        self._otg = Ruckig(1, dt)
        self._inp = InputParameter(1)
        self._out = OutputParameter(1)
        self._brake_inp = InputParameter(1)
        self._brake_out = OutputParameter(1)
        self._check_inp = InputParameter(1)
        self._check_traj = Trajectory(1)
        for inp in (self._inp, self._brake_inp, self._check_inp):
            inp.max_velocity = [limits.max_velocity_mps]
            inp.max_acceleration = [limits.max_acceleration_mps2]
            inp.max_jerk = [limits.max_jerk_mps3]
        for inp in (self._brake_inp, self._check_inp):
            inp.control_interface = ControlInterface.Velocity
            inp.target_velocity = [0.0]
            inp.target_acceleration = [0.0]

    # ----------------------------------------------------------- commands
    def follow(self, reference: AxisReference | None) -> None:
        """Follow a new reference (replacing the old one); None = brake to rest and hold."""
        self.reference = reference

    @property
    def moving(self) -> bool:
        return self.v != 0.0 or self.a != 0.0

    # ------------------------------------------------------------- motion
    def _target(self, t_next: float) -> tuple[float, float, float]:
        lim = self.limits
        rp, rv, ra = self.reference.sample(t_next)  # type: ignore[union-attr]
        lo = lim.min_m if self.floor is None else max(lim.min_m, min(self.floor, lim.max_m))
        if rp <= lo:
            return lo, 0.0, 0.0
        if rp >= lim.max_m:
            return lim.max_m, 0.0, 0.0
        vmax, amax, jmax = lim.max_velocity_mps, lim.max_acceleration_mps2, lim.max_jerk_mps3
        rv = min(max(rv, -vmax), vmax)
        ra = min(max(ra, -amax), amax)
        # With jerk limited, the speed just before and after a state with acceleration a differs by
        # a^2/2j: a target state must keep that within the speed limit (Ruckig rejects it otherwise).
        if abs(rv) + ra * ra / (2.0 * jmax) > vmax:
            ra = math.copysign(math.sqrt(max(2.0 * jmax * (vmax - abs(rv)), 0.0)) * (1.0 - 1e-9), ra)
        return rp, rv, ra

    def _can_stop_inside(self, p: float, v: float, a: float) -> bool:
        """True if a jerk-limited brake from (p, v, a) ends inside travel."""
        if v == 0.0 and a == 0.0:
            return self.limits.min_m <= p <= self.limits.max_m
        lim = self.limits
        d = braking_distance_bound(v, a, lim.max_acceleration_mps2, lim.max_jerk_mps3)
        if lim.min_m + d <= p <= lim.max_m - d:
            return True
        inp = self._check_inp
        inp.current_position = [p]
        inp.current_velocity = [v]
        inp.current_acceleration = [a]
        try:
            if self._otg.calculate(inp, self._check_traj) not in _OK:
                return False
        except RuckigError:
            return False
        end = self._check_traj.at_time(self._check_traj.duration)[0][0]
        return lim.min_m - 1e-9 <= end <= lim.max_m + 1e-9 and lim.min_m - 1e-9 <= p <= lim.max_m + 1e-9

    def _brake_step(self) -> tuple[float, float, float]:
        inp, out = self._brake_inp, self._brake_out
        inp.current_position = [self.p]
        inp.current_velocity = [self.v]
        inp.current_acceleration = [self.a]
        try:
            r = self._otg.update(inp, out)
        except RuckigError:
            r = Result.Error
        if r not in _OK:
            self.internal_errors += 1
            return self.p, 0.0, 0.0
        if r in _FINISHED:
            return out.new_position[0], 0.0, 0.0
        return out.new_position[0], out.new_velocity[0], out.new_acceleration[0]

    def step(self, t_next: float) -> None:
        """Advance one step to absolute time ``t_next`` [s]."""
        if self.reference is None:
            if self.moving:
                self.p, self.v, self.a = self._brake_step()
            self.saturated = False
            return
        rp, rv, ra = self._target(t_next)
        if abs(rp - self.p) < 1e-9 and abs(rv - self.v) < 1e-9 and abs(ra - self.a) < 1e-9:
            self.p, self.v, self.a = rp, rv, ra  # on the reference (at rest after its end: no work)
            self.saturated = False
            return
        inp, out = self._inp, self._out
        inp.current_position = [self.p]
        inp.current_velocity = [self.v]
        inp.current_acceleration = [self.a]
        inp.target_position = [rp]
        inp.target_velocity = [rv]
        inp.target_acceleration = [ra]
        try:
            r = self._otg.update(inp, out)
        except RuckigError:
            r = Result.Error
        if r in _OK and out.trajectory.duration <= self.dt * (1.0 + 1e-9):
            nxt = (rp, rv, ra)
            self.saturated = False
        elif r in _OK:
            nxt = (out.new_position[0], out.new_velocity[0], out.new_acceleration[0])
            self.saturated = True
        else:
            nxt = self._brake_step()
            self.saturated = True
        if not self._can_stop_inside(*nxt):
            nxt = self._brake_step()
            self.saturated = True
        p, v, a = nxt
        lo, hi = self.limits.min_m, self.limits.max_m
        if p > hi or p < lo:
            # Rounding in the last micrometre of a stop at an end; anything larger is a bug (counted).
            if p > hi + 1e-6 or p < lo - 1e-6:
                self.internal_errors += 1
            p, v, a = min(max(p, lo), hi), 0.0, 0.0
        self.p, self.v, self.a = p, v, a
