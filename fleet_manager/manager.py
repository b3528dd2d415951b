"""The fleet manager core: orders in, crane jobs, routes and movement authorities out.

Pure (no rclpy, no clock): the node passes parsed documents and the current
time, then publishes what :meth:`FleetManager.drain` returns. Everything that
must survive a crash goes through :class:`~fleet_manager.store.FleetStore`
first (write-ahead): an order is stored before ``accepted`` is published, each
state change together with its event and its crane job in one transaction.

The class is a façade over parts with one job each (one file each): the order intake, which
answers every message (:mod:`~fleet_manager.order_intake`), the order life cycle and
crane jobs (:mod:`~fleet_manager.order_flow`), carriers and their liveness
(:mod:`~fleet_manager.liveness`), recovery from faults and restored routes
(:mod:`~fleet_manager.recovery_flow`), allocation, parking, charging and unblocking
(:mod:`~fleet_manager.dispatch`), routes and movement authorities (:mod:`~fleet_manager.carrier_routes`),
resuming after a restart (:mod:`~fleet_manager.restore`) and status reports
(:mod:`~fleet_manager.reports`); the state they share and the write-ahead outbox are
:mod:`~fleet_manager.fleet_core`'s. This module holds the periodic :meth:`FleetManager.tick`
that runs them in order.
"""

from __future__ import annotations

from .allocation import allocate
from .carrier_routes import CarrierRoutes
from .dispatch import Dispatch
from .fleet_core import FREE_TASKS, TASKS, CarrierInfo, FleetCore, ManagerConfig, Output
from .liveness import Liveness
from .network import YardNetwork
from .order_flow import OrderFlow
from .order_intake import OrderIntake
from .recovery_flow import RecoveryFlow
from .reports import Reports
from .restore import Restore
from .routing import Router
from .store import FleetStore
from .traffic import TrafficController

# phases in which customs can still stop an order
BEFORE_CROSSING = ("queued", "to_origin", "at_origin", "loaded", "to_inspection", "at_inspection")
CLEARANCE_KEPT = 20000  # containers whose decisions the book keeps (about ten days at the site's target)

__all__ = ["FREE_TASKS", "TASKS", "CarrierInfo", "FleetManager", "ManagerConfig", "Output"]


class FleetManager(OrderIntake, OrderFlow, Liveness, RecoveryFlow, Dispatch, CarrierRoutes, Restore, Reports,
                   FleetCore):
    """See the module docstring. One instance per fleet; not thread-safe (the node serialises calls).

    The parts, one job each: :class:`~fleet_manager.order_intake.OrderIntake` (every message on
    ``/fleet/orders`` answered), :class:`~fleet_manager.order_flow.OrderFlow` (orders and crane jobs),
    :class:`~fleet_manager.liveness.Liveness` (carriers, faults),
    :class:`~fleet_manager.recovery_flow.RecoveryFlow` (recovery routes, out of service, restored routes),
    :class:`~fleet_manager.dispatch.Dispatch` (allocation, parking, charging, unblocking),
    :class:`~fleet_manager.carrier_routes.CarrierRoutes` (routes, authorities, re-plans),
    :class:`~fleet_manager.restore.Restore` (resume from the store),
    :class:`~fleet_manager.reports.Reports` (bay_status, fleet_state); shared state and the
    write-ahead outbox in :class:`~fleet_manager.fleet_core.FleetCore`.
    """

    def __init__(self, world, store: FleetStore, config: ManagerConfig, now: float,
                 network: YardNetwork | None = None, router: Router | None = None,
                 traffic: TrafficController | None = None, allocator=allocate):
        """``traffic`` and ``allocator`` replace the traffic controller and the assignment
        function (``allocate``'s signature) — the benchmark runs a peer policy this way."""
        FleetCore.__init__(self, world, store, config, now, network, router, traffic, allocator)
        self._T, self._D = self._tables()
        self._behind = self._serial_behind()
        self._reach = self._station_reach()
        self._restore(now)

    # ================================================================ periodic
    def tick(self, now: float) -> None:
        """Liveness, traffic (grants, re-plans, retiming), allocation, parking/charging, state."""
        self._check_liveness(now)
        self._recover_carriers(now)
        if now - self._last_retime >= self.cfg.retime_period_s:
            self.traffic.retime(now)
            self._last_retime = now
        self._retry_replans(now)
        for cid, auth in self.traffic.grant_all().items():
            self._send_authority(self.carriers[cid], auth, now)
        for c in self.carriers.values():
            if c.route_id is not None and c.follower is not None and c.follower.get("route_id") != c.route_id \
                    and now - c.route_sent_t > self.cfg.resend_period_s and not c.faulted:
                self._resend_route(c, now)
        if self._ready_to_plan(now):
            self._expire_unservable(now)
            if self._alloc_dirty or now - self._last_alloc >= self.cfg.allocation_period_s:
                self._allocate(now)
            self._advance_orders(now)
            self._free_carriers(now)
        self._publish_bay_status(now)
        self._housekeep(now)

    def on_clearance(self, doc: dict, now: float) -> None:
        """A customs decision (``clearance_decision``, validated): record it and tell the container's orders that
        have not left for the other side yet.

        Ignored unless ``clearance_required``. The allocation offers an order to a carrier only once both sides
        have released the container, and a loaded carrier leaves for the destination only while it is released
        (see :mod:`fleet_manager.clearance`).
        """
        if not self.cfg.clearance_required or not self.clearance.record(doc):
            return
        while len(self.clearance.decisions) > CLEARANCE_KEPT:  # oldest containers first (insertion order)
            self.clearance.forget(next(iter(self.clearance.decisions)))
        with self._tx():
            self.store.set_meta("clearance", self.clearance.to_json())
            for o in self.orders.values():
                if not o.final and o.phase in BEFORE_CROSSING and o.container_id == doc["container_id"]:
                    state, reason = self._clearance_of(o)
                    self._event(o, "clearance", now, reason or "released for export and import")
        self._alloc_dirty = True

    def _ready_to_plan(self, now: float) -> bool:
        missing = [c.id for c in self.carriers.values() if not c.located]
        if not missing:
            return True
        return now - self._start_t > self.cfg.startup_grace_s
