"""World model: loading both worlds, geometry queries, the Youyiguan requirements, and validation errors.

Every broken world must fail with ``WorldError`` (never another exception type) whose message names
the file, the key path of the offending key and why it is wrong.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Polygon

from yard_model import GNSS_MODES, World, WorldError, load_world, parse_world
from yard_model.lane_graph import Traversal, place_graph

WORLDS = Path(__file__).resolve().parents[1] / "sim_worlds"


@pytest.fixture(scope="module")
def small_doc() -> dict[str, Any]:
    return yaml.safe_load((WORLDS / "small_yard.yaml").read_text())


# ====================================================================== loading
WORLD_FIXTURES = {"small_yard": "small_world", "youyiguan": "youyiguan_world",
                  "youyiguan_single_track": "single_track_world"}


@pytest.mark.parametrize("name", sorted(WORLD_FIXTURES))
def test_every_shipped_world_loads(request, name):
    world = request.getfixturevalue(WORLD_FIXTURES[name])
    assert world.name == name
    assert world.source.endswith(f"{name}.yaml")
    assert world.lanes and world.bays and world.cranes and world.spots and world.gnss_zones
    for lane in world.lanes.values():
        assert lane.start in world.nodes and lane.end in world.nodes
        assert lane.points.shape[1] == 2 and lane.length_m > 0
    for bay in world.carrier_bays():
        assert (bay.pose.x, bay.pose.y) == (world.nodes[bay.node].x, world.nodes[bay.node].y)


def test_small_yard_contents(small_world):
    w = small_world
    assert sorted(w.stations) == ["cn_station", "vn_station"]
    assert len(w.cranes) == 3 and len(w.carrier_bays()) == 3 and len(w.truck_bays()) == 4
    assert [s.id for s in w.parking_spots()] == ["cn_park_1", "cn_park_2", "vn_park_1", "vn_park_2"]
    assert [(s.id, s.power_kw) for s in w.charging_spots()] == [("cn_charger_1", 150.0), ("vn_charger_1", 150.0)]
    assert w.stations["cn_station"].cranes == ("cn_crane_1", "cn_crane_2")
    assert {z.mode for z in w.gnss_zones} == {"rtk_float", "single", "none"}
    assert w.lanes["link"].two_way and w.lanes["link"].closed
    assert not w.lanes["cn_entry"].two_way
    assert w.carrier_type.max_steering_angle_rad == pytest.approx(math.atan(8.0 / 12.0))


@pytest.mark.parametrize("name", sorted(WORLD_FIXTURES))
def test_lanes_are_drivable_by_the_carriers(request, name):
    """Every lane's curvature stays within the carriers' turning radius (what the corner check promises)."""
    world = request.getfixturevalue(WORLD_FIXTURES[name])
    from yard_model import geometry

    limit = 1.0 / world.carrier_type.min_deck_turning_radius_m
    for lane in world.lanes.values():
        assert geometry.max_curvature(lane.points) <= limit * 1.01, lane.id
        assert lane.width_m >= world.carrier_type.width_m


# ====================================================================== geometry queries
@pytest.mark.parametrize(
    "x, y, zone, mode",
    [
        (0.0, 0.0, "border_canopy", "none"),
        (15.0, 0.0, "border_canopy", "none"),  # on the edge counts as inside
        (-20.0, 200.0, "cn_crane_portals", "rtk_float"),
        (20.0, -250.0, "vn_crane_portals", "rtk_float"),
        (25.0, 55.0, "office", "single"),
        (0.0, 100.0, None, "rtk_fixed"),
        (-300.0, 500.0, None, "rtk_fixed"),
    ],
)
def test_gnss_zone_at(small_world, x, y, zone, mode):
    z = small_world.gnss_zone_at(x, y)
    assert (z.id if z else None) == zone
    assert (z.mode if z else "rtk_fixed") == mode


def test_gnss_zone_at_prefers_the_worst_overlapping_zone(small_world):
    office = next(z for z in small_world.gnss_zones if z.id == "office")
    square = Polygon([(30, 60), (60, 60), (60, 90), (30, 90)])
    shadow = dataclasses.replace(office, id="shadow", mode="none", polygon=square)
    world = dataclasses.replace(small_world, gnss_zones=(*small_world.gnss_zones, shadow))
    assert world.gnss_zone_at(35.0, 65.0).id == "shadow"  # in both: 'none' is worse than 'single'
    assert world.gnss_zone_at(20.0, 50.0).id == "office"
    assert GNSS_MODES.index("none") > GNSS_MODES.index("single")


@pytest.mark.parametrize(
    "x, y, country",
    [(0.0, 100.0, "CN"), (0.0, -100.0, "VN"), (300.0, 10.0, "CN"), (300.0, 5.0, "VN"),
     (-300.0, -5.0, "CN"), (-300.0, -12.0, "VN"), (2000.0, 200.0, "CN"), (-2000.0, -200.0, "VN")],
)
def test_country_at(small_world, x, y, country):
    # the small_yard border runs from (-400, -12) through (0, 0) to (400, 12), CN to the left (north)
    assert small_world.border.country_at(x, y) == country


@settings(max_examples=200, deadline=None)
@given(st.floats(-3000.0, 3000.0), st.floats(-3000.0, 3000.0))
def test_country_at_is_the_side_of_the_nearest_border_segment(youyiguan_world, x, y):
    # country_at computes with plain floats for speed; it must agree with the projection helper
    from yard_model.geometry import project_onto_polyline

    b = youyiguan_world.border
    _, lateral, _ = project_onto_polyline(np.asarray(b.points), (x, y))
    if abs(lateral) > 1e-6:  # exactly on the line either answer is fine
        assert b.country_at(x, y) == (b.left if lateral > 0 else b.right)


def test_every_bay_lies_in_its_stations_country(youyiguan_world):
    w = youyiguan_world
    for bay in w.bays.values():
        assert w.border.country_at(bay.pose.x, bay.pose.y) == w.stations[bay.station].country


@pytest.mark.parametrize(
    "bay, cranes",
    [("cn_bay_a1", ["cn_crane_1"]), ("cn_truck_12", ["cn_crane_2"]), ("vn_truck_12", ["vn_crane_1"]),
     ("cn_park_1", [])],
)
def test_cranes_serving_small_yard(small_world, bay, cranes):
    assert [c.id for c in small_world.cranes_serving(bay)] == cranes


def test_cranes_serving_youyiguan_overlap(youyiguan_world):
    """Middle truck bays are served by both cranes of a station, so one crane can stand in for the other."""
    assert [c.id for c in youyiguan_world.cranes_serving("cn_truck_12")] == ["cn_crane_1", "cn_crane_2"]
    assert [c.id for c in youyiguan_world.cranes_serving("vn_bay_b2")] == ["vn_crane_2"]


@pytest.mark.parametrize(
    "x, y, lanes",
    [
        (-10.0, 200.0, {"cn_transfer_a0", "cn_transfer_a1"}),  # a carrier bay node: both lanes meet there
        (-10.0, 230.0, {"cn_transfer_a1"}),
        (-12.2, 230.0, {"cn_transfer_a1"}),  # inside the 4.5 m width
        (-12.3, 230.0, set()),  # just outside
        (0.0, 0.0, {"link"}),
        (0.0, 120.0, {"link", "cn_entry", "cn_ret_3"}),  # the hub joins three lanes
        (100.0, 100.0, set()),
    ],
)
def test_lanes_at(small_world, x, y, lanes):
    assert {lane.id for lane in small_world.lanes_at(x, y)} == lanes


def test_bay_container_height(small_world, small_doc):
    deck, bed = small_doc["carrier_type"]["deck_height_m"], small_doc["truck_type"]["bed_height_m"]
    assert deck != bed  # else the check below could not tell a carrier bay from a truck bay
    assert small_world.bay_container_height(small_world.bays["cn_bay_a1"]) == deck  # carrier deck
    assert small_world.bay_container_height(small_world.bays["cn_truck_11"]) == bed  # truck bed


def test_station_at(small_world):
    assert small_world.station_at(0.0, 100.0) == "cn_station"
    assert small_world.station_at(5.0, -400.0) == "vn_station"


def test_bounds_hold_everything(small_world):
    x0, y0, x1, y1 = small_world.bounds
    assert all(isinstance(v, float) for v in small_world.bounds)
    for lane in small_world.lanes.values():
        assert np.all((lane.points >= (x0, y0)) & (lane.points <= (x1, y1)))
    for crane in small_world.cranes.values():
        for leg in crane.leg_footprints(crane.home_gantry_m):
            assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in leg)


@settings(max_examples=50, deadline=None)
@given(crane_index=st.integers(0, 2), gantry=st.floats(-50, 200), trolley=st.floats(-10, 60))
def test_crane_to_map_from_map_round_trip(small_world, crane_index, gantry, trolley):
    crane = list(small_world.cranes.values())[crane_index]
    x, y = crane.to_map(gantry, trolley)
    g, t = crane.from_map(x, y)
    assert g == pytest.approx(gantry, abs=1e-9) and t == pytest.approx(trolley, abs=1e-9)
    # distances are preserved (a rotation plus a shift)
    assert math.dist((x, y), (crane.origin.x, crane.origin.y)) == pytest.approx(math.hypot(gantry, trolley))


def test_crane_frame_axes(small_world):
    """cn_crane_1's rails run north (yaw 90 deg): gantry moves +y in map, trolley moves -x (towards the bays)."""
    crane = small_world.cranes["cn_crane_1"]
    assert crane.to_map(0.0, 0.0) == pytest.approx((-3.0, 160.0))
    assert crane.to_map(10.0, 0.0) == pytest.approx((-3.0, 170.0))
    assert crane.to_map(0.0, 10.0) == pytest.approx((-13.0, 160.0))
    # the served bays are where from_map says, within travel
    for bay_id in crane.serves:
        g, t = crane.from_map(small_world.bays[bay_id].pose.x, small_world.bays[bay_id].pose.y)
        assert crane.gantry.min_m <= g <= crane.gantry.max_m and crane.trolley.min_m <= t <= crane.trolley.max_m


