"""Graph test: localization runs as a real process beside the real simulator and stays within its own covariance.

`yard-autonomy sim --world small_yard --carriers 1 --rtf 0.5` starts the simulator and carrier_01's
localization node as separate processes in this test's private ROS domain. The test node drives
carrier_01 out of its parking spot with cmd_vel (straight, then a curve), and compares every
``/carrier_01/localization/odometry`` with the simulator's ``ground_truth/odometry`` at the same
stamp: the position error must sit inside the covariance the filter reports (NEES against a
chi-square bound), the output must come at 50 Hz of simulated time, and Ctrl-C must stop all.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.graph

YARD_AUTONOMY = str(Path(sys.executable).parent / "yard-autonomy")
DEADLINE_S = 60.0  # wall-clock limit for any wait: a broken graph fails instead of hanging
CHI2_2DOF_999 = 13.82
# (sim seconds from the start of the drive, speed [m/s], yaw rate [rad/s]): out of cn_park_1, facing south
DRIVE = [(2.0, 0.0, 0.0), (6.0, 2.0, 0.0), (5.0, 2.0, 0.08), (1.0, 0.0, 0.0)]


def stamp_s(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def command_at(t: float) -> tuple[float, float]:
    for seconds, v, w in DRIVE:
        if t < seconds:
            return v, w
        t -= seconds
    return 0.0, 0.0


def test_localization_beside_the_simulator_stays_within_its_covariance(tmp_path, ros_env):
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import TwistStamped
    from nav_msgs.msg import Odometry
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock

    from yard_ros import qos

    out = open(tmp_path / "yard-autonomy.out", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        # half real time: seven node processes share 2 cores with the rest of the parallel suite; at real time a
        # starved localization process published 252 estimates in 14 s of sim time instead of 700
        [YARD_AUTONOMY, "sim", "--world", "small_yard", "--carriers", "1", "--rtf", "0.5",
         "--domain-id", ros_env["ROS_DOMAIN_ID"], "--log-dir", str(tmp_path / "logs")],
        stdout=out, stderr=subprocess.STDOUT, env=ros_env)
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("localization_graph_test", context=ctx)
    executor = rclpy.executors.SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    truth: dict[int, tuple[float, float]] = {}  # stamp [ns] -> (x, y)
    estimates: list = []
    diagnostics: list = []
    sim_now = [None]
    node.create_subscription(Clock, "/clock", lambda m: sim_now.__setitem__(0, stamp_s(m.clock)),
                             QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
    # The simulator publishes ground truth reliably: a reliable, deep subscription loses none of it while this
    # process is starved on a loaded machine (a best-effort one lost half of it in the parallel suite).
    node.create_subscription(
        Odometry, "/carrier_01/ground_truth/odometry",
        lambda m: truth.__setitem__(m.header.stamp.sec * 10**9 + m.header.stamp.nanosec,
                                    (m.pose.pose.position.x, m.pose.pose.position.y)),
        QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE))
    node.create_subscription(Odometry, "/carrier_01/localization/odometry", estimates.append,
                             QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
    node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 50)
    cmd = node.create_publisher(TwistStamped, "/carrier_01/cmd_vel", qos.COMMAND)
    try:
        # wait until the filter publishes (it starts from the parking spot at a standstill)
        deadline = time.monotonic() + DEADLINE_S
        while (not estimates or sim_now[0] is None) and time.monotonic() < deadline and proc.poll() is None:
            executor.spin_once(timeout_sec=0.05)
        assert estimates, "no localization/odometry within the deadline"
        t0 = sim_now[0]
        last_cmd = -1.0
        total = sum(d[0] for d in DRIVE)
        while sim_now[0] is not None and sim_now[0] - t0 < total and time.monotonic() < deadline + DEADLINE_S:
            executor.spin_once(timeout_sec=0.02)
            if sim_now[0] - last_cmd >= 0.05:  # 20 Hz of sim time, well inside the 0.5 s stale timeout
                v, w = command_at(sim_now[0] - t0)
                msg = TwistStamped()
                msg.header.stamp = node.get_clock().now().to_msg()
                msg.twist.linear.x, msg.twist.angular.z = v, w
                cmd.publish(msg)
                last_cmd = sim_now[0]
        t_end = sim_now[0]
        assert t_end is not None and t_end - t0 >= total, "the simulation did not advance"
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=DEADLINE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        out.close()
    output = (tmp_path / "yard-autonomy.out").read_text(errors="replace")
    assert code == 0, output

    # every estimate of the drive against the truth at its stamp (truth comes every 10 ms of sim time; between
    # two samples at most 20 ms apart it is interpolated: at 2 m/s on a 12 m radius that is exact to 0.1 mm)
    truth_t = np.array(sorted(truth)) * 1e-9
    truth_xy = np.array([truth[k] for k in sorted(truth)])
    d2, errors, stamps = [], [], []
    for m in estimates:
        t = stamp_s(m.header.stamp)
        if not t0 <= t <= t_end:
            continue
        stamps.append(t)
        i = int(np.searchsorted(truth_t, t))
        if i == len(truth_t) or i == 0 and truth_t[0] != t:
            continue
        if truth_t[i] == t:
            x, y = truth_xy[i]
        elif truth_t[i] - truth_t[i - 1] <= 0.0201:
            a = (t - truth_t[i - 1]) / (truth_t[i] - truth_t[i - 1])
            x, y = (1.0 - a) * truth_xy[i - 1] + a * truth_xy[i]
        else:
            continue
        d = np.array([m.pose.pose.position.x - x, m.pose.pose.position.y - y])
        cov = np.array(m.pose.covariance).reshape(6, 6)[:2, :2]
        d2.append(float(d @ np.linalg.solve(cov, d)))
        errors.append(math.hypot(*d))
    assert len(d2) > 300, f"only {len(d2)} of {len(stamps)} estimates matched a ground-truth stamp"
    assert np.mean(np.array(d2) < CHI2_2DOF_999) > 0.99, f"NEES above the 99.9 % bound: {np.max(d2):.1f}"
    # 2 is expected for a consistent 2-D error *over many runs*; one 14 s run sees one realisation of a GNSS
    # error correlated over 5 s, so its mean spreads widely: the same drive in the core with the simulator's
    # seed 0 gives 3.3 to 6.0 depending on how long the carrier stood first (40 seeds: mean 2.05, max 7.0).
    # Consistency over many seeds is the core tests' and bench/localization.py's job; this bound catches a
    # graph that breaks it grossly (stamps 50 ms off at 2 m/s alone would give NEES ~ 50).
    assert np.mean(d2) < 8.0, f"mean NEES {np.mean(d2):.1f}"
    # Absolute bounds are loose on purpose: in the parallel suite on 2 cores the localization process is
    # starved at times and publishes "now" from inputs that arrived late (at 2 m/s, 60 ms behind is 12 cm;
    # 99th percentiles of 12 cm were seen that way). NEES above is the consistency check; these catch a
    # filter that is simply wrong.
    assert np.median(errors) < 0.05, f"median error {np.median(errors):.3f} m"
    assert max(errors) < 0.5, f"max error {max(errors):.3f} m"
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    # 50 Hz exactly is the node test's job; here the processes share a possibly loaded machine in real time
    assert rate >= 40.0, f"{rate:.1f} Hz of sim time"
    ours = [s for arr in diagnostics for s in arr.status if s.name == "localization: carrier_01"]
    assert ours, "no localization diagnostics"
    values = {kv.key: kv.value for kv in ours[-1].values}
    # the shipped carrier has a dual-antenna receiver; standing in its parking spot either source is right
    assert values["state"] == "tracking"
    assert values["initialised from"] == "gnss_heading" or values["initialised from"].startswith("spot:")
    assert int(values.get("gnss/fix accepted", "0")) > 100
    assert "stopped cleanly" in output and os.path.isdir(tmp_path / "logs")
