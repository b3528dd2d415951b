"""Closed-loop harness for crane control core tests: a plant crane and a scripted yard around it.

``PlantCrane`` is a test double of the crane drive and its load (not the simulator): it follows the
commanded JointTrajectory points (linear interpolation, as a drive with a position loop), stops the
spreader where it touches a container, a vehicle or the ground (slack rope), turns the twistlocks
at the world's rate, attaches a container on locking and releases it on opening, and records every
unsafe thing the crane does physically: horizontal motion below the safe height, a container put
down or the spreader lowered onto a bay that is not ready, a load dropped. Tests read those
records, so they check the motion that happened rather than the controller's intent.
"""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass, field

from crane_control.controller import CraneController
from crane_control.model import G_MPS2, TWISTLOCK_LOCKED, CraneModel, JointReading
from crane_control.motion import Plan
from crane_control.params import CraneControllerParams

CONTAINER_MASS_KG = 20000.0
# [s] a control tick plus the hoist's slowest jerk-limited stop: caught accelerating downwards at full
# acceleration (just below full speed), it first takes a/j to stop accelerating, reaching full speed, and
# then v/a + a/j to stop: 0.05 + 0.5/1.0 + 0.8/0.5 + 0.5/1.0 = 2.65 s with small_yard's hoist limits.
# (It was 2.5, from the stop from full speed alone; hypothesis found the case in between: 2.6 s.)
REACTION_S = 2.7
DT_S = 0.05


