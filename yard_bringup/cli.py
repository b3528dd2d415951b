"""``yard-autonomy``: start a simulated yard, check worlds, regenerate SDF, show the node graph.

A thin layer over testable modules: ``graph`` (what runs), ``supervisor``
(running it), ``world_info`` (world summaries), ``yard_model.resources`` (share files). Every
option is explained by ``--help`` on its subcommand.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

DESCRIPTION = """\
yard_autonomy: an automated container yard on ROS 2 (carriers, cranes, fleet manager, simulator).

Subcommands:
  sim          start the simulated yard (every node in its own process) until Ctrl-C or --duration
  check-world  validate a world file and print a summary
  gen-sdf      regenerate the Gazebo SDF worlds from the world files
  graph        print the node graph that `sim` and `ros2 launch` start
  day          run a simulated day in one process (fleet manager + kinematic yard): KPIs, plot, MCAP
  capacity     capacity study: simulated days swept over fleet size, demand, seeds and worlds, in parallel
  order        submit, cancel or query transport orders of a running yard (re-sends until answered)
  border-keys  generate a side's Ed25519 key pair for the cross-border gateway

Run `yard-autonomy <subcommand> --help` for its options.
"""

EPILOG_SIM = """\
Network: DDS stays on this host. Unless ROS_AUTOMATIC_DISCOVERY_RANGE is already set it is set to
LOCALHOST, and unless ROS_DOMAIN_ID is set (or --domain-id given) a free domain id is leased for this run
(printed at start), so parallel runs and tests never hear each other. To watch the yard from another shell
use the printed ROS_DOMAIN_ID and ROS_AUTOMATIC_DISCOVERY_RANGE.

Restarts: the fleet manager and every node of a carrier or a crane are restarted when they die (at most 3
times a minute). A carrier or crane whose node keeps dying is taken out of the run (its other nodes are
stopped, "LOST" is printed) and the yard goes on, as long as a carrier is left and every station keeps a
crane at its carrier bays.

Exit status: 0 when stopped by Ctrl-C or at the end of --duration with every process exiting cleanly (also
after losing a carrier or crane the yard could do without); 1 when the simulator or the fleet manager died
for good, the yard could not go on, a process did not stop cleanly, or the world/configuration is invalid.

Examples:
  yard-autonomy sim                                   # Youyiguan, 3 carriers, real time, until Ctrl-C
  yard-autonomy sim --world small_yard --carriers 2 --rtf 0 --duration 60
  yard-autonomy sim --params-file my_overrides.yaml --echo
  yard-autonomy sim --world small_yard --rtf 0 --duration 120 --record runs/sim.mcap
  yard-autonomy sim --world small_yard --carriers 2 --rtf 2 --containers-per-day 1000 --duration 3600 --out runs/g
      # a port day through every node: the demand of `yard-autonomy day`, kpi.json / kpi.md / day.png in runs/g
"""

EPILOG_DAY = """\
Outputs in --out: kpi.json (keys: yard_model/schemas/day_kpis.schema.json), kpi.md, day.png, day.mcap.
Open day.mcap in Foxglove (File > Open local file), 3D panel with fixed frame `map`; /fleet/order_events
and /fleet/state in a Raw Messages panel. Timestamps are simulated time from 2026-01-01 00:00 (UTC+8).

Ctrl-C stops the day early; the outputs then cover the simulated time that ran (exit status 130).
Exit status: 0 when the day ran with no collision, conflict or deadlock; 1 otherwise or on bad input.

Examples:
  yard-autonomy day                                   # Youyiguan, 12 carriers, 24 h
  yard-autonomy day --world small_yard --carriers 4 --hours 1 --out /tmp/day
"""

EPILOG_CAPACITY = """\
Each point (world, carriers, demand, seed) is a `yard-autonomy day` of --hours simulated hours from
--start-hour o'clock, starting with an empty yard, run in its own worker process. Per point: containers
across per day (orders completed, scaled from the simulated hours to 24 h), offered per day (trucks that
reached the gates, scaled the same way), carrier utilisation, crane moves per crane-hour, mean lead time,
gate queue at the end, unsafe events (collisions, conflicts, deadlocks, crane limit violations).

Findings per world: the smallest fleet whose LOWEST seed carries >= 2,000 containers a day with 0 unsafe
events on every seed, and the largest swept demand the yard keeps up with: the gate queue at the end of the
run is <= --keep-up-queue trucks (both gates together) on every seed, i.e. it did not grow over the run.

Default sweep: both Youyiguan worlds x 4,8,12 carriers x the site's 1000 containers a day each way x 2
seeds = 12 runs of 1.5 simulated hours from 07:00, the rise of the morning peak, when trucks come at about
1.35x the day's average rate (so a yard that keeps up shows about 2,700 offered per day); sized to finish
within 10 minutes on 2 otherwise idle cores. Sweep --containers-per-day (e.g. 1000,1500,2000) to find how
far beyond the site's demand the layout goes; each added value adds as many runs again.

