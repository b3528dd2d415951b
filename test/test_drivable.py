"""One contract for what a carrier can drive (yard_model.drivable), held by the fleet's routes and the follower.

Every route the fleet manager can produce on every shipped world is accepted by the path follower; the
contract's curvature judges evenly and unevenly sampled arcs sent to the millimetre by their drawn radius
and still refuses a corner that is too tight; the world check refuses a yard with a connection the carriers
cannot drive; the kinematic yard refuses a route exactly as the follower does.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from conftest import WORLDS
from hypothesis import given, settings
from hypothesis import strategies as st

from agv_nav.follower import PathFollower, PoseEstimate
from agv_nav.follower_params import PathFollowerParams
from agv_nav.path import segment_curvatures
from fleet_manager.network import YardNetwork
from fleet_manager.routing import Router
from yard_harness.fleet_sim import FleetSim
from yard_model import WorldError, parse_world
from yard_model.drivable import (
    CURVATURE_HALF_WINDOW_M,
    POINT_RESOLUTION_M,
    RouteError,
    check_drivable,
    quantize_points,
    segment_speed_caps,
    speed_cap,
    vertex_curvatures,
)
from yard_model.geometry import point_at
from yard_model.lane_graph import tight_connections, traversal_curvature, traversal_points

WORLD_FIXTURES = {"small_yard": "small_world", "youyiguan": "youyiguan_world",
                  "youyiguan_single_track": "single_track_world"}


@pytest.fixture(scope="module", params=sorted(WORLD_FIXTURES))
def yard(request):
    world = request.getfixturevalue(WORLD_FIXTURES[request.param])
    net = YardNetwork(world)
    return world, net, Router(net)


def _follower_verdict(follower, net, geom, pose) -> str | None:
    """What the path follower says to ``geom`` sent as the fleet manager sends it, standing at ``pose``."""
    goal = net.places.get(geom.goal_place)
    doc = {"route_id": "r", "carrier_id": "carrier_01",
           "points": geom.points.tolist(),  # already rounded to the millimetre as sent
           "speed_limits_mps": np.round(geom.speed_limits, 3).tolist(),
           "goal": {"kind": "bay", "id": geom.goal_place, "x": geom.goal_pose[0], "y": geom.goal_pose[1],
                    "yaw": geom.goal_pose[2], "dock": goal is not None and goal.kind in ("bay", "charging")}}
    follower.update_pose(PoseEstimate(follower.pose.t + 0.1 if follower.pose else 0.0, *pose))
    return follower.set_route(doc)


# ============================================================ every route the manager can produce
def test_every_place_to_place_route_is_accepted_by_the_follower(yard):
    """All bay/spot/charger pairs both ways, as the traffic planner builds them (tail on the way in)."""
    world, net, router = yard
    follower = PathFollower(PathFollowerParams(), world.carrier_type, "carrier_01")
    refused, n = [], 0
    for a in net.place_ids:
        for b in net.place_ids:
            path = router.route(a, b) if a != b else None
            if path is None:
                continue
            entries = net.places[a].entries
            geom = net.build_route(list(path.traversals), path.start_offset_m,
                                   net.infos[path.traversals[-1]].length_m, a, b, prev=entries[0] if entries else None)
            p = net.places[a]
            reason = _follower_verdict(follower, net, geom, (p.x, p.y, p.yaw))
            n += 1
            if reason is not None:
                refused.append(f"{a}->{b}: {reason}")
    assert n == len(router.time_table()) and n >= len(net.places) * (len(net.places) - 1) * 0.9
    assert refused == [], f"{len(refused)} of {n} routes refused, e.g. {refused[:3]}"


def test_routes_from_anywhere_on_a_lane_are_accepted_by_the_follower(yard):
    """A moving carrier is re-planned from where it is, also half way through a corner: the route's first
    point is then cut out of the arc (on the arc, not on its chord)."""
    world, net, router = yard
    follower = PathFollower(PathFollowerParams(), world.carrier_type, "carrier_01")
    refused, n = [], 0
    for t, info in sorted(net.infos.items()):
        pts = traversal_points(world, t)
        k = traversal_curvature(world, t)
        cum = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        on_arcs = [0.5 * (cum[i] + cum[i + 1]) + 0.13 for i in np.flatnonzero(k != 0.0)[::4]]
        for s in [info.length_m * f for f in (0.3, 0.7)] + on_arcs:
            if not 3.0 < s < info.length_m - 3.0:
                continue
            path = next((p for p in (router.route((t, s), g) for g in net.place_ids) if p is not None), None)
            assert path is not None
            geom = net.build_route(list(path.traversals), path.start_offset_m,
                                   net.infos[path.traversals[-1]].length_m, None, path.goal_place)
            reason = _follower_verdict(follower, net, geom, point_at(pts, s, cum, curvature=k))
            n += 1
            if reason is not None:
                refused.append(f"{t} at {s:.1f} m: {reason}")
    assert n >= 2 * len(net.infos)
    assert refused == [], f"{len(refused)} of {n} routes refused, e.g. {refused[:3]}"


def test_shipped_worlds_have_no_tight_connection(small_world, youyiguan_world, single_track_world):
    assert tight_connections(small_world) == [] and tight_connections(youyiguan_world) == []
    assert tight_connections(single_track_world) == []


# ============================================================ the contract's curvature
def _arc_route(radius_m: float, angle_rad: float, spacing_m: float, jitter: float, rng: np.random.Generator,
               lead_m: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Straight, left arc, straight; the arc's points unevenly spaced. Returns points and arc lengths."""
    n = max(2, int(math.ceil(radius_m * angle_rad / spacing_m)))
    u = (np.arange(1, n) + rng.uniform(-jitter, jitter, n - 1)) / n
    u = np.concatenate([[0.0], np.sort(u), [1.0]]) * radius_m * angle_rad  # arc length along the arc
    arc = np.column_stack([lead_m + radius_m * np.sin(u / radius_m), radius_m * (1.0 - np.cos(u / radius_m))])
    h = angle_rad
    tail = arc[-1] + np.array([math.cos(h), math.sin(h)]) * np.array([[4.0], [lead_m]])
    pts = np.vstack([[0.0, 0.0], [lead_m / 2, 0.0], arc, tail])
    s = np.concatenate([[0.0, lead_m / 2], lead_m + u, lead_m + u[-1] + np.array([4.0, lead_m])])
    return pts, s


