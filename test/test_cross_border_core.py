"""cross_border core without ROS or Zenoh: outbox, acknowledgements, exactly-once ordered delivery, keys."""

from __future__ import annotations

import json
import os
import random
import stat

import pytest
from cross_border_docs import Pair, decision, manifest
from hypothesis import given, settings
from hypothesis import strategies as st

from cross_border.exchange import SubmitError
from cross_border.signing import (
    KeyFileError,
    generate_key_pair,
    load_private_key,
    load_public_key,
    sign,
    signature_ok,
)

T0 = 1_750_000_000.0


def deliveries(ex, now):
    out = []
    ex.deliver(now, out.append)
    return out


def test_a_manifest_crosses_is_acknowledged_and_delivered_once():
    p = Pair()
    assert p.cn.submit("customs_manifest", manifest("C1"), T0) == (True, 1)
    (env,) = p.cn.due(T0)
    got = p.vn.receive(env, T0 + 0.1)
    assert got.stored == "m-C1-1" and got.rejection is None
    (ack,) = got.replies
    back = p.cn.receive(ack, T0 + 0.2)
    assert back.acked == ("m-C1-1", "accepted", "", 1, "C1")
    assert p.cn.store.outbox_pending() == (0, None)
    (row,) = deliveries(p.vn, T0 + 0.3)
    assert row.body == manifest("C1") and row.sender == "CN"
    assert deliveries(p.vn, T0 + 0.4) == []
    assert p.cn.due(T0 + 100) == []  # acknowledged: never sent again


def test_a_lost_acknowledgement_means_a_resend_that_is_acknowledged_as_duplicate_not_delivered_twice():
    p = Pair()
    p.vn.submit("clearance_decision", decision("C1"), T0)
    (first,) = p.vn.due(T0)
    assert p.cn.receive(first, T0).stored  # its ack is lost
    assert p.vn.due(T0 + 0.5) == []  # back-off: not due yet
    (again,) = p.vn.due(T0 + 1.0)
    assert json.loads(again)["attempt"] == 2
    got = p.cn.receive(again, T0 + 1.0)
    assert got.duplicate == "d-VN-C1-1"
    assert p.vn.receive(got.replies[0], T0 + 1.1).acked[1] == "duplicate"
    assert len(deliveries(p.cn, T0 + 2)) == 1


def test_resend_back_off_doubles_up_to_the_cap_and_a_restored_link_makes_everything_due():
    p = Pair(resend_initial_s=1.0, resend_max_s=4.0)
    p.cn.submit("customs_manifest", manifest("C1"), T0)
    sent_at = []
    t = T0
    while t < T0 + 20:
        if p.cn.due(t):
            sent_at.append(t - T0)
        t += 0.25
    assert sent_at[:5] == [0.0, 1.0, 3.0, 7.0, 11.0]
    assert p.cn.due(t) == []
    assert p.cn.link_restored(t) == 1
    assert len(p.cn.due(t)) == 1


def test_submitting_the_same_document_twice_is_one_document_and_a_reused_id_is_refused():
    p = Pair()
    assert p.cn.submit("customs_manifest", manifest("C1"), T0)[0]
    assert p.cn.submit("customs_manifest", manifest("C1"), T0 + 1) == (False, None)
    changed = {**manifest("C1"), "gross_mass_kg": 1.0}
    with pytest.raises(SubmitError, match="id_reused"):
        p.cn.submit("customs_manifest", changed, T0 + 2)
    with pytest.raises(SubmitError, match="gross_mass_kg"):
        p.cn.submit("customs_manifest", {**manifest("C2"), "gross_mass_kg": -5}, T0)
    with pytest.raises(SubmitError, match="unknown kind"):
        p.cn.submit("border_ack", {}, T0)
    assert len(p.cn.due(T0 + 3)) == 1


def test_documents_of_one_container_are_numbered_in_submission_order_and_containers_apart():
    p = Pair()
    assert p.cn.submit("customs_manifest", manifest("C1", 1), T0)[1] == 1
    assert p.cn.submit("clearance_decision", decision("C1", 1, side="CN"), T0)[1] == 2
    assert p.cn.submit("customs_manifest", manifest("C2", 1), T0)[1] == 1


def test_a_late_earlier_document_releases_the_later_ones_of_its_container_in_order():
    p = Pair()
    for n in (1, 2, 3):
        p.cn.submit("customs_manifest", manifest("C1", n), T0)
    p.cn.submit("customs_manifest", manifest("C2", 1), T0)
    e1, e2, e3, f1 = p.cn.due(T0)
    for env in (e3, e2, f1):
        p.vn.receive(env, T0)
    assert [r.msg_id for r in deliveries(p.vn, T0)] == ["m-C2-1"]  # C1 waits for its first
    assert p.vn.store.inbox_waiting() == 2
    p.vn.receive(e1, T0)
    assert [r.msg_id for r in deliveries(p.vn, T0)] == ["m-C1-1", "m-C1-2", "m-C1-3"]