def test_leg_footprints(small_world):
    crane = small_world.cranes["cn_crane_1"]
    legs = crane.leg_footprints(30.0)
    assert len(legs) == 4
    side = crane.portal.leg_size_m
    centres = []
    for leg in legs:
        poly = Polygon(leg)
        assert poly.area == pytest.approx(side * side)
        centres.append((poly.centroid.x, poly.centroid.y))
    expected = [crane.to_map(g, t) for g in (30.0 - 7.0, 30.0 + 7.0) for t in (0.0, crane.portal.span_m)]
    np.testing.assert_allclose(centres, expected, atol=1e-9)
    # no leg stands on a lane: carriers pass between the legs
    for leg in legs:
        assert not any(lane.area.intersects(Polygon(leg)) for lane in small_world.lanes.values())


# ====================================================================== Youyiguan requirements (issue #2)
def test_youyiguan_datum_and_utm(youyiguan_world):
    d = youyiguan_world.datum
    assert d.latitude_deg == pytest.approx(21.9764, abs=0.01)
    assert d.longitude_deg == pytest.approx(106.7122, abs=0.01)
    assert 100.0 < d.altitude_m < 400.0  # Pingxiang lies in the hills
    frame = youyiguan_world.frame
    assert (frame.utm_zone, frame.utm_north) == (48, True)


