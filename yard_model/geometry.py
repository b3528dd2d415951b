"""Planar geometry for lanes: filleted polylines, headings, arc length.

Lanes are authored as corner polylines with a corner radius (what a yard
drawing shows); vehicles need smooth curves. ``fillet_polyline`` replaces each
corner by a circular arc tangent to both legs, which is exactly the geometry a
road designer would draw, and keeps the curvature bounded by 1/radius so that
turning-radius checks are a comparison, not a simulation.

All coordinates are in the ``map`` frame: metres, x east, y north (REP-103).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Point = tuple[float, float]


def wrap_angle(angle_rad: float) -> float:
    """Wrap an angle to [-pi, pi)."""
    return (angle_rad + math.pi) % (2.0 * math.pi) - math.pi


def heading(a: Point, b: Point) -> float:
    """Heading [rad] of the direction from a to b, counter-clockwise from east."""
    return math.atan2(b[1] - a[1], b[0] - a[0])


class FilletError(ValueError):
    """A corner cannot be rounded with the requested radius."""


def fillet_polyline(corners: Sequence[Point], radius_m: float, step_m: float = 1.0) -> np.ndarray:
    """Round every interior corner of a polyline with a tangent arc (the points of :func:`fillet`)."""
    return fillet(corners, radius_m, step_m)[0]


def fillet(corners: Sequence[Point], radius_m: float, step_m: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Round every interior corner of a polyline with a tangent arc; points and design curvature.

    Returns an (N, 2) array of points and the (N-1,) signed curvature [1/m] of each segment as drawn
    (0 on the straight legs, +-1/radius on the chords of an arc, positive turning left). Every arc is
    sampled evenly: equal chords at most ``step_m`` long, all vertices on the circle; straight legs
    keep only their end points. Raises FilletError naming the corner when two neighbouring arcs
    would overlap on a leg, i.e. when the radius is too large for the drawing.
    """
    pts = [np.asarray(p, dtype=float) for p in corners]
    if len(pts) < 2:
        raise FilletError("a lane needs at least two points")
    for i in range(len(pts) - 1):
        if np.linalg.norm(pts[i + 1] - pts[i]) < 1e-6:
            raise FilletError(f"points {i} and {i + 1} coincide")
    if len(pts) == 2 or radius_m <= 0.0:
        return np.array(pts), np.zeros(len(pts) - 1)

    # Tangent length of each interior corner: r * tan(turn / 2).
    tangent = [0.0] * len(pts)
    turn = [0.0] * len(pts)
    for i in range(1, len(pts) - 1):
        h_in = heading(tuple(pts[i - 1]), tuple(pts[i]))
        h_out = heading(tuple(pts[i]), tuple(pts[i + 1]))
        turn[i] = wrap_angle(h_out - h_in)
        if abs(abs(turn[i]) - math.pi) < 1e-6:
            raise FilletError(f"corner {i} reverses direction (180 degree turn)")
        tangent[i] = radius_m * math.tan(abs(turn[i]) / 2.0)
    for i in range(len(pts) - 1):
        leg = float(np.linalg.norm(pts[i + 1] - pts[i]))
        if tangent[i] + tangent[i + 1] > leg + 1e-6:
            raise FilletError(
                f"leg {i}->{i + 1} is {leg:.2f} m long but its corner arcs need "
                f"{tangent[i] + tangent[i + 1]:.2f} m at radius {radius_m:g} m"
            )

    out: list[np.ndarray] = [pts[0]]
    kappa: list[float] = []  # curvature of the segment that ends at out[k + 1]
    for i in range(1, len(pts) - 1):
        if abs(turn[i]) < 1e-9:
            out.append(pts[i])
            kappa.append(0.0)
            continue
        d_in = (pts[i] - pts[i - 1]) / np.linalg.norm(pts[i] - pts[i - 1])
        start = pts[i] - d_in * tangent[i]
        # Centre lies to the left of the incoming direction for a left turn.
        left = np.array([-d_in[1], d_in[0]])
        centre = start + left * radius_m * math.copysign(1.0, turn[i])
        a0 = math.atan2(start[1] - centre[1], start[0] - centre[0])
        n = max(2, int(math.ceil(abs(turn[i]) * radius_m / step_m)) + 1)
        k_arc = math.copysign(1.0 / radius_m, turn[i])
        for k in range(n):
            a = a0 + turn[i] * k / (n - 1)
            out.append(centre + radius_m * np.array([math.cos(a), math.sin(a)]))
            kappa.append(0.0 if k == 0 else k_arc)  # the arc ends tangent to the outgoing leg by construction
    out.append(pts[-1])
    kappa.append(0.0)
    arr = np.array(out)
    seg_kappa = np.array(kappa)
    keep = np.linalg.norm(np.diff(arr, axis=0), axis=1) > 1e-9  # per segment: drop zero-length ones
    return arr[np.concatenate([[True], keep])], seg_kappa[keep]


