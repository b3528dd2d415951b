"""A simulated day: the real fleet manager core against the kinematic yard, with KPIs.

``yard-autonomy day`` and ``bench/fleet.py`` build the same run with
:func:`build_fleet_run`: a :class:`~fleet_manager.manager.FleetManager` (its own
routing, traffic reservations and allocation, or a peer policy passed in) drives
the carriers of a :class:`~yard_harness.fleet_sim.FleetSim` whose trucks come
from :class:`yard_sim.scenario.TrafficScenario`. :class:`SimulatedDay` steps it,
samples the yard every ``sample_period_s`` of simulated time (carrier tasks,
state of charge, cumulative orders) and, at the end, :meth:`SimulatedDay.kpis`
summarises the run in the ``day_kpis`` document (keys documented in
``yard_model/schemas/day_kpis.schema.json``).

Observers (``observer(day)`` after every step) see the run without changing
it: the MCAP recorder of ``yard-autonomy day`` is one. No rclpy here.

Time: float seconds of simulated time from 0; :data:`DAY_EPOCH_S` is the Unix
time of t = 0 (midnight China Standard Time, UTC+8, at the start of 1 January
2026), used for stamps in recordings so a recorded day shows its hour of day.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fleet_manager.manager import FleetManager, ManagerConfig
from fleet_manager.network import YardNetwork
from fleet_manager.routing import Router
from fleet_manager.store import FleetStore

from .fleet_sim import FleetSim, SimConfig

DAY_EPOCH_S = 1767196800.0  # 2026-01-01T00:00:00+08:00 (Youyiguan local midnight, China Standard Time)
SITE_GOAL_VEHICLES_PER_DAY = 2000.0  # the site's stated goal: +2,000 cross-border vehicles a day
BUSY_TASKS = ("to_origin", "at_origin", "to_destination", "at_destination")
CHARGING_TASKS = ("to_charger", "charging")
KPI_VERSION = 1


@dataclass
class FleetRun:
    """The wired parts of one in-process fleet run."""

    world: object
    network: YardNetwork
    manager: FleetManager
    sim: FleetSim
    scenario: object
    store: FleetStore
    carrier_ids: tuple[str, ...]


def carrier_ids(count: int) -> tuple[str, ...]:
    """``carrier_01`` ... ``carrier_NN`` (the ids the ROS graph gives its carriers)."""
    return tuple(f"carrier_{i:02d}" for i in range(1, count + 1))


def build_fleet_run(world, carriers: int, seed: int = 0, containers_per_day: float = 1000.0,
                    sim_config: SimConfig | None = None, db_path: str = ":memory:", *,
                    router=None, traffic=None, allocator=None, network: YardNetwork | None = None) -> FleetRun:
    """Fleet manager + kinematic yard + truck scenario, wired as ``bench/fleet.py`` and ``day`` run them.

    ``carriers``: how many (ids ``carrier_01``...; at most the world's parking and
    charging spots). ``containers_per_day``: per direction (the scenario's
    ``containers_per_day``). ``router``/``traffic``/``allocator`` replace the
    manager's own (a peer policy); ``sim_config`` defaults to random hesitations
    of 0.001 /s per moving carrier (the benchmark's disturbance).
    """
    from yard_sim.scenario import ScenarioConfig, TrafficScenario

    spots = len(world.parking_spots()) + len(world.charging_spots())
    if not 1 <= carriers <= spots:
        raise ValueError(f"carriers must be in 1..{spots} (parking + charging spots of {world.name}), got {carriers}")
    if not (containers_per_day >= 0.0 and math.isfinite(containers_per_day)):
        raise ValueError(f"containers_per_day must be a finite number >= 0, got {containers_per_day}")
    net = network or YardNetwork(world)
    ids = carrier_ids(carriers)
    store = FleetStore(db_path)
    cfg = ManagerConfig(ids)
    kwargs = {} if allocator is None else {"allocator": allocator}
    mgr = FleetManager(world, store, cfg, 0.0, net, router or Router(net), traffic=traffic, **kwargs)
    scen = TrafficScenario(world, ScenarioConfig(containers_per_day=containers_per_day), seed=seed)
    sim = FleetSim(world, net, mgr, list(ids), scen, sim_config or SimConfig(hesitation_rate_hz=0.001), seed=seed,
                   wait_graph=mgr.traffic.wait_graph)
    return FleetRun(world, net, mgr, sim, scen, store, ids)


class _OrderLog:
    """Wraps the scenario to remember each issued order's direction (origin -> destination station)."""

    def __init__(self, scenario, sink: dict[str, tuple[str, str]]):
        self._scenario = scenario
        self._sink = sink

    def __getattr__(self, name):
        return getattr(self._scenario, name)

    def step(self, t, free_bays, departed_bays=frozenset()):
        arrivals, orders = self._scenario.step(t, free_bays, departed_bays)
        for o in orders:
            self._sink[o.order_id] = (o.origin_station, o.destination_station)
        return arrivals, orders


@dataclass
class DaySample:
    """The yard at one sample time."""

    t: float
    busy: int  # carriers on an order
    charging: int  # going to or at a charger
    idle: int  # everything else (idle, parking, parked, unknown)
    moving: int
    soc_mean: float
    soc_min: float
    completed: int  # cumulative
    accepted: int  # cumulative
    open_orders: int
    gate_queue: int = 0  # delivery trucks waiting at the gates (both stations) for a free delivery bay


@dataclass
class DayCounters:
    """Running totals, updated every step (what the progress bar shows)."""

    accepted: int = 0
    rejected: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    crossings: int = 0  # carrier border crossings, loaded or empty
    loaded_crossings: int = 0
    containers_arrived: int = 0  # brought by delivery trucks
    containers_departed: int = 0  # taken away by collection trucks
    crane_moves: int = 0  # crane jobs done
    energy_used_kwh: float = 0.0  # drawn from the batteries (driving + idle)
    energy_charged_kwh: float = 0.0
    moved: dict[str, int] = field(default_factory=dict)  # "cn_station->vn_station" -> completed orders


class SimulatedDay:
    """Steps a :class:`FleetRun` and keeps the figures a day report needs.

    ``sample_period_s``: time-series resolution [s of simulated time] (carrier
    tasks and state of charge for the plot).
    """

    def __init__(self, run: FleetRun, sample_period_s: float = 60.0):
        if not sample_period_s > 0.0:
            raise ValueError(f"sample_period_s must be > 0, got {sample_period_s}")
        self.run = run
        self.sim, self.mgr, self.world = run.sim, run.manager, run.world
        self.sample_period_s = float(sample_period_s)
        self.order_dirs: dict[str, tuple[str, str]] = {}
        self.sim.scenario = _OrderLog(run.scenario, self.order_dirs)
        self.sim.keep_events = True  # order events stay in sim.events until this class takes them
        self.counters = DayCounters()
        self.samples: list[DaySample] = []
        self.completions: list[tuple[float, str]] = []  # (t, order id)
        self.lead_times_s: list[float] = []
        self.new_events: list[dict] = []  # order events of the last step (observers read them)
        self.observers: list[Callable[[SimulatedDay], None]] = []
        self.busy_carrier_s = 0.0  # carrier-seconds on an order
        self.moving_carrier_s = 0.0
        self._side = {c.id: self._country(c.x, c.y) for c in self.sim.carriers.values()}
        self._soc = {c.id: c.soc for c in self.sim.carriers.values()}
        self._containers: set[str] = set()
        self._crane_job = {k: None for k in self.sim.cranes}  # job each crane was on at the last step
        self._next_side_check = 0.0
        self._next_sample = 0.0
        self._started = False
        self._accepted_t: dict[str, float] = {}
        self._scenario = run.scenario
        self._bays = tuple(b for st in self.world.stations.values() for b in st.carrier_bays)
        stations = sorted(getattr(run.scenario, "gate_queue", {}) or {})
        self.gate_truck_s = {s: 0.0 for s in stations}  # truck-seconds waited at each gate
        self.gate_max = {s: 0 for s in stations}
        self.bay_s = {"free": 0.0, "approached": 0.0, "occupied": 0.0}  # bay-seconds per carrier-bay state

    @property
    def t(self) -> float:
        return self.sim.t

    def _country(self, x: float, y: float) -> str:
        return self.world.border.country_at(x, y)

    def start(self) -> None:
        if not self._started:
            self._started = True
            self.sim.start()
            self._account(self.sim.cfg.dt_s, integrate=False)

    def step(self) -> None:
        """One ``dt_s`` of the yard, then the bookkeeping and the observers."""
        self.start()
        self.sim.step()
        self._account(self.sim.cfg.dt_s)
        for obs in self.observers:
            obs(self)

    def run_for(self, duration_s: float, on_progress: Callable[[SimulatedDay], None] | None = None,
                progress_period_s: float = 60.0) -> None:
        """Run ``duration_s`` of simulated time; ``on_progress(self)`` every ``progress_period_s``."""
        self.start()
        end = self.t + duration_s
        next_report = self.t + progress_period_s
        while self.t < end - 1e-9:
            self.step()
            if on_progress is not None and self.t >= next_report:
                next_report += progress_period_s
                on_progress(self)
        if on_progress is not None:
            on_progress(self)

    # ------------------------------------------------------------------ bookkeeping
    def _account(self, dt: float, integrate: bool = True) -> None:
        sim, k = self.sim, self.counters
        self.new_events = sim.events
        sim.events = []
        for ev in self.new_events:
            kind, oid = ev["event"], ev["order_id"]
            if kind == "accepted":
                k.accepted += 1
                self._accepted_t[oid] = float(ev["stamp"])
            elif kind == "rejected":
                k.rejected += 1
            elif kind == "failed":
                k.failed += 1
            elif kind == "cancelled":
                k.cancelled += 1
            elif kind == "completed":
                k.completed += 1
                self.completions.append((self.t, oid))
                t0 = self._accepted_t.pop(oid, None)
                if t0 is not None:
                    self.lead_times_s.append(float(ev["stamp"]) - t0)
                o, d = self.order_dirs.get(oid, ("?", "?"))
                key = f"{o}->{d}"
                k.moved[key] = k.moved.get(key, 0) + 1
        cap = self.world.carrier_type.battery_capacity_kwh
        check_side = self.t >= self._next_side_check - 1e-9  # every 1 s: <= 10 m driven, far from re-crossing
        if check_side:
            self._next_side_check = self.t + 1.0
        for c in sim.carriers.values():
            d_soc = c.soc - self._soc[c.id]
            self._soc[c.id] = c.soc
            if d_soc < 0:
                k.energy_used_kwh -= d_soc * cap
            else:
                k.energy_charged_kwh += d_soc * cap
            if c.v > 0.01:
                self.moving_carrier_s += dt
            if check_side and c.moved_at >= self.t - 1.0:
                side = self._country(c.x, c.y)
                if side != self._side[c.id]:
                    self._side[c.id] = side
                    k.crossings += 1
                    if any(v.get("holder") == "carrier" and v.get("holder_id") == c.id
                           for v in sim.containers.values()):
                        k.loaded_crossings += 1
            if self.mgr.carriers[c.id].task in BUSY_TASKS:
                self.busy_carrier_s += dt
        now = set(sim.containers)
        k.containers_arrived += len(now - self._containers)
        k.containers_departed += len(self._containers - now)
        self._containers = now
        for cid, crane in sim.cranes.items():
            prev = self._crane_job[cid]
            if prev is not None and crane.current != prev and crane.done.get(prev) == "done":
                k.crane_moves += 1
            self._crane_job[cid] = crane.current
        if integrate:  # the step that just ran (none before the first): time averages over exactly self.t
            for st, n in self.gate_lengths().items():
                self.gate_truck_s[st] += n * dt
                self.gate_max[st] = max(self.gate_max[st], n)
            for state, n in self.bay_states().items():
                self.bay_s[state] += n * dt
        if self.t >= self._next_sample - 1e-9:
            self._next_sample += self.sample_period_s
            self.samples.append(self._sample())

    def gate_lengths(self) -> dict[str, int]:
        """Delivery trucks waiting at each station's gate for a free delivery bay, now."""
        q = getattr(self._scenario, "gate_queue", None) or {}
        return {st: len(q[st]) for st in self.gate_truck_s}

    def bay_states(self) -> dict[str, int]:
        """How many carrier bays are ``occupied``, ``approached`` or ``free``, per the fleet manager now.

        Occupied: a carrier holds the bay's place in the traffic reservations (it stands there,
        or it is routed away but has not left yet, or it is about to dock). Approached: the
        goal of a carrier's route and held by nobody yet (it is kept for that carrier while it
        drives there; nobody else is sent to it). Free: neither.
        """
        net, traffic = self.mgr.net, self.mgr.traffic
        held, goals = set(), set()
        for cid, ct in traffic.carriers.items():
            held.update(r.resource for r in traffic.table.of(cid) if r.granted)
            if ct.geometry is not None and ct.geometry.goal_place:
                goals.add(ct.geometry.goal_place)
        occupied = sum(1 for b in self._bays if net.places[b].resource in held)
        approached = sum(1 for b in self._bays if b in goals and net.places[b].resource not in held)
        return {"free": len(self._bays) - occupied - approached, "approached": approached, "occupied": occupied}

    def _sample(self) -> DaySample:
        tasks = [c.task for c in self.mgr.carriers.values()]
        socs = [c.soc for c in self.sim.carriers.values()]
        busy = sum(1 for t in tasks if t in BUSY_TASKS)
        charging = sum(1 for t in tasks if t in CHARGING_TASKS)
        return DaySample(self.t, busy, charging, len(tasks) - busy - charging,
                         sum(1 for c in self.sim.carriers.values() if c.v > 0.01), float(np.mean(socs)),
                         float(np.min(socs)), self.counters.completed, self.counters.accepted,
                         sum(1 for o in self.mgr.orders.values() if not o.final), sum(self.gate_lengths().values()))

    def carrier_poses(self) -> dict[str, dict[str, float]]:
        """True pose and speed of every carrier: ``{id: {x, y, yaw, v, soc}}`` in ``map`` [m, rad, m/s, 0..1]."""
        return {c.id: {"x": c.x, "y": c.y, "yaw": c.yaw, "v": c.v, "soc": c.soc} for c in self.sim.carriers.values()}

    # ------------------------------------------------------------------ results
    def kpis(self) -> dict:
        """The ``day_kpis`` document (see ``yard_model/schemas/day_kpis.schema.json``)."""
        k, sim, m = self.counters, self.sim, self.sim.metrics
        hours = self.t / 3600.0
        per_day = 24.0 / hours if hours > 0 else 0.0
        lead = sorted(self.lead_times_s)
        n = len(self.run.carrier_ids)
        carrier_s = self.t * n
        moves_per_crane = {}
        for cid, crane in sim.cranes.items():
            moves_per_crane[cid] = sum(1 for v in crane.done.values() if v == "done")
        open_orders = sum(1 for o in self.mgr.orders.values() if not o.final)
        in_yard = len(sim.containers)
        waits = sorted(getattr(self._scenario, "gate_waits_s", []) or [])
        now_q = self.gate_lengths()

        def mean_of(total_s: float) -> float:
            return round(total_s / self.t, 3) if self.t > 0 else 0.0
        return {
            "version": KPI_VERSION,
            "world": self.world.name,
            "carriers": n,
            "simulated_hours": round(hours, 4),
            "orders": {
                "issued": m.orders_issued, "accepted": k.accepted, "rejected": k.rejected, "completed": k.completed,
                "failed": k.failed, "cancelled": k.cancelled, "open_at_end": open_orders,
                "completed_per_hour": round(k.completed / hours, 3) if hours > 0 else 0.0,
            },
            "containers": {
                "moved": dict(sorted(k.moved.items())), "arrived_by_truck": k.containers_arrived,
                "departed_by_truck": k.containers_departed, "in_yard_at_end": in_yard,
            },
            "border_crossings": {
                "total": k.crossings, "loaded": k.loaded_crossings, "empty": k.crossings - k.loaded_crossings,
                "per_day": round(k.crossings * per_day, 1),
                "containers_per_day": round(k.completed * per_day, 1),
                "site_goal_vehicles_per_day": SITE_GOAL_VEHICLES_PER_DAY,
                "share_of_site_goal": round(k.completed * per_day / SITE_GOAL_VEHICLES_PER_DAY, 4),
            },
            "lead_time_s": {
                "count": len(lead),
                "mean": round(statistics.fmean(lead), 1) if lead else None,
                "median": round(statistics.median(lead), 1) if lead else None,
                "p95": round(float(np.percentile(lead, 95)), 1) if lead else None,
                "max": round(lead[-1], 1) if lead else None,
            },
            "carrier_utilisation": {
                "on_order": round(self.busy_carrier_s / carrier_s, 4) if carrier_s else 0.0,
                "moving": round(self.moving_carrier_s / carrier_s, 4) if carrier_s else 0.0,
                "traffic_wait_min_per_carrier_hour": round(
                    sum(c.wait_s for c in sim.carriers.values()) / 60.0 / (hours * n), 3) if hours > 0 else 0.0,
            },
            "cranes": {
                "moves": k.crane_moves,
                "moves_per_hour": round(k.crane_moves / hours, 2) if hours > 0 else 0.0,
                "moves_per_crane_hour": round(k.crane_moves / hours / max(len(sim.cranes), 1), 2) if hours else 0.0,
                "per_crane": moves_per_crane,
            },
            "gate": {
                "trucks_waiting_mean": mean_of(sum(self.gate_truck_s.values())),
                "trucks_waiting_max": max(self.gate_max.values(), default=0),
                "trucks_waiting_at_end": sum(now_q.values()),
                "per_station": {st: {"mean": mean_of(self.gate_truck_s[st]), "max": self.gate_max[st],
                                     "at_end": now_q[st]} for st in sorted(self.gate_truck_s)},
                "truck_wait_s": {
                    "count": len(waits),
                    "mean": round(statistics.fmean(waits), 1) if waits else None,
                    "p95": round(float(np.percentile(waits, 95)), 1) if waits else None,
                    "max": round(waits[-1], 1) if waits else None,
                },
            },
            "carrier_bays": {
                "count": len(self._bays),
                "free_mean": mean_of(self.bay_s["free"]),
                "approached_mean": mean_of(self.bay_s["approached"]),
                "occupied_mean": mean_of(self.bay_s["occupied"]),
            },
            "safety": {
                "collisions": m.collisions, "conflicts": m.conflicts, "deadlocks": m.deadlocks,
                "interventions": m.interventions,
            },
            "energy_kwh": {
                "used": round(k.energy_used_kwh, 2), "charged": round(k.energy_charged_kwh, 2),
                "per_container": round(k.energy_used_kwh / k.completed, 3) if k.completed else None,
                "soc_min": round(min(s.soc_min for s in self.samples), 4) if self.samples else None,
            },
        }

    def close(self) -> None:
        self.run.store.close()
