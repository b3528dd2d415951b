"""The port planner's capacity study: simulated days swept over fleet size, demand, seeds and worlds.

Each point of the sweep (world, carriers, containers a day, seed) is one :class:`yard_harness.day.SimulatedDay`
of ``hours`` simulated hours from ``start_hour`` o'clock, run in a worker process (the points are
independent and a run is CPU-bound, so processes, not threads). What a point measures comes from its
``day_kpis`` document, so the study and ``yard-autonomy day`` read the yard the same way.

Definitions (also written into ``capacity.json`` and printed with the table):

* **containers across per day**: orders completed in the run, scaled from the simulated hours to 24 h
  (``day_kpis`` ``border_crossings.containers_per_day``). The run starts with an empty yard, so the first
  lead time of the run carries nothing and the figure is, if anything, low.
* **offered per day**: delivery trucks that reached the gates in the run, scaled the same way (the demand
  the window brought, which at a peak hour is above the day's average).
* **meets the goal**: the lowest seed carries >= 2,000 containers across per day and no seed has a collision,
  conflict, deadlock or crane limit violation.
* **keeps up**: on every seed the gate queue at the end of the run (delivery trucks waiting at both gates) is
  at most ``keep_up_queue`` trucks, i.e. the queue did not grow over the run.

Pure functions plus :func:`run_sweep`; the CLI (``yard-autonomy capacity``) adds the progress bar, the
console table and the files. No rclpy here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from functools import cache
from multiprocessing import get_context
from pathlib import Path

SITE_GOAL_PER_DAY = 2000.0  # containers across a day: Youyiguan's "+2,000 vehicles a day"
CAPACITY_VERSION = 1


@dataclass(frozen=True)
class Point:
    """One simulated run of the sweep."""

    world: str
    carriers: int
    containers_per_day: float  # each way
    seed: int
    hours: float
    start_hour: float


def int_list(text: str, what: str, lo: int = 1) -> list[int]:
    """``"4,8,12"`` -> ``[4, 8, 12]`` (sorted, no repeats); ValueError naming ``what`` if any is not a whole
    number >= ``lo`` or the list is empty."""
    return _number_list(text, what, int, "a whole number", lambda v: v >= lo,
                        lambda part, v: f"must be >= {lo}, got {v}")


def float_list(text: str, what: str) -> list[float]:
    """``"1000,1500"`` -> ``[1000.0, 1500.0]``; every value a finite number > 0."""
    return _number_list(text, what, float, "a number", lambda v: v > 0 and math.isfinite(v),
                        lambda part, v: f"must be a positive, finite number, got {part}")


def _number_list(text: str, what: str, parse, kind: str, ok, why) -> list:
    """The parts of a comma-separated list parsed with ``parse``, each passing ``ok``; sorted, no repeats."""
    out = []
    for part in _parts(text, what):
        try:
            v = parse(part)
        except ValueError:
            raise ValueError(f"{what}: '{part}' is not {kind}") from None
        if not ok(v):
            raise ValueError(f"{what}: {why(part, v)}")
        out.append(v)
    return sorted(set(out))


def name_list(text: str, what: str) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]`` in the given order, no repeats."""
    return list(dict.fromkeys(_parts(text, what)))


def _parts(text: str, what: str) -> list[str]:
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise ValueError(f"{what}: expected a comma-separated list such as 4,8,12, got '{text}'")
    return parts


def plan_points(worlds: Iterable[str], carriers: Iterable[int], demands: Iterable[float], seeds: int,
                hours: float, start_hour: float) -> list[Point]:
    """Every combination, biggest runs first (they take longest: the pool then ends evenly)."""
    pts = [Point(w, c, d, s, hours, start_hour) for w in worlds for c in carriers for d in demands
           for s in range(seeds)]
    return sorted(pts, key=lambda p: (-p.carriers * p.containers_per_day, p.world, p.seed))


@cache
def _world(name: str):
    from yard_model import load_world
    from yard_model.resources import world_path

    return load_world(world_path(name))


def run_point(p: Point) -> dict:
    """Run one point in this process; the figures of it that the study keeps (a ``capacity`` point)."""
    import logging

    from yard_harness.day import SimulatedDay, build_fleet_run

    logging.getLogger("fleet_manager").setLevel(logging.ERROR)  # the manager logs each refused plan
    wall0, cpu0 = time.perf_counter(), time.process_time()
    run = build_fleet_run(_world(p.world), p.carriers, p.seed, p.containers_per_day, start_hour=p.start_hour)
    day = SimulatedDay(run, sample_period_s=600.0)
    try:
        day.run_for(p.hours * 3600.0)
        k = day.kpis()
    finally:
        day.close()
    return point_figures(p, k, time.perf_counter() - wall0, time.process_time() - cpu0)


