"""Reliability scenarios: the simulated yard (``yard-autonomy sim``) under floods, hostile input, kills and faults.

Each scenario starts the whole graph as a user would (``yard-autonomy sim --world small_yard``, its own
ROS domain and log folder), plays trucks and orders into it only through documented interfaces
(``/yard/sim/commands``, ``/fleet/orders`` via :class:`yard_ros.order_client.OrderClient`), disturbs it
once, and judges it only from what the graph publishes:

* **orders**: sent, answered (any answer on ``/fleet/order_events``), completed, failed, rejected, still
  open at the end, and **lost** — sent but unanswered, or answered and then unknown to the manager
  (a query at the end says ``unknown``). Lost must be 0.
* **containers**: lost — dropped or misplaced (``/yard/events``), or gone from ``/yard/state`` without
  their order completing; duplicated — lifted off their truck or put on a truck by more than one
  crane job (``/<crane>/job_events`` ``done``). Both must be 0.
* **collisions**: the simulator's count in ``/yard/state``. Must be 0.

Deliveries run on the small yard from the Chinese truck bays (a truck with a container, leaving once the
crane took it) to the Vietnamese station (empty trucks waiting at its truck bays), crossing the border
canopy, a GNSS outage zone, on every trip. The scenarios (``SCENARIOS``) and the disruption each plays are
listed in docs/benchmarks.md ("Reliability"), with the table of the latest run; ``bench/reliability.py``
runs them, ``test/test_reliability.py`` the short form.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .supervisor import interrupt

YARD_AUTONOMY = [sys.executable, "-m", "yard_bringup.cli"]
ORIGIN_BAYS = ("cn_truck_11", "cn_truck_12")
DEST_BAYS = ("vn_truck_11", "vn_truck_12")
FINAL = ("completed", "failed", "cancelled", "rejected")


# ------------------------------------------------------------------------------------------ observation
class Observer:
    """An rclpy node of its own (context, executor thread) listening to what the graph publishes."""

    def __init__(self, cranes: list[str], carriers: list[str]):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from rosgraph_msgs.msg import Clock
        from std_msgs.msg import String

        from yard_ros import qos
        from yard_ros.spin import ExecutorThread

        self.String = String
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.node = rclpy.create_node("reliability_observer", context=self.ctx, start_parameter_services=False)
        n = self.node
        self.lock = threading.Lock()
        self.now = 0.0  # sim time [s]
        self.yard: dict | None = None
        self.fleet: dict | None = None
        self.events: list[dict] = []  # order events, seq duplicates dropped
        self.latest: dict[str, dict] = {}
        self.sim_events: list[dict] = []
        self.job_done: dict[str, set[str]] = {}  # order id + ":load"/":unload" -> job ids that reported done
        self.follower: dict[str, dict] = {}
        self._seqs: set[int] = set()
        self.pub_cmd = n.create_publisher(String, "/yard/sim/commands", qos.COMMAND)
        n.create_subscription(Clock, "/clock", self._on_clock,
                              QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT))
        n.create_subscription(String, "/yard/state", lambda m: self._set("yard", m), qos.LATCHED)
        n.create_subscription(String, "/fleet/state", lambda m: self._set("fleet", m), qos.LATCHED)
        n.create_subscription(String, "/fleet/order_events", self._on_order_event, qos.ORDER_EVENTS)
        n.create_subscription(String, "/yard/events", self._on_sim_event, qos.EVENTS)
        for k in cranes:
            n.create_subscription(String, f"/{k}/job_events", self._on_job_event, qos.EVENTS)
        for c in carriers:
            n.create_subscription(String, f"/{c}/follower/status", self._on_status, qos.SENSOR_SUB)
        self._spinner = ExecutorThread(n, SingleThreadedExecutor(context=self.ctx), "reliability_observer")

    def _on_clock(self, msg) -> None:
        self.now = msg.clock.sec + msg.clock.nanosec * 1e-9

    def _set(self, attr: str, msg) -> None:
        doc = json.loads(msg.data)
        with self.lock:
            setattr(self, attr, doc)

    def _on_order_event(self, msg) -> None:
        ev = json.loads(msg.data)
        with self.lock:
            seq = ev.get("seq")
            if isinstance(seq, int):
                if seq in self._seqs:
                    return
                self._seqs.add(seq)
            self.events.append(ev)
            if self.latest.get(ev["order_id"], {}).get("event") not in FINAL:
                self.latest[ev["order_id"]] = ev

    def _on_sim_event(self, msg) -> None:
        with self.lock:
            self.sim_events.append(json.loads(msg.data))

    def _on_job_event(self, msg) -> None:
        ev = json.loads(msg.data)
        if ev.get("event") == "done" and ev.get("job_id", "").count(":") >= 2:
            oid, kind, _ = ev["job_id"].rsplit(":", 2)
            with self.lock:
                self.job_done.setdefault(f"{oid}:{kind}", set()).add(ev["job_id"])

    def _on_status(self, msg) -> None:
        doc = json.loads(msg.data)
        with self.lock:
            self.follower[doc["carrier_id"]] = doc

    def command(self, **doc: Any) -> None:
        self.pub_cmd.publish(self.String(data=json.dumps(doc)))

    def close(self) -> None:
        import rclpy

        self._spinner.close()
        rclpy.try_shutdown(context=self.ctx)


# ------------------------------------------------------------------------------------------ the yard
class Yard:
    """``yard-autonomy sim`` as a subprocess with its log folder, its processes and an observer."""

    def __init__(self, log_dir: Path, env: dict[str, str], carriers: int, rtf: float):
        from yard_model import load_world
        from yard_model.resources import world_path

        self.world = load_world(world_path("small_yard"))
        self.log_dir = log_dir
        self.env = env
        log_dir.mkdir(parents=True, exist_ok=True)
        self.out = open(log_dir / "yard-autonomy.out", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([*YARD_AUTONOMY, "sim", "--world", "small_yard", "--carriers", str(carriers),
                                      "--rtf", str(rtf), "--domain-id", env["ROS_DOMAIN_ID"], "--log-dir",
                                      str(log_dir)], stdout=self.out, stderr=subprocess.STDOUT, env=env)
        self.carriers = [f"carrier_{i:02d}" for i in range(1, carriers + 1)]
        self.obs = Observer(sorted(self.world.cranes), self.carriers)

    def processes(self) -> dict[str, dict]:
        try:
            return {p["label"]: p for p in json.loads((self.log_dir / "processes.json").read_text())}
        except (OSError, ValueError):
            return {}

    def kill(self, label: str, sig: int = signal.SIGKILL) -> int | None:
        """Kill one process of this run's graph (by its pid in processes.json); returns the pid."""
        pid = self.processes().get(label, {}).get("pid")
        if pid:
            os.kill(pid, sig)
        return pid

    def wait_sim(self, seconds: float, wall_limit_s: float = 600.0, until: Callable[[], bool] | None = None) -> None:
        t0, end = self.obs.now, time.monotonic() + wall_limit_s
        while time.monotonic() < end and self.proc.poll() is None:
            if self.obs.now - t0 >= seconds or (until is not None and until()):
                return
            time.sleep(0.1)

    def stop(self) -> int:
        self.obs.close()
        code = interrupt(self.proc, timeout_s=60.0)
        self.out.close()
        return code