Outputs in --out: capacity.json (keys: yard_model/schemas/capacity.schema.json) and capacity.png (each
figure against fleet size, the worlds side by side). Exit status: 0 when every run had 0 unsafe events;
1 otherwise or on bad input; 130 on Ctrl-C (nothing written).

Examples:
  yard-autonomy capacity                                   # the default sweep (about 10 minutes)
  yard-autonomy capacity --worlds youyiguan --carriers 8,12,16 --containers-per-day 1000,1500,2000 --seeds 3
  yard-autonomy capacity --worlds small_yard --carriers 1,2 --hours 0.25 --seeds 1 --jobs 1 --out /tmp/cap
"""


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None


def _positive_float(text: str) -> float:
    v = _number(text)
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive, finite number, got {text}")
    return v


def _non_negative_float(text: str) -> float:
    v = _number(text)
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return v


def _rtf(text: str) -> float:
    v = _number(text)
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be >= 0 (0 = as fast as possible), got {text}")
    return v


def _whole_number(text: str, hi: int) -> int:
    """A whole number in 0..hi, or argparse's error saying why not."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if not 0 <= v <= hi:
        raise argparse.ArgumentTypeError(f"must be in 0..{hi}, got {v}")
    return v


def _carriers(text: str) -> int:
    from .graph import MAX_CARRIERS

    return _whole_number(text, MAX_CARRIERS)


def _domain_id(text: str) -> int:
    from yard_ros.domain import DOMAIN_MAX

    return _whole_number(text, DOMAIN_MAX)


