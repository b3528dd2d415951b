"""Crane controllers in closed loop with the simulator's engine, in one process, as fast as the CPU allows.

For closed-loop tests and the benchmark: no ROS, no clock. Each control period (``control_dt_s``)
the loop hands every controller its crane's joint state (``CraneSim.joint_state``, the encoding of
``/<crane>/joint_states``), its rail neighbours' gantries, the claims the other controllers sent one
period earlier, and a ``bay_status`` document derived by the fleet manager's own rule
(:func:`fleet_manager.bay_status.bay_entries`) from the engine's truth (a carrier within the docking
tolerance of a carrier bay stands on it); it then sends every new plan as a JointTrajectory to the engine and
steps the engine until the next period. ``record`` keeps every axis's state each engine step, so
limits can be verified on what the simulated drives did.

Carriers are placed at bays directly (``dock_carrier``): the crane benchmark is about the cranes,
not about driving.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from crane_control.model import CraneModel, JointReading
from crane_control.motion import Plan
from crane_control.params import CraneControllerParams
from fleet_manager.bay_status import CarrierAtBay, bay_entries
from yard_model.world import World
from yard_sim.engine import SimConfig, SimEngine
from yard_sim.trajectory import JointTrajectory, TrajectoryPoint

from .crane_baseline import CONTROLLERS

DOCK_TOLERANCE_M = 0.3  # [m] a carrier this close to a bay pose, standing still, is docked
STILL_MPS = 0.01  # [m/s]


def to_sim_trajectory(plan: Plan, sample_s: float, joints: tuple[str, ...]) -> JointTrajectory:
    """The engine's form of the JointTrajectory message the node sends: stamp and times in whole nanoseconds."""
    points = tuple(
        TrajectoryPoint(_ns(p.t), tuple(p.positions[j] for j in joints), tuple(p.velocities[j] for j in joints),
                        tuple(p.accelerations[j] for j in joints))
        for p in plan.points(sample_s)
    )
    return JointTrajectory(tuple(joints), points, _ns(plan.stamp_s if plan.stamp_s is not None else plan.start_s))


def _ns(t: float) -> float:
    """``t`` as a builtin_interfaces Time/Duration carries it (rounded here, whatever the plan did)."""
    return round(t * 1e9) * 1e-9


@dataclass
class AxisRecord:
    """Per engine step: time, and per axis (position, velocity, acceleration) of the simulated drive."""

    t: list[float] = field(default_factory=list)
    p: dict[str, list[float]] = field(default_factory=dict)
    v: dict[str, list[float]] = field(default_factory=dict)
    a: dict[str, list[float]] = field(default_factory=dict)


