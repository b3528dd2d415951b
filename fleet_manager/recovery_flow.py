"""Recovery of faulted carriers and of routes restored after a restart: the policy of
:mod:`fleet_manager.recovery` applied to the fleet's state.

* A follower fault (a refused route, off route, docking failed) is decided on once: the carrier is
  faulted (its space stays held, plans behind it are repaired, an order not yet loaded goes back to
  allocation or, after ``max_order_faults``, fails). Once it stands still it gets a recovery route
  from its reported pose, or is taken out of service; a route it refused is never sent again.
* A fault the simulator or the vehicle reports (``yard_state``) is waited out; when it clears, the
  carrier is planned from its pose like after a follower fault.
* After a restart a restored route is not sent again: the first follower report says whether the
  carrier drives it (then it goes on) or not (then the carrier is planned from its reported pose).
* An out-of-service carrier holds the lane under it (others are routed around it) until its follower
  reports anything but a fault (an operator reset it); it then stands where its pose says.
"""

from __future__ import annotations

import logging

from yard_model.drivable import RouteError, check_start

from .fleet_core import CarrierInfo, FleetCore
from .orders import Order
from .recovery import classify, drivable_lead_in, reshaped

log = logging.getLogger("fleet_manager")

RECOVERING_KINDS = ("shape", "start", "off_route", "docking", "hardware", "other")
"""Faults a recovery route answers (a silent carrier resumes its own route when it reports again)."""


