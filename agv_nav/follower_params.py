"""Parameters of the path follower: one dataclass declared by the node, used by the core, documented in
docs/nodes/path_follower.md."""

from __future__ import annotations

from dataclasses import dataclass, field

from yard_model.drivable import MAX_VERTEX_TURN_DEG, MIN_ROUTE_LENGTH_M
from yard_model.params import ParameterError, spec
from yard_model.resources import DEFAULT_WORLD


@dataclass
class PathFollowerParams:
    """Every tunable of ``agv_nav.path_follower_node`` (see docs/path_following.md for the tuning recipes)."""

    # ---- node plumbing
    vehicle_id: str = field(default="", metadata=spec(
        "Carrier id; empty = the node's namespace without the leading slash (e.g. carrier_01)."))
    world: str = field(default=DEFAULT_WORLD, metadata=spec(
        "World that holds the carrier type (wheelbase, turning radius, limits): a name in the package's "
        "sim_worlds/ or a path to a world file (as the simulator's 'world')."))
    control_rate_hz: float = field(default=50.0, metadata=spec(
        "Rate of the control loop and of cmd_vel.", "Hz", 10.0, 200.0))
    status_rate_hz: float = field(default=5.0, metadata=spec(
        "Rate of follower/status (also published on every state change).", "Hz", 0.5, 50.0))
    other_carriers: str = field(default="", metadata=spec(
        "Comma-separated ids of the other carriers to watch (on /<id>/localization/odometry_throttle); empty = "
        "discover every such topic."))
    # ---- speed regulation
    max_speed_mps: float = field(default=8.0, metadata=spec(
        "Speed cap on top of the lane limits (the carrier's own maximum still applies).", "m/s", 0.1, 40.0,
        dynamic=True))
    max_accel_mps2: float = field(default=0.7, metadata=spec(
        "Planned acceleration (keep below the carrier's max_acceleration_mps2).", "m/s^2", 0.05, 5.0,
        dynamic=True))
    max_decel_mps2: float = field(default=0.8, metadata=spec(
        "Planned deceleration for lane limits, curves, the goal and the movement authority (keep below the "
        "carrier's service brake).", "m/s^2", 0.05, 5.0, dynamic=True))
    max_jerk_mps3: float = field(default=1.0, metadata=spec(
        "Jerk limit of the planned speed.", "m/s^3", 0.05, 20.0, dynamic=True))
    max_transition_shift_m: float = field(default=0.12, metadata=spec(
        "Steering-rate speed limit: where the curvature changes, the speed is capped so that the clothoid the "
        "steering rate allows shifts the path by at most this (the preview tracker's error is about a quarter "
        "of it).", "m", 0.005, 2.0))
    # ---- lateral control (preview LQ)
    preview_time_s: float = field(default=3.0, metadata=spec(
        "Preview horizon of the lateral controller; the look-ahead distance is speed x this.", "s", 0.5, 10.0))
    q_lateral: float = field(default=1.0, metadata=spec(
        "LQ weight on the lateral offset of the deck centre.", "1/m^2", 1e-6, 1e6))
    q_course: float = field(default=1.0, metadata=spec(
        "LQ weight on the course-angle error.", "1/rad^2", 0.0, 1e6))
    r_steer_rate: float = field(default=1e3, metadata=spec(
        "LQ weight on the curvature-command change per control period (steering rate); larger = calmer "
        "steering, smaller = tighter tracking.", "m^2", 1e-3, 1e9))
    # ---- stopping and docking
    stop_gain_per_s: float = field(default=1.5, metadata=spec(
        "Gain of the final approach v = k * (predicted remaining distance); sets how fast the last decimetres "
        "close.", "1/s", 0.2, 10.0, dynamic=True))
    creep_speed_mps: float = field(default=0.04, metadata=spec(
        "Smallest speed commanded while the predicted stop point is short of the goal.", "m/s", 0.005, 0.5,
        dynamic=True))
    stop_tolerance_m: float = field(default=0.001, metadata=spec(
        "The command drops to zero when the predicted stop point is within this of the goal.", "m", 0.0005, 0.1,
        dynamic=True))
    docking_distance_m: float = field(default=20.0, metadata=spec(
        "A docking goal switches the state from following to docking this far before the goal.", "m", 0.0,
        500.0, dynamic=True))
    docking_tolerance_m: float = field(default=0.02, metadata=spec(
        "Along-lane error accepted as docked; beyond it the carrier re-approaches at creep speed "
        "(forward or reverse).", "m", 0.002, 0.5, dynamic=True))
    docking_settle_s: float = field(default=0.3, metadata=spec(
        "Time at standstill before the docking error is judged.", "s", 0.0, 5.0, dynamic=True))
    max_docking_corrections: int = field(default=2, metadata=spec(
        "Re-approaches allowed before the follower reports a docking fault.", "", 0, 10, dynamic=True))
    # ---- route checks
    min_route_length_m: float = field(default=MIN_ROUTE_LENGTH_M, metadata=spec(
        "Shorter routes are rejected.", "m", 0.0, 100.0, dynamic=True))
    max_vertex_turn_deg: float = field(default=MAX_VERTEX_TURN_DEG, metadata=spec(
        "Largest heading change at one route vertex; more is a kink (send curves sampled along the arc).",
        "deg", 0.5, 90.0, dynamic=True))
    max_start_offset_m: float = field(default=1.0, metadata=spec(
        "A route whose line passes further than this from the carrier is rejected.", "m", 0.05, 20.0,
        dynamic=True))
    max_start_heading_deg: float = field(default=30.0, metadata=spec(
        "A route whose direction differs more than this from the carrier's heading is rejected.", "deg", 1.0,
        90.0, dynamic=True))
    goal_route_tolerance_m: float = field(default=0.25, metadata=spec(
        "The goal pose must lie within this of the route's end.", "m", 0.001, 10.0, dynamic=True))
    goal_heading_tolerance_deg: float = field(default=10.0, metadata=spec(
        "The goal yaw must agree with the route's end heading within this.", "deg", 0.1, 90.0, dynamic=True))
    max_tracking_error_m: float = field(default=1.0, metadata=spec(
        "Lateral offset from the route beyond which the follower stops with a fault.", "m", 0.05, 10.0,
        dynamic=True))
    # ---- safety
    localization_timeout_s: float = field(default=0.3, metadata=spec(
        "Localization older than this (by its stamp) stops the carrier. SAFETY: keep it short.", "s", 0.02, 5.0,
        dynamic=True))
    position_std_full_speed_m: float = field(default=0.05, metadata=spec(
        "Position standard deviation up to which full speed is allowed.", "m", 0.001, 10.0, dynamic=True))
    position_std_stop_m: float = field(default=0.3, metadata=spec(
        "Position standard deviation at which the carrier stops; between the two the speed cap falls "
        "linearly. SAFETY: lanes leave ~0.75 m per side.", "m", 0.002, 10.0, dynamic=True))
    yaw_std_stop_rad: float = field(default=0.05, metadata=spec(
        "Yaw standard deviation at which the carrier stops.", "rad", 0.001, 1.0, dynamic=True))
    safety_distance_m: float = field(default=40.0, metadata=spec(
        "Other carriers on the route up to this far ahead (bumper to bumper) are watched.", "m", 1.0, 500.0,
        dynamic=True))
    standstill_gap_m: float = field(default=4.0, metadata=spec(
        "Bumper gap to a carrier ahead at which the follower has stopped; it brakes at max_decel_mps2 to keep "
        "it. SAFETY: last line of defence under the fleet manager's traffic control.", "m", 0.5, 100.0,
        dynamic=True))
    corridor_margin_m: float = field(default=0.5, metadata=spec(
        "Extra width on each side of the carrier's swept corridor when checking carriers ahead.", "m", 0.0, 5.0,
        dynamic=True))
    other_carrier_timeout_s: float = field(default=5.0, metadata=spec(
        "Positions of other carriers older than this are forgotten.", "s", 0.1, 600.0, dynamic=True))

    def check(self) -> None:
        """Combinations that cannot work."""
        if self.position_std_stop_m <= self.position_std_full_speed_m:
            raise ParameterError("position_std_stop_m must be larger than position_std_full_speed_m")
        if self.stop_tolerance_m >= self.docking_tolerance_m:
            raise ParameterError("stop_tolerance_m must be smaller than docking_tolerance_m")
        if self.creep_speed_mps > self.max_speed_mps:
            raise ParameterError("creep_speed_mps must not exceed max_speed_mps")
