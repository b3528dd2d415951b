"""Liveness of a carrier whose path follower restarts while its localization goes on reporting.

The fleet manager core on the small yard, fed directly: odometry keeps coming (the localization
process lives), follower status stops (its process died and the bringup restarts it). The carrier
must be treated as unavailable meanwhile — faulted, its order given back to allocation, its space
kept — and taken back, with its route sent again, when a follower reports again.
"""

from __future__ import annotations

import json

from fleet_manager.liveness import FOLLOWER_SILENT
from fleet_manager.manager import FleetManager, ManagerConfig
from fleet_manager.store import FleetStore

CARRIERS = ("carrier_01", "carrier_02")


def status(cid: str, now: float, route_id=None, state="idle") -> dict:
    return {"carrier_id": cid, "stamp": now, "state": state, "route_id": route_id, "progress_m": 0.0,
            "remaining_m": 0.0, "authority_m": None, "speed_mps": 0.0, "goal_id": None, "docking_error": None,
            "reason": ""}


def test_a_silent_follower_makes_its_carrier_unavailable_until_a_follower_reports_again(small_world):
    fm = FleetManager(small_world, FleetStore(":memory:"), ManagerConfig(CARRIERS, liveness_timeout_s=5.0), 0.0)
    spots = small_world.parking_spots()
    cid = ""  # the carrier whose follower dies: the one the order goes to
    fm.on_yard_state({"stamp": 0.0, "collisions": 0, "trucks": {}, "carriers": {},
                      "containers": {"CNXU0000017": {"holder": "truck", "holder_id": "t1", "bay": "cn_truck_11",
                                                     "x": 0, "y": 0, "z": 1.4, "yaw": 0}}}, 0.0)

    def report(t: float, follower: bool = True) -> None:
        for i, c in enumerate(CARRIERS):  # standing on their spots (the assigned one has not started yet)
            p = spots[i].pose
            fm.on_odometry(c, p.x, p.y, p.yaw, 0.0, t)
            if follower or c != cid:
                rid = fm.carriers[c].route_id if c != cid else None
                fm.on_follower_status(status(c, t, rid, "following" if rid else "idle"), t)

    fm.on_order(json.dumps({"order_id": "o1", "container_id": "CNXU0000017", "destination": {"station": "vn_station"},
                            "origin": {"station": "cn_station", "truck_bay": "cn_truck_11"}}), 0.5)
    t = 0.0
    while t < 20.0 and fm.orders["o1"].carrier_id is None:
        t += 0.5
        report(t)
        fm.tick(t)
    cid = fm.orders["o1"].carrier_id
    assert cid is not None
    assert fm.carriers[cid].route_id is not None
    # the follower dies: odometry goes on, no status
    t_dead = t
    while t < t_dead + 7.0:
        t += 0.5
        report(t, follower=False)
        fm.tick(t)
    c = fm.carriers[cid]
    assert c.faulted and c.fault.startswith(FOLLOWER_SILENT), c.fault
    assert fm.orders["o1"].carrier_id != cid  # given back to allocation (not loaded)
    assert fm.traffic.held_resources(cid)  # its space stays blocked meanwhile
    # a new follower reports (no route yet): the carrier is back and gets a route again
    fm.drain()
    t += 0.5
    report(t)
    fm.tick(t)
    assert not fm.carriers[cid].faulted
    t += fm.cfg.resend_period_s + 0.5
    report(t)
    fm.tick(t)
    routes = [o for o in fm.drain() if o.kind == "route" and o.key == cid]
    assert routes and routes[-1].doc["route_id"] == fm.carriers[cid].route_id


def test_progress_reported_far_beyond_the_authority_is_not_believed(small_world):
    """A follower stops short of its movement authority. A report hundreds of metres beyond it (the old
    route's arc length sent with the new route's id, seen in the end-to-end run) must not release the
    resources behind that point nor extend the authority: both would hand the track to others."""
    fm = FleetManager(small_world, FleetStore(":memory:"), ManagerConfig(CARRIERS), 0.0)
    fm.on_yard_state({"stamp": 0.0, "collisions": 0, "trucks": {}, "carriers": {},
                      "containers": {"CNXU0000017": {"holder": "truck", "holder_id": "t1", "bay": "cn_truck_11",
                                                     "x": 0, "y": 0, "z": 1.4, "yaw": 0}}}, 0.0)
    spots = small_world.parking_spots()

    def report(t: float, progress: dict[str, float]) -> None:
        for i, c in enumerate(CARRIERS):
            p = spots[i].pose
            fm.on_odometry(c, p.x, p.y, p.yaw, 0.0, t)
            rid = fm.carriers[c].route_id
            doc = status(c, t, rid, "following" if rid else "idle")
            doc["progress_m"] = progress.get(c, 0.0)
            fm.on_follower_status(doc, t)

    fm.on_order(json.dumps({"order_id": "o1", "container_id": "CNXU0000017", "destination": {"station": "vn_station"},
                            "origin": {"station": "cn_station", "truck_bay": "cn_truck_11"}}), 0.5)
    t = 0.0
    while t < 20.0 and fm.orders["o1"].carrier_id is None:
        t += 0.5
        report(t, {})
        fm.tick(t)
    cid = fm.orders["o1"].carrier_id
    ct = fm.traffic.carriers[cid]
    held, auth = sorted(fm.traffic.held_resources(cid)), ct.authority_m
    assert ct.geometry is not None and auth < ct.geometry.goal_m - 100.0
    report(t + 0.5, {cid: auth + 400.0})
    assert sorted(fm.traffic.held_resources(cid)) == held and ct.authority_m == auth
    assert ct.progress_m < auth
    report(t + 1.0, {cid: auth - 1.0})  # a believable report is taken
    assert ct.progress_m == auth - 1.0
