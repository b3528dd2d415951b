"""Collision detection: exact footprint tests, vertical extents, one event per contact."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from yard_sim.collisions import Body, Box, CollisionWorld, contacts, rects_overlap


def carrier(name: str, x: float, y: float, yaw: float = 0.0) -> Body:
    return Body(f"carrier:{name}", f"carrier:{name}", Box(x, y, yaw, 15.0, 3.0, 0.0, 1.3))


box_st = st.builds(Box, st.floats(-20, 20), st.floats(-20, 20), st.floats(-math.pi, math.pi),
                   st.floats(0.5, 16.0), st.floats(0.5, 4.0))


@settings(max_examples=200, deadline=None)
@given(a=box_st, b=box_st)
def test_separating_axis_test_agrees_with_shapely(a, b):
    pa, pb = a.polygon(), b.polygon()
    if 0.0 < pa.distance(pb) < 1e-9 or 0.0 < pa.intersection(pb).area < 1e-9:
        return  # grazing within rounding: either answer is right
    assert rects_overlap(a, b) == pa.intersects(pb)


def test_two_carriers_driving_into_each_other_collide_once():
    world = CollisionWorld()
    events = []
    for k in range(400):  # carrier_02 closes in at 0.1 m per step, passes through, leaves
        x2 = 20.0 - 0.1 * k
        events += world.update([carrier("c1", 0.0, 0.0), carrier("c2", x2, 1.0)])
        if k == 60:
            assert set(world.pairs) == {("carrier:c1", "carrier:c2")}
    assert world.pairs == {}
    assert [(e.a, e.b) for e in events] == [("carrier:c1", "carrier:c2")]
    assert world.count == 1
    first = events[0]
    assert -1.5 <= first.y <= 1.5 and 7.0 <= first.x <= 7.6  # where the noses met


def test_separating_and_touching_again_is_a_new_contact():
    world = CollisionWorld()
    near, far = carrier("c2", 14.0, 0.0), carrier("c2", 30.0, 0.0)
    for b in (near, near, far, near):
        world.update([carrier("c1", 0.0, 0.0), b])
    assert world.count == 2
    world.update([carrier("c1", 0.0, 0.0)])  # c2 leaves the yard while touching
    assert world.pairs == {}
    world.update([carrier("c1", 0.0, 0.0), near])
    assert world.count == 3


def test_vertical_extents_decide_and_resting_is_not_a_collision():
    deck = Body("carrier:c1", "carrier:c1", Box(0.0, 0.0, 0.0, 15.0, 3.0, 0.0, 1.3))
    resting = Body("container:K", "container:K", Box(0.0, 0.0, 0.0, 12.2, 2.4, 1.3, 3.9))
    hanging_high = Body("container:H", "container:H", Box(0.0, 0.0, 0.0, 12.2, 2.4, 4.0, 6.6))
    sunk = Body("container:S", "container:S", Box(0.0, 0.0, 0.0, 12.2, 2.4, 1.0, 3.6))
    assert contacts([deck, resting, hanging_high]) == {}
    assert set(contacts([deck, sunk])) == {("carrier:c1", "container:S")}


def test_owner_and_excluded_pairs_never_collide():
    leg1 = Body("crane_leg:k:0", "rails:r", Box(0.0, 0.0, 0.0, 1.5, 1.5, 0.0, 20.0))
    leg2 = Body("crane_leg:j:0", "rails:r", Box(0.5, 0.0, 0.0, 1.5, 1.5, 0.0, 20.0))
    c1 = carrier("c1", 0.0, 0.0)
    assert set(contacts([leg1, leg2])) == set()
    assert set(contacts([leg1, c1])) == {("carrier:c1", "crane_leg:k:0")}
    assert contacts([leg1, c1], excluded={("carrier:c1", "crane_leg:k:0")}) == {}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(-30, 30), st.floats(-30, 30), st.floats(-math.pi, math.pi)),
                min_size=2, max_size=8))
def test_broad_phase_misses_nothing(poses):
    bodies = [carrier(f"c{i}", x, y, yaw) for i, (x, y, yaw) in enumerate(poses)]
    found = set(contacts(bodies))
    brute = set()
    for i, a in enumerate(bodies):
        for b in bodies[i + 1:]:
            if a.box.polygon().intersects(b.box.polygon()):
                brute.add(tuple(sorted((a.id, b.id))))
    assert found == brute


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 5), st.floats(-60, 60), st.floats(-60, 60),
                                   st.floats(-math.pi, math.pi), st.booleans()), max_size=6), min_size=1, max_size=12))
def test_incremental_world_matches_the_reference_every_step(moves):
    """Random moves, appearances and disappearances: the grid-based world equals the brute-force test."""
    world = CollisionWorld()
    poses: dict[int, tuple[float, float, float]] = {}
    static = Body("crane_leg:k:0", "rails:r", Box(0.0, 0.0, 0.0, 1.5, 1.5, 0.0, 20.0))
    big = Body("truck:long", "truck:long", Box(5.0, 5.0, 0.3, 30.0, 3.0, 0.0, 1.5))  # larger than a cell
    for step in moves:
        for i, x, y, yaw, leaves in step:
            if leaves:
                poses.pop(i, None)
            else:
                poses[i] = (x, y, yaw)
        bodies = [static, big] + [carrier(f"c{i}", *p) for i, p in sorted(poses.items())]
        world.update(bodies)
        assert set(world.pairs) == set(contacts(bodies))
