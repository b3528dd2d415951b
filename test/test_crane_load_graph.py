"""Graph test: a crane stays within its limits when its controller is starved and its feedback is late.

Issue #10 saw ``crane_limit_violation`` (trolley 34 m/s², 8,812 m/s³) on a heavily loaded machine. Here the
real controller process (shipped defaults) drives ``cn_crane_1`` of youyiguan in the real simulator
process over DDS, working one container truck -> truck -> truck, while the test loads it from outside:

* two busy-looping processes share the one CPU the controller is pinned to;
* SIGSTOP/SIGCONT bursts freeze the whole controller (DDS threads included) for 50-250 ms at random;
* its ``joint_states`` come through a relay that holds each message back 20-120 ms (in order).

The simulator's events must show no limit violation, no drop, no collision, and both jobs must complete.
"""

from __future__ import annotations

import json
import os
import sys

import pytest
from starvation import CpuHogs, DelayRelay, StopBursts, start_pinned
from test_crane_graph import shut_down, spinner

from fleet_manager.bay_status import bay_entries

CRANE = "cn_crane_1"
BAY_A, BAY_B = "cn_truck_11", "cn_truck_21"  # same gantry position, 7 m apart on the trolley
CONTAINER = "MSCU1234565"
RTF = 2.0


@pytest.mark.graph
@pytest.mark.timeout(300)
def test_crane_stays_within_its_limits_with_a_starved_controller_and_late_feedback(ros_env, rclpy_context,
                                                                                    youyiguan_world):
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.clock import Clock, ClockType
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String

    from yard_model.documents import validate
    from yard_ros import qos

    cpus = os.sched_getaffinity(0)
    cpu = min(cpus)  # the controller's; the simulator keeps the others (when there are) to hold its pace
    relayed = f"/{CRANE}/joint_states_relayed"
    sim = start_pinned([sys.executable, "-m", "yard_sim.sim_node", "--ros-args", "-p", "world:=youyiguan",
                        "-p", "carriers:=0", "-p", f"real_time_factor:={RTF}", "-p", "truck_auto_depart:=false"],
                       ros_env, cpus - {cpu} or cpus)
    ctl = start_pinned([sys.executable, "-m", "crane_control.crane_controller_node", "--ros-args",
                        "-r", f"__ns:=/{CRANE}", "-r", f"/{CRANE}/joint_states:={relayed}", "-p", "world:=youyiguan",
                        "-p", "use_sim_time:=true"], ros_env, {cpu})  # the shipped defaults otherwise
    node = Node("crane_load_test", context=rclpy_context,
                parameter_overrides=[rclpy.parameter.Parameter("use_sim_time", value=True)])
    events, sim_events, state = [], [], {}
    node.create_subscription(String, f"/{CRANE}/job_events", lambda m: events.append(json.loads(m.data)),
                             qos.EVENTS)
    node.create_subscription(String, "/yard/events", lambda m: sim_events.append(json.loads(m.data)), qos.EVENTS)
    node.create_subscription(String, "/yard/state", lambda m: state.update(json.loads(m.data)), qos.LATCHED)
    diag = {}  # latest /diagnostics values per status name, for the failure messages

    def on_diag(m: DiagnosticArray) -> None:
        for st in m.status:
            diag[st.name] = {"message": st.message, **{kv.key: kv.value for kv in st.values if kv.key in (
                "real_time_factor_achieved", "command_lead_s", "longest_stall_s", "late_plans")}}

    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)
    relay = DelayRelay(node, JointState, f"/{CRANE}/joint_states", relayed, qos.SENSOR_SUB, qos.STATE,
                       (0.02, 0.12), seed=1)
    node.create_timer(0.005, relay.release, clock=Clock(clock_type=ClockType.STEADY_TIME))
    sim_cmd = node.create_publisher(String, "/yard/sim/commands", qos.COMMAND)
    jobs = node.create_publisher(String, f"/{CRANE}/jobs", qos.COMMAND)
    bays = node.create_publisher(String, "/fleet/bay_status", qos.LATCHED)

    def bay_status() -> dict:  # by the fleet manager's rule, from the simulator's trucks
        doc = {"stamp": node.get_clock().now().nanoseconds * 1e-9,
               "bays": bay_entries(youyiguan_world, state.get("trucks", {}), [])}
        validate("bay_status", doc)
        return doc

    node.create_timer(0.5, lambda: bays.publish(String(data=json.dumps(bay_status()))))
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    spin_until = spinner(ex, (sim, ctl), 0.01)

    def done(job_id: str) -> bool:
        return any(e["job_id"] == job_id and e["event"] in ("done", "failed") for e in events)

    try:
        assert spin_until(lambda: state and sim_cmd.get_subscription_count() > 0 and
                          jobs.get_subscription_count() > 0, 90.0), "simulator or controller did not come up"
        sim_cmd.publish(String(data=json.dumps({"command": "spawn_truck", "truck_id": "ta", "bay": BAY_A,
                                                "container_id": CONTAINER, "depart_after_s": None})))
        sim_cmd.publish(String(data=json.dumps({"command": "spawn_truck", "truck_id": "tb", "bay": BAY_B,
                                                "depart_after_s": None})))
        assert spin_until(lambda: CONTAINER in state.get("containers", {}) and len(state.get("trucks", {})) == 2, 30.0)
        with CpuHogs(2, {cpu}), StopBursts(ctl.pid, (0.05, 0.25), (0.2, 0.8), seed=2) as bursts:
            spin_until(lambda: False, 2.0)  # the load is there before the work, as on a busy machine
            for i, (pick, place) in enumerate(((BAY_A, BAY_B), (BAY_B, BAY_A))):
                jobs.publish(String(data=json.dumps({"job_id": f"j{i}", "container_id": CONTAINER,
                                                     "pick": {"bay": pick}, "place": {"bay": place}})))
                assert spin_until(lambda i=i: done(f"j{i}"), 150.0), \
                    f"j{i} did not complete: {[(e['event'], e.get('reason', '')) for e in events]}; {diag}"
        for i in range(2):
            kinds = [e["event"] for e in events if e["job_id"] == f"j{i}"]
            assert [k for k in kinds if k != "holding"] == ["accepted", "started", "locked", "lifted", "landed",
                                                            "done"], kinds
        assert bursts.count >= 10 and relay.relayed > 100  # the load was real
        assert spin_until(lambda: state["containers"][CONTAINER]["holder_id"] == "ta", 10.0)
        bad = [e for e in sim_events if e["event"] in ("crane_limit_violation", "container_dropped",
                                                      "container_misplaced", "collision")]
        assert bad == [], f"simulator reported {bad[:6]}; {diag}"
    finally:
        outputs = shut_down(ex, node, {"controller": ctl, "simulator": sim})
        assert "not publishing an invalid" not in outputs["simulator"], "the simulator failed to report an event"
