"""The Zenoh session between the two gateways (no ROS): publish envelopes, queue what arrives.

Each side subscribes to ``<prefix>/<own side>/**`` and puts its envelopes on
``<prefix>/<peer>/<own side>``. Zenoh gives the transport (TCP/QUIC/TLS endpoints, a zenohd router
in deployment, reconnection after a cut); it gives no end-to-end delivery guarantee across a cut,
which is why the exchange above it re-sends until acknowledged. Zenoh calls back on its own
threads, so arrivals go into a thread-safe queue that the gateway drains on its own thread.
"""

from __future__ import annotations

import json
import queue
from dataclasses import dataclass

import zenoh


@dataclass(frozen=True)
class LinkConfig:
    """Where the session listens and connects, and under which keys."""

    side: str
    peer: str
    mode: str = "peer"
    listen: tuple[str, ...] = ()
    connect: tuple[str, ...] = ()
    multicast_scouting: bool = False
    key_prefix: str = "yard_autonomy/border"

    def zenoh_config(self) -> zenoh.Config:
        conf = zenoh.Config()
        conf.insert_json5("mode", json.dumps(self.mode))
        conf.insert_json5("listen/endpoints", json.dumps(list(self.listen)))
        conf.insert_json5("connect/endpoints", json.dumps(list(self.connect)))
        conf.insert_json5("scouting/multicast/enabled", json.dumps(self.multicast_scouting))
        # Gossip would tell each peer the other's listening address, letting it bypass a configured
        # route (a firewall's port, a router); the endpoints given are the whole link.
        conf.insert_json5("scouting/gossip/enabled", "false")
        return conf


class Link:
    """An open Zenoh session: ``send`` envelopes, ``take`` the ones that arrived, ``up`` says if anyone listens."""

    def __init__(self, config: LinkConfig):
        self.config = config
        self.inbox: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self.session = zenoh.open(config.zenoh_config())
        prefix = config.key_prefix.rstrip("/")
        self._out_key = f"{prefix}/{config.peer}/{config.side}"
        self._sub = self.session.declare_subscriber(f"{prefix}/{config.side}/**", self._on_sample)
        self._pub = self.session.declare_publisher(self._out_key, congestion_control=zenoh.CongestionControl.BLOCK,
                                                   reliability=zenoh.Reliability.RELIABLE)
        self.closed = False

    def _on_sample(self, sample: zenoh.Sample) -> None:
        self.inbox.put(sample.payload.to_bytes())

    def send(self, payload: bytes) -> None:
        if not self.closed:
            self._pub.put(payload)

    def take(self, limit: int = 1000) -> list[bytes]:
        out = []
        while len(out) < limit:
            try:
                out.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        return out

    def up(self) -> bool:
        """True while the session has a peer or a router to talk to."""
        if self.closed:
            return False
        info = self.session.info
        return bool(list(info.peers_zid()) or list(info.routers_zid()))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.session.close()
