"""Order ingress of the fleet manager: burst answers and sustained acceptance rate over real DDS.

Usage::

    .venv/bin/python bench/order_ingress.py                          # bursts of 1,000 and 10,000, rates 500..2,000/s
    .venv/bin/python bench/order_ingress.py --bursts 1000 --rates 1000 --seconds 5
    .venv/bin/python bench/order_ingress.py --client-depth 10        # a KEEP_LAST(10) client publisher

Each experiment starts the fleet manager as its own process (``python -m
fleet_manager.fleet_manager_node``, world small_yard, two silent carriers, a fresh SQLite file,
wall-clock time) in a private ROS domain on this host. This process is the client: it publishes a
``yard_state`` holding every container the orders name (on trucks at ``cn_truck_11``), then orders
on ``/fleet/orders`` and counts the answers on ``/fleet/order_events`` (KEEP_ALL subscription, so
the client loses nothing of its own). No retries: a burst shows what the ingress keeps by itself.

* **burst**: N orders published as fast as the client can; answered = distinct order ids with an
  event once no new answer came for ``--settle`` seconds; ``accepted`` of them, ``overloaded``
  rejections, and the wall time from the first publish to the last answer.
* **sustained**: orders paced at R per second for ``--seconds``; the accepted rate is accepted
  answers divided by the time from the first publish to the last answer (so a backlog that the
  manager works off after the client stopped counts against it), and the answer lag p50 / p99.
* for each run, the manager process's CPU time (user + system, from /proc) and the answers per
  CPU-second: what it sustains with a core of its own, a figure the other sessions' load on this
  shared machine does not bend the way it bends wall time.

The figures go in docs/benchmarks.md ("Order ingress"). The machine has 2 cores shared by the
manager and this client; other sessions' load shows, so the best of ``--repeat`` runs is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from yard_bringup.supervisor import interrupt  # noqa: E402
from yard_ros.domain import local_ros_env  # noqa: E402

BAY = "cn_truck_11"


def order_doc(oid: str, container: str) -> str:
    return json.dumps({"order_id": oid, "container_id": container, "origin": {"station": "cn_station",
                       "truck_bay": BAY}, "destination": {"station": "vn_station"}}, separators=(",", ":"))


def yard_state(containers: list[str]) -> str:
    carriers = {c: {"soc": 0.9, "fault": None} for c in ("carrier_01", "carrier_02")}
    return json.dumps({"stamp": 0.0, "collisions": 0, "trucks": {}, "carriers": carriers,
                       "containers": {c: {"holder": "truck", "holder_id": f"t_{c}", "bay": BAY, "x": 0.0, "y": 0.0,
                                          "z": 1.4, "yaw": 0.0} for c in containers}})


@dataclass
class Result:
    sent: int = 0
    answered: int = 0
    accepted: int = 0
    overloaded: int = 0
    other_rejected: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0  # CPU time of the manager process over the run (user + system)
    lags_s: list[float] = field(default_factory=list)

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def answered_per_cpu_s(self) -> float:
        """Orders the manager answers per second of one core: what it sustains on a core of its own."""
        return self.answered / self.cpu_s if self.cpu_s > 0 else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Client:
    """The bench's node: orders and yard state out, order events in."""

    def __init__(self, depth: int | None):
        import rclpy
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
        from std_msgs.msg import String

        self.String = String
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.node = rclpy.create_node("order_bench", context=self.ctx)
        try:
            from rclpy.experimental import EventsExecutor
            self.ex = EventsExecutor(context=self.ctx)
        except ImportError:
            self.ex = rclpy.executors.SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(self.node)
        pub_qos = QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE) \
            if depth is None else QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                                             reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.pub = self.node.create_publisher(String, "/fleet/orders", pub_qos)
        self.pub_yard = self.node.create_publisher(String, "/yard/state", latched)
        self.first: dict[str, float] = {}  # order id -> wall time of its first answer
        self.kind: dict[str, str] = {}
        self.sent_at: dict[str, float] = {}
        self.state_seen = False
        self.node.create_subscription(String, "/fleet/order_events", self._on_event,
                                      QoSProfile(history=HistoryPolicy.KEEP_ALL,
                                                 reliability=ReliabilityPolicy.RELIABLE))
        self.node.create_subscription(String, "/fleet/state", lambda m: setattr(self, "state_seen", True), latched)

    def _on_event(self, msg) -> None:
        doc = json.loads(msg.data)
        oid = doc.get("order_id", "")
        if oid not in self.first:
            self.first[oid] = time.monotonic()
            ev = doc["event"]
            self.kind[oid] = "overloaded" if ev == "rejected" and "overloaded" in doc.get("reason", "") else ev

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.ex.spin_once(timeout_sec=min(0.05, max(0.0, end - time.monotonic())))

    def send(self, oid: str, container: str) -> None:
        self.sent_at[oid] = time.monotonic()
        self.pub.publish(self.String(data=order_doc(oid, container)))

    def settle(self, ids: list[str], quiet_s: float, limit_s: float) -> None:
        """Spin until every id is answered, or no new answer came for ``quiet_s``."""
        end = time.monotonic() + limit_s
        last_n, last_t = -1, time.monotonic()
        while time.monotonic() < end:
            self.spin(0.2)
            n = len(self.first)
            if all(i in self.first for i in ids):
                return
            if n != last_n:
                last_n, last_t = n, time.monotonic()
            elif time.monotonic() - last_t > quiet_s:
                return

    def result(self, ids: list[str]) -> Result:
        r = Result(sent=len(ids))
        got = [i for i in ids if i in self.first]
        r.answered = len(got)
        r.accepted = sum(1 for i in got if self.kind[i] == "accepted")
        r.overloaded = sum(1 for i in got if self.kind[i] == "overloaded")
        r.other_rejected = r.answered - r.accepted - r.overloaded
        if got:
            r.wall_s = max(self.first[i] for i in got) - min(self.sent_at[i] for i in ids)
            r.lags_s = [self.first[i] - self.sent_at[i] for i in got]
        return r

    def close(self) -> None:
        self.ex.shutdown()
        self.node.destroy_node()
        import rclpy
        rclpy.shutdown(context=self.ctx)


