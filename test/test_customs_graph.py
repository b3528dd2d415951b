"""Graph test: `yard-autonomy sim --customs` gates the crossing on clearance (issue #15 items 5-6).

One run of `yard-autonomy sim --world small_yard --carriers 1 --customs` (real processes over DDS:
the simulator, the fleet manager with ``clearance_required``, the customs simulator ``customs_sim``,
the carrier's and the cranes' nodes). The test only does what a terminal operating system would: it
parks a loaded truck at the Vietnamese station and an empty one at the Chinese station
(``/yard/sim/commands``) and sends one transport order (``/fleet/orders``). Both customs are set
(``--params-file``) to send every container to inspection after a fixed decision time and release it
later, so the order's clearance must go ``pending`` -> ``inspect`` -> ``released``.

It checks, in simulated time: the order is accepted at once but assigned to no carrier and no crane
job touches its container while clearance is pending; once customs select it for inspection it is
loaded and taken to the Vietnamese station's inspection spot (``vn_inspection``: no bay is held while it
is inspected), waits there, and leaves for the other side only after both sides' ``released``; the
order events carry the clearance state on the way.
"""

from __future__ import annotations

import json
import time

import pytest
from test_graph_bringup import finish, graph_env, start_sim

CONTAINER = "CSTU1234565"
DECISION_S = 20.0  # [s of simulated time] manifest -> each side's first decision (inspect)
INSPECT_S = 400.0  # [s] inspection -> release: long enough for the carrier to load and reach the inspection spot
WALL_LIMIT_S = 900.0  # a broken graph fails instead of hanging


class Listener:
    """A test node in the graph's domain that keeps what arrives on each topic with the simulated time."""

    def __init__(self, name: str, topics: dict[str, object]):
        import rclpy
        import rclpy.executors
        from rosgraph_msgs.msg import Clock
        from std_msgs.msg import String

        from yard_sim.sim_node import CLOCK_QOS

        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.node = rclpy.create_node(name, context=self.ctx)
        self.ex = rclpy.executors.SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(self.node)
        self.now = 0.0
        self.got: dict[str, list[tuple[float, dict]]] = {t: [] for t in topics}
        self.node.create_subscription(Clock, "/clock", self._clock, CLOCK_QOS)
        for topic, q in topics.items():
            self.node.create_subscription(String, topic, lambda m, t=topic: self.got[t].append(
                (self.now, json.loads(m.data))), q)

    def _clock(self, m) -> None:
        self.now = max(self.now, m.clock.sec + m.clock.nanosec * 1e-9)

    def close(self) -> None:
        import rclpy

        self.node.destroy_node()
        self.ex.shutdown()
        rclpy.try_shutdown(context=self.ctx)


