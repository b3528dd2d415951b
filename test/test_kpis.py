"""One KPI measurement for the day and the graph (yard_harness.kpis.KpiLog), fed documents by hand."""

from __future__ import annotations

import pytest

from yard_harness.kpis import CarrierTruth, KpiLog, fleet_sample_of
from yard_model.documents import validate

CARRIERS = ("carrier_01", "carrier_02")


def log(world) -> KpiLog:
    return KpiLog(world, CARRIERS, sample_period_s=60.0)


def order(oid: str, event: str, stamp: float, seq: int | None = None) -> dict:
    doc = {"order_id": oid, "event": event, "stamp": stamp}
    if seq is not None:
        doc["seq"] = seq
    return doc


def admitted(oid: str, station: str, other: str, arrived: float, t: float) -> dict:
    return {"event": "admitted", "stamp": t, "station": station, "waiting": 0, "arrived": arrived,
            "wait_s": t - arrived, "bay": "b", "truck_id": "T", "container_id": "C", "order_id": oid,
            "destination_station": other}


def test_orders_count_once_and_lead_time_runs_from_the_first_acceptance(small_world):
    k = log(small_world)
    k.gate_event(admitted("o1", "cn_station", "vn_station", 0.0, 0.0))
    k.order_event(order("o1", "accepted", 10.0, seq=1))
    k.order_event(order("o1", "accepted", 12.0, seq=2))  # re-sent order: answered again
    k.order_event(order("o1", "accepted", 10.0, seq=1))  # the outbox re-sent an event after a restart
    k.order_event(order("o1", "completed", 310.0, seq=3))
    k.order_event(order("o1", "completed", 310.0, seq=3))
    k.order_event(order("o2", "rejected", 20.0))
    k.sample(600.0, {})
    doc = k.kpis("graph")
    validate("day_kpis", doc)
    o = doc["orders"]
    assert (o["issued"], o["accepted"], o["completed"], o["rejected"], o["open_at_end"]) == (1, 1, 1, 1, 0)
    assert doc["lead_time_s"]["mean"] == 300.0 and doc["lead_time_s"]["count"] == 1
    assert doc["containers"]["moved"] == {"cn_station->vn_station": 1}
    assert doc["source"] == "graph"
    assert doc["safety"]["conflicts"] is None  # no checker in the graph: not 0, null


def test_gate_queue_is_integrated_exactly_from_the_events(small_world):
    k = log(small_world)
    k.gate_event({"event": "queued", "stamp": 0.0, "station": "cn_station", "waiting": 1})
    k.gate_event({"event": "queued", "stamp": 100.0, "station": "cn_station", "waiting": 2})
    k.gate_event(admitted("o1", "cn_station", "vn_station", 0.0, 200.0))
    k.sample(400.0, {})
    g = k.kpis()["gate"]
    # one truck 0..200, another 100..400 (still waiting): 200 + 300 truck-seconds over 400 s
    assert g["per_station"]["cn_station"] == {"mean": 1.25, "max": 2, "at_end": 1}
    assert g["truck_wait_s"]["mean"] == 200.0


def test_crossings_energy_and_time_shares_from_the_carriers_truth(small_world):
    k = log(small_world)
    cap = small_world.carrier_type.battery_capacity_kwh
    k.yard_state({"containers": {"C1": {"holder": "carrier", "holder_id": "carrier_01"}}})
    k.sample(0.0, {"carrier_01": CarrierTruth(0.0, 50.0, 0.0, 1.0), "carrier_02": CarrierTruth(0.0, 60.0, 0.0, 1.0)})
    k.sample(100.0, {"carrier_01": CarrierTruth(0.0, -50.0, 5.0, 0.99),
                     "carrier_02": CarrierTruth(0.0, 60.0, 0.0, 1.0)})
    k.sample(200.0, {"carrier_01": CarrierTruth(0.0, -50.0, 0.0, 0.99),
                     "carrier_02": CarrierTruth(0.0, 60.0, 0.0, 1.0)})
    doc = k.kpis()
    assert doc["border_crossings"]["total"] == 1 and doc["border_crossings"]["loaded"] == 1
    assert doc["energy_kwh"]["used"] == pytest.approx(0.01 * cap, abs=0.01)
    assert doc["carrier_utilisation"]["moving"] == 0.25  # one of two carriers, 100 of 200 s


def test_safety_counts_the_simulators_events(small_world):
    k = log(small_world)
    k.sim_event({"event": "collision", "stamp": 1.0, "seq": 1})
    k.sim_event({"event": "crane_limit_violation", "stamp": 2.0, "seq": 2})
    k.sim_event({"event": "truck_arrived", "stamp": 3.0, "seq": 3, "container_id": "C"})
    k.sim_event({"event": "truck_departed", "stamp": 4.0, "seq": 4, "container_id": "C"})
    k.sim_event({"event": "truck_departed", "stamp": 5.0, "seq": 5, "container_id": None})
    k.sample(10.0, {})
    doc = k.kpis()
    assert doc["safety"]["collisions"] == 1 and doc["safety"]["crane_limit_violations"] == 1
    assert (doc["containers"]["arrived_by_truck"], doc["containers"]["departed_by_truck"]) == (1, 1)


def test_fleet_state_gives_tasks_held_bays_and_order_directions(small_world):
    doc = {"carriers": {"carrier_01": {"task": "to_origin", "held": ["place:cn_bay_a1", "lane:x"], "goal": "vn_bay_a1"},
                        "carrier_02": {"task": "idle", "held": [], "goal": None}},
           "orders": {"o9": {"origin_truck_bay": "vn_truck_11", "destination_station": "cn_station"}},
           "stats": {"open": 1}}
    s = fleet_sample_of(doc, small_world)
    assert s.tasks == {"carrier_01": "to_origin", "carrier_02": "idle"}
    assert s.held_places == {"cn_bay_a1"} and s.goals == {"vn_bay_a1"}
    assert s.directions == {"o9": ("vn_station", "cn_station")}
    k = log(small_world)
    k.fleet_state(doc)
    assert k.bay_states() == {"free": 1, "approached": 1, "occupied": 1}


def test_a_sample_period_must_be_positive(small_world):
    with pytest.raises(ValueError):
        KpiLog(small_world, CARRIERS, sample_period_s=0.0)
