"""Customs clearance of the containers the fleet manager moves across the border (issue #15; no ROS).

A container may leave its origin station only when the origin side's customs has released it for
export and the destination side's for import. The decisions (``clearance_decision`` documents)
reach the fleet manager on ``/customs/decisions``: this side's from its own customs, the other
side's through the border gateways (``cross_border``), each side's in the order it decided, so the
latest decision per container and side is the one in force (``inspect`` or ``hold``, then
``released``).

The book is kept in the fleet manager's store (meta key ``clearance``) so that a restarted manager
does not wait again for decisions that were published before it went down.
"""

from __future__ import annotations

import json
from typing import Any

STATES = ("pending", "released", "hold", "inspect")


class ClearanceBook:
    """The latest decision per container and deciding side; ``state`` combines export and import."""

    def __init__(self, decisions: dict[str, dict[str, dict[str, Any]]] | None = None):
        self.decisions: dict[str, dict[str, dict[str, Any]]] = decisions or {}

    def record(self, doc: dict[str, Any]) -> bool:
        """Take a (schema-valid) decision; False if it is the one already in force (a repeat)."""
        per_side = self.decisions.setdefault(doc["container_id"], {})
        known = per_side.get(doc["side"])
        if known is not None and known["decision_id"] == doc["decision_id"]:
            return False
        per_side[doc["side"]] = {k: doc[k] for k in ("decision_id", "manifest_id", "direction", "decision",
                                                     "reason", "stamp")}
        return True

    def state(self, container_id: str, export_side: str, import_side: str) -> tuple[str, str]:
        """(state, reason) of a container leaving ``export_side`` for ``import_side``.

        hold beats inspect beats pending; released only when both sides released it. A decision of
        the wrong direction (an import decision from the export side) does not count.
        """
        per_side = self.decisions.get(container_id, {})
        found = {"export": per_side.get(export_side), "import": per_side.get(import_side)}
        waits = []
        for direction, side in (("export", export_side), ("import", import_side)):
            d = found[direction]
            if d is None or d["direction"] != direction:
                waits.append(("pending", f"no {direction} decision from {side}"))
            elif d["decision"] != "released":
                waits.append((d["decision"], f"{side} {direction}: {d['decision']} ({d['reason']})"))
        if not waits:
            return "released", ""
        rank = {"hold": 0, "inspect": 1, "pending": 2}
        waits.sort(key=lambda w: rank[w[0]])
        return waits[0][0], "; ".join(w[1] for w in waits)

    def forget(self, container_id: str) -> None:
        """Drop a container's decisions once its crossing is done (the book stays small)."""
        self.decisions.pop(container_id, None)

    def to_json(self) -> str:
        return json.dumps(self.decisions, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> ClearanceBook:
        return cls(json.loads(text) if text else None)
