"""customs_sim node with real rclpy: manifests and orders in, both sides' decisions out; page, config, code agree."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from yard_model.documents import validate
from yard_model.params import default_of, markdown_table, param_fields
from yard_sim.customs_params import CustomsSimParams

REPO = Path(__file__).resolve().parents[1]


def test_reference_page_table_matches_the_parameters():
    assert markdown_table(CustomsSimParams) in (REPO / "docs" / "nodes" / "customs_sim.md").read_text()


def test_shipped_config_documents_every_parameter_with_its_default():
    text = (REPO / "config" / "customs_sim.yaml").read_text()
    values = yaml.safe_load(text)["/**"]["ros__parameters"]
    fields = {f.name: default_of(f) for f in param_fields(CustomsSimParams)}
    assert set(values) == set(fields)
    for name, default in fields.items():
        assert values[name] == default, name
        shown = json.dumps(default) if not isinstance(default, bool) else str(default).lower()
        assert f"Default {shown}" in text, name


@pytest.mark.node
def test_node_decides_each_manifest_once_on_both_sides(rclpy_context):
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from std_msgs.msg import String

    from yard_ros import qos
    from yard_sim.customs_node import CustomsSimNode

    params = {"world": "small_yard", "decision_median_s": 1.0, "decision_sigma": 0.0, "hold_rate": 0.0,
              "inspect_rate": 1.0, "inspect_min_s": 1.0, "inspect_max_s": 1.0, "step_period_s": 0.05}
    node = CustomsSimNode(context=rclpy_context, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    t = Node("customs_test", context=rclpy_context)
    decisions = []
    t.create_subscription(String, "/customs/decisions", lambda m: decisions.append(json.loads(m.data)), qos.EVENTS)
    pub_orders = t.create_publisher(String, "/fleet/orders", qos.COMMAND)
    pub_manifests = t.create_publisher(String, "/customs/manifests", qos.COMMAND)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(t)

    def spin_until(cond, timeout_s=15.0) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            ex.spin_once(timeout_sec=0.05)
            if cond():
                return True
        return False

    try:
        assert spin_until(lambda: min(pub_orders.get_subscription_count(), pub_manifests.get_subscription_count()) > 0)
        order = {"order_id": "o1", "container_id": "CNXU0000017",
                 "origin": {"station": "cn_station", "truck_bay": "cn_truck_11"},
                 "destination": {"station": "vn_station"}}
        pub_orders.publish(String(data=json.dumps(order)))
        pub_orders.publish(String(data=json.dumps(order)))  # a re-sent order is the same manifest
        pub_orders.publish(String(data=json.dumps({"order_id": "o1", "query": True})))
        manifest = {"manifest_id": "m-vn-1", "container_id": "VNXU0000021", "seal_number": "S1", "gross_mass_kg": 9e3,
                    "goods_description": "fruit", "consignor_country": "VN", "consignee_country": "CN",
                    "origin_side": "VN", "destination_side": "CN", "issued_at": 0.0}
        pub_manifests.publish(String(data=json.dumps(manifest)))
        assert spin_until(lambda: len(decisions) >= 8)
        spin_until(lambda: False, 1.0)
        assert len(decisions) == 8
        for d in decisions:
            validate("clearance_decision", d)
        for container, export_side, import_side in (("CNXU0000017", "CN", "VN"), ("VNXU0000021", "VN", "CN")):
            for side, direction in ((export_side, "export"), (import_side, "import")):
                mine = [d["decision"] for d in decisions if d["container_id"] == container and d["side"] == side]
                assert mine == ["inspect", "released"], (container, side)
                assert all(d["direction"] == direction for d in decisions
                           if d["container_id"] == container and d["side"] == side)
    finally:
        ex.remove_node(t)
        ex.remove_node(node)
        node.destroy_node()
        t.destroy_node()
        ex.shutdown()
