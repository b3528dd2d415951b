"""The cross-border link: documents per second through two gateways' cores over Zenoh, and recovery after a cut.

Usage::

    .venv/bin/python bench/border_link.py                     # 2,000 documents, a 5 s cut with 500 queued
    .venv/bin/python bench/border_link.py --docs 5000 --cut-docs 1000 --cut-s 10

Both sides run in this process: the CN and VN halves of ``cross_border.exchange`` (SQLite files in
a temporary folder, Ed25519 keys made for the run) over two ``cross_border.link`` Zenoh peer
sessions on loopback, processed in a loop as the gateway node's timer does (without rclpy: the
ROS side adds one publish per document). Measured, best of ``--repeat``:

* **throughput**: N decisions for N/4 containers submitted at once at CN; the time until VN has
  delivered every one and CN holds every acknowledgement. Signed, verified, stored on both sides,
  acknowledged: documents per second end to end, and CPU-seconds of this process.
* **the peer, bare Zenoh**: the same N envelopes put on the same session, counted on arrival, no
  outbox, no signature, no acknowledgement (what Zenoh alone gives; it loses what is put during a
  cut, see below).
* **recovery after a cut**: VN's session is closed, M documents are submitted at CN during the cut
  (``--cut-s``), then VN opens a new session; the time from the reopen to the last of the M
  delivered at VN, and how many of them arrived (all, exactly once, is the contract). Bare Zenoh's
  count for the same cut is shown beside it.

Figures and the command go in docs/benchmarks.md ("Cross-border link (issue #15)").
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import time
from pathlib import Path

from cross_border.exchange import Exchange, ExchangeConfig
from cross_border.link import Link, LinkConfig
from cross_border.signing import generate_key_pair, load_private_key, load_public_key
from cross_border.store import Store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def decision(i: int) -> dict:
    c = f"CNXU{i // 4:07d}"
    return {"decision_id": f"d-CN-{i}", "manifest_id": f"m-{c}", "container_id": c, "side": "CN",
            "direction": "export", "decision": "released", "reason": "bench", "stamp": float(i)}


class Rig:
    """CN and VN cores with their Zenoh sessions (VN listens, CN connects)."""

    def __init__(self, folder: Path):
        for side in ("cn", "vn"):
            generate_key_pair(folder / f"{side}.key", folder / f"{side}.pub", overwrite=True)
        self.folder = folder
        self.port = free_port()
        self.cn = Exchange(ExchangeConfig("CN", "VN", resend_initial_s=1.0, resend_max_s=5.0, batch=500),
                           Store(folder / "cn.sqlite"), load_private_key(folder / "cn.key"),
                           load_public_key(folder / "vn.pub"))
        self.vn = Exchange(ExchangeConfig("VN", "CN", batch=500), Store(folder / "vn.sqlite"),
                           load_private_key(folder / "vn.key"), load_public_key(folder / "cn.pub"))
        self.cn_link = Link(LinkConfig("CN", "VN", connect=(f"tcp/127.0.0.1:{self.port}",)))
        self.open_vn()
        self.delivered: list[str] = []

    def open_vn(self) -> None:
        self.vn_link = Link(LinkConfig("VN", "CN", listen=(f"tcp/127.0.0.1:{self.port}",)))

    def step(self) -> None:
        """One pass of both gateways' processing (the node's timer callback, minus ROS)."""
        now = time.time()
        for ex, link, other_up in ((self.cn, self.cn_link, True), (self.vn, self.vn_link, True)):
            for got in ex.receive_many(link.take(), now):
                for reply in got.replies:
                    link.send(reply)
            if other_up and link.up():
                for env in ex.due(now):
                    link.send(env)
        self.vn.deliver(now, lambda row: self.delivered.append(row.msg_id))

    def wait_up(self, timeout_s: float = 20.0) -> None:
        end = time.monotonic() + timeout_s
        while not (self.cn_link.up() and self.vn_link.up()):
            if time.monotonic() > end:
                raise RuntimeError("Zenoh sessions did not connect")
            time.sleep(0.01)
        self.cn.link_restored(time.time())

    def close(self) -> None:
        self.cn_link.close()
        self.vn_link.close()


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def throughput(n: int, offset: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        rig = Rig(Path(tmp))
        try:
            rig.wait_up()
            c0, t0 = cpu(), time.perf_counter()
            for i in range(offset, offset + n):
                rig.cn.submit("clearance_decision", decision(i), time.time())
            while len(rig.delivered) < n or rig.cn.store.outbox_pending()[0]:
                rig.step()
                time.sleep(0.001)
            return n / (time.perf_counter() - t0), cpu() - c0
        finally:
            rig.close()


def bare_zenoh(n: int, cut_n: int, cut_s: float) -> tuple[float, int]:
    """Bare Zenoh: envelopes/s on arrival, and how many of cut_n put during a cut of the subscriber arrive."""
    port = free_port()
    pub = Link(LinkConfig("CN", "VN", connect=(f"tcp/127.0.0.1:{port}",)))
    sub = Link(LinkConfig("VN", "CN", listen=(f"tcp/127.0.0.1:{port}",)))
    try:
        while not (pub.up() and sub.up()):
            time.sleep(0.01)
        payloads = [repr(decision(i)).encode() * 2 for i in range(n)]  # about an envelope's size
        t0 = time.perf_counter()
        for p in payloads:
            pub.send(p)
        got = 0
        while got < n and time.perf_counter() - t0 < 60:
            got += len(sub.take())
        rate = got / (time.perf_counter() - t0)
        sub.close()
        for p in payloads[:cut_n]:
            pub.send(p)
        time.sleep(cut_s)
        sub = Link(LinkConfig("VN", "CN", listen=(f"tcp/127.0.0.1:{port}",)))
        end = time.monotonic() + 10
        while not pub.up() and time.monotonic() < end:
            time.sleep(0.01)
        time.sleep(1.0)
        return rate, len(sub.take())
    finally:
        pub.close()
        sub.close()


def recovery(cut_n: int, cut_s: float) -> tuple[float, int, int]:
    """(seconds from reopen to the last cut-time document delivered, delivered count, duplicates)."""
    with tempfile.TemporaryDirectory() as tmp:
        rig = Rig(Path(tmp))
        try:
            rig.wait_up()
            rig.vn_link.close()
            end = time.monotonic() + cut_s
            for i in range(cut_n):
                rig.cn.submit("clearance_decision", decision(i), time.time())
            while time.monotonic() < end:
                rig.cn_link.take()
                rig.cn.due(time.time()) if rig.cn_link.up() else None
                time.sleep(0.02)
            t0 = time.perf_counter()
            rig.open_vn()
            while len(rig.delivered) < cut_n and time.perf_counter() - t0 < 120:
                rig.step()
                time.sleep(0.001)
            took = time.perf_counter() - t0
            return took, len(set(rig.delivered)), len(rig.delivered) - len(set(rig.delivered))
        finally:
            rig.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=2000, help="documents in the throughput run")
    ap.add_argument("--cut-docs", type=int, default=500, help="documents submitted while the link is cut")
    ap.add_argument("--cut-s", type=float, default=5.0, help="length of the cut [s]")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each experiment; the best is reported")
    a = ap.parse_args()
    runs = [throughput(a.docs, k * a.docs) for k in range(a.repeat)]
    rate, cpu_s = max(runs)
    bare = [bare_zenoh(a.docs, a.cut_docs, a.cut_s) for _ in range(a.repeat)]
    bare_rate, bare_cut = max(bare)
    rec = min(recovery(a.cut_docs, a.cut_s) for _ in range(a.repeat))
    print("| Measure | cross_border (outbox, Ed25519, ack) | bare Zenoh put/subscribe |")
    print("| --- | --- | --- |")
    print(f"| documents/s end to end ({a.docs} documents) | {rate:,.0f} ({cpu_s:.2f} CPU-s, both sides) | "
          f"{bare_rate:,.0f} |")
    print(f"| documents put during a {a.cut_s:g} s cut that arrive | {rec[1]} of {a.cut_docs} "
          f"({rec[2]} duplicates delivered) | {bare_cut} of {a.cut_docs} |")
    print(f"| time from link restored to the last of them delivered | {rec[0]:.2f} s | — |")


if __name__ == "__main__":
    main()
