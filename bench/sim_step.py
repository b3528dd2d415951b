"""Cost of one simulator step: SimEngine steps per second for 3 and 12 carriers, beside a public peer.

Usage::

    .venv/bin/python bench/sim_step.py [--steps 3000] [--repeat 3] [--peer-python /path/to/python]

Scenario (youyiguan world, 0.01 s step, and 0.05 s without sensors): every carrier drives a slow
curve (1 m/s, 0.02 rad/s), every crane keeps travelling between two far positions on all axes (the
worst case for the collision bookkeeping), two trucks stand at bays with containers. Measured
with the sensor models on (what the ROS node runs) and off (a run driven by ground truth). The best
of ``--repeat`` runs is reported, since the machine is shared.

Peer: IR-SIM (``pip install ir-sim``; a lightweight Python multi-robot simulator with Ackermann
kinematics and shapely collision checks), the same number of 15 m x 3 m car-like robots with the
same step, headless (``display=False``), ``collision_mode: stop``. It runs in the Python given with
``--peer-python`` (a separate venv holding ir-sim; it is not a project dependency), which calls
this file's ``--peer-worker`` mode. Nothing of IR-SIM is part of the project.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DT = 0.01


def engine_steps_per_s(carriers: int, sensors: bool, steps: int, step_s: float = DT) -> float:
    sys.path.insert(0, str(REPO))
    from yard_model import load_world
    from yard_sim.engine import SimConfig, SimEngine
    from yard_sim.trajectory import JointTrajectory, TrajectoryPoint

    world = load_world(REPO / "sim_worlds" / "youyiguan.yaml")
    ids = [f"carrier_{i:02d}" for i in range(1, carriers + 1)]
    eng = SimEngine(world, ids, SimConfig(step_s=step_s, sensors_enabled=sensors), seed=1)
    for i, bay in enumerate(("cn_truck_11", "vn_truck_11")):
        eng.apply_command({"command": "spawn_truck", "truck_id": f"T{i}", "bay": bay, "container_id": f"C{i}",
                           "depart_after_s": None})

    def crane_moves() -> None:
        for k, crane in eng.cranes.items():
            c = crane.crane
            far = eng.steps // period % 2 == 0
            names, pos = ["trolley", "hoist"], [c.trolley.max_m - 2 if far else c.trolley.min_m + 2,
                                                 c.hoist.max_m - 1 if far else c.safe_height_loaded_m]
            if c.gantry is not None:
                names.append("gantry")
                pos.append(c.gantry.max_m - 2 if far else c.gantry.min_m + 2)
            eng.command_crane(k, JointTrajectory(tuple(names), (TrajectoryPoint(0.0, tuple(pos)),), eng.t))

    period = max(1, round(40.0 / step_s))  # a new far target every 40 s of simulated time

    def one() -> None:
        if eng.steps % period == 0:
            crane_moves()
        for cid in ids:
            eng.command_carrier(cid, 1.0, 0.02)
        eng.step()

    for _ in range(100):
        one()
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    return steps / (time.perf_counter() - t0)


def peer_worker(carriers: int, steps: int) -> float:
    """IR-SIM with ``carriers`` Ackermann robots (runs inside the peer's Python)."""
    import irsim
    import numpy as np

    rows = [[20.0, 20.0 + 25.0 * i, 0.0, 0.0] for i in range(carriers)]
    goals = [[900.0, 20.0 + 25.0 * i, 0.0] for i in range(carriers)]
    yaml_text = (
        f"world:\n  height: 400\n  width: 1000\n  step_time: {DT}\n  collision_mode: 'stop'\n"
        f"robot:\n  - number: {carriers}\n    distribution: {{name: 'manual'}}\n"
        f"    kinematics: {{name: 'acker'}}\n"
        f"    shape: {{name: 'rectangle', length: 15.0, width: 3.0, wheelbase: 8.0}}\n"
        f"    state: {json.dumps(rows)}\n    goal: {json.dumps(goals)}\n    vel_max: [8, 0.6]\n"
    )
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench_world.yaml"
        path.write_text(yaml_text)
        env = irsim.make(str(path), display=False)
    actions = [np.array([[1.0], [0.02]]) for _ in range(carriers)]
    for _ in range(100):
        env.step(actions, action_id=0)
    t0 = time.perf_counter()
    for _ in range(steps):
        env.step(actions, action_id=0)
    return steps / (time.perf_counter() - t0)


def peer_steps_per_s(python: str, carriers: int, steps: int) -> float | None:
    try:
        out = subprocess.run([python, __file__, "--peer-worker", str(carriers), "--steps", str(steps)],
                             capture_output=True, text=True, timeout=600, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"peer failed: {exc}", file=sys.stderr)
        return None
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=3000, help="measured steps per run (default 3000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per configuration; the best counts (default 3)")
    ap.add_argument("--peer-python", default=None, help="Python with ir-sim installed, to measure the peer")
    ap.add_argument("--peer-worker", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer_worker is not None:
        print(peer_worker(args.peer_worker, args.steps))
        return

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Simulator step cost (youyiguan, step {DT} s, best of {args.repeat} x {args.steps} steps)")
    for col in ("simulator", "carriers", "sensors", "step (s)", "steps/s", "µs/step", "× real time"):
        table.add_column(col, justify="right" if col not in ("simulator", "sensors") else "left")
    for n in (3, 12):
        for sensors, step_s in ((True, DT), (False, DT), (False, 0.05)):
            best = max(engine_steps_per_s(n, sensors, args.steps, step_s) for _ in range(args.repeat))
            table.add_row("yard_sim SimEngine", str(n), "on" if sensors else "off", f"{step_s:g}", f"{best:,.0f}",
                          f"{1e6 / best:,.0f}", f"{best * step_s:,.1f}")
        if args.peer_python:
            runs = [peer_steps_per_s(args.peer_python, n, args.steps) for _ in range(args.repeat)]
            runs = [r for r in runs if r is not None]
            if runs:
                best = max(runs)
                table.add_row("IR-SIM 2.12 (peer)", str(n), "none", f"{DT:g}", f"{best:,.0f}", f"{1e6 / best:,.0f}",
                              f"{best * DT:,.1f}")
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
