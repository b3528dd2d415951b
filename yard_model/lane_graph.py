"""Directed lane traversals and the transitions a carrier can actually drive.

A two-way lane can be driven in both directions and a node joins several
lanes, but an Ackermann carrier cannot turn on the spot: leaving a node it
must keep (nearly) the heading it arrived with. So the drivable network is a
graph whose vertices are *traversals* (a lane in one direction) and whose
edges join a traversal to the next one when their headings at the shared node
agree within ``max_kink_rad``. Routing (fleet manager) and world validation
both use this graph; parking spots and bays are "places" at a node with a
yaw, entered and left along traversals that match that yaw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import numpy as np

from .geometry import wrap_angle

DEFAULT_MAX_KINK_RAD = math.radians(20.0)
"""Largest heading change allowed where two lanes meet at a node."""


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
