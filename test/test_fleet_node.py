"""Node tests of the fleet manager with real rclpy: the order API, bad orders, duplicates, README table."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_readme_parameter_table_matches_code():
    from fleet_manager.params import FleetManagerParams
    from yard_model.params import markdown_table

    readme = (REPO / "README.md").read_text()
    section = readme.split("<!-- section: fleet_manager (owner: fleet_manager) -->")[1].split("<!-- section:")[0]
    assert markdown_table(FleetManagerParams) in section


def test_shipped_yaml_matches_code_defaults():
    import yaml

    from fleet_manager.params import FleetManagerParams
    from yard_model.params import default_of, param_fields

    doc = yaml.safe_load((REPO / "config" / "fleet_manager.yaml").read_text())["/**"]["ros__parameters"]
    for f in param_fields(FleetManagerParams):
        d = default_of(f)
        assert doc[f.name] == (list(d) if isinstance(d, tuple) else d), f.name
    assert set(doc) == {f.name for f in param_fields(FleetManagerParams)}


class Harness:
    """A fleet manager node and a test node in one executor."""

    def __init__(self, ctx, overrides: dict):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.parameter import Parameter
        from std_msgs.msg import String

        from fleet_manager.fleet_manager_node import FleetManagerNode
        from yard_ros import qos

        params = [Parameter(k, value=v) for k, v in overrides.items()]
        self.fm = FleetManagerNode(context=ctx, parameter_overrides=params)
        self.node = rclpy.create_node("fleet_test", context=ctx)
        self.ex = SingleThreadedExecutor(context=ctx)
        self.ex.add_node(self.fm)
        self.ex.add_node(self.node)
        self.events: list[dict] = []
        self.state: dict | None = None
        self.bays: dict | None = None
        self.orders = self.node.create_publisher(String, "/fleet/orders", qos.COMMAND)
        self.yard = self.node.create_publisher(String, "/yard/state", qos.LATCHED)
        self.node.create_subscription(String, "/fleet/order_events", lambda m: self.events.append(json.loads(m.data)),
                                      qos.EVENTS)
        self.node.create_subscription(String, "/fleet/state", lambda m: setattr(self, "state", json.loads(m.data)),
                                      qos.LATCHED)
        self.node.create_subscription(String, "/fleet/bay_status",
                                      lambda m: setattr(self, "bays", json.loads(m.data)), qos.LATCHED)

    def spin_until(self, cond, timeout_s: float = 20.0) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self.ex.spin_once(timeout_sec=0.05)
            if cond():
                return True
        return False

    def send(self, text: str) -> None:
        from std_msgs.msg import String

        self.orders.publish(String(data=text))

    def events_for(self, oid: str) -> list[dict]:
        return [e for e in self.events if e["order_id"] == oid]

    def close(self) -> None:
        self.ex.shutdown()
        self.fm.destroy_node()
        self.node.destroy_node()


def yard_state_doc() -> dict:
    return {"stamp": 1.0, "collisions": 0,
            "containers": {
                "CNXU0000017": {"holder": "truck", "holder_id": "truck_1", "bay": "cn_truck_11", "x": 0, "y": 0,
                                "z": 1.45, "yaw": 0},
                "VNXU0000023": {"holder": "carrier", "holder_id": "carrier_02", "bay": None, "x": 0, "y": 0,
                                "z": 1.3, "yaw": 0}},
            "trucks": {"truck_1": {"bay": "cn_truck_11", "container_id": "CNXU0000017", "state": "parked"}},
            "carriers": {"carrier_01": {"soc": 0.8, "fault": None}, "carrier_02": {"soc": 0.8, "fault": None}}}


def order(oid: str, container: str = "CNXU0000017", origin=("cn_station", "cn_truck_11"),
          dest: str = "vn_station", **extra) -> str:
    doc = {"order_id": oid, "container_id": container, "origin": {"station": origin[0], "truck_bay": origin[1]},
           "destination": {"station": dest}, **extra}
    return json.dumps(doc)


@pytest.mark.node
def test_order_api_accepts_rejects_and_deduplicates(rclpy_context, tmp_path):
    from std_msgs.msg import String

    h = Harness(rclpy_context, {"world": "youyiguan", "carrier_ids": ["carrier_01", "carrier_02"],
                                "db_path": str(tmp_path / "fm.sqlite"), "tick_rate_hz": 10.0})
    try:
        h.yard.publish(String(data=json.dumps(yard_state_doc())))
        # the truck at cn_truck_11 shows up in bay status once the node has the yard state
        assert h.spin_until(lambda: h.bays is not None and h.bays["bays"]["cn_truck_11"]["ready"])

        h.send(order("ok_1", priority=3))
        assert h.spin_until(lambda: h.events_for("ok_1"))
        first = h.events_for("ok_1")[0]
        assert first["event"] == "accepted" and first["container_id"] == "CNXU0000017" and first["seq"] >= 1

        bad = {
            "bad_schema": json.dumps({"order_id": "bad_schema", "container_id": "X"}),
            "unknown_container": order("unknown_container", container="ZZZU9999999"),
            "unknown_station": order("unknown_station", origin=("mars_station", "cn_truck_11")),
            "unknown_dest": order("unknown_dest", dest="atlantis"),
            "wrong_bay": order("wrong_bay", origin=("cn_station", "vn_truck_11")),
            "same_station": order("same_station", dest="cn_station"),
            "not_at_origin": order("not_at_origin", container="VNXU0000023"),
            "same_container": order("same_container"),
            "nan_deadline": '{"order_id": "nan_deadline", "container_id": "CNXU0000017", "origin": {"station": '
                            '"cn_station", "truck_bay": "cn_truck_11"}, "destination": {"station": "vn_station"}, '
                            '"deadline": NaN}',
        }
        reasons = {
            "bad_schema": "malformed", "unknown_container": "unknown container", "unknown_station":
            "unknown origin station", "unknown_dest": "unknown destination station", "wrong_bay": "not a truck bay",
            "same_station": "impossible", "not_at_origin": "carrier", "same_container": "already being moved",
            "nan_deadline": "deadline",
        }
        for text in bad.values():
            h.send(text)
        h.send("{not json at all")
        assert h.spin_until(lambda: all(h.events_for(k) for k in bad) and h.events_for(""))
        for oid, why in reasons.items():
            ev = h.events_for(oid)[0]
            assert ev["event"] == "rejected", (oid, ev)
            assert why in ev["reason"], (oid, ev["reason"])
        assert "not valid JSON" in h.events_for("")[0]["reason"]

        # duplicates: same content answers with the current state, different content is ignored
        h.send(order("ok_1", priority=3))
        h.send(order("ok_1", priority=7))
        assert h.spin_until(lambda: len(h.events_for("ok_1")) >= 3)
        dup = h.events_for("ok_1")[1:]
        assert all(e["event"] == "accepted" for e in dup)
        assert "already known" in dup[0]["reason"] and "different content" in dup[1]["reason"]
        # the node still works, and its latched snapshot has exactly the one accepted order
        assert h.spin_until(lambda: h.state is not None and "ok_1" in h.state["orders"]
                            and h.state["stats"]["rejected"] >= len(bad))
        assert set(h.state["orders"]) == {"ok_1"}
        assert h.state["orders"]["ok_1"]["priority"] == 3
        assert h.state["carriers"]["carrier_01"]["health"] == "unlocated"
        # a cancel of the queued order is honoured
        h.send(json.dumps({**json.loads(order("ok_1", priority=3)), "cancel": True}))
        assert h.spin_until(lambda: any(e["event"] == "cancelled" for e in h.events_for("ok_1")))
    finally:
        h.close()
    # the accepted order and its cancellation were written before they were published
    from fleet_manager.store import FleetStore

    store = FleetStore(str(tmp_path / "fm.sqlite"))
    assert store.get_order("ok_1").state == "cancelled"
    assert re.search("unknown container", store.get_rejection("unknown_container")[1])
    store.close()
