"""Parameters of the border gateway node (one dataclass; no rclpy here).

The node declares them with ``yard_ros.params.declare``; config/cross_border.yaml documents
every key and the table in docs/nodes/cross_border.md is generated from this class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from yard_model.params import ParameterError, spec

from .exchange import ExchangeConfig
from .link import LinkConfig

SIDE = re.compile(r"^[A-Z]{2}$")


@dataclass
class GatewayParams:
    """Border gateway parameters (see config/cross_border.yaml)."""

    side: str = field(default="CN", metadata=spec(
        "This gateway's side (ISO 3166-1 alpha-2): it signs as this side and sends documents it originates."))
    peer_side: str = field(default="VN", metadata=spec(
        "The other side: only envelopes it signed and addressed to this side are accepted."))
    private_key_file: str = field(default="", metadata=spec(
        "PEM file of this side's Ed25519 private key (`yard-autonomy border-keys` writes a pair). Required."))
    peer_public_key_file: str = field(default="", metadata=spec(
        "PEM file of the other side's Ed25519 public key, exchanged out of band. Required."))
    db_path: str = field(default="~/.ros/yard_autonomy/border_gateway.sqlite", metadata=spec(
        "SQLite file of the outbox, inbox and replay memory: a restarted gateway re-sends what was not "
        "acknowledged and delivers nothing twice. ':memory:' keeps nothing (tests only)."))
    zenoh_mode: str = field(default="peer", metadata=spec(
        "Zenoh session mode: peer (talks to the other gateway directly) or client (through a zenohd router).",
        choices=("peer", "client")))
    zenoh_listen: list[str] = field(default_factory=lambda: ["tcp/127.0.0.1:7450"], metadata=spec(
        "Zenoh endpoints this session listens on (loopback by default). ROS cannot override a list with an "
        "empty one: [''] listens nowhere. Ignored in client mode."))
    zenoh_connect: list[str] = field(default_factory=list, metadata=spec(
        "Zenoh endpoints to connect to: the other gateway (peer) or the zenohd router, e.g. tcp/10.0.0.5:7447; "
        "re-tried until they answer."))
    zenoh_multicast_scouting: bool = field(default=False, metadata=spec(
        "Let Zenoh discover peers by UDP multicast; off so that only the configured endpoints are linked."))
    key_prefix: str = field(default="yard_autonomy/border", metadata=spec(
        "Zenoh key prefix; envelopes for side X go to <prefix>/X/<sender>."))
    resend_initial_s: float = field(default=1.0, metadata=spec(
        "Re-send an unacknowledged document after this long, doubling each time.", "s", 0.05, 600.0))
    resend_max_s: float = field(default=10.0, metadata=spec(
        "Longest wait between two sends of an unacknowledged document (and all are re-sent at once when "
        "the link comes back).", "s", 0.05, 3600.0))
    replay_window_s: float = field(default=300.0, metadata=spec(
        "An envelope sent longer ago than this is rejected as stale (a replay); re-sends carry a fresh time.",
        "s", 1.0, 86400.0))
    max_clock_skew_s: float = field(default=5.0, metadata=spec(
        "An envelope stamped further in the future than this is rejected (the sites' clocks differ too much).",
        "s", 0.0, 600.0))
    process_rate_hz: float = field(default=20.0, metadata=spec(
        "Rate at which received envelopes are handled, due documents sent and deliveries published.",
        "Hz", 1.0, 1000.0))
    diagnostics_period_s: float = field(default=1.0, metadata=spec(
        "Period of the gateway's /diagnostics status.", "s", 0.1, 60.0))
    stale_outbox_s: float = field(default=60.0, metadata=spec(
        "Diagnostics turn WARN when the oldest unacknowledged document is older than this.", "s", 1.0, 86400.0))

    def check(self) -> None:
        for name in ("side", "peer_side"):
            if not SIDE.match(getattr(self, name)):
                raise ParameterError(f"{name}: '{getattr(self, name)}' is not a two-letter country code")
        if self.side == self.peer_side:
            raise ParameterError(f"peer_side: equals side ({self.side})")
        if self.resend_max_s < self.resend_initial_s:
            raise ParameterError("resend_max_s: below resend_initial_s")
        if not self.listen_endpoints() and not self.zenoh_connect_endpoints():
            raise ParameterError("zenoh_listen, zenoh_connect: both empty; the gateway could reach no one")

    def listen_endpoints(self) -> tuple[str, ...]:
        return tuple(e for e in self.zenoh_listen if e) if self.zenoh_mode == "peer" else ()

    def zenoh_connect_endpoints(self) -> tuple[str, ...]:
        return tuple(e for e in self.zenoh_connect if e)

    def exchange_config(self) -> ExchangeConfig:
        return ExchangeConfig(side=self.side, peer=self.peer_side, resend_initial_s=self.resend_initial_s,
                              resend_max_s=self.resend_max_s, replay_window_s=self.replay_window_s,
                              max_clock_skew_s=self.max_clock_skew_s)

    def link_config(self) -> LinkConfig:
        return LinkConfig(side=self.side, peer=self.peer_side, mode=self.zenoh_mode, listen=self.listen_endpoints(),
                          connect=self.zenoh_connect_endpoints(), multicast_scouting=self.zenoh_multicast_scouting,
                          key_prefix=self.key_prefix)
