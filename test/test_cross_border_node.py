"""border_gateway node with real rclpy, against the other side's core on a real Zenoh session in this process;
its reference page, config file and code agree."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
import yaml
from cross_border_docs import decision, manifest

from cross_border.exchange import Exchange, ExchangeConfig
from cross_border.link import Link, LinkConfig
from cross_border.params import GatewayParams
from cross_border.signing import generate_key_pair, load_private_key, load_public_key
from cross_border.store import Store
from yard_model.documents import validate
from yard_model.params import default_of, markdown_table, param_fields

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port free on loopback now (the OS picks it, so parallel runs do not collide)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_reference_page_table_matches_the_parameters():
    assert markdown_table(GatewayParams) in (REPO / "docs" / "nodes" / "cross_border.md").read_text()


def test_shipped_config_documents_every_parameter_with_its_default():
    text = (REPO / "config" / "cross_border.yaml").read_text()
    values = yaml.safe_load(text)["/**"]["ros__parameters"]
    fields = {f.name: default_of(f) for f in param_fields(GatewayParams)}
    assert set(values) == set(fields)
    for name, default in fields.items():
        assert values[name] == default, name
        shown = json.dumps(default) if not isinstance(default, bool) else str(default).lower()
        assert f"Default {shown}" in text, name


def spin_until(executor, cond, timeout_s: float = 15.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.05)
        if cond():
            return True
    return False


def tear_down(ex, gw, test_node) -> None:
    """rclpy.spin's order: nodes out of the executor, the gateway's session and database closed, nodes, executor."""
    ex.remove_node(test_node)
    ex.remove_node(gw)
    gw.close()
    gw.destroy_node()
    test_node.destroy_node()
    ex.shutdown()


@pytest.fixture
def keys(tmp_path):
    for side in ("cn", "vn"):
        generate_key_pair(tmp_path / f"{side}.key", tmp_path / f"{side}.pub")
    return tmp_path


@pytest.fixture
def vn_links():
    """Open Zenoh sessions for a test, closed afterwards whatever happens (an open one keeps the process alive)."""
    opened: list[Link] = []

    def open_link(config: LinkConfig) -> Link:
        opened.append(Link(config))
        return opened[-1]

    yield open_link
    for link in opened:
        link.close()


@pytest.mark.node
def test_node_carries_documents_both_ways_and_rejects_a_forgery_with_a_diagnostic(rclpy_context, keys, vn_links):
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from std_msgs.msg import String

    from cross_border.gateway_node import BorderGatewayNode
    from yard_ros import qos

    port = free_port()
    vn_link = vn_links(LinkConfig(side="VN", peer="CN", listen=(f"tcp/127.0.0.1:{port}",)))
    vn = Exchange(ExchangeConfig(side="VN", peer="CN"), Store(), load_private_key(keys / "vn.key"),
                  load_public_key(keys / "cn.pub"))
    overrides = {"side": "CN", "peer_side": "VN", "private_key_file": str(keys / "cn.key"),
                 "peer_public_key_file": str(keys / "vn.pub"), "db_path": str(keys / "cn.sqlite"),
                 "zenoh_listen": [], "zenoh_connect": [f"tcp/127.0.0.1:{port}"], "resend_initial_s": 0.2}
    gw = BorderGatewayNode(context=rclpy_context,
                           parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])
    t = Node("border_test", context=rclpy_context)
    events, decisions, manifests, diags = [], [], [], []
    t.create_subscription(String, "/border/events", lambda m: events.append(json.loads(m.data)), qos.EVENTS)
    t.create_subscription(String, "/customs/decisions", lambda m: decisions.append(json.loads(m.data)), qos.EVENTS)
    t.create_subscription(String, "/customs/manifests", lambda m: manifests.append(json.loads(m.data)), qos.EVENTS)
    t.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 10)
    pub_m = t.create_publisher(String, "/customs/manifests", qos.COMMAND)
    pub_d = t.create_publisher(String, "/customs/decisions", qos.COMMAND)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(gw)
    ex.add_node(t)
    vn_got = []

    def vn_side():  # the other side's gateway core: acknowledge, deliver, send its own
        now = time.time()
        for payload in vn_link.take():
            for reply in vn.receive(payload, now).replies:
                vn_link.send(reply)
        vn.deliver(now, vn_got.append)
        for env in vn.due(now):
            vn_link.send(env)

    try:
        assert spin_until(ex, lambda: pub_m.get_subscription_count() > 0 and gw.link.up())
        pub_m.publish(String(data=json.dumps(manifest("C1"))))
        pub_m.publish(String(data=json.dumps({**manifest("C9"), "gross_mass_kg": -1})))  # refused locally
        assert spin_until(ex, lambda: (vn_side(), vn_got)[1] and any(e["event"] == "acknowledged" for e in events))
        assert [r.body for r in vn_got] == [manifest("C1")]
        ack = next(e for e in events if e["event"] == "acknowledged")
        assert (ack["msg_id"], ack["ack_status"]) == ("m-C1-1", "accepted")
        refused = next(e for e in events if e["event"] == "refused")
        assert refused["code"] == "invalid_document" and "gross_mass_kg" in refused["reason"]

        vn.submit("clearance_decision", decision("C1", 1, side="VN", verdict="inspect"), time.time())
        vn.submit("clearance_decision", decision("C1", 2, side="VN"), time.time())
        assert spin_until(ex, lambda: (vn_side(), len(decisions))[1] >= 2)
        assert [d["decision"] for d in decisions] == ["inspect", "released"]  # in the order VN decided
        # its own delivery comes back on /customs/decisions: not sent back, not refused
        pub_d.publish(String(data=json.dumps(decision("C1", 3, side="VN"))))  # VN's decision from someone else
        assert spin_until(ex, lambda: any(e.get("code") == "not_ours" for e in events))

        forged = json.loads(vn._envelope("d-VN-C2-1", "clearance_decision", decision("C2"), time.time(), 1, "C2", 1))
        forged["body"]["decision"] = "released"
        forged["body"]["reason"] = "waved through"
        vn_link.send(json.dumps(forged).encode())
        assert spin_until(ex, lambda: any(e["event"] == "rejected" for e in events))
        rejected = next(e for e in events if e["event"] == "rejected")
        assert (rejected["code"], rejected["msg_id"]) == ("bad_signature", "d-VN-C2-1")
        assert spin_until(ex, lambda: any(s.level == s.WARN and "bad_signature" in s.message
                                          for a in diags for s in a.status))
        assert spin_until(ex, lambda: any({kv.key: kv.value for kv in s.values}.get("rejected_bad_signature") == "1"
                                          for a in diags for s in a.status))
        spin_until(ex, lambda: False, 0.5)
        assert len(decisions) == 3 and decisions[-1]["decision_id"] == "d-VN-C1-3"  # our test's own message
        for e in events:
            validate("border_event", e)
        assert [e["event"] for e in events].count("delivered") == 2
    finally:
        tear_down(ex, gw, t)


@pytest.mark.node
def test_node_refuses_to_start_without_its_keys(rclpy_context, keys):
    from rclpy.parameter import Parameter

    from cross_border.gateway_node import BorderGatewayNode
    from cross_border.signing import KeyFileError

    with pytest.raises(KeyFileError, match="border-keys"):
        BorderGatewayNode(context=rclpy_context)
    with pytest.raises(KeyFileError, match="not a PEM private key"):
        BorderGatewayNode(context=rclpy_context, parameter_overrides=[
            Parameter("private_key_file", value=str(keys / "cn.pub")),
            Parameter("peer_public_key_file", value=str(keys / "vn.pub"))])


@pytest.mark.node
def test_each_forgery_sent_over_zenoh_to_the_node_is_rejected_with_its_code_and_delivers_nothing(rclpy_context, keys,
                                                                                                 vn_links):
    """The forgeries of test_cross_border_forgery, now through a real Zenoh session into the running node."""
    import types

    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from std_msgs.msg import String
    from test_cross_border_forgery import EXPECTED, FORGERIES, envelope

    from cross_border.gateway_node import BorderGatewayNode
    from yard_ros import qos

    port = free_port()
    vn_link = vn_links(LinkConfig(side="VN", peer="CN", listen=(f"tcp/127.0.0.1:{port}",)))
    vn_key = load_private_key(keys / "vn.key")
    forger = types.SimpleNamespace(keys={"VN": vn_key, "CN": load_private_key(keys / "cn.key")},
                                   vn=Exchange(ExchangeConfig(side="VN", peer="CN"), Store(), vn_key,
                                               load_public_key(keys / "cn.pub")))
    gw = BorderGatewayNode(context=rclpy_context, parameter_overrides=[
        Parameter(k, value=v) for k, v in {
            "private_key_file": str(keys / "cn.key"), "peer_public_key_file": str(keys / "vn.pub"),
            "db_path": ":memory:", "zenoh_listen": [""], "zenoh_connect": [f"tcp/127.0.0.1:{port}"]}.items()])
    t = Node("forgery_test", context=rclpy_context)
    events, decisions = [], []
    t.create_subscription(String, "/border/events", lambda m: events.append(json.loads(m.data)), qos.EVENTS)
    t.create_subscription(String, "/customs/decisions", lambda m: decisions.append(m.data), qos.EVENTS)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(gw)
    ex.add_node(t)
    try:
        assert spin_until(ex, lambda: gw.link.up() and gw.pub_events.get_subscription_count() > 0)
        for name, forge in FORGERIES.items():
            forger.vn.store = Store()  # a fresh envelope (and msg_id sequence) for each forgery
            events.clear()
            vn_link.send(forge(forger, envelope(forger, t=time.time())))
            assert spin_until(ex, lambda: events), name
            assert events[-1]["event"] == "rejected" and events[-1]["code"] == EXPECTED[name], (name, events[-1])
        spin_until(ex, lambda: False, 0.5)
        assert decisions == [] and len(events) == 1
        assert sum(gw.exchange.rejections.values()) == len(FORGERIES)
        assert vn_link.take() == []  # no acknowledgement for anything the peer did not sign
    finally:
        tear_down(ex, gw, t)
