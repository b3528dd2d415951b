"""Collision detection between the bodies of the simulated yard: the ground truth for "zero collisions".

Every body is an oriented box: a rectangular footprint in ``map`` plus a vertical extent
[z0, z1]. Two bodies are in contact when their footprints intersect (shapely polygons) and their
vertical extents overlap by more than ``Z_CONTACT_M`` (a container resting on a deck touches it,
which is not a collision). Bodies of one owner (the four legs and the spreader of a crane) never
collide with each other, nor do pairs the caller excludes (a container and what it rests on).

Method (incremental, because the engine must run many times faster than real time): a body
whose box did not change since the previous step (the engine hands over the very same object)
keeps its contacts; only the bodies that moved, appeared, or whose exclusions changed are
re-tested. The broad phase compares the bounding circles and vertical extents of the moved bodies
with those of all bodies in one numpy operation on arrays kept between steps (rows are rewritten
only for moved bodies; an STRtree would have to be rebuilt every step, and a Python spatial hash
measured no faster at the yard's few dozen bodies). The few candidate pairs are tested exactly
with ``rects_overlap``, an allocation-free separating-axis test of two rectangles (several times
cheaper than building shapely polygons every step; a property test checks it agrees with
shapely's ``intersects``). Shapely computes where a new contact is (the centroid of the
footprints' intersection). ``contacts`` is the plain, non-incremental version of the same test
(shapely polygons), used as the reference in tests. ``CollisionWorld`` remembers the pairs in
contact, so each new contact is reported once, not once per step, and a pair that separates and
touches again is a new contact.
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


def _touch(a: Body, b: Body) -> bool:
    """Exact test of two bodies: vertical overlap beyond touching and intersecting footprints."""
    if min(a.box.z1, b.box.z1) - max(a.box.z0, b.box.z0) <= Z_CONTACT_M:
        return False
    return rects_overlap(a.box, b.box)


def contact_point(a: Body, b: Body) -> tuple[float, float]:
    """Centre [m] of the overlap of two footprints (shapely)."""
    c = shapely.intersection(a.box.polygon(), b.box.polygon()).centroid
    return (c.x, c.y) if not c.is_empty else ((a.box.cx + b.box.cx) / 2.0, (a.box.cy + b.box.cy) / 2.0)


class CollisionWorld:
    """Incremental contact detection (module docstring): ``update`` returns the new contacts."""

    def __init__(self):
        self._bodies: dict[str, Body] = {}
        self._order: list[str] = []  # body ids in array order
        self._slot: dict[str, int] = {}
        self._arr = np.zeros((0, 5))  # cx, cy, radius, z0, z1 per body
        self._excluded: set[tuple[str, str]] | frozenset = frozenset()
        self.pairs: dict[tuple[str, str], tuple[float, float]] = {}  # in contact now -> where it began
        self.count = 0  # contacts started since the start

    def update(self, bodies: list[Body], excluded: set[tuple[str, str]] | frozenset = frozenset(),
               extra: dict[tuple[str, str], tuple[float, float]] | None = None) -> list[Contact]:
        """Bodies now, pairs never in contact, and extra pairs in contact (crane separation); new contacts."""
        prev = self._bodies
        now_map = {b.id: b for b in bodies}
        dirty = [b for b in bodies
                 if (p := prev.get(b.id)) is not b and (p is None or p.box != b.box or p.owner != b.owner)]
        gone = [k for k in prev if k not in now_map]
        self._bodies = now_map
        if gone or any(b.id not in self._slot for b in dirty):  # the set of bodies changed: rebuild
            self._order = [b.id for b in bodies]
            self._slot = {k: i for i, k in enumerate(self._order)}
            self._arr = np.array([(b.box.cx, b.box.cy, b.box.radius, b.box.z0, b.box.z1) for b in bodies]) \
                if bodies else np.zeros((0, 5))
        else:
            arr, slot = self._arr, self._slot
            for b in dirty:
                row = arr[slot[b.id]]
                row[0], row[1], row[3], row[4] = b.box.cx, b.box.cy, b.box.z0, b.box.z1
        dirty_ids = {b.id for b in dirty}
        gone_set = set(gone)
        unexcluded = self._excluded - excluded if excluded != self._excluded else set()
        self._excluded = excluded
        pairs = {k: v for k, v in self.pairs.items()
                 if k[0] not in dirty_ids and k[1] not in dirty_ids and k[0] not in gone_set
                 and k[1] not in gone_set and k not in excluded and not k[0].startswith("crane:")}
        found: dict[tuple[str, str], tuple[float, float]] = {}
        if dirty and len(self._order) > 1:
            arr, order = self._arr, self._order
            idx = [self._slot[b.id] for b in dirty]
            m = arr[idx]
            dx = m[:, 0:1] - arr[:, 0]
            dy = m[:, 1:2] - arr[:, 1]
            rs = m[:, 2:3] + arr[:, 2]
            near = dx * dx + dy * dy <= rs * rs
            near &= (np.minimum(m[:, 4:5], arr[:, 4]) - np.maximum(m[:, 3:4], arr[:, 3])) > Z_CONTACT_M
            near[np.arange(len(idx)), idx] = False
            rows, cols = np.nonzero(near)
            for r, c in zip(rows.tolist(), cols.tolist()):
                a, b = dirty[r], now_map[order[c]]
                if a.owner == b.owner:
                    continue
                key = (a.id, b.id) if a.id < b.id else (b.id, a.id)
                if key in excluded or key in found or key in pairs:
                    continue
                if rects_overlap(a.box, b.box):
                    found[key] = self.pairs.get(key) or contact_point(a, b)
        for key in unexcluded:
            if key not in found and key[0] in now_map and key[1] in now_map and \
                    _touch(now_map[key[0]], now_map[key[1]]):
                found[key] = self.pairs.get(key) or contact_point(now_map[key[0]], now_map[key[1]])
        for key, where in (extra or {}).items():
            found[_pair(*key)] = self.pairs.get(_pair(*key), where)
        new = [Contact(a, b, *found[(a, b)]) for (a, b) in sorted(found) if (a, b) not in self.pairs]
        pairs.update(found)
        self.pairs = pairs
        self.count += len(new)
        return new
