"""Crane interlocks: the checks every plan and twistlock command passes before it reaches the drive.

The controller's state machine is designed never to ask for anything unsafe; these checks are the
independent second line (as a PLC's interlocks sit under a crane's automation), evaluated on the
actual trajectory samples rather than on the intent:

* the gantry and trolley never move while the spreader is below the safe height (empty or loaded);
* the spreader is never lowered below the safe height except over a bay that is ready for this
  job (a docked, stationary carrier or a parked truck, per ``bay_status``);
* every axis stays within its travel, velocity, acceleration and jerk limits;
* the gantry stays inside the rail interval this crane holds (shared rails, see
  :mod:`crane_control.rail`);
* the twistlocks open only while no load hangs (rope load at most the spreader's and half a container's).

A stop plan (ruckig velocity interface to rest) is the reaction to a hazard, so it is exempt from
the lowering rule: it only ever decelerates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import CraneModel, JointReading
from .motion import EPS_M, REST_MPS, Plan

CHECK_DT_S = 0.05  # [s] sampling step of the plan checks
LIMIT_SLACK = 1.0 + 1e-6  # ruckig meets limits to rounding


class InterlockViolation(RuntimeError):
    """A plan or command breaks an interlock; the message names which and where."""


@dataclass(frozen=True)
class PlanContext:
    """What a plan is checked against: the load, the bays one may lower onto, the rail interval held."""

    loaded: bool
    lowerable_bays: frozenset[str]
    rail_interval: tuple[float, float] | None = None


def check_plan(model: CraneModel, plan: Plan, ctx: PlanContext, tolerance_m: float = 0.1) -> list[str]:
    """Every interlock the plan breaks (empty list = safe to send)."""
    problems: list[str] = []
    safe = model.safe_height(ctx.loaded)
    for axis, prof in plan.profiles.items():
        lo, hi = prof.extrema()
        lim = model.limits[axis]
        if lo < lim.min_m - EPS_M or hi > lim.max_m + EPS_M:
            problems.append(f"{axis} leaves its travel [{lim.min_m}, {lim.max_m}] m: {lo:.3f}..{hi:.3f} m")
    if ctx.rail_interval is not None and "gantry" in plan.profiles:
        lo, hi = plan.extrema("gantry")
        if lo < ctx.rail_interval[0] - EPS_M or hi > ctx.rail_interval[1] + EPS_M:
            problems.append(f"gantry {lo:.2f}..{hi:.2f} m leaves the rail interval held "
                            f"[{ctx.rail_interval[0]:.2f}, {ctx.rail_interval[1]:.2f}] m")
    times = np.append(np.arange(0.0, plan.duration, CHECK_DT_S), plan.duration)
    prev = None
    for t in times:
        st = plan.state(float(t))
        h = st["hoist"]
        for axis, s in st.items():
            lim = model.limits[axis]
            if abs(s.v) > lim.max_velocity_mps * LIMIT_SLACK or abs(s.a) > lim.max_acceleration_mps2 * LIMIT_SLACK:
                problems.append(f"{axis} exceeds its velocity/acceleration limit at t={t:.2f} s")
        if prev is not None:
            for axis, s in st.items():
                jerk = abs(s.a - prev[axis].a) / CHECK_DT_S
                if jerk > model.limits[axis].max_jerk_mps3 * LIMIT_SLACK + 1e-6:
                    problems.append(f"{axis} exceeds its jerk limit at t={t:.2f} s")
        prev = st
        below = h.p < safe - EPS_M
        if below and any(abs(st[a].v) > REST_MPS for a in model.horizontal_axes):
            problems.append(f"horizontal motion with the spreader at {h.p:.2f} m, below the "
                            f"{'loaded' if ctx.loaded else 'empty'} safe height {safe:.2f} m (t={t:.2f} s)")
        if below and h.v < -REST_MPS and plan.kind != "stop":
            pos = {a: s.p for a, s in st.items()}
            bay = model.bay_under(pos, tolerance_m)
            if bay is None:
                problems.append(f"lowering to {h.p:.2f} m where there is no bay (t={t:.2f} s)")
            elif bay.id not in ctx.lowerable_bays:
                problems.append(f"lowering onto bay '{bay.id}', which is not ready for this job (t={t:.2f} s)")
        if len(problems) > 5:
            break
    return sorted(set(problems), key=problems.index)


def unlock_refusal(model: CraneModel, reading: JointReading) -> str | None:
    """Why the twistlocks must not open now, or None if they may.

    They may open when the rope carries no more than the spreader and half an empty container: the
    spreader is landed (slack rope), or hangs empty after a failed lock. The twistlock reading is not
    trusted here (a half-turned lock may still hold a container): the rope load decides.
    """
    if reading.hoist_load_n > model.hanging_threshold_n:
        return f"load hangs on the spreader (rope load {reading.hoist_load_n:.0f} N)"
    return None
