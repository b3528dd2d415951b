"""The crane as crane control sees it: axes, limits, bays in reach, heights and load sensing.

Built once from the world (:class:`yard_model.world.Crane`) so the controller never re-derives
geometry. Everything is in the crane frame (x along the rails = gantry, y across = trolley, z up =
hoist = height of the spreader's underside above ground), SI units.

Load sensing follows docs/architecture.md ("Crane joint encoding"): the hoist effort is the rope
load [N]. A container is *hanging* when the twistlocks are locked and the rope load exceeds the
spreader's weight by more than half an empty container's weight; the spreader is *landed* when the
rope load is below half the spreader's weight (slack rope).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from yard_model.world import AxisLimits, Crane, World

G_MPS2 = 9.80665  # [m/s²] standard gravity
HORIZONTAL_AXES = ("gantry", "trolley")
TWISTLOCK_LOCKED = 0.99  # twistlock reading at or above which the locks count as closed
TWISTLOCK_OPEN = 0.01  # twistlock reading at or below which the locks count as open


@dataclass(frozen=True)
class BaySpot:
    """A bay in reach, in the crane frame.

    ``landed_height_m`` is the hoist reading (spreader underside) when the spreader sits on a
    container resting at this bay: the container's underside rests at ``rest_height_m`` (truck bed
    or carrier deck) and the spreader on its top.
    """

    id: str
    kind: str  # "truck" | "carrier"
    gantry_m: float
    trolley_m: float
    rest_height_m: float
    landed_height_m: float


@dataclass(frozen=True)
class JointReading:
    """One joint_states sample reduced to what the controller uses (SI units).

    ``position``/``velocity`` hold the motion axes present on this crane (``gantry`` may be
    absent); ``hoist_load_n`` is the hoist effort (rope load) and ``twistlock`` 0 = open … 1 = locked.
    """

    stamp_s: float
    position: dict[str, float]
    velocity: dict[str, float]
    hoist_load_n: float
    twistlock: float


class CraneModel:
    """Axes, limits, bays, safe heights and load thresholds of one crane."""

    def __init__(self, crane: Crane, world: World, container_tare_kg: float = 3750.0):
        self.crane = crane
        self.id = crane.id
        self.container_height_m = world.container_type.height_m
        self.container_tare_kg = container_tare_kg
        limits: dict[str, AxisLimits] = {"trolley": crane.trolley, "hoist": crane.hoist}
        if crane.gantry is not None:
            limits = {"gantry": crane.gantry, **limits}
        self.limits = limits
        self.axes: tuple[str, ...] = tuple(limits)
        self.horizontal_axes: tuple[str, ...] = tuple(a for a in HORIZONTAL_AXES if a in limits)
        bays: dict[str, BaySpot] = {}
        for bay_id in crane.serves:
            bay = world.bays[bay_id]
            g, t = crane.from_map(bay.pose.x, bay.pose.y)
            rest = world.bay_container_height(bay)
            bays[bay_id] = BaySpot(bay_id, bay.kind, g if crane.gantry else 0.0, t, rest,
                                   rest + world.container_type.height_m)
        self.bays = bays
        self.rail_group = crane.rail_group
        self.rail_neighbours: tuple[str, ...] = tuple(
            c.id for c in world.cranes.values()
            if c.rail_group and c.rail_group == crane.rail_group and c.id != crane.id
        )
        self.min_separation_m = {c.id: max(crane.min_separation_m, c.min_separation_m)
                                 for c in world.cranes.values() if c.id in self.rail_neighbours}
        self.neighbour_gantry_limits = {c.id: c.gantry for c in world.cranes.values() if c.id in self.rail_neighbours}

    def scaled_limits(self, fraction: float) -> dict[str, AxisLimits]:
        """Axis limits with velocity, acceleration and jerk scaled by ``fraction`` (travel unchanged)."""
        return {a: AxisLimits(lim.min_m, lim.max_m, lim.max_velocity_mps * fraction,
                              lim.max_acceleration_mps2 * fraction, lim.max_jerk_mps3 * fraction)
                for a, lim in self.limits.items()}

    @classmethod
    def from_world(cls, world: World, crane_id: str, container_tare_kg: float = 3750.0) -> CraneModel:
        if crane_id not in world.cranes:
            raise KeyError(f"crane '{crane_id}' is not in world '{world.name}' (cranes: {', '.join(world.cranes)})")
        return cls(world.cranes[crane_id], world, container_tare_kg)

    # ------------------------------------------------------------------ heights
    def safe_height(self, loaded: bool) -> float:
        """Lowest spreader height [m] for horizontal motion, empty or with a container."""
        return self.crane.safe_height_loaded_m if loaded else self.crane.safe_height_empty_m

    @property
    def home(self) -> dict[str, float]:
        home = {"trolley": self.crane.home_trolley_m, "hoist": self.crane.safe_height_empty_m}
        if "gantry" in self.limits:
            home["gantry"] = self.crane.home_gantry_m
        return home

    # ------------------------------------------------------------ load sensing
    @property
    def spreader_weight_n(self) -> float:
        return self.crane.spreader_mass_kg * G_MPS2

    @property
    def hanging_threshold_n(self) -> float:
        """Rope load above which a locked spreader carries a container."""
        return self.spreader_weight_n + 0.5 * self.container_tare_kg * G_MPS2

    @property
    def landed_threshold_n(self) -> float:
        """Rope load below which the spreader rests on something (slack rope)."""
        return 0.5 * self.spreader_weight_n

    def is_landed(self, reading: JointReading) -> bool:
        return reading.hoist_load_n < self.landed_threshold_n

    def is_hanging(self, reading: JointReading) -> bool:
        return reading.twistlock >= TWISTLOCK_LOCKED and reading.hoist_load_n > self.hanging_threshold_n

    @staticmethod
    def is_locked(reading: JointReading) -> bool:
        return reading.twistlock >= TWISTLOCK_LOCKED

    @staticmethod
    def is_open(reading: JointReading) -> bool:
        return reading.twistlock <= TWISTLOCK_OPEN

    # ----------------------------------------------------------------- geometry
    def bay_under(self, position: dict[str, float], tolerance_m: float) -> BaySpot | None:
        """The bay whose centre the spreader is over (within ``tolerance_m`` horizontally), if any."""
        best, best_d = None, math.inf
        for bay in self.bays.values():
            d = self.horizontal_distance(position, bay)
            if d <= tolerance_m and d < best_d:
                best, best_d = bay, d
        return best

    def horizontal_distance(self, position: dict[str, float], bay: BaySpot) -> float:
        dg = position.get("gantry", 0.0) - bay.gantry_m if "gantry" in self.limits else 0.0
        return math.hypot(dg, position["trolley"] - bay.trolley_m)

    def over(self, bay: BaySpot) -> dict[str, float]:
        """Horizontal axis positions that put the spreader over a bay."""
        out = {"trolley": bay.trolley_m}
        if "gantry" in self.limits:
            out["gantry"] = bay.gantry_m
        return out
