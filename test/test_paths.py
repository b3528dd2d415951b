"""Share files are found in every install layout: editable (source tree), pip prefix, ament index."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from yard_model import resources as paths
from yard_model.resources import ShareNotFoundError, config_path, find_share_dir, launch_path, world_path

REPO = Path(__file__).resolve().parents[1]
COPY_IGNORE = shutil.ignore_patterns(".venv", ".git", "build", "install", "log", "*.egg-info", "__pycache__",
                                     ".pytest_cache", ".ruff_cache", ".hypothesis", "out")

PROBE = """
import json, os, sys
import yard_model
from yard_model import resources as paths
share, how = paths.find_share_dir()
out = {"module": yard_model.__file__, "share": str(share), "how": how,
       "world": str(paths.world_path("small_yard")), "launch": str(paths.launch_path("yard_sim"))}
if os.environ.get("AMENT_PREFIX_PATH"):
    from ament_index_python.packages import get_package_share_directory
    out["ament"] = get_package_share_directory("yard_autonomy")
print(json.dumps(out))
"""


@pytest.fixture(scope="session")
def pip_prefix(tmp_path_factory) -> Path:
    """A real, normal (non-editable) `pip install --prefix` of a copy of this checkout."""
    root = tmp_path_factory.mktemp("pip_install")
    src = root / "src"
    shutil.copytree(REPO, src, ignore=COPY_IGNORE)
    prefix = root / "prefix"
    # --ignore-installed: without it pip uninstalls the venv's own (editable) yard_autonomy first.
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--ignore-installed", "--no-deps",
                    "--no-build-isolation", "--no-compile", "--prefix", str(prefix), str(src)],
                   check=True, capture_output=True, timeout=120)
    return prefix


def _site_packages(prefix: Path) -> Path:
    return Path(sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)}))


def _probe(prefix: Path, cwd: Path, ament: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "AMENT_PREFIX_PATH"}
    env["PYTHONPATH"] = str(_site_packages(prefix))
    if ament:
        env["AMENT_PREFIX_PATH"] = str(prefix)
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_editable_install_finds_the_source_tree():
    share, how = find_share_dir()
    assert share == REPO and how == "source tree"
    assert world_path("youyiguan") == REPO / "sim_worlds" / "youyiguan.yaml"
    assert launch_path("yard_sim") == REPO / "launch" / "yard_sim.launch.py"
    assert launch_path("carrier.launch.py") == REPO / "launch" / "carrier.launch.py"


def test_normal_install_installs_every_share_file(pip_prefix):
    share = pip_prefix / "share" / "yard_autonomy"
    assert (pip_prefix / "share" / "ament_index" / "resource_index" / "packages" / "yard_autonomy").is_file()
    for folder in ("launch", "config", "sim_worlds"):
        src = sorted(p.name for p in (REPO / folder).glob("*") if p.suffix in (".py", ".yaml", ".sdf"))
        dst = sorted(p.name for p in (share / folder).glob("*") if p.suffix in (".py", ".yaml", ".sdf"))
        assert dst == src, folder


@pytest.mark.parametrize("ament", [False, True], ids=["without-AMENT_PREFIX_PATH", "with-AMENT_PREFIX_PATH"])
def test_normal_install_finds_its_own_share_dir(pip_prefix, tmp_path, ament):
    got = _probe(pip_prefix, tmp_path, ament)
    share = pip_prefix / "share" / "yard_autonomy"
    assert Path(got["module"]).is_relative_to(pip_prefix), "the probe must import the installed copy"
    assert got["share"] == str(share)
    assert got["how"] == "install prefix"
    assert got["world"] == str(share / "sim_worlds" / "small_yard.yaml")
    assert got["launch"] == str(share / "launch" / "yard_sim.launch.py")
    if ament:  # and ROS's own lookup agrees
        assert got["ament"] == str(share)


def test_ament_index_alone_is_enough(pip_prefix, tmp_path):
    share, how = find_share_dir(module_dir=tmp_path / "elsewhere" / "yard_model",
                                env={"AMENT_PREFIX_PATH": os.pathsep.join(["/nonexistent", str(pip_prefix)])})
    assert (share, how) == (pip_prefix / "share" / "yard_autonomy", "ament index (AMENT_PREFIX_PATH)")


def test_missing_share_dir_lists_every_place_tried(tmp_path, monkeypatch):
    module_dir = tmp_path / "site-packages" / "yard_model"
    monkeypatch.setattr(paths.sys, "prefix", str(tmp_path / "p1"))
    monkeypatch.setattr(paths.sys, "base_prefix", str(tmp_path / "p2"))
    monkeypatch.setattr(paths.site, "getuserbase", lambda: str(tmp_path / "p3"))
    with pytest.raises(ShareNotFoundError) as err:
        find_share_dir(module_dir=module_dir, env={})
    msg = str(err.value)
    for where in (tmp_path / "site-packages", tmp_path / "share" / "yard_autonomy",
                  tmp_path / "p1" / "share" / "yard_autonomy", tmp_path / "p3" / "share" / "yard_autonomy"):
        assert str(where) in msg
    assert "AMENT_PREFIX_PATH is not set" in msg


def test_a_folder_with_another_packages_manifest_is_not_ours(tmp_path):
    (tmp_path / "yard_model").mkdir()
    (tmp_path / "package.xml").write_text("<package><name>other_pkg</name></package>")
    with pytest.raises(ShareNotFoundError):
        find_share_dir(module_dir=tmp_path / "yard_model", env={})


def test_world_path_accepts_names_and_paths_and_explains_misses(tmp_path):
    assert world_path("small_yard.yaml") == REPO / "sim_worlds" / "small_yard.yaml"
    mine = tmp_path / "mine.yaml"
    mine.write_text("name: x\n")
    assert world_path(mine) == mine.resolve()
    with pytest.raises(ShareNotFoundError, match="available: small_yard.yaml, youyiguan.yaml"):
        world_path("atlantis")
    with pytest.raises(ShareNotFoundError, match="does not exist"):
        world_path(tmp_path / "missing.yaml")
    with pytest.raises(ShareNotFoundError, match="not a world file suffix"):
        world_path("world.txt")
    with pytest.raises(ShareNotFoundError, match="no parameter file 'nonexistent_node'"):
        config_path("nonexistent_node")
    assert paths.available_worlds() == ["small_yard", "youyiguan", "youyiguan_single_track"]
