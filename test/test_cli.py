"""The `yard-autonomy` command: help texts, check-world, graph, gen-sdf wiring, sim supervision."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest
import yaml

import yard_model
from yard_bringup import cli, graph
from yard_bringup.graph import Subsystem

REPO = Path(__file__).resolve().parents[1]
HELPERS = Path(__file__).resolve().parent / "helpers"
SUBCOMMANDS = ("sim", "check-world", "gen-sdf", "graph", "day", "capacity")


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def subparser(name: str):
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return sub.choices[name]


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_help_explains_every_option(capsys, name):
    with pytest.raises(SystemExit) as done:
        cli.main([name, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for action in subparser(name)._actions:
        assert action.help and len(action.help) > 15, f"{name} {action.dest} has no real help"
        for opt in action.option_strings:
            assert opt in text
        if not action.option_strings:
            assert action.metavar in text
    assert "DDS stays on this host" in text if name == "sim" else True


def test_top_level_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    assert all(name in text for name in SUBCOMMANDS)
    assert cli.main([]) == 2


def test_check_world_summarises_youyiguan(capsys):
    code, out = run_cli(capsys, "check-world", "youyiguan", "--json")
    assert code == 0
    s = json.loads(out)
    assert s["utm_zone"] == "48N" and s["utm_epsg"] == 32648
    assert {k: (v["truck_bays"] >= 6, v["carrier_bays"] >= 4, v["cranes"] >= 2) for k, v in s["stations"].items()} == {
        "cn_station": (True, True, True), "vn_station": (True, True, True)}
    (link,) = s["station_links"]
    assert link["length_m"] >= 1000.0
    code, out = run_cli(capsys, "check-world", str(REPO / "sim_worlds" / "small_yard.yaml"))
    assert code == 0 and "OK" in out and "48N" in out and "link" in out


def test_check_world_names_the_bad_key_and_exits_1(capsys, tmp_path):
    doc = yaml.safe_load((REPO / "sim_worlds" / "small_yard.yaml").read_text())
    doc["carrier_type"]["wheelbase_m"] = -3.0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    code, out = run_cli(capsys, "check-world", str(bad))
    assert code == 1
    assert "wheelbase_m" in out and "error" in out and "Traceback" not in out
    code, out = run_cli(capsys, "check-world", "atlantis")
    assert code == 1 and "available: small_yard.yaml, youyiguan.yaml, youyiguan_single_track.yaml" in \
        " ".join(out.split())


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "yard-autonomy"
    out = subprocess.run([str(exe), "check-world", "small_yard"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "small_yard" in out.stdout


def test_graph_json_is_the_graph_description(capsys):
    code, out = run_cli(capsys, "graph", "--world", "small_yard", "--carriers", "2", "--rtf", "0", "--json")
    assert code == 0
    got = json.loads(out)
    want = [s.to_dict() for s in graph.build_graph("small_yard", 2, rtf=0.0)]
    assert got == json.loads(json.dumps(want, default=str))
    code, out = run_cli(capsys, "graph", "--world", "small_yard")
    assert code == 0 and "yard_sim" in out


def test_bad_options_are_refused_before_anything_starts(capsys):
    for argv in (["sim", "--rtf", "-1"], ["sim", "--carriers", "100"], ["sim", "--duration", "0"],
                 ["sim", "--domain-id", "300"], ["graph", "--carriers", "two"]):
        with pytest.raises(SystemExit) as done:
            cli.main(argv)
        assert done.value.code == 2, argv
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.main(["day", "--containers-per-day", "0"])
    err = capsys.readouterr().err  # the option's own words, not another option's unit
    assert "--containers-per-day: must be a positive, finite number, got 0" in err and "seconds" not in err
    code, out = run_cli(capsys, "sim", "--world", "atlantis")
    assert code == 1 and "no world 'atlantis'" in out
    for n in ("0", "7"):  # small_yard parks 6: refused before a single process starts, as `day` does
        code, out = run_cli(capsys, "sim", "--world", "small_yard", "--carriers", n, "--log-dir", "/nonexistent/x")
        assert code == 1 and "must be in 1..6 (parking + charging spots of small_yard)" in out, out
    code, out = run_cli(capsys, "check-world", str(REPO / "sim_worlds"))
    assert code == 1 and "is a folder, not a world file; world files in it: small_yard.yaml" in out


def test_gen_sdf_explains_a_missing_generator(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "yard_model.sdf", None)  # as if the module were not installed
    monkeypatch.delattr(yard_model, "sdf", raising=False)
    code, out = run_cli(capsys, "gen-sdf")
    assert code == 1 and "yard_model.sdf" in out and "Traceback" not in out


def test_gen_sdf_writes_and_checks_every_world(capsys, monkeypatch, tmp_path):
    """The wiring to yard_model.sdf.world_to_sdf / write_sdf, with a stand-in generator."""
    fake = types.ModuleType("yard_model.sdf")
    fake.world_to_sdf = lambda world: f"<sdf version='1.9'><world name='{world.name}'/></sdf>\n"

    def write_sdf(world_path, out_path):
        Path(out_path).write_text(fake.world_to_sdf(yard_model.load_world(world_path)))

    fake.write_sdf = write_sdf
    monkeypatch.setitem(sys.modules, "yard_model.sdf", fake)
    monkeypatch.setattr(yard_model, "sdf", fake, raising=False)
    code, out = run_cli(capsys, "gen-sdf", "--out-dir", str(tmp_path), "--check")
    assert code == 1 and out.count("missing") == 3
    code, out = run_cli(capsys, "gen-sdf", "--out-dir", str(tmp_path))
    assert code == 0 and sorted(p.name for p in tmp_path.iterdir()) == [
        "small_yard.sdf", "youyiguan.sdf", "youyiguan_single_track.sdf"]
    code, out = run_cli(capsys, "gen-sdf", "--out-dir", str(tmp_path), "--check")
    assert code == 0 and out.count("up to date") == 3
    (tmp_path / "youyiguan.sdf").write_text("<sdf/>")
    code, out = run_cli(capsys, "gen-sdf", "youyiguan", "--out-dir", str(tmp_path), "--check")
    assert code == 1 and "out of date" in out


# --------------------------------------------------------------------------- sim with tiny nodes
@pytest.fixture
def tiny_graph(monkeypatch, ros_env):
    """Replace the registry by tiny test nodes: a /clock source and one process per carrier."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HELPERS), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.syspath_prepend(str(HELPERS))  # so the graph sees tiny_node as installed
    reg = {
        "clock": Subsystem(key="clock", scope="yard", executable="tiny", module="tiny_node", required=True,
                           clock_source=True, parameters=lambda _c, _i: {"publish_clock": True}),
        "carrier": Subsystem(key="worker", scope="carrier", executable="tiny", module="tiny_node"),
    }
    monkeypatch.setattr(graph, "SUBSYSTEMS", reg)
    return reg


