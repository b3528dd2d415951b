"""Parameters of the simulated customs node (one dataclass; no rclpy here).

The node declares them with ``yard_ros.params.declare``; config/customs_sim.yaml documents every key
and the table in docs/nodes/customs_sim.md is generated from this class. The figures are assumptions
(see :mod:`yard_sim.customs`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from yard_model.params import ParameterError, spec
from yard_model.resources import DEFAULT_WORLD

from .customs import CustomsConfig


@dataclass
class CustomsSimParams:
    """Simulated customs parameters (see config/customs_sim.yaml)."""

    world: str = field(default=DEFAULT_WORLD, metadata=spec(
        "World file: a path, or the name of a world in the package's sim_worlds; its stations' countries are the "
        "sides."))
    sides: list[str] = field(default_factory=list, metadata=spec(
        "Sides whose customs this node simulates (country codes); empty = every station's country. On a real "
        "two-domain deployment each side runs its own with its own code."))
    manifests_from_orders: bool = field(default=True, metadata=spec(
        "Also take each transport order on /fleet/orders as its container's manifest (the simulated TOS issues "
        "one with every order); off: only /customs/manifests."))
    decision_median_s: float = field(default=120.0, metadata=spec(
        "Median time from manifest to a side's first decision (log-normal; an assumption).", "s", 1.0, 86400.0))
    decision_sigma: float = field(default=0.6, metadata=spec(
        "Log-normal shape of the decision time: 0.6 puts 90 % within 0.37x..2.7x the median.", "", 0.0, 3.0))
    hold_rate: float = field(default=0.03, metadata=spec(
        "Share of containers a side puts on hold (documents requested).", "", 0.0, 1.0))
    hold_min_s: float = field(default=600.0, metadata=spec("Shortest hold before release.", "s", 0.0, 86400.0))
    hold_max_s: float = field(default=1800.0, metadata=spec("Longest hold before release.", "s", 0.0, 86400.0))
    inspect_rate: float = field(default=0.05, metadata=spec(
        "Share of containers a side sends to physical inspection.", "", 0.0, 1.0))
    inspect_min_s: float = field(default=900.0, metadata=spec("Shortest inspection before release.", "s", 0.0,
                                                                86400.0))
    inspect_max_s: float = field(default=2400.0, metadata=spec("Longest inspection before release.", "s", 0.0,
                                                                 86400.0))
    seed: int = field(default=0, metadata=spec("Random seed; the same seed, the same decisions.", "", 0, 2**31 - 1))
    step_period_s: float = field(default=0.5, metadata=spec(
        "Period at which due decisions are published (simulated time).", "s", 0.01, 60.0))

    def check(self) -> None:
        self.customs_config()

    def customs_config(self) -> CustomsConfig:
        try:
            return CustomsConfig(self.decision_median_s, self.decision_sigma, self.hold_rate,
                                 (self.hold_min_s, self.hold_max_s), self.inspect_rate,
                                 (self.inspect_min_s, self.inspect_max_s))
        except ValueError as exc:
            raise ParameterError(str(exc)) from exc
