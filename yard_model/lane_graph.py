"""Directed lane traversals and the transitions a carrier can actually drive.

A two-way lane can be driven in both directions and a node joins several
lanes, but an Ackermann carrier cannot turn on the spot: leaving a node it
must keep (nearly) the heading it arrived with. So the drivable network is a
graph whose vertices are *traversals* (a lane in one direction) and whose
edges join a traversal to the next one when their headings at the shared node
agree within ``max_kink_rad``. Routing (fleet manager) and world validation
both use this graph; parking spots and bays are "places" at a node with a
yaw, entered and left along traversals that match that yaw.

``route_polyline`` is the one way a run of traversals becomes the polyline a
carrier is sent (the fleet manager's routes and the world check below use it),
and ``tight_connections`` checks, with ``yard_model.drivable.check_drivable``,
that every lane and every routable connection (two traversals meeting at a
node, or a place's way in and out) is one the carriers can drive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import numpy as np

from . import geometry
from .drivable import CURVATURE_HALF_WINDOW_M, DUPLICATE_POINT_M, RouteError, check_drivable, quantize_points
from .geometry import wrap_angle

DEFAULT_MAX_KINK_RAD = math.radians(20.0)
"""Largest heading change for two lanes to count as meeting at a node (whether a carrier can drive the
meeting is ``tight_connections``' question)."""

ROUTE_POINT_SPACING_M = 1.0
"""Route polylines have a point at least this often (``route_polyline``)."""


@dataclass(frozen=True, order=True)
class Traversal:
    """A lane driven in one direction."""

    lane: str
    forward: bool

    def __str__(self) -> str:
        return f"{self.lane}{'+' if self.forward else '-'}"


@dataclass(frozen=True)
class TraversalInfo:
    """Geometry of a traversal: end nodes, headings at both ends, length."""

    traversal: Traversal
    from_node: str
    to_node: str
    start_heading: float
    end_heading: float
    length_m: float
    speed_limit_mps: float
    two_way: bool


def traversal_points(world, t: Traversal) -> np.ndarray:
    """Centre line of a traversal in its driving direction (N, 2)."""
    pts = world.lanes[t.lane].points
    return pts if t.forward else pts[::-1]


def traversal_curvature(world, t: Traversal) -> np.ndarray | None:
    """Design curvature of each segment of ``traversal_points`` (None if the lane has none)."""
    k = world.lanes[t.lane].curvature
    if k is None:
        return None
    return k if t.forward else -k[::-1]


def route_polyline(world, pieces, spacing_m: float = ROUTE_POINT_SPACING_M) -> tuple[np.ndarray, np.ndarray]:
    """The points a carrier is sent for ``pieces`` = [(traversal, arc a, arc b), ...] in driving order.

    Each piece is cut from its lane at arcs a..b (a cut inside an arc lies on the arc, not on its
    chord), the pieces are joined, segments longer than ``spacing_m`` are split evenly (on their arc)
    and the points are rounded to ``yard_model.drivable.POINT_RESOLUTION_M`` as they travel. Filleted
    corners therefore arrive as evenly sampled arcs of their drawn radius. Returns the points and the
    lane speed limit from each point to the next (the lower one where two lanes meet).
    """
    parts, limits, curv = [], [], []
    for k, (t, a, b) in enumerate(pieces):
        piece, pk = geometry.slice_polyline(traversal_points(world, t), a, b, curvature=traversal_curvature(world, t))
        curv.append(np.zeros(len(piece) - 1) if pk is None else pk)
        if k > 0:
            piece = piece[1:]  # the previous piece ends where this one starts
        parts.append(piece)
        limits.append(np.full(len(piece), world.lanes[t.lane].speed_limit_mps))
    pts, vl, kk = np.concatenate(parts), np.concatenate(limits), np.concatenate(curv)
    keep = _apart(pts)
    pts, vl, kk = pts[keep], vl[keep], kk[keep[1:]]
    if len(pts) < 2:
        pts, vl, kk = np.vstack([pts, pts]), np.concatenate([vl, vl]), np.zeros(1)
    out, vl = geometry.resample_polyline(pts, spacing_m, vl, curvature=kk)
    out = quantize_points(out)
    keep = _apart(out)
    return out[keep], vl[keep]


def _apart(pts: np.ndarray) -> np.ndarray:
    """Mask of the points to keep so that no two consecutive ones are within ``DUPLICATE_POINT_M``.

    The first and the last point always stay (a point close to the last one goes instead).
    """
    keep = np.ones(len(pts), dtype=bool)
    d = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    if len(pts) < 3 or np.all(d > DUPLICATE_POINT_M):
        return keep
    last = 0
    for i in range(1, len(pts) - 1):
        if np.linalg.norm(pts[i] - pts[last]) > DUPLICATE_POINT_M:
            last = i
        else:
            keep[i] = False
    if last > 0 and np.linalg.norm(pts[-1] - pts[last]) <= DUPLICATE_POINT_M:
        keep[last] = False
    return keep


def traversal_infos(world) -> dict[Traversal, TraversalInfo]:
    """Every drivable traversal of the world's lanes."""
    out: dict[Traversal, TraversalInfo] = {}
    for lane in world.lanes.values():
        directions = (True, False) if lane.two_way else (True,)
        for fwd in directions:
            t = Traversal(lane.id, fwd)
            out[t] = TraversalInfo(
                traversal=t,
                from_node=lane.start if fwd else lane.end,
                to_node=lane.end if fwd else lane.start,
                start_heading=lane.start_heading if fwd else wrap_angle(lane.end_heading + math.pi),
                end_heading=lane.end_heading if fwd else wrap_angle(lane.start_heading + math.pi),
                length_m=lane.length_m,
                speed_limit_mps=lane.speed_limit_mps,
                two_way=lane.two_way,
            )
    return out


def headings_agree(a: float, b: float, tol_rad: float = DEFAULT_MAX_KINK_RAD) -> bool:
    return abs(wrap_angle(a - b)) <= tol_rad


def transition_graph(world, max_kink_rad: float = DEFAULT_MAX_KINK_RAD) -> nx.DiGraph:
    """Graph over traversals; an edge a->b means b can follow a at their shared node.

    Vertex attribute ``info`` holds the TraversalInfo; edge attribute ``node``
    names the lane node where the transition happens. A traversal never leads
    into its own reverse (no U-turn on a single track).
    """
    infos = traversal_infos(world)
    g = nx.DiGraph()
    by_start: dict[str, list[TraversalInfo]] = {}
    for info in infos.values():
        g.add_node(info.traversal, info=info)
        by_start.setdefault(info.from_node, []).append(info)
    for a in infos.values():
        for b in by_start.get(a.to_node, []):
            if b.traversal.lane == a.traversal.lane:
                continue
            if headings_agree(a.end_heading, b.start_heading, max_kink_rad):
                g.add_edge(a.traversal, b.traversal, node=a.to_node)
    return g


def place_graph(world, max_kink_rad: float = DEFAULT_MAX_KINK_RAD) -> nx.DiGraph:
    """Transition graph plus a vertex ``("place", id)`` for every bay and spot.

    A place at node n with yaw psi is entered from traversals that end at n
    heading psi and left by traversals that start at n heading psi. A place
    in the middle of a lane node that continues straight through is both.
    """
    g = transition_graph(world, max_kink_rad)
    places = [(b.id, b.node, b.pose.yaw) for b in world.bays.values() if b.kind == "carrier"]
    places += [(s.id, s.node, s.pose.yaw) for s in world.spots.values()]
    for pid, node, yaw in places:
        v = ("place", pid)
        g.add_node(v)
        for t, data in list(g.nodes(data=True)):
            info = data.get("info")
            if info is None:
                continue
            if info.to_node == node and headings_agree(info.end_heading, yaw, max_kink_rad):
                g.add_edge(t, v, node=node)
            if info.from_node == node and headings_agree(info.start_heading, yaw, max_kink_rad):
                g.add_edge(v, t, node=node)
    return g


def unreachable_places(world, max_kink_rad: float = DEFAULT_MAX_KINK_RAD) -> list[tuple[str, str]]:
    """Pairs (a, b) of places where a carrier at a cannot drive to b.

    Empty for a well-formed yard: every parking spot, charger and carrier bay
    reaches every other one along drivable transitions.
    """
    g = place_graph(world, max_kink_rad)
    places = [v for v in g.nodes if isinstance(v, tuple) and v and v[0] == "place"]
    comp = {}
    for i, scc in enumerate(nx.strongly_connected_components(g)):
        for v in scc:
            comp[v] = i
    bad = []
    for a in places:
        for b in places:
            if a != b and comp[a] != comp[b] and not nx.has_path(g, a, b):
                bad.append((a[1], b[1]))
    return bad


def _describe(t: Traversal) -> str:
    return f"lane {t.lane} ({'forward' if t.forward else 'backward'})"


def tight_connections(world, max_kink_rad: float = DEFAULT_MAX_KINK_RAD) -> list[tuple[str, str]]:
    """Lanes and routable connections a carrier of ``world.carrier_type`` cannot drive: [(what, why)].

    Each lane is checked whole, and every connection routing may use (one traversal into the next at a
    node, and a place's every way in into its every way out) over enough of both lanes to see every
    curvature judged across the node, as ``route_polyline`` builds it and with the check the path
    follower applies (``yard_model.drivable.check_drivable``). Empty for a well-formed yard.
    """
    ct = world.carrier_type
    reach = 2.0 * CURVATURE_HALF_WINDOW_M + 2.0 * ROUTE_POINT_SPACING_M
    infos = traversal_infos(world)
    bad: list[tuple[str, str]] = []

    def check(what: str, pieces) -> None:
        pts, _ = route_polyline(world, pieces)
        try:
            check_drivable(pts, ct, min_length_m=0.0)
        except RouteError as exc:
            bad.append((what, str(exc)))

    for lane in world.lanes.values():
        check(f"lane {lane.id}", [(Traversal(lane.id, True), 0.0, lane.length_m)])
    g = place_graph(world, max_kink_rad)
    pairs: set[tuple[Traversal, Traversal, str]] = set()
    for a, b, data in g.edges(data=True):
        if isinstance(a, Traversal) and isinstance(b, Traversal):
            pairs.add((a, b, data["node"]))
    for v in g.nodes:
        if isinstance(v, tuple) and v and v[0] == "place":
            for e in g.predecessors(v):
                for x in g.successors(v):
                    if e.lane != x.lane:
                        pairs.add((e, x, g.edges[e, v]["node"]))
    for a, b, node in sorted(pairs):
        la, lb = infos[a].length_m, infos[b].length_m
        check(f"from {_describe(a)} into {_describe(b)} at node {node}",
              [(a, max(0.0, la - reach), la), (b, 0.0, min(lb, reach))])
    return bad
