"""Crane control benchmark (issue #5): cycle times, moves per hour, limits, in the in-process simulator.

Runs crane_control's controller against the simulator's engine (``yard_harness.crane_loop``), as
fast as the CPU allows, on the Youyiguan world's ``cn_crane_1`` (its rail neighbour ``cn_crane_2``
stands at home without a controller, kept clear of by its joint states):

1. **Single cycles** truck → carrier and carrier → truck from the crane's home, both bays ready:
   started → done, against the time-optimal lower bound of the issue (the sum of the ruckig-optimal
   rest-to-rest moves of every phase at the full axis limits, plus the twistlock turns, no waiting)
   and against the same controller with the naive sequential motion (hoist up, stop, each horizontal
   axis in turn, lower; no blending, no pre-positioning, no pre-lift).
2. **Steady state**, carriers and trucks on time: an export stream (truck → carrier, a fresh
   empty carrier docks as soon as the loaded one leaves, bays a1/b1 alternating; a fresh loaded
   truck arrives as soon as one is emptied) and a dual-cycle stream (each carrier arrives with an
   import container that goes to a waiting empty truck, then leaves with an export container).
   Moves per hour = completed jobs between the first and the last `done`, per hour.
3. **Limits**: every engine step records each simulated drive's velocity and acceleration (the
   joint states; the hoist's drum rather than the spreader, whose landing on a container is a
   contact, not a drive motion); jerk is the change of acceleration per step. Maxima are reported as
   fractions of the world's limits, with the simulator's own counters (limit-violating commands,
   drops, misplaced containers, collisions).

Usage: ``python bench/crane_cycle.py [--jobs 16] [--world youyiguan]``
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from crane_control.cycle_bounds import lower_bound_s, planned_optimum_s
from crane_control.model import CraneModel
from yard_harness.crane_loop import SimLoop
from yard_model import load_world

WORLDS = Path(__file__).resolve().parents[1] / "sim_worlds"
CRANE = "cn_crane_1"


# ------------------------------------------------------------------------------ scenarios
def new_loop(world, style: str, record: bool = False) -> SimLoop:
    return SimLoop(world, (CRANE,), carriers=("carrier_01", "carrier_02", "carrier_03"), style=style,
                   record=record)


def single_cycle(world, style: str, direction: str) -> tuple[float, SimLoop]:
    loop = new_loop(world, style, record=True)
    if direction == "truck->carrier":
        loop.command({"command": "spawn_truck", "truck_id": "t1", "bay": "cn_truck_11", "container_id": "X1",
                      "depart_after_s": None})
        loop.dock_carrier("carrier_01", "cn_bay_a1")
        pick, place = "cn_truck_11", "cn_bay_a1"
    else:
        loop.command({"command": "spawn_truck", "truck_id": "t1", "bay": "cn_truck_11", "depart_after_s": None})
        loop.dock_carrier("carrier_01", "cn_bay_a1")
        loop.command({"command": "spawn_container", "container_id": "X1", "carrier_id": "carrier_01"})
        pick, place = "cn_bay_a1", "cn_truck_11"
    loop.run(3.0)  # let the rail neighbour be heard (or found absent)
    loop.submit(CRANE, {"job_id": "j", "container_id": "X1", "pick": {"bay": pick}, "place": {"bay": place}})
    loop.run(400.0, until=lambda: loop.stamp(CRANE, "j", "done") is not None)
    started, done = loop.stamp(CRANE, "j", "started"), loop.stamp(CRANE, "j", "done")
    if done is None:
        raise RuntimeError(f"{style} {direction}: job did not finish: {loop.kinds(CRANE, 'j')}")
    return done - started, loop


LATE_S = 60.0  # [s] the carrier of the late-carrier scenario docks this long after the job arrives


def late_carrier(world, style: str) -> tuple[float, float, SimLoop]:
    """A truck → carrier job whose carrier is still on its way: how long does the carrier wait at the bay?"""
    loop = new_loop(world, style, record=True)
    loop.command({"command": "spawn_truck", "truck_id": "t1", "bay": "cn_truck_11", "container_id": "X1",
                  "depart_after_s": None})
    loop.run(3.0)
    loop.submit(CRANE, {"job_id": "j", "container_id": "X1", "pick": {"bay": "cn_truck_11"},
                        "place": {"bay": "cn_bay_a1"}, "expected_ready_s": loop.t + LATE_S})
    loop.run(LATE_S)
    docked = loop.t
    loop.dock_carrier("carrier_01", "cn_bay_a1")
    loop.run(400.0, until=lambda: loop.stamp(CRANE, "j", "done") is not None)
    # the carrier may leave once the container is on it and the spreader has let go (unlocked)
    released = next(e["stamp"] for e in loop.sim_events if e["event"] == "container_released")
    return released - docked, loop.stamp(CRANE, "j", "done") - loop.stamp(CRANE, "j", "started"), loop


class Stream:
    """Carriers and trucks on time around one crane; jobs fed two ahead with expected_ready_s."""

    def __init__(self, world, style: str, dual: bool, jobs: int):
        self.loop = new_loop(world, style, record=True)
        self.dual = dual
        self.jobs = jobs
        self.n_container = itertools.count(1)
        self.n_truck = itertools.count(1)
        self.carrier_bays = ("cn_bay_a1", "cn_bay_b1")
        self.export_bays = ("cn_truck_11", "cn_truck_21")
        self.import_bays = ("cn_truck_12", "cn_truck_22")
        self.carriers = ["carrier_01", "carrier_02", "carrier_03"]
        self.submitted = 0
        self.carrier_at: dict[str, str] = {}

    def truck(self, bay: str, loaded: bool) -> None:
        cmd = {"command": "spawn_truck", "truck_id": f"tr{next(self.n_truck)}", "bay": bay, "depart_after_s": None}
        if loaded:
            cmd["container_id"] = f"E{next(self.n_container)}"
        self.loop.command(cmd)

    def dock(self, bay: str) -> None:
        carrier = next(c for c in self.carriers if c not in self.carrier_at.values())
        self.loop.dock_carrier(carrier, bay)
        self.carrier_at[bay] = carrier
        if self.dual:
            self.loop.command({"command": "spawn_container", "container_id": f"I{next(self.n_container)}",
                               "carrier_id": carrier})

    def setup(self) -> None:
        for bay in self.export_bays:
            self.truck(bay, loaded=True)
        if self.dual:
            for bay in self.import_bays:
                self.truck(bay, loaded=False)
        for bay in self.carrier_bays:
            self.dock(bay)

    def container_on(self, holder_kind: str, holder_id: str) -> str | None:
        for c in self.loop.engine.cargo.containers.values():
            if c.parent_kind == holder_kind and c.parent_id == holder_id:
                return c.id
        return None

    def feed(self) -> None:
        """Keep two jobs ahead of the crane, as a fleet manager would."""
        ctl = self.loop.ctls[CRANE]
        while self.submitted < self.jobs and len(ctl.queue) + (ctl.job is not None) < 2:
            i = self.submitted
            cycle = i // 2 if self.dual else i
            bay = self.carrier_bays[cycle % 2]
            carrier = self.carrier_at.get(bay)
            if self.dual and i % 2 == 0:  # unload the import container onto a waiting empty truck
                pick, place = bay, self.import_bays[cycle % 2]
                container = self.container_on("carrier", carrier)
            else:  # load an export container from a truck onto the carrier
                pick, place = self.export_bays[cycle % 2], bay
                truck = next(t for t in self.loop.engine.cargo.trucks.values() if t.bay == pick)
                container = truck.container_id
            if container is None:
                return
            self.loop.submit(CRANE, {"job_id": f"m{i}", "container_id": container, "pick": {"bay": pick},
                                     "place": {"bay": place}, "expected_ready_s": self.loop.t})
            self.submitted += 1

    def busy(self, bay: str) -> bool:
        """The crane still works at this bay (its job picks or places there, or it clears from there)."""
        ctl = self.loop.ctls[CRANE]
        if ctl.job is not None and bay in (ctl.job.pick.id, ctl.job.place.id):
            return True
        return ctl.clearing is not None and ctl.clearing.place.id == bay

    def refresh(self) -> None:
        """Carriers that got their export container leave; emptied/filled trucks are replaced; all on time."""
        for bay in self.carrier_bays:
            carrier = self.carrier_at.get(bay)
            c = self.container_on("carrier", carrier) if carrier else None
            if carrier and c is not None and c.startswith("E") and not self.busy(bay):
                self.loop.command({"command": "remove_container", "container_id": c})  # delivered across the border
                self.loop.park_carrier(carrier, 200.0 + 30.0 * self.carriers.index(carrier), 0.0)
                del self.carrier_at[bay]
                self.dock(bay)
        for truck in list(self.loop.engine.cargo.trucks.values()):
            done_export = truck.bay in self.export_bays and truck.container_id is None
            done_import = truck.bay in self.import_bays and truck.container_id is not None
            if (done_export or done_import) and not self.busy(truck.bay):
                self.loop.command({"command": "remove_truck", "truck_id": truck.id})
                self.truck(truck.bay, loaded=done_export)

    def run(self) -> tuple[float, SimLoop]:
        self.setup()
        loop = self.loop
        loop.run(3.0)
        while True:
            self.feed()
            self.refresh()
            loop.run(1.0)
            dones = [e["stamp"] for e in loop.events[CRANE] if e["event"] == "done"]
            failed = [e for e in loop.events[CRANE] if e["event"] in ("failed", "rejected")]
            if failed:
                raise RuntimeError(f"stream: {failed}")
            if len(dones) >= self.jobs or loop.t > 200.0 * self.jobs:
                break
        per_hour = (len(dones) - 1) / (dones[-1] - dones[0]) * 3600.0
        return per_hour, loop


# --------------------------------------------------------------------------------- limits
def limit_fractions(loops: list[SimLoop], model: CraneModel) -> dict[str, tuple[float, float, float]]:
    out = {}
    for axis, lim in model.limits.items():
        v = a = j = 0.0
        for loop in loops:
            rec = loop.records[CRANE]
            dt = loop.engine.dt
            vs, as_ = rec.v[axis], rec.a[axis]
            v = max(v, max(abs(x) for x in vs))
            a = max(a, max(abs(x) for x in as_))
            j = max(j, max(abs(as_[i + 1] - as_[i]) / dt for i in range(len(as_) - 1)))
        out[axis] = (v / lim.max_velocity_mps, a / lim.max_acceleration_mps2, j / lim.max_jerk_mps3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", default="youyiguan")
    ap.add_argument("--jobs", type=int, default=12, help="jobs per steady-state stream")
    args = ap.parse_args()
    world = load_world(WORLDS / f"{args.world}.yaml")
    model = CraneModel.from_world(world, CRANE)
    console = Console(width=160)
    wall = time.perf_counter()
    loops = []
    home = model.home

    cyc = Table(title=f"Single job cycle, {CRANE} ({args.world}), started → done [s]")
    for col in ("job", "lower bound (Σ ruckig-optimal moves)", "planned optimum (blended)", "ours (closed loop)",
                "ours / bound", "naive sequential", "naive / bound"):
        cyc.add_column(col, justify="right")
    for direction, (pick, place) in (("truck->carrier", ("cn_truck_11", "cn_bay_a1")),
                                     ("carrier->truck", ("cn_bay_a1", "cn_truck_11"))):
        lb = lower_bound_s(model, home, pick, place)
        opt = planned_optimum_s(model, home, pick, place)
        ours, loop = single_cycle(world, "blended", direction)
        naive, nloop = single_cycle(world, "sequential", direction)
        loops += [loop, nloop]
        cyc.add_row(direction, f"{lb:.1f}", f"{opt:.1f}", f"{ours:.1f}", f"{ours / lb:.3f}", f"{naive:.1f}",
                    f"{naive / lb:.3f}")
    console.print(cyc)

    ss = Table(title=f"Steady state, carriers and trucks on time, {args.jobs} jobs per stream, moves per hour")
    for col in ("stream", "ours", "naive sequential", "published references"):
        ss.add_column(col, justify="right")
    for dual in (False, True):
        rates = []
        for style in ("blended", "sequential"):
            per_hour, loop = Stream(world, style, dual, args.jobs).run()
            loops.append(loop)
            rates.append(per_hour)
        ss.add_row("dual cycle (import + export)" if dual else "export (truck → carrier)", f"{rates[0]:.1f}",
                   f"{rates[1]:.1f}", "Qingdao 26–36; industry 35+ gross")
    console.print(ss)

    late = Table(title=f"Carrier docks {LATE_S:.0f} s after the job arrives (expected_ready_s given): "
                       "its dwell at the bay, docked → loaded and released [s]")
    for col in ("controller", "carrier dwell", "job started → done"):
        late.add_column(col, justify="right")
    for style in ("blended", "sequential"):
        dwell, cycle, loop = late_carrier(world, style)
        loops.append(loop)
        late.add_row("ours (pre-lift, hold over the bay)" if style == "blended" else "naive sequential",
                     f"{dwell:.1f}", f"{cycle:.1f}")
    console.print(late)

    lim = Table(title="Largest |velocity|, |acceleration|, |jerk| of the simulated drives, fraction of the limit")
    for col in ("axis", "velocity", "acceleration", "jerk"):
        lim.add_column(col, justify="right")
    for axis, (v, a, j) in limit_fractions(loops, model).items():
        lim.add_row(axis, f"{v:.3f}", f"{a:.3f}", f"{j:.3f}")
    console.print(lim)
    counters = {k: sum(loop.engine.diagnostics()[k] for loop in loops) for k in (
        "crane_limit_violations", "containers_dropped", "containers_misplaced", "collisions", "trajectories_rejected")}
    console.print(f"simulator counters over all runs: {counters}")
    console.print(f"interlock refusals: {sum(len(c.violations) for loop in loops for c in loop.ctls.values())}; "
                  f"sim time {sum(loop.t for loop in loops):.0f} s in {time.perf_counter() - wall:.0f} s wall")


if __name__ == "__main__":
    main()
