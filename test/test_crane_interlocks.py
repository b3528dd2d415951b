"""crane_control.interlocks: the gate every plan and twistlock command passes."""

from __future__ import annotations

import pytest

from crane_control import motion
from crane_control.interlocks import PlanContext, check_plan, unlock_refusal
from crane_control.model import G_MPS2, CraneModel, JointReading
from crane_control.motion import AxisProfile, AxisState, Plan, ruckig_move


@pytest.fixture(scope="module")
def model(small_world):
    return CraneModel.from_world(small_world, "cn_crane_1")


def over(model, bay_id, h):
    b = model.bays[bay_id]
    return {"gantry": AxisState(b.gantry_m), "trolley": AxisState(b.trolley_m), "hoist": AxisState(h)}


def test_a_blended_transfer_passes_when_the_place_bay_is_ready(model):
    pick, place = model.bays["cn_truck_11"], model.bays["cn_bay_a1"]
    plan = motion.transfer(over(model, pick.id, pick.landed_height_m), model.over(place), place.landed_height_m,
                           8.5, model.limits, 1.0)
    assert check_plan(model, plan, PlanContext(True, frozenset({place.id}))) == []
    problems = check_plan(model, plan, PlanContext(True, frozenset()))
    assert problems and all("cn_bay_a1" in p and "not ready" in p for p in problems)


def test_horizontal_motion_below_the_loaded_safe_height_is_refused(model):
    pick, place = model.bays["cn_truck_11"], model.bays["cn_bay_a1"]
    # a transfer planned for the empty safe height (6 m) carried out with a container (needs 8.5 m)
    plan = motion.transfer(over(model, pick.id, 6.0), model.over(place), 6.0, 6.0, model.limits, 1.0)
    assert check_plan(model, plan, PlanContext(False, frozenset())) == []
    problems = check_plan(model, plan, PlanContext(True, frozenset()))
    assert any("horizontal motion" in p and "loaded safe height 8.50" in p for p in problems)


def test_lowering_where_there_is_no_bay_is_refused(model):
    states = {"gantry": AxisState(60.0), "trolley": AxisState(15.0), "hoist": AxisState(6.0)}
    plan = motion.vertical(states, 3.0, model.limits, 0.0)
    assert any("no bay" in p for p in check_plan(model, plan, PlanContext(False, frozenset())))


def test_travel_and_rail_interval_are_enforced(model):
    states = over(model, "cn_truck_11", 9.0)
    too_far = motion.transfer(states, {"gantry": 95.0, "trolley": 24.0}, 9.0, 8.5, model.limits, 0.0)
    assert any("gantry leaves its travel" in p for p in check_plan(model, too_far, PlanContext(False, frozenset())))
    ok = motion.transfer(states, {"gantry": 40.0, "trolley": 7.0}, 9.0, 8.5, model.limits, 0.0)
    assert check_plan(model, ok, PlanContext(False, frozenset(), (29.0, 41.0))) == []
    assert any("rail interval" in p for p in check_plan(model, ok, PlanContext(False, frozenset(), (29.0, 35.0))))


def test_a_plan_beyond_the_velocity_limit_is_refused(model):
    fast = model.limits["trolley"].__class__(3.0, 35.0, 3.0, 0.5, 1.0)  # a drive three times faster than the crane
    traj = ruckig_move([AxisState(10.0)], [AxisState(30.0)], [fast])
    prof = AxisProfile(AxisState(10.0))
    prof.add(0.0, traj)
    plan = Plan("transfer", {"gantry": AxisProfile(AxisState(30.0)), "trolley": prof,
                             "hoist": AxisProfile(AxisState(9.0))}, 0.0)
    assert any("velocity/acceleration limit" in p for p in check_plan(model, plan, PlanContext(False, frozenset())))


def test_a_stop_may_decelerate_below_the_safe_height_but_a_descent_may_not(model):
    s = over(model, "cn_bay_a1", 5.0)
    s["hoist"] = AxisState(5.0, -0.6)
    stop = motion.stop(s, model.limits, 1.0)
    assert check_plan(model, stop, PlanContext(True, frozenset())) == []
    descent = motion.vertical(s, 4.0, model.limits, 1.0)
    assert any("not ready" in p for p in check_plan(model, descent, PlanContext(True, frozenset())))


def test_unlock_only_without_a_hanging_load(model):
    spreader = model.crane.spreader_mass_kg * G_MPS2

    def reading(load):
        return JointReading(0.0, {"gantry": 30.0, "trolley": 24.0, "hoist": 4.0}, {}, load, 1.0)

    assert unlock_refusal(model, reading(0.0)) is None  # landed, slack rope
    assert unlock_refusal(model, reading(spreader)) is None  # hangs empty after a failed lock
    refusal = unlock_refusal(model, reading(spreader + 20000 * G_MPS2))
    assert refusal is not None and "load hangs" in refusal
