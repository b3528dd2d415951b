"""Reference path for the path follower: a smooth curve rebuilt from the route polyline.

The fleet manager sends the lane centre line as a dense-ish polyline: straight legs are two far-apart
points, filleted corners are points about 1 m apart on the arc (``yard_model.geometry.fillet_polyline``).
Following the chords literally would give a heading that jumps at every vertex and an 8 mm sag per
metre-spaced arc chord at R = 15 m, so the follower rebuilds the curve the points were sampled from:

* every segment i is taken as a circular arc of curvature ``kappa_i`` through its two end points;
* at every interior vertex the two arcs share a tangent, which gives one linear equation per vertex,
  ``kappa_(i-1) * l_(i-1) + kappa_i * l_i = 2 * turn_i`` (half the central angle of each arc on either side);
* the system has one more unknown than equations; its null space alternates in sign from segment to
  segment, so a small penalty on the total variation of the curvature picks the member with a few
  genuine steps (iteratively reweighted; each pass solves tridiagonal normal equations with
  ``scipy.linalg.solveh_banded`` in O(n)).

Lines and filleted arcs are recovered exactly (tested), so the reference has the curvature steps a road
designer drew, which the lateral controller previews. The curve is then sampled every ``step_m`` with
exact heading and curvature at each sample, and points are projected onto it with a windowed search
around the previous foot point (O(1) per control step). The first and last segments are extended
beyond the route's ends for projection, so a carrier just behind the start or past the goal gets a
signed arc length (negative, or beyond the length) and the right lateral offset.

Route checks (``RouteError`` with a reason naming the point): fewer than two distinct points, a
non-finite value, too short, a vertex whose turn is a kink rather than a sampled curve, and a curvature
the carrier cannot drive. Because ``base_link`` is the deck centre, half a wheelbase ``a`` ahead of the
rear axle whose minimum turning radius is ``R_min``, the tightest curve the deck centre can follow
exactly has radius ``sqrt(R_min^2 + a^2)`` (12.65 m for R_min = 12 m, a = 4 m), not ``R_min``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.linalg import solveh_banded

DUPLICATE_POINT_M = 1e-3  # [m] consecutive points closer than this are merged
MAX_COORDINATE_M = 1e6  # [m] map coordinates beyond this are not a yard
MAX_ROUTE_LENGTH_M = 50_000.0  # [m] longer routes are rejected (the follower samples the whole route)


class RouteError(ValueError):
    """A route cannot be followed; the message says why (for the follower status and the log)."""


def min_trackable_radius(min_turning_radius_m: float, wheelbase_m: float) -> float:
    """Smallest radius [m] the deck centre (half a wheelbase ahead of the rear axle) can follow."""
    return math.hypot(min_turning_radius_m, wheelbase_m / 2.0)


def rear_axle_curvature(deck_curvature: np.ndarray | float, half_wheelbase_m: float):
    """Curvature [1/m] of the rear axle's path when the deck centre follows ``deck_curvature``.

    On a circle of radius R about the same centre, the rear axle runs at sqrt(R^2 - a^2):
    kappa_rear = kappa / sqrt(1 - (a kappa)^2). Clamped just short of the singularity.
    """
    k = np.asarray(deck_curvature, dtype=float)
    ak = np.clip(half_wheelbase_m * k, -0.95, 0.95)
    return k / np.sqrt(1.0 - ak * ak)


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2.0 * np.pi) - np.pi


def clean_points(points) -> np.ndarray:
    """(N, 2) float array of the route points with consecutive duplicates merged; RouteError if unusable."""
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


def segment_curvatures(pts: np.ndarray, smoothing: float = 1e-6, iterations: int = 6) -> np.ndarray:
    """Curvature [1/m] of the circular arc through each segment (module docstring), shape (N-1,).

    The tangent equations fix all but one alternating mode; it is chosen by minimising the total
    variation of the curvature (iteratively reweighted least squares), which prefers a few genuine
    steps (line to arc) over a ripple spread along every arc.
    """
    d = np.diff(pts, axis=0)
    lengths = np.linalg.norm(d, axis=1)
    m = len(lengths)
    if m < 2:
        return np.zeros(m)
    headings = np.arctan2(d[:, 1], d[:, 0])
    turns = _wrap(np.diff(headings))  # (m-1,)
    # Row r (vertex r+1): (k_r l_r + k_(r+1) l_(r+1)) / w_r = 2 turn_r / w_r, w_r = l_r + l_(r+1).
    w = lengths[:-1] + lengths[1:]
    a0 = lengths[:-1] / w  # coefficient of k_r
    a1 = lengths[1:] / w  # coefficient of k_(r+1)
    b = 2.0 * turns / w
    # A first (last) segment shorter than its neighbour is usually a piece of a chord (a route that starts
    # or ends between two lane points): it is no arc of its own, so its tangent equation is dropped and it
    # takes its neighbour's curvature.
    if lengths[0] < lengths[1]:
        a0[0] = a1[0] = b[0] = 0.0
    if m > 2 and lengths[-1] < lengths[-2]:
        a0[-1] = a1[-1] = b[-1] = 0.0
    base_diag = np.full(m, 1e-12)
    base_diag[:-1] += a0 * a0
    base_diag[1:] += a1 * a1
    base_off = a0 * a1  # entry (r, r+1)
    rhs = np.zeros(m)
    rhs[:-1] += a0 * b
    rhs[1:] += a1 * b
    diff_weight = np.ones(m - 1)
    kappa = np.zeros(m)
    for _ in range(iterations):
        # Normal equations (A^T A + smoothing * D^T W D) k = A^T b: tridiagonal.
        s = smoothing * diff_weight
        diag = base_diag.copy()
        diag[:-1] += s
        diag[1:] += s
        ab = np.zeros((2, m))
        ab[0, 1:] = base_off - s
        ab[1, :] = diag
        kappa = solveh_banded(ab, rhs)
        diff_weight = 1.0 / np.maximum(np.abs(np.diff(kappa)), 1e-5)
        diff_weight /= diff_weight.max()
    return kappa


class Projection(NamedTuple):
    """Where a point lies relative to the path (a named tuple: built every control step, so built cheaply)."""

    s_m: float  # arc length of the foot point (may be < 0 before the start or > length past the end)
    lateral_m: float  # signed offset, positive to the left of travel
    heading_rad: float  # path tangent at the foot point (unwrapped along the path)
    curvature: float  # path curvature at the foot point [1/m]
    index: int  # sample index of the foot segment (hint for the next search)


class ReferencePath:
    """The rebuilt smooth path, sampled every ``step_m`` (see module docstring).

    Arrays (all of length n): ``s`` arc length [m], ``x``, ``y`` [m], ``heading`` [rad, unwrapped],
    ``curvature`` [1/m] of the sample's segment, ``speed_limit`` [m/s] of the segment.
    """

    def __init__(self, points, speed_limits_mps=None, step_m: float = 0.25, smoothing: float = 1e-6):
        pts = clean_points(points)
        if len(pts) < 2:
            raise RouteError("route needs at least two distinct points")
        self.points = pts
        raw_limits = None
        if speed_limits_mps is not None:
            raw_limits = np.asarray(speed_limits_mps, dtype=float)
        self.segment_kappa = segment_curvatures(pts, smoothing)
        d = np.diff(pts, axis=0)
        chord = np.linalg.norm(d, axis=1)
        chord_heading = np.arctan2(d[:, 1], d[:, 0])
        half = np.arcsin(np.clip(self.segment_kappa * chord / 2.0, -1.0, 1.0))  # half central angle
        arc_len = np.where(np.abs(self.segment_kappa) > 1e-9, 2.0 * half / np.where(
            np.abs(self.segment_kappa) > 1e-9, self.segment_kappa, 1.0), chord)
        self.segment_start_s = np.concatenate([[0.0], np.cumsum(arc_len)])
        self.length_m = float(self.segment_start_s[-1])
        if self.length_m > MAX_ROUTE_LENGTH_M:
            raise RouteError(f"route is {self.length_m:.0f} m long (max {MAX_ROUTE_LENGTH_M:.0f} m)")
        self.segment_chord_heading = chord_heading
        self.segment_half_angle = half

        # Per-segment speed limit: entry i of the route's list applies from point i to i+1 (cleaned indices
        # are mapped back to the first original point of each kept run).
        seg_limits = self._segment_limits(points, pts, raw_limits)
        # Sample every segment's arc every step_m, all segments at once (issue #14: the route rebuild is
        # vectorised). Headings stay continuous (unwrapped) along the path: each segment starts where the
        # previous one ended, give or take the wrapped difference of their drawn tangents.
        m = len(chord)
        k = self.segment_kappa
        turn = k * arc_len  # heading change over each segment
        h_raw = chord_heading - half
        mismatch = _wrap(h_raw[1:] - (h_raw[:-1] + turn[:-1]))
        h_start = h_raw[0] + np.concatenate([[0.0], np.cumsum(turn[:-1] + mismatch)])
        counts = np.maximum(1, np.ceil(arc_len / step_m).astype(int))
        seg = np.repeat(np.arange(m), counts)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        u = (np.arange(len(seg)) - first[seg]) * (arc_len / counts)[seg]
        ks_ = k[seg]
        hs_ = h_start[seg]
        curved = np.abs(ks_) > 1e-9
        safe_k = np.where(curved, ks_, 1.0)
        ku = ks_ * u
        px = np.where(curved, (np.sin(hs_ + ku) - np.sin(hs_)) / safe_k, u * np.cos(hs_))
        py = np.where(curved, -(np.cos(hs_ + ku) - np.cos(hs_)) / safe_k, u * np.sin(hs_))
        end_heading = h_start[-1] + turn[-1]
        self.x = np.append(pts[seg, 0] + px, pts[-1, 0])
        self.y = np.append(pts[seg, 1] + py, pts[-1, 1])
        self.heading = np.append(hs_ + ku, end_heading)
        self.curvature = np.append(ks_, k[-1])
        self.s = np.append(self.segment_start_s[seg] + u, self.length_m)
        self.speed_limit = np.append(seg_limits[seg], seg_limits[-1])
        self.segment_of_sample = np.append(seg, m - 1).astype(int)
        self.n = len(self.s)
        self._xy = np.column_stack([self.x, self.y])
        seg = np.diff(self._xy, axis=0)
        self._seg = seg
        self._seg_len2 = np.maximum(np.sum(seg * seg, axis=1), 1e-12)
        self._ds = np.diff(self.s)
        self._mean_ds = max(float(self._ds.mean()), 1e-3) if len(self._ds) else 1.0
        # plain lists for the scalar walk of project()
        self._xs, self._ys, self._ss = self.x.tolist(), self.y.tolist(), self.s.tolist()
        self._hs, self._ks = self.heading.tolist(), self.curvature.tolist()

    @staticmethod
    def _segment_limits(raw_points, pts: np.ndarray, raw_limits: np.ndarray | None) -> np.ndarray:
        m = len(pts) - 1
        if raw_limits is None:
            return np.full(m, np.inf)
        raw = np.asarray(raw_points, dtype=float)
        if len(raw_limits) != len(raw):
            raise RouteError(f"speed_limits_mps has {len(raw_limits)} entries for {len(raw)} points")
        bad = np.flatnonzero(~np.isfinite(raw_limits) | (raw_limits < 0.0))
        if len(bad):
            raise RouteError(f"speed limit {int(bad[0])} is not a finite non-negative number: {raw_limits[bad[0]]}")
        keep = np.concatenate([[True], np.linalg.norm(np.diff(raw, axis=0), axis=1) > DUPLICATE_POINT_M])
        kept_index = np.flatnonzero(keep)  # original index of each cleaned point
        return raw_limits[kept_index[:-1]]

    # ------------------------------------------------------------------ queries
    def project(self, x: float, y: float, hint: int | None = None, window_m: float = 4.0) -> Projection:
        """Foot point of (x, y); searches ``window_m`` around ``hint`` (a previous index) or everywhere.

        With a hint, the foot point is first followed along the path from it with scalar arithmetic (a control
        step moves it by a sample or two); only if that walk does not settle within the window is the window
        searched with numpy.
        """
        if hint is not None and 0 <= hint < self.n - 1:
            found = self._walk(x, y, hint, int(window_m / self._mean_ds) + 2)
            if found is not None:
                return found
        return self._search(x, y, hint, window_m)

    def _walk(self, x: float, y: float, i: int, max_steps: int) -> Projection | None:
        xs, ys = self._xs, self._ys
        last = self.n - 2
        direction = 0
        for _ in range(max_steps):
            ax, ay = xs[i], ys[i]
            ux, uy = xs[i + 1] - ax, ys[i + 1] - ay
            px, py = x - ax, y - ay
            seg2 = ux * ux + uy * uy
            t = (px * ux + py * uy) / seg2 if seg2 > 1e-12 else 0.0
            if t > 1.0 and i < last and direction >= 0:
                i, direction = i + 1, 1
            elif t < 0.0 and i > 0 and direction <= 0:
                i, direction = i - 1, -1
            else:
                break
        else:
            return None
        cross = ux * py - uy * px
        # Inside a curve, near a vertex, the feet on two neighbouring segments are both valid: take the nearest, as
        # the search does. The band where that can happen is about (distance from the line) x (chord turn) /
        # (segment length) wide at each end of the segment; well inside it the neighbours cannot be nearer.
        ks = self._ks
        turn = max(abs(ks[i]), abs(ks[i - 1]) if i > 0 else 0.0, abs(ks[i + 1]) if i < last else 0.0)
        margin = 0.01 + (abs(cross) + 0.05 * seg2) * turn / max(seg2, 1e-12) * 2.0
        if not margin < t < 1.0 - margin:
            best, best_d2 = i, math.inf
            for j in (i - 1, i, i + 1):  # in index order, ties to the lower index (as the search's argmin)
                if 0 <= j <= last:
                    vx, vy = xs[j + 1] - xs[j], ys[j + 1] - ys[j]
                    qx, qy = x - xs[j], y - ys[j]
                    v2 = vx * vx + vy * vy
                    tj = (qx * vx + qy * vy) / v2 if v2 > 1e-12 else 0.0
                    tj = 0.0 if tj < 0.0 else 1.0 if tj > 1.0 else tj
                    d2 = (qx - vx * tj) ** 2 + (qy - vy * tj) ** 2
                    if d2 < best_d2:
                        best, best_d2 = j, d2
            if best != i:
                i = best
                ax, ay = xs[i], ys[i]
                ux, uy = xs[i + 1] - ax, ys[i + 1] - ay
                px, py = x - ax, y - ay
                seg2 = max(ux * ux + uy * uy, 1e-12)
                t = (px * ux + py * uy) / seg2
                cross = ux * py - uy * px
        if not ((i == 0 and t < 0.0) or (i == last and t > 1.0)):
            t = 0.0 if t < 0.0 else 1.0 if t > 1.0 else t
        seg2 = max(seg2, 1e-12)
        seg_len = math.sqrt(seg2)
        tc = 0.0 if t < 0.0 else 1.0 if t > 1.0 else t
        k = ks[i]
        h0 = self._hs[i]
        ss = self._ss
        return Projection(ss[i] + t * (ss[i + 1] - ss[i]), cross / seg_len + 0.5 * k * tc * (1.0 - tc) * seg2,
                          h0 + tc * (self._hs[i + 1] - h0), k, i)

    def _search(self, x: float, y: float, hint: int | None, window_m: float) -> Projection:
        if hint is None:
            lo, hi = 0, self.n - 1
        else:
            w = int(window_m / self._mean_ds) + 2
            lo, hi = max(0, hint - w), min(self.n - 1, hint + w)
        a = self._xy[lo:hi]
        ab = self._seg[lo:hi]
        ap_x = x - a[:, 0]
        ap_y = y - a[:, 1]
        t_raw = (ap_x * ab[:, 0] + ap_y * ab[:, 1]) / self._seg_len2[lo:hi]
        t = np.clip(t_raw, 0.0, 1.0)
        dx = ap_x - ab[:, 0] * t
        dy = ap_y - ab[:, 1] * t
        j = int(np.argmin(dx * dx + dy * dy))
        i = lo + j
        tj = float(t_raw[j])
        # Extend the path's ends: before the first sample / past the last one the foot may leave [0, 1].
        if not ((i == 0 and tj < 0.0) or (i == self.n - 2 and tj > 1.0)):
            tj = min(max(tj, 0.0), 1.0)
        seg_len = math.sqrt(self._seg_len2[i])
        cross = ab[j, 0] * ap_y[j] - ab[j, 1] * ap_x[j]
        s = float(self.s[i] + tj * self._ds[i])
        # The chord between two samples of an arc lies inside it (towards the centre); the arc is
        # sag = k t (1 - t) l^2 / 2 to the right of the chord for a left turn (k > 0).
        k = float(self.curvature[i])
        tc = min(max(tj, 0.0), 1.0)
        sag = 0.5 * k * tc * (1.0 - tc) * seg_len * seg_len
        lateral = float(cross / seg_len) + sag
        h = float(self.heading[i] + tc * (self.heading[i + 1] - self.heading[i]))
        return Projection(s_m=s, lateral_m=lateral, heading_rad=h, curvature=k, index=i)

    def index_at(self, s_m: float) -> int:
        """Sample index whose segment contains arc length s (clamped)."""
        i = int(np.searchsorted(self.s, s_m, side="right") - 1)
        return min(max(i, 0), self.n - 2)

    def curvature_at(self, s_m: np.ndarray | float):
        """Path curvature [1/m] at arc length(s) s (piecewise constant per route segment, clamped)."""
        return self.sample_values(self.curvature, s_m)

    def sample_values(self, values: np.ndarray, s_m: np.ndarray | float):
        """``values`` (one per sample) at arc length(s) s: the value of the sample at or before s, clamped."""
        idx = self.s.searchsorted(s_m, side="right") - 1
        if isinstance(idx, np.ndarray):
            idx[idx < 0] = 0
            return values.take(idx, mode="clip")
        return values[min(max(int(idx), 0), self.n - 1)]

    def pose_at(self, s_m: float) -> tuple[float, float, float]:
        """(x, y, heading) at arc length s; extrapolated straight beyond the ends."""
        if s_m <= 0.0:
            h = float(self.heading[0])
            return float(self.x[0] + s_m * math.cos(h)), float(self.y[0] + s_m * math.sin(h)), h
        if s_m >= self.length_m:
            h = float(self.heading[-1])
            extra = s_m - self.length_m
            return float(self.x[-1] + extra * math.cos(h)), float(self.y[-1] + extra * math.sin(h)), h
        i = self.index_at(s_m)
        u = s_m - self.s[i]
        k = float(self.curvature[i])
        h0 = float(self.heading[i])
        if abs(k) > 1e-9:
            x = self.x[i] + (math.sin(h0 + k * u) - math.sin(h0)) / k
            y = self.y[i] - (math.cos(h0 + k * u) - math.cos(h0)) / k
        else:
            x = self.x[i] + u * math.cos(h0)
            y = self.y[i] + u * math.sin(h0)
        return float(x), float(y), h0 + k * u

    @property
    def end_heading(self) -> float:
        return float(self.heading[-1])

    @property
    def max_abs_curvature(self) -> float:
        return float(np.max(np.abs(self.segment_kappa))) if len(self.segment_kappa) else 0.0


def check_route_geometry(path: ReferencePath, min_length_m: float, max_vertex_turn_rad: float,
                         min_radius_m: float) -> None:
    """Raise RouteError if the rebuilt path is too short, kinked or too tight for the carrier."""
    if path.length_m < min_length_m:
        raise RouteError(f"route is too short: {path.length_m:.3f} m < {min_length_m:g} m")
    pts = path.points
    if len(pts) >= 3:
        d = np.diff(pts, axis=0)
        h = np.arctan2(d[:, 1], d[:, 0])
        turns = np.abs(_wrap(np.diff(h)))
        i = int(np.argmax(turns))
        if turns[i] > max_vertex_turn_rad:
            p = pts[i + 1]
            raise RouteError(
                f"route is kinked at point {i + 1} ({p[0]:.2f}, {p[1]:.2f}): the heading turns "
                f"{math.degrees(turns[i]):.1f} deg at one vertex (max {math.degrees(max_vertex_turn_rad):.1f}); "
                "send the curve sampled along its arc")
    k = np.abs(path.segment_kappa)
    if len(k):
        i = int(np.argmax(k))
        if k[i] > 1.0 / min_radius_m * (1.0 + 1e-3):
            p = pts[i]
            raise RouteError(
                f"route is unreachable with the carrier's turning radius: radius {1.0 / k[i]:.2f} m after point "
                f"{i} ({p[0]:.2f}, {p[1]:.2f}) is tighter than the {min_radius_m:.2f} m the deck centre can follow")
