"""Late and stale: the crane controller never sends a trajectory that reaches the drive after it should start,
nor one planned from where the crane was rather than where it is (pure core, with the simulator's drive model).

Issue #10: on a loaded machine the simulator reported trolley and hoist commands of 26-34 m/s² and 8,812 m/s³.
A message stamped on the controller's clock reached the drive 0.47 s after its stamp, 0.27 s after its motion
should have begun, and a controller that had been held up planned from joint states a queue had kept for it.
"""

from __future__ import annotations

import json
from collections import deque

import pytest

from crane_control.controller import LATENCY_WINDOW_S, CraneController
from crane_control.model import CraneModel, JointReading
from crane_control.params import CraneControllerParams
from crane_control.timing import ClockEstimate, LatencyWindow
from yard_harness.crane_loop import to_sim_trajectory
from yard_sim.engine import SimConfig, SimEngine

CRANE = "cn_crane_1"
A, B = "cn_truck_11", "cn_truck_21"  # same gantry position, 7 m apart on the trolley
CONTROL_DT = 0.05


# ----------------------------------------------------------------- helpers
def test_clock_estimate_follows_the_simulated_clock_between_samples():
    est = ClockEstimate(max_ahead_s=1.0)
    assert est.now(100.0) is None
    for i in range(61):  # /clock at 100 Hz of simulated time, twice real time
        est.add(10.0 + 0.01 * i, 100.0 + 0.005 * i)
    assert est.rate == pytest.approx(2.0)
    assert est.now(100.4) == pytest.approx(10.8)  # 0.1 s of wall time after the last sample (10.6 s at 100.3)
    assert est.now(105.0) == pytest.approx(11.6)  # never more than max_ahead_s past the latest sample
    est.add(10.2, 100.4)  # out of order: ignored
    assert est.now(100.4) == pytest.approx(10.8)
    est.add(0.0, 101.0)  # the simulator restarted
    assert est.now(101.0) == pytest.approx(0.0)


def test_latency_window_keeps_the_longest_recent_delay():
    w = LatencyWindow(30.0)
    assert w.max(0.0) == 0.0
    w.add(0.2, 0.0)
    w.add(0.5, 1.0)
    w.add(0.1, 2.0)
    assert w.max(5.0) == 0.5
    assert w.max(31.5) == 0.1  # the 0.5 s stall left the window
    assert w.max(40.0) == 0.0


def test_lead_grows_with_the_stalls_measured_and_comes_back(youyiguan_world):
    ctl = CraneController(CraneModel.from_world(youyiguan_world, CRANE), CraneControllerParams(),
                          set(youyiguan_world.bays))
    assert ctl.lead_s == pytest.approx(0.2)
    ctl.note_stall(0.05, 10.0)
    assert ctl.lead_s == pytest.approx(0.2)
    ctl.note_stall(0.4, 11.0)
    assert ctl.lead_s == pytest.approx(0.8) and ctl.reserve_s == pytest.approx(0.4)
    ctl.note_stall(5.0, 12.0)
    assert ctl.lead_s == pytest.approx(2.0)  # max_command_lead_s
    ctl.note_stall(0.0, 12.0 + LATENCY_WINDOW_S + 1.0)
    assert ctl.lead_s == pytest.approx(0.2)


