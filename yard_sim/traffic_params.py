"""Parameters of the demand node (``yard_sim.traffic_node``): one dataclass, no rclpy here.

``config/traffic.yaml`` documents every key and the README table is generated from this class.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from yard_model.params import spec
from yard_model.resources import DEFAULT_WORLD

from .scenario import ScenarioConfig


@dataclass
class TrafficParams:
    """Demand of a simulated port day (see config/traffic.yaml)."""

    world: str = field(default=DEFAULT_WORLD, metadata=spec(
        "World file: a path, or the name of a world in the package's sim_worlds (youyiguan, small_yard)."))
    containers_per_day: float = field(default=1000.0, metadata=spec(
        "Containers delivery trucks bring per day in each direction (yard_sim.scenario's daily profile).",
        "", 0.0, 100000.0))
    seed: int = field(default=0, metadata=spec(
        "Seed of the truck arrivals: same seed, same trucks and orders as `yard-autonomy day --seed`.",
        "", 0, 2**31 - 1))
    start_hour: float = field(default=0.0, metadata=spec(
        "Hour of day at simulation time 0 (the daily profile's clock).", "h", 0.0, 24.0))
    collection_refill_s: float = field(default=120.0, metadata=spec(
        "An empty collection truck takes a collection bay this long after the previous one left.",
        "s", 0.0, 86400.0))
    deadline_s: float = field(default=3 * 3600.0, metadata=spec(
        "Order deadline after the truck parks (0 = orders without a deadline).", "s", 0.0, 864000.0))
    max_deliveries: int = field(default=0, metadata=spec(
        "Delivery trucks per station in the whole run, then no more (0 = no limit): a bounded demand whose "
        "every order can finish.", "", 0, 10**9))
    step_period_s: float = field(default=1.0, metadata=spec(
        "How often the gate is advanced, in simulated time.", "s", 0.05, 60.0))
    order_delay_s: float = field(default=1.0, metadata=spec(
        "An order is issued this long after its truck shows parked in /yard/state, so the fleet manager "
        "has seen the container too.", "s", 0.0, 60.0))
    order_resend_s: float = field(default=10.0, metadata=spec(
        "An order no order event has answered is sent again after this long (idempotent).", "s", 0.5, 3600.0))
    pre_clearance: bool = field(default=False, metadata=spec(
        "File each container's customs manifest on /customs/manifests when its truck reaches the gate, so "
        "customs decide while it queues (the customs simulator then takes none from the orders: its "
        "manifests_from_orders off). Off: the manifest goes with the transport order at the bay."))
    wait_for_observers: int = field(default=0, metadata=spec(
        "Start the day only once this many subscribers listen on /yard/gate_events (the KPI collector), "
        "so none of the day is missed.", "", 0, 100))

    def scenario_config(self) -> ScenarioConfig:
        return ScenarioConfig(containers_per_day=self.containers_per_day, start_hour=self.start_hour,
                              collection_refill_s=self.collection_refill_s,
                              deadline_s=self.deadline_s if self.deadline_s > 0.0 else None,
                              max_deliveries=self.max_deliveries or None, pre_clearance=self.pre_clearance)
