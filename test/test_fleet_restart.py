"""Restart without loss: the fleet manager runs as a real process, is killed -9 mid-way and started again.

The fake world is ``yard_harness.fleet_sim`` (kinematic carriers that follow routes within
their movement authority, cranes that execute jobs, trucks) talking to the node over DDS
through :class:`RosWorld`: follower status, odometry, crane job events, yard state and /clock
go out; routes, authorities, crane jobs, bay status and order events come back. The node runs
on simulated time. After the kill the world keeps running (carriers stop at their authority,
cranes finish what they started, events sent meanwhile are lost) and the restarted node
resumes from its SQLite file: every order must complete exactly once, and every container
must be lifted off its truck once and put on a truck once.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleet_manager.manager import Output
from fleet_manager.network import YardNetwork
from yard_harness.fleet_sim import FleetSim, SimConfig

REPO = Path(__file__).resolve().parents[1]
CARRIERS = ["carrier_01", "carrier_02"]
WALL_LIMIT_S = 240.0  # a broken run fails instead of hanging
RTF = 25.0  # simulated seconds per wall second we aim for


class RosWorld:
    """The policy interface FleetSim drives, implemented by publishing to / listening to the real node."""

    def __init__(self, ctx, world):
        import rclpy
        from nav_msgs.msg import Odometry
        from rclpy.executors import SingleThreadedExecutor
        from rosgraph_msgs.msg import Clock
        from std_msgs.msg import String

        from yard_ros import qos

        self.String, self.Odometry, self.Clock = String, Odometry, Clock
        self.node = rclpy.create_node("fake_world", context=ctx)
        self.ex = SingleThreadedExecutor(context=ctx)
        self.ex.add_node(self.node)
        n = self.node
        self.inbox: list[Output] = []
        self.events: list[dict] = []
        # (carrier, route id, wall time the node sent it): DDS source timestamps, so that a message in flight
        # when something happened is told from one the node sent after it
        self.routes_sent: list[tuple[str, str, float]] = []
        self.events_sent: list[tuple[dict, float]] = []
        self.pub_clock = n.create_publisher(Clock, "/clock", 10)
        self.pub_orders = n.create_publisher(String, "/fleet/orders", qos.COMMAND)
        self.pub_yard = n.create_publisher(String, "/yard/state", qos.LATCHED)
        self.pub_status = {c: n.create_publisher(String, f"/{c}/follower/status", qos.SENSOR_PUB) for c in CARRIERS}
        self.pub_odom = {c: n.create_publisher(Odometry, f"/{c}/localization/odometry_throttle", qos.SENSOR_PUB)
                         for c in CARRIERS}
        self.pub_jobev = {k: n.create_publisher(String, f"/{k}/job_events", qos.EVENTS) for k in world.cranes}
        for c in CARRIERS:
            n.create_subscription(String, f"/{c}/route", lambda m, info, c=c: self._in("route", c, m, info),
                                  qos.COMMAND)
            n.create_subscription(String, f"/{c}/movement_authority", lambda m, c=c: self._in("authority", c, m),
                                  qos.COMMAND)
        for k in world.cranes:
            n.create_subscription(String, f"/{k}/jobs", lambda m, k=k: self._in("crane_job", k, m), qos.COMMAND)
        n.create_subscription(String, "/fleet/bay_status", lambda m: self._in("bay_status", "", m), qos.LATCHED)
        n.create_subscription(String, "/fleet/order_events", lambda m, info: self._in("order_event", "", m, info),
                              qos.EVENTS)

    def _in(self, kind: str, key: str, msg, info=None) -> None:
        doc = json.loads(msg.data)
        self.inbox.append(Output(kind, key, doc))
        sent = info["source_timestamp"] * 1e-9 if info is not None else math.nan
        if kind == "order_event":
            self.events.append(doc)
            self.events_sent.append((doc, sent))
        elif kind == "route":
            self.routes_sent.append((key, doc["route_id"], sent))

    def clock(self, t: float) -> None:
        from yard_ros.stamps import from_sec

        self.pub_clock.publish(self.Clock(clock=from_sec(t)))

    def spin(self, wall_s: float) -> None:
        end = time.monotonic() + wall_s
        while True:
            self.ex.spin_once(timeout_sec=0.0)
            if time.monotonic() >= end:
                return
            time.sleep(0.002)

    # --- the policy interface used by FleetSim ---
    def on_order(self, text: str, now: float) -> None:
        self.pub_orders.publish(self.String(data=text))

    def on_follower_status(self, doc: dict, now: float) -> None:
        self.pub_status[doc["carrier_id"]].publish(self.String(data=json.dumps(doc)))

    def on_odometry(self, cid: str, x: float, y: float, yaw: float, v: float, now: float) -> None:
        from yard_ros.stamps import from_sec

        m = self.Odometry()
        m.header.stamp = from_sec(now)
        m.header.frame_id = "map"
        m.child_frame_id = f"{cid}/base_link"
        m.pose.pose.position.x, m.pose.pose.position.y = x, y
        m.pose.pose.orientation.z, m.pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
        m.twist.twist.linear.x = v
        self.pub_odom[cid].publish(m)

    def on_crane_event(self, doc: dict, now: float) -> None:
        self.pub_jobev[doc["crane_id"]].publish(self.String(data=json.dumps(doc)))

    def on_yard_state(self, doc: dict, now: float) -> None:
        self.pub_yard.publish(self.String(data=json.dumps(doc)))

    def tick(self, now: float) -> None:
        pass  # the node ticks on its own timer (simulated time)

    def drain(self) -> list[Output]:
        out, self.inbox = self.inbox, []
        return out


def start_node(env, db: Path, log: Path) -> subprocess.Popen:
    args = [sys.executable, "-m", "fleet_manager.fleet_manager_node", "--ros-args",
            "--params-file", str(REPO / "config" / "fleet_manager.yaml"),
            "-p", "use_sim_time:=true", "-p", "world:=small_yard",
            "-p", f"carrier_ids:=[{','.join(CARRIERS)}]", "-p", f"db_path:={db}",
            "-p", "startup_grace_s:=5.0", "-p", "liveness_timeout_s:=10.0"]
    return subprocess.Popen(args, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait_for_node(world: RosWorld, sim: FleetSim, log: Path) -> None:
    """Until the node publishes its latched bay status, simulated time running at real time."""
    deadline = time.monotonic() + 60.0
    while not any(o.kind == "bay_status" for o in world.inbox) and time.monotonic() < deadline:
        sim.t += 0.1
        world.clock(sim.t)
        world.spin(0.1)
    assert time.monotonic() < deadline, log.read_text()[-2000:]


def stop_all(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def add_truck(sim: FleetSim, bay: str, container: str | None) -> None:
    tid = f"truck_{bay}_{container or 'empty'}"
    sim.trucks[bay] = {"id": tid, "container_id": container, "state": "parked", "leave_at": None}
    if container:
        sim.containers[container] = {"holder": "truck", "holder_id": tid, "bay": bay}


@pytest.mark.graph
def test_kill_dash_nine_mid_way_loses_nothing_and_does_nothing_twice(rclpy_context, ros_env, small_world, tmp_path):
    net = YardNetwork(small_world)
    world = RosWorld(rclpy_context, small_world)
    sim = FleetSim(small_world, net, world, CARRIERS, scenario=None,
                   config=SimConfig(crane_pick_s=12.0, crane_place_s=12.0, truck_leave_s=10.0), seed=5)
    db, log = tmp_path / "fm.sqlite", tmp_path / "fleet_manager.log"
    proc = start_node(ros_env, db, log)
    procs = [proc]
    try:
        wait_for_node(world, sim, log)
        sim.start()
        # deliveries waiting at both Chinese truck bays, empty trucks at both Vietnamese ones
        todo = [("CNXU0000017", "cn_truck_11"), ("CNXU0000022", "cn_truck_12"), ("CNXU0000038", "cn_truck_11")]
        issued: list[str] = []
        killed = False
        start = time.monotonic()
        while time.monotonic() - start < WALL_LIMIT_S:
            for bay in ("vn_truck_11", "vn_truck_12"):  # collection trucks keep coming
                if bay not in sim.trucks:
                    add_truck(sim, bay, None)
            for cid, bay in list(todo):
                if bay not in sim.trucks:
                    add_truck(sim, bay, cid)
                    sim._send_yard_state()
                    world.spin(0.2)  # the yard state first, then the order
                    oid = f"order_{cid}"
                    sim.submit({"order_id": oid, "container_id": cid, "origin": {"station": "cn_station",
                                "truck_bay": bay}, "destination": {"station": "vn_station"}})
                    issued.append(oid)
                    todo.remove((cid, bay))
            t0 = time.monotonic()
            sim.step()
            world.clock(sim.t)
            world.spin(max(0.0, sim.cfg.dt_s / RTF - (time.monotonic() - t0)))
            done = {e["order_id"] for e in world.events if e["event"] == "completed"}
            if not killed and any(e["event"] == "loaded" for e in world.events) and len(done) < 2:
                os.kill(proc.pid, signal.SIGKILL)  # mid-way: orders loaded, in transit, queued
                proc.wait(timeout=10)
                killed = True
                proc = start_node(ros_env, db, log)
                procs.append(proc)
            if not todo and set(issued) <= done:
                break
        assert killed
        completed: dict[str, set] = {}
        for e in world.events:
            if e["event"] == "completed":
                completed.setdefault(e["order_id"], set()).add(e.get("seq"))
        assert set(completed) == set(issued) and len(issued) == 3, (sorted(completed), log.read_text()[-3000:])
        assert all(len(s) == 1 for s in completed.values()), completed  # a re-sent event keeps its seq
        moves: dict[tuple[str, str], list[str]] = {}
        for crane in sim.cranes.values():
            for jid, job in crane.jobs.items():
                if crane.done.get(jid) == "done":
                    moves.setdefault((job["container_id"], jid.split(":")[1]), []).append(jid)
        assert sorted(moves) == sorted((f"CNXU00000{n}", k) for n in ("17", "22", "38")
                                       for k in ("load", "unload"))
        assert all(len(v) == 1 for v in moves.values()), moves
        assert sim.metrics.conflicts == 0 and sim.metrics.collisions == 0
    finally:
        stop_all(procs)
        world.node.destroy_node()
