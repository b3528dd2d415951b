"""An openTCS-style fleet policy, re-implemented for a side-by-side benchmark (no openTCS code).

Re-implemented from openTCS's documented kernel architecture (user's guide and developer's
guide: dispatcher, router, scheduler):

* **Router** — shortest paths by edge length with Dijkstra on the plant model (openTCS's
  default cost function is the path length); routes are static: they never avoid other
  vehicles, stopped or not.
* **Scheduler** — exclusive resource allocation without time planning: a vehicle *claims*
  the resources of its route and the scheduler *allocates* them one by one, ahead of the
  vehicle, as soon as no other vehicle holds a conflicting one. Waiting requests are served
  first come, first served. Deadlock avoidance is left to the plant modeller, who can mark
  areas as *blocks*: ``SAME_DIRECTION_ONLY`` blocks admit several vehicles only if they
  travel in the same direction (the ``blocks=True`` variant puts one on each single-track
  lane of the yard; without it the scheduler is plain exclusive allocation).
* **Dispatcher** — first come, first served: open orders by deadline then creation time,
  each to the idle vehicle with the shortest route to its pick-up point.

Everything else (orders, crane jobs, parking, charging, persistence) is the fleet manager's
own code, so the comparison isolates routing, traffic control and dispatching. Conflict
zones are the same geometric ones (openTCS models them as point/path resources and blocks).
"""

from __future__ import annotations

import math

from fleet_manager.allocation import Assignment
from fleet_manager.reservations import Reservation
from fleet_manager.routing import Router
from fleet_manager.traffic import Plan, TrafficController


class DistanceRouter(Router):
    """Dijkstra on path length (openTCS's default routing cost), no hierarchy."""

    def __init__(self, network):
        super().__init__(network, use_hierarchy=False)
        for i, v in enumerate(self.vertices):
            if v in network.infos:
                self.cost[i] = network.infos[v].length_m


