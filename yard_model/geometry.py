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
    """Round every interior corner of a polyline with a tangent arc.

    Returns an (N, 2) array of points spaced at most ``step_m`` apart along the
    arcs (straight legs keep only their end points). Raises FilletError naming
    the corner when two neighbouring arcs would overlap on a leg, i.e. when the
    radius is too large for the drawing.
    """
    pts = [np.asarray(p, dtype=float) for p in corners]
    if len(pts) < 2:
        raise FilletError("a lane needs at least two points")
    for i in range(len(pts) - 1):
        if np.linalg.norm(pts[i + 1] - pts[i]) < 1e-6:
            raise FilletError(f"points {i} and {i + 1} coincide")
    if len(pts) == 2 or radius_m <= 0.0:
        return np.array(pts)

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
    for i in range(1, len(pts) - 1):
        if abs(turn[i]) < 1e-9:
            out.append(pts[i])
            continue
        d_in = (pts[i] - pts[i - 1]) / np.linalg.norm(pts[i] - pts[i - 1])
        d_out = (pts[i + 1] - pts[i]) / np.linalg.norm(pts[i + 1] - pts[i])
        start = pts[i] - d_in * tangent[i]
        # Centre lies to the left of the incoming direction for a left turn.
        left = np.array([-d_in[1], d_in[0]])
        centre = start + left * radius_m * math.copysign(1.0, turn[i])
        a0 = math.atan2(start[1] - centre[1], start[0] - centre[0])
        n = max(2, int(math.ceil(abs(turn[i]) * radius_m / step_m)) + 1)
        for k in range(n):
            a = a0 + turn[i] * k / (n - 1)
            out.append(centre + radius_m * np.array([math.cos(a), math.sin(a)]))
        _ = d_out  # the arc ends tangent to d_out by construction
    out.append(pts[-1])
    arr = np.array(out)
    keep = np.concatenate([[True], np.linalg.norm(np.diff(arr, axis=0), axis=1) > 1e-9])
    return arr[keep]


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


def point_at(points: np.ndarray, s_m: float) -> tuple[float, float, float]:
    """Interpolated (x, y, heading) at arc length s along a polyline (clamped)."""
    cum = cumulative_length(points)
    s = min(max(s_m, 0.0), float(cum[-1]))
    i = int(np.searchsorted(cum, s, side="right") - 1)
    i = min(max(i, 0), len(points) - 2)
    seg = cum[i + 1] - cum[i]
    t = 0.0 if seg <= 0 else (s - cum[i]) / seg
    x, y = points[i] + t * (points[i + 1] - points[i])
    return float(x), float(y), heading(tuple(points[i]), tuple(points[i + 1]))


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
