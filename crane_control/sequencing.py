"""Lift jobs: validation of incoming ``crane_job`` documents and the order a crane works its queue in.

The order minimises carrier waiting, the yard's scarce resource (a carrier standing under a crane
is not driving containers across the border), while keeping the crane busy:

1. *startable* jobs first (work-conserving: never idle while something can be done). A job is
   startable when its pick bay is ready with the right container and either its place bay is ready
   too, or holding the container over the place bay is worth it: the pick is a carrier (lifting
   frees it at once) or the place carrier is expected within ``prelift_horizon_s`` (pick from the
   truck while the carrier approaches; the container waits at safe height over its bay);
2. then higher ``priority``;
3. then jobs whose carrier is already waiting at a bay, longest waiting first;
4. then jobs that will not need to hold (place bay ready);
5. then the earliest ``expected_ready_s`` (when the fleet manager expects the later bay ready),
   then first come, first served.

When no job is startable the crane pre-positions, at safe height, over the pick bay of the job at
the head of this order, so it only has to lower once the bay becomes ready.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .model import BaySpot, CraneModel


class JobRejected(ValueError):
    """A job cannot be accepted; the message is the rejection reason."""


@dataclass
class Job:
    """An accepted lift job."""

    job_id: str
    container_id: str
    pick: BaySpot
    place: BaySpot
    priority: int
    expected_ready_s: float | None
    accepted_s: float
    seq: int
    order_id: str | None = None

    @property
    def carrier_bay(self) -> BaySpot | None:
        """The carrier side of the job, whose waiting we minimise."""
        if self.place.kind == "carrier":
            return self.place
        if self.pick.kind == "carrier":
            return self.pick
        return None


def job_from_document(doc: dict[str, Any], model: CraneModel, world_bays: set[str], now_s: float, seq: int,
                      known_containers: set[str] | None = None) -> Job:
    """Build a Job from a schema-valid ``crane_job`` document, or raise JobRejected with the reason."""
    crane = doc.get("crane_id")
    if crane is not None and crane != model.id:
        raise JobRejected(f"job is addressed to crane '{crane}', this is '{model.id}'")
    bays = {}
    for role in ("pick", "place"):
        bay_id = doc[role]["bay"]
        if bay_id not in world_bays:
            raise JobRejected(f"{role} bay '{bay_id}' does not exist in the world")
        if bay_id not in model.bays:
            raise JobRejected(f"{role} bay '{bay_id}' is not served by crane '{model.id}' "
                              f"(it serves {', '.join(model.bays)})")
        bays[role] = model.bays[bay_id]
    if bays["pick"].id == bays["place"].id:
        raise JobRejected(f"pick and place are the same bay '{bays['pick'].id}'")
    if known_containers is not None and doc["container_id"] not in known_containers:
        raise JobRejected(f"container '{doc['container_id']}' is unknown to the yard state")
    expected = doc.get("expected_ready_s")
    if expected is not None and expected != expected:  # NaN slips through JSON Schema 'number'
        raise JobRejected("expected_ready_s is not a number")
    return Job(doc["job_id"], doc["container_id"], bays["pick"], bays["place"], int(doc.get("priority", 0)),
               None if expected is None else float(expected), now_s, seq, doc.get("order_id"))


@dataclass(frozen=True)
class Readiness:
    """What the sequencer needs to know about the bays at one instant."""

    pick_ok: Callable[[Job], bool]
    place_ok: Callable[[Job], bool]
    carrier_waiting_s: Callable[[Job], float]  # how long a carrier has been waiting at the job's carrier bay


def startable(job: Job, now_s: float, r: Readiness, prelift_horizon_s: float) -> bool:
    if not r.pick_ok(job):
        return False
    if r.place_ok(job) or job.pick.kind == "carrier":
        return True
    return job.expected_ready_s is None or job.expected_ready_s - now_s <= prelift_horizon_s


def order(jobs: list[Job], now_s: float, r: Readiness, prelift_horizon_s: float) -> list[tuple[Job, bool]]:
    """Jobs in the order the crane should work them, each with whether it can start now."""
    keyed = []
    for job in jobs:
        can = startable(job, now_s, r, prelift_horizon_s)
        eta = job.expected_ready_s if job.expected_ready_s is not None else job.accepted_s
        key = (not can, -job.priority, -r.carrier_waiting_s(job), not r.place_ok(job), eta, job.seq)
        keyed.append((key, job, can))
    keyed.sort(key=lambda k: k[0])
    return [(job, can) for _, job, can in keyed]
