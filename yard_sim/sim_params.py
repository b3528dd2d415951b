"""Parameters of the ``yard_sim`` node, and how they become the engine's configuration.

One dataclass (``SimParams``, :mod:`yard_model.params` specs) declared by the node; the sensor models'
parameters (``yard_sim.sensors.SensorConfig``) are declared next to them under the ``sensors.``
prefix, one set for every carrier. ``config/yard_sim.yaml`` documents every key; the
table in docs/nodes/yard_sim.md is generated from this file (a test keeps them equal). No rclpy import here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from yard_model.params import ParameterError, spec
from yard_model.resources import DEFAULT_WORLD

from .cargo import CargoConfig
from .cranes import CraneSimConfig
from .engine import SimConfig
from .sensors import SensorConfig

MAX_CARRIERS = 99


@dataclass
class SimParams:
    """Everything the simulator node reads at start-up (none can change while it runs)."""

    world: str = field(default=DEFAULT_WORLD, metadata=spec(
        "World to simulate: a name in the package's sim_worlds/ (small_yard, youyiguan) or a path to a world file."))
    carriers: int = field(default=3, metadata=spec(
        "Number of carriers, ids carrier_01 .. carrier_NN (ignored when carrier_ids is set). They start at the "
        "parking spots, then the charging spots, in world-file order.", "", 0, MAX_CARRIERS))
    carrier_ids: str = field(default="", metadata=spec(
        "Comma-separated carrier ids instead of a count (e.g. 'carrier_01,carrier_07'); empty = use carriers."))
    seed: int = field(default=0, metadata=spec(
        "Seed of every random process (sensor noise, lock failures): same seed and commands, same run.",
        "", 0, 2**31 - 1))
    real_time_factor: float = field(default=1.0, metadata=spec(
        "Simulated seconds per wall-clock second; 0 = as fast as possible. The simulator is the clock "
        "(/clock), so it never uses sim time itself.", "", 0.0, 1000.0))
    step_s: float = field(default=0.01, metadata=spec(
        "Physics step (sensor measurements are stamped at step times).", "s", 0.001, 0.05))
    clock_rate_hz: float = field(default=50.0, metadata=spec(
        "Rate of /clock in simulated time. Every node with use_sim_time wakes for each /clock message, so this "
        "is most of the graph's CPU when it runs faster than real time: no node's timer is faster than 50 Hz "
        "(path follower, localization output). A timer faster than this fires at this rate.", "Hz", 1.0, 1000.0))
    max_catchup_steps: int = field(default=50, metadata=spec(
        "Largest backlog of steps behind the wall clock the simulator catches up on (0.05 s of simulated time "
        "per timer tick, serving commands in between); a larger one is dropped and the simulator runs slower "
        "than real_time_factor (reported in diagnostics).", "", 1, 10000))
    controller_max_lag_s: float = field(default=0.1, metadata=spec(
        "Controller pacing: the simulator does not step while a carrier's latest cmd_vel asks for motion and its "
        "stamp is older than this plus the controller's command period in simulation time, so a path follower "
        "starved of CPU on a shared machine sees the world on time (yard_sim.pacing; 0 = off, the simulator runs "
        "ahead of slow controllers).", "s", 0.0, 10.0))
    controller_give_up_s: float = field(default=5.0, metadata=spec(
        "Controller pacing: a controller that has not answered for this long (wall clock) while the simulator "
        "waited is no longer waited for until it sends again (a stopped follower must not freeze the yard).",
        "s", 0.1, 600.0))
    stale_timeout_s: float = field(default=0.5, metadata=spec(
        "A carrier whose last cmd_vel is older brakes to a stop (its safety layer).", "s", 0.05, 10.0))
    initial_soc: float = field(default=1.0, metadata=spec("Battery state of charge at start.", "", 0.0, 1.0))
    charge_radius_m: float = field(default=0.5, metadata=spec(
        "A carrier standing still with base_link this close to a charging spot charges there.", "m", 0.0, 10.0))
    ground_truth_rate_hz: float = field(default=50.0, metadata=spec(
        "Rate of <c>/ground_truth/odometry.", "Hz", 0.1, 1000.0))
    joint_state_rate_hz: float = field(default=50.0, metadata=spec("Rate of <k>/joint_states.", "Hz", 0.1, 1000.0))
    battery_rate_hz: float = field(default=1.0, metadata=spec("Rate of <c>/battery.", "Hz", 0.01, 100.0))
    yard_state_rate_hz: float = field(default=1.0, metadata=spec(
        "Rate of /yard/state (also published at once on every change).", "Hz", 0.01, 100.0))
    markers_rate_hz: float = field(default=5.0, metadata=spec(
        "Rate of the dynamic /yard/markers (the static ones are published once, latched).", "Hz", 0.01, 100.0))
    static_markers_period_s: float = field(default=10.0, metadata=spec(
        "The static layout on /yard/markers is latched and also sent again this often, for viewers that "
        "subscribe without transient local or with depth 1 (0 = only once).", "s", 0.0, 3600.0))
    diagnostics_rate_hz: float = field(default=1.0, metadata=spec("Rate of /diagnostics.", "Hz", 0.01, 100.0))
    container_mass_kg: float = field(default=20000.0, metadata=spec(
        "Gross mass of a spawned container when the command gives none.", "kg", 3750.0, 40000.0))
    truck_auto_depart: bool = field(default=True, metadata=spec(
        "Trucks leave by themselves truck_depart_delay_s after their load changed (container taken or placed)."))
    truck_depart_delay_s: float = field(default=20.0, metadata=spec(
        "Delay between a truck's load change and its departure.", "s", 0.0, 86400.0))
    truck_departure_s: float = field(default=10.0, metadata=spec(
        "How long a departing truck stays in the model (driving off) before it disappears.", "s", 0.0, 600.0))
    align_tolerance_m: float = field(default=0.1, metadata=spec(
        "Twistlocks turn only if the spreader landed within this distance of the container's centre.",
        "m", 0.0, 1.0))
    align_tolerance_deg: float = field(default=2.0, metadata=spec(
        "Twistlocks turn only if the spreader's axis is within this angle of the container's (end for end "
        "counts as aligned).", "deg", 0.0, 45.0))
    misplaced_tolerance_m: float = field(default=0.15, metadata=spec(
        "A container set down further than this from a carrier's deck or truck's bed centre is reported "
        "misplaced.", "m", 0.0, 5.0))
    misplaced_tolerance_deg: float = field(default=3.0, metadata=spec(
        "A container set down turned more than this from its carrier's or truck's axis is reported misplaced.",
        "deg", 0.0, 90.0))
    slack_rope_m: float = field(default=0.1, metadata=spec(
        "Slack-rope protection: a landed hoist drum pays out at most this below the landing point.", "m", 0.0, 2.0))
    lock_failure_probability: float = field(default=0.0, metadata=spec(
        "Chance that twistlocks reach 'locked' without engaging (failure-path tests; seeded).", "", 0.0, 1.0))
    limit_tolerance: float = field(default=0.02, metadata=spec(
        "Relative margin before a trajectory that asks for more than an axis allows is reported as a "
        "crane_limit_violation (the axis itself never exceeds its limits).", "", 0.0, 1.0))

    def check(self) -> None:
        step_hz = 1.0 / self.step_s
        for name in ("clock_rate_hz", "ground_truth_rate_hz", "joint_state_rate_hz", "battery_rate_hz",
                     "yard_state_rate_hz", "markers_rate_hz", "diagnostics_rate_hz"):
            if getattr(self, name) > step_hz + 1e-9:
                raise ParameterError(f"{name}: {getattr(self, name)} Hz is faster than the physics step "
                                     f"({step_hz:g} Hz at step_s {self.step_s} s)")
        self.carrier_list()

    def carrier_list(self) -> list[str]:
        """The carrier ids to simulate (carrier_ids if given, else carrier_01 .. carrier_NN)."""
        if self.carrier_ids.strip():
            ids = [s.strip() for s in self.carrier_ids.split(",")]
            if any(not s for s in ids):
                raise ParameterError(f"carrier_ids: empty id in '{self.carrier_ids}'")
            return ids
        return [f"carrier_{i:02d}" for i in range(1, self.carriers + 1)]

    def engine_config(self, sensors: SensorConfig) -> SimConfig:
        """The engine configuration these parameters describe."""
        return SimConfig(
            step_s=self.step_s,
            stale_timeout_s=self.stale_timeout_s,
            initial_soc=self.initial_soc,
            charge_radius_m=self.charge_radius_m,
            sensors=sensors,
            cargo=CargoConfig(
                container_mass_kg=self.container_mass_kg,
                truck_auto_depart=self.truck_auto_depart,
                truck_depart_delay_s=self.truck_depart_delay_s,
                truck_departure_s=self.truck_departure_s,
                misplaced_tolerance_m=self.misplaced_tolerance_m,
                misplaced_tolerance_rad=math.radians(self.misplaced_tolerance_deg),
            ),
            crane=CraneSimConfig(
                align_tolerance_m=self.align_tolerance_m,
                align_tolerance_rad=math.radians(self.align_tolerance_deg),
                slack_rope_m=self.slack_rope_m,
                lock_failure_probability=self.lock_failure_probability,
                limit_tolerance=self.limit_tolerance,
            ),
        )


