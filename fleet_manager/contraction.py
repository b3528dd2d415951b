"""Contraction hierarchies: exact fastest-path queries in well under a millisecond.

Method: Geisberger, Sanders, Schultes, Delling, "Contraction Hierarchies: Faster
and Simpler Hierarchical Routing in Road Networks" (WEA 2008). Vertices are
contracted one by one in order of importance (edge difference + number of
contracted neighbours, lazily updated); contracting v adds a shortcut u->w
wherever u->v->w is the only shortest path (no *witness* found by a bounded
Dijkstra that avoids v). A query is then a bidirectional Dijkstra that only
climbs the hierarchy; the answer is exact and typically settles a few hundred
vertices on a 10,000-vertex yard graph instead of thousands.

Why our own: networkx has no contraction hierarchies, and its Dijkstra/A*
settle far too many vertices in pure Python for a 1 ms budget on 10k nodes
(see ``bench/fleet.py``). scipy's csgraph runs full single-source searches.
The hierarchy is static: queries that must avoid blocked parts of the yard use
the router's plain Dijkstra instead (small yards) or check and fall back.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable


class ContractionHierarchy:
    """A contraction hierarchy over a weighted digraph with vertices 0..n-1."""

    def __init__(self, n: int, edges: Iterable[tuple[int, int, float]], witness_settle_limit: int = 400):
        self.n = n
        out: list[dict[int, float]] = [dict() for _ in range(n)]
        inn: list[dict[int, float]] = [dict() for _ in range(n)]
        for u, v, w in edges:
            if u == v:
                continue
            if w < out[u].get(v, math.inf):
                out[u][v] = w
                inn[v][u] = w
        self._limit = witness_settle_limit
        self.mid: dict[tuple[int, int], int] = {}
        self.rank = [0] * n
        self.shortcuts = 0
        self._contract_all(out, inn)

    # ---------------------------------------------------------------- preprocessing
    def _witness(self, out, src: int, skip: int, max_dist: float, targets: set[int], limit: int) -> dict[int, float]:
        """Bounded Dijkstra from src in the remaining graph, avoiding ``skip``; distances of the targets it settles."""
        dist = {src: 0.0}
        heap = [(0.0, src)]
        found: dict[int, float] = {}
        settled = 0
        remaining = set(targets)
        while heap and remaining and settled < limit:
            d, u = heapq.heappop(heap)
            if d > max_dist:
                break
            if d > dist[u]:
                continue
            settled += 1
            if u in remaining:
                found[u] = d
                remaining.discard(u)
            for v, w in out[u].items():
                if v == skip:
                    continue
                nd = d + w
                if nd < dist.get(v, math.inf):
                    dist[v] = nd
                    heapq.heappush(heap, (nd, v))
        return found

    def _shortcuts_for(self, v: int, out, inn, limit: int) -> list[tuple[int, int, float]]:
        ins = list(inn[v].items())
        outs = list(out[v].items())
        needed = []
        if not ins or not outs:
            return needed
        max_out = max(w for _, w in outs)
        for u, wu in ins:
            targets = {x for x, _ in outs if x != u}
            if not targets:
                continue
            wit = self._witness(out, u, v, wu + max_out, targets, limit)
            for x, wx in outs:
                if x == u:
                    continue
                via = wu + wx
                if wit.get(x, math.inf) > via:
                    needed.append((u, x, via))
        return needed

    def _priority(self, v, out, inn, deleted_nb, level) -> tuple[float, list]:
        """Edge difference + contracted neighbours + level (Geisberger et al.'s usual terms)."""
        sc = self._shortcuts_for(v, out, inn, self._limit)
        removed = len(inn[v]) + len(out[v])
        return 2 * len(sc) - removed + deleted_nb[v] + level[v], sc

    def _contract_all(self, out, inn) -> None:
        """Contract every vertex; ``out``/``inn`` hold the remaining (uncontracted) graph only.

        A contracted vertex's edges leave the remaining graph as its upward (``up``) and
        reversed downward (``down_rev``) edges, so witness searches and priority updates late
        in the order no longer wade through edges to vertices already contracted (the quadratic
        cost that made preprocessing take minutes on a 10,000-vertex yard).
        """
        n = self.n
        contracted = [False] * n
        deleted_nb = [0] * n
        level = [0] * n
        prio = [0.0] * n
        self.up = [[] for _ in range(n)]
        self.down_rev = [[] for _ in range(n)]
        heap = []
        for v in range(n):
            prio[v], _ = self._priority(v, out, inn, deleted_nb, level)
            heap.append((prio[v], v))
        heapq.heapify(heap)
        order = 0
        while heap:
            p, v = heapq.heappop(heap)
            if contracted[v] or p != prio[v]:
                continue  # stale entry
            newp, sc = self._priority(v, out, inn, deleted_nb, level)
            if heap and newp > heap[0][0]:  # lazy update
                prio[v] = newp
                heapq.heappush(heap, (newp, v))
                continue
            for u, x, w in sc:
                if w < out[u].get(x, math.inf):
                    out[u][x] = w
                    inn[x][u] = w
                    self.mid[(u, x)] = v
                    self.shortcuts += 1
            contracted[v] = True
            self.rank[v] = order
            order += 1
            neighbours = set(inn[v]) | set(out[v])
            # v's remaining edges all lead to vertices contracted later (higher rank)
            self.up[v] = list(out[v].items())
            self.down_rev[v] = list(inn[v].items())
            for x in out[v]:
                del inn[x][v]
            for u in inn[v]:
                del out[u][v]
            out[v], inn[v] = {}, {}
            for u in neighbours:  # neighbour updates keep the order uniform
                deleted_nb[u] += 1
                level[u] = max(level[u], level[v] + 1)
                prio[u], _ = self._priority(u, out, inn, deleted_nb, level)
                heapq.heappush(heap, (prio[u], u))

    # ---------------------------------------------------------------- queries
    def query(self, s: int, t: int) -> tuple[float, list[int]] | None:
        """Shortest distance and vertex path s..t, or None when t is unreachable."""
        if s == t:
            return 0.0, [s]
        up, down = self.up, self.down_rev
        df = {s: 0.0}
        db = {t: 0.0}
        pf = {s: -1}
        pb = {t: -1}
        hf = [(0.0, s)]
        hb = [(0.0, t)]
        best = math.inf
        meet = -1
        while hf or hb:
            if hf and hf[0][0] < best:
                d, u = heapq.heappop(hf)
                if d <= df[u]:
                    if u in db and d + db[u] < best:
                        best, meet = d + db[u], u
                    if not self._stalled(u, d, df, down):
                        for x, w in up[u]:
                            nd = d + w
                            if nd < df.get(x, math.inf):
                                df[x] = nd
                                pf[x] = u
                                heapq.heappush(hf, (nd, x))
            elif hf:
                hf = []
            if hb and hb[0][0] < best:
                d, u = heapq.heappop(hb)
                if d <= db[u]:
                    if u in df and d + df[u] < best:
                        best, meet = d + df[u], u
                    if not self._stalled(u, d, db, up):
                        for x, w in down[u]:
                            nd = d + w
                            if nd < db.get(x, math.inf):
                                db[x] = nd
                                pb[x] = u
                                heapq.heappush(hb, (nd, x))
            elif hb:
                hb = []
        if meet < 0:
            return None
        fwd = []
        u = meet
        while u != -1:
            fwd.append(u)
            u = pf[u]
        fwd.reverse()
        u = pb[meet]
        while u != -1:
            fwd.append(u)
            u = pb[u]
        return best, self._unpack(fwd)

    @staticmethod
    def _stalled(u: int, d: float, dist: dict, opposite: list) -> bool:
        """Stall-on-demand: u is reached shorter via a higher vertex, so it need not be expanded."""
        for x, w in opposite[u]:
            dx = dist.get(x)
            if dx is not None and dx + w < d:
                return True
        return False

    def _unpack(self, path: list[int]) -> list[int]:
        out = [path[0]]
        stack = []
        for i in range(len(path) - 1, 0, -1):
            stack.append((path[i - 1], path[i]))
        while stack:
            u, x = stack.pop()
            v = self.mid.get((u, x))
            if v is None:
                out.append(x)
            else:
                stack.append((v, x))
                stack.append((u, v))
        return out



class HubLabels:
    """Hub labels from a contraction hierarchy: a shortest-path query is a merge of two labels.

    Method: Abraham, Delling, Goldberg, Werneck, "A Hub-Based Labeling Algorithm for Shortest
    Paths on Road Networks" (SEA 2011). A vertex's forward label is its upward search space in
    the hierarchy (hub, distance, predecessor); its backward label the same on the reversed
    graph. dist(s, t) = min over common hubs h of fwd_s(h) + bwd_t(h) — exact because every
    shortest path has a highest vertex reached upwards from both ends. The labels are sorted
    numpy arrays, so a query is one ``intersect1d`` plus unpacking the path (predecessor chains,
    then the hierarchy's shortcuts). Memory grows with the label size (~1-2 k entries per vertex
    on a 10,000-vertex grid yard: tens of MB); preprocessing is one upward search per vertex.
    """

    def __init__(self, ch: ContractionHierarchy):
        import numpy as np

        self.ch = ch
        self.fwd = [self._label(v, ch.up, np) for v in range(ch.n)]
        self.bwd = [self._label(v, ch.down_rev, np) for v in range(ch.n)]

    @staticmethod
    def _label(v: int, graph, np):
        dist = {v: 0.0}
        pred = {v: -1}
        heap = [(0.0, v)]
        while heap:
            d, u = heapq.heappop(heap)
            if d > dist[u]:
                continue
            for x, w in graph[u]:
                nd = d + w
                if nd < dist.get(x, math.inf):
                    dist[x] = nd
                    pred[x] = u
                    heapq.heappush(heap, (nd, x))
        hubs = np.fromiter(sorted(dist), dtype=np.int32, count=len(dist))
        return hubs, np.array([dist[h] for h in hubs.tolist()]), np.array([pred[h] for h in hubs.tolist()],
                                                                          dtype=np.int32)

    @property
    def entries(self) -> int:
        return sum(len(f[0]) + len(b[0]) for f, b in zip(self.fwd, self.bwd))

    def query(self, s: int, t: int) -> tuple[float, list[int]] | None:
        """Shortest distance and vertex path s..t, or None when t is unreachable."""
        import numpy as np

        if s == t:
            return 0.0, [s]
        fh, fd, fp = self.fwd[s]
        bh, bd, bp = self.bwd[t]
        common, i, j = np.intersect1d(fh, bh, assume_unique=True, return_indices=True)
        if len(common) == 0:
            return None
        k = int(np.argmin(fd[i] + bd[j]))
        hub = int(common[k])
        # up from s to the hub, then down from the hub to t, along the hierarchy's edges
        up = [hub]
        while up[-1] != s:
            idx = int(np.searchsorted(fh, up[-1]))
            up.append(int(fp[idx]))
        up.reverse()
        down = []
        u = hub
        while u != t:
            idx = int(np.searchsorted(bh, u))
            u = int(bp[idx])
            down.append(u)
        return float(fd[i[k]] + bd[j[k]]), self.ch._unpack(up + down)