def polyline_length(points: np.ndarray) -> float:
    """Total length [m] of an (N, 2) polyline."""
    return float(np.sum(np.linalg.norm(np.diff(points, axis=0), axis=1)))


def cumulative_length(points: np.ndarray) -> np.ndarray:
    """Arc length [m] at every vertex of an (N, 2) polyline, starting at 0."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(seg)])


def start_heading(points: np.ndarray) -> float:
    """Heading [rad] at the first vertex."""
    return heading(tuple(points[0]), tuple(points[1]))


def end_heading(points: np.ndarray) -> float:
    """Heading [rad] at the last vertex."""
    return heading(tuple(points[-2]), tuple(points[-1]))


def max_curvature(points: np.ndarray) -> float:
    """Largest discrete curvature [1/m] of a polyline (turn angle / mean leg length).

    For a filleted polyline this is ~1/radius on the arcs, which is what a
    minimum-turning-radius check needs.
    """
    if len(points) < 3:
        return 0.0
    d = np.diff(points, axis=0)
    h = np.arctan2(d[:, 1], d[:, 0])
    dh = np.abs((np.diff(h) + np.pi) % (2 * np.pi) - np.pi)
    seg = np.linalg.norm(d, axis=1)
    mean_leg = 0.5 * (seg[:-1] + seg[1:])
    return float(np.max(dh / np.maximum(mean_leg, 1e-9)))


def project_onto_polyline(points: np.ndarray, p: Point) -> tuple[float, float, int]:
    """Project a point onto a polyline.

    Returns (arc length s [m] of the foot point, signed lateral offset [m],
    positive to the left of travel, index of the segment).
    """
    a = points[:-1]
    b = points[1:]
    ab = b - a
    ab_len2 = np.maximum(np.sum(ab * ab, axis=1), 1e-12)
    ap = np.asarray(p, dtype=float) - a
    t = np.clip(np.sum(ap * ab, axis=1) / ab_len2, 0.0, 1.0)
    foot = a + ab * t[:, None]
    dist2 = np.sum((np.asarray(p) - foot) ** 2, axis=1)
    i = int(np.argmin(dist2))
    s0 = cumulative_length(points)[i]
    seg_len = math.sqrt(ab_len2[i])
    cross = ab[i, 0] * ap[i, 1] - ab[i, 1] * ap[i, 0]
    return float(s0 + t[i] * seg_len), float(cross / seg_len), i


def point_at(points: np.ndarray, s_m: float, cum: np.ndarray | None = None, extrapolate: bool = False,
             curvature: np.ndarray | None = None) -> tuple[float, float, float]:
    """(x, y, heading) at arc length s along a polyline: the one point-at-arc-length helper.

    ``cum`` is :func:`cumulative_length` of the points when the caller has it. Beyond the ends s is
    clamped, or with ``extrapolate`` continued straight along the end segments. Between two vertices the
    point lies on the chord, or with the segments' design ``curvature`` (see :func:`fillet`) on the arc
    through them (heading then tangent to the arc), so that a cut arc keeps its radius.
    """
    if cum is None:
        cum = cumulative_length(points)
    length = float(cum[-1])
    i = int(np.searchsorted(cum, s_m, side="right") - 1)
    i = min(max(i, 0), len(points) - 2)
    seg = float(cum[i + 1] - cum[i])
    if not extrapolate or 0.0 <= s_m <= length:
        s_m = min(max(s_m, 0.0), length)
    t = (s_m - cum[i]) / seg if seg > 0 else 0.0
    if curvature is None or not 0.0 < t < 1.0:
        d = points[i + 1] - points[i]
        x, y = points[i] + t * d
        return float(x), float(y), math.atan2(d[1], d[0])
    x, y, h = _along_segments(points, np.array([i]), np.array([t]), np.asarray(curvature, dtype=float))
    return float(x[0]), float(y[0]), float(h[0])


def _along_segments(points: np.ndarray, i: np.ndarray, t: np.ndarray, curvature: np.ndarray):
    """(x, y, heading) arrays at fraction t of the arc of segment i (its chord where the curvature is 0).

    The arc of curvature k through the segment's end points leaves the first one at the chord's heading
    minus half its central angle; a fraction t of its length further on is exact circle geometry.
    """
    p0 = points[i]
    d = points[i + 1] - p0
    chord = np.hypot(d[:, 0], d[:, 1])
    k = curvature[i]
    curved = k != 0.0
    ks = np.where(curved, k, 1.0)
    half = np.arcsin(np.clip(k * chord / 2.0, -1.0, 1.0))
    u = t * np.where(curved, 2.0 * half / ks, chord)  # arc length from p0
    h0 = np.arctan2(d[:, 1], d[:, 0]) - half
    x = np.where(curved, p0[:, 0] + (np.sin(h0 + k * u) - np.sin(h0)) / ks, p0[:, 0] + t * d[:, 0])
    y = np.where(curved, p0[:, 1] - (np.cos(h0 + k * u) - np.cos(h0)) / ks, p0[:, 1] + t * d[:, 1])
    return x, y, h0 + k * u


def slice_polyline(points: np.ndarray, a_m: float, b_m: float, cum: np.ndarray | None = None,
                   curvature: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Sub-polyline between arc lengths a <= b (both clamped) and its segments' curvature (if given).

    The cut points come from :func:`point_at` (on the arc when ``curvature`` is given); the vertices
    between them are kept as they are.
    """
    if cum is None:
        cum = cumulative_length(points)
    length = float(cum[-1])
    a, b = min(max(a_m, 0.0), length), min(max(b_m, 0.0), length)
    pa = np.array(point_at(points, a, cum, curvature=curvature)[:2])
    if b - a < 1e-9:
        return np.array([pa, pa]), (None if curvature is None else np.zeros(1))
    pb = np.array(point_at(points, b, cum, curvature=curvature)[:2])
    inner_idx = np.flatnonzero((cum > a + 1e-9) & (cum < b - 1e-9))
    out = np.vstack([pa, points[inner_idx], pb])
    if curvature is None:
        return out, None
    first = int(np.searchsorted(cum, a, side="right") - 1)
    first = min(max(first, 0), len(points) - 2)
    segs = np.concatenate([[first], inner_idx])  # segment of the lane each new segment lies on
    return out, np.asarray(curvature, dtype=float)[segs]


