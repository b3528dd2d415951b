"""Recovery policy: what the fleet manager does when a carrier faults or refuses a route.

Pure (no rclpy, no clock, no traffic): :mod:`fleet_manager.recovery_flow` asks it and acts. The rules
(docs/fleet_manager.md, "Recovery"):

* **Never the same route twice.** A route a carrier refused or faulted on is never sent again: not by
  its id, and not as the same points under a new id (:func:`route_signature`). A route refused for its
  shape also bars the lane it was refused on from the next plans of that carrier
  (:func:`offending_lane`), so the next plan differs.
* **One fault, one decision.** A follower keeps reporting its fault until it gets a new route; a fault
  is keyed by the route id it is reported with and handled once.
* **Bounded.** A carrier gets at most ``max_attempts`` recovery routes between two successes (arriving
  anywhere counts as a success); the next fault, a recovery route that cannot be found for
  ``timeout_s``, or a pose off the lane network takes it **out of service**. An order given back to
  allocation ``max_order_faults`` times because its carriers faulted fails with the last reason.
* **From where the carrier stands.** A recovery route is planned from the carrier's reported pose
  (snapped onto the lane graph) once it stands still, begins with a lead-in from that pose onto the
  lane (:func:`lead_in`), and must pass the drivable contract (``yard_model.drivable``: the shape
  check and the start check with the follower's messages) before it is sent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from dataclasses import dataclass, field

import numpy as np

from yard_model.drivable import RouteError, check_drivable, quantize_points
from yard_model.geometry import cumulative_length, project_onto_polyline

from .network import RouteGeometry, RouteResource
from .traffic import Plan

FAULT_KINDS = ("shape", "start", "off_route", "docking", "hardware", "silent", "other")
"""What a fault reason says (:func:`classify`)."""

_START_PHRASES = ("m from the carrier", "ahead of the carrier", "past the route's goal", "from the carrier's heading")
_SHAPE_PHRASES = ("turning radius", "kinked", "too short", "distinct points", "not finite", "from the map origin",
                  "goal (", "goal yaw", "goal pose", "is empty", "[x, y]")


def classify(reason: str) -> str:
    """The kind of a fault from its reason (``follower_status.reason`` or the manager's own wording).

    ``start``: the route did not start where the carrier stands (the manager's idea of its position
    was wrong); ``shape``: the route's geometry was refused; ``off_route`` and ``docking``: the
    follower stopped while driving; ``hardware``: the simulator or the vehicle reported a fault;
    ``silent``: no reports.
    """
    r = reason.lower()
    if r.startswith("silent"):
        return "silent"
    if r.startswith("yard_state fault"):
        return "hardware"
    if "off route" in r:
        return "off_route"
    if "docking failed" in r:
        return "docking"
    if "rejected" in r:
        if any(p in r for p in _START_PHRASES):
            return "start"
        if any(p in r for p in _SHAPE_PHRASES):
            return "shape"
    return "other"


@dataclass(frozen=True)
class RecoveryConfig:
    """Bounds of the policy (the node fills them from its parameters)."""

    max_attempts: int = 3  # recovery routes per carrier between two successes; then out of service
    max_order_faults: int = 3  # carrier faults an order survives (re-queued); then it fails
    timeout_s: float = 120.0  # no recovery route found for this long: out of service
    standstill_mps: float = 0.05  # a carrier is planned from its pose once slower than this
    start_offset_m: float = 0.5  # a recovery route must pass this close to the carrier (follower: 1 m)
    start_heading_deg: float = 25.0  # and head within this of its heading (follower: 30 deg)


def route_signature(points) -> str:
    """A route's shape as sent (points to the millimetre): equal signatures are the same route."""
    q = np.ascontiguousarray(quantize_points(np.asarray(points, dtype=float)))
    return hashlib.sha256(q.tobytes()).hexdigest()[:16]


_POINT = re.compile(r"point (\d+)")


def offending_lane(route_doc: dict, reason: str) -> str | None:
    """The lane of ``route_doc`` at the point a shape rejection names (``... at point 644 ...``), if any."""
    m = _POINT.search(reason)
    lanes = route_doc.get("lanes") or []
    if m is None or not lanes:
        return None
    i = int(m.group(1))
    lane = None
    for entry in lanes:
        if entry.get("start_index", 0) <= i:
            lane = entry.get("lane")
    return lane


NO_LEAD_IN_M = 0.05
"""A carrier closer than this [m] to the lane's line gets the lane's own points."""


def lead_in(points: np.ndarray, x: float, y: float, min_turning_radius_m: float,
            min_length_m: float = 10.0, stretch: float = 1.0, search_m: float = 15.0) -> np.ndarray:
    """The route's points shifted so that it starts where the carrier stands and blends onto the lane.

    The carrier at (x, y) is ``d`` beside the route's first ``search_m`` (signed, left positive). Points
    up to the carrier's foot point move sideways by ``d``; after it the shift falls as
    ``d (1 + cos(pi u / L)) / 2`` over ``L``, and is zero beyond. The blend's own curvature is at most
    ``|d| pi^2 / (2 L^2)``;
    ``L = max(min_length_m, 2 pi sqrt(|d| R / 2))`` keeps it at a quarter of ``1 / R`` (R the
    smallest turning radius), so a lead-in on a straight lane is always drivable and the drivable
    check judges what lane curvature adds (``stretch`` lengthens the blend: :func:`drivable_lead_in`
    tries several). The number of points does not change, so the route's lane
    indices stay valid; its length changes by about ``d^2 pi^2 / (16 L)`` (3 cm for d = 1.2 m), which
    :func:`reshaped` carries into the route's arc lengths. RouteError when the route ends before the
    blend does (its goal would move).
    """
    pts = np.asarray(points, dtype=float)
    if len(pts) < 2:
        return pts.copy()
    arc = cumulative_length(pts)
    head = max(int(np.searchsorted(arc, search_m, side="right")), 2)  # the route may pass by again later
    s_c, d, _ = project_onto_polyline(pts[:head], (x, y))
    if abs(d) < NO_LEAD_IN_M:
        return pts.copy()
    length = stretch * max(min_length_m, 2.0 * math.pi * math.sqrt(abs(d) * min_turning_radius_m / 2.0))
    if s_c + length > arc[-1]:
        raise RouteError(f"no room for a lead-in: {abs(d):.2f} m beside the lane needs {length:.1f} m, "
                         f"the route has {arc[-1] - s_c:.1f} m left")
    u = np.clip((arc - s_c) / length, 0.0, 1.0)
    shift = d * 0.5 * (1.0 + np.cos(math.pi * u))
    tangent = np.gradient(pts, axis=0)
    norm = np.maximum(np.hypot(tangent[:, 0], tangent[:, 1]), 1e-12)
    normal = np.stack([-tangent[:, 1] / norm, tangent[:, 0] / norm], axis=1)
    return pts + normal * shift[:, None]


LEAD_IN_STRETCHES = (1.0, 0.7, 1.5, 2.2, 3.2, 4.5)
"""Blend lengths tried, relative to :func:`lead_in`'s: beside a curve the parallel offset bends the line
(inside it, tighter), which the blend's own curvature offsets differently at each length."""


def drivable_lead_in(points: np.ndarray, x: float, y: float, carrier_type) -> tuple[np.ndarray, float]:
    """The first :func:`lead_in` (over ``LEAD_IN_STRETCHES``) the drivable contract accepts, with its stretch;
    RouteError with the last reason when none is."""
    why = None
    for k in LEAD_IN_STRETCHES:
        try:
            pts = lead_in(points, x, y, carrier_type.min_deck_turning_radius_m, stretch=k)
            check_drivable(pts, carrier_type)
            return pts, k
        except RouteError as exc:
            why = exc
    raise RouteError(f"no drivable lead-in: {why}")


def reshaped_geometry(g: RouteGeometry, points: np.ndarray) -> RouteGeometry:
    """The route geometry along ``points`` (same count as ``g.points``, e.g. with a lead-in).

    Route arc positions (start, goal, resources, lane pieces) move with their point index, so the
    traffic plan, the authority and the follower's progress all measure the points that are sent.
    """
    arc = cumulative_length(points)
    remap = _remap(g.arc, arc)
    return dataclasses.replace(
        g, points=np.asarray(points, dtype=float), arc=arc, start_m=remap(g.start_m), goal_m=float(arc[-1]),
        resources=[RouteResource(r.resource, remap(r.enter_m), remap(r.exit_m)) for r in g.resources],
        segments=[(t, remap(o), a, b) for t, o, a, b in g.segments])


def reshaped(plan: Plan, points: np.ndarray) -> Plan:
    """:func:`reshaped_geometry` for a plan, its reservations' arc positions moved alike."""
    remap = _remap(plan.geometry.arc, cumulative_length(points))
    return Plan(plan.goal, plan.path, reshaped_geometry(plan.geometry, points),
                [dataclasses.replace(r, enter_m=remap(r.enter_m), exit_m=remap(r.exit_m)) for r in plan.reservations])


def _remap(old_arc: np.ndarray, new_arc: np.ndarray):
    def remap(s: float) -> float:
        return float(np.interp(s, old_arc, new_arc)) if math.isfinite(s) else s
    return remap


@dataclass
class CarrierRecovery:
    """One carrier's recovery state (persisted with the carrier, so a restart keeps the counts)."""

    attempts: int = 0  # recovery routes sent since the last success
    handled: list[str] = field(default_factory=list)  # fault keys already decided on (newest last)
    rejected_ids: list[str] = field(default_factory=list)  # route ids refused or faulted on: never re-sent
    rejected_shapes: list[str] = field(default_factory=list)  # their signatures
    avoid_lanes: list[str] = field(default_factory=list)  # lanes shape rejections named
    pending: str | None = None  # the fault awaiting a recovery route
    pending_since: float | None = None
    out_of_service: str | None = None  # why, when out of service
    last_fault: str | None = None  # the latest fault decided on (for /diagnostics)

    KEEP = 50  # handled / rejected entries kept (oldest dropped)

    def note_fault(self, key: str, reason: str, route_doc: dict | None, now: float) -> bool:
        """A fault reported with ``key`` (the route id it names); False if it was already handled."""
        if key in self.handled:
            return False
        self.handled = (self.handled + [key])[-self.KEEP:]
        self.last_fault = reason
        if route_doc is not None:
            self._reject(route_doc)
            if classify(reason) == "shape":
                lane = offending_lane(route_doc, reason)
                if lane is not None and lane not in self.avoid_lanes:
                    self.avoid_lanes.append(lane)
        if self.out_of_service is None:
            self.pending, self.pending_since = reason, now
        return True

    def _reject(self, route_doc: dict) -> None:
        rid = str(route_doc.get("route_id"))
        if rid not in self.rejected_ids:
            self.rejected_ids = (self.rejected_ids + [rid])[-self.KEEP:]
        if not route_doc.get("points"):
            return
        sig = route_signature(route_doc["points"])
        if sig not in self.rejected_shapes:
            self.rejected_shapes = (self.rejected_shapes + [sig])[-self.KEEP:]

    def may_send(self, route_id: str | None, points) -> bool:
        """False for a route refused before (same id or same points)."""
        if route_id is not None and route_id in self.rejected_ids:
            return False
        return points is None or route_signature(points) not in self.rejected_shapes

    def next_step(self, now: float, cfg: RecoveryConfig) -> tuple[str, str]:
        """``("route", "")`` to plan a recovery route now, or ``("out_of_service", why)``."""
        if self.attempts >= cfg.max_attempts:
            return "out_of_service", (f"{self.attempts} recovery route(s) failed (max {cfg.max_attempts}); "
                                      f"last: {self.pending}")
        if self.pending_since is not None and now - self.pending_since > cfg.timeout_s:
            return "out_of_service", f"no recovery route found within {cfg.timeout_s:g} s after: {self.pending}"
        return "route", ""

    def sent(self) -> None:
        """A recovery route went out."""
        self.attempts += 1
        self.pending = self.pending_since = None

    def succeeded(self) -> None:
        """The carrier arrived somewhere: the count starts again (refused routes stay refused)."""
        self.attempts = 0
        self.avoid_lanes = []

    def take_out(self, why: str) -> None:
        self.out_of_service = why
        self.pending = self.pending_since = None

    def back_in_service(self) -> None:
        self.out_of_service = None
        self.attempts = 0
        self.pending = self.pending_since = None

    def to_doc(self) -> dict:
        return {"attempts": self.attempts, "handled": self.handled, "rejected_ids": self.rejected_ids,
                "rejected_shapes": self.rejected_shapes, "avoid_lanes": self.avoid_lanes, "pending": self.pending,
                "pending_since": self.pending_since, "out_of_service": self.out_of_service,
                "last_fault": self.last_fault}

    @classmethod
    def from_doc(cls, doc: dict | None) -> CarrierRecovery:
        doc = doc or {}
        return cls(**{k: doc[k] for k in ("attempts", "handled", "rejected_ids", "rejected_shapes", "avoid_lanes",
                                            "pending", "pending_since", "out_of_service", "last_fault") if k in doc})
