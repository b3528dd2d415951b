"""Each forgery against a gateway's checks is rejected with its own code and reason, and delivers nothing.

Core level (no ROS): the node test shows the same rejections reach /border/events and /diagnostics.
"""

from __future__ import annotations

import base64
import json

import pytest
from cross_border_docs import Pair, decision, manifest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cross_border.signing import sign

T0 = 1_750_000_000.0


def envelope(p: Pair, doc=None, kind="clearance_decision", t=T0) -> dict:
    p.vn.submit(kind, doc or decision("C1"), t)
    (raw,) = p.vn.due(t)
    return json.loads(raw)


def raw(env: dict) -> bytes:
    return json.dumps(env).encode()


def resign(env: dict, key) -> bytes:
    return raw(sign({k: v for k, v in env.items() if k != "signature"}, key))


FORGERIES = {
    "unsigned": lambda p, e: raw({k: v for k, v in e.items() if k != "signature"}),
    "signed by another key": lambda p, e: resign(e, Ed25519PrivateKey.generate()),
    "signed by the receiver's own key": lambda p, e: resign(e, p.keys["CN"]),
    "decision changed after signing": lambda p, e: raw({**e, "body": {**e["body"], "decision": "released",
                                                                        "reason": "forged"}}),
    "signature of another envelope": lambda p, e: raw({**envelope(p, decision("C2"), t=e["sent_at"]),
                                                       "body": e["body"]}),
    "garbage signature": lambda p, e: raw({**e, "signature": base64.b64encode(b"x" * 64).decode()}),
    "sender claims to be the receiver": lambda p, e: resign({**e, "sender": "CN", "recipient": "VN"}, p.keys["VN"]),
    "addressed to a third side": lambda p, e: resign({**e, "recipient": "LA"}, p.keys["VN"]),
    "old timestamp (stale replay)": lambda p, e: resign({**e, "sent_at": e["sent_at"] - 3600}, p.keys["VN"]),
    "timestamp in the future": lambda p, e: resign({**e, "sent_at": e["sent_at"] + 3600}, p.keys["VN"]),
    "not JSON": lambda p, e: b"\x00\xffnot json",
    "JSON but not an envelope": lambda p, e: raw({"hello": "world"}),
    "envelope missing its body": lambda p, e: raw({k: v for k, v in e.items() if k != "body"}),
}
EXPECTED = {
    "unsigned": "unsigned", "signed by another key": "bad_signature",
    "signed by the receiver's own key": "bad_signature", "decision changed after signing": "bad_signature",
    "signature of another envelope": "bad_signature", "garbage signature": "bad_signature",
    "sender claims to be the receiver": "wrong_sender", "addressed to a third side": "wrong_sender",
    "old timestamp (stale replay)": "stale", "timestamp in the future": "stale", "not JSON": "malformed",
    "JSON but not an envelope": "malformed", "envelope missing its body": "malformed",
}


@pytest.mark.parametrize("name", list(FORGERIES))
def test_forgery_is_rejected_with_its_reason_and_delivers_nothing(name):
    p = Pair()
    forged = FORGERIES[name](p, envelope(p))
    got = p.cn.receive(forged, T0 + 0.5)
    assert got.rejection is not None and got.rejection.code == EXPECTED[name], got.rejection
    assert got.rejection.reason
    assert got.replies == [] and got.stored is None  # no acknowledgement for what the peer did not sign
    assert p.cn.rejections[EXPECTED[name]] == 1
    assert p.cn.deliver(T0 + 1, lambda row: pytest.fail(f"delivered {row}")) == 0


def test_a_replayed_envelope_is_rejected_while_a_genuine_resend_is_acknowledged():
    p = Pair()
    e = envelope(p)
    assert p.cn.receive(raw(e), T0).stored
    again = p.cn.receive(raw(e), T0 + 1)
    assert again.rejection.code == "replayed" and again.replies == []
    (resend,) = p.vn.due(T0 + 1)  # attempt 2, freshly signed
    assert p.cn.receive(resend, T0 + 1).duplicate == "d-VN-C1-1"
    assert p.cn.deliver(T0 + 2, lambda row: None) == 1


def test_a_forged_acknowledgement_does_not_empty_the_outbox():
    p = Pair()
    p.cn.submit("customs_manifest", manifest("C1"), T0)
    (sent,) = p.cn.due(T0)
    genuine = p.vn.receive(sent, T0).replies[0]
    forged = resign(json.loads(genuine), Ed25519PrivateKey.generate())
    assert p.cn.receive(forged, T0).rejection.code == "bad_signature"
    assert p.cn.store.outbox_pending()[0] == 1
    assert p.cn.receive(genuine, T0).acked[1] == "accepted"


@pytest.mark.parametrize(("doc", "kind", "why"), [
    ({**decision("C1"), "decision": "waved through"}, "clearance_decision", "decision"),
    (decision("C1", side="CN"), "clearance_decision", "decided by CN but signed by VN"),
    (manifest("C1", origin="CN"), "customs_manifest", "origin CN but sent by VN"),
])
def test_a_signed_but_invalid_document_is_refused_with_a_signed_rejection(doc, kind, why):
    p = Pair()
    # what a buggy (not hostile) peer would send: its own key, a document its checks should have caught
    env = {"msg_id": doc.get("decision_id", doc.get("manifest_id")), "kind": kind, "sender": "VN",
           "recipient": "CN", "container_id": "C1", "seq": 1, "attempt": 1, "sent_at": T0, "body": doc}
    got = p.cn.receive(raw(sign(env, p.keys["VN"])), T0)
    assert got.rejection.code == "invalid_document" and why in got.rejection.reason
    (ack,) = got.replies
    back = p.vn.receive(ack, T0)
    assert back.rejection is None  # the ack is genuine; the sender learns the reason
    assert p.cn.deliver(T0, lambda row: pytest.fail("delivered")) == 0
