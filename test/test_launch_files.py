"""launch/*.launch.py turn the graph description into launch_ros Node actions, 1:1.

`launch` and `launch_ros` exist only on a full ROS 2 install, so this test injects minimal
stand-ins for the few classes the launch files use into sys.modules, imports the launch files
from the share dir, runs their OpaqueFunction with a context of launch configurations and
compares every Node action with the NodeSpec it came from.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from yard_bringup import graph, ros_launch
from yard_bringup.graph import Subsystem, build_graph, with_kpi_collector
from yard_model.resources import ShareNotFoundError, config_path, launch_path


class Action:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class Node(Action):
    pass


class LogInfo(Action):
    pass


class DeclareLaunchArgument(Action):
    pass


class OpaqueFunction(Action):
    pass


class LaunchDescription(Action):
    pass


class LaunchConfiguration:
    def __init__(self, name: str):
        self.name = name

    def perform(self, context) -> str:
        return context.launch_configurations[self.name]


@pytest.fixture
def fake_launch(monkeypatch):
    """Stand-ins for launch, launch.actions, launch.substitutions, launch_ros, launch_ros.actions."""
    mods = {name: types.ModuleType(name) for name in
            ("launch", "launch.actions", "launch.substitutions", "launch_ros", "launch_ros.actions")}
    mods["launch"].LaunchDescription = LaunchDescription
    for cls in (DeclareLaunchArgument, OpaqueFunction, LogInfo):
        setattr(mods["launch.actions"], cls.__name__, cls)
    mods["launch.substitutions"].LaunchConfiguration = LaunchConfiguration
    mods["launch_ros.actions"].Node = Node
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)


def config_file(name: str) -> str:
    """The shipped config file, or a stand-in path for the test-only subsystems' files."""
    try:
        return str(config_path(name))
    except ShareNotFoundError:
        return f"/share/config/{name}"