@pytest.mark.graph
def test_sim_runs_for_a_duration_of_sim_time_and_stops_cleanly(capsys, tiny_graph, tmp_path):
    code, out = run_cli(capsys, "sim", "--world", "small_yard", "--carriers", "2", "--duration", "1.5",
                        "--log-dir", str(tmp_path), "--echo")
    assert code == 0, out
    assert "stopped cleanly (end of --duration)" in out
    assert f"ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']}" in out
    manifest = json.loads((tmp_path / "processes.json").read_text())
    assert [(m["label"], m["state"], m["returncode"]) for m in manifest] == [
        ("clock", "exited", 0), ("carrier_01/worker", "exited", 0), ("carrier_02/worker", "exited", 0),
        ("clock_watch", "exited", 0)]
    assert "[carrier_02/worker] ready /carrier_02/worker" in out
    assert "1.5" in (tmp_path / "clock_watch.log").read_text()


def watch_log(log: Path, text: str, then) -> None:
    """Call ``then()`` from a helper thread once ``log`` contains ``text`` (gives up after 60 s)."""

    def watch() -> None:
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline:
            if log.is_file() and text in log.read_text(errors="replace"):
                then()
                return
            time.sleep(0.05)

    threading.Thread(target=watch, daemon=True).start()


@pytest.mark.graph
def test_sim_names_a_dying_node_and_exits_1(capsys, tiny_graph, tmp_path, monkeypatch):
    reg = dict(graph.SUBSYSTEMS)
    go = tmp_path / "worker_is_up"
    reg["crasher"] = Subsystem(key="crasher", scope="carrier", executable="tiny", module="tiny_node",
                               parameters=lambda _c, inst: {"mode": "crash", "when_file": str(go)})
    watch_log(tmp_path / "carrier_01__worker.log", "ready", go.touch)  # die once the others can take a SIGINT
    monkeypatch.setattr(graph, "SUBSYSTEMS", reg)
    code, out = run_cli(capsys, "sim", "--world", "small_yard", "--carriers", "1", "--log-dir", str(tmp_path))
    assert code == 1
    text = " ".join(out.split())
    assert "FAILED carrier_01/crasher" in text and "died (exit code 3)" in text and "| boom" in text
    states = {m["label"]: m["state"] for m in json.loads((tmp_path / "processes.json").read_text())}
    assert states == {"clock": "exited", "carrier_01/worker": "exited", "carrier_01/crasher": "died"}


def test_gen_sdf_uses_the_world_tools_generator(capsys, tmp_path):
    code, out = run_cli(capsys, "gen-sdf", "small_yard", "--out-dir", str(tmp_path))
    assert code == 0 and "wrote" in out
    assert (tmp_path / "small_yard.sdf").read_bytes() == (REPO / "sim_worlds" / "small_yard.sdf").read_bytes()
    code, out = run_cli(capsys, "gen-sdf", "small_yard", "--check")
    assert code == 0 and "up to date" in out
