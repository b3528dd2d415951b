"""The path follower of one carrier: route handling, state machine, safety and the control step.

Pure core (no rclpy): the node feeds it routes, movement authorities, poses, the emergency stop and
the other carriers' poses, calls :meth:`PathFollower.step` at a fixed rate with the time, and publishes
the returned command and :meth:`PathFollower.status`.

States (``follower_status.state``):

* ``idle``: no route; or a route without docking whose goal was reached (``remaining_m`` ~ 0);
* ``following``: driving the route;
* ``docking``: a route whose goal has ``dock: true``, within ``docking_distance_m`` of the goal;
* ``docked``: stopped on the goal within ``docking_tolerance_m`` along the lane;
* ``blocked``: held by the emergency stop, stale or uncertain localization, a carrier ahead, or waiting
  at the end of the movement authority (``reason`` says which); resumes by itself when it clears;
* ``fault``: a route was rejected, the carrier left the route, or docking failed; the carrier stops and
  waits for a new route (``reason`` says why).

A new route replaces the current one at once, also while moving: the speed reference, the steering
state and the curvature command carry over, so the hand-over is as smooth as the new geometry allows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from yard_model.drivable import check_drivable, segment_speed_caps
from yard_model.geometry import wrap_angle
from yard_model.world import CarrierType

from .follower_params import PathFollowerParams
from .lateral import LateralController, LateralDesign, PreviewTable, SteeringEstimate
from .longitudinal import (
    AlongTrackEstimate,
    SpeedReference,
    braking_speed,
    static_speed_profile,
    steering_transition_limit,
    stop_speed,
)
from .path import ReferencePath, RouteError, rear_axle_curvature
from .safety import OtherCarrier, carrier_ahead, localization_cap, position_std

STATES = ("idle", "following", "docking", "docked", "blocked", "fault")
STANDSTILL_SPEED_MPS = 0.05
"""Below this |linear.x| a carrier turns a yaw-rate command into steering as if it drove this fast
(cmd_vel convention of ``yard_sim.carrier_model``); the follower scales its yaw rate the same way so that
the wheels reach the commanded curvature while creeping."""
STOPPED_SPEED_MPS = 0.01  # [m/s] below this measured speed the carrier counts as standing
TWO_PI = 2.0 * math.pi
MAX_CORRECTION_SPEED_MPS = 0.3  # [m/s] reverse re-approach after an overshoot
START_SEARCH_M = 15.0  # [m] a new route's first stretch, where the carrier stands (its foot point is looked for there)


@dataclass(frozen=True)
class PoseEstimate:
    """One localization sample in ``map`` (from nav_msgs/Odometry)."""

    t: float  # [s] stamp
    x: float  # [m] deck centre
    y: float
    yaw: float  # [rad]
    speed_mps: float = 0.0  # along base_link x
    yaw_rate_radps: float = 0.0
    std_xy_m: float = 0.0  # largest position standard deviation
    std_yaw_rad: float = 0.0


def pose_estimate(t: float, x: float, y: float, yaw: float, speed_mps: float, yaw_rate_radps: float,
                  cov_xy, var_yaw: float) -> PoseEstimate:
    """A localization sample from a localization output's pose, twist and covariance.

    ``cov_xy`` is the 2x2 position block (its largest standard deviation is what the safety check
    uses); a negative or non-finite yaw variance means "unknown" (infinite deviation, the follower stops).
    """
    std_yaw = math.sqrt(var_yaw) if var_yaw >= 0.0 and math.isfinite(var_yaw) else math.inf
    return PoseEstimate(t=t, x=x, y=y, yaw=yaw, speed_mps=speed_mps, yaw_rate_radps=yaw_rate_radps,
                        std_xy_m=position_std(cov_xy), std_yaw_rad=std_yaw)


class Command(NamedTuple):
    """cmd_vel: speed along base_link x [m/s] and yaw rate [rad/s]; ``curvature`` is for logs/tests."""

    v_mps: float
    yaw_rate_radps: float
    curvature: float


@dataclass
class Route:
    """An accepted route, in the follower's arc length (the rebuilt smooth curve)."""

    route_id: str
    path: ReferencePath
    goal: dict[str, Any]
    dock: bool
    goal_s: float  # [m] stop point of the deck centre
    authority_s: float  # [m]
    speed_profile: np.ndarray
    chord_s: np.ndarray = field(repr=False)  # route-polyline arc length at each cleaned point
    preview: PreviewTable = field(default=None, repr=False)  # rear-axle curvature on a uniform grid (lateral preview)
    speed_caps: list[float] = field(default_factory=list, repr=False)  # speed_profile as floats (per control step)
    start_checked: bool = False
    finished: bool = False
    final_state: str = "idle"  # docked, or idle for a goal without docking

    def to_route_length(self, s: float) -> float:
        """Our arc length -> the route polyline's (the fleet manager's unit), extrapolated past the ends."""
        p = self.path
        if s <= 0.0:
            return s
        if s >= p.length_m:
            return float(self.chord_s[-1] + s - p.length_m)
        return float(np.interp(s, p.segment_start_s, self.chord_s))

    def from_route_length(self, length: float) -> float:
        p = self.path
        if length <= 0.0:
            return length
        if length >= self.chord_s[-1]:
            return float(p.length_m + length - self.chord_s[-1])
        return float(np.interp(length, self.chord_s, p.segment_start_s))