def _add_graph_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--world", default="youyiguan", metavar="NAME|PATH",
                   help="world to simulate: a shipped world's name (youyiguan, small_yard) or a world file path "
                        "(default: %(default)s)")
    p.add_argument("--carriers", type=_carriers, default=3, metavar="N",
                   help="number of carriers, ids carrier_01..carrier_NN; the simulator parks them on the world's "
                        "parking and charging spots (default: %(default)s)")
    p.add_argument("--rtf", type=_rtf, default=1.0, metavar="X",
                   help="real-time factor of the simulation: 1 = real time, 2 = twice as fast, "
                        "0 = as fast as possible (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed of the simulator's sensor noise and events, and of the demand's trucks; "
                        "same seed, same run (default: %(default)s)")
    p.add_argument("--containers-per-day", type=_non_negative_float, default=None, metavar="N",
                   help="run a port day: the demand node (yard_traffic) brings trucks to the gates and issues the "
                        "transport orders, with the profile and seed (--seed) of `yard-autonomy day`; N containers "
                        "a day in each direction (default: no demand)")
    p.add_argument("--customs", action="store_true",
                   help="simulate both sides' customs (the customs_sim node: decision times, holds, inspections; "
                        "assumed figures, see docs/cross_border.md) and have the fleet manager gate every order on "
                        "their release (clearance_required); adds the clearance KPIs")
    p.add_argument("--pre-clearance", action="store_true",
                   help="with --customs: the demand node files each container's customs manifest when its truck "
                        "reaches the gate (/customs/manifests), so customs decide while it queues; without it the "
                        "manifest goes with the transport order when the truck parks at its bay")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yard-autonomy", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command",
                                metavar="{sim,check-world,gen-sdf,graph,day,capacity,order,border-keys}")

    p = sub.add_parser(
        "sim", help="start the simulated yard until Ctrl-C or --duration",
        description="Start the simulated yard: the simulator and every node of the graph (see `yard-autonomy "
                    "graph`), each as its own process with parameters from the package's config/*.yaml. Shows a "
                    "status table; Ctrl-C stops every process cleanly (SIGINT, then SIGTERM/SIGKILL after "
                    "--stop-timeout). If a process dies, says which (with the end of its log) and exits 1.",
        epilog=EPILOG_SIM, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_graph_options(p)
    p.add_argument("--duration", type=_positive_float, default=None, metavar="SEC",
                   help="stop cleanly after SEC seconds of simulated time (counted on /clock from its first "
                        "message); default: run until Ctrl-C")
    p.add_argument("--domain-id", type=_domain_id, default=None, metavar="ID",
                   help="ROS_DOMAIN_ID for every process (0..232); default: $ROS_DOMAIN_ID if set, else a free id "
                        "leased for this run on this host")
    p.add_argument("--log-dir", type=Path, default=None, metavar="DIR",
                   help="folder for one log file per process (<namespace>__<node>.log), processes.json (pids, "
                        "states), ROS's own logs and the fleet manager's database (fleet_manager.sqlite); "
                        "default: $ROS_LOG_DIR or ~/.ros/log, then yard_autonomy/<date-time>-<pid>")
    p.add_argument("--params-file", action="append", default=[], type=Path, metavar="FILE",
                   help="extra ROS parameter file given to every process after the shipped config files and the "
                        "graph's settings, so its values win (use node names or /** as top-level keys); "
                        "repeat for several files")
    p.add_argument("--record", type=Path, default=None, metavar="FILE.mcap",
                   help="also start the MCAP recorder (yard_recorder), writing every topic to FILE.mcap on the "
                        "simulated clock; the file is closed and indexed when the run stops (open it in Foxglove)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="measure the run (KPI collector yard_kpis) and write kpi.json, kpi.md and day.png to DIR at "
                        "the end of --duration (or on Ctrl-C); the same keys as `yard-autonomy day`. Default with "
                        "--containers-per-day: runs/sim-<date>-<time>")
    p.add_argument("--echo", action="store_true",
                   help="also print every process's output on the console, each line prefixed with its name")
    p.add_argument("--stop-timeout", type=_positive_float, default=10.0, metavar="SEC",
                   help="on stop, wall-clock seconds to wait after SIGINT before SIGTERM (then 3 s more before "
                        "SIGKILL) (default: %(default)s)")
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser(
        "check-world", help="validate a world file and print a summary",
        description="Load and validate a world (schema and meaning: references, geometry, reachability). Prints a "
                    "summary (counts, lane length, station-to-station drive, UTM zone) and exits 0, or prints the "
                    "error naming the bad key and why and exits 1.")
    p.add_argument("world", metavar="NAME|PATH", help="a shipped world's name (youyiguan, small_yard) or a file path")
    p.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    p.set_defaults(func=cmd_check_world)

    p = sub.add_parser(
        "gen-sdf", help="regenerate the Gazebo SDF worlds from the world files",
        description="Write the Gazebo SDF world (SDFormat, with <spherical_coordinates> at the datum) generated "
                    "from each world file, next to it as <name>.sdf unless --out-dir is given. With --check, "
                    "write nothing and exit 1 if any SDF file is missing or out of date.")
    p.add_argument("worlds", nargs="*", metavar="NAME|PATH",
                   help="worlds to convert: shipped names or file paths (default: every shipped world)")
    p.add_argument("--out-dir", type=Path, default=None, metavar="DIR",
                   help="folder for the .sdf files (default: the folder of each world file)")
    p.add_argument("--check", action="store_true",
                   help="compare instead of writing: exit 1 and list the SDF files that differ from the generator")
    p.set_defaults(func=cmd_gen_sdf)

    p = sub.add_parser(
        "graph", help="print the node graph that `sim` and `ros2 launch` start",
        description="Print the processes of the graph for a world and number of carriers: node names, "
                    "namespaces, executables, parameter files and overrides, remappings. The same description "
                    "drives `yard-autonomy sim` and launch/yard_sim.launch.py.")
    _add_graph_options(p)
    p.add_argument("--json", action="store_true", help="print the graph as JSON (one object per process)")
    p.add_argument("--commands", action="store_true",
                   help="also print the exact command line `sim` runs for each process")
    p.set_defaults(func=cmd_graph)

    p = sub.add_parser(
        "day", help="run a simulated day in one process: KPIs, plot, MCAP recording",
        description="Run a simulated day in this process, as fast as the CPU allows: the real fleet manager core "
                    "(orders, allocation, routes, time-planned traffic reservations) drives carriers of a "
                    "kinematic yard (yard_harness.fleet_sim: cranes, batteries, safety checks) while trucks arrive "
                    "per yard_sim.scenario. Shows a progress bar in simulated time, prints a KPI table and writes "
                    "kpi.json, kpi.md, day.png and day.mcap (open it in Foxglove) to --out.",
        epilog=EPILOG_DAY, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", default="youyiguan", metavar="NAME|PATH",
                   help="a shipped world's name (youyiguan, small_yard) or a world file path (default: %(default)s)")
    p.add_argument("--carriers", type=_carriers, default=12, metavar="N",
                   help="number of carriers, ids carrier_01..; at most the world's parking + charging spots "
                        "(default: %(default)s)")
    p.add_argument("--hours", type=_positive_float, default=24.0, metavar="H",
                   help="simulated hours to run, from midnight (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed of truck arrivals, batteries and hesitations; same seed, same day "
                        "(default: %(default)s)")
    p.add_argument("--containers-per-day", type=_positive_float, default=1000.0, metavar="N",
                   help="containers brought by trucks per day in each direction (default: %(default)s)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="output folder (default: runs/day-<date>-<time>)")
    p.add_argument("--no-record", action="store_true", help="do not write day.mcap")
    p.add_argument("--customs", action="store_true",
                   help="simulate both sides' customs (yard_sim.customs: decision times, holds, inspections; "
                        "assumed figures, see docs/cross_border.md) and gate every order on their release, as "
                        "the fleet manager's clearance_required does; adds the clearance KPIs")
    p.add_argument("--pre-clearance", action="store_true",
                   help="with --customs: file each container's customs manifest when its truck reaches the gate, so "
                        "customs decide while it queues (default: with the order, when the truck parks at its bay)")
    p.set_defaults(func=cmd_day)

    p = sub.add_parser(
        "capacity", help="capacity study: simulated days swept over fleet size, demand, seeds and worlds",
        description="Run simulated days (the model of `yard-autonomy day`) for every combination of --worlds, "
                    "--carriers, --containers-per-day and seed, in parallel worker processes with a progress bar; "
                    "print a table per world and the findings (the smallest fleet that carries 2,000 containers "
                    "a day safely on every seed, the largest demand the yard keeps up with) and write "
                    "capacity.json and capacity.png to --out.",
        epilog=EPILOG_CAPACITY, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worlds", default="youyiguan,youyiguan_single_track", metavar="A,B",
                   help="comma-separated worlds: shipped names (youyiguan, youyiguan_single_track, small_yard) or "
                        "world file paths (default: %(default)s)")
    p.add_argument("--carriers", default="4,8,12", metavar="N,N,..",
                   help="comma-separated fleet sizes to sweep, each at most the world's parking + charging spots "
                        "(default: %(default)s)")
    p.add_argument("--containers-per-day", default="1000", metavar="N,N,..",
                   help="comma-separated demands to sweep: containers brought by trucks per day in each direction "
                        "(default: %(default)s, the site's demand)")
    p.add_argument("--seeds", type=lambda t: _whole_number(t, 1000), default=2, metavar="N",
                   help="seeds 0..N-1 per point (truck arrivals, batteries, hesitations) (default: %(default)s)")
    p.add_argument("--hours", type=_positive_float, default=1.5, metavar="H",
                   help="simulated hours per run, each from an empty yard (default: %(default)s, so the default "
                        "sweep ends within 10 minutes on 2 cores)")
    p.add_argument("--start-hour", type=_non_negative_float, default=7.0, metavar="H",
                   help="hour of day at the start of each run, for the demand's daily profile (0-24; default: "
                        "%(default)s, the start of the morning peak)")
    p.add_argument("--keep-up-queue", type=lambda t: _whole_number(t, 10**6), default=10, metavar="N",
                   help="the yard keeps up with a demand when the gate queue at the end of the run is at most N "
                        "trucks (both gates) on every seed (default: %(default)s)")
    p.add_argument("--jobs", type=lambda t: _whole_number(t, 256), default=os.cpu_count() or 1, metavar="N",
                   help="worker processes (default: the CPU count, %(default)s)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="output folder (default: runs/capacity-<date>-<time>)")
    p.set_defaults(func=cmd_capacity)

    from .order_cli import add_parser as add_order_parser

    add_order_parser(sub)
    from .border_cli import add_parser as add_border_keys_parser

    add_border_keys_parser(sub)
    return parser


# --------------------------------------------------------------------------- helpers
def _pre_clearance(args) -> bool:
    """``--pre-clearance`` (sim, graph); it needs ``--customs``."""
    pre = bool(getattr(args, "pre_clearance", False))
    if pre and not args.customs:
        raise ValueError("--pre-clearance needs --customs (there is nobody to file the manifest with)")
    return pre


def _err(console: Console, text: str) -> int:
    console.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)
    return 1


def _load_graph(args, console: Console, run_dir: Path | None = None):
    from yard_model import WorldError
    from yard_model.resources import ShareNotFoundError

    from .graph import build_graph

    try:
        return build_graph(args.world, args.carriers, args.rtf, args.seed, run_dir=run_dir,
                           containers_per_day=args.containers_per_day, customs=args.customs,
                           pre_clearance=_pre_clearance(args))
    except (WorldError, ShareNotFoundError, ValueError, RuntimeError) as exc:
        _err(console, str(exc))
        return None


# --------------------------------------------------------------------------- check-world
def cmd_check_world(args, console: Console) -> int:
    from yard_model import WorldError, load_world
    from yard_model.resources import ShareNotFoundError, world_path

    from .world_info import world_summary

    try:
        world = load_world(world_path(args.world))
    except (WorldError, ShareNotFoundError) as exc:
        return _err(console, str(exc))
    s = world_summary(world)
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    console.print(f"[bold green]OK[/] world [bold]{s['name']}[/] ({s['source']})", highlight=False)
    t = Table(show_header=False, box=None, pad_edge=False)
    d = s["datum"]
    t.add_row("datum", f"{d['latitude_deg']:.6f}, {d['longitude_deg']:.6f}, {d['altitude_m']:.1f} m (WGS84)")
    t.add_row("UTM zone", f"{s['utm_zone']} (EPSG:{s['utm_epsg']})")
    t.add_row("extent", f"{s['extent_m'][0]:.0f} m x {s['extent_m'][1]:.0f} m")
    t.add_row("lanes", f"{s['lanes']} ({s['two_way_lanes']} two-way), {s['lane_length_m']:.0f} m, "
                       f"{s['lane_nodes']} lane nodes")
    for sid, st in s["stations"].items():
        t.add_row(f"station {sid}", f"{st['name']} ({st['country']}): {st['truck_bays']} truck bays, "
                                    f"{st['carrier_bays']} carrier bays, {st['cranes']} cranes")
    for link in s["station_links"]:
        t.add_row("link", f"{link['from']} -> {link['to']}: {link['length_m']:.0f} m "
                          f"({link['from_bay']} to {link['to_bay']}, shortest drive)")
    t.add_row("cranes", str(s["cranes"]))
    t.add_row("parking / charging / inspection",
              f"{s['parking_spots']} / {s['charging_spots']} / {s['inspection_spots']}")
    t.add_row("GNSS zones", str(s["gnss_zones"]))
    console.print(t)
    return 0


# --------------------------------------------------------------------------- gen-sdf
def cmd_gen_sdf(args, console: Console) -> int:
    from yard_model import WorldError, load_world
    from yard_model.resources import ShareNotFoundError, available_worlds, world_path

    try:
        from yard_model import sdf as sdf_gen
    except ModuleNotFoundError as exc:
        if exc.name not in ("yard_model.sdf",):
            raise
        return _err(console, "the SDF generator (module yard_model.sdf) is not part of this installation yet; "
                             "it comes with the world tools. Update the package and try again.")
    try:
        paths = [world_path(w) for w in (args.worlds or available_worlds())]
    except ShareNotFoundError as exc:
        return _err(console, str(exc))
    stale = []
    for p in paths:
        out_dir = args.out_dir if args.out_dir is not None else p.parent
        out = out_dir / (p.stem + ".sdf")
        try:
            if args.check:
                text = sdf_gen.world_to_sdf(load_world(p))
                current = out.read_text(encoding="utf-8") if out.is_file() else None
                if current != text:
                    stale.append(out)
                    console.print(f"[yellow]out of date[/] {out}" if current else f"[yellow]missing[/] {out}",
                                  highlight=False)
                else:
                    console.print(f"[green]up to date[/] {out}", highlight=False)
            else:
                out_dir.mkdir(parents=True, exist_ok=True)
                sdf_gen.write_sdf(p, out)
                console.print(f"[green]wrote[/] {out}", highlight=False)
        except WorldError as exc:
            return _err(console, str(exc))
        except OSError as exc:
            return _err(console, f"{out}: {exc.strerror or exc}")
    if stale:
        return _err(console, f"{len(stale)} SDF file(s) out of date: run `yard-autonomy gen-sdf`")
    return 0


# --------------------------------------------------------------------------- graph
def cmd_graph(args, console: Console) -> int:
    from .supervisor import node_command

    specs = _load_graph(args, console)
    if specs is None:
        return 1
    if args.json:
        out = []
        for s in specs:
            d = s.to_dict()
            if args.commands:
                d["command"] = node_command(s)
            out.append(d)
        print(json.dumps(out, indent=2, default=str))
        return 0
    t = Table(title=f"yard_autonomy graph: {args.world}, {args.carriers} carriers", title_justify="left")
    for col in ("process", "node(s)", "executable / module", "params files", "overrides", "remappings"):
        t.add_column(col, overflow="fold")
    for s in specs:
        overrides = "\n".join(f"{k}={v}" for k, v in s.parameters.items())
        remaps = "\n".join(f"{a} -> {b}" for a, b in s.remappings)
        t.add_row(s.label, "\n".join(s.node_names), f"{s.executable}\n{s.module}", "\n".join(s.params_files),
                  overrides, remaps)
    console.print(t)
    if args.commands:
        try:
            for s in specs:
                console.print(f"[bold]{s.label}[/]: " + " ".join(node_command(s)), highlight=False, soft_wrap=True)
        except FileNotFoundError as exc:
            return _err(console, str(exc))
    return 0


# --------------------------------------------------------------------------- sim
class RichReporter:
    """Status table (live on a terminal, printed at start and end otherwise) and event lines."""

    STYLE = {"running": "green", "exited": "blue", "died": "bold red", "killed": "bold red",
             "terminated": "red", "stopping": "yellow", "restarting": "yellow", "pending": "dim"}

    def __init__(self, console: Console):
        self.console = console
        self.live: Live | None = None

    def table(self, states) -> Table:
        from .supervisor import describe_exit

        t = Table(title="yard_autonomy processes", title_justify="left")
        for col in ("process", "pid", "state", "exit", "log"):
            t.add_column(col, overflow="fold")
        for st in states:
            style = self.STYLE.get(st.state, "")
            exit_text = "" if st.returncode is None else describe_exit(st.returncode)
            t.add_row(st.plan.label, str(st.pid or ""), f"[{style}]{st.state}[/]", exit_text, st.plan.log_path.name)
        return t

    def _print(self, *a, **kw) -> None:
        (self.live.console if self.live is not None else self.console).print(*a, **kw)

    def started(self, states) -> None:
        if self.console.is_terminal:
            self.live = Live(self.table(states), console=self.console, refresh_per_second=2)
            self.live.start()
        else:
            self.console.print(self.table(states))

    def changed(self, states) -> None:
        if self.live is not None:
            self.live.update(self.table(states))

    def tick(self, states) -> None:
        pass

    def message(self, text: str) -> None:
        self._print(f"[yellow]>>[/] {escape(text)}", highlight=False)

    def output(self, label: str, line: str) -> None:
        self._print(f"[cyan]\\[{escape(label)}][/] {escape(line)}", highlight=False, soft_wrap=True)

    def finish(self, states) -> None:
        if self.live is not None:
            self.live.update(self.table(states))
            self.live.stop()
            self.live = None
        else:
            self.console.print(self.table(states))


def cmd_sim(args, console: Console) -> int:
    from yard_model import load_world
    from yard_model.resources import ShareNotFoundError, world_path
    from yard_ros.domain import local_ros_env

    from .graph import viability
    from .supervisor import ProcessPlan, Supervisor, default_log_dir, log_file_name, node_command

    log_dir = (args.log_dir or default_log_dir()).expanduser().resolve()
    specs = _load_graph(args, console, log_dir)
    if specs is None:
        return 1
    if args.record is not None:
        from .graph import recorder_spec

        try:
            specs = [*specs, recorder_spec(args.record)]
        except ValueError as exc:
            return _err(console, str(exc))
    kpi_out = args.out
    if kpi_out is None and args.containers_per_day is not None:
        import time

        kpi_out = Path("runs") / time.strftime("sim-%Y%m%d-%H%M%S")
    if kpi_out is not None:
        from .graph import graph_context, with_kpi_collector

        command = "yard-autonomy sim " + " ".join(_quote(a) for a in sys.argv[2:]) if sys.argv[1:2] == ["sim"] else ""
        ctx = graph_context(args.world, args.carriers, args.rtf, args.seed, containers_per_day=args.containers_per_day,
                            customs=args.customs, pre_clearance=_pre_clearance(args))
        specs = with_kpi_collector(specs, kpi_out, ctx, args.duration, command)
    for f in args.params_file:
        if not f.is_file():
            return _err(console, f"parameter file {f} does not exist")
    try:
        plans = [ProcessPlan(s.label, node_command(s, args.params_file), log_dir / log_file_name(s.label),
                             respawn=s.respawn, group=s.group, essential=s.essential,
                             sentinel=s.subsystem == "kpi_collector" and args.duration is not None)
                 for s in specs]
    except ShareNotFoundError as exc:
        return _err(console, str(exc))
    if args.duration is not None and kpi_out is None:  # else the KPI collector ends the run after writing
        plans.append(ProcessPlan(
            "clock_watch",
            [sys.executable, "-m", "yard_bringup.clock_watch", "--duration", repr(args.duration),
             "--ros-args", "-r", "__node:=yard_autonomy_clock_watch"],
            log_dir / "clock_watch.log", sentinel=True))

    base_env = dict(os.environ)
    if args.domain_id is not None:
        base_env["ROS_DOMAIN_ID"] = str(args.domain_id)
    env, lease = local_ros_env(base_env)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("RCUTILS_COLORIZED_OUTPUT", "0")
    env["ROS_LOG_DIR"] = str(log_dir / "ros")
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        world = world_path(args.world)
        until = f"{args.duration:g} s of sim time" if args.duration else "Ctrl-C"
        demand = "" if args.containers_per_day is None else \
            f", {args.containers_per_day:g} containers/day each way"
        if args.customs:
            demand += ", simulated customs (orders wait for clearance)"
            if args.pre_clearance:
                demand += ", manifests filed at the gate"
        report = "" if kpi_out is None else f"\nKPIs: {Path(kpi_out).expanduser().resolve()}"
        console.print(
            f"[bold]yard_autonomy sim[/]: world {world}, {args.carriers} carriers, rtf {args.rtf:g}"
            f"{' (as fast as possible)' if args.rtf == 0 else ''}, seed {args.seed}{demand}, until {until}{report}\n"
            f"DDS: ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']} "
            f"ROS_AUTOMATIC_DISCOVERY_RANGE={env['ROS_AUTOMATIC_DISCOVERY_RANGE']}"
            f"{' (leased for this run)' if lease else ''}\nlogs: {log_dir}", highlight=False, soft_wrap=True)
        reporter = RichReporter(console)
        sup = Supervisor(plans, env, log_dir, reporter, echo=args.echo, stop_timeout_s=args.stop_timeout,
                         viable=viability(load_world(world), specs))
        try:
            result = sup.run()
        finally:
            reporter.finish(sup.states)
    finally:
        if lease is not None:
            lease.release()
    for f in result.losses:
        console.print(f"[bold yellow]LOST[/] {escape(f.describe())}", highlight=False, soft_wrap=True)
    if result.ok:
        why = "end of --duration" if result.reason == "sentinel" else result.reason
        lost = f", the yard went on without {len(result.losses)} lost carrier(s)/crane(s)" if result.losses else ""
        console.print(f"[green]stopped cleanly[/] ({why}{lost})", highlight=False)
        return 0
    for f in result.failures:
        console.print(f"[bold red]FAILED[/] {escape(f.describe())}", highlight=False, soft_wrap=True)
    return 1


# --------------------------------------------------------------------------- day
def cmd_day(args, console: Console) -> int:
    import logging
    import time

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from yard_harness.day import SimulatedDay, build_fleet_run
    from yard_model import WorldError, load_world
    from yard_model.resources import ShareNotFoundError, world_path

    from .day_report import kpi_table, write_report

    try:
        world = load_world(world_path(args.world))
        customs = None
        if args.customs:
            from yard_sim.customs import CustomsConfig

            customs = CustomsConfig()
        if args.pre_clearance and customs is None:
            raise ValueError("--pre-clearance needs --customs (there is nobody to file the manifest with)")
        run = build_fleet_run(world, args.carriers, args.seed, args.containers_per_day, customs=customs,
                              pre_clearance=args.pre_clearance)
    except (WorldError, ShareNotFoundError, ValueError) as exc:
        return _err(console, str(exc))
    logging.getLogger("fleet_manager").setLevel(logging.ERROR)  # the manager logs each refused plan
    out = (args.out or Path("runs") / time.strftime("day-%Y%m%d-%H%M%S")).expanduser().resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _err(console, f"{out}: {exc.strerror or exc}")
    day = SimulatedDay(run)
    recorder = None
    if not args.no_record:
        from .day_record import DayRecorder

        recorder = DayRecorder(out / "day.mcap", day)
    console.print(f"[bold]yard_autonomy day[/]: world {world.name}, {args.carriers} carriers, {args.hours:g} h, "
                  f"{args.containers_per_day:g} containers/day each way, seed {args.seed}\noutput: {out}",
                  highlight=False, soft_wrap=True)
    duration = args.hours * 3600.0
    columns = (TextColumn("[bold]{task.fields[clock]}[/]"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TextColumn("orders {task.fields[done]}/{task.fields[acc]}  "
                          "crossings {task.fields[cross]}  conflicts {task.fields[conf]}"),
               TimeElapsedColumn())
    wall0, cpu0 = time.perf_counter(), time.process_time()
    with Progress(*columns, console=console, refresh_per_second=4) as bar:
        task = bar.add_task("day", total=duration, clock="00:00", done=0, acc=0, cross=0, conf=0)

        def progress(d: SimulatedDay) -> None:
            k, m = d.kpi, d.sim.metrics
            bar.update(task, completed=min(d.t, duration), clock=f"{int(d.t // 3600):02d}:{int(d.t % 3600 // 60):02d}",
                       done=k.completed, acc=len(k.accepted_at), cross=k.crossings,
                       conf=m.conflicts + m.collisions + m.deadlocks)

        stopped_early = False
        try:
            day.run_for(duration, progress, progress_period_s=60.0)
        except KeyboardInterrupt:  # Ctrl-C: report the part of the day that ran
            stopped_early = True
        finally:
            if recorder is not None:
                recorder.close()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if stopped_early:
        console.print(f"[yellow]stopped by Ctrl-C[/] at {day.t / 3600.0:.2f} simulated hours; reporting that part",
                      highlight=False)
    if day.t <= 0.0:
        return 130
    command = "yard-autonomy day " + " ".join(_quote(a) for a in sys.argv[2:]) if sys.argv[1:2] == ["day"] else ""
    report0, report_cpu0 = time.perf_counter(), time.process_time()
    k = write_report(day.kpi, out, command, kpis=day.kpis(), charge_below_soc=day.mgr.cfg.charge_below_soc)
    report, report_cpu = time.perf_counter() - report0, time.process_time() - report_cpu0
    day.close()
    console.print(kpi_table(k))
    files = ["kpi.json", "kpi.md", "day.png"] + ([] if recorder is None else ["day.mcap"])
    # CPU time beside wall time: the machine running a day may be shared, and only the first says what
    # the day itself cost
    console.print(f"wall time {wall:.0f} s (CPU {cpu:.0f} s) for {day.t / 3600.0:.2f} simulated hours "
                  f"({day.t / max(wall, 1e-9):.0f}x real time), report and plot {report:.1f} s "
                  f"(CPU {report_cpu:.1f} s); wrote "
                  + ", ".join(str(out / f) for f in files), highlight=False, soft_wrap=True)
    s = k["safety"]
    if s["collisions"] or s["conflicts"] or s["deadlocks"]:
        return _err(console, f"unsafe day: {s['collisions']} collisions, {s['conflicts']} conflicts, "
                             f"{s['deadlocks']} deadlocks")
    return 130 if stopped_early else 0


# --------------------------------------------------------------------------- capacity
def cmd_capacity(args, console: Console) -> int:
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from yard_model import WorldError, load_world
    from yard_model.documents import validate
    from yard_model.resources import ShareNotFoundError, world_path

    from . import capacity as cap

    try:
        worlds = cap.name_list(args.worlds, "--worlds")
        fleets = cap.int_list(args.carriers, "--carriers")
        demands = cap.float_list(args.containers_per_day, "--containers-per-day")
        if args.seeds < 1:
            raise ValueError("--seeds: must be >= 1")
        if args.jobs < 1:
            raise ValueError("--jobs: must be >= 1")
        if not args.start_hour < 24.0:
            raise ValueError(f"--start-hour: must be in 0..24 (hour of day), got {args.start_hour:g}")
        for name in worlds:
            w = load_world(world_path(name))
            spots = len(w.parking_spots()) + len(w.charging_spots())
            if fleets[-1] > spots:
                raise ValueError(f"--carriers: {name} has {spots} parking + charging spots, got {fleets[-1]}")
    except (WorldError, ShareNotFoundError, ValueError) as exc:
        return _err(console, str(exc))
    out = (args.out or Path("runs") / time.strftime("capacity-%Y%m%d-%H%M%S")).expanduser().resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _err(console, f"{out}: {exc.strerror or exc}")
    points = cap.plan_points(worlds, fleets, demands, args.seeds, args.hours, args.start_hour)
    jobs = min(args.jobs, len(points))
    console.print(f"[bold]yard_autonomy capacity[/]: {', '.join(worlds)}; carriers {', '.join(map(str, fleets))}; "
                  f"{', '.join(f'{d:g}' for d in demands)} containers/day each way; {args.seeds} seed(s); "
                  f"{args.hours:g} h from {args.start_hour:g}:00; {len(points)} runs in {jobs} worker process(es)"
                  f"\noutput: {out}", highlight=False, soft_wrap=True)
    columns = (TextColumn("[bold]runs[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[last]}"),
               TimeElapsedColumn())
    wall0 = time.perf_counter()
    with Progress(*columns, console=console, refresh_per_second=2) as bar:
        task = bar.add_task("capacity", total=len(points), last="")

        def done(r: dict) -> None:
            bar.update(task, advance=1, last=f"last: {r['world']} {r['carriers']} carriers "
                                             f"{r['containers_per_day']:g}/day seed {r['seed']}: "
                                             f"{r['containers_across_per_day']:.0f} across/day")

        results = cap.run_sweep(points, jobs, done)
    wall = time.perf_counter() - wall0
    summary = cap.summarise(results, args.keep_up_queue)
    command = "yard-autonomy capacity " + " ".join(_quote(a) for a in sys.argv[2:]) \
        if sys.argv[1:2] == ["capacity"] else ""
    doc = cap.capacity_document(results, summary, hours=args.hours, start_hour=args.start_hour, seeds=args.seeds,
                                jobs=jobs, keep_up_queue=args.keep_up_queue, wall_s=wall, command=command)
    validate("capacity", doc)
    (out / "capacity.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    cap.plot_capacity(doc, out / "capacity.png")
    for world, w in summary.items():
        console.print(_capacity_table(world, w, args))
    for line in doc["verdicts"]:
        console.print(f"[bold]>>[/] {escape(line)}", highlight=False, soft_wrap=True)
    cpu = sum(r["cpu_s"] for r in results)
    console.print(f"containers across per day: orders completed scaled from {args.hours:g} simulated h to 24 h "
                  f"(offered: trucks that reached the gates, scaled the same way); keeps up: gate queue at the "
                  f"end <= {args.keep_up_queue} trucks on every seed.\nwall time {wall:.0f} s (CPU {cpu:.0f} s in "
                  f"{len(points)} runs, {jobs} worker(s)); wrote {out / 'capacity.json'}, {out / 'capacity.png'}",
                  highlight=False, soft_wrap=True)
    unsafe = sum(cap.unsafe_events(r) for r in results)
    if unsafe:
        return _err(console, f"{unsafe} unsafe events (collisions, conflicts, deadlocks, crane limit violations) "
                             "in the sweep: see capacity.json points")
    return 0


def _capacity_table(world: str, w: dict, args) -> Table:
    t = Table(title=f"Capacity of {world}: {args.hours:g} h from {args.start_hour:g}:00, {args.seeds} seed(s)",
              title_justify="left")
    for col in ("carriers", "demand/day each way", "across/day mean (min)", "offered/day", "carrier util.",
                "crane moves/crane-h", "lead time mean", "gate queue end (max)", "unsafe", "goal / keeps up"):
        t.add_column(col, justify="right")
    for r in w["rows"]:
        lead = "-" if r["lead_time_mean_s"] is None else f"{r['lead_time_mean_s'] / 60.0:.1f} min"
        unsafe = "[green]0[/]" if r["unsafe_events"] == 0 else f"[bold red]{r['unsafe_events']}[/]"
        verdict = ("[green]2,000 ok[/]" if r["meets_goal"] else "[yellow]below goal[/]") + " / " + \
            ("[green]yes[/]" if r["keeps_up"] else "[red]no[/]")
        t.add_row(str(r["carriers"]), f"{r['containers_per_day']:g}",
                  f"{r['containers_across_per_day_mean']:.0f} ({r['containers_across_per_day_min']:.0f})",
                  f"{r['offered_per_day_mean']:.0f}", f"{r['carrier_utilisation_mean']:.0%}",
                  f"{r['crane_moves_per_crane_hour_mean']:.1f}", lead,
                  f"{r['gate_queue_end_mean']:.1f} ({r['gate_queue_end_max']})", unsafe, verdict)
    return t


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    # Not a terminal (pipe, CI log): rich would assume 80 columns; tables read better wider.
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 140
    console = Console(highlight=False, width=width)
    try:
        return args.func(args, console)
    except KeyboardInterrupt:  # Ctrl-C before any process started (the supervisor handles it after)
        console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
