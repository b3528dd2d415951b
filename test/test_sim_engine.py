"""SimEngine: start spots, carrier commands, charging, sim commands, yard state, events, determinism."""

from __future__ import annotations

import json
import math

import pytest

from yard_model.documents import validate
from yard_sim.engine import EngineError, SimConfig, SimEngine, start_spots
from yard_sim.sensors import GnssFix
from yard_sim.trajectory import JointTrajectory, TrajectoryError, TrajectoryPoint

IDS3 = ["carrier_01", "carrier_02", "carrier_03"]


def run(engine: SimEngine, seconds: float, drive: dict[str, tuple[float, float]] | None = None) -> tuple[list, list]:
    """Step for ``seconds``, sending the given cmd_vel to carriers every step; (measurements, events)."""
    meas, events = [], []
    for _ in range(int(round(seconds / engine.dt))):
        for cid, (v, w) in (drive or {}).items():
            engine.command_carrier(cid, v, w)
        out = engine.step()
        meas += out.measurements
        events += out.events
    for ev in events:
        validate("sim_event", ev)
    return meas, events


def kinds(events: list[dict]) -> list[str]:
    return [e["event"] for e in events]


@pytest.fixture
def engine(small_world) -> SimEngine:
    return SimEngine(small_world, IDS3, SimConfig(), seed=7)


def test_carriers_start_at_parking_then_charging_spots(small_world):
    spots = start_spots(small_world)
    assert [s.kind for s in spots] == ["parking"] * 4 + ["charging"] * 2
    eng = SimEngine(small_world, [f"carrier_{i:02d}" for i in range(1, 7)])
    for (cid, carrier), spot in zip(eng.carriers.items(), spots):
        assert (carrier.state.x, carrier.state.y, carrier.state.yaw) == pytest.approx(
            (spot.pose.x, spot.pose.y, spot.pose.yaw))
        assert eng.start_spot[cid] == spot.id
    _, events = run(eng, 0.5)
    assert "collision" not in kinds(events)  # the spots are far enough apart


@pytest.mark.parametrize("ids, why", [
    ([f"c{i}" for i in range(7)], "7 carriers but world 'small_yard' has only 6"),
    (["carrier_01", "carrier_01"], "not unique"),
    (["1carrier"], "not a valid ROS name"),
    (["cn_crane_1"], "crane ids"),
])
def test_bad_carrier_lists_are_refused(small_world, ids, why):
    with pytest.raises(EngineError, match=why):
        SimEngine(small_world, ids)


def test_cmd_vel_drives_a_carrier_and_stale_commands_stop_it(engine):
    c = engine.carriers["carrier_01"]
    x0, y0 = c.state.x, c.state.y
    run(engine, 3.0, {"carrier_01": (2.0, 0.0)})
    moved = math.hypot(c.state.x - x0, c.state.y - y0)
    assert moved > 1.0 and c.state.speed_mps > 1.0
    run(engine, 3.0)  # no more commands: stale after 0.5 s, brakes to a stop
    assert c.state.speed_mps == 0.0
    assert engine.command_carrier("nobody", 1.0, 0.0) is False
    assert engine.command_carrier("carrier_01", math.nan, 0.0) is False


def test_sensors_publish_at_their_rates(engine):
    meas, _ = run(engine, 2.0)
    fixes = [m for cid, m in meas if cid == "carrier_02" and isinstance(m, GnssFix)]
    assert 18 <= len(fixes) <= 20  # 10 Hz, the first ones released after their latency
    assert {cid for cid, _ in meas} == set(IDS3)


def test_a_stopped_carrier_charges_at_a_charger(small_world):
    ids = [f"carrier_{i:02d}" for i in range(1, 6)]  # the fifth starts at cn_charger_1
    eng = SimEngine(small_world, ids)
    assert eng.start_spot["carrier_05"] == "cn_charger_1"
    for cid in ("carrier_01", "carrier_05"):
        assert eng.apply_command({"command": "set_carrier_soc", "carrier_id": cid, "soc": 0.5}).ok
    run(eng, 10.0)
    charged = eng.carriers["carrier_05"].state.soc - 0.5
    assert charged == pytest.approx(150.0 * 10.0 / 3600.0 / small_world.carrier_type.battery_capacity_kwh, rel=0.05)
    assert eng.carriers["carrier_01"].state.soc < 0.5  # idle power drains a parked one


