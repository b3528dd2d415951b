"""The one bay readiness rule (fleet_manager.bay_status), used by the fleet manager and the crane sim loop."""

from __future__ import annotations

from fleet_manager.bay_status import CarrierAtBay, bay_entries
from yard_harness.crane_loop import SimLoop


def test_truck_and_carrier_bays_are_ready_only_when_parked_or_docked_still_and_healthy(small_world):
    trucks = {"T1": {"bay": "cn_truck_11", "state": "parked", "container_id": "C1"},
              "T2": {"bay": "cn_truck_12", "state": "arriving", "container_id": None}}
    carriers = [CarrierAtBay("c1", "cn_bay_a1", True, "C2"), CarrierAtBay("c2", "cn_bay_a2", False),
                CarrierAtBay("c3", "parking_1", True)]  # not a bay: not reported
    bays = bay_entries(small_world, trucks, carriers, approaching={"vn_bay_a1": "c4"})
    assert list(bays) == list(small_world.bays)
    assert bays["cn_truck_11"] == {"kind": "truck", "occupant": "T1", "ready": True, "container_id": "C1"}
    assert bays["cn_truck_12"] == {"kind": "truck", "occupant": "T2", "ready": False, "container_id": None,
                                   "reason": "truck arriving"}
    assert bays["vn_truck_11"] == {"kind": "truck", "occupant": None, "ready": False, "container_id": None,
                                   "reason": "no truck"}
    assert bays["cn_bay_a1"] == {"kind": "carrier", "occupant": "c1", "ready": True, "container_id": "C2"}
    assert bays["cn_bay_a2"] == {"kind": "carrier", "occupant": "c2", "ready": False, "container_id": None,
                                 "reason": "carrier not docked and stationary"}
    assert bays["vn_bay_a1"] == {"kind": "carrier", "occupant": None, "ready": False, "container_id": None,
                                 "reason": "c4 approaching"}
    faulted = bay_entries(small_world, {}, [CarrierAtBay("c1", "cn_bay_a1", True, faulted=True)])
    assert faulted["cn_bay_a1"]["ready"] is False and faulted["cn_bay_a1"]["reason"] == "carrier faulted"
    assert faulted["cn_bay_a2"]["reason"] == "empty"


def test_the_crane_sim_loop_reports_bays_by_the_same_rule(youyiguan_world):
    loop = SimLoop(youyiguan_world, ("cn_crane_1",), carriers=("carrier_01", "carrier_02"))
    loop.command({"command": "spawn_truck", "truck_id": "t1", "bay": "cn_truck_11", "container_id": "X1",
                  "depart_after_s": None})
    loop.dock_carrier("carrier_01", "cn_bay_a1")
    loop.run(1.0)
    bays = loop.bay_status()["bays"]
    truck = loop.engine.cargo.trucks["t1"]
    expected = bay_entries(youyiguan_world, {"t1": {"bay": truck.bay, "state": truck.state, "container_id": "X1"}},
                           [CarrierAtBay("carrier_01", "cn_bay_a1", True)])
    assert bays == expected
    assert bays["cn_bay_a1"]["ready"] and bays["cn_truck_11"]["ready"] == (truck.state == "parked")
    loop.bay_overrides["cn_bay_a1"] = False  # a scenario holds the bay
    assert loop.bay_status()["bays"]["cn_bay_a1"]["ready"] is False
