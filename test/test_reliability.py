"""The short form of the reliability suite (yard_bringup.reliability, bench/reliability.py) in CI.

One run of `yard-autonomy sim --world small_yard --carriers 2`: a burst of 500 orders and 100 hostile
messages (oversized up to 1 MB, nested 5,000 deep, cut off, wrong types, long fields), one delivery, and
kill -9 of a carrier's path follower. Every message is answered, no order or container is lost or
duplicated, nothing collides, the killed node is restarted and the yard goes on (`sim` exits 0).
Whether the delivery completes is reported, not asserted here (the full suite reports it per scenario).
"""

from __future__ import annotations

import os

import pytest

from yard_bringup.reliability import SHORT, run_scenario


@pytest.mark.graph
@pytest.mark.timeout(900)
def test_short_reliability_scenario_loses_nothing(ros_env, tmp_path):
    env = dict(ros_env)
    assert env["ROS_DOMAIN_ID"] == os.environ["ROS_DOMAIN_ID"]
    out = run_scenario(SHORT, tmp_path / "short", env, rtf=2.0)
    why = f"{out}; logs in {tmp_path / 'short'}"
    assert out.disrupted and out.killed is not None, why
    assert out.sent == 500 + 100 + 1 and out.answered == out.sent, why
    assert out.lost == 0 and out.containers_lost == 0 and out.containers_duplicated == 0, why
    assert out.collisions == 0, why
    assert out.restarted, why
    assert out.exit_code == 0, why