def start_manager(env: dict[str, str], db: Path, log: Path, extra: list[str]) -> subprocess.Popen:
    args = [sys.executable, "-m", "fleet_manager.fleet_manager_node", "--ros-args",
            "--params-file", str(REPO / "config" / "fleet_manager.yaml"),
            "-p", "world:=small_yard", "-p", "carrier_ids:=[carrier_01,carrier_02]", "-p", f"db_path:={db}",
            *extra]
    return subprocess.Popen(args, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


def experiment(kind: str, n_or_rate: float, seconds: float, depth: int | None, settle_s: float,
               tmp: Path, extra: list[str], tag: str) -> Result:
    total = int(n_or_rate) if kind == "burst" else int(n_or_rate * seconds)
    containers = [f"BNCU{i:07d}" for i in range(total + 1)]
    proc = start_manager(os.environ.copy(), tmp / f"{tag}.sqlite", tmp / f"{tag}.log", extra)
    client = Client(depth)
    try:
        client.pub_yard.publish(client.String(data=yard_state(containers)))
        t_end = time.monotonic() + 60.0
        while not client.state_seen and time.monotonic() < t_end:  # the manager is up
            client.spin(0.1)
        # probe: the first container; once accepted, the manager has the yard state
        k = 0
        while time.monotonic() < t_end and not any(client.kind.get(f"probe{i}") == "accepted" for i in range(k)):
            client.send(f"probe{k}", containers[0])
            k += 1
            client.spin(1.0)
        if not any(client.kind.get(f"probe{i}") == "accepted" for i in range(k)):
            raise RuntimeError(f"manager not ready; log {tmp / (tag + '.log')}")
        ids = [f"{tag}_{i}" for i in range(total)]
        cpu0 = cpu_seconds(proc.pid)
        if kind == "burst":
            for i, oid in enumerate(ids):
                client.send(oid, containers[i + 1])
                if i % 200 == 199:
                    client.ex.spin_once(timeout_sec=0.0)  # take answers while sending
        else:
            t0 = time.monotonic()
            for i, oid in enumerate(ids):
                due = t0 + i / n_or_rate
                while time.monotonic() < due:
                    client.ex.spin_once(timeout_sec=max(0.0, min(0.01, due - time.monotonic())))
                client.send(oid, containers[i + 1])
        client.settle(ids, settle_s, limit_s=600.0)
        r = client.result(ids)
        r.cpu_s = cpu_seconds(proc.pid) - cpu0
        return r
    finally:
        client.close()
        interrupt(proc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bursts", default="1000,10000", help="burst sizes, comma-separated (default: %(default)s)")
    ap.add_argument("--rates", default="500,1000,2000", help="sustained rates [orders/s] (default: %(default)s)")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of a sustained run (default: %(default)s)")
    ap.add_argument("--client-depth", default="all", help="'all' (KEEP_ALL) or a KEEP_LAST depth for the client "
                                                           "publisher (default: %(default)s)")
    ap.add_argument("--settle", type=float, default=10.0, help="stop waiting after this long without a new answer")
    ap.add_argument("--repeat", type=int, default=1, help="runs per experiment; the best is reported")
    ap.add_argument("--manager-arg", action="append", default=[], metavar="ARG",
                    help="extra --ros-args for the manager, e.g. -p max_open_orders:=5000 (repeatable)")
    args = ap.parse_args()
    depth = None if args.client_depth == "all" else int(args.client_depth)
    console = Console(width=160)
    env, lease = local_ros_env(dict(os.environ))
    os.environ.update(env)
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="order_bench_") as d:
            tmp = Path(d)
            plan = [("burst", float(b)) for b in args.bursts.split(",") if b] + \
                   [("sustained", float(r)) for r in args.rates.split(",") if r]
            for j, (kind, x) in enumerate(plan):
                best = None
                for k in range(args.repeat):
                    r = experiment(kind, x, args.seconds, depth, args.settle, tmp, args.manager_arg, f"e{j}r{k}")
                    if best is None or (r.answered, r.accepted_per_s) > (best.answered, best.accepted_per_s):
                        best = r
                rows.append((kind, x, best))
                console.print(f"{kind} {x:g}: {best.answered}/{best.sent} answered", highlight=False)
    finally:
        if lease is not None:
            lease.release()
    t = Table(title=f"order ingress (client publisher {'KEEP_ALL' if depth is None else f'KEEP_LAST({depth})'})")
    for col in ("run", "sent", "answered", "accepted", "overloaded", "other rejected", "wall [s]",
                "accepted/s", "lag p50 [s]", "lag p99 [s]", "manager CPU [s]", "answered per CPU-s"):
        t.add_column(col, justify="right")
    for kind, x, r in rows:
        lags = sorted(r.lags_s)
        p50 = statistics.median(lags) if lags else float("nan")
        p99 = lags[min(len(lags) - 1, int(0.99 * len(lags)))] if lags else float("nan")
        name = f"burst {x:,.0f}" if kind == "burst" else f"{x:,.0f}/s for {args.seconds:g} s"
        t.add_row(name, f"{r.sent:,}", f"{r.answered:,}", f"{r.accepted:,}", f"{r.overloaded:,}",
                  f"{r.other_rejected:,}", f"{r.wall_s:.1f}", f"{r.accepted_per_s:,.0f}", f"{p50:.2f}", f"{p99:.2f}",
                  f"{r.cpu_s:.1f}", f"{r.answered_per_cpu_s:,.0f}")
    console.print(t)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
