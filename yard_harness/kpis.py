"""The ``day_kpis`` document, computed from what happened: one measurement for the day and the graph.

:class:`KpiLog` is fed the documents a yard produces — ``gate_event``, ``order_event``,
``crane_job_event``, ``sim_event``, ``yard_state``, ``follower_status``, ``fleet_state`` — and,
every second or so of simulated time, the true pose, speed and state of charge of each carrier
(:meth:`KpiLog.sample`). ``yard-autonomy day`` (:mod:`yard_harness.day`) feeds it from the
kinematic yard and the fleet manager core in one process; ``yard-autonomy sim`` (the KPI collector
node, :mod:`yard_bringup.kpi_collector`) from the topics of the running graph. Both then write the
same ``kpi.json`` (keys: ``yard_model/schemas/day_kpis.schema.json``), measured the same way.

How each figure is measured:

* orders: distinct order ids (an order re-sent, re-queued or re-announced after a restart counts
  once); ``issued`` = orders the gate issued (``admitted`` gate events); lead time = first
  ``accepted`` -> ``completed`` stamps; ``open_at_end`` = accepted and not final;
* containers: ``truck_arrived`` / ``truck_departed`` sim events with a container; in the yard at the
  end = containers of the latest ``yard_state``; moved per direction = completed orders by their
  origin and destination stations (from the gate event, else the fleet state);
* border crossings: a carrier's true position changed country between two samples; loaded if
  ``yard_state`` had a container on it;
* time shares (sample and hold between calls of :meth:`sample`): on an order = the fleet manager's
  task (``fleet_state``), moving = true speed > 0.01 m/s, traffic wait = the follower reports
  standing at the end of its movement authority short of the goal, carrier bays from the fleet
  manager's held places and route goals, the gate queue from gate events (exact);
* cranes: distinct jobs reported ``done``;
* safety: ``collision`` and ``crane_limit_violation`` sim events; conflicts, deadlocks and operator
  interventions only where a checker reports them (:meth:`KpiLog.set_checks`, the kinematic yard),
  else null (not checked);
* energy: state-of-charge changes between samples times the battery capacity.

No rclpy here. Times are float seconds of simulated time.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

SITE_GOAL_VEHICLES_PER_DAY = 2000.0  # the site's stated goal: +2,000 cross-border vehicles a day
BUSY_TASKS = ("to_origin", "at_origin", "to_destination", "at_destination")
CHARGING_TASKS = ("to_charger", "charging")
FINAL_EVENTS = ("completed", "failed", "cancelled")
KPI_VERSION = 2
MOVING_MPS = 0.01  # [m/s] a carrier faster than this is moving
STANDING_MPS = 0.01  # [m/s] a follower reporting less is standing


@dataclass
class DaySample:
    """The yard at one sample time (the time series of the day plot)."""

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


@dataclass(frozen=True)
class CarrierTruth:
    """A carrier's true state at a sample: position in ``map`` [m], speed [m/s], state of charge 0..1."""

    x: float
    y: float
    v: float
    soc: float


@dataclass(frozen=True)
class FleetSample:
    """What the KPIs need from one ``fleet_state``: tasks, held places, route goals, open orders."""

    tasks: dict[str, str]
    held_places: frozenset[str]
    goals: frozenset[str]
    open_orders: int
    directions: dict[str, tuple[str, str]] = field(default_factory=dict)  # order id -> (origin, destination)


def fleet_sample_of(doc: dict, world) -> FleetSample:
    """The :class:`FleetSample` of a ``fleet_state`` document (``place:<id>`` resources are places)."""
    carriers = doc.get("carriers") or {}
    held, goals = set(), set()
    for c in carriers.values():
        held.update(r[len("place:"):] for r in c.get("held") or () if r.startswith("place:"))
        if c.get("goal"):
            goals.add(c["goal"])
    directions = {}
    for oid, o in (doc.get("orders") or {}).items():
        bay = world.bays.get(o.get("origin_truck_bay"))
        if bay is not None:
            directions[oid] = (bay.station, o["destination_station"])
    return FleetSample({cid: c["task"] for cid, c in carriers.items()}, frozenset(held), frozenset(goals),
                       int((doc.get("stats") or {}).get("open", 0)), directions)


