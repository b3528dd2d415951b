"""Core tests of agv_nav path following: geometry, route checks, closed loop through the carrier model."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from path_scenarios import LeftTurn, RightTurn, SBend, Straight, drive, make_follower, route_doc, run_route

from agv_nav.follower import PoseEstimate, pose_estimate
from agv_nav.follower_params import PathFollowerParams
from agv_nav.lateral import LateralController, LateralDesign
from agv_nav.longitudinal import AlongTrackEstimate, SpeedReference, braking_speed, static_speed_profile, stop_speed
from agv_nav.path import ReferencePath, rear_axle_curvature, segment_curvatures
from agv_nav.safety import OtherCarrier, localization_cap, position_std
from yard_model.drivable import segment_speed_caps
from yard_model.geometry import fillet
from yard_model.world import Pose2D
from yard_sim.carrier_model import CarrierModel

ORIGIN = Pose2D(0.0, 0.0, 0.0)


@pytest.fixture(scope="module")
def carrier(youyiguan_world):
    return youyiguan_world.carrier_type


@pytest.fixture(scope="module")
def min_radius(carrier):
    return carrier.min_deck_turning_radius_m + 0.01


# ---------------------------------------------------------------- geometry
@pytest.mark.parametrize("decimals", [None, 3])
def test_filleted_lane_curvature_is_recovered_sent_exactly_or_to_the_millimetre(decimals):
    # An exact interpolation of the points recovered the exact data to 0.2 % but read the same corner sent to
    # the millimetre as 11.5 m to 21 m; the noise-weighted estimate keeps both within 1 % of the drawn 15 m.
    pts, design = fillet([(0, 0), (50, 0), (50, 50), (0, 60)], 15.0, 1.0)
    if decimals is not None:
        pts = pts.round(decimals)
    k = segment_curvatures(pts)
    arcs = design != 0.0
    assert np.allclose(k[arcs], design[arcs], rtol=1e-2)
    assert np.all(np.abs(k[~arcs]) < 1e-4)  # the straight legs stay straight


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(-1.0, 1.0), st.floats(-1.0, 1.0), st.sampled_from([0.01, 1.0, 100.0])),
                min_size=2, max_size=8))
def test_curvature_estimate_is_finite_for_few_long_or_short_segments(steps):
    # a docking route of three points 13.5 m and 70 m apart once made the normal equations singular
    pts = np.cumsum([[dx * scale, dy * scale] for dx, dy, scale in steps], axis=0)
    pts = pts[np.concatenate([[True], np.linalg.norm(np.diff(pts, axis=0), axis=1) > 1e-3])]
    if len(pts) >= 2:
        assert np.all(np.isfinite(segment_curvatures(pts)))
    k = segment_curvatures(np.array([[-17.0, 586.50813089], [-17.0, 600.0], [-17.0, 670.0]]))
    assert np.allclose(k, 0.0)


@settings(max_examples=40, deadline=None)
@given(radius=st.floats(12.0, 200.0), spacing=st.floats(0.3, 2.0), offset=st.floats(-1.5, 1.5),
       frac=st.floats(0.1, 0.9))
def test_projection_of_points_beside_an_arc(radius, spacing, offset, frac):
    pts = (Straight(10) + LeftTurn(radius, 60) + Straight(10)).points(step_m=spacing)
    path = ReferencePath(pts)
    # A point `offset` to the left of the arc at fraction `frac` of the turn.
    a = -math.pi / 2 + frac * math.radians(60)
    cx, cy = 10.0, radius
    r = radius - offset
    pr = path.project(cx + r * math.cos(a), cy + r * math.sin(a))
    assert pr.lateral_m == pytest.approx(offset, abs=1e-3)
    assert pr.s_m == pytest.approx(10.0 + frac * math.radians(60) * radius, abs=2e-3 * radius + 1e-3)
    assert pr.curvature == pytest.approx(1.0 / radius, rel=2e-2)


@settings(max_examples=40, deadline=None)
@given(cut=st.floats(0.0, 60.0))
def test_route_starting_between_two_lane_points_keeps_the_lane_curvature(cut):
    # The fleet manager may start a route at the carrier, between two points of an arc.
    pts = (Straight(20) + LeftTurn(15, 90) + Straight(20)).points()
    cum = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    i = int(np.searchsorted(cum, cut, side="right") - 1)
    f = (cut - cum[i]) / (cum[i + 1] - cum[i])
    trimmed = np.vstack([pts[i] + f * (pts[i + 1] - pts[i]), pts[i + 1:]])
    path = ReferencePath(trimmed)
    assert path.max_abs_curvature < 1.0 / 15.0 * 1.05


def test_projection_extends_beyond_both_ends():
    path = ReferencePath([(0, 0), (10, 0)])
    assert path.project(-2.0, 0.5).s_m == pytest.approx(-2.0)
    past = path.project(10.3, -0.2)
    assert past.s_m == pytest.approx(10.3) and past.lateral_m == pytest.approx(-0.2)


def test_rear_axle_curvature_matches_concentric_circles():
    assert float(rear_axle_curvature(1.0 / 15.0, 4.0)) == pytest.approx(1.0 / math.sqrt(15.0**2 - 4.0**2))


# ------------------------------------------------------------ route checks
def _reject(carrier, doc, pose=ORIGIN, params=None):
    f = make_follower(carrier, params)
    f.update_pose(PoseEstimate(0.0, pose.x, pose.y, pose.yaw))
    reason = f.set_route(doc)
    assert reason is not None
    assert f.state == "fault" and f.reason == reason
    return reason


def test_route_rejections_say_why(carrier):
    good = route_doc(Straight(30).points(), 3.0)
    assert "empty" in _reject(carrier, {**good, "points": [], "speed_limits_mps": []})
    assert "two distinct" in _reject(carrier, {**good, "points": [[0, 0], [0, 0]], "speed_limits_mps": [1, 1]})
    assert "not finite" in _reject(carrier, {**good, "points": [[0, 0], [float("nan"), 1.0]]})
    assert "too short" in _reject(carrier, route_doc([(0, 0), (0.01, 0)], 3.0))
    kinked = route_doc([(0, 0), (20, 0), (40, 15)], 3.0)
    assert "kinked at point 1" in _reject(carrier, kinked)
    tight = route_doc((Straight(10) + LeftTurn(12.0) + Straight(10)).points(), 3.0)
    assert "unreachable with the carrier's turning radius" in _reject(carrier, tight)
    assert "speed_limits_mps has 1 entries" in _reject(carrier, {**good, "speed_limits_mps": [3.0]})
    off_goal = {**good, "goal": {**good["goal"], "x": 25.0}}
    assert "before the route's end" in _reject(carrier, off_goal)
    assert "end heading" in _reject(carrier, {**good, "goal": {**good["goal"], "yaw": 1.0}})
    assert "from the carrier" in _reject(carrier, good, pose=Pose2D(5.0, 3.0, 0.0))
    assert "away from the carrier's heading" in _reject(carrier, good, pose=Pose2D(0.0, 0.0, 1.2))
    assert "ahead of the carrier" in _reject(carrier, route_doc([(10, 0), (40, 0)], 3.0))


def test_the_first_status_of_a_new_route_says_where_the_carrier_is_on_it(carrier):
    """After 120 m of one route, a new route from where the carrier stands: its very first status (sent as the
    route is taken, before any control step) gives the progress along the new route, not the old route's
    120 m (which told the fleet manager the carrier was far ahead: it released the track behind it)."""
    line = [[float(x), 0.0] for x in range(0, 201)]
    f, m, _ = run_route(carrier, route_doc(line[:121], 4.0, dock=False), ORIGIN, settle_s=0.0)
    assert f.status(60.0)["progress_m"] > 100.0
    st = m.state
    new = [[st.x + float(k), st.y] for k in range(-2, 80)]  # starts 2 m behind the carrier
    assert f.set_route(route_doc(new, 4.0, dock=False, route_id="r2")) is None
    status = f.status(60.0)
    assert status["route_id"] == "r2" and status["progress_m"] == pytest.approx(2.0, abs=0.3)


def test_route_for_another_carrier_is_ignored(carrier):
    f = make_follower(carrier)
    reason = f.set_route(route_doc(Straight(30).points(), 3.0, carrier_id="carrier_09"))
    assert "carrier_09" in reason and f.state == "idle"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(allow_nan=True, allow_infinity=True, width=32),
                          st.floats(allow_nan=True, allow_infinity=True, width=32)), min_size=0, max_size=8))
def test_random_points_are_accepted_or_rejected_with_a_reason(youyiguan_world, points):
    f = make_follower(youyiguan_world.carrier_type)
    doc = {"route_id": "x", "carrier_id": "carrier_01", "points": [list(p) for p in points],
           "speed_limits_mps": [2.0] * len(points), "goal": {"kind": "spot", "x": 0.0, "y": 0.0, "yaw": 0.0,
                                                            "dock": False}}
    reason = f.set_route(doc)
    if all(math.isfinite(v) for p in points for v in p):
        assert reason is None or (isinstance(reason, str) and "rejected" in reason)
    else:  # a NaN or infinite point is never accepted
        assert isinstance(reason, str) and "rejected" in reason, reason
    assert (f.state, f.route is None) == (("following", False) if reason is None else ("fault", True))
    cmd = f.step(0.0)  # never raises, whatever was accepted
    assert math.isfinite(cmd.v_mps) and math.isfinite(cmd.yaw_rate_radps)


@settings(max_examples=60, deadline=None)
@given(index=st.integers(0, 10_000), axis=st.integers(0, 1), bad=st.sampled_from([math.nan, math.inf, -math.inf]),
       with_pose=st.booleans())
def test_a_good_route_with_one_non_finite_coordinate_is_rejected(carrier, index, axis, bad, with_pose):
    good = route_doc(Straight(30).points(), 3.0)
    ok = make_follower(carrier)
    assert ok.set_route(good) is None and ok.state == "following"  # the route itself is fine
    points = [list(p) for p in good["points"]]
    points[index % len(points)][axis] = bad
    f = make_follower(carrier)
    if with_pose:
        f.update_pose(PoseEstimate(0.0, 0.0, 0.0, 0.0))
    reason = f.set_route({**good, "points": points})
    assert isinstance(reason, str) and "rejected" in reason and "not finite" in reason
    assert f.state == "fault" and f.route is None
    cmd = f.step(0.1)
    assert (cmd.v_mps, cmd.yaw_rate_radps) == (0.0, 0.0)


# --------------------------------------------------------- speed regulation
@settings(max_examples=50, deadline=None)
@given(d=st.floats(0.01, 200.0), a=st.floats(0.1, 3.0), j=st.floats(0.1, 5.0))
def test_braking_speed_stops_within_the_distance(d, a, j):
    v = braking_speed(d, a, j)
    assert v * v / (2 * a) + v * a / (2 * j) == pytest.approx(d, rel=1e-6)


@settings(max_examples=30, deadline=None)
@given(targets=st.lists(st.floats(0.0, 8.0), min_size=1, max_size=6))
def test_speed_reference_respects_acceleration_and_jerk(targets):
    ref, dt, amax, dmax, j = SpeedReference(), 0.02, 0.7, 0.8, 1.0
    prev_a = 0.0
    for target in targets:
        for _ in range(800):
            ref.step(target, dt, amax, dmax, j)
            assert -dmax - 1e-9 <= ref.a <= amax + 1e-9
            # jerk bounded except the final snap onto the target (a -> 0 from below j*dt)
            assert abs(ref.a - prev_a) <= j * dt + 1e-9 or ref.a == 0.0
            prev_a = ref.a
        assert ref.v == pytest.approx(target, abs=1e-6)


def test_static_profile_brakes_ahead_of_curves_and_lane_limits(carrier):
    path = ReferencePath((Straight(100) + LeftTurn(15) + Straight(50)).points(), None)
    lane = np.where(path.s > 140.0, 2.0, 6.0)
    cap = np.minimum(lane, segment_speed_caps(path.points, np.inf, carrier)[path.segment_of_sample])
    v = static_speed_profile(path.s, cap, 0.8)
    on_arc = np.abs(path.curvature) > 0.01
    assert np.all(v[on_arc] <= math.sqrt(carrier.max_lateral_accel_mps2 * 15.0) + 1e-9)
    assert np.all(v[path.s > 140.0] <= 2.0 + 1e-9)
    dv2 = np.diff(v**2)
    assert np.all(dv2 >= -2 * 0.8 * np.diff(path.s) - 1e-6)  # never brakes harder than planned
    assert v[0] == pytest.approx(6.0)


def test_stop_law_is_zero_at_the_goal_and_creeps_short_of_it():
    kw = dict(lag_s=0.4, decel=0.8, jerk=1.0, gain=1.5, creep=0.04, tolerance=0.001)
    assert stop_speed(0.0005, 0.0, **kw) == 0.0
    assert stop_speed(0.01, 0.0, **kw) == pytest.approx(0.04)
    assert stop_speed(0.04, 0.1, **kw) == 0.0  # will roll 4 cm on the lag: already enough
    assert stop_speed(30.0, 4.0, **kw) > 3.0


# ------------------------------------------------------------------ lateral
def test_preview_gains_hold_a_constant_arc_without_correction(carrier):
    d = LateralDesign(0.02, 4.0, carrier.steering_time_constant_s, 3.0, 1.0, 1.0, 1e4, (2.0, 4.0))
    lc = LateralController(d, 1.0 / 12.0, 1.0)
    w = 1.0 / 14.0
    for v in (2.0, 4.0):
        K, kw = lc.gains_at(v)
        change = -(K @ np.array([0.0, 0.0, w, w])) - kw.sum() * w
        assert abs(change) < 1e-9


# -------------------------------------------------------------- closed loop
@pytest.mark.parametrize("speed", [2.0, 4.0, 6.0])
def test_left_turn_at_lane_radius(carrier, speed):
    # long enough to reach 6 m/s and brake to the curve limit sqrt(a_lat 15 m) before the corner
    pts = (Straight(60) + LeftTurn(15) + Straight(40)).points()
    f, m, tr = run_route(carrier, route_doc(pts, speed), ORIGIN)
    e = tr.cross_track(after_s=2.0)
    assert f.state == "docked"
    assert np.sqrt(np.mean(e**2)) < 0.02 and np.max(np.abs(e)) < 0.05
    assert max(tr.speed) == pytest.approx(speed, abs=0.05)


@pytest.mark.parametrize("speed", [2.0, 4.0])
def test_s_bend_and_right_turn_at_the_minimum_radius(carrier, min_radius, speed):
    pts = (Straight(30) + SBend(min_radius, 50) + Straight(20) + RightTurn(min_radius) + Straight(30)).points()
    f, m, tr = run_route(carrier, route_doc(pts, speed), ORIGIN)
    e = tr.cross_track(after_s=2.0)
    assert f.state == "docked"
    assert np.max(np.abs(e)) < 0.06
    # The curvature limit slows it on the tight arcs: v <= sqrt(a_lat R), a_lat of the carrier type (braking
    # starts early enough for the jerk limit: the carrier enters the arc at the limit, not above it).
    arc_speed = [v for v, s in zip(tr.speed, tr.s) if abs(float(f.route.path.curvature_at(s))) > 0.05]
    assert max(arc_speed) <= math.sqrt(carrier.max_lateral_accel_mps2 * min_radius) + 0.05


@pytest.mark.parametrize("dy,dyaw", [(0.0, 0.0), (0.4, 0.0), (-0.3, 0.04), (0.2, -0.05)])
@pytest.mark.parametrize("length", [12.0, 40.0])
def test_docking_from_offsets_ends_within_2_cm_without_overshoot(carrier, dy, dyaw, length):
    f, m, tr = run_route(carrier, route_doc(Straight(length).points(), 3.0), Pose2D(0.0, dy, dyaw))
    err = f.docking_error
    assert f.state == "docked"
    assert abs(err["along_m"]) <= 0.02 and abs(err["across_m"]) <= 0.02
    assert abs(err["yaw_rad"]) <= (0.01 if length >= 40 else 0.04)
    truth_along = np.asarray(tr.x) - length
    assert truth_along.max() <= 0.002  # never past the bay
    assert min(tr.v_cmd) >= 0.0  # no reversing needed
    # Slow only where it must: cruising until the braking distance of the planned deceleration.
    cruise = [v for v, s in zip(tr.speed, tr.s) if s < length - 12.0]
    if cruise:
        assert max(cruise) > 2.5


def test_overshoot_is_corrected_by_reversing(carrier):
    params = PathFollowerParams()
    f = make_follower(carrier, params)
    m = CarrierModel(carrier, ORIGIN)
    f.update_pose(PoseEstimate(0.0, 0.0, 0.0, 0.0))
    assert f.set_route(route_doc(Straight(20).points(), 3.0)) is None

    def shove(t, fo, mo):  # a gust of wheel slip: the carrier lands 6 cm past the bay
        if fo.s > 19.9 and not getattr(shove, "done", False):
            mo.state.x += 0.08
            shove.done = True

    t, tr = drive(f, m, 80.0, on_step=shove, stop_when=lambda fo: fo.state in ("docked", "fault"))
    assert f.state == "docked" and min(tr.v_cmd) < 0.0
    assert abs(f.docking_error["along_m"]) <= 0.02


def test_authority_stop_and_resume(carrier):
    doc = route_doc(Straight(100).points(), 4.0, authority_m=50.0)
    f = make_follower(carrier)
    m = CarrierModel(carrier, ORIGIN)
    f.update_pose(PoseEstimate(0.0, 0.0, 0.0, 0.0))
    assert f.set_route(doc) is None
    t, tr = drive(f, m, 40.0)
    assert f.state == "blocked" and "movement authority" in f.reason
    assert 49.95 <= m.state.x <= 50.0 and m.state.speed_mps < 0.01
    assert f.status(t)["authority_m"] == pytest.approx(50.0)
    assert f.set_authority({"route_id": "other", "authority_m": 100.0}) is not None  # not our route: ignored
    assert f.set_authority({"route_id": "r1", "authority_m": 100.0}) is None
    t, tr = drive(f, m, 120.0, t0=t, stop_when=lambda fo: fo.state == "docked")
    assert f.state == "docked" and abs(f.docking_error["along_m"]) < 0.02
    f.set_emergency_stop(True)  # an emergency stop while docked blocks, and its release restores docked
    t, _ = drive(f, m, t + 1.0, t0=t)
    assert f.state == "blocked"
    f.set_emergency_stop(False)
    t, _ = drive(f, m, t + 1.0, t0=t)
    assert f.state == "docked" and max(abs(v) for v in _.v_cmd) == 0.0


def test_route_replaced_while_moving(carrier):
    # Drive east at 4 m/s; at x = 30 the fleet manager re-plans onto a lane 4 m to the left.
    f = make_follower(carrier)
    m = CarrierModel(carrier, ORIGIN)
    f.update_pose(PoseEstimate(0.0, 0.0, 0.0, 0.0))
    assert f.set_route(route_doc(Straight(120).points(), 4.0)) is None
    t, tr = drive(f, m, 100.0, stop_when=lambda fo: fo.s > 30.0)
    v_before = m.state.speed_mps
    start = Pose2D(m.state.x - 1.0, 0.0, 0.0)
    new = (Straight(3) + SBend(30.0, 16.0) + Straight(60)).points(start)
    assert f.set_route(route_doc(new, 4.0, route_id="r2")) is None
    i0 = len(tr.t)
    t, tr = drive(f, m, 200.0, t0=t, trace=tr, stop_when=lambda fo: fo.state in ("docked", "fault"))
    assert f.state == "docked" and f.status(t)["route_id"] == "r2"
    assert np.max(np.abs(tr.lateral[i0:])) < 0.05
    speeds = np.asarray(tr.speed[i0:])
    assert speeds[0] == pytest.approx(v_before, abs=0.1)
    assert np.max(np.abs(np.diff(speeds))) / f.dt < 1.0  # no speed jump at the hand-over


def test_cancel_brakes_to_idle(carrier):
    f = make_follower(carrier)
    m = CarrierModel(carrier, ORIGIN)
    f.update_pose(PoseEstimate(0.0, 0.0, 0.0, 0.0))
    f.set_route(route_doc(Straight(200).points(), 4.0))
    t, _ = drive(f, m, 20.0)
    assert m.state.speed_mps > 3.0
    assert f.set_route({**route_doc(Straight(2).points(), 0.0), "cancel": True}) is None
    t, tr = drive(f, m, t + 15.0, t0=t)
    assert f.state == "idle" and m.state.speed_mps < 0.01
    assert min(np.diff(tr.speed)) / f.dt >= -0.8 * 1.3  # a planned stop, not a slam


# ------------------------------------------------------------------ safety
def test_stale_localization_stops_at_once_and_resumes(carrier):
    f = make_follower(carrier)
    m = CarrierModel(carrier, ORIGIN)
    f.update_pose(PoseEstimate(0.0, 0.0, 0.0, 0.0))
    f.set_route(route_doc(Straight(200).points(), 3.0))
    t, _ = drive(f, m, 15.0)
    frozen = f.pose
    cmd = f.step(frozen.t + 0.31)
    assert cmd.v_mps == 0.0 and f.state == "blocked" and "stale" in f.reason
    t, _ = drive(f, m, t + 40.0, t0=t)
    assert f.state == "following" and m.state.speed_mps > 2.5


def test_emergency_stop_blocks_and_releases(carrier):
    f = make_follower(carrier)
    m = CarrierModel(carrier, ORIGIN)
    f.update_pose(PoseEstimate(0.0, 0.0, 0.0, 0.0))
    f.set_route(route_doc(Straight(200).points(), 3.0))
    t, _ = drive(f, m, 10.0)
    f.set_emergency_stop(True)
    t, tr = drive(f, m, t + 5.0, t0=t)
    assert f.state == "blocked" and f.reason == "emergency stop"
    assert max(tr.v_cmd) == 0.0 and m.state.speed_mps < 0.01
    f.set_emergency_stop(False)
    t, _ = drive(f, m, t + 10.0, t0=t)
    assert f.state == "following" and m.state.speed_mps > 1.0


def test_carrier_ahead_slows_and_stops_short_of_it(carrier):
    f = make_follower(carrier)
    m = CarrierModel(carrier, ORIGIN)
    f.update_pose(PoseEstimate(0.0, 0.0, 0.0, 0.0))
    f.set_route(route_doc(Straight(200).points(), 4.0))
    parked = OtherCarrier("carrier_02", 0.0, 80.0, 0.3, 0.02)

    def keep_fresh(t, fo, mo):
        fo.update_other(dataclasses.replace(parked, t=t))

    t, tr = drive(f, m, 80.0, on_step=keep_fresh)
    gap = (80.0 - carrier.length_m / 2) - (m.state.x + carrier.length_m / 2)
    assert f.state == "blocked" and "carrier_02" in f.reason
    assert m.state.speed_mps < 0.01
    assert 3.0 <= gap <= 4.5  # standstill gap 4 m, kept
    # A carrier on the neighbouring lane (5 m to the side) does not block.
    f2 = make_follower(carrier)
    m2 = CarrierModel(carrier, ORIGIN)
    f2.update_pose(PoseEstimate(0.0, 0.0, 0.0, 0.0))
    f2.set_route(route_doc(Straight(200).points(), 4.0))
    beside = OtherCarrier("carrier_03", 0.0, 80.0, 5.0, 0.0)
    t, _ = drive(f2, m2, 60.0, on_step=lambda t, fo, mo: fo.update_other(dataclasses.replace(beside, t=t)))
    assert "carrier_03" not in f2.reason and m2.state.x > 150.0


def test_localization_covariance_caps_speed():
    assert position_std(np.diag([0.04, 0.01])) == pytest.approx(0.2)
    assert localization_cap(0.02, 0.01, 0.05, 0.3, 0.05, 8.0) == (8.0, "")
    cap, reason = localization_cap(0.175, 0.01, 0.05, 0.3, 0.05, 8.0)
    assert cap == pytest.approx(4.0) and reason == ""
    cap, reason = localization_cap(0.35, 0.01, 0.05, 0.3, 0.05, 8.0)
    assert cap == 0.0 and "position std" in reason


def test_pose_estimate_takes_the_largest_deviation_of_the_localization_covariance():
    # What the node (odometry covariance) and the benchmark (filter covariance) hand the follower.
    p = pose_estimate(1.0, 2.0, 3.0, 0.5, 4.0, 0.1, [[0.01, 0.0], [0.0, 0.04]], 1e-4)
    assert (p.t, p.x, p.y, p.yaw, p.speed_mps, p.yaw_rate_radps) == (1.0, 2.0, 3.0, 0.5, 4.0, 0.1)
    assert p.std_xy_m == pytest.approx(0.2) and p.std_yaw_rad == pytest.approx(0.01)
    # correlated x/y: the major axis, not the diagonal, decides
    corr = pose_estimate(0, 0, 0, 0, 0, 0, [[0.02, 0.015], [0.015, 0.02]], 0.0)
    assert corr.std_xy_m == pytest.approx(math.sqrt(0.035))
    assert math.isinf(pose_estimate(0, 0, 0, 0, 0, 0, [[0.01, 0.0], [0.0, 0.01]], -1.0).std_yaw_rad)
    assert math.isinf(pose_estimate(0, 0, 0, 0, 0, 0, [[math.nan, 0.0], [0.0, 0.01]], 0.0).std_xy_m)
    cap, reason = localization_cap(p.std_xy_m, p.std_yaw_rad, 0.05, 0.3, 0.05, 8.0)
    assert 0.0 < cap < 8.0 and reason == ""


def test_uncertain_localization_stops_the_carrier(carrier):
    f = make_follower(carrier)
    m = CarrierModel(carrier, ORIGIN)
    f.update_pose(PoseEstimate(0.0, 0.0, 0.0, 0.0))
    f.set_route(route_doc(Straight(300).points(), 4.0))
    t, _ = drive(f, m, 20.0)
    st_ = m.state
    blurred = lambda t, fo, mo: fo.update_pose(PoseEstimate(t, mo.state.x, mo.state.y, mo.state.yaw,  # noqa: E731
                                                             mo.state.speed_mps, 0.0, std_xy_m=0.4))
    t, _ = drive(f, m, t + 15.0, t0=t, on_step=blurred)
    assert st_.speed_mps < 0.01 and f.state == "blocked" and "uncertain" in f.reason


def test_a_noisy_pose_after_the_stop_does_not_creep_the_carrier_on(carrier):
    # After the stop law cut the command at the bay, the pose jumps 1.5 cm back (localization noise): the
    # carrier looks short, but within the docking tolerance, so it must stay and report docked.
    f = make_follower(carrier)
    m = CarrierModel(carrier, ORIGIN)
    f.update_pose(PoseEstimate(0.0, 0.0, 0.0, 0.0))
    assert f.set_route(route_doc(Straight(20).points(), 3.0)) is None
    t, tr = drive(f, m, 60.0, stop_when=lambda fo: fo.s > 19.5 and fo.last_command.v_mps == 0.0)
    cut_x = m.state.x

    def noisy(t, fo, mo):
        st_ = mo.state
        fo.update_pose(PoseEstimate(t, st_.x - 0.015, st_.y, st_.yaw, st_.speed_mps, st_.yaw_rate_radps))

    t, tr = drive(f, m, t + 5.0, t0=t, on_step=noisy)
    assert f.state == "docked"
    assert max(tr.v_cmd) == 0.0
    assert m.state.x - cut_x < 0.02  # only the lag's roll-out after the cut


@pytest.mark.parametrize("seed", range(4))
def test_docking_on_a_white_noisy_pose_averages_instead_of_sampling(carrier, seed):
    """Issue #14: with 1.5 cm of white noise on every pose sample (no bay positioning), a stop law that reads one
    sample stops 2-3 cm off. The follower filters the arc length over the approach: the deck stops within 1 cm,
    and the docking error it reports is within 0.5 cm of the truth."""
    rng = np.random.default_rng(seed)
    length = 30.0

    def noisy(t, fo, mo):
        st_ = mo.state
        e = 0.015 * rng.standard_normal(2)
        fo.update_pose(PoseEstimate(t, st_.x + e[0], st_.y + e[1], st_.yaw + 0.002 * rng.standard_normal(),
                                    st_.speed_mps, st_.yaw_rate_radps, std_xy_m=0.015))

    f, m, tr = run_route(carrier, route_doc(Straight(length).points(), 3.0), Pose2D(0.0, 0.0, 0.0), on_step=noisy)
    assert f.state == "docked"
    truth_along = m.state.x - length
    assert abs(truth_along) <= 0.01
    assert abs(f.docking_error["along_m"] - truth_along) <= 0.005


def test_along_track_estimate_follows_a_smooth_localization_and_takes_its_corrections_at_once():
    """The averaging must not lag a good localization output (its increments are tiny, so it learns that its
    samples are precise), and a real correction of the localization (bay positioning taking over) is followed
    at once rather than smoothed over seconds; white samples are averaged down."""
    est, t, s = AlongTrackEstimate(), 0.0, 0.0
    for _ in range(200):  # 4 s at 2 m/s, decelerating: a smooth output
        v = 2.0 - 0.4 * t
        est.predict(t, v)
        est.update(s, 1e-4)
        assert abs(est.s - s) < 1e-3
        t, s = t + 0.02, s + v * 0.02
    est.predict(t, 0.4)
    est.update(s + 0.10, 1e-4)  # the localization jumps 10 cm
    assert abs(est.s - (s + 0.10)) < 1e-6
    rng = np.random.default_rng(1)
    white = AlongTrackEstimate()
    for k in range(150):  # 3 s standing, 1.5 cm white samples
        white.predict(0.02 * k, 0.0)
        white.update(5.0 + 0.015 * rng.standard_normal(), 0.015**2)
    assert abs(white.s - 5.0) < 0.004 and math.sqrt(white.noise) == pytest.approx(0.015, rel=0.3)


@settings(max_examples=30, deadline=None)
@given(offsets=st.lists(st.floats(-1.2, 1.2), min_size=50, max_size=50), radius=st.floats(12.5, 60.0))
def test_projection_that_walks_from_the_hint_equals_the_window_search(offsets, radius):
    """project() follows the foot point from the previous one with scalar arithmetic (issue #14, speed); it must
    give what the numpy window search gives, corners and the inside of curves included."""
    path = ReferencePath((Straight(20) + LeftTurn(radius, 80) + RightTurn(radius, 40) + Straight(10)).points())
    hint = None
    for k, off in enumerate(offsets):
        s0 = -1.0 + (path.length_m + 2.0) * k / (len(offsets) - 1)
        x, y, h = path.pose_at(s0)
        x, y = x - math.sin(h) * off, y + math.cos(h) * off
        walked, searched = path.project(x, y, hint), path._search(x, y, hint, 4.0)
        for f in ("s_m", "lateral_m", "heading_rad", "curvature"):
            assert getattr(walked, f) == pytest.approx(getattr(searched, f), abs=1e-9), f
        hint = walked.index


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(st.floats(0.01, 0.5), min_size=1, max_size=200),
       limits=st.lists(st.one_of(st.floats(0.0, 10.0), st.just(math.inf)), min_size=201, max_size=201))
def test_vectorised_braking_pass_equals_the_sample_by_sample_pass(steps, limits):
    """backward_braking_pass is a reversed cumulative minimum (issue #14, route rebuild); it must lower every
    limit exactly as walking back sample by sample does."""
    from agv_nav.longitudinal import backward_braking_pass

    s = np.concatenate([[0.0], np.cumsum(steps)])
    lim = np.array(limits[:len(s)])
    expected = lim.copy()
    for i in range(len(s) - 2, -1, -1):
        if math.isfinite(expected[i + 1]):
            expected[i] = min(expected[i], math.sqrt(expected[i + 1] ** 2 + 2.0 * 0.8 * (s[i + 1] - s[i])))
    got = backward_braking_pass(s, lim, 0.8)
    assert np.array_equal(np.isfinite(got), np.isfinite(expected))
    np.testing.assert_allclose(got[np.isfinite(got)], expected[np.isfinite(expected)], rtol=1e-9, atol=1e-9)