@settings(max_examples=150, deadline=None)
@given(ratio=st.floats(1.0, 8.0), angle_deg=st.floats(25.0, 180.0), spacing=st.floats(0.2, 2.0),
       jitter=st.floats(0.0, 0.45), seed=st.integers(0, 2**31))
def test_unevenly_sampled_arcs_sent_to_the_millimetre_keep_their_radius(small_world, ratio, angle_deg, spacing,
                                                                         jitter, seed):
    ct = small_world.carrier_type
    r_min = ct.min_deck_turning_radius_m
    radius = r_min * ratio
    pts, s = _arc_route(radius, math.radians(angle_deg), spacing, jitter, np.random.default_rng(seed))
    sent = quantize_points(pts)
    check_drivable(sent, ct)  # a drawn arc at or above the limit is never refused
    kappa, bound = vertex_curvatures(sent)
    # Stated tolerance: the resolution bound, at most 4 e / c^2 = 0.9 % of 1 / r_min inside an arc.
    c = CURVATURE_HALF_WINDOW_M
    assert 4.0 * (POINT_RESOLUTION_M / math.sqrt(2.0)) / c**2 <= 0.009 / r_min
    inside = (s > 10.0 + c + 2 * spacing) & (s < 10.0 + radius * math.radians(angle_deg) - c - 2 * spacing)
    if inside.any():
        assert np.all(np.abs(kappa[inside] - 1.0 / radius) <= bound[inside])
        assert np.all(bound[inside] <= 0.009 / r_min)
    assert np.all(np.abs(kappa) <= 1.0 / radius + bound + 1e-12)  # never reads tighter than drawn


@settings(max_examples=100, deadline=None)
@given(tighter=st.floats(0.02, 0.5), angle_deg=st.floats(30.0, 180.0), spacing=st.floats(0.2, 2.0),
       jitter=st.floats(0.0, 0.45), seed=st.integers(0, 2**31))
def test_a_corner_too_tight_for_the_carrier_is_still_refused(small_world, tighter, angle_deg, spacing, jitter, seed):
    ct = small_world.carrier_type
    radius = ct.min_deck_turning_radius_m * (1.0 - tighter)
    angle = max(math.radians(angle_deg), 10.0 / radius)  # long enough to be judged inside the arc
    pts, _ = _arc_route(radius, angle, spacing, jitter, np.random.default_rng(seed))
    with pytest.raises(RouteError, match="unreachable with the carrier's turning radius|kinked"):
        check_drivable(quantize_points(pts), ct)  # (kinked: a chord of 2 m turns 18 degrees at 6.3 m)


