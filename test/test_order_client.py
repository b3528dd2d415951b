"""The client contract over real DDS: a burst answered in full, retry across a kill -9, idempotent ids,
cancel and query by id, an order whose container leaves the yard failed with a reason.

The fleet manager runs as its own process (wall-clock time, small_yard, two silent carriers); the
test is a client using :class:`yard_ros.order_client.OrderClient`, the helper the docs tell clients
to use, and a node publishing the yard state (latched) that lists the containers the orders name.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from yard_bringup.supervisor import interrupt

REPO = Path(__file__).resolve().parents[1]
BAY = "cn_truck_11"
UNSERVABLE_S = 3.0


def order(oid: str, container: str) -> dict:
    return {"order_id": oid, "container_id": container, "origin": {"station": "cn_station", "truck_bay": BAY},
            "destination": {"station": "vn_station"}}


def start_manager(env, db: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fleet_manager.fleet_manager_node", "--ros-args",
                             "--params-file", str(REPO / "config" / "fleet_manager.yaml"),
                             "-p", "world:=small_yard", "-p", "carrier_ids:=[carrier_01,carrier_02]",
                             "-p", f"db_path:={db}", "-p", f"unservable_timeout_s:={UNSERVABLE_S}"],
                            env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.graph
@pytest.mark.timeout(600)
def test_every_order_is_answered_through_a_burst_and_a_kill_dash_nine(rclpy_context, ros_env, tmp_path):
    import rclpy
    from std_msgs.msg import String

    from yard_ros import qos
    from yard_ros.order_client import OrderClient

    containers = [f"CNXU{i:07d}" for i in range(1100)]
    yard = {"stamp": 0.0, "collisions": 0, "trucks": {}, "carriers": {},
            "containers": {c: {"holder": "truck", "holder_id": f"t{c}", "bay": BAY, "x": 0.0, "y": 0.0, "z": 1.4,
                               "yaw": 0.0} for c in containers}}
    node = rclpy.create_node("yard_state_source", context=rclpy_context)
    yard_pub = node.create_publisher(String, "/yard/state", qos.LATCHED)
    yard_pub.publish(String(data=json.dumps(yard)))
    db, log = tmp_path / "fm.sqlite", tmp_path / "fleet_manager.log"
    procs = [start_manager(ros_env, db, log)]
    client = OrderClient(retry_s=1.0, max_retry_s=4.0)
    try:
        assert client.wait_for_manager(60.0), log.read_text()[-2000:]
        # the yard state must be in before the burst: probe orders for the last container until one is accepted
        for k in range(30):
            if client.submit([order(f"probe{k}", containers[-1])], timeout_s=10.0).get(
                    f"probe{k}", {}).get("event") == "accepted":
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the manager never took the yard state; {log.read_text()[-1500:]}")
        # a burst: 1,000 possible orders and 1,000 for containers the yard does not have
        burst = [order(f"b{i}", containers[i]) for i in range(1000)] + \
                [order(f"x{i}", f"ZZZU{i:07d}") for i in range(1000)]
        got = client.submit(burst, timeout_s=240.0)
        assert len(got) == 2000, f"{2000 - len(got)} unanswered; {log.read_text()[-1500:]}"
        assert sum(a["event"] == "accepted" for a in got.values()) == 1000
        assert all(got[f"x{i}"]["event"] == "rejected" and "unknown container" in got[f"x{i}"]["reason"]
                   for i in range(1000))

        # kill -9; orders sent while it is down are answered once it is back (the client re-sends)
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(timeout=10)
        late: dict = {}
        sender = threading.Thread(target=lambda: late.update(client.submit(
            [order(f"late{i}", containers[1000 + i]) for i in range(5)], timeout_s=180.0)))
        sender.start()
        time.sleep(3.0)
        procs.append(start_manager(ros_env, db, log))
        sender.join(timeout=200.0)
        assert sorted(late) == [f"late{i}" for i in range(5)] and all(a["event"] == "accepted" for a in late.values())

        # ids are idempotent: re-sent orders are answered from the restarted manager's store
        again = client.submit(burst[:20] + burst[1000:1020], timeout_s=60.0)
        assert all(again[f"b{i}"]["event"] == "accepted" and "already known" in again[f"b{i}"]["reason"]
                   for i in range(20))
        assert all("duplicate of a rejected order" in again[f"x{i}"]["reason"] for i in range(20))
        assert client.query("b5")["event"] == "accepted"
        assert client.query("never_sent")["event"] == "unknown"
        assert client.cancel("b7")["event"] == "cancelled"
        assert client.query("b7")["event"] == "cancelled"

        # the containers of b0 and b1 leave the yard (a fresh simulation): both fail with the reason, not
        # queued forever; the others stay
        del yard["containers"][containers[0]], yard["containers"][containers[1]]
        yard_pub.publish(String(data=json.dumps(yard)))
        ends = client.submit([{"order_id": f"b{i}", "query": True} for i in range(2)], timeout_s=60.0, until="final")
        assert [ends.get(f"b{i}", {}).get("event") for i in range(2)] == ["failed", "failed"], ends
        for i in range(2):
            why = re.search(r"cannot be served: container .* is not in the yard \(yard_state\) for (\d+) s",
                               ends[f"b{i}"]["reason"])
            assert why and int(why.group(1)) >= UNSERVABLE_S, ends[f"b{i}"]  # after the stated timeout
        assert client.query("b2")["event"] == "accepted"
    finally:
        client.close()
        for p in procs:
            interrupt(p)
        node.destroy_node()
