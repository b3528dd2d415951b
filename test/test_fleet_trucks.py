"""Which truck a container is unloaded onto: one that came to take a container, never a delivery truck that
was just emptied (it leaves, and a crane holding a container for it would wait for ever)."""

from __future__ import annotations

from fleet_manager.manager import FleetManager, ManagerConfig
from fleet_manager.store import FleetStore


def yard(trucks: dict[str, tuple[str, str | None]]) -> dict:
    return {"stamp": 0.0, "collisions": 0, "carriers": {}, "containers": {},
            "trucks": {tid: {"bay": bay, "container_id": c, "state": "parked"} for tid, (bay, c) in trucks.items()}}


def test_an_emptied_delivery_truck_is_no_unloading_target_a_collection_truck_is(small_world):
    fm = FleetManager(small_world, FleetStore(":memory:"), ManagerConfig(("carrier_01",)), 0.0)
    fm.on_yard_state(yard({"t_delivery": ("cn_truck_11", "CNXU0000017"), "t_collect": ("cn_truck_12", None)}), 0.0)
    assert not fm._truck_free("cn_truck_11") and fm._truck_free("cn_truck_12")
    # the crane lifted the delivery truck's container: the truck stands there empty until it leaves
    fm.on_yard_state(yard({"t_delivery": ("cn_truck_11", None), "t_collect": ("cn_truck_12", None)}), 1.0)
    assert not fm._truck_free("cn_truck_11") and fm._truck_free("cn_truck_12")
    # it left; an empty truck that came to collect takes its bay
    fm.on_yard_state(yard({"t_collect": ("cn_truck_12", None), "t_collect_2": ("cn_truck_11", None)}), 2.0)
    assert fm._truck_free("cn_truck_11") and fm._truck_free("cn_truck_12")
    assert fm._delivery_trucks == set()  # forgotten once gone
