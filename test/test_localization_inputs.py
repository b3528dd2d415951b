"""Localization inputs: message screening, fix-aware GNSS trust, parameters and their documentation."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from agv_nav.gnss_trust import fix_noise, horizontal_block, mode_of_fix
from agv_nav.localization_filter import GnssHeading, GnssNoFix, GnssPosition, GyroSample, OdomSample
from agv_nav.localization_inputs import (
    FixReading,
    HeadingReading,
    ImuReading,
    InputScreen,
    OdomReading,
    Rejected,
    yaw_of_quaternion,
)
from agv_nav.localization_params import LocalizationParams
from yard_model.geodesy import Datum, LocalFrame
from yard_model.gnss_status import (
    COVARIANCE_TYPE_APPROXIMATED,
    COVARIANCE_TYPE_DIAGONAL_KNOWN,
    COVARIANCE_TYPE_KNOWN,
    COVARIANCE_TYPE_UNKNOWN,
    STATUS_FIX,
    STATUS_GBAS_FIX,
    STATUS_NO_FIX,
)
from yard_model.params import ParameterError, build, default_of, markdown_table, param_fields

REPO = Path(__file__).resolve().parents[1]
FRAME = LocalFrame(Datum(21.9764, 106.7122, 212.0))
P = LocalizationParams()


def diag9(var_e: float, var_n: float, var_u: float = 1.0) -> tuple[float, ...]:
    return (var_e, 0.0, 0.0, 0.0, var_n, 0.0, 0.0, 0.0, var_u)


RTK_FIXED_COV = diag9(1e-4, 1e-4)


def fix_at(e: float, n: float, stamp: float = 10.0, arrival: float = 10.1, status: int = STATUS_GBAS_FIX,
           cov_type: int = COVARIANCE_TYPE_DIAGONAL_KNOWN, cov=RTK_FIXED_COV) -> FixReading:
    lat, lon, alt = FRAME.geodetic_from_enu(e, n, 3.0)
    return FixReading(stamp, arrival, lat, lon, alt, status, cov_type, cov)


# ---------------------------------------------------------------------- screen
def test_a_good_fix_becomes_an_antenna_position_in_map():
    z = InputScreen(P, FRAME).fix(fix_at(120.0, -35.0))
    assert isinstance(z, GnssPosition)
    assert (z.east_m, z.north_m) == pytest.approx((120.0, -35.0), abs=1e-6)
    assert z.t == 10.0 and z.noise.mode == "rtk_fixed"


def test_no_fix_is_information_not_an_error():
    r = FixReading(10.0, 10.1, math.nan, math.nan, math.nan, STATUS_NO_FIX, COVARIANCE_TYPE_UNKNOWN, (0.0,) * 9)
    assert isinstance(InputScreen(P, FRAME).fix(r), GnssNoFix)


@pytest.mark.parametrize(("reading", "reason"), [
    (dataclasses.replace(fix_at(0, 0), stamp=0.0), "no_stamp"),
    (dataclasses.replace(fix_at(0, 0), stamp=math.nan), "no_stamp"),
    (dataclasses.replace(fix_at(0, 0), latitude_deg=math.nan), "not_finite"),
    (dataclasses.replace(fix_at(0, 0), latitude_deg=91.0), "absurd"),
    (dataclasses.replace(fix_at(0, 0), status=7), "absurd"),
    (dataclasses.replace(fix_at(0, 0), altitude_m=5000.0), "absurd"),
    (fix_at(60_000.0, 0.0), "absurd"),
    (fix_at(0, 0, stamp=10.0, arrival=10.6), "stale"),  # 0.6 s late > gnss_max_latency_s
    (fix_at(0, 0, stamp=10.2, arrival=10.1), "future"),
])
def test_bad_fixes_are_rejected_with_their_reason(reading, reason):
    out = InputScreen(P, FRAME).fix(reading)
    assert isinstance(out, Rejected) and out.reason == reason and out.detail


def test_out_of_order_and_duplicate_stamps_are_rejected_per_stream():
    s = InputScreen(P, FRAME)
    assert isinstance(s.odom(OdomReading(10.0, 10.01, 1.0, 0.0)), OdomSample)
    assert s.odom(OdomReading(10.0, 10.02, 1.0, 0.0)).reason == "out_of_order"  # duplicate
    assert s.odom(OdomReading(9.98, 10.03, 1.0, 0.0)).reason == "out_of_order"
    assert isinstance(s.imu(ImuReading(9.98, 10.03, 0.0)), GyroSample)  # other streams keep their own order


@pytest.mark.parametrize(("reading", "reason"), [
    (OdomReading(10.0, 10.0, math.inf, 0.0), "not_finite"),
    (OdomReading(10.0, 10.0, 40.0, 0.0), "absurd"),
    (OdomReading(10.0, 10.0, 1.0, 9.0), "absurd"),
    (OdomReading(10.0, 10.5, 1.0, 0.0), "stale"),
])
def test_bad_odometry_is_rejected(reading, reason):
    assert InputScreen(P, FRAME).odom(reading).reason == reason


@pytest.mark.parametrize(("reading", "reason"), [
    (ImuReading(10.0, 10.0, math.nan), "not_finite"),
    (ImuReading(10.0, 10.0, -3.0), "absurd"),
    (ImuReading(0.0, 10.0, 0.1), "no_stamp"),
])
def test_bad_gyro_is_rejected(reading, reason):
    assert InputScreen(P, FRAME).imu(reading).reason == reason


def test_heading_quaternions_and_unknown_variance():
    s = InputScreen(P, FRAME)
    yaw = 2.5
    q = (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))
    h = s.heading(HeadingReading(10.0, 10.1, q, -1.0))
    assert isinstance(h, GnssHeading)
    assert h.yaw_rad == pytest.approx(yaw) and h.variance == pytest.approx(P.gnss_heading_default_sigma_rad**2)
    assert s.heading(HeadingReading(10.2, 10.3, (0.0, 0.0, 0.0, 0.0), 1e-4)).reason == "absurd"
    assert s.heading(HeadingReading(10.3, 10.4, (0.0, 0.0, math.nan, 1.0), 1e-4)).reason == "not_finite"
    assert yaw_of_quaternion(0.0, 0.0, math.sin(-0.3), math.cos(-0.3)) == pytest.approx(-0.6)


# ----------------------------------------------------------------------- trust
@pytest.mark.parametrize("cov", [diag9(0.0, 0.0), diag9(math.nan, 1e-4), diag9(-1.0, -1.0), None, (1.0,) * 4])
def test_unusable_covariance_gets_the_modes_default(cov):
    n = fix_noise("rtk_float", COVARIANCE_TYPE_DIAGONAL_KNOWN, cov, P)
    assert n.covariance_used == "default"
    total = n.white_cov[0, 0] + n.bias_var_m2
    assert total == pytest.approx(P.gnss_default_sigma_float_m**2)


def test_optimistic_covariance_is_floored_per_mode():
    n = fix_noise("single", COVARIANCE_TYPE_DIAGONAL_KNOWN, diag9(1e-6, 4.0), P)
    assert n.covariance_used == "floored"
    total_e = n.white_cov[0, 0] + n.bias_var_m2 * 1.0
    assert total_e >= P.gnss_min_sigma_single_m**2 * 0.999 * (1 - P.gnss_bias_fraction_single) + 0.0
    assert n.white_cov[0, 0] == pytest.approx((1 - P.gnss_bias_fraction_single) * P.gnss_min_sigma_single_m**2)


def test_full_covariance_keeps_its_correlation_and_splits_white_and_slow():
    cov = (0.04, 0.03, 0.0, 0.03, 0.09, 0.0, 0.0, 0.0, 1.0)
    n = fix_noise("rtk_float", COVARIANCE_TYPE_KNOWN, cov, P)
    f = P.gnss_bias_fraction_float
    np.testing.assert_allclose(n.white_cov, (1 - f) * np.array([[0.04, 0.03], [0.03, 0.09]]))
    assert n.bias_var_m2 == pytest.approx(f * 0.065)
    assert n.bias_time_constant_s == P.gnss_bias_time_constant_float_s


def test_not_positive_definite_or_approximated_covariances():
    assert horizontal_block(COVARIANCE_TYPE_KNOWN, (1.0, 2.0, 0, 2.0, 1.0, 0, 0, 0, 1)) is None
    block = horizontal_block(COVARIANCE_TYPE_APPROXIMATED, (1.0, 0.5, 0, 0.5, 1.0, 0, 0, 0, 1))
    assert block[0, 1] == 0.0  # approximated: off-diagonals are not meaningful


@pytest.mark.parametrize(("status", "cov_type", "cov", "mode"), [
    (STATUS_GBAS_FIX, COVARIANCE_TYPE_DIAGONAL_KNOWN, diag9(2.25e-4, 2.25e-4), "rtk_fixed"),
    (STATUS_GBAS_FIX, COVARIANCE_TYPE_DIAGONAL_KNOWN, diag9(0.09, 0.09), "rtk_float"),
    (STATUS_GBAS_FIX, COVARIANCE_TYPE_UNKNOWN, (0.0,) * 9, "rtk_float"),  # nothing proves it is fixed
    (STATUS_GBAS_FIX, COVARIANCE_TYPE_DIAGONAL_KNOWN, diag9(math.nan, math.nan), "rtk_float"),
    (STATUS_FIX, COVARIANCE_TYPE_DIAGONAL_KNOWN, diag9(4.0, 4.0), "single"),
    (STATUS_NO_FIX, COVARIANCE_TYPE_UNKNOWN, (0.0,) * 9, "none"),
])
def test_solution_mode_follows_the_architecture_encoding(status, cov_type, cov, mode):
    assert mode_of_fix(status, cov_type, cov) == mode


# ------------------------------------------------------------------ parameters
def test_parameter_combinations_are_checked():
    with pytest.raises(ParameterError, match="gnss_max_latency_s"):
        build(LocalizationParams, {"gnss_max_latency_s": 1.5, "history_s": 1.0})
    with pytest.raises(ParameterError, match="warn_position_sigma_m"):
        build(LocalizationParams, {"warn_position_sigma_m": 1.0, "error_position_sigma_m": 0.5})
    with pytest.raises(ParameterError, match="gnss_antenna_m"):
        build(LocalizationParams, {"gnss_antenna_m": [1.0, 2.0]})
    with pytest.raises(ParameterError, match="below its floor"):
        build(LocalizationParams, {"gnss_default_sigma_single_m": 0.1})
    with pytest.raises(ParameterError, match="output_rate_hz"):
        build(LocalizationParams, {"output_rate_hz": 0.0})


def test_readme_parameter_table_matches_the_code():
    readme = (REPO / "README.md").read_text()
    section = readme.split("<!-- section: localization (owner: agv_nav localization) -->")[1].split("<!-- section:")[0]
    assert markdown_table(LocalizationParams) in section


def test_shipped_config_documents_every_parameter_at_its_default():
    text = (REPO / "config" / "localization.yaml").read_text()
    cfg = yaml.safe_load(text)["/**"]["ros__parameters"]
    expected = {f.name: default_of(f) for f in param_fields(LocalizationParams)}
    assert cfg.keys() == expected.keys()
    for key, value in expected.items():
        assert cfg[key] == (pytest.approx(value) if isinstance(value, float) else value), key
    lines = text.splitlines()
    for i, line in enumerate(lines):  # every key has a comment paragraph right above it
        if line.startswith("    ") and not line.strip().startswith("#") and ":" in line:
            assert lines[i - 1].strip().startswith("#"), line


# ------------------------------------------------------------- bay positioning
def _bay_cov(var_xy: float = 1e-4, var_yaw: float = 4e-6) -> tuple[float, ...]:
    cov = [0.0] * 36
    cov[0] = cov[7] = var_xy
    cov[14] = cov[21] = cov[28] = 1e6
    cov[35] = var_yaw
    return tuple(cov)


def _bay(stamp: float = 10.0, arrival: float = 10.05, frame: str = "map", x: float = 5.0, y: float = -3.0,
         yaw: float = 0.4, cov=None):
    from agv_nav.localization_inputs import BayPoseReading

    return BayPoseReading(stamp, arrival, frame, x, y, (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)),
                          _bay_cov() if cov is None else cov)


def test_a_bay_pose_becomes_a_position_and_yaw_update_with_floors():
    from agv_nav.localization_filter import BayPosition

    z = InputScreen(P, FRAME).bay_pose(_bay())
    assert isinstance(z, BayPosition)
    assert (z.t, z.x, z.y) == (10.0, 5.0, -3.0) and z.yaw == pytest.approx(0.4) and z.yaw_variance == 4e-6
    zero = InputScreen(P, FRAME).bay_pose(_bay(cov=(0.0,) * 36))  # a sensor reporting zeros: floor, no yaw
    assert zero.cov_xy[0] == zero.cov_xy[3] == pytest.approx(P.bay_positioning_min_sigma_m ** 2)
    assert zero.yaw_variance == math.inf


@pytest.mark.parametrize(("reading", "reason"), [
    (_bay(frame="carrier_01/odom"), "absurd"),
    (_bay(x=math.nan), "not_finite"),
    (_bay(arrival=11.0), "stale"),
    (_bay(stamp=0.0), "no_stamp"),
    (_bay(x=1e6), "absurd"),
    (_bay(cov=tuple([math.nan] * 36)), "not_finite"),
])
def test_bad_bay_poses_are_rejected_with_a_reason(reading, reason):
    z = InputScreen(P, FRAME).bay_pose(reading)
    assert isinstance(z, Rejected) and z.reason == reason


def test_bay_poses_out_of_order_are_rejected():
    screen = InputScreen(P, FRAME)
    assert not isinstance(screen.bay_pose(_bay(stamp=10.0)), Rejected)
    assert screen.bay_pose(_bay(stamp=10.0, arrival=10.1)).reason == "out_of_order"