@dataclass
class PlantCrane:
    model: CraneModel
    bay_containers: dict[str, str | None]  # bay -> container resting there (on its vehicle)
    vehicles: set[str]  # bays with a truck/carrier standing there
    ready: dict[str, bool] = field(default_factory=dict)  # what the yard reports (bay_status)
    lock_jams: int = 0  # the next N lock attempts jam half way
    lock_ghosts: int = 0  # the next N locks turn fully but do not grip the container
    start: dict[str, float] | None = None

    def __post_init__(self):
        self.pos = dict(self.start or self.model.home)
        self.vel = {a: 0.0 for a in self.pos}
        self.points: list = []
        self.point_times: list[float] = []
        self.cmd_start = 0.0
        self.twistlock = 0.0
        self.twistlock_target = 0.0
        self.jammed = False
        self.ghosting = False
        self.attached: str | None = None
        self.landed = False
        self.violations: list[str] = []
        self.unready_since: dict[str, float] = {b: -math.inf for b in self.model.bays if not self.ready.get(b)}
        self.history: list[tuple[float, dict[str, float], float, bool]] = []
        self.t = 0.0

    # ------------------------------------------------------------- commands
    def command(self, plan: Plan, sample_s: float = 0.1) -> None:
        self.points = plan.points(sample_s)
        self.point_times = [p.t for p in self.points]
        self.cmd_start = plan.stamp_s if plan.stamp_s is not None else plan.start_s
        if self.points:
            tl = self.points[-1].positions["twistlock"]
            if tl != self.twistlock_target:
                self.twistlock_target = tl
                self.jammed = False
                if tl >= 1.0 and self.lock_jams > 0:
                    self.lock_jams -= 1
                    self.jammed = True

    def _commanded(self, t: float) -> dict[str, float]:
        if not self.points:
            return dict(self.pos)
        rel = t - self.cmd_start
        pts = self.points
        if rel <= pts[0].t:
            return {a: pts[0].positions[a] for a in self.pos}
        if rel >= pts[-1].t:
            return {a: pts[-1].positions[a] for a in self.pos}
        hi = bisect.bisect_right(self.point_times, rel)
        a_, b_ = pts[hi - 1], pts[hi]
        f = (rel - a_.t) / (b_.t - a_.t)
        return {a: a_.positions[a] + f * (b_.positions[a] - a_.positions[a]) for a in self.pos}

    # ------------------------------------------------------------- physics
    def bay_below(self):
        return self.model.bay_under(self.pos, 0.3)

    def support_height(self) -> float:
        """Lowest spreader height here: on a container, a vehicle's bed/deck or the ground."""
        bay = self.bay_below()
        h_c = self.model.container_height_m
        if self.attached is not None:  # the hanging container's underside meets what is below
            if bay is not None and bay.id in self.vehicles and self.bay_containers.get(bay.id) is None:
                return bay.rest_height_m + h_c
            if bay is not None and self.bay_containers.get(bay.id) is not None:
                return bay.landed_height_m + h_c
            return h_c
        if bay is not None and self.bay_containers.get(bay.id) is not None:
            return bay.landed_height_m
        if bay is not None and bay.id in self.vehicles:
            return bay.rest_height_m
        return 0.0

    def step(self, t: float) -> JointReading:
        dt = t - self.t if self.t else DT_S
        self.t = t
        cmd = self._commanded(t)
        prev = dict(self.pos)
        support = self.support_height()
        for a in ("gantry", "trolley"):
            if a in self.pos:
                self.pos[a] = cmd[a]
        was_landed = self.landed
        self.pos["hoist"] = max(cmd["hoist"], support)
        self.landed = cmd["hoist"] <= support + 1e-9
        for a in self.pos:
            self.vel[a] = (self.pos[a] - prev[a]) / dt if dt > 0 else 0.0
        # twistlocks
        rate = dt / self.model.crane.twistlock_time_s
        goal = 0.5 if self.jammed else self.twistlock_target
        if self.twistlock < goal:
            self.twistlock = min(goal, self.twistlock + rate)
        elif self.twistlock > goal:
            self.twistlock = max(goal, self.twistlock - rate)
        bay = self.bay_below()
        if self.twistlock <= 0.01:
            self.ghosting = False
        if self.twistlock >= TWISTLOCK_LOCKED and self.attached is None and self.landed and bay is not None \
                and self.bay_containers.get(bay.id) is not None and abs(self.pos["hoist"] - bay.landed_height_m) < 0.05:
            if self.lock_ghosts > 0 and not self.ghosting:
                self.lock_ghosts -= 1
                self.ghosting = True  # this lock cycle does not grip
            elif not self.ghosting:
                self.attached = self.bay_containers[bay.id]
                self.bay_containers[bay.id] = None
        if self.twistlock < TWISTLOCK_LOCKED and self.attached is not None:
            if self.landed and bay is not None and bay.id in self.vehicles:
                self.bay_containers[bay.id] = self.attached
                self.attached = None
            elif not self.landed:
                self.violations.append(f"t={t:.2f}: container '{self.attached}' dropped from {self.pos['hoist']:.2f} m")
                self.attached = None
        self._check(t, prev, was_landed, bay)
        load = 0.0 if self.landed else G_MPS2 * (self.model.crane.spreader_mass_kg +
                                                 (CONTAINER_MASS_KG if self.attached else 0.0))
        self.history.append((t, dict(self.pos), self.twistlock, self.attached is not None))
        return JointReading(t, dict(self.pos), dict(self.vel), load, self.twistlock)

    def _check(self, t: float, prev: dict[str, float], was_landed: bool, bay) -> None:
        safe = self.model.safe_height(self.attached is not None or self.twistlock > 0.01)
        # exact for a drive interpolating linearly between trajectory points: check every point pair in this tick
        rel0, rel1 = t - DT_S - self.cmd_start, t - self.cmd_start
        pts = self.points
        lo = max(0, bisect.bisect_left(self.point_times, rel0) - 1)
        hi = bisect.bisect_right(self.point_times, rel1) + 1
        for p0, p1 in zip(pts[lo:hi], pts[lo + 1:hi]):
            moved = any(abs(p1.positions[a] - p0.positions[a]) > 1e-7 for a in self.model.horizontal_axes)
            if moved and min(p0.positions["hoist"], p1.positions["hoist"]) < safe - 1e-3:
                self.violations.append(f"t={t:.2f}: horizontal motion with the hoist commanded to "
                                       f"{min(p0.positions['hoist'], p1.positions['hoist']):.3f} m < {safe} m")
                break
        if bay is not None and not self.ready.get(bay.id, False):
            since = self.unready_since.setdefault(bay.id, t)
            if self.vel["hoist"] < -0.01 and self.pos["hoist"] < safe - 1e-3 and t - since > REACTION_S:
                self.violations.append(f"t={t:.2f}: lowering over bay '{bay.id}', not ready for {t - since:.1f} s")
        if self.landed and not was_landed and bay is not None and not self.ready.get(bay.id, False):
            since = self.unready_since.get(bay.id, -math.inf)
            if t - since > REACTION_S:  # a bay that went away within the reaction time cannot be helped
                self.violations.append(f"t={t:.2f}: spreader/container set down on bay '{bay.id}', "
                                       f"not ready for {t - since:.1f} s")


