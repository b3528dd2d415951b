"""A simulated day: the real fleet manager core against the kinematic yard, with KPIs.

``yard-autonomy day`` and ``bench/fleet.py`` build the same run with
:func:`build_fleet_run`: a :class:`~fleet_manager.manager.FleetManager` (its own
routing, traffic reservations and allocation, or a peer policy passed in) drives
the carriers of a :class:`~yard_harness.fleet_sim.FleetSim` whose trucks come
from :class:`yard_sim.scenario.TrafficScenario`. :class:`SimulatedDay` steps it
and measures it with :class:`yard_harness.kpis.KpiLog`, fed the same documents
the graph's KPI collector hears on its topics, so :meth:`SimulatedDay.kpis`
(the ``day_kpis`` document, keys in ``yard_model/schemas/day_kpis.schema.json``)
is measured as ``yard-autonomy sim --out`` measures the running graph.

Observers (``observer(day)`` after every step) see the run without changing
it: the MCAP recorder of ``yard-autonomy day`` is one. No rclpy here.

Time: float seconds of simulated time from 0; :data:`DAY_EPOCH_S` is the Unix
time of t = 0 (midnight China Standard Time, UTC+8, at the start of 1 January
2026), used for stamps in recordings so a recorded day shows its hour of day.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from fleet_manager.manager import FleetManager, ManagerConfig
from fleet_manager.network import YardNetwork
from fleet_manager.routing import Router
from fleet_manager.store import FleetStore
from yard_sim.customs import CustomsConfig

from .fleet_sim import FleetSim, SimConfig
from .kpis import CarrierTruth, DaySample, KpiLog

DAY_EPOCH_S = 1767196800.0  # 2026-01-01T00:00:00+08:00 (Youyiguan local midnight, China Standard Time)
KPI_SAMPLE_PERIOD_S = 1.0  # [s] fleet state and carrier truth go to the KPI log this often (the graph's rate)


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
    seed: int = 0


def carrier_ids(count: int) -> tuple[str, ...]:
    """``carrier_01`` ... ``carrier_NN`` (the ids the ROS graph gives its carriers)."""
    return tuple(f"carrier_{i:02d}" for i in range(1, count + 1))


def build_fleet_run(world, carriers: int, seed: int = 0, containers_per_day: float = 1000.0,
                    sim_config: SimConfig | None = None, db_path: str = ":memory:", *,
                    router=None, traffic=None, allocator=None, network: YardNetwork | None = None,
                    customs: CustomsConfig | None = None, pre_clearance: bool = False,
                    start_hour: float = 0.0) -> FleetRun:
    """Fleet manager + kinematic yard + truck scenario, wired as ``bench/fleet.py`` and ``day`` run them.

    ``carriers``: how many (ids ``carrier_01``...; at most the world's parking and
    charging spots). ``containers_per_day``: per direction (the scenario's
    ``containers_per_day``). ``router``/``traffic``/``allocator`` replace the
    manager's own (a peer policy); ``sim_config`` defaults to random hesitations
    of 0.001 /s per moving carrier (the benchmark's disturbance). ``customs``: both sides'
    customs decide on every container (:mod:`yard_sim.customs`) and the manager gates each
    order on their release (``clearance_required``); None: containers cross without customs.
    ``pre_clearance``: the manifest is filed when the truck reaches the gate, not with the order.
    ``start_hour``: hour of day at t = 0 (the scenario's demand profile; 0 = midnight), so a short run can
    cover a chosen part of the day (the capacity study's morning peak).
    """
    from yard_sim.scenario import ScenarioConfig, TrafficScenario

    spots = len(world.parking_spots()) + len(world.charging_spots())
    if not 1 <= carriers <= spots:
        raise ValueError(f"carriers must be in 1..{spots} (parking + charging spots of {world.name}), got {carriers}")
    if not 0.0 <= start_hour < 24.0:
        raise ValueError(f"start_hour must be in [0, 24), got {start_hour}")
    if not (containers_per_day >= 0.0 and math.isfinite(containers_per_day)):
        raise ValueError(f"containers_per_day must be a finite number >= 0, got {containers_per_day}")
    net = network or YardNetwork(world)
    ids = carrier_ids(carriers)
    store = FleetStore(db_path)
    cfg = ManagerConfig(ids, clearance_required=customs is not None)
    kwargs = {} if allocator is None else {"allocator": allocator}
    mgr = FleetManager(world, store, cfg, 0.0, net, router or Router(net), traffic=traffic, **kwargs)
    scen = TrafficScenario(world, ScenarioConfig(containers_per_day=containers_per_day, pre_clearance=pre_clearance,
                                                      start_hour=start_hour),
                           seed=seed)
    sim_config = sim_config or SimConfig(hesitation_rate_hz=0.001)
    if customs is not None:
        sim_config = replace(sim_config, customs=customs)
    sim = FleetSim(world, net, mgr, list(ids), scen, sim_config, seed=seed,
                   wait_graph=mgr.traffic.wait_graph)
    return FleetRun(world, net, mgr, sim, scen, store, ids, seed)


class SimulatedDay:
    """Steps a :class:`FleetRun` and measures it with :class:`~yard_harness.kpis.KpiLog`.

    The KPI log is fed what the graph's KPI collector hears on its topics: the
    documents the kinematic yard and the fleet manager produce (gate, order,
    crane job and sim events, follower statuses, yard states), the manager's
    ``fleet_state`` and the carriers' true states every ``KPI_SAMPLE_PERIOD_S``.
    ``sample_period_s``: time-series resolution of the plot [s of simulated time].
    """

    def __init__(self, run: FleetRun, sample_period_s: float = 60.0):
        if not sample_period_s > 0.0:
            raise ValueError(f"sample_period_s must be > 0, got {sample_period_s}")
        self.run = run
        self.sim, self.mgr, self.world = run.sim, run.manager, run.world
        self.sample_period_s = float(sample_period_s)
        self.sim.keep_events = True  # order events and documents stay in the sim until this class takes them
        self.kpi = KpiLog(run.world, run.carrier_ids, sample_period_s)
        self.new_events: list[dict] = []  # order events of the last step (observers read them)
        self.observers: list[Callable[[SimulatedDay], None]] = []
        self._next_kpi_sample = 0.0
        self._started = False

    @property
    def t(self) -> float:
        return self.sim.t

    @property
    def samples(self) -> list[DaySample]:
        return self.kpi.samples

    def start(self) -> None:
        if not self._started:
            self._started = True
            self.sim.start()
            self._account()

    def step(self) -> None:
        """One ``dt_s`` of the yard, then the bookkeeping and the observers."""
        self.start()
        self.sim.step()
        self._account()
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

    def _account(self) -> None:
        """Hand this step's documents to the KPI log; every KPI_SAMPLE_PERIOD_S the fleet state and truth."""
        sim, kpi = self.sim, self.kpi
        for ev in self.run.scenario.take_gate_events():
            kpi.gate_event(ev)
        self.new_events, sim.events = sim.events, []
        docs, sim.documents = sim.documents, []
        for name, doc in docs:
            if name == "sim_event":
                kpi.sim_event(doc)
            elif name == "crane_job_event":
                kpi.crane_event(doc)
            elif name == "follower_status":
                kpi.follower_status(doc)
            elif name == "yard_state":
                kpi.yard_state(doc)
        for ev in self.new_events:
            kpi.order_event(ev)
        if self.t >= self._next_kpi_sample - 1e-9:
            self._next_kpi_sample += KPI_SAMPLE_PERIOD_S
            kpi.fleet_state(self.mgr.fleet_state(self.t))
            kpi.sample(self.t, {c.id: CarrierTruth(c.x, c.y, c.v, c.soc) for c in sim.carriers.values()})

    def gate_lengths(self) -> dict[str, int]:
        """Delivery trucks waiting at each station's gate for a free delivery bay, now."""
        return {st: len(q) for st, q in sorted(self.run.scenario.gate_queue.items())}

    def carrier_poses(self) -> dict[str, dict[str, float]]:
        """True pose and speed of every carrier: ``{id: {x, y, yaw, v, soc}}`` in ``map`` [m, rad, m/s, 0..1]."""
        return {c.id: {"x": c.x, "y": c.y, "yaw": c.yaw, "v": c.v, "soc": c.soc} for c in self.sim.carriers.values()}

    # ------------------------------------------------------------------ results
    def kpis(self) -> dict:
        """The ``day_kpis`` document (see ``yard_model/schemas/day_kpis.schema.json``) up to now."""
        m = self.sim.metrics
        self.kpi.fleet_state(self.mgr.fleet_state(self.t))
        self.kpi.sample(self.t, {c.id: CarrierTruth(c.x, c.y, c.v, c.soc) for c in self.sim.carriers.values()})
        self.kpi.set_checks(m.conflicts, m.deadlocks, m.interventions)
        scenario = {"seed": self.run.seed, "containers_per_day": self.run.scenario.cfg.containers_per_day}
        return self.kpi.kpis("day", scenario)

    def close(self) -> None:
        self.run.store.close()
