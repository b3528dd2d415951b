"""Allocation: the Hungarian assignment is optimal (brute force on small cases), fair, battery-aware."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet_manager.allocation import INFEASIBLE, AllocationConfig, CarrierSlot, OrderSlot, allocate, cost_matrix

PURE = AllocationConfig(load_time_s=100.0, unload_time_s=80.0, age_weight=0.0, priority_weight_s=0.0,
                        lateness_weight=0.0)


def brute_force(cost: np.ndarray) -> float:
    """Minimum total cost over every assignment of min(C, O) pairs."""
    nc, no = cost.shape
    best = np.inf
    if nc <= no:
        for cols in itertools.permutations(range(no), nc):
            best = min(best, sum(cost[i, j] for i, j in enumerate(cols)))
    else:
        for rows in itertools.permutations(range(nc), no):
            best = min(best, sum(cost[i, j] for j, i in enumerate(rows)))
    return best


@st.composite
def cases(draw):
    n_places = draw(st.integers(3, 7))
    T = np.array([[0.0 if i == j else draw(st.floats(5.0, 500.0)) for j in range(n_places)] for i in range(n_places)])
    nc = draw(st.integers(1, 4))
    no = draw(st.integers(1, 5))
    bays = list(range(n_places))
    carriers = [CarrierSlot(f"c{i}", draw(st.sampled_from(bays)), draw(st.floats(0.0, 200.0))) for i in range(nc)]
    orders = []
    for j in range(no):
        ob = tuple(sorted(set(draw(st.lists(st.sampled_from(bays), min_size=1, max_size=3)))))
        db = tuple(sorted(set(draw(st.lists(st.sampled_from(bays), min_size=1, max_size=3)))))
        orders.append(OrderSlot(f"o{j}", ob, db, draw(st.floats(0.0, 100.0)), draw(st.integers(0, 3)),
                                draw(st.one_of(st.none(), st.floats(200.0, 2000.0)))))
    return T, carriers, orders


@settings(max_examples=150, deadline=None)
@given(cases())
def test_assignment_minimises_total_completion_time(case):
    T, carriers, orders = case
    now = 100.0
    result = allocate(carriers, orders, T, None, now, PURE)
    cost, completion = cost_matrix(carriers, orders, T, None, now, PURE)
    assert len(result) == min(len(carriers), len(orders))
    assert len({a.carrier_id for a in result}) == len(result) and len({a.order_id for a in result}) == len(result)
    total = sum(a.completion_s - now for a in result)
    assert total == pytest.approx(brute_force(completion - now), rel=1e-9, abs=1e-6)


@settings(max_examples=80, deadline=None)
@given(cases())
def test_assignment_is_optimal_for_the_weighted_cost_too(case):
    T, carriers, orders = case
    cfg = AllocationConfig(load_time_s=100.0, unload_time_s=80.0)
    result = allocate(carriers, orders, T, None, 150.0, cfg)
    cost, _ = cost_matrix(carriers, orders, T, None, 150.0, cfg)
    assert sum(a.cost for a in result) == pytest.approx(brute_force(cost), rel=1e-9, abs=1e-6)


def test_completion_time_uses_the_best_bays():
    T = np.array([[0, 10, 50, 99], [10, 0, 40, 30], [50, 40, 0, 5], [99, 30, 5, 0]], dtype=float)
    c = [CarrierSlot("c", 0, 0.0)]
    o = [OrderSlot("o", (1, 2), (3,), 0.0)]
    _, comp = cost_matrix(c, o, T, None, 0.0, PURE)
    # via bay 1: 10 + 100 + 30 + 80 = 220; via bay 2: 50 + 100 + 5 + 80 = 235
    assert comp[0, 0] == pytest.approx(220.0)


def test_waiting_orders_win_eventually_and_priority_counts():
    T = np.array([[0, 10, 300], [10, 0, 300], [300, 300, 0]], dtype=float)
    carriers = [CarrierSlot("c", 0, 0.0)]
    near, far = OrderSlot("near", (1,), (2,), accepted_s=1000.0), OrderSlot("far", (2,), (1,), accepted_s=0.0)
    # fresh: the near order is cheaper
    assert allocate(carriers, [near, far], T, None, 1000.0, AllocationConfig(age_weight=0.0))[0].order_id == "near"
    # the far one has waited 1000 s: with the fairness weight it wins
    assert allocate(carriers, [near, far], T, None, 1000.0, AllocationConfig(age_weight=0.5))[0].order_id == "far"
    urgent = OrderSlot("urgent", (2,), (1,), accepted_s=1000.0, priority=5)
    assert allocate(carriers, [near, urgent], T, None, 1000.0)[0].order_id == "urgent"


def test_battery_too_low_for_the_trip_is_not_assigned():
    T = np.array([[0, 100], [100, 0]], dtype=float)
    D = T * 5.0  # 500 m per leg
    cfg = AllocationConfig(energy_kwh_per_m=0.0018, reserve_kwh=0.0)
    o = [OrderSlot("o", (1,), (0,), 0.0)]
    assert allocate([CarrierSlot("weak", 0, 0.0, energy_kwh=1.0)], o, T, D, 0.0, cfg) == []
    cost, _ = cost_matrix([CarrierSlot("weak", 0, 0.0, energy_kwh=1.0)], o, T, D, 0.0, cfg)
    assert cost[0, 0] == INFEASIBLE
    assert allocate([CarrierSlot("ok", 0, 0.0, energy_kwh=3.0)], o, T, D, 0.0, cfg)[0].carrier_id == "ok"


def test_carriers_free_later_compete_but_are_not_committed():
    T = np.array([[0, 500, 600], [500, 0, 20], [600, 20, 0]], dtype=float)
    idle_far = CarrierSlot("idle_far", 0, 0.0)
    soon_near = CarrierSlot("soon_near", 1, ready_s=60.0, free_now=False)
    a = allocate([idle_far, soon_near], [OrderSlot("o", (2,), (0,), 0.0)], T, None, 0.0, PURE)
    assert a[0].carrier_id == "soon_near" and not a[0].commit
