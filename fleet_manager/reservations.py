"""Time-planned reservations of traffic resources, executed in plan order.

Planning (prioritized, SIPP-style): a carrier's route needs a sequence of
resources (``RouteResource``: held from arc ``enter_m`` to ``exit_m``). Given the
reservations already in the table, :func:`schedule` finds the earliest times at
which the carrier can take each one so that its occupancy interval never
overlaps another carrier's occupancy of a *conflicting* resource — waiting
before a resource while holding the previous ones, exactly like Safe Interval
Path Planning (Phillips & Likhachev, ICRA 2011) restricted to a fixed path.
The goal place is held indefinitely, so nobody is planned through a carrier
that will stand there.

Execution (robust to delays): timing is only a forecast; what is enforced is
the *order*. A reservation is granted when every unreleased reservation of
another carrier on a conflicting resource that was planned to start earlier
has been released (the Action Dependency Graph of Hönig et al., "Persistent
and Robust Execution of MAPF Schedules in Warehouses", RA-L 2019). Because
every pair of conflicting reservations is disjoint in planned time, each
wait points to an event with a strictly earlier planned time, so waits can
never form a cycle: no deadlock, whatever the delays, and on the single-track
link opposing carriers are ordered before either enters (no head-on).
New plans queue behind existing ones, so a planned carrier is never
overtaken indefinitely (no starvation).

:meth:`ReservationTable.retime` re-forecasts times after delays without
changing the order; :meth:`strip` and :meth:`violations_after_holds` support
re-planning around a carrier that stopped or faulted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

INF = math.inf


@dataclass
class Reservation:
    """One carrier's planned occupancy of one resource."""

    carrier: str
    resource: int
    enter_m: float  # route arc where the carrier needs it
    exit_m: float  # route arc after which it is released (inf = held until further notice)
    t_start: float  # planned [s]
    t_end: float  # planned [s]; inf = indefinite
    granted: bool = False
    wait_s: float = 0.0  # planned wait before entering


