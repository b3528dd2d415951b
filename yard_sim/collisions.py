"""Collision detection between the bodies of the simulated yard: the ground truth for "zero collisions".

Every body is an oriented box: a rectangular footprint in ``map`` plus a vertical extent
[z0, z1]. Two bodies are in contact when their footprints intersect (shapely polygons) and their
vertical extents overlap by more than ``Z_CONTACT_M`` (a container resting on a deck touches it,
which is not a collision). Bodies of one owner (the four legs and the spreader of a crane) never
collide with each other, nor do pairs the caller excludes (a container and what it rests on).

Method: each step a broad phase compares bounding circles of all bodies at once (numpy; O(n^2)
with n below a hundred is cheaper than rebuilding an STRtree every step), then the few candidate
pairs are tested exactly with shapely (``shapely.polygons`` builds all footprints in one call,
``shapely.intersects`` tests all pairs in one call). ``ContactTracker`` remembers the pairs in
contact, so each new contact is reported once, not once per step, and a pair that separates and
touches again is a new contact.

``rects_overlap`` is an allocation-free separating-axis test of two rectangles, used where a
single query runs inside the physics step (what is under a crane's spreader); a property test
checks that it agrees with shapely.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import shapely

Z_CONTACT_M = 0.01  # [m] vertical overlap below which two bodies merely touch


class Box(NamedTuple):
    """An oriented box: centre (cx, cy) [m], yaw [rad], length along yaw, width, vertical extent."""

    cx: float
    cy: float
    yaw: float
    length: float
    width: float
    z0: float = 0.0
    z1: float = 0.0

    @property
    def radius(self) -> float:
        return 0.5 * math.hypot(self.length, self.width)

    def corners(self) -> list[tuple[float, float]]:
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        hl, hw = self.length / 2.0, self.width / 2.0
        return [(self.cx + c * dx - s * dy, self.cy + s * dx + c * dy)
                for dx, dy in ((hl, hw), (-hl, hw), (-hl, -hw), (hl, -hw))]

    def polygon(self) -> shapely.Polygon:
        return shapely.Polygon(self.corners())


def rects_overlap(a: Box, b: Box) -> bool:
    """True if the footprints of two oriented rectangles intersect (touching counts).

    Separating-axis theorem: two convex polygons are disjoint iff their projections on one of
    the edge normals (two per rectangle) are disjoint.
    """
    dx, dy = b.cx - a.cx, b.cy - a.cy
    if dx * dx + dy * dy > (a.radius + b.radius) ** 2:
        return False
    ca, sa, cb, sb = math.cos(a.yaw), math.sin(a.yaw), math.cos(b.yaw), math.sin(b.yaw)
    ahl, ahw, bhl, bhw = a.length / 2.0, a.width / 2.0, b.length / 2.0, b.width / 2.0
    for ux, uy in ((ca, sa), (-sa, ca), (cb, sb), (-sb, cb)):
        dist = abs(dx * ux + dy * uy)
        ra = ahl * abs(ca * ux + sa * uy) + ahw * abs(-sa * ux + ca * uy)
        rb = bhl * abs(cb * ux + sb * uy) + bhw * abs(-sb * ux + cb * uy)
        if dist > ra + rb + 1e-12:
            return False
    return True


@dataclass(frozen=True)
class Body:
    """A collision body: ``id`` like ``carrier:carrier_01``, ``owner`` groups bodies that never collide."""

    id: str
    owner: str
    box: Box


@dataclass(frozen=True)
class Contact:
    """A new contact between two bodies (ids sorted), at the centre of their footprints' overlap."""

    a: str
    b: str
    x: float
    y: float


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def contacts(bodies: list[Body], excluded: set[tuple[str, str]] | frozenset = frozenset()
             ) -> dict[tuple[str, str], tuple[float, float]]:
    """All pairs of bodies in contact now, with a point of their overlap (x, y) [m]."""
    n = len(bodies)
    if n < 2:
        return {}
    arr = np.array([(b.box.cx, b.box.cy, b.box.radius, b.box.z0, b.box.z1) for b in bodies])
    cx, cy, r, z0, z1 = arr.T
    near = (np.subtract.outer(cx, cx) ** 2 + np.subtract.outer(cy, cy) ** 2) <= np.add.outer(r, r) ** 2
    overlap_z = (np.minimum.outer(z1, z1) - np.maximum.outer(z0, z0)) > Z_CONTACT_M
    cand = np.triu(near & overlap_z, k=1)
    ii, jj = np.nonzero(cand)
    keep = [(i, j) for i, j in zip(ii.tolist(), jj.tolist())
            if bodies[i].owner != bodies[j].owner and _pair(bodies[i].id, bodies[j].id) not in excluded]
    if not keep:
        return {}
    used = sorted({k for pair in keep for k in pair})
    index = {k: m for m, k in enumerate(used)}
    polys = shapely.polygons(np.array([bodies[k].box.corners() for k in used]))
    left = polys[[index[i] for i, _ in keep]]
    right = polys[[index[j] for _, j in keep]]
    hit = shapely.intersects(left, right)
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for (i, j), h, pa, pb in zip(keep, hit, left, right):
        if h:
            c = shapely.intersection(pa, pb).centroid
            x, y = (c.x, c.y) if not c.is_empty else (bodies[i].box.cx, bodies[i].box.cy)
            out[_pair(bodies[i].id, bodies[j].id)] = (x, y)
    return out


class ContactTracker:
    """Turns the pairs in contact at each step into one event per new contact."""

    def __init__(self):
        self.current: set[tuple[str, str]] = set()
        self.count = 0  # contacts started since the start

    def update(self, now: dict[tuple[str, str], tuple[float, float]]) -> list[Contact]:
        """New contacts since the previous call; pairs no longer touching are forgotten."""
        new = [Contact(a, b, *now[(a, b)]) for (a, b) in sorted(now) if (a, b) not in self.current]
        self.current = set(now)
        self.count += len(new)
        return new
