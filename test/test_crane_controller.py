"""crane_control.controller: every phase, failure path and interlock, in closed loop with a plant crane."""

from __future__ import annotations

import json

import pytest
from crane_harness import Yard, max_fraction_of_limits
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crane_control.controller import Phase
from crane_control.params import CraneControllerParams
from yard_model.documents import validate

TRUCK, CARRIER = "cn_truck_11", "cn_bay_a1"
ORDER = ["accepted", "started", "locked", "lifted", "landed", "done"]


def truck_to_carrier(world, ready_place=True, **kw) -> Yard:
    return Yard(world, "cn_crane_1", containers={TRUCK: "C1"}, vehicles={TRUCK, CARRIER},
                ready={TRUCK: True, CARRIER: ready_place}, **kw)


def progress(y: Yard, job: str) -> list[str]:
    return [k for k in y.kinds(job) if k in ORDER]


def assert_safe(y: Yard) -> None:
    assert y.plant.violations == []
    assert y.ctl.violations == []
    for e in y.events:
        validate("crane_job_event", e)
    fractions = max_fraction_of_limits(y.model, y.plans)
    assert all(v <= 1.0 + 1e-6 and a <= 1.0 + 1e-6 for v, a in fractions.values()), fractions


def test_truck_to_carrier_runs_through_every_phase(small_world):
    y = truck_to_carrier(small_world)
    y.submit("j1", "C1", TRUCK, CARRIER)
    y.run_until_event("j1", "done", 120)
    assert progress(y, "j1") == ORDER
    assert y.plant.bay_containers == {TRUCK: None, CARRIER: "C1"}
    assert y.ctl.phase == Phase.IDLE and y.plant.twistlock == 0.0
    assert y.plant.pos["hoist"] >= y.model.safe_height(False) - 0.05
    stamps = {e["event"]: e["stamp"] for e in y.events}
    # lock takes the world's twistlock time; the spreader is clear (done) soon after the unlock
    assert stamps["locked"] - stamps["started"] > 2.0
    assert stamps["done"] - stamps["landed"] < 2.0 + 2.0 + 5.0
    assert_safe(y)


def test_carrier_to_truck(small_world):
    y = Yard(small_world, "cn_crane_1", containers={CARRIER: "C2"}, vehicles={TRUCK, CARRIER},
             ready={TRUCK: True, CARRIER: True})
    y.submit("j2", "C2", CARRIER, TRUCK)
    y.run_until_event("j2", "done", 120)
    assert progress(y, "j2") == ORDER
    assert y.plant.bay_containers == {CARRIER: None, TRUCK: "C2"}
    assert_safe(y)


def test_place_not_ready_holds_the_container_at_safe_height_over_the_place_bay(small_world):
    y = truck_to_carrier(small_world, ready_place=False)
    y.submit("j1", "C1", TRUCK, CARRIER)
    hold = y.run_until_event("j1", "holding", 120)
    assert "waiting for place" in hold["reason"] and CARRIER in hold["reason"]
    y.run(20.0)
    place = y.model.bays[CARRIER]
    assert y.plant.attached == "C1"
    assert y.plant.pos["hoist"] == pytest.approx(y.model.safe_height(True), abs=0.02)
    assert y.model.horizontal_distance(y.plant.pos, place) < 0.05
    assert "landed" not in y.kinds("j1")
    y.set_ready(CARRIER, True)
    landed_at = y.t
    y.run_until_event("j1", "done", 60)
    landed = next(e for e in y.events if e["event"] == "landed")
    assert landed["stamp"] - landed_at < 12.0  # only the descent is left when the carrier docks
    assert_safe(y)


def test_pick_not_ready_prepositions_without_starting(small_world):
    y = Yard(small_world, "cn_crane_1", containers={TRUCK: "C1"}, vehicles={CARRIER}, ready={CARRIER: True})
    y.submit("j1", "C1", TRUCK, CARRIER)
    y.run(30.0)
    assert y.kinds("j1") == ["accepted"]
    assert y.ctl.phase == Phase.PREPOSITION
    assert y.model.horizontal_distance(y.plant.pos, y.model.bays[TRUCK]) < 0.05
    assert y.plant.pos["hoist"] == pytest.approx(y.model.safe_height(False), abs=0.02)
    y.set_ready(TRUCK, True, vehicle=True)
    y.run_until_event("j1", "done", 120)
    assert progress(y, "j1") == ORDER
    assert_safe(y)


