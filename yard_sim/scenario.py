"""Cross-border traffic scenario: the gate side of a simulated day.

The smart port moves containers both ways across the border: a road truck
brings a container to a transfer station, a crane lifts it onto a carrier,
the carrier crosses, and a crane on the other side lifts it onto an empty
truck that takes it away. This module plays the outside world for the
simulator: it decides when trucks arrive and with what, and which transport
orders the port's system issues — nothing about how the yard serves them.

Model (documented so KPIs can be read against it):

* Each station's truck bays are split in two roles: *delivery* bays (trucks
  bringing a container) and *collection* bays (empty trucks waiting to take
  one). By default the first row of a station's bays delivers and the rest
  collect; at least one bay of each role per station.
* Delivery trucks arrive per station as a Poisson process whose rate follows
  a daily profile (``hourly_profile``, relative weights per hour of day)
  scaled so a day brings ``containers_per_day`` containers in each direction.
  An arriving truck waits in a gate queue until a delivery bay is free; when
  it parks, the port issues a transport order for its container to the other
  station. ``gate_queue`` holds the arrival times of the trucks waiting now;
  ``gate_waits_s`` the time each parked delivery truck spent in it (the
  simulated day reports both: the gate queue is where unmet demand shows).
* A collection bay is refilled with an empty truck ``collection_refill_s``
  after its previous truck left (the simulator makes loaded trucks depart).
* ``max_deliveries`` bounds the demand: after that many delivery trucks per
  station no more come (collection trucks still do), for a run that must end
  with every order done (the end-to-end test).
* ``pre_clearance``: the container's customs manifest is filed when its
  truck reaches the gate, not when it parks (the container id is drawn then;
  :meth:`TrafficScenario.take_manifests`), so clearance runs while the truck
  queues. Off, the manifest goes with the transport order (at the bay).
* Every gate change is also logged as a ``gate_event`` document
  (``gate_events``, taken with :meth:`TrafficScenario.take_gate_events`):
  ``queued`` when a delivery truck arrives at the gate, ``admitted`` when it
  parks (with its order). The simulated day and the graph's demand node
  hand the same events to :mod:`yard_harness.kpis`, so both measure the
  gate the same way.

Deterministic for a seed; time is float seconds of simulated time.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

# Relative truck arrivals per hour of day at a border crossing: low at night, a morning and an afternoon peak.
DEFAULT_HOURLY_PROFILE = (
    0.35, 0.3, 0.3, 0.3, 0.35, 0.5, 0.8, 1.1, 1.35, 1.45, 1.4, 1.25,
    1.1, 1.2, 1.35, 1.4, 1.35, 1.2, 1.0, 0.85, 0.7, 0.6, 0.5, 0.4,
)


@dataclass(frozen=True)
class TruckArrival:
    """A truck parks at a bay: with a container (delivery) or empty (collection)."""

    t: float
    truck_id: str
    station: str
    bay: str
    container_id: str | None


@dataclass(frozen=True)
class OrderRequest:
    """The port system asks for a container to be moved to another station."""

    t: float
    order_id: str
    container_id: str
    origin_station: str
    origin_bay: str
    destination_station: str
    priority: int = 0
    deadline: float | None = None

    def document(self) -> dict:
        """The ``transport_order`` JSON document for this request."""
        doc = {
            "order_id": self.order_id,
            "container_id": self.container_id,
            "origin": {"station": self.origin_station, "truck_bay": self.origin_bay},
            "destination": {"station": self.destination_station},
            "priority": self.priority,
        }
        if self.deadline is not None:
            doc["deadline"] = self.deadline
        return doc


@dataclass
class ScenarioConfig:
    """Knobs of the traffic model (see the module docstring)."""

    containers_per_day: float = 1000.0  # per direction
    hourly_profile: tuple[float, ...] = DEFAULT_HOURLY_PROFILE
    start_hour: float = 0.0  # hour of day at t = 0
    collection_refill_s: float = 120.0
    deadline_s: float | None = 3 * 3600.0  # order deadline after the truck parks (None = no deadline)
    delivery_bays: dict[str, tuple[str, ...]] = field(default_factory=dict)  # station -> bays; empty = default split
    max_deliveries: int | None = None  # delivery trucks per station in the whole run (None = no limit)
    pre_clearance: bool = False  # file the customs manifest at the gate (True) or with the order at the bay


def split_truck_bays(world) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Default (delivery bays, collection bays) per station: first half delivers, the rest collects."""
    out = {}
    for sid, st in world.stations.items():
        bays = list(st.truck_bays)
        if len(bays) < 2:
            raise ValueError(f"station {sid} needs at least 2 truck bays for a delivery/collection split")
        half = max(1, len(bays) // 2)
        out[sid] = (tuple(bays[:half]), tuple(bays[half:]))
    return out


class TrafficScenario:
    """Generates truck arrivals and transport orders as simulated time advances.

    Call :meth:`step` with the current time and the set of truck bays that are
    free (no truck parked) and the ids of trucks that departed since the last
    call; it returns the arrivals to spawn and the orders to issue now.
    """

    def __init__(self, world, config: ScenarioConfig | None = None, seed: int = 0):
        self.world = world
        self.cfg = config or ScenarioConfig()
        if len(self.cfg.hourly_profile) != 24 or min(self.cfg.hourly_profile) < 0:
            raise ValueError("hourly_profile needs 24 non-negative weights")
        if len(world.stations) != 2:
            raise ValueError("the cross-border scenario needs exactly two stations")
        self.rng = np.random.default_rng(seed)
        split = split_truck_bays(world)
        for sid, bays in self.cfg.delivery_bays.items():
            rest = tuple(b for b in world.stations[sid].truck_bays if b not in bays)
            split[sid] = (tuple(bays), rest)
        self.delivery_bays = {s: v[0] for s, v in split.items()}
        self.collection_bays = {s: v[1] for s, v in split.items()}
        stations = sorted(world.stations)
        self.other = {stations[0]: stations[1], stations[1]: stations[0]}
        mean = sum(self.cfg.hourly_profile) / 24.0
        self._rate_scale = self.cfg.containers_per_day / 24.0 / 3600.0 / mean  # arrivals/s per unit weight
        self._next_arrival = {s: self._draw_next(s, 0.0) for s in stations}
        self.gate_queue: dict[str, deque[float]] = {s: deque() for s in stations}
        self._queued_containers: dict[str, deque[str | None]] = {s: deque() for s in stations}
        self.manifests: list[dict] = []  # pre-clearance: manifests filed at the gate, not taken yet
        self._queued = {s: 0 for s in stations}  # delivery trucks that came to each gate
        self._refill_at: dict[str, float] = {b: 0.0 for bays in self.collection_bays.values() for b in bays}
        self._counter = 0
        self.issued_orders = 0
        self.arrivals = 0
        self.gate_waits_s: list[float] = []  # per parked delivery truck: time from arrival to parking [s]
        self.gate_events: list[dict] = []  # gate_event documents not taken yet

    def take_gate_events(self) -> list[dict]:
        """The ``gate_event`` documents since the previous call, oldest first."""
        out, self.gate_events = self.gate_events, []
        return out

    def take_manifests(self) -> list[dict]:
        """Pre-clearance: the containers whose trucks reached a gate since the previous call, oldest first,
        as ``{"container_id", "origin_station", "destination_station", "stamp"}``."""
        out, self.manifests = self.manifests, []
        return out

    def rate_at(self, t: float) -> float:
        """Delivery truck arrival rate [1/s] per station at time t."""
        hour = int(math.floor(self.cfg.start_hour + t / 3600.0)) % 24
        return self.cfg.hourly_profile[hour] * self._rate_scale

    def _draw_next(self, station: str, t: float) -> float:
        """Next arrival of a non-homogeneous Poisson process by thinning."""
        peak = max(self.cfg.hourly_profile) * self._rate_scale
        if peak <= 0.0:
            return math.inf
        while True:
            t += self.rng.exponential(1.0 / peak)
            if self.rng.random() * peak <= self.rate_at(t):
                return t

    def _ident(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter:06d}"

    def step(self, t: float, free_bays: set[str], departed_bays: set[str] = frozenset()) -> tuple[
            list[TruckArrival], list[OrderRequest]]:
        """Arrivals and orders due at time t.

        ``free_bays``: truck bays with no truck now. ``departed_bays``: bays a
        truck left since the previous call (starts the collection refill timer).
        """
        for bay in departed_bays:
            if bay in self._refill_at:
                self._refill_at[bay] = t + self.cfg.collection_refill_s
        arrivals: list[TruckArrival] = []
        orders: list[OrderRequest] = []
        free = set(free_bays)
        for station, nxt in list(self._next_arrival.items()):
            while nxt <= t:
                self._queued[station] += 1
                if self.cfg.max_deliveries is not None and self._queued[station] > self.cfg.max_deliveries:
                    nxt = math.inf  # the bounded demand is used up
                    break
                self.gate_queue[station].append(nxt)
                container = None
                if self.cfg.pre_clearance:  # known at the gate: its manifest is filed now
                    self._counter += 1  # a serial of its own (several trucks may queue between two idents)
                    container = self._container_id(station)
                    self.manifests.append({"container_id": container, "origin_station": station,
                                           "destination_station": self.other[station], "stamp": nxt})
                self._queued_containers[station].append(container)
                self.gate_events.append({"event": "queued", "stamp": nxt, "station": station,
                                         "waiting": len(self.gate_queue[station])})
                nxt = self._draw_next(station, nxt)
            self._next_arrival[station] = nxt
            for bay in self.delivery_bays[station]:
                if not self.gate_queue[station] or bay not in free:
                    continue
                arrived = self.gate_queue[station].popleft()
                known = self._queued_containers[station]
                # drawn at the gate with pre-clearance, else now (a truck put in the queue from outside has none)
                container = (known.popleft() if known else None) or self._container_id(station)
                self.gate_waits_s.append(max(0.0, t - arrived))
                free.discard(bay)
                truck = TruckArrival(t, self._ident("truck_"), station, bay, container)
                arrivals.append(truck)
                self.arrivals += 1
                deadline = t + self.cfg.deadline_s if self.cfg.deadline_s is not None else None
                order = OrderRequest(t, self._ident("order_"), container, station, bay, self.other[station],
                                     deadline=deadline)
                orders.append(order)
                self.issued_orders += 1
                self.gate_events.append({
                    "event": "admitted", "stamp": t, "station": station, "waiting": len(self.gate_queue[station]),
                    "arrived": arrived, "wait_s": self.gate_waits_s[-1], "bay": bay, "truck_id": truck.truck_id,
                    "container_id": container, "order_id": order.order_id,
                    "destination_station": order.destination_station})
            for bay in self.collection_bays[station]:
                if bay in free and t >= self._refill_at[bay]:
                    free.discard(bay)
                    arrivals.append(TruckArrival(t, self._ident("truck_"), station, bay, None))
                    self.arrivals += 1
                    self._refill_at[bay] = math.inf  # until this truck departs
        return arrivals, orders

    def _container_id(self, station: str) -> str:
        """ISO 6346-style id: owner code, serial, check digit (computed, so ids look and validate real)."""
        owner = "CNXU" if self.world.stations[station].country == "CN" else "VNXU"
        serial = f"{self._counter:06d}"
        return f"{owner}{serial}{iso6346_check_digit(owner + serial)}"


def iso6346_check_digit(code10: str) -> int:
    """Check digit of an ISO 6346 container code from its first 10 characters."""
    values = {}
    v = 10
    for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if v % 11 == 0:
            v += 1
        values[ch] = v
        v += 1
    total = 0
    for i, ch in enumerate(code10):
        n = int(ch) if ch.isdigit() else values[ch]
        total += n * (2**i)
    return total % 11 % 10
