"""Load and validate a world file into a :class:`~yard_model.world.World`.

Validation happens in two passes and stops at the first problem with a
message that names the file, the key path and why (never a traceback):

1. structure, against ``schemas/world.schema.json`` (types, ranges, required
   and unknown keys);
2. meaning: references between objects, unique ids, lane geometry that the
   carriers can drive, cranes that reach the bays they serve, clearances,
   stations on their country's side of the border, and a lane network in
   which every bay and spot reaches every other.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from shapely.geometry import Polygon

from . import geometry
from .geodesy import Datum
from .lane_graph import headings_agree, tight_connections, unreachable_places
from .world import (
    AxisLimits,
    Bay,
    Border,
    CarrierType,
    ContainerType,
    Crane,
    GnssZone,
    Lane,
    LaneNode,
    Portal,
    Pose2D,
    Spot,
    Station,
    TruckType,
    World,
)

NODE_TOLERANCE_M = 0.05
"""A bay or spot must sit this close to its lane node."""

BAY_YAW_TOLERANCE_RAD = math.radians(5.0)
"""A carrier bay's yaw must match the lane through its node this closely."""

HEIGHT_MARGIN_M = 0.5
"""Clearance a safe height must keep above what it passes over."""


class WorldError(ValueError):
    """A world file is unreadable or invalid; the message says where and why."""


@lru_cache(maxsize=1)
def world_schema() -> dict[str, Any]:
    """The JSON Schema of world files, shipped in the package."""
    text = resources.files("yard_model").joinpath("schemas/world.schema.json").read_text()
    return json.loads(text)


def _path_str(path: Iterable[Any], doc: Any) -> str:
    """Render a JSON path like ``lanes[3] (id 'x').width_m`` for messages."""
    out = ""
    node = doc
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            try:
                node = node[part]
                if isinstance(node, dict) and "id" in node:
                    out += f" (id '{node['id']}')"
            except (IndexError, KeyError, TypeError):
                node = None
        else:
            out += f".{part}" if out else str(part)
            try:
                node = node[part]
            except (KeyError, TypeError):
                node = None
    return out or "(top level)"


def _schema_message(err: jsonschema.ValidationError, doc: Any) -> str:
    where = _path_str(err.absolute_path, doc)
    if err.validator == "additionalProperties":
        return f"{where}: {err.message} (check the spelling against docs/world_format.md)"
    if err.validator == "required":
        return f"{where}: {err.message}"
    return f"{where}: {err.message}"


def _first_non_finite(doc: Any, path: tuple[Any, ...] = ()) -> tuple[tuple[Any, ...], Any] | None:
    """Path and value of the first number that is NaN, infinite or too large for a float.

    JSON Schema treats ``.nan`` and ``.inf`` as numbers and NaN passes every
    range check, so they would otherwise reach the geometry and fail there
    with a message that names neither the key nor the reason.
    """
    if isinstance(doc, bool):
        return None
    if isinstance(doc, float):
        return None if math.isfinite(doc) else (path, doc)
    if isinstance(doc, int):
        return None if abs(doc) < 1e300 else (path, doc)
    if isinstance(doc, dict):
        items: Iterable[tuple[Any, Any]] = doc.items()
    elif isinstance(doc, list):
        items = enumerate(doc)
    else:
        return None
    for key, value in items:
        found = _first_non_finite(value, (*path, key))
        if found is not None:
            return found
    return None


