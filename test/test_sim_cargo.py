"""Containers and external trucks: spawn/remove, rejections with reasons, departures, riding, support."""

from __future__ import annotations

import math

import pytest

from yard_sim.cargo import Cargo, CargoConfig, CargoError
from yard_sim.collisions import Box

DT = 0.01


def run(cargo: Cargo, t0: float, seconds: float) -> tuple[float, list[dict]]:
    events, t = [], t0
    for _ in range(int(round(seconds / DT))):
        t += DT
        events += cargo.update(t, DT)
    return t, events


@pytest.fixture
def cargo(small_world) -> Cargo:
    c = Cargo(small_world, CargoConfig(truck_depart_delay_s=5.0, truck_departure_s=3.0))
    bay = small_world.bays["cn_bay_a1"].pose
    c.set_carrier("carrier_01", bay.x, bay.y, bay.yaw)
    c.set_carrier("carrier_02", 100.0, 100.0, 0.0)
    return c


def test_truck_with_a_container_arrives_at_its_bay(cargo, small_world):
    events = cargo.spawn_truck(0.0, "T1", "cn_truck_11", "C1", mass_kg=25000.0)
    assert events == [{"event": "truck_arrived", "truck_id": "T1", "bay": "cn_truck_11", "container_id": "C1"}]
    bay = small_world.bays["cn_truck_11"].pose
    c = cargo.containers["C1"]
    assert (c.x, c.y, c.z, c.yaw) == pytest.approx((bay.x, bay.y, small_world.truck_type.bed_height_m, bay.yaw))
    assert cargo.holder("C1") == ("truck", "T1") and cargo.container_bay("C1") == "cn_truck_11"
    assert c.mass_kg == 25000.0


@pytest.mark.parametrize("call, why", [
    (lambda c: c.spawn_truck(0.0, "T1", "cn_truck_11"), "already exists"),
    (lambda c: c.spawn_truck(0.0, "T2", "cn_truck_11"), "occupied by truck 'T1'"),
    (lambda c: c.spawn_truck(0.0, "T2", "cn_bay_a1"), "not a truck bay"),
    (lambda c: c.spawn_truck(0.0, "T2", "nowhere"), "not a truck bay"),
    (lambda c: c.spawn_truck(0.0, "T2", "cn_truck_12", "C1"), "container 'C1' already exists"),
    (lambda c: c.spawn_truck(0.0, "T2", "cn_truck_12", "C2", mass_kg=99999.0), "outside"),
    (lambda c: c.spawn_truck(0.0, "T2", "cn_truck_12", depart_after_s=math.nan), "not a time"),
    (lambda c: c.remove_truck("T9"), "unknown truck 'T9'"),
    (lambda c: c.depart_truck(0.0, "T9"), "unknown truck 'T9'"),
    (lambda c: c.spawn_container("C2", carrier_id="carrier_09"), "unknown carrier"),
    (lambda c: c.spawn_container("C2", truck_id="T1"), "already carries 'C1'"),
    (lambda c: c.spawn_container("C2"), "exactly one"),
    (lambda c: c.spawn_container("C2", pose=(math.inf, 0.0, 0.0)), "finite"),
    (lambda c: c.spawn_container("", pose=(0.0, 0.0, 0.0)), "must not be empty"),
    (lambda c: c.remove_container("C9"), "unknown container 'C9'"),
])
def test_impossible_requests_are_rejected_with_a_reason_and_change_nothing(cargo, call, why):
    cargo.spawn_truck(0.0, "T1", "cn_truck_11", "C1")
    before = (dict(cargo.trucks), dict(cargo.containers), cargo.version)
    with pytest.raises(CargoError, match=why):
        call(cargo)
    assert (dict(cargo.trucks), dict(cargo.containers), cargo.version) == before


def test_container_on_a_carrier_rides_with_it(cargo, small_world):
    cargo.spawn_container("C1", carrier_id="carrier_01")
    assert cargo.deck == {"carrier_01": "C1"}
    with pytest.raises(CargoError, match="already carries"):
        cargo.spawn_container("C2", carrier_id="carrier_01")
    cargo.set_carrier("carrier_01", 5.0, 6.0, 0.3)
    cargo.update(0.01, DT)
    c = cargo.containers["C1"]
    assert (c.x, c.y, c.z, c.yaw) == pytest.approx((5.0, 6.0, small_world.carrier_type.deck_height_m, 0.3))
    assert cargo.container_bay("C1") is None  # left the bay
    cargo.remove_container("C1")
    assert cargo.deck == {} and "C1" not in cargo.containers


