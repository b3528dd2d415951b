"""Gazebo SDF worlds: well-formed SDFormat >= 1.9, datum-matched spherical coordinates, expected models, fresh."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from yard_model import load_world
from yard_model.sdf import main, stale_sdfs, world_to_sdf

WORLDS = Path(__file__).resolve().parents[1] / "sim_worlds"
NAMES = ["small_yard", "youyiguan"]


@pytest.fixture(scope="module", params=NAMES)
def committed(request):
    """(world, parsed committed SDF root, committed text) for each world in sim_worlds/."""
    world = load_world(WORLDS / f"{request.param}.yaml")
    text = (WORLDS / f"{request.param}.sdf").read_text(encoding="utf-8")
    return world, ET.fromstring(text), text


def models(root: ET.Element) -> dict[str, ET.Element]:
    return {m.get("name"): m for m in root.find("world").findall("model")}


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split()]


def test_every_world_has_a_committed_sdf():
    assert sorted(p.stem for p in WORLDS.glob("*.sdf")) == sorted(p.stem for p in WORLDS.glob("*.yaml"))


def test_sdf_version_and_world(committed):
    world, root, _ = committed
    assert root.tag == "sdf"
    major, minor = (int(v) for v in root.get("version").split("."))
    assert (major, minor) >= (1, 9)
    worlds = root.findall("world")
    assert len(worlds) == 1 and worlds[0].get("name") == world.name


def test_spherical_coordinates_equal_the_datum(committed):
    world, root, _ = committed
    sph = root.find("world/spherical_coordinates")
    assert sph.findtext("surface_model") == "EARTH_WGS84"
    assert sph.findtext("world_frame_orientation") == "ENU"
    assert float(sph.findtext("latitude_deg")) == pytest.approx(world.datum.latitude_deg, abs=1e-9)
    assert float(sph.findtext("longitude_deg")) == pytest.approx(world.datum.longitude_deg, abs=1e-9)
    assert float(sph.findtext("elevation")) == pytest.approx(world.datum.altitude_m, abs=1e-4)
    assert float(sph.findtext("heading_deg")) == 0.0


def test_expected_models(committed):
    world, root, _ = committed
    names = models(root)
    assert len(names) == len(root.find("world").findall("model")), "model names must be unique"
    assert "ground_plane" in names and "border" in names
    for crane_id in world.cranes:
        assert f"crane_{crane_id}" in names
    for bay_id in world.bays:
        assert f"bay_{bay_id}" in names
    for lane_id in world.lanes:
        assert f"lane_{lane_id}" in names
    for spot in world.spots.values():
        prefix = {"charging": "charger", "inspection": "inspection"}.get(spot.kind, "parking")
        assert f"{prefix}_{spot.id}" in names
    for zone in world.gnss_zones:
        assert f"gnss_zone_{zone.id}" in names
    groups = {c.rail_group or c.id for c in world.cranes.values()}
    assert {n for n in names if n.startswith("rails_")} == {f"rails_{g}" for g in groups}
    for model in names.values():
        assert model.findtext("static") == "true"
        assert model.find("link") is not None


def test_ground_plane_has_a_collision(committed):
    _, root, _ = committed
    ground = models(root)["ground_plane"]
    assert ground.find("link/collision/geometry/plane") is not None
    assert ground.find("link/visual/geometry/plane") is not None


def test_crane_portal_stands_at_its_home_position(committed):
    world, root, _ = committed
    for crane in world.cranes.values():
        model = models(root)[f"crane_{crane.id}"]
        x, y, z, roll, pitch, yaw = floats(model.findtext("pose"))
        assert (x, y, z) == pytest.approx((crane.origin.x, crane.origin.y, 0.0), abs=1e-4)
        assert math.cos(yaw - crane.origin.yaw) == pytest.approx(1.0)
        legs = [v for v in model.findall("link/visual") if v.get("name").startswith("leg_")]
        assert len(legs) == 4
        leg_xy = sorted(tuple(floats(v.findtext("pose"))[:2]) for v in legs)
        g, half, span = crane.home_gantry_m, crane.portal.length_m / 2.0, crane.portal.span_m
        expected = sorted([(g - half, 0.0), (g - half, span), (g + half, 0.0), (g + half, span)])
        np.testing.assert_allclose(leg_xy, expected, atol=1e-4)
        assert len(model.findall("link/collision")) == 4  # legs are solid
        names = {v.get("name") for v in model.findall("link/visual")}
        assert {"girder_0", "girder_1", "trolley", "spreader"} <= names


def test_bays_are_flat_pads_at_their_poses(committed):
    world, root, _ = committed
    for bay in world.bays.values():
        model = models(root)[f"bay_{bay.id}"]
        x, y, _, _, _, yaw = floats(model.findtext("pose"))
        assert (x, y) == pytest.approx((bay.pose.x, bay.pose.y), abs=1e-4)
        assert math.cos(yaw - bay.pose.yaw) == pytest.approx(1.0)
        sx, sy, sz = floats(model.findtext("link/visual/geometry/box/size"))
        expected = world.carrier_type if bay.kind == "carrier" else world.truck_type
        assert (sx, sy) == pytest.approx((expected.length_m, expected.width_m)) and sz < 0.05


def test_lanes_have_surface_and_markings(committed):
    world, root, _ = committed
    for lane in world.lanes.values():
        link = models(root)[f"lane_{lane.id}"].find("link")
        visuals = {v.get("name"): v for v in link.findall("visual")}
        assert {"surface", "centre_line", "edge_left", "edge_right"} <= set(visuals)
        points = [floats(p.text) for p in visuals["surface"].findall("geometry/polyline/point")]
        assert len(points) >= 4
        # the surface covers the lane's end nodes
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        for node in (world.nodes[lane.start], world.nodes[lane.end]):
            assert min(xs) - 1e-3 <= node.x <= max(xs) + 1e-3 and min(ys) - 1e-3 <= node.y <= max(ys) + 1e-3
        # two-way single tracks are amber, one-way lanes white
        diffuse = floats(visuals["centre_line"].findtext("material/diffuse"))
        assert (diffuse[2] < 0.5) == lane.two_way


def test_numbers_are_finite_and_compact(committed):
    _, _, text = committed
    assert "nan" not in text.lower().replace("spherical", "") and "inf" not in text.replace("info", "")
    assert "e-0" not in text and "-0 " not in text  # fixed-point, no negative zero


def test_committed_sdf_is_fresh(committed):
    world, _, text = committed
    generated = world_to_sdf(world)
    if text != generated:
        old, new = text.splitlines(), generated.splitlines()
        line = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
        pytest.fail(
            f"sim_worlds/{world.name}.sdf is out of date with sim_worlds/{world.name}.yaml "
            f"(first difference at line {line + 1}): run `yard-autonomy gen-sdf` "
            "(or `python -m yard_model.sdf --all`) and commit the result"
        )


# ------------------------------------------------------------------ CLI and staleness check
def test_cli_writes_one_world(tmp_path, capsys):
    """The committed SDF was made in another process: equal bytes also show the output is deterministic."""
    assert main([str(WORLDS / "small_yard.yaml"), "-o", str(tmp_path / "b.sdf")]) == 0
    assert (tmp_path / "b.sdf").read_text() == (WORLDS / "small_yard.sdf").read_text()
    assert capsys.readouterr().out.strip() == str(tmp_path / "b.sdf")


def test_check_and_all_on_a_worlds_folder(tmp_path, capsys):
    (tmp_path / "small_yard.yaml").write_text((WORLDS / "small_yard.yaml").read_text())
    assert stale_sdfs(tmp_path) == [tmp_path / "small_yard.yaml"]  # no SDF yet
    assert main(["--check", "--worlds-dir", str(tmp_path)]) == 1
    assert "run `yard-autonomy gen-sdf`" in capsys.readouterr().err
    assert main(["--all", "--worlds-dir", str(tmp_path)]) == 0
    assert main(["--check", "--worlds-dir", str(tmp_path)]) == 0
    (tmp_path / "small_yard.yaml").write_text((WORLDS / "small_yard.yaml").read_text().replace(
        "{id: cn_truck_11, x: -27.0, y: 190.0", "{id: cn_truck_11, x: -27.0, y: 191.0"))
    assert stale_sdfs(tmp_path) == [tmp_path / "small_yard.yaml"]


def test_cli_reports_a_bad_world_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [\n")
    assert main([str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not valid YAML" in err and "Traceback" not in err
