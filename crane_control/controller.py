"""The lift job state machine of one crane: jobs in, trajectories and job events out.

Pure core (no rclpy, no clock): the node feeds it documents, joint readings and the time, calls
:meth:`CraneController.step` at the control rate and publishes what comes out.

A job runs through the phases the issue names (approach over pick → lower → lock (verify) →
hoist → traverse → wait for the target ready → lower → unlock only when landed → hoist clear →
done)::

    IDLE/PREPOSITION --pick ready--> APPROACH --landed on container--> LOCK --locked--> CARRY
        CARRY: hoist, traverse, [hold at safe height until the place bay is ready], lower
        CARRY --landed at place--> UNLOCK --open--> (next job's APPROACH | PREPOSITION | IDLE)
        the spreader rising through the empty safe height after UNLOCK emits `done`

Failure paths: a lock that does not verify (twistlocks not locked in time, or no load once lifted)
re-lands (RELAND: open, lift ``relift_m``, lower again) up to ``lock_retries`` times, then the job
fails and the crane aborts to a safe state (ABORT: open, hoist to safe height, IDLE); a bay that is
not ready holds the spreader at safe height over it (event ``holding`` with the reason) and a bay
that stops being ready during a descent stops it and lifts back; the emergency stop or lost joint
states stop every axis with a jerk-limited ruckig stop and resume from the measured state once
cleared; anything the controller cannot undo safely (a container that will not land or release, a
load lost, a tripped separation guard) ends in FAULT, which holds still until an operator clears it
by cycling the emergency stop with an empty spreader.

Every plan passes :func:`crane_control.interlocks.check_plan` before it is sent.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from yard_model.documents import DocumentError, parse_document, validate

from . import motion
from .interlocks import InterlockViolation, PlanContext, check_plan, unlock_refusal
from .model import TWISTLOCK_OPEN, CraneModel, JointReading
from .motion import REST_MPS, AxisState, MotionError, Plan
from .params import CraneControllerParams
from .rail import RailArbiter
from .sequencing import Job, JobRejected, Readiness, job_from_document, order
from .timing import LatencyWindow

SEEN_IDS_KEPT = 10000  # job ids remembered to refuse duplicates
SLACK_MAX_M = 0.5  # [m] a commanded hoist this far below a landed spreader is rope slack, not an error
LANDING_SETTLE_MAX_S = 1.5  # [s] after landing, wait this long at most for the descent plan to end
LATENCY_WINDOW_S = 30.0  # [s] the lead covers the stalls measured over this long
LEAD_PER_STALL = 2.0  # the lead is this many times the longest recent stall (half of it is kept as reserve)
PLAN_HISTORY_S = 10.0  # [s] states of spliced-into plans are kept this long (joint states older stop the crane)


class Phase(str, Enum):
    IDLE = "idle"
    PREPOSITION = "preposition"
    APPROACH = "approach"
    LOCK = "lock"
    RELAND = "reland"
    CARRY = "carry"
    UNLOCK = "unlock"
    ABORT = "abort"
    FAULT = "fault"


CANCELLABLE = (Phase.IDLE, Phase.PREPOSITION, Phase.APPROACH)


@dataclass
class StepOutput:
    """What the node publishes after a step: job events, a new trajectory (if any), a rail claim (if due)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    plan: Plan | None = None
    claim: dict[str, Any] | None = None


