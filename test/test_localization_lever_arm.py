"""Antenna lever arm not as configured (issue #14): an offset antenna in a curve is explained, not rejected.

Drives come from the independent generator (``bench/recorded_drive.py``: its own vehicle model with tyre slip
and steering lag, its own GNSS error processes; nothing from yard_sim) with the true antenna 1.5 m behind the
configured one. On a straight the offset is unobservable (the position absorbs it); the first turn shows it.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import recorded_drive as rd  # noqa: E402
from test_localization_start import run  # noqa: E402

from agv_nav.lever_arm_check import lever_arm_findings  # noqa: E402
from agv_nav.localization_params import LocalizationParams  # noqa: E402

TWO_TURNS = (rd.Leg(50.0, 0.0, 5.0), rd.Leg(math.pi / 2 * 20.0, 1 / 20.0, 3.5), rd.Leg(60.0, 0.0, 5.0),
             rd.Leg(math.pi / 2 * 25.0, -1 / 25.0, 3.5), rd.Leg(40.0, 0.0, 4.0))
WRONG = dataclasses.replace(rd.MODELS["mixture"], name="lever_arm_1.5m", antenna_error_m=(-1.5, 0.0))


def _drive(model, seed: int):
    truth = rd.drive(TWO_TURNS, start=(10.0 * seed, 5.0 * seed, 0.4 * seed), standstill_s=2.0)
    return truth, list(rd.record(model, seed, truth).items)


def test_a_lever_arm_configured_1_5_m_wrong_is_learnt_in_the_first_turn_and_reported():
    """The offset is learnt in the first turn (the position error falls from 1.5 m to centimetres), the estimate
    holds the true lever arm within three sigma, and the diagnostics name gnss_antenna_m."""
    truth, items = _drive(WRONG, 1)
    ts, errs, f = run(truth, items)
    after_turn = ts >= truth.first_turn_end + 2.0
    assert errs[~after_turn].max() > 1.0  # before the turn the position carries the offset: nothing to learn from
    assert errs[after_turn].max() < 0.12, f"error after the first turn {errs[after_turn].max():.3f} m"
    (lx, ly), (sx, sy) = f.lever_arm()
    assert abs(lx - 4.5) < 3.0 * sx and abs(ly - 0.5) < max(0.05, 3.0 * sy)
    values, warnings = lever_arm_findings(f, rd.LEVER, f.p)
    assert len(warnings) == 1 and "gnss_antenna_m" in warnings[0] and "(4.4" in warnings[0]
    assert "estimated lever arm [m]" in values


@pytest.mark.xfail(strict=True, reason="issue #14 item 3 not met yet: one turn does not separate the lever arm's x "
                   "from the slip angle; 7-10 cm along track after the first turn on this drive")
def test_with_a_lever_arm_1_5_m_wrong_the_error_after_the_first_turn_is_within_5_cm():
    truth, items = _drive(WRONG, 2)
    ts, errs, _ = run(truth, items)
    assert errs[ts >= truth.first_turn_end + 2.0].max() <= 0.05


def test_the_right_lever_arm_gives_no_warning_and_without_estimation_the_turns_are_reported():
    truth, items = _drive(rd.MODELS["mixture"], 3)
    _, errs, f = run(truth, items)
    assert errs.max() < 0.1
    assert lever_arm_findings(f, rd.LEVER, f.p)[1] == []
    truth, items = _drive(WRONG, 3)
    p = LocalizationParams(estimate_lever_arm=False)
    ts, errs, f = run(truth, items, p)
    values, warnings = lever_arm_findings(f, rd.LEVER, p)
    assert f.turn_recoveries >= 2 and len(warnings) == 1 and "turns: check gnss_antenna_m" in warnings[0]
    assert "estimated lever arm [m]" not in values
