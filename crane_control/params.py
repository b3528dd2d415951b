"""Parameters of the crane controller (one dataclass, shared by the core and the node)."""

from __future__ import annotations

from dataclasses import dataclass, field

from yard_model.params import ParameterError, spec
from yard_model.resources import DEFAULT_WORLD


@dataclass
class CraneControllerParams:
    """Crane controller parameters; the table in docs/nodes/crane_controller.md is generated from these fields."""

    crane_id: str = field(default="", metadata=spec(
        "Crane to control; empty = the node's namespace (e.g. /cn_crane_1 -> cn_crane_1)."))
    world: str = field(default=DEFAULT_WORLD, metadata=spec(
        "World file: a path, or the name of a world shipped in sim_worlds/ (without .yaml)."))
    control_rate_hz: float = field(default=20.0, metadata=spec(
        "Rate of the control loop (state machine, interlock monitoring, replanning).", "Hz", 2.0, 200.0))
    limit_fraction: float = field(default=0.998, metadata=spec(
        "Fraction of the world's velocity, acceleration and jerk limits the plans use; a drive asked for exactly "
        "its limits saturates on rounding and falls behind.", "", 0.5, 1.0))
    command_lead_s: float = field(default=0.2, metadata=spec(
        "A new trajectory starts this long after it is computed, from where the old one will be then, so the "
        "drive switches smoothly despite the message delay.", "s", 0.0, 5.0))
    max_command_lead_s: float = field(default=2.0, metadata=spec(
        "The lead grows up to this while the controller measures itself running late (a starved process: twice "
        "the longest stall of the last 30 s); a trajectory that would still reach the drive late is re-planned.",
        "s", 0.0, 10.0))
    trajectory_sample_s: float = field(default=0.1, metadata=spec(
        "Spacing of JointTrajectory points (each carries position, velocity, acceleration).", "s", 0.01, 1.0))
    joint_state_timeout_s: float = field(default=0.5, metadata=spec(
        "Joint states older than this stop the crane (feedback lost).", "s", 0.05, 10.0))
    bay_status_timeout_s: float = field(default=5.0, metadata=spec(
        "A bay_status document older than this counts as 'no bay is ready' (0 = never stale).", "s", 0.0, 600.0))
    container_tare_kg: float = field(default=3750.0, metadata=spec(
        "Empty container mass for load sensing: hanging = rope load > spreader + half of this.", "kg", 500.0, 10000.0))
    landing_overtravel_m: float = field(default=0.03, metadata=spec(
        "How far below the expected landing height the hoist is commanded, so the rope goes slack on landing.",
        "m", 0.0, 0.3))
    landing_tolerance_m: float = field(default=0.25, metadata=spec(
        "A landing within this of the expected height is the container (or the bay) we expect; "
        "farther is a fault.", "m", 0.02, 1.0))
    position_tolerance_m: float = field(default=0.1, metadata=spec(
        "Horizontal distance from a bay centre within which the spreader counts as over the bay.", "m", 0.01, 1.0))
    tracking_tolerance_m: float = field(default=0.1, metadata=spec(
        "Replan from the measured state instead of the commanded one when they differ by more.", "m", 0.01, 2.0))
    settle_timeout_s: float = field(default=3.0, metadata=spec(
        "Time after a plan ends for the crane to reach its target before the job fails.", "s", 0.2, 60.0))
    lock_timeout_s: float = field(default=2.0, metadata=spec(
        "Time beyond the crane's twistlock time for the locks to report locked/open.", "s", 0.1, 30.0))
    lock_retries: int = field(default=2, metadata=spec(
        "Re-landings after a failed lock before the job fails.", "", 0, 10))
    relift_m: float = field(default=0.2, metadata=spec(
        "Lift before re-landing on a lock retry.", "m", 0.05, 1.0))
    liftoff_check_m: float = field(default=0.15, metadata=spec(
        "Height above the pick landing at which the load must hang (else the lock failed).", "m", 0.02, 1.0))
    prelift_horizon_s: float = field(default=90.0, metadata=spec(
        "Pick from a truck for a carrier bay that is not ready yet only if the carrier is expected within "
        "this (then hold over the carrier bay).", "s", 0.0, 3600.0, dynamic=True))
    rail_margin_m: float = field(default=2.0, metadata=spec(
        "Added to the world's min_separation_m between cranes on shared rails.", "m", 0.0, 50.0))
    rail_claim_timeout_s: float = field(default=1.5, metadata=spec(
        "A neighbour whose rail claim is older than this has no live controller; it is then kept clear of "
        "by its joint states only.", "s", 0.2, 30.0))
    rail_claim_period_s: float = field(default=0.5, metadata=spec(
        "Period of the rail claim heartbeat (claims are also sent on every change).", "s", 0.05, 5.0))
    check_containers: bool = field(default=True, metadata=spec(
        "Reject jobs for containers the latest /yard/state does not list (if one was received)."))

    def check(self) -> None:
        if self.max_command_lead_s < self.command_lead_s:
            raise ParameterError("max_command_lead_s must be at least command_lead_s")
        if self.rail_claim_period_s * 2.0 > self.rail_claim_timeout_s:
            raise ParameterError("rail_claim_timeout_s must be at least twice rail_claim_period_s")
        if self.trajectory_sample_s > 1.0 / self.control_rate_hz * 10.0:
            raise ParameterError("trajectory_sample_s must not exceed ten control periods")
