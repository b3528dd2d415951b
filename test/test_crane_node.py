"""crane_controller node: real rclpy in one process; its reference page, config and code agree."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from crane_control.params import CraneControllerParams
from yard_model.documents import validate
from yard_model.params import default_of, markdown_table, param_fields

REPO = Path(__file__).resolve().parents[1]


def test_reference_page_table_matches_the_parameters():
    section = (REPO / "docs" / "nodes" / "crane_controller.md").read_text()
    assert markdown_table(CraneControllerParams) in section


def test_shipped_config_documents_every_parameter_with_its_default():
    text = (REPO / "config" / "crane_controller.yaml").read_text()
    values = yaml.safe_load(text)["/**"]["ros__parameters"]
    fields = {f.name: default_of(f) for f in param_fields(CraneControllerParams)}
    assert set(values) == set(fields)
    for name, default in fields.items():
        assert values[name] == default, name
        assert f"Default {default!r}".replace("'", '"') in text or f"Default {default}" in text or \
            (isinstance(default, bool) and f"Default {str(default).lower()}" in text), name


def spin_until(executor, cond, timeout_s: float = 10.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.05)
        if cond():
            return True
    return False


@pytest.mark.node
def test_node_accepts_rejects_plans_and_stops(rclpy_context, small_world):
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Bool, String
    from trajectory_msgs.msg import JointTrajectory

    from crane_control.crane_controller_node import CraneControllerNode
    from yard_ros import qos

    ctl = CraneControllerNode(namespace="/cn_crane_1", context=rclpy_context)
    t = Node("crane_test", context=rclpy_context)
    events, trajs, claims, diags = [], [], [], []
    t.create_subscription(String, "/cn_crane_1/job_events", lambda m: events.append(json.loads(m.data)), qos.EVENTS)
    t.create_subscription(JointTrajectory, "/cn_crane_1/joint_trajectory", trajs.append, qos.COMMAND)
    t.create_subscription(String, "/cranes/rail_claims", lambda m: claims.append(json.loads(m.data)), qos.LATCHED)
    t.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 10)
    jobs = t.create_publisher(String, "/cn_crane_1/jobs", qos.COMMAND)
    bays = t.create_publisher(String, "/fleet/bay_status", qos.LATCHED)
    estop = t.create_publisher(Bool, "/cn_crane_1/emergency_stop", qos.LATCHED)
    joints = t.create_publisher(JointState, "/cn_crane_1/joint_states", qos.STATE)
    peer = t.create_publisher(JointState, "/cn_crane_2/joint_states", qos.STATE)

    def publish_joints():
        js = JointState(name=["gantry", "trolley", "hoist", "twistlock"], position=[30.0, 20.0, 6.0, 0.0],
                        velocity=[0.0] * 4, effort=[0.0, 0.0, 98066.5, 0.0])
        joints.publish(js)
        peer.publish(JointState(name=["gantry", "trolley", "hoist", "twistlock"], position=[110.0, 20.0, 6.0, 0.0],
                                velocity=[0.0] * 4, effort=[0.0, 0.0, 98066.5, 0.0]))

    t.create_timer(0.05, publish_joints)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(ctl)
    ex.add_node(t)
    try:
        bays.publish(String(data="{broken"))  # bad bay_status: logged, ignored
        assert spin_until(ex, lambda: ctl.bad_documents >= 1)
        bays.publish(String(data=json.dumps({"stamp": 0.0, "bays": {
            "cn_truck_11": {"kind": "truck", "occupant": "truck_1", "ready": True, "container_id": "C1"},
            "cn_bay_a1": {"kind": "carrier", "occupant": "carrier_01", "ready": True, "container_id": None}}})))
        assert spin_until(ex, lambda: ctl.core.bay_doc is not None and ctl.core.reading is not None)

        jobs.publish(String(data="{oops"))
        jobs.publish(String(data=json.dumps({"job_id": "far", "container_id": "C1", "pick": {"bay": "vn_truck_11"},
                                             "place": {"bay": "cn_bay_a1"}})))
        jobs.publish(String(data=json.dumps({"job_id": "j1", "container_id": "C1", "pick": {"bay": "cn_truck_11"},
                                             "place": {"bay": "cn_bay_a1"}})))
        assert spin_until(ex, lambda: any(e["event"] == "started" for e in events) and trajs)
        for e in events:
            validate("crane_job_event", e)
        kinds = [(e["job_id"], e["event"]) for e in events]
        assert ("", "rejected") in kinds and ("far", "rejected") in kinds
        assert ("j1", "accepted") in kinds and ("j1", "started") in kinds
        assert "not valid JSON" in next(e["reason"] for e in events if e["job_id"] == "")
        assert "not served by crane 'cn_crane_1'" in next(e["reason"] for e in events if e["job_id"] == "far")

        approach = trajs[0]
        assert approach.joint_names == ["gantry", "trolley", "hoist", "twistlock"]
        first, last = approach.points[0], approach.points[-1]
        assert list(first.positions) == pytest.approx([30.0, 20.0, 6.0, 0.0])
        landed = ctl.model.bays["cn_truck_11"].landed_height_m - ctl.p.landing_overtravel_m
        assert list(last.positions) == pytest.approx([30.0, 24.0, landed, 0.0], abs=1e-6)
        times = [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in approach.points]
        assert times == sorted(times) and len(set(times)) == len(times)
        assert all(len(p.velocities) == 4 and len(p.accelerations) == 4 for p in approach.points)

        n = len(trajs)
        estop.publish(Bool(data=True))
        assert spin_until(ex, lambda: len(trajs) > n and any(e["event"] == "holding" for e in events))
        assert all(abs(v) < 1e-9 for v in trajs[-1].points[-1].velocities)
        assert next(e for e in events if e["event"] == "holding")["reason"] == "emergency stop"
        assert spin_until(ex, lambda: any(s.level == bytes([2]) and "emergency stop" in s.message
                                          for d in diags for s in d.status))
        assert spin_until(ex, lambda: any(c["crane_id"] == "cn_crane_1" for c in claims))
        for c in claims:
            validate("rail_claim", c)
        assert ctl.errors == 0
    finally:
        ex.shutdown()
        ctl.destroy_node()
        t.destroy_node()


def test_joint_states_are_taken_for_when_they_were_measured():
    """The header stamp, not the time the controller got round to them (a starved controller planned from
    states a queue had kept for it); an unstamped message counts from its receipt."""
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import JointState

    from crane_control.crane_controller_node import joint_reading

    msg = JointState(name=["gantry", "trolley", "hoist", "twistlock"], position=[30.0, 20.0, 6.0, 0.0],
                     velocity=[0.0, 1.0, 0.0, 0.0], effort=[0.0, 0.0, 98066.5, 0.0])
    msg.header.stamp = Time(sec=41, nanosec=250_000_000)
    r = joint_reading(msg, 41.7, ("gantry", "trolley", "hoist"))
    assert r.stamp_s == 41.25 and r.velocity["trolley"] == 1.0
    msg.header.stamp = Time()
    assert joint_reading(msg, 41.7, ("gantry", "trolley", "hoist")).stamp_s == 41.7


def test_a_plan_sent_as_a_message_asks_the_drive_for_nothing_beyond_its_limits():
    """What the drive receives: times on the nanosecond grid of builtin_interfaces/Duration, positions as sent.

    Issue #10 graph test: with each point's state computed at its exact time and the time then rounded to the
    nanosecond, a point 1.2 ms after a jerk switch sat 6e-10 m off the trajectory at 1.2 m/s, and the drive's
    quintic asked for 18 m/s^3 (limit 1). A state must be the plan's at the time the message carries.
    """
    from crane_control import motion
    from crane_control.crane_controller_node import trajectory_msg
    from crane_control.motion import AxisState
    from yard_model.world import AxisLimits
    from yard_sim.sim_node import trajectory_from_msg
    from yard_sim.trajectory import AxisReference, axis_knots, limit_violations

    limits = {"gantry": AxisLimits(10.0, 130.0, 1.5, 0.4, 0.8), "trolley": AxisLimits(3.0, 35.0, 1.2, 0.5, 1.0),
              "hoist": AxisLimits(1.0, 18.0, 0.8, 0.5, 1.0)}
    joints = (*limits, "twistlock")
    found = []
    for k in range(12):  # stamps and starts at arbitrary nanosecond offsets
        start = {"gantry": AxisState(30.0 + k), "trolley": AxisState(31.0 - 0.5 * k), "hoist": AxisState(4.04)}
        plan = motion.transfer(start, {"gantry": 40.0, "trolley": 7.0 + k}, 3.89, 8.5, limits, 1.0)
        plan.stamp_s = 38.38 + 7.123456789e-3 * k
        plan.start_s = plan.stamp_s + 1.726748167 + 1.1e-5 * k
        traj = trajectory_from_msg(trajectory_msg(plan, 0.1, joints), 0.0)
        for received in (plan.stamp_s + 0.15, plan.start_s + 3.0):  # before the start, and joined mid-move
            for j, axis in enumerate(limits):
                state = plan.state_at(received)[axis]
                ref = AxisReference(axis_knots(traj, j, received, (state.p, state.v, state.a)))
                found += limit_violations(axis, ref, limits[axis])
    assert found == []
