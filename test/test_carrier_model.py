"""Carrier kinematics: limits, accuracy against the analytic circle, safety layer, battery."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yard_model.world import Pose2D
from yard_sim.carrier_model import FAULT_BATTERY_EMPTY, STANDSTILL_SPEED_MPS, CarrierModel

EPS = 1e-9


@pytest.fixture(scope="module")
def ct(small_world):
    return small_world.carrier_type


def drive(model: CarrierModel, t: float, duration_s: float, dt: float, v: float | None = None,
          w: float = 0.0, on_step=None) -> float:
    """Step the model for duration_s, sending (v, w) every step unless v is None (no commands)."""
    for _ in range(int(round(duration_s / dt))):
        if v is not None:
            model.command(t, v, w)
        t += dt
        before = (model.state.speed_mps, model.state.steer_rad)
        model.step(t, dt)
        if on_step is not None:
            on_step(before, model.state, dt)
    return t


# ------------------------------------------------------------------ limits
command_segment = st.tuples(
    st.floats(0.1, 2.5),  # duration [s]
    st.floats(-4.0, 12.0),  # commanded speed [m/s], beyond both limits
    st.floats(-1.5, 1.5),  # commanded yaw rate [rad/s]
    st.booleans(),  # send commands (False = a silence that goes stale)
)


@settings(max_examples=40, deadline=None)
@given(segments=st.lists(command_segment, min_size=1, max_size=5), dt=st.sampled_from([0.005, 0.01, 0.05]))
def test_limits_never_exceeded_for_random_command_sequences(ct, segments, dt):
    model = CarrierModel(ct, Pose2D(0.0, 0.0, 0.3))
    max_steer = math.atan(ct.wheelbase_m / ct.min_turning_radius_m)

    def check(before, s, dt):
        v0, d0 = before
        assert -ct.max_reverse_speed_mps - EPS <= s.speed_mps <= ct.max_speed_mps + EPS
        speeding_up = v0 == 0.0 or (s.speed_mps - v0) * v0 > 0.0
        limit = ct.max_acceleration_mps2 if speeding_up else ct.max_deceleration_mps2
        assert abs(s.accel_mps2) <= limit + 1e-6
        assert abs(s.steer_rad) <= max_steer + EPS
        assert abs(s.steer_rad - d0) <= ct.max_steering_rate_radps * dt + EPS
        # turning radius of the rear axle >= min: |w| <= |v| / R_min
        assert abs(s.yaw_rate_radps) <= abs(s.speed_mps) / ct.min_turning_radius_m + 1e-9

    t = 0.0
    for duration, v, w, send in segments:
        t = drive(model, t, duration, dt, v if send else None, w, check)


# ---------------------------------------------------------------- accuracy
def test_straight_line_keeps_heading_and_reaches_commanded_speed(ct):
    model = CarrierModel(ct, Pose2D(10.0, -5.0, math.pi / 2))
    t = drive(model, 0.0, 20.0, 0.01, 5.0)
    y0 = model.state.y
    drive(model, t, 10.0, 0.01, 5.0)
    s = model.state
    assert s.speed_mps == pytest.approx(5.0, abs=1e-9)
    assert s.x == pytest.approx(10.0, abs=1e-9)
    assert s.yaw == pytest.approx(math.pi / 2, abs=1e-12)
    assert s.y - y0 == pytest.approx(50.0, abs=1e-6)
    assert s.odometer_m == pytest.approx(s.y + 5.0, abs=1e-9)


@pytest.mark.parametrize("dt", [0.001, 0.01, 0.05])
def test_constant_turn_follows_the_analytic_circle(ct, dt):
    """Rear axle on a circle of radius R = v / w; the deck centre on radius sqrt(R^2 + (L/2)^2)."""
    v, radius = 3.0, 20.0
    model = CarrierModel(ct, Pose2D(0.0, 0.0, 0.0))
    t = drive(model, 0.0, 8.0, dt, v, v / radius)  # actuators settle
    half_l = ct.wheelbase_m / 2.0

    def centre():
        rx, ry = model.rear_axle()
        yaw = model.state.yaw
        return rx - radius * math.sin(yaw), ry + radius * math.cos(yaw)

    c0, yaw0 = centre(), model.state.yaw
    period = 2.0 * math.pi * radius / v
    samples = []
    drive(model, t, period / 2.0, dt, v, v / radius,
          on_step=lambda before, s, dt: samples.append((centre(), math.hypot(s.x - c0[0], s.y - c0[1]))))
    for c, r_deck in samples:
        assert math.dist(c, c0) < 1e-6
        assert r_deck == pytest.approx(math.hypot(radius, half_l), abs=1e-6)
    s = model.state
    assert s.yaw_rate_radps == pytest.approx(v / radius, rel=1e-9)
    assert s.lateral_speed_mps == pytest.approx(v / radius * half_l, rel=1e-9)
    n = int(round(period / 2.0 / dt))
    assert math.remainder(s.yaw - yaw0 - v / radius * n * dt, 2 * math.pi) == pytest.approx(0.0, abs=1e-6)


def test_integration_is_consistent_from_1_to_50_ms(ct):
    """A manoeuvre with lags and limits ends at the same pose for every step size (within cm)."""
    poses = []
    for dt in (0.001, 0.01, 0.05):
        model = CarrierModel(ct, Pose2D(0.0, 0.0, 0.0))
        t = drive(model, 0.0, 6.0, dt, 6.0, 0.0)
        t = drive(model, t, 6.0, dt, 4.0, 0.25)
        t = drive(model, t, 4.0, dt, -1.0, -0.05)
        poses.append((model.state.x, model.state.y, model.state.yaw))
    ref = poses[0]
    for p in poses[1:]:
        assert math.dist(p[:2], ref[:2]) < 0.05
        assert abs(math.remainder(p[2] - ref[2], 2 * math.pi)) < 0.005


def test_reverse_turn_has_the_commanded_yaw_rate_sign(ct):
    model = CarrierModel(ct, Pose2D(0.0, 0.0, 0.0))
    drive(model, 0.0, 6.0, 0.01, -1.0, 0.05)
    assert model.state.speed_mps == pytest.approx(-1.0, abs=1e-6)
    assert model.state.yaw_rate_radps == pytest.approx(0.05, rel=1e-6)
    assert model.state.x < -3.0


def test_standstill_yaw_rate_pre_steers_without_moving(ct):
    model = CarrierModel(ct, Pose2D(0.0, 0.0, 0.0))
    t = drive(model, 0.0, 5.0, 0.01, 0.0, 0.2)
    s = model.state
    assert s.steer_rad == pytest.approx(ct.max_steering_angle_rad)
    assert (s.x, s.y, s.yaw, s.speed_mps) == (0.0, 0.0, 0.0, 0.0)
    drive(model, t, 2.0, 0.01, 0.0, 0.0)  # no yaw-rate request at standstill: wheels stay put
    assert model.state.steer_rad == pytest.approx(ct.max_steering_angle_rad)
    assert model.target_steer_rad(STANDSTILL_SPEED_MPS / 2, -0.2, 0.0) == pytest.approx(-ct.max_steering_angle_rad)


# ------------------------------------------------------------ safety layer
def test_never_commanded_carrier_stays_put(ct):
    model = CarrierModel(ct, Pose2D(1.0, 2.0, 0.5))
    assert model.stale
    drive(model, 0.0, 3.0, 0.01)
    assert (model.state.x, model.state.y, model.state.speed_mps) == (1.0, 2.0, 0.0)


@pytest.mark.parametrize("dt", [0.001, 0.01, 0.05])
def test_stale_commands_brake_to_a_stop_within_the_braking_distance(ct, dt):
    model = CarrierModel(ct, Pose2D(0.0, 0.0, 0.0), stale_timeout_s=0.5)
    t = drive(model, 0.0, 20.0, dt, ct.max_speed_mps, 0.0)
    last_cmd_t = t - dt
    v0 = model.state.speed_mps
    assert v0 == pytest.approx(ct.max_speed_mps, abs=1e-6)
    # Still driving at full speed until the command is more than 0.5 s old.
    for _ in range(int(1.0 / dt)):
        x_stale = model.state.x
        t = drive(model, t, dt, dt)
        if model.stale:
            break
        assert model.state.speed_mps == pytest.approx(v0)
    assert t - last_cmd_t == pytest.approx(0.5, abs=dt + 1e-9)
    stop_t = t
    for _ in range(int(20.0 / dt)):
        if model.state.speed_mps == 0.0:
            break
        t = drive(model, t, dt, dt)
        stop_t = t
    assert model.state.speed_mps == 0.0
    braking = v0 ** 2 / (2.0 * ct.max_deceleration_mps2)
    assert model.state.x - x_stale <= braking + 2 * v0 * dt + 1e-9
    assert stop_t - (last_cmd_t + 0.5) <= v0 / ct.max_deceleration_mps2 + 2 * dt
    x_stop = model.state.x
    drive(model, t, 5.0, dt)  # and holds
    assert model.state.x == x_stop and model.state.speed_mps == 0.0


def test_non_finite_commands_are_rejected_and_counted(ct):
    model = CarrierModel(ct, Pose2D(0.0, 0.0, 0.0))
    assert model.command(0.0, 2.0, 0.0)
    for bad in ((math.nan, 0.0), (math.inf, 0.0), (1.0, -math.inf), (1.0, math.nan)):
        assert model.command(0.1, *bad) is False
    assert model.command(math.nan, 1.0, 0.0) is False
    assert model.rejected_commands == 5
    assert (model.cmd_v_mps, model.cmd_yaw_rate_radps, model.cmd_t) == (2.0, 0.0, 0.0)
    model.step(0.01, 0.01)
    assert all(math.isfinite(v) for v in (model.state.x, model.state.speed_mps, model.state.steer_rad))


def test_drive_fault_brakes_hard_and_ignores_commands_until_cleared(ct):
    model = CarrierModel(ct, Pose2D(0.0, 0.0, 0.0))
    t = drive(model, 0.0, 15.0, 0.01, 5.0)
    model.set_fault("drive_fault")
    decels = []
    t = drive(model, t, 3.0, 0.01, 5.0, on_step=lambda b, s, dt: decels.append(s.accel_mps2))
    assert model.state.speed_mps == 0.0
    assert min(decels) == pytest.approx(-ct.emergency_deceleration_mps2)
    assert model.ignored_commands == 300
    model.set_fault(None)
    t = drive(model, t, 1.0, 0.01)  # cleared, but the old command is gone
    assert model.state.speed_mps == 0.0
    drive(model, t, 2.0, 0.01, 5.0)
    assert model.state.speed_mps > 1.0


# ----------------------------------------------------------------- battery
def test_battery_drains_with_distance_and_idle_power(ct):
    model = CarrierModel(ct, Pose2D(0.0, 0.0, 0.0), soc=0.8)
    drive(model, 0.0, 200.0, 0.01, 6.0)
    used_kwh = ct.energy_use_kwh_per_km * model.state.odometer_m / 1000.0 + ct.idle_power_kw * 200.0 / 3600.0
    assert model.state.soc == pytest.approx(0.8 - used_kwh / ct.battery_capacity_kwh, abs=1e-9)
    assert model.state.odometer_m > 1100.0


def test_empty_battery_stops_the_carrier_until_charged(ct):
    soc0 = 50.0 * ct.energy_use_kwh_per_km / 1000.0 / ct.battery_capacity_kwh  # about 50 m of driving
    model = CarrierModel(ct, Pose2D(0.0, 0.0, 0.0), soc=soc0)
    t = drive(model, 0.0, 60.0, 0.01, 5.0)
    assert model.fault == FAULT_BATTERY_EMPTY
    assert model.state.soc == 0.0
    assert model.state.speed_mps == 0.0
    assert model.state.odometer_m < 60.0
    assert model.command(t, 5.0, 0.0) is False
    model.set_fault(None)  # cannot clear an empty battery by hand
    assert model.fault == FAULT_BATTERY_EMPTY
    for _ in range(400):  # 400 s at 100 kW: 11 kWh = 4 %
        model.charge(100.0, 1.0)
        t += 1.0
        model.step(t, 1.0)
    assert model.state.charging
    assert model.fault is None
    assert model.state.soc == pytest.approx((100.0 - ct.idle_power_kw) * 400 / 3600 / ct.battery_capacity_kwh,
                                            rel=1e-3)
    drive(model, t, 5.0, 0.01, 3.0)
    assert model.state.speed_mps > 1.0 and not model.state.charging


def test_footprint_is_the_outline_around_the_deck_centre(ct):
    model = CarrierModel(ct, Pose2D(5.0, 5.0, math.pi / 2))
    xs = sorted(p[0] for p in model.footprint())
    ys = sorted(p[1] for p in model.footprint())
    assert xs[0] == pytest.approx(5.0 - ct.width_m / 2) and xs[-1] == pytest.approx(5.0 + ct.width_m / 2)
    assert ys[0] == pytest.approx(5.0 - ct.length_m / 2) and ys[-1] == pytest.approx(5.0 + ct.length_m / 2)


@pytest.mark.parametrize("world_name", ["small_yard", "youyiguan"])
def test_the_command_watchdog_stops_a_carrier_inside_its_movement_authority_margin(world_name):
    """Why the watchdog brakes at the service deceleration (module docstring): a follower that dies at any
    speed leaves the carrier where the follower's own plan would have stopped it, within the fleet
    manager's ``authority_margin_m`` — the traffic safety argument needs no emergency braking."""
    from agv_nav.follower_params import PathFollowerParams
    from fleet_manager.params import FleetManagerParams
    from yard_model import load_world
    from yard_model.resources import world_path

    ct = load_world(world_path(world_name)).carrier_type
    fp, margin = PathFollowerParams(), FleetManagerParams().authority_margin_m
    dt = 0.01
    for v in [0.1 * k for k in range(1, int(10 * min(ct.max_speed_mps, fp.max_speed_mps)) + 1)]:
        model = CarrierModel(ct, Pose2D(0.0, 0.0, 0.0), stale_timeout_s=0.5)
        t = drive(model, 0.0, 10.0, dt, v, 0.0)  # cruising at v: the worst moment for the follower to die
        x0 = model.state.x
        drive(model, t, 0.5 + v / ct.max_deceleration_mps2 + 1.0, dt)
        assert model.state.speed_mps == 0.0
        # room the follower keeps ahead at speed v: a jerk-limited stop at its planned deceleration
        planned = v * v / (2 * fp.max_decel_mps2) + v * fp.max_decel_mps2 / (2 * fp.max_jerk_mps3)
        assert model.state.x - x0 <= planned + margin, (v, model.state.x - x0, planned)