@pytest.mark.graph
@pytest.mark.timeout(1200)
def test_an_order_waits_for_both_customs_releases_in_the_running_graph(tmp_path, ros_env):
    from std_msgs.msg import String

    from yard_ros import qos

    params = tmp_path / "customs.yaml"
    params.write_text(
        "customs_sim:\n  ros__parameters:\n"
        f"    decision_median_s: {DECISION_S}\n    decision_sigma: 0.0\n    hold_rate: 0.0\n"
        f"    inspect_rate: 1.0\n    inspect_min_s: {INSPECT_S}\n    inspect_max_s: {INSPECT_S}\n")
    proc = start_sim(tmp_path / "logs", graph_env(), "--world", "small_yard", "--carriers", "1", "--rtf", "0",
                     "--customs", "--params-file", str(params))
    cranes = ("vn_crane_1",)
    g = Listener("customs_graph_test", {"/customs/decisions": qos.EVENTS, "/fleet/order_events": qos.ORDER_EVENTS,
                                        **{f"/{k}/jobs": qos.COMMAND for k in cranes}})
    decisions, events = g.got["/customs/decisions"], g.got["/fleet/order_events"]
    commands = g.node.create_publisher(String, "/yard/sim/commands", qos.COMMAND)
    orders = g.node.create_publisher(String, "/fleet/orders", qos.ORDERS)

    def jobs() -> list[tuple[float, dict]]:
        return [j for k in cranes for j in g.got[f"/{k}/jobs"]]

    def spin_until(cond, limit_s: float) -> bool:
        end = time.monotonic() + limit_s
        while time.monotonic() < end:
            if cond():
                return True
            if proc.poll() is not None:
                return False
            g.ex.spin_once(timeout_sec=0.05)
        return cond()

    try:
        assert spin_until(lambda: g.now > 1.0 and commands.get_subscription_count() > 0
                          and orders.get_subscription_count() >= 2, 120.0), "graph did not come up"
        # from VN to CN: the carrier starts on a Chinese parking spot, and in this yard reaches a Vietnamese bay
        # (across the link) quicker than a Chinese one (round the Vietnamese loop: no turning at the hub)
        for cmd in ({"command": "spawn_truck", "truck_id": "T_VN", "bay": "vn_truck_11", "container_id": CONTAINER,
                     "command_id": "c1"},
                    {"command": "spawn_truck", "truck_id": "T_CN", "bay": "cn_truck_11", "command_id": "c2"}):
            commands.publish(String(data=json.dumps(cmd)))
        spin_until(lambda: False, 1.0)
        sent_at = g.now
        orders.publish(String(data=json.dumps({
            "order_id": "o1", "container_id": CONTAINER,
            "origin": {"station": "vn_station", "truck_bay": "vn_truck_11"},
            "destination": {"station": "cn_station"}})))

        def kinds() -> set[str]:
            return {e["event"] for _, e in events if e.get("order_id") == "o1"}

        def released_sides() -> set[str]:
            return {d["side"] for _, d in decisions if d["container_id"] == CONTAINER and d["decision"] == "released"}

        assert spin_until(lambda: "in_transit" in kinds() and any(
            j.get("container_id") == CONTAINER for _, j in jobs()), WALL_LIMIT_S), (
            f"not lifted and sent across: events {[e for _, e in events]}, decisions {[d for _, d in decisions]}")
        mine = [(t, d) for t, d in decisions if d["container_id"] == CONTAINER]
        assert {(d["side"], d["decision"]) for _, d in mine} == {
            ("CN", "inspect"), ("VN", "inspect"), ("CN", "released"), ("VN", "released")}, mine
        released_at = max(t for t, d in mine if d["decision"] == "released")
        inspect_at = max(t for t, d in mine if d["decision"] == "inspect")
        assert released_at >= sent_at + DECISION_S + INSPECT_S - 2.0, (sent_at, mine)  # the simulator's times held
        order_events = [(t, e) for t, e in events if e.get("order_id") == "o1"]
        accepted_at = min(t for t, e in order_events if e["event"] == "accepted")
        assigned_at = min(t for t, e in order_events if e["event"] == "assigned")
        lifted_at = min(t for t, j in jobs() if j.get("container_id") == CONTAINER)
        assert accepted_at < sent_at + 5.0  # answered at once, not held back by customs
        # nothing moves while pending; selected for inspection, it is loaded and taken to the inspection spot
        assert inspect_at <= assigned_at <= lifted_at < released_at, (inspect_at, assigned_at, lifted_at, released_at)
        reasons = [(t, e.get("reason", "")) for t, e in order_events if e["event"] == "clearance"]
        to_spot = [t for t, r in reasons if r == "to inspection at vn_inspection"]
        on_spot = [t for t, r in reasons if r.startswith("at inspection on vn_inspection")]
        assert to_spot and on_spot and to_spot[0] <= on_spot[0] <= released_at, reasons
        crossing_at = min(t for t, e in order_events if e["event"] == "in_transit")
        assert crossing_at >= released_at  # leaves the spot for the other side only once released
        assert all(e.get("clearance") == "released" for _, e in order_events if e["event"] == "in_transit")
        states = [e.get("clearance") for _, e in order_events if e["event"] in ("accepted", "clearance")]
        assert states[0] == "pending" and "inspect" in states and states[-1] == "released", states
        assert released_sides() == {"CN", "VN"}
    finally:
        g.close()
        out = finish(proc)
    assert "Traceback" not in out, out[-3000:]


@pytest.mark.graph
@pytest.mark.timeout(900)
def test_pre_clearance_files_manifests_at_the_gate_in_the_running_graph(tmp_path, ros_env):
    """`sim --containers-per-day N --customs --pre-clearance`: the demand node files each container's manifest
    on /customs/manifests when its truck reaches the gate; the customs simulator decides on those (and on no
    order); an order comes in with its container's decisions already under way or in force."""
    from yard_ros import qos

    params = tmp_path / "customs.yaml"
    params.write_text("customs_sim:\n  ros__parameters:\n    decision_median_s: 5.0\n    decision_sigma: 0.0\n"
                      "    hold_rate: 0.0\n    inspect_rate: 0.0\n")
    proc = start_sim(tmp_path / "logs", graph_env(), "--world", "small_yard", "--carriers", "1", "--rtf", "0",
                     "--containers-per-day", "20000", "--customs", "--pre-clearance", "--params-file", str(params))
    g = Listener("pre_clearance_graph_test", {"/customs/manifests": qos.ORDERS, "/customs/decisions": qos.EVENTS,
                                              "/fleet/orders": qos.ORDERS, "/fleet/order_events": qos.ORDER_EVENTS})
    manifests, decisions = g.got["/customs/manifests"], g.got["/customs/decisions"]
    orders, events = g.got["/fleet/orders"], g.got["/fleet/order_events"]

    def accepted_released() -> list[dict]:
        return [e for _, e in events if e["event"] in ("accepted", "clearance") and e.get("clearance") == "released"]

    end = time.monotonic() + WALL_LIMIT_S
    try:
        while time.monotonic() < end and proc.poll() is None and not (orders and accepted_released()):
            g.ex.spin_once(timeout_sec=0.05)
        assert orders and accepted_released(), (
            f"no order released: {len(manifests)} manifests, {len(decisions)} decisions, {len(orders)} orders")
        filed = {m["container_id"]: (t, m) for t, m in manifests}
        assert all(m["manifest_id"] == f"m-{cid}" for cid, (_, m) in filed.items())
        for t, o in orders:  # every order's container was declared before its order went out
            assert o["container_id"] in filed and filed[o["container_id"]][0] <= t, (o, sorted(filed))
        assert decisions and all(d["manifest_id"] == f"m-{d['container_id']}" for _, d in decisions), decisions
    finally:
        g.close()
        out = finish(proc)
    assert "Traceback" not in out, out[-3000:]