def docking_error(goal: dict[str, Any], x: float, y: float, yaw: float) -> dict[str, float]:
    """Deck-centre error in the goal frame: along (+ = past the goal), across (+ = left), yaw [rad]."""
    c, s = math.cos(goal["yaw"]), math.sin(goal["yaw"])
    dx, dy = x - goal["x"], y - goal["y"]
    return {"along_m": c * dx + s * dy, "across_m": -s * dx + c * dy, "yaw_rad": wrap_angle(yaw - goal["yaw"])}


class PathFollower:
    """Route in, cmd_vel out, for one carrier (module docstring)."""

    def __init__(self, params: PathFollowerParams, carrier: CarrierType, carrier_id: str):
        self.params = params
        self.carrier = carrier
        self.carrier_id = carrier_id
        self.dt = 1.0 / params.control_rate_hz
        self.half_wheelbase = carrier.wheelbase_m / 2.0
        max_kappa = 1.0 / carrier.min_turning_radius_m
        max_step = carrier.max_steering_rate_radps * self.dt / carrier.wheelbase_m
        top = max(carrier.max_speed_mps, 0.5)
        design = LateralDesign(
            dt_s=self.dt, half_wheelbase_m=self.half_wheelbase,
            steering_time_constant_s=carrier.steering_time_constant_s, preview_time_s=params.preview_time_s,
            q_lateral=params.q_lateral, q_course=params.q_course, r_rate=params.r_steer_rate,
            speeds_mps=tuple(float(v) for v in np.linspace(0.1, top + 0.5, int(math.ceil((top + 0.4) / 0.25)) + 1)),
        )
        self.lateral = LateralController(design, max_kappa, max_step)
        self.steering = SteeringEstimate(carrier.wheelbase_m, carrier.steering_time_constant_s,
                                         carrier.max_steering_rate_radps, carrier.max_steering_angle_rad)
        self.speed_ref = SpeedReference()
        self.route: Route | None = None
        self.state = "idle"
        self.reason = ""
        self.status_route_id: str | None = None
        self.pose: PoseEstimate | None = None
        self.emergency_stop = False
        self.others: dict[str, OtherCarrier] = {}
        self.curvature_cmd = 0.0
        self.hint: int | None = None
        self.s = 0.0
        self.lateral_error = 0.0
        self.last_command = Command(0.0, 0.0, 0.0)
        self.docking_error: dict[str, float] | None = None
        self._stopped_since: float | None = None
        self._corrections = 0
        self._reversing = False
        self._cut = False  # the stop law cut the command at the goal: hold zero until the docking is judged
        self.along = AlongTrackEstimate()  # filtered arc length: the stop law and the docked check use it
        self._along_pose_t: float | None = None

    # ------------------------------------------------------------------ inputs
    def set_route(self, doc: dict[str, Any]) -> str | None:
        """Take a route document (already schema-valid); returns the rejection reason or None."""
        rid = str(doc.get("route_id", ""))
        if doc.get("carrier_id") != self.carrier_id:
            return f"route {rid} is for {doc.get('carrier_id')!r}, not {self.carrier_id!r}"  # not ours: no state change
        if doc.get("cancel"):
            self.route = None
            self._set_state("idle", "")
            self.status_route_id = rid
            self.docking_error = None
            return None
        try:
            route = self._build_route(doc)
            if self.pose is not None:
                self._check_start(route, self.pose)
                route.start_checked = True
        except RouteError as exc:
            reason = f"route {rid} rejected: {exc}"
            self.route = None
            self.status_route_id = rid
            self.docking_error = None
            self._set_state("fault", reason)
            return reason
        self.route = route
        self.status_route_id = rid
        self.hint = None
        # Where the carrier is on the new route, before any status goes out: the old route's arc length read on
        # the new route told the fleet manager the carrier was hundreds of metres ahead (it then released and
        # granted the single track behind the carrier: a head-on in the end-to-end run). A route starts at the
        # carrier (_check_start), so its first START_SEARCH_M hold the foot point even on a route that loops back.
        self.s, self.lateral_error = 0.0, 0.0
        if self.pose is not None:
            pr = route.path.project(self.pose.x, self.pose.y, 0, START_SEARCH_M)
            self.s, self.lateral_error, self.hint = pr.s_m, pr.lateral_m, pr.index
        self.docking_error = None
        self._stopped_since = None
        self._corrections = 0
        self._reversing = False
        self._cut = False  # the stop law cut the command at the goal: hold zero until the docking is judged
        self.along.reset()
        self._along_pose_t = None
        if self.pose is not None and abs(self.speed_ref.v - self.pose.speed_mps) > 0.5:
            self.speed_ref.reset(max(self.pose.speed_mps, 0.0))
        self._set_state("following", "")
        return None

    def set_authority(self, doc: dict[str, Any]) -> str | None:
        """Take a movement authority; returns why it was ignored, or None."""
        if self.route is None or doc.get("route_id") != self.route.route_id:
            return f"authority for route {doc.get('route_id')!r} ignored: current route is " \
                   f"{self.route.route_id if self.route else None!r}"
        a = float(doc["authority_m"])
        if not math.isfinite(a) or a < 0.0:
            return f"authority {a} is not a finite non-negative number"
        self.route.authority_s = self.route.from_route_length(a)
        return None

    def set_emergency_stop(self, on: bool) -> None:
        self.emergency_stop = bool(on)

    def update_pose(self, pose: PoseEstimate) -> str | None:
        """Take a localization sample; returns why it was rejected, or None."""
        isfinite = math.isfinite
        if not (isfinite(pose.t) and isfinite(pose.x) and isfinite(pose.y) and isfinite(pose.yaw)
                and isfinite(pose.speed_mps) and isfinite(pose.yaw_rate_radps)):
            return "localization sample with a non-finite value ignored"
        if self.pose is not None and pose.t < self.pose.t:
            return "localization sample older than the previous one ignored"
        self.pose = pose
        return None

    def update_other(self, other: OtherCarrier) -> None:
        if other.carrier_id == self.carrier_id:
            return
        if all(math.isfinite(v) for v in (other.t, other.x, other.y, other.yaw)):
            self.others[other.carrier_id] = other

    # ------------------------------------------------------------ route checks
    def _build_route(self, doc: dict[str, Any]) -> Route:
        p = self.params
        pts = doc.get("points") or []
        limits = doc.get("speed_limits_mps")
        # what a carrier can drive is one contract with the fleet manager and the simulated yards
        check_drivable(pts, self.carrier, p.min_route_length_m, math.radians(p.max_vertex_turn_deg))
        path = ReferencePath(pts, limits)
        goal = doc["goal"]
        gvals = (goal.get("x"), goal.get("y"), goal.get("yaw"))
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in gvals):
            raise RouteError(f"goal pose is not finite: {list(gvals)}")
        gp = path.project(goal["x"], goal["y"])
        if abs(gp.lateral_m) > p.goal_route_tolerance_m or abs(gp.s_m - path.length_m) > p.goal_route_tolerance_m:
            raise RouteError(f"goal ({goal['x']:.2f}, {goal['y']:.2f}) is {abs(gp.lateral_m):.3f} m beside and "
                             f"{path.length_m - gp.s_m:.3f} m before the route's end (tolerance "
                             f"{p.goal_route_tolerance_m:g} m)")
        dyaw = abs(wrap_angle(goal["yaw"] - path.end_heading))
        if dyaw > math.radians(p.goal_heading_tolerance_deg):
            raise RouteError(f"goal yaw differs {math.degrees(dyaw):.1f} deg from the route's end heading")
        rear = rear_axle_curvature(path.curvature, self.half_wheelbase)
        transition = steering_transition_limit(
            path.s, rear, self.carrier.wheelbase_m,
            self.carrier.max_steering_rate_radps, p.max_transition_shift_m)
        caps = segment_speed_caps(path.points, np.append(path.segment_speed_limit, path.segment_speed_limit[-1]),
                                  self.carrier, p.max_speed_mps)  # lane, curve and top speed: the contract's
        profile = static_speed_profile(path.s, caps[path.segment_of_sample], p.max_decel_mps2, p.max_jerk_mps3,
                                       transition)
        chord = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path.points, axis=0), axis=1))])
        route = Route(route_id=str(doc["route_id"]), path=path, goal=dict(goal), dock=bool(goal.get("dock")),
                      goal_s=min(gp.s_m, path.length_m), authority_s=math.inf, speed_profile=profile, chord_s=chord,
                      preview=PreviewTable(path.s, rear), speed_caps=profile.tolist())
        if doc.get("authority_m") is not None:
            a = float(doc["authority_m"])
            if not math.isfinite(a) or a < 0.0:
                raise RouteError(f"authority_m {a} is not a finite non-negative number")
            route.authority_s = route.from_route_length(a)
        return route

    def _check_start(self, route: Route, pose: PoseEstimate) -> None:
        p = self.params
        pr = route.path.project(pose.x, pose.y)
        if abs(pr.lateral_m) > p.max_start_offset_m:
            raise RouteError(f"route passes {abs(pr.lateral_m):.2f} m from the carrier "
                             f"(max {p.max_start_offset_m:g} m)")
        if pr.s_m < -p.max_start_offset_m:
            raise RouteError(f"route starts {-pr.s_m:.2f} m ahead of the carrier (max {p.max_start_offset_m:g} m)")
        if pr.s_m > route.goal_s + p.docking_tolerance_m:
            raise RouteError(f"carrier is already {pr.s_m - route.goal_s:.2f} m past the route's goal")
        dyaw = abs(wrap_angle(pose.yaw - pr.heading_rad))
        if dyaw > math.radians(p.max_start_heading_deg):
            raise RouteError(f"route heads {math.degrees(dyaw):.1f} deg away from the carrier's heading "
                             f"(max {p.max_start_heading_deg:g} deg)")

    # ------------------------------------------------------------------ output
    def _set_state(self, state: str, reason: str) -> None:
        self.state = state
        self.reason = reason

    def _emit(self, v_cmd: float, curvature: float, moving_hint: float) -> Command:
        """Command with the yaw rate that makes the carrier's steering realise ``curvature``."""
        if abs(v_cmd) >= STANDSTILL_SPEED_MPS:
            yaw_rate = v_cmd * curvature
        elif v_cmd != 0.0 or abs(moving_hint) > STOPPED_SPEED_MPS:
            yaw_rate = math.copysign(STANDSTILL_SPEED_MPS, v_cmd if v_cmd != 0.0 else moving_hint) * curvature
        else:
            yaw_rate = 0.0  # standing: the carrier keeps its wheels where they are
        self.steering.advance(curvature, self.dt)
        self.last_command = Command(v_cmd, yaw_rate, curvature)
        return self.last_command

    def _brake(self, hard: bool) -> float:
        """Speed command that stops the carrier: zero at once (hard) or along the jerk-limited reference."""
        p, ct = self.params, self.carrier
        if hard:
            self.speed_ref.reset(0.0)
            return 0.0
        self.speed_ref.step(0.0, self.dt, p.max_accel_mps2, p.max_decel_mps2, p.max_jerk_mps3)
        return max(self.speed_ref.v + ct.speed_time_constant_s * self.speed_ref.a, 0.0)

    # -------------------------------------------------------------------- step
    def step(self, t: float) -> Command:
        """One control period at time t [s]: returns the cmd_vel to publish."""
        p, ct = self.params, self.carrier
        pose = self.pose
        v_meas = pose.speed_mps if pose is not None else 0.0
        route = self.route
        if route is None:
            if self.state not in ("idle", "fault"):
                self._set_state("idle", "")
            return self._emit(self._brake(hard=False), self.curvature_cmd, v_meas)
        if self.emergency_stop:
            self._set_state("blocked", "emergency stop")
            return self._emit(self._brake(hard=True), self.curvature_cmd, v_meas)
        if pose is None:
            self._set_state("blocked", "no localization yet")
            return self._emit(self._brake(hard=True), self.curvature_cmd, v_meas)
        age = t - pose.t
        if age > p.localization_timeout_s or age < -p.localization_timeout_s:
            self._set_state("blocked", f"localization stale: {age:.2f} s old (max {p.localization_timeout_s:g} s)")
            return self._emit(self._brake(hard=True), self.curvature_cmd, v_meas)
        if not route.start_checked:
            try:
                self._check_start(route, pose)
                route.start_checked = True
            except RouteError as exc:
                self.route = None
                self._set_state("fault", f"route {route.route_id} rejected: {exc}")
                return self._emit(self._brake(hard=False), self.curvature_cmd, v_meas)

        # Pose at t: the sample is ``age`` old; move it along the arc it was driving.
        dt_pred = max(age, 0.0)
        yaw = pose.yaw + pose.yaw_rate_radps * dt_pred
        mid = pose.yaw + 0.5 * pose.yaw_rate_radps * dt_pred
        x = pose.x + pose.speed_mps * dt_pred * math.cos(mid)
        y = pose.y + pose.speed_mps * dt_pred * math.sin(mid)
        path = route.path
        pr = path.project(x, y, self.hint)
        self.hint = pr.index
        self.s = pr.s_m
        self.lateral_error = pr.lateral_m
        # Where the deck stands along the route, averaged over the approach: one noisy sample must not decide the
        # stop or the docking (a new sample is fused once; between samples the estimate drives on with the speed).
        along = self.along
        along.predict(t, v_meas)
        if pose.t != self._along_pose_t:
            self._along_pose_t = pose.t
            along.update(pr.s_m, pose.std_xy_m * pose.std_xy_m)
        s_hat = along.s if along.ready else pr.s_m
        if abs(pr.lateral_m) > p.max_tracking_error_m:
            self.route = None
            self._set_state("fault", f"off route: {pr.lateral_m:+.2f} m from the line "
                                     f"(max {p.max_tracking_error_m:g} m)")
            return self._emit(self._brake(hard=False), self.curvature_cmd, v_meas)
        self.steering.correct(v_meas, pose.yaw_rate_radps, 0.02)

        # ---- lateral: preview LQ on the deck centre
        a = self.half_wheelbase
        kappa_hat = self.steering.curvature
        course = (yaw - pr.heading_rad + math.pi) % TWO_PI - math.pi + math.atan(a * kappa_hat)
        v_gain = max(v_meas, self.speed_ref.v, 0.0)
        w = route.preview.previewed(pr.s_m, self.lateral, v_gain, self.speed_ref.a)
        if self._reversing or route.finished:
            curvature = self.curvature_cmd  # a few centimetres backwards, or standing: hold the wheels
        else:
            curvature = self.lateral.command(v_gain, pr.lateral_m, course, kappa_hat, self.curvature_cmd, w)
        self.curvature_cmd = curvature

        # ---- longitudinal: regulation chain
        i = min(max(pr.index, 0), path.n - 1)
        v_soft = min(route.speed_caps[i], p.max_speed_mps)  # the cap is dynamic: applied again
        loc_cap, loc_reason = localization_cap(pose.std_xy_m, pose.std_yaw_rad, p.position_std_full_speed_m,
                                               p.position_std_stop_m, p.yaw_std_stop_rad, ct.max_speed_mps)
        v_soft = min(v_soft, loc_cap)
        block_reason = loc_reason
        others = [o for o in self.others.values() if t - o.t <= p.other_carrier_timeout_s]
        obstacle = carrier_ahead(path, pr.s_m, pr.index, others, ct.length_m, ct.width_m, p.corridor_margin_m,
                                 p.safety_distance_m) if others else None
        if obstacle is not None:
            room = obstacle.gap_m - p.standstill_gap_m
            v_obstacle = braking_speed(room - v_meas * ct.speed_time_constant_s, p.max_decel_mps2, p.max_jerk_mps3)
            v_soft = min(v_soft, v_obstacle)
            if v_obstacle < p.creep_speed_mps:  # it holds us
                block_reason = block_reason or f"{obstacle.carrier_id} ahead: gap {obstacle.gap_m:.1f} m"

        stop_s = min(route.goal_s, route.authority_s)
        at_authority = route.authority_s < route.goal_s - p.stop_tolerance_m
        remaining = stop_s - s_hat
        lag = ct.speed_time_constant_s
        v_brake = braking_speed(remaining - v_meas * lag, p.max_decel_mps2, p.max_jerk_mps3)
        v_stop = stop_speed(remaining, v_meas, lag, p.max_decel_mps2, p.max_jerk_mps3, p.stop_gain_per_s,
                            p.creep_speed_mps, p.stop_tolerance_m, v_brake)
        target = min(v_soft, v_brake)
        if abs(self.speed_ref.v - v_meas) > 1.0:  # the carrier is not following the reference: restart from it
            self.speed_ref.reset(max(v_meas, 0.0))
        self.speed_ref.step(target, self.dt, p.max_accel_mps2, p.max_decel_mps2, p.max_jerk_mps3)
        v_cmd = max(self.speed_ref.v + lag * self.speed_ref.a, 0.0)
        v_cmd = min(v_cmd, v_stop, v_soft if v_soft > 0.0 else 0.0)
        if v_stop > 0.0 and v_soft >= p.creep_speed_mps:
            v_cmd = max(v_cmd, p.creep_speed_mps)
        # Latch the cut at the goal: with a noisy pose the remaining distance wanders around zero, and
        # re-creeping whenever it looks short would ratchet the carrier forward. Only the docking judgement
        # (below) may start another approach.
        if not at_authority and v_stop == 0.0 and abs(route.goal_s - s_hat) < 0.5:
            self._cut = True
        elif abs(route.goal_s - s_hat) >= 0.5:
            self._cut = False
        if self._cut:
            v_cmd = 0.0

        # ---- goal, docking, state
        goal_remaining = route.goal_s - s_hat
        stopped = abs(v_meas) < STOPPED_SPEED_MPS and v_cmd == 0.0
        self._stopped_since = (self._stopped_since if self._stopped_since is not None else t) if stopped else None
        settled = stopped and t - self._stopped_since >= p.docking_settle_s
        near_goal = goal_remaining <= max(p.docking_distance_m, 0.0)
        if route.dock and near_goal or route.finished or goal_remaining < p.docking_tolerance_m:
            self.docking_error = docking_error(route.goal, x, y, yaw)
            self.docking_error["along_m"] = -goal_remaining  # the filtered estimate, not this one sample
        if self._reversing:
            v_cmd = self._reverse_command(remaining, v_meas)
            stopped = abs(v_meas) < STOPPED_SPEED_MPS and v_cmd == 0.0
            settled = False
            if stopped:
                self._reversing = False
                self._cut = True
        if block_reason:
            self._set_state("blocked", block_reason)
        elif at_authority and abs(v_meas) < 0.05 and remaining < 0.5:
            self._set_state("blocked", f"waiting for movement authority at {route.to_route_length(stop_s):.2f} m")
        elif route.finished:
            self._set_state(route.final_state, "")
        elif settled and not at_authority:
            self._finish(route, goal_remaining - v_meas * ct.speed_time_constant_s)
            if self._reversing:
                v_cmd = self._reverse_command(remaining, v_meas)
        elif route.dock and near_goal:
            self._set_state("docking", "")
        else:
            self._set_state("following", "")
        if route.finished:
            v_cmd = 0.0
        return self._emit(v_cmd, curvature, v_meas)

    def _reverse_command(self, remaining: float, v_meas: float) -> float:
        p = self.params
        back = -remaining  # distance to go backwards
        v = stop_speed(back, -v_meas, self.carrier.speed_time_constant_s, p.max_decel_mps2, p.max_jerk_mps3,
                       p.stop_gain_per_s, p.creep_speed_mps, p.stop_tolerance_m)
        return -min(v, MAX_CORRECTION_SPEED_MPS, self.carrier.max_reverse_speed_mps)

    def _finish(self, route: Route, goal_remaining: float) -> None:
        """Standing still at the goal: docked, arrived, or one more (reverse) approach.

        ``goal_remaining`` is predicted: the last millimetres a first-order drive still rolls are counted.
        """
        p = self.params
        along = -goal_remaining
        if not route.dock or abs(along) <= p.docking_tolerance_m:
            route.finished = True
            route.final_state = "docked" if route.dock else "idle"
            self._set_state(route.final_state, "")
            return
        if self._corrections >= p.max_docking_corrections:
            self.route = None
            self._set_state("fault", f"docking failed: {along:+.3f} m along the lane after {self._corrections} "
                                     "corrections")
            return
        self._corrections += 1
        self._cut = False
        if along > 0.0:
            self._reversing = True
        self._stopped_since = None

    def status(self, t: float) -> dict[str, Any]:
        """The follower_status document."""
        r = self.route
        progress = r.to_route_length(self.s) if r is not None else 0.0
        remaining = r.to_route_length(r.goal_s) - progress if r is not None else 0.0
        authority = None
        if r is not None and math.isfinite(r.authority_s):
            authority = r.to_route_length(r.authority_s)
        goal_id = r.goal.get("id") if r is not None else None
        speed = self.pose.speed_mps if self.pose is not None else 0.0
        return {
            "carrier_id": self.carrier_id, "stamp": float(t), "state": self.state,
            "route_id": self.status_route_id, "progress_m": float(progress), "remaining_m": float(remaining),
            "authority_m": authority, "speed_mps": float(speed), "goal_id": goal_id,
            "docking_error": dict(self.docking_error) if self.docking_error is not None else None,
            "reason": self.reason,
        }