# ------------------------------------------------------------------------------------------ scenarios
@dataclass
class Outcome:
    scenario: str
    sent: int = 0
    answered: int = 0
    completed: int = 0
    failed: int = 0
    rejected: int = 0
    open: int = 0
    lost: int = 0
    containers_lost: int = 0
    containers_duplicated: int = 0
    collisions: int = 0
    sim_s: float = 0.0
    exit_code: int | None = None
    disrupted: bool = False  # the scenario's disruption was played
    killed: tuple[str, int] | None = None  # (process label, pid) a disruption killed
    restarted: bool | None = None  # ... and the bringup started it again
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.containers_lost == 0 and self.containers_duplicated == 0 and \
            self.collisions == 0 and self.answered == self.sent and self.restarted is not False and \
            self.exit_code in (0, None)


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    deliveries: int  # orders that must go end to end
    disrupt: Callable[[Yard, Outcome], bool] | None = None  # called while running; True once it has acted
    messages: Callable[[], list[Any]] | None = None  # extra messages sent at the start (floods, hostile input)
    sim_limit_s: float = 2400.0  # simulated seconds before the verdict


def _moving(y: Yard, min_progress_m: float = 15.0) -> str | None:
    """A carrier driving a route (follower 'following', this far along), or None."""
    with y.obs.lock:
        for c, st in y.obs.follower.items():
            if st.get("state") == "following" and float(st.get("progress_m", 0.0)) >= min_progress_m:
                return c
    return None


