"""The fleet manager core: orders in, crane jobs, routes and movement authorities out.

Pure (no rclpy, no clock): the node passes parsed documents and the current
time, then publishes what :meth:`FleetManager.drain` returns. Everything that
must survive a crash goes through :class:`~fleet_manager.store.FleetStore`
first (write-ahead): an order is stored before ``accepted`` is published, each
state change together with its event and its crane job in one transaction.

Per order (see :mod:`fleet_manager.orders` for the states)::

    queued -> (allocation) carrier routed to a loading bay + load crane job issued
           -> carrier docked (bay ready) -> crane done: loaded
           -> route to an unloading bay: in_transit -> docked -> unload crane job
           -> crane done: unloaded, completed -> carrier free (next order, parking, charger)

Carriers: located from odometry; a carrier silent for ``liveness_timeout_s``
or reporting a fault is *faulted*: traffic keeps everything it was granted
blocked, plans behind it are re-planned, its order is re-queued unless the
container is already on it. A follower ``blocked`` for ``blocked_timeout_s``
is treated the same way for traffic (it keeps its order). Reports resuming
clear the condition.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from yard_model.lane_graph import Traversal

from .allocation import AllocationConfig, CarrierSlot, OrderSlot, allocate
from .network import RouteGeometry, YardNetwork
from .orders import (
    FINAL_STATES,
    Order,
    OrderRejected,
    check_order,
    digest_of,
    loading_bays,
    order_from_doc,
    parse_order,
)
from .reservations import INF, Reservation, has_cycle
from .routing import Router
from .store import FleetStore
from .traffic import CarrierTraffic, Plan, TrafficConfig, TrafficController

log = logging.getLogger("fleet_manager")

TASKS = ("unknown", "idle", "to_origin", "at_origin", "to_destination", "at_destination", "to_charger", "charging",
         "to_park", "parked")
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
    allocation: AllocationConfig = field(default_factory=AllocationConfig)
    traffic: TrafficConfig = field(default_factory=TrafficConfig)


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
    follower: dict | None = None
    last_seen: float | None = None
    soc: float | None = None
    faulted: bool = False
    fault: str | None = None
    blocked_since: float | None = None
    stopped: bool = False
    located: bool = False
    authority_sent: float = -1.0

    def persist_doc(self) -> dict:
        return {"task": self.task, "order_id": self.order_id, "route_seq": self.route_seq, "faulted": self.faulted,
                "fault": self.fault}


class FleetManager:
    """See the module docstring. One instance per fleet; not thread-safe (the node serialises calls)."""

    def __init__(self, world, store: FleetStore, config: ManagerConfig, now: float,
                 network: YardNetwork | None = None, router: Router | None = None,
                 traffic: TrafficController | None = None, allocator=allocate):
        """``traffic`` and ``allocator`` replace the traffic controller and the assignment
        function (``allocate``'s signature) — the benchmark runs a peer policy this way."""
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
        self._out: list[Output] = []
        self._staged: list[Output] | None = None
        self._start_t = now
        self._last_alloc = -math.inf
        self._last_retime = now
        self._alloc_dirty = True
        self._jobs: dict[str, tuple[str, str]] = {}  # job id -> (order id, "load"|"unload")
        self._unblock_t: dict[str, float] = {}
        self._bay_doc: dict | None = None
        self._places = sorted(self.net.places)
        self._pidx = {p: i for i, p in enumerate(self._places)}
        self._T, self._D = self._tables()
        self._behind = self._serial_behind()
        self._reach = self._station_reach()
        self._restore(now)

    # ================================================================ setup
    def _tables(self) -> tuple[np.ndarray, np.ndarray]:
        n = len(self._places)
        T = np.full((n, n), np.inf)
        D = np.full((n, n), np.inf)
        tt, dd = self.router.time_table(), self.router.distance_table()
        for i, a in enumerate(self._places):
            T[i, i] = D[i, i] = 0.0
            for j, b in enumerate(self._places):
                if (a, b) in tt:
                    T[i, j] = tt[(a, b)]
                    D[i, j] = dd.get((a, b), np.inf)
        return T, D

    def _serial_behind(self) -> dict[str, set[str]]:
        """Places q that can only be reached through place p (p blocks them when occupied)."""
        out: dict[str, set[str]] = {p: set() for p in self._places}
        for p in self._places:
            st = self.net.places[p].station
            refs = [r for r in self._places if self.net.places[r].station != st][:1]
            if not refs:
                continue
            blocked = frozenset([self.net.places[p].resource])
            for q in self._places:
                if q != p and self.router.route(refs[0], q) is not None and \
                        self.router.route(refs[0], q, blocked) is None:
                    out[p].add(q)
        return out

    def _station_reach(self) -> set[tuple[str, str]]:
        ok = set()
        for a in self.world.stations:
            for b in self.world.stations:
                if any(self.router.travel_time(x, y) < math.inf
                       for x in self.world.stations[a].carrier_bays for y in self.world.stations[b].carrier_bays):
                    ok.add((a, b))
        return ok

    def _restore(self, now: float) -> None:
        """Resume from the store: unfinished orders, carriers, routes, reservations, unsent messages."""
        for o in self.store.load_orders():
            if o.final:
                self.counts[o.state] = self.counts.get(o.state, 0) + 1
                self.finished.append(o.order_id)
                self.orders[o.order_id] = o
                continue
            self.orders[o.order_id] = o
            if o.load_job:
                self._jobs[o.load_job] = (o.order_id, "load")
            if o.unload_job:
                self._jobs[o.unload_job] = (o.order_id, "unload")
        self.finished = self.finished[-self.cfg.finished_orders_kept:]
        for oid in list(self.orders):
            if self.orders[oid].final and oid not in self.finished:
                del self.orders[oid]
        for cid, doc in self.store.load_carriers().items():
            c = self.carriers.get(cid)
            if c is None:
                continue
            c.task, c.order_id, c.route_seq = doc["task"], doc["order_id"], doc["route_seq"]
            c.faulted, c.fault = doc.get("faulted", False), doc.get("fault")
        rows = self.store.load_reservations()
        by_carrier: dict[str, list[Reservation]] = {}
        for cid, res, e, x, t0, t1, g in rows:
            by_carrier.setdefault(cid, []).append(Reservation(cid, res, e, x, t0, t1, g))
        routes = self.store.load_routes()
        for cid, r in routes.items():
            c = self.carriers.get(cid)
            if c is None:
                continue
            geom = self._geometry_from_path(r["path"])
            res = by_carrier.pop(cid, [])
            auth = r["authority_m"] or geom.start_m
            for x in res:
                if x.enter_m <= auth + self.cfg.traffic.authority_margin_m + 1e-6:
                    x.granted = True
            self.traffic.adopt(cid, r["route_id"], geom, res, geom.start_m)
            self.traffic.carriers[cid].authority_m = auth
            c.route_id, c.route_doc, c.route_path, c.purpose = r["route_id"], r["doc"], r["path"], r["purpose"]
            c.located = True
            self._out.append(Output("route", cid, c.route_doc))
            self._out.append(Output("authority", cid, {"route_id": c.route_id, "authority_m": auth, "stamp": now}))
        for cid, res in by_carrier.items():  # standing carriers: their holds
            if cid not in self.carriers or not res:
                continue
            ct = self.traffic.carriers.setdefault(cid, CarrierTraffic(cid))
            self.traffic.table.add(res)
            cdoc = self.store.load_carriers().get(cid, {})
            ct.place = cdoc.get("place")
            if cdoc.get("position"):
                lane, fwd, s = cdoc["position"]
                ct.position = (Traversal(lane, fwd), s)
            self.carriers[cid].located = ct.place is not None or ct.position is not None
        for seq, kind, key, doc in self.store.unpublished():
            self._out.append(Output(kind, key, doc, seq))
        for o in self.orders.values():  # crane jobs in flight: send again (same id: idempotent)
            if o.final:
                continue
            if o.phase in ("to_origin", "at_origin") and o.load_job and "load_doc" in o.extra:
                self._out.append(Output("crane_job", o.load_crane, o.extra["load_doc"]))
            if o.phase == "unloading" and o.unload_job and "unload_doc" in o.extra:
                self._out.append(Output("crane_job", o.unload_crane, o.extra["unload_doc"]))
        for c in self.carriers.values():
            if c.located:
                c.last_seen = now  # give restarted carriers a full liveness period

    def _geometry_from_path(self, path: dict) -> RouteGeometry:
        travs = [Traversal(lane, fwd) for lane, fwd in path["traversals"]]
        prev = Traversal(*path["prev"]) if path.get("prev") else None
        return self.net.build_route(travs, path["start_offset"], path["end_offset"], path["start_place"],
                                    path["goal_place"], prev=prev)

    # ================================================================ outputs and transactions
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
        seq = self.store.append_outbox("order_event", "", doc)
        self._emit(Output("order_event", "", doc, seq))

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

    # ================================================================ inputs
    def on_order(self, text: str, now: float) -> None:
        """A ``transport_order`` document arrived (raw text)."""
        try:
            doc = parse_order(text)
        except OrderRejected as exc:
            log.warning("rejected order '%s': %s", exc.order_id, exc.reason)
            self._emit(Output("order_event", "", {"order_id": exc.order_id, "event": "rejected", "reason": exc.reason,
                                                  "stamp": now}))
            self.counts["rejected"] += 1
            return
        oid = doc["order_id"]
        if doc.get("cancel"):
            self._cancel(oid, now)
            return
        dig = digest_of(doc)
        known = self.orders.get(oid) or self.store.get_order(oid)
        if known is not None:
            note = "duplicate order id: already known" if known.digest == dig else \
                "duplicate order id with different content: ignored, the first order stands"
            log.info("order '%s': %s", oid, note)
            ev = known.state if known.state != "accepted" or known.phase == "queued" else "accepted"
            self._emit(Output("order_event", "", {"order_id": oid, "event": ev, "reason": note, "stamp": now,
                                                  "carrier_id": known.carrier_id,
                                                  "container_id": known.container_id}))
            return
        rej = self.store.get_rejection(oid)
        if rej is not None and rej[0] == dig:
            self._emit(Output("order_event", "", {"order_id": oid, "event": "rejected",
                                                  "reason": f"duplicate of a rejected order: {rej[1]}", "stamp": now}))
            return
        active = {o.container_id: o.order_id for o in self.orders.values() if not o.final}
        try:
            check_order(doc, self.world, self.yard_state, active, lambda a, b: (a, b) in self._reach)
        except OrderRejected as exc:
            log.warning("rejected order '%s': %s", oid, exc.reason)
            with self._tx():
                self.store.save_rejection(oid, dig, exc.reason, now)
                seq = self.store.append_outbox("order_event", "", {"order_id": oid, "event": "rejected",
                                                                   "reason": exc.reason, "stamp": now,
                                                                   "container_id": doc["container_id"]})
                self._emit(Output("order_event", "", {"order_id": oid, "event": "rejected", "reason": exc.reason,
                                                      "stamp": now, "container_id": doc["container_id"],
                                                      "seq": seq}, seq))
            self.counts["rejected"] += 1
            return
        order = order_from_doc(doc, now)
        with self._tx():
            self._save(order, now)
            self._event(order, "accepted", now)
        self.orders[oid] = order
        self._alloc_dirty = True
        log.info("accepted order '%s': %s from %s to %s", oid, order.container_id, order.origin_truck_bay,
                 order.dest_station)

    def _cancel(self, oid: str, now: float) -> None:
        o = self.orders.get(oid)
        if o is None or o.final:
            reason = "cancel: unknown order" if o is None else f"cancel: order already {o.state}"
            self._emit(Output("order_event", "", {"order_id": oid, "event": "rejected" if o is None else o.state,
                                                  "reason": reason, "stamp": now}))
            return
        if o.loaded or o.container_at.startswith("crane:"):
            self._emit(Output("order_event", "", {"order_id": oid, "event": o.state, "stamp": now,
                                                  "reason": "cancel refused: the container is already lifted"}))
            return
        with self._tx():
            self._withdraw_load_job(o, now)
            self._release_carrier_of(o, now)
            o.state, o.phase, o.reason = "cancelled", "done", "cancelled by request"
            self._save(o, now)
            self._event(o, "cancelled", now, "cancelled by request")
        self._finish(o)

    def on_yard_state(self, doc: dict, now: float) -> None:
        """``yard_state``: containers, trucks, carrier SOC and faults."""
        self.yard_state = doc
        for cid, st in doc.get("carriers", {}).items():
            c = self.carriers.get(cid)
            if c is None:
                continue
            c.soc = st["soc"]
            if st.get("fault") and not c.faulted:
                self._fault(c, f"yard_state fault: {st['fault']}", now)

    def on_battery(self, carrier_id: str, soc: float, now: float) -> None:
        c = self.carriers.get(carrier_id)
        if c is not None and math.isfinite(soc) and 0.0 <= soc <= 1.0:
            c.soc = soc

    def on_odometry(self, carrier_id: str, x: float, y: float, yaw: float, speed: float, now: float) -> None:
        c = self.carriers.get(carrier_id)
        if c is None or not all(math.isfinite(v) for v in (x, y, yaw, speed)):
            return
        c.pose, c.speed = (x, y, yaw), speed
        self._seen(c, now)
        if not c.located:
            self._locate(c, now)

    def _locate(self, c: CarrierInfo, now: float) -> None:
        x, y, yaw = c.pose
        place = self.net.place_at(x, y, yaw)
        with self._tx():
            if place is not None:
                self.traffic.stand(c.id, now, place=place)
            else:
                pos = self.net.locate(x, y, yaw)
                if pos is None:
                    log.warning("%s at (%.1f, %.1f) is off the lane network: not planned until it is on it",
                                c.id, x, y)
                    return
                self.traffic.stand(c.id, now, position=pos)
            c.located = True
            if c.task == "unknown":
                c.task = "idle" if place is None or self.net.places[place].kind == "bay" else \
                    ("charging" if self.net.places[place].kind == "charging" else "parked")
            self._save_carrier(c)
            self._persist_traffic()
        self._alloc_dirty = True
        log.info("%s located at %s", c.id, place or "a lane position")

    def _seen(self, c: CarrierInfo, now: float) -> None:
        c.last_seen = now
        if c.faulted and c.fault and c.fault.startswith("silent"):
            self._recover(c, now)

    def on_follower_status(self, doc: dict, now: float) -> None:
        """``follower_status`` of one carrier."""
        c = self.carriers.get(doc["carrier_id"])
        if c is None:
            return
        c.follower = doc
        self._seen(c, now)
        state = doc["state"]
        if state == "fault":
            if not c.faulted:
                self._fault(c, f"follower fault: {doc.get('reason', '')}", now)
            return
        if c.faulted and c.fault and c.fault.startswith("follower fault"):
            self._recover(c, now)
        if c.route_id is None or doc["route_id"] != c.route_id:
            if c.route_id is not None and now - c.route_sent_t > self.cfg.resend_period_s:
                self._resend_route(c, now)
            return
        if not c.located:
            c.located = True
        progress = float(doc["progress_m"])
        if state == "blocked":
            c.blocked_since = c.blocked_since if c.blocked_since is not None else now
        else:
            c.blocked_since = None
            if c.stopped and not c.faulted:
                self._unstop(c, now)
        auth = self.traffic.update(c.id, progress)
        self._send_authority(c, auth, now)
        arrived = state == "docked" or (state == "idle" and self.traffic.is_arrived(c.id, progress))
        if arrived and (doc.get("goal_id") in (None, c.route_doc["goal"].get("id"))):
            self._arrive(c, now)

    def on_crane_event(self, doc: dict, now: float) -> None:
        """``crane_job_event`` from any crane."""
        job = doc["job_id"]
        ref = self._jobs.get(job)
        if ref is None:
            return
        o = self.orders.get(ref[0])
        if o is None or o.final:
            return
        kind = ref[1]
        ev = doc["event"]
        o.extra[f"{kind}_event"] = ev
        crane = doc["crane_id"]
        current = o.load_job if kind == "load" else o.unload_job
        if job != current:
            return  # an older attempt
        if ev in ("locked", "lifted", "holding"):
            o.container_at = f"crane:{crane}"
            with self._tx():
                self._save(o, now)
        elif ev == "landed":
            o.container_at = f"carrier:{o.carrier_id}" if kind == "load" else f"truck:{o.dest_truck_bay}"
            with self._tx():
                self._save(o, now)
        elif ev == "done":
            if kind == "load":
                self._loaded(o, now)
            else:
                self._unloaded(o, now)
        elif ev in ("rejected", "failed", "cancelled"):
            self._crane_failed(o, kind, f"crane {crane} {ev} job {job}: {doc.get('reason', '')}", now)

    # ================================================================ periodic
    def tick(self, now: float) -> None:
        """Liveness, traffic (grants, re-plans, retiming), allocation, parking/charging, state."""
        for c in self.carriers.values():
            if c.located and not c.faulted and c.last_seen is not None and \
                    now - c.last_seen > self.cfg.liveness_timeout_s:
                self._fault(c, f"silent for {now - c.last_seen:.1f} s", now)
            if c.blocked_since is not None and not c.stopped and not c.faulted and \
                    now - c.blocked_since > self.cfg.blocked_timeout_s:
                self._stop(c, now)
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
            if self._alloc_dirty or now - self._last_alloc >= self.cfg.allocation_period_s:
                self._allocate(now)
            self._advance_orders(now)
            self._free_carriers(now)
        self._publish_bay_status(now)

    def _ready_to_plan(self, now: float) -> bool:
        missing = [c.id for c in self.carriers.values() if not c.located]
        if not missing:
            return True
        return now - self._start_t > self.cfg.startup_grace_s

    # ================================================================ allocation
    def _allocate(self, now: float) -> None:
        self._last_alloc = now
        self._alloc_dirty = False
        open_orders = [o for o in self.orders.values() if o.state == "accepted" and o.phase == "queued"]
        if not open_orders:
            return
        slots = []
        cap = self.world.carrier_type.battery_capacity_kwh
        for c in self.carriers.values():
            if c.faulted or c.stopped or not c.located:
                continue
            ct = self.traffic.carriers.get(c.id)
            if ct is None:
                continue
            energy = math.inf if c.soc is None else (c.soc - self.cfg.reserve_soc) * cap
            if c.order_id is not None:
                # about to be free: competes, but is only committed once it is (rolling horizon)
                o = self.orders.get(c.order_id)
                if o is not None and o.phase == "unloading" and ct.place is not None:
                    ready = now + self.cfg.allocation.unload_time_s / 2.0
                    slots.append(CarrierSlot(c.id, self._pidx[ct.place], ready, energy, False))
                continue
            place = ct.place if ct.geometry is None else (ct.geometry.goal_place if c.task == "to_park" else None)
            if place is None or (c.task not in FREE_TASKS and c.task != "to_park") or self._needs_charge(c):
                continue
            slots.append(CarrierSlot(c.id, self._pidx[place], now, energy, True))
        if not slots:
            return
        oslots = []
        for o in open_orders:
            ob = tuple(sorted({self._pidx[b] for _, b in loading_bays(self.world, o.origin_truck_bay)}))
            db = tuple(sorted(self._pidx[b] for b in self._unload_bays(o)))
            if ob and db:
                oslots.append(OrderSlot(o.order_id, ob, db, o.accepted_s, o.priority, o.deadline))
        cfg = self.cfg.allocation
        acfg = AllocationConfig(cfg.load_time_s, cfg.unload_time_s, cfg.age_weight, cfg.priority_weight_s,
                                cfg.lateness_weight, self.world.carrier_type.energy_use_kwh_per_km / 1000.0,
                                cfg.reserve_kwh)
        for _round in range(3):
            failed = False
            for a in sorted(self._allocator(slots, oslots, self._T, self._D, now, acfg), key=lambda a: a.cost):
                if a.commit and not self._dispatch(self.carriers[a.carrier_id], self.orders[a.order_id], now):
                    # cannot leave now (e.g. behind another carrier): free the way, offer the order to others
                    self._unblock(self.carriers[a.carrier_id], [b for _, b in loading_bays(
                        self.world, self.orders[a.order_id].origin_truck_bay)], now)
                    slots = [x for x in slots if x.carrier_id != a.carrier_id]
                    failed = True
            assigned = {o.order_id for o in self.orders.values() if o.state == "assigned"}
            busy = {c.id for c in self.carriers.values() if c.order_id is not None}
            oslots = [x for x in oslots if x.order_id not in assigned]
            slots = [x for x in slots if x.carrier_id not in busy or not x.free_now]
            if not failed or not slots or not oslots:
                break

    def _unload_bays(self, o: Order) -> list[str]:
        st = self.world.stations[o.dest_station]
        if o.dest_truck_bay_requested:
            return sorted({b for _, b in loading_bays(self.world, o.dest_truck_bay_requested)})
        return list(st.carrier_bays)

    def _needs_charge(self, c: CarrierInfo) -> bool:
        if c.soc is None or not self.net.world.charging_spots():
            return False
        if c.task == "charging":
            return c.soc < self.cfg.charge_target_soc and c.soc < self.cfg.charge_below_soc + 0.2
        return c.soc < self.cfg.charge_below_soc

    def _occupied_places(self, exclude: str | None = None) -> set[str]:
        """Places a carrier stands on or is routed to."""
        out = set()
        for cid, ct in self.traffic.carriers.items():
            if cid == exclude:
                continue
            if ct.place:
                out.add(ct.place)
            if ct.geometry is not None and ct.geometry.goal_place:
                out.add(ct.geometry.goal_place)
        return out

    def _best_plan(self, c: CarrierInfo, goals: list[str], now: float, penalise: bool = True,
                   extra=None) -> Plan | None:
        """Earliest-arriving feasible plan, with a penalty for blocking free places behind the goal.

        Without ``penalise`` the furthest-downstream goal wins (compaction along a serial lane).
        """
        if not goals:
            return None
        plans = self.traffic.plan(c.id, goals, now)
        if not plans:
            return None
        occupied = self._occupied_places(exclude=c.id)

        def score(p: Plan) -> float:
            free_behind = len(self._behind.get(p.goal, set()) - occupied)
            if not penalise:
                return -len(self._behind.get(p.goal, set())) * 1e6 + p.arrival_s
            return p.arrival_s + self.cfg.serial_penalty_s * free_behind + (extra(p.goal) if extra else 0.0)

        return min(plans, key=score)

    def _dispatch(self, c: CarrierInfo, o: Order, now: float) -> bool:
        pairs = loading_bays(self.world, o.origin_truck_bay)
        ct = self.traffic.carriers[c.id]
        here = ct.place if ct.geometry is None else None
        if here is not None and any(b == here for _, b in pairs):
            goal, plan, arrival = here, None, now  # load where it stands
        else:
            occupied = self._occupied_places(exclude=c.id)
            goals = sorted({b for _, b in pairs if b not in occupied})
            plan = self._best_plan(c, goals, now)
            if plan is None:
                return False
            goal, arrival = plan.goal, plan.arrival_s
        crane = next(k for k, b in pairs if b == goal)
        with self._tx():
            o.attempts += 1
            o.state, o.carrier_id, o.origin_bay, o.load_crane = "assigned", c.id, goal, crane
            o.phase = "to_origin" if plan is not None else "at_origin"
            o.load_job = f"{o.order_id}:load:{o.attempts}"
            job = {"job_id": o.load_job, "crane_id": crane, "order_id": o.order_id, "container_id": o.container_id,
                   "pick": {"bay": o.origin_truck_bay}, "place": {"bay": goal},
                   "priority": o.priority, "expected_ready_s": arrival}
            o.extra["load_doc"] = job
            self._jobs[o.load_job] = (o.order_id, "load")
            c.order_id = o.order_id
            if plan is not None:
                c.task = "to_origin"
                self._route(c, plan, "to_origin", now)
            else:
                c.task = "at_origin"
                self._save_carrier(c)
            self._save(o, now)
            self._event(o, "assigned", now, f"to {goal}, crane {crane}")
            self.store.append_outbox("crane_job", crane, job)
            self._emit(Output("crane_job", crane, job))
        log.info("order %s -> %s via %s (crane %s), ready planned at %.0f s", o.order_id, c.id, goal, crane, arrival)
        return True

    def _unblock(self, c: CarrierInfo, goals: list[str], now: float) -> bool:
        """Move an idle carrier standing in the way of ``c`` (e.g. ahead of it on a serial parking lane)."""
        if now - self._unblock_t.get(c.id, -math.inf) < 10.0:
            return False
        self._unblock_t[c.id] = now
        start, _ = self.traffic.start_of(c.id)
        holds = self.traffic.holds_of_others(c.id, now)
        for goal in goals:
            if self.router.route(start, goal, holds) is not None:
                continue  # not blocked by anybody standing: nothing to move
            path = self.router.route(start, goal)
            if path is None:
                continue
            on_path: set[int] = set()
            for t in path.traversals:
                for rid, _, _ in self.net.traversal_cells(t):
                    on_path |= self.net.conflicts[rid]
            for other in self.carriers.values():
                oct_ = self.traffic.carriers.get(other.id)
                if other.id == c.id or oct_ is None or oct_.place is None or oct_.geometry is not None:
                    continue
                if other.order_id is not None or other.faulted or other.stopped:
                    continue
                if self.net.places[oct_.place].resource not in on_path:
                    continue
                occupied = self._occupied_places(exclude=other.id) | {goal}
                here = self._pidx[oct_.place]
                spots = sorted((s.id for s in self.world.parking_spots() + self.world.charging_spots()
                                if s.id not in occupied and s.id != oct_.place and
                                self.net.places[s.id].resource not in on_path),
                               key=lambda p: self._T[here, self._pidx[p]])[:4]
                plan = self._best_plan(other, spots, now)
                if plan is None:
                    continue
                # the new spot must not be on c's way either
                if self.net.places[plan.goal].resource in on_path:
                    continue
                with self._tx():
                    other.task = "to_park"
                    self._route(other, plan, "to_park", now)
                log.info("moving %s from %s to %s out of %s's way", other.id, oct_.place, plan.goal, c.id)
                return True
        return False

    # ================================================================ routes
    def _route(self, c: CarrierInfo, plan: Plan, purpose: str, now: float) -> None:
        """Commit a plan and publish its route (inside a transaction)."""
        c.route_seq += 1
        rid = f"{c.id}-{c.route_seq}"
        self.traffic.commit(c.id, rid, plan, now)
        g = plan.geometry
        place = self.net.places.get(plan.goal)
        kind = "bay" if place is not None and place.kind == "bay" else ("spot" if place is not None else "waypoint")
        auth = self.traffic.carriers[c.id].authority_m
        doc = {"route_id": rid, "carrier_id": c.id, "stamp": now, "frame_id": "map",
               "points": [[round(float(x), 3), round(float(y), 3)] for x, y in g.points],
               "speed_limits_mps": [round(float(v), 3) for v in g.speed_limits],
               "goal": {"kind": kind, "id": plan.goal, "x": g.goal_pose[0], "y": g.goal_pose[1], "yaw": g.goal_pose[2],
                        "dock": place is not None and place.kind in ("bay", "charging")},
               "authority_m": round(auth, 3), "lanes": g.lanes}
        path = {"traversals": [[t.lane, t.forward] for t in g.traversals], "start_offset": g.start_offset_m,
                "end_offset": g.end_offset_m, "start_place": g.start_place, "goal_place": g.goal_place,
                "prev": [g.segments[0][0].lane, g.segments[0][0].forward] if g.segments and
                g.segments[0][0] not in g.traversals else None}
        c.route_id, c.route_doc, c.route_path, c.purpose = rid, doc, path, purpose
        c.route_sent_t, c.authority_sent = now, auth
        self.store.save_route(c.id, rid, doc, path, purpose, auth)
        self._save_carrier(c)
        self._persist_traffic()
        self._emit(Output("route", c.id, doc))
        self._emit(Output("authority", c.id, {"route_id": rid, "authority_m": auth, "stamp": now}))

    def _resend_route(self, c: CarrierInfo, now: float) -> None:
        c.route_sent_t = now
        self._emit(Output("route", c.id, c.route_doc))
        self._emit(Output("authority", c.id, {"route_id": c.route_id, "authority_m": c.authority_sent, "stamp": now}))

    def _send_authority(self, c: CarrierInfo, auth: float, now: float) -> None:
        if c.route_id is None or auth <= c.authority_sent + 1e-6:
            return
        c.authority_sent = auth
        with self._tx():
            self.store.save_authority(c.id, c.route_id, auth)
        self._emit(Output("authority", c.id, {"route_id": c.route_id, "authority_m": round(auth, 3), "stamp": now}))

    def _arrive(self, c: CarrierInfo, now: float) -> None:
        purpose = c.purpose
        with self._tx():
            place = self.traffic.arrived(c.id, now)
            c.route_id = c.route_doc = c.route_path = c.purpose = None
            c.authority_sent = -1.0
            self.store.clear_route(c.id)
            o = self.orders.get(c.order_id) if c.order_id else None
            if purpose == "to_origin" and o is not None:
                c.task, o.phase = "at_origin", "at_origin"
                self._save(o, now)
            elif purpose == "to_destination" and o is not None:
                c.task, o.phase = "at_destination", "at_destination"
                self._save(o, now)
            elif purpose == "to_charger":
                c.task = "charging"
            elif purpose == "to_park":
                c.task = "parked"
            else:
                c.task = "idle"
            self._save_carrier(c)
            self._persist_traffic()
        log.info("%s arrived at %s (%s)", c.id, place, purpose)
        if purpose == "to_destination" and c.order_id:
            self._issue_unload(self.orders[c.order_id], now)
        self._alloc_dirty = True

    # ================================================================ order progress
    def _loaded(self, o: Order, now: float) -> None:
        with self._tx():
            o.state, o.phase, o.loaded_s = "loaded", "loaded", now
            o.container_at = f"carrier:{o.carrier_id}"
            self._save(o, now)
            self._event(o, "loaded", now)
        self._to_destination(o, now)

    def _to_destination(self, o: Order, now: float) -> bool:
        c = self.carriers[o.carrier_id]
        if c.faulted or c.stopped:
            return False
        occupied = self._occupied_places(exclude=c.id)
        goals = [b for b in self._unload_bays(o) if b not in occupied]
        plan = self._best_plan(c, goals, now) if c.route_id is None else None
        if plan is None:
            ct = self.traffic.carriers.get(c.id)
            if ct is not None and ct.place is not None and self.net.places[ct.place].kind == "bay":
                # never wait on a bay for another bay (two stations' bays could wait on each other):
                # wait with the container on a parking spot, the destination side first
                # the buffer from which the destination bays are quickest to reach (in these yards a
                # carrier cannot turn back at a hub: that is the origin side, not the destination side)
                dest = [self._pidx[b] for b in self._unload_bays(o)]

                def onward(p: str) -> float:
                    return float(min(self._T[self._pidx[p], d] for d in dest))

                spots = [s.id for s in self.world.parking_spots() if s.id not in occupied]
                chargers = [s.id for s in self.world.charging_spots() if s.id not in occupied]
                buf = self._best_plan(c, spots, now, extra=onward) or self._best_plan(c, chargers, now, extra=onward)
                if buf is not None:
                    with self._tx():
                        c.task = "to_park"
                        self._route(c, buf, "to_park", now)
                    log.info("%s waits with %s on %s: no unloading bay free", c.id, o.container_id, buf.goal)
            elif ct is not None and ct.place is not None and c.route_id is None:
                self._unblock(c, goals or self._unload_bays(o), now)
            return False
        with self._tx():
            o.dest_bay, o.phase, o.state = plan.goal, "to_destination", "in_transit"
            c.task = "to_destination"
            self._route(c, plan, "to_destination", now)
            self._save(o, now)
            self._event(o, "in_transit", now, f"to {plan.goal}")
        return True

    def _issue_unload(self, o: Order, now: float) -> bool:
        if o.phase != "at_destination" or o.dest_bay is None:
            return False
        taken = {x.dest_truck_bay for x in self.orders.values() if not x.final and x is not o and x.dest_truck_bay}
        cand = []
        for crane in self.world.cranes_serving(o.dest_bay):
            for tb in crane.serves:
                if self.world.bays.get(tb) is None or self.world.bays[tb].kind != "truck" or tb in taken:
                    continue
                if o.dest_truck_bay_requested and tb != o.dest_truck_bay_requested:
                    continue
                if self._truck_free(tb):
                    cand.append((crane.id, tb))
        if not cand:
            return False
        crane, tb = sorted(cand)[0]
        with self._tx():
            o.attempts += 1
            o.dest_truck_bay, o.unload_crane, o.phase = tb, crane, "unloading"
            o.unload_job = f"{o.order_id}:unload:{o.attempts}"
            job = {"job_id": o.unload_job, "crane_id": crane, "order_id": o.order_id, "container_id": o.container_id,
                   "pick": {"bay": o.dest_bay}, "place": {"bay": tb}, "priority": o.priority,
                   "expected_ready_s": now}
            o.extra["unload_doc"] = job
            self._jobs[o.unload_job] = (o.order_id, "unload")
            self._save(o, now)
            self.store.append_outbox("crane_job", crane, job)
            self._emit(Output("crane_job", crane, job))
        return True

    def _truck_free(self, bay: str | None) -> bool:
        """A parked, empty truck stands at the truck bay (per yard_state)."""
        trucks = (self.yard_state or {}).get("trucks", {})
        return any(t["bay"] == bay and t["state"] == "parked" and t["container_id"] is None for t in trucks.values())

    def _unloaded(self, o: Order, now: float) -> None:
        c = self.carriers.get(o.carrier_id)
        with self._tx():
            o.state, o.phase, o.completed_s = "unloaded", "done", now
            o.container_at = f"truck:{o.dest_truck_bay}"
            self._event(o, "unloaded", now)
            o.state = "completed"
            self._save(o, now)
            self._event(o, "completed", now)
            if c is not None:
                c.order_id, c.task = None, "idle"
                self._save_carrier(c)
        self._finish(o)
        self._alloc_dirty = True

    def _finish(self, o: Order) -> None:
        self.counts[o.state] = self.counts.get(o.state, 0) + 1
        self.finished.append(o.order_id)
        for j in (o.load_job, o.unload_job):
            self._jobs.pop(j, None)
        while len(self.finished) > self.cfg.finished_orders_kept:
            old = self.finished.pop(0)
            self.orders.pop(old, None)

    def _crane_failed(self, o: Order, kind: str, reason: str, now: float) -> None:
        log.warning("order %s: %s", o.order_id, reason)
        if o.attempts >= self.cfg.crane_retries * 2 + 2:
            with self._tx():
                self._withdraw_load_job(o, now)
                if not o.loaded:
                    self._release_carrier_of(o, now)
                o.state, o.phase, o.reason = "failed", "done", reason
                self._save(o, now)
                self._event(o, "failed", now, reason)
            self._finish(o)
            return
        with self._tx():
            if kind == "load":
                o.load_job = None  # re-issued by _advance_orders
            else:
                o.unload_job, o.phase, o.dest_truck_bay = None, "at_destination", None
            o.reason = reason
            self._save(o, now)

    def _withdraw_load_job(self, o: Order, now: float) -> None:
        if o.load_job and not o.loaded and o.load_crane:
            job = dict(o.extra.get("load_doc", {}), cancel=True)
            if job.get("job_id"):
                self.store.append_outbox("crane_job", o.load_crane, job)
                self._emit(Output("crane_job", o.load_crane, job))
            self._jobs.pop(o.load_job, None)
            o.load_job = None

    def _release_carrier_of(self, o: Order, now: float) -> None:
        c = self.carriers.get(o.carrier_id) if o.carrier_id else None
        if c is not None and c.order_id == o.order_id:
            c.order_id = None
            if c.task in ("to_origin", "at_origin"):
                c.task = "idle" if c.route_id is None else c.task
                if c.route_id is not None:
                    c.purpose = "reposition"
            self._save_carrier(c)
        o.carrier_id = None

    def _advance_orders(self, now: float) -> None:
        """Retry what could not be done when it was first due."""
        for o in list(self.orders.values()):
            if o.final:
                continue
            if o.phase in ("to_origin", "at_origin") and o.load_job is None and o.carrier_id:
                pairs = loading_bays(self.world, o.origin_truck_bay)
                crane = next((k for k, b in pairs if b == o.origin_bay), None)
                if crane is None:
                    continue
                with self._tx():
                    o.attempts += 1
                    o.load_crane, o.load_job = crane, f"{o.order_id}:load:{o.attempts}"
                    job = {"job_id": o.load_job, "crane_id": crane, "order_id": o.order_id,
                           "container_id": o.container_id, "pick": {"bay": o.origin_truck_bay},
                           "place": {"bay": o.origin_bay}, "priority": o.priority, "expected_ready_s": now}
                    o.extra["load_doc"] = job
                    self._jobs[o.load_job] = (o.order_id, "load")
                    self._save(o, now)
                    self.store.append_outbox("crane_job", crane, job)
                    self._emit(Output("crane_job", crane, job))
            elif o.phase == "loaded":
                self._to_destination(o, now)
            elif o.phase == "at_destination":
                self._issue_unload(o, now)
            elif o.phase == "unloading" and o.extra.get("unload_event") in (None, "accepted") and \
                    not self._truck_free(o.dest_truck_bay):
                # the empty truck left (or was never one) before the crane started: choose again
                with self._tx():
                    job = dict(o.extra.get("unload_doc", {}), cancel=True)
                    self.store.append_outbox("crane_job", o.unload_crane, job)
                    self._emit(Output("crane_job", o.unload_crane, job))
                    self._jobs.pop(o.unload_job, None)
                    o.unload_job, o.phase, o.dest_truck_bay = None, "at_destination", None
                    o.extra.pop("unload_event", None)
                    self._save(o, now)
                self._issue_unload(o, now)

    def _free_carriers(self, now: float) -> None:
        """Idle carriers: charge when low, otherwise leave bays for parking; compact serial lanes."""
        for c in self.carriers.values():
            if c.faulted or c.stopped or not c.located or c.route_id is not None:
                continue
            if c.order_id is not None:
                o = self.orders.get(c.order_id)
                if o is not None and o.phase == "loaded":
                    self._compact(c, now)  # waiting with a container on a spot
                continue
            ct = self.traffic.carriers.get(c.id)
            if ct is None or ct.geometry is not None:
                continue
            here = ct.place
            kind = self.net.places[here].kind if here else None
            if self._needs_charge(c) and kind != "charging":
                goals = [s.id for s in self.world.charging_spots() if s.id not in self._occupied_places(c.id)]
                plan = self._best_plan(c, goals, now)
                if plan is not None:
                    with self._tx():
                        c.task = "to_charger"
                        self._route(c, plan, "to_charger", now)
                    continue
            if c.task == "charging" and c.soc is not None and c.soc >= self.cfg.charge_target_soc:
                c.task = "idle"
            if kind in ("parking", "charging") and c.task != "charging" and not self._needs_charge(c) and \
                    self._compact(c, now):
                continue
            if kind == "bay" or here is None:
                goals = [s.id for s in self.world.parking_spots() if s.id not in self._occupied_places(c.id)]
                if here is not None:
                    st = self.net.places[here].station
                    goals.sort(key=lambda g: (self.net.places[g].station != st, g))
                plan = self._best_plan(c, goals, now)
                if plan is not None:
                    with self._tx():
                        c.task = "to_park"
                        self._route(c, plan, "to_park", now)

    def _compact(self, c: CarrierInfo, now: float) -> bool:
        """Spots in series: move on to the free spot furthest downstream, so the ones behind stay reachable.

        A carrier on a downstream spot is passed by nobody; filling a serial lane from its
        downstream end keeps every free spot reachable and the lane first-in first-out.
        """
        ct = self.traffic.carriers.get(c.id)
        here = ct.place if ct is not None and ct.geometry is None else None
        if here is None or self.net.places[here].kind not in ("parking", "charging"):
            return False
        kind = self.net.places[here].kind
        occupied = self._occupied_places(c.id)
        ahead = [q for q in self._behind.get(here, set()) if self.net.places[q].kind == kind and q not in occupied]
        if not ahead:
            return False
        plan = self._best_plan(c, ahead, now, penalise=False)
        if plan is None:
            return False
        with self._tx():
            c.task = "to_park"
            self._route(c, plan, "to_park", now)
        return True

    # ================================================================ disruptions
    def _fault(self, c: CarrierInfo, reason: str, now: float) -> None:
        log.error("%s faulted: %s", c.id, reason)
        c.faulted, c.fault = True, reason
        if c.id not in self.traffic.carriers:
            with self._tx():
                self._save_carrier(c)
            return
        stripped = self.traffic.stop(c.id, faulted=True)
        with self._tx():
            o = self.orders.get(c.order_id) if c.order_id else None
            if o is not None and not o.loaded and not o.container_at.startswith("crane:"):
                self._withdraw_load_job(o, now)
                o.state, o.phase, o.carrier_id, o.origin_bay = "accepted", "queued", None, None
                o.reason = f"re-queued: {c.id} {reason}"
                self._save(o, now)
                self._event(o, "accepted", now, o.reason)
                c.order_id = None
            self._save_carrier(c)
            self._persist_traffic()
        self._replan(stripped, now)
        self._alloc_dirty = True

    def _recover(self, c: CarrierInfo, now: float) -> None:
        log.info("%s recovered (was: %s)", c.id, c.fault)
        c.faulted, c.fault = False, None
        ct = self.traffic.carriers.get(c.id)
        with self._tx():
            self._save_carrier(c)
            if ct is not None and ct.geometry is None and c.pose is not None:
                # standing: hold exactly where it is now
                place = self.net.place_at(*c.pose)
                pos = None if place else self.net.locate(*c.pose)
                if place or pos:
                    self.traffic.stand(c.id, now, place=place, position=pos)
                    self._persist_traffic()
        if ct is not None and ct.geometry is not None:
            self.traffic.resume(c.id)
            self._replan([c.id], now)
            if c.order_id is None and c.purpose in ("to_origin", "reposition", None):
                # its order went to another carrier: do not drive on to a bay for nothing
                c.purpose = "reposition"
                spots = [s.id for s in self.world.parking_spots() if s.id not in self._occupied_places(c.id)]
                plan = self._best_plan(c, spots, now)
                if plan is not None:
                    with self._tx():
                        c.task = "to_park"
                        self._route(c, plan, "to_park", now)
        self._alloc_dirty = True

    def remove_carrier(self, carrier_id: str, now: float, avoid: frozenset[str] = frozenset()) -> str | None:
        """Operator intervention: the carrier is taken off its route and put on a free parking spot.

        Returns the spot (None if none is free). ``avoid``: spots the operator sees taken (a
        carrier the manager believes elsewhere may stand there). An order not yet loaded is
        re-queued; a loaded one continues from the spot.
        """
        c = self.carriers[carrier_id]
        occupied = self._occupied_places(exclude=carrier_id) | set(avoid)
        free = [s.id for s in self.world.parking_spots() if s.id not in occupied]
        if not free:
            return None
        spot = free[0]
        with self._tx():
            o = self.orders.get(c.order_id) if c.order_id else None
            if o is not None and not o.loaded:
                self._withdraw_load_job(o, now)
                o.state, o.phase, o.carrier_id, o.origin_bay = "accepted", "queued", None, None
                o.reason = f"re-queued: {carrier_id} removed by an operator"
                self._save(o, now)
                self._event(o, "accepted", now, o.reason)
                c.order_id = None
            elif o is not None:
                o.phase = "loaded"
                self._save(o, now)
            self.traffic.stand(carrier_id, now, place=spot)
            c.route_id = c.route_doc = c.route_path = c.purpose = None
            c.task = "parked" if c.order_id is None else "idle"
            c.stopped = False
            self.store.clear_route(carrier_id)
            self._save_carrier(c)
            stripped = self.traffic._repair(set())
            self._persist_traffic()
        self._replan(stripped, now)
        self._alloc_dirty = True
        return spot

    def _stop(self, c: CarrierInfo, now: float) -> None:
        log.warning("%s blocked for %.0f s: planning around it", c.id, now - c.blocked_since)
        c.stopped = True
        stripped = self.traffic.stop(c.id)
        with self._tx():
            self._persist_traffic()
        self._replan(stripped, now)

    def _unstop(self, c: CarrierInfo, now: float) -> None:
        c.stopped = False
        self.traffic.resume(c.id)
        self._replan([c.id], now)

    def _replan(self, carriers, now: float) -> None:
        carriers = sorted(carriers)
        if not carriers:
            return
        self.traffic.replan(carriers, now)
        with self._tx():
            self._persist_traffic()
        for cid in carriers:
            self._send_authority(self.carriers[cid], self.traffic.carriers[cid].authority_m, now)

    def _retry_replans(self, now: float) -> None:
        """Carriers whose plans were stripped and could not be re-planned: retry, or re-route."""
        pending = [c for c, ct in self.traffic.carriers.items() if ct.needs_replan and not ct.stopped]
        if not pending:
            return
        self.traffic.replan(pending, now)
        still = [c for c in pending if self.traffic.carriers[c].needs_replan]
        for cid in still:
            c = self.carriers[cid]
            goal = self.traffic.carriers[cid].geometry.goal_place if self.traffic.carriers[cid].geometry else None
            goals = [goal] if goal else []
            if c.purpose in ("to_origin", "to_destination", "to_park", "to_charger"):
                o = self.orders.get(c.order_id) if c.order_id else None
                if c.purpose == "to_destination" and o is not None:
                    goals = [b for b in self._unload_bays(o) if b not in self._occupied_places(cid)] + goals
                if c.purpose == "to_park":
                    goals = [s.id for s in self.world.parking_spots() if s.id not in self._occupied_places(cid)]
            plan = self._best_plan(c, goals, now) if goals else None
            if plan is None:
                continue
            with self._tx():
                if c.purpose == "to_destination" and c.order_id:
                    self.orders[c.order_id].dest_bay = plan.goal
                    self._save(self.orders[c.order_id], now)
                self._route(c, plan, c.purpose or "reposition", now)
        with self._tx():
            self._persist_traffic()

    # ================================================================ bay status and state
    def _publish_bay_status(self, now: float) -> None:
        bays: dict[str, dict] = {}
        on_carrier = {o.carrier_id: o.container_id for o in self.orders.values()
                      if not o.final and o.container_at == f"carrier:{o.carrier_id}"}
        for b in self.world.bays.values():
            if b.kind == "carrier":
                entry = {"kind": "carrier", "occupant": None, "ready": False, "container_id": None}
                for c in self.carriers.values():
                    ct = self.traffic.carriers.get(c.id)
                    if ct is None or ct.place != b.id:
                        continue
                    f = c.follower or {}
                    still = abs(f.get("speed_mps", c.speed)) < 0.05 and f.get("state") in ("docked", "idle")
                    entry.update(occupant=c.id, container_id=on_carrier.get(c.id),
                                 ready=bool(still and not c.faulted))
                    if not entry["ready"]:
                        entry["reason"] = "carrier faulted" if c.faulted else "carrier not docked and stationary"
                if entry["occupant"] is None:
                    heading = [c.id for c in self.carriers.values() if c.route_doc and
                               c.route_doc["goal"].get("id") == b.id]
                    entry["reason"] = f"{heading[0]} approaching" if heading else "empty"
                bays[b.id] = entry
            else:
                entry = {"kind": "truck", "occupant": None, "ready": False, "container_id": None, "reason": "no truck"}
                for tid, t in ((self.yard_state or {}).get("trucks") or {}).items():
                    if t["bay"] == b.id:
                        entry = {"kind": "truck", "occupant": tid, "ready": t["state"] == "parked",
                                 "container_id": t["container_id"]}
                        if t["state"] != "parked":
                            entry["reason"] = f"truck {t['state']}"
                bays[b.id] = entry
        if bays != (self._bay_doc or {}).get("bays") or now - (self._bay_doc or {}).get("stamp", -1e9) >= 1.0:
            self._bay_doc = {"stamp": now, "bays": bays}
            self._emit(Output("bay_status", "", self._bay_doc))

    def fleet_state(self, now: float) -> dict:
        """The ``fleet_state`` snapshot document."""
        orders = {}
        for o in self.orders.values():
            if o.state == "rejected":
                continue
            orders[o.order_id] = {
                "state": o.state, "phase": o.phase, "container_id": o.container_id, "carrier_id": o.carrier_id,
                "origin_truck_bay": o.origin_truck_bay, "origin_bay": o.origin_bay,
                "destination_station": o.dest_station, "destination_bay": o.dest_bay,
                "destination_truck_bay": o.dest_truck_bay, "priority": o.priority, "deadline": o.deadline,
                "accepted_s": o.accepted_s, "updated_s": o.updated_s, "reason": o.reason}
        wg = self.traffic.wait_graph()
        carriers = {}
        for c in self.carriers.values():
            ct = self.traffic.carriers.get(c.id)
            health = "faulted" if c.faulted else "stopped" if c.stopped else "ok" if c.located else "unlocated"
            carriers[c.id] = {
                "task": c.task, "health": health, "fault": c.fault, "order_id": c.order_id, "soc": c.soc,
                "place": ct.place if ct else None, "route_id": c.route_id,
                "goal": (c.route_doc or {}).get("goal", {}).get("id"),
                "progress_m": round(ct.progress_m, 2) if ct else 0.0,
                "authority_m": round(ct.authority_m, 2) if ct else 0.0,
                "held": [self.net.resources[r].name for r in self.traffic.held_resources(c.id)],
                "waiting_for": sorted(wg.get(c.id, set()))}
        containers = {o.container_id: o.container_at for o in self.orders.values() if not o.final and o.container_at}
        stats = {"open": sum(1 for o in self.orders.values() if not o.final), **{k: int(v) for k, v in
                                                                                self.counts.items()},
                 "reservations": len(self.traffic.table.all())}
        return {"stamp": now, "orders": orders, "carriers": carriers, "containers": containers, "stats": stats}

    def deadlocked(self) -> bool:
        """True when the carriers' waits form a cycle (never expected; for monitoring and tests)."""
        return has_cycle(self.traffic.wait_graph())

    def indefinite_holds(self) -> int:
        return sum(1 for r in self.traffic.table.all() if r.t_end == INF)

    def orders_in(self, *states: str) -> list[Order]:
        return [o for o in self.orders.values() if o.state in states]

    @property
    def final_states(self) -> tuple[str, ...]:
        return FINAL_STATES
