"""crane_control.sequencing: job validation and the order that minimises carrier waiting."""

from __future__ import annotations

import pytest

from crane_control.model import CraneModel
from crane_control.sequencing import Job, JobRejected, Readiness, job_from_document, order


@pytest.fixture(scope="module")
def model(youyiguan_world):
    return CraneModel.from_world(youyiguan_world, "cn_crane_1")


def job(model, jid, pick, place, seq, priority=0, expected=None):
    return Job(jid, f"C_{jid}", model.bays[pick], model.bays[place], priority, expected, 0.0, seq)


def readiness(ready: set[str], waiting: dict[str, float] | None = None) -> Readiness:
    waiting = waiting or {}
    return Readiness(lambda j: j.pick.id in ready, lambda j: j.place.id in ready,
                     lambda j: waiting.get(j.carrier_bay.id, 0.0) if j.carrier_bay else 0.0)


def ids(ranked):
    return [(j.job_id, can) for j, can in ranked]


def test_a_job_that_can_start_goes_before_a_higher_priority_one_that_cannot(model):
    a = job(model, "a", "cn_truck_11", "cn_bay_a1", 0, priority=0)
    b = job(model, "b", "cn_truck_21", "cn_bay_b1", 1, priority=9)
    ranked = order([a, b], 0.0, readiness({"cn_truck_11", "cn_bay_a1"}), 90.0)
    assert ids(ranked) == [("a", True), ("b", False)]
    ranked = order([a, b], 0.0, readiness({"cn_truck_11", "cn_bay_a1", "cn_truck_21", "cn_bay_b1"}), 90.0)
    assert ids(ranked) == [("b", True), ("a", True)]


def test_the_carrier_waiting_longest_is_served_first(model):
    a = job(model, "a", "cn_bay_a1", "cn_truck_11", 0)  # carrier at a1 waits to be unloaded
    b = job(model, "b", "cn_truck_21", "cn_bay_b1", 1)  # carrier at b1 waits to be loaded
    ready = {"cn_bay_a1", "cn_truck_11", "cn_truck_21", "cn_bay_b1"}
    assert ids(order([a, b], 0.0, readiness(ready, {"cn_bay_a1": 5.0, "cn_bay_b1": 40.0}), 90.0))[0][0] == "b"
    assert ids(order([a, b], 0.0, readiness(ready, {"cn_bay_a1": 50.0, "cn_bay_b1": 40.0}), 90.0))[0][0] == "a"


def test_pre_lift_from_the_truck_only_when_the_carrier_is_expected_soon(model):
    soon = job(model, "soon", "cn_truck_11", "cn_bay_a1", 0, expected=60.0)
    late = job(model, "late", "cn_truck_21", "cn_bay_b1", 1, expected=500.0)
    unknown = job(model, "unknown", "cn_truck_12", "cn_bay_a1", 2)
    ranked = order([late, soon, unknown], 0.0, readiness({"cn_truck_11", "cn_truck_21", "cn_truck_12"}), 90.0)
    assert ids(ranked) == [("unknown", True), ("soon", True), ("late", False)]
    # a job whose place is ready (no holding needed) goes before one that would hold
    ranked = order([soon, late], 0.0, readiness({"cn_truck_11", "cn_truck_21", "cn_bay_b1"}), 90.0)
    assert ids(ranked) == [("late", True), ("soon", True)]


def test_lifting_from_a_carrier_is_always_worth_it(model):
    unload = job(model, "unload", "cn_bay_a1", "cn_truck_11", 0, expected=1000.0)
    assert ids(order([unload], 0.0, readiness({"cn_bay_a1"}), 90.0)) == [("unload", True)]
    assert ids(order([unload], 0.0, readiness({"cn_truck_11"}), 90.0)) == [("unload", False)]


def doc(**kw):
    base = {"job_id": "j", "container_id": "C1", "pick": {"bay": "cn_truck_11"}, "place": {"bay": "cn_bay_a1"}}
    base.update(kw)
    return base


@pytest.mark.parametrize("kw, reason", [
    ({"pick": {"bay": "nowhere"}}, "does not exist"),
    ({"place": {"bay": "cn_bay_a2"}}, "not served by crane 'cn_crane_1'"),
    ({"place": {"bay": "cn_truck_11"}}, "same bay"),
    ({"crane_id": "cn_crane_2"}, "addressed to crane 'cn_crane_2'"),
    ({"container_id": "GHOST"}, "unknown to the yard state"),
    ({"expected_ready_s": float("nan")}, "not a number"),
])
def test_impossible_jobs_are_rejected_with_a_reason(model, youyiguan_world, kw, reason):
    with pytest.raises(JobRejected, match=reason):
        job_from_document(doc(**kw), model, set(youyiguan_world.bays), 0.0, 0, known_containers={"C1"})


def test_a_valid_job_document_becomes_a_job(model, youyiguan_world):
    j = job_from_document(doc(priority=3, expected_ready_s=42.0, order_id="o1"), model, set(youyiguan_world.bays),
                          5.0, 7, known_containers={"C1"})
    assert (j.pick.id, j.place.id, j.priority, j.expected_ready_s, j.seq, j.order_id) == \
        ("cn_truck_11", "cn_bay_a1", 3, 42.0, 7, "o1")
    assert j.carrier_bay.id == "cn_bay_a1"