def test_pick_with_an_other_container_holds_with_the_reason(small_world):
    y = Yard(small_world, "cn_crane_1", containers={TRUCK: "OTHER"}, vehicles={TRUCK, CARRIER},
             ready={TRUCK: True, CARRIER: True})
    y.submit("j1", "C1", TRUCK, CARRIER)
    y.run(30.0)
    assert "started" not in y.kinds("j1")
    assert "holds 'OTHER', not 'C1'" in y.ctl.pick_ok(y.ctl.queue[0], y.t)[1]
    assert_safe(y)


def test_a_bay_that_stops_being_ready_during_the_descent_stops_it_and_lifts_back(small_world):
    y = truck_to_carrier(small_world)
    y.submit("j1", "C1", TRUCK, CARRIER)
    y.run_until_event("j1", "lifted", 60)
    safe = y.model.safe_height(True)
    # wait until the container is on its way down over the carrier, then the carrier starts to move
    y.run(60.0, until=lambda: y.plant.pos["hoist"] < safe - 1.0 and y.plant.vel["hoist"] < -0.3)
    assert y.plant.pos["hoist"] < safe - 1.0
    y.set_ready(CARRIER, False)
    lowest = y.plant.pos["hoist"]
    for _ in range(200):
        y.tick()
        lowest = min(lowest, y.plant.pos["hoist"])
    assert lowest > y.model.bays[CARRIER].landed_height_m + 0.5  # stopped well before setting down
    assert y.plant.pos["hoist"] == pytest.approx(safe, abs=0.02)  # and lifted back to safe height
    assert any(e["event"] == "holding" for e in y.events)
    y.set_ready(CARRIER, True)
    y.run_until_event("j1", "done", 60)
    assert_safe(y)


def test_a_lock_that_jams_once_is_retried_and_the_job_completes(small_world):
    y = truck_to_carrier(small_world)
    y.plant.lock_jams = 1
    y.submit("j1", "C1", TRUCK, CARRIER)
    y.run_until_event("j1", "done", 150)
    assert progress(y, "j1") == ORDER and "failed" not in y.kinds("j1")
    assert y.ctl.lock_attempts == 1
    assert_safe(y)


def test_a_lock_that_keeps_failing_fails_the_job_and_aborts_to_a_safe_state(small_world):
    y = truck_to_carrier(small_world, params=CraneControllerParams(lock_retries=2))
    y.plant.lock_jams = 10
    y.submit("j1", "C1", TRUCK, CARRIER)
    failed = y.run_until_event("j1", "failed", 200)
    assert "did not lock on 'C1'" in failed["reason"] and "after 3 attempts" in failed["reason"]
    y.run(20.0)
    assert y.ctl.phase == Phase.IDLE
    assert y.plant.twistlock == 0.0 and y.plant.attached is None
    assert y.plant.pos["hoist"] >= y.model.safe_height(False) - 0.05
    assert y.plant.bay_containers[TRUCK] == "C1"
    assert_safe(y)


def test_a_lock_without_grip_is_caught_when_lifting_and_retried(small_world):
    y = truck_to_carrier(small_world)
    y.plant.lock_ghosts = 1  # turns to locked but does not hold the container
    y.submit("j1", "C1", TRUCK, CARRIER)
    y.run_until_event("j1", "done", 150)
    kinds = y.kinds("j1")
    assert kinds.count("locked") == 2 and kinds.count("lifted") == 1 and "failed" not in kinds
    assert y.plant.bay_containers[CARRIER] == "C1"
    assert_safe(y)