class SimLoop:
    """Controllers for ``crane_ids`` driving a SimEngine of ``world``."""

    def __init__(self, world: World, crane_ids: tuple[str, ...], carriers: tuple[str, ...] = (),
                 params: CraneControllerParams | None = None, style: str = "blended", seed: int = 0,
                 control_dt_s: float = 0.05, step_s: float = 0.01, record: bool = False, delay_steps: int = 0):
        self.world = world
        self.params = params or CraneControllerParams()
        self.engine = SimEngine(world, list(carriers), SimConfig(step_s=step_s, sensors_enabled=False), seed)
        if style not in CONTROLLERS:
            raise ValueError(f"unknown style '{style}' (one of {', '.join(CONTROLLERS)})")
        self.ctls = {k: CONTROLLERS[style](CraneModel.from_world(world, k, self.params.container_tare_kg), self.params,
                                           set(world.bays)) for k in crane_ids}
        self.control_dt_s = control_dt_s
        self.steps_per_control = max(1, round(control_dt_s / step_s))
        self.events: dict[str, list[dict]] = {k: [] for k in crane_ids}
        self.sim_events: list[dict] = []
        self.plans: dict[str, list[Plan]] = {k: [] for k in crane_ids}
        self.claims: list[tuple[str, dict]] = []
        self.records = {k: AxisRecord() for k in world.cranes} if record else None
        self.bay_overrides: dict[str, bool] = {}  # force a bay not ready (scenarios)
        self.delay_steps = delay_steps  # trajectories reach the engine this many steps late (message latency)
        self._in_flight: list[tuple[int, str, JointTrajectory]] = []
        self._last_status_s = -math.inf
        self._last_status: dict | None = None

    @property
    def t(self) -> float:
        return self.engine.t

    # ------------------------------------------------------------- scenario
    def command(self, doc: dict) -> None:
        result = self.engine.apply_command(doc)
        if not result.ok:
            raise ValueError(f"sim command {doc} rejected: {result.reason}")

    def dock_carrier(self, carrier_id: str, bay_id: str) -> None:
        """Put a carrier at a carrier bay, standing still (as if it had just docked)."""
        bay = self.world.bays[bay_id]
        s = self.engine.carriers[carrier_id].state
        s.x, s.y, s.yaw = bay.pose.x, bay.pose.y, bay.pose.yaw
        s.speed_mps, s.yaw_rate_radps, s.accel_mps2 = 0.0, 0.0, 0.0
        self.engine.cargo.set_carrier(carrier_id, s.x, s.y, s.yaw)

    def park_carrier(self, carrier_id: str, x: float, y: float, yaw: float = 0.0) -> None:
        s = self.engine.carriers[carrier_id].state
        s.x, s.y, s.yaw, s.speed_mps = x, y, yaw, 0.0
        self.engine.cargo.set_carrier(carrier_id, x, y, yaw)

    def submit(self, crane_id: str, doc: dict) -> list[dict]:
        ev = self.ctls[crane_id].submit(doc, self.t)
        self.events[crane_id].extend(ev)
        return ev

    # ---------------------------------------------------------------- truth
    def bay_status(self) -> dict:
        """``bay_status`` from the engine's truth, by the fleet manager's rule (:mod:`fleet_manager.bay_status`)."""
        cargo = self.engine.cargo
        trucks = {tid: {"bay": t.bay, "state": t.state, "container_id": t.container_id}
                  for tid, t in cargo.trucks.items()}
        on_carrier = {c.parent_id: c.id for c in cargo.containers.values() if c.parent_kind == "carrier"}
        docked = []
        for cid, carrier in self.engine.carriers.items():
            s = carrier.state
            for bay in self.world.carrier_bays():
                if math.hypot(s.x - bay.pose.x, s.y - bay.pose.y) <= DOCK_TOLERANCE_M:
                    docked.append(CarrierAtBay(cid, bay.id, abs(s.speed_mps) < STILL_MPS, on_carrier.get(cid),
                                               bool(carrier.fault)))
        bays = bay_entries(self.world, trucks, docked)
        for bay_id, ready in self.bay_overrides.items():
            bays[bay_id]["ready"] = bays[bay_id]["ready"] and ready
        return {"stamp": self.t, "bays": bays}

    def reading(self, crane_id: str) -> JointReading:
        names, pos, vel, eff = self.engine.cranes[crane_id].joint_state()
        index = {n: i for i, n in enumerate(names)}
        axes = self.ctls[crane_id].model.axes if crane_id in self.ctls else tuple(n for n in names if n != "twistlock")
        return JointReading(self.t, {a: pos[index[a]] for a in axes}, {a: vel[index[a]] for a in axes},
                            eff[index["hoist"]], pos[index["twistlock"]])

    # ----------------------------------------------------------------- loop
    def control(self) -> None:
        """One control period: feed the controllers, send their plans and claims."""
        now = self.t
        status = self.bay_status()
        changed = self._last_status is None or status["bays"] != self._last_status["bays"]
        if changed or now - self._last_status_s >= 1.0:
            for ctl in self.ctls.values():
                ctl.on_bay_status(status, now)
            self._last_status, self._last_status_s = status, now
        readings = {k: self.reading(k) for k in self.world.cranes}
        pending, self.claims = self.claims, []
        for k, ctl in self.ctls.items():
            ctl.on_joint_reading(readings[k])
            for peer in ctl.model.rail_neighbours:
                ctl.on_peer_joints(peer, readings[peer].position["gantry"], readings[peer].velocity["gantry"], now)
            for sender, doc in pending:
                if sender != k:
                    ctl.on_peer_claim(doc, now)
        for k, ctl in self.ctls.items():
            out = ctl.step(now)
            self.events[k].extend(out.events)
            if out.plan is not None:
                self.plans[k].append(out.plan)
                joints = (*ctl.model.axes, "twistlock")
                traj = to_sim_trajectory(out.plan, self.params.trajectory_sample_s, joints)
                if self.delay_steps:
                    self._in_flight.append((self.engine.steps + self.delay_steps, k, traj))
                else:
                    self.engine.command_crane(k, traj)
            if out.claim is not None:
                self.claims.append((k, out.claim))

    def step_engine(self) -> None:
        due = [m for m in self._in_flight if m[0] <= self.engine.steps]
        self._in_flight = [m for m in self._in_flight if m[0] > self.engine.steps]
        for _, k, traj in due:
            self.engine.command_crane(k, traj)
        out = self.engine.step()
        self.sim_events.extend(out.events)
        if self.records is not None:
            for k, crane in self.engine.cranes.items():
                rec = self.records[k]
                for name, ax in crane.axes.items():
                    rec.p.setdefault(name, []).append(ax.p)
                    rec.v.setdefault(name, []).append(ax.v)
                    rec.a.setdefault(name, []).append(ax.a)
                rec.t.append(out.t)

    def run(self, seconds: float, until=None) -> bool:
        """Advance ``seconds`` of sim time (or until ``until()``); True if ``until`` became true."""
        end = self.t + seconds
        while self.t < end - 1e-9:
            self.control()
            for _ in range(self.steps_per_control):
                self.step_engine()
            if until is not None and until():
                return True
        return False

    def kinds(self, crane_id: str, job_id: str) -> list[str]:
        return [e["event"] for e in self.events[crane_id] if e["job_id"] == job_id]

    def stamp(self, crane_id: str, job_id: str, event: str) -> float | None:
        for e in self.events[crane_id]:
            if e["job_id"] == job_id and e["event"] == event:
                return e["stamp"]
        return None