def test_youyiguan_stations_on_either_side_of_the_border(youyiguan_world):
    w = youyiguan_world
    by_country = {st.country: st for st in w.stations.values()}
    assert set(by_country) == {"CN", "VN"}
    assert {w.border.left, w.border.right} == {"CN", "VN"}
    # China lies north of Vietnam at Friendship Pass
    lat = {c: np.mean([w.frame.geodetic_from_enu(w.bays[b].pose.x, w.bays[b].pose.y, 0.0)[0]
                       for b in st.truck_bays + st.carrier_bays]) for c, st in by_country.items()}
    assert lat["CN"] > w.datum.latitude_deg > lat["VN"]


@pytest.mark.parametrize("station", ["cn_station", "vn_station"])
def test_youyiguan_station_size(youyiguan_world, station):
    st_ = youyiguan_world.stations[station]
    assert len(st_.truck_bays) >= 6
    assert len(st_.carrier_bays) >= 4
    assert len(st_.cranes) >= 2
    for bay_id in st_.truck_bays + st_.carrier_bays:
        assert youyiguan_world.cranes_serving(bay_id)


@pytest.mark.parametrize("country", ["CN", "VN"])
def test_youyiguan_parking_and_charging_on_each_side(youyiguan_world, country):
    w = youyiguan_world
    parking = [s for s in w.parking_spots() if w.border.country_at(s.pose.x, s.pose.y) == country]
    chargers = [s for s in w.charging_spots() if w.border.country_at(s.pose.x, s.pose.y) == country]
    assert len(parking) >= 2 and len(chargers) >= 1
    assert all(c.power_kw > 0 for c in chargers)