def test_emergency_stop_stops_every_axis_within_limits_and_the_job_resumes(small_world):
    y = truck_to_carrier(small_world)
    y.submit("j1", "C1", TRUCK, CARRIER)
    y.run_until_event("j1", "lifted", 60)
    y.run(12.0)  # traversing
    assert abs(y.plant.vel["trolley"]) > 0.5
    y.estop(True)
    y.tick()
    stop = y.plans[-1]
    assert stop.kind == "stop"
    y.run(stop.duration + 0.5)
    still = dict(y.plant.pos)
    y.run(10.0)
    assert y.plant.pos == pytest.approx(still)
    assert any(e["event"] == "holding" and e["reason"] == "emergency stop" for e in y.events)
    level, message, _ = y.ctl.diagnostics(y.t)
    assert level == 2 and "emergency stop" in message
    y.estop(False)
    y.run_until_event("j1", "done", 90)
    assert progress(y, "j1") == ORDER
    assert_safe(y)


def test_lost_joint_states_stop_the_crane_until_they_return(small_world):
    y = truck_to_carrier(small_world)
    y.submit("j1", "C1", TRUCK, CARRIER)
    y.run_until_event("j1", "lifted", 60)
    y.run(8.0)
    feed = y.ctl.on_joint_reading
    y.ctl.on_joint_reading = lambda r: None  # the drive's feedback link is down
    y.run(1.0)
    assert y.plans[-1].kind == "stop" and "no joint states" in y.ctl.diagnostics(y.t)[1]
    y.ctl.on_joint_reading = feed
    y.run_until_event("j1", "done", 90)
    assert_safe(y)


def test_bad_jobs_are_rejected_with_a_reason_and_nothing_breaks(small_world):
    y = truck_to_carrier(small_world)
    ev = y.ctl.submit("{not json", y.t)
    assert ev[0]["event"] == "rejected" and "not valid JSON" in ev[0]["reason"]
    ev = y.ctl.submit(json.dumps({"job_id": "x", "container_id": "C1", "pick": {"bay": TRUCK}}), y.t)
    assert ev[0]["job_id"] == "x" and "place" in ev[0]["reason"]
    assert y.submit("a", "C1", "nowhere", CARRIER)[0]["reason"].startswith("pick bay 'nowhere' does not exist")
    assert "not served" in y.submit("b", "C1", TRUCK, "cn_bay_a2")[0]["reason"]
    assert y.submit("j1", "C1", TRUCK, CARRIER)[0]["event"] == "accepted"
    assert "duplicate" in y.submit("j1", "C1", TRUCK, CARRIER)[0]["reason"]
    y.ctl.on_yard_state({"containers": {"C1": {}}})
    assert "unknown to the yard state" in y.submit("c", "C9", TRUCK, CARRIER)[0]["reason"]
    assert y.ctl.submit(json.dumps({"job_id": "zz", "container_id": "C1", "pick": {"bay": TRUCK},
                                    "place": {"bay": CARRIER}, "cancel": True}), y.t)[0]["event"] == "rejected"
    y.run_until_event("j1", "lifted", 60)
    ev = y.ctl.submit(json.dumps({"job_id": "j1", "container_id": "C1", "pick": {"bay": TRUCK},
                                  "place": {"bay": CARRIER}, "cancel": True}), y.t)
    assert ev[0]["event"] == "rejected" and ev[0]["reason"].startswith("cancel refused")
    y.run_until_event("j1", "done", 60)
    for e in y.events:
        validate("crane_job_event", e)
    assert_safe(y)


def test_a_queued_job_can_be_cancelled(small_world):
    y = truck_to_carrier(small_world)
    y.set_ready(TRUCK, False)
    y.submit("j1", "C1", TRUCK, CARRIER)
    ev = y.ctl.submit(json.dumps({"job_id": "j1", "container_id": "C1", "pick": {"bay": TRUCK},
                                  "place": {"bay": CARRIER}, "cancel": True}), y.t)
    assert ev[0]["event"] == "cancelled" and y.ctl.queue == []


def test_a_container_that_will_not_land_faults_and_refuses_new_jobs(small_world):
    y = truck_to_carrier(small_world)
    y.plant.vehicles.discard(CARRIER)  # reported ready, but nothing is there: the container would hang low
    y.submit("j1", "C1", TRUCK, CARRIER)
    failed = y.run_until_event("j1", "failed", 120)
    assert "did not land" in failed["reason"]
    y.run(15.0)
    assert y.ctl.phase == Phase.FAULT
    assert y.plant.pos["hoist"] == pytest.approx(y.model.safe_height(True), abs=0.05)  # lifted back up
    assert "in fault" in y.submit("j2", "C1", TRUCK, CARRIER)[0]["reason"]
    y.estop(True)
    y.estop(False)
    assert y.ctl.phase == Phase.FAULT  # a container still hangs: an operator must deal with it
    assert_safe(y)