class Yard:
    """One crane controller in closed loop with a plant, with a scripted bay_status."""

    def __init__(self, world, crane_id: str, params: CraneControllerParams | None = None,
                 containers: dict[str, str | None] | None = None, vehicles: set[str] | None = None,
                 ready: dict[str, bool] | None = None, start: dict[str, float] | None = None):
        self.model = CraneModel.from_world(world, crane_id)
        self.params = params or CraneControllerParams()
        self.ctl = CraneController(self.model, self.params, set(world.bays))
        self.plant = PlantCrane(self.model, dict(containers or {}), set(vehicles or ()), dict(ready or {}),
                                start=start)
        self.events: list[dict] = []
        self.t = 0.0
        self.plans: list[Plan] = []
        self.estop_log: list[tuple[float, bool]] = []
        self.parked_neighbours = {n: world.cranes[n].home_gantry_m for n in self.model.rail_neighbours}
        self.tick()

    # ------------------------------------------------------------- scripting
    def bay_doc(self) -> dict:
        bays = {}
        for bay_id, bay in self.model.bays.items():
            ready = self.plant.ready.get(bay_id, False)
            occupant = f"v_{bay_id}" if bay_id in self.plant.vehicles else None
            bays[bay_id] = {"kind": bay.kind, "occupant": occupant, "ready": ready,
                            "container_id": self.plant.bay_containers.get(bay_id)}
        return {"stamp": self.t, "bays": bays}

    def set_ready(self, bay: str, ready: bool, vehicle: bool | None = None) -> None:
        self.plant.ready[bay] = ready
        if ready:
            self.plant.unready_since.pop(bay, None)
        else:
            self.plant.unready_since.setdefault(bay, self.t)
        if vehicle is not None:
            (self.plant.vehicles.add if vehicle else self.plant.vehicles.discard)(bay)
        self.ctl.on_bay_status(self.bay_doc(), self.t)

    def submit(self, job_id: str, container: str, pick: str, place: str, **extra) -> list[dict]:
        doc = {"job_id": job_id, "container_id": container, "pick": {"bay": pick}, "place": {"bay": place}, **extra}
        ev = self.ctl.submit(json.dumps(doc), self.t)
        self.events.extend(ev)
        return ev

    def estop(self, active: bool) -> None:
        self.estop_log.append((self.t, active))
        self.ctl.on_emergency_stop(active, self.t)
        self.events.extend(self.ctl.drain())

    def tick(self) -> None:
        reading = self.plant.step(self.t)
        self.ctl.on_joint_reading(reading)
        for peer, gantry in self.parked_neighbours.items():  # neighbours on the rails without a controller
            self.ctl.on_peer_joints(peer, gantry, 0.0, self.t)
        if round(self.t / DT_S) % 20 == 0:  # bay_status at 1 Hz
            self.ctl.on_bay_status(self.bay_doc(), self.t)
        out = self.ctl.step(self.t)
        self.events.extend(out.events)
        if out.plan is not None:
            self.plans.append(out.plan)
            self.plant.command(out.plan, self.params.trajectory_sample_s)
        self.t = round(self.t + DT_S, 6)

    def run(self, seconds: float, until=None) -> None:
        end = self.t + seconds
        while self.t < end:
            self.tick()
            if until is not None and until():
                return

    def run_until_event(self, job_id: str, event: str, timeout_s: float = 600.0) -> dict:
        end = self.t + timeout_s
        while self.t < end:
            for e in self.events:
                if e["job_id"] == job_id and e["event"] == event:
                    return e
            self.tick()
        raise AssertionError(f"no '{event}' for {job_id} within {timeout_s} s; events: "
                             f"{[(e['job_id'], e['event'], e.get('reason', '')) for e in self.events]}")

    def kinds(self, job_id: str) -> list[str]:
        return [e["event"] for e in self.events if e["job_id"] == job_id]


