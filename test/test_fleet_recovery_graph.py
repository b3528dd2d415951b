"""Graph test: the fleet manager as a real process over DDS answers a follower fault and a restart (#10 item 2).

The world is the kinematic yard (``yard_harness.fleet_sim``: it refuses routes and faults as the
path follower does) talking to the node over DDS through ``RosWorld`` of test_fleet_restart, on
simulated time. A carrier driving to its origin bay is pushed off its route (the follower's
``off route`` fault): its order is re-queued with the reason and it gets a route from where it
stands, which it accepts. Then the node is killed with ``kill -9`` and started again: it sends no
stored route again, the carriers go on from where they are, and both orders complete. Nothing is
refused, nothing collides, and ``/diagnostics`` named the faulted carrier.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from test_fleet_restart import CARRIERS, RTF, RosWorld, add_truck, start_node, stop_all, wait_for_node

from fleet_manager.network import YardNetwork
from yard_harness.fleet_sim import FleetSim, SimConfig

WALL_LIMIT_S = 240.0  # a broken run fails instead of hanging


@pytest.mark.graph
def test_a_faulted_carrier_recovers_and_a_restart_sends_nothing_stale(rclpy_context, ros_env, small_world, tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray

    net = YardNetwork(small_world)
    world = RosWorld(rclpy_context, small_world)
    diags: list[tuple[str, int, str]] = []
    world.node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: diags.extend(
        (s.name, int.from_bytes(s.level, "little") if isinstance(s.level, bytes) else int(s.level), s.message)
        for s in m.status), 10)
    sim = FleetSim(small_world, net, world, CARRIERS, scenario=None,
                   config=SimConfig(crane_pick_s=12.0, crane_place_s=12.0, truck_leave_s=10.0), seed=5)
    db, log = tmp_path / "fm.sqlite", tmp_path / "fleet_manager.log"
    proc = start_node(ros_env, db, log)
    procs = [proc]
    try:
        wait_for_node(world, sim, log)
        sim.start()
        for bay, cid in (("cn_truck_11", "CNXU0000017"), ("cn_truck_12", "CNXU0000022"),
                         ("vn_truck_11", None), ("vn_truck_12", None)):
            add_truck(sim, bay, cid)
        sim._send_yard_state()
        world.spin(0.2)
        for oid, cid, bay in (("o1", "CNXU0000017", "cn_truck_11"), ("o2", "CNXU0000022", "cn_truck_12")):
            sim.submit({"order_id": oid, "container_id": cid, "origin": {"station": "cn_station", "truck_bay": bay},
                        "destination": {"station": "vn_station"}})
        victim, restarted_at, killed_wall = None, None, 0.0
        start = time.monotonic()
        while time.monotonic() - start < WALL_LIMIT_S:
            t0 = time.monotonic()
            sim.step()
            world.clock(sim.t)
            world.spin(max(0.0, sim.cfg.dt_s / RTF - (time.monotonic() - t0)))
            if victim is None:
                victim = next((c for c in sim.carriers.values() if c.route is not None and c.v > 1.0
                               and any(e["event"] == "assigned" and e["carrier_id"] == c.id for e in world.events)),
                              None)
                if victim is not None:
                    sim.leave_route(victim, 1.2)
            elif restarted_at is None and victim.route is not None and victim.v > 1.0:
                # it drives its recovery route: kill the fleet manager mid-way and start it again
                killed_wall = time.time()
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
                restarted_at = sim.t
                proc = start_node(ros_env, db, log)
                procs.append(proc)
            done = {e["order_id"] for e in world.events if e["event"] == "completed"}
            if done == {"o1", "o2"}:
                break
        text = log.read_text()
        assert victim is not None and restarted_at is not None, text[-3000:]
        assert done == {"o1", "o2"}, ([e["event"] for e in world.events], text[-3000:])
        requeued = [e for e in world.events if e["event"] == "accepted" and "re-queued" in e.get("reason", "")]
        # re-queued for the fault (a node starved of CPU may first have seen the carrier silent)
        assert any(f"re-queued: {victim.id} " in e["reason"] for e in requeued), requeued
        assert f"{victim.id} faulted: follower fault: off route: +1.20 m" in text
        # The manager re-sends a route until the carrier acknowledges it, so a copy sent before the node knew of
        # the fault (or before the kill) may still arrive after it: judge by when the node *sent* each route
        # (DDS source timestamps), not by when the world took it.
        known = min(sent for e, sent in world.events_sent if e["event"] == "accepted"
                    and f"re-queued: {victim.id} " in e.get("reason", ""))  # the node has seen the fault
        before_fault = {rid for cid, rid, sent in world.routes_sent if sent <= known}
        after_fault = [rid for cid, rid, sent in world.routes_sent if cid == victim.id and sent > known]
        assert after_fault and after_fault[0] not in before_fault, (before_fault, after_fault)  # from where it stood
        before, after = ({rid for _, rid, sent in world.routes_sent if (sent <= killed_wall) == b}
                         for b in (True, False))
        assert not before & after, before & after  # the restarted node sends no stored route again
        assert sim.metrics.routes_refused == 0  # nothing stale, nothing unchanged: every route accepted
        assert sim.metrics.collisions == 0 and sim.metrics.conflicts == 0
        assert any(name == f"fleet_manager/{victim.id}" and level == 1 and "recovering" in msg and "off route" in msg
                   for name, level, msg in diags), sorted({d[0] for d in diags})
    finally:
        stop_all(procs)
        world.node.destroy_node()
