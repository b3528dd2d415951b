"""Orders and crane jobs: accept or reject an order, issue and follow its crane jobs, move it on to
its destination, finish, fail or cancel it.

Per order (see :mod:`fleet_manager.orders` for the states)::

    queued -> (allocation, :mod:`fleet_manager.dispatch`) carrier routed to a loading bay + load crane job
           -> carrier docked (bay ready) -> crane done: loaded
           -> route to an unloading bay: in_transit -> docked -> unload crane job
           -> crane done: unloaded, completed -> carrier free (next order, parking, charger)

With ``clearance_required``, a container customs select for inspection (clearance ``inspect``) goes from
``loaded`` to its origin station's inspection spot (``to_inspection`` -> ``at_inspection``: it holds no
bay while inspected) and on to the destination once both sides released it; a late ``inspect`` turns a
loaded carrier still on its origin side there too. ``hold`` keeps it where it is.
"""

from __future__ import annotations

import logging

from .fleet_core import CarrierInfo, FleetCore, Output
from .ingress import quote
from .orders import Order, loading_bays

log = logging.getLogger("fleet_manager")


class OrderFlow(FleetCore):
    """The order life cycle of :class:`~fleet_manager.manager.FleetManager`."""

    def on_crane_event(self, doc: dict, now: float) -> None:
        """``crane_job_event`` from any crane."""
        job = doc["job_id"]
        ref = self._jobs.get(job)
        if ref is None:
            return
        o = self.orders.get(ref[0])
        if o is None or o.final:
            return
        kind = ref[1]
        ev = doc["event"]
        o.extra[f"{kind}_event"] = ev
        crane = doc["crane_id"]
        current = o.load_job if kind == "load" else o.unload_job
        if job != current:
            return  # an older attempt
        if ev in ("locked", "lifted", "holding"):
            o.container_at = f"crane:{crane}"
            with self._tx():
                self._save(o, now)
        elif ev == "landed":
            o.container_at = f"carrier:{o.carrier_id}" if kind == "load" else f"truck:{o.dest_truck_bay}"
            with self._tx():
                self._save(o, now)
        elif ev == "done":
            if kind == "load":
                self._loaded(o, now)
            else:
                self._unloaded(o, now)
        elif ev in ("rejected", "failed", "cancelled"):
            self._crane_failed(o, kind, f"crane {crane} {ev} job {job}: {doc.get('reason', '')}", now)

    def _loaded(self, o: Order, now: float) -> None:
        with self._tx():
            o.state, o.phase, o.loaded_s = "loaded", "loaded", now
            o.container_at = f"carrier:{o.carrier_id}"
            self._save(o, now)
            self._event(o, "loaded", now)
        self._to_destination(o, now)

    def _to_destination(self, o: Order, now: float) -> bool:
        c = self.carriers[o.carrier_id]
        if c.faulted or c.stopped:
            return False
        clearance = self._clearance_of(o)[0]
        if clearance == "inspect" and o.phase == "loaded":
            self._to_inspection(o, now)  # no bay held while customs inspect (else it waits where it is)
            return False
        if clearance != "released":
            return False  # a hold that came after the order was assigned: wait loaded where it stands
        occupied = self._occupied_places(exclude=c.id)
        goals = [b for b in self._unload_bays(o) if b not in occupied and not self._unload_blocked(b, occupied)]
        plan = self._best_plan(c, goals, now) if c.route_id is None else None
        if plan is None:
            ct = self.traffic.carriers.get(c.id)
            if ct is not None and ct.place is not None and self.net.places[ct.place].kind in ("bay", "inspection"):
                # never wait on a bay for another bay (two stations' bays could wait on each other), nor
                # on an inspection spot once released (the next container to inspect needs it):
                # wait with the container on a parking spot, the destination side first
                # the buffer from which the destination bays are quickest to reach (in these yards a
                # carrier cannot turn back at a hub: that is the origin side, not the destination side)
                dest = [self._pidx[b] for b in self._unload_bays(o)]

                def onward(p: str) -> float:
                    return float(min(self._T[self._pidx[p], d] for d in dest))

                spots = [s.id for s in self.world.parking_spots() if s.id not in occupied]
                chargers = [s.id for s in self.world.charging_spots() if s.id not in occupied]
                buf = self._best_plan(c, spots, now, extra=onward) or self._best_plan(c, chargers, now, extra=onward)
                if buf is not None:
                    with self._tx():
                        c.task = "to_park"
                        self._route(c, buf, "to_park", now)
                        if self._leave_inspection(o):
                            o.phase = "loaded"
                            self._event(o, "clearance", now, f"leaves inspection for {buf.goal}: no unloading bay free")
                        self._save(o, now)
                    log.info("%s waits with %s on %s: no unloading bay free", c.id, o.container_id, buf.goal)
            elif ct is not None and ct.place is not None and c.route_id is None:
                self._unblock(c, goals or self._unload_bays(o), now)
            return False
        with self._tx():
            o.dest_bay, o.phase, o.state = plan.goal, "to_destination", "in_transit"
            self._leave_inspection(o)
            c.task = "to_destination"
            self._route(c, plan, "to_destination", now)
            self._save(o, now)
            self._event(o, "in_transit", now, f"to {plan.goal}")
        return True

    def _inspection_spot_for(self, o: Order) -> str | None:
        """The inspection spot of the order's origin station it goes to: its own, else a free unclaimed one."""
        mine = o.extra.get("inspection_spot")
        if mine in self.world.spots:
            return mine
        occupied = self._occupied_places(exclude=o.carrier_id)
        claimed = {x.extra.get("inspection_spot") for x in self.orders.values() if not x.final and x is not o}
        free = [s.id for s in self.world.inspection_spots(o.origin_station) if s.id not in occupied | claimed]
        return free[0] if free else None

    @staticmethod
    def _leave_inspection(o: Order) -> bool:
        """The order's carrier leaves its inspection spot: the spot is free for the next (True if it had one)."""
        spot = o.extra.pop("inspection_spot", None)
        if spot is not None:
            o.extra["inspected_on"] = spot
        return spot is not None

    def _inspectable_orders(self) -> list[Order]:
        """Queued orders whose container customs will inspect, as many per origin station as it has inspection
        spots free (not taken, claimed, or about to be by an assigned order still to be inspected); the others
        stay on their trucks (no carrier bay is held for an inspection)."""
        if not self.cfg.clearance_required:
            return []
        waiting: dict[str, list[Order]] = {}
        busy: dict[str, int] = {}
        for o in self.orders.values():
            if o.final or o.extra.get("inspection_spot") or self._clearance_of(o)[0] != "inspect":
                continue
            if o.state == "accepted" and o.phase == "queued":
                waiting.setdefault(o.origin_station, []).append(o)
            elif o.phase in ("to_origin", "at_origin", "loaded"):
                busy[o.origin_station] = busy.get(o.origin_station, 0) + 1
        out: list[Order] = []
        occupied = self._occupied_places()
        claimed = {x.extra.get("inspection_spot") for x in self.orders.values() if not x.final}
        for station, orders in waiting.items():
            free = [s for s in self.world.inspection_spots(station) if s.id not in occupied | claimed]
            n = len(free) - busy.get(station, 0)
            out += sorted(orders, key=lambda x: (-x.priority, x.accepted_s))[:max(n, 0)]
        return out

    def _to_inspection(self, o: Order, now: float) -> bool:
        """Take a loaded carrier whose container customs inspect to its station's inspection spot."""
        c = self.carriers[o.carrier_id]
        if c.faulted or c.stopped:
            return False
        if c.route_id is not None and c.purpose != "to_destination":
            return False  # on the way to a buffer: decided again when it stands
        spot = self._inspection_spot_for(o)
        if spot is None:
            return False
        ct = self.traffic.carriers.get(c.id)
        if ct is not None and ct.geometry is None and ct.place == spot:
            with self._tx():
                o.phase, c.task, o.extra["inspection_spot"] = "at_inspection", "at_inspection", spot
                self._save(o, now)
                self._save_carrier(c)
            return True
        plan = self._best_plan(c, [spot], now)
        if plan is None:
            return False
        with self._tx():
            o.phase, o.extra["inspection_spot"], o.dest_bay = "to_inspection", spot, None
            o.state = "loaded"
            c.task = "to_inspection"
            self._route(c, plan, "to_inspection", now)
            self._save(o, now)
            self._event(o, "clearance", now, f"to inspection at {spot}")
        log.info("%s takes %s to inspection at %s", c.id, o.container_id, spot)
        return True

    def _turn_to_inspection(self, o: Order, now: float) -> None:
        """A late ``inspect`` for a carrier on its way to the destination, still on its origin side: turn it to
        the inspection spot if a route from where it is still leads there (else it goes on)."""
        c = self.carriers.get(o.carrier_id)
        if c is None or c.pose is None:
            return
        if self.world.border.country_at(c.pose[0], c.pose[1]) != self.world.stations[o.origin_station].country:
            return  # across the border: the destination side's customs take it from here
        if not self._to_inspection(o, now) and not o.extra.get("inspection_turn_failed"):
            with self._tx():  # past the last turn-off, the spot taken, or the way blocked now: tried again, said once
                o.extra["inspection_turn_failed"] = True
                self._save(o, now)
                self._event(o, "clearance", now, "inspect: could not be turned to an inspection spot, goes on")

    def _unload_blocked(self, bay: str, occupied: set[str]) -> bool:
        """Unloading on ``bay`` would wait for ever: a loaded truck stands on every truck bay its cranes
        serve, and every other carrier bay those cranes serve is taken.

        Each of those trucks waits for a carrier bay to load onto, the only one left being ``bay``; a
        loaded carrier there waits for an empty truck. Neither moves: the carrier must not go there,
        and one standing there must make room (:meth:`_vacate_blocked_bay`).
        """
        trucks = {t["bay"]: t for t in (self.yard_state or {}).get("trucks", {}).values() if t["state"] == "parked"}
        cranes = self.world.cranes_serving(bay)
        kind = {b: self.world.bays[b].kind for k in cranes for b in k.serves if b in self.world.bays}
        truck_bays = {b for b, kd in kind.items() if kd == "truck"}
        if not truck_bays or any(tb not in trucks or trucks[tb]["container_id"] is None for tb in truck_bays):
            return False  # an empty truck stands there, or one may come
        others = {b for b, kd in kind.items() if kd == "carrier" and b != bay}
        return others <= occupied

    def _vacate_blocked_bay(self, o: Order, now: float) -> None:
        """A loaded carrier waits on a destination bay no truck can be brought to: it leaves with its
        container (to another bay, else a parking spot) so the loaded truck's carrier can come."""
        c = self.carriers.get(o.carrier_id)
        ct = self.traffic.carriers.get(o.carrier_id)
        if c is None or c.route_id is not None or c.faulted or ct is None or ct.place != o.dest_bay:
            return
        if not self._unload_blocked(o.dest_bay, self._occupied_places(exclude=c.id)):
            return
        log.warning("%s leaves %s with %s: a loaded truck waits for this bay on every truck bay its crane serves",
                    c.id, o.dest_bay, o.container_id)
        with self._tx():
            o.phase = "loaded"
            self._save(o, now)
        self._to_destination(o, now)

    def _unload_bays(self, o: Order) -> list[str]:
        st = self.world.stations[o.dest_station]
        if o.dest_truck_bay_requested:
            return sorted({b for _, b in loading_bays(self.world, o.dest_truck_bay_requested)})
        return list(st.carrier_bays)

    def _issue_unload(self, o: Order, now: float) -> bool:
        if o.phase != "at_destination" or o.dest_bay is None:
            return False
        taken = {x.dest_truck_bay for x in self.orders.values() if not x.final and x is not o and x.dest_truck_bay}
        cand = []
        for crane in self.world.cranes_serving(o.dest_bay):
            for tb in crane.serves:
                if self.world.bays.get(tb) is None or self.world.bays[tb].kind != "truck" or tb in taken:
                    continue
                if o.dest_truck_bay_requested and tb != o.dest_truck_bay_requested:
                    continue
                if self._truck_free(tb):
                    cand.append((crane.id, tb))
        if not cand:
            return False
        crane, tb = sorted(cand)[0]
        with self._tx():
            o.attempts += 1
            o.dest_truck_bay, o.unload_crane, o.phase = tb, crane, "unloading"
            o.unload_job = f"{o.order_id}:unload:{o.attempts}"
            job = {"job_id": o.unload_job, "crane_id": crane, "order_id": o.order_id, "container_id": o.container_id,
                   "pick": {"bay": o.dest_bay}, "place": {"bay": tb}, "priority": o.priority,
                   "expected_ready_s": now}
            o.extra["unload_doc"] = job
            self._jobs[o.unload_job] = (o.order_id, "unload")
            self._save(o, now)
            self.store.append_outbox("crane_job", crane, job)
            self._emit(Output("crane_job", crane, job))
        return True

    def _truck_free(self, bay: str | None) -> bool:
        """A parked, empty truck that came to take a container stands at the truck bay (per yard_state).

        Not a delivery truck whose container was just lifted: it stands there empty only until it
        leaves, and a crane holding a container for it would wait for ever once it has gone.
        """
        trucks = (self.yard_state or {}).get("trucks", {})
        return any(t["bay"] == bay and t["state"] == "parked" and t["container_id"] is None
                   and tid not in self._delivery_trucks for tid, t in trucks.items())

    def _unloaded(self, o: Order, now: float) -> None:
        c = self.carriers.get(o.carrier_id)
        with self._tx():
            o.state, o.phase, o.completed_s = "unloaded", "done", now
            o.container_at = f"truck:{o.dest_truck_bay}"
            self._event(o, "unloaded", now)
            o.state = "completed"
            self._save(o, now)
            self._event(o, "completed", now)
            if c is not None:
                c.order_id, c.task = None, "idle"
                self._save_carrier(c)
        self._finish(o)
        self._alloc_dirty = True

    def _end(self, o: Order, state: str, reason: str, now: float) -> None:
        """End an unfinished order as ``failed`` or ``cancelled``: withdraw its load job, free its carrier
        (unless the container is on it), store and announce it."""
        with self._tx():
            self._withdraw_load_job(o, now)
            if not o.loaded:
                self._release_carrier_of(o, now)
            o.state, o.phase, o.reason = state, "done", reason
            self._save(o, now)
            self._event(o, state, now, reason)
        self._finish(o)

    def _expire_unservable(self, now: float) -> None:
        """Fail orders that can no longer be served, before their container is lifted: at once when the world
        no longer allows them (a bay or station removed — a database from an older world —, no crane left
        between the origin truck bay and a carrier bay, no route); after ``unservable_timeout_s`` when their
        container is not on a truck at the origin per ``yard_state`` (gone from the yard, or elsewhere)."""
        if self.yard_state is None or now - self._last_expiry < 1.0:
            return
        self._last_expiry = now
        containers = self.yard_state.get("containers", {})
        for o in list(self.orders.values()):
            if o.final or o.loaded or not o.container_at.startswith("truck:"):
                self._unservable_since.pop(o.order_id, None)
                continue
            gone = self._impossible(o)
            why = gone or self._container_away(o, containers)
            if why is None:
                self._unservable_since.pop(o.order_id, None)
                continue
            since = self._unservable_since.setdefault(o.order_id, now)
            if gone or now - since >= self.cfg.unservable_timeout_s:
                self._unservable_since.pop(o.order_id, None)
                reason = f"cannot be served: {why}" + ("" if gone else f" for {now - since:.0f} s")
                log.warning("order %s failed: %s", quote(o.order_id), reason)
                self._end(o, "failed", reason, now)

    def _impossible(self, o: Order) -> str | None:
        """Why the world (as loaded now) cannot serve an order it once accepted, if so."""
        if o.origin_truck_bay not in self.world.bays:
            return f"origin truck bay {quote(o.origin_truck_bay)} is not in the world"
        if o.dest_station not in self.world.stations:
            return f"destination station {quote(o.dest_station)} is not in the world"
        dtb = o.dest_truck_bay_requested
        if dtb is not None and dtb not in self.world.stations[o.dest_station].truck_bays:
            return f"destination truck bay {quote(dtb)} is not in the world"
        if not loading_bays(self.world, o.origin_truck_bay):
            return f"no crane serves truck bay {quote(o.origin_truck_bay)} and a carrier bay"
        if dtb is not None and not loading_bays(self.world, dtb):
            return f"no crane serves truck bay {quote(dtb)} and a carrier bay"
        if o.origin_station in self.world.stations and (o.origin_station, o.dest_station) not in self._reach:
            return f"no route from {quote(o.origin_station)} to {quote(o.dest_station)}"
        return None

    def _container_away(self, o: Order, containers: dict) -> str | None:
        """Why the order's container is not where the order can take it (per ``yard_state``), if so."""
        where = containers.get(o.container_id)
        if where is None:
            return f"container {quote(o.container_id)} is not in the yard (yard_state)"
        if where["holder"] == "spreader" or (where["holder"] == "carrier" and where["holder_id"] == o.carrier_id):
            return None  # being loaded: the crane's events will say how it ends
        if where["holder"] != "truck" or where.get("bay") not in (None, o.origin_truck_bay):
            return (f"container {quote(o.container_id)} is on {where['holder']} {quote(where['holder_id'])} at "
                    f"{quote(where.get('bay'))}, not on a truck at {quote(o.origin_truck_bay)}")
        return None

    def _finish(self, o: Order) -> None:
        self._unservable_since.pop(o.order_id, None)
        self.counts[o.state] = self.counts.get(o.state, 0) + 1
        self.finished.append(o.order_id)
        for j in (o.load_job, o.unload_job):
            self._jobs.pop(j, None)
        while len(self.finished) > self.cfg.finished_orders_kept:
            old = self.finished.pop(0)
            self.orders.pop(old, None)

    def _crane_failed(self, o: Order, kind: str, reason: str, now: float) -> None:
        log.warning("order %s: %s", o.order_id, reason)
        if o.attempts >= self.cfg.crane_retries * 2 + 2:
            self._end(o, "failed", reason, now)
            return
        with self._tx():
            if kind == "load":
                o.load_job = None  # re-issued by _advance_orders
            else:
                o.unload_job, o.phase, o.dest_truck_bay = None, "at_destination", None
            o.reason = reason
            self._save(o, now)

    def _withdraw_load_job(self, o: Order, now: float) -> None:
        if o.load_job and not o.loaded and o.load_crane:
            job = dict(o.extra.get("load_doc", {}), cancel=True)
            if job.get("job_id"):
                self.store.append_outbox("crane_job", o.load_crane, job)
                self._emit(Output("crane_job", o.load_crane, job))
            self._jobs.pop(o.load_job, None)
            o.load_job = None

    def _requeue(self, o: Order, c: CarrierInfo, why: str, now: float) -> None:
        """Give an order not yet loaded back to allocation (inside a transaction): its carrier ``why``."""
        self._withdraw_load_job(o, now)
        o.state, o.phase, o.carrier_id, o.origin_bay = "accepted", "queued", None, None
        o.reason = f"re-queued: {c.id} {why}"
        self._save(o, now)
        self._event(o, "accepted", now, o.reason)
        c.order_id = None

    def _release_carrier_of(self, o: Order, now: float) -> None:
        c = self.carriers.get(o.carrier_id) if o.carrier_id else None
        if c is not None and c.order_id == o.order_id:
            c.order_id = None
            if c.task in ("to_origin", "at_origin"):
                c.task = "idle" if c.route_id is None else c.task
                if c.route_id is not None:
                    c.purpose = "reposition"
            self._save_carrier(c)
        o.carrier_id = None

    def _advance_orders(self, now: float) -> None:
        """Retry what could not be done when it was first due."""
        for o in list(self.orders.values()):
            if o.final:
                continue
            if o.phase in ("to_origin", "at_origin") and o.load_job is None and o.carrier_id:
                pairs = loading_bays(self.world, o.origin_truck_bay)
                crane = next((k for k, b in pairs if b == o.origin_bay), None)
                if crane is None:
                    continue
                with self._tx():
                    o.attempts += 1
                    o.load_crane, o.load_job = crane, f"{o.order_id}:load:{o.attempts}"
                    job = {"job_id": o.load_job, "crane_id": crane, "order_id": o.order_id,
                           "container_id": o.container_id, "pick": {"bay": o.origin_truck_bay},
                           "place": {"bay": o.origin_bay}, "priority": o.priority, "expected_ready_s": now}
                    o.extra["load_doc"] = job
                    self._jobs[o.load_job] = (o.order_id, "load")
                    self._save(o, now)
                    self.store.append_outbox("crane_job", crane, job)
                    self._emit(Output("crane_job", crane, job))
            elif o.phase in ("loaded", "at_inspection"):
                self._to_destination(o, now)
            elif o.phase == "to_destination" and self._clearance_of(o)[0] == "inspect":
                self._turn_to_inspection(o, now)
            elif o.phase == "at_destination":
                if not self._issue_unload(o, now):
                    self._vacate_blocked_bay(o, now)
            elif o.phase == "unloading" and o.extra.get("unload_event") in (None, "accepted") and \
                    not self._truck_free(o.dest_truck_bay):
                # the empty truck left (or was never one) before the crane started: choose again
                with self._tx():
                    job = dict(o.extra.get("unload_doc", {}), cancel=True)
                    self.store.append_outbox("crane_job", o.unload_crane, job)
                    self._emit(Output("crane_job", o.unload_crane, job))
                    self._jobs.pop(o.unload_job, None)
                    o.unload_job, o.phase, o.dest_truck_bay = None, "at_destination", None
                    o.extra.pop("unload_event", None)
                    self._save(o, now)
                self._issue_unload(o, now)
