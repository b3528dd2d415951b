"""The state every part of the fleet manager shares, and its write-ahead output.

:class:`~fleet_manager.manager.FleetManager` is composed of parts with one job each (orders and crane
jobs, carrier liveness, dispatch, routes, restore, reports); they all work on the state declared
here. Everything that must survive a crash goes through :class:`~fleet_manager.store.FleetStore`
first: a state change, its event and its messages are written in one transaction (:meth:`FleetCore._tx`),
and the messages are released to :meth:`FleetCore.drain` only after it commits.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from .allocation import AllocationConfig, allocate
from .clearance import ClearanceBook
from .ingress import IngressLimits
from .network import YardNetwork
from .orders import Order
from .recovery import CarrierRecovery, RecoveryConfig
from .routing import Router
from .store import FleetStore
from .traffic import TrafficConfig, TrafficController

TASKS = ("unknown", "idle", "to_origin", "at_origin", "to_inspection", "at_inspection", "to_destination",
         "at_destination", "to_charger", "charging", "to_park", "parked")
FREE_TASKS = ("idle", "parked", "charging")


@dataclass(frozen=True)
class ManagerConfig:
    """Behaviour knobs of the core (the node fills them from its parameters)."""

    carrier_ids: tuple[str, ...]
    liveness_timeout_s: float = 5.0
    blocked_timeout_s: float = 30.0
    startup_grace_s: float = 10.0
    allocation_period_s: float = 2.0
    retime_period_s: float = 5.0
    resend_period_s: float = 3.0
    crane_retries: int = 3
    charge_below_soc: float = 0.30
    charge_target_soc: float = 0.90
    reserve_soc: float = 0.12
    serial_penalty_s: float = 90.0  # per free place a choice would block behind it (fill bays/spots downstream first)
    finished_orders_kept: int = 50
    max_open_orders: int = 20000  # more unfinished orders: new ones are rejected 'overloaded' (not stored)
    unservable_timeout_s: float = 30.0  # an order whose container is not at its origin this long fails
    rejections_kept: int = 10000  # rejections remembered (re-sent rejected ids answered alike), newest first
    rejections_kept_s: float = 86400.0  # ... and for at most this long
    max_state_orders: int = 200  # unfinished orders listed in fleet_state (the rest: query by id)
    clearance_required: bool = False  # an order waits for both customs' release (fleet_manager.clearance)
    ingress: IngressLimits = field(default_factory=IngressLimits)
    allocation: AllocationConfig = field(default_factory=AllocationConfig)
    traffic: TrafficConfig = field(default_factory=TrafficConfig)
    recovery: RecoveryConfig = field(default_factory=RecoveryConfig)


@dataclass
class Output:
    """A message to publish: kind selects the topic, key the carrier or crane namespace."""

    kind: str  # order_event | route | authority | crane_job | bay_status | fleet_state
    key: str
    doc: dict
    seq: int | None = None  # outbox row: confirm with FleetManager.published()


@dataclass
class CarrierInfo:
    id: str
    task: str = "unknown"
    order_id: str | None = None
    route_seq: int = 0
    route_id: str | None = None
    route_doc: dict | None = None
    route_path: dict | None = None
    purpose: str | None = None
    route_sent_t: float = -math.inf
    pose: tuple[float, float, float] | None = None
    speed: float = 0.0
    pose_t: float = -math.inf  # when the pose was taken (odometry received)
    pose_wanted_after: float = -math.inf  # a plan from the pose needs one taken after this (the fault, the restart)
    follower: dict | None = None
    last_seen: float | None = None
    follower_seen: float | None = None  # last follower status (odometry alone does not drive the carrier)
    soc: float | None = None
    faulted: bool = False
    fault: str | None = None
    blocked_since: float | None = None
    stopped: bool = False
    located: bool = False
    authority_sent: float = -1.0
    recovery: CarrierRecovery = field(default_factory=CarrierRecovery)
    reconcile: bool = False  # restored route: waiting for the follower to say whether it drives it
    stale: bool = False  # restored route the follower does not drive: plan again from the reported pose
    distrusted_route: str | None = None  # route whose progress reports went beyond its authority (warned once)

    def persist_doc(self) -> dict:
        return {"task": self.task, "order_id": self.order_id, "route_seq": self.route_seq, "faulted": self.faulted,
                "fault": self.fault, "recovery": self.recovery.to_doc()}


class FleetCore:
    """Shared state of the fleet manager's parts, the store transaction and the message outbox."""

    def __init__(self, world, store: FleetStore, config: ManagerConfig, now: float,
                 network: YardNetwork | None = None, router: Router | None = None,
                 traffic: TrafficController | None = None, allocator=allocate):
        self.world = world
        self.cfg = config
        self.store = store
        self.net = network or YardNetwork(world)
        self.router = router or Router(self.net)
        self.traffic = traffic or TrafficController(self.net, self.router, config.traffic)
        self._allocator = allocator
        self.carriers = {c: CarrierInfo(c) for c in config.carrier_ids}
        self.orders: dict[str, Order] = {}
        self.finished: list[str] = []
        self.counts = {"completed": 0, "failed": 0, "cancelled": 0, "rejected": 0}
        self.yard_state: dict | None = None
        self._delivery_trucks: set[str] = set()  # trucks in the yard seen with a container (they leave once empty)
        self._out: list[Output] = []
        self._staged: list[Output] | None = None
        self._start_t = now
        self._last_alloc = -math.inf
        self._last_retime = now
        self._alloc_dirty = True
        self._jobs: dict[str, tuple[str, str]] = {}  # job id -> (order id, "load"|"unload")
        self._unblock_t: dict[str, float] = {}
        self._bay_doc: dict | None = None
        self.clearance = ClearanceBook.from_json(store.get_meta("clearance"))
        # order intake (fleet_manager.order_intake): shed orders, rejection log rate, store pruning
        self.shed = 0
        self._log_second, self._log_lines, self._log_suppressed = -1, 0, 0
        self._last_housekeeping = -math.inf
        self._rejections_since_prune = 0
        self._last_expiry = -math.inf
        self._unservable_since: dict[str, float] = {}  # order id -> since when its container is not at its origin
        self._places: list[str] = sorted(self.net.places)
        self._pidx = {p: i for i, p in enumerate(self._places)}
        # set at start by FleetManager.__init__ (see fleet_manager.dispatch): travel time and distance
        # tables between places, places reachable only through another, stations reachable from another
        self._T: np.ndarray
        self._D: np.ndarray
        self._behind: dict[str, set[str]]
        self._reach: set[tuple[str, str]]

    @contextmanager
    def _tx(self) -> Iterator[None]:
        """A store transaction whose messages are released only after it commits."""
        outer = self._staged is None
        if outer:
            self._staged = []
        try:
            with self.store.transaction():
                yield
        except BaseException:
            if outer:
                self._staged = None
            raise
        if outer:
            self._out.extend(self._staged)
            self._staged = None

    def _emit(self, out: Output) -> None:
        (self._staged if self._staged is not None else self._out).append(out)

    def drain(self) -> list[Output]:
        """Messages to publish now (in order). Confirm durable ones with :meth:`published`."""
        out, self._out = self._out, []
        return out

    def published(self, seqs: list[int]) -> None:
        seqs = [s for s in seqs if s is not None]
        if seqs:
            with self.store.transaction():
                self.store.mark_published(seqs)

    def _event(self, order: Order, event: str, now: float, reason: str = "") -> None:
        doc = {"order_id": order.order_id, "event": event, "stamp": now, "carrier_id": order.carrier_id,
               "container_id": order.container_id}
        if reason:
            doc["reason"] = reason
        if self.cfg.clearance_required:
            doc["clearance"] = self._clearance_of(order)[0]
        seq = self.store.append_outbox("order_event", "", doc)
        self._emit(Output("order_event", "", doc, seq))

    def _clearance_of(self, order: Order) -> tuple[str, str]:
        """(state, reason) of the order's container: released when clearance is not required."""
        if not self.cfg.clearance_required:
            return "released", ""
        stations = self.world.stations
        return self.clearance.state(order.container_id, stations[order.origin_station].country,
                                    stations[order.dest_station].country)

    def _save(self, order: Order, now: float) -> None:
        order.updated_s = now
        self.store.save_order(order)

    def _save_carrier(self, c: CarrierInfo) -> None:
        doc = c.persist_doc()
        ct = self.traffic.carriers.get(c.id)
        doc["place"] = ct.place if ct else None
        doc["position"] = [ct.position[0].lane, ct.position[0].forward, ct.position[1]] \
            if ct is not None and ct.position is not None else None
        self.store.save_carrier(c.id, doc)

    def _persist_traffic(self) -> None:
        self.store.save_reservations(self.traffic.table.all())
