"""The yard as the fleet manager sees it: places, traffic resources and route geometry.

Three views of the lane network are built once from a :class:`yard_model.World`:

* **Places** — carrier bays, parking spots and chargers, each at a lane node
  with a yaw; entered and left along heading-consistent traversals
  (``yard_model.lane_graph.place_graph``).
* **Traffic resources** — every lane is cut into *cells* of at most
  ``cell_length_m``; each cell's area is the swept footprint of a carrier whose
  base_link moves over the cell (plus margins), so a carrier inside a cell is
  entirely inside that area, on straights and on curves alike. Each place
  also is a resource: the footprint of a carrier standing on it. Two resources
  *conflict* when their areas intersect. This is computed geometrically
  (shapely, STRtree), not from lane ids, because lanes overlap physically near
  merges and diverges (e.g. a station's entry and return lanes share the hub)
  and a two-way lane is one area for both directions (opposing carriers on a
  single track conflict). Safety argument: a carrier at arc position s is inside
  the area of every cell whose arc interval contains s; two carriers holding
  non-conflicting resources therefore never touch. Uncertainty of the reported
  progress and the follower's stopping overshoot are margins of the traffic
  controller (authority short of a cell, release after it), not of the areas,
  so carriers can stand on places 1.5 m apart in series.
* **Route geometry** — a path of traversals becomes a ``carrier_route``
  polyline (``yard_model.lane_graph.route_polyline``: arcs evenly sampled on
  their drawn radius, a point at least every ``point_spacing_m``, rounded as
  sent) with the lanes' speed limits per point, the list of resources it needs
  in route arc length, and a nominal time profile with the carrier's
  acceleration limits and the speed caps of ``yard_model.drivable`` (lane,
  curve and top speed: the rule the follower and the kinematic yard apply),
  used by the traffic planner. Every route is one the follower accepts: the
  lanes and their connections passed the same check when the world was loaded.

Arc length along a route is that of the carrier's base_link, measured from the
route's first point, which lies ``tail_m`` behind the carrier (the schema's
"starting at or just behind the carrier").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from shapely import STRtree
from shapely.geometry import Polygon
from shapely.ops import unary_union

from yard_model.drivable import segment_speed_caps
from yard_model.geometry import cumulative_length, point_at, rectangle, wrap_angle
from yard_model.lane_graph import (
    DEFAULT_MAX_KINK_RAD,
    ROUTE_POINT_SPACING_M,
    Traversal,
    headings_agree,
    route_polyline,
    traversal_infos,
)
from yard_model.lane_graph import traversal_points as _traversal_points


@dataclass(frozen=True)
class NetworkConfig:
    """Geometry knobs of the traffic model (all in metres / SI)."""

    cell_length_m: float = 12.0  # longest lane cell; shorter cells = closer following, more resources
    lateral_margin_m: float = 0.5  # added on each side of the carrier's footprint (tracking error)
    length_margin_m: float = 0.25  # added at each end of the carrier's footprint
    dock_tolerance_m: float = 0.3  # how far from a place's pose a standing carrier may be
    point_spacing_m: float = ROUTE_POINT_SPACING_M  # route point spacing
    tail_m: float = 2.0  # route starts this far behind the carrier
    max_kink_rad: float = DEFAULT_MAX_KINK_RAD


@dataclass(frozen=True)
class Place:
    """A carrier bay, parking spot or charger: where a carrier stops and stands."""

    id: str
    kind: str  # "bay" | "parking" | "charging" | "inspection"
    node: str
    x: float
    y: float
    yaw: float
    station: str | None  # for bays; nearest station for spots
    entries: tuple[Traversal, ...]  # traversals that end at the place heading its yaw
    exits: tuple[Traversal, ...]  # traversals that start at the place heading its yaw
    resource: int  # traffic resource of a carrier standing here


@dataclass(frozen=True)
class Cell:
    """A piece of one lane, in the lane's own (forward) arc length."""

    lane: str
    index: int
    s0: float
    s1: float
    resource: int


@dataclass
class Resource:
    """Something only one carrier may occupy at a time (with its conflicts)."""

    id: int
    name: str
    kind: str  # "cell" | "place" | "direction"
    area: Polygon | None = field(repr=False)  # None for a direction (not a place on the ground)


@dataclass(frozen=True)
class RouteResource:
    """A resource a route needs, as a held interval of base_link arc along the route.

    The carrier needs the resource granted before its arc passes ``enter_m`` and
    releases it once its arc exceeds ``exit_m`` (``inf`` for the goal place).
    """

    resource: int
    enter_m: float
    exit_m: float


