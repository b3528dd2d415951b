"""What a carrier can drive: the one contract between route building, the follower and the simulated yards.

Everything that decides whether a carrier can follow a polyline, and how fast, is defined here once and
used by the fleet manager (when it builds routes and plans their times), by the path follower (when it
accepts a route and plans its speed), by the kinematic yard of ``yard-autonomy day`` and by the world
check (``yard_model.lane_graph.tight_connections``, run when a world is loaded):

* **Turning radius** — the deck centre (``base_link``) can follow no curve tighter than
  ``CarrierType.min_deck_turning_radius_m`` (``sqrt(R_min^2 + (wheelbase/2)^2)``, 12.65 m for
  R_min = 12 m and an 8 m wheelbase).
* **Curvature of a polyline** — judged at every vertex on the circle through the vertex and the two
  vertices at least ``CURVATURE_HALF_WINDOW_M`` before and after it (Menger curvature). On points of
  one circle this is the circle's curvature whatever the spacing, and for points of any curve it never
  exceeds the curve's largest curvature between them, so an evenly or unevenly sampled lane is judged
  by its drawn radius. Route points travel rounded to ``POINT_RESOLUTION_M``; a point can then be off
  its curve by half a resolution step in x and y, which moves the circle's curvature by at most
  ``4 e / (c_a c_b)`` (e the largest offset, c_a and c_b the two half-chords): 0.9 % of 1 / 12.65 m
  with 2 m half-chords. That bound is the check's tolerance: a route is rejected only when the
  points, read as favourably as their resolution allows, still need a tighter curve than the carrier
  can drive. A turn squeezed into less than the window is judged as spread over it, which a carrier
  turning at its smallest radius follows within ``c^2 / (8 R)``, 4 cm.
* **Sampling** — no vertex may turn more than ``MAX_VERTEX_TURN_DEG`` (curves are sent as points along
  the arc, not as corners).
* **Speed** — ``speed_cap``: the lane's limit, the curve limit ``v <= sqrt(a_lat / |k|)`` with
  ``CarrierType.max_lateral_accel_mps2`` and the carrier's top speed, applied at every point to the
  largest curvature within ``CURVATURE_HALF_WINDOW_M`` (so a curve's limit holds from where the curve
  begins).

Why not the curvature of the follower's rebuilt path (``agv_nav.path``) for the check: that curve goes
exactly through every point, so it resolves a millimetre of rounding as curvature (a 15 m arc sent to
the millimetre read as 11.5 m to 21 m, alternating); it is the follower's reference for steering, this
is the judgement of what can be driven.
"""

from __future__ import annotations

import math

import numpy as np

POINT_RESOLUTION_M = 1e-3
"""Route points are sent rounded to this [m] (``quantize_points``)."""

CURVATURE_HALF_WINDOW_M = 2.0
"""Half-chord [m] over which curvature is judged (module docstring)."""

MAX_VERTEX_TURN_DEG = 12.0
"""Largest heading change at one vertex [deg]: more is a kink, not a sampled curve."""

MIN_ROUTE_LENGTH_M = 0.05
"""Shorter routes are rejected [m]."""

DUPLICATE_POINT_M = 1e-3
"""Consecutive points closer than this [m] are merged."""

MAX_COORDINATE_M = 1e6
"""Map coordinates beyond this [m] are not a yard."""


class RouteError(ValueError):
    """A route cannot be followed; the message says why (for the follower status and the log)."""


def quantize_points(points: np.ndarray) -> np.ndarray:
    """Points rounded to ``POINT_RESOLUTION_M``, as they travel in a ``carrier_route`` document."""
    digits = round(-math.log10(POINT_RESOLUTION_M))
    return np.round(np.asarray(points, dtype=float), digits)


def clean_points(points) -> np.ndarray:
    """(N, 2) float array of the points with consecutive duplicates merged; RouteError if unusable."""
    try:
        pts = np.asarray(points, dtype=float)
    except (TypeError, ValueError) as exc:
        raise RouteError(f"points are not a list of [x, y] numbers: {exc}") from exc
    if pts.size == 0:
        raise RouteError("route is empty")
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise RouteError(f"points must be [x, y] pairs, got shape {pts.shape}")
    bad = np.flatnonzero(~np.isfinite(pts).all(axis=1))
    if len(bad):
        raise RouteError(f"point {int(bad[0])} is not finite: {pts[bad[0]].tolist()}")
    far = np.flatnonzero(np.abs(pts).max(axis=1) > MAX_COORDINATE_M)
    if len(far):
        raise RouteError(f"point {int(far[0])} is {np.abs(pts[far[0]]).max():.3g} m from the map origin "
                         f"(max {MAX_COORDINATE_M:.0g} m)")
    keep = np.concatenate([[True], np.linalg.norm(np.diff(pts, axis=0), axis=1) > DUPLICATE_POINT_M])
    return pts[keep]


