"""How customs clearance time moves a day's throughput (issue #15): the same day without customs and with
simulated customs of growing decision times.

Usage::

    .venv/bin/python bench/clearance_day.py                               # small_yard, 2 carriers, 6 h
    .venv/bin/python bench/clearance_day.py --world youyiguan --carriers 12 --hours 24 --medians 120 600

Each run is ``yard-autonomy day`` in this process (:func:`yard_harness.day.build_fleet_run`, same seed
and demand): first without customs (containers cross as soon as a carrier is free), then with both
sides' simulated customs (:mod:`yard_sim.customs`, default hold and inspection rates) whose median
decision time is each of ``--medians``, the fleet manager gating every order on both releases.
Each customs row runs twice: the manifest filed with the transport order when the truck parks at its
bay (as a terminal system issuing it then would), and filed when the truck reaches the gate
(pre-clearance: customs decide while the truck queues). Printed: containers completed per hour,
order lead time, the clearance wait and the holds and inspections still in force when the order came
(with pre-clearance most are over by then). The customs figures are assumptions
(docs/cross_border.md), so the table shows a sensitivity, not a forecast. Figures go in
docs/benchmarks.md ("Customs clearance and throughput").
"""

from __future__ import annotations

import argparse
import time

from yard_harness.day import SimulatedDay, build_fleet_run
from yard_model import load_world
from yard_model.resources import world_path
from yard_sim.customs import CustomsConfig


def run(world, carriers: int, hours: float, seed: int, per_day: float, median: float | None,
        pre_clearance: bool = False) -> dict:
    customs = None if median is None else CustomsConfig(decision_median_s=median)
    day = SimulatedDay(build_fleet_run(world, carriers, seed, per_day, customs=customs, pre_clearance=pre_clearance))
    day.run_for(hours * 3600.0)
    return day.kpis()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--world", default="small_yard")
    ap.add_argument("--carriers", type=int, default=2)
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--containers-per-day", type=float, default=1000.0)
    ap.add_argument("--medians", type=float, nargs="+", default=[120.0, 600.0, 1800.0],
                    help="median customs decision times to run [s]")
    a = ap.parse_args()
    world = load_world(world_path(a.world))
    print(f"{a.world}, {a.carriers} carriers, {a.hours:g} h, {a.containers_per_day:g} containers/day each way, "
          f"seed {a.seed}")
    print("| customs decision median | manifest filed | completed / h | lead time mean / p95 [min] "
          "| clearance wait mean / p95 [min] | held / inspected | wall [s] |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for median, pre in [(None, False)] + [(m, pre) for m in a.medians for pre in (False, True)]:
        t0 = time.perf_counter()
        k = run(world, a.carriers, a.hours, a.seed, a.containers_per_day, median, pre)
        lt, cl = k["lead_time_s"], k.get("clearance")

        def m(v):
            return "-" if v is None else f"{v / 60:.1f}"

        clear = "—" if cl is None else f"{m(cl['wait_s']['mean'])} / {m(cl['wait_s']['p95'])}"
        checks = "—" if cl is None else f"{cl['held']} / {cl['inspected']}"
        label = "no customs" if median is None else f"{median:g} s"
        filed = "—" if median is None else ("at the gate" if pre else "at the bay")
        print(f"| {label} | {filed} | {k['orders']['completed_per_hour']:.1f} | {m(lt['mean'])} / {m(lt['p95'])} "
              f"| {clear} | {checks} | {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