def _mid_route(act: Callable[[Yard, Outcome, str, str], None], give_up_s: float = 240.0):
    """Play ``act(yard, outcome, carrier, when)`` once on a carrier driving a route — or, if none has driven
    ``give_up_s`` simulated seconds into the run, on carrier_01 where it stands (said in the notes)."""
    state = {"t0": None, "done": False}

    def disrupt(y: Yard, out: Outcome) -> bool:
        if state["done"]:
            return True
        state["t0"] = y.obs.now if state["t0"] is None else state["t0"]
        c = _moving(y)
        if c is None and y.obs.now - state["t0"] < give_up_s:
            return False
        act(y, out, c or y.carriers[0], "mid-route" if c else "standing (no carrier was driving a route)")
        state["done"] = out.disrupted = True
        return True

    return disrupt


def _once(act: Callable[[Yard, Outcome], bool]) -> Callable[[Yard, Outcome], bool]:
    done = [False]

    def wrapped(y: Yard, out: Outcome) -> bool:
        if not done[0]:
            done[0] = out.disrupted = act(y, out)
        return done[0]

    return wrapped


def _kill_follower(y: Yard, out: Outcome, c: str, when: str) -> None:
    label = f"{c}/path_follower"
    pid = y.kill(label)
    out.killed = (label, pid)
    out.notes.append(f"kill -9 {label} (pid {pid}) at {y.obs.now:.0f} s, {when}")


def _kill_manager(y: Yard, out: Outcome) -> bool:
    with y.obs.lock:
        loaded = [o for o, e in y.obs.latest.items() if e["event"] in ("loaded", "in_transit")]
    if not loaded:
        return False
    pid = y.kill("fleet_manager")
    out.killed = ("fleet_manager", pid)
    out.notes.append(f"kill -9 fleet_manager (pid {pid}) at {y.obs.now:.0f} s with {loaded[0]} loaded")
    return True


def _breakdown(y: Yard, out: Outcome, c: str, when: str) -> None:
    y.obs.command(command="set_carrier_fault", carrier_id=c, fault="drive_fault", command_id="breakdown")
    out.notes.append(f"set_carrier_fault {c} drive_fault at {y.obs.now:.0f} s, {when}; cleared 120 s later")
    threading.Thread(target=lambda: (y.wait_sim(120.0), y.obs.command(command="clear_carrier_fault", carrier_id=c)),
                     daemon=True).start()


def _gnss_outage(y: Yard, out: Outcome, c: str, when: str) -> None:
    y.obs.command(command="force_gnss_mode", carrier_id=c, mode="none", duration_s=30.0)
    out.notes.append(f"force_gnss_mode {c} none for 30 s at {y.obs.now:.0f} s, {when} (besides the border canopy "
                     "zone every trip crosses)")


def _twistlocks(y: Yard, out: Outcome) -> bool:
    y.obs.command(command="set_lock_failure", probability=0.3)
    out.notes.append("set_lock_failure 0.3 on every crane from the start")
    return True


def _flood() -> list[Any]:
    return [{"order_id": f"flood_{i}", "container_id": f"ZZZU{i:07d}", "destination": {"station": "vn_station"},
             "origin": {"station": "cn_station", "truck_bay": ORIGIN_BAYS[i % 2]}} for i in range(2000)]


