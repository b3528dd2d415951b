"""Reference path for the path follower: a smooth curve rebuilt from the route polyline.

The fleet manager sends the lane centre line as a dense-ish polyline: straight legs are two far-apart
points, filleted corners are points about 1 m apart on the arc (``yard_model.geometry.fillet_polyline``).
Following the chords literally would give a heading that jumps at every vertex and an 8 mm sag per
metre-spaced arc chord at R = 15 m, so the follower rebuilds the curve the points were sampled from:

* every segment i is taken as a circular arc of curvature ``kappa_i`` through its two end points;
* at every interior vertex the two arcs share a tangent, which gives one linear equation per vertex,
  ``kappa_(i-1) * l_(i-1) + kappa_i * l_i = 2 * turn_i`` (half the central angle of each arc on either side);
* the points travel rounded to the millimetre (``yard_model.drivable.POINT_RESOLUTION_M``), which puts noise
  of about a milliradian on every vertex's turn. Solved exactly, the equations turn that noise into a
  curvature that alternates from segment to segment and grows along an arc (a 15 m arc read as 11.5 m and
  21 m in turn), because they leave one mode free that alternates in sign. So each equation is weighted by
  the noise the rounding puts on its turn and the total variation of the curvature is penalised, with a
  weight at which fitting a vertex's noise of up to three standard deviations with a curvature step costs
  more than it saves (iteratively reweighted; each pass solves tridiagonal normal equations with
  ``scipy.linalg.solveh_banded`` in O(n)). Genuine steps (line to arc) stay sharp: they are needed by many
  equations at many standard deviations.

Lines and filleted arcs are recovered to a fraction of a percent, rounded or not (tested), so the reference
has the curvature steps a road designer drew, which the lateral controller previews. The curve is then
sampled every ``step_m`` with exact heading and curvature at each sample, and points are projected onto it
with a windowed search around the previous foot point (O(1) per control step). The first and last segments
are extended beyond the route's ends for projection, so a carrier just behind the start or past the goal
gets a signed arc length (negative, or beyond the length) and the right lateral offset.

Whether a route can be driven at all (too short, kinked, tighter than the deck centre's turning radius) and
how fast, is not decided here but by the one contract the fleet manager and the simulated yards use too,
``yard_model.drivable`` (``check_drivable``, ``segment_speed_caps``): this curve is the steering reference.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.linalg import solveh_banded

from yard_model.drivable import DUPLICATE_POINT_M, POINT_RESOLUTION_M, RouteError, clean_points

__all__ = ["MAX_ROUTE_LENGTH_M", "Projection", "ReferencePath", "RouteError", "clean_points", "rear_axle_curvature",
           "segment_curvatures"]

MAX_ROUTE_LENGTH_M = 50_000.0  # [m] longer routes are rejected (the follower samples the whole route)


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


def segment_curvatures(pts: np.ndarray, resolution_m: float = POINT_RESOLUTION_M, noise_sigmas: float = 3.0,
                       iterations: int = 20) -> np.ndarray:
    """Curvature [1/m] of the circular arc through each segment (module docstring), shape (N-1,).

    Minimises sum_r (tangent residual_r / sigma_r)^2 + lam * sum_i |kappa_(i+1) - kappa_i|, where sigma_r is
    the standard deviation that rounding the points to ``resolution_m`` puts on vertex r's turn and lam is
    such that a curvature step is not worth fitting a vertex's noise below ``noise_sigmas`` deviations.
    """
    d = np.diff(pts, axis=0)
    lengths = np.linalg.norm(d, axis=1)
    m = len(lengths)
    if m < 2:
        return np.zeros(m)
    headings = np.arctan2(d[:, 1], d[:, 0])
    turns = _wrap(np.diff(headings))  # (m-1,)
    # A rounded coordinate is off by a uniform error of +-resolution/2 (std resolution / sqrt(12)); the turn at
    # vertex r moves with its three points: std sigma_r = s_p sqrt(1/l_r^2 + (1/l_r + 1/l_(r+1))^2 + 1/l_(r+1)^2).
    s_p = resolution_m / math.sqrt(12.0)
    inv0, inv1 = 1.0 / lengths[:-1], 1.0 / lengths[1:]
    sigma = s_p * np.sqrt(inv0 * inv0 + (inv0 + inv1) ** 2 + inv1 * inv1)
    # Row r (vertex r+1): (k_r l_r / 2 + k_(r+1) l_(r+1) / 2 - turn_r) / sigma_r.
    a0 = 0.5 * lengths[:-1] / sigma  # coefficient of k_r
    a1 = 0.5 * lengths[1:] / sigma  # coefficient of k_(r+1)
    b = turns / sigma
    # Raising one segment's curvature by c moves its two rows by c l / (2 sigma) each: fitting noise of z
    # deviations pays once z exceeds lam sigma / l, so lam = noise_sigmas * l / sigma (typical values).
    lam = noise_sigmas * float(np.median(2.0 * a0))
    # A first (last) segment shorter than its neighbour is usually a piece of a chord (a route that starts
    # or ends between two lane points): it is no arc of its own, so its tangent equation is dropped and it
    # takes its neighbour's curvature.
    if lengths[0] < lengths[1]:
        a0[0] = a1[0] = b[0] = 0.0
    if m > 2 and lengths[-1] < lengths[-2]:
        a0[-1] = a1[-1] = b[-1] = 0.0
    base_diag = np.zeros(m)
    base_diag[:-1] += a0 * a0
    base_diag[1:] += a1 * a1
    base_off = a0 * a1  # entry (r, r+1)
    rhs = np.zeros(m)
    rhs[:-1] += a0 * b
    rhs[1:] += a1 * b
    # |x| <= x^2 / (2 |x0|) + |x0| / 2: each pass solves the quadratic majorant at the previous solution,
    # starting from a smooth (quadratic) penalty.
    diff_weight = np.full(m - 1, lam / 2e-3)
    kappa = np.zeros(m)
    for _ in range(iterations):
        diag = base_diag.copy()
        diag[:-1] += diff_weight
        diag[1:] += diff_weight
        diag += 1e-9 * diag.max() + 1e-12  # a sliver of ridge: rows without an equation stay solvable
        ab = np.zeros((2, m))
        ab[0, 1:] = base_off - diff_weight
        ab[1, :] = diag
        kappa = solveh_banded(ab, rhs)
        diff_weight = lam / (2.0 * np.maximum(np.abs(np.diff(kappa)), 1e-6))
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

    def __init__(self, points, speed_limits_mps=None, step_m: float = 0.25):
        pts = clean_points(points)
        if len(pts) < 2:
            raise RouteError("route needs at least two distinct points")
        self.points = pts
        raw_limits = None
        if speed_limits_mps is not None:
            raw_limits = np.asarray(speed_limits_mps, dtype=float)
        self.segment_kappa = segment_curvatures(pts)
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
        self.segment_speed_limit = seg_limits  # lane limit from cleaned point i to i + 1
        k = self.segment_kappa
        # Start heading of every arc, continuous (unwrapped) along the path: the end heading of the arc
        # before plus the (wrapped) difference to this chord's start tangent.
        raw = chord_heading - half
        h_start = raw[0] + np.concatenate([[0.0], np.cumsum(k[:-1] * arc_len[:-1] + _wrap(
            raw[1:] - (raw[:-1] + k[:-1] * arc_len[:-1])))])
        n = np.maximum(1, np.ceil(arc_len / step_m).astype(int))  # samples per segment, the first at its start
        seg_of = np.repeat(np.arange(len(chord)), n)
        u = arc_len[seg_of] * (np.arange(len(seg_of)) - np.repeat(np.cumsum(n) - n, n)) / n[seg_of]
        ku, h0 = k[seg_of], h_start[seg_of]
        h = h0 + ku * u
        curved = np.abs(ku) > 1e-9
        kd = np.where(curved, ku, 1.0)
        dx = np.where(curved, (np.sin(h) - np.sin(h0)) / kd, u * np.cos(h0))
        dy = np.where(curved, -(np.cos(h) - np.cos(h0)) / kd, u * np.sin(h0))
        end_heading = h_start[-1] + k[-1] * arc_len[-1]
        self.x = np.append(pts[seg_of, 0] + dx, pts[-1, 0])
        self.y = np.append(pts[seg_of, 1] + dy, pts[-1, 1])
        self.heading = np.append(h, end_heading)
        self.curvature = np.append(ku, k[-1])
        self.s = np.append(self.segment_start_s[seg_of] + u, self.length_m)
        self.speed_limit = np.append(seg_limits[seg_of], seg_limits[-1])
        self.segment_of_sample = np.append(seg_of, len(chord) - 1).astype(int)
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

