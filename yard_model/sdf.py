"""Gazebo worlds (SDFormat 1.9) generated from a yard world file.

The world file stays the one source of truth; the ``.sdf`` next to it in
``sim_worlds/`` is derived from it by this module (``python -m yard_model.sdf --all``,
or ``yard-autonomy gen-sdf``) and a test fails when a committed SDF differs from
what the generator makes now.

What the SDF holds, every model static and named ``<kind>_<id>`` so that tools
and tests can find them:

* ``<spherical_coordinates>`` equal to the datum (EARTH_WGS84, ENU, heading 0), so
  Gazebo's NavSat sensors report the same WGS84 positions as the built-in simulator;
* ``ground_plane`` (collision and visual) covering the yard;
* ``lane_<id>``: paved surface, centre line (amber for a two-way single track, white
  for one-way) and edge lines, as extruded ``<polyline>`` visuals;
* ``bay_<id>``: flat pads for truck and carrier bays; ``parking_<id>`` and
  ``charger_<id>`` (with a charger post) for the spots, ``inspection_<id>`` for customs inspection spots;
* ``rails_<rail group or crane id>`` and ``crane_<id>``: rails and portals (legs with
  collisions, girders, trolley, spreader) at the home gantry/trolley position, in
  the crane frame (the model's pose is the crane origin);
* ``border``: the state border; ``gnss_zone_<id>``: outlines of degraded-GNSS zones.

Output is deterministic: numbers are printed with a fixed number of decimals and
everything is emitted in world-file order, so the same world gives the same bytes.
No Gazebo system plugins are listed: gz sim then loads its default server systems.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from shapely.geometry import MultiPolygon, Polygon

from . import drawing
from .drawing import COLOURS, Box
from .loader import WorldError, load_world
from .world import World

SDF_VERSION = "1.9"
GENERATOR_COMMAND = "yard-autonomy gen-sdf"

# Heights [m] of the flat layers, bottom to top, so coplanar faces never flicker.
SURFACE_TOP_M = 0.01
MARKING_TOP_M = 0.015
PAD_TOP_M = 0.02
ZONE_TOP_M = 0.025
BORDER_TOP_M = 0.03
OUTLINE_WIDTH_M = 0.3
BORDER_WIDTH_M = 0.6


# ------------------------------------------------------------------ formatting
def _num(value: float, digits: int = 4) -> str:
    """Fixed-point number without trailing zeros; never '-0'."""
    r = round(float(value), digits)
    if r == 0.0:
        return "0"
    return f"{r:.{digits}f}".rstrip("0").rstrip(".")


def _nums(*values: float, digits: int = 4) -> str:
    return " ".join(_num(v, digits) for v in values)


def _pose(x: float, y: float, z: float, yaw: float = 0.0) -> str:
    return f"{_nums(x, y, z)} 0 0 {_num(yaw, 6)}"


def _rgba(key: str) -> str:
    return _nums(*COLOURS[key], digits=3)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = text
    return el


# ------------------------------------------------------------------ building blocks
def _static_model(world_el: ET.Element, name: str, pose: str = "0 0 0 0 0 0") -> ET.Element:
    """A static model with one link; returns the link."""
    model = _sub(world_el, "model", name=name)
    _sub(model, "static", "true")
    _sub(model, "pose", pose)
    return _sub(model, "link", name="link")


def _material(visual: ET.Element, colour: str) -> None:
    mat = _sub(visual, "material")
    _sub(mat, "ambient", _rgba(colour))
    _sub(mat, "diffuse", _rgba(colour))
    _sub(mat, "specular", "0.1 0.1 0.1 1")


def _box_visual(link: ET.Element, box: Box, collision: bool = False) -> None:
    pose = _pose(box.x, box.y, box.z, box.yaw)
    size = _nums(box.sx, box.sy, box.sz)
    visual = _sub(link, "visual", name=box.name)
    _sub(visual, "pose", pose)
    _sub(_sub(_sub(visual, "geometry"), "box"), "size", size)
    _material(visual, box.colour)
    if collision:
        col = _sub(link, "collision", name=f"{box.name}_collision")
        _sub(col, "pose", pose)
        _sub(_sub(_sub(col, "geometry"), "box"), "size", size)


def _polygons(geom) -> list[Polygon]:
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    return [geom] if isinstance(geom, Polygon) and not geom.is_empty else []


def _polyline_visual(link: ET.Element, name: str, geom, bottom_m: float, top_m: float, colour: str) -> None:
    """Extruded polygon(s) from ``bottom_m`` to ``top_m`` (SDF ``<polyline>`` geometry, one per part)."""
    for i, poly in enumerate(_polygons(geom)):
        visual = _sub(link, "visual", name=name if i == 0 else f"{name}_{i}")
        _sub(visual, "pose", _pose(0.0, 0.0, bottom_m))
        pl = _sub(_sub(visual, "geometry"), "polyline")
        for x, y in list(poly.exterior.coords)[:-1]:
            _sub(pl, "point", _nums(x, y))
        _sub(pl, "height", _num(top_m - bottom_m))
        _material(visual, colour)


def _segment_boxes(points: Sequence[Sequence[float]], prefix: str, width_m: float, bottom_m: float, top_m: float,
                   colour: str) -> list[Box]:
    """Thin boxes along a polyline (for outlines with few, long edges)."""
    boxes = []
    for i, (a, b) in enumerate(zip(points, points[1:])):
        dx, dy = b[0] - a[0], b[1] - a[1]
        length = float(np.hypot(dx, dy))
        if length < 1e-6:
            continue
        boxes.append(Box(f"{prefix}_{i}", (a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0, (bottom_m + top_m) / 2.0,
                         float(np.arctan2(dy, dx)), length + width_m, width_m, top_m - bottom_m, colour))
    return boxes


# ------------------------------------------------------------------ world sections
def _header(world_el: ET.Element, world: World) -> None:
    scene = _sub(world_el, "scene")
    _sub(scene, "ambient", "0.6 0.6 0.6 1")
    _sub(scene, "background", "0.7 0.8 0.9 1")
    _sub(scene, "shadows", "true")
    sun = _sub(world_el, "light", type="directional", name="sun")
    _sub(sun, "cast_shadows", "true")
    _sub(sun, "pose", "0 0 100 0 0 0")
    _sub(sun, "diffuse", "0.8 0.8 0.8 1")
    _sub(sun, "specular", "0.2 0.2 0.2 1")
    _sub(sun, "direction", "-0.5 0.1 -0.9")
    sph = _sub(world_el, "spherical_coordinates")
    _sub(sph, "surface_model", "EARTH_WGS84")
    _sub(sph, "world_frame_orientation", "ENU")
    _sub(sph, "latitude_deg", _num(world.datum.latitude_deg, 9))
    _sub(sph, "longitude_deg", _num(world.datum.longitude_deg, 9))
    _sub(sph, "elevation", _num(world.datum.altitude_m, 4))
    _sub(sph, "heading_deg", "0")


def _ground(world_el: ET.Element, world: World) -> None:
    x0, y0, x1, y1 = world.bounds
    link = _static_model(world_el, "ground_plane", _pose((x0 + x1) / 2.0, (y0 + y1) / 2.0, 0.0))
    size = _nums(x1 - x0, y1 - y0)
    col = _sub(link, "collision", name="collision")
    plane = _sub(_sub(col, "geometry"), "plane")
    _sub(plane, "normal", "0 0 1")
    _sub(plane, "size", size)
    visual = _sub(link, "visual", name="visual")
    plane = _sub(_sub(visual, "geometry"), "plane")
    _sub(plane, "normal", "0 0 1")
    _sub(plane, "size", size)
    mat = _sub(visual, "material")
    _sub(mat, "ambient", "0.45 0.47 0.42 1")
    _sub(mat, "diffuse", "0.45 0.47 0.42 1")


def _lanes(world_el: ET.Element, world: World) -> None:
    for lane in world.lanes.values():
        link = _static_model(world_el, f"lane_{lane.id}")
        _polyline_visual(link, "surface", drawing.strip_polygon(lane.points, lane.width_m), 0.0, SURFACE_TOP_M,
                         "asphalt")
        _polyline_visual(link, "centre_line", drawing.strip_polygon(lane.points, drawing.MARKING_WIDTH_M),
                         SURFACE_TOP_M, MARKING_TOP_M, drawing.lane_colour(lane))
        left, right = drawing.lane_edges(lane)
        for side, pts in (("edge_left", left), ("edge_right", right)):
            _polyline_visual(link, side, drawing.strip_polygon(pts, drawing.MARKING_WIDTH_M), SURFACE_TOP_M,
                             MARKING_TOP_M, "lane_edge")


def _pads(world_el: ET.Element, world: World) -> None:
    ct, tt = world.carrier_type, world.truck_type
    pad = PAD_TOP_M - SURFACE_TOP_M
    for bay in world.bays.values():
        length, width = (ct.length_m, ct.width_m) if bay.kind == "carrier" else (tt.length_m, tt.width_m)
        link = _static_model(world_el, f"bay_{bay.id}", _pose(bay.pose.x, bay.pose.y, 0.0, bay.pose.yaw))
        _box_visual(link, Box("pad", 0.0, 0.0, SURFACE_TOP_M + pad / 2.0, 0.0, length, width, pad,
                              f"{bay.kind}_bay"))
    for spot in world.spots.values():
        prefix = {"charging": "charger", "inspection": "inspection"}.get(spot.kind, "parking")
        link = _static_model(world_el, f"{prefix}_{spot.id}", _pose(spot.pose.x, spot.pose.y, 0.0, spot.pose.yaw))
        _box_visual(link, Box("pad", 0.0, 0.0, SURFACE_TOP_M + pad / 2.0, 0.0, ct.length_m, ct.width_m, pad,
                              spot.kind))
        if spot.kind == "charging":  # a post on the right of the stopped carrier, beside the lane
            lane_width = max((lane.width_m for lane in world.lanes.values() if spot.node in (lane.start, lane.end)),
                             default=ct.width_m)
            _box_visual(link, Box("post", 0.0, -(lane_width / 2.0 + 0.6), 0.9, 0.0, 0.6, 0.6, 1.8, "charger_post"),
                        collision=True)


def _cranes(world_el: ET.Element, world: World) -> None:
    for run in drawing.rail_runs(world):
        link = _static_model(world_el, f"rails_{run.name}", _pose(run.origin.x, run.origin.y, 0.0, run.origin.yaw))
        for box in drawing.rail_boxes(run):
            _box_visual(link, box)
    for crane in world.cranes.values():
        o = crane.origin
        link = _static_model(world_el, f"crane_{crane.id}", _pose(o.x, o.y, 0.0, o.yaw))
        for box in drawing.portal_parts(world, crane, crane.home_gantry_m):
            _box_visual(link, box, collision=box.name.startswith("leg_"))
        for box in drawing.hoist_parts(world, crane, crane.home_gantry_m, crane.home_trolley_m,
                                       crane.safe_height_empty_m, locked=False):
            _box_visual(link, box)


def _border_and_zones(world_el: ET.Element, world: World) -> None:
    link = _static_model(world_el, "border")
    for box in _segment_boxes(world.border.points, "segment", BORDER_WIDTH_M, ZONE_TOP_M, BORDER_TOP_M, "border"):
        _box_visual(link, box)
    for zone in world.gnss_zones:
        link = _static_model(world_el, f"gnss_zone_{zone.id}")
        ring = list(zone.polygon.exterior.coords)
        for box in _segment_boxes(ring, "edge", OUTLINE_WIDTH_M, PAD_TOP_M, ZONE_TOP_M, f"zone_{zone.mode}"):
            _box_visual(link, box)


# ------------------------------------------------------------------ public API
def world_to_sdf(world: World) -> str:
    """SDFormat text of a Gazebo world for ``world`` (deterministic for a given world)."""
    root = ET.Element("sdf", version=SDF_VERSION)
    world_el = _sub(root, "world", name=world.name)
    _header(world_el, world)
    _ground(world_el, world)
    _lanes(world_el, world)
    _pads(world_el, world)
    _cranes(world_el, world)
    _border_and_zones(world_el, world)
    ET.indent(root, space="  ")
    source = Path(world.source).name
    return (
        '<?xml version="1.0" ?>\n'
        f"<!-- Generated from sim_worlds/{source} by `{GENERATOR_COMMAND}` "
        f"(python -m yard_model.sdf). Do not edit: change the world file and regenerate. -->\n"
        + ET.tostring(root, encoding="unicode")
        + "\n"
    )


def write_sdf(world_path: str | Path, out_path: str | Path) -> Path:
    """Load a world file and write its SDF world to ``out_path``; returns the path written."""
    out = Path(out_path)
    out.write_text(world_to_sdf(load_world(world_path)), encoding="utf-8")
    return out


def default_worlds_dir() -> Path:
    """``sim_worlds/`` of a source checkout or editable install (next to this package)."""
    return Path(__file__).resolve().parents[1] / "sim_worlds"


def world_files(worlds_dir: Path) -> list[Path]:
    return sorted(p for p in worlds_dir.glob("*.yaml") if p.is_file())


def stale_sdfs(worlds_dir: Path) -> list[Path]:
    """World files whose ``.sdf`` beside them is missing or differs from the generator's output."""
    stale = []
    for world_path in world_files(worlds_dir):
        sdf_path = world_path.with_suffix(".sdf")
        if not sdf_path.is_file() or sdf_path.read_text(encoding="utf-8") != world_to_sdf(load_world(world_path)):
            stale.append(world_path)
    return stale


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m yard_model.sdf",
        description="Generate Gazebo SDFormat worlds from yard world files (sim_worlds/*.yaml).",
    )
    parser.add_argument("world", nargs="?", type=Path, help="world file (.yaml) to convert")
    parser.add_argument("-o", "--output", type=Path,
                        help="SDF file to write (default: the world file with the suffix .sdf)")
    parser.add_argument("--all", action="store_true",
                        help="regenerate <name>.sdf for every <name>.yaml in --worlds-dir")
    parser.add_argument("--worlds-dir", type=Path, default=default_worlds_dir(),
                        help="folder of world files for --all and --check (default: %(default)s)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a committed SDF is missing or out of date")
    args = parser.parse_args(None if argv is None else list(argv))
    if args.world is None and not (args.all or args.check):
        parser.error("give a world file, --all or --check")
    if args.world is not None and (args.all or args.check):
        parser.error("a world file cannot be combined with --all or --check")
    try:
        if args.check:
            stale = stale_sdfs(args.worlds_dir)
            for path in stale:
                print(f"{path.with_suffix('.sdf')} is out of date: run `{GENERATOR_COMMAND}`", file=sys.stderr)
            return 1 if stale else 0
        if args.all:
            worlds = world_files(args.worlds_dir)
            if not worlds:
                print(f"no world files in {args.worlds_dir}", file=sys.stderr)
                return 1
            for world_path in worlds:
                print(write_sdf(world_path, world_path.with_suffix(".sdf")))
            return 0
        print(write_sdf(args.world, args.output or args.world.with_suffix(".sdf")))
        return 0
    except WorldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
