"""The demand of a port day against a yard seen through documents (yard_sim.traffic.TrafficDriver)."""

from __future__ import annotations

import pytest

from yard_model.documents import validate
from yard_sim.scenario import ScenarioConfig, TrafficScenario
from yard_sim.traffic import TrafficDriver


def driver(world, per_day=5000.0, seed=0, **cfg) -> TrafficDriver:
    return TrafficDriver(TrafficScenario(world, ScenarioConfig(containers_per_day=per_day, **cfg), seed=seed),
                         order_delay_s=1.0, order_resend_s=10.0)


def state(trucks: dict[str, tuple[str, str | None]], parked: bool = True) -> dict:
    """A yard_state with these trucks ({truck id: (bay, container)})."""
    return {"stamp": 0.0, "containers": {}, "collisions": 0, "carriers": {},
            "trucks": {tid: {"bay": bay, "container_id": c, "state": "parked" if parked else "departing"}
                       for tid, (bay, c) in trucks.items()}}


def first_delivery(drv: TrafficDriver, t_max: float = 600.0):
    """Step until a delivery truck is spawned; (t, spawn command, all outputs so far)."""
    t, outs = 0.0, []
    while t < t_max:
        out = drv.step(t)
        outs.append(out)
        for cmd in out.commands:
            if "container_id" in cmd:
                return t, cmd, outs
        t += 1.0
    raise AssertionError("no delivery truck came")


def test_a_delivery_truck_is_spawned_and_its_order_issued_only_once_it_stands_parked(small_world):
    drv = driver(small_world)
    t, cmd, outs = first_delivery(drv)
    validate("sim_command", cmd)
    assert cmd["command"] == "spawn_truck" and cmd["command_id"] == cmd["truck_id"]
    assert cmd["bay"] in {b for bays in drv.scenario.delivery_bays.values() for b in bays}
    assert not any(o.orders for o in outs)  # not before the yard shows the truck
    assert drv.step(t + 5.0).orders == []
    drv.on_yard_state(state({cmd["truck_id"]: (cmd["bay"], cmd["container_id"])}), t + 6.0)
    assert drv.step(t + 6.5).orders == []  # order_delay_s: the fleet manager hears the same yard_state
    (order,) = drv.step(t + 7.0).orders
    validate("transport_order", order)
    assert order["container_id"] == cmd["container_id"] and order["origin"]["truck_bay"] == cmd["bay"]
    assert drv.orders_sent == 1


def test_an_unanswered_order_is_sent_again_until_an_order_event_names_it(small_world):
    drv = driver(small_world)
    t, cmd, _ = first_delivery(drv)
    drv.on_yard_state(state({cmd["truck_id"]: (cmd["bay"], cmd["container_id"])}), t)
    (order,) = drv.step(t + 1.0).orders
    assert drv.step(t + 5.0).orders == []
    assert drv.step(t + 11.0).orders == [order]  # order_resend_s later, the same document (idempotent)
    drv.on_order_event({"order_id": order["order_id"], "event": "accepted", "stamp": t + 11.5})
    assert drv.step(t + 30.0).orders == []
    assert drv.orders_sent == 1 and drv.status()["orders_unanswered"] == 0


def test_no_order_while_the_fleet_manager_is_not_there(small_world):
    drv = driver(small_world)
    t, cmd, _ = first_delivery(drv)
    drv.on_yard_state(state({cmd["truck_id"]: (cmd["bay"], cmd["container_id"])}), t)
    assert drv.step(t + 5.0, can_order=False).orders == []
    assert len(drv.step(t + 6.0).orders) == 1  # held, not lost


def test_a_truck_without_its_container_gets_no_order(small_world):
    drv = driver(small_world)
    t, cmd, _ = first_delivery(drv)
    drv.on_yard_state(state({cmd["truck_id"]: (cmd["bay"], None)}), t)
    assert drv.step(t + 5.0).orders == []


def test_a_bay_is_taken_from_the_spawn_on_and_freed_by_a_rejected_spawn(small_world):
    drv = driver(small_world)
    t, cmd, _ = first_delivery(drv)
    assert cmd["bay"] not in drv.free_bays()
    drv.on_sim_event({"event": "command_rejected", "command_id": cmd["truck_id"], "reason": "bay taken",
                      "stamp": t, "seq": 1})
    assert cmd["bay"] in drv.free_bays() and drv.spawns_rejected == 1


