"""Cross-border information exchange between the two sides' yards (issue #15).

One gateway per side carries customs documents (manifests, clearance decisions) between that
side's ROS 2 graph and the other side over Eclipse Zenoh. The core (every module here except
``gateway_node``) has no ROS: :mod:`.signing` (Ed25519 envelopes), :mod:`.store` (SQLite outbox,
inbox and replay memory), :mod:`.exchange` (re-send until acknowledged, exactly-once delivery in
order per container, rejection with a reason), :mod:`.link` (the Zenoh session). Design and
security model: docs/cross_border.md.
"""
