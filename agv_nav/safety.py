"""Local safety checks of the path follower: localization health and carriers ahead.

These are the follower's last line of defence under the fleet manager's traffic control (which keeps
carriers apart with movement authorities). Each check returns a speed cap and, when it forces a stop,
a reason for the follower status:

* ``localization_cap``: a pose older than the timeout stops the carrier at once (the caller commands
  zero speed); a position standard deviation between ``std_full`` and ``std_stop`` caps the speed
  linearly, so a degrading estimate slows the carrier before it stops it, and a large yaw deviation stops
  it. The deviations come from the odometry's covariance (largest eigenvalue of the x/y block).
* ``carrier_ahead``: another carrier's footprint, expressed in the route's Frenet frame (centre
  projected onto the route, extents along/across from its relative heading), is "ahead" when it overlaps
  the corridor the carrier sweeps (its width plus a margin) within the safety distance. The cap is the
  jerk-free braking speed for the bumper gap beyond ``standstill_gap``; the other carrier is treated as
  standing still (conservative: a carrier that drives away only lifts the cap later).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .path import ReferencePath


def position_std(cov_xy: np.ndarray) -> float:
    """Largest standard deviation [m] of a 2x2 position covariance (inf if not finite)."""
    c = np.asarray(cov_xy, dtype=float)
    if c.shape != (2, 2) or not np.all(np.isfinite(c)):
        return math.inf
    tr, det = c[0, 0] + c[1, 1], c[0, 0] * c[1, 1] - c[0, 1] * c[1, 0]
    lam = 0.5 * tr + math.sqrt(max(0.25 * tr * tr - det, 0.0))
    return math.sqrt(max(lam, 0.0))


def localization_cap(std_xy_m: float, std_yaw_rad: float, std_full: float, std_stop: float,
                     yaw_stop: float, max_speed: float) -> tuple[float, str]:
    """(speed cap [m/s], reason if it forces a stop) from the estimate's standard deviations."""
    if not math.isfinite(std_xy_m) or std_xy_m >= std_stop:
        return 0.0, f"localization uncertain: position std {std_xy_m:.3f} m >= {std_stop:g} m"
    if not math.isfinite(std_yaw_rad) or std_yaw_rad >= yaw_stop:
        return 0.0, f"localization uncertain: yaw std {std_yaw_rad:.3f} rad >= {yaw_stop:g} rad"
    if std_xy_m <= std_full:
        return max_speed, ""
    return max_speed * (std_stop - std_xy_m) / (std_stop - std_full), ""


@dataclass(frozen=True)
class OtherCarrier:
    """Latest known pose of another carrier (map frame)."""

    carrier_id: str
    t: float  # [s] stamp of the pose
    x: float
    y: float
    yaw: float


@dataclass(frozen=True)
class Obstacle:
    """A carrier ahead on the route."""

    carrier_id: str
    gap_m: float  # bumper-to-bumper distance along the route [m]
    s_m: float  # arc length of its nearest edge on our route


def carrier_ahead(path: ReferencePath, s_self: float, hint: int, others: list[OtherCarrier], length_m: float,
                  width_m: float, margin_m: float, lookahead_m: float) -> Obstacle | None:
    """The nearest other carrier in our corridor up to ``lookahead_m`` beyond our front bumper, or None."""
    best: Obstacle | None = None
    front = s_self + length_m / 2.0
    half_corridor = width_m / 2.0 + margin_m
    for o in others:
        # Cheap reject before projecting: straight-line distance to our deck centre.
        px, py, _ = path.pose_at(min(max(s_self, 0.0), path.length_m))
        if math.hypot(o.x - px, o.y - py) > lookahead_m + 2.0 * length_m:
            continue
        pr = path.project(o.x, o.y, hint, window_m=lookahead_m + 2.0 * length_m)
        rel = o.yaw - pr.heading_rad
        c, s = abs(math.cos(rel)), abs(math.sin(rel))
        along = 0.5 * (length_m * c + width_m * s)
        across = 0.5 * (length_m * s + width_m * c)
        if abs(pr.lateral_m) - across > half_corridor:
            continue
        near_edge = pr.s_m - along
        if pr.s_m + along < s_self - length_m / 2.0:  # wholly behind us
            continue
        if pr.s_m < s_self:  # its centre is behind ours: not ahead (it is the follower's problem)
            continue
        gap = near_edge - front
        if gap > lookahead_m:
            continue
        if best is None or gap < best.gap_m:
            best = Obstacle(o.carrier_id, gap, near_edge)
    return best
