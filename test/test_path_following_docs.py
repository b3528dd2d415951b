"""docs/nodes/path_follower.md, the shipped YAML and the code of the path follower agree (Nav2 RPP's README
drifted; ours cannot)."""

from __future__ import annotations

import re

import yaml
from conftest import REPO

from agv_nav.follower_params import PathFollowerParams
from yard_model.params import build, default_of, markdown_table, param_fields

MARKER = "<!-- section: path_following (owner: agv_nav path following) -->"


def _section() -> str:
    text = (REPO / "docs" / "nodes" / "path_follower.md").read_text()
    start = text.index(MARKER) + len(MARKER)
    end = text.find("<!-- section:", start)
    return text[start:end if end >= 0 else len(text)]


def test_reference_page_parameter_table_is_the_generated_one():
    section = _section()
    assert markdown_table(PathFollowerParams) in section


def test_reference_page_names_every_topic_of_the_node():
    section = _section()
    for topic in ("`route`", "`movement_authority`", "`localization/odometry`", "`emergency_stop`", "`cmd_vel`",
                  "`follower/status`", "`/diagnostics`", "`/<other>/localization/odometry_throttle`"):
        assert topic in section, topic


def test_shipped_yaml_has_every_parameter_with_the_code_default():
    doc = yaml.safe_load((REPO / "config" / "path_follower.yaml").read_text())
    values = doc["/**"]["ros__parameters"]
    fields = {f.name: f for f in param_fields(PathFollowerParams)}
    assert set(values) == set(fields)
    for name, f in fields.items():
        assert values[name] == default_of(f), name
    build(PathFollowerParams, {k: (float(v) if isinstance(default_of(fields[k]), float) else v)
                               for k, v in values.items()})


def test_every_yaml_key_is_documented_by_a_comment():
    lines = (REPO / "config" / "path_follower.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^    ([a-z_]+):", line)
        if m:
            assert lines[i - 1].strip().startswith("#"), f"{m.group(1)} has no comment above it"


def test_reference_page_yaml_example_uses_real_parameters():
    section = _section()
    block = section.split("```yaml", 1)[1].split("```", 1)[0]
    example = yaml.safe_load(block)
    (values,) = [v["ros__parameters"] for v in example.values()]
    names = {f.name for f in param_fields(PathFollowerParams)}
    assert set(values) <= names
