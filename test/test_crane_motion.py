"""crane_control.motion: ruckig moves, blended transfers, jerk-limited stops."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crane_control import motion
from crane_control.model import CraneModel
from crane_control.motion import AxisState
from yard_harness.crane_baseline import sequential_transfer
from yard_model.world import AxisLimits

HOIST = AxisLimits(1.0, 18.0, 0.8, 0.5, 1.0)
TROLLEY = AxisLimits(3.0, 35.0, 1.2, 0.5, 1.0)
GANTRY = AxisLimits(10.0, 130.0, 1.5, 0.4, 0.8)
LIMITS = {"gantry": GANTRY, "trolley": TROLLEY, "hoist": HOIST}


def at_rest(g: float, t: float, h: float) -> dict[str, AxisState]:
    return {"gantry": AxisState(g), "trolley": AxisState(t), "hoist": AxisState(h)}


def samples(plan: motion.Plan, dt: float = 0.01):
    for t in np.append(np.arange(0.0, plan.duration, dt), plan.duration):
        yield float(t), plan.state(float(t))


def assert_within_limits(plan: motion.Plan) -> None:
    prev = None
    for _, s in samples(plan):
        for axis, lim in LIMITS.items():
            assert abs(s[axis].v) <= lim.max_velocity_mps * (1 + 1e-6), axis
            assert abs(s[axis].a) <= lim.max_acceleration_mps2 * (1 + 1e-6), axis
            if prev is not None:
                assert abs(s[axis].a - prev[axis].a) / 0.01 <= lim.max_jerk_mps3 * (1 + 1e-3) + 1e-6, axis
        prev = s


def test_rest_to_rest_duration_matches_the_closed_form_of_a_long_move():
    # long enough to reach v_max and a_max: T = d/v + v/a + a/j
    d = 30.0
    expected = d / 1.2 + 1.2 / 0.5 + 0.5 / 1.0
    assert motion.optimal_duration(5.0, 5.0 + d, TROLLEY) == pytest.approx(expected, rel=1e-9)
    assert motion.optimal_duration(7.0, 7.0, TROLLEY) == 0.0


def test_transfer_moves_horizontally_only_above_the_safe_height_and_beats_the_naive_sequence():
    start = at_rest(30.0, 24.0, 4.04)  # on a container on a truck
    plan = motion.transfer(start, {"gantry": 40.0, "trolley": 7.0}, 3.89, 8.5, LIMITS, 1.0)
    moving_low = [t for t, s in samples(plan) if s["hoist"].p < 8.5 - 1e-4
                  and (abs(s["gantry"].v) > 1e-6 or abs(s["trolley"].v) > 1e-6)]
    assert moving_low == []
    end = plan.state(plan.duration)
    assert (end["gantry"].p, end["trolley"].p, end["hoist"].p) == pytest.approx((40.0, 7.0, 3.89), abs=1e-6)
    assert all(abs(s.v) < 1e-9 for s in end.values())
    assert_within_limits(plan)
    naive = sequential_transfer(start, {"gantry": 40.0, "trolley": 7.0}, 3.89, 8.5, LIMITS, 1.0)
    bound = (motion.optimal_duration(4.04, 8.5, HOIST) + motion.optimal_duration(24.0, 7.0, TROLLEY)
             + motion.optimal_duration(8.5, 3.89, HOIST))
    # blending hides the hoist's braking at the safe height: faster than the sum of optimal moves
    assert plan.duration < bound < naive.duration
    # but never faster than the horizontal move plus the vertical parts that must happen below the safe height
    assert plan.duration > motion.optimal_duration(24.0, 7.0, TROLLEY) + 2 * (8.5 - 4.04) / 0.8 * 0.9


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(g0=st.floats(10, 90), t0=st.floats(3, 35), h0=st.floats(3.0, 12.0), g1=st.floats(10, 90),
       t1=st.floats(3, 35), h1=st.floats(3.0, 12.0), loaded=st.booleans())
def test_transfer_property_clearance_limits_and_target(g0, t0, h0, g1, t1, h1, loaded):
    safe = 8.5 if loaded else 6.0
    plan = motion.transfer(at_rest(g0, t0, h0), {"gantry": g1, "trolley": t1}, h1, safe, LIMITS, 0.0)
    horizontal = abs(g1 - g0) > 1e-4 or abs(t1 - t0) > 1e-4
    for _, s in samples(plan, 0.02):
        if horizontal and (abs(s["gantry"].v) > 1e-6 or abs(s["trolley"].v) > 1e-6):
            assert s["hoist"].p >= safe - 1e-4
        assert s["hoist"].p >= min(h0, h1) - 1e-4  # never dips below where it starts or lands
    end = plan.state(plan.duration)
    assert (end["gantry"].p, end["trolley"].p, end["hoist"].p) == pytest.approx((g1, t1, h1), abs=1e-6)
    assert_within_limits(plan)


@settings(max_examples=60, deadline=None)
@given(v=st.lists(st.floats(-1.0, 1.0), min_size=3, max_size=3), a=st.lists(st.floats(-1.0, 1.0), min_size=3,
                                                                          max_size=3))
def test_stop_brings_every_axis_to_rest_within_limits(v, a):
    states = {axis: AxisState(20.0, v[i] * LIMITS[axis].max_velocity_mps, a[i] * LIMITS[axis].max_acceleration_mps2)
              for i, axis in enumerate(LIMITS)}
    for axis, s in states.items():  # only states a limit-respecting drive can be in (it can stop accelerating in time)
        assume(abs(s.v + s.a * abs(s.a) / (2 * LIMITS[axis].max_jerk_mps3)) <= LIMITS[axis].max_velocity_mps)
    plan = motion.stop(states, LIMITS, 0.0)
    end = plan.state(plan.duration)
    assert all(abs(s.v) < 1e-9 and abs(s.a) < 1e-9 for s in end.values())
    assert_within_limits(plan)
    # the time-optimal stop from full speed takes about v/a + a/j, not more
    assert plan.duration <= max(lim.max_velocity_mps / lim.max_acceleration_mps2 +
                                2 * lim.max_acceleration_mps2 / lim.max_jerk_mps3 for lim in LIMITS.values()) + 1e-6


def test_transfer_from_a_moving_state_with_the_hoist_low_is_refused():
    states = {"gantry": AxisState(30.0, 0.5), "trolley": AxisState(20.0), "hoist": AxisState(4.0)}
    with pytest.raises(motion.MotionError, match="below the safe height"):
        motion.transfer(states, {"gantry": 40.0, "trolley": 20.0}, 4.0, 8.5, LIMITS, 0.0)


def test_points_carry_the_phase_boundaries_and_the_twistlock():
    plan = motion.transfer(at_rest(30.0, 24.0, 4.04), {"gantry": 40.0, "trolley": 7.0}, 3.89, 8.5, LIMITS, 1.0)
    points = plan.points(0.25)
    times = [p.t for p in points]
    assert times == sorted(times) and times[0] == 0.0 and times[-1] == pytest.approx(plan.duration)
    t_cross = plan.profiles["trolley"].pieces[0].t0  # horizontal start = hoist reaches the safe height
    assert any(abs(t - t_cross) < 1e-6 for t in times)
    crossing = next(p for p in points if abs(p.t - t_cross) < 1e-6)
    assert crossing.positions["hoist"] == pytest.approx(8.5, abs=1e-6)
    # between consecutive points the horizontal axes move only if both hoist samples are at or above 8.5 m
    for p0, p1 in zip(points, points[1:]):
        if abs(p1.positions["trolley"] - p0.positions["trolley"]) > 1e-9:
            assert min(p0.positions["hoist"], p1.positions["hoist"]) >= 8.5 - 1e-6
    assert all(p.positions["twistlock"] == 1.0 for p in points)


def test_every_jerk_switch_is_a_point_and_samples_keep_clear_of_them():
    """A regular sample within 1 ms of a jerk switch is left out, never the switch: a drive's quintic spanning
    a switch 0.4 ms in asked for 1.003 of the jerk limit and the drive fell behind (issue #10 graph test)."""
    switches = [0.0, 0.0504, 0.05040000002, 0.3, 0.3004, 1.0]  # two of them one switch apart by rounding
    times = motion.with_samples(switches, [0.05, 0.1, 0.2, 0.2995, 0.301, 0.5])
    assert times == [0.0, 0.0504, 0.1, 0.2, 0.3, 0.3004, 0.5, 1.0]
    plan = motion.transfer(at_rest(30.0, 24.0, 4.04), {"gantry": 40.0, "trolley": 7.0}, 3.89, 8.5, LIMITS, 1.0)
    times = [p.t for p in plan.points(0.1)]
    for b in plan.breakpoints_abs():
        assert min(abs(b - t) for t in times) <= motion.SAME_TIME_S
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) > motion.SAME_TIME_S


