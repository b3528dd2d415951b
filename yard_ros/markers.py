"""RViz / Foxglove markers of a yard: the static layout and the moving objects.

Pure translation from the world model and a simulator snapshot to
``visualization_msgs/MarkerArray`` (message types only, no rclpy): the simulator
node publishes :func:`static_markers` once on the latched ``/yard/markers`` and
:func:`dynamic_markers` at a few hertz. Shapes come from :mod:`yard_model.drawing`,
the same code that draws the Gazebo SDF world, so both show the same yard.

Everything is in frame ``map``. Every marker is an ``ADD`` with a stable
``(ns, id)``, so a marker sent again replaces the previous one in place:

===================  ===========  =====================================================
namespace            type         id
===================  ===========  =====================================================
``lanes``            LINE_STRIP   index of the lane in the world file; amber = two-way
                                  single track, white = one-way
``lane_edges``       LINE_STRIP   2 i (left edge), 2 i + 1 (right edge)
``lane_arrows``      ARROW        2 i (forward at mid-lane), 2 i + 1 (backward, two-way)
``bays``             CUBE         index of the bay (truck bays blue, carrier bays green)
``bay_labels``       TEXT         same id as the bay
``spots``            CUBE         index of the spot (parking grey, charging cyan, inspection amber)
``spot_labels``      TEXT         same id as the spot
``gnss_zones``       LINE_STRIP   index of the zone; colour by mode (yellow float,
                                  orange single, red none)
``border``           LINE_STRIP   0
``crane_rails``      CUBE         2 r + k for rail k of rail run r
``crane_envelopes``  LINE_STRIP   index of the crane: ground its portal can reach
``carriers``         CUBE         :func:`stable_id` of the carrier id
``carrier_labels``   TEXT         same id
``containers``       CUBE         :func:`stable_id` of the container id
``container_labels`` TEXT         same id
``trucks``           CUBE         :func:`stable_id` of the truck id
``truck_labels``     TEXT         same id
``crane_portals``    CUBE         16 i + part (legs, girders, side beams) for crane i
``crane_hoists``     CUBE         16 i + part (trolley, spreader: green open / red
                                  locked, rope)
``crane_labels``     TEXT         index of the crane
===================  ===========  =====================================================

Vanished objects: no ``DELETE`` and no ``DELETEALL`` is ever sent. Static markers
live forever (``lifetime`` 0). Dynamic markers carry a ``lifetime``
(``lifetime_s``, by default a few publishing periods), so an object that leaves the
snapshot (a truck that departed, a carrier removed) disappears by itself once its
last marker expires, while objects still present are refreshed before that.
``DELETEALL`` would also wipe the static layout sent on the same topic.

Publishing note: a transient-local publisher keeps only its last ``depth`` messages
for late subscribers. If the static array and the dynamic arrays share one topic
with the ``LATCHED`` profile (depth 1), a viewer that connects later receives only
the latest dynamic array and never sees the layout. Publish the static array on a
latched topic of its own, or re-send it periodically on the shared one.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from std_msgs.msg import ColorRGBA, Header
from transforms3d.euler import euler2quat
from visualization_msgs.msg import Marker, MarkerArray

from yard_model import drawing
from yard_model.drawing import COLOURS, Box
from yard_model.geometry import point_at
from yard_model.world import World
from yard_ros.stamps import from_sec

FRAME_ID = "map"
LINE_WIDTH_M = 0.3
EDGE_WIDTH_M = 0.15
OUTLINE_WIDTH_M = 0.5
TEXT_HEIGHT_M = 1.5
PAD_THICKNESS_M = 0.05
DEFAULT_LIFETIME_S = 1.0
"""Dynamic markers expire after this unless refreshed (publish at >= 3 / lifetime_s Hz)."""
CRANE_ID_STRIDE = 16
"""Ids per crane in the crane namespaces (portal and hoist parts)."""


# ------------------------------------------------------------------ helpers
def stable_id(object_id: str) -> int:
    """A marker id that depends only on an object's id string (CRC-32, non-negative int32)."""
    return zlib.crc32(object_id.encode("utf-8")) & 0x7FFFFFFF


def _unique_ids(object_ids: Iterable[str]) -> dict[str, int]:
    """stable_id for each object; the rare CRC collision is resolved by probing, in sorted id order."""
    out: dict[str, int] = {}
    used: set[int] = set()
    for oid in sorted(object_ids):
        mid = stable_id(oid)
        while mid in used:
            mid = (mid + 1) & 0x7FFFFFFF
        used.add(mid)
        out[oid] = mid
    return out


def _stamp(stamp: Time | float | None) -> Time:
    """Header stamp from a Time, float seconds, or None (zero stamp: 'latest' in RViz)."""
    if stamp is None:
        return Time()
    return stamp if isinstance(stamp, Time) else from_sec(float(stamp))


def _duration(seconds: float) -> Duration:
    sec = int(seconds)
    return Duration(sec=sec, nanosec=int(round((seconds - sec) * 1e9)))


