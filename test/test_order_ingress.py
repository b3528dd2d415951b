"""The order ingress (pure core): every message answered once, hostile input costs nothing, state bounded.

Unit tests of :mod:`fleet_manager.ingress` (screening) and of the intake of the fleet manager core
(:meth:`FleetManager.on_orders`) on a real SQLite store, and a property-based test that throws
random and adversarial documents at the intake.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet_manager.ingress import IngressLimits, nesting_depth, peek_order_id, quote, screen
from fleet_manager.manager import FleetManager, ManagerConfig
from fleet_manager.network import YardNetwork
from fleet_manager.routing import Router
from fleet_manager.store import FleetStore
from yard_model import load_world

REPO = Path(__file__).resolve().parents[1]
CARRIERS = ("carrier_01", "carrier_02")
CONTAINERS = [f"CNXU{i:07d}" for i in range(40)]
REASON_MAX = 400  # characters: any reason, whatever was sent


def order(oid: str, container: str = "CNXU0000000", **extra) -> dict:
    return {"order_id": oid, "container_id": container, "origin": {"station": "cn_station", "truck_bay": "cn_truck_11"},
            "destination": {"station": "vn_station"}, **extra}


def yard_state(containers=CONTAINERS) -> dict:
    return {"stamp": 0.0, "collisions": 0, "trucks": {},
            "carriers": {c: {"soc": 0.9, "fault": None} for c in CARRIERS},
            "containers": {c: {"holder": "truck", "holder_id": f"t_{c}", "bay": "cn_truck_11", "x": 0.0, "y": 0.0,
                               "z": 1.4, "yaw": 0.0} for c in containers}}


_NETS: dict[int, tuple] = {}


def network(world) -> tuple:
    """The yard network and router of a world, built once (1.5 s) and shared: neither keeps fleet state."""
    if id(world) not in _NETS:
        net = YardNetwork(world)
        _NETS[id(world)] = (net, Router(net))
    return _NETS[id(world)]


def manager(world, path=":memory:", **cfg) -> FleetManager:
    fm = FleetManager(world, FleetStore(path), ManagerConfig(carrier_ids=CARRIERS, **cfg), 0.0, *network(world))
    fm.on_yard_state(yard_state(), 0.0)
    return fm


def answers(fm: FleetManager) -> list[dict]:
    return [o.doc for o in fm.drain() if o.kind == "order_event"]


# ------------------------------------------------------------------------------------------ screening
def test_the_issues_inputs_are_answered_without_parsing_or_echoing_them():
    huge_id = json.dumps(order("x" * 1_000_000))
    s = screen(huge_id)
    assert s.kind == "malformed" and s.order_id == "" and "too large" in s.reason and len(s.reason) < 100
    s = screen("[" * 100000 + "]" * 100000)
    assert s.kind == "malformed" and "too large" in s.reason
    deep = '{"order_id": "deep_1", "x": ' + "[" * 500 + "]" * 500 + "}"
    s = screen(deep)
    assert s.kind == "malformed" and s.order_id == "deep_1" and "nested deeper" in s.reason
    s = screen(json.dumps(order("ok", origin={"station": "s" * 100, "truck_bay": "b"})))
    assert s.kind == "malformed" and s.order_id == "ok" and "origin/station" in s.reason
    assert s.reason.count("s") < 60, s.reason  # a short excerpt of the 100 characters, never all of them


def test_a_malformed_document_echoes_the_clients_id_when_one_can_be_read():
    assert screen('{"order_id": "abc", "container_id": 5}').order_id == "abc"
    assert screen('{"order_id": "abc", "container_id": "C1", "origin"').order_id == "abc"  # cut off mid-way
    assert screen(json.dumps(order("p" * 129))).order_id == ""  # not a valid id: never echoed
    assert screen("[1, 2]").order_id == "" and screen("").order_id == ""
    assert peek_order_id('garbage {"order_id" : "q\\"1"') == 'q"1'


def test_three_forms_cancel_and_query_need_only_the_id():
    assert screen('{"order_id": "a", "cancel": true}').kind == "cancel"
    assert screen(json.dumps(order("a", cancel=True))).kind == "cancel"
    assert screen('{"order_id": "a", "query": true}').kind == "query"
    assert screen(json.dumps(order("a"))).kind == "order"
    s = screen('{"order_id": "a", "cancel": false}')
    assert s.kind == "malformed" and "missing container_id, origin, destination" in s.reason
    assert screen('{"order_id": "a", "cancel": true, "color": "red"}').kind == "malformed"


def test_limits_and_quotes_are_bounded():
    lim = IngressLimits(max_message_bytes=600, max_depth=3, max_string_chars=20, quote_chars=8)
    assert screen(json.dumps(order("a" * 21)), lim).kind == "malformed"
    assert "too large" in screen(json.dumps(order("a", pad="x" * 600)), lim).reason
    assert nesting_depth('{"a": "[[[[[[", "b": [[1]]}', 10) == 3  # brackets inside strings do not count
    assert quote("z" * 1000, 8) == '"zzzzzzzz"… (1,000 characters)'
    assert quote("\n\x00", 8) == '"\\n\\u0000"'


# ------------------------------------------------------------------------------------------ the intake
def test_every_message_of_a_batch_gets_one_answer_in_order(small_world):
    fm = manager(small_world)
    msgs = [json.dumps(order("o1", CONTAINERS[1])), "{bad", json.dumps(order("o1", CONTAINERS[1])),
            json.dumps(order("o2", "ZZZU0000000")), '{"order_id": "o1", "query": true}',
            '{"order_id": "nobody", "query": true}', '{"order_id": "o1", "cancel": true}',
            '{"order_id": "nobody", "cancel": true}', json.dumps(order("o3", CONTAINERS[1]))]
    fm.on_orders(msgs, 1.0)
    got = answers(fm)
    assert [(a["order_id"], a["event"]) for a in got] == [
        ("o1", "accepted"), ("", "rejected"), ("o1", "accepted"), ("o2", "rejected"), ("o1", "accepted"),
        ("nobody", "unknown"), ("o1", "cancelled"), ("nobody", "unknown"), ("o3", "accepted")]
    assert "already known" in got[2]["reason"] and "unknown container" in got[3]["reason"]
    assert got[0]["seq"] < got[3]["seq"] < got[6]["seq"] < got[8]["seq"]  # durable answers are in the outbox
    assert fm.store.get_order("o1").state == "cancelled" and fm.store.get_order("o3").state == "accepted"


def test_overloaded_orders_are_answered_and_not_stored_so_a_retry_works(small_world):
    fm = manager(small_world, max_open_orders=2)
    fm.on_orders([json.dumps(order(f"o{i}", CONTAINERS[i])) for i in range(3)], 1.0)
    got = answers(fm)
    assert [a["event"] for a in got] == ["accepted", "accepted", "rejected"]
    assert got[2]["order_id"] == "o2" and got[2]["reason"].startswith("overloaded")
    assert fm.store.get_order("o2") is None and fm.store.get_rejection("o2") is None
    fm.on_orders(['{"order_id": "o0", "cancel": true}', json.dumps(order("o2", CONTAINERS[2]))], 2.0)
    assert [a["event"] for a in answers(fm)] == ["cancelled", "accepted"]


def test_a_re_sent_id_is_answered_from_the_store_after_a_restart(small_world, tmp_path):
    db = str(tmp_path / "fm.sqlite")
    fm = manager(small_world, db)
    fm.on_orders([json.dumps(order("keep", CONTAINERS[3])), json.dumps(order("bad", "ZZZU0000000"))], 1.0)
    fm.store.close()
    again = FleetManager(small_world, FleetStore(db), ManagerConfig(carrier_ids=CARRIERS), 5.0, *network(small_world))
    again.drain()  # what a restart re-sends
    again.on_orders([json.dumps(order("keep", CONTAINERS[3])), '{"order_id": "keep", "query": true}',
                     json.dumps(order("bad", "ZZZU0000000"))], 6.0)
    got = answers(again)
    assert [a["event"] for a in got] == ["accepted", "accepted", "rejected"]
    assert "duplicate of a rejected order" in got[2]["reason"]


def test_stored_rejections_are_pruned_by_count_and_age(small_world):
    fm = manager(small_world, rejections_kept=50, rejections_kept_s=100.0)
    for b in range(10):
        fm.on_orders([json.dumps(order(f"r{b}_{i}", "ZZZU0000000")) for i in range(20)], float(b))
        assert fm.store.count_rejections() <= 50 + 50 // 10 + 20
    fm.tick(500.0)  # housekeeping: every rejection is older than 100 s now
    assert fm.store.count_rejections() == 0


def test_an_order_whose_container_left_the_yard_fails_after_the_stated_timeout(small_world):
    fm = manager(small_world, unservable_timeout_s=30.0, startup_grace_s=0.0)
    fm.on_orders([json.dumps(order("gone", CONTAINERS[5])), json.dumps(order("stays", CONTAINERS[6]))], 1.0)
    fm.drain()
    fm.on_yard_state(yard_state([c for c in CONTAINERS if c != CONTAINERS[5]]), 2.0)
    for t in (3.0, 20.0, 32.0):
        fm.tick(t)
    assert fm.orders["gone"].state == "accepted"  # 29 s: not yet
    fm.tick(34.0)
    failed = [a for a in answers(fm) if a["event"] == "failed"]
    assert [a["order_id"] for a in failed] == ["gone"] and "not in the yard" in failed[0]["reason"]
    assert fm.orders["stays"].state == "accepted"



def test_orders_the_world_no_longer_allows_fail_at_once_after_a_restart(small_world, tmp_path):
    """A database from an older world: a truck bay removed (with the crane serving it) fails its orders at
    once, with the reason; an order the new world still allows stays."""
    db = str(tmp_path / "fm.sqlite")
    fm = manager(small_world, db)
    state = yard_state(CONTAINERS[:2])
    state["containers"][CONTAINERS[1]]["bay"] = "cn_truck_12"
    fm.on_yard_state(state, 0.5)
    fm.on_orders([json.dumps(order("from_12", CONTAINERS[1], origin={"station": "cn_station",
                                                                      "truck_bay": "cn_truck_12"})),
                  json.dumps(order("to_12", CONTAINERS[0], destination={"station": "vn_station",
                                                                         "truck_bay": "vn_truck_12"}))], 1.0)
    assert [a["event"] for a in answers(fm)] == ["accepted", "accepted"]
    fm.store.close()
    text = (REPO / "sim_worlds" / "small_yard.yaml").read_text()
    for line in ("  - {id: vn_truck_12, x: 27.0, y: -270.0, yaw_deg: 270.0}\n", "  - vn_truck_12\n",
                 "  - {id: cn_truck_12, x: -27.0, y: 270.0, yaw_deg: 90.0}\n", "  - cn_truck_12\n"):
        assert line in text
        text = text.replace(line, "")
    (tmp_path / "smaller.yaml").write_text(text)
    smaller = load_world(tmp_path / "smaller.yaml")
    again = FleetManager(smaller, FleetStore(db), ManagerConfig(carrier_ids=CARRIERS, startup_grace_s=0.0), 5.0,
                         *network(smaller))
    again.on_yard_state(state, 5.0)
    again.drain()
    again.tick(6.0)  # no timeout: the world says so
    failed = {a["order_id"]: a["reason"] for a in answers(again) if a["event"] == "failed"}
    assert sorted(failed) == ["from_12", "to_12"]
    assert "origin truck bay \"cn_truck_12\" is not in the world" in failed["from_12"]
    assert "destination truck bay \"vn_truck_12\" is not in the world" in failed["to_12"]
    again.on_orders(['{"order_id": "from_12", "query": true}', '{"order_id": "to_12", "cancel": true}'], 7.0)
    q, c = answers(again)  # the state and why, from the store
    assert q["event"] == "failed" and "origin truck bay" in q["reason"] and q["reason"].startswith("query")
    assert c["event"] == "failed" and "destination truck bay" in c["reason"] and c["reason"].startswith("cancel")


# ------------------------------------------------------------------------------------------ property
JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
JSON_DOC = st.recursive(JSON_LEAF, lambda kids: st.lists(kids, max_size=4) |
                        st.dictionaries(st.text(max_size=12), kids, max_size=5), max_leaves=20)
KEYS = ["order_id", "container_id", "origin", "destination", "priority", "deadline", "cancel", "query"]


@st.composite
def hostile(draw) -> str:
    """A message: random text, random JSON, an order with fields replaced, huge, deep, or a valid order."""
    kind = draw(st.sampled_from(["text", "json", "mutant", "huge", "deep", "valid", "cancel", "query"]))
    oid = draw(st.sampled_from(["o1", "o2", "o3", "o4", "x" * 129, ""]) | st.text(max_size=8))
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "json":
        return json.dumps(draw(JSON_DOC))
    if kind == "mutant":
        doc = order(oid, draw(st.sampled_from(CONTAINERS[:5])))
        for k in draw(st.lists(st.sampled_from(KEYS), max_size=3)):
            doc[k] = draw(JSON_DOC)
        return json.dumps(doc)
    if kind == "huge":
        return json.dumps(order(oid, "C" * draw(st.integers(100, 20000))))
    if kind == "deep":
        n = draw(st.integers(5, 3000))
        return '{"order_id": ' + json.dumps(oid) + ', "x": ' + "[" * n + "]" * n + "}"
    if kind in ("cancel", "query"):
        return json.dumps({"order_id": oid, kind: True})
    return json.dumps(order(oid, draw(st.sampled_from(CONTAINERS[:5]))))


@pytest.mark.timeout(600)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(batches=st.lists(st.lists(hostile(), min_size=1, max_size=25), min_size=1, max_size=6))
def test_random_and_adversarial_messages_get_one_bounded_answer_each_and_state_stays_bounded(small_world, batches):
    fm = manager(small_world, rejections_kept=20, max_open_orders=3)
    t = 1.0
    for batch in batches:
        fm.on_orders(batch, t)
        got = answers(fm)
        assert len(got) == len(batch)  # one answer per message, no more, no less
        for msg, a in zip(batch, got):
            assert isinstance(a["order_id"], str) and len(a["order_id"]) <= 128
            assert len(a.get("reason", "")) <= REASON_MAX, a["reason"][:200]
            if a["order_id"]:
                assert a["order_id"] in msg or json.dumps(a["order_id"])[1:-1] in msg  # only the client's own id
        assert fm.store.count_rejections() <= 20 + 20 // 10 + 25
        assert sum(1 for o in fm.orders.values() if not o.final) <= 3
        t += 1.0
