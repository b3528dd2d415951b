"""Carrier sensor models: noise statistics per GNSS mode, latency, rates, determinism, zones, odometry, IMU."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from yard_model.gnss_status import (
    COVARIANCE_TYPE_DIAGONAL_KNOWN,
    COVARIANCE_TYPE_UNKNOWN,
    STATUS_NO_FIX,
    gnss_mode_of,
    status_for_mode,
)
from yard_model.params import ParameterError, build, markdown_table
from yard_sim.carrier_model import CarrierState
from yard_sim.sensors import (
    GRAVITY_MPS2,
    BayPose,
    CarrierSensors,
    GnssFix,
    GnssHeading,
    ImuSample,
    SensorConfig,
    WheelOdom,
)

OPEN_SKY = (-100.0, 100.0)  # base_link spot whose antenna is in no zone of small_yard
IN_PORTALS = (-20.0, 230.0)  # cn_crane_portals: rtk_float, multipath 0.5 Hz, 1..10 m
IN_CANOPY = (-6.0, 0.0)  # border_canopy: no GNSS (antenna at x + 6 m is still inside)


def state(x: float, y: float, yaw: float = 0.0, v: float = 0.0, w: float = 0.0, half_l: float = 4.0) -> CarrierState:
    return CarrierState(x=x, y=y, yaw=yaw, speed_mps=v, steer_rad=0.0, yaw_rate_radps=w, accel_mps2=0.0,
                        odometer_m=0.0, soc=1.0, lateral_speed_mps=w * half_l)


def run(sensors: CarrierSensors, truth_at, t_end: float, dt: float = 0.01, t0: float = 0.0):
    """Step the sensors every dt over [t0, t_end); return [(release time, measurement)]."""
    out = []
    for k in range(int(round((t_end - t0) / dt))):
        t = t0 + k * dt
        out.extend((t, m) for m in sensors.step(t, truth_at(t)))
    return out


def of(kind, stream):
    return [m for _, m in stream if isinstance(m, kind)]


def enu_error(world, sensors, fix: GnssFix, truth: CarrierState) -> np.ndarray:
    e, n, u = world.frame.enu_from_geodetic(fix.lat_deg, fix.lon_deg, fix.alt_m)
    return np.array([e, n, u]) - np.array(sensors.antenna_enu(truth))


# ------------------------------------------------------------------- GNSS noise
@pytest.mark.parametrize("mode", ["rtk_fixed", "rtk_float", "single"])
def test_gnss_error_statistics_and_reported_covariance_match_the_mode(small_world, mode):
    # Short correlation times so 300 s hold many independent errors; the sigmas are the defaults.
    cfg = SensorConfig(gnss_fixed_time_constant_s=0.2, gnss_float_time_constant_s=0.2,
                       gnss_single_time_constant_s=0.2)
    sensors = CarrierSensors(small_world, small_world.carrier_type, cfg, seed=7, vehicle_index=0)
    sensors.force_mode(mode)
    truth = state(*OPEN_SKY, yaw=0.4)
    fixes = of(GnssFix, run(sensors, lambda t: truth, 300.0, dt=0.1))
    assert len(fixes) > 2900
    err = np.array([enu_error(small_world, sensors, f, truth) for f in fixes])
    sigma_h = {"rtk_fixed": cfg.gnss_fixed_sigma_m, "rtk_float": cfg.gnss_float_sigma_m,
               "single": cfg.gnss_single_sigma_m}[mode]
    rms = np.sqrt(np.mean(err ** 2, axis=0))
    assert rms[0] == pytest.approx(sigma_h, rel=0.12)
    assert rms[1] == pytest.approx(sigma_h, rel=0.12)
    assert np.all(np.abs(err.mean(axis=0)[:2]) < 0.15 * sigma_h)
    if mode == "rtk_fixed":
        assert 0.01 <= rms[0] <= 0.02 and 0.01 <= rms[1] <= 0.02
    status, cov_type = status_for_mode(mode)
    for f in fixes:
        assert (f.status, f.covariance_type, f.mode, f.multipath) == (status, cov_type, mode, False)
        assert f.covariance[0] == pytest.approx(sigma_h ** 2) and f.covariance[4] == pytest.approx(sigma_h ** 2)
        assert gnss_mode_of(f.status, f.covariance_type, f.covariance[0]) == mode


def test_gnss_errors_are_time_correlated_not_white(small_world):
    cfg = SensorConfig()
    sensors = CarrierSensors(small_world, small_world.carrier_type, cfg, seed=3, vehicle_index=0)
    sensors.force_mode("single")
    truth = state(*OPEN_SKY)
    fixes = of(GnssFix, run(sensors, lambda t: truth, 200.0, dt=0.1))
    east = np.array([enu_error(small_world, sensors, f, truth)[0] for f in fixes])
    lag1 = np.corrcoef(east[:-1], east[1:])[0, 1]
    assert lag1 > 0.99  # exp(-0.1 s / 60 s) = 0.998; white noise would give ~0
    steps = np.abs(np.diff(east))
    assert np.sqrt(np.mean(steps ** 2)) < 0.2 * cfg.gnss_single_sigma_m


# --------------------------------------------------------------- time behaviour
def test_latency_within_bounds_and_stamps_are_measurement_times(small_world):
    sensors = CarrierSensors(small_world, small_world.carrier_type, SensorConfig(), seed=1, vehicle_index=0)
    v = 8.0  # fast, so a fix stamped with the wrong time would be 0.4..1.2 m off

    def truth_at(t):
        return state(OPEN_SKY[0] + v * t, OPEN_SKY[1], v=v)

    stream = run(sensors, truth_at, 20.0, dt=0.01)
    fixes = [(t_rel, m) for t_rel, m in stream if isinstance(m, GnssFix)]
    latencies = np.array([t_rel - m.stamp for t_rel, m in fixes])
    assert latencies.min() >= 0.05 - 1e-9 and latencies.max() <= 0.15 + 0.01 + 1e-9
    assert latencies.min() < 0.07 and latencies.max() > 0.13  # really spread over the range
    for _, m in fixes:
        err = enu_error(small_world, sensors, m, truth_at(m.stamp))
        assert math.hypot(err[0], err[1]) < 0.1
    release_times = [t for t, _ in stream]
    assert release_times == sorted(release_times)
    stamps = [m.stamp for _, m in fixes]
    assert stamps == sorted(stamps)
    for kind, latency in ((WheelOdom, 0.02), (ImuSample, 0.005)):
        lat = [t_rel - m.stamp for t_rel, m in stream if isinstance(m, kind)]
        assert min(lat) >= latency - 1e-9 and max(lat) <= latency + 0.01 + 1e-9


def test_each_sensor_runs_at_its_own_rate(small_world):
    cfg = SensorConfig(gnss_heading_enabled=True)
    sensors = CarrierSensors(small_world, small_world.carrier_type, cfg, seed=1, vehicle_index=0)
    truth = state(*OPEN_SKY)
    stream = run(sensors, lambda t: truth, 10.0, dt=0.01)
    for kind, rate in ((GnssFix, 10.0), (GnssHeading, 10.0), (WheelOdom, 50.0), (ImuSample, 100.0)):
        stamps = np.array([m.stamp for m in of(kind, stream)])
        assert abs(len(stamps) - 10.0 * rate) <= 2, kind.__name__
        assert np.allclose(np.diff(stamps), 1.0 / rate, atol=1e-6), kind.__name__
    single = SensorConfig(gnss_heading_enabled=False)  # a carrier with one antenna
    assert not of(GnssHeading, run(CarrierSensors(small_world, small_world.carrier_type, single, 1, 0),
                                   lambda t: truth, 2.0))


def test_same_seed_same_streams_and_streams_are_independent(small_world):
    def streams(seed, vehicle_index=0, **cfg):
        sensors = CarrierSensors(small_world, small_world.carrier_type, SensorConfig(**cfg), seed, vehicle_index)
        return [m for _, m in run(sensors, lambda t: state(OPEN_SKY[0] + 3.0 * t, OPEN_SKY[1], v=3.0, w=0.01),
                                  5.0)]

    a, b = streams(42, gnss_heading_enabled=False), streams(42, gnss_heading_enabled=False)
    assert a == b
    assert streams(43, gnss_heading_enabled=False) != a
    assert streams(42, vehicle_index=1, gnss_heading_enabled=False) != a
    # Turning the heading sensor on adds its messages and changes nothing else.
    with_heading = streams(42, gnss_heading_enabled=True)
    assert any(isinstance(m, GnssHeading) for m in with_heading)
    assert [m for m in with_heading if not isinstance(m, GnssHeading)] == a


# ------------------------------------------------------------------ GNSS zones
def test_multipath_jumps_only_inside_zones_with_the_zone_magnitudes(small_world):
    cfg = SensorConfig()
    zone = small_world.gnss_zone_at(*IN_PORTALS)
    assert zone is not None and zone.multipath_rate_hz > 0.0
    sensors = CarrierSensors(small_world, small_world.carrier_type, cfg, seed=11, vehicle_index=2)
    truth = state(*IN_PORTALS)
    fixes = of(GnssFix, run(sensors, lambda t: truth, 400.0, dt=0.1))
    flags = [f.multipath for f in fixes]
    errors = [enu_error(small_world, sensors, f, truth) for f in fixes]
    runs, start = [], None  # contiguous multipath runs = events
    for i, flag in enumerate(flags):  # a run still open at the end is left out (cut short)
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i))
            start = None
    assert len(runs) > 20
    clear_s = 0.1 * flags.count(False)
    expected = zone.multipath_rate_hz * clear_s
    assert abs(len(runs) - expected) < 4.0 * math.sqrt(expected)  # Poisson at the zone's rate
    lo, hi = zone.multipath_jump_m
    magnitudes = []
    for s, e in runs:
        duration = 0.1 * (e - s)
        assert cfg.multipath_min_duration_s - 1e-6 <= duration <= cfg.multipath_max_duration_s + 0.1 + 1e-6
        # the float-mode error (0.3 m sigma) rides on the constant jump
        before = [errors[i][:2] for i in range(max(0, s - 5), s) if not flags[i]] or [np.zeros(2)]
        jump = np.mean([errors[i][:2] for i in range(s, e)], axis=0) - np.mean(before, axis=0)
        magnitudes.append(float(np.hypot(*jump)))
        for i in range(s, e):  # the receiver does not know: same covariance as a clean float fix
            assert fixes[i].mode == "rtk_float"
            assert fixes[i].covariance[0] == pytest.approx(cfg.gnss_float_sigma_m ** 2)
    assert min(magnitudes) >= lo - 0.6 and max(magnitudes) <= hi + 0.6
    assert max(magnitudes) - min(magnitudes) > 0.5 * (hi - lo)  # spread over the zone's range

    open_sky = CarrierSensors(small_world, small_world.carrier_type, cfg, seed=11, vehicle_index=2)
    assert not any(f.multipath for f in of(GnssFix, run(open_sky, lambda t: state(*OPEN_SKY), 100.0, dt=0.1)))


def test_outage_gives_no_fix_then_float_then_fixed_after_the_refix_time(small_world):
    cfg = SensorConfig()
    sensors = CarrierSensors(small_world, small_world.carrier_type, cfg, seed=5, vehicle_index=0)

    def truth_at(t):  # under the canopy for 3 s, then in open sky
        return state(*IN_CANOPY) if t < 3.0 else state(*OPEN_SKY)

    fixes = of(GnssFix, run(sensors, truth_at, 15.0, dt=0.1))
    for f in fixes:
        if f.stamp < 3.0 - 1e-6:
            assert f.mode == "none" and f.status == STATUS_NO_FIX
            assert math.isnan(f.lat_deg) and math.isnan(f.lon_deg) and math.isnan(f.alt_m)
            assert f.covariance_type == COVARIANCE_TYPE_UNKNOWN
        elif f.stamp < 3.0 + cfg.gnss_refix_time_s - 1e-6:
            assert f.mode == "rtk_float"
            assert gnss_mode_of(f.status, f.covariance_type, f.covariance[0]) == "rtk_float"
        else:
            assert f.mode == "rtk_fixed" and f.covariance_type == COVARIANCE_TYPE_DIAGONAL_KNOWN
    assert fixes[-1].mode == "rtk_fixed"


def test_forced_mode_overrides_zones_until_the_given_time(small_world):
    cfg = SensorConfig(gnss_refix_time_s=2.0)
    sensors = CarrierSensors(small_world, small_world.carrier_type, cfg, seed=5, vehicle_index=0)
    sensors.force_mode("none", until_t=1.0)
    modes = [(f.stamp, f.mode) for f in of(GnssFix, run(sensors, lambda t: state(*OPEN_SKY), 5.0, dt=0.1))]
    assert {m for t, m in modes if t < 1.0 - 1e-6} == {"none"}
    assert {m for t, m in modes if 1.0 - 1e-6 < t < 3.0 - 1e-6} == {"rtk_float"}
    assert {m for t, m in modes if t > 3.0 - 1e-6} == {"rtk_fixed"}
    sensors.force_mode("single")
    assert {f.mode for f in of(GnssFix, run(sensors, lambda t: state(*OPEN_SKY), 6.0, t0=5.0, dt=0.1))} \
        <= {"single", "rtk_fixed"}
    with pytest.raises(ValueError):
        sensors.force_mode("dgps")


def test_fix_is_the_antenna_position_with_its_lever_arm(small_world):
    cfg = SensorConfig(gnss_fixed_sigma_m=0.0, gnss_fixed_sigma_up_m=0.0)
    sensors = CarrierSensors(small_world, small_world.carrier_type, cfg, seed=1, vehicle_index=0)
    ax, ay, az = small_world.carrier_type.gnss_antenna_m
    for yaw in (0.0, math.pi / 2, -2.5):
        truth = state(*OPEN_SKY, yaw=yaw)
        fix = of(GnssFix, run(sensors, lambda t, truth=truth: truth, 0.5))[0]
        e, n, u = small_world.frame.enu_from_geodetic(fix.lat_deg, fix.lon_deg, fix.alt_m)
        assert e == pytest.approx(OPEN_SKY[0] + math.cos(yaw) * ax - math.sin(yaw) * ay, abs=1e-6)
        assert n == pytest.approx(OPEN_SKY[1] + math.sin(yaw) * ax + math.cos(yaw) * ay, abs=1e-6)
        assert u == pytest.approx(az, abs=1e-6)
        assert fix.alt_m == pytest.approx(small_world.datum.altitude_m + az, abs=0.01)  # tangent plane, ~100 m out
        sensors = CarrierSensors(small_world, small_world.carrier_type, cfg, seed=1, vehicle_index=0)


# ----------------------------------------------------------- odometry and IMU
def test_wheel_odometry_scale_error_and_heading_drift(small_world):
    cfg = SensorConfig()
    half_l = small_world.carrier_type.wheelbase_m / 2.0
    sensors = CarrierSensors(small_world, small_world.carrier_type, cfg, seed=9, vehicle_index=0)
    v, t_end = 5.0, 40.0
    odom = of(WheelOdom, run(sensors, lambda t: state(OPEN_SKY[0] + v * t, OPEN_SKY[1], v=v), t_end))
    last = odom[-1]
    travelled = v * last.stamp
    assert math.hypot(last.x, last.y) == pytest.approx(travelled * (1.0 + cfg.odom_scale_error), rel=1e-3)
    drift = cfg.odom_yaw_rate_bias_radps * last.stamp  # true heading is constant
    assert last.yaw == pytest.approx(drift, abs=0.2 * drift)
    assert np.mean([m.vx_mps for m in odom[1:]]) == pytest.approx(v * (1.0 + cfg.odom_scale_error), abs=0.005)
    assert last.vy_mps == pytest.approx(last.wz_radps * half_l)
    assert last.pose_cov[0] > odom[1].pose_cov[0] and last.pose_cov[35] > odom[1].pose_cov[35]
    assert last.twist_cov[0] > 0.0 and last.twist_cov[35] > 0.0

    parked = CarrierSensors(small_world, small_world.carrier_type, cfg, seed=9, vehicle_index=0)
    still = of(WheelOdom, run(parked, lambda t: state(*OPEN_SKY), 10.0))
    assert (still[-1].x, still[-1].y, still[-1].yaw) == (0.0, 0.0, 0.0)  # no drift at standstill


def test_imu_gyro_bias_noise_and_specific_force_in_a_steady_turn(small_world):
    cfg = SensorConfig()
    ct = small_world.carrier_type
    v, w = 4.0, 0.2
    sensors = CarrierSensors(small_world, ct, cfg, seed=4, vehicle_index=0)
    imu = of(ImuSample, run(sensors, lambda t: state(*OPEN_SKY, v=v, w=w), 20.0))
    wz = np.array([m.wz for m in imu])
    bias_z = float(sensors._gyro_bias[2])
    assert np.mean(wz) == pytest.approx(w + bias_z, abs=4 * cfg.imu_gyro_sigma_radps / math.sqrt(len(wz)) + 1e-4)
    assert np.std(wz) == pytest.approx(cfg.imu_gyro_sigma_radps, rel=0.1)
    assert abs(bias_z) > 0.0
    rx = ct.imu_m[0]
    c = ct.wheelbase_m / 2.0
    ay_expected = w * v  # centripetal; no lever arm lateral term for an IMU on the centre line
    ax_expected = -w * w * (c + rx)
    tol = 3 * cfg.imu_accel_bias_sigma_mps2 + 0.01
    assert np.mean([m.ay for m in imu]) == pytest.approx(ay_expected, abs=tol)
    assert np.mean([m.ax for m in imu]) == pytest.approx(ax_expected, abs=tol)
    assert np.mean([m.az for m in imu]) == pytest.approx(GRAVITY_MPS2, abs=tol)
    assert imu[0].gyro_var == pytest.approx(cfg.imu_gyro_sigma_radps ** 2)
    other = CarrierSensors(small_world, ct, cfg, seed=4, vehicle_index=1)
    assert float(other._gyro_bias[2]) != bias_z  # turn-on bias differs per vehicle


# ----------------------------------------------------------------- config
def test_config_rejects_inconsistent_values():
    with pytest.raises(ParameterError):
        build(SensorConfig, {"gnss_latency_min_s": 0.2, "gnss_latency_max_s": 0.1})
    with pytest.raises(ParameterError):
        build(SensorConfig, {"gnss_float_sigma_m": 5.0})
    with pytest.raises(ParameterError):
        build(SensorConfig, {"odom_rate_hz": 0.0})
    assert build(SensorConfig, {}) == SensorConfig()
    assert dataclasses.fields(SensorConfig)


# ------------------------------------------------------------- bay positioning
def _at_bay(bay, along: float, across: float) -> tuple[float, float]:
    c, s = math.cos(bay.pose.yaw), math.sin(bay.pose.yaw)
    return bay.pose.x + c * along - s * across, bay.pose.y + s * along + c * across


@pytest.mark.parametrize("along, across, seen", [(0.0, 0.0, True), (29.5, 0.0, True), (-29.5, 2.9, True),
                                                  (30.5, 0.0, False), (0.0, 3.1, False), (-10.0, -3.1, False)])
def test_bay_positioning_only_within_its_range_of_a_crane_served_bay(small_world, along, across, seen):
    bay = small_world.bays["cn_bay_a1"]
    x, y = _at_bay(bay, along, across)
    sensors = CarrierSensors(small_world, small_world.carrier_type, SensorConfig(), seed=3, vehicle_index=0)
    got = of(BayPose, run(sensors, lambda t: state(x, y, yaw=bay.pose.yaw), 2.0))
    assert bool(got) == seen
    if seen:
        assert {m.bay_id for m in got} == {"cn_bay_a1"}
    assert not of(BayPose, run(sensors, lambda t: state(*OPEN_SKY), 2.0, t0=2.0))
    # A bay whose station has no crane has no positioning system.
    stations = {k: dataclasses.replace(st, cranes=()) for k, st in small_world.stations.items()}
    bare = dataclasses.replace(small_world, stations=stations)
    none = CarrierSensors(bare, bare.carrier_type, SensorConfig(), seed=3, vehicle_index=0)
    assert not of(BayPose, run(none, lambda t: state(x, y, yaw=bay.pose.yaw), 2.0))
    off = CarrierSensors(small_world, small_world.carrier_type, SensorConfig(bay_positioning_enabled=False), 3, 0)
    assert not of(BayPose, run(off, lambda t: state(x, y, yaw=bay.pose.yaw), 2.0))


def test_bay_positioning_noise_rate_latency_and_reported_sigma(small_world):
    bay = small_world.bays["cn_bay_a2"]
    truth = state(*_at_bay(bay, 5.0, 0.5), yaw=bay.pose.yaw + 0.01)
    cfg = SensorConfig()
    sensors = CarrierSensors(small_world, small_world.carrier_type, cfg, seed=5, vehicle_index=0)
    stream = run(sensors, lambda t: truth, 120.0)
    got = [(t, m) for t, m in stream if isinstance(m, BayPose)]
    assert abs(len(got) - 120.0 * cfg.bay_positioning_rate_hz) <= 2
    stamps = np.array([m.stamp for _, m in got])
    assert np.allclose(np.diff(stamps), 1.0 / cfg.bay_positioning_rate_hz, atol=1e-6)
    assert np.allclose([t - m.stamp for t, m in got], cfg.bay_positioning_latency_s, atol=0.011)
    err = np.array([(m.x - truth.x, m.y - truth.y, math.remainder(m.yaw - truth.yaw, 2 * math.pi))
                    for _, m in got])
    n = len(err)
    sig = np.array([cfg.bay_positioning_sigma_m, cfg.bay_positioning_sigma_m, cfg.bay_positioning_yaw_sigma_rad])
    assert np.all(np.abs(err.mean(axis=0)) < 4.0 * sig / math.sqrt(n))  # unbiased
    assert np.allclose(err.std(axis=0), sig, rtol=0.1)
    lag1 = np.corrcoef(err[:-1, 0], err[1:, 0])[0, 1]
    assert abs(lag1) < 4.0 / math.sqrt(n)  # white
    assert {(m.sigma_m, m.yaw_sigma_rad) for _, m in got} == {(sig[0], sig[2])}


def test_bay_positioning_is_deterministic_and_changes_no_other_stream(small_world):
    bay = small_world.bays["cn_bay_a1"]
    x0, y0 = _at_bay(bay, -40.0, 0.0)

    def streams(seed, **cfg):
        sensors = CarrierSensors(small_world, small_world.carrier_type, SensorConfig(**cfg), seed, 0)
        c, s = math.cos(bay.pose.yaw), math.sin(bay.pose.yaw)
        return [m for _, m in run(sensors, lambda t: state(x0 + c * 4.0 * t, y0 + s * 4.0 * t, yaw=bay.pose.yaw,
                                                           v=4.0), 15.0)]

    a = streams(9)
    assert a == streams(9)
    assert [m for m in a if isinstance(m, BayPose)] != [m for m in streams(10) if isinstance(m, BayPose)]
    assert of(BayPose, [(0.0, m) for m in a])  # it drove into range
    assert [m for m in a if not isinstance(m, BayPose)] == streams(9, bay_positioning_enabled=False)


def test_readme_sensor_table_matches_the_code():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert markdown_table(SensorConfig) in readme