def test_pre_lift_shortens_the_carrier_wait(small_world):
    """Pick from the truck while the carrier approaches: the carrier waits only for the descent."""
    y = truck_to_carrier(small_world, ready_place=False)
    y.submit("j1", "C1", TRUCK, CARRIER, expected_ready_s=60.0)
    y.run(60.0)
    assert "lifted" in y.kinds("j1")
    y.set_ready(CARRIER, True)
    docked = y.t
    y.run_until_event("j1", "landed", 60)
    landed = next(e for e in y.events if e["event"] == "landed")["stamp"]
    assert landed - docked < 12.0
    assert_safe(y)


def test_the_queue_works_through_jobs_and_blends_into_the_next(small_world):
    y = Yard(small_world, "cn_crane_1", containers={TRUCK: "C1", CARRIER: None}, vehicles={TRUCK, CARRIER},
             ready={TRUCK: True, CARRIER: True})
    y.submit("j1", "C1", TRUCK, CARRIER)
    y.submit("j2", "C1", CARRIER, TRUCK)
    y.run(5.0)
    y.set_ready(CARRIER, True)  # bay_status follows the container (j2's pick now holds C1)
    y.run_until_event("j1", "landed", 120)
    y.run(6.0)
    y.ctl.on_bay_status(y.bay_doc(), y.t)
    y.run_until_event("j2", "done", 120)
    assert progress(y, "j1") == ORDER and progress(y, "j2") == ORDER
    done1 = next(e for e in y.events if e["job_id"] == "j1" and e["event"] == "done")["stamp"]
    start2 = next(e for e in y.events if e["job_id"] == "j2" and e["event"] == "started")["stamp"]
    assert start2 <= done1  # the next job starts as the spreader leaves the container
    assert y.plant.bay_containers[TRUCK] == "C1"
    assert_safe(y)


# ----------------------------------------------------------------------------- property
JOB_BAYS = [(TRUCK, CARRIER), (CARRIER, TRUCK)]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.floats(0.0, 15.0),
                          st.sampled_from(["job", "job", "ready", "unready", "unready", "estop", "release", "cancel"]),
                          st.integers(0, 3)), min_size=6, max_size=24))
@example(script=[(9.163223152139931, "job", 0), (5.808063198074861, "unready", 0), (7.032124291632483, "job", 0),
                 (4.371190142395111, "job", 0), (1.4835876974305178, "job", 0), (12.237142037445036, "job", 0),
                 (1.1754943508222875e-38, "job", 0), (9.926042271662638, "job", 1), (13.554336332819405, "cancel", 3),
                 (7.321246585540605, "job", 2), (6.1494968261859455, "cancel", 0), (0.75, "job", 0),
                 (5.344894837947672, "cancel", 0), (14.744765938186227, "job", 1)])  # a bay went away mid-descent
def test_property_random_jobs_readiness_and_estops_never_break_an_interlock(small_world, script):
    """Whatever jobs arrive and however bays and the e-stop flip, the crane never does anything unsafe.

    One container shuttles between the truck and the carrier bay; jobs in both directions arrive at
    random (only those whose pick holds the container can start), bays stop and start being ready
    at random moments (mid-descent included) and the emergency stop is pressed and released.
    """
    y = Yard(small_world, "cn_crane_1", containers={TRUCK: "C0", CARRIER: None}, vehicles={TRUCK, CARRIER},
             ready={TRUCK: True, CARRIER: True})
    n = 0
    for wait, action, k in script:
        y.run(wait)
        if action == "job":
            pick, place = JOB_BAYS[k % 2]
            y.submit(f"j{n}", "C0", pick, place)
            n += 1
        elif action in ("ready", "unready"):
            y.set_ready([TRUCK, CARRIER][k % 2], action == "ready")
        elif action in ("estop", "release"):
            y.estop(action == "estop")
        elif action == "cancel" and n:
            y.ctl.submit(json.dumps({"job_id": f"j{k % n}", "container_id": "C0", "pick": {"bay": TRUCK},
                                     "place": {"bay": CARRIER}, "cancel": True}), y.t)
            y.events.extend(y.ctl.drain())
    y.estop(False)
    y.set_ready(TRUCK, True)
    y.set_ready(CARRIER, True)
    y.run(90.0)
    assert_safe(y)
    assert y.ctl.phase != Phase.FAULT, y.ctl.fault_reason
    # events of each job come in a legal order; the container is somewhere sensible
    for j in {e["job_id"] for e in y.events}:
        kinds = [k for k in y.kinds(j) if k in ORDER]
        assert kinds == ORDER[:len(kinds)] or kinds.count("locked") > 1, (j, y.kinds(j))
    assert y.plant.attached == "C0" or "C0" in y.plant.bay_containers.values()


