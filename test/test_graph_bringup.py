"""Graph test: `yard-autonomy sim` starts real processes; a test node sees every documented topic.

One run of `yard-autonomy sim --world small_yard --carriers 3` (module fixture) is observed by an
in-process rclpy node in the same private ROS domain: every topic of the README table exists
with its type and direction, the periodic ones arrive at roughly their rate (in simulated time,
wide tolerance), nothing undocumented is published, and Ctrl-C (SIGINT) ends every process
with exit code 0. A second run checks that a node dying is reported with a non-zero exit.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from topic_tables import TopicRow, architecture_simulator_topics, architecture_topics, readme_topics

from yard_model import load_world

REPO = Path(__file__).resolve().parents[1]
YARD_AUTONOMY = str(Path(sys.executable).parent / "yard-autonomy")
CARRIERS = ["carrier_01", "carrier_02", "carrier_03"]
OBSERVE_SIM_S = 3.0  # simulated seconds of counting after every topic is discovered
DRAIN_SIM_S = 1.0  # simulated seconds more, so messages stamped in the window but queued are counted
DEADLINE_S = 60.0  # wall-clock limit for any wait, so a broken graph fails instead of hanging
RATE_TOLERANCE = (0.5, 1.6)  # observed / documented
ROS_INTERNAL = {"/rosout", "/parameter_events"}


def short_type(ros_type: str) -> str:
    """'sensor_msgs/msg/NavSatFix' -> 'sensor_msgs/NavSatFix' (the docs' spelling)."""
    pkg, *_, name = ros_type.split("/")
    return f"{pkg}/{name}"


def message_class(ros_type: str):
    """'sensor_msgs/msg/NavSatFix' -> the class (rosidl_runtime_py, which has get_message, is no wheel)."""
    pkg, kind, name = ros_type.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), name)


