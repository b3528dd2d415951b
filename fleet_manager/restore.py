"""Restore after a restart: rebuild orders, carriers, routes, reservations and unsent messages from the
store (write-ahead: everything that must survive a crash was stored before it was published).

Restored routes keep their reservations but are not sent again: the carriers' first reports decide
whether each is still driven (``fleet_manager.recovery_flow``).
"""

from __future__ import annotations

from yard_model.lane_graph import Traversal

from .fleet_core import FleetCore, Output
from .network import RouteGeometry
from .recovery import CarrierRecovery, lead_in, reshaped_geometry
from .reservations import Reservation
from .traffic import CarrierTraffic


class Restore(FleetCore):
    """Resuming :class:`~fleet_manager.manager.FleetManager` from its store."""

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
            c.recovery = CarrierRecovery.from_doc(doc.get("recovery"))
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
            # not sent again: the carrier may have moved on, faulted or never got it. Its first report
            # says whether it drives this route (it goes on; the authority below is for it) or not (it
            # is planned again from its reported pose, fleet_manager.recovery_flow).
            c.reconcile = True
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
        geom = self.net.build_route(travs, path["start_offset"], path["end_offset"], path["start_place"],
                                    path["goal_place"], prev=prev)
        if path.get("lead_in"):  # a recovery route: the points that were sent
            x, y, stretch = path["lead_in"]
            r_min = self.world.carrier_type.min_deck_turning_radius_m
            geom = reshaped_geometry(geom, lead_in(geom.points, x, y, r_min, stretch=stretch))
        return geom
