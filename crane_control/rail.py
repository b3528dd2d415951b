"""Cranes on shared rails: who may move where, decided between the controllers themselves.

Cranes with the same ``rail_group`` run on the same rails and cannot pass each other; two gantry
positions closer than ``min_separation_m`` (plus a margin) collide. There is no central arbiter to
fail: each controller runs a :class:`RailArbiter` that exchanges *rail claims* with its neighbours
(JSON ``rail_claim`` on ``/cranes/rail_claims``) — a distributed mutual exclusion over intervals
of the rail in the manner of Ricart & Agrawala ("An optimal algorithm for mutual exclusion in
computer networks", CACM 1981), with Lamport clocks to order requests:

* each crane *holds* an interval of gantry positions and only moves its gantry inside it (the
  interlock gate checks every plan against it); a held interval always contains the crane;
* to move beyond it, the crane publishes a *request* (its held interval grown to the new target),
  stamped with a Lamport clock; every crane acknowledges every request it sees (``acks``);
* a request is granted once every live neighbour has acknowledged it, it keeps the separation from
  the neighbour's held interval, and no neighbour has an earlier (clock, id) request that conflicts
  with it and is itself grantable (does not conflict with what we hold) — that last condition keeps
  a crane asking to move away from being blocked by one waiting to move in;
* when a move ends the crane shrinks its held interval around where it stands.

Two conflicting requests are ordered the same way by both cranes, and a crane only grows its
interval after its neighbour has seen the request, so both cannot grow into the same gap.

A neighbour with no live controller (no claim within ``claim_timeout_s``, and none heard during the
first ``claim_timeout_s`` after we started, so two controllers starting together always hear each
other before either moves) but with fresh joint states is treated as standing where it is — a crane
drive without its controller does not move — and as a blocker if it moves anyway. With neither, the
gantry waits. The controller additionally stops the gantry if the measured gap ever closes below the
separation (last line, should never trigger).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

Interval = tuple[float, float]


def conflict(a: Interval, b: Interval, separation_m: float) -> bool:
    """True if a crane anywhere in ``a`` can come closer than ``separation_m`` to one anywhere in ``b``."""
    return max(a[0] - b[1], b[0] - a[1]) < separation_m


def contains(outer: Interval, inner: Interval, eps: float = 1e-6) -> bool:
    return outer[0] <= inner[0] + eps and inner[1] <= outer[1] + eps


@dataclass
class PeerView:
    """What we know about one neighbour: its last claim and its last gantry reading."""

    claim: dict[str, Any] | None = None
    claim_rx_s: float = -math.inf
    position_m: float | None = None
    velocity_mps: float = 0.0
    position_rx_s: float = -math.inf


class RailArbiter:
    """One crane's side of the shared-rail protocol. Pure: time is passed in, docs in and out."""

    def __init__(self, crane_id: str, rail_group: str, separations_m: dict[str, float], claim_timeout_s: float,
                 position_timeout_s: float, tolerance_m: float = 0.05):
        self.crane_id = crane_id
        self.rail_group = rail_group
        self.separations_m = dict(separations_m)  # per neighbour: min separation + margin
        self.claim_timeout_s = claim_timeout_s
        self.position_timeout_s = position_timeout_s
        self.tolerance_m = tolerance_m
        self.held: Interval | None = None
        self.request: Interval | None = None
        self.request_clock = 0
        self.clock = 0  # Lamport clock
        self.acks: dict[str, int] = {}
        self.peers = {p: PeerView() for p in separations_m}
        self.changed = True  # a claim should be published
        self.waiting_reason = ""
        self.started_s: float | None = None  # first update (the controller's first tick): listening starts
        self.fresh_grant = False  # granted but not yet used by a plan: release() must not undo it

    # ------------------------------------------------------------------ own side
    def set_position(self, gantry_m: float) -> None:
        """Measured gantry position; the first one seeds the held interval."""
        if self.held is None:
            self.held = (gantry_m - self.tolerance_m, gantry_m + self.tolerance_m)
            self.changed = True

    def holds(self, lo: float, hi: float) -> bool:
        return self.held is not None and contains(self.held, (lo, hi))

    def want(self, lo: float, hi: float, now_s: float) -> bool:
        """Ask for the gantry interval [lo, hi]; True when it is held (may move), else the request waits."""
        if self.held is None:
            self.waiting_reason = "own gantry position not known yet"
            return False
        if self.holds(lo, hi):
            self.fresh_grant = False
            if self.request is not None:  # no longer needed
                self.request = None
                self.changed = True
            return True
        need = (min(lo, self.held[0]), max(hi, self.held[1]))
        if self.request is None or not contains(self.request, need) or not contains(need, self.request):
            self.clock += 1
            self.request = need
            self.request_clock = self.clock
            self.changed = True
        self.update(now_s)
        return self.holds(lo, hi)

    def release(self, lo: float, hi: float) -> None:
        """Shrink the held interval to [lo, hi] (what the crane still needs, around where it stands)."""
        if self.fresh_grant:
            return
        if self.held is None:
            return
        new = (max(self.held[0], lo), min(self.held[1], hi))
        if new[0] <= new[1] and new != self.held:
            self.held = new
            self.changed = True

    # ---------------------------------------------------------------- neighbours
    def on_claim(self, doc: dict[str, Any], now_s: float) -> None:
        peer = doc.get("crane_id")
        if peer not in self.peers or doc.get("rail_group") != self.rail_group:
            return
        view = self.peers[peer]
        view.claim, view.claim_rx_s = doc, now_s
        self.clock = max(self.clock, int(doc.get("clock", 0)))
        if doc.get("request") is not None and self.acks.get(peer) != doc.get("request_clock"):
            self.acks[peer] = int(doc["request_clock"])
            self.changed = True
        self.update(now_s)

    def on_position(self, peer: str, gantry_m: float, velocity_mps: float, now_s: float) -> None:
        if peer in self.peers:
            view = self.peers[peer]
            view.position_m, view.velocity_mps, view.position_rx_s = gantry_m, velocity_mps, now_s

    def peer_live(self, peer: str, now_s: float) -> bool:
        return now_s - self.peers[peer].claim_rx_s <= self.claim_timeout_s

    def _blocker(self, peer: str, req: Interval, now_s: float) -> str | None:
        view = self.peers[peer]
        sep = self.separations_m[peer]
        fresh_position = view.position_m is not None and now_s - view.position_rx_s <= self.position_timeout_s
        if fresh_position and conflict(req, (view.position_m, view.position_m), sep):
            return f"'{peer}' stands at {view.position_m:.1f} m"
        if self.peer_live(peer, now_s):
            c = view.claim
            if int(c.get("acks", {}).get(self.crane_id, -1)) < self.request_clock:
                return f"waiting for '{peer}' to acknowledge"
            held = c.get("held")
            if held is not None and conflict(req, tuple(held), sep):
                return f"'{peer}' holds [{held[0]:.1f}, {held[1]:.1f}] m"
            other = c.get("request")
            if other is not None and conflict(req, tuple(other), sep) and \
                    (self.held is None or not conflict(tuple(other), self.held, sep)) and \
                    (int(c.get("request_clock", 0)), peer) < (self.request_clock, self.crane_id):
                return f"'{peer}' asked first for [{other[0]:.1f}, {other[1]:.1f}] m"
            return None
        if now_s - self.started_s < self.claim_timeout_s:
            # a neighbour controller that started with us may not have been heard yet: never take it for absent
            return f"listening for a rail claim from '{peer}'"
        if fresh_position:
            if abs(view.velocity_mps) > 0.02:
                return f"'{peer}' moves without a live controller"
            return None
        return f"nothing known about '{peer}' (no rail claim, no joint states)"

    def update(self, now_s: float) -> None:
        """Grant the pending request if no neighbour blocks it (call every tick: the first call starts the
        listening window, so a crane that has heard nothing for ``claim_timeout_s`` since then moves at once)."""
        if self.started_s is None:
            self.started_s = now_s
        if self.request is None or self.held is None:
            self.waiting_reason = ""
            return
        for peer in self.peers:
            reason = self._blocker(peer, self.request, now_s)
            if reason is not None:
                self.waiting_reason = reason
                return
        self.held = self.request
        self.request = None
        self.waiting_reason = ""
        self.changed = True
        self.fresh_grant = True

    def claim_doc(self, now_s: float) -> dict[str, Any]:
        """The ``rail_claim`` document to publish (on change and as a heartbeat)."""
        self.changed = False
        return {
            "crane_id": self.crane_id,
            "rail_group": self.rail_group,
            "stamp": now_s,
            "clock": self.clock,
            "held": list(self.held) if self.held is not None else None,
            "request": list(self.request) if self.request is not None else None,
            "request_clock": self.request_clock,
            "acks": dict(self.acks),
        }