def _closed_lane_graph(world: World) -> nx.DiGraph:
    """Lane nodes joined by the driving directions of closed lanes, weighted by length."""
    g = nx.DiGraph()
    for lane in world.lanes.values():
        if not lane.closed:
            continue
        g.add_edge(lane.start, lane.end, lane=lane.id, weight=lane.length_m)
        if lane.two_way:
            g.add_edge(lane.end, lane.start, lane=lane.id, weight=lane.length_m)
    return g


@pytest.mark.parametrize("a, b", [("cn_hub", "vn_hub"), ("vn_hub", "cn_hub")])
def test_youyiguan_single_track_closed_two_way_link_of_at_least_1km(single_track_world, a, b):
    """The stations' hubs are joined, both ways, by closed carrier lanes over 1 km that cross the border."""
    w = single_track_world
    assert w.border.country_at(w.nodes["cn_hub"].x, w.nodes["cn_hub"].y) == "CN"
    assert w.border.country_at(w.nodes["vn_hub"].x, w.nodes["vn_hub"].y) == "VN"
    g = _closed_lane_graph(w)
    path = nx.shortest_path(g, a, b, weight="weight")
    lanes = [w.lanes[g.edges[u, v]["lane"]] for u, v in zip(path, path[1:])]
    assert sum(lane.length_m for lane in lanes) >= 1000.0
    assert all(lane.closed for lane in lanes)
    assert sum(lane.length_m for lane in lanes if lane.two_way) >= 800.0  # single track, apart from the loop
    route = LineString(np.vstack([w.lanes[lane.id].points if w.lanes[lane.id].start == u else
                                  w.lanes[lane.id].points[::-1] for lane, u in zip(lanes, path)]))
    assert route.intersects(w.border.line)
    # dedicated: no bay or spot along the link
    places = {b.node for b in w.carrier_bays()} | {s.node for s in w.spots.values()}
    assert not places & set(path)


def test_youyiguan_single_track_link_is_on_the_route_between_stations(single_track_world):
    g = place_graph(single_track_world)
    path = nx.shortest_path(g, ("place", "cn_bay_a1"), ("place", "vn_bay_a1"))
    assert Traversal("link_north", True) in path and Traversal("link_south", True) in path
    back = nx.shortest_path(g, ("place", "vn_bay_a1"), ("place", "cn_bay_a1"))
    assert Traversal("link_south", False) in back and Traversal("link_north", False) in back


@pytest.mark.parametrize("a, b, carriageway", [("cn_bay_a2", "vn_bay_a1", "link_southbound"),
                                               ("vn_bay_b2", "cn_bay_b1", "link_northbound")])
def test_youyiguan_is_a_dual_carriageway_one_lane_each_way(youyiguan_world, a, b, carriageway):
    """The site's design: the stations are joined by a closed road of one one-way lane each way, over 1 km,
    crossing the border, with no two-way lane anywhere; each direction keeps to its own carriageway."""
    w = youyiguan_world
    assert not any(lane.two_way for lane in w.lanes.values())
    g = place_graph(w)
    path = nx.shortest_path(g, ("place", a), ("place", b))
    lanes = [t.lane for t in path if isinstance(t, Traversal)]
    assert carriageway in lanes and all(w.lanes[x].closed for x in lanes)
    other = {"link_southbound": "link_northbound", "link_northbound": "link_southbound"}[carriageway]
    assert other not in lanes
    link = w.lanes[carriageway]
    assert link.length_m >= 1000.0 and LineString(link.points).intersects(w.border.line)
    # the two carriageways never cross nor touch: 20 m between the lane centres along the border
    assert LineString(w.lanes["link_southbound"].points).distance(LineString(w.lanes["link_northbound"].points)) > 15.0
    # each station can turn a carrier round without leaving its country (its turning loop)
    for station, loop in (("cn_station", "cn_loop"), ("vn_station", "vn_loop")):
        end = w.lanes[loop].points[-1]
        assert w.border.country_at(*end) == w.stations[station].country


