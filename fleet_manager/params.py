"""Parameters of the fleet manager node (one dataclass; no rclpy here).

The node declares them with ``yard_ros.params.declare``; ``config/fleet_manager.yaml``
documents every key and the table in docs/nodes/fleet_manager.md is generated from this class.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from yard_model.params import ParameterError, spec
from yard_model.resources import DEFAULT_WORLD

from .allocation import AllocationConfig
from .ingress import IngressLimits
from .manager import ManagerConfig
from .network import NetworkConfig
from .recovery import RecoveryConfig
from .traffic import TrafficConfig


@dataclass
class FleetManagerParams:
    """Fleet manager parameters (see config/fleet_manager.yaml)."""

    world: str = field(default=DEFAULT_WORLD, metadata=spec(
        "World file: a path, or the name of a world in the package's sim_worlds (youyiguan, small_yard)."))
    carrier_ids: list[str] = field(default_factory=lambda: [f"carrier_{i:02d}" for i in range(1, 13)],
                                   metadata=spec("Carriers the fleet manager controls (their namespaces)."))
    db_path: str = field(default="~/.ros/yard_autonomy/fleet_manager.sqlite", metadata=spec(
        "SQLite file with orders, routes and reservations; a restarted node resumes from it. "
        "':memory:' keeps nothing (tests only)."))
    db_synchronous: str = field(default="NORMAL", metadata=spec(
        "SQLite synchronous mode: NORMAL survives a crash of the process, FULL also a power loss (slower).",
        choices=("NORMAL", "FULL")))
    tick_rate_hz: float = field(default=4.0, metadata=spec(
        "Rate of the planning loop: liveness, grants, allocation, bay status.", "Hz", 0.5, 50.0))
    state_rate_hz: float = field(default=1.0, metadata=spec("Rate of the /fleet/state snapshot.", "Hz", 0.1, 10.0))
    liveness_timeout_s: float = field(default=5.0, metadata=spec(
        "A carrier silent (no follower status, no odometry) this long is faulted: its order is re-queued "
        "and everything it was granted stays blocked.", "s", 0.5, 600.0))
    blocked_timeout_s: float = field(default=30.0, metadata=spec(
        "A follower reporting 'blocked' this long is planned around (its space stays reserved).", "s", 1.0, 3600.0))
    startup_grace_s: float = field(default=10.0, metadata=spec(
        "Wait this long for every carrier to report before planning without the silent ones.", "s", 0.0, 600.0))
    allocation_period_s: float = field(default=2.0, metadata=spec(
        "Re-solve the carrier-to-order assignment at least this often (also on every new order or free "
        "carrier).", "s", 0.1, 600.0))
    retime_period_s: float = field(default=5.0, metadata=spec(
        "Re-forecast planned reservation times from progress this often (order is kept).", "s", 0.5, 600.0))
    resend_period_s: float = field(default=3.0, metadata=spec(
        "Re-send a route a follower does not report as its own after this long.", "s", 0.5, 60.0))
    cell_length_m: float = field(default=12.0, metadata=spec(
        "Longest traffic cell along a lane: shorter allows closer following but plans more resources.",
        "m", 4.0, 100.0))
    lateral_margin_m: float = field(default=0.5, metadata=spec(
        "Added on each side of a carrier's footprint when computing conflict zones (tracking error).", "m", 0.0,
        3.0))
    progress_margin_m: float = field(default=0.6, metadata=spec(
        "A resource is released once reported progress is past it by this much (progress uncertainty).",
        "m", 0.0, 10.0))
    authority_margin_m: float = field(default=0.6, metadata=spec(
        "Movement authority ends this far before the first resource not granted (stopping overshoot). "
        "Safety: must exceed the follower's worst stopping overshoot.", "m", 0.0, 10.0))
    grant_lookahead_m: float = field(default=60.0, metadata=spec(
        "Reservations are granted (authority extended) only this far ahead of a carrier. Safety: must exceed "
        "the stopping distance at full speed plus the distance driven between two follower reports.",
        "m", 10.0, 2000.0))
    gap_s: float = field(default=1.0, metadata=spec(
        "Planned time between one carrier leaving a conflict zone and the next entering it.", "s", 0.0, 60.0))
    load_time_s: float = field(default=150.0, metadata=spec(
        "Expected crane handling time at the origin (for allocation estimates).", "s", 0.0, 3600.0))
    unload_time_s: float = field(default=150.0, metadata=spec(
        "Expected crane handling time at the destination (for allocation estimates).", "s", 0.0, 3600.0))
    age_weight: float = field(default=0.2, metadata=spec(
        "Allocation cost removed per second an order has waited (fairness; 0 = pure total completion time).",
        "", 0.0, 10.0))
    priority_weight_s: float = field(default=300.0, metadata=spec(
        "Allocation cost removed per priority level of an order.", "s", 0.0, 100000.0))
    charge_below_soc: float = field(default=0.30, metadata=spec(
        "An idle carrier below this state of charge goes to a charger.", "", 0.0, 1.0))
    charge_target_soc: float = field(default=0.90, metadata=spec(
        "A charging carrier is offered orders again from this state of charge.", "", 0.0, 1.0))
    reserve_soc: float = field(default=0.12, metadata=spec(
        "State of charge an order must leave in the battery (orders that would go below are not given to "
        "that carrier).", "", 0.0, 1.0))
    crane_retries: int = field(default=3, metadata=spec(
        "Crane job failures tolerated per order before the order fails.", "", 0, 100))
    unservable_timeout_s: float = field(default=30.0, metadata=spec(
        "An order whose container is not on a truck at its origin bay (per yard_state: gone, or elsewhere) "
        "this long, before any crane lifted it, fails with the reason.", "s", 1.0, 86400.0))
    max_message_bytes: int = field(default=8192, metadata=spec(
        "Longest message on /fleet/orders that is parsed; a longer one is rejected unread (an order is about "
        "250 bytes).", "bytes", 512, 1048576))
    max_pending_orders: int = field(default=20000, metadata=spec(
        "Messages taken from /fleet/orders but not yet processed; beyond this each new one is answered "
        "'rejected' with reason 'overloaded' at once (retry later).", "", 100, 1000000))
    max_open_orders: int = field(default=20000, metadata=spec(
        "Unfinished orders the manager holds; beyond this a new order is answered 'rejected' with reason "
        "'overloaded' (not stored: retry later).", "", 1, 1000000))
    order_batch: int = field(default=500, metadata=spec(
        "Orders processed (validated, stored in one transaction, answered) per step of the ingress before "
        "other callbacks run.", "", 1, 100000))
    rejections_kept: int = field(default=10000, metadata=spec(
        "Rejected orders remembered (a re-sent copy gets the same answer); the oldest are forgotten first.",
        "", 0, 10000000))
    rejections_kept_s: float = field(default=86400.0, metadata=spec(
        "Rejected orders are forgotten after this long.", "s", 0.0, 31536000.0))
    max_state_orders: int = field(default=200, metadata=spec(
        "Unfinished orders listed in /fleet/state (those under way first, then the oldest queued); query the "
        "others by id.", "", 0, 100000))
    clearance_required: bool = field(default=False, metadata=spec(
        "Offer an order to a carrier only once customs released its container on both sides (export at the "
        "origin station's country, import at the destination's), from /customs/decisions; needs both sides' "
        "border gateways (cross_border) and customs. Off: a container crosses as soon as a carrier is free."))
    max_recovery_attempts: int = field(default=3, metadata=spec(
        "Recovery routes a faulted carrier gets (from where it stands) before it is taken out of service; the "
        "count starts again when it arrives somewhere.", "", 0, 100))
    max_order_faults: int = field(default=3, metadata=spec(
        "Carrier faults an order survives before loading (each re-queues it); then it fails with the reason.",
        "", 1, 100))
    recovery_timeout_s: float = field(default=120.0, metadata=spec(
        "A faulted carrier for which no recovery route can be planned this long is taken out of service.",
        "s", 1.0, 3600.0))

    def check(self) -> None:
        if not self.carrier_ids:
            raise ParameterError("carrier_ids: at least one carrier is needed")
        if len(set(self.carrier_ids)) != len(self.carrier_ids):
            raise ParameterError("carrier_ids: duplicate ids")
        if self.charge_target_soc <= self.charge_below_soc:
            raise ParameterError("charge_target_soc must be above charge_below_soc")
        if self.reserve_soc >= self.charge_below_soc:
            raise ParameterError("reserve_soc must be below charge_below_soc")

    # ---------------------------------------------------------------- to core configs
    def network_config(self) -> NetworkConfig:
        return NetworkConfig(cell_length_m=self.cell_length_m, lateral_margin_m=self.lateral_margin_m)

    def manager_config(self) -> ManagerConfig:
        return ManagerConfig(
            carrier_ids=tuple(self.carrier_ids),
            liveness_timeout_s=self.liveness_timeout_s,
            blocked_timeout_s=self.blocked_timeout_s,
            startup_grace_s=self.startup_grace_s,
            allocation_period_s=self.allocation_period_s,
            retime_period_s=self.retime_period_s,
            resend_period_s=self.resend_period_s,
            crane_retries=self.crane_retries,
            max_open_orders=self.max_open_orders,
            unservable_timeout_s=self.unservable_timeout_s,
            rejections_kept=self.rejections_kept,
            rejections_kept_s=self.rejections_kept_s,
            max_state_orders=self.max_state_orders,
            clearance_required=self.clearance_required,
            ingress=IngressLimits(max_message_bytes=self.max_message_bytes),
            recovery=RecoveryConfig(max_attempts=self.max_recovery_attempts, max_order_faults=self.max_order_faults,
                                    timeout_s=self.recovery_timeout_s),
            charge_below_soc=self.charge_below_soc,
            charge_target_soc=self.charge_target_soc,
            reserve_soc=self.reserve_soc,
            allocation=AllocationConfig(load_time_s=self.load_time_s, unload_time_s=self.unload_time_s,
                                        age_weight=self.age_weight, priority_weight_s=self.priority_weight_s),
            traffic=TrafficConfig(gap_s=self.gap_s, progress_margin_m=self.progress_margin_m,
                                  authority_margin_m=self.authority_margin_m,
                                  grant_lookahead_m=self.grant_lookahead_m),
        )

    def db_file(self) -> str:
        if self.db_path == ":memory:":
            return self.db_path
        p = Path(os.path.expanduser(self.db_path))
        p.parent.mkdir(parents=True, exist_ok=True)
        return str(p)


