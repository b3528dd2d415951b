"""The outside world of a running yard: trucks at the gates and the port's transport orders, over topics.

:class:`TrafficDriver` plays :class:`~yard_sim.scenario.TrafficScenario` (the same demand model
``yard-autonomy day`` uses) against a live yard that it knows only through documents, as a
real gate and terminal operating system would:

* it learns which truck bays hold a truck from ``yard_state`` (a truck that disappeared from its
  bay has departed: the scenario's collection refill timer starts then);
* it spawns the trucks the scenario lets in through ``sim_command`` documents (``spawn_truck``
  with the delivery truck's container), and counts a bay as taken from the command on until the
  truck shows in ``yard_state`` (or the simulator rejects the command);
* it issues a delivery truck's ``transport_order`` once the truck stands parked at its bay in
  ``yard_state`` (``order_delay_s`` later, so the fleet manager, which hears the same
  ``yard_state``, knows the container), and sends it again every ``order_resend_s`` until an
  ``order_event`` names it (re-sending an order id is idempotent);
* it hands on the scenario's ``gate_event`` documents;
* with the scenario's ``pre_clearance``, it files each container's ``customs_manifest`` as its
  truck reaches the gate (:func:`manifest_document`), for both sides' customs to decide on while
  the truck queues.

No rclpy here: :mod:`yard_sim.traffic_node` feeds it messages and calls :meth:`TrafficDriver.step`
with the simulation time. Time is float seconds of simulated time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .scenario import OrderRequest, TrafficScenario

log = logging.getLogger(__name__)


@dataclass
class DriverOutput:
    """What one step sends: simulator commands, transport orders and gate events (JSON documents)."""

    commands: list[dict] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    gate_events: list[dict] = field(default_factory=list)
    manifests: list[dict] = field(default_factory=list)


def manifest_document(filed: dict, world) -> dict:
    """The ``customs_manifest`` a simulated terminal files for a container at the gate (pre-clearance).

    ``filed``: one of :meth:`TrafficScenario.take_manifests`. Seal, mass and goods are placeholders: the
    simulated customs decide from their own rates, not from the goods. The id (``m-<container>``) is the one
    ``yard-autonomy day`` gives the same manifest.
    """
    st = world.stations
    origin, dest = st[filed["origin_station"]].country, st[filed["destination_station"]].country
    cid = filed["container_id"]
    return {"manifest_id": f"m-{cid}", "container_id": cid, "seal_number": f"SIM{cid[-7:]}",
            "gross_mass_kg": 20000.0, "goods_description": "general cargo (simulated manifest)",
            "consignor_country": origin, "consignee_country": dest, "origin_side": origin,
            "destination_side": dest, "issued_at": float(filed["stamp"])}


@dataclass
class _Spawn:
    bay: str
    order: OrderRequest | None
    sent_t: float


class TrafficDriver:
    """Runs a traffic scenario against a yard seen through ``yard_state``, ``sim_event`` and ``order_event``."""

    def __init__(self, scenario: TrafficScenario, order_delay_s: float = 1.0, order_resend_s: float = 10.0):
        if not order_delay_s >= 0.0 or not order_resend_s > 0.0:
            raise ValueError("order_delay_s must be >= 0 and order_resend_s > 0")
        self.scenario = scenario
        self.order_delay_s = float(order_delay_s)
        self.order_resend_s = float(order_resend_s)
        self.truck_bays = frozenset(b.id for b in scenario.world.truck_bays())
        self.trucks_at: dict[str, str] = {}  # bay -> truck id, per the latest yard_state
        self.spawning: dict[str, _Spawn] = {}  # truck id -> spawn sent, truck not seen yet
        self.ready: dict[str, tuple[dict, float]] = {}  # order id -> (document, when to send it)
        self.unanswered: dict[str, tuple[dict, float]] = {}  # order id -> (document, last sent)
        self.departed: set[str] = set()  # bays a truck left since the last step
        self.seen_state = False
        self.orders_sent = 0  # distinct orders issued
        self.spawns_rejected = 0
        self.orders_rejected = 0

    # ---------------------------------------------------------------- inputs
    def on_yard_state(self, doc: dict, t: float) -> None:
        """A ``yard_state`` snapshot: which truck stands where; trucks we spawned have arrived."""
        self.seen_state = True
        trucks = doc.get("trucks") or {}
        now = {tr["bay"]: tid for tid, tr in trucks.items()}
        for bay, tid in self.trucks_at.items():
            if now.get(bay) != tid:
                self.departed.add(bay)
        self.trucks_at = now
        for tid in [tid for tid in self.spawning if tid in trucks]:
            sp = self.spawning.pop(tid)
            tr = trucks[tid]
            if sp.order is not None:
                if tr.get("state") == "parked" and tr.get("container_id") == sp.order.container_id:
                    self.ready[sp.order.order_id] = (sp.order.document(), t + self.order_delay_s)
                else:
                    log.warning("truck %s arrived without its container %s: no order", tid, sp.order.container_id)

    def on_sim_event(self, doc: dict) -> None:
        """A ``sim_event``: a rejected spawn frees its bay again (the truck never came)."""
        if doc.get("event") != "command_rejected":
            return
        sp = self.spawning.pop(str(doc.get("command_id", "")), None)
        if sp is not None:
            self.spawns_rejected += 1
            log.warning("spawning truck %s at %s rejected: %s", doc.get("command_id"), sp.bay, doc.get("reason"))

    def on_order_event(self, doc: dict) -> None:
        """An ``order_event``: the fleet manager heard the order (whatever it answered)."""
        oid = doc.get("order_id")
        if self.unanswered.pop(oid, None) is not None and doc.get("event") == "rejected":
            self.orders_rejected += 1
            log.warning("order %s rejected: %s", oid, doc.get("reason", ""))

    # ---------------------------------------------------------------- step
    def free_bays(self) -> set[str]:
        """Truck bays with no truck and no truck on its way to them."""
        taken = set(self.trucks_at) | {sp.bay for sp in self.spawning.values()}
        return set(self.truck_bays - taken)

    def step(self, t: float, can_order: bool = True) -> DriverOutput:
        """Advance the scenario to ``t``; ``can_order`` False holds orders back (no fleet manager yet)."""
        out = DriverOutput()
        arrivals, orders = self.scenario.step(t, self.free_bays(), self.departed)
        self.departed = set()
        by_container = {o.container_id: o for o in orders}
        for a in arrivals:
            cmd = {"command": "spawn_truck", "command_id": a.truck_id, "truck_id": a.truck_id, "bay": a.bay}
            if a.container_id is not None:
                cmd["container_id"] = a.container_id
            out.commands.append(cmd)
            self.spawning[a.truck_id] = _Spawn(a.bay, by_container.get(a.container_id), t)
        if can_order:
            for oid, (doc, when) in list(self.ready.items()):
                if when <= t:
                    del self.ready[oid]
                    out.orders.append(doc)
                    self.unanswered[oid] = (doc, t)
                    self.orders_sent += 1
            for oid, (doc, sent) in list(self.unanswered.items()):
                if t - sent >= self.order_resend_s:
                    out.orders.append(doc)
                    self.unanswered[oid] = (doc, t)
        out.gate_events = self.scenario.take_gate_events()
        out.manifests = [manifest_document(m, self.scenario.world) for m in self.scenario.take_manifests()]
        return out

    def status(self) -> dict[str, int]:
        """Counts for diagnostics."""
        q = self.scenario.gate_queue
        return {"gate_queue": sum(len(v) for v in q.values()), "trucks": len(self.trucks_at),
                "spawning": len(self.spawning), "orders_sent": self.orders_sent,
                "orders_waiting": len(self.ready), "orders_unanswered": len(self.unanswered),
                "spawns_rejected": self.spawns_rejected, "orders_rejected": self.orders_rejected}