def _colour(key: str) -> ColorRGBA:
    r, g, b, a = COLOURS[key]
    return ColorRGBA(r=r, g=g, b=b, a=a)


def _pose(x: float, y: float, z: float, yaw: float = 0.0) -> Pose:
    w, qx, qy, qz = euler2quat(0.0, 0.0, yaw)
    return Pose(position=Point(x=float(x), y=float(y), z=float(z)),
                orientation=Quaternion(x=float(qx), y=float(qy), z=float(qz), w=float(w)))


class _Builder:
    """Collects markers that share a header and lifetime."""

    def __init__(self, stamp: Time, lifetime_s: float):
        self.header = Header(frame_id=FRAME_ID, stamp=stamp)
        self.lifetime = _duration(lifetime_s)
        self.markers: list[Marker] = []

    def add(self, ns: str, mid: int, mtype: int, pose: Pose, scale: tuple[float, float, float], colour: str,
            points: Iterable[tuple[float, float, float]] = (), text: str = "") -> Marker:
        m = Marker(header=self.header, ns=ns, id=int(mid), type=mtype, action=Marker.ADD, pose=pose,
                   scale=Vector3(x=float(scale[0]), y=float(scale[1]), z=float(scale[2])), color=_colour(colour),
                   lifetime=self.lifetime, frame_locked=False, text=text)
        m.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in points]
        self.markers.append(m)
        return m

    def line(self, ns: str, mid: int, xy: Iterable[Iterable[float]], z: float, width: float, colour: str) -> None:
        self.add(ns, mid, Marker.LINE_STRIP, _pose(0.0, 0.0, 0.0), (width, 0.0, 0.0), colour,
                 points=[(float(p[0]), float(p[1]), z) for p in xy])

    def box(self, ns: str, mid: int, box: Box) -> None:
        self.add(ns, mid, Marker.CUBE, _pose(box.x, box.y, box.z, box.yaw), (box.sx, box.sy, box.sz), box.colour)

    def text(self, ns: str, mid: int, x: float, y: float, z: float, text: str) -> None:
        self.add(ns, mid, Marker.TEXT_VIEW_FACING, _pose(x, y, z), (0.0, 0.0, TEXT_HEIGHT_M), "text", text=text)

    def array(self) -> MarkerArray:
        return MarkerArray(markers=self.markers)


# ------------------------------------------------------------------ static layout
def static_markers(world: World, stamp: Time | float | None = None) -> MarkerArray:
    """The yard's fixed layout: lanes, edges, directions, bays, spots, GNSS zones, border, rails, crane reach."""
    b = _Builder(_stamp(stamp), 0.0)
    for i, lane in enumerate(world.lanes.values()):
        b.line("lanes", i, lane.points, 0.05, LINE_WIDTH_M, drawing.lane_colour(lane))
        left, right = drawing.lane_edges(lane)
        b.line("lane_edges", 2 * i, left, 0.04, EDGE_WIDTH_M, "lane_edge")
        b.line("lane_edges", 2 * i + 1, right, 0.04, EDGE_WIDTH_M, "lane_edge")
        directions = (True, False) if lane.two_way else (True,)
        for k, forward in enumerate(directions):
            pts = lane.points if forward else lane.points[::-1]
            # one arrow mid-lane; on a two-way lane one per direction, each 40 % along its way
            x, y, h = point_at(pts, (0.4 if lane.two_way else 0.5) * lane.length_m)
            length = min(4.0, lane.length_m / 3.0)
            b.add("lane_arrows", 2 * i + k, Marker.ARROW, _pose(x, y, 0.1, h), (length, 0.8, 0.8),
                  drawing.lane_colour(lane))
    ct, tt = world.carrier_type, world.truck_type
    for i, bay in enumerate(world.bays.values()):
        length, width = (ct.length_m, ct.width_m) if bay.kind == "carrier" else (tt.length_m, tt.width_m)
        b.box("bays", i, Box(bay.id, bay.pose.x, bay.pose.y, PAD_THICKNESS_M / 2.0, bay.pose.yaw, length, width,
                             PAD_THICKNESS_M, f"{bay.kind}_bay"))
        b.text("bay_labels", i, bay.pose.x, bay.pose.y, 1.0, bay.id)
    for i, spot in enumerate(world.spots.values()):
        b.box("spots", i, Box(spot.id, spot.pose.x, spot.pose.y, PAD_THICKNESS_M / 2.0, spot.pose.yaw, ct.length_m,
                              ct.width_m, PAD_THICKNESS_M, spot.kind))
        b.text("spot_labels", i, spot.pose.x, spot.pose.y, 1.0, spot.id)
    for i, zone in enumerate(world.gnss_zones):
        b.line("gnss_zones", i, zone.polygon.exterior.coords, 0.08, OUTLINE_WIDTH_M, f"zone_{zone.mode}")
    b.line("border", 0, world.border.points, 0.1, 2 * OUTLINE_WIDTH_M, "border")
    for r, run in enumerate(drawing.rail_runs(world)):
        c, s = math.cos(run.origin.yaw), math.sin(run.origin.yaw)
        for k, rail in enumerate(drawing.rail_boxes(run)):
            x = run.origin.x + c * rail.x - s * rail.y
            y = run.origin.y + s * rail.x + c * rail.y
            b.box("crane_rails", 2 * r + k, Box(rail.name, x, y, rail.z, run.origin.yaw, rail.sx, rail.sy, rail.sz,
                                                rail.colour))
    for i, crane in enumerate(world.cranes.values()):
        b.line("crane_envelopes", i, drawing.travel_envelope(crane), 0.06, EDGE_WIDTH_M, "crane")
    return b.array()


