"""Lane geometry: filleted corners are tangent circular arcs; projection onto polylines round-trips."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from yard_model import geometry
from yard_model.geometry import FilletError, fillet_polyline


# ------------------------------------------------------------------ scenario helpers
def corner_polyline(start_heading_rad: float, turns_rad: list[float], radius_m: float, spare_m: list[float]):
    """Corner points whose legs just fit the arcs of ``radius_m`` plus ``spare_m`` of straight on each leg."""
    tangent = [0.0] + [radius_m * math.tan(abs(t) / 2.0) for t in turns_rad] + [0.0]
    pts = [np.zeros(2)]
    h = start_heading_rad
    for i in range(len(turns_rad) + 1):
        leg = tangent[i] + tangent[i + 1] + spare_m[i]
        pts.append(pts[-1] + leg * np.array([math.cos(h), math.sin(h)]))
        if i < len(turns_rad):
            h += turns_rad[i]
    return [tuple(p) for p in pts]


def line_distance(p, a, b) -> float:
    """Distance [m] from p to the infinite line through a and b."""
    d = np.asarray(b) - np.asarray(a)
    return abs(d[0] * (p[1] - a[1]) - d[1] * (p[0] - a[0])) / np.linalg.norm(d)


polylines = st.builds(
    lambda h, turns, r, spare: (corner_polyline(h, turns, r, spare[: len(turns) + 1]), turns, r),
    st.floats(-math.pi, math.pi),
    st.lists(st.floats(math.radians(3), math.radians(150)).flatmap(lambda a: st.sampled_from([a, -a])),
             min_size=1, max_size=4),
    st.floats(5.0, 60.0),
    st.lists(st.floats(0.0, 40.0), min_size=5, max_size=5),
)


# ------------------------------------------------------------------ fillet properties
@settings(max_examples=50, deadline=None)
@given(polylines)
def test_fillet_arcs_are_tangent_to_both_legs(case):
    corners, turns, radius = case
    pts = fillet_polyline(corners, radius)
    np.testing.assert_allclose(pts[0], corners[0], atol=1e-9)
    np.testing.assert_allclose(pts[-1], corners[-1], atol=1e-9)
    for i, turn in enumerate(turns, start=1):
        prev, corner, nxt = (np.asarray(corners[k]) for k in (i - 1, i, i + 1))
        d_in = (corner - prev) / np.linalg.norm(corner - prev)
        d_out = (nxt - corner) / np.linalg.norm(nxt - corner)
        # Independent construction: the centre lies on the inner bisector at r / cos(turn/2) from the corner.
        bisector = (d_out - d_in) / np.linalg.norm(d_out - d_in)
        centre = corner + bisector * radius / math.cos(abs(turn) / 2.0)
        assert line_distance(centre, prev, corner) == pytest.approx(radius, rel=1e-9)
        assert line_distance(centre, corner, nxt) == pytest.approx(radius, rel=1e-9)
        t_len = radius * math.tan(abs(turn) / 2.0)
        t_in, t_out = corner - d_in * t_len, corner + d_out * t_len  # tangent points on the legs
        i_in = int(np.argmin(np.linalg.norm(pts - t_in, axis=1)))
        i_out = int(np.argmin(np.linalg.norm(pts - t_out, axis=1)))
        assert np.linalg.norm(pts[i_in] - t_in) < 1e-6 and np.linalg.norm(pts[i_out] - t_out) < 1e-6
        arc = pts[i_in:i_out + 1]
        assert len(arc) >= 2
        np.testing.assert_allclose(np.linalg.norm(arc - centre, axis=1), radius, rtol=1e-9)
        # tangent at the ends: radius vectors are perpendicular to the legs
        assert abs(np.dot(t_in - centre, d_in)) < 1e-6 * radius
        assert abs(np.dot(t_out - centre, d_out)) < 1e-6 * radius


@settings(max_examples=50, deadline=None)
@given(polylines)
def test_fillet_curvature_is_bounded_by_the_radius(case):
    corners, turns, radius = case
    pts = fillet_polyline(corners, radius, step_m=1.0)
    # Chords of an arc sampled every <= 1 m overestimate curvature by at most (step/r)^2 / 24 < 0.2 %.
    assert geometry.max_curvature(pts) <= (1.0 / radius) * 1.01
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    assert np.all(seg > 1e-9)  # no duplicate points
    # length = straight legs + arcs; chords of angle da <= step/r fall short of an arc r*theta by at most
    # r*theta*da^2/24 <= theta/(24 r)
    legs = sum(math.dist(a, b) for a, b in zip(corners, corners[1:]))
    expected = legs + sum(radius * (abs(t) - 2.0 * math.tan(abs(t) / 2.0)) for t in turns)
    chord_shortfall = sum(abs(t) for t in turns) / (24.0 * radius)
    length = geometry.polyline_length(pts)
    assert expected - chord_shortfall - 1e-6 <= length <= expected + 1e-6


def test_fillet_right_angle_by_hand():
    pts = fillet_polyline([(0.0, 0.0), (20.0, 0.0), (20.0, 20.0)], 10.0, step_m=0.5)
    # the arc runs from (10, 0) to (20, 10) around the centre (10, 10)
    assert any(np.allclose(p, (10.0, 0.0)) for p in pts) and any(np.allclose(p, (20.0, 10.0)) for p in pts)
    inner = pts[(pts[:, 0] > 10.0 + 1e-9) & (pts[:, 1] < 10.0 - 1e-9)]
    np.testing.assert_allclose(np.hypot(inner[:, 0] - 10.0, inner[:, 1] - 10.0), 10.0)
    assert geometry.start_heading(pts) == pytest.approx(0.0)
    assert geometry.end_heading(pts) == pytest.approx(math.pi / 2)
    assert geometry.polyline_length(pts) == pytest.approx(20.0 + math.pi * 5.0, rel=1e-3)


def test_fillet_without_radius_or_corners_keeps_the_points():
    np.testing.assert_array_equal(fillet_polyline([(0, 0), (5, 0)], 10.0), [[0, 0], [5, 0]])
    np.testing.assert_array_equal(fillet_polyline([(0, 0), (5, 0), (5, 5)], 0.0), [[0, 0], [5, 0], [5, 5]])


def test_collinear_via_point_is_kept_straight():
    pts = fillet_polyline([(0, 0), (5, 0), (10, 0)], 8.0)
    assert geometry.max_curvature(pts) == 0.0 and geometry.polyline_length(pts) == pytest.approx(10.0)


@pytest.mark.parametrize(
    "corners, radius, message",
    [
        ([(0, 0)], 5.0, "at least two points"),
        ([(0, 0), (0, 0), (5, 0)], 5.0, "points 0 and 1 coincide"),
        ([(0, 0), (10, 0), (0, 0.0)], 5.0, "180 degree"),
        ([(0, 0), (10, 0), (10, 10)], 15.0, "leg 0->1 is 10.00 m long but its corner arcs need 15.00 m"),
        ([(0, 0), (30, 0), (30, 8), (60, 8)], 10.0, "leg 1->2 is 8.00 m long"),
    ],
)
def test_fillet_errors_name_the_corner(corners, radius, message):
    with pytest.raises(FilletError, match=re.escape(message)):
        fillet_polyline(corners, radius)


@settings(max_examples=50, deadline=None)
@given(polylines)
def test_fillet_reports_the_drawn_curvature_of_every_segment(case):
    corners, turns, radius = case
    pts, k = geometry.fillet(corners, radius, step_m=1.0)
    assert len(k) == len(pts) - 1 and np.array_equal(pts, fillet_polyline(corners, radius))
    assert set(np.round(np.abs(k) * radius, 9)) <= {0.0, 1.0}
    # each arc chord turns the heading by its central angle 2 asin(l k / 2); together they make the corners' turns
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    assert np.sum(2.0 * np.arcsin(seg * k / 2.0)) == pytest.approx(sum(turns), abs=1e-9)
    arcs = np.flatnonzero(k)
    assert np.all(seg[arcs] <= 1.0 + 1e-9)  # sampled at most every metre


@settings(max_examples=40, deadline=None)
@given(polylines, st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_cuts_and_resampling_stay_on_the_drawn_arcs(case, fa, fb):
    corners, turns, radius = case
    pts, k = geometry.fillet(corners, radius, step_m=2.5)  # coarse chords: a cut on a chord would be far off
    cum = geometry.cumulative_length(pts)
    a, b = sorted((fa * cum[-1], fb * cum[-1]))
    piece, pk = geometry.slice_polyline(pts, a, b, cum, curvature=k)
    fine, _ = geometry.resample_polyline(piece, 0.4, curvature=pk)
    x, y, _ = geometry.point_at(pts, 0.5 * (a + b), cum, curvature=k)
    drawn = shapely.LineString(fillet_polyline(corners, radius, 0.005))  # the lane as drawn, to ~1 micrometre
    for q in (piece, fine, np.array([[x, y]])):
        assert np.all(shapely.distance(drawn, shapely.points(q)) < 1e-5)


def test_point_at_extrapolates_straight_beyond_the_ends_on_request():
    pts = np.array([(0.0, 0.0), (10.0, 0.0), (10.0, 5.0)])
    assert geometry.point_at(pts, -2.0, extrapolate=True) == pytest.approx((-2.0, 0.0, 0.0))
    assert geometry.point_at(pts, 17.0, extrapolate=True) == pytest.approx((10.0, 7.0, math.pi / 2))
    assert geometry.point_at(pts, 17.0) == pytest.approx((10.0, 5.0, math.pi / 2))


def test_resampling_keeps_vertices_and_takes_the_lower_limit():
    pts = np.array([(0.0, 0.0), (2.5, 0.0), (3.0, 0.0)])
    out, v = geometry.resample_polyline(pts, 1.0, np.array([4.0, 2.0, 3.0]))
    assert out[:, 0] == pytest.approx([0.0, 2.5 / 3, 5.0 / 3, 2.5, 3.0])
    assert v.tolist() == [2.0, 2.0, 2.0, 2.0, 3.0]


# ------------------------------------------------------------------ projection
@settings(max_examples=40, deadline=None)
@given(polylines, st.floats(0.0, 1.0), st.floats(-1.0, 1.0))
def test_projection_round_trip(case, fraction, offset_m):
    corners, turns, radius = case
    if sum(abs(t) for t in turns) > math.radians(170):
        turns = turns[:1]  # keep the curve monotone so the nearest point is the intended one
        corners = corners[:3]
    pts = fillet_polyline(corners, radius)
    s = fraction * geometry.polyline_length(pts)
    x, y, h = geometry.point_at(pts, s)
    s_back, lateral, _ = geometry.project_onto_polyline(pts, (x, y))
    assert s_back == pytest.approx(s, abs=1e-6) and abs(lateral) < 1e-6
    # Offset sideways (left of travel is positive). Near a vertex on an arc the polyline normal is
    # ambiguous by at most the chord angle (<= 1/radius rad), which bounds the error.
    px, py = x - math.sin(h) * offset_m, y + math.cos(h) * offset_m
    s_off, lat_off, _ = geometry.project_onto_polyline(pts, (px, py))
    chord_angle = 1.0 / radius
    assert lat_off == pytest.approx(offset_m, abs=abs(offset_m) * (1 - math.cos(chord_angle)) + 1e-6)
    if 0.0 < s < geometry.polyline_length(pts):
        assert s_off == pytest.approx(s, abs=abs(offset_m) * math.sin(chord_angle) + 1e-6)


def test_projection_signs_and_clamping():
    pts = np.array([(0.0, 0.0), (10.0, 0.0)])
    assert geometry.project_onto_polyline(pts, (4.0, 2.0))[:2] == pytest.approx((4.0, 2.0))
    assert geometry.project_onto_polyline(pts, (4.0, -3.0))[:2] == pytest.approx((4.0, -3.0))
    assert geometry.project_onto_polyline(pts, (-5.0, 1.0))[0] == 0.0
    assert geometry.project_onto_polyline(pts, (15.0, 1.0))[0] == pytest.approx(10.0)
    assert geometry.point_at(pts, -3.0) == pytest.approx((0.0, 0.0, 0.0))
    assert geometry.point_at(pts, 99.0) == pytest.approx((10.0, 0.0, 0.0))


# ------------------------------------------------------------------ small helpers
@settings(max_examples=100, deadline=None)
@given(st.floats(-100.0, 100.0))
def test_wrap_angle_range(a):
    w = geometry.wrap_angle(a)
    assert -math.pi <= w < math.pi
    assert math.sin(w) == pytest.approx(math.sin(a), abs=1e-9) and math.cos(w) == pytest.approx(math.cos(a), abs=1e-9)


@settings(max_examples=50, deadline=None)
@given(st.floats(-50, 50), st.floats(-50, 50), st.floats(-math.pi, math.pi), st.floats(1, 20), st.floats(1, 5))
def test_rectangle_has_the_right_sides(cx, cy, yaw, length, width):
    c = geometry.rectangle(cx, cy, yaw, length, width)
    assert math.dist(c[0], c[1]) == pytest.approx(length) and math.dist(c[1], c[2]) == pytest.approx(width)
    assert np.mean(c, axis=0) == pytest.approx((cx, cy))
    # the long side points along yaw
    assert abs(geometry.wrap_angle(geometry.heading(c[1], c[0]) - yaw)) < 1e-9


def test_cumulative_length():
    pts = np.array([(0, 0), (3, 4), (3, 10)], dtype=float)
    np.testing.assert_allclose(geometry.cumulative_length(pts), [0.0, 5.0, 11.0])