def test_model_load_thresholds_follow_the_architecture(small_world):
    from crane_control.model import G_MPS2, JointReading

    m = CraneModel.from_world(small_world, "cn_crane_1")
    spreader = 10000.0 * G_MPS2

    def reading(load, tl=1.0):
        return JointReading(0.0, {"gantry": 30.0, "trolley": 20.0, "hoist": 6.0}, {}, load, tl)

    assert m.is_landed(reading(0.4 * spreader)) and not m.is_landed(reading(0.6 * spreader))
    assert m.is_hanging(reading(spreader + 0.6 * 3750 * G_MPS2))
    assert not m.is_hanging(reading(spreader + 0.4 * 3750 * G_MPS2))
    assert not m.is_hanging(reading(spreader + 20000 * G_MPS2, tl=0.5))
    bay = m.bays["cn_truck_11"]
    assert bay.landed_height_m == pytest.approx(1.45 + 2.591)
    assert m.bay_under({"gantry": bay.gantry_m + 0.05, "trolley": bay.trolley_m}, 0.1) == bay
    assert m.bay_under({"gantry": bay.gantry_m + 1.0, "trolley": bay.trolley_m}, 0.1) is None
    assert math.isclose(m.safe_height(True), 8.5) and math.isclose(m.safe_height(False), 6.0)
    with pytest.raises(KeyError, match="not in world"):
        CraneModel.from_world(small_world, "no_such_crane")
