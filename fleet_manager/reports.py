"""Status reports: the ``bay_status`` the cranes wait on, the ``fleet_state`` snapshot, and the
monitoring queries (deadlock, indefinite holds, orders by state).
"""

from __future__ import annotations

from .bay_status import CarrierAtBay, bay_entries
from .fleet_core import FleetCore, Output
from .orders import FINAL_STATES, Order
from .reservations import INF, has_cycle


class Reports(FleetCore):
    """What :class:`~fleet_manager.manager.FleetManager` reports about the fleet."""

    def _publish_bay_status(self, now: float) -> None:
        """Publish ``bay_status`` on a change and at least every second (see :mod:`fleet_manager.bay_status`)."""
        on_carrier = {o.carrier_id: o.container_id for o in self.orders.values()
                      if not o.final and o.container_at == f"carrier:{o.carrier_id}"}
        standing, approaching = [], {}
        for c in self.carriers.values():
            ct = self.traffic.carriers.get(c.id)
            if ct is not None and ct.place is not None:
                f = c.follower or {}
                still = abs(f.get("speed_mps", c.speed)) < 0.05 and f.get("state") in ("docked", "idle")
                standing.append(CarrierAtBay(c.id, ct.place, still, on_carrier.get(c.id), c.faulted))
            if c.route_doc:
                approaching.setdefault(c.route_doc["goal"].get("id"), c.id)
        bays = bay_entries(self.world, (self.yard_state or {}).get("trucks") or {}, standing, approaching)
        if bays != (self._bay_doc or {}).get("bays") or now - (self._bay_doc or {}).get("stamp", -1e9) >= 1.0:
            self._bay_doc = {"stamp": now, "bays": bays}
            self._emit(Output("bay_status", "", self._bay_doc))

    def fleet_state(self, now: float) -> dict:
        """The ``fleet_state`` snapshot document."""
        orders = {}
        for o in self.orders.values():
            if o.state == "rejected":
                continue
            orders[o.order_id] = {
                "state": o.state, "phase": o.phase, "container_id": o.container_id, "carrier_id": o.carrier_id,
                "origin_truck_bay": o.origin_truck_bay, "origin_bay": o.origin_bay,
                "destination_station": o.dest_station, "destination_bay": o.dest_bay,
                "destination_truck_bay": o.dest_truck_bay, "priority": o.priority, "deadline": o.deadline,
                "accepted_s": o.accepted_s, "updated_s": o.updated_s, "reason": o.reason}
        wg = self.traffic.wait_graph()
        carriers = {}
        for c in self.carriers.values():
            ct = self.traffic.carriers.get(c.id)
            health = "faulted" if c.faulted else "stopped" if c.stopped else "ok" if c.located else "unlocated"
            carriers[c.id] = {
                "task": c.task, "health": health, "fault": c.fault, "order_id": c.order_id, "soc": c.soc,
                "place": ct.place if ct else None, "route_id": c.route_id,
                "goal": (c.route_doc or {}).get("goal", {}).get("id"),
                "progress_m": round(ct.progress_m, 2) if ct else 0.0,
                "authority_m": round(ct.authority_m, 2) if ct else 0.0,
                "held": [self.net.resources[r].name for r in self.traffic.held_resources(c.id)],
                "waiting_for": sorted(wg.get(c.id, set()))}
        containers = {o.container_id: o.container_at for o in self.orders.values() if not o.final and o.container_at}
        stats = {"open": sum(1 for o in self.orders.values() if not o.final), **{k: int(v) for k, v in
                                                                                self.counts.items()},
                 "reservations": len(self.traffic.table.all())}
        return {"stamp": now, "orders": orders, "carriers": carriers, "containers": containers, "stats": stats}

    def deadlocked(self) -> bool:
        """True when the carriers' waits form a cycle (never expected; for monitoring and tests)."""
        return has_cycle(self.traffic.wait_graph())

    def indefinite_holds(self) -> int:
        return sum(1 for r in self.traffic.table.all() if r.t_end == INF)

    def orders_in(self, *states: str) -> list[Order]:
        return [o for o in self.orders.values() if o.state in states]

    @property
    def final_states(self) -> tuple[str, ...]:
        return FINAL_STATES