def resample_polyline(points: np.ndarray, step_m: float, values: np.ndarray | None = None,
                      curvature: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Points at most ``step_m`` apart, every original vertex kept (so corners and arcs stay exact).

    Segments are split evenly; with the segments' ``curvature`` the new points lie on their arcs (an arc
    already sampled finer than the step is left as it is). ``values`` (one per point, meaning "from
    point i to i + 1", e.g. speed limits) are carried to the new points: each new segment gets the lower
    of its original segment's two end values.
    """
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    n = np.maximum(1, np.ceil(seg / step_m - 1e-9).astype(int))
    leg = np.repeat(np.arange(len(seg)), n)  # original segment of every new point after the first
    k = np.arange(len(leg)) - np.repeat(np.cumsum(n) - n, n) + 1  # 1..n within each segment
    frac = k / np.repeat(n, n)
    out = np.vstack([points[:1], points[leg] + (points[leg + 1] - points[leg]) * frac[:, None]])
    if curvature is not None:
        inner = (np.asarray(curvature, dtype=float)[leg] != 0.0) & (frac < 1.0)
        if inner.any():
            x, y, _ = _along_segments(points, leg[inner], frac[inner], np.asarray(curvature, dtype=float))
            out[1:][inner] = np.column_stack([x, y])
    if values is None:
        return out, None
    leg_v = np.minimum(values[:-1], values[1:])
    return out, np.concatenate([leg_v[leg], [values[-1]]])


def rectangle(cx: float, cy: float, yaw: float, length: float, width: float) -> list[Point]:
    """Corners of a rectangle centred at (cx, cy), long axis along yaw."""
    c, s = math.cos(yaw), math.sin(yaw)
    hl, hw = length / 2.0, width / 2.0
    return [
        (cx + c * dx - s * dy, cy + s * dx + c * dy)
        for dx, dy in ((hl, hw), (-hl, hw), (-hl, -hw), (hl, -hw))
    ]


def yaw_of_quaternion(x: float, y: float, z: float, w: float) -> float:
    """ENU yaw [rad] of a unit quaternion (rotation about z of base_link x)."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
