"""Traffic control: routes, reservations and movement authorities for the whole fleet.

Ties :class:`~fleet_manager.network.YardNetwork` (resources and route geometry),
:class:`~fleet_manager.routing.Router` (fastest paths) and the
:class:`~fleet_manager.reservations.ReservationTable` together, per carrier:

* a carrier **standing** (no route) holds its place — or the cells under it —
  indefinitely; routes of others avoid it (the router skips traversals that
  conflict with a standing carrier, so a carrier parked at a downstream spot is
  never planned through);
* :meth:`plan` tries each candidate goal (bays, spots), routes to it, schedules
  the route's resources and returns the plans by planned arrival;
  :meth:`commit` enters one into the table;
* :meth:`update` takes reported progress, releases what the carrier left,
  grants what it may take next (in plan order) and returns its **movement
  authority**: the arc just short of the first resource not yet granted;
* :meth:`stop` re-plans around a carrier that stopped or faulted: it keeps
  everything the carrier was granted (it may be anywhere up to its authority),
  strips every plan ordered behind those holds and re-plans the affected
  carriers together (:meth:`replan`), moving a carrier that cannot be planned
  ahead of the others and retrying (prioritized planning with restarts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from yard_model.lane_graph import Traversal

from .network import RouteGeometry, YardNetwork
from .reservations import INF, Reservation, ReservationTable, RouteTiming, schedule
from .routing import RoutePath, Router


@dataclass(frozen=True)
class TrafficConfig:
    gap_s: float = 1.0  # planned time between one carrier leaving and the next entering a conflict zone
    progress_margin_m: float = 0.6  # a resource is released once progress exceeds its exit arc by this
    authority_margin_m: float = 0.6  # authority ends this far before the first resource not granted
    arrival_tolerance_m: float = 1.0  # progress this close to the goal counts as arrived
    grant_lookahead_m: float = 60.0  # grant only this far ahead of the carrier (stopping distance + reports)
    replan_rounds: int = 6  # restarts of a joint re-plan


@dataclass
class Plan:
    """A candidate route for a carrier with its scheduled reservations."""

    goal: str
    path: RoutePath
    geometry: RouteGeometry
    reservations: list[Reservation]

    @property
    def arrival_s(self) -> float:
        """Planned time at which the carrier takes the goal place (end of its route)."""
        return self.reservations[-1].t_start if self.reservations else math.inf


@dataclass
class CarrierTraffic:
    """What traffic control knows about one carrier."""

    carrier: str
    route_id: str | None = None
    geometry: RouteGeometry | None = None
    progress_m: float = 0.0
    authority_m: float = 0.0
    place: str | None = None  # standing on this place (no route)
    position: tuple[Traversal, float] | None = None  # standing here off any place
    stopped: bool = False  # holds indefinitely, plan stripped
    faulted: bool = False
    needs_replan: bool = False
    waiting_since: float | None = None
    history: list[str] = field(default_factory=list)


class TrafficController:
    """Reservations and authorities for a fleet on one yard network."""

    def __init__(self, network: YardNetwork, router: Router, config: TrafficConfig | None = None):
        self.net = network
        self.router = router
        self.cfg = config or TrafficConfig()
        self.table = ReservationTable(network.conflicts, self.cfg.gap_s)
        self.carriers: dict[str, CarrierTraffic] = {}
        self._geom_cache: dict[tuple, RouteGeometry] = {}

    # ---------------------------------------------------------------- standing carriers
    def stand(self, carrier: str, now: float, place: str | None = None,
              position: tuple[Traversal, float] | None = None) -> None:
        """Register a carrier standing still (at a place or on a lane), holding what it stands on."""
        ct = self.carriers.setdefault(carrier, CarrierTraffic(carrier))
        self.table.remove_carrier(carrier)
        ct.route_id, ct.geometry, ct.place, ct.position = None, None, place, position
        ct.stopped = False
        ct.progress_m = ct.authority_m = 0.0
        if place is not None:
            rids = [self.net.places[place].resource]
        elif position is not None:
            rids = self.net.cell_resources_at(position[0], position[1], self.cfg.progress_margin_m)
        else:
            raise ValueError("a standing carrier needs a place or a position")
        self.table.add(Reservation(carrier, r, 0.0, INF, now, INF, granted=True) for r in rids)

    def forget(self, carrier: str) -> None:
        self.table.remove_carrier(carrier)
        self.carriers.pop(carrier, None)

    def holds_of_others(self, carrier: str, now: float = INF) -> frozenset[int]:
        """Resources other carriers hold indefinitely from now on (standing, stopped or faulted).

        A routed carrier's goal, held indefinitely from its arrival, is not included: a route
        may pass there before it arrives, which the scheduler decides.
        """
        return frozenset(r.resource for c, lst in self.table.by_carrier.items() if c != carrier
                         for r in lst if r.t_end == INF and (r.granted or r.t_start <= now))

    # ---------------------------------------------------------------- planning
    def start_of(self, carrier: str):
        """Router start and the traversal behind the carrier: place id or (traversal, offset)."""
        ct = self.carriers[carrier]
        if ct.geometry is not None:
            g = ct.geometry
            if g.goal_place is not None and ct.progress_m >= g.goal_m - self.cfg.arrival_tolerance_m:
                # as good as arrived: start from the place, whose reservation it holds. From the lane
                # point instead, the carrier would stand on the junction between the last cell behind
                # the place and the first one ahead, holding neither (a conflict in the making)
                return g.goal_place, g.traversals[-1]
            t, s = g.position_at(ct.progress_m)
            return (t, s), None
        if ct.place is not None:
            entries = self.net.places[ct.place].entries
            return ct.place, (entries[0] if entries else None)
        return ct.position, None

    def _timing(self, geom: RouteGeometry, progress: float, now: float) -> RouteTiming:
        return RouteTiming(geom.arc, geom.nominal_t, geom.nominal_v, progress, now, self.net.stop_penalty_s)

    def _held_starts(self, carrier: str) -> dict[int, float]:
        return {r.resource: r.t_start for r in self.table.of(carrier) if r.granted}

    def plan(self, carrier: str, goals: list[str], now: float, avoid_extra: frozenset[int] = frozenset()
             ) -> list[Plan]:
        """Feasible plans to each candidate goal, earliest planned arrival first (not committed)."""
        start, prev = self.start_of(carrier)
        blocked = self.holds_of_others(carrier, now) | avoid_extra
        held = self._held_starts(carrier)
        ct = self.carriers[carrier]
        out = []
        for goal in goals:
            if ct.geometry is None and ct.place == goal:
                continue
            path = self.router.route(start, goal, blocked)
            if path is None:
                continue
            geom = self._geometry(path, prev)
            if not self._covers_authority(ct, geom):
                continue
            res = schedule(self.table, carrier, geom.resources, self._timing(geom, geom.start_m, now), held,
                           self.cfg.progress_margin_m)
            if res is None:
                continue
            out.append(Plan(goal, path, geom, res))
        out.sort(key=lambda p: p.arrival_s)
        return out

    def _geometry(self, path: RoutePath, prev: Traversal | None) -> RouteGeometry:
        last = path.traversals[-1]
        key = (path.traversals, round(path.start_offset_m, 3), path.start_place, path.goal_place, prev)
        geom = self._geom_cache.get(key)
        if geom is None:
            geom = self.net.build_route(list(path.traversals), path.start_offset_m, self.net.infos[last].length_m,
                                        path.start_place, path.goal_place, prev=prev)
            if path.start_place is not None:  # place-to-place routes recur all day
                if len(self._geom_cache) > 2000:
                    self._geom_cache.clear()
                self._geom_cache[key] = geom
        return geom

    def _covers_authority(self, ct: CarrierTraffic, geom: RouteGeometry) -> bool:
        """A new route for a moving carrier must keep the old one's path up to the old authority.

        The follower may still be driving the old route up to its authority when the new
        one arrives; if the new path left the old one before that point, the carrier could
        be somewhere the new plan does not hold.
        """
        if ct.geometry is None:
            return True
        ahead = ct.authority_m - ct.progress_m
        if ahead <= self.cfg.authority_margin_m:
            return True
        old_t, old_s = ct.geometry.position_at(ct.authority_m)
        new_start = geom.start_m
        t, s = geom.position_at(new_start + ahead)
        return t == old_t and abs(s - old_s) < 1.0

    def commit(self, carrier: str, route_id: str, plan: Plan, now: float) -> None:
        """Make ``plan`` the carrier's route: its reservations replace the carrier's current ones."""
        ct = self.carriers[carrier]
        granted_before = {r.resource for r in self.table.of(carrier) if r.granted}
        self.table.remove_carrier(carrier)
        for r in plan.reservations:
            r.granted = r.resource in granted_before
        self.table.add(plan.reservations)
        ct.route_id, ct.geometry = route_id, plan.geometry
        ct.progress_m = plan.geometry.start_m
        ct.authority_m = plan.geometry.start_m
        ct.place, ct.position, ct.stopped, ct.needs_replan = None, None, False, False
        ct.history.append(route_id)
        self._grant(carrier)

    def adopt(self, carrier: str, route_id: str, geometry: RouteGeometry, reservations: list[Reservation],
              progress_m: float) -> None:
        """Restore a persisted route and its reservations (after a restart)."""
        ct = self.carriers.setdefault(carrier, CarrierTraffic(carrier))
        self.table.remove_carrier(carrier)
        self.table.add(reservations)
        ct.route_id, ct.geometry, ct.progress_m = route_id, geometry, progress_m
        ct.authority_m = progress_m
        ct.place = ct.position = None
        self._grant(carrier)

    # ---------------------------------------------------------------- execution
    def update(self, carrier: str, progress_m: float) -> float:
        """Report progress along the current route; returns the movement authority [m]."""
        ct = self.carriers[carrier]
        if ct.geometry is None:
            return 0.0
        ct.progress_m = max(ct.progress_m, progress_m)
        pm = self.cfg.progress_margin_m
        for r in self.table.of(carrier):
            if r.granted and math.isfinite(r.exit_m) and ct.progress_m > r.exit_m + pm:
                self.table.remove(r)
        return self._grant(carrier)

    def _grant(self, carrier: str) -> float:
        ct = self.carriers[carrier]
        if ct.geometry is None:
            return 0.0
        if ct.stopped:
            return ct.authority_m
        auth = ct.geometry.goal_m
        mine = {r.resource: r for r in self.table.of(carrier)}
        pm = self.cfg.progress_margin_m
        for rr in ct.geometry.resources:  # in route order; a resource missing from the table is not granted
            if rr.exit_m + pm < ct.progress_m:
                continue  # passed and released
            r = mine.get(rr.resource)
            if r is not None and r.granted:
                continue
            if rr.enter_m > ct.progress_m + self.cfg.grant_lookahead_m:
                # railway-style: authority runs a fixed distance ahead, so what lies further stays
                # open to re-planning and to others passing first
                auth = rr.enter_m - self.cfg.authority_margin_m
                break
            if r is not None and self.table.can_grant(r):
                r.granted = True
                continue
            auth = rr.enter_m - self.cfg.authority_margin_m
            break
        # never withdraw authority already given: the follower may be committed to it
        ct.authority_m = max(ct.authority_m, min(auth, ct.geometry.goal_m))
        return ct.authority_m

    def grant_all(self) -> dict[str, float]:
        """Grant what can be granted to every routed carrier; authorities by carrier."""
        return {c: self._grant(c) for c, ct in self.carriers.items() if ct.geometry is not None}

    def arrived(self, carrier: str, now: float) -> str | None:
        """The carrier reached its goal: it now stands there. Returns the goal place (or None)."""
        ct = self.carriers[carrier]
        geom = ct.geometry
        if geom is None:
            return ct.place
        if geom.goal_place is not None:
            self.stand_after_route(carrier, geom.goal_place, now)
            return geom.goal_place
        self.stand(carrier, now, position=geom.position_at(geom.goal_m))
        return None

    def stand_after_route(self, carrier: str, place: str, now: float) -> None:
        """Keep the goal-place reservation (its start orders others behind it) and drop the rest."""
        ct = self.carriers[carrier]
        pr = self.net.places[place].resource
        keep = [r for r in self.table.of(carrier) if r.resource == pr]
        self.table.remove_carrier(carrier)
        if keep:
            r = keep[0]
            r.granted, r.t_end, r.enter_m, r.exit_m = True, INF, 0.0, INF
            self.table.add([r])
        else:
            self.table.add([Reservation(carrier, pr, 0.0, INF, now, INF, granted=True)])
        ct.route_id, ct.geometry, ct.place, ct.position = None, None, place, None
        ct.progress_m = ct.authority_m = 0.0
        ct.stopped = ct.needs_replan = False

    def is_arrived(self, carrier: str, progress_m: float) -> bool:
        ct = self.carriers[carrier]
        return ct.geometry is not None and progress_m >= ct.geometry.goal_m - self.cfg.arrival_tolerance_m

    # ---------------------------------------------------------------- disruptions
    def stop(self, carrier: str, faulted: bool = False) -> set[str]:
        """A carrier stopped (blocked, lost, faulted): hold everything granted; strip plans behind it.

        Returns the other carriers whose plans were stripped and must be re-planned.
        """
        ct = self.carriers[carrier]
        ct.stopped = True
        ct.faulted = ct.faulted or faulted
        self.table.strip(carrier)
        return self._repair({carrier})

    def _repair(self, exclude: set[str]) -> set[str]:
        stripped: set[str] = set()
        while True:
            bad = self.table.violations_after_holds() - exclude - stripped
            bad = {c for c in bad if not self.carriers.get(c, CarrierTraffic(c)).stopped}
            if not bad:
                return stripped
            for c in bad:
                self.table.strip(c)
                self.carriers[c].needs_replan = True
                stripped.add(c)

    def resume(self, carrier: str) -> None:
        """A stopped carrier may be planned again (its holds stay until it gets a new plan)."""
        ct = self.carriers[carrier]
        ct.stopped = False
        ct.faulted = False
        ct.needs_replan = ct.geometry is not None

    def _schedule_rest(self, carrier: str, now: float, holds: list[tuple]) -> list[Reservation] | None:
        """Schedule what is left of a carrier's current route; its holds keep their start (order)."""
        ct = self.carriers[carrier]
        geom = ct.geometry
        pm = self.cfg.progress_margin_m
        rest = [r for r in geom.resources if r.exit_m + pm >= ct.progress_m]
        held = {h[0]: h[3] for h in holds}
        plan = schedule(self.table, carrier, rest, self._timing(geom, ct.progress_m, now), held, pm)
        if plan is not None:
            for r in plan:
                r.granted = r.resource in held
        return plan

    def replan(self, carriers: list[str], now: float) -> dict[str, bool]:
        """Re-plan the remaining part of each carrier's current route, jointly.

        Carriers are planned one after the other; those not yet planned are assumed to
        leave what they hold at once, and each one's own schedule must then really leave
        before the others pass. A carrier that cannot be planned moves to the front and
        the round restarts. If rounds run out, carriers are planned one by one against
        everybody's real holds and the ones that fail keep holding (retried later).
        Returns carrier -> planned?
        """
        order = [c for c in carriers if c in self.carriers and self.carriers[c].geometry is not None
                 and not self.carriers[c].stopped]
        result = {c: False for c in carriers}
        holds = {c: [(r.resource, r.enter_m, r.exit_m, r.t_start) for r in self.table.of(c) if r.granted]
                 for c in order}

        def reset(provisional: bool) -> None:
            for c in order:
                self.table.remove_carrier(c)
                end = now + 1e-3 if provisional else INF
                self.table.add(Reservation(c, res, e, x, t0, end if math.isfinite(x) or provisional else INF,
                                           granted=True) for res, e, x, t0 in holds[c])

        for _round in range(self.cfg.replan_rounds):
            reset(provisional=True)
            failed = None
            for c in order:
                self.table.remove_carrier(c)
                plan = self._schedule_rest(c, now, holds[c])
                if plan is None:
                    failed = c
                    break
                self.table.add(plan)
            if failed is None:
                for c in order:
                    result[c] = True
                    self.carriers[c].needs_replan = False
                    self._grant(c)
                return result
            order.remove(failed)
            order.insert(0, failed)
        reset(provisional=False)
        for c in order:
            self.table.remove_carrier(c)
            plan = self._schedule_rest(c, now, holds[c])
            if plan is None:
                self.table.add(Reservation(c, res, e, x, t0, INF, granted=True) for res, e, x, t0 in holds[c])
                self.carriers[c].needs_replan = True
            else:
                self.table.add(plan)
                result[c] = True
                self.carriers[c].needs_replan = False
                self._grant(c)
        return result

    def retime(self, now: float) -> None:
        """Re-forecast every planned time from current progress (order unchanged)."""
        timings = {}
        for c, ct in self.carriers.items():
            if ct.geometry is not None and not ct.stopped:
                timings[c] = self._timing(ct.geometry, ct.progress_m, now)
        self.table.retime(timings, self.cfg.progress_margin_m)

    def wait_graph(self) -> dict[str, set[str]]:
        """Who waits for whom; routed carriers can release what lies within their authority.

        A stopped (blocked or faulted) carrier releases nothing: its authority counts as its progress.
        """
        auth = {c: (ct.progress_m if ct.stopped else ct.authority_m) for c, ct in self.carriers.items()
                if ct.geometry is not None}
        return self.table.wait_graph(auth, self.cfg.progress_margin_m)

    def held_resources(self, carrier: str) -> list[int]:
        return [r.resource for r in self.table.of(carrier) if r.granted]
