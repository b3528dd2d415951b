"""Allocation of carriers to transport orders: optimal assignment of completion times.

For every (carrier, order) pair the expected completion time is

    ready(carrier) + min over loading bays b [ T(where, b) + load + min over unloading bays d T(b, d) + unload ]

with T the free-flow travel time table between places (fastest routes) and
``where``/``ready`` where and when the carrier will be free (now for idle
carriers; after its current unloading for carriers about to finish — those are
included so a carrier finishing next to an order can win it, but only pairs
with a carrier free *now* are committed, the rest are re-solved later:
a rolling horizon). The assignment minimising the sum of costs is found with
the Hungarian method (scipy ``linear_sum_assignment``, rectangular: with more
orders than carriers it also picks which orders to serve now).

Cost = completion time relative to now, minus ``age_weight`` x waiting time
(fairness: an order that keeps losing grows cheaper until it wins, so no order
starves), minus ``priority_weight_s`` x priority, plus ``lateness_weight`` x
expected lateness past the deadline. With those weights at zero the solution
minimises total completion time exactly (tested against brute force).
Battery-aware: a pair whose trip would leave the carrier below its reserve is
infeasible (the carrier goes charging instead, decided by the manager).

The cost matrix is built with numpy broadcasting over (carriers x order signatures x
loading bays) — orders share a few (loading bays, unloading bays) signatures — and
expanded to all orders by indexing, so 100 carriers x 500 orders take milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

INFEASIBLE = 1e12


@dataclass(frozen=True)
class AllocationConfig:
    load_time_s: float = 150.0  # expected crane handling at the origin (both bays ready -> container on deck)
    unload_time_s: float = 150.0
    age_weight: float = 0.2  # cost removed per second an order has waited
    priority_weight_s: float = 300.0  # cost removed per priority level
    lateness_weight: float = 2.0  # cost added per second of expected lateness
    energy_kwh_per_m: float = 0.0018
    reserve_kwh: float = 0.0  # energy a carrier must keep after the order (plus the trip to a charger)


@dataclass(frozen=True)
class CarrierSlot:
    carrier_id: str
    place: int  # index of the place where it will be free
    ready_s: float  # absolute time it will be free
    energy_kwh: float = float("inf")  # usable energy now
    free_now: bool = True


@dataclass(frozen=True)
class OrderSlot:
    order_id: str
    origin_bays: tuple[int, ...]  # place indices of possible loading bays
    dest_bays: tuple[int, ...]  # place indices of possible unloading bays
    accepted_s: float
    priority: int = 0
    deadline_s: float | None = None


@dataclass(frozen=True)
class Assignment:
    carrier_id: str
    order_id: str
    completion_s: float  # expected absolute completion time
    cost: float
    commit: bool  # the carrier is free now


def cost_matrix(carriers: list[CarrierSlot], orders: list[OrderSlot], T: np.ndarray, D: np.ndarray | None,
                now: float, cfg: AllocationConfig) -> tuple[np.ndarray, np.ndarray]:
    """(cost, completion) matrices, carriers x orders. Infeasible pairs cost INFEASIBLE."""
    nc, no = len(carriers), len(orders)
    if nc == 0 or no == 0:
        return np.zeros((nc, no)), np.zeros((nc, no))
    bays = sorted({b for o in orders for b in o.origin_bays})
    bidx = {b: k for k, b in enumerate(bays)}
    nb = len(bays)
    # orders share few (loading bays, unloading bays) signatures: work per signature, expand at the end
    keys: dict[tuple, int] = {}
    kidx = np.empty(no, dtype=int)
    for j, o in enumerate(orders):
        kidx[j] = keys.setdefault((o.origin_bays, o.dest_bays), len(keys))
    K = np.full((len(keys), nb), np.inf)  # from loading bay k to the end of the order: load + transit + unload
    KD = np.zeros((len(keys), nb))  # distance of that transit
    for (obays, dbays), r in keys.items():
        dests = np.array(dbays, dtype=int)
        for b in obays:
            tt = T[b, dests]
            m = int(np.argmin(tt))
            K[r, bidx[b]] = cfg.load_time_s + tt[m] + cfg.unload_time_s
            KD[r, bidx[b]] = D[b, dests[m]] if D is not None else 0.0
    places = np.array([c.place for c in carriers], dtype=int)
    bay_arr = np.array(bays, dtype=int)
    total = T[np.ix_(places, bay_arr)][:, None, :] + K[None, :, :]  # (carriers, signatures, bays)
    kbest = np.argmin(total, axis=2)
    best = np.take_along_axis(total, kbest[:, :, None], axis=2)[:, :, 0][:, kidx]
    ready = np.maximum(np.array([c.ready_s for c in carriers]), now)
    completion = ready[:, None] + best
    age = now - np.array([o.accepted_s for o in orders])
    prio = np.array([o.priority for o in orders], dtype=float)
    deadline = np.array([np.inf if o.deadline_s is None else o.deadline_s for o in orders])
    late = np.maximum(completion - deadline[None, :], 0.0)
    cost = (completion - now) - cfg.age_weight * age[None, :] - cfg.priority_weight_s * prio[None, :] \
        + cfg.lateness_weight * late
    feasible = np.isfinite(best)
    if D is not None and cfg.energy_kwh_per_m > 0:
        dist = D[np.ix_(places, bay_arr)][:, None, :] + KD[None, :, :]
        dist = np.take_along_axis(dist, kbest[:, :, None], axis=2)[:, :, 0][:, kidx]
        energy = np.array([c.energy_kwh for c in carriers])
        feasible &= dist * cfg.energy_kwh_per_m + cfg.reserve_kwh <= energy[:, None]
    cost = np.where(feasible, cost, INFEASIBLE)
    return cost, np.where(feasible, completion, np.inf)


def allocate(carriers: list[CarrierSlot], orders: list[OrderSlot], T: np.ndarray, D: np.ndarray | None,
             now: float, cfg: AllocationConfig | None = None) -> list[Assignment]:
    """Optimal assignment of carriers to orders (see module docstring)."""
    cfg = cfg or AllocationConfig()
    if not carriers or not orders:
        return []
    cost, completion = cost_matrix(carriers, orders, T, D, now, cfg)
    rows, cols = linear_sum_assignment(cost)
    out = []
    for i, j in zip(rows.tolist(), cols.tolist()):
        if cost[i, j] >= INFEASIBLE:
            continue
        c = carriers[i]
        out.append(Assignment(c.carrier_id, orders[j].order_id, float(completion[i, j]), float(cost[i, j]),
                              c.free_now))
    return out
