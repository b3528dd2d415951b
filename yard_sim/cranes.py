"""A simulated automated vertical-lift crane: axes, spreader, twistlocks, load sensing.

What a crane controller sees and commands (docs/architecture.md, "Crane joint encoding"):

* ``gantry``, ``trolley``: :class:`~yard_sim.axis.AxisSim` following the commanded
  trajectory within travel, velocity, acceleration and jerk limits.
* ``hoist``: the *drum* is an axis like the others; the *spreader* hangs from it unless
  something holds it up. Each step the spreader (or the container it carries) is lowered onto the
  highest surface under its footprint (a container top, a truck bed, a carrier deck, the ground):
  ``spreader height = max(drum, surface + load height)``. When the surface holds it the spreader
  is **landed**: the rope is slack (load ~ 0) and slack-rope protection lets the drum pay out at
  most ``slack_rope_m`` more. The reported ``hoist`` position is the spreader's underside height.
* ``twistlock``: 0 open ... 1 locked, turning in ``twistlock_time_s``. Like a real spreader's
  interlock, the pins turn towards *locked* only while the spreader is seated: landed on a
  container within ``align_tolerance_m`` / ``align_tolerance_rad``. On reaching 1 the container
  is attached (unless a seeded lock failure is drawn: the pins read locked but hold nothing,
  which only the load sensing reveals). Turning towards *open* is always possible: below 0.5 the
  container is let go. Landed: it rests on the surface below (``container_released``); hanging:
  it falls (``container_dropped``; a crane controller must never do this).
* load sensing: ``effort`` of ``hoist`` = rope load [N] = (spreader + hanging container mass)
  x (g + drum acceleration) while hanging, 0 when landed.

A container set down on a carrier or truck further from its deck/bed centre than the cargo
tolerance yields ``container_misplaced`` with the offset. Commands that ask for more than an
axis can do yield ``crane_limit_violation`` events (see :mod:`yard_sim.trajectory`).
Cranes sharing rails are checked by :func:`rail_separation_violations`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from yard_model.world import ContainerType, Crane

from .axis import AxisSim
from .cargo import Cargo, Support, end_symmetric_yaw
from .collisions import Body, Box
from .trajectory import AxisReference, JointTrajectory, axis_knots, continuity_steps, joined, limit_violations

GRAVITY_MPS2 = 9.80665
SPREADER_HEIGHT_M = 1.0  # [m] vertical size of the spreader frame (collision body)
TWISTLOCK_RELEASE = 0.5  # a locked container is let go when the pins turn below this
NOTHING_BELOW_MARGIN_M = 0.5  # [m] above the highest surface in the yard no support query is needed


@dataclass
class CraneSimConfig:
    """Spreader behaviour; see the simulator parameters for meaning and units."""

    align_tolerance_m: float = 0.1
    align_tolerance_rad: float = math.radians(2.0)
    slack_rope_m: float = 0.1
    lock_failure_probability: float = 0.0
    limit_tolerance: float = 0.02


@dataclass
class CraneCounters:
    limit_violations: int = 0
    drops: int = 0
    misplaced: int = 0
    lock_failures: int = 0
    rejected_trajectories: int = 0


class CraneSim:
    """One crane of the world; ``command`` takes trajectories, ``step`` advances the physics."""

    def __init__(self, crane: Crane, container_type: ContainerType, dt: float,
                 config: CraneSimConfig | None = None, rng: random.Random | None = None):
        self.crane = crane
        self.id = crane.id
        self.config = config or CraneSimConfig()
        self.rng = rng or random.Random(0)
        self.c_len, self.c_wid, self.c_hgt = container_type.length_m, container_type.width_m, container_type.height_m
        self.axes: dict[str, AxisSim] = {}
        if crane.gantry is not None:
            self.axes["gantry"] = AxisSim("gantry", crane.gantry, crane.home_gantry_m, dt)
        self.axes["trolley"] = AxisSim("trolley", crane.trolley, crane.home_trolley_m, dt)
        self.axes["hoist"] = AxisSim("hoist", crane.hoist, crane.safe_height_empty_m, dt)
        self.joint_names: tuple[str, ...] = (*self.axes, "twistlock")
        self.twistlock = 0.0
        self.twistlock_rate = 0.0  # [1/s] current turning speed (reported velocity)
        self._tl_target = 0.0
        self._tl_schedule: list[tuple[float, float]] = []
        self.container_id: str | None = None  # attached container
        self.lock_failed = False  # pins locked on nothing (failure injection)
        self.landed = False
        self.support = Support("ground", None, 0.0)
        self.z = crane.safe_height_empty_m  # spreader underside [m]
        self.vz = 0.0
        self.effort_n = 0.0
        self.x, self.y = crane.to_map(self.gantry_m, self.axes["trolley"].p)
        self.yaw = crane.origin.yaw
        self.counters = CraneCounters()
        self._legs_at: float | None = None
        self._legs: list[Body] = []
        self._leg_ids = [f"crane_leg:{self.id}:{i}" for i in range(4)]
        self._spreader_id, self._crane_owner = f"spreader:{self.id}", f"crane:{self.id}"
        self._spreader_at: tuple[float, float, float] | None = None
        self._spreader_body: Body | None = None

    # ------------------------------------------------------------- queries
    @property
    def gantry_m(self) -> float:
        g = self.axes.get("gantry")
        return g.p if g is not None else 0.0

    def joint_state(self) -> tuple[list[str], list[float], list[float], list[float]]:
        """(names, positions, velocities, efforts) in the documented joint encoding."""
        names, pos, vel, eff = [], [], [], []
        for name, ax in self.axes.items():
            names.append(name)
            if name == "hoist":
                pos.append(self.z)
                vel.append(self.vz)
                eff.append(self.effort_n)
            else:
                pos.append(ax.p)
                vel.append(ax.v)
                eff.append(0.0)
        names.append("twistlock")
        pos.append(self.twistlock)
        vel.append(self.twistlock_rate)
        eff.append(0.0)
        return names, pos, vel, eff

    def spreader_box(self) -> Box:
        return Box(self.x, self.y, self.yaw, self.c_len, self.c_wid, self.z, self.z + SPREADER_HEIGHT_M)

    def bodies(self) -> list[Body]:
        """Collision bodies: the four legs (owner: the rail group, so rail-mates never 'touch') and the spreader.

        The same objects are returned while nothing moved, which lets the collision check skip them.
        """
        g = self.gantry_m
        if self._legs_at != g:
            portal = self.crane.portal
            owner = f"rails:{self.crane.rail_group}" if self.crane.rail_group else f"crane:{self.id}"
            self._legs = []
            half = portal.length_m / 2.0
            centres = [self.crane.to_map(along, across) for along in (g - half, g + half)
                       for across in (0.0, portal.span_m)]  # as Crane.leg_footprints
            for i, (cx, cy) in enumerate(centres):
                box = Box(cx, cy, self.yaw, portal.leg_size_m, portal.leg_size_m, 0.0, portal.height_m)
                self._legs.append(Body(self._leg_ids[i], owner, box))
            self._legs_at = g
        key = (self.x, self.y, self.z)
        if self._spreader_at != key:
            self._spreader_body = Body(self._spreader_id, self._crane_owner, self.spreader_box())
            self._spreader_at = key
        return [*self._legs, self._spreader_body]

    # ------------------------------------------------------------ commands
    def command(self, traj: JointTrajectory, t_now: float) -> list[dict]:
        """Replace the current motion with ``traj`` (validated; raises TrajectoryError).

        Axes the trajectory does not name brake to rest and hold; an empty trajectory stops all
        of them (the twistlocks finish their turn). A trajectory received after its first point is
        joined where it is at ``t_now`` (see :mod:`yard_sim.trajectory`). Returns limit-violation
        events, each with ``late_s``: how long after its stamp the trajectory was received.
        """
        traj.validate(self.joint_names)
        events: list[dict] = []
        joining = joined(traj, t_now)
        if not traj.points:
            for ax in self.axes.values():
                ax.follow(None)
            self._tl_schedule = []
            return events
        for name, ax in self.axes.items():
            if name not in traj.joint_names:
                ax.follow(None)
                continue
            j = traj.joint_names.index(name)
            state = (ax.p, ax.v, ax.a)
            ref = AxisReference(axis_knots(traj, j, t_now, state))
            found = continuity_steps(name, ref, t_now, state, ax.limits) if joining else []
            for v in found + limit_violations(name, ref, ax.limits, self.config.limit_tolerance):
                self.counters.limit_violations += 1
                events.append({"event": "crane_limit_violation", "crane_id": self.id, "joint": v.joint,
                               "limit": v.limit, "requested": v.requested, "allowed": v.allowed,
                               "late_s": t_now - traj.start_t})
            ax.follow(ref)
        if "twistlock" in traj.joint_names:
            j = traj.joint_names.index("twistlock")
            sched = [(traj.start_t + p.time_from_start_s, 1.0 if p.positions[j] >= 0.5 else 0.0) for p in traj.points]
            past = [s for s in sched if s[0] <= t_now]
            if past:
                self._tl_target = past[-1][1]
            self._tl_schedule = [s for s in sched if s[0] > t_now]
        return events

    # ------------------------------------------------------------- physics
    def _seated_on(self) -> str | None:
        """Id of the container the spreader is seated on (landed and aligned), else None."""
        s = self.support
        if not self.landed or s.kind != "container" or self.container_id is not None:
            return None
        if math.hypot(self.x - s.x, self.y - s.y) > self.config.align_tolerance_m:
            return None
        if abs(end_symmetric_yaw(self.yaw - s.yaw)) > self.config.align_tolerance_rad:
            return None
        return s.id

    def step(self, t: float, dt: float, cargo: Cargo) -> list[dict]:
        """Advance to time t [s]: axes, landing, twistlocks, attach/release, load."""
        events: list[dict] = []
        for ax in self.axes.values():
            ax.step(t)
        hoist = self.axes["hoist"]
        self.x, self.y = self.crane.to_map(self.gantry_m, self.axes["trolley"].p)
        hang = self.c_hgt if self.container_id is not None else 0.0
        drum = hoist.p
        prev_bottom = self.z - hang
        high = cargo.highest_top(self.container_id) + NOTHING_BELOW_MARGIN_M
        if drum - hang > high and prev_bottom > high:
            self.support = Support("ground", None, 0.0)
        else:
            if self.container_id is not None:
                box = cargo.container_box(cargo.containers[self.container_id])
            else:
                box = Box(self.x, self.y, self.yaw, self.c_len, self.c_wid)
            self.support = cargo.support_below(box, prev_bottom, self.container_id)
        floor = self.support.top_z + hang
        if drum <= floor:
            self.landed, self.z, self.vz = True, floor, 0.0
            hoist.floor = floor - self.config.slack_rope_m
        else:
            self.landed, self.z, self.vz = False, drum, hoist.v
            hoist.floor = None
        cargo.set_spreader(self.id, self.x, self.y, self.z, self.yaw)
        if self.container_id is not None:
            cargo.refresh(self.container_id)
        events += self._twistlocks(t, dt, cargo)
        mass = self.crane.spreader_mass_kg
        if self.container_id is not None:
            mass += cargo.containers[self.container_id].mass_kg
        self.effort_n = 0.0 if self.landed else mass * (GRAVITY_MPS2 + hoist.a)
        return events

    def _twistlocks(self, t: float, dt: float, cargo: Cargo) -> list[dict]:
        events: list[dict] = []
        while self._tl_schedule and self._tl_schedule[0][0] <= t:
            self._tl_target = self._tl_schedule.pop(0)[1]
        rate = 1.0 / self.crane.twistlock_time_s if self.crane.twistlock_time_s > 0 else math.inf
        before = self.twistlock
        seated = self._seated_on()
        if self._tl_target > self.twistlock and (seated is not None or self.container_id is not None
                                                 or self.lock_failed):
            self.twistlock = min(1.0, self.twistlock + rate * dt)
        elif self._tl_target < self.twistlock:
            self.twistlock = max(0.0, self.twistlock - rate * dt)
        self.twistlock_rate = (self.twistlock - before) / dt
        if self.twistlock >= 1.0 > before and seated is not None and self.container_id is None:
            if self.rng.random() < self.config.lock_failure_probability:
                self.lock_failed = True
                self.counters.lock_failures += 1
                events.append({"event": "lock_failed", "crane_id": self.id, "container_id": seated})
            else:
                cargo.attach(t, seated, self.id)
                self.container_id = seated
                events.append({"event": "container_attached", "crane_id": self.id, "container_id": seated})
        if self.twistlock < 1.0:
            self.lock_failed = False
        if self.container_id is not None and self.twistlock < TWISTLOCK_RELEASE:
            events += self._let_go(t, cargo)
        return events

    def _let_go(self, t: float, cargo: Cargo) -> list[dict]:
        cid = self.container_id
        c = cargo.containers[cid]
        below = cargo.support_below(cargo.container_box(c), c.z, cid)
        fall_m = c.z - below.top_z
        landed = self.landed
        placement = cargo.place(t, cid, below)
        self.container_id = None
        holder, holder_id = cargo.holder(cid)
        where = {"container_id": cid, "crane_id": self.id, "holder": holder, "holder_id": holder_id,
                 "bay": cargo.container_bay(cid)}
        if landed:
            events = [{"event": "container_released", **where}]
        else:
            self.counters.drops += 1
            events = [{"event": "container_dropped", "height_m": fall_m, **where}]
        if placement.misplaced:
            self.counters.misplaced += 1
            dx, dy, dyaw = placement.offset
            events.append({"event": "container_misplaced", **where,
                           "offset": {"x_m": dx, "y_m": dy, "yaw_rad": dyaw}})
        return events


def rail_separation_violations(cranes: list[CraneSim]) -> list[tuple[str, str, float]]:
    """Pairs of cranes on the same rails closer (gantry distance) than either's minimum separation."""
    out = []
    groups: dict[str, list[CraneSim]] = {}
    for c in cranes:
        if c.crane.rail_group and c.crane.gantry is not None:
            groups.setdefault(c.crane.rail_group, []).append(c)
    for members in groups.values():
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                sep = abs(a.gantry_m - b.gantry_m)
                if sep < max(a.crane.min_separation_m, b.crane.min_separation_m):
                    ida, idb = sorted((a.id, b.id))
                    out.append((ida, idb, sep))
    return out

