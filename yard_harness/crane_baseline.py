"""The naive crane controller the crane benchmark measures ours against (benchmark only, not production).

What a first controller does: it starts a job only when both of its bays are ready, in arrival order,
never pre-positions or pre-lifts, and moves with :func:`sequential_transfer` (hoist to the safe
height and stop, move each horizontal axis in turn, then lower). Everything else (phases,
interlocks, failure handling) is :class:`~crane_control.controller.CraneController`'s, so the
benchmark compares the motion and the sequencing only.
"""

from __future__ import annotations

from crane_control.controller import CraneController
from crane_control.motion import EPS_M, REST_MPS, AxisProfile, AxisState, MotionError, Plan, ruckig_move
from crane_control.sequencing import Job
from yard_model.world import AxisLimits


def sequential_transfer(states: dict[str, AxisState], target: dict[str, float], end_height_m: float,
                        safe_height_m: float, limits: dict[str, AxisLimits], twistlock: float, note: str = "") -> Plan:
    """The naive move: hoist to the safe height and stop, move each horizontal axis in turn, then lower.

    No blending, no synchronisation; plans from rest only.
    """
    moving = [a for a in (*target, "hoist") if abs(states[a].v) > REST_MPS]
    if moving or any(abs(states[a].a) > 1e-3 for a in target):
        raise MotionError("the sequential baseline plans from rest only")
    profiles = {a: AxisProfile(s) for a, s in states.items()}
    t = 0.0
    h = states["hoist"]
    if h.p < safe_height_m:
        tr = ruckig_move([h], [AxisState(safe_height_m)], [limits["hoist"]])
        profiles["hoist"].add(t, tr)
        t += tr.duration
        h = AxisState(safe_height_m)
    for a in target:
        if abs(states[a].p - target[a]) > EPS_M:
            tr = ruckig_move([states[a]], [AxisState(target[a])], [limits[a]])
            profiles[a].add(t, tr)
            t += tr.duration
    if abs(h.p - end_height_m) > EPS_M:
        profiles["hoist"].add(t, ruckig_move([h], [AxisState(end_height_m)], [limits["hoist"]]))
    return Plan("transfer", profiles, twistlock, note=note)


class SequentialCraneController(CraneController):
    """:class:`CraneController` with the naive sequencing and motion (see the module docstring)."""

    _transfer = staticmethod(sequential_transfer)

    def _ranked(self, now_s: float) -> list[tuple[Job, bool]]:
        """Only the oldest job, and only once both its bays are ready (else stay idle: no pre-positioning)."""
        if not self.queue:
            return []
        readiness = self._readiness(now_s)
        job = min(self.queue, key=lambda j: j.seq)
        return [(job, True)] if readiness.pick_ok(job) and readiness.place_ok(job) else []


CONTROLLERS: dict[str, type[CraneController]] = {"blended": CraneController, "sequential": SequentialCraneController}
