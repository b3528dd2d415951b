"""Two ROS domains linked only by two border_gateway processes over Zenoh; the link is cut mid-run.

CN's graph (one domain) and VN's graph (another domain) never see each other over DDS. The test
plays each side's terminal operating system and customs with an rclpy node in each domain; the
gateways are real processes; their Zenoh link runs through a TCP forwarder the test cuts while
both sides keep publishing. Every document sent during the cut must arrive once, in order per
container, after the link is restored, even though the CN gateway is killed (SIGKILL) during the
cut with those documents only in its outbox, and started again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cross_border_docs import decision, manifest
from tcp_cut import CuttableLink
from test_cross_border_node import free_port

from cross_border.signing import generate_key_pair
from yard_ros.domain import lease_domain_id

REPO = Path(__file__).resolve().parents[1]
CONTAINERS = [f"CNXU00000{i}{i}" for i in range(4)]


def gateway(side: str, peer: str, domain: int, keys: Path, tmp: Path, listen: list[str], connect: list[str],
            log_name: str = ""):
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1")
    log = open(tmp / f"{log_name or side}.log", "w")  # noqa: SIM115 (closed with the process)
    cmd = [sys.executable, "-m", "cross_border.gateway_node", "--ros-args",
           "--params-file", str(REPO / "config" / "cross_border.yaml"),
           "-p", f"side:={side}", "-p", f"peer_side:={peer}",
           "-p", f"private_key_file:={keys / (side.lower() + '.key')}",
           "-p", f"peer_public_key_file:={keys / (peer.lower() + '.pub')}",
           "-p", f"db_path:={tmp / (side.lower() + '.sqlite')}",
           "-p", f"zenoh_listen:={json.dumps(listen)}", "-p", f"zenoh_connect:={json.dumps(connect)}",
           "-p", "resend_initial_s:=0.5", "-p", "resend_max_s:=2.0", "-p", "diagnostics_period_s:=0.2"]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    proc.log_file = log
    return proc


class Side:
    """One side's graph as the test sees it: a node in that side's domain."""

    def __init__(self, name: str, domain: int):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from std_msgs.msg import String

        from yard_ros import qos

        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=domain)
        self.node = rclpy.create_node(f"{name.lower()}_yard", context=self.ctx)
        self.ex = SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(self.node)
        self.manifests, self.decisions, self.events, self.link_up = [], [], [], None
        self.pub_m = self.node.create_publisher(String, "/customs/manifests", qos.COMMAND)
        self.pub_d = self.node.create_publisher(String, "/customs/decisions", qos.COMMAND)
        self.side = name
        self.node.create_subscription(String, "/customs/manifests", lambda m: self._theirs(self.manifests, m,
                                                                                           "origin_side"), qos.EVENTS)
        self.node.create_subscription(String, "/customs/decisions", lambda m: self._theirs(self.decisions, m, "side"),
                                      qos.EVENTS)
        self.node.create_subscription(String, "/border/events", lambda m: self.events.append(json.loads(m.data)),
                                      qos.EVENTS)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._diag, 10)
        self.String = String

    def _theirs(self, into: list, msg, side_field: str) -> None:
        """Keep the other side's documents (this side's own publications come back on the same topic)."""
        doc = json.loads(msg.data)
        if doc[side_field] != self.side:
            into.append(doc)

    def _diag(self, arr) -> None:
        for s in arr.status:
            if s.name.startswith("border_gateway/"):
                self.link_up = {kv.key: kv.value for kv in s.values}["link_up"] == "true"

    def send(self, kind: str, doc: dict) -> None:
        (self.pub_m if kind == "customs_manifest" else self.pub_d).publish(self.String(data=json.dumps(doc)))

    def close(self) -> None:
        self.ex.shutdown()
        self.node.destroy_node()
        self.ctx.try_shutdown()


@pytest.mark.graph
def test_documents_sent_while_the_link_is_cut_arrive_once_in_order_per_container_across_a_crash(tmp_path):
    keys = tmp_path / "keys"
    for side in ("cn", "vn"):
        generate_key_pair(keys / f"{side}.key", keys / f"{side}.pub")
    with lease_domain_id() as cn_domain, lease_domain_id() as vn_domain:
        cn_port = free_port()
        cut = CuttableLink(cn_port)
        procs = [gateway("CN", "VN", cn_domain.domain_id, keys, tmp_path, [f"tcp/127.0.0.1:{cn_port}"], [""]),
                 gateway("VN", "CN", vn_domain.domain_id, keys, tmp_path, [""], [f"tcp/127.0.0.1:{cut.port}"])]
        cn, vn = Side("CN", cn_domain.domain_id), Side("VN", vn_domain.domain_id)

        def spin_until(cond, timeout_s: float) -> bool:
            end = time.monotonic() + timeout_s
            while time.monotonic() < end:
                cn.ex.spin_once(timeout_sec=0.02)
                vn.ex.spin_once(timeout_sec=0.02)
                if cond():
                    return True
                assert all(p.poll() is None for p in procs), "a gateway died"
            return False

        try:
            assert spin_until(lambda: cn.link_up and vn.link_up and cn.pub_m.get_subscription_count() > 0
                              and vn.pub_d.get_subscription_count() > 0, 60), "gateways did not link up"
            # Before the cut: each container's manifest goes over and VN pre-clears it for import.
            for c in CONTAINERS:
                cn.send("customs_manifest", manifest(c, 1))
            assert spin_until(lambda: len(vn.manifests) == len(CONTAINERS), 30)
            for c in CONTAINERS:
                vn.send("clearance_decision", decision(c, 1, side="VN", verdict="hold"))
            assert spin_until(lambda: len(cn.decisions) == len(CONTAINERS), 30)

            cut.set_cut(True)
            assert spin_until(lambda: cn.link_up is False and vn.link_up is False, 30), "the cut was not seen"
            sent_cn, sent_vn = [], []  # during the cut, both ways, interleaved containers
            for n in (2, 3):
                for c in CONTAINERS:
                    verdict = "inspect" if n == 2 else "released"
                    cn.send("clearance_decision", decision(c, n, side="CN", verdict=verdict))
                    sent_cn.append(f"d-CN-{c}-{n}")
                    vn.send("clearance_decision", decision(c, n, side="VN", verdict="released"))
                    sent_vn.append(f"d-VN-{c}-{n}")
                cn.send("customs_manifest", manifest(CONTAINERS[0], n))
                sent_cn.append(f"m-{CONTAINERS[0]}-{n}")
            spin_until(lambda: False, 3.0)  # several re-send periods with the link down
            assert len(vn.decisions) == 0 and len(vn.manifests) == len(CONTAINERS)  # nothing crossed
            assert len(cn.decisions) == len(CONTAINERS)
            queued = [e["msg_id"] for e in cn.events if e["event"] == "queued"]
            assert set(sent_cn) <= set(queued)
            # The CN gateway crashes with all of that in its outbox only, and is started again.
            procs[0].kill()
            procs[0].wait(timeout=10)
            procs[0].log_file.close()
            procs[0] = gateway("CN", "VN", cn_domain.domain_id, keys, tmp_path, [f"tcp/127.0.0.1:{cn_port}"], [""],
                               log_name="CN-restarted")
            assert spin_until(lambda: cn.pub_m.get_subscription_count() > 0, 60), "CN gateway did not restart"

            cut.set_cut(False)
            assert spin_until(lambda: len(vn.decisions) + len(vn.manifests) == len(sent_cn) + len(CONTAINERS)
                              and len(cn.decisions) == len(CONTAINERS) + len(sent_vn), 60), "not everything arrived"
            spin_until(lambda: False, 2.0)  # late duplicates would show up now
            got_vn = [d["decision_id"] for d in vn.decisions] + [m["manifest_id"] for m in vn.manifests]
            got_cn = [d["decision_id"] for d in cn.decisions]
            assert sorted(got_vn) == sorted(sent_cn + [f"m-{c}-1" for c in CONTAINERS])  # each exactly once
            assert sorted(got_cn) == sorted(sent_vn + [f"d-VN-{c}-1" for c in CONTAINERS])
            for c in CONTAINERS:  # in the order each side sent them, per container
                assert [d["decision_id"] for d in vn.decisions if d["container_id"] == c] == \
                    [i for i in sent_cn if i.startswith(f"d-CN-{c}-")]
                assert [d["decision_id"] for d in cn.decisions if d["container_id"] == c] == \
                    [f"d-VN-{c}-1"] + [i for i in sent_vn if i.startswith(f"d-VN-{c}-")]
            assert [m["manifest_id"] for m in vn.manifests if m["container_id"] == CONTAINERS[0]] == \
                [f"m-{CONTAINERS[0]}-{n}" for n in (1, 2, 3)]
            acked = {e["msg_id"] for e in cn.events if e["event"] == "acknowledged"}
            assert set(sent_cn) <= acked
            assert not [e for e in cn.events + vn.events if e["event"] == "rejected"]
        finally:
            cn.close()
            vn.close()
            for p in procs:
                if p.poll() is None:  # the killed CN gateway was replaced in procs
                    p.send_signal(2)
                    try:
                        p.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
                p.log_file.close()
            cut.close()
        for side in ("CN-restarted", "VN"):
            out = (tmp_path / f"{side}.log").read_text()
            assert "Traceback" not in out, out[-3000:]
            assert "link to" in out
        restarted = (tmp_path / "CN-restarted.log").read_text()
        assert f"({len(sent_cn)} unacknowledged documents to re-send)" in restarted
        assert all(p.returncode == 0 for p in procs), [p.returncode for p in procs]