# ----------------------------------------------------------------------------- shared rails
def test_two_cranes_on_shared_rails_take_turns_at_a_shared_truck_bay(youyiguan_world):
    """cn_crane_1 and cn_crane_2 both serve cn_truck_12/22 (gantry 70 m): they must never meet."""
    from crane_harness import SharedRails

    rails = SharedRails(youyiguan_world, ("cn_crane_1", "cn_crane_2"),
                        containers={"cn_truck_12": "A", "cn_truck_22": "B"},
                        vehicles={"cn_truck_12", "cn_truck_22", "cn_bay_a1", "cn_bay_a2"},
                        ready={"cn_truck_12": True, "cn_truck_22": True, "cn_bay_a1": True, "cn_bay_a2": True})
    y1, y2 = rails.yards["cn_crane_1"], rails.yards["cn_crane_2"]
    y1.submit("a", "A", "cn_truck_12", "cn_bay_a1")
    y2.submit("b", "B", "cn_truck_22", "cn_bay_a2")
    rails.run(400.0, until=lambda: "done" in y1.kinds("a") and "done" in y2.kinds("b"))
    assert "done" in y1.kinds("a") and "done" in y2.kinds("b")
    sep = youyiguan_world.cranes["cn_crane_1"].min_separation_m
    assert rails.min_gap >= sep + y1.params.rail_margin_m - 0.2  # held intervals keep separation + margin
    assert y1.plant.bay_containers["cn_bay_a1"] == "A" and y1.plant.bay_containers["cn_bay_a2"] == "B"
    for y in (y1, y2):
        assert_safe(y)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.floats(0.0, 30.0), st.integers(0, 1), st.sampled_from(["12", "22", "11", "13"])),
                min_size=1, max_size=6),
       st.integers(1, 6))
def test_property_cranes_on_shared_rails_never_come_closer_than_their_separation(youyiguan_world, jobs, delay):
    from crane_harness import SharedRails

    trucks = {"11": "cn_truck_11", "12": "cn_truck_12", "13": "cn_truck_13", "22": "cn_truck_22"}
    rails = SharedRails(youyiguan_world, ("cn_crane_1", "cn_crane_2"),
                        containers={b: f"K{k}" for k, b in trucks.items()},
                        vehicles={*trucks.values(), "cn_bay_a1", "cn_bay_a2", "cn_bay_b1", "cn_bay_b2"},
                        ready={**{b: True for b in trucks.values()}, "cn_bay_a1": True, "cn_bay_a2": True,
                               "cn_bay_b1": True, "cn_bay_b2": True}, claim_delay_ticks=delay)
    for i, (wait, crane_index, truck) in enumerate(jobs):
        rails.run(wait)
        crane = ("cn_crane_1", "cn_crane_2")[crane_index]
        y = rails.yards[crane]
        bay = trucks[truck]
        if bay not in y.model.bays:
            continue
        free = [b for b in y.model.bays if b.startswith("cn_bay") and y.plant.bay_containers.get(b) is None]
        if free:
            y.submit(f"j{i}", f"K{truck}", bay, free[i % len(free)])
    rails.run(150.0)
    sep = youyiguan_world.cranes["cn_crane_1"].min_separation_m
    assert rails.min_gap >= sep
    for y in rails.yards.values():
        assert_safe(y)
