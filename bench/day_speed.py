"""Speed of a simulated day (issue #11 item 4): CPU and wall time, optionally the profile's top entries.

    .venv/bin/python bench/day_speed.py --hours 1                    # youyiguan, 12 carriers, seed 0
    .venv/bin/python bench/day_speed.py --hours 2 --profile 25       # cProfile, top 25 by cumulative time
    .venv/bin/python bench/day_speed.py --hours 1 --kpis /tmp/k.json # the KPI document, to compare commits

Builds the run as ``yard-autonomy day`` does (``yard_harness.day.build_fleet_run``) and steps it
with ``SimulatedDay.run_for``; no recording, no plot. Prints the load average before and after:
the machine may be shared, and then only the CPU time says what the day cost.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import pstats
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from yard_harness.day import SimulatedDay, build_fleet_run  # noqa: E402
from yard_model import load_world  # noqa: E402
from yard_model.resources import world_path  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--world", default="youyiguan")
    ap.add_argument("--carriers", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile the run; print the top N entries")
    ap.add_argument("--kpis", type=Path, default=None, help="write the KPI document (JSON, sorted keys) here")
    args = ap.parse_args()
    logging.getLogger("fleet_manager").setLevel(logging.ERROR)
    load0 = os.getloadavg()
    world = load_world(world_path(args.world))
    wall0, cpu0 = time.perf_counter(), time.process_time()
    day = SimulatedDay(build_fleet_run(world, args.carriers, args.seed, 1000.0))
    build_wall, build_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    prof = cProfile.Profile() if args.profile else None
    if prof is not None:
        prof.enable()
    day.run_for(args.hours * 3600.0)
    if prof is not None:
        prof.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    k = day.kpis()
    day.close()
    if args.kpis is not None:
        args.kpis.write_text(json.dumps(k, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{args.world}, {args.carriers} carriers, seed {args.seed}, {args.hours:g} h: "
          f"CPU {cpu:.1f} s, wall {wall:.1f} s (building the run: CPU {build_cpu:.1f} s, wall {build_wall:.1f} s); "
          f"load average {load0[0]:.1f} before, {os.getloadavg()[0]:.1f} after; "
          f"{k['orders']['completed']} orders completed, lead time mean {k['lead_time_s']['mean']} s, "
          f"collisions/conflicts/deadlocks {k['safety']['collisions']}/{k['safety']['conflicts']}/"
          f"{k['safety']['deadlocks']}")
    if prof is not None:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
