"""Shared fixtures: every test process gets its own ROS domain, DDS stays on this host.

The lease (an exclusive file lock per domain id, see yard_ros/domain.py) is taken once per
pytest process, before anything initialises rclpy, so xdist workers and concurrent pytest
runs on the same machine never hear each other. Graph tests start their processes with
``ros_env`` so those join the same private domain as the test's own node.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from yard_ros.domain import lease_domain_id

REPO = Path(__file__).resolve().parents[1]
WORLDS = REPO / "sim_worlds"

_LEASE = None


def pytest_configure(config):
    global _LEASE
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    if _LEASE is None:
        _LEASE = lease_domain_id()
        os.environ["ROS_DOMAIN_ID"] = str(_LEASE.domain_id)


def pytest_unconfigure(config):
    if _LEASE is not None:
        _LEASE.release()


@pytest.fixture
def ros_env() -> dict[str, str]:
    """Environment for child processes of a graph test: same private domain, localhost only."""
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def rclpy_context():
    """A fresh rclpy context for one node test, shut down afterwards."""
    import rclpy

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        yield ctx
    finally:
        if ctx.ok():
            rclpy.shutdown(context=ctx)


@pytest.fixture(scope="session")
def small_world():
    from yard_model import load_world

    return load_world(WORLDS / "small_yard.yaml")


@pytest.fixture(scope="session")
def youyiguan_world():
    from yard_model import load_world

    return load_world(WORLDS / "youyiguan.yaml")


@pytest.fixture(scope="session")
def single_track_world():
    """Youyiguan with the earlier single-track link and passing loop (sim_worlds/youyiguan_single_track.yaml)."""
    from yard_model import load_world

    return load_world(WORLDS / "youyiguan_single_track.yaml")
