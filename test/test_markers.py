"""RViz/Foxglove markers: namespaces, counts, stable ids, positions and sizes, frames, quaternions."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from builtin_interfaces.msg import Time
from shapely.geometry import Polygon
from visualization_msgs.msg import Marker

from yard_ros.markers import CRANE_ID_STRIDE, dynamic_markers, stable_id, static_markers


def snapshot(small_world, **overrides):
    """A simulator snapshot: one carrier under a container at a bay, a truck, every crane at home."""
    bay = small_world.bays["cn_bay_a1"]
    snap = {
        "carriers": {"carrier_01": {"x": bay.pose.x, "y": bay.pose.y, "yaw": bay.pose.yaw},
                     "carrier_02": {"x": 0.0, "y": 0.0, "yaw": -math.pi / 2}},
        "cranes": {c.id: {"gantry": c.home_gantry_m, "trolley": c.home_trolley_m, "hoist": c.safe_height_empty_m,
                          "twistlock": 0.0} for c in small_world.cranes.values()},
        "containers": {"CNXU1234567": {"x": bay.pose.x, "y": bay.pose.y, "z": small_world.carrier_type.deck_height_m,
                                       "yaw": bay.pose.yaw}},
        "trucks": {"truck_0001": {"x": -27.0, "y": 190.0, "yaw": math.pi / 2}},
    }
    snap.update(overrides)
    return snap


def by_key(array) -> dict[tuple[str, int], Marker]:
    return {(m.ns, m.id): m for m in array.markers}


def quaternion_norm(m: Marker) -> float:
    q = m.pose.orientation
    return math.sqrt(q.x**2 + q.y**2 + q.z**2 + q.w**2)


# ------------------------------------------------------------------ static layout
def test_static_namespaces_and_counts(small_world):
    w = small_world
    counts = Counter(m.ns for m in static_markers(w).markers)
    n_two_way = sum(lane.two_way for lane in w.lanes.values())
    assert counts == {
        "lanes": len(w.lanes),
        "lane_edges": 2 * len(w.lanes),
        "lane_arrows": len(w.lanes) + n_two_way,
        "bays": len(w.bays), "bay_labels": len(w.bays),
        "spots": len(w.spots), "spot_labels": len(w.spots),
        "gnss_zones": len(w.gnss_zones),
        "border": 1,
        "crane_rails": 4,  # cn_rails (shared by two cranes) and vn_crane_1's own rails
        "crane_envelopes": len(w.cranes),
    }


def test_static_ids_are_unique_and_stable(small_world):
    a, b = static_markers(small_world), static_markers(small_world, stamp=5.0)
    keys = [(m.ns, m.id) for m in a.markers]
    assert len(keys) == len(set(keys))
    assert keys == [(m.ns, m.id) for m in b.markers]


def test_lane_strips_follow_the_centre_lines_and_show_the_kind(small_world):
    markers = by_key(static_markers(small_world))
    for i, lane in enumerate(small_world.lanes.values()):
        m = markers[("lanes", i)]
        assert m.type == Marker.LINE_STRIP and len(m.points) == len(lane.points)
        assert (m.points[0].x, m.points[0].y) == pytest.approx(tuple(lane.points[0]))
        assert (m.points[-1].x, m.points[-1].y) == pytest.approx(tuple(lane.points[-1]))
        assert (m.color.b < 0.5) == lane.two_way  # amber two-way single track, white one-way
    link = list(small_world.lanes).index("link")
    assert ("lane_arrows", 2 * link + 1) in markers  # a two-way lane shows both directions
    left = markers[("lane_edges", 2 * link)]
    # link runs south (from cn_hub to vn_hub): its left edge lies east of the centre line
    assert left.points[0].x == pytest.approx(small_world.lanes["link"].width_m / 2 - 0.075)


def test_bay_cubes_and_labels(small_world):
    markers = by_key(static_markers(small_world))
    for i, bay in enumerate(small_world.bays.values()):
        cube, label = markers[("bays", i)], markers[("bay_labels", i)]
        assert cube.type == Marker.CUBE and label.type == Marker.TEXT_VIEW_FACING and label.text == bay.id
        assert (cube.pose.position.x, cube.pose.position.y) == pytest.approx((bay.pose.x, bay.pose.y))
        size = small_world.carrier_type if bay.kind == "carrier" else small_world.truck_type
        assert (cube.scale.x, cube.scale.y) == pytest.approx((size.length_m, size.width_m)) and cube.scale.z < 0.1


def test_gnss_zone_outlines_are_closed_and_coloured_by_mode(small_world):
    markers = by_key(static_markers(small_world))
    colours = {}
    for i, zone in enumerate(small_world.gnss_zones):
        m = markers[("gnss_zones", i)]
        assert (m.points[0].x, m.points[0].y) == (m.points[-1].x, m.points[-1].y)
        assert Polygon([(p.x, p.y) for p in m.points]).equals(zone.polygon)
        colours.setdefault(zone.mode, set()).add((m.color.r, m.color.g, m.color.b))
    assert len({c for cs in colours.values() for c in cs}) == len(colours)  # one colour per mode


# ------------------------------------------------------------------ moving objects
def test_dynamic_namespaces_and_counts(small_world):
    counts = Counter(m.ns for m in dynamic_markers(small_world, snapshot(small_world), 10.0).markers)
    assert counts == {
        "carriers": 2, "carrier_labels": 2, "containers": 1, "container_labels": 1, "trucks": 1, "truck_labels": 1,
        "crane_portals": 8 * 3, "crane_hoists": 3 * 3, "crane_labels": 3,
    }


def test_carrier_marker_position_and_size(small_world):
    ct = small_world.carrier_type
    markers = by_key(dynamic_markers(small_world, snapshot(small_world), 10.0))
    m = markers[("carriers", stable_id("carrier_02"))]
    assert m.type == Marker.CUBE and m.action == Marker.ADD
    assert (m.pose.position.x, m.pose.position.y, m.pose.position.z) == pytest.approx((0.0, 0.0, ct.deck_height_m / 2))
    assert (m.scale.x, m.scale.y, m.scale.z) == pytest.approx((ct.length_m, ct.width_m, ct.deck_height_m))
    q = m.pose.orientation
    assert 2 * math.atan2(q.z, q.w) == pytest.approx(-math.pi / 2)  # yaw about z only
    assert q.x == q.y == 0.0
    assert markers[("carrier_labels", stable_id("carrier_02"))].text == "carrier_02"


def test_container_marker_rests_on_the_carrier_deck(small_world):
    cont, ct = small_world.container_type, small_world.carrier_type
    markers = by_key(dynamic_markers(small_world, snapshot(small_world), 10.0))
    box = markers[("containers", stable_id("CNXU1234567"))]
    carrier = markers[("carriers", stable_id("carrier_01"))]
    assert (box.scale.x, box.scale.y, box.scale.z) == pytest.approx((cont.length_m, cont.width_m, cont.height_m))
    bottom = box.pose.position.z - box.scale.z / 2
    assert bottom == pytest.approx(ct.deck_height_m)
    assert carrier.pose.position.z + carrier.scale.z / 2 == pytest.approx(bottom)  # deck top = container underside
    assert (box.pose.position.x, box.pose.position.y) == pytest.approx((-10.0, 200.0))


def test_crane_follows_its_joints(small_world):
    crane = small_world.cranes["cn_crane_1"]
    snap = snapshot(small_world)
    snap["cranes"]["cn_crane_1"] = {"gantry": 50.0, "trolley": 7.0, "hoist": 3.0, "twistlock": 1.0}
    markers = by_key(dynamic_markers(small_world, snap, 10.0))
    i = list(small_world.cranes).index("cn_crane_1")
    legs = [markers[("crane_portals", CRANE_ID_STRIDE * i + k)] for k in range(4)]
    expected = sorted((round(Polygon(f).centroid.x, 6), round(Polygon(f).centroid.y, 6))
                      for f in crane.leg_footprints(50.0))
    assert sorted((round(m.pose.position.x, 6), round(m.pose.position.y, 6)) for m in legs) == expected
    spreader = next(m for k in range(3) if (m := markers[("crane_hoists", CRANE_ID_STRIDE * i + k)]).scale.z == 0.5)
    assert (spreader.pose.position.x, spreader.pose.position.y) == pytest.approx(crane.to_map(50.0, 7.0))
    assert spreader.pose.position.z - spreader.scale.z / 2 == pytest.approx(3.0)  # hoist = spreader underside
    assert spreader.color.r > spreader.color.g  # locked twistlocks show red


def test_ids_stay_put_when_objects_move_and_come_and_go(small_world):
    first = dynamic_markers(small_world, snapshot(small_world), 1.0)
    moved = snapshot(small_world, carriers={"carrier_02": {"x": 5.0, "y": -20.0, "yaw": 0.0}})
    second = by_key(dynamic_markers(small_world, moved, 2.0))
    assert ("carriers", stable_id("carrier_02")) in by_key(first)
    assert second[("carriers", stable_id("carrier_02"))].pose.position.x == 5.0
    assert ("carriers", stable_id("carrier_01")) not in second  # gone: its old marker simply expires
    keys = [(m.ns, m.id) for m in second.values()]
    assert len(keys) == len(set(keys))


def test_crc_collisions_still_get_distinct_ids(small_world):
    assert stable_id("plumless") == stable_id("buckeroo")  # a known CRC-32 collision
    carriers = {"plumless": {"x": 0, "y": 0, "yaw": 0}, "buckeroo": {"x": 9, "y": 0, "yaw": 0}}
    snap = snapshot(small_world, carriers=carriers)
    ids = [m.id for m in dynamic_markers(small_world, snap, 1.0).markers if m.ns == "carriers"]
    assert len(ids) == 2 and len(set(ids)) == 2


def test_lifetimes_and_actions(small_world):
    static = static_markers(small_world)
    dynamic = dynamic_markers(small_world, snapshot(small_world), 3.25, lifetime_s=0.6)
    assert all(m.lifetime.sec == 0 and m.lifetime.nanosec == 0 for m in static.markers)  # forever
    assert all((m.lifetime.sec, m.lifetime.nanosec) == (0, 600_000_000) for m in dynamic.markers)
    assert all(m.action == Marker.ADD for m in [*static.markers, *dynamic.markers])  # no DELETE / DELETEALL
    assert all((m.header.stamp.sec, m.header.stamp.nanosec) == (3, 250_000_000) for m in dynamic.markers)
    stamped = dynamic_markers(small_world, snapshot(small_world), Time(sec=7, nanosec=5))
    assert stamped.markers[0].header.stamp == Time(sec=7, nanosec=5)


def test_frames_and_quaternions(small_world):
    markers = [*static_markers(small_world).markers,
               *dynamic_markers(small_world, snapshot(small_world), 1.0).markers]
    assert {m.header.frame_id for m in markers} == {"map"}
    for m in markers:
        assert quaternion_norm(m) == pytest.approx(1.0, abs=1e-9), (m.ns, m.id)
        assert all(math.isfinite(v) for v in (m.pose.position.x, m.pose.position.y, m.pose.position.z))


@pytest.mark.parametrize(
    "bad",
    [
        {"carriers": {"carrier_01": {"x": float("nan"), "y": 0.0, "yaw": 0.0}}},
        {"carriers": {"carrier_01": {"x": 1.0, "y": 0.0}}},  # no yaw
        {"carriers": {"carrier_01": "here"}},
        {"containers": {"c1": {"x": 1.0, "y": 0.0, "z": float("inf"), "yaw": 0.0}}},
        {"trucks": {"t1": {"x": "1", "y": 0.0, "yaw": 0.0}}},
        {"cranes": {"no_such_crane": {"gantry": 1.0, "trolley": 1.0, "hoist": 1.0, "twistlock": 0.0}}},
        {"cranes": {"cn_crane_1": {"gantry": 1.0, "trolley": None, "hoist": 1.0, "twistlock": 0.0}}},
        {"carriers": None, "cranes": None},
    ],
)
def test_bad_snapshot_entries_are_skipped(small_world, bad):
    array = dynamic_markers(small_world, bad, 1.0)
    assert array.markers == []


def test_crane_without_gantry_axis_reading_stays_home(small_world):
    snap = {"cranes": {"vn_crane_1": {"trolley": 20.0, "hoist": 6.0, "twistlock": 0.0}}}
    markers = dynamic_markers(small_world, snap, 1.0).markers
    assert len([m for m in markers if m.ns == "crane_portals"]) == 8
