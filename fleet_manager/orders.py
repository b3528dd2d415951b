"""Transport orders: the model, its life cycle and the checks an order must pass.

An order moves one container from a truck at the origin station to the
destination station. Life cycle (``state``, published as ``order_event``)::

    accepted -> assigned -> loaded -> in_transit -> unloaded -> completed
         \\-> rejected (never accepted)      any unfinished -> failed | cancelled

``phase`` is finer and internal (which leg, which crane job). Validation
(after :mod:`fleet_manager.ingress` has screened the message) rejects with a reason fit for the
rejection event: unknown stations or bays, unknown containers (per the latest ``yard_state``),
containers not at the origin, containers already being moved, impossible
orders (destination = origin, no crane that serves the origin truck bay and a
carrier bay, no route between the stations).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

STATES = ("accepted", "assigned", "loaded", "in_transit", "unloaded", "completed", "failed", "cancelled", "rejected")
FINAL_STATES = ("completed", "failed", "cancelled", "rejected")
PHASES = ("queued", "to_origin", "at_origin", "loaded", "to_inspection", "at_inspection", "to_destination",
          "at_destination", "unloading", "done")


@dataclass
class Order:
    """One transport order as the fleet manager tracks it (persisted row)."""

    order_id: str
    container_id: str
    origin_station: str
    origin_truck_bay: str
    dest_station: str
    dest_truck_bay_requested: str | None
    priority: int
    deadline: float | None
    accepted_s: float
    digest: str  # content hash: a re-sent order with the same id must match
    state: str = "accepted"
    phase: str = "queued"
    carrier_id: str | None = None
    origin_bay: str | None = None  # carrier bay for loading
    dest_bay: str | None = None  # carrier bay for unloading
    dest_truck_bay: str | None = None  # truck bay the container goes to
    load_job: str | None = None
    unload_job: str | None = None
    load_crane: str | None = None
    unload_crane: str | None = None
    attempts: int = 0  # crane job / assignment attempts (job ids are unique per attempt)
    container_at: str = ""  # "truck:<bay>", "crane:<id>", "carrier:<id>"
    reason: str = ""
    updated_s: float = 0.0
    loaded_s: float | None = None
    completed_s: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def loaded(self) -> bool:
        return self.state in ("loaded", "in_transit", "unloaded", "completed")

    def to_row(self) -> dict:
        d = dict(self.__dict__)
        d["extra"] = json.dumps(self.extra, sort_keys=True)
        return d

    @classmethod
    def from_row(cls, row: dict) -> Order:
        d = dict(row)
        d["extra"] = json.loads(d.get("extra") or "{}")
        return cls(**d)


def digest_of(doc: dict) -> str:
    """Content hash of an order document (without ``cancel``), for idempotent duplicates."""
    core = {k: v for k, v in doc.items() if k != "cancel"}
    core.setdefault("priority", 0)
    return hashlib.sha256(json.dumps(core, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


class OrderRejected(ValueError):
    """An order cannot be accepted; ``order_id`` may be '' when the document had none."""

    def __init__(self, order_id: str, reason: str):
        super().__init__(reason)
        self.order_id = order_id
        self.reason = reason


def check_order(doc: dict, world, yard_state: dict | None, active_containers: dict[str, str],
                reachable) -> None:
    """Raise OrderRejected unless ``doc`` (schema-valid) is a possible order in this yard now.

    ``active_containers``: container id -> order id of unfinished orders.
    ``reachable(origin_station, dest_station)``: True when a carrier bay of the origin
    station can drive to one of the destination station.
    """
    oid = doc["order_id"]
    o, d = doc["origin"], doc["destination"]
    if o["station"] not in world.stations:
        raise OrderRejected(oid, f"unknown origin station '{o['station']}'")
    if d["station"] not in world.stations:
        raise OrderRejected(oid, f"unknown destination station '{d['station']}'")
    if o["truck_bay"] not in world.stations[o["station"]].truck_bays:
        raise OrderRejected(oid, f"'{o['truck_bay']}' is not a truck bay of station '{o['station']}'")
    dtb = d.get("truck_bay")
    if dtb is not None and dtb not in world.stations[d["station"]].truck_bays:
        raise OrderRejected(oid, f"'{dtb}' is not a truck bay of station '{d['station']}'")
    if d["station"] == o["station"]:
        raise OrderRejected(oid, "impossible order: the destination station is the origin station")
    if not loading_bays(world, o["truck_bay"]):
        raise OrderRejected(oid, f"impossible order: no crane serves truck bay '{o['truck_bay']}' and a carrier bay")
    if dtb is not None and not loading_bays(world, dtb):
        raise OrderRejected(oid, f"impossible order: no crane serves truck bay '{dtb}' and a carrier bay")
    if not reachable(o["station"], d["station"]):
        raise OrderRejected(oid, f"impossible order: no route from '{o['station']}' to '{d['station']}'")
    if "deadline" in doc and not _finite(doc["deadline"]):
        raise OrderRejected(oid, "deadline is not a finite number")
    cid = doc["container_id"]
    if cid in active_containers:
        raise OrderRejected(oid, f"container '{cid}' is already being moved by order '{active_containers[cid]}'")
    if yard_state is None:
        raise OrderRejected(oid, "no yard_state received yet: the container cannot be verified; retry")
    where = yard_state.get("containers", {}).get(cid)
    if where is None:
        raise OrderRejected(oid, f"unknown container '{cid}' (not in yard_state)")
    if where["holder"] != "truck":
        raise OrderRejected(oid, f"container '{cid}' is on a {where['holder']} ('{where['holder_id']}'), "
                                 "not on a truck at the origin")
    if where.get("bay") not in (None, o["truck_bay"]):
        raise OrderRejected(oid, f"container '{cid}' is at bay '{where['bay']}', not at origin bay '{o['truck_bay']}'")


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and x == x and x not in (float("inf"), float("-inf"))


def loading_bays(world, truck_bay: str) -> list[tuple[str, str]]:
    """(crane, carrier bay) pairs where one crane serves both the truck bay and the carrier bay."""
    out = []
    for crane in world.cranes.values():
        if truck_bay in crane.serves:
            for b in crane.serves:
                bay = world.bays.get(b)
                if bay is not None and bay.kind == "carrier":
                    out.append((crane.id, b))
    return out


def order_from_doc(doc: dict, now: float, digest: str | None = None) -> Order:
    return Order(
        order_id=doc["order_id"],
        container_id=doc["container_id"],
        origin_station=doc["origin"]["station"],
        origin_truck_bay=doc["origin"]["truck_bay"],
        dest_station=doc["destination"]["station"],
        dest_truck_bay_requested=doc["destination"].get("truck_bay"),
        priority=int(doc.get("priority", 0)),
        deadline=float(doc["deadline"]) if "deadline" in doc else None,
        accepted_s=now,
        digest=digest or digest_of(doc),
        container_at=f"truck:{doc['origin']['truck_bay']}",
        updated_s=now,
    )
