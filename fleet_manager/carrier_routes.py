"""Routes and movement authorities: commit a traffic plan and publish its route, extend the authority
as grants come, handle arrival, re-plan carriers whose plans traffic control stripped.
"""

from __future__ import annotations

import logging

from yard_model.drivable import RouteError

from .fleet_core import CarrierInfo, FleetCore, Output
from .recovery import drivable_lead_in, reshaped
from .traffic import Plan

log = logging.getLogger("fleet_manager")


class CarrierRoutes(FleetCore):
    """Route and authority output of :class:`~fleet_manager.manager.FleetManager`."""

    def _route(self, c: CarrierInfo, plan: Plan, purpose: str, now: float, lead_in_from=None) -> None:
        """Commit a plan and publish its route (inside a transaction).

        ``lead_in_from``: (x, y, stretch) the plan's points were led in from (a recovery route,
        :func:`fleet_manager.recovery.lead_in`); stored so that a restart rebuilds the same geometry.
        """
        if lead_in_from is None and c.pose is not None and (c.route_path or {}).get("lead_in"):
            # re-planned while on a recovery route, maybe still beside the lane: start where it is, too
            try:
                pts, stretch = drivable_lead_in(plan.geometry.points, c.pose[0], c.pose[1], self.world.carrier_type)
                plan, lead_in_from = reshaped(plan, pts), (c.pose[0], c.pose[1], stretch)
            except RouteError:
                pass  # no room for one: the lane's own points (the follower judges)
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
        if lead_in_from is not None:
            path["lead_in"] = [float(v) for v in lead_in_from]
        c.route_id, c.route_doc, c.route_path, c.purpose = rid, doc, path, purpose
        c.route_sent_t, c.authority_sent = now, auth
        self.store.save_route(c.id, rid, doc, path, purpose, auth)
        self._save_carrier(c)
        self._persist_traffic()
        self._emit(Output("route", c.id, doc))
        self._emit(Output("authority", c.id, {"route_id": rid, "authority_m": auth, "stamp": now}))

    def _resend_route(self, c: CarrierInfo, now: float) -> None:
        """Send the current route again (lost on the way); never a restored one not yet confirmed by the
        follower, nor one the carrier refused (:mod:`fleet_manager.recovery`)."""
        if c.route_doc is None or c.reconcile or c.stale or not c.recovery.may_send(c.route_id, None):
            return
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
            elif purpose == "to_inspection" and o is not None:
                c.task, o.phase = "at_inspection", "at_inspection"
                self._save(o, now)
                self._event(o, "clearance", now, f"at inspection on {place}: waits for release")
            elif purpose == "to_charger":
                c.task = "charging"
            elif purpose == "to_park":
                c.task = "parked"
            else:
                c.task = "idle"
            c.recovery.succeeded()
            self._save_carrier(c)
            self._persist_traffic()
        log.info("%s arrived at %s (%s)", c.id, place, purpose)
        if purpose == "to_destination" and c.order_id:
            self._issue_unload(self.orders[c.order_id], now)
        self._alloc_dirty = True

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
            if c.purpose in ("to_origin", "to_destination", "to_inspection", "to_park", "to_charger"):
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