# ====================================================================== validation errors
def _lane(d, lane_id):
    return next(x for x in d["lanes"] if x["id"] == lane_id)


def _crane(d, crane_id):
    return next(x for x in d["cranes"] if x["id"] == crane_id)


def _station(d, station_id):
    return next(x for x in d["stations"] if x["id"] == station_id)


def _set(obj: dict, **values) -> None:
    obj.update(values)


# (case id, mutation of the parsed small_yard document, key path in the message, reason in the message)
BROKEN: list[tuple[str, Callable[[dict], Any], str, str]] = [
    # ---- structure (JSON Schema pass)
    ("wrong type", lambda d: _set(_lane(d, "cn_entry"), width_m="wide"),
     "lanes[0] (id 'cn_entry').width_m", "'wide' is not of type 'number'"),
    ("wrong container type", lambda d: _set(d, datum=[21.9, 106.7, 0.0]), "datum", "is not of type 'object'"),
    ("bool for a number", lambda d: _set(_lane(d, "link"), speed_limit_mps=True),
     "lanes[33] (id 'link').speed_limit_mps", "True is not of type 'number'"),
    ("unknown top-level key", lambda d: _set(d, lanez=[]), "(top level)", "'lanez' was unexpected"),
    ("unknown nested key", lambda d: _set(_crane(d, "cn_crane_1")["portal"], hieght_m=20.0),
     "cranes[0] (id 'cn_crane_1').portal", "'hieght_m' was unexpected"),
    ("missing key", lambda d: d["carrier_type"].pop("wheelbase_m"), "carrier_type",
     "'wheelbase_m' is a required property"),
    ("missing section", lambda d: d.pop("border"), "(top level)", "'border' is a required property"),
    ("missing axis", lambda d: _crane(d, "cn_crane_1")["axes"].pop("hoist"), "cranes[0] (id 'cn_crane_1').axes",
     "'hoist' is a required property"),
    ("bad enum", lambda d: _set(_lane(d, "link"), direction="both"), "lanes[33] (id 'link').direction",
     "'both' is not one of ['one_way', 'two_way']"),
    ("bad id", lambda d: _set(d, name="Small Yard"), "name", "does not match"),
    ("format version", lambda d: _set(d, format_version=2), "format_version", "1 was expected"),
    ("not a number: NaN", lambda d: _set(d["lane_nodes"][0], x=float("nan")), "lane_nodes[0] (id 'cn_hub').x",
     "nan is not a finite number"),
    ("not a number: inf", lambda d: _set(d["datum"], altitude_m=float("inf")), "datum.altitude_m",
     "inf is not a finite number"),
    # ---- references
    ("unknown lane node", lambda d: _set(_lane(d, "cn_transfer_a0"), to="nowhere"),
     "lanes[1] (id 'cn_transfer_a0').to", "unknown lane node 'nowhere'"),
    ("unknown bay node", lambda d: _set(_station(d, "cn_station")["carrier_bays"][0], node="nowhere"),
     "stations[0] (id 'cn_station').carrier_bays[0] (id 'cn_bay_a1').node", "unknown lane node 'nowhere'"),
    ("unknown station", lambda d: _set(_crane(d, "cn_crane_1"), station="mars_station"),
     "cranes[0] (id 'cn_crane_1').station", "unknown station 'mars_station'"),
    ("unknown bay", lambda d: _crane(d, "cn_crane_1")["serves"].__setitem__(0, "cn_bay_z9"),
     "cranes[0] (id 'cn_crane_1').serves[0]", "unknown bay 'cn_bay_z9'"),
    ("unknown spot node", lambda d: _set(d["parking"][0], node="nowhere"), "parking[0] (id 'cn_park_1').node",
     "unknown lane node 'nowhere'"),
    ("bay of another station", lambda d: _crane(d, "cn_crane_1")["serves"].append("vn_bay_a1"),
     "cranes[0] (id 'cn_crane_1').serves[2]", "belongs to station 'vn_station'"),
    ("bay served by no crane", lambda d: _crane(d, "cn_crane_2")["serves"].remove("cn_truck_12"),
     "stations[0] (id 'cn_station').truck_bays[1] (id 'cn_truck_12')", "no crane serves bay 'cn_truck_12'"),
    ("orphan lane node", lambda d: d["lane_nodes"].append({"id": "orphan", "x": 500.0, "y": 0.0}),
     "lane_nodes[27] (id 'orphan')", "no lane starts or ends at this node"),
    # ---- unique ids
    ("duplicate node id", lambda d: _set(d["lane_nodes"][1], id="cn_hub"), "lane_nodes[1].id",
     "'cn_hub' is already used by lane_nodes[0]"),
    ("duplicate bay id", lambda d: _set(_station(d, "vn_station")["truck_bays"][0], id="cn_truck_11"),
     "stations[1] (id 'vn_station').truck_bays[0].id", "'cn_truck_11' is already used by stations[0]"),
    ("duplicate crane id", lambda d: _set(_crane(d, "cn_crane_2"), id="cn_crane_1"), "cranes[1].id",
     "'cn_crane_1' is already used by cranes[0]"),
    ("spot id of a bay", lambda d: _set(d["parking"][0], id="cn_bay_a1"), "parking[0] (id 'cn_bay_a1').id",
     "already used by a bay"),
    ("two bays on one node", lambda d: _set(_station(d, "cn_station")["carrier_bays"][1], node="cn_cb_a1"),
     "carrier_bays[1] (id 'cn_bay_a2').node", "node 'cn_cb_a1' already holds bay 'cn_bay_a1'"),
    ("bay served twice", lambda d: _crane(d, "cn_crane_1")["serves"].append("cn_bay_a1"),
     "cranes[0] (id 'cn_crane_1').serves[2]", "listed twice"),
    # ---- lane geometry
    ("corner radius below turning radius", lambda d: _set(_lane(d, "cn_entry"), corner_radius_m=10.0),
     "lanes[0] (id 'cn_entry').corner_radius_m", "minimum turning radius 12.65 m (deck centre"),
    ("fillet does not fit", lambda d: _set(_lane(d, "cn_entry"), corner_radius_m=40.0),
     "lanes[0] (id 'cn_entry').via", "leg 0->1 is 8.00 m long but its corner arcs need"),
    ("via without radius", lambda d: _lane(d, "cn_entry").pop("corner_radius_m"),
     "lanes[0] (id 'cn_entry').corner_radius_m", "needs a corner radius > 0"),
    ("lane too fast", lambda d: _set(_lane(d, "link"), speed_limit_mps=12.0), "lanes[33] (id 'link').speed_limit_mps",
     "exceeds carrier_type.max_speed_mps"),
    ("lane too narrow", lambda d: _set(_lane(d, "link"), width_m=2.5), "lanes[33] (id 'link').width_m",
     "narrower than a carrier"),
    ("bay yaw across the lane", lambda d: _set(_station(d, "cn_station")["carrier_bays"][0], yaw_deg=0.0),
     "carrier_bays[0] (id 'cn_bay_a1').yaw_deg", "does not match any lane through node 'cn_cb_a1'"),
    ("bay yaw against a one-way lane", lambda d: _set(_station(d, "cn_station")["carrier_bays"][0], yaw_deg=270.0),
     "carrier_bays[0] (id 'cn_bay_a1').yaw_deg", "does not match any lane through node 'cn_cb_a1'"),
    ("unreachable bay (lane reversed)",
     lambda d: _set(_lane(d, "cn_transfer_a1"), **{"from": "cn_cb_a2", "to": "cn_cb_a1"}),
     "lanes", "a carrier cannot drive between these places: cn_bay_a1->cn_bay_a2"),
    # ---- cranes
    ("bay out of crane reach", lambda d: _set(_station(d, "cn_station")["truck_bays"][0], x=-60.0),
     "cranes[0] (id 'cn_crane_1').serves[1]", "bay 'cn_truck_11' is out of reach"),
    ("unsafe empty height", lambda d: _set(_crane(d, "cn_crane_1"), safe_height_empty_m=3.0),
     "cranes[0] (id 'cn_crane_1').safe_height_empty_m", "does not clear a container"),
    ("unsafe loaded height", lambda d: _set(_crane(d, "cn_crane_1"), safe_height_loaded_m=6.0),
     "cranes[0] (id 'cn_crane_1').safe_height_loaded_m", "lets a hanging container hit one below"),
    ("safe height above hoist travel", lambda d: _set(_crane(d, "cn_crane_1"), safe_height_loaded_m=19.0),
     "cranes[0] (id 'cn_crane_1').safe_height_loaded_m", "above hoist travel"),
    ("hoist above portal", lambda d: _set(_crane(d, "cn_crane_1")["axes"]["hoist"], max_m=25.0),
     "cranes[0] (id 'cn_crane_1').axes.hoist.max_m", "above the portal height"),
    ("trolley into the legs", lambda d: _set(_crane(d, "cn_crane_1")["axes"]["trolley"], max_m=37.5),
     "cranes[0] (id 'cn_crane_1').axes.trolley", "runs into the legs"),
    ("fixed portal with a gantry home", lambda d: _crane(d, "vn_crane_1")["axes"].pop("gantry"),
     "cranes[2] (id 'vn_crane_1').home.gantry_m", "a crane without a gantry axis stands at gantry 0 m"),
    ("axis max below min", lambda d: _set(_crane(d, "cn_crane_1")["axes"]["gantry"], max_m=5.0),
     "cranes[0] (id 'cn_crane_1').axes.gantry.max_m", "must be greater than min_m"),
    ("shared-rail cranes too close", lambda d: (_set(_crane(d, "cn_crane_1")["home"], gantry_m=50.0),
                                                _set(_crane(d, "cn_crane_2")["home"], gantry_m=60.0)),
     "cranes[1] (id 'cn_crane_2').home.gantry_m", "10 m from 'cn_crane_1'"),
    ("shared-rail separation below the portal", lambda d: _set(_crane(d, "cn_crane_1"), min_separation_m=10.0),
     "cranes[0] (id 'cn_crane_1').min_separation_m", "lets its legs touch"),
    ("shared rails that differ", lambda d: _set(_crane(d, "cn_crane_2")["origin"], x=-4.0),
     "cranes[1] (id 'cn_crane_2').rail_group", "the rails differ"),
    # ---- zones, spots, border, carrier
    ("self-crossing zone polygon", lambda d: _set(d["gnss_zones"][0], polygon=[[0, 0], [10, 10], [10, 0], [0, 10]]),
     "gnss_zones[0] (id 'cn_crane_portals').polygon", "not a simple polygon"),
    ("flat zone polygon", lambda d: _set(d["gnss_zones"][0], polygon=[[0, 0], [5, 0], [10, 0]]),
     "gnss_zones[0] (id 'cn_crane_portals').polygon", "not a simple polygon"),
    ("multipath without jumps", lambda d: _set(d["gnss_zones"][0], multipath_jump_m=[0.0, 0.0]),
     "gnss_zones[0] (id 'cn_crane_portals').multipath_jump_m", "needs a jump range"),
    ("parking spot with power", lambda d: _set(d["parking"][0], power_kw=11.0), "parking[0] (id 'cn_park_1').power_kw",
     "a parking spot has no charger"),
    ("station on the wrong side", lambda d: _set(d["border"], left="VN", right="CN"),
     "stations[0] (id 'cn_station').truck_bays[0] (id 'cn_truck_11')", "lies on the VN side of the border"),
    ("station of a third country", lambda d: _set(_station(d, "vn_station"), country="FR"),
     "stations[1] (id 'vn_station').country", "'FR' is on neither side of the border"),
    ("same country both sides", lambda d: _set(d["border"], right="CN"), "border", "must be different countries"),
    ("antenna off the carrier", lambda d: _set(d["carrier_type"], gnss_antenna_m=[9.0, 0.0, 2.8]),
     "carrier_type.gnss_antenna_m", "outside the carrier footprint"),
]


