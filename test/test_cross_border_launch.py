"""launch/border_gateway.launch.py starts one side's gateway with the shipped config and per-side overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_launch_files import Node, fake_launch, run_launch_file  # noqa: F401 (fake_launch is a fixture)

from cross_border.params import GatewayParams
from yard_model.params import build
from yard_model.resources import config_path

pytestmark = pytest.mark.usefixtures("fake_launch")


def test_border_launch_declares_every_argument_with_a_description():
    declared, _ = run_launch_file("border_gateway")
    assert all(d.kwargs["description"] for d in declared)
    assert {"side", "peer_side", "keys_dir", "zenoh_listen", "zenoh_connect"} <= {d.args[0] for d in declared}


def test_border_launch_starts_one_gateway_with_the_sides_keys_and_endpoints(tmp_path):
    _, (action,) = run_launch_file("border_gateway", side="vn", peer_side="CN", keys_dir=str(tmp_path),
                                   zenoh_listen="tcp/127.0.0.1:7451", zenoh_connect="tcp/10.0.0.1:7450, tcp/x:1")
    assert isinstance(action, Node)
    kw = action.kwargs
    assert (kw["package"], kw["executable"], kw["name"]) == ("yard_autonomy", "border_gateway", "border_gateway")
    shipped, overrides = kw["parameters"]
    assert Path(shipped) == config_path("cross_border")
    assert overrides == {"side": "VN", "peer_side": "CN", "zenoh_mode": "peer", "use_sim_time": False,
                         "db_path": "~/.ros/yard_autonomy/border_vn.sqlite",
                         "private_key_file": str(tmp_path / "vn.key"), "peer_public_key_file": str(tmp_path / "cn.pub"),
                         "zenoh_listen": ["tcp/127.0.0.1:7451"], "zenoh_connect": ["tcp/10.0.0.1:7450", "tcp/x:1"]}
    build(GatewayParams, {k: v for k, v in overrides.items() if k != "use_sim_time"})  # values the node accepts


def test_border_launch_without_keys_leaves_them_to_the_config_and_rejects_a_bad_boolean():
    _, (action,) = run_launch_file("border_gateway")
    overrides = action.kwargs["parameters"][1]
    assert "private_key_file" not in overrides and "zenoh_listen" not in overrides
    with pytest.raises(ValueError, match="use_sim_time:=perhaps"):
        run_launch_file("border_gateway", use_sim_time="perhaps")
