"""Controller pacing (yard_sim.pacing): the simulator waits for lagging controllers, never for dead ones."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yard_sim.pacing import ControllerPacer


def test_steps_freely_until_a_controller_speaks():
    p = ControllerPacer(max_lag_s=0.1, give_up_s=2.0)
    assert p.may_step(100.0, 0.0)  # nobody has commanded: nothing to wait for


def test_waits_for_a_lagging_controller_and_resumes_when_it_answers():
    p = ControllerPacer(max_lag_s=0.1, give_up_s=2.0)
    p.command("carrier_01", stamp=10.0, t_sim=10.0)
    assert p.may_step(10.1, 0.0)
    assert not p.may_step(10.2, 0.5)  # its latest command is 0.2 s old
    assert not p.may_step(10.2, 1.0)
    p.command("carrier_01", stamp=10.19, t_sim=10.2)
    assert p.may_step(10.2, 1.2)
    assert p.waits == 1 and p.wait_wall_s == pytest.approx(0.7)


def test_a_silent_controller_is_given_up_and_waited_for_again_once_it_sends():
    p = ControllerPacer(max_lag_s=0.1, give_up_s=2.0)
    p.command("carrier_01", 5.0, 5.0)
    p.command("carrier_02", 5.0, 5.0)
    assert not p.may_step(5.5, 10.0)
    p.command("carrier_02", 5.5, 5.5)  # carrier_02 answers, carrier_01 stays silent
    assert not p.may_step(5.5, 11.9)
    assert p.may_step(5.5, 12.0)
    assert p.given_up == ["carrier_01"]
    assert p.may_step(30.0, 13.0) is False  # carrier_02 is still waited for
    p.command("carrier_02", 30.0, 30.0)
    assert p.may_step(30.0, 13.1)
    p.command("carrier_01", 30.0, 30.0)  # back: live again (its period counts at most 1 s)
    assert not p.may_step(31.5, 14.0)


def test_a_slow_controller_is_allowed_its_own_period():
    """A 5 Hz controller on simulation time sends its next command only once the clock passed it."""
    p = ControllerPacer(max_lag_s=0.1, give_up_s=2.0)
    p.command("slow", 10.0, 10.0)
    p.command("slow", 10.2, 10.2)
    assert p.may_step(10.45, 0.0)  # 0.25 s old: within 0.1 + its 0.2 s period
    assert not p.may_step(10.55, 0.0)
    p.command("slow", 60.0, 60.0)  # after a long pause: the period counts at most 1 s
    assert p.controllers["slow"].period == 1.0


def test_a_zero_stamp_counts_as_now_and_a_future_stamp_as_now():
    p = ControllerPacer(max_lag_s=0.1)
    p.command("c", 0.0, 42.0)
    assert p.lagging(42.1) == []
    p.command("c", 1e9, 43.0)  # a controller on another clock cannot make the simulator run ahead
    assert p.lagging(44.2) == ["c"]  # 43 counted, with a period of at most 1 s


def test_a_controller_that_commanded_a_stop_is_not_waited_for():
    p = ControllerPacer(max_lag_s=0.1, give_up_s=2.0)
    p.command("c", 1.0, 1.0, moving=False)
    assert p.may_step(100.0, 0.0)  # its carrier brakes or stands: nothing to wait for
    p.command("c", 100.0, 100.0, moving=True)
    assert not p.may_step(101.5, 0.1)


def test_zero_max_lag_turns_pacing_off():
    p = ControllerPacer(max_lag_s=0.0)
    p.command("c", 1.0, 1.0)
    assert p.may_step(1000.0, 0.0)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        ControllerPacer(max_lag_s=-0.1)
    with pytest.raises(ValueError):
        ControllerPacer(give_up_s=0.0)


@given(st.lists(st.tuples(st.floats(0.0, 0.3), st.booleans()), min_size=1, max_size=200))
def test_never_steps_beyond_the_lag_of_a_live_controller(moves):
    """Whatever the controller's delays, a step is allowed only while its command is fresh enough."""
    p = ControllerPacer(max_lag_s=0.1, give_up_s=1e9)
    t, wall, dt = 0.0, 0.0, 0.01
    p.command("c", t, t)
    for delay, answers in moves:
        wall += 0.001
        if answers:
            p.command("c", max(t - delay, 0.0), t)
        if p.may_step(t + dt, wall):
            c = p.controllers["c"]
            assert t + dt - c.stamp <= 0.1 + c.period + 1e-9
            t += dt