def graph_env() -> dict[str, str]:
    """The `ros_env` fixture's environment (this pytest process's private domain, localhost only)."""
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_sim(log_dir: Path, env: dict[str, str], *args: str) -> subprocess.Popen:
    log_dir.mkdir(parents=True, exist_ok=True)
    out = open(log_dir / "yard-autonomy.out", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([YARD_AUTONOMY, "sim", "--domain-id", env["ROS_DOMAIN_ID"], "--log-dir", str(log_dir),
                             *args], stdout=out, stderr=subprocess.STDOUT, env=env)
    proc.out_file = out
    return proc


def finish(proc: subprocess.Popen) -> str:
    """Make sure the command and its children are gone; return its output."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()  # its children get SIGTERM from the kernel (PR_SET_PDEATHSIG)
            proc.wait()
    proc.out_file.close()
    return Path(proc.out_file.name).read_text(errors="replace")


@dataclass
class Observation:
    types: dict[str, list[str]] = field(default_factory=dict)
    publishers: dict[str, set[str]] = field(default_factory=dict)
    subscribers: dict[str, set[str]] = field(default_factory=dict)
    stamps: dict[str, list[float]] = field(default_factory=dict)  # sim time at receipt
    exit_code: int | None = None
    output: str = ""
    manifest: list[dict] = field(default_factory=list)

    window: tuple[float, float] = (0.0, 0.0)  # simulated seconds of counting

    def rate_hz(self, topic: str) -> float:
        """Messages stamped in the window per simulated second (a shared topic's publishers tick in bursts,
        so the spread of its stamps is no measure of its rate)."""
        t0, t1 = self.window
        n = sum(1 for t in self.stamps.get(topic, []) if t0 <= t < t1)
        return n / (t1 - t0) if t1 > t0 else 0.0


def own_stamp(msg) -> float | None:
    """The time a message is about (header, clock, first marker, a JSON document's "stamp"), or None."""
    stamp = getattr(getattr(msg, "header", None), "stamp", None) or getattr(msg, "clock", None)
    if stamp is None and getattr(msg, "markers", None):
        stamp = msg.markers[0].header.stamp
    if stamp is None and isinstance(getattr(msg, "data", None), str):
        try:
            doc = json.loads(msg.data)
        except ValueError:
            return None
        t = doc.get("stamp") if isinstance(doc, dict) else None
        return float(t) if isinstance(t, int | float) else None
    return None if stamp is None else stamp.sec + stamp.nanosec * 1e-9


def full_name(endpoint) -> str:
    """'/carrier_01/path_follower': nodes of the same name in different namespaces are different publishers."""
    return f"{endpoint.node_namespace.rstrip('/')}/{endpoint.node_name}"


def observe(expected: list[str], env_domain: str) -> Observation:
    """Discover the graph, then count messages on every published topic for OBSERVE_SIM_S."""
    import rclpy
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    assert os.environ["ROS_DOMAIN_ID"] == env_domain
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("graph_test_observer", context=ctx)
    executor = rclpy.executors.SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    obs = Observation()
    try:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            names = dict(node.get_topic_names_and_types())
            if all(t in names for t in expected):
                break
            executor.spin_once(timeout_sec=0.1)
        names = dict(node.get_topic_names_and_types())
        missing = [t for t in expected if t not in names]
        assert not missing, f"topics never appeared: {missing}"
        sim_now = [None]
        # Deep queues: a busy observer (2 cores, tests in parallel) falls behind but loses nothing; every
        # message is then placed in the window by its own stamp, not by when the observer got to it.
        qos = QoSProfile(depth=2000, reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE)

        def on_clock(msg) -> None:
            sim_now[0] = msg.clock.sec + msg.clock.nanosec * 1e-9

        def counter(topic: str):
            def on_msg(msg) -> None:
                if topic == "/diagnostics" and not any(st.name.startswith("yard_sim") for st in msg.status):
                    return  # a shared topic: the table documents the simulator's own rate
                stamp = own_stamp(msg)
                if stamp is None:  # a JSON document: the sim time it arrived at
                    stamp = sim_now[0]
                if stamp is not None:
                    obs.stamps.setdefault(topic, []).append(stamp)
            return on_msg

        from rosgraph_msgs.msg import Clock

        node.create_subscription(Clock, "/clock", on_clock, qos)
        for topic, types in names.items():
            if topic in ROS_INTERNAL:
                continue
            pubs = node.get_publishers_info_by_topic(topic)
            if any(p.node_name != node.get_name() for p in pubs):
                node.create_subscription(message_class(types[0]), topic, counter(topic), qos)
        start = None
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
            if sim_now[0] is not None:
                start = sim_now[0] if start is None else start
                if sim_now[0] - start >= OBSERVE_SIM_S + DRAIN_SIM_S:
                    break
        assert start is not None, "no /clock received"
        obs.window = (start, start + OBSERVE_SIM_S)
        for topic, types in node.get_topic_names_and_types():
            if topic in ROS_INTERNAL:
                continue
            obs.types[topic] = [short_type(t) for t in types]
            me = "/" + node.get_name()
            obs.publishers[topic] = {full_name(p) for p in node.get_publishers_info_by_topic(topic)} - {me}
            obs.subscribers[topic] = {full_name(s) for s in node.get_subscriptions_info_by_topic(topic)} - {me}
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
    return obs


@pytest.fixture(scope="module")
def small_cranes() -> list[str]:
    return sorted(load_world(REPO / "sim_worlds" / "small_yard.yaml").cranes)


@pytest.fixture(scope="module")
def run(tmp_path_factory, small_cranes) -> Observation:
    """One observed run of the simulated small yard with 3 carriers, stopped by SIGINT."""
    env = graph_env()
    log_dir = tmp_path_factory.mktemp("graph_bringup")
    expected = [t for row in readme_topics() if not row.optional for t in row.expand(CARRIERS, small_cranes)]
    proc = start_sim(log_dir, env, "--world", "small_yard", "--carriers", "3")
    try:
        obs = observe(expected, env["ROS_DOMAIN_ID"])
        proc.send_signal(signal.SIGINT)  # what a terminal Ctrl-C sends
        obs.exit_code = proc.wait(timeout=DEADLINE_S)
    finally:
        obs_output = finish(proc)
    obs.output = obs_output
    obs.manifest = json.loads((log_dir / "processes.json").read_text())
    return obs


def test_readme_topic_table_matches_the_interface_contract():
    contract = architecture_simulator_topics()
    readme = {r.topic: (r.type, r.direction) for r in readme_topics()}
    assert readme == contract


@pytest.mark.graph
def test_every_documented_topic_exists_with_its_type_and_direction(run, small_cranes):
    problems = []
    for row in readme_topics():
        for topic in row.expand(CARRIERS, small_cranes):
            if topic not in run.types:
                if not row.optional:
                    problems.append(f"{topic}: missing")
                continue
            if run.types[topic] != [row.type]:
                problems.append(f"{topic}: type {run.types[topic]}, documented {row.type}")
            side = run.publishers if row.direction == "pub" else run.subscribers
            if "/yard_sim" not in side[topic]:
                problems.append(f"{topic}: yard_sim does not {row.direction} it (pub {sorted(run.publishers[topic])},"
                                f" sub {sorted(run.subscribers[topic])})")
    assert not problems, "\n".join(problems)


@pytest.mark.graph
def test_nothing_undocumented_is_published(run, small_cranes):
    documented = {t for row in readme_topics() for t in row.expand(CARRIERS, small_cranes)}
    # Nodes other than the simulator that joined the graph publish the topics the interface contract lists.
    documented |= {t for topic in architecture_topics()
                   for t in TopicRow(topic, "", "pub", None, False).expand(CARRIERS, small_cranes)}
    extra = sorted(t for t, pubs in run.publishers.items() if pubs and t not in documented)
    assert not extra, f"published but not in the README topic table: {extra}"


@pytest.mark.graph
def test_periodic_topics_arrive_at_their_documented_rate(run, small_cranes):
    lo, hi = RATE_TOLERANCE
    problems = []
    for row in readme_topics():
        if row.rate_hz is None or row.direction != "pub":
            continue
        for topic in row.expand(CARRIERS, small_cranes):
            if row.optional and topic not in run.types:
                continue
            got = run.rate_hz(topic)
            if not lo * row.rate_hz <= got <= (math.inf if row.on_change else hi * row.rate_hz):
                problems.append(f"{topic}: {got:.2f} Hz in sim time, documented {row.rate_hz:g} Hz "
                                f"({len(run.stamps.get(topic, []))} messages)")
    assert not problems, "\n".join(problems)


@pytest.mark.graph
def test_ctrl_c_stops_every_process_cleanly(run):
    assert run.exit_code == 0, run.output
    assert "stopped cleanly" in run.output
    labels = [m["label"] for m in run.manifest]
    assert "yard_sim" in labels and len(set(m["pid"] for m in run.manifest)) == len(labels)
    assert [(m["label"], m["state"], m["returncode"]) for m in run.manifest] == [
        (label, "exited", 0) for label in labels]


@pytest.mark.graph
def test_a_dying_node_is_named_and_the_command_exits_non_zero(tmp_path):
    env = graph_env()
    proc = start_sim(tmp_path, env, "--world", "small_yard", "--carriers", "1")
    try:
        manifest = tmp_path / "processes.json"
        deadline = time.monotonic() + DEADLINE_S
        pid = None
        while time.monotonic() < deadline and pid is None and proc.poll() is None:
            if manifest.is_file():
                pid = {m["label"]: m["pid"] for m in json.loads(manifest.read_text())}.get("yard_sim")
            time.sleep(0.05)
        assert pid is not None, finish(proc)
        os.kill(pid, signal.SIGKILL)
        code = proc.wait(timeout=DEADLINE_S)
    finally:
        output = finish(proc)
    text = " ".join(output.split())
    assert code == 1, output
    assert "FAILED yard_sim" in text and "died (killed by SIGKILL)" in text
    states = {m["label"]: m["state"] for m in json.loads((tmp_path / "processes.json").read_text())}
    assert states["yard_sim"] == "died"