def run_launch_file(name: str, **arguments: str) -> tuple[list[DeclareLaunchArgument], list[Action]]:
    path = launch_path(name)
    spec = importlib.util.spec_from_file_location(f"launch_file_{path.stem.replace('.', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    (entities,) = description.args
    declared = [e for e in entities if isinstance(e, DeclareLaunchArgument)]
    (opaque,) = [e for e in entities if isinstance(e, OpaqueFunction)]
    configs = {d.args[0]: d.kwargs["default_value"] for d in declared}
    unknown = set(arguments) - set(configs)
    assert not unknown, f"launch file does not declare {unknown}"
    configs.update(arguments)
    context = types.SimpleNamespace(launch_configurations=configs)
    return declared, opaque.kwargs["function"](context)


def expected_node_kwargs(spec: graph.NodeSpec, extra: list[str]) -> dict:
    params = [config_file(f) for f in spec.params_files]
    if spec.parameters:
        params.append(spec.parameters)
    return {"package": "yard_autonomy", "executable": spec.executable,
            "name": None if spec.hosts else spec.name, "namespace": spec.namespace or None,
            "parameters": params + extra, "remappings": list(spec.remappings), "respawn": spec.respawn,
            "output": "screen"}


TEST_SUBSYSTEMS = ("loc_test", "carrier_pair", "crane_test")


def _shipped_per_scope() -> dict[str, int]:
    """Active shipped (non-test) subsystems per scope, so packages can join the graph without editing here."""
    out = {"yard": 0, "carrier": 0, "crane": 0}
    ctx = graph.graph_context("small_yard", 1)  # no demand: subsystems enabled only by one (traffic) stay out
    for sub in graph.SUBSYSTEMS.values():
        if sub.key not in TEST_SUBSYSTEMS and graph.module_available(sub.module) and \
                (sub.enabled is None or sub.enabled(ctx)):
            out[sub.scope] += 1
    return out


@pytest.fixture
def extended_registry(monkeypatch):
    """The shipped registry plus test subsystems in every scope (modules that exist)."""
    reg = dict(graph.SUBSYSTEMS)
    reg["loc_test"] = Subsystem(key="loc_test", scope="carrier", executable="loc_test", module="yard_bringup.graph",
                                config=("loc_test.yaml",), remappings=(("a", "b"),))
    reg["carrier_pair"] = Subsystem(key="carrier_pair", scope="carrier", executable="pair",
                                    module="yard_model.resources", hosts=("one", "two"))
    reg["crane_test"] = Subsystem(key="crane_test", scope="crane", executable="crane_test",
                                  module="yard_bringup.graph", respawn=True)
    monkeypatch.setattr(graph, "SUBSYSTEMS", reg)
    monkeypatch.setattr(ros_launch, "config_path", config_file)  # the shipped files stay real
    return reg


def test_sim_launch_file_declares_every_argument_with_a_description(fake_launch):
    declared, _ = run_launch_file("yard_sim", world="small_yard")
    assert {d.args[0] for d in declared} == {"world", "carriers", "rtf", "seed", "use_sim_time", "params_file",
                                               "record", "containers_per_day", "customs", "pre_clearance", "kpi_out",
                                               "kpi_duration"}
    assert all(d.kwargs["description"] for d in declared)


@pytest.mark.usefixtures("fake_launch", "extended_registry")
def test_sim_launch_nodes_match_the_graph_one_to_one(tmp_path):
    extra = tmp_path / "override.yaml"
    _, actions = run_launch_file("yard_sim", world="small_yard", carriers="3", rtf="0", seed="7",
                                 params_file=str(extra))
    specs = build_graph("small_yard", 3, rtf=0.0, seed=7)
    shipped = _shipped_per_scope()  # packages that joined the graph (path_follower, ...)
    # yard scope (simulator, fleet manager), 3 carriers x (2 test + shipped), 3 cranes x (1 test + shipped)
    assert len(specs) == len(actions) == shipped["yard"] + 3 * (2 + shipped["carrier"]) + 3 * (1 + shipped["crane"])
    assert all(isinstance(a, Node) for a in actions)
    for spec, action in zip(specs, actions):
        assert action.kwargs == expected_node_kwargs(spec, [str(extra)]), spec.label
    sim = actions[0].kwargs
    assert (sim["executable"], sim["parameters"][0]) == ("yard_sim", str(config_path("yard_sim")))
    assert Path(sim["parameters"][0]).is_file()


def test_sim_launch_record_argument_adds_the_recorder_and_nothing_else(fake_launch, tmp_path):
    out = tmp_path / "run.mcap"
    _, plain = run_launch_file("yard_sim", world="small_yard", carriers="1")
    _, recorded = run_launch_file("yard_sim", world="small_yard", carriers="1", record=str(out))
    assert [a.kwargs for a in recorded[:-1]] == [a.kwargs for a in plain]
    rec = recorded[-1].kwargs
    assert (rec["executable"], rec["name"], rec["namespace"]) == ("yard_recorder", "recorder", None)
    assert rec["parameters"] == [{"use_sim_time": True, "output": str(out.resolve())}]
    with pytest.raises(ValueError, match=r"\.mcap"):
        run_launch_file("yard_sim", world="small_yard", carriers="1", record=str(tmp_path / "run.bag"))


def test_sim_launch_port_day_adds_the_demand_node_and_the_kpi_collector(fake_launch, tmp_path):
    _, plain = run_launch_file("yard_sim", world="small_yard", carriers="2", seed="4")
    _, day = run_launch_file("yard_sim", world="small_yard", carriers="2", seed="4", containers_per_day="500",
                             kpi_out=str(tmp_path), kpi_duration="3600")
    specs = with_kpi_collector(build_graph("small_yard", 2, seed=4, containers_per_day=500.0), tmp_path,
                               graph.graph_context("small_yard", 2, seed=4, containers_per_day=500.0), 3600.0,
                               "ros2 launch yard_autonomy yard_sim.launch.py")
    assert [a.kwargs for a in day] == [expected_node_kwargs(s, []) for s in specs]
    added = [a.kwargs["executable"] for a in day if a.kwargs not in [p.kwargs for p in plain]]
    assert added == ["yard_traffic", "yard_kpis"]
    traffic = next(a.kwargs for a in day if a.kwargs["executable"] == "yard_traffic")
    assert traffic["parameters"][-1]["containers_per_day"] == 500.0 and traffic["parameters"][-1]["seed"] == 4
    assert traffic["parameters"][-1]["wait_for_observers"] == 1  # the day starts once the collector listens
    kpis = day[-1].kwargs["parameters"][-1]
    assert (kpis["output_dir"], kpis["duration_s"]) == (str(tmp_path.resolve()), 3600.0)


def test_sim_launch_customs_adds_the_customs_simulator_and_gates_the_fleet_manager(fake_launch):
    _, plain = run_launch_file("yard_sim", world="small_yard", carriers="1")
    _, gated = run_launch_file("yard_sim", world="small_yard", carriers="1", seed="3", customs="true")
    assert [a.kwargs for a in gated] == [expected_node_kwargs(s, []) for s in build_graph("small_yard", 1, seed=3,
                                                                                          customs=True)]
    assert [a.kwargs["executable"] for a in gated if a.kwargs["executable"] not in
            [p.kwargs["executable"] for p in plain]] == ["customs_sim"]
    customs = next(a.kwargs for a in gated if a.kwargs["executable"] == "customs_sim")
    assert customs["parameters"][-1]["seed"] == 3
    fm = next(a.kwargs for a in gated if a.kwargs["executable"] == "fleet_manager")
    assert fm["parameters"][-1]["clearance_required"] is True
    plain_fm = next(a.kwargs for a in plain if a.kwargs["executable"] == "fleet_manager")
    assert plain_fm["parameters"][-1]["clearance_required"] is False


@pytest.mark.usefixtures("fake_launch", "extended_registry")
def test_carrier_launch_starts_one_carriers_nodes_and_no_simulator():
    _, actions = run_launch_file("carrier", carrier_id="carrier_05", world="small_yard")
    specs = build_graph("small_yard", ["carrier_05"], use_sim_time=False, scopes=("carrier",))
    labels = [s.label for s in specs]
    assert labels[-2:] == ["carrier_05/loc_test", "carrier_05/carrier_pair"]
    assert len(labels) == 2 + _shipped_per_scope()["carrier"]
    assert [a.kwargs for a in actions] == [expected_node_kwargs(s, []) for s in specs]
    assert actions[-1].kwargs["name"] is None  # a process hosting two nodes keeps their own names


def test_carrier_launch_without_carrier_subsystems_says_so(fake_launch, monkeypatch):
    monkeypatch.setattr(graph, "SUBSYSTEMS", {k: s for k, s in graph.SUBSYSTEMS.items() if s.scope != "carrier"})
    _, actions = run_launch_file("carrier", carrier_id="carrier_02")
    (info,) = actions
    assert isinstance(info, LogInfo) and "carrier_02" in info.kwargs["msg"]


def test_bad_launch_arguments_fail_with_the_argument_name(fake_launch):
    with pytest.raises(ValueError, match="carriers:=three is not an integer"):
        run_launch_file("yard_sim", carriers="three")
    with pytest.raises(ValueError, match="use_sim_time:=maybe is not a boolean"):
        run_launch_file("yard_sim", use_sim_time="maybe")


def test_sim_launch_pre_clearance_has_the_demand_node_file_manifests_at_the_gate(fake_launch):
    """Pre-clearance: the demand node files the manifests and the customs simulator stops taking one from
    each order (else each container would get two manifests, and two decisions per side)."""
    _, pre = run_launch_file("yard_sim", world="small_yard", carriers="1", containers_per_day="500", customs="true",
                             pre_clearance="true")
    assert [a.kwargs for a in pre] == [expected_node_kwargs(s, []) for s in build_graph(
        "small_yard", 1, containers_per_day=500.0, customs=True, pre_clearance=True)]
    params = {a.kwargs["executable"]: a.kwargs["parameters"][-1] for a in pre}
    assert params["yard_traffic"]["pre_clearance"] is True
    assert params["customs_sim"]["manifests_from_orders"] is False
    _, gated = run_launch_file("yard_sim", world="small_yard", carriers="1", containers_per_day="500", customs="true")
    params = {a.kwargs["executable"]: a.kwargs["parameters"][-1] for a in gated}
    assert params["yard_traffic"]["pre_clearance"] is False and params["customs_sim"]["manifests_from_orders"] is True
    with pytest.raises(ValueError, match="pre-clearance needs"):
        build_graph("small_yard", 1, containers_per_day=500.0, pre_clearance=True)
