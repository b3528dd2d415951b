"""What a yard looks like: the shapes shared by the Gazebo SDF world and the RViz/Foxglove markers.

Both renderings draw the same lanes, portals and rails from the same numbers, so they
are computed once here (pure geometry, no ROS, no XML). Crane parts are boxes in the
*crane frame* (x along the rails = gantry, y across = trolley, z up; see
:class:`yard_model.world.Crane`), so an SDF model placed at the crane origin and a
marker transformed with :meth:`Crane.to_map` show the same portal.

Sizes that the world file does not give (girder depth, trolley and spreader size,
rail width) are drawing choices, named constants below.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from shapely.geometry import LineString, Polygon

from .world import Crane, Lane, Pose2D, World

GIRDER_DEPTH_M = 1.5
"""Height of the portal's top beams (drawn above ``portal.height_m``, the clear height)."""
TROLLEY_HEIGHT_M = 1.2
TROLLEY_WIDTH_M = 3.0  # along the trolley axis
SPREADER_THICKNESS_M = 0.5
ROPE_WIDTH_M = 0.15
RAIL_WIDTH_M = 0.4
RAIL_HEIGHT_M = 0.2
MARKING_WIDTH_M = 0.15
"""Painted lane lines (centre and edges)."""

# RGBA in 0..1, shared so Gazebo and RViz use the same colour for the same thing.
COLOURS: dict[str, tuple[float, float, float, float]] = {
    "asphalt": (0.22, 0.22, 0.24, 1.0),
    "lane_one_way": (0.95, 0.95, 0.95, 1.0),  # white: one-way lane
    "lane_two_way": (1.0, 0.75, 0.0, 1.0),  # amber: two-way single track, one direction at a time
    "lane_edge": (0.85, 0.85, 0.85, 1.0),
    "truck_bay": (0.2, 0.45, 0.95, 0.8),
    "carrier_bay": (0.2, 0.75, 0.35, 0.8),
    "parking": (0.55, 0.55, 0.7, 0.8),
    "charging": (0.1, 0.8, 0.9, 0.8),
    "inspection": (0.95, 0.6, 0.1, 0.8),
    "charger_post": (0.1, 0.6, 0.7, 1.0),
    "crane": (0.95, 0.55, 0.1, 1.0),
    "trolley": (0.3, 0.3, 0.3, 1.0),
    "spreader_open": (0.2, 0.8, 0.2, 1.0),
    "spreader_locked": (0.9, 0.15, 0.1, 1.0),
    "rail": (0.5, 0.5, 0.55, 1.0),
    "border": (0.9, 0.05, 0.05, 1.0),
    "zone_rtk_fixed": (0.2, 0.8, 0.2, 0.5),
    "zone_rtk_float": (1.0, 0.85, 0.0, 0.6),
    "zone_single": (1.0, 0.5, 0.0, 0.6),
    "zone_none": (0.9, 0.1, 0.1, 0.6),
    "carrier": (0.1, 0.35, 0.8, 1.0),
    "container": (0.75, 0.3, 0.15, 1.0),
    "truck": (0.35, 0.35, 0.4, 1.0),
    "text": (1.0, 1.0, 1.0, 1.0),
}


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in some frame: centre (x, y, z) [m], yaw [rad] about z, size (sx, sy, sz) [m]."""

    name: str
    x: float
    y: float
    z: float
    yaw: float
    sx: float
    sy: float
    sz: float
    colour: str


def lane_colour(lane: Lane) -> str:
    """Colour key of a lane's centre line: two-way single tracks stand out from one-way lanes."""
    return "lane_two_way" if lane.two_way else "lane_one_way"


def offset_polyline(points: np.ndarray, offset_m: float) -> np.ndarray:
    """The polyline shifted sideways by ``offset_m`` (positive = left of travel), one point per vertex.

    Each vertex moves along the bisector of its two segments' normals, scaled by the
    mitre factor 1/cos(half turn), so straight parts stay at exactly ``offset_m``.
    Written here rather than with shapely's ``offset_curve`` because GEOS splits some
    filleted lanes into several pieces; for lanes (corner radius >= the carriers'
    turning radius > half a lane width) the mitre offset is exact and never folds.
    """
    pts = np.asarray(points, dtype=float)
    d = np.diff(pts, axis=0)
    t = d / np.linalg.norm(d, axis=1)[:, None]
    normals = np.column_stack([-t[:, 1], t[:, 0]])  # left of each segment
    vertex = np.vstack([normals[:1], normals[:-1] + normals[1:], normals[-1:]])
    vertex /= np.linalg.norm(vertex, axis=1)[:, None]
    # mitre: the offset along the bisector that keeps offset_m from both segments
    seg_n = np.vstack([normals[:1], normals])
    cos_half = np.clip(np.sum(vertex * seg_n, axis=1), 0.2, 1.0)
    return pts + vertex * (offset_m / cos_half)[:, None]