def point_figures(p: Point, k: dict, wall_s: float, cpu_s: float) -> dict:
    """The study's figures of one run from its ``day_kpis`` document ``k``."""
    hours = k["simulated_hours"]
    per_day = 24.0 / hours if hours > 0 else 0.0
    g, s, lt = k["gate"], k["safety"], k["lead_time_s"]
    offered = g["truck_wait_s"]["count"] + g["trucks_waiting_at_end"]
    return {
        **asdict(p),
        "containers_across": k["orders"]["completed"],
        "containers_across_per_day": k["border_crossings"]["containers_per_day"],
        "offered_per_day": round(offered * per_day, 1),
        "carrier_utilisation": k["carrier_utilisation"]["on_order"],
        "crane_moves_per_crane_hour": k["cranes"]["moves_per_crane_hour"],
        "lead_time_mean_s": lt["mean"],
        "lead_time_p95_s": lt["p95"],
        "gate_queue_end": g["trucks_waiting_at_end"],
        "gate_queue_max": g["trucks_waiting_max"],
        "collisions": s["collisions"],
        "conflicts": s["conflicts"] or 0,
        "deadlocks": s["deadlocks"] or 0,
        "crane_limit_violations": s.get("crane_limit_violations", 0),
        "wall_s": round(wall_s, 2),
        "cpu_s": round(cpu_s, 2),
    }


def unsafe_events(r: dict) -> int:
    return r["collisions"] + r["conflicts"] + r["deadlocks"] + r["crane_limit_violations"]


def run_sweep(points: list[Point], jobs: int, on_done: Callable[[dict], None] | None = None) -> list[dict]:
    """Run every point in ``jobs`` worker processes; results in the order of ``points``.

    Workers are started with ``spawn`` (a fresh interpreter: no state or threads of this process, such as a
    progress bar's refresh thread, carried across a fork). A point that raises stops the sweep.
    """
    results: dict[int, dict] = {}
    with ProcessPoolExecutor(max_workers=max(1, min(jobs, len(points))), mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(run_point, p): i for i, p in enumerate(points)}
        try:
            for fut in as_completed(futures):
                r = fut.result()
                results[futures[fut]] = r
                if on_done is not None:
                    on_done(r)
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return [results[i] for i in range(len(points))]