def max_fraction_of_limits(model: CraneModel, plans: list[Plan]) -> dict[str, tuple[float, float]]:
    """Largest |velocity| and |acceleration| of every plan, as fractions of the axis limits."""
    out = {}
    for axis, lim in model.limits.items():
        v = a = 0.0
        for plan in plans:
            if axis not in plan.profiles:
                continue
            n = max(2, math.ceil(plan.duration / 0.02))
            for i in range(n + 1):
                s = plan.profiles[axis].at(plan.duration * i / n)
                v, a = max(v, abs(s.v)), max(a, abs(s.a))
        out[axis] = (v / lim.max_velocity_mps, a / lim.max_acceleration_mps2)
    return out


class SharedRails:
    """Two crane controllers on shared rails, each with its plant, exchanging rail claims every tick.

    Claims are delivered one control tick late (as over DDS); each controller also sees the other
    crane's gantry in its joint states. Bays, containers and readiness are shared by both plants.
    """

    def __init__(self, world, ids: tuple[str, str], containers: dict[str, str | None], vehicles: set[str],
                 ready: dict[str, bool], claim_delay_ticks: int = 1):
        self.yards = {c: Yard(world, c, containers=containers, vehicles=vehicles, ready=ready) for c in ids}
        first = self.yards[ids[0]].plant
        for y in self.yards.values():
            y.parked_neighbours = {}
            y.plant.bay_containers, y.plant.vehicles, y.plant.ready = first.bay_containers, first.vehicles, first.ready
            y.plant.unready_since = first.unready_since
        self.in_flight: list[tuple[int, str, dict]] = []
        self.delay = claim_delay_ticks
        self.n = 0
        self.min_gap = math.inf
        self.t = 0.0

    def tick(self) -> None:
        readings = {}
        for c, y in self.yards.items():
            y.t = self.t
            readings[c] = y.plant.step(self.t)
            y.ctl.on_joint_reading(readings[c])
        for c, y in self.yards.items():
            for o, r in readings.items():
                if o != c:
                    y.ctl.on_peer_joints(o, r.position["gantry"], r.velocity["gantry"], self.t)
        due = [m for m in self.in_flight if m[0] <= self.n]
        self.in_flight = [m for m in self.in_flight if m[0] > self.n]
        for _, sender, doc in due:
            for c, y in self.yards.items():
                if c != sender:
                    y.ctl.on_peer_claim(doc, self.t)
        for c, y in self.yards.items():
            if round(self.t / DT_S) % 20 == 0:
                y.ctl.on_bay_status(y.bay_doc(), self.t)
            out = y.ctl.step(self.t)
            y.events.extend(out.events)
            if out.plan is not None:
                y.plans.append(out.plan)
                y.plant.command(out.plan, y.params.trajectory_sample_s)
            if out.claim is not None:
                self.in_flight.append((self.n + self.delay, c, out.claim))
        a, b = (y.plant.pos["gantry"] for y in self.yards.values())
        self.min_gap = min(self.min_gap, abs(a - b))
        self.n += 1
        self.t = round(self.t + DT_S, 6)

    def run(self, seconds: float, until=None) -> None:
        end = self.t + seconds
        while self.t < end:
            self.tick()
            if until is not None and until():
                return
