"""Dispatch: which carrier takes which order (allocation), where idle carriers go (charger, parking,
compacting serial lanes), and moving an idle carrier out of another's way (unblocking).

Travel-time and distance tables between places, and the places that can only be reached through
another (serial lanes), are computed once at start.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from .allocation import AllocationConfig, CarrierSlot, OrderSlot
from .fleet_core import FREE_TASKS, CarrierInfo, FleetCore, Output
from .orders import Order, loading_bays
from .traffic import Plan

log = logging.getLogger("fleet_manager")


class Dispatch(FleetCore):
    """Allocation, parking, charging and unblocking of :class:`~fleet_manager.manager.FleetManager`."""

    def _tables(self) -> tuple[np.ndarray, np.ndarray]:
        n = len(self._places)
        T = np.full((n, n), np.inf)
        D = np.full((n, n), np.inf)
        tt, dd = self.router.time_table(), self.router.distance_table()
        for i, a in enumerate(self._places):
            T[i, i] = D[i, i] = 0.0
            for j, b in enumerate(self._places):
                if (a, b) in tt:
                    T[i, j] = tt[(a, b)]
                    D[i, j] = dd.get((a, b), np.inf)
        return T, D

    def _serial_behind(self) -> dict[str, set[str]]:
        """Places q that can only be reached through place p (p blocks them when occupied)."""
        out: dict[str, set[str]] = {p: set() for p in self._places}
        for p in self._places:
            st = self.net.places[p].station
            refs = [r for r in self._places if self.net.places[r].station != st][:1]
            if not refs:
                continue
            blocked = frozenset([self.net.places[p].resource])
            for q in self._places:
                if q != p and self.router.route(refs[0], q) is not None and \
                        self.router.route(refs[0], q, blocked) is None:
                    out[p].add(q)
        return out

    def _station_reach(self) -> set[tuple[str, str]]:
        ok = set()
        for a in self.world.stations:
            for b in self.world.stations:
                if any(self.router.travel_time(x, y) < math.inf
                       for x in self.world.stations[a].carrier_bays for y in self.world.stations[b].carrier_bays):
                    ok.add((a, b))
        return ok

    def _allocate(self, now: float) -> None:
        self._last_alloc = now
        self._alloc_dirty = False
        open_orders = [o for o in self.orders.values() if o.state == "accepted" and o.phase == "queued"
                       and self._clearance_of(o)[0] == "released"]  # held / awaiting customs: stays on its truck
        open_orders += self._inspectable_orders()  # to be inspected: loaded only while an inspection spot is free
        if not open_orders:
            return
        slots = []
        cap = self.world.carrier_type.battery_capacity_kwh
        for c in self.carriers.values():
            if c.faulted or c.stopped or not c.located:
                continue
            ct = self.traffic.carriers.get(c.id)
            if ct is None:
                continue
            energy = math.inf if c.soc is None else (c.soc - self.cfg.reserve_soc) * cap
            if c.order_id is not None:
                # about to be free: competes, but is only committed once it is (rolling horizon)
                o = self.orders.get(c.order_id)
                if o is not None and o.phase == "unloading" and ct.place is not None:
                    ready = now + self.cfg.allocation.unload_time_s / 2.0
                    slots.append(CarrierSlot(c.id, self._pidx[ct.place], ready, energy, False))
                continue
            place = ct.place if ct.geometry is None else (ct.geometry.goal_place if c.task == "to_park" else None)
            if place is None or (c.task not in FREE_TASKS and c.task != "to_park") or self._needs_charge(c):
                continue
            slots.append(CarrierSlot(c.id, self._pidx[place], now, energy, True))
        if not slots:
            return
        oslots = []
        for o in open_orders:
            ob = tuple(sorted({self._pidx[b] for _, b in loading_bays(self.world, o.origin_truck_bay)}))
            db = tuple(sorted(self._pidx[b] for b in self._unload_bays(o)))
            if ob and db:
                oslots.append(OrderSlot(o.order_id, ob, db, o.accepted_s, o.priority, o.deadline))
        cfg = self.cfg.allocation
        acfg = AllocationConfig(cfg.load_time_s, cfg.unload_time_s, cfg.age_weight, cfg.priority_weight_s,
                                cfg.lateness_weight, self.world.carrier_type.energy_use_kwh_per_km / 1000.0,
                                cfg.reserve_kwh)
        for _round in range(3):
            failed = False
            for a in sorted(self._allocator(slots, oslots, self._T, self._D, now, acfg), key=lambda a: a.cost):
                if a.commit and not self._dispatch(self.carriers[a.carrier_id], self.orders[a.order_id], now):
                    # cannot leave now (e.g. behind another carrier): free the way, offer the order to others
                    self._unblock(self.carriers[a.carrier_id], [b for _, b in loading_bays(
                        self.world, self.orders[a.order_id].origin_truck_bay)], now)
                    slots = [x for x in slots if x.carrier_id != a.carrier_id]
                    failed = True
            assigned = {o.order_id for o in self.orders.values() if o.state == "assigned"}
            busy = {c.id for c in self.carriers.values() if c.order_id is not None}
            oslots = [x for x in oslots if x.order_id not in assigned]
            slots = [x for x in slots if x.carrier_id not in busy or not x.free_now]
            if not failed or not slots or not oslots:
                break

    def _needs_charge(self, c: CarrierInfo) -> bool:
        if c.soc is None or not self.net.world.charging_spots():
            return False
        if c.task == "charging":
            return c.soc < self.cfg.charge_target_soc and c.soc < self.cfg.charge_below_soc + 0.2
        return c.soc < self.cfg.charge_below_soc

    def _occupied_places(self, exclude: str | None = None) -> set[str]:
        """Places a carrier stands on or is routed to."""
        out = set()
        for cid, ct in self.traffic.carriers.items():
            if cid == exclude:
                continue
            if ct.place:
                out.add(ct.place)
            if ct.geometry is not None and ct.geometry.goal_place:
                out.add(ct.geometry.goal_place)
        return out

    def _best_plan(self, c: CarrierInfo, goals: list[str], now: float, penalise: bool = True,
                   extra=None) -> Plan | None:
        """Earliest-arriving feasible plan, with a penalty for blocking free places behind the goal.

        Without ``penalise`` the furthest-downstream goal wins (compaction along a serial lane).
        """
        if not goals:
            return None
        plans = self.traffic.plan(c.id, goals, now)
        if not plans:
            return None
        occupied = self._occupied_places(exclude=c.id)

        def score(p: Plan) -> float:
            free_behind = len(self._behind.get(p.goal, set()) - occupied)
            if not penalise:
                return -len(self._behind.get(p.goal, set())) * 1e6 + p.arrival_s
            return p.arrival_s + self.cfg.serial_penalty_s * free_behind + (extra(p.goal) if extra else 0.0)

        return min(plans, key=score)

    def _dispatch(self, c: CarrierInfo, o: Order, now: float) -> bool:
        pairs = loading_bays(self.world, o.origin_truck_bay)
        ct = self.traffic.carriers[c.id]
        here = ct.place if ct.geometry is None else None
        if here is not None and any(b == here for _, b in pairs):
            goal, plan, arrival = here, None, now  # load where it stands
        else:
            occupied = self._occupied_places(exclude=c.id)
            goals = sorted({b for _, b in pairs if b not in occupied})
            plan = self._best_plan(c, goals, now)
            if plan is None:
                return False
            goal, arrival = plan.goal, plan.arrival_s
        crane = next(k for k, b in pairs if b == goal)
        with self._tx():
            o.attempts += 1
            o.state, o.carrier_id, o.origin_bay, o.load_crane = "assigned", c.id, goal, crane
            o.phase = "to_origin" if plan is not None else "at_origin"
            o.load_job = f"{o.order_id}:load:{o.attempts}"
            job = {"job_id": o.load_job, "crane_id": crane, "order_id": o.order_id, "container_id": o.container_id,
                   "pick": {"bay": o.origin_truck_bay}, "place": {"bay": goal},
                   "priority": o.priority, "expected_ready_s": arrival}
            o.extra["load_doc"] = job
            self._jobs[o.load_job] = (o.order_id, "load")
            c.order_id = o.order_id
            if plan is not None:
                c.task = "to_origin"
                self._route(c, plan, "to_origin", now)
            else:
                c.task = "at_origin"
                self._save_carrier(c)
            self._save(o, now)
            self._event(o, "assigned", now, f"to {goal}, crane {crane}")
            self.store.append_outbox("crane_job", crane, job)
            self._emit(Output("crane_job", crane, job))
        log.info("order %s -> %s via %s (crane %s), ready planned at %.0f s", o.order_id, c.id, goal, crane, arrival)
        return True

    def _unblock(self, c: CarrierInfo, goals: list[str], now: float) -> bool:
        """Move an idle carrier standing in the way of ``c`` (e.g. ahead of it on a serial parking lane)."""
        if now - self._unblock_t.get(c.id, -math.inf) < 10.0:
            return False
        self._unblock_t[c.id] = now
        start, _ = self.traffic.start_of(c.id)
        holds = self.traffic.holds_of_others(c.id, now)
        for goal in goals:
            if self.router.route(start, goal, holds) is not None:
                continue  # not blocked by anybody standing: nothing to move
            path = self.router.route(start, goal)
            if path is None:
                continue
            on_path: set[int] = set()
            for t in path.traversals:
                for rid, _, _ in self.net.traversal_cells(t):
                    on_path |= self.net.conflicts[rid]
            for other in self.carriers.values():
                oct_ = self.traffic.carriers.get(other.id)
                if other.id == c.id or oct_ is None or oct_.place is None or oct_.geometry is not None:
                    continue
                if other.order_id is not None or other.faulted or other.stopped:
                    continue
                if self.net.places[oct_.place].resource not in on_path:
                    continue
                occupied = self._occupied_places(exclude=other.id) | {goal}
                here = self._pidx[oct_.place]
                spots = sorted((s.id for s in self.world.parking_spots() + self.world.charging_spots()
                                if s.id not in occupied and s.id != oct_.place and
                                self.net.places[s.id].resource not in on_path),
                               key=lambda p: self._T[here, self._pidx[p]])[:4]
                plan = self._best_plan(other, spots, now)
                if plan is None:
                    continue
                # the new spot must not be on c's way either
                if self.net.places[plan.goal].resource in on_path:
                    continue
                with self._tx():
                    other.task = "to_park"
                    self._route(other, plan, "to_park", now)
                log.info("moving %s from %s to %s out of %s's way", other.id, oct_.place, plan.goal, c.id)
                return True
        return False

    def _free_carriers(self, now: float) -> None:
        """Idle carriers: charge when low, otherwise leave bays for parking; compact serial lanes."""
        for c in self.carriers.values():
            if c.faulted or c.stopped or not c.located or c.route_id is not None:
                continue
            if c.order_id is not None:
                o = self.orders.get(c.order_id)
                if o is not None and o.phase == "loaded":
                    self._compact(c, now)  # waiting with a container on a spot
                continue
            ct = self.traffic.carriers.get(c.id)
            if ct is None or ct.geometry is not None:
                continue
            here = ct.place
            kind = self.net.places[here].kind if here else None
            if self._needs_charge(c) and kind != "charging":
                goals = [s.id for s in self.world.charging_spots() if s.id not in self._occupied_places(c.id)]
                plan = self._best_plan(c, goals, now)
                if plan is not None:
                    with self._tx():
                        c.task = "to_charger"
                        self._route(c, plan, "to_charger", now)
                    continue
            if c.task == "charging" and c.soc is not None and c.soc >= self.cfg.charge_target_soc:
                c.task = "idle"
            if kind in ("parking", "charging") and c.task != "charging" and not self._needs_charge(c) and \
                    self._compact(c, now):
                continue
            if kind in ("bay", "inspection") or here is None:  # an inspection spot is no place to idle
                goals = [s.id for s in self.world.parking_spots() if s.id not in self._occupied_places(c.id)]
                if here is not None:
                    st = self.net.places[here].station
                    goals.sort(key=lambda g: (self.net.places[g].station != st, g))
                plan = self._best_plan(c, goals, now)
                if plan is not None:
                    with self._tx():
                        c.task = "to_park"
                        self._route(c, plan, "to_park", now)

    def _compact(self, c: CarrierInfo, now: float) -> bool:
        """Spots in series: move on to the free spot furthest downstream, so the ones behind stay reachable.

        A carrier on a downstream spot is passed by nobody; filling a serial lane from its
        downstream end keeps every free spot reachable and the lane first-in first-out.
        """
        ct = self.traffic.carriers.get(c.id)
        here = ct.place if ct is not None and ct.geometry is None else None
        if here is None or self.net.places[here].kind not in ("parking", "charging"):
            return False
        kind = self.net.places[here].kind
        occupied = self._occupied_places(c.id)
        ahead = [q for q in self._behind.get(here, set()) if self.net.places[q].kind == kind and q not in occupied]
        if not ahead:
            return False
        plan = self._best_plan(c, ahead, now, penalise=False)
        if plan is None:
            return False
        with self._tx():
            c.task = "to_park"
            self._route(c, plan, "to_park", now)
        return True
