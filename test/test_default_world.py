"""One name and one shipped default for the world parameter (issue #12): every node calls it ``world``,
and its shipped config/*.yaml, its parameter dataclass, the launch arguments and the command all name
the same world, so nodes started by hand from config/ load the same yard as a bringup."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agv_nav.follower_params import PathFollowerParams
from agv_nav.localization_params import LocalizationParams
from crane_control.params import CraneControllerParams
from cross_border.params import GatewayParams
from fleet_manager.params import FleetManagerParams
from yard_bringup import ros_launch
from yard_bringup.cli import build_parser
from yard_model.params import default_of, param_fields
from yard_model.resources import DEFAULT_WORLD, world_path
from yard_sim.customs_params import CustomsSimParams
from yard_sim.sim_params import SimParams
from yard_sim.traffic_params import TrafficParams

REPO = Path(__file__).resolve().parents[1]
NODES = {"yard_sim.yaml": SimParams, "localization.yaml": LocalizationParams,
         "path_follower.yaml": PathFollowerParams, "crane_controller.yaml": CraneControllerParams,
         "fleet_manager.yaml": FleetManagerParams, "traffic.yaml": TrafficParams,
         "customs_sim.yaml": CustomsSimParams}
NO_YARD = {"cross_border.yaml": GatewayParams}  # the border gateway carries documents; it loads no world


def test_every_shipped_config_file_belongs_to_a_node_checked_here():
    assert set(NODES) | set(NO_YARD) == {p.name for p in (REPO / "config").glob("*.yaml")}
    assert not {f.name for f in param_fields(GatewayParams) if f.name.startswith("world")}


@pytest.mark.parametrize("config", sorted(NODES))
def test_config_and_dataclass_name_the_same_world_under_one_parameter_name(config):
    defaults = {f.name: default_of(f) for f in param_fields(NODES[config])}
    assert "world" in defaults and not {n for n in defaults if n.startswith("world_")}
    shipped = yaml.safe_load((REPO / "config" / config).read_text())["/**"]["ros__parameters"]
    assert not {k for k in shipped if k.startswith("world_")}, "the world parameter is called 'world'"
    assert shipped["world"] == defaults["world"] == DEFAULT_WORLD
    assert world_path(shipped["world"]).is_file()


def test_launch_arguments_and_the_command_default_to_the_same_world():
    assert ros_launch.SIM_ARGUMENTS["world"][0] == DEFAULT_WORLD
    assert ros_launch.CARRIER_ARGUMENTS["world"][0] == DEFAULT_WORLD
    parser = build_parser()
    for command in ("sim", "graph", "day"):
        assert parser.parse_args([command]).world == DEFAULT_WORLD, command