def _gate_stats(spans: list[tuple[float, float | None]], t_end: float) -> tuple[float, int, int]:
    """(time integral of the queue [truck-s], its largest length, length at t_end) from (arrived, admitted)."""
    edges = []
    area = 0.0
    for a, b in spans:
        if a > t_end:
            continue
        end = t_end if b is None or b > t_end else b
        area += max(0.0, end - a)
        edges.append((a, 1))
        if end < t_end:
            edges.append((end, -1))
    level = peak = 0
    for _, d in sorted(edges, key=lambda e: (e[0], e[1])):  # a departure before an arrival at the same time
        level += d
        peak = max(peak, level)
    return area, peak, level


class KpiLog:
    """Accumulates what a yard did and computes the ``day_kpis`` document (module docstring).

    ``carrier_ids``: the fleet; ``sample_period_s``: the time-series resolution of :attr:`samples`.
    Feed it in time order; :meth:`sample` advances its clock.
    """

    def __init__(self, world, carrier_ids: Iterable[str], sample_period_s: float = 60.0, t0: float = 0.0):
        if not sample_period_s > 0.0:
            raise ValueError(f"sample_period_s must be > 0, got {sample_period_s}")
        self.world = world
        self.carrier_ids = tuple(carrier_ids)
        self.sample_period_s = float(sample_period_s)
        self.t0 = self.t = float(t0)
        self.samples: list[DaySample] = []
        self.completions: list[tuple[float, str]] = []  # (stamp, order id)
        self.lead_times_s: list[float] = []
        self._next_sample = self.t0
        # orders
        self.issued: set[str] = set()
        self.accepted_at: dict[str, float] = {}
        self.cleared_at: dict[str, float] = {}  # order -> first event saying both customs released it
        self.customs_checks: dict[str, set[str]] = {"hold": set(), "inspect": set()}  # orders held / inspected
        self.clearance_seen = False  # order events carry clearance (the fleet manager's clearance_required)
        self.inspection_visits: dict[str, list[float]] = {}  # order -> [arrived on, left] an inspection spot
        self.finished: dict[str, str] = {}  # order id -> completed | failed | cancelled
        self.rejected: set[str] = set()
        self.directions: dict[str, tuple[str, str]] = {}
        self._order_seqs: set[int] = set()
        # yard
        self.containers_arrived = 0
        self.containers_departed = 0
        self.containers_in_yard: int | None = None
        self.loaded: set[str] = set()  # carriers with a container on the deck (yard_state)
        self.crane_done: dict[str, set[str]] = {}  # crane id -> jobs done
        self.collisions = 0
        self.crane_limit_violations = 0
        self.checks: dict[str, int | None] = {"conflicts": None, "deadlocks": None, "interventions": None}
        # gate: station -> [(arrived, admitted or None)], FIFO
        self.gate: dict[str, list[tuple[float, float | None]]] = {s: [] for s in sorted(world.stations)}
        self.gate_waits_s: list[float] = []
        # held values between samples
        self.fleet = FleetSample({}, frozenset(), frozenset(), 0)
        self.truth: dict[str, CarrierTruth] = {}
        self.waiting: dict[str, bool] = {}  # carrier -> standing at the end of its authority
        self.side: dict[str, str] = {}
        self.crossings = 0
        self.loaded_crossings = 0
        self.energy_used_kwh = 0.0
        self.energy_charged_kwh = 0.0
        # time integrals [carrier-s, bay-s]
        self.busy_s = 0.0
        self.moving_s = 0.0
        self.wait_s = 0.0
        self.bays = tuple(b for st in world.stations.values() for b in st.carrier_bays)
        self.bay_s = {"free": 0.0, "approached": 0.0, "occupied": 0.0}

    # ------------------------------------------------------------------ documents
    def gate_event(self, doc: dict) -> None:
        spans = self.gate.setdefault(doc["station"], [])
        if doc["event"] == "queued":
            spans.append((float(doc["stamp"]), None))
            return
        for i, (a, b) in enumerate(spans):  # first come, first served: the oldest waiting truck parks
            if b is None:
                spans[i] = (a, float(doc["stamp"]))
                break
        else:  # arrived and parked within one step of the gate
            spans.append((float(doc["arrived"]), float(doc["stamp"])))
        self.gate_waits_s.append(float(doc["wait_s"]))
        self.issued.add(doc["order_id"])
        self.directions[doc["order_id"]] = (doc["station"], doc["destination_station"])

    def order_event(self, doc: dict) -> None:
        seq = doc.get("seq")
        if seq is not None:
            if seq in self._order_seqs:
                return  # re-sent after a fleet manager restart
            self._order_seqs.add(seq)
        oid, ev, stamp = doc["order_id"], doc["event"], float(doc["stamp"])
        clearance = doc.get("clearance")
        if clearance is not None:
            self.clearance_seen = True
            if clearance == "released":
                self.cleared_at.setdefault(oid, stamp)
            elif clearance in self.customs_checks:
                self.customs_checks[clearance].add(oid)
            self._inspection_spot(oid, ev, doc.get("reason", ""), stamp)
        if ev == "accepted":
            self.accepted_at.setdefault(oid, stamp)
        elif ev == "rejected":
            if oid not in self.accepted_at:
                self.rejected.add(oid)
        elif ev in FINAL_EVENTS and oid not in self.finished:
            self.finished[oid] = ev
            if ev == "completed":
                self.completions.append((stamp, oid))
                t0 = self.accepted_at.get(oid)
                if t0 is not None:
                    self.lead_times_s.append(stamp - t0)

    def _inspection_spot(self, oid: str, ev: str, reason: str, stamp: float) -> None:
        """Time a carrier stood on an inspection spot: from the fleet manager's 'at inspection on' event to the
        order's next move (in_transit, leaves inspection, or its end)."""
        visit = self.inspection_visits.get(oid)
        if ev == "clearance" and reason.startswith("at inspection on "):
            self.inspection_visits[oid] = [stamp]
        elif visit is not None and len(visit) == 1 and (
                ev in ("in_transit", *FINAL_EVENTS) or (ev == "clearance" and reason.startswith("leaves inspection"))):
            visit.append(stamp)

    def crane_event(self, doc: dict) -> None:
        if doc.get("event") == "done":
            self.crane_done.setdefault(doc["crane_id"], set()).add(doc["job_id"])

    def sim_event(self, doc: dict) -> None:
        ev = doc.get("event")
        if ev == "truck_arrived" and doc.get("container_id"):
            self.containers_arrived += 1
        elif ev == "truck_departed" and doc.get("container_id"):
            self.containers_departed += 1
        elif ev == "collision":
            self.collisions += 1
        elif ev == "crane_limit_violation":
            self.crane_limit_violations += 1

    def yard_state(self, doc: dict) -> None:
        containers = doc.get("containers") or {}
        self.containers_in_yard = len(containers)
        self.loaded = {c["holder_id"] for c in containers.values() if c.get("holder") == "carrier"}

    def follower_status(self, doc: dict) -> None:
        auth = doc.get("authority_m")
        end = float(doc.get("progress_m", 0.0)) + float(doc.get("remaining_m", 0.0))
        self.waiting[doc["carrier_id"]] = (doc.get("state") in ("following", "blocked") and auth is not None
                                           and abs(float(doc.get("speed_mps", 0.0))) < STANDING_MPS
                                           and float(auth) < end - 0.05)

    def fleet_state(self, doc: dict) -> None:
        self.fleet_sample(fleet_sample_of(doc, self.world))

    def fleet_sample(self, s: FleetSample) -> None:
        self.fleet = s
        for oid, d in s.directions.items():
            self.directions.setdefault(oid, d)

    def set_checks(self, conflicts: int | None = None, deadlocks: int | None = None,
                   interventions: int | None = None) -> None:
        """Safety counts of an independent checker (the kinematic yard's); None = not checked."""
        self.checks = {"conflicts": conflicts, "deadlocks": deadlocks, "interventions": interventions}

    # ------------------------------------------------------------------ time
    def sample(self, t: float, carriers: dict[str, CarrierTruth]) -> None:
        """Advance to ``t`` (time shares held since the previous call), then take the carriers' truth."""
        dt = t - self.t
        if dt > 0.0:
            n_busy = sum(1 for c in self.carrier_ids if self.fleet.tasks.get(c) in BUSY_TASKS)
            self.busy_s += n_busy * dt
            self.moving_s += sum(1 for c in self.truth.values() if c.v > MOVING_MPS) * dt
            self.wait_s += sum(1 for c in self.carrier_ids if self.waiting.get(c)) * dt
            for state, n in self.bay_states().items():
                self.bay_s[state] += n * dt
            self.t = t
        cap = self.world.carrier_type.battery_capacity_kwh
        border = self.world.border
        for cid, now in carriers.items():
            before = self.truth.get(cid)
            if before is not None:
                d_soc = now.soc - before.soc
                if d_soc < 0:
                    self.energy_used_kwh -= d_soc * cap
                else:
                    self.energy_charged_kwh += d_soc * cap
            # a carrier that has not moved is on the side it was (most of them, most samples)
            side = self.side[cid] if before is not None and before.x == now.x and before.y == now.y \
                else border.country_at(now.x, now.y)
            if cid in self.side and side != self.side[cid]:
                self.crossings += 1
                if cid in self.loaded:
                    self.loaded_crossings += 1
            self.side[cid] = side
            self.truth[cid] = now
        if self.t >= self._next_sample - 1e-9:
            self._next_sample += self.sample_period_s
            self.samples.append(self._day_sample())

    def bay_states(self) -> dict[str, int]:
        """Carrier bays occupied (a carrier holds the place), approached (a route's goal, not held) or free."""
        occupied = sum(1 for b in self.bays if b in self.fleet.held_places)
        approached = sum(1 for b in self.bays if b in self.fleet.goals and b not in self.fleet.held_places)
        return {"free": len(self.bays) - occupied - approached, "approached": approached, "occupied": occupied}

    def gate_lengths(self, t: float | None = None) -> dict[str, int]:
        """Delivery trucks waiting at each gate at ``t`` (default: now)."""
        t = self.t if t is None else t
        return {s: sum(1 for a, b in spans if a <= t and (b is None or b > t)) for s, spans in self.gate.items()}

    def _day_sample(self) -> DaySample:
        tasks = [self.fleet.tasks.get(c, "unknown") for c in self.carrier_ids]
        busy = sum(1 for x in tasks if x in BUSY_TASKS)
        charging = sum(1 for x in tasks if x in CHARGING_TASKS)
        socs = [c.soc for c in self.truth.values()] or [math.nan]
        return DaySample(self.t, busy, charging, len(tasks) - busy - charging,
                         sum(1 for c in self.truth.values() if c.v > MOVING_MPS), float(np.mean(socs)),
                         float(np.min(socs)), self.completed, len(self.accepted_at), self.open_orders,
                         sum(self.gate_lengths().values()))

    # ------------------------------------------------------------------ results
    @property
    def completed(self) -> int:
        return sum(1 for v in self.finished.values() if v == "completed")

    @property
    def open_orders(self) -> int:
        return sum(1 for oid in self.accepted_at if oid not in self.finished)

    def moved(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _, oid in self.completions:
            o, d = self.directions.get(oid, ("?", "?"))
            key = f"{o}->{d}"
            out[key] = out.get(key, 0) + 1
        return dict(sorted(out.items()))

    def kpis(self, source: str | None = None, scenario: dict | None = None) -> dict:
        """The ``day_kpis`` document of the run so far (``yard_model/schemas/day_kpis.schema.json``).

        ``source`` ("day" or "graph") and ``scenario`` (``seed``, ``containers_per_day``) are copied in.
        """
        span = self.t - self.t0
        hours = span / 3600.0
        per_day = 24.0 / hours if hours > 0 else 0.0
        lead = sorted(self.lead_times_s)
        n = len(self.carrier_ids)
        carrier_s = span * n
        completed = self.completed
        failed = sum(1 for v in self.finished.values() if v == "failed")
        cancelled = sum(1 for v in self.finished.values() if v == "cancelled")
        moves_per_crane = {k: len(self.crane_done.get(k, ())) for k in sorted(self.world.cranes)}
        moves = sum(moves_per_crane.values())
        waits = sorted(self.gate_waits_s)
        gate = {s: _gate_stats(spans, self.t) for s, spans in self.gate.items()}
        socs = [s.soc_min for s in self.samples if not math.isnan(s.soc_min)]

        def rnd(v, nd=1):
            return None if v is None else round(v, nd)

        def share(x: float) -> float:
            return round(min(x / carrier_s, 1.0), 4) if carrier_s else 0.0

        def mean_of(total_s: float) -> float:
            return round(total_s / span, 3) if span > 0 else 0.0
        in_yard = self.containers_in_yard if self.containers_in_yard is not None else \
            self.containers_arrived - self.containers_departed
        head: dict = {"version": KPI_VERSION}
        if source is not None:
            head["source"] = source
        if scenario is not None:
            head["scenario"] = dict(scenario)
        doc = {
            **head,
            "world": self.world.name,
            "carriers": n,
            "simulated_hours": round(hours, 4),
            "orders": {
                "issued": len(self.issued), "accepted": len(self.accepted_at), "rejected": len(self.rejected),
                "completed": completed, "failed": failed, "cancelled": cancelled, "open_at_end": self.open_orders,
                "completed_per_hour": round(completed / hours, 3) if hours > 0 else 0.0,
            },
            "containers": {
                "moved": self.moved(), "arrived_by_truck": self.containers_arrived,
                "departed_by_truck": self.containers_departed, "in_yard_at_end": in_yard,
            },
            "border_crossings": {
                "total": self.crossings, "loaded": self.loaded_crossings,
                "empty": self.crossings - self.loaded_crossings,
                "per_day": round(self.crossings * per_day, 1),
                "containers_per_day": round(completed * per_day, 1),
                "site_goal_vehicles_per_day": SITE_GOAL_VEHICLES_PER_DAY,
                "share_of_site_goal": round(completed * per_day / SITE_GOAL_VEHICLES_PER_DAY, 4),
            },
            "lead_time_s": {
                "count": len(lead),
                "mean": rnd(statistics.fmean(lead)) if lead else None,
                "median": rnd(statistics.median(lead)) if lead else None,
                "p95": rnd(float(np.percentile(lead, 95))) if lead else None,
                "max": rnd(lead[-1]) if lead else None,
            },
            "carrier_utilisation": {
                "on_order": share(self.busy_s),
                "moving": share(self.moving_s),
                "traffic_wait_min_per_carrier_hour": round(self.wait_s / 60.0 / (hours * n), 3) if hours > 0 else 0.0,
            },
            "cranes": {
                "moves": moves,
                "moves_per_hour": round(moves / hours, 2) if hours > 0 else 0.0,
                "moves_per_crane_hour": round(moves / hours / max(len(self.world.cranes), 1), 2) if hours else 0.0,
                "per_crane": moves_per_crane,
            },
            "gate": {
                "trucks_waiting_mean": mean_of(sum(g[0] for g in gate.values())),
                "trucks_waiting_max": max((g[1] for g in gate.values()), default=0),
                "trucks_waiting_at_end": sum(g[2] for g in gate.values()),
                "per_station": {s: {"mean": mean_of(g[0]), "max": g[1], "at_end": g[2]} for s, g in gate.items()},
                "truck_wait_s": {
                    "count": len(waits),
                    "mean": rnd(statistics.fmean(waits)) if waits else None,
                    "p95": rnd(float(np.percentile(waits, 95))) if waits else None,
                    "max": rnd(waits[-1]) if waits else None,
                },
            },
            "carrier_bays": {
                "count": len(self.bays),
                "free_mean": mean_of(self.bay_s["free"]),
                "approached_mean": mean_of(self.bay_s["approached"]),
                "occupied_mean": mean_of(self.bay_s["occupied"]),
            },
            "safety": {
                "collisions": self.collisions, **self.checks,
                "crane_limit_violations": self.crane_limit_violations,
            },
            "energy_kwh": {
                "used": round(self.energy_used_kwh, 2), "charged": round(self.energy_charged_kwh, 2),
                "per_container": round(self.energy_used_kwh / completed, 3) if completed else None,
                "soc_min": round(min(socs), 4) if socs else None,
            },
        }
        if self.clearance_seen:
            doc["clearance"] = self._clearance_kpis()
        return doc

    def _clearance_kpis(self) -> dict:
        """Customs clearance (issue #15): wait from order accepted to both sides' release, orders held/inspected."""
        waits = sorted(t - self.accepted_at[oid] for oid, t in self.cleared_at.items() if oid in self.accepted_at)
        pending = sum(1 for oid in self.accepted_at if oid not in self.cleared_at and oid not in self.finished)
        stays = [v[1] - v[0] for v in self.inspection_visits.values() if len(v) == 2]
        return {
            "cleared": len(waits), "waiting_at_end": pending,
            "wait_s": {"mean": round(statistics.fmean(waits), 1) if waits else None,
                       "p95": round(float(np.percentile(waits, 95)), 1) if waits else None,
                       "max": round(waits[-1], 1) if waits else None},
            "held": len(self.customs_checks["hold"]), "inspected": len(self.customs_checks["inspect"]),
            "inspection_spot": {"visits": len(self.inspection_visits),
                                "on_spot_at_end": sum(1 for v in self.inspection_visits.values() if len(v) == 1),
                                "stay_s": {"mean": round(statistics.fmean(stays), 1) if stays else None,
                                           "max": round(max(stays), 1) if stays else None}},
        }