def vertex_curvatures(pts: np.ndarray, half_window_m: float = CURVATURE_HALF_WINDOW_M,
                      resolution_m: float = POINT_RESOLUTION_M) -> tuple[np.ndarray, np.ndarray]:
    """Signed curvature [1/m] at every vertex and its resolution bound (module docstring), shape (N,) each.

    Vertex i is judged on the circle through it, the last vertex at least ``half_window_m`` before it
    and the first at least as far after it (the route's ends when closer). The end points get
    curvature 0 and an infinite bound (nothing to judge there). Positive = turning left.
    """
    n = len(pts)
    kappa = np.zeros(n)
    bound = np.full(n, np.inf)
    if n < 3:
        return kappa, bound
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    i = np.arange(1, n - 1)
    a = np.clip(np.searchsorted(s, s[i] - half_window_m, side="right") - 1, 0, None)
    b = np.clip(np.searchsorted(s, s[i] + half_window_m, side="left"), None, n - 1)
    u = pts[i] - pts[a]
    v = pts[b] - pts[i]
    cu = np.hypot(u[:, 0], u[:, 1])
    cv = np.hypot(v[:, 0], v[:, 1])
    cw = np.hypot(u[:, 0] + v[:, 0], u[:, 1] + v[:, 1])
    cross = u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]
    ok = cu * cv > 0.0  # coinciding points (not cleaned) are not judged
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa[1:-1] = np.where(ok, np.where(cw > 0.0, 2.0 * cross / (cu * cv * cw), np.inf), 0.0)
        offset = resolution_m / 2.0 * math.sqrt(2.0)  # largest distance of a rounded point from the true one
        bound[1:-1] = np.where(ok, 4.0 * offset / (cu * cv), np.inf)
    return kappa, bound


def check_drivable(points, carrier_type, min_length_m: float = MIN_ROUTE_LENGTH_M,
                   max_vertex_turn_rad: float = math.radians(MAX_VERTEX_TURN_DEG)) -> np.ndarray:
    """The cleaned points if a carrier of ``carrier_type`` can drive the polyline; RouteError saying why if not.

    Checks, in this order: usable points (``clean_points``), at least two distinct ones, the length, no
    kink, and no curvature the deck centre cannot follow beyond the points' resolution.
    """
    pts = clean_points(points)
    if len(pts) < 2:
        raise RouteError("route needs at least two distinct points")
    d = np.diff(pts, axis=0)
    length = float(np.sum(np.hypot(d[:, 0], d[:, 1])))
    if length < min_length_m:
        raise RouteError(f"route is too short: {length:.3f} m < {min_length_m:g} m")
    if len(pts) < 3:
        return pts
    h = np.arctan2(d[:, 1], d[:, 0])
    turns = np.abs((np.diff(h) + np.pi) % (2.0 * np.pi) - np.pi)
    i = int(np.argmax(turns))
    if turns[i] > max_vertex_turn_rad:
        p = pts[i + 1]
        legs = 0.5 * (np.hypot(*d[i]) + np.hypot(*d[i + 1]))
        raise RouteError(
            f"route is kinked at point {i + 1} ({p[0]:.2f}, {p[1]:.2f}): the heading turns "
            f"{math.degrees(turns[i]):.1f} deg at one vertex (max {math.degrees(max_vertex_turn_rad):.1f}), "
            f"a radius of {legs / turns[i]:.2f} m over the {legs:.2f} m around it; "
            "send the curve sampled along its arc")
    r_min = carrier_type.min_deck_turning_radius_m
    kappa, bound = vertex_curvatures(pts)
    excess = np.abs(kappa) - bound - 1.0 / r_min
    i = int(np.argmax(excess))
    if excess[i] > 0.0:
        p = pts[i]
        raise RouteError(
            f"route is unreachable with the carrier's turning radius: radius {1.0 / abs(kappa[i]):.2f} m at point "
            f"{i} ({p[0]:.2f}, {p[1]:.2f}) is tighter than the {r_min:.2f} m the deck centre can follow")
    return pts


def curve_speed_limit(curvature, max_lateral_accel_mps2: float):
    """v <= sqrt(a_lat / |k|) [m/s] (inf where straight): the one curve-speed rule."""
    k = np.abs(np.asarray(curvature, dtype=float))
    with np.errstate(divide="ignore"):
        return np.where(k > 1e-9, np.sqrt(max_lateral_accel_mps2 / np.maximum(k, 1e-12)), np.inf)