# --------------------------------------------------------------- closed loop
class LateLoop:
    """One controller driving the simulator's crane drives (yard_sim engine) through a slow, stale link.

    The controller's clock runs ``clock_lag_s`` behind the drive's (a /clock it has not processed yet);
    joint states reach it ``state_age_s`` after they were measured, carrying that measurement time; its
    trajectories reach the drive ``delivery_s`` after they are sent. ``tell_lag`` says whether the
    controller is given its clock lag (the node estimates it from /clock's send times).
    """

    def __init__(self, world, clock_lag_s: float, state_age_s: float, delivery_s: float, tell_lag: bool = True,
                 params: CraneControllerParams | None = None):
        self.engine = SimEngine(world, [], SimConfig(step_s=0.01, sensors_enabled=False), 0)
        self.ctl = CraneController(CraneModel.from_world(world, CRANE), params or CraneControllerParams(),
                                   set(world.bays))
        self.joints = (*self.ctl.model.axes, "twistlock")
        self.clock_lag_s, self.state_age_s, self.delivery_s, self.tell_lag = clock_lag_s, state_age_s, delivery_s, \
            tell_lag
        self.readings: deque[JointReading] = deque()
        self.in_flight: list[tuple[float, object]] = []
        self.events: list[dict] = []
        self.sim_events: list[dict] = []
        self.plans = []
        for truck, bay, container in (("ta", A, "X1"), ("tb", B, None)):
            doc = {"command": "spawn_truck", "truck_id": truck, "bay": bay, "depart_after_s": None}
            if container:
                doc["container_id"] = container
            assert self.engine.apply_command(doc).ok

    def bay_status(self) -> dict:
        bays = {}
        for truck in self.engine.cargo.trucks.values():
            bays[truck.bay] = {"kind": "truck", "occupant": truck.id, "ready": truck.state == "parked",
                               "container_id": truck.container_id}
        return {"stamp": self.engine.t, "bays": bays}

    def measure(self) -> JointReading:
        names, pos, vel, eff = self.engine.cranes[CRANE].joint_state()
        i = {n: k for k, n in enumerate(names)}
        axes = self.ctl.model.axes
        return JointReading(self.engine.t, {a: pos[i[a]] for a in axes}, {a: vel[i[a]] for a in axes},
                            eff[i["hoist"]], pos[i["twistlock"]])

    def run(self, seconds: float, until=None) -> bool:
        end = self.engine.t + seconds
        while self.engine.t < end:
            t = self.engine.t
            self.readings.append(self.measure())
            while self.readings and self.readings[0].stamp_s <= t - self.state_age_s + 1e-9:
                self.ctl.on_joint_reading(self.readings.popleft())
            now = t - self.clock_lag_s
            self.ctl.on_bay_status(self.bay_status(), now)
            out = self.ctl.step(now, self.clock_lag_s if self.tell_lag else 0.0)
            self.events += out.events
            if out.plan is not None:
                self.plans.append(out.plan)
                self.in_flight.append((t + self.delivery_s, to_sim_trajectory(out.plan, 0.1, self.joints)))
            for _ in range(round(CONTROL_DT / 0.01)):
                due = [m for m in self.in_flight if m[0] <= self.engine.t + 1e-9]
                self.in_flight = [m for m in self.in_flight if m[0] > self.engine.t + 1e-9]
                for _, traj in due:
                    self.engine.command_crane(CRANE, traj)
                self.sim_events += self.engine.step().events
            if until is not None and until():
                return True
        return False

    def submit(self, job_id: str, pick: str, place: str) -> None:
        self.events += self.ctl.submit(json.dumps({"job_id": job_id, "container_id": "X1", "pick": {"bay": pick},
                                                   "place": {"bay": place}}), self.engine.t - self.clock_lag_s)

    def done(self, job_id: str) -> bool:
        return any(e["job_id"] == job_id and e["event"] == "done" for e in self.events)

    def violations(self) -> list[dict]:
        return [e for e in self.sim_events if e["event"] == "crane_limit_violation"]


def job_with_a_stop_mid_traverse(loop: LateLoop) -> None:
    """Truck to truck, with an emergency stop pulse while the container crosses: plans from rest, a stop
    spliced into a moving plan, a resume spliced into the stop."""
    loop.run(1.0)
    loop.submit("j0", A, B)
    assert loop.run(60.0, until=lambda: any(e["event"] == "lifted" for e in loop.events))
    assert loop.run(30.0, until=lambda: abs(loop.measure().velocity["trolley"]) > 0.3)
    loop.ctl.on_emergency_stop(True, loop.engine.t - loop.clock_lag_s)
    loop.run(1.0)
    loop.ctl.on_emergency_stop(False, loop.engine.t - loop.clock_lag_s)
    assert loop.run(60.0, until=lambda: loop.done("j0"))
    assert loop.engine.cargo.holder("X1") == ("truck", "tb")
    assert [p.kind for p in loop.plans if p.before is not None], "nothing was spliced: the scenario tests nothing"


def test_a_controller_told_its_clock_lag_is_never_late(youyiguan_world):
    """Clock 0.3 s behind, joint states 0.2 s old, delivery 0.05 s, lead 0.2 s: no limit asked for, job done."""
    loop = LateLoop(youyiguan_world, clock_lag_s=0.3, state_age_s=0.2, delivery_s=0.05)
    job_with_a_stop_mid_traverse(loop)
    assert loop.violations() == []
    for p in loop.plans:  # stamped on the controller's clock, started a lead after the drive's present
        assert p.start_s - p.stamp_s == pytest.approx(0.3 + 0.2)


def test_a_controller_unaware_of_its_clock_lag_is_late_and_the_drive_says_so(youyiguan_world):
    """The same link without the lag estimate: every trajectory arrives after its start; the simulator reports
    the steps (how late, by how much), never an absurd acceleration squeezed into the time left."""
    loop = LateLoop(youyiguan_world, clock_lag_s=0.3, state_age_s=0.0, delivery_s=0.05, tell_lag=False)
    loop.run(1.0)
    loop.submit("j0", A, B)
    loop.run(5.0)
    found = loop.violations()
    assert found and all(e["late_s"] == pytest.approx(0.35, abs=0.011) for e in found)
    assert {e["limit"] for e in found} <= {"position_step", "velocity_step", "acceleration_step"}


