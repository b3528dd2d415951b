"""Process supervision with real processes: clean stop, dead nodes, escalation, respawn, sentinel.

The children are test/helpers/tiny_node.py (real rclpy nodes in mode `run`), so these tests do
not need the simulator.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import yaml

from yard_bringup import supervisor as sv
from yard_bringup.graph import NodeSpec
from yard_bringup.supervisor import ProcessPlan, Reporter, Supervisor, format_param_value, node_command, ros_arguments

HELPERS = Path(__file__).resolve().parent / "helpers"


class Recorder(Reporter):
    def __init__(self):
        self.messages: list[str] = []
        self.lines: list[tuple[str, str]] = []

    def message(self, text: str) -> None:
        self.messages.append(text)

    def output(self, label: str, line: str) -> None:
        self.lines.append((label, line))


@pytest.fixture
def child_env(ros_env) -> dict[str, str]:
    env = dict(ros_env)
    env["PYTHONPATH"] = os.pathsep.join([str(HELPERS), env.get("PYTHONPATH", "")])
    return env


def plan(tmp_path: Path, label: str, *args: str, **kw) -> ProcessPlan:
    argv = [sys.executable, "-m", "tiny_node", *args, "--ros-args", "-r", f"__node:={label.replace('/', '_')}"]
    return ProcessPlan(label, argv, tmp_path / sv.log_file_name(label), **kw)


def when_ready(sup: Supervisor, labels: list[str], then, timeout_s: float = 30.0) -> threading.Thread:
    """Call ``then()`` once every labelled process has printed 'ready' (from a helper thread)."""

    def watch() -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            logs = {s.plan.label: s.plan.log_path for s in sup.states}
            if all(logs[x].is_file() and "ready" in logs[x].read_text() for x in labels):
                then()
                return
            time.sleep(0.05)
        sup.request_stop("test timeout")

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


# --------------------------------------------------------------------------- command lines
@pytest.mark.parametrize("value", [True, False, 0, -7, 1.0, 2.5e-9, -0.0, "youyiguan", "3", "true", "", "a b",
                                   "it's", "/tmp/x.yaml", "a,b", "[x]", [1, 2], [1.5, 2.0], ["a", "b"], [True]])
def test_param_values_read_back_as_the_same_value_and_type(value):
    text = format_param_value(value)
    back = yaml.safe_load(text)
    assert back == value and type(back) is type(value)


def test_ros_arguments_keep_the_documented_order():
    spec = NodeSpec(name="localization", executable="localization", module="agv_nav.localization_node",
                    namespace="/carrier_02", params_files=("a.yaml", "b.yaml"),
                    parameters={"use_sim_time": True, "rate_hz": 50.0}, remappings=(("gnss/fix", "gnss/fix_raw"),))
    args = ros_arguments(spec, ["user.yaml"], resolve_config=lambda n: Path("/share/config") / n)
    assert args == [
        "--ros-args", "-r", "__node:=localization", "-r", "__ns:=/carrier_02",
        "--params-file", "/share/config/a.yaml", "--params-file", "/share/config/b.yaml",
        "-p", "use_sim_time:=true", "-p", "rate_hz:=50.0",
        "--params-file", str(Path("user.yaml").resolve()),
        "-r", "gnss/fix:=gnss/fix_raw",
    ]
    multi = NodeSpec(name="carrier", executable="carrier", module="m", namespace="/carrier_01",
                     hosts=("localization", "path_follower"))
    cmd = node_command(multi, python="py", resolve_config=lambda n: Path(n))
    assert cmd == ["py", "-m", "m", "--ros-args", "-r", "__ns:=/carrier_01"]  # no __node: it names its own nodes
    assert multi.node_names == ("/carrier_01/localization", "/carrier_01/path_follower")


def test_later_parameter_sources_win_in_rcl(tmp_path, child_env):
    """The order above relies on rcl applying --params-file and -p in order of appearance."""
    f = tmp_path / "p.yaml"
    f.write_text("/**:\n  ros__parameters:\n    a: 2\n")
    code = textwrap.dedent("""
        import sys, rclpy
        rclpy.init(args=sys.argv)
        n = rclpy.create_node("order_probe")
        n.declare_parameter("a", 0)
        print(n.get_parameter("a").value)
        n.destroy_node(); rclpy.shutdown()
    """)
    got = []
    for args in (["-p", "a:=1", "--params-file", str(f)], ["--params-file", str(f), "-p", "a:=1"]):
        out = subprocess.run([sys.executable, "-c", code, "--ros-args", *args], env=child_env,
                             capture_output=True, text=True, timeout=60)
        got.append(out.stdout.strip())
    assert got == ["2", "1"]


# --------------------------------------------------------------------------- supervision
@pytest.mark.graph
def test_sigint_stops_every_process_cleanly(tmp_path, child_env):
    rec = Recorder()
    sup = Supervisor([plan(tmp_path, "a", "run"), plan(tmp_path, "ns/b", "run")], child_env, tmp_path, rec,
                     echo=True)
    when_ready(sup, ["a", "ns/b"], lambda: os.kill(os.getpid(), signal.SIGINT))  # as a terminal Ctrl-C
    result = sup.run(handle_signals=True)
    assert result.ok, [f.describe() for f in result.failures]
    assert result.reason == "interrupted"
    assert result.exit_codes == {"a": 0, "ns/b": 0}
    assert [s.state for s in sup.states] == ["exited", "exited"]
    assert ("ns/b", "bye") in rec.lines and any(line.startswith("ready /a") for _, line in rec.lines)
    manifest = json.loads((tmp_path / "processes.json").read_text())
    assert [(m["label"], m["state"], m["returncode"]) for m in manifest] == [("a", "exited", 0), ("ns/b", "exited", 0)]
    assert (tmp_path / "ns__b.log").is_file()


@pytest.mark.graph
def test_a_dead_node_is_named_with_its_log_and_the_rest_stop_cleanly(tmp_path, child_env):
    rec = Recorder()
    go = tmp_path / "good_is_up"
    sup = Supervisor([plan(tmp_path, "good", "run"), plan(tmp_path, "bad", "crash", "--when-file", str(go))],
                     child_env, tmp_path, rec)
    when_ready(sup, ["good"], go.touch)  # die only once the good node can take a SIGINT
    result = sup.run(handle_signals=False)
    assert not result.ok and result.reason == "failure"
    (fail,) = result.failures
    assert fail.label == "bad" and fail.returncode == 3 and "died (exit code 3)" in fail.why
    assert fail.log_tail[-2:] == ["something went wrong [here]", "boom"]
    assert "bad" in fail.describe() and "| boom" in fail.describe()
    assert result.exit_codes["good"] == 0
    assert any("process bad" in m and "died" in m for m in rec.messages)


@pytest.mark.graph
def test_processes_that_ignore_sigint_are_terminated_then_killed(tmp_path, child_env):
    sup = Supervisor([plan(tmp_path, "deaf", "deaf"), plan(tmp_path, "deafer", "deafer")], child_env, tmp_path,
                     stop_timeout_s=0.5, kill_timeout_s=0.5)
    when_ready(sup, ["deaf", "deafer"], sup.request_stop)
    result = sup.run(handle_signals=False)
    why = {f.label: f.why for f in result.failures}
    assert "terminated with SIGTERM" in why["deaf"]
    assert "did not stop after SIGINT and SIGTERM: killed" in why["deafer"]
    # not a node: it has no stack-dump handler, so the dump request (SIGUSR1) is what kills it
    assert result.exit_codes == {"deaf": -signal.SIGTERM, "deafer": -signal.SIGUSR1}


@pytest.mark.graph
def test_a_node_that_hangs_on_stop_leaves_its_stack_in_its_log_before_sigkill(tmp_path, child_env):
    sup = Supervisor([plan(tmp_path, "stuck", "hang")], child_env, tmp_path, stop_timeout_s=0.5, kill_timeout_s=0.5)
    when_ready(sup, ["stuck"], sup.request_stop)
    result = sup.run(handle_signals=False)
    (fail,) = result.failures
    assert "killed with SIGKILL" in fail.why and result.exit_codes == {"stuck": -signal.SIGKILL}
    log = (tmp_path / "stuck.log").read_text()
    assert "most recent call first" in log and "stuck_in_a_callback" in log  # faulthandler's dump on SIGUSR1


@pytest.mark.graph
def test_a_node_stopped_while_still_loading_counts_as_stopped_cleanly(tmp_path, child_env):
    """SIGINT before a node installed its handler (still importing on a loaded machine) ends it with
    KeyboardInterrupt: it was asked to stop and did, having started nothing."""
    # a generous stop timeout: under a loaded suite the interpreter took more than 5 s to act on SIGINT
    sup = Supervisor([plan(tmp_path, "slow", "loading")], child_env, tmp_path, stop_timeout_s=30.0)
    when_ready(sup, ["slow"], sup.request_stop)
    result = sup.run(handle_signals=False)
    assert result.ok and not result.failures
    assert result.exit_codes == {"slow": -signal.SIGINT} and sup.states[0].state == "exited"


@pytest.mark.graph
def test_children_hear_sigint_whatever_the_supervisors_own_signal_state(tmp_path, child_env):
    """Ignored and blocked signals survive exec: a supervisor run as a background shell job (SIGINT
    ignored) or forking while a library blocks SIGINT must still start children a SIGINT stops."""
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        sup = Supervisor([plan(tmp_path, "slow", "loading")], child_env, tmp_path, stop_timeout_s=30.0)
        when_ready(sup, ["slow"], sup.request_stop)
        result = sup.run(handle_signals=False)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        signal.signal(signal.SIGINT, old)
    assert result.ok and result.exit_codes == {"slow": -signal.SIGINT}


@pytest.mark.graph
def test_respawn_restarts_a_dying_node_a_bounded_number_of_times(tmp_path, child_env, monkeypatch):
    monkeypatch.setattr(sv, "RESPAWN_DELAY_S", 0.05)
    rec = Recorder()
    sup = Supervisor([plan(tmp_path, "flaky", "crash", respawn=True)], child_env, tmp_path, rec)
    result = sup.run(handle_signals=False)
    (fail,) = result.failures
    assert f"after {sv.MAX_RESPAWNS} restarts" in fail.why
    assert sum("restarted" in m for m in rec.messages) == sv.MAX_RESPAWNS
    assert (tmp_path / "flaky.log").read_text().count("boom") == sv.MAX_RESPAWNS + 1


@pytest.mark.graph
def test_a_sentinel_ending_stops_the_run_cleanly(tmp_path, child_env):
    sentinel = plan(tmp_path, "clock_watch", "done", sentinel=True)
    sup = Supervisor([plan(tmp_path, "deaf", "deaf"), sentinel], child_env, tmp_path, stop_timeout_s=0.5,
                     kill_timeout_s=0.5)
    result = sup.run(handle_signals=False)
    assert result.reason == "sentinel"
    assert [f.label for f in result.failures] == ["deaf"]  # ignored SIGINT: still reported
    sup2 = Supervisor([plan(tmp_path, "done_too", "done", sentinel=True)], child_env, tmp_path / "2")
    assert sup2.run(handle_signals=False).ok


@pytest.mark.graph
def test_children_die_with_a_killed_supervisor(tmp_path, child_env):
    """PR_SET_PDEATHSIG: a SIGKILLed supervisor leaves nothing running."""
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from yard_bringup.supervisor import ProcessPlan, Supervisor
        log = Path({str(tmp_path)!r})
        p = ProcessPlan("deaf", [sys.executable, "-m", "tiny_node", "deaf"], log / "deaf.log")
        Supervisor([p], dict(__import__("os").environ), log).run()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env=child_env)
    try:
        manifest = tmp_path / "processes.json"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (manifest.is_file() and "ready" in _read(tmp_path / "deaf.log")):
            time.sleep(0.05)
        pid = json.loads(manifest.read_text())[0]["pid"]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        assert not _alive(pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _read(p: Path) -> str:
    return p.read_text() if p.is_file() else ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (not yet reaped by init) counts as dead
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_elapsed_sim_time_counts_from_the_first_clock_and_restarts_on_a_jump_back():
    from yard_bringup.clock_watch import ElapsedSimTime

    w = ElapsedSimTime(2.0)
    assert [w.update(t) for t in (100.0, 101.0, 101.99)] == [False, False, False]
    assert w.update(102.0) and w.elapsed_s == pytest.approx(2.0)
    assert not w.update(5.0) and w.start_s == 5.0  # simulator restarted: count again
    assert w.update(7.5)


def _stop_when(sup: Supervisor, cond, timeout_s: float = 90.0) -> None:
    def watch() -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not cond():
            time.sleep(0.05)
        sup.request_stop("test done")

    threading.Thread(target=watch, daemon=True).start()


@pytest.mark.graph
def test_a_carrier_whose_node_keeps_dying_is_taken_out_and_the_yard_goes_on(tmp_path, child_env, monkeypatch):
    monkeypatch.setattr(sv, "RESPAWN_DELAY_S", 0.05)
    rec = Recorder()
    plans = [plan(tmp_path, "yard", "run"),
             plan(tmp_path, "carrier_01/steady", "run", group="carrier_01", essential=False, respawn=True),
             plan(tmp_path, "carrier_01/flaky", "crash", group="carrier_01", essential=False, respawn=True),
             plan(tmp_path, "carrier_02/steady", "run", group="carrier_02", essential=False, respawn=True)]
    sup = Supervisor(plans, child_env, tmp_path, rec, viable=lambda lost: "no carrier left"
                     if {"carrier_01", "carrier_02"} <= lost else None)
    by = {s.plan.label: s for s in sup.states}
    _stop_when(sup, lambda: "carrier_01" in sup.lost and by["carrier_01/steady"].state == "exited")
    result = sup.run(handle_signals=False)
    assert result.ok and result.reason == "test done", result.failures
    (loss,) = result.losses
    assert loss.label == "carrier_01/flaky" and f"after {sv.MAX_RESPAWNS} restarts" in loss.why
    assert result.exit_codes["carrier_01/steady"] == 0  # stopped with its carrier, cleanly
    assert result.exit_codes["yard"] == 0 and result.exit_codes["carrier_02/steady"] == 0  # ran to the end
    assert any("carrier_01 taken out" in m for m in rec.messages)


@pytest.mark.graph
def test_losing_the_last_carrier_stops_the_yard_with_a_failure(tmp_path, child_env, monkeypatch):
    monkeypatch.setattr(sv, "RESPAWN_DELAY_S", 0.05)
    plans = [plan(tmp_path, "yard", "run"),
             plan(tmp_path, "carrier_01/flaky", "crash", group="carrier_01", essential=False)]
    sup = Supervisor(plans, child_env, tmp_path, viable=lambda lost: "no carrier left" if "carrier_01" in lost
                     else None)
    result = sup.run(handle_signals=False)
    assert not result.ok and result.reason == "failure"
    (fail,) = result.failures
    assert fail.label == "carrier_01/flaky" and "the yard cannot go on: no carrier left" in fail.why