def speed_cap(lane_limit_mps, curvature, carrier_type, cap_mps: float = math.inf):
    """Highest speed [m/s] allowed: lane limit, curve limit, the carrier's top speed and an extra cap.

    The one place where the carrier's top speed and its lateral acceleration limit are applied.
    """
    v = np.minimum(np.asarray(lane_limit_mps, dtype=float),
                   curve_speed_limit(curvature, carrier_type.max_lateral_accel_mps2))
    return np.minimum(v, min(carrier_type.max_speed_mps, cap_mps))


def segment_speed_caps(pts: np.ndarray, lane_limits_mps, carrier_type, cap_mps: float = math.inf) -> np.ndarray:
    """``speed_cap`` from point i to i + 1 of a polyline, shape (N,) (the last entry repeats the one before).

    The curvature of a segment is the largest vertex curvature within ``CURVATURE_HALF_WINDOW_M`` of it,
    so a curve's speed limit holds over the whole curve even where the judging circle still reaches onto
    the straight before it. ``lane_limits_mps`` is per point with the same "from i to i + 1" meaning.
    """
    n = len(pts)
    lane = np.broadcast_to(np.asarray(lane_limits_mps, dtype=float), (n,))
    if n < 2:
        return speed_cap(lane, np.zeros(n), carrier_type, cap_mps)
    kappa, _ = vertex_curvatures(pts)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    lo = np.searchsorted(s, s[:-1] - CURVATURE_HALF_WINDOW_M, side="left")
    hi = np.searchsorted(s, s[1:] + CURVATURE_HALF_WINDOW_M, side="right") - 1
    k_seg = _range_max(np.abs(kappa), lo, hi)
    caps = speed_cap(lane[:-1], k_seg, carrier_type, cap_mps)
    return np.concatenate([caps, caps[-1:]])


def _range_max(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """max(values[lo[j] : hi[j] + 1]) for every j (sparse table: O(n log n), vectorised)."""
    table = [values]
    while (1 << len(table)) <= len(values):  # level k holds the maxima of 2^k consecutive values
        prev, half = table[-1], 1 << (len(table) - 1)
        table.append(np.maximum(prev[:-half], prev[half:]))
    level = np.floor(np.log2(np.maximum(hi - lo + 1, 1))).astype(int)
    out = np.empty(len(lo))
    for k in np.unique(level):
        m = level == k
        t = table[k]
        out[m] = np.maximum(t[lo[m]], t[hi[m] - (1 << k) + 1])
    return out


def check_start(points, x: float, y: float, yaw: float, max_offset_m: float, max_heading_deg: float) -> None:
    """RouteError unless a carrier at (x, y, yaw) stands on the start of the polyline, as the follower judges it.

    The follower refuses a route that passes more than its ``max_start_offset_m`` from the carrier, starts
    more than that ahead of it, or heads more than ``max_start_heading_deg`` away from its heading; these
    are its messages. Judged here on the polyline (the follower's own projection lies on the arcs through
    the points, within ``c^2 / (8 R)`` of the chords: 1 cm for 1 m points on the tightest curve), so a
    caller that wants its routes accepted checks with a margin below the follower's limits.
    """
    pts = clean_points(points)
    if len(pts) < 2:
        raise RouteError("route needs at least two distinct points")
    d0 = pts[1] - pts[0]
    u0 = d0 / math.hypot(d0[0], d0[1])
    rel = np.array([x, y]) - pts[0]
    along0 = float(rel @ u0)
    a, b = pts[:-1], pts[1:]
    ab = b - a
    ab_len2 = np.sum(ab * ab, axis=1)
    t = np.clip(np.sum((np.array([x, y]) - a) * ab, axis=1) / ab_len2, 0.0, 1.0)
    foot = a + ab * t[:, None]
    i = int(np.argmin(np.sum((np.array([x, y]) - foot) ** 2, axis=1)))
    before = i == 0 and along0 < 0.0  # before the first point: judged on the first segment's line, extended
    lateral = float(u0[0] * rel[1] - u0[1] * rel[0]) if before else float(math.hypot(*(np.array([x, y]) - foot[i])))
    if abs(lateral) > max_offset_m:
        raise RouteError(f"route passes {abs(lateral):.2f} m from the carrier (max {max_offset_m:g} m)")
    if before and -along0 > max_offset_m:
        raise RouteError(f"route starts {-along0:.2f} m ahead of the carrier (max {max_offset_m:g} m)")
    heading = math.atan2(ab[i][1], ab[i][0])
    dyaw = abs((yaw - heading + math.pi) % (2.0 * math.pi) - math.pi)
    if dyaw > math.radians(max_heading_deg):
        raise RouteError(f"route heads {math.degrees(dyaw):.1f} deg away from the carrier's heading "
                         f"(max {max_heading_deg:g} deg)")