def test_stale_joint_states_are_taken_for_when_they_were_measured(youyiguan_world):
    """Joint states 0.4 s old (below the 0.5 s timeout) while the trolley runs: the crane is still found on its
    plan (compared where the plan had it then), so the stop and the resume splice into the plans."""
    loop = LateLoop(youyiguan_world, clock_lag_s=0.0, state_age_s=0.4, delivery_s=0.0)
    job_with_a_stop_mid_traverse(loop)
    assert loop.violations() == []


def test_older_joint_readings_than_the_current_are_ignored(youyiguan_world):
    ctl = CraneController(CraneModel.from_world(youyiguan_world, CRANE), CraneControllerParams(),
                          set(youyiguan_world.bays))
    pos = {"gantry": 30.0, "trolley": 20.0, "hoist": 6.0}
    ctl.on_joint_reading(JointReading(5.0, pos, dict.fromkeys(pos, 0.0), 0.0, 0.0))
    ctl.on_joint_reading(JointReading(4.9, {**pos, "trolley": 25.0}, dict.fromkeys(pos, 0.0), 0.0, 0.0))
    assert ctl.reading.stamp_s == 5.0 and ctl.reading.position["trolley"] == 20.0


def test_a_plan_that_would_be_late_is_retimed_from_the_plan_the_drive_follows(youyiguan_world):
    """What the node does when computing and building a message took longer than the lead allows."""
    loop = LateLoop(youyiguan_world, clock_lag_s=0.0, state_age_s=0.0, delivery_s=0.0)
    loop.run(1.0)
    loop.submit("j0", A, B)
    loop.run(20.0, until=lambda: loop.ctl.phase.value == "carry")
    loop.run(8.0)  # lifting and traversing with the container
    ctl, now = loop.ctl, loop.engine.t
    followed = ctl.plan
    assert followed.kind == "transfer" and now < followed.end_s
    ctl.on_emergency_stop(True, now)
    stop = ctl.step(now).plan
    assert stop.kind == "stop" and stop.start_s == pytest.approx(now + 0.2)
    ctl.note_stall(0.3, now)  # the step took 0.3 s: sent now, the stop would arrive after its start
    late = ctl.retime(now, 0.3)
    assert late.kind == "stop" and late.before is followed
    assert late.stamp_s == now and late.start_s == pytest.approx(now + 0.3 + 0.6)
    assert late.lead_in[0].positions["trolley"] == pytest.approx(followed.state_at(now)["trolley"].p)
    ctl.withdraw()  # or it is held back: the drive keeps the plan it follows, the next step plans again
    assert ctl.plan is followed and ctl.plan_goal is None


def test_a_reaction_within_the_lead_of_another_continues_what_the_drive_follows(youyiguan_world):
    """Locks that grip nothing: "no load" stops the lift, and the next tick stops again to open the locks,
    within the first stop's lead. The second plan splices into the first, which the drive still follows as
    the lead-in of its message; taking the first plan's start state instead made the drive step 7 cm."""
    loop = LateLoop(youyiguan_world, clock_lag_s=0.0, state_age_s=0.0, delivery_s=0.0)
    assert loop.engine.apply_command({"command": "set_lock_failure", "crane_id": CRANE, "probability": 1.0}).ok
    loop.run(1.0)
    loop.submit("j0", A, B)
    assert loop.run(200.0, until=lambda: any(e["event"] == "failed" for e in loop.events))
    assert "after 3 attempts" in next(e for e in loop.events if e["event"] == "failed")["reason"]
    within = [p for p in loop.plans if p.before is not None and p.stamp_s < p.before.start_s]
    assert within, "no plan was spliced into one that had not started"
    for p in within:
        t = p.stamp_s
        assert p.state_at(t)["hoist"] == p.before.before.state_at(t)["hoist"]
    assert loop.violations() == []


def test_twistlock_deadline_counts_from_when_the_command_starts(youyiguan_world):
    """With a long lead the twistlocks start turning later: the lock timeout must not run out before."""
    loop = LateLoop(youyiguan_world, clock_lag_s=0.0, state_age_s=0.0, delivery_s=0.0)
    for t in range(0, 120, 10):
        loop.ctl.note_stall(1.0, float(t))  # lead 2.0 s (max_command_lead_s) throughout
    loop.run(1.0)
    loop.submit("j0", A, B)
    assert loop.run(120.0, until=lambda: loop.done("j0"))
    assert loop.ctl.lead_s == pytest.approx(2.0)
    assert loop.violations() == []