@dataclass
class RouteTiming:
    """How a carrier's route maps arc to time: nominal profile shifted by waits."""

    arc: np.ndarray  # (N,) route arc of the profile points
    t_nominal: np.ndarray  # (N,) free-flow time at those arcs
    v_nominal: np.ndarray  # (N,) free-flow speed
    progress_m: float  # where the carrier is now
    now: float
    stop_penalty: Callable[[float], float]

    def base(self, s: float) -> float:
        """Free-flow time [s] from now at which arc s is reached (no waits)."""
        return float(self.base_many(np.array([s]))[0])

    def base_many(self, s: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`base` (inf arcs stay inf)."""
        s = np.asarray(s, dtype=float)
        out = np.full(s.shape, INF)
        fin = np.isfinite(s)
        t0 = np.interp(self.progress_m, self.arc, self.t_nominal)
        out[fin] = self.now + np.interp(np.maximum(s[fin], self.progress_m), self.arc, self.t_nominal) - t0
        return out


def _merge(intervals: list[tuple[float, float]], gap: float) -> list[tuple[float, float]]:
    if not intervals:
        return []
    intervals.sort()
    out = [list(intervals[0])]
    for a, b in intervals[1:]:
        if a <= out[-1][1] + gap:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


class ReservationTable:
    """Reservations by resource and by carrier, with the conflict sets of the resources."""

    def __init__(self, conflicts: list[frozenset[int]], gap_s: float = 1.0):
        self.conflicts = conflicts
        self.gap_s = gap_s
        self.by_resource: dict[int, list[Reservation]] = {}
        self.by_carrier: dict[str, list[Reservation]] = {}

    # ---------------------------------------------------------------- bookkeeping
    def add(self, reservations: Iterable[Reservation]) -> None:
        for r in reservations:
            self.by_resource.setdefault(r.resource, []).append(r)
            self.by_carrier.setdefault(r.carrier, []).append(r)
        for lst in self.by_carrier.values():
            lst.sort(key=lambda r: (r.enter_m, r.exit_m))

    def remove(self, r: Reservation) -> None:
        lst = self.by_resource.get(r.resource)
        if lst is not None:
            for i, x in enumerate(lst):
                if x is r:
                    del lst[i]
                    break
            if not lst:
                del self.by_resource[r.resource]
        own = self.by_carrier.get(r.carrier)
        if own is not None:
            for i, x in enumerate(own):
                if x is r:
                    del own[i]
                    break
            if not own:
                del self.by_carrier[r.carrier]

    def of(self, carrier: str) -> list[Reservation]:
        return list(self.by_carrier.get(carrier, []))

    def remove_carrier(self, carrier: str, keep: Callable[[Reservation], bool] = lambda r: False) -> None:
        for r in self.of(carrier):
            if not keep(r):
                self.remove(r)

    def all(self) -> list[Reservation]:
        return [r for lst in self.by_carrier.values() for r in lst]

    # ---------------------------------------------------------------- queries
    def busy(self, resource: int, carrier: str, after: float) -> list[tuple[float, float]]:
        """Merged intervals in which another carrier occupies something conflicting with ``resource``."""
        out = []
        by_resource = self.by_resource
        for c in self.conflicts[resource]:
            lst = by_resource.get(c)
            if not lst:
                continue
            for r in lst:
                if r.carrier != carrier and r.t_end >= after:
                    # granted: the other carrier may already be there, whatever was planned
                    out.append((min(r.t_start, after) if r.granted else r.t_start, r.t_end))
        return _merge(out, 0.0) if len(out) > 1 else out

    def can_grant(self, r: Reservation) -> bool:
        """True when every conflicting reservation planned before ``r`` has been released."""
        by_resource = self.by_resource
        carrier, t_start = r.carrier, r.t_start
        for c in self.conflicts[r.resource]:
            for o in by_resource.get(c, ()):
                if o.carrier != carrier and o.t_start < t_start:
                    return False
        return True

    def blockers(self, r: Reservation) -> list[Reservation]:
        """Reservations ``r`` waits for (conflicting, of another carrier, planned earlier)."""
        out = []
        by_resource = self.by_resource
        carrier, t_start = r.carrier, r.t_start
        for c in self.conflicts[r.resource]:
            lst = by_resource.get(c)
            if lst:
                out.extend(o for o in lst if o.carrier != carrier and o.t_start < t_start)
        return out

    def overlaps(self) -> list[tuple[Reservation, Reservation]]:
        """Pairs of conflicting reservations of different carriers that overlap in planned time (must be empty)."""
        bad = []
        seen = set()
        for r in self.all():
            for c in self.conflicts[r.resource]:
                for o in self.by_resource.get(c, ()):
                    if o.carrier == r.carrier or (id(o), id(r)) in seen:
                        continue
                    seen.add((id(r), id(o)))
                    if r.t_start < o.t_end and o.t_start < r.t_end:
                        bad.append((r, o))
        return bad

    def violations_after_holds(self) -> set[str]:
        """Carriers with a reservation planned after another carrier's indefinite hold (must re-plan)."""
        out = set()
        for lst in self.by_resource.values():
            for hold in lst:
                if hold.t_end != INF:
                    continue
                for c in self.conflicts[hold.resource]:
                    for o in self.by_resource.get(c, ()):
                        if o.carrier != hold.carrier and o.t_start >= hold.t_start:
                            out.add(o.carrier)
        return out

    # ---------------------------------------------------------------- changes
    def strip(self, carrier: str) -> list[Reservation]:
        """Drop a carrier's ungranted reservations and hold its granted ones indefinitely.

        Used when a carrier stops, faults, or must re-plan: it may still be anywhere up to
        its movement authority, so everything granted stays blocked. Returns the holds.
        """
        holds = []
        for r in self.of(carrier):
            if r.granted:
                r.t_end = INF
                holds.append(r)
            else:
                self.remove(r)
        return holds

    def retime(self, timings: dict[str, RouteTiming], pm: float) -> None:
        """Re-forecast planned times from the carriers' current progress, keeping the order.

        Events are processed in the old planned order (a topological order of the
        dependency graph): a carrier enters no earlier than its free-flow time and no
        earlier than the new release time of every reservation it waits for. ``pm`` is
        the progress margin added to exit arcs.
        """
        events = []
        for c, lst in self.by_carrier.items():
            if c not in timings:
                continue
            for r in lst:
                events.append((r.t_start, 0, id(r), r))
                if r.t_end != INF:
                    events.append((r.t_end, 1, id(r), r))
        events.sort(key=lambda e: (e[0], e[1]))
        base_in: dict[int, float] = {}
        base_out: dict[int, float] = {}
        v_in: dict[int, float] = {}
        for c, lst in self.by_carrier.items():
            if c not in timings or not lst:
                continue
            tm = timings[c]
            ent = np.array([r.enter_m for r in lst])
            ext = np.array([r.exit_m + pm for r in lst])
            bi, bo = tm.base_many(ent), tm.base_many(ext)
            vi = np.interp(ent, tm.arc, tm.v_nominal)
            for k, r in enumerate(lst):
                base_in[id(r)], base_out[id(r)], v_in[id(r)] = float(bi[k]), float(bo[k]), float(vi[k])
        waits: dict[str, list[tuple[float, float]]] = {c: [] for c in timings}
        new_start: dict[int, float] = {}
        new_end: dict[int, float] = {}
        gap = self.gap_s
        for _, kind, rid, r in events:
            tm = timings[r.carrier]
            w = waits[r.carrier]
            if kind == 0:
                if r.granted or r.enter_m < tm.progress_m - 1e-6:
                    continue  # granted (maybe inside): its start, and so its place in the order, stays
                own = base_in[rid] + (sum(x for a, x in w if a <= r.enter_m) if w else 0.0)
                need = own
                for o in self.blockers(r):
                    end = new_end.get(id(o), o.t_end)
                    need = max(need, end + gap)
                if need > own + 1e-9:
                    pen = tm.stop_penalty(v_in[rid])
                    w.append((r.enter_m - 1e-6, need - own + pen))
                    need += pen
                new_start[rid] = need
            else:
                x = r.exit_m + pm
                new_end[rid] = max(base_out[rid] + (sum(v for a, v in w if a <= x) if w else 0.0),
                                   new_start.get(rid, r.t_start) + 1e-3)
        for lst in self.by_carrier.values():
            for r in lst:
                if id(r) in new_start:
                    r.t_start = new_start[id(r)]
                if id(r) in new_end:
                    r.t_end = new_end[id(r)]

    def wait_graph(self, authority: dict[str, float] | None = None, pm: float = 0.0) -> dict[str, set[str]]:
        """Carrier -> carriers it waits for: a cycle here is a deadlock.

        X waits for Y when X's first ungranted reservation is blocked by a reservation of Y.
        With ``authority`` (carrier -> movement authority, route arc) the edge exists only if Y
        cannot release that reservation by driving within its own authority (exit arc + ``pm``
        beyond it): otherwise Y will release it whatever X does, and there is no dependency.
        """
        g: dict[str, set[str]] = {}
        for c, lst in self.by_carrier.items():
            nxt = next((r for r in lst if not r.granted), None)
            if nxt is None:
                continue
            deps = set()
            for o in self.blockers(nxt):
                if authority is None or o.carrier not in authority or o.exit_m + pm > authority[o.carrier]:
                    deps.add(o.carrier)
            g[c] = deps
        return g


def has_cycle(graph: dict[str, set[str]]) -> bool:
    """True when the waits-for graph has a directed cycle (a deadlock)."""
    colour: dict[str, int] = {}

    def visit(u: str) -> bool:
        colour[u] = 1
        for v in graph.get(u, ()):
            cv = colour.get(v, 0)
            if cv == 1 or (cv == 0 and visit(v)):
                return True
        colour[u] = 2
        return False

    return any(colour.get(u, 0) == 0 and visit(u) for u in list(graph))


def schedule(table: ReservationTable, carrier: str, resources: list, timing: RouteTiming,
             held: dict[int, float] | None = None, pm: float = 0.5, max_iter: int = 5000) -> list[Reservation] | None:
    """Earliest conflict-free times for a carrier's route resources, or None if impossible.

    ``resources``: RouteResource list in enter order. Resources the carrier already
    stands in (``enter_m < progress``) or holds (``held``: resource -> original start)
    keep their start and cannot be waited for; before any other the carrier may wait
    (at the authority point), holding what it holds there. ``pm`` is added to exit arcs
    (release happens once reported progress passes exit + pm). The carrier's own
    reservations in the table are ignored (remove or strip them first).

    Fixed point in the style of SIPP on a fixed path: find the first resource (in arc
    order) whose occupancy overlaps another carrier's busy interval, push its entry past
    that interval (a wait before it), and re-check from the first resource that wait can
    affect (the ones held while waiting); the waits after it are dropped and derived
    again from the new entry time. The vector of waits grows lexicographically, so this
    ends with the earliest schedule, or proves there is none (an indefinite busy
    interval in the way of something that cannot be waited for).
    """
    n = len(resources)
    if n == 0:
        return []
    gap = table.gap_s
    held = held or {}
    now = timing.now
    order = sorted(range(n), key=lambda i: resources[i].enter_m)
    res = [resources[i] for i in order]
    enter = np.array([r.enter_m for r in res])
    exit_ = np.array([r.exit_m for r in res])
    entered = np.array([r.enter_m < timing.progress_m - 1e-6 or r.resource in held for r in res], dtype=bool)
    held_start = np.array([held.get(r.resource, now) for r in res])
    base_enter = timing.base_many(enter)
    base_exit = timing.base_many(exit_ + pm)
    finite_exit = np.isfinite(exit_)
    pen = np.array([timing.stop_penalty(float(v)) for v in np.interp(enter, timing.arc, timing.v_nominal)])
    # waits before resource k shift every arc >= enter_k: index of the last wait point at or before each arc
    idx_enter = np.searchsorted(enter, enter + 1e-9, side="right") - 1
    idx_exit = np.searchsorted(enter, np.where(finite_exit, exit_ + pm, 0.0) + 1e-9, side="right") - 1
    # busy intervals are looked up as the check reaches each resource: a plan that fails (a goal held
    # by someone else) usually fails early, and most of a route is never looked at then
    busy: list[list[tuple[float, float]] | None] = [None] * n
    waits = np.zeros(n)
    check_from = 0
    for _ in range(max_iter):
        cum = np.cumsum(waits + np.where(waits > 0, pen, 0.0))
        t_start = np.where(entered, held_start, base_enter + cum[idx_enter])
        t_end = np.where(finite_exit, np.maximum(base_exit + np.where(idx_exit >= 0, cum[np.maximum(idx_exit, 0)],
                                                                         0.0), t_start + 1e-3), INF)
        bad = None
        for k in range(check_from, n):
            bl = busy[k]
            if bl is None:
                bl = busy[k] = table.busy(res[k].resource, carrier, now)
            if not bl:
                continue
            a = max(t_start[k], now) if entered[k] else t_start[k]
            b = t_end[k]
            for b0, b1 in bl:  # merged, sorted; usually one or two
                if b0 >= b + gap:
                    break
                if b1 + gap > a:
                    bad = (k, b1)
                    break
            if bad:
                break
        if bad is None:
            out = [None] * n
            for k, i in enumerate(order):
                r = res[k]
                out[i] = Reservation(carrier, r.resource, r.enter_m, r.exit_m, float(t_start[k]), float(t_end[k]),
                                     wait_s=float(waits[k]))
            return out
        k, b1 = bad
        if entered[k] or not math.isfinite(b1):
            return None
        waits[k] += b1 + gap - t_start[k]
        waits[k + 1:] = 0.0  # what lies beyond k is scheduled anew from the later entry into k
        # resources held while waiting before k (entered earlier, released after) may now overlap
        w_arc = enter[k]
        held_then = np.nonzero((enter <= w_arc) & (np.where(finite_exit, exit_ + pm, INF) >= w_arc))[0]
        check_from = int(held_then[0]) if len(held_then) else k
    return None
