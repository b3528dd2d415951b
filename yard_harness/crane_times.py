"""How long a crane's moves take, from crane_control's own planner: the kinematic yard's crane timing.

The simulated day's cranes (:mod:`yard_harness.fleet_sim`) do not run a controller against
physics; they step through a lift job's phases as ``crane_control.controller`` does (approach over
the pick and land, lock, carry to the place, hold over it at safe height while it is not ready,
lower, unlock, hoist clear) and take each phase's duration from the motion primitives the
controller plans with (``crane_control.motion``: blended, jerk-limited ruckig moves at the axis
limits the controller uses, ``limit_fraction``) for the crane's real bay geometry, plus the
controller's ``command_lead_s`` per trajectory. Durations are cached per (phase, bays): a crane
stands over one of its bays (or at home) between phases, so there are few distinct moves.

:class:`FixedCraneTimes` keeps the older fixed handling times (a test that wants fast cranes).
No rclpy here; times in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from crane_control import motion
from crane_control.model import CraneModel
from crane_control.params import CraneControllerParams

HOME = ""  # position key of the crane's home (else: the id of the bay it stands over)


class CraneTimes:
    """Phase durations of one crane [s] from ``crane_control.motion`` (see the module docstring)."""

    def __init__(self, world, crane_id: str, params: CraneControllerParams | None = None):
        p = params or CraneControllerParams()
        self.model = CraneModel.from_world(world, crane_id)
        self.limits = self.model.scaled_limits(p.limit_fraction)
        self.lead_s = p.command_lead_s
        self.lock_s = self.model.crane.twistlock_time_s
        self.prelift_horizon_s = p.prelift_horizon_s
        self.approach = lru_cache(maxsize=None)(self._approach)
        self.carry = lru_cache(maxsize=None)(self._carry)
        self.to_hold = lru_cache(maxsize=None)(self._to_hold)
        self.lower = lru_cache(maxsize=None)(self._lower)
        self.clear = lru_cache(maxsize=None)(self._clear)
        self.reposition = lru_cache(maxsize=None)(self._reposition)

    def _over(self, at: str) -> dict[str, float]:
        """Axis positions at rest over bay ``at`` at empty safe height (or home)."""
        if at == HOME:
            return dict(self.model.home)
        return {**self.model.over(self.model.bays[at]), "hoist": self.model.safe_height(False)}

    def _states(self, pos: dict[str, float]) -> dict[str, motion.AxisState]:
        return {a: motion.AxisState(v) for a, v in pos.items()}

    def _approach(self, at: str, pick: str) -> float:
        """From rest over ``at`` (empty, safe height) to landed on the pick container."""
        b = self.model.bays[pick]
        plan = motion.transfer(self._states(self._over(at)), self.model.over(b), b.landed_height_m,
                               self.model.safe_height(False), self.limits, 0.0)
        return plan.duration + self.lead_s

    def _landed(self, bay: str) -> dict[str, motion.AxisState]:
        b = self.model.bays[bay]
        return self._states({**self.model.over(b), "hoist": b.landed_height_m})

    def _carry(self, pick: str, place: str) -> float:
        """Landed at the pick with the container to landed at the place (the place ready all along)."""
        q = self.model.bays[place]
        plan = motion.transfer(self._landed(pick), self.model.over(q), q.landed_height_m,
                               self.model.safe_height(True), self.limits, 1.0)
        return plan.duration + self.lead_s

    def _to_hold(self, pick: str, place: str) -> float:
        """Landed at the pick with the container to holding over the place at loaded safe height."""
        safe = self.model.safe_height(True)
        plan = motion.transfer(self._landed(pick), self.model.over(self.model.bays[place]), safe, safe,
                               self.limits, 1.0)
        return plan.duration + self.lead_s

    def _lower(self, place: str) -> float:
        """Holding over the place at loaded safe height to landed."""
        b = self.model.bays[place]
        return motion.optimal_duration(self.model.safe_height(True), b.landed_height_m,
                                       self.limits["hoist"]) + self.lead_s

    def _clear(self, place: str) -> float:
        """Landed and unlocked to the empty spreader through the safe height (the job's ``done``)."""
        b = self.model.bays[place]
        return motion.optimal_duration(b.landed_height_m, self.model.safe_height(False),
                                       self.limits["hoist"]) + self.lead_s

    def _reposition(self, at: str, to: str) -> float:
        """Pre-positioning: empty at safe height from over ``at`` to over ``to``."""
        a, b = self._over(at), self._over(to)
        hz = {k: v for k, v in a.items() if k != "hoist"}
        return motion.optimal_duration_nd(hz, {k: b[k] for k in hz}, self.limits) + self.lead_s


@dataclass
class FixedCraneTimes:
    """The older fixed handling times: pick (approach + lock), place (carry + lower + unlock), finish."""

    pick_s: float = 50.0
    place_s: float = 55.0
    finish_s: float = 5.0
    lock_s: float = 0.0
    prelift_horizon_s: float = 0.0

    def approach(self, at: str, pick: str) -> float:
        return self.pick_s

    def carry(self, pick: str, place: str) -> float:
        return self.place_s

    def to_hold(self, pick: str, place: str) -> float:
        return self.place_s

    def lower(self, place: str) -> float:
        return 0.0

    def clear(self, place: str) -> float:
        return self.finish_s

    def reposition(self, at: str, to: str) -> float:
        return 0.0