class ExclusiveTraffic(TrafficController):
    """Claim-and-allocate exclusive reservation, no time planning, no re-routing."""

    def __init__(self, network, router, config=None, blocks: bool = False):
        super().__init__(network, router, config)
        self._seq = 0.0
        self._dir: dict[str, dict[int, bool]] = {}  # carrier -> resource -> driving forward on its lane
        self.blocks: list[frozenset[int]] = []
        if blocks:
            for lane in network.world.lanes.values():
                if lane.two_way:
                    self.blocks.append(frozenset(c.resource for c in network.cells[lane.id]))
        self._block_of = {r: b for b in self.blocks for r in b}
        self._waiting_since: dict[str, float] = {}

    def plan(self, carrier, goals, now, avoid_extra=frozenset()):
        start, prev = self.start_of(carrier)
        ct = self.carriers[carrier]
        out = []
        for goal in goals:
            if ct.geometry is None and ct.place == goal:
                continue
            path = self.router.route(start, goal)  # static: other vehicles are not avoided
            if path is None:
                continue
            geom = self._geometry(path, prev)
            if not self._covers_authority(ct, geom):
                continue
            res = []
            for r in geom.resources:  # no times: only the request order matters
                self._seq += 1e-6
                res.append(Reservation(carrier, r.resource, r.enter_m, r.exit_m, now + self._seq, math.inf))
            res[-1].t_start = now + geom.travel_time_s  # free-flow estimate, for choosing among goals
            out.append(Plan(goal, path, geom, res))
        out.sort(key=lambda p: p.arrival_s)
        return out

    def commit(self, carrier, route_id, plan, now):
        dirs = {}
        for t in plan.geometry.traversals:
            for rid, _, _ in self.net.traversal_cells(t):
                dirs[rid] = t.forward
        self._dir[carrier] = dirs
        super().commit(carrier, route_id, plan, now)

    def _free(self, carrier: str, resource: int) -> bool:
        for c in self.net.conflicts[resource]:
            for o in self.table.by_resource.get(c, ()):
                if o.carrier != carrier and o.granted:
                    return False
        block = self._block_of.get(resource)
        if block is not None:
            mine = self._dir.get(carrier, {}).get(resource)
            for r in block:
                for o in self.table.by_resource.get(r, ()):
                    if o.carrier != carrier and o.granted and self._dir.get(o.carrier, {}).get(r) != mine:
                        return False
        return True

    def _grant(self, carrier):
        ct = self.carriers[carrier]
        if ct.geometry is None:
            return 0.0
        auth = ct.geometry.goal_m
        mine = {r.resource: r for r in self.table.of(carrier)}
        pm = self.cfg.progress_margin_m
        for rr in ct.geometry.resources:
            if rr.exit_m + pm < ct.progress_m:
                continue
            r = mine.get(rr.resource)
            if r is not None and r.granted:
                continue
            if rr.enter_m > ct.progress_m + self.cfg.grant_lookahead_m:
                auth = rr.enter_m - self.cfg.authority_margin_m
                break
            if r is not None and self._free(carrier, rr.resource):
                r.granted = True
                continue
            auth = rr.enter_m - self.cfg.authority_margin_m
            break
        ct.authority_m = max(ct.authority_m, min(auth, ct.geometry.goal_m))
        return ct.authority_m

    def update(self, carrier, progress_m):
        ct = self.carriers[carrier]
        if ct.geometry is None:
            return 0.0
        ct.progress_m = max(ct.progress_m, progress_m)
        pm = self.cfg.progress_margin_m
        for r in self.table.of(carrier):
            if r.granted and math.isfinite(r.exit_m) and ct.progress_m > r.exit_m + pm:
                self.table.remove(r)
        return ct.authority_m  # allocation happens in grant_all, first come first served

    def grant_all(self):
        routed = [c for c, ct in self.carriers.items() if ct.geometry is not None]
        for c in routed:
            ct = self.carriers[c]
            if ct.authority_m < ct.geometry.goal_m and ct.progress_m >= ct.authority_m - 1.0:
                self._waiting_since.setdefault(c, len(self._waiting_since) + 1e9)
            else:
                self._waiting_since.pop(c, None)
        order = sorted(routed, key=lambda c: self._waiting_since.get(c, math.inf))
        return {c: self._grant(c) for c in order}

    # no time planning: nothing to re-plan, re-time or repair, and no re-routing around stopped vehicles
    def stop(self, carrier, faulted=False):
        self.carriers[carrier].stopped = True
        self.carriers[carrier].faulted = self.carriers[carrier].faulted or faulted
        return set()

    def _repair(self, exclude):
        return set()

    def replan(self, carriers, now):
        return {c: True for c in carriers}

    def retime(self, now):
        return None

    def holds_of_others(self, carrier, now=math.inf):
        return frozenset()

    def wait_graph(self):
        """X waits for Y when the next resource X needs is held by Y."""
        g: dict[str, set[str]] = {}
        for c, ct in self.carriers.items():
            if ct.geometry is None:
                continue
            mine = {r.resource: r for r in self.table.of(c)}
            for rr in ct.geometry.resources:
                r = mine.get(rr.resource)
                if r is None or r.granted:
                    continue
                deps = set()
                for x in self.net.conflicts[rr.resource]:
                    for o in self.table.by_resource.get(x, ()):
                        if o.carrier != c and o.granted:
                            deps.add(o.carrier)
                g[c] = deps
                break
        return g


def first_come_first_served(carriers, orders, T, D, now, cfg) -> list[Assignment]:
    """openTCS-style dispatching: oldest order (by deadline, then creation) to the nearest idle vehicle."""
    free = [c for c in carriers if c.free_now]
    out = []
    for k, o in enumerate(sorted(orders, key=lambda o: (o.deadline_s if o.deadline_s is not None else math.inf,
                                                        o.accepted_s))):
        if not free:
            break
        dist = {c.carrier_id: min(D[c.place, b] for b in o.origin_bays) for c in free}
        best = min(free, key=lambda c: dist[c.carrier_id])
        if not math.isfinite(dist[best.carrier_id]):
            continue
        out.append(Assignment(best.carrier_id, o.order_id, now, float(k), True))
        free.remove(best)
    return out