def test_truck_departs_after_its_load_changed_and_leaves_with_it(cargo):
    cargo.spawn_truck(0.0, "T1", "cn_truck_11")
    t, events = run(cargo, 0.0, 20.0)
    assert events == []  # an empty truck waits for its load
    truck = cargo.trucks["T1"]
    cargo.spawn_container("C1", pose=(truck.x + 0.05, truck.y, truck.yaw + math.pi))  # ends swapped: fine
    support = cargo.support_below(cargo.truck_box(truck), 5.0, exclude="C1")
    assert (support.kind, support.id) == ("truck", "T1")
    placement = cargo.place(t, "C1", support)
    assert not placement.misplaced
    assert placement.offset == pytest.approx((0.0, -0.05, 0.0), abs=1e-9)
    y0 = cargo.trucks["T1"].y
    t, events = run(cargo, t, 5.0 + 1.0)
    assert [e["event"] for e in events] == ["truck_departing"]
    assert cargo.trucks["T1"].state == "departing" and cargo.trucks["T1"].y > y0  # drives off north
    t, events = run(cargo, t, 3.0)
    assert [e["event"] for e in events] == ["truck_departed"]
    assert events[0]["container_id"] == "C1"
    assert cargo.trucks == {} and cargo.containers == {}


def test_auto_departure_can_be_switched_off(small_world):
    cargo = Cargo(small_world, CargoConfig(truck_auto_depart=False))
    cargo.spawn_truck(0.0, "T1", "cn_truck_11")
    cargo.spawn_truck(0.0, "T2", "cn_truck_12", depart_after_s=1.0)  # per-truck override
    for tid in ("T1", "T2"):
        truck = cargo.trucks[tid]
        cargo.spawn_container(f"C{tid}", pose=(truck.x, truck.y, truck.yaw))
        cargo.place(0.0, f"C{tid}", cargo.support_below(cargo.truck_box(truck), 5.0, exclude=f"C{tid}"))
    _, events = run(cargo, 0.0, 60.0)
    assert [(e["event"], e["truck_id"]) for e in events] == [("truck_departing", "T2"), ("truck_departed", "T2")]
    assert cargo.trucks["T1"].state == "parked"


def test_support_is_the_highest_surface_not_above_the_load(cargo, small_world):
    cargo.spawn_truck(0.0, "T1", "cn_truck_11", "C1")
    bay = small_world.bays["cn_truck_11"].pose
    ct = small_world.container_type
    probe = Box(bay.x, bay.y, bay.yaw, ct.length_m, ct.width_m)
    top = small_world.truck_type.bed_height_m + ct.height_m
    s = cargo.support_below(probe, 10.0)
    assert (s.kind, s.id, s.top_z) == ("container", "C1", pytest.approx(top))
    # A load that is already below the container's top does not land on it: the container is an obstacle.
    s = cargo.support_below(probe, top - 1.0)
    assert (s.kind, s.id) == ("truck", "T1")
    s = cargo.support_below(Box(bay.x + 40.0, bay.y, 0.0, ct.length_m, ct.width_m), 10.0)
    assert (s.kind, s.top_z) == ("ground", 0.0)
    # Excluding the carried container.
    assert cargo.support_below(probe, 10.0, exclude="C1").kind == "truck"


def test_container_stacked_on_another_keeps_the_holder_below(cargo, small_world):
    cargo.spawn_container("C1", carrier_id="carrier_01")
    x, y, yaw = cargo.carriers["carrier_01"]
    cargo.spawn_container("C2", pose=(x, y, yaw))
    ct = small_world.container_type
    s = cargo.support_below(Box(x, y, yaw, ct.length_m, ct.width_m), 10.0, exclude="C2")
    assert (s.kind, s.id) == ("container", "C1")
    cargo.place(0.0, "C2", s)
    assert cargo.holder("C2") == ("carrier", "carrier_01")
    assert cargo.containers["C2"].z == pytest.approx(small_world.carrier_type.deck_height_m + ct.height_m)
    with pytest.raises(CargoError, match="stands on 'C1'"):
        cargo.remove_container("C1")
