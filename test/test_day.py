"""The simulated day (`yard_harness.day`, `yard-autonomy day`) and `yard-autonomy sim --record`.

Core: half a simulated hour of the small yard with the real fleet manager; the KPIs must add up
(orders, containers, crossings), the safety counters stay 0, the report files are valid and the
MCAP decodes with the documented topics on the simulated clock. CLI: the command end to end.
Graph: `sim --record` over DDS writes an MCAP with /clock and the carriers' topics.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from yard_harness.day import DAY_EPOCH_S, SimulatedDay, build_fleet_run
from yard_model import load_world
from yard_model.documents import DocumentError, validate

REPO = Path(__file__).resolve().parents[1]
YARD_AUTONOMY = str(Path(sys.executable).parent / "yard-autonomy")
HALF_HOUR_S = 1800.0


def decode(path: Path) -> list:
    from mcap_ros2.reader import read_ros2_messages

    return list(read_ros2_messages(str(path)))


@pytest.fixture(scope="module")
def small_day(tmp_path_factory):
    """Half an hour of small_yard, 3 carriers, twice the default demand, recorded and reported."""
    from yard_bringup.day_record import DayRecorder
    from yard_bringup.day_report import write_report

    out = tmp_path_factory.mktemp("day")
    world = load_world(REPO / "sim_worlds" / "small_yard.yaml")
    day = SimulatedDay(build_fleet_run(world, 3, seed=3, containers_per_day=2000.0))
    rec = DayRecorder(out / "day.mcap", day)
    progress = []
    day.run_for(HALF_HOUR_S, lambda d: progress.append((d.t, d.kpi.completed)), progress_period_s=300.0)
    rec.close()
    kpis = write_report(day.kpi, out, kpis=day.kpis())
    yield day, kpis, out
    day.close()


def test_orders_and_containers_add_up(small_day):
    day, k, _ = small_day
    o, c = k["orders"], k["containers"]
    assert k["simulated_hours"] == pytest.approx(0.5)
    assert o["accepted"] >= 3, "the scenario issues orders in half an hour at 2000 containers a day"
    assert o["completed"] >= 1
    assert o["completed"] + o["failed"] + o["cancelled"] + o["open_at_end"] == o["accepted"]
    assert o["accepted"] + o["rejected"] == o["issued"]
    assert sum(c["moved"].values()) == o["completed"]
    assert set(c["moved"]) <= {"cn_station->vn_station", "vn_station->cn_station"}
    # containers are conserved: every one a truck brought is in the yard or left on a truck at the far side
    assert c["arrived_by_truck"] == c["departed_by_truck"] + c["in_yard_at_end"]
    assert c["departed_by_truck"] <= o["completed"]
    assert c["arrived_by_truck"] == o["issued"]
    # each completed order crossed the border loaded at least once; a crane lifts twice per order
    b = k["border_crossings"]
    assert b["loaded"] >= o["completed"] and b["total"] == b["loaded"] + b["empty"]
    assert k["cranes"]["moves"] >= 2 * o["completed"]
    assert sum(k["cranes"]["per_crane"].values()) == k["cranes"]["moves"]
    assert k["lead_time_s"]["count"] == o["completed"]
    assert 0 < k["lead_time_s"]["mean"] <= k["lead_time_s"]["max"] <= HALF_HOUR_S
    assert 0 < k["carrier_utilisation"]["on_order"] <= 1 and 0 < k["carrier_utilisation"]["moving"] <= 1
    assert k["energy_kwh"]["used"] > 0


def test_gate_queue_and_carrier_bays_are_reported(small_day):
    day, k, out = small_day
    g, cb = k["gate"], k["carrier_bays"]
    scen = day.run.scenario
    # every parked delivery truck issued one order and recorded one gate wait
    assert g["truck_wait_s"]["count"] == len(scen.gate_waits_s) == k["orders"]["issued"]
    assert g["trucks_waiting_at_end"] == sum(len(q) for q in scen.gate_queue.values())
    assert set(g["per_station"]) == set(day.world.stations)
    assert g["trucks_waiting_max"] == max(s["max"] for s in g["per_station"].values())
    assert sum(s["mean"] for s in g["per_station"].values()) == pytest.approx(g["trucks_waiting_mean"], abs=2e-3)
    assert g["trucks_waiting_mean"] <= g["trucks_waiting_max"]
    # 2000 containers a day on the small yard's bays in half an hour: trucks do queue at the gate
    assert g["trucks_waiting_max"] >= 1 and g["trucks_waiting_mean"] > 0
    assert max(s.gate_queue for s in day.samples) <= g["trucks_waiting_max"] * len(day.world.stations)
    # the three bay states partition the carrier bays at every instant
    assert cb["count"] == sum(len(st.carrier_bays) for st in day.world.stations.values())
    assert cb["free_mean"] + cb["approached_mean"] + cb["occupied_mean"] == pytest.approx(cb["count"], abs=3e-3)
    assert cb["occupied_mean"] > 0 and cb["approached_mean"] > 0
    md = (out / "kpi.md").read_text()
    assert "| trucks waiting at the gate mean / max / at end |" in md


def test_bay_states_follow_the_manager(small_day):
    day, _, _ = small_day
    day.kpi.fleet_state(day.mgr.fleet_state(day.t))
    states, bays = day.kpi.bay_states(), set(day.kpi.bays)
    standing = {ct.place for ct in day.mgr.traffic.carriers.values() if ct.geometry is None and ct.place}
    assert states["occupied"] >= len(standing & bays)  # a standing carrier holds its place
    goals = {ct.geometry.goal_place for ct in day.mgr.traffic.carriers.values() if ct.geometry is not None}
    assert states["approached"] <= len(goals & bays)
    assert sum(states.values()) == len(bays)


def test_a_day_is_safe(small_day):
    _, k, _ = small_day
    assert k["safety"] == {"collisions": 0, "conflicts": 0, "deadlocks": 0, "interventions": 0,
                           "crane_limit_violations": 0}


def test_samples_cover_the_run(small_day):
    day, _, _ = small_day
    assert len(day.samples) == pytest.approx(HALF_HOUR_S / day.sample_period_s, abs=1)
    assert all(s.busy + s.charging + s.idle == 3 for s in day.samples)
    done = [s.completed for s in day.samples]
    assert done == sorted(done)


def test_report_files_are_valid(small_day):
    _, k, out = small_day
    on_disk = json.loads((out / "kpi.json").read_text())
    assert on_disk == k
    validate("day_kpis", on_disk)
    broken = json.loads(json.dumps(on_disk))
    broken["safety"]["collisions"] = -1
    with pytest.raises(DocumentError, match="collisions"):
        validate("day_kpis", broken)
    md = (out / "kpi.md").read_text()
    assert f"| orders accepted / completed / failed | {k['orders']['accepted']} / {k['orders']['completed']} / " in md
    png = (out / "day.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_recording_decodes_on_the_simulated_clock(small_day):
    day, k, out = small_day
    msgs = decode(out / "day.mcap")
    by_topic: dict[str, list] = {}
    for m in msgs:
        by_topic.setdefault(m.channel.topic, []).append(m)
    carriers = sorted(day.sim.carriers)
    expected = {"/clock", "/yard/markers", "/fleet/state", "/fleet/order_events",
                *(f"/{c}/ground_truth/odometry" for c in carriers), *(f"/{c}/battery" for c in carriers)}
    assert set(by_topic) == expected
    clock = [m.ros_msg.clock.sec + m.ros_msg.clock.nanosec * 1e-9 - DAY_EPOCH_S for m in by_topic["/clock"]]
    assert clock[0] == pytest.approx(day.sim.cfg.dt_s) and clock[-1] == pytest.approx(HALF_HOUR_S, abs=1.0)
    assert len(clock) == pytest.approx(HALF_HOUR_S, abs=2)  # 1 Hz
    odom = [m.ros_msg for m in by_topic[f"/{carriers[0]}/ground_truth/odometry"]]
    assert all(o.header.frame_id == "map" and o.child_frame_id == f"{carriers[0]}/base_link" for o in odom)
    end = day.carrier_poses()[carriers[0]]
    assert (odom[-1].pose.pose.position.x, odom[-1].pose.pose.position.y) == pytest.approx((end["x"], end["y"]),
                                                                                          abs=10.0)
    # log times are the messages' simulated stamps
    for m in by_topic["/clock"][:5]:
        assert m.log_time_ns == m.ros_msg.clock.sec * 10**9 + m.ros_msg.clock.nanosec
    events = [json.loads(m.ros_msg.data) for m in by_topic["/fleet/order_events"]]
    assert sum(e["event"] == "completed" for e in events) == k["orders"]["completed"]
    assert sum(e["event"] == "accepted" for e in events) == k["orders"]["accepted"]
    state = json.loads(by_topic["/fleet/state"][-1].ros_msg.data)
    validate("fleet_state", state)
    layout = by_topic["/yard/markers"][0].ros_msg
    assert {mk.ns for mk in layout.markers} >= {"lanes", "bays", "border"}
    moving = by_topic["/yard/markers"][-1].ros_msg
    assert sum(mk.ns == "carriers" for mk in moving.markers) == 3


def test_same_seed_same_day_and_another_seed_another_day():
    """`day` is deterministic per seed (its figures are compared with the graph's: they must be reproducible)."""
    world = load_world(REPO / "sim_worlds" / "small_yard.yaml")

    def kpis(seed: int) -> dict:
        day = SimulatedDay(build_fleet_run(world, 2, seed=seed, containers_per_day=3000.0))
        day.run_for(900.0)
        k = day.kpis()
        day.close()
        return k

    first = kpis(5)
    assert first["orders"]["accepted"] > 0
    assert kpis(5) == first
    assert kpis(6) != first


def test_bad_settings_are_refused():
    world = load_world(REPO / "sim_worlds" / "small_yard.yaml")
    with pytest.raises(ValueError, match="carriers"):
        build_fleet_run(world, 0)
    with pytest.raises(ValueError, match="containers_per_day"):
        build_fleet_run(world, 2, containers_per_day=float("nan"))


def test_cli_day_writes_every_output(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([YARD_AUTONOMY, "day", "--world", "small_yard", "--carriers", "2", "--hours", "0.25",
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    k = json.loads((out / "kpi.json").read_text())
    validate("day_kpis", k)
    assert (k["world"], k["carriers"], k["simulated_hours"]) == ("small_yard", 2, 0.25)
    assert {p.name for p in out.iterdir()} == {"kpi.json", "kpi.md", "day.png", "day.mcap"}
    (safety,) = [line for line in proc.stdout.splitlines() if "collisions / conflicts / deadlocks" in line]
    assert safety.rstrip(" │").endswith("0 / 0 / 0")
    (orders,) = [line for line in proc.stdout.splitlines() if "orders accepted / completed / failed" in line]
    o = k["orders"]
    assert orders.rstrip(" │").endswith(f"{o['accepted']} / {o['completed']} / {o['failed']}")


def test_cli_day_refuses_bad_input(tmp_path):
    proc = subprocess.run([YARD_AUTONOMY, "day", "--world", "small_yard", "--carriers", "40", "--hours", "0.1",
                           "--out", str(tmp_path / "x"), "--no-record"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "carriers must be in 1.." in " ".join(proc.stdout.split())
    proc = subprocess.run([YARD_AUTONOMY, "day", "--hours", "-1"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--hours" in proc.stderr


@pytest.mark.graph
def test_sim_record_writes_clock_and_carrier_topics(tmp_path):
    from test_graph_bringup import finish, graph_env, start_sim

    env = graph_env()
    rec = tmp_path / "sim.mcap"
    # Twice real time, not as fast as possible: the recorder finds topics as they appear, and at --rtf 0 on a
    # loaded machine the simulation had run 28 s before it subscribed to ground truth (89 messages recorded).
    proc = start_sim(tmp_path / "logs", env, "--world", "small_yard", "--carriers", "1", "--rtf", "2",
                     "--duration", "20", "--record", str(rec))
    try:
        code = proc.wait(timeout=240)
    finally:
        output = finish(proc)
    assert code == 0, output
    labels = {m["label"]: m["state"] for m in json.loads((tmp_path / "logs" / "processes.json").read_text())}
    assert labels.get("recorder") == "exited"
    msgs = decode(rec)
    topics = {m.channel.topic for m in msgs}
    assert {"/clock", "/yard/markers", "/yard/state", *(f"/carrier_01/{t}" for t in (
        "ground_truth/odometry", "odom/wheel", "imu/data", "gnss/fix", "battery"))} <= topics, sorted(topics)
    odom = [m.ros_msg for m in msgs if m.channel.topic == "/carrier_01/ground_truth/odometry"]
    assert len(odom) > 100 and all(o.header.frame_id == "map" for o in odom)
    clock = [m.ros_msg.clock.sec + m.ros_msg.clock.nanosec * 1e-9 for m in msgs if m.channel.topic == "/clock"]
    assert clock == sorted(clock) and clock[-1] - clock[0] > 5.0
    # Log times are simulated time (the recorder runs with use_sim_time), not wall time (~1.8e9 s). They are
    # receive times: a recorder starved on a loaded machine stamps a message seconds of sim time after its
    # content (6.3 s seen in CI at --rtf 0), so the check is the clock, not the lag.
    log_s = [m.log_time_ns * 1e-9 for m in msgs if m.channel.topic == "/clock"]
    assert max(log_s) < 1e6 and all(abs(t - c) < 60.0 for t, c in zip(log_s, clock))


def test_sim_record_needs_an_mcap_file_and_starts_nothing_else(capsys, tmp_path):
    from yard_bringup import cli
    from yard_bringup.graph import recorder_spec
    from yard_bringup.supervisor import node_command

    assert cli.main(["sim", "--world", "small_yard", "--record", str(tmp_path / "run.bag")]) == 1
    assert "must end in .mcap" in " ".join(capsys.readouterr().out.split())
    spec = recorder_spec(tmp_path / "run.mcap")
    cmd = node_command(spec)
    assert cmd[1:3] == ["-m", "yard_ros.recorder"] and f"output:={tmp_path / 'run.mcap'}" in cmd
    assert "use_sim_time:=true" in cmd