# ------------------------------------------------------------------ moving objects
def _finite(entry: Any, keys: tuple[str, ...], optional: Mapping[str, float] | None = None) -> dict[str, float] | None:
    """The named numbers of a snapshot entry, or None if one is missing or not finite (entry skipped)."""
    if not isinstance(entry, Mapping):
        return None
    out: dict[str, float] = {}
    for key in keys:
        value = entry.get(key, (optional or {}).get(key))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        out[key] = float(value)
    return out


def dynamic_markers(world: World, snapshot: Mapping[str, Any], stamp: Time | float | None,
                    lifetime_s: float = DEFAULT_LIFETIME_S) -> MarkerArray:
    """Carriers, cranes, containers and trucks of a simulator snapshot.

    ``snapshot`` holds ``carriers: {id: {x, y, yaw}}`` (base_link = deck centre),
    ``cranes: {id: {gantry, trolley, hoist, twistlock}}`` (joint positions; twistlock
    0 open .. 1 locked), ``containers: {id: {x, y, z, yaw}}`` (z = underside height)
    and ``trucks: {id: {x, y, yaw}}`` (x, y = centre of the trailer bed), in ``map``
    [m, rad]. Other keys are ignored. An entry with a missing or non-finite number,
    or a crane the world does not know, is skipped (no marker, nothing raised).
    """
    b = _Builder(_stamp(stamp), lifetime_s)
    ct, tt, cont = world.carrier_type, world.truck_type, world.container_type

    carriers = snapshot.get("carriers") or {}
    for oid, mid in _unique_ids(carriers).items():
        v = _finite(carriers[oid], ("x", "y", "yaw"))
        if v is None:
            continue
        b.box("carriers", mid, Box(oid, v["x"], v["y"], ct.deck_height_m / 2.0, v["yaw"], ct.length_m, ct.width_m,
                                   ct.deck_height_m, "carrier"))
        b.text("carrier_labels", mid, v["x"], v["y"], ct.deck_height_m + cont.height_m + 1.5, oid)

    trucks = snapshot.get("trucks") or {}
    for oid, mid in _unique_ids(trucks).items():
        v = _finite(trucks[oid], ("x", "y", "yaw"))
        if v is None:
            continue
        b.box("trucks", mid, Box(oid, v["x"], v["y"], tt.bed_height_m / 2.0, v["yaw"], tt.length_m, tt.width_m,
                                 tt.bed_height_m, "truck"))
        b.text("truck_labels", mid, v["x"], v["y"], tt.bed_height_m + cont.height_m + 1.5, oid)

    containers = snapshot.get("containers") or {}
    for oid, mid in _unique_ids(containers).items():
        v = _finite(containers[oid], ("x", "y", "z", "yaw"))
        if v is None:
            continue
        b.box("containers", mid, Box(oid, v["x"], v["y"], v["z"] + cont.height_m / 2.0, v["yaw"], cont.length_m,
                                     cont.width_m, cont.height_m, "container"))
        b.text("container_labels", mid, v["x"], v["y"], v["z"] + cont.height_m + 0.8, oid)

    cranes = snapshot.get("cranes") or {}
    for i, crane in enumerate(world.cranes.values()):
        if crane.id not in cranes:
            continue
        v = _finite(cranes[crane.id], ("gantry", "trolley", "hoist", "twistlock"), {"gantry": crane.home_gantry_m})
        if v is None:
            continue
        gantry = v["gantry"] if crane.gantry is not None else crane.home_gantry_m
        for k, part in enumerate(drawing.portal_parts(world, crane, gantry)):
            b.box("crane_portals", CRANE_ID_STRIDE * i + k, drawing.box_to_map(crane, part))
        locked = v["twistlock"] >= 0.5
        for k, part in enumerate(drawing.hoist_parts(world, crane, gantry, v["trolley"], v["hoist"], locked)):
            b.box("crane_hoists", CRANE_ID_STRIDE * i + k, drawing.box_to_map(crane, part))
        x, y = crane.to_map(gantry, crane.portal.span_m / 2.0)
        b.text("crane_labels", i, x, y, crane.portal.height_m + drawing.GIRDER_DEPTH_M + 4.0, crane.id)
    return b.array()