@dataclass
class RouteGeometry:
    """Everything derived from one path of traversals (see module docstring)."""

    traversals: tuple[Traversal, ...]
    start_offset_m: float  # base_link arc on the first traversal where the carrier starts
    end_offset_m: float  # base_link arc on the last traversal where it stops
    start_place: str | None
    goal_place: str | None
    points: np.ndarray = field(repr=False)  # (N, 2) map [m]
    arc: np.ndarray = field(repr=False)  # (N,) arc length of every point [m]
    speed_limits: np.ndarray = field(repr=False)  # (N,) [m/s], lane limit from point i to i+1 (sent)
    lanes: list[dict]  # carrier_route "lanes" entries
    start_m: float  # carrier's base_link arc at the start (= tail actually available)
    goal_m: float  # base_link arc at the goal
    goal_pose: tuple[float, float, float]
    resources: list[RouteResource]
    nominal_t: np.ndarray = field(repr=False)  # (N,) free-flow time from start at rest to the goal at rest [s]
    nominal_v: np.ndarray = field(repr=False)  # (N,) free-flow speed profile [m/s]
    segments: list[tuple[Traversal, float, float, float]] = field(default_factory=list)
    # (traversal, route arc where it begins, traversal arc a, traversal arc b) in driving order

    def position_at(self, s_m: float) -> tuple[Traversal, float]:
        """(traversal, arc along it) of route arc s: where a carrier at s stands on the network."""
        seg = self.segments[0]
        for cand in self.segments:
            if cand[1] <= s_m + 1e-9:
                seg = cand
        t, off, a, b = seg
        return t, min(max(a + s_m - off, 0.0), b)

    @property
    def length_m(self) -> float:
        return float(self.arc[-1])

    @property
    def travel_time_s(self) -> float:
        """Free-flow time from start to goal [s]."""
        return float(self.nominal_t[-1])

    def time_at(self, s_m: float) -> float:
        """Free-flow time [s] at which base_link reaches arc s (clamped to the route)."""
        return float(np.interp(s_m, self.arc, self.nominal_t))

    def speed_at(self, s_m: float) -> float:
        return float(np.interp(s_m, self.arc, self.nominal_v))

    def pose_at(self, s_m: float) -> tuple[float, float, float]:
        """(x, y, yaw) of base_link at arc s."""
        return point_at(self.points, s_m, self.arc)


class NetworkError(ValueError):
    """A route or place request the network cannot serve."""


