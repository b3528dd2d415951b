"""Which transfer-station bays a crane may work: the one derivation of a ``bay_status`` document's bays.

A truck bay is ready when a parked truck stands at it; a carrier bay when a carrier stands at it,
docked and still, and is not faulted (``yard_model/schemas/bay_status.schema.json``). Callers say
what stands where from what they know: the fleet manager from its own picture (the place traffic
control has each carrier on, the follower's reports, ``yard_state``'s trucks); a closed loop without
a fleet manager (``yard_harness.crane_loop``) from the simulator's truth. The rule is applied here
only, so a crane sees the same readiness either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CarrierAtBay:
    """A carrier standing on a carrier bay, as its caller sees it."""

    carrier_id: str
    bay_id: str
    still: bool  # docked (or standing) at the bay and not moving
    container_id: str | None = None  # the container on the carrier, if any
    faulted: bool = False


def bay_entries(world, trucks: Mapping[str, Mapping[str, Any]], carriers: Iterable[CarrierAtBay],
                approaching: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """The ``bays`` of a bay_status document, every bay of ``world`` in world order.

    ``trucks``: truck id -> ``{"bay", "state", "container_id"}`` (the encoding of ``yard_state``);
    ``carriers``: those standing on carrier bays (when two stand on one, the later wins);
    ``approaching``: carrier bay -> the carrier routed to it, named in the reason of an empty bay.
    """
    approaching = approaching or {}
    at: dict[str, list[CarrierAtBay]] = {}
    for c in carriers:
        at.setdefault(c.bay_id, []).append(c)
    bays: dict[str, dict[str, Any]] = {}
    for b in world.bays.values():
        if b.kind == "carrier":
            entry: dict[str, Any] = {"kind": "carrier", "occupant": None, "ready": False, "container_id": None}
            for c in at.get(b.id, ()):
                entry.update(occupant=c.carrier_id, container_id=c.container_id, ready=bool(c.still and not c.faulted))
                if not entry["ready"]:
                    entry["reason"] = "carrier faulted" if c.faulted else "carrier not docked and stationary"
            if entry["occupant"] is None:
                entry["reason"] = f"{approaching[b.id]} approaching" if b.id in approaching else "empty"
        else:
            entry = {"kind": "truck", "occupant": None, "ready": False, "container_id": None, "reason": "no truck"}
            for tid, t in trucks.items():
                if t["bay"] == b.id:
                    entry = {"kind": "truck", "occupant": tid, "ready": t["state"] == "parked",
                             "container_id": t["container_id"]}
                    if t["state"] != "parked":
                        entry["reason"] = f"truck {t['state']}"
        bays[b.id] = entry
    return bays
