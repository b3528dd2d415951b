"""crane_control against the simulator's engine (yard_sim.engine), in one process: the closed loop that counts.

The simulator checks what the controller commands (limit-violating trajectories), what the crane does
(drops, misplaced containers) and what touches (collisions, crane separation on shared rails); these
tests require every counter to stay zero while jobs complete.
"""

from __future__ import annotations

from crane_control.cycle_bounds import lower_bound_s
from yard_harness.crane_loop import SimLoop

CRANE = "cn_crane_1"
COUNTERS = ("crane_limit_violations", "containers_dropped", "containers_misplaced", "collisions",
            "trajectories_rejected", "axis_internal_errors")


def clean(loop: SimLoop) -> None:
    diag = loop.engine.diagnostics()
    assert {k: diag[k] for k in COUNTERS} == dict.fromkeys(COUNTERS, 0)
    assert all(not c.violations for c in loop.ctls.values())


def holder(loop: SimLoop, container: str) -> tuple[str, str | None]:
    return loop.engine.cargo.holder(container)


def truck_and_carrier(world, carriers=("carrier_01",)) -> SimLoop:
    loop = SimLoop(world, (CRANE,), carriers=carriers)
    loop.command({"command": "spawn_truck", "truck_id": "t1", "bay": "cn_truck_11", "container_id": "X1",
                  "depart_after_s": None})
    loop.dock_carrier(carriers[0], "cn_bay_a1")
    return loop


def test_truck_to_carrier_in_the_simulator_within_the_time_optimal_bound(youyiguan_world):
    loop = truck_and_carrier(youyiguan_world)
    loop.run(3.0)
    start = {a: v for a, v in loop.reading(CRANE).position.items()}
    loop.submit(CRANE, {"job_id": "j", "container_id": "X1", "pick": {"bay": "cn_truck_11"},
                        "place": {"bay": "cn_bay_a1"}})
    assert loop.run(200.0, until=lambda: loop.stamp(CRANE, "j", "done") is not None)
    assert loop.kinds(CRANE, "j") == ["accepted", "started", "locked", "lifted", "landed", "done"]
    assert holder(loop, "X1") == ("carrier", "carrier_01")
    cycle = loop.stamp(CRANE, "j", "done") - loop.stamp(CRANE, "j", "started")
    bound = lower_bound_s(loop.ctls[CRANE].model, start, "cn_truck_11", "cn_bay_a1")
    assert cycle <= 1.05 * bound  # the target; blending puts it below the bound
    clean(loop)


def test_carrier_to_truck_in_the_simulator(youyiguan_world):
    loop = SimLoop(youyiguan_world, (CRANE,), carriers=("carrier_01",))
    loop.command({"command": "spawn_truck", "truck_id": "t1", "bay": "cn_truck_21", "depart_after_s": None})
    loop.dock_carrier("carrier_01", "cn_bay_b1")
    loop.command({"command": "spawn_container", "container_id": "M1", "carrier_id": "carrier_01"})
    loop.submit(CRANE, {"job_id": "j", "container_id": "M1", "pick": {"bay": "cn_bay_b1"},
                        "place": {"bay": "cn_truck_21"}})
    assert loop.run(200.0, until=lambda: loop.stamp(CRANE, "j", "done") is not None)
    assert holder(loop, "M1") == ("truck", "t1")
    clean(loop)


def test_locks_that_always_fail_end_in_a_failed_job_and_a_safe_crane(youyiguan_world):
    loop = truck_and_carrier(youyiguan_world)
    loop.command({"command": "set_lock_failure", "crane_id": CRANE, "probability": 1.0})
    loop.submit(CRANE, {"job_id": "j", "container_id": "X1", "pick": {"bay": "cn_truck_11"},
                        "place": {"bay": "cn_bay_a1"}})
    assert loop.run(300.0, until=lambda: loop.stamp(CRANE, "j", "failed") is not None)
    failed = next(e for e in loop.events[CRANE] if e["event"] == "failed")
    assert "after 3 attempts" in failed["reason"]
    loop.run(20.0)
    r = loop.reading(CRANE)
    assert loop.ctls[CRANE].phase.value == "idle" and r.twistlock == 0.0
    assert r.position["hoist"] >= loop.ctls[CRANE].model.safe_height(False) - 0.05
    assert holder(loop, "X1") == ("truck", "t1")
    clean(loop)


