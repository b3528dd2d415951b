"""Containers and external trucks of the simulated yard, and what stands on what.

Every container has a *parent* it rests on or hangs from — the ground, a truck's bed, a carrier's
deck, another container, or a crane's spreader — and a planar offset in that parent's frame, so a
container on a carrier rides with it and one on a spreader moves with the crane. ``support_below``
answers the one physical question the cranes ask: what is the highest surface under a footprint
(the top of a container, a truck bed, a carrier deck, or the ground)?

External road trucks stand at truck bays (pose = the bay's pose, which is the centre of the
container they carry). A truck can be told to leave, or leaves by itself ``depart_after_s`` after
its load changed (its container was taken or one was placed on it); it then drives off along its
heading at ``truck_departure_speed_mps`` for ``truck_departure_s`` and disappears with whatever it
carries. All changes are made through methods that raise ``CargoError`` with a reason when the
request is impossible (unknown id, occupied bay, container in use), and return event dicts
(``{"event": ..., ...}``; the engine adds stamps).

Poses are in ``map``: x, y [m], yaw [rad]; ``z`` is a container's underside height [m].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from yard_model.geometry import wrap_angle
from yard_model.world import World

from .collisions import Box, rects_overlap

CONTAINER_TARE_KG = 3750.0  # [kg] empty ISO 40 ft container
SUPPORT_STEP_M = 0.02  # [m] a surface this far above a load's underside still counts as below it
HOLDERS = ("ground", "truck", "carrier", "container", "spreader")


def end_symmetric_yaw(dyaw: float) -> float:
    """A yaw difference [rad] folded to [-pi/2, pi/2): containers look the same turned end for end."""
    return (dyaw + math.pi / 2.0) % math.pi - math.pi / 2.0


class CargoError(ValueError):
    """A cargo request is impossible; the message says why."""


@dataclass
class CargoConfig:
    """Behaviour of trucks and containers (see the simulator parameters for meaning and units)."""

    container_mass_kg: float = 20000.0  # default gross mass of a spawned container
    truck_auto_depart: bool = True
    truck_depart_delay_s: float = 20.0  # after the load changed
    truck_departure_s: float = 10.0  # how long a departing truck stays in the model
    truck_departure_speed_mps: float = 2.0
    bay_tolerance_m: float = 1.0  # a holder this close to a bay's pose stands at it
    misplaced_tolerance_m: float = 0.15  # container centre vs deck/bed centre
    misplaced_tolerance_rad: float = math.radians(3.0)


@dataclass
class Container:
    """A container: where it is and what holds it. ``local`` = (dx, dy, dyaw) in the parent's frame."""

    id: str
    mass_kg: float
    parent_kind: str
    parent_id: str | None
    local: tuple[float, float, float]
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    yaw: float = 0.0


@dataclass
class Truck:
    """An external truck at a bay; ``state`` parked or departing."""

    id: str
    bay: str
    x: float
    y: float
    yaw: float
    depart_after_s: float | None  # auto-departure delay after a load change; None = never
    state: str = "parked"
    depart_at: float | None = None  # when it starts to leave (scheduled)
    gone_at: float | None = None  # when a departing truck leaves the model
    container_id: str | None = None  # the container on its bed


@dataclass
class Spreader:
    """Pose of a crane's spreader as the crane last reported it."""

    x: float
    y: float
    z: float  # underside height [m]
    yaw: float


@dataclass
class Support:
    """The surface under a load: what it is, its top height [m] and its frame (for offsets)."""

    kind: str  # ground | truck | carrier | container
    id: str | None
    top_z: float
    x: float = 0.0
    y: float = 0.0
    yaw: float = 0.0


@dataclass
class Placement:
    """Where a released or dropped container came to rest, and how far off centre it is."""

    support: Support
    offset: tuple[float, float, float]  # (dx, dy, dyaw) from the holder's deck/bed centre; zeros on the ground
    misplaced: bool