def _hostile() -> list[Any]:
    out: list[Any] = []
    for i in range(100):
        oid = f"bad_{i}"
        out += [json.dumps({"order_id": oid + "a", "pad": "x" * (1_000_000 if i < 5 else 20_000)}),
                '{"order_id": "' + oid + 'b", "x": ' + "[" * 5000 + "]" * 5000 + "}",
                '{"order_id": "' + oid + 'c", "container_id": ',  # cut off
                json.dumps({"order_id": oid + "d", "container_id": 17, "origin": [], "destination": None}),
                json.dumps({"order_id": oid + "e", "container_id": "C", "origin": {"station": "s" * 100,
                            "truck_bay": "b"}, "destination": {"station": "vn_station"}})]
    return out


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("order_flood", "2,000 orders in one burst (for containers the yard does not have) beside 2 deliveries",
             2, messages=_flood),
    Scenario("hostile_input", "500 malformed, oversized (up to 1 MB) and deeply nested (5,000 levels) messages "
             "beside 2 deliveries", 2, messages=_hostile),
    Scenario("fleet_manager_kill", "kill -9 of the fleet manager with a container loaded (the bringup restarts it)",
             2, disrupt=_once(_kill_manager)),
    Scenario("carrier_node_kill", "kill -9 of a carrier's path follower mid-route (the bringup restarts it)", 2,
             disrupt=_mid_route(_kill_follower)),
    Scenario("carrier_breakdown", "set_carrier_fault (drive_fault) on a carrier mid-route, cleared 120 s later", 2,
             disrupt=_mid_route(_breakdown)),
    Scenario("gnss_outage", "a carrier's GNSS forced to no fix for 30 s mid-route", 2,
             disrupt=_mid_route(_gnss_outage)),
    Scenario("twistlock_failures", "twistlocks lock on nothing with probability 0.3 at every crane", 2,
             disrupt=_once(_twistlocks)),
)}
SHORT = Scenario("short", "the CI form in one yard: 500 orders in a burst and 100 hostile messages, one delivery, "
                 "and kill -9 of a carrier's path follower (mid-route, or standing if no route is driven within "
                 "40 s)", 1, disrupt=_mid_route(_kill_follower, give_up_s=40.0),
                 messages=lambda: _flood()[:500] + _hostile()[:100], sim_limit_s=90.0)


def run_scenario(sc: Scenario, log_dir: Path, env: dict[str, str], carriers: int = 2, rtf: float = 2.0,
                 deliveries: int | None = None, sim_limit_s: float | None = None) -> Outcome:
    """Run one scenario on a fresh yard; see the module docstring for what is counted."""
    from yard_ros.order_client import OrderClient

    out = Outcome(sc.name)
    n = sc.deliveries if deliveries is None else deliveries
    limit = sc.sim_limit_s if sim_limit_s is None else sim_limit_s
    y = Yard(log_dir, env, carriers, rtf)
    client = OrderClient(retry_s=2.0, max_retry_s=10.0)
    try:
        if not client.wait_for_manager(120.0):
            out.notes.append("no fleet manager came up")
            return out
        y.wait_sim(5.0, wall_limit_s=120.0)
        ids: list[str] = []
        raw_ids: list[str] = []
        if sc.messages is not None:
            msgs = sc.messages()
            for m in msgs:
                if isinstance(m, str):
                    raw_ids.append(m.split('"order_id": "', 1)[1].split('"', 1)[0])
                    client.send(m)
                else:
                    ids.append(m["order_id"])
            got = client.submit([m for m in msgs if isinstance(m, dict)], timeout_s=300.0) if ids else {}
            out.notes.append(f"{len(msgs):,} extra messages: {len(got):,} orders answered by the client's wait")
        spawned: dict[str, str] = {}  # container -> order id
        t_start = y.obs.now
        issued = 0
        truck_n = 0
        deliveries_ids: list[str] = []
        while y.proc.poll() is None and y.obs.now - t_start < limit:
            with y.obs.lock:
                trucks = {t["bay"] for t in (y.obs.yard or {}).get("trucks", {}).values()}
            for bay in DEST_BAYS:  # empty trucks waiting to take containers
                if bay not in trucks and issued and len([o for o in deliveries_ids if y.obs.latest.get(o, {}).get(
                        "event") not in FINAL]) > 0:
                    truck_n += 1
                    y.obs.command(command="spawn_truck", truck_id=f"{sc.name}_e{truck_n}", bay=bay,
                                  depart_after_s=5.0)
                    trucks.add(bay)
            for bay in ORIGIN_BAYS:
                if issued < n and bay not in trucks:
                    issued += 1
                    cid, oid = f"CNXU{issued:07d}", f"{sc.name}_{issued}"
                    truck_n += 1
                    y.obs.command(command="spawn_truck", truck_id=f"{sc.name}_o{truck_n}", bay=bay, container_id=cid,
                                  depart_after_s=5.0)
                    trucks.add(bay)
                    y.wait_sim(3.0, wall_limit_s=30.0)  # in the yard state before the order names it
                    spawned[cid] = oid
                    deliveries_ids.append(oid)
                    threading.Thread(target=client.submit, args=([{
                        "order_id": oid, "container_id": cid, "origin": {"station": "cn_station", "truck_bay": bay},
                        "destination": {"station": "vn_station"}}],), kwargs={"timeout_s": 600.0},
                        daemon=True).start()
            if sc.disrupt is not None:
                sc.disrupt(y, out)
            with y.obs.lock:
                finished = all(y.obs.latest.get(o, {}).get("event") in FINAL for o in deliveries_ids)
            if issued >= n and finished:
                break
            y.wait_sim(2.0, wall_limit_s=30.0)
        out.sim_s = y.obs.now - t_start
        if sc.disrupt is not None and not out.disrupted:
            out.notes.append("the disruption was never played")
        _judge(y, client, out, ids + deliveries_ids, raw_ids, spawned)
    finally:
        client.close()
        out.exit_code = y.stop()
        if out.exit_code not in (0, None):
            out.notes.append(f"yard-autonomy sim exited {out.exit_code}")
    return out