@pytest.mark.parametrize("mutate, where, why", [pytest.param(*c[1:], id=c[0]) for c in BROKEN])
def test_broken_world_is_refused_with_key_path_and_reason(small_doc, mutate, where, why):
    doc = copy.deepcopy(small_doc)
    mutate(doc)
    with pytest.raises(Exception) as info:
        parse_world(doc, "small_yard.yaml")
    assert type(info.value) is WorldError, f"raised {type(info.value).__name__}: {info.value}"
    message = str(info.value)
    assert message.startswith("small_yard.yaml: ")
    assert f"{where}:" in message or f"{where}." in message, message
    assert why in message, message


def test_unmutated_document_is_accepted(small_doc):
    """The table above starts from a valid world: only its mutation breaks it."""
    assert parse_world(copy.deepcopy(small_doc)).name == "small_yard"


# ---------------------------------------------------------------------- broken files
@pytest.mark.parametrize(
    "text, why",
    [
        ("name: small_yard\nlanes: [1, 2\n", "not valid YAML at line 3"),
        ("- a\n- b\n", "a world file must be a mapping of keys, got list"),
        ("just a string\n", "a world file must be a mapping of keys, got str"),
        ("", "a world file must be a mapping of keys, got NoneType"),
        ("name: a\nname: b\n", "not valid YAML at line 2, column 1: duplicate key 'name' (first defined at line 1)"),
        ("? [1, 2]\n: x\n", "not valid YAML"),  # unhashable key
        ("name: !!python/object:os.system ls\n", "not valid YAML"),
        ("format_version: 1\nname: x\n", "(top level): 'datum' is a required property"),
    ],
)
def test_broken_file_is_refused(tmp_path, text, why):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(Exception) as info:
        load_world(path)
    assert type(info.value) is WorldError, f"raised {type(info.value).__name__}: {info.value}"
    assert str(info.value).startswith(f"{path}: ") and why in str(info.value)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(WorldError, match="cannot read world file: No such file or directory"):
        load_world(tmp_path / "nope.yaml")