def test_a_departed_collection_truck_is_replaced_after_the_refill_time(small_world):
    drv = driver(small_world, per_day=0.0, collection_refill_s=120.0)
    first = drv.step(1.0).commands  # empty collection trucks at every collection bay
    bays = {c["bay"] for c in first}
    assert bays == {b for v in drv.scenario.collection_bays.values() for b in v}
    assert all("container_id" not in c for c in first)
    drv.on_yard_state(state({c["truck_id"]: (c["bay"], None) for c in first}), 2.0)
    gone = first[0]
    drv.on_yard_state(state({c["truck_id"]: (c["bay"], None) for c in first[1:]}), 100.0)  # it left
    assert drv.step(100.0).commands == []
    assert drv.step(219.0).commands == []
    (again,) = drv.step(220.0).commands
    assert again["bay"] == gone["bay"] and again["truck_id"] != gone["truck_id"]


def test_same_seed_same_trucks_and_orders_as_the_scenario_of_the_day(small_world):
    """The driver adds nothing random: the trucks and orders it makes are the scenario's, in order."""
    drv = driver(small_world, seed=7)
    ref = TrafficScenario(small_world, ScenarioConfig(containers_per_day=5000.0), seed=7)
    trucks: dict[str, tuple[str, str | None]] = {}
    issued = []
    for t in range(0, 900, 5):
        free, departed = drv.free_bays(), set(drv.departed)
        out = drv.step(float(t))
        arrivals, orders = ref.step(float(t), free, departed)
        assert [(c["truck_id"], c["bay"], c.get("container_id")) for c in out.commands] == \
            [(a.truck_id, a.bay, a.container_id) for a in arrivals]
        issued += [o.document() for o in orders]
        trucks |= {c["truck_id"]: (c["bay"], c.get("container_id")) for c in out.commands}
        if t % 300 == 0 and trucks:  # now and then the oldest truck leaves
            del trucks[min(trucks)]
        drv.on_yard_state(state(trucks), float(t))
    sent = [o for t in range(900, 1000) for o in drv.step(float(t)).orders]
    assert issued and [o["order_id"] for o in sent if o["order_id"] in {i["order_id"] for i in issued}]


def test_gate_events_are_handed_on_and_valid(small_world):
    drv = driver(small_world, per_day=20000.0)
    events = []
    for t in range(0, 300, 5):
        events += drv.step(float(t)).gate_events
    assert {e["event"] for e in events} == {"queued", "admitted"}
    for e in events:
        validate("gate_event", e)


def test_a_bounded_demand_stops_after_max_deliveries_per_station(small_world):
    drv = driver(small_world, per_day=20000.0, max_deliveries=2)
    spawned = []
    for t in range(0, 3600, 5):
        out = drv.step(float(t))
        spawned += [c for c in out.commands if "container_id" in c]
        drv.on_yard_state(state({c["truck_id"]: (c["bay"], c.get("container_id")) for c in out.commands}), float(t))
        drv.on_yard_state(state({}), float(t))  # and leaves at once: its bay is free again
    per_station = {s: sum(1 for c in spawned if c["bay"] in bays) for s, bays in drv.scenario.delivery_bays.items()}
    assert per_station == {"cn_station": 2, "vn_station": 2}


def test_bad_settings_are_refused(small_world):
    sc = TrafficScenario(small_world, ScenarioConfig(), seed=0)
    with pytest.raises(ValueError):
        TrafficDriver(sc, order_delay_s=-1.0)
    with pytest.raises(ValueError):
        TrafficDriver(sc, order_resend_s=0.0)


def test_pre_clearance_files_a_valid_manifest_per_truck_at_the_gate_and_changes_no_arrival(small_world):
    """The manifest leaves when the truck reaches the gate (customs decide while it queues): one per
    delivery truck, before its order, for the container the truck then brings; arrivals as without it."""
    pre, plain = driver(small_world, per_day=20000.0, pre_clearance=True), driver(small_world, per_day=20000.0)
    manifests, queued, spawned = [], [], []
    for t in range(0, 600, 5):
        out, ref = pre.step(float(t)), plain.step(float(t))
        manifests += out.manifests
        queued += [e["stamp"] for e in out.gate_events if e["event"] == "queued"]
        assert [e["stamp"] for e in out.gate_events] == [e["stamp"] for e in ref.gate_events]
        assert ref.manifests == []
        spawned += [c["container_id"] for c in out.commands if "container_id" in c]
    assert len(manifests) == len(queued) > len(spawned) > 0  # some trucks still queue
    for m in manifests:
        validate("customs_manifest", m)
        assert m["origin_side"] != m["destination_side"]
    filed = [m["container_id"] for m in manifests]
    assert len(set(filed)) == len(filed) and sorted(m["issued_at"] for m in manifests) == sorted(queued)
    assert set(spawned) <= set(filed)  # each truck brings the container its manifest named