def _judge(y: Yard, client, out: Outcome, ids: list[str], raw_ids: list[str], spawned: dict[str, str]) -> None:
    """Count what the graph said (module docstring)."""
    y.wait_sim(3.0, wall_limit_s=30.0)
    with y.obs.lock:
        latest = dict(y.obs.latest)
        yard = y.obs.yard or {}
        sim_events = list(y.obs.sim_events)
        job_done = {k: set(v) for k, v in y.obs.job_done.items()}
    out.sent = len(ids) + len(raw_ids)
    out.answered = sum(1 for i in ids + raw_ids if i in latest)
    for i in ids:
        ev = latest.get(i, {}).get("event")
        if ev == "completed":
            out.completed += 1
        elif ev == "failed":
            out.failed += 1
        elif ev == "rejected":
            out.rejected += 1
        else:
            out.open += 1
    out.rejected += sum(1 for i in raw_ids if latest.get(i, {}).get("event") == "rejected")
    for i in ids:  # lost: unanswered, or unknown to the manager now
        if i not in latest:
            out.lost += 1
        elif latest[i]["event"] not in FINAL:
            q = client.query(i, timeout_s=30.0)
            if q is None or q.get("event") == "unknown":
                out.lost += 1
    out.lost += sum(1 for i in raw_ids if i not in latest)
    dropped = {e.get("container_id") for e in sim_events if e.get("event") in ("container_dropped",
                                                                               "container_misplaced")}
    in_yard = set(yard.get("containers", {}))
    gone = {c for c, o in spawned.items() if c not in in_yard and latest.get(o, {}).get("event") != "completed"}
    out.containers_lost = len(dropped | gone)
    out.containers_duplicated = sum(1 for v in job_done.values() if len(v) > 1)
    out.collisions = int(yard.get("collisions", 0))
    if out.killed is not None:
        label, pid = out.killed
        y.wait_sim(20.0, wall_limit_s=120.0, until=lambda: y.processes().get(label, {}).get("pid") not in (pid, None)
                   and y.processes()[label].get("state") == "running")
        now = y.processes().get(label, {})
        out.restarted = now.get("pid") not in (pid, None) and now.get("state") == "running"
        out.notes.append(f"{label} {'restarted as pid ' + str(now.get('pid')) if out.restarted else 'NOT restarted'}")
