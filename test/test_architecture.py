"""The package picture, held by the imports (docs/architecture.md, "Packages and import rules").

Every module of every project package is parsed with ``ast`` (imports at any depth, so a
function-local import counts too, and ``importlib.import_module("...")`` with a literal name)
and each import is checked against the rules below. A failure names ``file:line``, what was
imported and the rule it breaks, so the next change cannot bend the picture back unnoticed.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

MODEL = "yard_model"
GLUE = "yard_ros"
HARNESS = "yard_harness"
BRINGUP = "yard_bringup"
SIDE_BY_SIDE = ("agv_nav", "crane_control", "fleet_manager", "yard_sim", "cross_border")
PACKAGES = (MODEL, GLUE, *SIDE_BY_SIDE, HARNESS, BRINGUP)

# ROS-side modules of a side-by-side package: a node, or the translation of its core's types to messages.
ROS_SIDE_SUFFIXES = ("_node", "_msgs")
ROS_ROOTS = {"rclpy", "rcl_interfaces", "builtin_interfaces", "ament_index_python", "launch", "launch_ros",
             "tf2_ros", "rosidl_runtime_py", "rosbag2_py", "message_filters", "rosgraph_msgs"}
ROS_MESSAGE_PACKAGE = re.compile(r"_(msgs|srvs|interfaces)$")

RULES = {
    "side": ("agv_nav, crane_control, fleet_manager, yard_sim and cross_border stand side by side and never "
             "import each other"),
    "side_up": "agv_nav, crane_control, fleet_manager, yard_sim and cross_border never import the harness or bringup",
    "model": "yard_model is the bottom: it imports none of the project's other packages and no ROS",
    "core": ("a core (any module of agv_nav, crane_control, fleet_manager, yard_sim, cross_border except the "
             "*_node.py nodes and *_msgs.py message translation) imports neither ROS nor yard_ros"),
    "glue": "yard_ros imports only yard_model of the project's packages",
    "harness": "yard_harness never imports yard_bringup",
    "bringup": "nothing below bringup imports yard_bringup",
    "unknown": "every top-level package has a place in the picture (add it to PACKAGES and the docs)",
}


@dataclass(frozen=True)
class Import:
    file: Path  # relative to the checked root
    line: int
    module: str  # absolute dotted name


@dataclass(frozen=True)
class Violation:
    imp: Import
    rule: str

    def __str__(self) -> str:
        return f"{self.imp.file}:{self.imp.line}: imports {self.imp.module} — {RULES[self.rule]}"


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(root: Path, path: Path) -> list[Import]:
    """Every import in one file, relative ones resolved, at any depth of the syntax tree."""
    rel = path.relative_to(root)
    name = _module_name(root, path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [Import(rel, node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            out.append(Import(rel, node.lineno, mod))  # the rules look at the top-level package only
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__"):
                out.append(Import(rel, node.lineno, node.args[0].value))
    return out


def top_level_packages(root: Path) -> list[str]:
    return sorted(p.parent.name for p in root.glob("*/__init__.py") if p.parent.name not in ("test", "bench"))


def _is_ros(module: str) -> bool:
    top = module.split(".")[0]
    return top in ROS_ROOTS or bool(ROS_MESSAGE_PACKAGE.search(top))


def check_import(package: str, module_name: str, imp: Import) -> list[str]:
    """The rules one import breaks (keys of RULES)."""
    target = imp.module.split(".")[0]
    if target == package:
        return []
    broken = []
    if package == MODEL and (target in PACKAGES or _is_ros(imp.module)):
        broken.append("model")
    if package in SIDE_BY_SIDE:
        if target in SIDE_BY_SIDE:
            broken.append("side")
        if target in (HARNESS, BRINGUP):
            broken.append("side_up")
        ros_side = module_name.rpartition(".")[2].endswith(ROS_SIDE_SUFFIXES)
        if not ros_side and (target == GLUE or _is_ros(imp.module)):
            broken.append("core")
    if package == GLUE and target in PACKAGES and target != MODEL:
        broken.append("glue")
    if package == HARNESS and target == BRINGUP:
        broken.append("harness")
    if package != BRINGUP and target == BRINGUP and "side_up" not in broken and "harness" not in broken:
        broken.append("bringup")
    return broken


def violations(root: Path) -> list[Violation]:
    """Every broken rule under ``root`` (a checkout), in file order."""
    out: list[Violation] = []
    for package in top_level_packages(root):
        if package not in PACKAGES:
            out.append(Violation(Import(Path(package) / "__init__.py", 1, package), "unknown"))
            continue
        for path in sorted((root / package).rglob("*.py")):
            module_name = _module_name(root, path)
            for imp in imports_of(root, path):
                out += [Violation(imp, rule) for rule in check_import(package, module_name, imp)]
    return list(dict.fromkeys(out))


def test_the_project_keeps_its_package_picture():
    assert set(top_level_packages(REPO)) >= set(PACKAGES), "a package of the picture is missing"
    found = violations(REPO)
    assert not found, "import rules broken:\n" + "\n".join(str(v) for v in found)


# ------------------------------------------------------------------ the checker itself


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir(exist_ok=True)
        (tmp_path / pkg / "__init__.py").write_text("")
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


BAD = [  # (file, text, line of the bad import, rules it breaks)
    ("agv_nav/follower.py", "from fleet_manager.network import YardNetwork\n", 1, {"side"}),
    ("crane_control/motion.py", "import math\nimport yard_sim.engine\n", 2, {"side"}),
    ("fleet_manager/manager.py", "def f():\n    from yard_harness.day import SimulatedDay\n", 2, {"side_up"}),
    ("yard_sim/engine.py", "from yard_bringup.paths import world_path\n", 1, {"side_up"}),
    ("agv_nav/follower_params.py", "from yard_ros.params import spec\n", 1, {"core"}),
    ("yard_sim/sensors.py", "def f():\n    import rclpy\n", 2, {"core"}),
    ("crane_control/model.py", "from sensor_msgs.msg import JointState\n", 1, {"core"}),
    ("fleet_manager/routing.py", "import importlib\nimportlib.import_module('rclpy.node')\n", 2, {"core"}),
    ("yard_model/world.py", "from yard_sim import engine\n", 1, {"model"}),
    ("yard_model/geometry.py", "from geometry_msgs.msg import Quaternion\n", 1, {"model"}),
    ("yard_ros/qos.py", "from agv_nav.follower import Follower\n", 1, {"glue"}),
    ("yard_ros/spin.py", "def f():\n    from yard_bringup import graph\n", 2, {"glue", "bringup"}),
    ("yard_harness/day.py", "class D:\n    def f(self):\n        from yard_bringup.cli import main\n", 3, {"harness"}),
    ("crane_control/sub/deep.py", "from ...yard_sim import cranes\n", 1, {"side"}),
    ("cross_border/exchange.py", "import rclpy\n", 1, {"core"}),
    ("cross_border/link.py", "from fleet_manager.manager import FleetManager\n", 1, {"side"}),
    ("fleet_manager/clearance.py", "from cross_border.exchange import Exchange\n", 1, {"side"}),
]


@pytest.mark.parametrize(("rel", "text", "line", "rules"), BAD, ids=[f"{b[0]}:{b[2]}" for b in BAD])
def test_the_checker_names_file_line_and_rule_of_a_bad_import(tmp_path, rel, text, line, rules):
    found = violations(_tree(tmp_path, {rel: text}))
    assert {v.rule for v in found} == rules, [str(v) for v in found]
    for v in found:
        assert str(v).startswith(f"{rel}:{line}: imports ") and str(v).endswith(RULES[v.rule])


def test_the_checker_allows_what_the_picture_allows(tmp_path):
    root = _tree(tmp_path, {
        "agv_nav/localization_node.py": "import rclpy\nfrom yard_ros import qos\nfrom yard_model import load_world\n",
        "yard_sim/carrier_msgs.py": "from nav_msgs.msg import Odometry\nfrom yard_ros.stamps import from_sec\n",
        "crane_control/controller.py": "from . import motion\nfrom .model import CraneModel\nimport numpy\n",
        "yard_ros/params.py": "from yard_model.params import spec\nfrom rcl_interfaces.msg import IntegerRange\n",
        "yard_harness/crane_loop.py": "from crane_control.controller import C\nfrom yard_sim.engine import E\n",
        "yard_bringup/cli.py": "from yard_harness.day import SimulatedDay\nfrom fleet_manager import manager\n",
    })
    assert violations(root) == []


def test_a_new_top_level_package_must_be_placed_in_the_picture(tmp_path):
    root = _tree(tmp_path, {"yard_extra/__init__.py": ""})
    assert [v.rule for v in violations(root)] == ["unknown"]