def test_a_16_m_corner_sent_to_the_millimetre_reads_16_m(small_world):
    """The issue's case: the follower read a 16 m corner as 10.9 m and a 15 m one as 11.5 m to 21 m."""
    rng = np.random.default_rng(1)
    for radius in (15.0, 16.0):
        pts, s = _arc_route(radius, math.pi / 2, 1.0, 0.0, rng)
        kappa, _ = vertex_curvatures(quantize_points(pts))
        inside = (s > 13.0) & (s < 10.0 + radius * math.pi / 2 - 3.0)
        assert np.allclose(1.0 / kappa[inside], radius, rtol=3e-3)
        k_ref = segment_curvatures(quantize_points(pts))  # the follower's steering reference, too
        assert np.allclose(k_ref[np.flatnonzero(inside)[:-1]], 1.0 / radius, rtol=1e-2)


@settings(max_examples=60, deadline=None)
@given(pieces=st.lists(st.tuples(st.floats(0.1, 30.0), st.floats(-1.0, 1.0)), min_size=1, max_size=6),
       spacing=st.floats(0.2, 2.0), seed=st.integers(0, 2**31))
def test_judged_curvature_never_exceeds_the_drawn_one(pieces, spacing, seed):
    """Circles through points of a curve are no tighter than the curve between them (any sampling)."""
    rng = np.random.default_rng(seed)
    x = y = h = 0.0
    pts, k_max = [(0.0, 0.0)], 0.0
    for length, k_frac in pieces:
        k = k_frac / 12.65 if abs(k_frac) > 0.1 else 0.0
        k_max = max(k_max, abs(k))
        n = max(1, int(math.ceil(length / spacing)))
        for u in np.sort(rng.uniform(0.0, length, n - 1)).tolist() + [length]:
            if k == 0.0:
                pts.append((x + u * math.cos(h), y + u * math.sin(h)))
            else:
                pts.append((x + (math.sin(h + k * u) - math.sin(h)) / k, y - (math.cos(h + k * u) - math.cos(h)) / k))
        x, y = pts[-1]
        h += k * length
    pts = np.array(pts)
    keep = np.concatenate([[True], np.linalg.norm(np.diff(pts, axis=0), axis=1) > 1e-6])
    kappa, _ = vertex_curvatures(pts[keep])
    assert np.max(np.abs(kappa)) <= k_max + 1e-9


@settings(max_examples=60, deadline=None)
@given(ratio=st.floats(1.0, 8.0), angle_deg=st.floats(30.0, 180.0), spacing=st.floats(0.5, 2.0),
       jitter=st.floats(0.0, 0.4), seed=st.integers(0, 2**31))
def test_the_followers_reference_keeps_the_radius_of_arcs_sent_to_the_millimetre(small_world, ratio, angle_deg,
                                                                                  spacing, jitter, seed):
    """The steering reference (agv_nav.path) stays within 2 % of the limit curvature inside an arc."""
    r_min = small_world.carrier_type.min_deck_turning_radius_m
    radius = r_min * ratio
    pts, s = _arc_route(radius, math.radians(angle_deg), spacing, jitter, np.random.default_rng(seed))
    k = segment_curvatures(quantize_points(pts))
    mid = 0.5 * (s[:-1] + s[1:])
    inside = (mid > 12.0) & (mid < 8.0 + radius * math.radians(angle_deg))
    assert np.all(np.abs(k[inside] - 1.0 / radius) <= 0.02 / r_min)
    assert np.max(np.abs(k)) <= 1.0 / radius + 0.02 / r_min


# ============================================================ speeds: one rule, one top speed
def test_one_speed_rule_lane_curve_and_top_speed(small_world):
    ct = small_world.carrier_type
    assert float(speed_cap(4.0, 0.0, ct)) == 4.0
    assert float(speed_cap(40.0, 0.0, ct)) == ct.max_speed_mps
    assert float(speed_cap(40.0, 1.0 / 15.0, ct)) == pytest.approx(math.sqrt(ct.max_lateral_accel_mps2 * 15.0))
    assert float(speed_cap(40.0, -1.0 / 15.0, ct, cap_mps=2.0)) == 2.0
    # a curve's limit holds over the whole curve and from a window before it, not only where it is judged
    pts, s = _arc_route(15.0, math.pi / 2, 1.0, 0.0, np.random.default_rng(0))
    caps = segment_speed_caps(pts, 40.0, ct)
    on_arc = (s[:-1] >= 10.0 - 1e-9) & (s[1:] <= 10.0 + 15.0 * math.pi / 2 + 1e-9)
    assert np.allclose(caps[:-1][on_arc], math.sqrt(ct.max_lateral_accel_mps2 * 15.0), rtol=1e-3)
    assert caps[0] == ct.max_speed_mps


