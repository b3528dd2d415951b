"""Simulated customs authorities (issue #15): when and what each side decides on a container's manifest.

No public data gives the Youyiguan customs' decision times, so the defaults below are assumptions,
stated as such in docs/cross_border.md: a decision takes a log-normal time (median 120 s, most
within 1-6 minutes, as an automated risk screening with an officer's confirmation); 3 % of
containers are put on hold (released 10-30 minutes later, documents requested and checked) and 5 %
are inspected (released 15-40 minutes later). Each side draws independently from its own seeded
stream, so the same seed gives the same day.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CustomsConfig:
    """One authority's behaviour (assumptions; see the module docstring)."""

    decision_median_s: float = 120.0
    decision_sigma: float = 0.6  # log-normal shape: 0.6 puts 90 % of decisions within 0.37x..2.7x the median
    hold_rate: float = 0.03
    hold_s: tuple[float, float] = (600.0, 1800.0)
    inspect_rate: float = 0.05
    inspect_s: tuple[float, float] = (900.0, 2400.0)

    def __post_init__(self) -> None:
        if not (self.decision_median_s > 0 and self.decision_sigma >= 0):
            raise ValueError("customs: decision_median_s must be > 0 and decision_sigma >= 0")
        if not (self.hold_rate >= 0 and self.inspect_rate >= 0 and self.hold_rate + self.inspect_rate <= 1):
            raise ValueError("customs: hold_rate and inspect_rate must be >= 0 and sum to at most 1")
        for name in ("hold_s", "inspect_s"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ValueError(f"customs: {name} must be an interval 0 <= lo <= hi")


class CustomsSim:
    """Both sides' customs: ``manifest`` schedules each side's decisions, ``due`` hands out those whose time came."""

    def __init__(self, configs: dict[str, CustomsConfig], seed: int = 0):
        self.configs = configs
        self.rngs = {side: random.Random(f"customs:{side}:{seed}") for side in sorted(configs)}
        self._queue: list[tuple[float, int, dict[str, Any]]] = []
        self._n = 0
        self.held = 0
        self.inspected = 0

    def manifest(self, container_id: str, manifest_id: str, export_side: str, import_side: str, now: float) -> None:
        """A manifest was issued: the export side and the import side each decide on it."""
        for side, direction in ((export_side, "export"), (import_side, "import")):
            if side not in self.configs:
                continue
            cfg, rng = self.configs[side], self.rngs[side]
            t = now + cfg.decision_median_s * math.exp(cfg.decision_sigma * rng.gauss(0.0, 1.0))
            draw = rng.random()
            first = "hold" if draw < cfg.hold_rate else "inspect" if draw < cfg.hold_rate + cfg.inspect_rate \
                else "released"
            self._push(t, container_id, manifest_id, side, direction, first, 1)
            if first != "released":
                self.held += first == "hold"
                self.inspected += first == "inspect"
                lo, hi = cfg.hold_s if first == "hold" else cfg.inspect_s
                self._push(t + rng.uniform(lo, hi), container_id, manifest_id, side, direction, "released", 2)

    def _push(self, t: float, container_id: str, manifest_id: str, side: str, direction: str, decision: str,
              n: int) -> None:
        reason = {"released": "cleared" if n == 1 else "cleared after the check", "hold": "documents requested",
                  "inspect": "selected for physical inspection"}[decision]
        decision_id = f"d-{side}-{manifest_id}-{n}"
        if len(decision_id) > 64:  # the schema's limit: a long manifest id is shortened by its digest
            decision_id = f"d-{side}-{hashlib.sha1(manifest_id.encode()).hexdigest()[:20]}-{n}"
        doc = {"decision_id": decision_id, "manifest_id": manifest_id,
               "container_id": container_id, "side": side, "direction": direction, "decision": decision,
               "reason": reason, "stamp": t}
        self._n += 1
        heapq.heappush(self._queue, (t, self._n, doc))

    def due(self, now: float) -> list[dict[str, Any]]:
        """Decisions taken by ``now``, in time order."""
        out = []
        while self._queue and self._queue[0][0] <= now:
            out.append(heapq.heappop(self._queue)[2])
        return out
