"""Fastest routes on the yard's heading-consistent lane graph.

The search graph is ``yard_model.lane_graph.place_graph``: vertices are lane
traversals (a lane driven in one direction) and places (bays, spots); an edge
a->b means b can follow a without turning on the spot (turning constraints).
Entering a traversal costs its free-flow travel time (length over the lane and
curve speed limits, ``YardNetwork.traversal_time_s``), so the cheapest path is
the fastest route.

Two searches:

* a contraction hierarchy (:mod:`fleet_manager.contraction`) for unrestricted
  queries — exact, microseconds on a station-to-station yard — with hub labels on top
  for large yards (a query is then a merge of two sorted arrays);
* a plain Dijkstra over integer-indexed adjacency lists when parts of the yard
  are blocked (a stopped or faulted carrier, an occupied place): traversals
  whose cells conflict with a blocked resource are skipped.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from yard_model.lane_graph import Traversal, place_graph

from .contraction import ContractionHierarchy, HubLabels
from .network import YardNetwork

LABELS_ABOVE = 2000
"""Search graphs with more vertices than this also get hub labels (memory for speed)."""
ROUTE_CACHE_SIZE = 20000
"""Route answers remembered (a few MB); the memory is cleared when it is full."""
_MISSING = object()


@dataclass(frozen=True)
class RoutePath:
    """A fastest path: the traversals to drive and its free-flow time [s]."""

    traversals: tuple[Traversal, ...]
    cost_s: float
    start_offset_m: float
    start_place: str | None
    goal_place: str


class Router:
    """Fastest-path queries between places and from arbitrary lane positions to places."""

    def __init__(self, network: YardNetwork, use_hierarchy: bool = True):
        self.net = network
        g = place_graph(network.world, network.cfg.max_kink_rad)
        self.vertices: list = list(g.nodes)
        self.index = {v: i for i, v in enumerate(self.vertices)}
        n = len(self.vertices)
        self.cost = [0.0] * n
        for i, v in enumerate(self.vertices):
            if isinstance(v, Traversal):
                self.cost[i] = network.traversal_time_s[v]
        self.succ: list[list[int]] = [[] for _ in range(n)]
        for a, b in g.edges:
            self.succ[self.index[a]].append(self.index[b])
        self.place_vertex = {v[1]: i for i, v in enumerate(self.vertices) if isinstance(v, tuple) and v[0] == "place"}
        # cells conflicting with each traversal, to skip blocked traversals quickly
        self._trav_resources: dict[int, frozenset[int]] = {}
        for i, v in enumerate(self.vertices):
            if isinstance(v, Traversal):
                rs: set[int] = set()
                for rid, _, _ in network.traversal_cells(v):
                    rs |= network.conflicts[rid]
                self._trav_resources[i] = frozenset(rs)
        self.hierarchy = (ContractionHierarchy(n, ((u, x, self.cost[x]) for u in range(n) for x in self.succ[u]))
                          if use_hierarchy else None)
        # large yards: hub labels on top of the hierarchy make a query a merge of two sorted arrays
        self.labels = HubLabels(self.hierarchy) if use_hierarchy and n > LABELS_ABOVE else None
        self._table: dict[tuple[str, str], float] | None = None
        self._routes: dict[tuple, RoutePath | None] = {}

    # ---------------------------------------------------------------- queries
    def route(self, start, goal_place: str, blocked: frozenset[int] = frozenset()) -> RoutePath | None:
        """Fastest path to ``goal_place`` from a place id or a (traversal, arc offset) position.

        ``blocked`` are resource ids nobody may drive through (their conflicts are
        avoided). Returns None when the goal is unreachable.

        The answer depends on nothing else (the graph is static), so it is remembered: the
        manager asks the same questions tick after tick while the yard stands still (a
        loaded carrier waiting for a bay, an order waiting for a carrier), and a blocked
        query is a plain Dijkstra.
        """
        key = (start, goal_place, frozenset(blocked))
        hit = self._routes.get(key, _MISSING)
        if hit is not _MISSING:
            return hit
        path = self._route(start, goal_place, key[2])
        if len(self._routes) >= ROUTE_CACHE_SIZE:
            self._routes.clear()  # simple bound; the questions of the present come back at once
        self._routes[key] = path
        return path

    def _route(self, start, goal_place: str, blocked: frozenset[int]) -> RoutePath | None:
        goal = self.place_vertex.get(goal_place)
        if goal is None:
            return None
        if blocked and self.net.conflicts[self.net.places[goal_place].resource] & blocked:
            return None
        if isinstance(start, str):
            src = self.place_vertex.get(start)
            if src is None:
                return None
            if src == goal:
                return None
            found = self._search_from([(0.0, src)], goal, blocked)
            if found is None:
                return None
            cost, verts = found
            travs = tuple(self.vertices[v] for v in verts if isinstance(self.vertices[v], Traversal))
            return RoutePath(travs, cost, 0.0, start, goal_place)
        trav, offset = start
        ti = self.index[trav]
        frac = 1.0 - offset / max(self.net.infos[trav].length_m, 1e-6)
        part = self.cost[ti] * max(frac, 0.0)
        if goal in self.succ[ti]:  # the goal is at the end of the current traversal
            return RoutePath((trav,), part, offset, None, goal_place)
        found = self._search_from([(part, ti)], goal, blocked, first_free=True)
        if found is None:
            return None
        cost, verts = found
        travs = tuple(self.vertices[v] for v in verts if isinstance(self.vertices[v], Traversal))
        return RoutePath(travs, cost, offset, None, goal_place)

    def _search_from(self, starts: list[tuple[float, int]], goal: int, blocked: frozenset[int],
                     first_free: bool = False) -> tuple[float, list[int]] | None:
        if not blocked and self.hierarchy is not None and not first_free and len(starts) == 1:
            res = (self.labels or self.hierarchy).query(starts[0][1], goal)
            return None if res is None else (res[0] + starts[0][0], res[1])
        return self._dijkstra(starts, goal, blocked)

    def _dijkstra(self, starts: list[tuple[float, int]], goal: int, blocked: frozenset[int]):
        dist: dict[int, float] = {}
        prev: dict[int, int] = {}
        heap = []
        for d, v in starts:
            dist[v] = d
            prev[v] = -1
            heap.append((d, v))
        heapq.heapify(heap)
        tr = self._trav_resources
        while heap:
            d, u = heapq.heappop(heap)
            if d > dist[u]:
                continue
            if u == goal:
                path = []
                while u != -1:
                    path.append(u)
                    u = prev[u]
                return d, path[::-1]
            for x in self.succ[u]:
                if blocked and x in tr and not tr[x].isdisjoint(blocked):
                    continue
                nd = d + self.cost[x]
                if nd < dist.get(x, math.inf):
                    dist[x] = nd
                    prev[x] = u
                    heapq.heappush(heap, (nd, x))
        return None

    def travel_time(self, a: str, b: str) -> float:
        """Free-flow time [s] between two places (inf if unreachable, 0 if equal)."""
        if a == b:
            return 0.0
        return self.time_table().get((a, b), math.inf)

    def distance_table(self) -> dict[tuple[str, str], float]:
        """Length [m] of the fastest route between every two places."""
        if getattr(self, "_dist", None) is None:
            out = {}
            for (a, b) in self.time_table():
                p = self.route(a, b)
                if p is not None:
                    out[(a, b)] = sum(self.net.infos[t].length_m for t in p.traversals)
            self._dist = out
        return self._dist

    def time_table(self) -> dict[tuple[str, str], float]:
        """All-pairs free-flow times between places (single-source Dijkstra per place)."""
        if self._table is None:
            table = {}
            places = list(self.place_vertex.items())
            for a, va in places:
                dist = {va: 0.0}
                heap = [(0.0, va)]
                while heap:
                    d, u = heapq.heappop(heap)
                    if d > dist[u]:
                        continue
                    for x in self.succ[u]:
                        nd = d + self.cost[x]
                        if nd < dist.get(x, math.inf):
                            dist[x] = nd
                            heapq.heappush(heap, (nd, x))
                for b, vb in places:
                    if b != a and vb in dist:
                        table[(a, b)] = dist[vb]
            self._table = table
        return self._table
