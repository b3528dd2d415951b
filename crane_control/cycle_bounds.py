"""Reference cycle times of one lift job: the issue's time-optimal lower bound and our planned optimum.

Used by the benchmark (bench/crane_cycle.py) and the closed-loop tests. The *lower bound* is the
issue's definition: the sum of the ruckig time-optimal rest-to-rest moves of every phase of a job
(over the pick at safe height, lower, lock, hoist, traverse, lower, unlock, hoist clear) at the full
axis limits plus both twistlock turns, with no waiting. The *planned optimum* is the same job built
from this controller's blended primitives (``motion.transfer``), without any control overhead.
"""

from __future__ import annotations

from . import motion
from .model import CraneModel


def lower_bound_s(model: CraneModel, start: dict[str, float], pick: str, place: str) -> float:
    """Sum of the ruckig-optimal rest-to-rest moves of one job at the full limits, plus both twistlock turns."""
    lim = model.limits
    p, q = model.bays[pick], model.bays[place]
    s_e, s_l = model.safe_height(False), model.safe_height(True)
    horizontal = {a: start[a] for a in model.horizontal_axes}
    parts = [
        motion.optimal_duration_nd(horizontal, model.over(p), lim),  # over the pick at safe height
        motion.optimal_duration(start["hoist"], s_e, lim["hoist"]),
        motion.optimal_duration(s_e, p.landed_height_m, lim["hoist"]),  # lower onto the container
        model.crane.twistlock_time_s,  # lock
        motion.optimal_duration(p.landed_height_m, s_l, lim["hoist"]),  # hoist
        motion.optimal_duration_nd(model.over(p), model.over(q), lim),  # traverse
        motion.optimal_duration(s_l, q.landed_height_m, lim["hoist"]),  # lower
        model.crane.twistlock_time_s,  # unlock
        motion.optimal_duration(q.landed_height_m, s_e, lim["hoist"]),  # hoist clear
    ]
    return sum(parts)


def planned_optimum_s(model: CraneModel, start: dict[str, float], pick: str, place: str) -> float:
    """The same job with this controller's blended primitives at the full limits, without any control overhead."""
    lim = model.limits
    p, q = model.bays[pick], model.bays[place]
    st = {a: motion.AxisState(v) for a, v in start.items()}
    t = motion.transfer(st, model.over(p), p.landed_height_m, model.safe_height(False), lim, 0.0).duration
    t += model.crane.twistlock_time_s
    at_pick = {a: motion.AxisState(v) for a, v in model.over(p).items()}
    at_pick["hoist"] = motion.AxisState(p.landed_height_m)
    t += motion.transfer(at_pick, model.over(q), q.landed_height_m, model.safe_height(True), lim, 1.0).duration
    t += model.crane.twistlock_time_s
    t += motion.optimal_duration(q.landed_height_m, model.safe_height(False), lim["hoist"])
    return t
