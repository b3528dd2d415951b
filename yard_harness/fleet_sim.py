"""In-process kinematic yard that answers a fleet manager: for benchmarks and property tests.

Not the simulator (``yard_sim`` runs real physics over DDS); this is a fast,
deterministic stand-in with the same JSON contracts, so a whole simulated
day runs in minutes:

* **carriers** accept or refuse a ``carrier_route`` exactly as the path
  follower does (``yard_model.drivable.check_drivable`` for its shape and
  ``check_start`` against where the carrier stands, with the follower's default
  limits: a refused route is a ``fault`` with the follower's reason), may leave
  their route (``off_route_rate_hz``: pushed sideways beyond the follower's
  ``max_tracking_error_m``, they stop and report the follower's ``off route``
  fault until they get a new route), drive it one-dimensionally with the
  carrier type's acceleration and braking limits under the follower's speed
  caps (``yard_model.drivable.segment_speed_caps``: lane, curve, top speed),
  never past the movement authority, report ``follower_status`` and may
  *hesitate* (stop for a random time, reporting ``blocked``) or go *silent* (a
  fault) to disturb the plan;
* **cranes** execute ``crane_job`` documents one at a time through the phases
  of ``crane_control``'s controller, in the order of its sequencer
  (``crane_control.sequencing``: a job starts when its pick bay is ready and
  the place bay is ready, or the pick is a carrier, or the place carrier is
  expected soon; the crane pre-positions over the next pick bay; a container
  is held at safe height over a place bay that is not ready), each phase
  timed by the controller's own motion planner for the bay geometry
  (``yard_harness.crane_times``), and report job events (a job for a known id
  is not executed again: its last event is repeated); bays are ready per the
  manager's ``bay_status`` (carrier bays) and the trucks here;
* **trucks** come from :class:`yard_sim.scenario.TrafficScenario` (deliveries
  bring containers and trigger transport orders, empty trucks collect) and
  leave as the simulator's do: still parked ``truck_leave_s -
  truck_departure_s`` after their load changed, then driving off;
* **batteries** drain with distance and idle power and charge on chargers.

Every step checks safety independently of the manager's bookkeeping:
*collisions* (the carriers' true footprints overlap) and *conflicts* (two
carriers stand in conflicting traffic resources at their true positions),
and watches for *deadlocks* (a cycle of carriers waiting for each other that
persists). A deadlock is resolved by an "operator intervention" (the carrier
is lifted out to a free parking spot after ``intervention_s``) so that a
policy that deadlocks can still be measured over a whole day.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from agv_nav.follower_params import PathFollowerParams
from crane_control.model import BaySpot
from crane_control.sequencing import Job, Readiness, job_from_document, order
from fleet_manager.manager import Output
from yard_model.drivable import RouteError, check_drivable, check_start, segment_speed_caps
from yard_model.geometry import cumulative_length, point_at, rectangle
from yard_sim.customs import CustomsConfig, CustomsSim
from yard_sim.engine import SimConfig as EngineConfig
from yard_sim.engine import start_spots

from .crane_times import HOME, CraneTimes, FixedCraneTimes

SIM_INITIAL_SOC = EngineConfig().initial_soc  # the simulator's battery at start


@dataclass
class SimConfig:
    dt_s: float = 0.5
    report_period_s: float = 1.0  # follower status while moving
    idle_report_period_s: float = 2.0
    tick_period_s: float = 1.0
    # crane phases: None = timed by crane_control's planner for the bay geometry (yard_harness.crane_times);
    # numbers = fixed handling times (pick: approach and lock, place: carry, lower and unlock; finish: clear)
    crane_pick_s: float | None = None
    crane_place_s: float | None = None
    crane_finish_s: float = 5.0
    truck_leave_s: float = 30.0  # a truck whose load changed is gone this long after (the simulator: 20 s + 10 s)
    truck_departure_s: float = 10.0  # ... of which the last part driving off (the bay is still taken)
    hesitation_rate_hz: float = 0.0  # per moving carrier
    hesitation_s: tuple[float, float] = (5.0, 40.0)
    silence_rate_hz: float = 0.0  # per carrier: goes silent (fault) for silence_s
    silence_s: tuple[float, float] = (20.0, 90.0)
    off_route_rate_hz: float = 0.0  # per moving carrier: leaves its route (the follower's off-route fault)
    off_route_m: tuple[float, float] = (0.02, 0.4)  # how far beyond max_tracking_error_m it stands then
    deadlock_persist_s: float = 120.0
    intervention_s: float = 900.0
    initial_soc: tuple[float, float] = (SIM_INITIAL_SOC, SIM_INITIAL_SOC)  # drawn uniformly; default: the simulator's
    customs: CustomsConfig | None = None  # both sides' simulated customs decide on each order's container (issue #15)


@dataclass
class SimCarrier:
    id: str
    x: float
    y: float
    yaw: float
    soc: float
    route: dict | None = None
    pts: np.ndarray | None = None
    arc: np.ndarray | None = None
    vlim: np.ndarray | None = None
    s: float = 0.0
    v: float = 0.0
    authority: float = 0.0
    state: str = "idle"
    reason: str = ""  # of a blocked state, as the follower words it
    hesitate_until: float = -1.0
    silent_until: float = -1.0
    last_report: float = -1e9
    last_state: str = ""
    wait_s: float = 0.0
    busy_s: float = 0.0
    moved_at: float = 0.0
    out_until: float = -1.0  # lifted out by an operator
    pieces: list | None = None  # (route arc, traversal, traversal arc) of each lane piece of the route
    refused: tuple[str, str] | None = None  # (route id, reason) of the last route refused

    def pose_at(self, s: float) -> tuple[float, float, float]:
        return point_at(self.pts, s, self.arc)


@dataclass
class SimCrane:
    id: str
    times: CraneTimes | FixedCraneTimes
    jobs: dict[str, dict] = field(default_factory=dict)
    parsed: dict[str, Job] = field(default_factory=dict)
    queue: list[str] = field(default_factory=list)
    current: str | None = None
    phase: str = ""  # of the current job: approach, lock, hold, lower, unlock, clear
    until: float = 0.0  # the current phase (or pre-positioning move) ends
    at: str = HOME  # bay the spreader is over (HOME: at home)
    done: dict[str, str] = field(default_factory=dict)  # job id -> last event


@dataclass
class Metrics:
    orders_issued: int = 0
    orders_completed: int = 0
    order_cycle_s: list[float] = field(default_factory=list)
    collisions: int = 0
    conflicts: int = 0
    deadlocks: int = 0
    interventions: int = 0
    wait_s: float = 0.0
    busy_s: float = 0.0
    carrier_s: float = 0.0
    route_count: int = 0
    rejected: int = 0
    failed: int = 0
    routes_refused: int = 0  # routes a carrier refused as the follower would (infeasible geometry)


class FleetSim:
    """Runs a policy (``FleetManager`` or a baseline with the same methods) against a kinematic yard."""

    def __init__(self, world, network, policy, carrier_ids: list[str], scenario=None, config: SimConfig | None = None,
                 seed: int = 0, wait_graph=None):
        self.world = world
        self.net = network
        self.policy = policy
        self.cfg = config or SimConfig()
        self.rng = np.random.default_rng(seed)
        self.customs = None if self.cfg.customs is None else CustomsSim(
            {st.country: self.cfg.customs for st in world.stations.values()}, seed)
        self.scenario = scenario
        self.wait_graph = wait_graph  # callable -> {carrier: set(carriers)} of the policy, for deadlock detection
        self.t = 0.0
        self.metrics = Metrics()
        ct = world.carrier_type
        self.ct = ct
        # start where the simulator starts them (yard_sim.engine.start_spots), so the day and the graph
        # begin alike: parking spots, then charging spots, in world-file order
        self.carriers: dict[str, SimCarrier] = {}
        for cid, sp in zip(carrier_ids, start_spots(world)):
            soc = float(self.rng.uniform(*self.cfg.initial_soc))
            self.carriers[cid] = SimCarrier(cid, sp.pose.x, sp.pose.y, sp.pose.yaw, soc)
        self.cranes = {k: SimCrane(k, self._crane_times(k)) for k in world.cranes}
        self.trucks: dict[str, dict] = {}  # bay -> {id, container_id, state, leave_at}
        self.containers: dict[str, dict] = {}
        self.bay_status: dict = {}
        self.order_t: dict[str, float] = {}
        self._departed: set[str] = set()
        self._manifested: set[str] = set()  # containers whose customs manifest was filed
        self._conflict_pairs: set[tuple[str, str]] = set()
        self._collision_pairs: set[tuple[str, str]] = set()
        self._safety_keys: dict[str, tuple] = {}  # carrier -> what its safety check depends on, at the last check
        self._occupied: dict[str, set[int]] = {}  # carrier -> resources it stood in at the last check
        self._pairs_checked: set[tuple[str, str]] = set()  # pairs checked since either changed
        self._cycle_since: float | None = None
        self._next_tick = 0.0
        self._next_state = 0.0
        self.events: list[dict] = []  # order events (kept only with keep_events)
        self.documents: list[tuple[str, dict]] = []  # (schema name, document) the yard produced (keep_events)
        self.keep_events = False
        self.follower = PathFollowerParams()  # the limits a route is judged by, as the follower's defaults

    # ---------------------------------------------------------------- wiring
    def _deliver(self, outputs: list[Output]) -> None:
        seqs = []
        for out in outputs:
            if out.seq is not None:
                seqs.append(out.seq)
            if out.kind == "route":
                self._on_route(self.carriers[out.key], out.doc)
            elif out.kind == "authority":
                c = self.carriers[out.key]
                if c.route is not None and out.doc["route_id"] == c.route["route_id"]:
                    c.authority = max(c.authority, float(out.doc["authority_m"]))
            elif out.kind == "crane_job":
                self._on_job(self.cranes[out.key], out.doc)
            elif out.kind == "bay_status":
                self.bay_status = out.doc["bays"]
            elif out.kind == "order_event":
                self._on_order_event(out.doc)
        if seqs and hasattr(self.policy, "published"):
            self.policy.published(seqs)

    def _on_order_event(self, doc: dict) -> None:
        if self.keep_events:
            self.events.append(doc)
        ev = doc["event"]
        if ev == "completed":
            self.metrics.orders_completed += 1
            t0 = self.order_t.pop(doc["order_id"], None)
            if t0 is not None:
                self.metrics.order_cycle_s.append(self.t - t0)
        elif ev == "rejected":
            self.metrics.rejected += 1
        elif ev == "failed":
            self.metrics.failed += 1

    def _on_route(self, c: SimCarrier, doc: dict) -> None:
        if c.out_until > self.t:
            return  # lifted out by an operator: not there to receive it (the manager re-sends it later)
        if doc.get("cancel"):
            c.route, c.state, c.v, c.refused = None, "idle", 0.0, None
            return
        if c.route is not None and c.route["route_id"] == doc["route_id"]:
            return
        try:
            check_drivable(doc["points"], self.ct)  # the follower's own checks
            check_start(doc["points"], c.x, c.y, c.yaw, self.follower.max_start_offset_m,
                        self.follower.max_start_heading_deg)
        except RouteError as exc:
            c.route, c.state, c.v = None, "fault", 0.0
            c.refused = (doc["route_id"], f"route {doc['route_id']} rejected: {exc}")
            self.metrics.routes_refused += 1
            self._report(c, force=True)
            return
        c.refused = None
        pts = np.asarray(doc["points"], dtype=float)
        arc = cumulative_length(pts)
        # project the carrier onto the start of the new route
        near = arc <= 40.0
        d = np.hypot(pts[near, 0] - c.x, pts[near, 1] - c.y)
        k = int(np.argmin(d))
        c.route, c.pts, c.arc, c.pieces = doc, pts, arc, None
        c.vlim = segment_speed_caps(pts, np.asarray(doc["speed_limits_mps"], dtype=float), self.ct)
        c.s = float(arc[k])
        c.authority = float(doc.get("authority_m", arc[-1]))
        c.state = "following"
        self.metrics.route_count += 1

    def _crane_times(self, crane_id: str) -> CraneTimes | FixedCraneTimes:
        cfg = self.cfg
        if cfg.crane_pick_s is None and cfg.crane_place_s is None:
            return CraneTimes(self.world, crane_id)
        return FixedCraneTimes(cfg.crane_pick_s or 0.0, cfg.crane_place_s or 0.0, cfg.crane_finish_s)

    def _on_job(self, crane: SimCrane, job: dict) -> None:
        jid = job["job_id"]
        if job.get("cancel"):
            if jid in crane.queue:
                crane.queue.remove(jid)
                self._job_event(crane, jid, "cancelled")
            elif crane.current == jid and crane.phase == "approach":  # not locked yet: abort
                crane.current, crane.until = None, self.t
                self._job_event(crane, jid, "cancelled")
            return
        if jid in crane.jobs:  # idempotent: tell the last event again
            if jid in crane.done:
                self._job_event(crane, jid, crane.done[jid])
            return
        crane.jobs[jid] = job
        crane.parsed[jid] = self._parse_job(crane, job)
        crane.queue.append(jid)
        self._job_event(crane, jid, "accepted")

    def _parse_job(self, crane: SimCrane, doc: dict) -> Job:
        """The sequencer's form of a job (bays of a crane's model; fixed-time cranes use bare bay spots)."""
        tm = crane.times
        if isinstance(tm, CraneTimes):
            return job_from_document(doc, tm.model, set(self.world.bays), self.t, len(crane.parsed))
        spot = {r: BaySpot(doc[r]["bay"], self.world.bays[doc[r]["bay"]].kind, 0.0, 0.0, 0.0, 0.0)
                for r in ("pick", "place")}
        return Job(doc["job_id"], doc["container_id"], spot["pick"], spot["place"], int(doc.get("priority", 0)),
                   doc.get("expected_ready_s"), self.t, len(crane.parsed), doc.get("order_id"))

    def _document(self, name: str, doc: dict) -> None:
        """Keep a document of the yard's (a sim_event, a crane job event, a follower status, a yard_state)."""
        if self.keep_events:
            self.documents.append((name, doc))

    def _job_event(self, crane: SimCrane, jid: str, event: str) -> None:
        job = crane.jobs[jid]
        crane.done[jid] = event
        doc = {"job_id": jid, "crane_id": crane.id, "container_id": job["container_id"], "event": event,
               "stamp": self.t}
        self._document("crane_job_event", doc)
        self.policy.on_crane_event(doc, self.t)

    # ---------------------------------------------------------------- world
    def _bay_ready(self, bay: str, container: str, need_container: bool) -> bool:
        b = self.world.bays[bay]
        if b.kind == "truck":
            tr = self.trucks.get(bay)
            if tr is None or tr["state"] != "parked":
                return False
            return (tr["container_id"] == container) if need_container else tr["container_id"] is None
        st = self.bay_status.get(bay)
        if not st or not st["ready"] or st["occupant"] is None:
            return False
        c = self.carriers[st["occupant"]]
        if c.v > 0.01 or math.hypot(c.x - b.pose.x, c.y - b.pose.y) > 0.5:
            return False
        holder = self.containers.get(container, {})
        on_it = holder.get("holder") == "carrier" and holder.get("holder_id") == c.id
        return on_it if need_container else not any(
            v.get("holder") == "carrier" and v.get("holder_id") == c.id for v in self.containers.values())

    def _readiness(self) -> Readiness:
        """The bays as the crane sequencer sees them (carrier waiting times are not tracked here)."""
        return Readiness(lambda j: self._bay_ready(j.pick.id, j.container_id, True),
                         lambda j: self._bay_ready(j.place.id, j.container_id, False), lambda j: 0.0)

    def _crane_step(self, crane: SimCrane) -> None:
        """A lift job's phases as crane_control runs them, timed by :mod:`yard_harness.crane_times`."""
        tm, t = crane.times, self.t
        if t < crane.until:
            return
        if crane.current is None:
            if not crane.queue:
                return
            jobs = [crane.parsed[j] for j in crane.queue]
            ranked = order(jobs, t, self._readiness(), tm.prelift_horizon_s)
            job, can = ranked[0]
            if can:
                crane.queue.remove(job.job_id)
                crane.current, crane.phase = job.job_id, "approach"
                crane.until = t + tm.approach(crane.at, job.pick.id)
                self._job_event(crane, job.job_id, "started")
            elif crane.at != job.pick.id:  # pre-position over the pick bay at safe height
                crane.until = t + tm.reposition(crane.at, job.pick.id)
                crane.at = job.pick.id
            return
        job = crane.parsed[crane.current]
        cid, pick, place = job.container_id, job.pick.id, job.place.id
        if crane.phase == "approach":
            if self._bay_ready(pick, cid, True):
                crane.phase, crane.until = "lock", t + tm.lock_s
        elif crane.phase == "lock":
            self.containers[cid] = {"holder": "spreader", "holder_id": crane.id, "bay": None}
            if self.world.bays[pick].kind == "truck":
                self._load_changed(pick, None)
            self._job_event(crane, crane.current, "locked")
            if self._bay_ready(place, cid, False):
                crane.phase, crane.until = "lower", t + tm.carry(pick, place)
            else:
                crane.phase, crane.until = "hold", t + tm.to_hold(pick, place)
            crane.at = place
        elif crane.phase == "hold":
            if self._bay_ready(place, cid, False):
                crane.phase, crane.until = "lower", t + tm.lower(place)
            elif crane.done.get(crane.current) != "holding":
                self._job_event(crane, crane.current, "holding")
        elif crane.phase == "lower":
            if self._bay_ready(place, cid, False):
                crane.phase, crane.until = "unlock", t + tm.lock_s
            else:  # the bay stopped being ready during the descent: lift back and hold
                crane.phase, crane.until = "hold", t + tm.lower(place)
        elif crane.phase == "unlock":
            pl = self.world.bays[place]
            if pl.kind == "truck":
                self.containers[cid] = {"holder": "truck", "holder_id": self.trucks[pl.id]["id"], "bay": pl.id}
                self._load_changed(pl.id, cid)
            else:
                occ = self.bay_status[pl.id]["occupant"]
                self.containers[cid] = {"holder": "carrier", "holder_id": occ, "bay": pl.id}
            crane.phase, crane.until = "clear", t + tm.clear(place)
            self._job_event(crane, crane.current, "landed")
        elif crane.phase == "clear":
            self._job_event(crane, crane.current, "done")
            crane.current = None

    def _load_changed(self, bay: str, container: str | None) -> None:
        """A crane took the container of the truck at ``bay`` or put one on it: it leaves a while later."""
        tr = self.trucks[bay]
        tr["container_id"] = container
        if tr["state"] == "parked":
            tr["depart_at"] = self.t + max(self.cfg.truck_leave_s - self.cfg.truck_departure_s, 0.0)

    def _trucks_step(self) -> None:
        for bay, tr in list(self.trucks.items()):
            if tr["state"] == "parked" and tr.get("depart_at") is not None and self.t >= tr["depart_at"]:
                tr["state"] = "departing"
                tr["leave_at"] = self.t + self.cfg.truck_departure_s
            if tr.get("leave_at") is not None and self.t >= tr["leave_at"]:
                if tr["container_id"] is not None:
                    self.containers.pop(tr["container_id"], None)
                del self.trucks[bay]
                self._departed.add(bay)
                self._document("sim_event", {"event": "truck_departed", "stamp": self.t, "truck_id": tr["id"],
                                             "bay": bay, "container_id": tr["container_id"]})
        if self.scenario is None:
            return
        free = {b.id for b in self.world.truck_bays() if b.id not in self.trucks}
        arrivals, orders = self.scenario.step(self.t, free, self._departed)
        self._departed = set()
        for m in self.scenario.take_manifests():  # pre-clearance: filed as the truck reached the gate
            if self.customs is not None:
                self._file_manifest(f"m-{m['container_id']}", m["container_id"], m["origin_station"],
                                    m["destination_station"], m["stamp"])
        for a in arrivals:
            self.trucks[a.bay] = {"id": a.truck_id, "container_id": a.container_id, "state": "parked",
                                  "depart_at": None, "leave_at": None}
            if a.container_id:
                self.containers[a.container_id] = {"holder": "truck", "holder_id": a.truck_id, "bay": a.bay}
            self._document("sim_event", {"event": "truck_arrived", "stamp": self.t, "truck_id": a.truck_id,
                                         "bay": a.bay, "container_id": a.container_id})
        if orders:
            self._send_yard_state()
        for o in orders:
            self.submit(o.document())

    def submit(self, doc: dict) -> None:
        """Send a transport order to the policy now."""
        self.metrics.orders_issued += 1
        self.order_t[doc["order_id"]] = self.t
        self.policy.on_order(json.dumps(doc), self.t)
        if self.customs is not None and doc.get("container_id"):  # the manifest goes to both customs with the order
            self._file_manifest(f"m-{doc['order_id']}", doc["container_id"], doc["origin"]["station"],
                                doc["destination"]["station"], self.t)

    def _file_manifest(self, manifest_id: str, container_id: str, origin: str, destination: str, t: float) -> None:
        """Both customs decide on the container's manifest, once: at the gate with pre-clearance, else with the
        order (manifest ids as the graph's: ``m-<order>`` from the customs node, ``m-<container>`` from the gate)."""
        if container_id in self._manifested:
            return
        self._manifested.add(container_id)
        stations = self.world.stations
        self.customs.manifest(container_id, manifest_id, stations[origin].country, stations[destination].country, t)

    def _send_yard_state(self) -> None:
        doc = {"stamp": self.t, "collisions": self.metrics.collisions,
               "containers": {k: {"holder": v["holder"], "holder_id": v["holder_id"], "bay": v["bay"], "x": 0.0,
                                  "y": 0.0, "z": 0.0, "yaw": 0.0} for k, v in self.containers.items()},
               "trucks": {tr["id"]: {"bay": bay, "container_id": tr["container_id"], "state": tr["state"]}
                          for bay, tr in self.trucks.items()},
               "carriers": {c.id: {"soc": round(c.soc, 4), "fault": None} for c in self.carriers.values()}}
        self._document("yard_state", doc)
        self.policy.on_yard_state(doc, self.t)

    # ---------------------------------------------------------------- carriers
    def _carrier_step(self, c: SimCarrier, dt: float) -> None:
        ct = self.ct
        cap = ct.battery_capacity_kwh
        c.soc = max(0.0, c.soc - ct.idle_power_kw * dt / 3600.0 / cap)
        if c.route is None or c.out_until > self.t:
            c.v = 0.0
            self._charge(c, dt)
            return
        goal = float(c.arc[-1])
        stop = min(c.authority, goal)
        if c.hesitate_until > self.t:
            target = 0.0
        else:
            i = min(int(np.searchsorted(c.arc, c.s, side="right")) - 1, len(c.vlim) - 1)
            lim = float(c.vlim[max(i, 0)])
            target = min(lim, math.sqrt(max(0.0, 2 * ct.max_deceleration_mps2 * (stop - c.s))))
        if target > c.v:
            v = min(target, c.v + ct.max_acceleration_mps2 * dt)
        else:
            v = max(target, c.v - ct.max_deceleration_mps2 * dt) if c.hesitate_until > self.t else target
        ds = min(0.5 * (c.v + v) * dt, max(0.0, stop - c.s))
        c.s += ds
        # clamped at the stop point within the step: it stands there (a speed left over would make
        # the safety check read a standing carrier as driving into the cell ahead)
        c.v = 0.0 if c.s >= stop - 1e-9 else v
        c.soc = max(0.0, c.soc - ds / 1000.0 * ct.energy_use_kwh_per_km / cap)
        c.x, c.y, c.yaw = c.pose_at(c.s)
        if ds > 1e-3:
            c.moved_at = self.t
        arrived = c.s >= goal - 0.05 and c.v < 0.01
        if arrived:
            c.state = "docked" if c.route["goal"].get("dock") else "idle"
            self._charge(c, dt)
        elif c.hesitate_until > self.t:
            c.state, c.reason = "blocked", "obstacle ahead"
        elif c.v < 0.01 and stop < goal - 0.05 and c.s >= stop - 0.5:
            # standing at the end of its movement authority: the path follower reports this as
            # blocked, "waiting for movement authority at ... m" (docs/path_following.md)
            c.state, c.reason = "blocked", f"waiting for movement authority at {stop:.2f} m"
            c.wait_s += dt
        else:
            c.state, c.reason = "following", ""
            if c.v < 0.01 and stop < goal - 0.05:
                c.wait_s += dt
        if not arrived:
            c.busy_s += dt

    def _charge(self, c: SimCarrier, dt: float) -> None:
        for s in self.world.charging_spots():
            if math.hypot(c.x - s.pose.x, c.y - s.pose.y) < 0.5:
                c.soc = min(1.0, c.soc + s.power_kw * dt / 3600.0 / self.ct.battery_capacity_kwh)

    def _report(self, c: SimCarrier, force: bool = False) -> None:
        if c.silent_until > self.t or c.out_until > self.t:
            return
        period = self.cfg.report_period_s if c.state in ("following", "blocked") else self.cfg.idle_report_period_s
        if not force and c.state == c.last_state and self.t - c.last_report < period:
            return
        c.last_report, c.last_state = self.t, c.state
        r = c.route
        goal = float(c.arc[-1]) if r is not None else 0.0
        doc = {"carrier_id": c.id, "stamp": self.t, "state": c.state if r is not None else "idle",
               "route_id": r["route_id"] if r else None, "progress_m": round(c.s, 3) if r else 0.0,
               "remaining_m": round(max(goal - c.s, 0.0), 3) if r else 0.0,
               "authority_m": c.authority if r else None, "speed_mps": round(c.v, 3),
               "goal_id": r["goal"].get("id") if r else None, "docking_error": None,
               "reason": c.reason if c.state == "blocked" else ""}
        if r is None and c.refused is not None:  # as the follower reports a refused route
            doc.update(state="fault", route_id=c.refused[0], reason=c.refused[1])
        self._document("follower_status", doc)
        self.policy.on_follower_status(doc, self.t)
        self.policy.on_odometry(c.id, c.x, c.y, c.yaw, c.v, self.t)

    def _disturb(self, c: SimCarrier, dt: float) -> None:
        cfg = self.cfg
        if cfg.hesitation_rate_hz > 0 and c.state == "following" and c.v > 0.5 and \
                self.rng.random() < cfg.hesitation_rate_hz * dt:
            c.hesitate_until = self.t + float(self.rng.uniform(*cfg.hesitation_s))
        if cfg.silence_rate_hz > 0 and c.silent_until < self.t and self.rng.random() < cfg.silence_rate_hz * dt:
            c.silent_until = self.t + float(self.rng.uniform(*cfg.silence_s))
        if cfg.off_route_rate_hz > 0 and c.route is not None and c.v > 0.5 and \
                self.rng.random() < cfg.off_route_rate_hz * dt:
            side = 1.0 if self.rng.random() < 0.5 else -1.0
            self.leave_route(c, side * (self.follower.max_tracking_error_m + float(self.rng.uniform(*cfg.off_route_m))))

    def leave_route(self, c: SimCarrier, offset_m: float) -> None:
        """The carrier stands ``offset_m`` beside its route (left positive) and faults as the follower does."""
        c.x -= offset_m * math.sin(c.yaw)
        c.y += offset_m * math.cos(c.yaw)
        reason = f"off route: {offset_m:+.2f} m from the line (max {self.follower.max_tracking_error_m:g} m)"
        c.refused = (c.route["route_id"], reason)
        c.route, c.state, c.v, c.pieces = None, "fault", 0.0, None
        self._report(c, force=True)

    # ---------------------------------------------------------------- safety checks
    def occupied_resources(self, c: SimCarrier) -> set[int]:
        """Traffic resources the carrier's true position lies in (cells under it, or its place)."""
        place = self.net.place_at(c.x, c.y, c.yaw, tol_m=self.net.cfg.dock_tolerance_m)
        if c.route is None or (c.v < 0.01 and place is not None):
            if place is not None:
                return {self.net.places[place].resource}
            loc = self.net.locate(c.x, c.y, c.yaw)
            return set(self.net.cell_resources_at(*loc)) if loc else set()
        tr_s = self._route_position(c)
        if tr_s is None:
            return set()
        t, s = tr_s
        return set(self.net.cell_resources_at(t, s))

    def _route_position(self, c: SimCarrier):
        """(traversal, arc along it) of the carrier, from the route's lane list (computed once per route)."""
        if c.pieces is None:
            from yard_model.geometry import project_onto_polyline
            from yard_model.lane_graph import Traversal

            c.pieces = []
            for ln in c.route.get("lanes") or []:
                t = Traversal(ln["lane"], ln["forward"])
                i = min(ln["start_index"], len(c.pts) - 1)
                a, _, _ = project_onto_polyline(self.net.traversal_points(t), tuple(c.pts[i]))
                # the route's points need not fall on lane junctions: the piece begins where the lane
                # does, ``a`` before its first point (else the carrier would be pinned to the end of
                # the previous lane for up to one point spacing, in cells the manager already freed)
                c.pieces.append((float(c.arc[i]) - a, t))
        cur = None
        for piece in c.pieces:
            if piece[0] <= c.s + 1e-9:
                cur = piece
        if cur is None:
            return None
        s0, t = cur
        return t, min(max(c.s - s0, 0.0), self.net.infos[t].length_m)

    def _check_safety(self) -> None:
        cs = [c for c in self.carriers.values() if c.out_until <= self.t]
        # what each carrier's check depends on; a pair of carriers neither of which changed since the
        # last check gives the same answer again (most pairs, most steps: carriers stand or wait)
        keys = {c.id: (c.x, c.y, c.yaw, c.v < 0.01, c.route["route_id"] if c.route else None, c.s) for c in cs}
        changed = {c.id for c in cs if self._safety_keys.get(c.id) != keys[c.id]}
        self._safety_keys = keys
        occ = self._occupied
        for c in cs:
            if c.id in changed or c.id not in occ:
                occ[c.id] = self.occupied_resources(c)
        L, W = self.ct.length_m, self.ct.width_m
        for i in range(len(cs)):
            for j in range(i + 1, len(cs)):
                a, b = cs[i], cs[j]
                key = (a.id, b.id)
                if a.id not in changed and b.id not in changed and key in self._pairs_checked:
                    continue
                self._pairs_checked.add(key)
                near = math.hypot(a.x - b.x, a.y - b.y) < L + 1.0
                hit = near and _rects_overlap(rectangle(a.x, a.y, a.yaw, L, W), rectangle(b.x, b.y, b.yaw, L, W))
                if hit and key not in self._collision_pairs:
                    self.metrics.collisions += 1
                    self._collision_pairs.add(key)
                    self._document("sim_event", {"event": "collision", "stamp": self.t, "kind": "contact",
                                                 "bodies": [f"carrier:{a.id}", f"carrier:{b.id}"],
                                                 "x": (a.x + b.x) / 2.0, "y": (a.y + b.y) / 2.0,
                                                 "count": self.metrics.collisions})
                elif not hit:
                    self._collision_pairs.discard(key)
                conflict = any(self.net.conflicts[r] & occ[b.id] for r in occ[a.id])
                if conflict and key not in self._conflict_pairs:
                    self.metrics.conflicts += 1
                    self._conflict_pairs.add(key)
                elif not conflict:
                    self._conflict_pairs.discard(key)

    def _check_deadlock(self) -> None:
        if self.wait_graph is None:
            return
        g = self.wait_graph()
        # a carrier lifted out by an operator waits for nobody (its old plan is void)
        g = {c: w for c, w in g.items() if self.carriers[c].out_until <= self.t}
        cyc = _find_cycle(g)
        stuck = cyc and all(self.t - self.carriers[c].moved_at > 30.0 for c in cyc)
        if not stuck:
            self._cycle_since = None
            return
        if self._cycle_since is None:
            self._cycle_since = self.t
            return
        if self.t - self._cycle_since >= self.cfg.deadlock_persist_s:
            self.metrics.deadlocks += 1
            self._intervene(sorted(cyc)[0])
            self._cycle_since = None

    def _intervene(self, cid: str) -> None:
        """Operator lifts a deadlocked carrier out and puts it on a free parking spot later."""
        self.metrics.interventions += 1
        c = self.carriers[cid]
        # spots where a carrier physically stands, whatever the policy believes
        taken = frozenset(s.id for s in self.world.parking_spots()
                          if any(math.hypot(o.x - s.pose.x, o.y - s.pose.y) < self.ct.length_m
                                 for o in self.carriers.values() if o.id != cid))
        spot = self.policy.remove_carrier(cid, self.t, avoid=taken) if hasattr(self.policy, "remove_carrier") \
            else None
        if spot is None:
            return
        sp = self.world.spots[spot]
        c.route, c.state, c.v, c.s, c.refused = None, "idle", 0.0, 0.0, None
        c.x, c.y, c.yaw = sp.pose.x, sp.pose.y, sp.pose.yaw
        c.out_until = self.t + self.cfg.intervention_s

    # ---------------------------------------------------------------- main loop
    def start(self) -> None:
        """First reports of every carrier and the yard state (done once by :meth:`run`)."""
        self._started = True
        for c in self.carriers.values():
            self._report(c, force=True)
        self._send_yard_state()
        self._deliver(self.policy.drain())

    def step(self, check: bool = True) -> None:
        """Advance the yard by one ``dt_s``: world, reports, the policy's tick, its outputs, checks."""
        cfg = self.cfg
        dt = cfg.dt_s
        self.t += dt
        self._trucks_step()
        for c in self.carriers.values():
            self._disturb(c, dt)
            self._carrier_step(c, dt)
            self._report(c)
        for crane in self.cranes.values():
            self._crane_step(crane)
        if self.t >= self._next_state:
            self._next_state = self.t + 1.0
            self._send_yard_state()
        if self.customs is not None:
            for decision in self.customs.due(self.t):
                self._document("clearance_decision", decision)
                self.policy.on_clearance(decision, self.t)
        if self.t >= self._next_tick:
            self._next_tick = self.t + cfg.tick_period_s
            self.policy.tick(self.t)
            self._check_deadlock()
        self._deliver(self.policy.drain())
        if check:
            self._check_safety()

    def run(self, duration_s: float, check_every: int = 1) -> Metrics:
        if not getattr(self, "_started", False):
            self.start()
        steps = int(round(duration_s / self.cfg.dt_s))
        for k in range(steps):
            self.step(check=k % check_every == 0)
        m = self.metrics
        m.wait_s = sum(c.wait_s for c in self.carriers.values())
        m.busy_s = sum(c.busy_s for c in self.carriers.values())
        m.carrier_s = self.t * len(self.carriers)
        return m


def _rects_overlap(a: list, b: list) -> bool:
    """Separating-axis test of two convex quadrilaterals."""
    for poly in (a, b):
        for i in range(4):
            x1, y1 = poly[i]
            x2, y2 = poly[(i + 1) % 4]
            nx, ny = y1 - y2, x2 - x1
            pa = [nx * x + ny * y for x, y in a]
            pb = [nx * x + ny * y for x, y in b]
            if max(pa) < min(pb) or max(pb) < min(pa):
                return False
    return True


def _find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        colour[u] = 1
        stack.append(u)
        for v in g.get(u, ()):
            if colour.get(v, 0) == 1:
                return stack[stack.index(v):]
            if colour.get(v, 0) == 0:
                r = visit(v)
                if r:
                    return r
        stack.pop()
        colour[u] = 2
        return None

    for u in list(g):
        if colour.get(u, 0) == 0:
            r = visit(u)
            if r:
                return r
    return None
