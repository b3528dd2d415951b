"""CPU per simulated second of each process of a running `yard-autonomy sim` (issue #10).

    .venv/bin/yard-autonomy sim --world small_yard --carriers 2 --rtf 0 --containers-per-day 1000 \
        --log-dir /tmp/g &
    ROS_DOMAIN_ID=<the run's> .venv/bin/python bench/graph_cost.py /tmp/g --seconds 60

Or let it start the graph itself, let it warm up, measure, and stop it (issue #10 item 7: youyiguan
with 12 carriers at a real-time factor of 1):

    .venv/bin/python bench/graph_cost.py --launch youyiguan --carriers 12 --rtf 1 --warmup 60 --seconds 120

Reads the pids from the run's ``processes.json``, their CPU time from ``/proc`` and the simulation
time from ``/clock`` (in the run's ROS domain: set ``ROS_DOMAIN_ID`` to the id the command printed)
at the start and the end of a wall-clock window, and prints CPU-seconds per simulated second per
process. On a machine with N free cores the graph cannot run faster than N / total times real
time; the ratio hardly depends on the machine's load (CPU time is counted, not wall time), though
caches and scheduling make it somewhat worse on a loaded machine.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table


def cpu_s(pid: int) -> float | None:
    """User + system CPU time of a process [s], None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sim_time(timeout_s: float = 30.0) -> float:
    """The latest /clock of the ROS domain of this process's environment [s]."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("graph_cost_clock", context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    got: list[float] = []
    node.create_subscription(Clock, "/clock", lambda m: got.append(m.clock.sec + m.clock.nanosec * 1e-9),
                             QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
    end = time.monotonic() + timeout_s
    while not got and time.monotonic() < end:
        ex.spin_once(timeout_sec=0.2)
    node.destroy_node()
    ctx.shutdown()
    if not got:
        raise SystemExit("no /clock: is ROS_DOMAIN_ID the run's?")
    return got[-1]


def kind(label: str) -> str:
    """``carrier_07/path_follower`` -> ``path_follower``: one row per node kind."""
    return label.rsplit("/", 1)[-1]


_LEASE = None  # the domain lease of a --launch run, held until the process ends


def launch(a: argparse.Namespace) -> tuple[subprocess.Popen, Path]:
    """Start ``yard-autonomy sim`` in its own ROS domain; wait until every process runs and /clock ticks."""
    global _LEASE
    log_dir = Path(tempfile.mkdtemp(prefix="graph_cost-"))
    domain = os.environ.get("ROS_DOMAIN_ID")
    if domain:  # the user's choice: nothing stops another run from using it too
        print(f"ROS_DOMAIN_ID={domain} as set (not leased): make sure no other run or test uses it", flush=True)
    else:  # a free id locked for this run (yard_ros.domain), as `yard-autonomy sim` and the tests take theirs
        from yard_ros.domain import lease_domain_id

        _LEASE = lease_domain_id()
        domain = str(_LEASE.domain_id)
    os.environ.update(ROS_DOMAIN_ID=domain, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    cmd = [str(Path(sys.executable).parent / "yard-autonomy"), "sim", "--world", a.launch, "--carriers",
           str(a.carriers), "--rtf", str(a.rtf), "--seed", "0", "--domain-id", domain, "--log-dir", str(log_dir)]
    if a.containers_per_day:
        cmd += ["--containers-per-day", str(a.containers_per_day), "--out", str(log_dir / "kpis")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    sim_time(timeout_s=300.0)
    time.sleep(a.warmup)
    return proc, log_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log_dir", type=Path, nargs="?", help="the run's --log-dir (holds processes.json)")
    ap.add_argument("--seconds", type=float, default=60.0, help="wall-clock window")
    ap.add_argument("--launch", metavar="WORLD", help="start `yard-autonomy sim --world WORLD` and measure it")
    ap.add_argument("--carriers", type=int, default=12, help="with --launch")
    ap.add_argument("--rtf", type=float, default=1.0, help="with --launch: the real-time factor asked for")
    ap.add_argument("--containers-per-day", type=float, default=0.0, help="with --launch: a port day's demand")
    ap.add_argument("--warmup", type=float, default=60.0, help="with --launch: wall seconds before measuring")
    a = ap.parse_args(argv)
    proc = None
    if a.launch:
        proc, a.log_dir = launch(a)
    elif a.log_dir is None:
        ap.error("give the run's log_dir or --launch WORLD")
    try:
        return measure(a)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()


def measure(a: argparse.Namespace) -> int:
    procs = {p["label"]: p["pid"] for p in json.loads((a.log_dir / "processes.json").read_text())
             if p.get("pid") and p.get("state") == "running"}
    c0 = {k: cpu_s(p) for k, p in procs.items()}
    s0, w0 = sim_time(), time.monotonic()
    time.sleep(a.seconds)
    c1 = {k: cpu_s(p) for k, p in procs.items()}
    s1, w1 = sim_time(), time.monotonic()
    ds = s1 - s0
    if ds <= 0:
        print("simulation time did not advance", file=sys.stderr)
        return 1
    t = Table(title=f"{ds:.1f} s simulated in {w1 - w0:.0f} s wall (real-time factor {ds / (w1 - w0):.2f}), "
                    f"load average {os.getloadavg()[0]:.1f}", title_justify="left")
    for col in ("node kind", "processes", "CPU s", "CPU s per simulated s", "each"):
        t.add_column(col, justify="left" if col == "node kind" else "right")
    by_kind: dict[str, list[float]] = {}
    for k in procs:
        if c0[k] is not None and c1[k] is not None:
            by_kind.setdefault(kind(k), []).append(c1[k] - c0[k])
    total = sum(sum(v) for v in by_kind.values())
    for k, v in sorted(by_kind.items(), key=lambda kv: -sum(kv[1])):
        t.add_row(k, str(len(v)), f"{sum(v):.1f}", f"{sum(v) / ds:.3f}", f"{sum(v) / ds / len(v):.3f}")
    t.add_row("[bold]total[/]", str(sum(len(v) for v in by_kind.values())), f"{total:.1f}",
              f"[bold]{total / ds:.3f}[/]", "")
    Console(width=120).print(t)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
