"""Agreement of `yard-autonomy day` with the node graph (issue #10 item 5): same world, demand and seed.

    .venv/bin/python bench/agreement.py --world small_yard --carriers 2 --hours 1
    .venv/bin/python bench/agreement.py --world youyiguan --carriers 4 --hours 1
    .venv/bin/python bench/agreement.py --world small_yard --carriers 2 --hours 1 --graph-kpi runs/g/kpi.json

The day runs in this process (``yard_harness.day``: the fleet manager core against the kinematic
yard). The graph runs as ``yard-autonomy sim ... --containers-per-day N --duration H*3600 --out DIR``:
every node its own process over DDS, the demand node playing the same scenario, the KPI collector
measuring it with the same code as the day (``yard_harness.kpis``). ``--graph-kpi`` reuses the
kpi.json of an earlier graph run instead (a graph hour takes an hour or more of wall time on a
shared 2-core machine). Both documents go to ``--out``; the table compares them key by key.

Targets (issue #10): orders completed within ±15 %, mean lead time within ±20 %. The other rows
show where a difference comes from (crane moves, crossings, time on an order, traffic waits).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from yard_harness.day import SimulatedDay, build_fleet_run  # noqa: E402
from yard_model import load_world  # noqa: E402
from yard_model.resources import world_path  # noqa: E402

TOLERANCES = {"orders completed": 0.15, "mean lead time [s]": 0.20}  # the targets
ROWS = (  # (label, path in kpi.json)
    ("orders issued", ("orders", "issued")),
    ("orders accepted", ("orders", "accepted")),
    ("orders completed", ("orders", "completed")),
    ("mean lead time [s]", ("lead_time_s", "mean")),
    ("median lead time [s]", ("lead_time_s", "median")),
    ("p95 lead time [s]", ("lead_time_s", "p95")),
    ("crane moves", ("cranes", "moves")),
    ("border crossings", ("border_crossings", "total")),
    ("loaded crossings", ("border_crossings", "loaded")),
    ("carriers on an order", ("carrier_utilisation", "on_order")),
    ("carriers moving", ("carrier_utilisation", "moving")),
    ("traffic wait [min/carrier-h]", ("carrier_utilisation", "traffic_wait_min_per_carrier_hour")),
    ("gate wait mean [s]", ("gate", "truck_wait_s", "mean")),
    ("collisions", ("safety", "collisions")),
    ("crane limit violations", ("safety", "crane_limit_violations")),
)


def value(doc: dict, path: tuple[str, ...]):
    for key in path:
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


def run_day(world: str, carriers: int, hours: float, seed: int, per_day: float) -> tuple[dict, float]:
    """The day's kpi document and its wall time [s]."""
    w = load_world(world_path(world))
    day = SimulatedDay(build_fleet_run(w, carriers, seed=seed, containers_per_day=per_day))
    t0 = time.perf_counter()
    day.run_for(hours * 3600.0)
    k = day.kpis()
    day.close()
    return k, time.perf_counter() - t0


def run_graph(world: str, carriers: int, hours: float, seed: int, per_day: float, rtf: float,
              out: Path) -> tuple[dict, float]:
    """Run ``yard-autonomy sim`` for ``hours`` of simulated time; its kpi document and wall time [s]."""
    cmd = [str(Path(sys.executable).parent / "yard-autonomy"), "sim", "--world", world, "--carriers", str(carriers),
           "--rtf", f"{rtf:g}", "--seed", str(seed), "--containers-per-day", f"{per_day:g}",
           "--duration", f"{hours * 3600.0:g}", "--out", str(out), "--log-dir", str(out / "logs"),
           "--stop-timeout", "60"]
    print("graph:", " ".join(cmd), flush=True)
    if os.environ.get("ROS_DOMAIN_ID"):  # else `yard-autonomy sim` leases a free id for the run
        print(f"ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']} as set (not leased): a test or another run in the same "
              "domain would mix its messages into this one (unset it to get a leased id)", flush=True)
    t0 = time.perf_counter()
    rc = subprocess.run(cmd, env=dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")).returncode
    wall = time.perf_counter() - t0
    kpi = out / "kpi.json"
    if not kpi.is_file():
        raise SystemExit(f"the graph run wrote no {kpi} (exit code {rc}); logs in {out / 'logs'}")
    return json.loads(kpi.read_text()), wall


def compare(day: dict, graph: dict) -> tuple[Table, bool]:
    """The comparison table and whether the issue's targets are met."""
    t = Table(title=f"day vs graph: {day['world']}, {day['carriers']} carriers, "
                    f"{day['simulated_hours']:g} h, seed {day.get('scenario', {}).get('seed')}", title_justify="left")
    for col in ("figure", "day", "graph", "graph / day - 1", "target"):
        t.add_column(col, justify="left" if col == "figure" else "right")
    ok = True
    for label, path in ROWS:
        d, g = value(day, path), value(graph, path)
        rel = (g / d - 1.0) if isinstance(d, int | float) and isinstance(g, int | float) and d else None
        tol = TOLERANCES.get(label)
        verdict = ""
        if tol is not None:
            met = rel is not None and abs(rel) <= tol
            ok = ok and met
            verdict = f"±{tol:.0%} " + ("[green]met[/]" if met else "[bold red]missed[/]")
        t.add_row(escape(label), "-" if d is None else f"{d:g}", "-" if g is None else f"{g:g}",
                  "-" if rel is None else f"{rel:+.1%}", verdict)
    return t, ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--world", default="small_yard")
    ap.add_argument("--carriers", type=int, default=2)
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--containers-per-day", type=float, default=1000.0)
    ap.add_argument("--rtf", type=float, default=1.0,
                    help="real-time factor of the graph run (0 = as fast as possible)")
    ap.add_argument("--graph-kpi", type=Path, default=None, help="kpi.json of an earlier graph run (no new run)")
    ap.add_argument("--out", type=Path, default=None, help="folder for day.json, graph kpi.json and the logs")
    a = ap.parse_args(argv)
    out = (a.out or Path("runs") / time.strftime(f"agreement-{a.world}-%Y%m%d-%H%M%S")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    day, day_wall = run_day(a.world, a.carriers, a.hours, a.seed, a.containers_per_day)
    (out / "day.json").write_text(json.dumps(day, indent=2) + "\n")
    if a.graph_kpi is not None:
        graph, graph_wall = json.loads(a.graph_kpi.read_text()), None
    else:
        graph, graph_wall = run_graph(a.world, a.carriers, a.hours, a.seed, a.containers_per_day, a.rtf,
                                      out / "graph")
    same = (day["world"], day["carriers"], day.get("scenario")) == \
        (graph["world"], graph["carriers"], graph.get("scenario"))
    if not same:
        print(f"warning: the runs differ: day {day['world']}/{day['carriers']}/{day.get('scenario')}, "
              f"graph {graph['world']}/{graph['carriers']}/{graph.get('scenario')}")
    table, ok = compare(day, graph)
    console = Console(width=140)
    console.print(table)
    walls = f"day {day_wall:.0f} s wall" + ("" if graph_wall is None else f", graph {graph_wall:.0f} s wall")
    console.print(f"{walls}; graph simulated {graph['simulated_hours']:g} h; documents in {out}")
    return 0 if ok and same else 1


if __name__ == "__main__":
    raise SystemExit(main())