def test_emergency_stop_mid_traverse_in_the_simulator(youyiguan_world):
    loop = truck_and_carrier(youyiguan_world)
    loop.submit(CRANE, {"job_id": "j", "container_id": "X1", "pick": {"bay": "cn_truck_11"},
                        "place": {"bay": "cn_bay_a1"}})
    assert loop.run(100.0, until=lambda: loop.stamp(CRANE, "j", "lifted") is not None)
    loop.run(10.0)
    assert abs(loop.reading(CRANE).velocity["trolley"]) > 0.3
    loop.ctls[CRANE].on_emergency_stop(True, loop.t)
    loop.run(5.0)
    r = loop.reading(CRANE)
    assert all(abs(v) < 1e-6 for v in r.velocity.values())
    assert holder(loop, "X1") == ("spreader", CRANE)
    loop.ctls[CRANE].on_emergency_stop(False, loop.t)
    assert loop.run(100.0, until=lambda: loop.stamp(CRANE, "j", "done") is not None)
    assert holder(loop, "X1") == ("carrier", "carrier_01")
    clean(loop)


def test_two_controllers_share_the_rails_in_the_simulator(youyiguan_world):
    """Both cranes work the shared truck bay at gantry 70 m: turns taken, no separation breach."""
    loop = SimLoop(youyiguan_world, ("cn_crane_1", "cn_crane_2"), carriers=("carrier_01", "carrier_02"))
    loop.command({"command": "spawn_truck", "truck_id": "t12", "bay": "cn_truck_12", "container_id": "A",
                  "depart_after_s": None})
    loop.command({"command": "spawn_truck", "truck_id": "t22", "bay": "cn_truck_22", "container_id": "B",
                  "depart_after_s": None})
    loop.dock_carrier("carrier_01", "cn_bay_a1")
    loop.dock_carrier("carrier_02", "cn_bay_a2")
    loop.submit("cn_crane_1", {"job_id": "a", "container_id": "A", "pick": {"bay": "cn_truck_12"},
                               "place": {"bay": "cn_bay_a1"}})
    loop.submit("cn_crane_2", {"job_id": "b", "container_id": "B", "pick": {"bay": "cn_truck_22"},
                               "place": {"bay": "cn_bay_a2"}})
    gaps = []
    assert loop.run(400.0, until=lambda: gaps.append(abs(loop.engine.cranes["cn_crane_1"].gantry_m -
                                                         loop.engine.cranes["cn_crane_2"].gantry_m)) or (
        loop.stamp("cn_crane_1", "a", "done") is not None and loop.stamp("cn_crane_2", "b", "done") is not None))
    assert min(gaps) >= youyiguan_world.cranes["cn_crane_1"].min_separation_m
    assert holder(loop, "A") == ("carrier", "carrier_01") and holder(loop, "B") == ("carrier", "carrier_02")
    clean(loop)


def test_message_delay_below_the_command_lead_changes_nothing(youyiguan_world):
    """Trajectories reaching the drive 0.12 s late (below command_lead_s): same job, no limit request."""
    loop = SimLoop(youyiguan_world, (CRANE,), carriers=("carrier_01",), delay_steps=12)
    loop.command({"command": "spawn_truck", "truck_id": "t1", "bay": "cn_truck_11", "container_id": "X1",
                  "depart_after_s": None})
    loop.dock_carrier("carrier_01", "cn_bay_a1")
    loop.submit(CRANE, {"job_id": "j", "container_id": "X1", "pick": {"bay": "cn_truck_11"},
                        "place": {"bay": "cn_bay_a1"}})
    assert loop.run(100.0, until=lambda: loop.stamp(CRANE, "j", "lifted") is not None)
    loop.run(8.0)  # traversing
    loop.ctls[CRANE].on_emergency_stop(True, loop.t)  # a splice into a moving plan under delay
    loop.run(5.0)
    loop.ctls[CRANE].on_emergency_stop(False, loop.t)
    assert loop.run(200.0, until=lambda: loop.stamp(CRANE, "j", "done") is not None)
    assert holder(loop, "X1") == ("carrier", "carrier_01")
    clean(loop)
