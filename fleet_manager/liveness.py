"""Carriers and their liveness: where each carrier is, what its follower and battery report, faults,
a carrier blocked too long, an operator taking a carrier off its route.

A carrier silent for ``liveness_timeout_s`` or reporting a fault is *faulted*: traffic keeps
everything it was granted blocked, plans behind it are re-planned, its order is re-queued unless the
container is already on it (an order re-queued ``max_order_faults`` times fails with the reason). So
is a carrier whose path follower has gone silent while its localization still reports (the follower
process died and is being restarted: nothing drives the carrier, which the drive's command watchdog
has stopped). A silent carrier resumes its route when it reports again (a restarted follower gets its
route again, same ``route_id``, and drives on); a fault gets a recovery route from where the carrier
stands or takes it out of service (:mod:`fleet_manager.recovery_flow`). A follower ``blocked`` for
``blocked_timeout_s`` is treated the same way for traffic (it keeps its order).
"""

from __future__ import annotations

import logging
import math

from .fleet_core import CarrierInfo, FleetCore

BEYOND_AUTHORITY_M = 5.0  # [m] progress reported further beyond the authority given is not believed
AT_AUTHORITY_M = 1.0  # [m] a follower standing this close to its authority limit waits for it (it stops < 0.5 m short)

log = logging.getLogger("fleet_manager")

FOLLOWER_SILENT = "follower silent"  # fault reason prefix: no follower status while odometry goes on


class Liveness(FleetCore):
    """Carrier inputs, faults and recovery of :class:`~fleet_manager.manager.FleetManager`."""

    def on_yard_state(self, doc: dict, now: float) -> None:
        """``yard_state``: containers, trucks, carrier SOC and faults."""
        self.yard_state = doc
        trucks = doc.get("trucks", {})
        self._delivery_trucks = {tid for tid in self._delivery_trucks if tid in trucks} | {
            tid for tid, t in trucks.items() if t.get("container_id") is not None}
        for cid, st in doc.get("carriers", {}).items():
            c = self.carriers.get(cid)
            if c is None:
                continue
            c.soc = st["soc"]
            if st.get("fault") and not c.faulted:
                self._fault(c, f"yard_state fault: {st['fault']}", now)
            elif not st.get("fault") and c.faulted and (c.fault or "").startswith("yard_state fault") \
                    and c.recovery.pending is None:
                self._hardware_cleared(c, now)

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
        c.follower_seen = now
        self._seen(c, now)
        if c.faulted and c.fault and c.fault.startswith(FOLLOWER_SILENT):
            self._recover(c, now)
        state = doc["state"]
        if state == "fault":
            self._follower_fault(c, doc, now)
            return
        if c.recovery.out_of_service is not None:
            self._follower_resumed(c, now)
        if c.reconcile:
            self._reconcile(c, doc)
        if c.stale:
            return  # planned again from its pose once it stands (recovery_flow)
        if c.route_id is None or doc["route_id"] != c.route_id:
            if c.route_id is not None and now - c.route_sent_t > self.cfg.resend_period_s:
                self._resend_route(c, now)
            return
        if not c.located:
            c.located = True
        progress = float(doc["progress_m"])
        granted = self.traffic.carriers[c.id].authority_m if c.id in self.traffic.carriers else math.inf
        if progress > granted + BEYOND_AUTHORITY_M:
            # A follower stops short of its authority: a report far beyond it is wrong, and believing it would
            # release what the carrier still needs and grant what lies behind it to others.
            if c.distrusted_route != c.route_id:
                c.distrusted_route = c.route_id
                log.warning("%s reports %.1f m along %s, beyond the %.1f m it was given: progress not believed",
                            c.id, progress, c.route_id, granted)
            return
        if state == "blocked" and not self._at_authority(doc):
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

    def _at_authority(self, doc: dict) -> bool:
        """The follower stands at the end of the authority this manager gave it ("waiting for movement
        authority"): it waits for us, it is not obstructed. Counted as blocked, it would be stopped after
        ``blocked_timeout_s`` and a stopped carrier is granted nothing more: it would wait for ever."""
        auth = doc.get("authority_m")
        return auth is not None and float(doc["progress_m"]) >= float(auth) - AT_AUTHORITY_M

    def _check_liveness(self, now: float) -> None:
        """Fault carriers silent for ``liveness_timeout_s``; plan around those blocked for ``blocked_timeout_s``."""
        for c in self.carriers.values():
            if c.located and not c.faulted and c.last_seen is not None and \
                    now - c.last_seen > self.cfg.liveness_timeout_s:
                self._fault(c, f"silent for {now - c.last_seen:.1f} s", now)
            elif c.located and not c.faulted and c.follower_seen is not None and \
                    now - c.follower_seen > self.cfg.liveness_timeout_s:
                self._fault(c, f"{FOLLOWER_SILENT} for {now - c.follower_seen:.1f} s", now)
            if c.blocked_since is not None and not c.stopped and not c.faulted and \
                    now - c.blocked_since > self.cfg.blocked_timeout_s:
                self._stop(c, now)

    def _fault(self, c: CarrierInfo, reason: str, now: float) -> None:
        log.error("%s faulted: %s", c.id, reason)
        c.faulted, c.fault = True, reason
        if c.id not in self.traffic.carriers:
            with self._tx():
                self._save_carrier(c)
            return
        stripped = self.traffic.stop(c.id, faulted=True)
        failed = None
        with self._tx():
            o = self.orders.get(c.order_id) if c.order_id else None
            if o is not None and not o.loaded and not o.container_at.startswith("crane:"):
                faults = int(o.extra.get("carrier_faults", 0)) + 1
                o.extra["carrier_faults"] = faults
                if faults >= self.cfg.recovery.max_order_faults:  # bounded: the order fails with the reason
                    self._withdraw_load_job(o, now)
                    o.state, o.phase = "failed", "done"
                    o.reason = f"{faults} carrier faults (max {self.cfg.recovery.max_order_faults}); " \
                               f"last: {c.id} {reason}"
                    o.carrier_id, c.order_id, failed = None, None, o
                    self._save(o, now)
                    self._event(o, "failed", now, o.reason)
                else:
                    self._requeue(o, c, reason, now)
            self._save_carrier(c)
            self._persist_traffic()
        if failed is not None:
            self._finish(failed)
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
                self._requeue(o, c, "removed by an operator", now)
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