# ============================================================ the world check
def _kinked_small_yard(kink_deg: float) -> dict:
    """small_yard with the parking lane leaving the return lane ``kink_deg`` off its heading (still routable:
    lanes count as meeting up to 20 degrees apart)."""
    doc = yaml.safe_load((WORLDS / "small_yard.yaml").read_text())
    lane = next(x for x in doc["lanes"] if x["id"] == "cn_park_0")
    lane["via"][0] = [25.0 + 8.0 * math.tan(math.radians(kink_deg)), 302.0]
    return doc


@pytest.mark.parametrize("kink_deg, why", [
    (15.0, "route is kinked at point 6 (25.00, 310.00): the heading turns 15.0 deg at one vertex (max 12.0), "
           "a radius of 3.52 m over the 0.92 m around it"),
    (11.5, "route is unreachable with the carrier's turning radius: radius 11.33 m at point 6 (25.00, 310.00) is "
           "tighter than the 12.65 m the deck centre can follow"),
])
def test_a_world_with_a_connection_too_tight_is_refused_naming_the_lanes_and_the_radius(kink_deg, why):
    with pytest.raises(WorldError) as err:
        parse_world(_kinked_small_yard(kink_deg), "kinked.yaml")
    msg = str(err.value)
    assert msg.startswith("kinked.yaml: lanes: a carrier cannot drive from lane cn_ret_0 (forward) into lane "
                          "cn_park_0 (forward) at node cn_ret_div: ")
    assert why in msg


def test_a_small_kink_that_a_carrier_follows_within_centimetres_is_accepted():
    # 8 degrees at one node: a carrier on its smallest radius passes 3 cm inside the corner (R (sec 4 deg - 1))
    assert parse_world(_kinked_small_yard(8.0), "kinked.yaml").lanes["cn_park_0"]


def test_check_world_exits_1_on_a_connection_too_tight(capsys, tmp_path):
    from yard_bringup.cli import main

    bad = tmp_path / "kinked.yaml"
    bad.write_text(yaml.safe_dump(_kinked_small_yard(15.0)))
    assert main(["check-world", str(bad)]) == 1
    cap = capsys.readouterr()
    out = " ".join((cap.out + cap.err).split())
    assert "cn_ret_0 (forward) into lane cn_park_0 (forward) at node cn_ret_div" in out and "radius" in out


# ============================================================ the kinematic yard refuses as the follower does
class _Listener:
    def __init__(self):
        self.status: list[dict] = []

    def on_follower_status(self, doc, now):
        self.status.append(doc)

    def on_odometry(self, *a):
        pass

    def on_yard_state(self, *a):
        pass

    def drain(self):
        return []

    def tick(self, now):
        pass


def test_the_kinematic_yard_refuses_a_route_exactly_as_the_follower(small_world):
    ct = small_world.carrier_type
    pts, _ = _arc_route(ct.min_deck_turning_radius_m - 1.0, math.pi / 2, 1.0, 0.2, np.random.default_rng(3))
    pts = quantize_points(pts + [-25.0, 190.0])
    doc = {"route_id": "carrier_01-7", "carrier_id": "carrier_01", "points": pts.tolist(),
           "speed_limits_mps": [3.0] * len(pts),
           "goal": {"kind": "waypoint", "id": None, "x": pts[-1][0], "y": pts[-1][1], "yaw": math.pi / 2,
                    "dock": False}}
    f = PathFollower(PathFollowerParams(), ct, "carrier_01")
    followers_reason = f.set_route(doc)
    assert followers_reason and "unreachable with the carrier's turning radius" in followers_reason

    listener = _Listener()
    sim = FleetSim(small_world, YardNetwork(small_world), listener, ["carrier_01"])
    c = sim.carriers["carrier_01"]
    sim._on_route(c, doc)
    assert c.route is None and sim.metrics.routes_refused == 1
    last = listener.status[-1]
    assert (last["state"], last["route_id"], last["reason"]) == ("fault", "carrier_01-7", followers_reason)
    sim.step()  # stays put and keeps reporting the fault, as the follower does
    assert (c.v, listener.status[-1]["state"]) == (0.0, "fault")