class YardNetwork:
    """Places, traffic resources with geometric conflicts, and route geometry for one world."""

    def __init__(self, world, config: NetworkConfig | None = None):
        self.world = world
        self.cfg = config or NetworkConfig()
        ct = world.carrier_type
        self.carrier_length_m = ct.length_m
        self.carrier_width_m = ct.width_m
        self.carrier_type = ct
        self.max_accel = ct.max_acceleration_mps2
        self.max_decel = ct.max_deceleration_mps2
        self.infos = traversal_infos(world)
        self.resources: list[Resource] = []
        self.cells: dict[str, list[Cell]] = {}
        self.places: dict[str, Place] = {}
        self._lane_caps: dict[str, np.ndarray] = {}
        self._build_cells()
        self._build_places()
        self.conflicts: list[frozenset[int]] = self._build_conflicts()
        self.directions: dict[Traversal, int] = self._build_directions()
        self.traversal_time_s = {t: self._traversal_time(t) for t in self.infos}

    # ------------------------------------------------------------------ building
    def _footprint(self, x: float, y: float, yaw: float, extra_len: float = 0.0) -> Polygon:
        c = self.cfg
        return Polygon(rectangle(x, y, yaw, self.carrier_length_m + 2 * c.length_margin_m + extra_len,
                                 self.carrier_width_m + 2 * c.lateral_margin_m))

    def _lane_pose(self, lane_id: str, s: float) -> tuple[float, float, float]:
        """Pose on a lane's centre line at forward arc s; beyond the ends, extrapolated straight."""
        return point_at(self.world.lanes[lane_id].points, s, self._lane_cum(lane_id), extrapolate=True)

    def _lane_cum(self, lane_id: str) -> np.ndarray:
        cache = self.__dict__.setdefault("_cum_cache", {})
        if lane_id not in cache:
            cache[lane_id] = cumulative_length(self.world.lanes[lane_id].points)
        return cache[lane_id]

    def _swept_area(self, lane_id: str, s0: float, s1: float) -> Polygon:
        """Union of carrier footprints with base_link on [s0, s1] of a lane (1 m steps)."""
        n = max(2, int(math.ceil((s1 - s0) / 1.0)) + 1)
        polys = [self._footprint(*self._lane_pose(lane_id, s)) for s in np.linspace(s0, s1, n)]
        return unary_union(polys)

    def _build_cells(self) -> None:
        for lane in self.world.lanes.values():
            length = lane.length_m
            n = max(1, int(math.ceil(length / self.cfg.cell_length_m - 1e-9)))
            cells = []
            for k in range(n):
                s0, s1 = length * k / n, length * (k + 1) / n
                rid = len(self.resources)
                area = self._swept_area(lane.id, s0, s1)
                self.resources.append(Resource(rid, f"{lane.id}#{k}", "cell", area))
                cells.append(Cell(lane.id, k, s0, s1, rid))
            self.cells[lane.id] = cells

    def _build_places(self) -> None:
        w = self.world
        tol = self.cfg.max_kink_rad
        raw = [(b.id, "bay", b.node, b.pose, b.station) for b in w.bays.values() if b.kind == "carrier"]
        raw += [(s.id, s.kind, s.node, s.pose, s.station) for s in w.spots.values()]
        for pid, kind, node, pose, station in raw:
            entries = tuple(sorted(i.traversal for i in self.infos.values()
                                   if i.to_node == node and headings_agree(i.end_heading, pose.yaw, tol)))
            exits = tuple(sorted(i.traversal for i in self.infos.values()
                                 if i.from_node == node and headings_agree(i.start_heading, pose.yaw, tol)))
            rid = len(self.resources)
            area = self._footprint(pose.x, pose.y, pose.yaw, extra_len=2 * self.cfg.dock_tolerance_m)
            self.resources.append(Resource(rid, f"place:{pid}", "place", area))
            if station is None:
                station = w.station_at(pose.x, pose.y)
            self.places[pid] = Place(pid, kind, node, pose.x, pose.y, pose.yaw, station, entries, exits, rid)

    def _build_conflicts(self) -> list[frozenset[int]]:
        areas = [r.area for r in self.resources]
        tree = STRtree(areas)
        left, right = tree.query(areas, predicate="intersects")
        sets: list[set[int]] = [{i} for i in range(len(areas))]
        for a, b in zip(left.tolist(), right.tolist()):
            if a != b and areas[a].intersection(areas[b]).area > 1e-6:
                sets[a].add(b)
                sets[b].add(a)
        return [frozenset(s) for s in sets]

    def _build_directions(self) -> dict[Traversal, int]:
        """One resource per driving direction of each two-way lane, conflicting only with the other one.

        Cells alone order opposing carriers cell by cell, which is enough for time-disjoint plans made
        together, but one carrier re-planned (a new route, a stripped plan) can be ordered first on the
        near cells and second on the far ones: both are then granted into the single track from its two
        ends and meet head-on (seen in the end-to-end graph run on small_yard's link). A route holds its
        direction from entering the lane's first cell to leaving its last, so the whole passage is ordered
        against every opposing one; carriers in the same direction still follow each other cell by cell.
        """
        out: dict[Traversal, int] = {}
        conflicts = list(self.conflicts)
        for lane in self.world.lanes.values():
            if not lane.two_way:
                continue
            fwd, rev = len(self.resources), len(self.resources) + 1
            self.resources.append(Resource(fwd, f"{lane.id}:forward", "direction", None))
            self.resources.append(Resource(rev, f"{lane.id}:reverse", "direction", None))
            conflicts += [frozenset({rev}), frozenset({fwd})]  # not with itself: same-direction carriers share it
            out[Traversal(lane.id, True)], out[Traversal(lane.id, False)] = fwd, rev
        self.conflicts = conflicts
        return out

    # ------------------------------------------------------------------ speeds and times
    def lane_speed_caps(self, lane_id: str) -> np.ndarray:
        """Speed cap [m/s] from every vertex of a lane to the next (``yard_model.drivable.segment_speed_caps``)."""
        if lane_id not in self._lane_caps:
            lane = self.world.lanes[lane_id]
            self._lane_caps[lane_id] = segment_speed_caps(lane.points, lane.speed_limit_mps, self.carrier_type)
        return self._lane_caps[lane_id]

    def _traversal_time(self, t: Traversal) -> float:
        """Free-flow time [s] to drive a whole traversal at its speed caps (routing cost)."""
        seg = np.diff(self._lane_cum(t.lane))
        return float(np.sum(seg / np.maximum(self.lane_speed_caps(t.lane)[:-1], 0.1)))

    # ------------------------------------------------------------------ locating
    def traversal_points(self, t: Traversal) -> np.ndarray:
        return _traversal_points(self.world, t)

    def locate(self, x: float, y: float, yaw: float, max_offset_m: float = 3.0) -> tuple[Traversal, float] | None:
        """Traversal and arc along it of a carrier pose: the lane under it driven in its heading.

        Returns None when no lane lies within ``max_offset_m`` with a heading within the
        kink tolerance (the carrier is off the network).
        """
        from yard_model.geometry import project_onto_polyline

        best = None
        for t, info in self.infos.items():
            pts = self.traversal_points(t)
            s, lat, i = project_onto_polyline(pts, (x, y))
            fx, fy, _ = point_at(pts, s)
            lat = math.hypot(x - fx, y - fy)  # to the foot point: beyond a lane's end the line's offset is not it
            if lat > max_offset_m:
                continue
            d = pts[i + 1] - pts[i]
            if not headings_agree(math.atan2(d[1], d[0]), yaw, self.cfg.max_kink_rad * 2):
                continue
            # prefer the lane we are well inside of (not at its very end) and closest laterally
            score = abs(lat) + (0.5 if s >= info.length_m - 0.05 else 0.0)
            if best is None or score < best[0]:
                best = (score, t, s)
        return None if best is None else (best[1], best[2])

    def place_at(self, x: float, y: float, yaw: float, tol_m: float = 2.5) -> str | None:
        """Id of the place whose pose is within ``tol_m`` and heading agrees, if any."""
        best = None
        for p in self.places.values():
            d = math.hypot(p.x - x, p.y - y)
            if d <= tol_m and headings_agree(p.yaw, yaw, self.cfg.max_kink_rad * 2) and (best is None or d < best[0]):
                best = (d, p.id)
        return None if best is None else best[1]

    def cell_resources_at(self, t: Traversal, s: float, margin_m: float = 0.0) -> list[int]:
        """Cells of traversal t whose arc interval (widened by ``margin_m``) contains arc s."""
        lane = self.world.lanes[t.lane]
        sf = s if t.forward else lane.length_m - s
        return [c.resource for c in self.cells[t.lane] if c.s0 - margin_m <= sf <= c.s1 + margin_m]

    # ------------------------------------------------------------------ routes
    def traversal_cells(self, t: Traversal) -> list[tuple[int, float, float]]:
        """(resource, s0, s1) of a traversal's cells in driving order and driving arc."""
        lane = self.world.lanes[t.lane]
        cells = self.cells[t.lane]
        if t.forward:
            return [(c.resource, c.s0, c.s1) for c in cells]
        L = lane.length_m
        return [(c.resource, L - c.s1, L - c.s0) for c in reversed(cells)]

    def build_route(self, traversals: list[Traversal], start_offset_m: float, end_offset_m: float,
                    start_place: str | None, goal_place: str | None, prev: Traversal | None = None) -> RouteGeometry:
        """Route geometry along ``traversals`` from an arc offset on the first to one on the last.

        ``prev`` is the traversal the carrier arrived on; the route's first points lie on it
        when the carrier stands less than ``tail_m`` into the first traversal.
        """
        if not traversals:
            raise NetworkError("empty route")
        tail = self.cfg.tail_m
        # (traversal, a, b, is_tail) pieces in driving order
        segs: list[tuple[Traversal, float, float, bool]] = []
        a0 = max(0.0, start_offset_m - tail)
        if start_offset_m < tail and prev is not None:
            plen = self.infos[prev].length_m
            segs.append((prev, max(0.0, plen - (tail - start_offset_m)), plen, True))
        for k, t in enumerate(traversals):
            a = a0 if k == 0 else 0.0
            b = end_offset_m if k == len(traversals) - 1 else self.infos[t].length_m
            if b < a - 1e-9:
                raise NetworkError(f"route ends before it starts on {t}")
            segs.append((t, a, b, False))
        offsets = [float(o) for o in np.cumsum([0.0] + [b - a for _, a, b, _ in segs[:-1]])]
        first_main = 1 if segs[0][3] else 0
        start_m = offsets[first_main] + (start_offset_m - segs[first_main][1])
        pts, vl = route_polyline(self.world, [(t, a, b) for t, a, b, _ in segs], self.cfg.point_spacing_m)
        arc = cumulative_length(pts)
        goal_m = float(arc[-1])
        start_m = min(start_m, goal_m)
        lanes = [{"lane": t.lane, "forward": t.forward,
                  "start_index": int(min(np.searchsorted(arc, o - 1e-6), len(arc) - 1))}
                 for (t, _, _, _), o in zip(segs, offsets)]
        resources: list[RouteResource] = []
        for (t, a, b, is_tail), o in zip(segs, offsets):
            if is_tail and start_place is not None:
                continue  # standing on a place: the place resource covers the footprint
            cells = []
            for rid, c0, c1 in self.traversal_cells(t):
                enter, exit_ = o + (c0 - a), o + (c1 - a)
                if exit_ < start_m - 1e-6 or c0 >= b - 1e-9 or enter >= goal_m - 1e-9:
                    continue
                if start_place is not None and exit_ <= start_m + 1e-6:
                    continue  # the cell the carrier arrived through, behind the place
                cells.append(RouteResource(rid, enter, exit_))
            resources += cells
            if cells and t in self.directions:  # the whole passage of a single track, one direction at a time
                resources.append(RouteResource(self.directions[t], cells[0].enter_m, cells[-1].exit_m))
        if start_place is not None:
            sp = self.places[start_place].resource
            resources.insert(0, RouteResource(sp, start_m, start_m + self.cfg.dock_tolerance_m))
        if goal_place is not None:
            resources.append(RouteResource(self.places[goal_place].resource, goal_m - self.cfg.dock_tolerance_m,
                                           math.inf))
        resources = _merge_resources(resources)
        x, y, yaw = _end_pose(pts)
        if goal_place is not None:
            p = self.places[goal_place]
            x, y, yaw = p.x, p.y, p.yaw
        t_nom, v_nom = self.nominal_profile(arc, segment_speed_caps(pts, vl, self.carrier_type), start_m)
        return RouteGeometry(tuple(traversals), start_offset_m, end_offset_m, start_place, goal_place, pts, arc, vl,
                             lanes, start_m, goal_m, (x, y, yaw), resources, t_nom, v_nom,
                             [(t, o, a, b) for (t, a, b, _), o in zip(segs, offsets)])

    def nominal_profile(self, arc: np.ndarray, caps: np.ndarray, start_m: float) -> tuple[np.ndarray, np.ndarray]:
        """Free-flow time and speed at each point: at rest at ``start_m`` and at the goal, within the caps."""
        n = len(arc)
        v = np.asarray(caps, dtype=float).tolist()
        v[-1] = 0.0
        i0 = int(np.searchsorted(arc, start_m))
        for i in range(min(i0 + 1, n)):
            v[i] = 0.0
        ds = np.diff(arc).tolist()
        a2, d2 = 2 * self.max_accel, 2 * self.max_decel
        sqrt = math.sqrt
        for i in range(max(i0, 0), n - 1):  # acceleration limit, forward
            lim = sqrt(v[i] * v[i] + a2 * ds[i])
            if v[i + 1] > lim:
                v[i + 1] = lim
        for i in range(n - 2, -1, -1):  # deceleration limit, backward
            lim = sqrt(v[i + 1] * v[i + 1] + d2 * ds[i])
            if v[i] > lim:
                v[i] = lim
        va = np.array(v)
        vm = np.maximum(0.5 * (va[:-1] + va[1:]), 0.05)
        dt = np.where(np.arange(n - 1) < i0, 0.0, np.asarray(ds) / vm)
        t = np.zeros(n)
        t[1:] = np.cumsum(dt)
        return t, va

    @cached_property
    def place_ids(self) -> list[str]:
        return sorted(self.places)

    def stop_penalty_s(self, v_mps: float) -> float:
        """Time lost by braking to a stop from v and accelerating back to v [s]."""
        return v_mps / (2 * self.max_accel) + v_mps / (2 * self.max_decel)


def _merge_resources(resources: list[RouteResource]) -> list[RouteResource]:
    """One entry per resource (a lane driven twice is not expected; keep the widest interval) in enter order."""
    by: dict[int, RouteResource] = {}
    for r in resources:
        enter = r.enter_m
        old = by.get(r.resource)
        if old is None:
            by[r.resource] = RouteResource(r.resource, enter, r.exit_m)
        else:
            by[r.resource] = RouteResource(r.resource, min(old.enter_m, enter), max(old.exit_m, r.exit_m))
    return sorted(by.values(), key=lambda r: (r.enter_m, r.exit_m))


def _end_pose(pts: np.ndarray) -> tuple[float, float, float]:
    d = pts[-1] - pts[-2]
    return float(pts[-1][0]), float(pts[-1][1]), wrap_angle(math.atan2(d[1], d[0]))
