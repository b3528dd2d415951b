"""Status reports: the ``bay_status`` the cranes wait on, the ``fleet_state`` snapshot, and the
monitoring queries (deadlock, indefinite holds, orders by state).
"""

from __future__ import annotations

import heapq

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
        listed, omitted = self._state_orders()
        for o in listed:
            orders[o.order_id] = {
                "state": o.state, "phase": o.phase, "container_id": o.container_id, "carrier_id": o.carrier_id,
                "origin_truck_bay": o.origin_truck_bay, "origin_bay": o.origin_bay,
                "destination_station": o.dest_station, "destination_bay": o.dest_bay,
                "destination_truck_bay": o.dest_truck_bay, "priority": o.priority, "deadline": o.deadline,
                "accepted_s": o.accepted_s, "updated_s": o.updated_s, "reason": o.reason}
            if self.cfg.clearance_required:
                orders[o.order_id]["clearance"] = self._clearance_of(o)[0]
        wg = self.traffic.wait_graph()
        carriers = {}
        for c in self.carriers.values():
            ct = self.traffic.carriers.get(c.id)
            health = self._health(c)
            carriers[c.id] = {
                "task": c.task, "health": health, "fault": c.fault, "order_id": c.order_id, "soc": c.soc,
                "recovery_attempts": c.recovery.attempts,
                "place": ct.place if ct else None, "route_id": c.route_id,
                "goal": (c.route_doc or {}).get("goal", {}).get("id"),
                "progress_m": round(ct.progress_m, 2) if ct else 0.0,
                "authority_m": round(ct.authority_m, 2) if ct else 0.0,
                "held": [self.net.resources[r].name for r in self.traffic.held_resources(c.id)],
                "waiting_for": sorted(wg.get(c.id, set()))}
        containers = {o.container_id: o.container_at for o in listed if not o.final and o.container_at}
        stats = {"open": sum(1 for o in self.orders.values() if not o.final), **{k: int(v) for k, v in
                                                                                self.counts.items()},
                 "reservations": len(self.traffic.table.all()), "orders_omitted": omitted}
        return {"stamp": now, "orders": orders, "carriers": carriers, "containers": containers, "stats": stats}

    def _state_orders(self) -> tuple[list[Order], int]:
        """The orders a snapshot lists: every one under way, the queued ones oldest first, at most
        ``max_state_orders`` unfinished in all; then the recently finished. And how many were left out."""
        cap = self.cfg.max_state_orders
        busy = [o for o in self.orders.values() if not o.final and o.phase != "queued"]
        queued = [o for o in self.orders.values() if not o.final and o.phase == "queued"]
        if len(busy) + len(queued) > cap:
            queued = heapq.nsmallest(max(0, cap - len(busy)), queued, key=lambda o: (o.accepted_s, o.order_id))
        done = [o for o in self.orders.values() if o.final and o.state != "rejected"]
        n_open = sum(1 for o in self.orders.values() if not o.final)
        return busy + queued + done, n_open - len(busy) - len(queued)
    @staticmethod
    def _health(c) -> str:
        if c.recovery.out_of_service is not None:
            return "out_of_service"
        return "faulted" if c.faulted else "stopped" if c.stopped else "ok" if c.located else "unlocated"

    def carrier_diagnostics(self) -> list[dict]:
        """One ``/diagnostics`` entry per carrier: level ``ok`` | ``warn`` (faulted, on a recovery route not yet
        arrived, stopped, unlocated) | ``error`` (out of service), the fault as message, recovery counts as values."""
        out = []
        for c in self.carriers.values():
            health = self._health(c)
            level = "error" if health == "out_of_service" else "ok" if health == "ok" else "warn"
            message = c.fault or health
            if health == "ok" and c.recovery.attempts:  # on a recovery route, not arrived yet
                level = "warn"
                message = f"recovering ({c.recovery.attempts} of {self.cfg.recovery.max_attempts}) after: " \
                          f"{c.recovery.last_fault}"
            out.append({"name": f"fleet_manager/{c.id}", "level": level, "message": message,
                        "values": {"health": health, "task": c.task, "order_id": str(c.order_id),
                                   "route_id": str(c.route_id), "recovery_attempts": c.recovery.attempts,
                                   "max_recovery_attempts": self.cfg.recovery.max_attempts,
                                   "refused_routes": len(c.recovery.rejected_ids)}})
        return out

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