def lane_edges(lane: Lane, inset_m: float = MARKING_WIDTH_M / 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Left and right edge lines of a lane (N, 2), ``inset_m`` inside the paved area, in driving direction."""
    offset = lane.width_m / 2.0 - inset_m
    return offset_polyline(lane.points, offset), offset_polyline(lane.points, -offset)


def strip_polygon(points: np.ndarray, width_m: float, simplify_m: float = 0.05) -> Polygon:
    """A band of ``width_m`` along a polyline, as one simple polygon (paint lines, lane surfaces).

    The centre line is simplified first (``simplify_m`` [m] off the curve at most) and then
    buffered with mitred joins, so both sides stay exactly parallel with few vertices.
    """
    line = LineString(points).simplify(simplify_m, preserve_topology=True)
    return line.buffer(width_m / 2.0, cap_style="flat", join_style="mitre", mitre_limit=2.0)


def portal_parts(world: World, crane: Crane, gantry_m: float) -> list[Box]:
    """Steel of a crane's portal at a gantry position, in the crane frame: 4 legs, 2 girders, 2 side beams."""
    p = crane.portal
    parts: list[Box] = []
    ends = (gantry_m - p.length_m / 2.0, gantry_m + p.length_m / 2.0)
    k = 0
    for along in ends:
        for across in (0.0, p.span_m):
            parts.append(Box(f"leg_{k}", along, across, p.height_m / 2.0, 0.0, p.leg_size_m, p.leg_size_m,
                             p.height_m, "crane"))
            k += 1
    top = p.height_m + GIRDER_DEPTH_M / 2.0
    for i, along in enumerate(ends):  # girders span the rails; the trolley runs on them
        parts.append(Box(f"girder_{i}", along, p.span_m / 2.0, top, 0.0, p.leg_size_m, p.span_m + p.leg_size_m,
                         GIRDER_DEPTH_M, "crane"))
    for i, across in enumerate((0.0, p.span_m)):  # side beams over each rail close the frame
        parts.append(Box(f"beam_{i}", gantry_m, across, top, 0.0, p.length_m, p.leg_size_m * 0.6,
                         GIRDER_DEPTH_M * 0.6, "crane"))
    return parts


def hoist_parts(world: World, crane: Crane, gantry_m: float, trolley_m: float, hoist_m: float,
                locked: bool) -> list[Box]:
    """Trolley, rope and spreader of a crane in the crane frame; ``hoist_m`` is the spreader's underside height.

    The spreader's long side lies along the rails (carrier bays are parallel to them).
    """
    p = crane.portal
    c = world.container_type
    trolley_z = p.height_m + GIRDER_DEPTH_M + TROLLEY_HEIGHT_M / 2.0
    spreader_top = hoist_m + SPREADER_THICKNESS_M
    rope_bottom, rope_top = spreader_top, p.height_m + GIRDER_DEPTH_M
    parts = [
        Box("trolley", gantry_m, trolley_m, trolley_z, 0.0, p.length_m + p.leg_size_m, TROLLEY_WIDTH_M,
            TROLLEY_HEIGHT_M, "trolley"),
        Box("spreader", gantry_m, trolley_m, hoist_m + SPREADER_THICKNESS_M / 2.0, 0.0, c.length_m, c.width_m,
            SPREADER_THICKNESS_M, "spreader_locked" if locked else "spreader_open"),
    ]
    if rope_top - rope_bottom > 1e-3:
        parts.append(Box("rope", gantry_m, trolley_m, (rope_top + rope_bottom) / 2.0, 0.0, ROPE_WIDTH_M,
                         ROPE_WIDTH_M, rope_top - rope_bottom, "trolley"))
    return parts


def box_to_map(crane: Crane, box: Box) -> Box:
    """The same box with its centre and yaw in ``map``."""
    x, y = crane.to_map(box.x, box.y)
    return Box(box.name, x, y, box.z, crane.origin.yaw + box.yaw, box.sx, box.sy, box.sz, box.colour)


@dataclass(frozen=True)
class RailRun:
    """A pair of rails shared by one or more cranes: from ``start_m`` to ``end_m`` along the crane x axis."""

    name: str  # rail_group, or the crane id for a crane with its own rails
    origin: Pose2D
    span_m: float
    start_m: float
    end_m: float
    cranes: tuple[str, ...]


def rail_runs(world: World) -> list[RailRun]:
    """Rails of every crane, one run per rail group, long enough for every position its portals reach."""
    runs: dict[str, list[Crane]] = {}
    for crane in world.cranes.values():
        runs.setdefault(crane.rail_group or crane.id, []).append(crane)
    out = []
    for name, cranes in runs.items():
        first = cranes[0]
        lo = min((c.gantry.min_m if c.gantry else c.home_gantry_m) - c.portal.length_m / 2.0 for c in cranes)
        hi = max((c.gantry.max_m if c.gantry else c.home_gantry_m) + c.portal.length_m / 2.0 for c in cranes)
        margin = first.portal.leg_size_m
        out.append(RailRun(name, first.origin, first.portal.span_m, lo - margin, hi + margin,
                           tuple(c.id for c in cranes)))
    return out


def rail_boxes(run: RailRun) -> list[Box]:
    """The two rails of a run as boxes in the crane frame of its cranes."""
    length = run.end_m - run.start_m
    mid = (run.start_m + run.end_m) / 2.0
    return [Box(f"rail_{i}", mid, across, RAIL_HEIGHT_M / 2.0, 0.0, length, RAIL_WIDTH_M, RAIL_HEIGHT_M, "rail")
            for i, across in enumerate((0.0, run.span_m))]


def travel_envelope(crane: Crane) -> list[tuple[float, float]]:
    """Map outline (closed ring) of the ground a crane's portal can stand on over its gantry travel."""
    p = crane.portal
    lo = (crane.gantry.min_m if crane.gantry else crane.home_gantry_m) - p.length_m / 2.0 - p.leg_size_m / 2.0
    hi = (crane.gantry.max_m if crane.gantry else crane.home_gantry_m) + p.length_m / 2.0 + p.leg_size_m / 2.0
    y0, y1 = -p.leg_size_m / 2.0, p.span_m + p.leg_size_m / 2.0
    ring = [crane.to_map(g, t) for g, t in ((lo, y0), (hi, y0), (hi, y1), (lo, y1), (lo, y0))]
    return [(float(x), float(y)) for x, y in ring]