def _mean(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(sum(vals) / len(vals), 3) if vals else None


def summarise(results: list[dict], keep_up_queue: int, goal: float = SITE_GOAL_PER_DAY) -> dict[str, dict]:
    """Per world: one row per (carriers, demand) over its seeds, the smallest fleet that meets the goal and the
    largest demand the yard keeps up with (see the module docstring)."""
    worlds: dict[str, dict] = {}
    groups: dict[tuple[str, int, float], list[dict]] = {}
    for r in results:
        groups.setdefault((r["world"], r["carriers"], r["containers_per_day"]), []).append(r)
    for (world, carriers, demand), rs in sorted(groups.items()):
        across = [r["containers_across_per_day"] for r in rs]
        row = {
            "carriers": carriers, "containers_per_day": demand, "seeds": len(rs),
            "containers_across_per_day_mean": _mean(across), "containers_across_per_day_min": min(across),
            "offered_per_day_mean": _mean([r["offered_per_day"] for r in rs]),
            "carrier_utilisation_mean": _mean([r["carrier_utilisation"] for r in rs]),
            "crane_moves_per_crane_hour_mean": _mean([r["crane_moves_per_crane_hour"] for r in rs]),
            "lead_time_mean_s": _mean([r["lead_time_mean_s"] for r in rs]),
            "gate_queue_end_mean": _mean([r["gate_queue_end"] for r in rs]),
            "gate_queue_end_max": max(r["gate_queue_end"] for r in rs),
            "unsafe_events": sum(unsafe_events(r) for r in rs),
        }
        row["meets_goal"] = row["unsafe_events"] == 0 and row["containers_across_per_day_min"] >= goal
        row["keeps_up"] = row["gate_queue_end_max"] <= keep_up_queue
        worlds.setdefault(world, {"rows": []})["rows"].append(row)
    for w in worlds.values():
        rows = w["rows"]
        goal_rows = sorted((r for r in rows if r["meets_goal"]), key=lambda r: (r["carriers"], r["containers_per_day"]))
        w["smallest_fleet_for_goal"] = (
            {"carriers": goal_rows[0]["carriers"], "containers_per_day": goal_rows[0]["containers_per_day"]}
            if goal_rows else None)
        kept = [r for r in rows if r["keeps_up"] and r["unsafe_events"] == 0]
        if kept:
            top = max(r["containers_per_day"] for r in kept)
            fleet = min(r["carriers"] for r in kept if r["containers_per_day"] == top)
            w["largest_demand_kept_up"] = {"containers_per_day": top, "carriers": fleet}
        else:
            w["largest_demand_kept_up"] = None
    return worlds


def verdicts(summary: dict[str, dict], keep_up_queue: int, goal: float = SITE_GOAL_PER_DAY) -> list[str]:
    """The sentences a planner reads, one per world and finding."""
    out = []
    for world, w in summary.items():
        g = w["smallest_fleet_for_goal"]
        if g is None:
            out.append(f"{world}: none of the swept fleets carries {goal:,.0f} containers a day with 0 unsafe events "
                       "on every seed")
        else:
            out.append(f"{world}: {g['carriers']} carriers carry {goal:,.0f} containers a day with 0 collisions, "
                       f"conflicts and deadlocks on every seed (demand {g['containers_per_day']:g} each way)")
        d = w["largest_demand_kept_up"]
        if d is None:
            out.append(f"{world}: at none of the swept demands does the gate queue end at <= {keep_up_queue} trucks "
                       "on every seed")
        else:
            out.append(f"{world}: keeps up with {d['containers_per_day']:g} containers a day each way (the largest "
                       f"swept demand whose gate queue ends at <= {keep_up_queue} trucks on every seed; from "
                       f"{d['carriers']} carriers)")
    return out


def capacity_document(results: list[dict], summary: dict[str, dict], *, hours: float, start_hour: float, seeds: int,
                      jobs: int, keep_up_queue: int, wall_s: float, command: str = "") -> dict:
    """The ``capacity`` document (``yard_model/schemas/capacity.schema.json``)."""
    return {
        "version": CAPACITY_VERSION,
        "command": command,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "hours": hours,
        "start_hour": start_hour,
        "seeds": seeds,
        "jobs": jobs,
        "wall_s": round(wall_s, 1),
        "site_goal_containers_per_day": SITE_GOAL_PER_DAY,
        "keep_up_gate_queue_max": keep_up_queue,
        "definitions": {
            "containers_across_per_day": "orders completed in the run scaled from the simulated hours to 24 h",
            "offered_per_day": "delivery trucks that reached the gates in the run, scaled to 24 h",
            "meets_goal": f"lowest seed >= {SITE_GOAL_PER_DAY:.0f} containers across per day and no collision, "
                          "conflict, deadlock or crane limit violation on any seed",
            "keeps_up": f"gate queue at the end of the run <= {keep_up_queue} trucks (both gates) on every seed",
        },
        "points": results,
        "worlds": summary,
        "verdicts": verdicts(summary, keep_up_queue),
    }


# (key of a summary row, axis label) of the figure's panels, top to bottom
PANELS = (
    ("containers_across_per_day_mean", "containers across per day"),
    ("carrier_utilisation_mean", "carrier utilisation (on an order)"),
    ("crane_moves_per_crane_hour_mean", "crane moves per crane-hour"),
    ("lead_time_mean_s", "order lead time, mean [min]"),
    ("gate_queue_end_mean", "gate queue at end [trucks]"),
)


def plot_capacity(doc: dict, path: str | Path) -> Path:
    """One column per world, one row per figure, against fleet size; a line per demand (mean over seeds; the
    containers panel shades the range of seeds and marks the site goal)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    worlds = list(doc["worlds"])
    fig, axes = plt.subplots(len(PANELS), len(worlds), figsize=(6.5 * len(worlds), 2.6 * len(PANELS)),
                             sharex="col", sharey="row", squeeze=False, constrained_layout=True)
    fig.suptitle(f"Capacity study: {doc['hours']:g} simulated h from {doc['start_hour']:g}:00, "
                 f"{doc['seeds']} seed(s) per point")
    by_point: dict[tuple, list[float]] = {}
    for r in doc["points"]:
        by_point.setdefault((r["world"], r["carriers"], r["containers_per_day"]), []).append(
            r["containers_across_per_day"])
    for col, world in enumerate(worlds):
        rows = doc["worlds"][world]["rows"]
        demands = sorted({r["containers_per_day"] for r in rows})
        for i, (key, label) in enumerate(PANELS):
            ax = axes[i, col]
            for d in demands:
                rs = sorted((r for r in rows if r["containers_per_day"] == d), key=lambda r: r["carriers"])
                xs = [r["carriers"] for r in rs]
                ys = [None if r[key] is None else (r[key] / 60.0 if key == "lead_time_mean_s" else r[key]) for r in rs]
                ys = [math.nan if y is None else y for y in ys]
                line, = ax.plot(xs, ys, marker="o", label=f"{d:g} / day each way")
                if i == 0:
                    lo = [min(by_point[(world, x, d)]) for x in xs]
                    hi = [max(by_point[(world, x, d)]) for x in xs]
                    ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.15)
            if i == 0:
                ax.axhline(doc["site_goal_containers_per_day"], color="k", ls="--", lw=1, label="site goal")
                ax.set_title(world)
                ax.legend(fontsize=8, loc="upper left")
            if i == len(PANELS) - 1:
                ax.axhline(doc["keep_up_gate_queue_max"], color="tab:red", ls=":", lw=1, label="keeps-up bound")
                ax.set_xlabel("carriers")
            if col == 0:
                ax.set_ylabel(label, fontsize=9)
            ax.grid(alpha=0.3)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