def parse_world(doc: Any, source: str = "<memory>") -> World:
    """Validate a parsed world document and build the World; raises WorldError."""
    bad = _first_non_finite(doc)
    if bad is not None:
        shown = repr(bad[1]) if len(repr(bad[1])) <= 24 else f"{repr(bad[1])[:12]}...({len(repr(bad[1]))} digits)"
        raise WorldError(f"{source}: {_path_str(bad[0], doc)}: {shown} is not a finite number")
    validator = jsonschema.Draft202012Validator(world_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: (len(list(e.absolute_path)), str(e.absolute_path)))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise WorldError(f"{source}: {_schema_message(best, doc)}")
    try:
        return _Builder(doc, source).build()
    except WorldError:
        raise
    except Exception as exc:  # a bug in a check must still name the file
        raise WorldError(f"{source}: cannot build the world: {exc}") from exc


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys in a mapping.

    PyYAML silently keeps the last of two equal keys, so a world file with two
    ``lanes:`` sections would quietly lose the first one.
    """

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # unhashable key: let PyYAML report it
                continue
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"duplicate key {key!r} (first defined at line {first.line + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def load_world(path: str | Path) -> World:
    """Read, validate and build a world from a YAML (or JSON) file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorldError(f"{p}: cannot read world file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise WorldError(f"{p}: not a UTF-8 text file (byte {exc.start}: {exc.reason})") from exc
    try:
        doc = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise WorldError(f"{p}: not valid YAML{where}: {problem}") from exc
    if not isinstance(doc, dict):
        raise WorldError(f"{p}: a world file must be a mapping of keys, got {type(doc).__name__}")
    return parse_world(doc, str(p))


class _Builder:
    """Second pass: cross-references and physical sense."""

    def __init__(self, doc: dict[str, Any], source: str):
        self.doc = doc
        self.source = source

    def fail(self, where: str, why: str) -> None:
        raise WorldError(f"{self.source}: {where}: {why}")

    def where(self, section: str, ident: str) -> str:
        """Key path of the item with id ``ident`` in a top-level list, e.g. ``cranes[1] (id 'x')``."""
        for i, item in enumerate(self.doc[section]):
            if item.get("id") == ident:
                return f"{section}[{i}] (id '{ident}')"
        return f"{section} (id '{ident}')"

    def bay_where(self, station_id: str, bay_id: str) -> str:
        """Key path of a bay inside its station, e.g. ``stations[0] (id 's').truck_bays[1] (id 'b')``."""
        station = self.where("stations", station_id)
        for raw in self.doc["stations"]:
            if raw["id"] != station_id:
                continue
            for kind in ("truck_bays", "carrier_bays"):
                for j, bay in enumerate(raw[kind]):
                    if bay["id"] == bay_id:
                        return f"{station}.{kind}[{j}] (id '{bay_id}')"
        return station

    def unique(self, section: str, items: list[dict[str, Any]], seen: dict[str, str]) -> None:
        for i, item in enumerate(items):
            ident = item["id"]
            if ident in seen:
                self.fail(f"{section}[{i}].id", f"'{ident}' is already used by {seen[ident]}")
            seen[ident] = f"{section}[{i}]"

    def build(self) -> World:
        d = self.doc
        datum = Datum(**d["datum"])
        carrier_type = CarrierType(
            **{k: (tuple(v) if isinstance(v, list) else v) for k, v in d["carrier_type"].items()}
        )
        truck_type = TruckType(**d["truck_type"])
        container_type = ContainerType(**d["container_type"])
        self.check_carrier_type(carrier_type)

        nodes: dict[str, LaneNode] = {}
        seen: dict[str, str] = {}
        self.unique("lane_nodes", d["lane_nodes"], seen)
        for n in d["lane_nodes"]:
            nodes[n["id"]] = LaneNode(n["id"], float(n["x"]), float(n["y"]))

        lanes = self.build_lanes(nodes, carrier_type)
        bays, stations = self.build_stations(nodes, lanes)
        cranes = self.build_cranes(stations, bays, carrier_type, truck_type, container_type)
        spots = self.build_spots(nodes, lanes, stations)
        zones = self.build_zones()
        border = self.build_border(stations, bays)
        self.check_inspection_sides(spots, stations, border)

        world = World(
            name=d["name"],
            description=d.get("description", ""),
            source=self.source,
            datum=datum,
            carrier_type=carrier_type,
            truck_type=truck_type,
            container_type=container_type,
            nodes=nodes,
            lanes=lanes,
            stations=stations,
            bays=bays,
            cranes=cranes,
            spots=spots,
            gnss_zones=zones,
            border=border,
        )
        bad = unreachable_places(world)
        if bad:
            pairs = ", ".join(f"{a}->{b}" for a, b in bad[:5])
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            self.fail("lanes", f"a carrier cannot drive between these places: {pairs}{more} "
                      "(check lane directions and that lanes meet at nodes with matching headings)")
        tight = tight_connections(world)
        if tight:
            what, why = tight[0]
            more = f" (and {len(tight) - 1} more)" if len(tight) > 1 else ""
            self.fail("lanes", f"a carrier cannot drive {what}{more}: {why} "
                      "(lanes must meet at a node with the same heading, or turn there through a corner of at least "
                      f"the deck centre's turning radius {world.carrier_type.min_deck_turning_radius_m:.2f} m)")
        return world

    # ------------------------------------------------------------- sections
    def check_carrier_type(self, c: CarrierType) -> None:
        if c.wheelbase_m >= c.length_m:
            self.fail("carrier_type.wheelbase_m", f"{c.wheelbase_m} m must be shorter than length_m {c.length_m} m")
        if c.min_turning_radius_m < c.wheelbase_m / math.tan(math.radians(60)):
            self.fail("carrier_type.min_turning_radius_m",
                      f"{c.min_turning_radius_m} m needs a steering angle over 60 degrees")
        if c.emergency_deceleration_mps2 < c.max_deceleration_mps2:
            self.fail("carrier_type.emergency_deceleration_mps2", "must be at least max_deceleration_mps2")
        for key in ("gnss_antenna_m", "imu_m"):
            x, y, _ = getattr(c, key)
            if abs(x) > c.length_m / 2 or abs(y) > c.width_m / 2:
                self.fail(f"carrier_type.{key}", f"({x}, {y}) lies outside the carrier footprint")

    def build_lanes(self, nodes: dict[str, LaneNode], ct: CarrierType) -> dict[str, Lane]:
        lanes: dict[str, Lane] = {}
        self.unique("lanes", self.doc["lanes"], {})
        for i, raw in enumerate(self.doc["lanes"]):
            where = f"lanes[{i}] (id '{raw['id']}')"
            for key in ("from", "to"):
                if raw[key] not in nodes:
                    self.fail(f"{where}.{key}", f"unknown lane node '{raw[key]}'")
            if raw["from"] == raw["to"] and not raw.get("via"):
                self.fail(where, "a lane from a node to itself needs via points")
            a, b = nodes[raw["from"]], nodes[raw["to"]]
            corners = [(a.x, a.y), *[tuple(map(float, p)) for p in raw.get("via", [])], (b.x, b.y)]
            radius = float(raw.get("corner_radius_m", 0.0))
            try:
                pts, curvature = geometry.fillet(corners, radius)
            except geometry.FilletError as exc:
                self.fail(f"{where}.via", str(exc))
            if len(corners) > 2:
                if radius <= 0.0:
                    self.fail(f"{where}.corner_radius_m", "a lane with via points needs a corner radius > 0")
                if radius + 1e-9 < ct.min_deck_turning_radius_m:
                    self.fail(f"{where}.corner_radius_m",
                              f"{radius:g} m is tighter than the carriers' minimum turning radius "
                              f"{ct.min_deck_turning_radius_m:.2f} m (deck centre; rear axle "
                              f"{ct.min_turning_radius_m:g} m)")
            if raw["speed_limit_mps"] > ct.max_speed_mps + 1e-9:
                self.fail(f"{where}.speed_limit_mps",
                          f"{raw['speed_limit_mps']} m/s exceeds carrier_type.max_speed_mps {ct.max_speed_mps}")
            if raw["width_m"] < ct.width_m:
                self.fail(f"{where}.width_m", f"{raw['width_m']} m is narrower than a carrier ({ct.width_m} m)")
            lanes[raw["id"]] = Lane(
                id=raw["id"],
                start=raw["from"],
                end=raw["to"],
                points=pts,
                width_m=float(raw["width_m"]),
                two_way=raw["direction"] == "two_way",
                speed_limit_mps=float(raw["speed_limit_mps"]),
                closed=bool(raw.get("closed", False)),
                corner_radius_m=radius,
                curvature=curvature,
            )
        used = {lane.start for lane in lanes.values()} | {lane.end for lane in lanes.values()}
        for n in nodes:
            if n not in used:
                self.fail(self.where("lane_nodes", n), "no lane starts or ends at this node")
        return lanes

    def node_pose(self, where: str, node_id: str, yaw_deg: float, nodes, lanes) -> Pose2D:
        if node_id not in nodes:
            self.fail(f"{where}.node", f"unknown lane node '{node_id}'")
        n = nodes[node_id]
        yaw = geometry.wrap_angle(math.radians(yaw_deg))
        headings = []
        for lane in lanes.values():
            if lane.end == node_id:
                headings.append(lane.end_heading)
                if lane.two_way:
                    headings.append(geometry.wrap_angle(lane.start_heading + math.pi))
            if lane.start == node_id:
                headings.append(lane.start_heading)
                if lane.two_way:
                    headings.append(geometry.wrap_angle(lane.end_heading + math.pi))
        if not any(headings_agree(h, yaw, BAY_YAW_TOLERANCE_RAD) for h in headings):
            seen = ", ".join(f"{math.degrees(h):.1f}" for h in headings)
            self.fail(f"{where}.yaw_deg", f"{yaw_deg} deg does not match any lane through node '{node_id}' "
                      f"(lane headings there: {seen} deg)")
        return Pose2D(n.x, n.y, yaw)

    def build_stations(self, nodes, lanes) -> tuple[dict[str, Bay], dict[str, Station]]:
        bays: dict[str, Bay] = {}
        stations: dict[str, Station] = {}
        self.unique("stations", self.doc["stations"], {})
        seen_bays: dict[str, str] = {}
        seen_nodes: dict[str, str] = {}
        for i, raw in enumerate(self.doc["stations"]):
            where = f"stations[{i}] (id '{raw['id']}')"
            self.unique(f"{where}.truck_bays", raw["truck_bays"], seen_bays)
            self.unique(f"{where}.carrier_bays", raw["carrier_bays"], seen_bays)
            for tb in raw["truck_bays"]:
                pose = Pose2D(float(tb["x"]), float(tb["y"]), geometry.wrap_angle(math.radians(tb["yaw_deg"])))
                bays[tb["id"]] = Bay(tb["id"], "truck", raw["id"], pose, None)
            for j, cb in enumerate(raw["carrier_bays"]):
                w = f"{where}.carrier_bays[{j}] (id '{cb['id']}')"
                if cb["node"] in seen_nodes:
                    self.fail(f"{w}.node", f"node '{cb['node']}' already holds {seen_nodes[cb['node']]}")
                seen_nodes[cb["node"]] = f"bay '{cb['id']}'"
                pose = self.node_pose(w, cb["node"], cb["yaw_deg"], nodes, lanes)
                bays[cb["id"]] = Bay(cb["id"], "carrier", raw["id"], pose, cb["node"])
            stations[raw["id"]] = Station(
                id=raw["id"],
                name=raw["name"],
                country=raw["country"],
                truck_bays=tuple(tb["id"] for tb in raw["truck_bays"]),
                carrier_bays=tuple(cb["id"] for cb in raw["carrier_bays"]),
                cranes=tuple(c["id"] for c in self.doc["cranes"] if c["station"] == raw["id"]),
            )
        self._bay_nodes = seen_nodes
        self._bay_ids = set(bays)
        return bays, stations

    def axis(self, raw: dict[str, Any], where: str) -> AxisLimits:
        if raw["max_m"] <= raw["min_m"]:
            self.fail(f"{where}.max_m", f"{raw['max_m']} must be greater than min_m {raw['min_m']}")
        return AxisLimits(**{k: float(v) for k, v in raw.items()})

    def build_cranes(self, stations, bays, ct: CarrierType, tt: TruckType, cont: ContainerType) -> dict[str, Crane]:
        cranes: dict[str, Crane] = {}
        self.unique("cranes", self.doc["cranes"], {})
        for i, raw in enumerate(self.doc["cranes"]):
            where = f"cranes[{i}] (id '{raw['id']}')"
            if raw["station"] not in stations:
                self.fail(f"{where}.station", f"unknown station '{raw['station']}'")
            axes = raw["axes"]
            gantry = self.axis(axes["gantry"], f"{where}.axes.gantry") if "gantry" in axes else None
            trolley = self.axis(axes["trolley"], f"{where}.axes.trolley")
            hoist = self.axis(axes["hoist"], f"{where}.axes.hoist")
            portal = Portal(**{k: float(v) for k, v in raw["portal"].items()})
            o = raw["origin"]
            origin = Pose2D(float(o["x"]), float(o["y"]), geometry.wrap_angle(math.radians(o["yaw_deg"])))
            if trolley.min_m < portal.leg_size_m or trolley.max_m > portal.span_m - portal.leg_size_m:
                self.fail(f"{where}.axes.trolley", f"travel [{trolley.min_m}, {trolley.max_m}] m runs into the "
                          f"legs (span {portal.span_m} m, legs {portal.leg_size_m} m)")
            if hoist.max_m > portal.height_m:
                self.fail(f"{where}.axes.hoist.max_m",
                          f"{hoist.max_m} m is above the portal height {portal.height_m} m")
            top = max(ct.deck_height_m, tt.bed_height_m)
            need_empty = top + cont.height_m + HEIGHT_MARGIN_M
            need_loaded = top + 2 * cont.height_m + HEIGHT_MARGIN_M
            if raw["safe_height_empty_m"] < need_empty:
                self.fail(f"{where}.safe_height_empty_m", f"{raw['safe_height_empty_m']} m does not clear a container "
                          f"on a truck or carrier: needs at least {need_empty:.2f} m")
            if raw["safe_height_loaded_m"] < need_loaded:
                self.fail(f"{where}.safe_height_loaded_m", f"{raw['safe_height_loaded_m']} m lets a hanging container "
                          f"hit one below: needs at least {need_loaded:.2f} m")
            for key in ("safe_height_empty_m", "safe_height_loaded_m"):
                if raw[key] > hoist.max_m:
                    self.fail(f"{where}.{key}", f"{raw[key]} m is above hoist travel ({hoist.max_m} m)")
            home = raw["home"]
            home_g = float(home.get("gantry_m", gantry.min_m if gantry else 0.0))
            home_t = float(home["trolley_m"])
            if gantry and not gantry.min_m <= home_g <= gantry.max_m:
                self.fail(f"{where}.home.gantry_m", f"{home_g} m is outside gantry travel")
            if gantry is None and home_g != 0.0:
                self.fail(f"{where}.home.gantry_m", "a crane without a gantry axis stands at gantry 0 m: "
                          "remove home.gantry_m or add axes.gantry")
            if not trolley.min_m <= home_t <= trolley.max_m:
                self.fail(f"{where}.home.trolley_m", f"{home_t} m is outside trolley travel")
            serves = tuple(raw["serves"])
            crane = Crane(
                id=raw["id"], station=raw["station"], origin=origin, portal=portal, gantry=gantry, trolley=trolley,
                hoist=hoist, rail_group=raw.get("rail_group"), min_separation_m=float(raw.get("min_separation_m", 0.0)),
                safe_height_empty_m=float(raw["safe_height_empty_m"]),
                safe_height_loaded_m=float(raw["safe_height_loaded_m"]),
                spreader_mass_kg=float(raw["spreader_mass_kg"]), twistlock_time_s=float(raw["twistlock_time_s"]),
                serves=serves, home_gantry_m=home_g, home_trolley_m=home_t,
            )
            for j, bay_id in enumerate(serves):
                w = f"{where}.serves[{j}]"
                if bay_id in serves[:j]:
                    self.fail(w, f"bay '{bay_id}' is listed twice")
                if bay_id not in bays:
                    self.fail(w, f"unknown bay '{bay_id}'")
                bay = bays[bay_id]
                if bay.station != raw["station"]:
                    self.fail(w, f"bay '{bay_id}' belongs to station '{bay.station}', not '{raw['station']}'")
                g, t = crane.from_map(bay.pose.x, bay.pose.y)
                g_ok = (gantry.min_m - 1e-6 <= g <= gantry.max_m + 1e-6) if gantry else abs(g) < 0.05
                if not g_ok or not trolley.min_m - 1e-6 <= t <= trolley.max_m + 1e-6:
                    self.fail(w, f"bay '{bay_id}' is out of reach: it is at gantry {g:.2f} m, trolley {t:.2f} m")
                if bay.kind == "carrier" and not headings_agree(bay.pose.yaw, origin.yaw, BAY_YAW_TOLERANCE_RAD) and \
                        not headings_agree(bay.pose.yaw, origin.yaw + math.pi, BAY_YAW_TOLERANCE_RAD):
                    self.fail(w, f"carrier bay '{bay_id}' is not parallel to the crane rails")
            cranes[crane.id] = crane
        self.check_rail_groups(cranes)
        for sid, st in stations.items():
            for bay_id in st.truck_bays + st.carrier_bays:
                if not any(bay_id in c.serves for c in cranes.values()):
                    self.fail(self.bay_where(sid, bay_id),
                              f"no crane serves bay '{bay_id}' (list it in a crane's serves)")
            if not st.cranes:
                self.fail(self.where("stations", sid), "a station needs at least one crane")
        return cranes

    def check_rail_groups(self, cranes: dict[str, Crane]) -> None:
        groups: dict[str, list[Crane]] = {}
        for c in cranes.values():
            if c.rail_group:
                groups.setdefault(c.rail_group, []).append(c)
        for gid, members in groups.items():
            first = members[0]
            for c in members[1:]:
                if c.origin != first.origin or c.portal.span_m != first.portal.span_m:
                    self.fail(f"{self.where('cranes', c.id)}.rail_group",
                              f"'{gid}' is shared with '{first.id}' but the rails differ (origin or span)")
                if c.gantry is None or first.gantry is None:
                    self.fail(f"{self.where('cranes', c.id)}.rail_group", "cranes on shared rails need a gantry axis")
            for c in members:
                if c.min_separation_m < c.portal.length_m + c.portal.leg_size_m:
                    self.fail(f"{self.where('cranes', c.id)}.min_separation_m",
                              f"{c.min_separation_m} m lets its legs touch a neighbour's "
                              f"(needs at least {c.portal.length_m + c.portal.leg_size_m:g} m)")
            ordered = sorted(members, key=lambda c: c.home_gantry_m)
            for a, b in zip(ordered, ordered[1:]):
                need = max(a.min_separation_m, b.min_separation_m)
                if b.home_gantry_m - a.home_gantry_m < need:
                    self.fail(f"{self.where('cranes', b.id)}.home.gantry_m",
                              f"{b.home_gantry_m:g} m is {b.home_gantry_m - a.home_gantry_m:g} m from '{a.id}' "
                              f"(home {a.home_gantry_m:g} m) on shared rails '{gid}': needs at least {need:g} m")

    def build_spots(self, nodes, lanes, stations) -> dict[str, Spot]:
        spots: dict[str, Spot] = {}
        seen: dict[str, str] = {}
        sections = (("parking", "parking"), ("chargers", "charging"), ("inspection", "inspection"))
        for section, _ in sections:
            self.unique(section, self.doc.get(section, []), seen)
        for section, kind in sections:
            for i, raw in enumerate(self.doc.get(section, [])):
                where = f"{section}[{i}] (id '{raw['id']}')"
                if kind != "charging" and "power_kw" in raw:
                    self.fail(f"{where}.power_kw", f"a {kind} spot has no charger: list charging spots in 'chargers'")
                if kind != "inspection" and "station" in raw:
                    self.fail(f"{where}.station", "only an inspection spot belongs to a station")
                if kind == "inspection" and raw["station"] not in stations:
                    self.fail(f"{where}.station", f"unknown station '{raw['station']}'")
                if raw["id"] in self._bay_ids:
                    self.fail(f"{where}.id", f"'{raw['id']}' is already used by a bay")
                if raw["node"] in self._bay_nodes:
                    self.fail(f"{where}.node", f"node '{raw['node']}' already holds {self._bay_nodes[raw['node']]}")
                self._bay_nodes[raw["node"]] = f"{kind} spot '{raw['id']}'"
                pose = self.node_pose(where, raw["node"], raw["yaw_deg"], nodes, lanes)
                spots[raw["id"]] = Spot(raw["id"], kind, raw["node"], pose, float(raw.get("power_kw", 0.0)),
                                        raw.get("station"))
        return spots

    def check_inspection_sides(self, spots: dict[str, Spot], stations: dict[str, Station], border) -> None:
        """An inspection spot lies on its station's side of the border: its customs inspect there."""
        for i, raw in enumerate(self.doc.get("inspection", [])):
            s = spots[raw["id"]]
            side = border.country_at(s.pose.x, s.pose.y)
            if side != stations[s.station].country:
                self.fail(f"inspection[{i}] (id '{raw['id']}').node",
                          f"lies on the {side} side of the border, not on station '{s.station}''s "
                          f"({stations[s.station].country})")

    def build_zones(self) -> tuple[GnssZone, ...]:
        zones = []
        self.unique("gnss_zones", self.doc["gnss_zones"], {})
        for i, raw in enumerate(self.doc["gnss_zones"]):
            where = f"gnss_zones[{i}] (id '{raw['id']}')"
            poly = Polygon([tuple(p) for p in raw["polygon"]])
            if not poly.is_valid or poly.area <= 0.0:
                self.fail(f"{where}.polygon", "not a simple polygon with an area (edges cross or points are collinear)")
            jump = tuple(float(v) for v in raw.get("multipath_jump_m", (0.0, 0.0)))
            if jump[1] < jump[0]:
                self.fail(f"{where}.multipath_jump_m", f"max {jump[1]} is below min {jump[0]}")
            rate = float(raw.get("multipath_rate_hz", 0.0))
            if rate > 0 and jump[1] <= 0:
                self.fail(f"{where}.multipath_jump_m", "multipath_rate_hz > 0 needs a jump range")
            zones.append(GnssZone(raw["id"], poly, raw["mode"], rate, jump, raw["reason"]))
        return tuple(zones)

    def build_border(self, stations, bays) -> Border:
        raw = self.doc["border"]
        if raw["left"] == raw["right"]:
            self.fail("border", "left and right must be different countries")
        border = Border(tuple(tuple(map(float, p)) for p in raw["points"]), raw["left"], raw["right"])
        for sid, st in stations.items():
            if st.country not in (border.left, border.right):
                self.fail(f"{self.where('stations', sid)}.country", f"'{st.country}' is on neither side of the border "
                          f"({border.left}/{border.right})")
            for bay_id in st.truck_bays + st.carrier_bays:
                b = bays[bay_id]
                side = border.country_at(b.pose.x, b.pose.y)
                if side != st.country:
                    self.fail(self.bay_where(sid, bay_id), f"bay '{bay_id}' of a {st.country} station lies on the "
                              f"{side} side of the border")
        return border