class CraneController:
    """Lift jobs for one crane (see the module docstring for the phases)."""

    _transfer = staticmethod(motion.transfer)  # the move between bays (a benchmark baseline swaps it)

    def __init__(self, model: CraneModel, params: CraneControllerParams, world_bays: set[str] | None = None):
        self.model = model
        self.p = params
        self.plan_limits = model.scaled_limits(params.limit_fraction)
        self.world_bays = set(world_bays) if world_bays is not None else set(model.bays)
        self.queue: list[Job] = []
        self.job: Job | None = None
        self.clearing: Job | None = None
        self.phase = Phase.IDLE
        self.sub = ""  # step within a phase
        self.phase_since_s = 0.0
        self.plan: Plan | None = None
        self.plan_goal: tuple | None = None
        self.last_cmd: dict[str, float] | None = None
        self.twistlock_cmd = 0.0
        self.reading: JointReading | None = None
        self.estop = False
        self.paused = ""  # why motion is stopped (emergency stop, lost feedback); "" = running
        self.fault_reason = ""
        self.wait_reason = ""
        self.deadline_s = math.inf
        self.lock_attempts = 0
        self.lifted = False
        self.holding_reported = False
        self.airborne = False  # the spreader has hung free since the phase began
        self.bay_doc: dict[str, Any] | None = None
        self.bay_rx_s = -math.inf
        self.ready_since: dict[str, float] = {}
        self.known_containers: set[str] | None = None
        self._seen_ids: OrderedDict[str, None] = OrderedDict()
        self._seq = 0
        self._events: list[dict[str, Any]] = []
        self._out_plan: Plan | None = None
        self.lag_s = 0.0  # how far the drive's clock is estimated to be ahead of now_s (see step)
        self.latency = LatencyWindow(LATENCY_WINDOW_S)
        self._stall_s = 0.0  # longest stall in the window
        self.accel: dict[str, float] = {}  # acceleration estimated from the last two joint readings
        self._sent: tuple[Plan | None, dict[str, float] | None] = (None, None)  # what the drive follows
        self._issued = None  # (make, gate) of the plan the last step issued, to re-plan it (retime)
        self.violations: list[str] = []  # interlock violations caught at the gate (a bug if ever non-empty)
        self.rail: RailArbiter | None = None
        if model.rail_group and model.rail_neighbours:
            seps = {n: s + params.rail_margin_m for n, s in model.min_separation_m.items()}
            self.rail = RailArbiter(model.id, model.rail_group, seps, params.rail_claim_timeout_s,
                                    params.joint_state_timeout_s * 4.0, max(0.05, params.position_tolerance_m))
        self._last_claim_s = -math.inf

    # ================================================================= inputs
    def submit(self, doc: str | dict[str, Any], now_s: float) -> list[dict[str, Any]]:
        """A ``crane_job`` document (text or dict): accepted, rejected or a cancellation. Returns the events."""
        try:
            if isinstance(doc, str):
                job_doc = parse_document("crane_job", doc)
            else:
                validate("crane_job", doc)
                job_doc = doc
        except DocumentError as exc:
            self._emit(_job_id_of(doc), None, "rejected", now_s, str(exc))
            return self.drain()
        job_id = job_doc["job_id"]
        if job_doc.get("cancel"):
            self._cancel(job_id, now_s)
            return self.drain()
        if job_id in self._seen_ids:
            self._emit(job_id, job_doc["container_id"], "rejected", now_s, f"duplicate job_id '{job_id}'")
            return self.drain()
        self._remember(job_id)
        if self.phase == Phase.FAULT:
            self._emit(job_id, job_doc["container_id"], "rejected", now_s,
                       f"crane '{self.model.id}' is in fault: {self.fault_reason}")
            return self.drain()
        known = self.known_containers if self.p.check_containers else None
        try:
            job = job_from_document(job_doc, self.model, self.world_bays, now_s, self._seq, known)
        except JobRejected as exc:
            self._emit(job_id, job_doc["container_id"], "rejected", now_s, str(exc))
            return self.drain()
        self._seq += 1
        self.queue.append(job)
        self._emit(job.job_id, job.container_id, "accepted", now_s)
        return self.drain()

    def on_bay_status(self, doc: dict[str, Any], now_s: float) -> None:
        """A schema-valid ``bay_status`` document."""
        for bay_id, entry in doc["bays"].items():
            if entry["ready"]:
                self.ready_since.setdefault(bay_id, now_s)
            else:
                self.ready_since.pop(bay_id, None)
        for bay_id in list(self.ready_since):
            if bay_id not in doc["bays"]:
                self.ready_since.pop(bay_id)
        self.bay_doc, self.bay_rx_s = doc, now_s

    def on_yard_state(self, doc: dict[str, Any]) -> None:
        """A ``yard_state`` document: the containers the yard knows (used to refuse unknown containers)."""
        self.known_containers = set(doc.get("containers", {}))

    def on_joint_reading(self, reading: JointReading) -> None:
        """A joint reading stamped with its measurement time; one older than the current is ignored."""
        first = self.reading is None
        if not first:
            dt = reading.stamp_s - self.reading.stamp_s
            if dt < 0.0:
                return
            if 0.0 < dt <= 0.25:
                self.accel = {a: (reading.velocity.get(a, 0.0) - self.reading.velocity.get(a, 0.0)) / dt
                              for a in self.model.axes}
        self.reading = reading
        if first:
            self.twistlock_cmd = 1.0 if self.model.is_locked(reading) else 0.0
            self.last_cmd = dict(reading.position)
        if self.rail is not None and "gantry" in reading.position:
            self.rail.set_position(reading.position["gantry"])

    def on_emergency_stop(self, active: bool, now_s: float) -> None:
        if active and not self.estop:
            self.estop = True
            if self.job is not None:
                self._emit(self.job.job_id, self.job.container_id, "holding", now_s, "emergency stop")
        elif not active and self.estop:
            self.estop = False
            if self.phase == Phase.FAULT and self.reading is not None and self.model.is_open(self.reading) \
                    and unlock_refusal(self.model, self.reading) is None:
                self.fault_reason = ""
                self._set_phase(Phase.IDLE, now_s)

    def on_peer_claim(self, doc: dict[str, Any], now_s: float) -> None:
        if self.rail is not None:
            self.rail.on_claim(doc, now_s)

    def on_peer_joints(self, crane_id: str, gantry_m: float, velocity_mps: float, now_s: float) -> None:
        if self.rail is not None:
            self.rail.on_position(crane_id, gantry_m, velocity_mps, now_s)

    def drain(self) -> list[dict[str, Any]]:
        out, self._events = self._events, []
        return out

    # ============================================================ timing
    @property
    def lead_s(self) -> float:
        """Lead of a new plan now: ``command_lead_s``, or ``LEAD_PER_STALL`` times the longest recent stall
        (at most ``max_command_lead_s``)."""
        return min(self.p.max_command_lead_s, max(self.p.command_lead_s, LEAD_PER_STALL * self._stall_s))

    @property
    def reserve_s(self) -> float:
        """Lead a plan must still have when it is sent: the rest is for delivery (and one more stall)."""
        return self.lead_s / 2.0

    def note_stall(self, stall_s: float, now_s: float) -> None:
        """The node measured itself held up ``stall_s`` (between ticks, or within one)."""
        self.latency.add(stall_s, now_s)
        self._stall_s = self.latency.max(now_s)

    def retime(self, now_s: float, lag_s: float) -> Plan | None:
        """Re-plan what the last step issued to start ``lead_s`` after ``now_s + lag_s``: sent now, it
        would reach the drive late (after the motion it replaces has departed from it).

        Planned again from the plan the drive follows, with the same goal and gates. None if that is
        not possible now: the plan is withdrawn and the next step plans again.
        """
        if self._issued is None:
            return None
        make, gate = self._issued
        self.lag_s = max(0.0, lag_s)
        self._out_plan = None
        self.plan, self.last_cmd = self._sent
        try:
            if self._issue(make, now_s, *gate) if gate is not None else self._commit_plan(make, now_s):
                return self._out_plan
        except MotionError:
            pass
        except InterlockViolation as exc:
            self.violations.append(str(exc))
            self._stop(now_s, "interlock")
            self._fault(now_s, f"interlock refused a plan: {exc}")
            return self._out_plan
        self.withdraw()
        return None

    def withdraw(self) -> None:
        """The plan the last step issued was not sent: back to the plan the drive follows; plan again next step."""
        self.plan, self.last_cmd = self._sent
        self.plan_goal = None
        self._issued = None
        self._out_plan = None

    # =================================================================== step
    def step(self, now_s: float, lag_s: float = 0.0) -> StepOutput:
        """Advance the state machine to ``now_s``; call at the control rate.

        ``now_s`` is the controller's clock: a time the drive has certainly reached (stamps, joint
        state age, timeouts). ``lag_s`` is how far the drive's clock is estimated to be ahead of it
        (a simulated clock the process has not seen advance); new motion starts ``lead_s`` after
        ``now_s + lag_s``.
        """
        self._out_plan = None
        self.lag_s = max(0.0, lag_s)
        self._sent, self._issued = (self.plan, self.last_cmd), None
        if self.reading is not None:
            try:
                self._step(now_s)
            except InterlockViolation as exc:
                self.violations.append(str(exc))
                self._stop(now_s, "interlock")
                self._fault(now_s, f"interlock refused a plan: {exc}")
        out = StepOutput(self.drain(), self._out_plan)
        if self.rail is not None and (self.rail.changed or now_s - self._last_claim_s >= self.p.rail_claim_period_s):
            out.claim = self.rail.claim_doc(now_s)
            self._last_claim_s = now_s
        return out

    def _step(self, now_s: float) -> None:
        r = self.reading
        stale = now_s - r.stamp_s > self.p.joint_state_timeout_s
        reason = "emergency stop" if self.estop else (
            f"no joint states for {now_s - r.stamp_s:.1f} s" if stale else "")
        if reason:
            if not self.paused:
                self.paused = reason
                self._stop(now_s, reason)
            self.paused = reason
            return
        if self.paused:  # cleared: plan again from the measured state
            self.paused = ""
            self.plan_goal = None
            self._reenter(now_s)
        if self.rail is not None:
            self.rail.update(now_s)
            self._release_rail(now_s)
            if self._separation_tripped(now_s):
                return
        if not self.model.is_landed(r):
            self.airborne = True
        self._check_clearing(now_s)
        handler = getattr(self, f"_tick_{self.phase.value}")
        handler(now_s)

    # ========================================================== readiness
    def _bay_entry(self, bay_id: str, now_s: float) -> tuple[dict[str, Any] | None, str]:
        if self.bay_doc is None:
            return None, "no bay_status received"
        if self.p.bay_status_timeout_s > 0 and now_s - self.bay_rx_s > self.p.bay_status_timeout_s:
            return None, f"bay_status is {now_s - self.bay_rx_s:.0f} s old"
        entry = self.bay_doc["bays"].get(bay_id)
        if entry is None:
            return None, f"bay '{bay_id}' is missing from bay_status"
        if not entry["ready"]:
            return None, f"bay '{bay_id}' is not ready" + (f": {entry['reason']}" if entry.get("reason") else "")
        return entry, ""

    def pick_ok(self, job: Job, now_s: float) -> tuple[bool, str]:
        entry, why = self._bay_entry(job.pick.id, now_s)
        if entry is None:
            return False, why
        if entry["container_id"] != job.container_id:
            held = entry["container_id"]
            return False, (f"bay '{job.pick.id}' holds {'no container' if held is None else repr(held)}, "
                           f"not '{job.container_id}'")
        return True, ""

    def place_ok(self, job: Job, now_s: float) -> tuple[bool, str]:
        entry, why = self._bay_entry(job.place.id, now_s)
        if entry is None:
            return False, why
        if entry["container_id"] is not None:
            return False, f"bay '{job.place.id}' already holds '{entry['container_id']}'"
        return True, ""

    def _readiness(self, now_s: float) -> Readiness:
        def waiting(job: Job) -> float:
            bay = job.carrier_bay
            since = self.ready_since.get(bay.id) if bay is not None else None
            return now_s - since if since is not None else 0.0

        return Readiness(lambda j: self.pick_ok(j, now_s)[0], lambda j: self.place_ok(j, now_s)[0], waiting)

    # ======================================================== motion helpers
    def _measured(self) -> dict[str, AxisState]:
        r = self.reading
        out = {a: AxisState(r.position[a], r.velocity.get(a, 0.0)) for a in self.model.axes}
        if self.model.is_landed(r) and self.last_cmd is not None:
            # landed: the reading is the spreader, resting; the drum stands where we commanded it (slack rope)
            cmd = self.last_cmd["hoist"]
            if r.position["hoist"] - SLACK_MAX_M <= cmd < r.position["hoist"]:
                out["hoist"] = AxisState(cmd)
        return out

    def _start_s(self, now_s: float) -> float:
        """When a plan computed now starts on the drive's clock."""
        return now_s + self.lag_s + self.lead_s

    def _states(self, now_s: float) -> dict[str, AxisState]:
        """Where a new plan starts (see ``_schedule``).

        At its start time: the followed plan's state then, or the measured state carried forward
        from when it was measured (at its velocity, with the acceleration of the last two readings,
        never past rest); velocities below the rest threshold count as zero, so sensor noise is not
        planned with.
        """
        start = self._start_s(now_s)
        if self._following():
            return self.plan.state_at(start)
        tau = max(0.0, start - self.reading.stamp_s)
        out = {}
        for a, s in self._measured().items():
            if abs(s.v) <= REST_MPS:
                out[a] = AxisState(s.p)
                continue
            acc = self.accel.get(a, 0.0)
            t = tau if s.v * (s.v + acc * tau) > 0.0 else -s.v / acc  # the axis does not turn back by itself
            out[a] = AxisState(s.p + s.v * t + 0.5 * acc * t * t, s.v + acc * t, acc if t == tau else 0.0)
        return out

    def _following(self) -> bool:
        """The crane follows the active plan: where the plan put it when the last reading was measured.

        After its end too: the drive holds the last point, so a crane standing there is planned from that
        point (exact), not from a reading that may be a few tenths of a second old.
        """
        if self.plan is None:
            return False
        meas, ps = self._measured(), self.plan.state_at(self.reading.stamp_s)
        return all(abs(ps[a].p - meas[a].p) <= self.p.tracking_tolerance_m for a in self.model.axes)

    def _schedule(self, plan: Plan, now_s: float) -> None:
        """Stamp a new plan with ``now_s`` (a time the drive has reached: the message's time origin) and start it
        at ``_start_s``, so it reaches the drive before it starts; if it replaces a plan the crane follows,
        that one is spliced in until then (every jerk switch of it a point), so the drive switches without a
        step whenever between stamp and start the message arrives."""
        old = self.plan
        plan.stamp_s = now_s
        plan.start_s = self._start_s(now_s)
        if old is None or not self._following():
            return  # from rest (or the measured state): the drive holds until the start
        plan.before = old
        old.forget_before(now_s - PLAN_HISTORY_S)
        times = motion.with_samples([now_s] + [b for b in old.breakpoints_abs()
                                               if now_s < b < plan.start_s - motion.SAME_TIME_S], [])
        for t in times:
            t_msg = motion.message_time(t - now_s)
            st = old.state_at(now_s + t_msg)
            plan.lead_in.append(motion.TrajectoryPoint(
                t_msg, {**{a: s.p for a, s in st.items()}, "twistlock": old.twistlock},
                {**{a: s.v for a, s in st.items()}, "twistlock": 0.0},
                {**{a: s.a for a, s in st.items()}, "twistlock": 0.0}))

    def _moving(self) -> bool:
        return any(abs(v) > 0.02 for v in self.reading.velocity.values())

    def _plan_done(self, now_s: float) -> bool:
        return self.plan is None or now_s >= self.plan.end_s

    def _arrived(self, now_s: float) -> bool:
        """The active plan has ended and the crane stands at its end position."""
        if not self._plan_done(now_s) or self.last_cmd is None:
            return False
        r = self.reading
        return all(abs(r.position[a] - self.last_cmd[a]) <= self.p.position_tolerance_m and
                   abs(r.velocity.get(a, 0.0)) <= 0.05 for a in self.model.axes)

    def _ctx_loaded(self, loaded: bool) -> bool:
        return loaded or self.twistlock_cmd > 0.0 or self.reading.twistlock > TWISTLOCK_OPEN

    def _issue(self, make, now_s: float, loaded: bool, lowerable: set[str]) -> bool:
        """Plan with ``make(states)``, gate it through the rail claim and the interlocks, make it the active plan."""
        plan = make(self._states(now_s))
        rail_interval = None
        if self.rail is not None and "gantry" in plan.profiles:
            lo, hi = plan.extrema("gantry")
            if not self.rail.want(lo, hi, now_s):
                self.wait_reason = f"rail: {self.rail.waiting_reason}"
                return False
            rail_interval = self.rail.held
        ctx = PlanContext(self._ctx_loaded(loaded), frozenset(lowerable), rail_interval)
        problems = check_plan(self.model, plan, ctx, self.p.position_tolerance_m)
        if problems:
            raise InterlockViolation(f"{plan.kind} plan ({plan.note}): " + "; ".join(problems))
        self._activate(plan, now_s)
        self._issued = (make, (loaded, lowerable))
        self.wait_reason = ""
        return True

    def _commit_plan(self, make, now_s: float) -> bool:
        """Plan with ``make(states)`` and make it the active plan without the gates (stops)."""
        self._activate(make(self._states(now_s)), now_s)
        self._issued = (make, None)
        return True

    def _activate(self, plan: Plan, now_s: float) -> None:
        self._schedule(plan, now_s)
        self.plan = plan
        self.last_cmd = plan.end()
        self._out_plan = plan

    def _stop(self, now_s: float, note: str) -> None:
        """Jerk-limited stop of every axis from where the crane is (exempt from the lowering rule)."""
        twistlock = self.twistlock_cmd
        self._commit_plan(lambda st: motion.stop(st, self.plan_limits, twistlock, note=note), now_s)
        self.plan_goal = ("stop",)

    def _drive(self, now_s: float, goal: tuple, make, loaded: bool, lowerable: set[str]) -> bool:
        """Make the active plan pursue ``goal`` (planning it with ``make(states)`` if needed).

        Returns True once a plan for ``goal`` is active. A descent below the safe height over a bay
        that may no longer be lowered onto is stopped first; a plan that cannot keep the clearance
        from a moving state waits for a stop; a crane moving off its plan (the drive catching up with
        a command that reached it late) is not given a new goal until it has come to rest, since its
        state can then only be guessed.
        """
        if self.plan_goal == goal:
            return True
        if self.plan is not None and self.plan.kind == "stop" and not self._plan_done(now_s):
            return False
        states = self._states(now_s)
        h = states["hoist"]
        if h.p < self.model.safe_height(self._ctx_loaded(loaded)) and h.v < -REST_MPS:
            bay = self.model.bay_under({a: s.p for a, s in states.items()}, self.p.position_tolerance_m)
            if bay is None or bay.id not in lowerable:
                self._stop(now_s, "descent no longer allowed")
                return False
        if self._moving() and not self._following():
            self.wait_reason = "crane moving off its trajectory: waiting for it to stop"
            return False
        try:
            issued = self._issue(make, now_s, loaded, lowerable)
        except MotionError:
            self._stop(now_s, "replan from rest")
            return False
        if issued:
            self.plan_goal = goal
        return issued

    def _set_twistlock(self, now_s: float, target: float, goal: tuple) -> bool:
        """Command the twistlocks (holding every axis still); True once commanded.

        Landed with the descent still paying out its last few centimetres of slack rope, it waits for
        that plan to end (at most ``LANDING_SETTLE_MAX_S``) rather than splicing a stop into it: the
        hold then starts from rest, which every drive takes exactly whatever the message delay.
        """
        if self.plan_goal == goal:
            return True
        landing = self.model.is_landed(self.reading) and self.plan is not None and \
            0.0 < self.plan.end_s - now_s <= LANDING_SETTLE_MAX_S
        if landing:
            return False
        if self._moving() or not self._plan_done(now_s):
            self.twistlock_cmd = target
            self._stop(now_s, "stop to turn twistlocks")
            self.plan_goal = goal
            return True
        positions = dict(self.last_cmd) if self.last_cmd is not None else {a: s.p for a, s in self._measured().items()}
        self.twistlock_cmd = target
        self._issue(lambda _: motion.hold(positions, target, self.model.crane.twistlock_time_s, note="twistlocks"),
                    now_s, True, set())
        self.plan_goal = goal
        return True

    def _twistlock_deadline(self, now_s: float) -> float:
        """When the twistlocks commanded now must have turned: they start with the plan carrying the command."""
        start = max(now_s, self.plan.start_s) if self.plan is not None else now_s
        return start + self.model.crane.twistlock_time_s + self.p.lock_timeout_s

    def _release_rail(self, now_s: float) -> None:
        if self._plan_done(now_s) and not self._moving() and "gantry" in self.reading.position:
            g = self.reading.position["gantry"]
            cmd = self.last_cmd.get("gantry", g) if self.last_cmd else g
            tol = max(0.05, self.p.position_tolerance_m)
            self.rail.release(min(g, cmd) - tol, max(g, cmd) + tol)

    def _separation_tripped(self, now_s: float) -> bool:
        """Last line of defence on shared rails: the measured gap closing below the minimum."""
        g = self.reading.position.get("gantry")
        v = self.reading.velocity.get("gantry", 0.0)
        for peer, view in self.rail.peers.items():
            if view.position_m is None or now_s - view.position_rx_s > self.rail.position_timeout_s:
                continue
            gap = abs(g - view.position_m)
            towards = (view.position_m - g) * v > 0 and abs(v) > REST_MPS
            if gap < self.model.min_separation_m[peer] and towards and self.phase != Phase.FAULT:
                self._stop(now_s, "separation guard")
                self._fault(now_s, f"gantry {gap:.1f} m from '{peer}', below the minimum "
                                   f"{self.model.min_separation_m[peer]:.1f} m")
                return True
        return False

    # ============================================================= phases
    def _set_phase(self, phase: Phase, now_s: float, sub: str = "") -> None:
        self.phase, self.sub, self.phase_since_s = phase, sub, now_s
        self.plan_goal = None
        self.deadline_s = math.inf
        self.holding_reported = False
        self.airborne = not self.model.is_landed(self.reading) if self.reading is not None else False

    def _reenter(self, now_s: float) -> None:
        """After a stop: carry on with the current phase from the measured state."""
        if self.phase in (Phase.LOCK, Phase.UNLOCK, Phase.RELAND, Phase.ABORT):
            self.sub = ""
            self.deadline_s = math.inf
        self.holding_reported = False

    def _emit(self, job_id: str, container_id: str | None, event: str, now_s: float, reason: str = "") -> None:
        doc = {"job_id": job_id, "crane_id": self.model.id, "container_id": container_id, "event": event,
               "stamp": now_s}
        if reason:
            doc["reason"] = reason
        self._events.append(doc)

    def _remember(self, job_id: str) -> None:
        self._seen_ids[job_id] = None
        while len(self._seen_ids) > SEEN_IDS_KEPT:
            self._seen_ids.popitem(last=False)

    def _cancel(self, job_id: str, now_s: float) -> None:
        for job in self.queue:
            if job.job_id == job_id:
                self.queue.remove(job)
                self._emit(job_id, job.container_id, "cancelled", now_s)
                return
        if self.job is not None and self.job.job_id == job_id:
            if self.phase in CANCELLABLE:
                self._emit(job_id, self.job.container_id, "cancelled", now_s)
                self.job = None
                self._set_phase(Phase.IDLE, now_s)
            else:
                self._emit(job_id, self.job.container_id, "rejected", now_s,
                           f"cancel refused: the job is in phase '{self.phase.value}' (container locked or "
                           "being locked); it completes or fails")
            return
        self._emit(job_id, None, "rejected", now_s, f"cancel refused: no queued or active job '{job_id}'")

    def _commit(self, job: Job, now_s: float) -> None:
        self.queue.remove(job)
        self.job = job
        self.lock_attempts = 0
        self._emit(job.job_id, job.container_id, "started", now_s)
        self._set_phase(Phase.APPROACH, now_s)

    def _fail(self, now_s: float, reason: str) -> None:
        """The job fails; abort to a safe state (open the twistlocks, hoist to safe height)."""
        if self.job is not None:
            self._emit(self.job.job_id, self.job.container_id, "failed", now_s, reason)
            self.job = None
        if unlock_refusal(self.model, self.reading) is not None:
            self._fault(now_s, f"{reason}; a load hangs on the spreader")
            return
        self._set_phase(Phase.ABORT, now_s)

    def _fault(self, now_s: float, reason: str) -> None:
        if self.job is not None:
            self._emit(self.job.job_id, self.job.container_id, "failed", now_s, reason)
            self.job = None
        self.fault_reason = reason
        moving = self._moving() or not self._plan_done(now_s)
        if moving and (self.plan is None or self.plan.kind != "stop"):
            self._stop(now_s, "fault")
        self.phase, self.sub, self.phase_since_s = Phase.FAULT, "", now_s

    def _check_clearing(self, now_s: float) -> None:
        job = self.clearing
        if job is None:
            return
        r = self.reading
        if self.job is not None and self.phase not in (Phase.IDLE, Phase.PREPOSITION, Phase.APPROACH):
            # the next job picks right where this one placed (same bay): the release was complete
            self._emit(job.job_id, job.container_id, "done", now_s)
            self.clearing = None
            return
        if r.hoist_load_n > self.model.hanging_threshold_n:
            self.clearing = None
            self.job = job
            self._fault(now_s, f"container '{job.container_id}' still hangs on the spreader after unlocking")
            return
        if r.position["hoist"] >= self.model.safe_height(False) - 0.05:
            self._emit(job.job_id, job.container_id, "done", now_s)
            self.clearing = None

    def _ranked(self, now_s: float) -> list[tuple[Job, bool]]:
        """Queued jobs in the order to work them, each with whether it can start now."""
        return order(self.queue, now_s, self._readiness(now_s), self.p.prelift_horizon_s)

    def _next(self, now_s: float) -> None:
        """Pick the next job (or pre-position) after a job or when idle."""
        ranked = self._ranked(now_s)
        if ranked and ranked[0][1]:
            self._commit(ranked[0][0], now_s)
            self._tick_approach(now_s)
        elif ranked:
            if self.phase != Phase.PREPOSITION:
                self._set_phase(Phase.PREPOSITION, now_s)
            self._preposition(ranked[0][0], now_s)
        else:
            if self.phase != Phase.IDLE:
                self._set_phase(Phase.IDLE, now_s)
            self._idle(now_s)

    # ---------------------------------------------------------------- idle
    def _tick_idle(self, now_s: float) -> None:
        self._next(now_s)

    def _tick_preposition(self, now_s: float) -> None:
        self._next(now_s)

    def _idle(self, now_s: float) -> None:
        if self.reading.twistlock > TWISTLOCK_OPEN or self.twistlock_cmd > 0.0:
            if unlock_refusal(self.model, self.reading) is None:
                self._set_twistlock(now_s, 0.0, ("idle", "open"))
            return
        s_empty = self.model.safe_height(False)
        if self.reading.position["hoist"] < s_empty - 0.05:
            self._drive(now_s, ("idle", "up"), lambda st: motion.vertical(st, s_empty, self.plan_limits, 0.0,
                                                                           "hoist to safe height"), False, set())

    def _preposition(self, job: Job, now_s: float) -> None:
        s_empty = self.model.safe_height(False)
        if self.reading.twistlock > TWISTLOCK_OPEN or self.twistlock_cmd > 0.0:
            self._idle(now_s)
            return
        self._drive(now_s, ("preposition", job.pick.id),
                    lambda st: self._transfer(st, self.model.over(job.pick), s_empty, s_empty, self.plan_limits,
                                               0.0, f"pre-position over {job.pick.id}"), False, set())

    # ------------------------------------------------------------ approach
    def _tick_approach(self, now_s: float) -> None:
        job = self.job
        pick = job.pick
        r = self.reading
        s_empty = self.model.safe_height(False)
        if self.model.is_landed(r) and r.position["hoist"] < s_empty:
            near = self.model.horizontal_distance(r.position, pick) <= self.p.position_tolerance_m
            if near and abs(r.position["hoist"] - pick.landed_height_m) <= self.p.landing_tolerance_m \
                    and self.pick_ok(job, now_s)[0]:
                self._set_phase(Phase.LOCK, now_s)
                self._tick_lock(now_s)
                return
        if self.airborne and self.model.is_landed(r) and r.position["hoist"] < s_empty:
            self._stop(now_s, "unexpected landing")
            self._fail(now_s, f"spreader landed at {r.position['hoist']:.2f} m, expected the top of "
                              f"'{job.container_id}' at {pick.landed_height_m:.2f} m over bay '{pick.id}'")
            return
        ok, why = self.pick_ok(job, now_s)
        if ok:
            end = pick.landed_height_m - self.p.landing_overtravel_m
            goal = ("approach", pick.id, "descend")
            lowerable = {pick.id}
        else:
            end, goal, lowerable = s_empty, ("approach", pick.id, "hold"), set()
        self._drive(now_s, goal, lambda st: self._transfer(st, self.model.over(pick), end, s_empty,
                                                            self.plan_limits, 0.0, f"approach {pick.id}"),
                    False, lowerable)
        if not ok:
            self._report_holding(now_s, f"waiting for pick: {why}")
            return
        self.holding_reported = False
        if self.plan_goal == goal and now_s > self.plan.end_s + self.p.settle_timeout_s:
            self._fail(now_s, f"spreader reached {r.position['hoist']:.2f} m over bay '{pick.id}' without landing "
                              f"on '{job.container_id}' (expected at {pick.landed_height_m:.2f} m)")

    def _report_holding(self, now_s: float, reason: str) -> None:
        if not self.holding_reported and self._arrived(now_s):
            self._emit(self.job.job_id, self.job.container_id, "holding", now_s, reason)
            self.holding_reported = True

    # ---------------------------------------------------------------- lock
    def _tick_lock(self, now_s: float) -> None:
        job = self.job
        entry, why = self._bay_entry(job.pick.id, now_s)  # the container leaves the bay's record once locked
        if entry is None:  # the bay went away under the spreader: open and lift off, then wait over it
            self._set_phase(Phase.RELAND, now_s)
            self.wait_reason = why
            return
        if self.sub == "" and self._set_twistlock(now_s, 1.0, ("lock",)):
            self.deadline_s = self._twistlock_deadline(now_s)
            self.sub = "turning"
        if self.model.is_locked(self.reading):
            self._emit(job.job_id, job.container_id, "locked", now_s)
            self._set_phase(Phase.CARRY, now_s)
            self.lifted = False
            self._tick_carry(now_s)
            return
        if now_s > self.deadline_s:
            self._lock_failed(now_s, f"twistlocks did not lock on '{job.container_id}' at bay '{job.pick.id}'")

    def _lock_failed(self, now_s: float, reason: str) -> None:
        self.lock_attempts += 1
        if self.lock_attempts > self.p.lock_retries:
            self._fail(now_s, f"{reason} after {self.lock_attempts} attempts")
            return
        self.wait_reason = f"{reason}; retry {self.lock_attempts} of {self.p.lock_retries}"
        self._set_phase(Phase.RELAND, now_s)

    # -------------------------------------------------------------- reland
    def _tick_reland(self, now_s: float) -> None:
        """Open the twistlocks, lift ``relift_m`` off the container, then approach (lower) again."""
        job = self.job
        if self.sub == "":
            if unlock_refusal(self.model, self.reading) is not None:
                self._fault(now_s, f"cannot re-land: {unlock_refusal(self.model, self.reading)}")
                return
            if self._set_twistlock(now_s, 0.0, ("reland", "open")):
                self.deadline_s = self._twistlock_deadline(now_s)
                self.sub = "opening"
            return
        if self.sub == "opening":
            if self.model.is_open(self.reading) and self._plan_done(now_s) and not self._moving():
                self.sub = "relift"
            elif now_s > self.deadline_s:
                self._fault(now_s, f"twistlocks do not open over bay '{job.pick.id}'")
            return
        if self.sub == "relift":
            height = max(self.reading.position["hoist"], job.pick.landed_height_m + self.p.relift_m)
            self._drive(now_s, ("reland", "relift"), lambda st: motion.vertical(st, height, self.plan_limits, 0.0,
                                                                                 "relift"), False, set())
            if self._arrived(now_s):
                self._set_phase(Phase.APPROACH, now_s)

    # --------------------------------------------------------------- carry
    def _tick_carry(self, now_s: float) -> None:
        job = self.job
        place = job.place
        r = self.reading
        s_loaded = self.model.safe_height(True)
        h = r.position["hoist"]
        if not self.lifted:
            if h >= job.pick.landed_height_m + self.p.liftoff_check_m:
                if self.model.is_hanging(r):
                    self.lifted = True
                    self._emit(job.job_id, job.container_id, "lifted", now_s)
                else:
                    self._stop(now_s, "no load")
                    self._lock_failed(now_s, f"no load on the spreader after locking '{job.container_id}' "
                                             f"(rope load {r.hoist_load_n:.0f} N)")
                    return
        else:
            landed = self.model.is_landed(r)
            if landed:
                near = self.model.horizontal_distance(r.position, place) <= self.p.position_tolerance_m
                if near and abs(h - place.landed_height_m) <= self.p.landing_tolerance_m:
                    self._emit(job.job_id, job.container_id, "landed", now_s)
                    self._set_phase(Phase.UNLOCK, now_s)
                    self._tick_unlock(now_s)
                    return
                self._stop(now_s, "unexpected landing")
                self._fault(now_s, f"container '{job.container_id}' set down at {h:.2f} m, not on bay '{place.id}' "
                                   f"({place.landed_height_m:.2f} m)")
                return
            if not self.model.is_hanging(r):
                self._stop(now_s, "load lost")
                self._fail(now_s, f"load lost at hoist {h:.2f} m (rope load {r.hoist_load_n:.0f} N)")
                return
        ok, why = self.place_ok(job, now_s)
        if ok:
            end = place.landed_height_m - self.p.landing_overtravel_m
            goal = ("carry", place.id, "descend")
            lowerable = {place.id}
        else:
            end, goal, lowerable = s_loaded, ("carry", place.id, "hold"), set()
        if not self.lifted:
            lowerable = lowerable | {job.pick.id}  # still over the pick: its own bay is below
        self._drive(now_s, goal, lambda st: self._transfer(st, self.model.over(place), end, s_loaded,
                                                            self.plan_limits, 1.0, f"carry to {place.id}"),
                    True, lowerable)
        if not ok:
            if self.lifted:
                self._report_holding(now_s, f"waiting for place: {why}")
            return
        self.holding_reported = False
        if self.plan_goal == goal and now_s > self.plan.end_s + self.p.settle_timeout_s:
            self._fault(now_s, f"container '{job.container_id}' did not land on bay '{place.id}' "
                               f"(expected at {place.landed_height_m:.2f} m)")
            self._drive(now_s, ("fault", "retreat"), lambda st: motion.vertical(st, s_loaded, self.plan_limits, 1.0,
                                                                                 "retreat"), True, set())

    # -------------------------------------------------------------- unlock
    def _tick_unlock(self, now_s: float) -> None:
        job = self.job
        r = self.reading
        if self.sub == "":
            refusal = unlock_refusal(self.model, r)
            if refusal is not None or not self.model.is_landed(r):
                self.wait_reason = f"not unlocking: {refusal or 'spreader not landed'}"
                if now_s - self.phase_since_s > self.p.settle_timeout_s:
                    self._fault(now_s, f"container '{job.container_id}' on bay '{job.place.id}': {self.wait_reason}")
                return
            if self._set_twistlock(now_s, 0.0, ("unlock",)):
                self.deadline_s = self._twistlock_deadline(now_s)
                self.sub = "turning"
            return
        if self.model.is_open(r):
            self.clearing = job
            self.job = None
            self._next(now_s)
            return
        if now_s > self.deadline_s:
            self._fault(now_s, f"twistlocks did not open on '{job.container_id}' at bay '{job.place.id}'")

    # --------------------------------------------------------------- abort
    def _tick_abort(self, now_s: float) -> None:
        if self.reading.twistlock > TWISTLOCK_OPEN or self.twistlock_cmd > 0.0:
            if self.sub == "":
                if self._set_twistlock(now_s, 0.0, ("abort", "open")):
                    self.deadline_s = self._twistlock_deadline(now_s)
                    self.sub = "opening"
            elif now_s > self.deadline_s:
                self._fault(now_s, "twistlocks do not open while aborting")
            return
        s_empty = self.model.safe_height(False)
        if self.reading.position["hoist"] >= s_empty - 0.05 and self._plan_done(now_s) and not self._moving():
            self._set_phase(Phase.IDLE, now_s)
            return
        height = max(s_empty, self.reading.position["hoist"])
        self._drive(now_s, ("abort", "up"), lambda st: motion.vertical(st, height, self.plan_limits, 0.0,
                                                                        "abort to safe height"), False, set())

    def _tick_fault(self, now_s: float) -> None:
        return

    # ========================================================== diagnostics
    def diagnostics(self, now_s: float) -> tuple[int, str, dict[str, str]]:
        """(level 0 OK / 1 WARN / 2 ERROR, message, key values) for /diagnostics."""
        values = {
            "phase": self.phase.value,
            "job": self.job.job_id if self.job else "",
            "queued": str(len(self.queue)),
            "twistlock_cmd": f"{self.twistlock_cmd:.0f}",
            "waiting_for": self.wait_reason,
            "interlock_refusals": str(len(self.violations)),
            "command_lead_s": f"{self.lead_s:.2f}",
            "longest_stall_s": f"{self.latency.max(now_s):.2f}",
        }
        if self.rail is not None:
            values["rail_held_m"] = json.dumps([round(x, 2) for x in self.rail.held]) if self.rail.held else ""
            values["rail_waiting_for"] = self.rail.waiting_reason
        if self.reading is None:
            return 1, "waiting for joint states", values
        if self.phase == Phase.FAULT:
            return 2, f"fault: {self.fault_reason}", values
        if self.paused:
            return 2, f"stopped: {self.paused}", values
        if self.holding_reported or self.wait_reason:
            return 0, f"{self.phase.value}: {self.wait_reason or 'holding'}", values
        return 0, self.phase.value, values


def _job_id_of(doc: Any) -> str:
    """Best-effort job id of a rejected document (for the rejection event)."""
    try:
        raw = json.loads(doc) if isinstance(doc, str) else doc
        job_id = raw.get("job_id") if isinstance(raw, dict) else None
        return job_id if isinstance(job_id, str) else ""
    except (ValueError, TypeError):
        return ""