@dataclass
class Cargo:
    """All containers and trucks, plus the carrier and spreader poses they may rest on."""

    world: World
    config: CargoConfig = field(default_factory=CargoConfig)

    def __post_init__(self):
        self.containers: dict[str, Container] = {}
        self.trucks: dict[str, Truck] = {}
        self.carriers: dict[str, tuple[float, float, float]] = {}  # id -> (x, y, yaw) of base_link
        self.spreaders: dict[str, Spreader] = {}
        self.deck: dict[str, str] = {}  # carrier id -> container on its deck
        self.on_top: dict[str, str] = {}  # container id -> container resting on it
        self.version = 0  # bumped on every change of a holder (yard_state publishes on change)
        ct = self.world.container_type
        self.c_len, self.c_wid, self.c_hgt = ct.length_m, ct.width_m, ct.height_m

    # ------------------------------------------------------------ registry
    def set_carrier(self, carrier_id: str, x: float, y: float, yaw: float) -> None:
        self.carriers[carrier_id] = (x, y, yaw)

    def set_spreader(self, crane_id: str, x: float, y: float, z: float, yaw: float) -> None:
        s = self.spreaders.get(crane_id)
        if s is None:
            self.spreaders[crane_id] = Spreader(x, y, z, yaw)
        else:
            s.x, s.y, s.z, s.yaw = x, y, z, yaw

    def carrier_box(self, carrier_id: str) -> Box:
        x, y, yaw = self.carriers[carrier_id]
        ct = self.world.carrier_type
        return Box(x, y, yaw, ct.length_m, ct.width_m, 0.0, ct.deck_height_m)

    def truck_box(self, truck: Truck) -> Box:
        tt = self.world.truck_type
        return Box(truck.x, truck.y, truck.yaw, tt.length_m, tt.width_m, 0.0, tt.bed_height_m)

    def container_box(self, c: Container) -> Box:
        return Box(c.x, c.y, c.yaw, self.c_len, self.c_wid, c.z, c.z + self.c_hgt)

    def _bump(self) -> None:
        self.version += 1

    # -------------------------------------------------------------- trucks
    def spawn_truck(self, t: float, truck_id: str, bay: str, container_id: str | None = None,
                    mass_kg: float | None = None, depart_after_s: float | None | str = "default") -> list[dict]:
        """A truck arrives at a truck bay, optionally carrying a new container."""
        if truck_id in self.trucks:
            raise CargoError(f"truck '{truck_id}' already exists")
        b = self.world.bays.get(bay)
        if b is None or b.kind != "truck":
            raise CargoError(f"'{bay}' is not a truck bay of this world")
        for other in self.trucks.values():
            if other.bay == bay:
                raise CargoError(f"truck bay '{bay}' is occupied by truck '{other.id}'")
        if container_id is not None:
            self._check_new_container(container_id, mass_kg)
        if depart_after_s == "default":
            depart_after_s = self.config.truck_depart_delay_s if self.config.truck_auto_depart else None
        if depart_after_s is not None and not (math.isfinite(depart_after_s) and depart_after_s >= 0.0):
            raise CargoError(f"depart_after_s {depart_after_s} is not a time >= 0")
        truck = Truck(truck_id, bay, b.pose.x, b.pose.y, b.pose.yaw, depart_after_s)
        self.trucks[truck_id] = truck
        if container_id is not None:
            self._new_container(container_id, mass_kg, "truck", truck_id)
            truck.container_id = container_id
        self._bump()
        return [{"event": "truck_arrived", "truck_id": truck_id, "bay": bay, "container_id": container_id}]

    def depart_truck(self, t: float, truck_id: str) -> list[dict]:
        """The truck leaves now (with whatever it carries)."""
        truck = self._truck(truck_id)
        if truck.state == "departing":
            raise CargoError(f"truck '{truck_id}' is already departing")
        self._busy_check_truck(truck)
        truck.state = "departing"
        truck.depart_at = t
        truck.gone_at = t + self.config.truck_departure_s
        self._bump()
        return [{"event": "truck_departing", "truck_id": truck_id, "bay": truck.bay,
                 "container_id": truck.container_id}]

    def remove_truck(self, truck_id: str) -> list[dict]:
        """Take a truck (and its container) out of the model at once."""
        truck = self._truck(truck_id)
        self._busy_check_truck(truck)
        return self._drop_truck(truck)

    def _busy_check_truck(self, truck: Truck) -> None:
        cid = truck.container_id
        if cid is not None and cid in self.on_top:
            raise CargoError(f"container '{self.on_top[cid]}' stands on the container of truck '{truck.id}'")

    def _drop_truck(self, truck: Truck) -> list[dict]:
        cid = truck.container_id
        if cid is not None:
            del self.containers[cid]
        del self.trucks[truck.id]
        self._bump()
        return [{"event": "truck_departed", "truck_id": truck.id, "bay": truck.bay, "container_id": cid}]

    def _truck(self, truck_id: str) -> Truck:
        truck = self.trucks.get(truck_id)
        if truck is None:
            raise CargoError(f"unknown truck '{truck_id}'")
        return truck

    def _load_changed(self, t: float, truck: Truck) -> None:
        if truck.depart_after_s is not None and truck.state == "parked":
            truck.depart_at = t + truck.depart_after_s

    # ---------------------------------------------------------- containers
    def _check_new_container(self, container_id: str, mass_kg: float | None) -> None:
        if not container_id:
            raise CargoError("a container id must not be empty")
        if container_id in self.containers:
            raise CargoError(f"container '{container_id}' already exists")
        if mass_kg is not None and not (math.isfinite(mass_kg) and CONTAINER_TARE_KG <= mass_kg
                                        <= self.world.container_type.max_gross_mass_kg):
            raise CargoError(f"mass {mass_kg} kg is outside [{CONTAINER_TARE_KG:g}, "
                             f"{self.world.container_type.max_gross_mass_kg:g}] kg")

    def _new_container(self, cid: str, mass_kg: float | None, kind: str, parent: str | None,
                       local: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Container:
        c = Container(cid, self.config.container_mass_kg if mass_kg is None else float(mass_kg), kind, parent, local)
        self.containers[cid] = c
        self._resolve(c)
        return c

    def spawn_container(self, container_id: str, *, carrier_id: str | None = None, truck_id: str | None = None,
                        pose: tuple[float, float, float] | None = None, mass_kg: float | None = None) -> list[dict]:
        """Put a new container on a carrier's deck, an empty parked truck, or the ground at ``pose``."""
        self._check_new_container(container_id, mass_kg)
        if sum(x is not None for x in (carrier_id, truck_id, pose)) != 1:
            raise CargoError("give exactly one of carrier_id, truck_id or a ground pose")
        if carrier_id is not None:
            if carrier_id not in self.carriers:
                raise CargoError(f"unknown carrier '{carrier_id}'")
            if carrier_id in self.deck:
                raise CargoError(f"carrier '{carrier_id}' already carries '{self.deck[carrier_id]}'")
            self._new_container(container_id, mass_kg, "carrier", carrier_id)
            self.deck[carrier_id] = container_id
        elif truck_id is not None:
            truck = self._truck(truck_id)
            if truck.container_id is not None:
                raise CargoError(f"truck '{truck_id}' already carries '{truck.container_id}'")
            if truck.state != "parked":
                raise CargoError(f"truck '{truck_id}' is departing")
            self._new_container(container_id, mass_kg, "truck", truck_id)
            truck.container_id = container_id
        else:
            x, y, yaw = pose  # type: ignore[misc]
            if not all(math.isfinite(v) for v in (x, y, yaw)):
                raise CargoError("the ground pose must be finite")
            self._new_container(container_id, mass_kg, "ground", None, (x, y, wrap_angle(yaw)))
        self._bump()
        return []

    def remove_container(self, container_id: str) -> list[dict]:
        """Take a container out of the model (it must not hang on a spreader or carry another)."""
        c = self.containers.get(container_id)
        if c is None:
            raise CargoError(f"unknown container '{container_id}'")
        if c.parent_kind == "spreader":
            raise CargoError(f"container '{container_id}' hangs on crane '{c.parent_id}'")
        if container_id in self.on_top:
            raise CargoError(f"container '{self.on_top[container_id]}' stands on '{container_id}'")
        self._unlink(c)
        del self.containers[container_id]
        self._bump()
        return []

    def _unlink(self, c: Container) -> None:
        """Forget the container in its parent's index (deck, truck bed, stack)."""
        if c.parent_kind == "carrier" and self.deck.get(c.parent_id) == c.id:
            del self.deck[c.parent_id]
        elif c.parent_kind == "truck":
            truck = self.trucks.get(c.parent_id)
            if truck is not None and truck.container_id == c.id:
                truck.container_id = None
        elif c.parent_kind == "container" and self.on_top.get(c.parent_id) == c.id:
            del self.on_top[c.parent_id]

    # ------------------------------------------------------------- physics
    def _parent_frame(self, c: Container) -> tuple[float, float, float, float]:
        """(x, y, yaw, base z) of the frame a container's local offset is expressed in."""
        k = c.parent_kind
        if k == "carrier":
            x, y, yaw = self.carriers[c.parent_id]
            return x, y, yaw, self.world.carrier_type.deck_height_m
        if k == "truck":
            t = self.trucks[c.parent_id]
            return t.x, t.y, t.yaw, self.world.truck_type.bed_height_m
        if k == "spreader":
            s = self.spreaders[c.parent_id]
            return s.x, s.y, s.yaw, s.z - self.c_hgt
        if k == "container":
            p = self.containers[c.parent_id]
            self._resolve(p)
            return p.x, p.y, p.yaw, p.z + self.c_hgt
        return 0.0, 0.0, 0.0, 0.0

    def _resolve(self, c: Container) -> None:
        """Recompute a container's map pose from its parent's pose and its local offset."""
        px, py, pyaw, z = self._parent_frame(c)
        dx, dy, dyaw = c.local
        cs, sn = math.cos(pyaw), math.sin(pyaw)
        c.x, c.y, c.z = px + cs * dx - sn * dy, py + sn * dx + cs * dy, z
        c.yaw = wrap_angle(pyaw + dyaw)

    def refresh(self, container_id: str) -> None:
        """Recompute one container's pose now (after its holder moved within a step)."""
        self._resolve(self.containers[container_id])

    def update(self, t: float, dt: float) -> list[dict]:
        """Advance trucks (scheduled and ongoing departures) and move containers with their holders."""
        events: list[dict] = []
        for truck in list(self.trucks.values()):
            if truck.state == "parked" and truck.depart_at is not None and t >= truck.depart_at:
                events += self.depart_truck(t, truck.id)
            elif truck.state == "departing":
                if truck.gone_at is not None and t >= truck.gone_at:
                    events += self._drop_truck(truck)
                    continue
                step = self.config.truck_departure_speed_mps * dt
                truck.x += step * math.cos(truck.yaw)
                truck.y += step * math.sin(truck.yaw)
        for c in self.containers.values():
            if c.parent_kind != "ground":
                self._resolve(c)
        return events

    def highest_top(self, exclude: str | None = None) -> float:
        """Highest surface [m] anything could land on (for a quick 'nothing below' test)."""
        top = max(self.world.carrier_type.deck_height_m, self.world.truck_type.bed_height_m, 0.0)
        for c in self.containers.values():
            if c.parent_kind != "spreader" and c.id != exclude:
                top = max(top, c.z + self.c_hgt)
        return top

    def support_below(self, box: Box, bottom_z: float, exclude: str | None = None) -> Support:
        """Highest surface under ``box`` whose top is not above ``bottom_z`` (+ a small step).

        Surfaces above the load's underside are obstacles, not supports (the collision check
        reports them). ``exclude`` is the container being carried.
        """
        limit = bottom_z + SUPPORT_STEP_M
        best = Support("ground", None, 0.0)
        deck = self.world.carrier_type.deck_height_m
        if best.top_z < deck <= limit:
            for cid, (x, y, yaw) in self.carriers.items():
                if deck > best.top_z and rects_overlap(box, self.carrier_box(cid)):
                    best = Support("carrier", cid, deck, x, y, yaw)
        bed = self.world.truck_type.bed_height_m
        if bed <= limit:
            for truck in self.trucks.values():
                if bed > best.top_z and rects_overlap(box, self.truck_box(truck)):
                    best = Support("truck", truck.id, bed, truck.x, truck.y, truck.yaw)
        for c in self.containers.values():
            if c.id == exclude or c.parent_kind == "spreader":
                continue
            top = c.z + self.c_hgt
            if best.top_z < top <= limit and rects_overlap(box, self.container_box(c)):
                best = Support("container", c.id, top, c.x, c.y, c.yaw)
        return best

    def attach(self, t: float, container_id: str, crane_id: str) -> None:
        """Hang a container on a crane's spreader, keeping its current offset to the spreader."""
        c = self.containers[container_id]
        s = self.spreaders[crane_id]
        if c.parent_kind == "truck":
            truck = self.trucks.get(c.parent_id)
            self._unlink(c)
            if truck is not None:
                self._load_changed(t, truck)
        else:
            self._unlink(c)
        cs, sn = math.cos(s.yaw), math.sin(s.yaw)
        dx, dy = c.x - s.x, c.y - s.y
        c.parent_kind, c.parent_id = "spreader", crane_id
        c.local = (cs * dx + sn * dy, -sn * dx + cs * dy, wrap_angle(c.yaw - s.yaw))
        self._resolve(c)
        self._bump()

    def place(self, t: float, container_id: str, support: Support) -> Placement:
        """Let a container rest on ``support`` where it is now (after a release or a drop)."""
        c = self.containers[container_id]
        self._unlink(c)
        cs, sn = math.cos(support.yaw), math.sin(support.yaw)
        dx, dy = c.x - support.x, c.y - support.y
        local = (cs * dx + sn * dy, -sn * dx + cs * dy, wrap_angle(c.yaw - support.yaw))
        offset = (0.0, 0.0, 0.0)
        misplaced = False
        if support.kind == "ground":
            c.parent_kind, c.parent_id, c.local = "ground", None, (c.x, c.y, c.yaw)
        else:
            c.parent_kind, c.parent_id, c.local = support.kind, support.id, local
            if support.kind == "carrier":
                self.deck[support.id] = c.id
            elif support.kind == "truck":
                truck = self.trucks[support.id]
                truck.container_id = c.id
                self._load_changed(t, truck)
            else:
                self.on_top[support.id] = c.id
            if support.kind in ("carrier", "truck"):
                dyaw = end_symmetric_yaw(local[2])
                offset = (local[0], local[1], dyaw)
                cfg = self.config
                misplaced = math.hypot(local[0], local[1]) > cfg.misplaced_tolerance_m or \
                    abs(dyaw) > cfg.misplaced_tolerance_rad
        self._resolve(c)
        self._bump()
        return Placement(support, offset, misplaced)

    # ------------------------------------------------------------- queries
    def holder(self, container_id: str) -> tuple[str, str | None]:
        """(holder kind, holder id) at the bottom of a stack: truck, carrier, spreader or ground."""
        c = self.containers[container_id]
        while c.parent_kind == "container":
            c = self.containers[c.parent_id]
        return c.parent_kind, c.parent_id

    def bay_at(self, x: float, y: float, kind: str | None = None) -> str | None:
        """Id of the bay whose pose is within ``bay_tolerance_m`` of (x, y), if any."""
        tol = self.config.bay_tolerance_m
        for b in self.world.bays.values():
            if (kind is None or b.kind == kind) and math.hypot(b.pose.x - x, b.pose.y - y) <= tol:
                return b.id
        return None

    def container_bay(self, container_id: str) -> str | None:
        """The bay the container's holder stands at (a truck's bay, a carrier's bay), if any."""
        kind, hid = self.holder(container_id)
        if kind == "truck":
            return self.trucks[hid].bay
        if kind == "carrier":
            x, y, _ = self.carriers[hid]
            return self.bay_at(x, y, "carrier")
        if kind == "ground":
            c = self.containers[container_id]
            return self.bay_at(c.x, c.y)
        return None

    def describe(self) -> dict[str, Any]:
        """Counts for diagnostics."""
        return {"containers": len(self.containers), "trucks": len(self.trucks)}
