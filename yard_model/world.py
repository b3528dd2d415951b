"""The yard world model: one immutable description shared by every node.

A ``World`` is built from a world file by :mod:`yard_model.loader` and never
changes while the system runs. It answers the geometric questions the
simulator, localization, path following, crane control and the fleet manager
all ask (where is bay X, which GNSS zone is this point in, which side of the
border is it on), so that none of them re-derives the yard on its own.

Conventions: ``map`` frame = ENU tangent plane at ``datum`` (REP-103/105),
metres, radians counter-clockwise from east. A carrier's ``base_link`` is the
centre of its deck (= the centre of a container it carries), on the ground.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from shapely.geometry import LineString, Point, Polygon
from shapely.prepared import prep

from . import geometry
from .geodesy import Datum, LocalFrame

GNSS_MODES = ("rtk_fixed", "rtk_float", "single", "none")
"""GNSS solution quality, best first. Zones name the best mode available in them."""


@dataclass(frozen=True)
class Pose2D:
    """A planar pose in ``map``: x, y [m], yaw [rad] counter-clockwise from east."""

    x: float
    y: float
    yaw: float


@dataclass(frozen=True)
class AxisLimits:
    """Travel and motion limits of one crane axis (SI units)."""

    min_m: float
    max_m: float
    max_velocity_mps: float
    max_acceleration_mps2: float
    max_jerk_mps3: float


@dataclass(frozen=True)
class CarrierType:
    """Geometry and motion limits shared by every carrier in the yard."""

    length_m: float
    width_m: float
    height_m: float
    wheelbase_m: float
    deck_height_m: float  # top of the deck above ground, where a container lands
    min_turning_radius_m: float  # of the rear axle centre
    max_speed_mps: float
    max_reverse_speed_mps: float
    max_acceleration_mps2: float
    max_deceleration_mps2: float  # service brake
    emergency_deceleration_mps2: float
    max_lateral_accel_mps2: float  # curve speed limit v <= sqrt(a / |curvature|) (yard_model.drivable.speed_cap)
    max_steering_rate_radps: float
    speed_time_constant_s: float  # first-order lag of the drive
    steering_time_constant_s: float  # first-order lag of the steering actuator
    gnss_antenna_m: tuple[float, float, float]  # antenna in base_link [m]
    imu_m: tuple[float, float, float]  # IMU in base_link [m]
    battery_capacity_kwh: float
    energy_use_kwh_per_km: float
    idle_power_kw: float
    mass_kg: float

    @property
    def min_deck_turning_radius_m(self) -> float:
        """Smallest turning radius of base_link (the deck centre), half a wheelbase ahead of the rear axle.

        Lanes and routes are drawn for base_link, so lane corners, routes (``yard_model.drivable``) and
        the follower's route check are all compared with this one value, not the rear-axle radius.
        """
        return math.hypot(self.min_turning_radius_m, self.wheelbase_m / 2.0)

    @property
    def max_steering_angle_rad(self) -> float:
        """Front wheel angle that gives the minimum turning radius."""
        return math.atan(self.wheelbase_m / self.min_turning_radius_m)


@dataclass(frozen=True)
class TruckType:
    """External road trucks that bring and take containers."""

    length_m: float
    width_m: float
    bed_height_m: float  # top of the trailer bed above ground


@dataclass(frozen=True)
class ContainerType:
    """Default container dimensions (ISO 40 ft unless the world says otherwise)."""

    length_m: float
    width_m: float
    height_m: float
    max_gross_mass_kg: float


@dataclass(frozen=True)
class LaneNode:
    """A point of the lane graph where lanes meet, or a stopping point."""

    id: str
    x: float
    y: float


@dataclass(frozen=True)
class Lane:
    """A drivable lane between two lane nodes.

    ``points`` is the smooth centre line from ``start`` to ``end`` (corners
    already rounded). ``two_way`` lanes are a single track usable in either
    direction, one direction at a time: opposing carriers conflict on them.
    """

    id: str
    start: str
    end: str
    points: np.ndarray = field(repr=False, compare=False)
    width_m: float
    two_way: bool
    speed_limit_mps: float
    closed: bool  # dedicated lane closed to other traffic
    corner_radius_m: float
    curvature: np.ndarray | None = field(default=None, repr=False, compare=False)
    """Signed design curvature [1/m] of each segment of ``points`` (``geometry.fillet``); None = chords only."""

    @cached_property
    def length_m(self) -> float:
        return geometry.polyline_length(self.points)

    @cached_property
    def start_heading(self) -> float:
        return geometry.start_heading(self.points)

    @cached_property
    def end_heading(self) -> float:
        return geometry.end_heading(self.points)

    @cached_property
    def line(self) -> LineString:
        return LineString(self.points)

    @cached_property
    def area(self) -> Polygon:
        """The paved area of the lane (centre line buffered by half its width)."""
        return self.line.buffer(self.width_m / 2.0, cap_style="flat")


@dataclass(frozen=True)
class Bay:
    """A place where a container is handed over: a truck bay or a carrier bay.

    For a carrier bay, ``pose`` is where the carrier's base_link stops and
    ``node`` the lane node at that point; for a truck bay, ``pose`` is the
    centre of the truck's container and ``node`` is None (trucks are not on
    the carrier lane graph).
    """

    id: str
    kind: str  # "truck" | "carrier"
    station: str
    pose: Pose2D
    node: str | None


@dataclass(frozen=True)
class Station:
    """A transfer station: cranes over truck bays and carrier bays."""

    id: str
    name: str
    country: str  # ISO 3166 alpha-2, e.g. "CN", "VN"
    truck_bays: tuple[str, ...]
    carrier_bays: tuple[str, ...]
    cranes: tuple[str, ...]


@dataclass(frozen=True)
class Portal:
    """Steel structure of a crane: legs stand on the rails and move with the gantry."""

    length_m: float  # distance between the two leg pairs along the rail
    span_m: float  # distance between the two rails (across, along the trolley axis)
    height_m: float  # clear height under the girder
    leg_size_m: float  # square leg footprint side


@dataclass(frozen=True)
class Crane:
    """An automated vertical-lift crane.

    Crane frame: origin at the start of the first rail, x along the rail
    (gantry), y across towards the second rail (trolley), z up (hoist =
    height of the spreader's underside above ground). ``origin`` places that
    frame in ``map``. A crane with ``gantry`` None has a fixed portal.
    """

    id: str
    station: str
    origin: Pose2D
    portal: Portal
    gantry: AxisLimits | None
    trolley: AxisLimits
    hoist: AxisLimits
    rail_group: str | None  # cranes with the same group share rails and cannot pass
    min_separation_m: float  # closest allowed gantry distance to a crane on the same rails
    safe_height_empty_m: float  # spreader height for horizontal moves without load
    safe_height_loaded_m: float  # spreader height for horizontal moves with a container
    spreader_mass_kg: float
    twistlock_time_s: float
    serves: tuple[str, ...]  # bay ids in reach
    home_gantry_m: float
    home_trolley_m: float

    def to_map(self, gantry_m: float, trolley_m: float) -> tuple[float, float]:
        """Map position [m] of the spreader centre for given gantry/trolley positions."""
        c, s = math.cos(self.origin.yaw), math.sin(self.origin.yaw)
        return (
            self.origin.x + c * gantry_m - s * trolley_m,
            self.origin.y + s * gantry_m + c * trolley_m,
        )

    def from_map(self, x: float, y: float) -> tuple[float, float]:
        """(gantry, trolley) [m] that put the spreader over map point (x, y)."""
        c, s = math.cos(self.origin.yaw), math.sin(self.origin.yaw)
        dx, dy = x - self.origin.x, y - self.origin.y
        return (c * dx + s * dy, -s * dx + c * dy)

    def leg_footprints(self, gantry_m: float) -> list[list[tuple[float, float]]]:
        """Map footprints of the four portal legs at a gantry position."""
        legs = []
        for along in (gantry_m - self.portal.length_m / 2.0, gantry_m + self.portal.length_m / 2.0):
            for across in (0.0, self.portal.span_m):
                cx, cy = self.to_map(along, across)
                legs.append(geometry.rectangle(cx, cy, self.origin.yaw, self.portal.leg_size_m, self.portal.leg_size_m))
        return legs


@dataclass(frozen=True)
class Spot:
    """A parking, charging or customs inspection place for a carrier, at a lane node."""

    id: str
    kind: str  # "parking" | "charging" | "inspection"
    node: str
    pose: Pose2D
    power_kw: float  # charging power; 0 for parking and inspection
    station: str | None = None  # the station whose customs inspect here (inspection spots only)


@dataclass(frozen=True)
class GnssZone:
    """An area where GNSS is worse than RTK fixed (crane portals, buildings, canopies).

    ``mode`` is the best solution a receiver gets inside; ``multipath_rate_hz``
    is how often a reflected-signal jump occurs, each displacing the reported
    position by a random distance in ``multipath_jump_m`` while the receiver
    keeps reporting its usual (too optimistic) covariance.
    """

    id: str
    polygon: Polygon = field(compare=False)
    mode: str
    multipath_rate_hz: float
    multipath_jump_m: tuple[float, float]
    reason: str


@dataclass(frozen=True)
class Border:
    """The state border as a polyline; ``left``/``right`` are country codes seen along it."""

    points: tuple[tuple[float, float], ...]
    left: str
    right: str

    @cached_property
    def line(self) -> LineString:
        return LineString(self.points)

    def country_at(self, x: float, y: float) -> str:
        """Country code on whose side of the border (x, y) lies: the side of the nearest border segment.

        Plain floats rather than :func:`geometry.project_onto_polyline`: a border has a handful of
        points, and this is asked for every moving carrier every second of a simulated day.
        """
        best, lateral = math.inf, 0.0
        pts = self.points
        for (ax, ay), (bx, by) in zip(pts, pts[1:]):
            abx, aby = bx - ax, by - ay
            apx, apy = x - ax, y - ay
            l2 = max(abx * abx + aby * aby, 1e-12)
            t = min(max((apx * abx + apy * aby) / l2, 0.0), 1.0)
            dx, dy = apx - t * abx, apy - t * aby
            d2 = dx * dx + dy * dy
            if d2 < best:  # the first nearest segment, as project_onto_polyline's argmin
                best, lateral = d2, abx * apy - aby * apx
        return self.left if lateral > 0 else self.right


@dataclass(frozen=True)
class World:
    """A validated yard. Build it with :func:`yard_model.loader.load_world`."""

    name: str
    description: str
    source: str  # file it was loaded from, for messages
    datum: Datum
    carrier_type: CarrierType
    truck_type: TruckType
    container_type: ContainerType
    nodes: dict[str, LaneNode]
    lanes: dict[str, Lane]
    stations: dict[str, Station]
    bays: dict[str, Bay]
    cranes: dict[str, Crane]
    spots: dict[str, Spot]
    gnss_zones: tuple[GnssZone, ...]
    border: Border

    # ----------------------------------------------------------------- frames
    @cached_property
    def frame(self) -> LocalFrame:
        """WGS84 <-> map conversions at this world's datum."""
        return LocalFrame(self.datum)

    # ---------------------------------------------------------------- queries
    @cached_property
    def _zone_index(self) -> list[tuple[object, GnssZone]]:
        return [(prep(z.polygon), z) for z in self.gnss_zones]

    def gnss_zone_at(self, x: float, y: float) -> GnssZone | None:
        """The worst GNSS zone covering (x, y) (its edge included: the pessimistic side), or None in open sky."""
        p = Point(x, y)
        hits = [z for pz, z in self._zone_index if pz.covers(p)]
        if not hits:
            return None
        return max(hits, key=lambda z: GNSS_MODES.index(z.mode))

    def carrier_bays(self, station: str | None = None) -> list[Bay]:
        return [b for b in self.bays.values() if b.kind == "carrier" and (station is None or b.station == station)]

    def truck_bays(self, station: str | None = None) -> list[Bay]:
        return [b for b in self.bays.values() if b.kind == "truck" and (station is None or b.station == station)]

    def parking_spots(self) -> list[Spot]:
        return [s for s in self.spots.values() if s.kind == "parking"]

    def charging_spots(self) -> list[Spot]:
        return [s for s in self.spots.values() if s.kind == "charging"]

    def inspection_spots(self, station: str | None = None) -> list[Spot]:
        """Where a loaded carrier waits while customs inspect its container (never a parking goal)."""
        return [s for s in self.spots.values() if s.kind == "inspection" and (station is None or s.station == station)]

    def cranes_serving(self, bay_id: str) -> list[Crane]:
        return [c for c in self.cranes.values() if bay_id in c.serves]

    def station_at(self, x: float, y: float) -> str:
        """Station whose bays are nearest to (x, y) (for logging and KPIs)."""
        best, best_d = "", math.inf
        for b in self.bays.values():
            d = math.hypot(b.pose.x - x, b.pose.y - y)
            if d < best_d:
                best, best_d = b.station, d
        return best

    def lanes_at(self, x: float, y: float) -> list[Lane]:
        """Lanes whose paved area covers (x, y), edges included.

        Edges count because lanes end with a flat cap exactly at their nodes, where
        carriers stop at bays and spots: ``contains`` would find no lane there.
        """
        p = Point(x, y)
        return [lane for lane in self.lanes.values() if lane.area.covers(p)]

    def bay_container_height(self, bay: Bay) -> float:
        """Height [m] of the underside of a container resting at this bay."""
        return self.carrier_type.deck_height_m if bay.kind == "carrier" else self.truck_type.bed_height_m

    @cached_property
    def bounds(self) -> tuple[float, float, float, float]:
        """(min_x, min_y, max_x, max_y) [m] of everything drawn in the world, with a margin."""
        xs: list[float] = []
        ys: list[float] = []
        for lane in self.lanes.values():
            xs.extend(lane.points[:, 0])
            ys.extend(lane.points[:, 1])
        for b in self.bays.values():
            xs.append(b.pose.x)
            ys.append(b.pose.y)
        for c in self.cranes.values():
            for gx in (0.0, (c.gantry.max_m if c.gantry else 0.0)):
                for ty in (0.0, c.portal.span_m):
                    x, y = c.to_map(gx, ty)
                    xs.append(x)
                    ys.append(y)
        margin = 30.0
        return (float(min(xs)) - margin, float(min(ys)) - margin, float(max(xs)) + margin, float(max(ys)) + margin)
