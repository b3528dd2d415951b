"""Reliability scenarios of the simulated yard: one command, one table (yard_bringup.reliability).

Usage::

    .venv/bin/python bench/reliability.py                       # every scenario
    .venv/bin/python bench/reliability.py --short               # the CI form (test/test_reliability.py)
    .venv/bin/python bench/reliability.py --only fleet_manager_kill --rtf 2 --out /tmp/rel

Each scenario runs ``yard-autonomy sim --world small_yard --carriers 2`` in a private ROS domain,
plays its deliveries and its disruption, and prints: orders sent / answered / completed / failed /
rejected / open at the end / lost, containers lost and duplicated, collisions. Exit status 1 if any
scenario lost an order or a container, duplicated a container, collided or left a message
unanswered. Logs of every process stay in ``--out``, and each scenario's counts in ``--out``/results.jsonl as
soon as it ends.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from yard_bringup.reliability import SCENARIOS, SHORT, run_scenario  # noqa: E402
from yard_ros.domain import lease_domain_id  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help=f"only the CI form: {SHORT.what}")
    ap.add_argument("--only", default="", help="comma-separated scenario names: " + ", ".join(SCENARIOS))
    ap.add_argument("--rtf", type=float, default=2.0, help="real-time factor of the simulation (default %(default)s)")
    ap.add_argument("--deliveries", type=int, default=None, help="orders end to end per scenario (default: its own)")
    ap.add_argument("--sim-limit", type=float, default=None, metavar="SEC",
                    help="simulated seconds per scenario before the verdict (default: the scenario's own)")
    ap.add_argument("--out", type=Path, default=None, help="folder for the logs (default: a temporary folder)")
    args = ap.parse_args()
    scenarios = dict(SCENARIOS, short=SHORT)
    names = [n for n in args.only.split(",") if n] or (["short"] if args.short else list(SCENARIOS))
    unknown = [n for n in names if n not in scenarios]
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(unknown)}")
    out_dir = args.out or Path(tempfile.mkdtemp(prefix="reliability_"))
    console = Console(width=200)
    rows = []
    for name in names:
        with lease_domain_id() as lease:
            env = dict(os.environ, ROS_DOMAIN_ID=str(lease.domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
                       PYTHONUNBUFFERED="1")
            os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")})
            t0 = time.monotonic()
            o = run_scenario(scenarios[name], out_dir / name, env, rtf=args.rtf, deliveries=args.deliveries,
                             sim_limit_s=args.sim_limit)
            console.print(f"{name}: {'ok' if o.ok else 'NOT OK'} in {time.monotonic() - t0:.0f} s wall, "
                          f"{o.sim_s:.0f} s simulated; " + "; ".join(o.notes), highlight=False)
            console.print("  " + json.dumps(asdict(o)), highlight=False, soft_wrap=True)
            with (out_dir / "results.jsonl").open("a") as f:  # a run cut short keeps what it measured
                f.write(json.dumps({**asdict(o), "ok": o.ok, "rtf": args.rtf}) + "\n")
            rows.append(o)
    t = Table(title=f"reliability (small_yard, 2 carriers, rtf {args.rtf:g}); logs: {out_dir}")
    for col in ("scenario", "sent", "answered", "completed", "failed", "rejected", "open", "lost",
                "containers lost", "containers duplicated", "collisions", "sim [s]", "verdict"):
        t.add_column(col, justify="right" if col not in ("scenario", "verdict") else "left")
    for o in rows:
        t.add_row(o.scenario, f"{o.sent:,}", f"{o.answered:,}", str(o.completed), str(o.failed), f"{o.rejected:,}",
                  str(o.open), str(o.lost), str(o.containers_lost), str(o.containers_duplicated), str(o.collisions),
                  f"{o.sim_s:.0f}", "ok" if o.ok else "NOT OK")
    console.print(t)
    return 0 if all(o.ok for o in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