def test_directory_is_refused(tmp_path):
    with pytest.raises(WorldError, match="cannot read world file"):
        load_world(tmp_path)


def test_non_utf8_file_is_refused(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: Hữu Nghị\n".encode("utf-16"))
    with pytest.raises(Exception) as info:
        load_world(path)
    assert type(info.value) is WorldError and "not a UTF-8 text file" in str(info.value)


def test_a_world_file_round_trips_through_json(tmp_path, small_doc):
    """YAML is a superset of JSON: a world written as JSON loads the same."""
    import json

    path = tmp_path / "small_yard.json"
    path.write_text(json.dumps(small_doc))
    world = load_world(path)
    assert list(world.bays) == list(parse_world(small_doc).bays)


# ---------------------------------------------------------------------- documentation
def test_every_schema_key_is_documented():
    """docs/world_format.md names every key of the world schema (in backticks), so the doc cannot drift."""
    import json
    import re

    schema = json.loads((WORLDS.parent / "yard_model" / "schemas" / "world.schema.json").read_text())
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            keys.update(node.get("properties", {}))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    doc = (WORLDS.parent / "docs" / "world_format.md").read_text()
    code_spans = re.findall(r"`([^`]+)`", doc)
    missing = sorted(k for k in keys if not any(re.search(rf"(^|[^a-z_]){k}($|[^a-z_])", span) for span in code_spans))
    assert not missing, f"keys missing from docs/world_format.md: {missing}"


def test_corner_between_axle_and_deck_radius_is_rejected(small_world):
    """A 12.3 m corner suits the rear axle (12 m) but not base_link (12.65 m), which lanes are drawn for."""
    from yard_model import WorldError, parse_world

    doc = yaml.safe_load((WORLDS / "small_yard.yaml").read_text())
    lane = next(x for x in doc["lanes"] if x["id"] == "cn_entry")
    lane["corner_radius_m"] = 12.3
    with pytest.raises(WorldError, match="12.65 m"):
        parse_world(doc, "small_yard.yaml")
    assert small_world.carrier_type.min_deck_turning_radius_m == pytest.approx((12.0**2 + 4.0**2) ** 0.5)
