"""Nav2 Regulated Pure Pursuit, re-implemented from its documentation for the benchmark (peer, not used by nodes).

Written from the nav2_regulated_pure_pursuit_controller README and the Nav2 configuration guide (Jazzy):
the control law and the regulation heuristics they document, with their default parameter values. No
Nav2 code was copied. What is modelled:

* path pruning to the pose closest to the robot, searched up to ``max_robot_pose_search_dist`` ahead;
* lookahead distance: fixed ``lookahead_dist``, or ``|v| * lookahead_time`` clamped to
  [``min_lookahead_dist``, ``max_lookahead_dist``] with ``use_velocity_scaled_lookahead_dist``;
* the carrot: the first path pose at least the lookahead away, interpolated on the segment where the
  lookahead circle crosses the path (circle-segment intersection), or the goal;
* pure pursuit curvature ``2 y / (x^2 + y^2)`` of the carrot in the robot frame, angular = v * curvature;
* curvature regulation: below ``regulated_linear_scaling_min_radius`` the speed is scaled by
  ``radius / min_radius``, floored at ``regulated_linear_scaling_min_speed``;
* approach regulation: within ``approach_velocity_scaling_dist`` of the path end the speed is scaled
  by remaining / that distance, floored at ``min_approach_linear_velocity``; speed clamped to
  ``desired_linear_vel``;
* the controller server's goal checker (SimpleGoalChecker ``xy_goal_tolerance``): zero command once the
  robot is that close to the goal.

Cost regulation and collision checking need a costmap and are off (the benchmark lanes are clear);
rotate-to-heading is off (Ackermann). The robot frame is the rear axle, which the pure-pursuit
kinematics ``angular = v * curvature`` assume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class RppParams:
    """Defaults of the Nav2 configuration guide (Jazzy)."""

    desired_linear_vel: float = 0.5
    lookahead_dist: float = 0.6
    min_lookahead_dist: float = 0.3
    max_lookahead_dist: float = 0.9
    lookahead_time: float = 1.5
    use_velocity_scaled_lookahead_dist: bool = False
    min_approach_linear_velocity: float = 0.05
    approach_velocity_scaling_dist: float = 0.6
    use_regulated_linear_velocity_scaling: bool = True
    regulated_linear_scaling_min_radius: float = 0.9
    regulated_linear_scaling_min_speed: float = 0.25
    max_robot_pose_search_dist: float = 10.0
    xy_goal_tolerance: float = 0.25
    plan_extent_m: float = 50.0  # transformed plan kept ahead of the robot (local costmap extent)


class RegulatedPurePursuit:
    """One robot following one path (N, 2) with RPP's documented law."""

    def __init__(self, path_xy: np.ndarray, params: RppParams):
        self.p = params
        self.path = np.asarray(path_xy, dtype=float)
        seg = np.linalg.norm(np.diff(self.path, axis=0), axis=1)
        self.cum = np.concatenate([[0.0], np.cumsum(seg)])
        self.closest = 0
        self.goal_reached = False

    def lookahead_distance(self, speed: float) -> float:
        p = self.p
        if not p.use_velocity_scaled_lookahead_dist:
            return p.lookahead_dist
        return min(max(abs(speed) * p.lookahead_time, p.min_lookahead_dist), p.max_lookahead_dist)

    def _prune(self, x: float, y: float) -> None:
        end = int(np.searchsorted(self.cum, self.cum[self.closest] + self.p.max_robot_pose_search_dist)) + 1
        window = self.path[self.closest:min(end, len(self.path))]
        d = np.hypot(window[:, 0] - x, window[:, 1] - y)
        self.closest += int(np.argmin(d))

    def compute(self, x: float, y: float, yaw: float, speed: float) -> tuple[float, float]:
        """(linear [m/s], angular [rad/s]) for the robot frame pose (x, y, yaw) at ``speed``."""
        p = self.p
        goal = self.path[-1]
        if self.goal_reached or math.hypot(goal[0] - x, goal[1] - y) < p.xy_goal_tolerance:
            self.goal_reached = True
            return 0.0, 0.0
        self._prune(x, y)
        end = int(np.searchsorted(self.cum, self.cum[self.closest] + p.plan_extent_m)) + 1
        plan = self.path[self.closest:min(end, len(self.path))]
        c, s = math.cos(yaw), math.sin(yaw)
        dx, dy = plan[:, 0] - x, plan[:, 1] - y
        local = np.column_stack([c * dx + s * dy, -s * dx + c * dy])  # robot frame
        lookahead = self.lookahead_distance(speed)
        dist = np.hypot(local[:, 0], local[:, 1])
        beyond = np.flatnonzero(dist >= lookahead)
        if len(beyond) == 0:
            carrot = local[-1]
        elif beyond[0] == 0:
            carrot = local[0]
        else:
            carrot = _circle_segment_intersection(local[beyond[0] - 1], local[beyond[0]], lookahead)
        d2 = carrot[0] ** 2 + carrot[1] ** 2
        curvature = 2.0 * carrot[1] / d2 if d2 > 0.001 else 0.0
        v = p.desired_linear_vel
        if p.use_regulated_linear_velocity_scaling and curvature != 0.0:
            radius = abs(1.0 / curvature)
            if radius < p.regulated_linear_scaling_min_radius:
                v *= 1.0 - abs(radius - p.regulated_linear_scaling_min_radius) / p.regulated_linear_scaling_min_radius
            v = max(v, p.regulated_linear_scaling_min_speed)
        remaining = float(np.sum(np.linalg.norm(np.diff(plan, axis=0), axis=1))) if len(plan) > 1 else 0.0
        remaining += float(dist[0])
        if remaining < p.approach_velocity_scaling_dist:
            unbounded = v * remaining / p.approach_velocity_scaling_dist
            v = p.min_approach_linear_velocity if unbounded < p.min_approach_linear_velocity else min(v, unbounded)
        v = min(max(v, 0.0), p.desired_linear_vel)
        return v, v * curvature


def _circle_segment_intersection(p1: np.ndarray, p2: np.ndarray, r: float) -> np.ndarray:
    """Point where the segment p1 (inside the circle of radius r about the origin) -> p2 (outside) crosses it."""
    d = p2 - p1
    a = float(d @ d)
    b = 2.0 * float(p1 @ d)
    c = float(p1 @ p1) - r * r
    disc = max(b * b - 4.0 * a * c, 0.0)
    t = (-b + math.sqrt(disc)) / (2.0 * a) if a > 0 else 0.0
    return p1 + min(max(t, 0.0), 1.0) * d
