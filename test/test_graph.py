"""The graph description: instances per scope, names, parameters, the subsystem registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from yard_bringup import graph
from yard_bringup.graph import SUBSYSTEMS, Subsystem, build_graph, carrier_ids, module_available

REPO = Path(__file__).resolve().parents[1]


def everything(_module: str) -> bool:
    return True


def fake_registry() -> list[Subsystem]:
    return [
        Subsystem(key="sim", scope="yard", executable="sim", module="m.sim", config=("sim.yaml",),
                  required=True, clock_source=True, parameters=lambda ctx, _i: {"n": len(ctx.carrier_ids)}),
        Subsystem(key="fleet_manager", scope="yard", executable="fleet_manager", module="m.fleet", respawn=True),
        Subsystem(key="localization", scope="carrier", executable="localization", module="m.loc",
                  config=("localization.yaml",), parameters=lambda _ctx, inst: {"vehicle_id": inst}),
        Subsystem(key="path_follower", scope="carrier", executable="path_follower", module="m.follow",
                  remappings=(("odometry", "localization/odometry"),)),
        Subsystem(key="crane_controller", scope="crane", executable="crane_controller", module="m.crane"),
    ]


def test_one_process_per_instance_in_scope_order(small_world):
    specs = build_graph(small_world, 2, rtf=0.0, seed=5, available=everything, subsystems=fake_registry())
    cranes = list(small_world.cranes)
    assert [s.label for s in specs] == [
        "sim", "fleet_manager",
        "carrier_01/localization", "carrier_01/path_follower",
        "carrier_02/localization", "carrier_02/path_follower",
        *[f"{k}/crane_controller" for k in cranes],
    ]
    by = {s.label: s for s in specs}
    assert by["sim"].parameters == {"n": 2}  # the clock source gets no use_sim_time
    assert by["fleet_manager"].parameters == {"use_sim_time": True} and by["fleet_manager"].respawn
    loc = by["carrier_02/localization"]
    assert (loc.namespace, loc.name, loc.params_files) == ("/carrier_02", "localization", ("localization.yaml",))
    assert loc.parameters == {"use_sim_time": True, "vehicle_id": "carrier_02"}
    assert loc.node_names == ("/carrier_02/localization",)
    assert by["carrier_01/path_follower"].remappings == (("odometry", "localization/odometry"),)
    assert by[f"{cranes[0]}/crane_controller"].namespace == f"/{cranes[0]}"
    json.dumps([s.to_dict() for s in specs])  # the `graph --json` output is plain data


def test_missing_optional_modules_leave_the_graph_and_a_missing_required_one_is_an_error(small_world):
    only_sim = build_graph(small_world, 3, available=lambda m: m == "m.sim", subsystems=fake_registry())
    assert [s.label for s in only_sim] == ["sim"]
    with pytest.raises(RuntimeError, match="subsystem 'sim' needs module m.sim"):
        build_graph(small_world, 3, available=lambda m: m != "m.sim", subsystems=fake_registry())


def test_a_vehicle_computer_runs_only_its_own_carrier(small_world):
    specs = build_graph(small_world, ["carrier_07"], use_sim_time=False, scopes=("carrier",),
                        available=lambda m: m != "m.sim", subsystems=fake_registry())
    assert [s.label for s in specs] == ["carrier_07/localization", "carrier_07/path_follower"]
    assert specs[0].parameters == {"use_sim_time": False, "vehicle_id": "carrier_07"}


def test_bad_settings_are_rejected_with_a_reason(small_world):
    with pytest.raises(ValueError, match="0..99"):
        build_graph(small_world, 100)
    with pytest.raises(ValueError, match="real-time factor"):
        build_graph(small_world, 1, rtf=-1.0)
    with pytest.raises(ValueError, match="ROS name tokens"):
        build_graph(small_world, ["Carrier 1"])
    with pytest.raises(ValueError, match="unique"):
        build_graph(small_world, ["carrier_01", "carrier_01"])
    with pytest.raises(ValueError, match="unknown scope"):
        build_graph(small_world, 1, scopes=("vehicle",))
    with pytest.raises(ValueError, match="scope 'fleet'"):
        Subsystem(key="x", scope="fleet", executable="x", module="x")
    twins = [Subsystem(key="a", scope="yard", executable="a", module="a", node_name="same"),
             Subsystem(key="b", scope="yard", executable="b", module="b", node_name="same")]
    with pytest.raises(ValueError, match="share a name: same"):
        build_graph(small_world, 1, available=everything, subsystems=twins)


def test_register_refuses_a_second_subsystem_with_the_same_key(monkeypatch):
    monkeypatch.setattr(graph, "SUBSYSTEMS", dict(SUBSYSTEMS))
    with pytest.raises(ValueError, match="registered twice"):
        graph.register(Subsystem(key="yard_sim", scope="yard", executable="x", module="x"))


def test_the_shipped_graph_starts_the_simulator_with_the_run_settings():
    (sim, *rest) = build_graph("small_yard", 3, rtf=2.0, seed=42)
    assert (sim.label, sim.executable, sim.module, sim.namespace) == ("yard_sim", "yard_sim", "yard_sim.sim_node", "")
    assert sim.params_files == ("yard_sim.yaml",)
    assert sim.parameters == {"world": str(REPO / "sim_worlds" / "small_yard.yaml"), "carriers": 3,
                              "carrier_ids": "carrier_01,carrier_02,carrier_03", "real_time_factor": 2.0, "seed": 42}
    assert all(module_available(s.module) for s in rest)


def test_every_registered_executable_is_a_ros_executable_in_setup_py():
    text = (REPO / "setup.py").read_text()
    for sub in SUBSYSTEMS.values():
        assert f'"{sub.executable}": "{sub.module}:main"' in text, sub.key


def test_carrier_ids_are_zero_padded():
    assert carrier_ids(3) == ("carrier_01", "carrier_02", "carrier_03")
    assert carrier_ids(0) == ()


def test_carrier_and_crane_nodes_respawn_and_the_yard_goes_on_while_it_can(small_world):
    specs = build_graph(small_world, 2, available=everything)
    by_scope = {s.scope: s for s in reversed(specs)}  # the first process of each scope
    assert by_scope["carrier"].respawn and by_scope["crane"].respawn  # the fleet manager's policy
    assert not by_scope["carrier"].essential and by_scope["carrier"].group == "carrier_01"
    assert next(s for s in specs if s.name == "yard_sim").essential
    why_not = graph.viability(small_world, specs)
    assert why_not(set()) is None and why_not({"carrier_01"}) is None
    assert why_not({"carrier_01", "carrier_02"}) == "no carrier left"
    assert why_not({"cn_crane_1"}) is None  # cn_crane_2 still reaches a carrier bay of cn_station
    assert why_not({"cn_crane_1", "cn_crane_2"}) == "no crane left at station cn_station"
    assert why_not({"vn_crane_1"}) == "no crane left at station vn_station"


def test_the_fleet_managers_database_is_in_the_runs_folder(small_world, tmp_path):
    (fm,) = [s for s in build_graph(small_world, 1, available=everything, run_dir=tmp_path)
             if s.name == "fleet_manager"]
    assert fm.parameters["db_path"] == str(tmp_path.resolve() / "fleet_manager.sqlite")