class RecoveryFlow(FleetCore):
    """Carrier recovery of :class:`~fleet_manager.manager.FleetManager` (module docstring)."""

    # ------------------------------------------------------------------ inputs
    def _follower_fault(self, c: CarrierInfo, doc: dict, now: float) -> None:
        """The follower reports ``fault``: decide once per fault, never re-send the route it names."""
        rid = doc.get("route_id")
        reason = doc.get("reason") or "fault"
        c.reconcile = c.stale = False
        c.pose_wanted_after = now  # where it stopped, not where it was before the fault
        route_doc = c.route_doc if rid is not None and rid == c.route_id else (
            {"route_id": rid} if rid is not None else None)
        if not c.recovery.note_fault(str(rid), reason, route_doc, now) or c.recovery.out_of_service is not None:
            # decided already: a recovery route sent since may still be on its way
            if c.route_id is not None and c.route_id != rid and now - c.route_sent_t > self.cfg.resend_period_s:
                self._resend_route(c, now)
            return
        self._fault(c, f"follower fault: {reason}", now)

    def _hardware_cleared(self, c: CarrierInfo, now: float) -> None:
        """``yard_state`` no longer lists the fault: plan the carrier from where it stands."""
        log.info("%s: %s cleared", c.id, c.fault)
        c.recovery.note_fault(f"cleared@{now:.3f}", c.fault or "yard_state fault", None, now)
        with self._tx():
            self._save_carrier(c)

    def _reconcile(self, c: CarrierInfo, doc: dict) -> None:
        """First follower report after a restart for a carrier with a restored route."""
        c.reconcile = False
        if c.route_id is not None and doc.get("route_id") != c.route_id:
            c.stale = True
            c.pose_wanted_after = c.follower_seen
            log.warning("%s reports route %s, not the restored %s: planning it again from its pose",
                        c.id, doc.get("route_id"), c.route_id)

    def _follower_resumed(self, c: CarrierInfo, now: float) -> None:
        """An out-of-service carrier's follower reports anything but a fault: an operator reset it."""
        log.warning("%s back in service (was: %s)", c.id, c.recovery.out_of_service)
        c.recovery.back_in_service()
        c.faulted, c.fault = False, None
        self._stand_here(c, now)
        self._alloc_dirty = True

    # ------------------------------------------------------------------ periodic
    def _recover_carriers(self, now: float) -> None:
        """Faulted carriers standing still: a recovery route or out of service; stale restored routes."""
        for c in self.carriers.values():
            if c.recovery.out_of_service is not None or c.pose is None or not self._standing(c):
                continue
            if c.pose_t < c.pose_wanted_after:
                continue  # the last pose was taken before the fault or the restart: wait for a newer one
            if c.stale:
                self._route_from_pose(c, now, "after a restart the restored route was not the follower's",
                                      count=False)
            elif c.faulted and c.recovery.pending is not None and classify(c.fault or "") in RECOVERING_KINDS \
                    and not self._hardware_fault(c):
                step, why = c.recovery.next_step(now, self.cfg.recovery)
                if step == "out_of_service":
                    self._out_of_service(c, why, now)
                else:
                    self._route_from_pose(c, now, c.recovery.pending, count=True)

    def _hardware_fault(self, c: CarrierInfo) -> bool:
        """The simulator or the vehicle reports a fault now: no route can help until it clears."""
        return bool(((self.yard_state or {}).get("carriers", {}).get(c.id) or {}).get("fault"))

    def _standing(self, c: CarrierInfo) -> bool:
        v = self.cfg.recovery.standstill_mps
        return abs(c.speed) < v and abs(float((c.follower or {}).get("speed_mps", 0.0))) < v

    # ------------------------------------------------------------------ actions
    def _snap(self, c: CarrierInfo):
        """(place, lane position) of the carrier's reported pose; (None, None) off the lane network."""
        x, y, yaw = c.pose
        place = self.net.place_at(x, y, yaw, tol_m=self.net.cfg.dock_tolerance_m)
        pos = None if place is not None else self.net.locate(x, y, yaw)
        return place, pos

    def _stand_here(self, c: CarrierInfo, now: float) -> bool:
        """Hold what the carrier stands on per its reported pose, dropping its route; False off the network."""
        if c.pose is None:
            return False
        place, pos = self._snap(c)
        if place is None and pos is None:
            return False
        with self._tx():
            self.traffic.stand(c.id, now, place=place, position=pos)
            c.route_id = c.route_doc = c.route_path = None
            c.authority_sent = -1.0
            c.located = True
            self.store.clear_route(c.id)
            self._save_carrier(c)
            self._persist_traffic()
        return True

    def _recovery_goals(self, c: CarrierInfo) -> tuple[str, list[str]]:
        """Purpose and candidate goals of a carrier planned again from where it stands."""
        o = self.orders.get(c.order_id) if c.order_id else None
        occupied = self._occupied_places(c.id)
        if o is not None and o.loaded:
            if o.phase in ("at_destination", "unloading") and o.dest_bay:
                return "to_destination", [o.dest_bay]
            if o.phase in ("to_inspection", "at_inspection") and o.extra.get("inspection_spot"):
                return "to_inspection", [o.extra["inspection_spot"]]
            if o.phase == "to_destination" or c.purpose == "to_destination":
                return "to_destination", [b for b in self._unload_bays(o) if b not in occupied]
        elif o is not None and o.origin_bay:
            return "to_origin", [o.origin_bay]
        if c.purpose == "to_charger":
            return "to_charger", [s.id for s in self.world.charging_spots() if s.id not in occupied]
        return "to_park", [s.id for s in self.world.parking_spots() if s.id not in occupied]

    def _route_from_pose(self, c: CarrierInfo, now: float, why: str, count: bool) -> None:
        """Plan the carrier from its reported pose, snapped onto the lane graph, and send the route.

        The route starts with a lead-in from the pose onto the lane and is checked with the drivable
        contract (shape and start) before it goes out; one refused before is never chosen. No plan now
        (traffic): tried again next tick, until ``timeout_s``. Plans exist but none passes: out of service.
        """
        purpose, goals = self._recovery_goals(c)
        if not self._stand_here(c, now):
            x, y, _ = c.pose
            self._out_of_service(c, f"off the lane network at ({x:.1f}, {y:.1f})", now)
            return
        ct = self.traffic.carriers[c.id]
        if ct.place is not None and ct.place in goals:  # it stands on its goal: arrived
            c.purpose = purpose
            c.faulted, c.fault, c.stale = False, None, False
            c.recovery.sent()
            self._arrive(c, now)
            return
        avoid = frozenset(cell.resource for lane in c.recovery.avoid_lanes for cell in self.net.cells.get(lane, []))
        plans = self.traffic.plan(c.id, goals, now, avoid_extra=avoid) if goals else []
        x, y, yaw = c.pose
        rc = self.cfg.recovery
        refused: list[str] = []
        for plan in plans:
            try:
                pts, stretch = drivable_lead_in(plan.geometry.points, x, y, self.world.carrier_type)
                check_start(pts, x, y, yaw, rc.start_offset_m, rc.start_heading_deg)
            except RouteError as exc:
                refused.append(f"to {plan.goal}: {exc}")
                continue
            if not c.recovery.may_send(None, pts):
                refused.append(f"to {plan.goal}: the same route was refused before")
                continue
            self._send_recovery(c, reshaped(plan, pts), (x, y, stretch), purpose, why, count, now)
            return
        if refused:
            self._out_of_service(c, f"no drivable route from ({x:.1f}, {y:.1f}): {refused[0]}", now)
        else:
            log.info("%s: no recovery route to %s now; trying again", c.id, goals)

    def _send_recovery(self, c: CarrierInfo, plan, lead, purpose: str, why: str, count: bool, now: float) -> None:
        o = self.orders.get(c.order_id) if c.order_id else None
        with self._tx():
            if purpose == "to_destination" and o is not None:
                o.dest_bay = plan.goal
                self._save(o, now)
            c.task = purpose
            self._route(c, plan, purpose, now, lead_in_from=lead)
            if count:
                c.recovery.sent()
            c.faulted, c.fault, c.stale = False, None, False
            self.traffic.carriers[c.id].faulted = False
            if o is not None:
                self._event(o, "rerouted", now, f"{c.id} {why}: route {c.route_id} from where it stands to {plan.goal}")
            self._save_carrier(c)
        log.warning("%s: route %s from its pose to %s (%s; recovery %d of %d)", c.id, c.route_id, plan.goal, why,
                    c.recovery.attempts, self.cfg.recovery.max_attempts)
        self._alloc_dirty = True

    def _out_of_service(self, c: CarrierInfo, why: str, now: float) -> None:
        """Take the carrier out of service: it holds where it stands, its order is re-queued or failed."""
        log.error("%s out of service: %s", c.id, why)
        c.recovery.take_out(why)
        c.faulted, c.fault, c.stale = True, f"out of service: {why}", False
        if not self._stand_here(c, now) and c.id in self.traffic.carriers:
            self.traffic.stop(c.id, faulted=True)  # off the network: keep everything it was granted
        o = self.orders.get(c.order_id) if c.order_id else None
        failed: Order | None = None
        with self._tx():
            if o is not None and not o.loaded and not o.container_at.startswith("crane:"):
                self._requeue(o, c, f"out of service: {why}", now)
            elif o is not None and o.loaded:
                reason = f"carrier {c.id} is out of service with container {o.container_id} on it: {why}"
                o.state, o.phase, o.reason = "failed", "done", reason
                self._save(o, now)
                self._event(o, "failed", now, reason)
                c.order_id, failed = None, o
            c.route_id = c.route_doc = c.route_path = c.purpose = None
            c.task = "idle"
            self.store.clear_route(c.id)
            self._save_carrier(c)
            stripped = self.traffic._repair(set())
            self._persist_traffic()
        if failed is not None:
            self._finish(failed)
        self._replan(stripped, now)
        self._alloc_dirty = True
