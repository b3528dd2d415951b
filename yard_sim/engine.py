"""The headless yard simulator's engine: carriers, sensors, cranes, cargo and collisions in one step.

``SimEngine`` is pure Python (no rclpy, no clock): the ``yard_sim`` node drives it against the
wall clock and translates its output to ROS messages; an in-process "simulated day" or a
benchmark drives it directly, as fast as the CPU allows. One ``step()`` advances the fixed
``step_s`` (default 0.01 s) in this order:

1. carriers (kinematics, stale-command safety, battery) and charging: a carrier standing still
   (below ``charge_speed_mps``) within ``charge_radius_m`` of a charging spot's pose charges at
   that spot's power;
2. trucks (scheduled and ongoing departures);
3. cranes (axes, landing, twistlocks, attach/release/drop), then containers follow their holders;
4. collisions between all bodies, and the gantry separation of cranes sharing rails;
5. sensors: each carrier's sensors sample the truth and release the measurements that are due.

Carriers start at the world's spots in a fixed order: the parking spots in world-file order,
then the charging spots in world-file order (``start_spots``); asking for more carriers than
there are spots is an error. Everything random is seeded from ``seed`` (sensor noise per carrier
index, lock failures per crane index), so two engines with the same inputs produce the same run.

Commands (``command_carrier``, ``command_crane``, ``apply_command``) take effect at the next
step. Events (documents of schema ``sim_event``) collect in the engine and are handed out by the
next ``step()``; each carries the simulation time and a sequence number.

``snapshot()`` is the plain-dict view that ``yard_ros.markers.dynamic_markers`` draws::

    {
      "t": float,                                   # [s] simulation time
      "carriers":   {id: {"x", "y", "yaw",          # base_link in map [m, rad]
                          "speed", "soc",            # [m/s], [0..1]
                          "fault": str | None, "container_id": str | None}},
      "cranes":     {id: {"gantry", "trolley",       # axis positions [m] (gantry 0.0 on a fixed portal)
                          "hoist",                   # spreader underside height [m]
                          "twistlock",               # 0 open .. 1 locked
                          "x", "y", "yaw",           # spreader centre in map [m, rad]
                          "landed": bool, "container_id": str | None}},
      "containers": {id: {"x", "y", "z", "yaw",      # centre in map, underside height [m, rad]
                          "holder": "truck" | "carrier" | "spreader" | "ground",
                          "holder_id": str | None}},
      "trucks":     {id: {"x", "y", "yaw",           # centre of its container place [m, rad]
                          "bay", "state": "parked" | "departing", "container_id": str | None}},
      "collisions": int,                             # contacts so far
    }

``yard_state()`` is the ``yard_state`` document (schema ``yard_state``) for ``/yard/state``.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
from dataclasses import dataclass, field
from typing import Any

from yard_model.documents import DocumentError, parse_document, validate
from yard_model.world import Spot, World

from .cargo import Cargo, CargoConfig, CargoError
from .carrier_model import CarrierModel
from .collisions import Body, CollisionWorld
from .cranes import CraneSim, CraneSimConfig, rail_separation_violations
from .sensors import CarrierSensors, SensorConfig
from .trajectory import JointTrajectory

CARRIER_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")  # a valid ROS namespace token


class EngineError(ValueError):
    """The engine cannot be built as asked (too many carriers, bad ids)."""


@dataclass
class SimConfig:
    """Engine settings; the node fills it from its parameters (see yard_sim/sim_params.py)."""

    step_s: float = 0.01  # [s] physics step
    stale_timeout_s: float = 0.5  # [s] carrier brakes when its last command is older
    initial_soc: float = 1.0  # [0..1] battery at start
    charge_radius_m: float = 0.5  # [m] base_link this close to a charging spot's pose charges
    charge_speed_mps: float = 0.05  # [m/s] below this a carrier counts as standing still
    sensors: SensorConfig = field(default_factory=SensorConfig)
    sensors_enabled: bool = True  # False: no sensor models (a run driven by ground truth is faster)
    cargo: CargoConfig = field(default_factory=CargoConfig)
    crane: CraneSimConfig = field(default_factory=CraneSimConfig)


@dataclass
class StepOutput:
    """What one step produced for the node to publish."""

    t: float  # [s] simulation time after the step
    measurements: list[tuple[str, Any]]  # (carrier id, sensor measurement) released this step
    events: list[dict]  # sim_event documents, in order
    state_changed: bool  # yard_state differs from the previous step's (publish it now)


@dataclass
class CommandResult:
    ok: bool
    reason: str = ""


def start_spots(world: World) -> list[Spot]:
    """Where carriers start, in order: parking spots, then charging spots (world-file order each)."""
    return [*world.parking_spots(), *world.charging_spots()]


class SimEngine:
    """The whole simulated yard; see the module docstring."""

    def __init__(self, world: World, carrier_ids: list[str] | tuple[str, ...], config: SimConfig | None = None,
                 seed: int = 0):
        self.world = world
        self.config = config or SimConfig()
        self.seed = int(seed)
        self.dt = float(self.config.step_s)
        if not (self.dt > 0.0 and math.isfinite(self.dt)):
            raise EngineError(f"step_s must be a positive time, got {self.config.step_s}")
        ids = list(carrier_ids)
        for cid in ids:
            if not CARRIER_ID_RE.match(cid):
                raise EngineError(f"carrier id '{cid}' is not a valid ROS name (letters, digits, _)")
        if len(set(ids)) != len(ids):
            raise EngineError(f"carrier ids are not unique: {ids}")
        clash = set(ids) & set(world.cranes)
        if clash:
            raise EngineError(f"carrier ids {sorted(clash)} are crane ids of this world")
        spots = start_spots(world)
        if len(ids) > len(spots):
            raise EngineError(f"{len(ids)} carriers but world '{world.name}' has only {len(spots)} parking and "
                              f"charging spots to start them at")
        self.t = 0.0
        self.steps = 0
        self.cargo = Cargo(world, self.config.cargo)
        self.carriers: dict[str, CarrierModel] = {}
        self.sensors: dict[str, CarrierSensors] = {}
        self.start_spot: dict[str, str] = {}
        for i, (cid, spot) in enumerate(zip(ids, spots)):
            self.carriers[cid] = CarrierModel(world.carrier_type, spot.pose, soc=self.config.initial_soc,
                                              stale_timeout_s=self.config.stale_timeout_s)
            if self.config.sensors_enabled:
                self.sensors[cid] = CarrierSensors(world, world.carrier_type, self.config.sensors, self.seed, i)
            self.start_spot[cid] = spot.id
            self.cargo.set_carrier(cid, spot.pose.x, spot.pose.y, spot.pose.yaw)
        self.cranes: dict[str, CraneSim] = {
            k: CraneSim(crane, world.container_type, self.dt, self.config.crane,
                        random.Random(self.seed * 1_000_003 + i))
            for i, (k, crane) in enumerate(world.cranes.items())
        }
        for crane in self.cranes.values():
            self.cargo.set_spreader(crane.id, crane.x, crane.y, crane.z, crane.yaw)
        self._rail_cranes = [c for c in self.cranes.values() if c.crane.rail_group and c.crane.gantry is not None]
        self._chargers = [s for s in world.charging_spots() if s.power_kw > 0.0]
        self.collisions = CollisionWorld()
        self._body_cache: dict[str, tuple[tuple, Body]] = {}
        self._events: list[dict] = []
        self._seq = 0
        self._version = 0  # own changes (faults, collisions); cargo has its own counter
        self._published_version = (-1, -1)
        self.counters = {"commands_applied": 0, "commands_rejected": 0, "trajectories_rejected": 0,
                         "collisions": 0}

    # ------------------------------------------------------------- events
    def _emit(self, ev: dict) -> None:
        self._seq += 1
        ev = {"stamp": self.t, "seq": self._seq, **ev}
        self._events.append(ev)

    # ----------------------------------------------------------- commands
    def command_carrier(self, carrier_id: str, v_mps: float, yaw_rate_radps: float) -> bool:
        """Latest cmd_vel of a carrier, received now; False if unknown id, non-finite or faulted."""
        carrier = self.carriers.get(carrier_id)
        if carrier is None:
            return False
        return carrier.command(self.t, v_mps, yaw_rate_radps)

    def command_crane(self, crane_id: str, traj: JointTrajectory) -> None:
        """Replace a crane's motion (raises KeyError for an unknown crane, TrajectoryError if malformed)."""
        crane = self.cranes[crane_id]
        try:
            for ev in crane.command(traj, self.t):
                self._emit(ev)
        except ValueError:
            crane.counters.rejected_trajectories += 1
            self.counters["trajectories_rejected"] += 1
            raise

    def apply_command(self, command: dict | str) -> CommandResult:
        """Apply a ``sim_command`` document (dict or JSON text); emits command_applied / command_rejected."""
        name, cmd_id = None, None
        try:
            doc = parse_document("sim_command", command) if isinstance(command, str) else command
            if isinstance(doc, dict):
                name, cmd_id = doc.get("command"), doc.get("command_id")
            if isinstance(command, dict):
                validate("sim_command", doc)
            events = self._apply(doc)
        except (DocumentError, CargoError, ValueError, KeyError) as exc:
            reason = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
            self.counters["commands_rejected"] += 1
            ev: dict[str, Any] = {"event": "command_rejected", "reason": reason}
            if isinstance(name, str):
                ev["command"] = name
            if isinstance(cmd_id, str):
                ev["command_id"] = cmd_id
            self._emit(ev)
            return CommandResult(False, reason)
        self.counters["commands_applied"] += 1
        ack: dict[str, Any] = {"event": "command_applied", "command": name}
        if cmd_id is not None:
            ack["command_id"] = cmd_id
        self._emit(ack)
        for ev in events:
            self._emit(ev)
        return CommandResult(True)

    def _carrier(self, carrier_id: str) -> CarrierModel:
        c = self.carriers.get(carrier_id)
        if c is None:
            raise CargoError(f"unknown carrier '{carrier_id}'")
        return c

    def _apply(self, doc: dict) -> list[dict]:
        c = doc["command"]
        cargo = self.cargo
        if c == "spawn_truck":
            return cargo.spawn_truck(self.t, doc["truck_id"], doc["bay"], doc.get("container_id"),
                                     doc.get("container_mass_kg"), doc.get("depart_after_s", "default"))
        if c == "remove_truck":
            return cargo.remove_truck(doc["truck_id"])
        if c == "depart_truck":
            return cargo.depart_truck(self.t, doc["truck_id"])
        if c == "spawn_container":
            pose = None
            if "x" in doc:
                pose = (doc["x"], doc["y"], doc.get("yaw", 0.0))
            return cargo.spawn_container(doc["container_id"], carrier_id=doc.get("carrier_id"),
                                         truck_id=doc.get("truck_id"), pose=pose, mass_kg=doc.get("mass_kg"))
        if c == "remove_container":
            return cargo.remove_container(doc["container_id"])
        if c == "set_carrier_fault":
            self._carrier(doc["carrier_id"]).set_fault(doc["fault"])
            self._version += 1
            return [{"event": "carrier_fault", "carrier_id": doc["carrier_id"], "fault": doc["fault"]}]
        if c == "clear_carrier_fault":
            carrier = self._carrier(doc["carrier_id"])
            carrier.set_fault(None)
            self._version += 1
            if carrier.fault is not None:
                raise CargoError(f"carrier '{doc['carrier_id']}' keeps fault '{carrier.fault}'")
            return [{"event": "carrier_fault", "carrier_id": doc["carrier_id"], "fault": None}]
        if c == "force_gnss_mode":
            self._carrier(doc["carrier_id"])
            mode = doc.get("mode")
            duration = doc.get("duration_s")
            until = self.t + duration if (mode is not None and duration is not None) else None
            sensors = self.sensors.get(doc["carrier_id"])
            if sensors is None:
                raise CargoError("sensors are disabled in this simulation")
            sensors.force_mode(mode, until)
            return []
        if c == "set_carrier_soc":
            self._carrier(doc["carrier_id"]).state.soc = float(doc["soc"])
            return []
        if c == "set_lock_failure":
            targets = [doc["crane_id"]] if "crane_id" in doc else list(self.cranes)
            for k in targets:
                if k not in self.cranes:
                    raise CargoError(f"unknown crane '{k}'")
            for k in targets:
                self.cranes[k].config = dataclasses.replace(self.cranes[k].config,
                                                            lock_failure_probability=float(doc["probability"]))
            return []
        raise CargoError(f"unknown command '{c}'")

    # -------------------------------------------------------------- physics
    def step(self) -> StepOutput:
        """Advance one step; see the module docstring for the order."""
        dt = self.dt
        self.steps += 1
        t = self.steps * dt  # no accumulated rounding over a long day
        self.t = t
        cargo = self.cargo
        for cid, carrier in self.carriers.items():
            carrier.step(t, dt)
            s = carrier.state
            if abs(s.speed_mps) < self.config.charge_speed_mps:
                for spot in self._chargers:
                    if math.hypot(s.x - spot.pose.x, s.y - spot.pose.y) <= self.config.charge_radius_m:
                        carrier.charge(spot.power_kw, dt)
                        break
            cargo.set_carrier(cid, s.x, s.y, s.yaw)
        for ev in cargo.update(t, dt):
            self._emit(ev)
        for crane in self.cranes.values():
            for ev in crane.step(t, dt, cargo):
                self._emit(ev)
        for c in cargo.containers.values():
            if c.parent_kind == "spreader":
                cargo.refresh(c.id)
        self._collisions()
        measurements: list[tuple[str, Any]] = []
        for cid, sensors in self.sensors.items():
            for m in sensors.step(t, self.carriers[cid].state):
                measurements.append((cid, m))
        events, self._events = self._events, []
        version = (cargo.version, self._version)
        changed = version != self._published_version
        self._published_version = version
        return StepOutput(t, measurements, events, changed)

    def bodies(self) -> tuple[list[Body], set[tuple[str, str]]]:
        """All collision bodies now, and the pairs that rest on each other (never a collision).

        Body objects are cached per thing and pose, so an unmoved body is the same object as in
        the previous step (the collision check skips it at once).
        """
        cargo = self.cargo
        cache = self._body_cache
        bodies: list[Body] = []

        def cached(body_id: str, key: tuple, make) -> Body:
            hit = cache.get(body_id)
            if hit is not None and hit[0] == key:
                return hit[1]
            body = make()
            cache[body_id] = (key, body)
            return body

        for cid in self.carriers:
            bid = f"carrier:{cid}"
            bodies.append(cached(bid, cargo.carriers[cid],
                                 lambda bid=bid, cid=cid: Body(bid, bid, cargo.carrier_box(cid))))
        for t in cargo.trucks.values():
            bid = f"truck:{t.id}"
            bodies.append(cached(bid, (t.x, t.y, t.yaw), lambda bid=bid, t=t: Body(bid, bid, cargo.truck_box(t))))
        excluded: set[tuple[str, str]] = set()
        for c in cargo.containers.values():
            bid = f"container:{c.id}"
            bodies.append(cached(bid, (c.x, c.y, c.z, c.yaw),
                                 lambda bid=bid, c=c: Body(bid, bid, cargo.container_box(c))))
            if c.parent_id is not None:
                other = f"{c.parent_kind}:{c.parent_id}"
                excluded.add((bid, other) if bid < other else (other, bid))
        for crane in self.cranes.values():
            bodies += crane.bodies()
        if len(cache) > 2 * len(bodies) + 16:  # forget things that left the yard
            live = {b.id for b in bodies}
            for k in [k for k in cache if k not in live]:
                del cache[k]
        return bodies, excluded

    def _collisions(self) -> None:
        bodies, excluded = self.bodies()
        separation = {}
        for a, b, _sep in rail_separation_violations(self._rail_cranes):
            ca, cb = self.cranes[a], self.cranes[b]
            separation[(f"crane:{a}", f"crane:{b}")] = ((ca.x + cb.x) / 2.0, (ca.y + cb.y) / 2.0)
        for contact in self.collisions.update(bodies, excluded, separation):
            self.counters["collisions"] += 1
            self._version += 1
            kind = "crane_separation" if contact.a.startswith("crane:") and contact.b.startswith("crane:") \
                else "contact"
            self._emit({"event": "collision", "kind": kind, "bodies": [contact.a, contact.b],
                        "x": contact.x, "y": contact.y, "count": self.collisions.count})

    # -------------------------------------------------------------- views
    @property
    def collision_count(self) -> int:
        return self.collisions.count

    def snapshot(self) -> dict[str, Any]:
        """Plain-dict view of the yard for markers (format in the module docstring)."""
        cargo = self.cargo
        return {
            "t": self.t,
            "carriers": {
                cid: {"x": c.state.x, "y": c.state.y, "yaw": c.state.yaw, "speed": c.state.speed_mps,
                      "soc": c.state.soc, "fault": c.fault, "container_id": cargo.deck.get(cid)}
                for cid, c in self.carriers.items()
            },
            "cranes": {
                k: {"gantry": c.gantry_m, "trolley": c.axes["trolley"].p, "hoist": c.z, "twistlock": c.twistlock,
                    "x": c.x, "y": c.y, "yaw": c.yaw, "landed": c.landed, "container_id": c.container_id}
                for k, c in self.cranes.items()
            },
            "containers": {
                cid: {"x": c.x, "y": c.y, "z": c.z, "yaw": c.yaw,
                      "holder": cargo.holder(cid)[0], "holder_id": cargo.holder(cid)[1]}
                for cid, c in cargo.containers.items()
            },
            "trucks": {
                tid: {"x": t.x, "y": t.y, "yaw": t.yaw, "bay": t.bay, "state": t.state, "container_id": t.container_id}
                for tid, t in cargo.trucks.items()
            },
            "collisions": self.collisions.count,
        }

    def yard_state(self) -> dict[str, Any]:
        """The ``yard_state`` document now."""
        cargo = self.cargo
        containers = {}
        for cid, c in cargo.containers.items():
            holder, holder_id = cargo.holder(cid)
            containers[cid] = {"holder": holder, "holder_id": holder_id, "bay": cargo.container_bay(cid),
                               "x": c.x, "y": c.y, "z": c.z, "yaw": c.yaw}
        return {
            "stamp": self.t,
            "containers": containers,
            "trucks": {tid: {"bay": t.bay, "container_id": t.container_id, "state": t.state}
                       for tid, t in cargo.trucks.items()},
            "carriers": {cid: {"soc": min(max(c.state.soc, 0.0), 1.0), "fault": c.fault}
                         for cid, c in self.carriers.items()},
            "collisions": self.collisions.count,
        }

    def diagnostics(self) -> dict[str, Any]:
        """Counters for /diagnostics: collisions, crane limit violations, drops, rejected input."""
        cc = [c.counters for c in self.cranes.values()]
        return {
            "sim_time_s": self.t,
            "steps": self.steps,
            "carriers": len(self.carriers),
            "containers": len(self.cargo.containers),
            "trucks": len(self.cargo.trucks),
            "collisions": self.collisions.count,
            "crane_limit_violations": sum(c.limit_violations for c in cc),
            "containers_dropped": sum(c.drops for c in cc),
            "containers_misplaced": sum(c.misplaced for c in cc),
            "lock_failures": sum(c.lock_failures for c in cc),
            "trajectories_rejected": self.counters["trajectories_rejected"],
            "commands_applied": self.counters["commands_applied"],
            "commands_rejected": self.counters["commands_rejected"],
            "carrier_commands_rejected": sum(c.rejected_commands for c in self.carriers.values()),
            "axis_internal_errors": sum(a.internal_errors for c in self.cranes.values() for a in c.axes.values()),
        }