def test_sim_commands_are_applied_and_answered(engine):
    cmds = [
        {"command": "spawn_truck", "truck_id": "T1", "bay": "cn_truck_11", "container_id": "C1", "command_id": "a"},
        {"command": "spawn_container", "container_id": "C2", "carrier_id": "carrier_01"},
        {"command": "spawn_container", "container_id": "C3", "x": 60.0, "y": 100.0, "yaw": 0.0},
        {"command": "set_carrier_fault", "carrier_id": "carrier_02", "fault": "drive_fault"},
        {"command": "force_gnss_mode", "carrier_id": "carrier_03", "mode": "single", "duration_s": 5.0},
        {"command": "set_lock_failure", "crane_id": "cn_crane_1", "probability": 0.5},
    ]
    for cmd in cmds:
        assert engine.apply_command(json.dumps(cmd)).ok, cmd
    _, events = run(engine, 0.1)
    assert kinds(events).count("command_applied") == len(cmds)
    assert events[0]["command_id"] == "a" and events[1]["event"] == "truck_arrived"
    assert engine.carriers["carrier_02"].fault == "drive_fault"
    assert engine.sensors["carrier_03"].mode == "single"
    assert engine.cranes["cn_crane_1"].config.lock_failure_probability == 0.5
    assert engine.cranes["cn_crane_2"].config.lock_failure_probability == 0.0
    state = engine.yard_state()
    validate("yard_state", state)
    assert state["containers"]["C1"]["holder"] == "truck" and state["containers"]["C1"]["bay"] == "cn_truck_11"
    assert state["containers"]["C2"]["holder"] == "carrier" and state["containers"]["C2"]["holder_id"] == "carrier_01"
    assert state["containers"]["C3"]["holder"] == "ground"
    assert state["carriers"]["carrier_02"]["fault"] == "drive_fault"
    assert state["trucks"] == {"T1": {"bay": "cn_truck_11", "container_id": "C1", "state": "parked"}}
    assert engine.apply_command({"command": "clear_carrier_fault", "carrier_id": "carrier_02"}).ok
    assert engine.carriers["carrier_02"].fault is None


@pytest.mark.parametrize("text, why", [
    ("{not json", "not valid JSON"),
    ('{"command": "launch_rocket"}', "is not one of"),
    ('{"command": "spawn_truck", "truck_id": "T9"}', "'bay' is a required property"),
    ('{"command": "spawn_truck", "truck_id": "T9", "bay": "cn_bay_a1"}', "not a truck bay"),
    ('{"command": "remove_truck", "truck_id": "ghost"}', "unknown truck 'ghost'"),
    ('{"command": "set_carrier_fault", "carrier_id": "carrier_99", "fault": "x"}', "unknown carrier 'carrier_99'"),
    ('{"command": "set_lock_failure", "crane_id": "ghost", "probability": 1}', "unknown crane 'ghost'"),
    ('{"command": "set_carrier_soc", "carrier_id": "carrier_01", "soc": 2}', "greater than the maximum"),
    ('[1, 2]', "is not of type 'object'"),
])
def test_bad_sim_commands_are_rejected_with_a_reason(engine, text, why):
    before = engine.yard_state()
    result = engine.apply_command(text)
    assert not result.ok and why in result.reason
    _, events = run(engine, 0.01)
    assert kinds(events) == ["command_rejected"] and why in events[0]["reason"]
    after = engine.yard_state()
    assert {k: v for k, v in after.items() if k not in ("stamp", "carriers")} == \
        {k: v for k, v in before.items() if k not in ("stamp", "carriers")}
    assert engine.diagnostics()["commands_rejected"] == 1


def test_yard_state_changes_are_flagged_once(engine):
    first = engine.step()
    assert first.state_changed  # the first state is always news
    assert not engine.step().state_changed
    engine.apply_command({"command": "spawn_truck", "truck_id": "T1", "bay": "cn_truck_12"})
    assert engine.step().state_changed
    assert not engine.step().state_changed