@settings(max_examples=40, deadline=None)
@given(plan=st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["customs_manifest", "clearance_decision"])),
                     min_size=1, max_size=25),
       seed=st.integers(0, 2**32 - 1), loss=st.floats(0.0, 0.7))
def test_over_a_lossy_duplicating_reordering_link_every_document_arrives_once_in_order(plan, seed, loss):
    """Whatever the link drops, repeats or reorders, each document is delivered exactly once, per container in order."""
    rng = random.Random(seed)
    p = Pair(resend_initial_s=0.5, resend_max_s=2.0)
    sent: dict[str, list[str]] = {}
    for i, (c, kind) in enumerate(plan):
        doc = manifest(f"C{c}", i) if kind == "customs_manifest" else decision(f"C{c}", i, side="CN")
        p.cn.submit(kind, doc, T0)
        sent.setdefault(f"C{c}", []).append(doc["manifest_id" if kind == "customs_manifest" else "decision_id"])
    got: list = []
    t = T0
    for _ in range(200):
        wire = p.cn.due(t)
        wire += [w for w in wire if rng.random() < 0.3]  # duplicated on the way
        rng.shuffle(wire)
        for env in wire:
            if rng.random() < loss:
                continue
            for ack in p.vn.receive(env, t).replies:
                if rng.random() >= loss:
                    p.cn.receive(ack, t)
        p.vn.deliver(t, got.append)
        if p.cn.store.outbox_pending()[0] == 0 and sum(map(len, sent.values())) == len(got):
            break
        t += 0.5
    assert sorted(r.msg_id for r in got) == sorted(m for ids in sent.values() for m in ids)
    for container, ids in sent.items():
        assert [r.msg_id for r in got if r.container_id == container] == ids


def test_state_survives_a_restart_of_either_side(tmp_path):
    p = Pair(db_dir=tmp_path)
    p.cn.submit("customs_manifest", manifest("C1", 1), T0)
    p.cn.submit("customs_manifest", manifest("C1", 2), T0)
    e1, e2 = p.cn.due(T0)
    p.vn.receive(e2, T0)  # stored, held back for e1
    p.cn.store.close()
    p.vn.store.close()
    p.cn, p.vn = p.make("CN"), p.make("VN")  # both restarted
    again = p.cn.due(T0 + 1)
    assert [json.loads(e)["msg_id"] for e in again] == ["m-C1-1", "m-C1-2"]
    assert p.vn.receive(e2, T0 + 1).rejection.code == "replayed"  # the replay memory is on disk too
    for env in again:
        for ack in p.vn.receive(env, T0 + 1).replies:
            p.cn.receive(ack, T0 + 1)
    assert [r.msg_id for r in deliveries(p.vn, T0 + 1)] == ["m-C1-1", "m-C1-2"]
    p.vn.store.close()
    p.vn = p.make("VN")
    assert deliveries(p.vn, T0 + 2) == []  # delivered before the restart: never again
    assert p.cn.store.outbox_pending()[0] == 0


def test_seen_envelopes_are_forgotten_once_the_replay_window_rejects_them_anyway():
    p = Pair(replay_window_s=10.0, max_clock_skew_s=1.0)
    p.cn.submit("customs_manifest", manifest("C1"), T0)
    (env,) = p.cn.due(T0)
    p.vn.receive(env, T0)
    assert p.vn.prune(T0 + 5) == 0
    assert p.vn.prune(T0 + 12) == 1
    assert p.vn.receive(env, T0 + 12).rejection.code == "stale"


def test_key_pair_files_round_trip_and_the_private_key_is_owner_only(tmp_path):
    pub = generate_key_pair(tmp_path / "cn.key", tmp_path / "cn.pub")
    assert stat.S_IMODE(os.stat(tmp_path / "cn.key").st_mode) == 0o600
    priv = load_private_key(tmp_path / "cn.key")
    loaded = load_public_key(tmp_path / "cn.pub")
    env = sign({"a": 1}, priv)
    assert signature_ok(env, loaded) and signature_ok(env, pub)
    assert not signature_ok({**env, "a": 2}, loaded)
    with pytest.raises(FileExistsError):
        generate_key_pair(tmp_path / "cn.key", tmp_path / "other.pub")
    generate_key_pair(tmp_path / "cn.key", tmp_path / "cn.pub", overwrite=True)
    assert not signature_ok(env, load_public_key(tmp_path / "cn.pub"))
    with pytest.raises(KeyFileError, match="cn.pub: not a PEM private key"):
        load_private_key(tmp_path / "cn.pub")
    with pytest.raises(KeyFileError, match="cannot read"):
        load_public_key(tmp_path / "missing.pub")
    with pytest.raises(KeyFileError, match="border-keys"):
        load_public_key("")
