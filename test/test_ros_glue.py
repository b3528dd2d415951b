"""Parameter dataclasses (yard_model.params, declared by yard_ros.params), domain leases, stamps."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from yard_model.params import ParameterError, build, markdown_table, spec
from yard_ros import params
from yard_ros.domain import DOMAIN_MAX, DOMAIN_MIN, LOCK_DIR, lease_domain_id, local_ros_env


@dataclass
class DemoParams:
    rate_hz: float = field(default=50.0, metadata=spec("Output rate", "Hz", 1.0, 1000.0))
    mode: str = field(default="fast", metadata=spec("Mode", choices=("fast", "slow")))
    gains: list[float] = field(default_factory=lambda: [1.0, 2.0], metadata=spec("Gains", min=0.0))
    max_speed_mps: float = field(default=5.0, metadata=spec("Speed cap", "m/s", 0.0, 20.0, dynamic=True))
    min_speed_mps: float = field(default=1.0, metadata=spec("Speed floor", "m/s", 0.0, 20.0, dynamic=True))

    def check(self) -> None:
        if self.min_speed_mps > self.max_speed_mps:
            raise ParameterError("min_speed_mps must not exceed max_speed_mps")


def test_build_checks_ranges_choices_and_combinations():
    assert build(DemoParams, {}).rate_hz == 50.0
    with pytest.raises(ParameterError, match="rate_hz.*below the minimum"):
        build(DemoParams, {"rate_hz": 0.5})
    with pytest.raises(ParameterError, match="mode"):
        build(DemoParams, {"mode": "medium"})
    with pytest.raises(ParameterError, match="gains"):
        build(DemoParams, {"gains": [1.0, -1.0]})
    with pytest.raises(ParameterError, match="not a finite"):
        build(DemoParams, {"rate_hz": math.nan})
    with pytest.raises(ParameterError, match="must not exceed"):
        build(DemoParams, {"min_speed_mps": 6.0})


def test_markdown_table_lists_every_parameter_with_default():
    table = markdown_table(DemoParams)
    for name, default in (("rate_hz", "50.0"), ("mode", "'fast'"), ("gains", "[1.0, 2.0]")):
        assert f"| `{name}` |" in table and f"`{default}`" in table
    assert "Dynamic." in table


@pytest.mark.node
def test_declare_reads_overrides_and_rejects_bad_updates(rclpy_context):
    from rclpy.node import Node
    from rclpy.parameter import Parameter

    node = Node("demo", context=rclpy_context, parameter_overrides=[Parameter("rate_hz", value=20)])
    p = params.declare(node, DemoParams)
    assert p.rate_hz == 20.0 and isinstance(p.rate_hz, float)
    assert node.describe_parameter("rate_hz").description.startswith("Output rate")
    bad = node.set_parameters([Parameter("max_speed_mps", value=0.5)])[0]  # below min_speed_mps
    assert not bad.successful and "must not exceed" in bad.reason
    ro = node.set_parameters([Parameter("mode", value="slow")])[0]
    assert not ro.successful
    ok = node.set_parameters([Parameter("max_speed_mps", value=7.0)])[0]
    assert ok.successful and p.max_speed_mps == 7.0
    node.destroy_node()


@pytest.mark.node
def test_declare_rejects_out_of_range_startup_value(rclpy_context):
    from rclpy.node import Node
    from rclpy.parameter import Parameter

    node = Node("demo2", context=rclpy_context, parameter_overrides=[Parameter("rate_hz", value=5000.0)])
    with pytest.raises(ParameterError, match="rate_hz"):
        params.declare(node, DemoParams)
    node.destroy_node()


def test_domain_leases_are_exclusive_across_processes():
    with lease_domain_id(seed=1) as a, lease_domain_id(seed=1) as b:
        assert a.domain_id != b.domain_id
        code = (
            "from yard_ros.domain import lease_domain_id\n"
            "ids = [lease_domain_id(seed=1).domain_id for _ in range(3)]\n"
            "print(' '.join(map(str, ids)))"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        child = {int(x) for x in out.split()}
        assert a.domain_id not in child and b.domain_id not in child and len(child) == 3
    # released: the same seed gets the same first id again
    with lease_domain_id(seed=1) as c:
        assert c.domain_id == a.domain_id


def test_local_env_respects_user_choice():
    env, lease = local_ros_env({"ROS_DOMAIN_ID": "77"})
    assert env["ROS_DOMAIN_ID"] == "77" and lease is None
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    env2, lease2 = local_ros_env({"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"})
    try:
        assert env2["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "SUBNET"
        assert 1 <= int(env2["ROS_DOMAIN_ID"]) <= 232
    finally:
        lease2.release()


def test_test_session_runs_in_a_private_domain():
    """The session's ROS_DOMAIN_ID is one this process leased (test/conftest.py), not whatever was set."""
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    domain = int(os.environ["ROS_DOMAIN_ID"])
    assert DOMAIN_MIN <= domain <= DOMAIN_MAX
    # leased = its lock is held: another process can neither take this id nor be handed it
    take = "import fcntl, os, sys; fcntl.flock(os.open(sys.argv[1], os.O_RDWR), fcntl.LOCK_EX | fcntl.LOCK_NB)"
    other = subprocess.run([sys.executable, "-c", take, str(LOCK_DIR / f"{domain}.lock")], capture_output=True,
                           text=True, timeout=30)
    assert other.returncode != 0 and "BlockingIOError" in other.stderr, other.stderr


def test_stamps_round_trip():
    from yard_ros.stamps import from_sec, to_sec

    for t in (0.0, 1.5, 12345.999999999, 0.9999999996):
        assert abs(to_sec(from_sec(t)) - t) < 1e-9
        assert from_sec(t).nanosec < 1_000_000_000
    assert to_sec(from_sec(-3.0)) == 0.0


@pytest.mark.node
def test_declare_accepts_integer_yaml_for_floats_and_rejects_strings(rclpy_context):
    from rclpy.node import Node
    from rclpy.parameter import Parameter

    node = Node("demo3", context=rclpy_context, parameter_overrides=[Parameter("gains", value=[1, 3])])
    p = params.declare(node, DemoParams)
    assert p.gains == [1.0, 3.0]
    r = node.set_parameters([Parameter("max_speed_mps", value="fast")])[0]
    assert not r.successful and "expected a number" in r.reason
    r = node.set_parameters([Parameter("max_speed_mps", value=8)])[0]
    assert r.successful and p.max_speed_mps == 8.0
    node.destroy_node()