def test_a_carried_container_rides_and_two_carriers_collide_once(engine):
    engine.apply_command({"command": "spawn_container", "container_id": "C1", "carrier_id": "carrier_01"})
    # carrier_01 (cn_park_1) and carrier_02 (cn_park_2) stand nose to tail in the parking row, 16.5 m apart.
    _, events = run(engine, 12.0, {"carrier_01": (1.5, 0.0)})
    collisions = [e for e in events if e["event"] == "collision"]
    assert [e["bodies"] for e in collisions] == [["carrier:carrier_01", "carrier:carrier_02"]]
    assert collisions[0]["kind"] == "contact" and collisions[0]["count"] == 1
    assert engine.yard_state()["collisions"] == 1 == engine.diagnostics()["collisions"]
    c, s = engine.cargo.containers["C1"], engine.carriers["carrier_01"].state
    assert (c.x, c.y) == pytest.approx((s.x, s.y))
    snap = engine.snapshot()
    assert snap["carriers"]["carrier_01"]["container_id"] == "C1"
    assert snap["containers"]["C1"]["holder"] == "carrier"
    for key in ("carriers", "cranes", "containers", "trucks"):
        assert key in snap
    assert set(snap["cranes"]["cn_crane_1"]) >= {"gantry", "trolley", "hoist", "twistlock"}
    assert set(snap["containers"]["C1"]) >= {"x", "y", "z", "yaw"}


def test_cranes_on_shared_rails_too_close_is_one_collision_event(small_world):
    engine = SimEngine(small_world, IDS3, SimConfig(sensors_enabled=False))
    # homes 30 and 110, min separation 20; 15 m apart the 12.2 m spreaders still clear each other
    for crane, gantry in (("cn_crane_1", 60.0), ("cn_crane_2", 75.0)):
        engine.command_crane(crane, JointTrajectory(("gantry",), (TrajectoryPoint(0.0, (gantry,)),), engine.t))
    _, events = run(engine, 35.0)
    assert engine.cranes["cn_crane_2"].gantry_m == pytest.approx(75.0)
    seps = [e for e in events if e["event"] == "collision"]
    assert [(e["kind"], e["bodies"]) for e in seps] == [("crane_separation", ["crane:cn_crane_1", "crane:cn_crane_2"])]


def test_crane_commands_are_validated(engine):
    with pytest.raises(TrajectoryError, match="unknown joint"):
        engine.command_crane("vn_crane_1", JointTrajectory(("boom",), (TrajectoryPoint(1.0, (1.0,)),), 0.0))
    with pytest.raises(KeyError):
        engine.command_crane("nope", JointTrajectory((), (), 0.0))
    assert engine.diagnostics()["trajectories_rejected"] == 1


def test_truck_departs_on_command_not_when_its_container_is_removed(small_world):
    from yard_sim.cargo import CargoConfig

    eng = SimEngine(small_world, IDS3, SimConfig(cargo=CargoConfig(truck_depart_delay_s=2.0, truck_departure_s=1.0)))
    eng.apply_command({"command": "spawn_truck", "truck_id": "T1", "bay": "cn_truck_11", "container_id": "C1"})
    eng.apply_command({"command": "remove_container", "container_id": "C1"})  # not a load change by a crane
    _, events = run(eng, 5.0)
    assert "truck_departing" not in kinds(events)
    eng.apply_command({"command": "depart_truck", "truck_id": "T1"})
    _, events = run(eng, 2.0)
    assert kinds(events)[-2:] == ["truck_departing", "truck_departed"]
    assert eng.yard_state()["trucks"] == {}


def drive_pattern(engine: SimEngine, seconds: float) -> tuple[list, list]:
    meas, events = [], []
    for k in range(int(seconds / engine.dt)):
        engine.command_carrier("carrier_01", 2.0, 0.05 * math.sin(k * 0.01))
        engine.command_carrier("carrier_03", 1.0, -0.02)
        out = engine.step()
        meas += [(cid, m) for cid, m in out.measurements]
        events += out.events
    return meas, events


def test_same_seed_same_run_other_seed_other_noise(small_world):
    a = SimEngine(small_world, IDS3, seed=3)
    b = SimEngine(small_world, IDS3, seed=3)
    c = SimEngine(small_world, IDS3, seed=4)
    ra, rb, rc = drive_pattern(a, 3.0), drive_pattern(b, 3.0), drive_pattern(c, 3.0)
    assert ra == rb
    assert a.snapshot() == b.snapshot()
    assert ra[0] != rc[0]
    assert a.snapshot()["carriers"] == c.snapshot()["carriers"]  # truth does not depend on sensor noise


def test_a_run_without_sensors_has_the_same_truth(small_world):
    a = SimEngine(small_world, IDS3, seed=3)
    b = SimEngine(small_world, IDS3, SimConfig(sensors_enabled=False), seed=3)
    _, _ = drive_pattern(a, 2.0)
    meas, _ = drive_pattern(b, 2.0)
    assert meas == [] and a.snapshot()["carriers"] == b.snapshot()["carriers"]
    assert not b.apply_command({"command": "force_gnss_mode", "carrier_id": "carrier_01", "mode": "none"}).ok
