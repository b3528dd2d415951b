"""Parameters of the carrier localization node and filter (one dataclass, no rclpy).

Every field is a ROS parameter declared by ``yard_ros.params.declare`` with the description,
unit and range given here; ``config/localization.yaml`` ships the defaults with a paragraph per
key, and the table in docs/nodes/localization.md is generated from this class (a test keeps them in step).

Noise figures are *densities* where the quantity is integrated (gyro, wheel speed), so they do
not depend on the sensor rate: a gyro sampled at 100 Hz with a per-sample standard deviation
sigma has a density sigma / sqrt(100 Hz).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from yard_model.params import ParameterError, spec
from yard_model.resources import DEFAULT_WORLD


@dataclass
class LocalizationParams:
    """What the localization filter and its node need to know."""

    # ------------------------------------------------------------- identity and world
    world: str = field(default=DEFAULT_WORLD, metadata=spec(
        "World: a name in the package's sim_worlds/ or a path to a world file (as the simulator's 'world'). "
        "Gives the map datum, the GNSS antenna "
        "lever arm and the rear axle position of the carrier type, and the parking/bay poses used to "
        "initialise heading at a standstill."))
    vehicle_id: str = field(default="", metadata=spec(
        "Carrier id used in frame names (<vehicle_id>/base_link); empty = the node's namespace."))
    geometry_from_world: bool = field(default=True, metadata=spec(
        "Take the GNSS antenna lever arm and rear axle position from the world's carrier_type; when false, "
        "gnss_antenna_m and rear_axle_x_m below are used."))
    gnss_antenna_m: list[float] = field(default_factory=lambda: [6.0, 0.5, 2.8], metadata=spec(
        "GNSS antenna phase centre in base_link (x forward, y left, z up). Only used when "
        "geometry_from_world is false. A wrong lever arm biases position by its rotation: check it.", "m"))
    rear_axle_x_m: float = field(default=-4.0, metadata=spec(
        "Rear axle centre along base_link x (the point without lateral velocity of an Ackermann carrier). "
        "Only used when geometry_from_world is false.", "m", -50.0, 0.0))

    estimate_lever_arm: bool = field(default=True, metadata=spec(
        "Estimate a correction of the GNSS antenna lever arm online. It is observable only while the carrier turns; "
        "it stays at the configured value (within gnss_antenna_sigma_m) until fixes in a turn disagree with it, "
        "then follows the data. Diagnostics report the estimate and warn when it differs from the configuration."))
    gnss_antenna_sigma_m: float = field(default=0.005, metadata=spec(
        "Standard deviation of the configured lever arm (per axis) the filter starts from when estimate_lever_arm "
        "is true.", "m", 0.0, 5.0))
    lever_arm_warn_m: float = field(default=0.1, metadata=spec(
        "Diagnostics WARN when the estimated lever arm differs from the configured one by more than this and by "
        "more than three of its standard deviations.", "m", 0.001, 10.0, dynamic=True))
    rear_slip_sigma: float = field(default=0.005, metadata=spec(
        "Standard deviation of the rear tyres' slip angle per lateral acceleration (estimated from 0 as a state): "
        "the point without lateral velocity moves forward of the rear axle as the carrier corners faster.",
        "rad/(m/s^2)", 0.0, 0.1))

    use_gnss_heading: bool = field(default=True, metadata=spec(
        "Subscribe to gnss/heading (a dual-antenna receiver's yaw; simulator: sensors.gnss_heading_enabled). "
        "Youyiguan's carriers have one: it gives heading at start-up without driving and keeps the cross-track error "
        "small through single-fix stretches. Harmless without one (heading then comes from a spot or driving)."))
    use_bay_positioning: bool = field(default=True, metadata=spec(
        "Subscribe to bay_positioning/pose (geometry_msgs/PoseWithCovarianceStamped in map: the crane-mounted "
        "positioning system measuring base_link under a crane portal). Fused without a GNSS error term, it "
        "gives centimetre docking where the portal leaves GNSS in RTK float."))

    # ------------------------------------------------------------------------ output
    output_rate_hz: float = field(default=50.0, metadata=spec(
        "Rate of localization/odometry (and the TF) on a timer in ROS time (sim time under simulation).",
        "Hz", 1.0, 500.0))
    throttle_rate_hz: float = field(default=10.0, metadata=spec(
        "Rate of localization/odometry_throttle: the same estimate for the other carriers' path followers and the "
        "fleet manager, which need where a carrier is, not a control-rate stream (each of N followers watches "
        "the N - 1 others); 0 = not published.", "Hz", 0.0, 500.0))
    publish_tf: bool = field(default=True, metadata=spec(
        "Publish map -> <vehicle>/base_link on /tf when tf2_ros is importable (absent on PyPI-only installs)."))
    diagnostics_period_s: float = field(default=1.0, metadata=spec(
        "Period of the DiagnosticArray status on /diagnostics.", "s", 0.1, 60.0))
    max_extrapolation_s: float = field(default=0.2, metadata=spec(
        "The output is predicted with the last inputs at most this far past the newest input; beyond it the "
        "position and yaw covariance grow as if the carrier may have kept moving.", "s", 0.0, 2.0))
    z_sigma_m: float = field(default=0.05, metadata=spec(
        "Reported standard deviation of z (not estimated: the yard is flat, base_link is on the ground).",
        "m", 0.0, 10.0))
    roll_pitch_sigma_rad: float = field(default=0.02, metadata=spec(
        "Reported standard deviation of roll and pitch (not estimated: planar filter).", "rad", 0.0, 1.0))

    # ------------------------------------------------------------- time and latency
    history_s: float = field(default=1.0, metadata=spec(
        "Length of the state/measurement history kept to fuse late measurements at their stamp (events are "
        "re-propagated from the stamp). Must exceed gnss_max_latency_s.", "s", 0.1, 10.0))
    gnss_max_latency_s: float = field(default=0.5, metadata=spec(
        "A GNSS fix or heading arriving later than this after its stamp is dropped as stale.", "s", 0.0, 10.0))
    input_max_latency_s: float = field(default=0.25, metadata=spec(
        "Wheel odometry or IMU samples arriving later than this after their stamp are dropped as stale.",
        "s", 0.0, 10.0))
    future_tolerance_s: float = field(default=0.05, metadata=spec(
        "Stamps further than this ahead of the node's clock are dropped (clock or driver fault).",
        "s", 0.0, 10.0))
    input_timeout_s: float = field(default=0.5, metadata=spec(
        "Wheel odometry or IMU silent longer than this is reported stale (WARN); without IMU the wheel "
        "odometry yaw rate is used instead.", "s", 0.05, 10.0))
    gnss_timeout_s: float = field(default=2.0, metadata=spec(
        "No accepted GNSS fix for longer than this: status WARN (dead reckoning); fixes coming back after "
        "such a gap start a new GNSS error model (the receiver's solution restarted).", "s", 0.1, 60.0))

    # -------------------------------------------------------------- process noise
    gyro_noise_density: float = field(default=2.5e-4, metadata=spec(
        "Gyro z white noise density (angle random walk).", "rad/s/sqrt(Hz)", 1e-7, 1.0))
    gyro_bias_sigma: float = field(default=0.005, metadata=spec(
        "Initial standard deviation of the gyro z bias (estimated as a state).", "rad/s", 1e-6, 1.0))
    gyro_bias_walk: float = field(default=2.0e-5, metadata=spec(
        "Gyro bias random walk.", "rad/s/sqrt(s)", 0.0, 1.0))
    odom_yaw_rate_noise_density: float = field(default=0.01, metadata=spec(
        "Noise density of the wheel odometry yaw rate, used only while the IMU is silent.",
        "rad/s/sqrt(Hz)", 1e-6, 10.0))
    speed_noise_density: float = field(default=0.002, metadata=spec(
        "Wheel speed white noise density.", "m/s/sqrt(Hz)", 1e-6, 10.0))
    wheel_scale_sigma: float = field(default=0.02, metadata=spec(
        "Initial standard deviation of the wheel odometry scale error (estimated as a state; 0.02 = 2 %).",
        "", 1e-6, 1.0))
    wheel_scale_walk: float = field(default=1.0e-4, metadata=spec(
        "Random walk of the wheel scale error (tyre wear, load).", "1/sqrt(s)", 0.0, 1.0))
    slip_sigma: float = field(default=0.002, metadata=spec(
        "Unmodelled slip: position noise per square root of distance driven, along and across the carrier.",
        "m/sqrt(m)", 0.0, 1.0))
    standstill_speed_mps: float = field(default=0.005, metadata=spec(
        "Wheel speed below which (with odometry yaw rate below 0.01 rad/s) the carrier is at a standstill: "
        "it cannot turn (Ackermann), and the gyro reading is used as a bias measurement.", "m/s", 0.0, 0.5))

    # ------------------------------------------------------------------------ GNSS
    gnss_min_sigma_fixed_m: float = field(default=0.005, metadata=spec(
        "Floor on the horizontal standard deviation of an RTK fixed solution.", "m", 0.0, 10.0))
    gnss_min_sigma_float_m: float = field(default=0.05, metadata=spec(
        "Floor on the horizontal standard deviation of an RTK float solution.", "m", 0.0, 10.0))
    gnss_min_sigma_single_m: float = field(default=0.5, metadata=spec(
        "Floor on the horizontal standard deviation of a single (autonomous) solution.", "m", 0.0, 100.0))
    gnss_default_sigma_fixed_m: float = field(default=0.03, metadata=spec(
        "Standard deviation assumed for an RTK fixed solution whose covariance is unknown, zero or not finite "
        "(such a fix is classed as float by yard_model.gnss_status, so this applies only to receivers that "
        "report a known type with unusable values).", "m", 0.0, 10.0))
    gnss_default_sigma_float_m: float = field(default=0.5, metadata=spec(
        "Standard deviation assumed for an RTK float solution whose covariance is unknown or unusable.",
        "m", 0.0, 10.0))
    gnss_default_sigma_single_m: float = field(default=3.0, metadata=spec(
        "Standard deviation assumed for a single solution whose covariance is unknown or unusable.",
        "m", 0.0, 100.0))
    gnss_bias_fraction_fixed: float = field(default=0.5, metadata=spec(
        "Prior share of an RTK fixed fix's variance that is slowly varying (Gauss-Markov error state), the rest "
        "white, until the receiver's own white noise has been measured (gnss_noise_window_s).", "", 0.0, 0.9999))
    gnss_bias_fraction_float: float = field(default=0.9, metadata=spec(
        "Prior share of an RTK float fix's variance that is slowly varying. Float and single errors wander over "
        "tens of seconds; modelling them as white noise makes the filter overconfident and lets 1 m multipath "
        "jumps through.", "", 0.0, 0.9999))
    gnss_bias_fraction_single: float = field(default=0.999, metadata=spec(
        "Prior share of a single fix's variance that is slowly varying.", "", 0.0, 0.9999))
    gnss_bias_time_constant_fixed_s: float = field(default=5.0, metadata=spec(
        "Correlation time of the slowly varying error of RTK fixed solutions (residual multipath: seconds).",
        "s", 0.1, 3600.0))
    gnss_bias_time_constant_float_s: float = field(default=30.0, metadata=spec(
        "Correlation time of the slowly varying error of RTK float solutions (ambiguity drift: tens of seconds).",
        "s", 0.1, 3600.0))
    gnss_bias_time_constant_single_s: float = field(default=60.0, metadata=spec(
        "Correlation time of the slowly varying error of single solutions (atmosphere, orbits: a minute).",
        "s", 0.1, 3600.0))
    gnss_noise_window_s: float = field(default=20.0, metadata=spec(
        "Time window of the running estimate of the receiver's white noise, measured from fix-to-fix increments "
        "against dead reckoning, per solution mode (docs/localization.md). The split of a fix's variance into white "
        "and slow follows it.", "s", 1.0, 3600.0))
    gnss_noise_prior_fixes: int = field(default=5, metadata=spec(
        "How many increments the prior split (gnss_bias_fraction_*) counts for before the receiver's own white "
        "noise takes over.", "", 1, 10000))
    gnss_slow_floor: float = field(default=0.3, metadata=spec(
        "The slow part of a fix's variance is at least this times its measured white part, whatever the receiver "
        "reports: a slow error cannot be measured in a short window, and a receiver whose white noise exceeds what "
        "it reports is assumed optimistic about its slow error too.", "", 0.0, 100.0))
    gnss_jump_gate_chi2: float = field(default=18.42, metadata=spec(
        "Chi-square gate (2 degrees of freedom) on a fix-to-fix increment against dead reckoning: beyond it the fix "
        "track jumped (multipath starting or ending). A run of rejected fixes started by a jump is a multipath "
        "event; one without a jump is the filter drifting away from consistent fixes.", "", 1.0, 1000.0))
    gnss_drift_confirm_s: float = field(default=0.5, metadata=spec(
        "Fixes rejected this long that agree with each other and with dead reckoning (no jump started the run) "
        "mean the filter is wrong: it widens the pose and follows them.", "s", 0.05, 60.0))
    gnss_young_track_s: float = field(default=1.5, metadata=spec(
        "Right after the start or a recovery, a run of fixes that began with a jump replaces the young track the "
        "filter follows once it has lasted as long as that track, and at least this long (a multipath event on the "
        "first fixes is then left within it; one soon after the start is not followed for less).", "s", 0.05, 60.0))
    gnss_gate_chi2: float = field(default=18.42, metadata=spec(
        "Mahalanobis gate on a fix's innovation (chi-square, 2 degrees of freedom; 18.42 rejects 0.01 % of "
        "consistent fixes). Lower rejects more good data.", "", 1.0, 1000.0))
    gnss_gate_recovery_s: float = field(default=10.0, metadata=spec(
        "A run of rejected fixes that started with a jump (multipath) is trusted again after this long when its fixes "
        "agree with each other (sooner right after the start or a recovery, if the track followed until then was "
        "shorter than the run): the receiver's slow error restarts, or the pose is widened to the innovation.",
        "s", 1.0, 600.0))
    gnss_heading_default_sigma_rad: float = field(default=0.01, metadata=spec(
        "Standard deviation of a GNSS heading whose covariance is unknown.", "rad", 1e-5, 1.0))
    gnss_heading_gate_chi2: float = field(default=15.13, metadata=spec(
        "Mahalanobis gate on a GNSS heading innovation (chi-square, 1 degree of freedom).", "", 1.0, 1000.0))
    bay_positioning_max_latency_s: float = field(default=0.3, metadata=spec(
        "A bay positioning pose arriving later than this after its stamp is dropped as stale. Must be below "
        "history_s.", "s", 0.0, 10.0))
    bay_positioning_min_sigma_m: float = field(default=0.003, metadata=spec(
        "Floor on a bay positioning pose's position standard deviation (per axis), for sensors that report "
        "zeros or less than they achieve.", "m", 1e-4, 1.0))
    bay_positioning_gate_chi2: float = field(default=21.11, metadata=spec(
        "Mahalanobis gate on a bay positioning innovation (chi-square; 21.11 rejects 0.01 % of consistent "
        "poses with yaw, 3 degrees of freedom; position-only poses use the same bound, 2 degrees of freedom).",
        "", 1.0, 1000.0))
    bay_positioning_recovery_s: float = field(default=1.0, metadata=spec(
        "After this long with every bay positioning pose rejected while they agree with each other, the filter "
        "takes the crane's word over its own (covariance inflated to the innovation): the pose was wrong, "
        "e.g. an approach on biased RTK float fixes.", "s", 0.1, 60.0))
    bay_positioning_recovery_spread_m: float = field(default=0.1, metadata=spec(
        "Rejected bay positioning poses count as agreeing when their innovations differ by less than this plus "
        "three of their sigmas (the carrier moves between them; the filter's dead reckoning carries that).",
        "m", 0.0, 10.0))

    # ---------------------------------------------------------------- initialisation
    init_min_distance_m: float = field(default=2.0, metadata=spec(
        "Heading from motion: the antenna track must span at least this far.", "m", 0.1, 1000.0))
    init_max_yaw_sigma_rad: float = field(default=0.05, metadata=spec(
        "Heading from motion is accepted once its standard deviation is below this.", "rad", 0.001, 1.0))
    init_from_world_spots: bool = field(default=True, metadata=spec(
        "At a standstill, take the heading of the parking spot, charger or carrier bay whose expected antenna "
        "position the first fix matches (within init_spot_radius_m plus three fix sigmas)."))
    init_spot_radius_m: float = field(default=1.0, metadata=spec(
        "How far the antenna may be from where it would be at a spot for the spot's heading to be used.",
        "m", 0.0, 10.0))
    init_spot_yaw_sigma_rad: float = field(default=0.05, metadata=spec(
        "Heading standard deviation assumed when initialised from a spot.", "rad", 0.001, 1.0))

    # ----------------------------------------------------------------- sanity limits
    max_speed_mps: float = field(default=15.0, metadata=spec(
        "Wheel speeds beyond this are absurd and dropped.", "m/s", 0.1, 100.0))
    max_yaw_rate_radps: float = field(default=2.0, metadata=spec(
        "Yaw rates beyond this (gyro or wheel odometry) are absurd and dropped.", "rad/s", 0.1, 50.0))
    max_distance_from_datum_m: float = field(default=50_000.0, metadata=spec(
        "GNSS fixes further than this from the map datum are absurd and dropped.", "m", 10.0, 1.0e6))
    max_altitude_error_m: float = field(default=500.0, metadata=spec(
        "GNSS fixes whose height differs from the datum's by more than this are absurd and dropped.",
        "m", 1.0, 1.0e5))

    # -------------------------------------------------------------------- health
    warn_position_sigma_m: float = field(default=0.10, metadata=spec(
        "Status WARN when the position standard deviation (largest axis) exceeds this.", "m", 0.001, 100.0,
        dynamic=True))
    error_position_sigma_m: float = field(default=0.50, metadata=spec(
        "Status ERROR when the position standard deviation exceeds this: path following should stop.",
        "m", 0.001, 1000.0, dynamic=True))
    log_throttle_s: float = field(default=5.0, metadata=spec(
        "Minimum time between two log lines about the same kind of rejected input.", "s", 0.0, 3600.0,
        dynamic=True))

    def check(self) -> None:
        """Combinations a single range cannot express."""
        if len(self.gnss_antenna_m) != 3:
            raise ParameterError(f"gnss_antenna_m: needs 3 values (x, y, z), got {len(self.gnss_antenna_m)}")
        if self.gnss_max_latency_s >= self.history_s:
            raise ParameterError(
                f"gnss_max_latency_s ({self.gnss_max_latency_s}) must be below history_s ({self.history_s}): "
                "a fix must still find its stamp in the history")
        if self.bay_positioning_max_latency_s >= self.history_s:
            raise ParameterError("bay_positioning_max_latency_s must be below history_s")
        if self.input_max_latency_s >= self.history_s:
            raise ParameterError("input_max_latency_s must be below history_s")
        if self.warn_position_sigma_m >= self.error_position_sigma_m:
            raise ParameterError("warn_position_sigma_m must be below error_position_sigma_m")
        for mode in ("fixed", "float", "single"):
            lo = getattr(self, f"gnss_min_sigma_{mode}_m")
            default = getattr(self, f"gnss_default_sigma_{mode}_m")
            if default < lo:
                raise ParameterError(f"gnss_default_sigma_{mode}_m ({default}) is below its floor ({lo})")
