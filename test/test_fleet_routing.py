"""Fleet manager core: network resources and conflicts, route geometry, fastest routes, contraction hierarchy."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet_manager.contraction import ContractionHierarchy
from fleet_manager.network import YardNetwork
from fleet_manager.routing import Router
from yard_model.lane_graph import Traversal, transition_graph


@pytest.fixture(scope="module")
def yy(single_track_world):
    """The traffic planner's hardest shipped layout: Youyiguan's single track with its passing loop."""
    net = YardNetwork(single_track_world)
    return net, Router(net)


def rid(net, name):
    return next(r.id for r in net.resources if r.name == name)


def conflicts(net, a, b) -> bool:
    return rid(net, b) in net.conflicts[rid(net, a)]


def test_conflict_zones_come_from_geometry(yy):
    net, _ = yy
    # the two transfer lanes are 7 m apart: carriers side by side at a1 and b1 do not conflict
    assert not conflicts(net, "place:cn_bay_a1", "place:cn_bay_b1")
    # the station entry and return lanes overlap at the hub, and both touch the single-track link
    assert conflicts(net, "cn_entry#0", "cn_ret_3#4")
    assert conflicts(net, "link_north#0", "cn_entry#0")
    # a carrier on a bay blocks the lane through it; parked carriers 1.5 m apart in series do not touch
    assert conflicts(net, "place:cn_bay_a1", "cn_transfer_a1#0")
    assert not conflicts(net, "place:cn_park_4", "place:cn_park_5")
    assert conflicts(net, "place:cn_park_5", "cn_park_4#0")  # leaving park_4 means passing park_5
    assert not conflicts(net, "place:cn_park_4", "cn_park_5#0")  # leaving park_5 does not touch park_4
    # conflicts are symmetric, and reflexive for everything on the ground (a direction is shared)
    for i, cs in enumerate(net.conflicts):
        assert (i in cs) == (net.resources[i].kind != "direction")
        assert all(i in net.conflicts[j] for j in cs)


def test_a_single_track_is_held_one_direction_at_a_time_for_the_whole_passage(yy):
    """Each two-way lane has one resource per direction, conflicting only with the other; a route over
    the lane holds its direction from entering the first cell to leaving the last."""
    net, router = yy
    two_way = sorted(lane.id for lane in net.world.lanes.values() if lane.two_way)
    assert two_way and len(net.directions) == 2 * len(two_way)
    for lane in two_way:
        fwd, rev = net.directions[Traversal(lane, True)], net.directions[Traversal(lane, False)]
        assert net.conflicts[fwd] == {rev} and net.conflicts[rev] == {fwd}
    path = router.route("cn_park_5", "vn_bay_a1")
    geom = net.build_route(list(path.traversals), 0.0, net.infos[path.traversals[-1]].length_m, "cn_park_5",
                           "vn_bay_a1", prev=net.places["cn_park_5"].entries[0])
    assert [t for t in path.traversals if t in net.directions]  # it crosses the single track
    by_id = {r.resource: r for r in geom.resources}
    for t in path.traversals:
        if t in net.directions:
            d = by_id[net.directions[t]]
            cells = [by_id[rid] for rid, _, _ in net.traversal_cells(t)]
            assert d.enter_m == pytest.approx(cells[0].enter_m) and d.exit_m == pytest.approx(cells[-1].exit_m)


def test_two_way_lane_is_one_set_of_cells_for_both_directions(yy):
    net, _ = yy
    fwd = [r for r, _, _ in net.traversal_cells(Traversal("link_north", True))]
    back = [r for r, _, _ in net.traversal_cells(Traversal("link_north", False))]
    assert fwd == back[::-1] and len(fwd) >= 30


def test_route_geometry_is_consistent(yy):
    net, router = yy
    path = router.route("cn_park_5", "vn_bay_b2")
    prev = net.places["cn_park_5"].entries[0]
    g = net.build_route(list(path.traversals), 0.0, net.infos[path.traversals[-1]].length_m, "cn_park_5",
                        "vn_bay_b2", prev=prev)
    steps = np.diff(g.arc)
    assert np.all(steps > 0) and steps.max() <= net.cfg.point_spacing_m + 1e-6
    assert g.start_m == pytest.approx(net.cfg.tail_m, abs=1e-6)  # the route starts just behind the carrier
    assert np.hypot(*(np.array(g.pose_at(g.start_m)[:2]) - [net.places["cn_park_5"].x, net.places["cn_park_5"].y])) \
        < 0.05
    assert g.goal_pose[:2] == (net.places["vn_bay_b2"].x, net.places["vn_bay_b2"].y)
    assert g.goal_m == pytest.approx(g.arc[-1])
    # speed limits respect the lanes and the curves (a_lat <= 1 m/s^2 on 15 m corners -> ~3.9 m/s)
    assert g.speed_limits.max() <= 8.0 + 1e-9 and g.speed_limits.min() > 0
    # the free-flow profile starts and ends at rest and never exceeds the limits
    assert g.nominal_v[0] == 0 and g.nominal_v[-1] == 0
    assert np.all(g.nominal_v <= np.maximum(g.speed_limits, np.roll(g.speed_limits, 1)) + 1e-6)
    # resources are in driving order and cover the route without gaps
    enters = [r.enter_m for r in g.resources]
    assert enters == sorted(enters)
    cells = [r for r in g.resources if math.isfinite(r.exit_m) and net.resources[r.resource].kind == "cell"]
    for a, b in zip(cells, cells[1:]):
        assert b.enter_m <= a.exit_m + 1e-6
    assert net.resources[g.resources[0].resource].name == "place:cn_park_5"
    assert net.resources[g.resources[-1].resource].name == "place:vn_bay_b2" and g.resources[-1].exit_m == math.inf
    # consecutive traversals are drivable transitions (turning constraints)
    tg = transition_graph(net.world)
    for a, b in zip(path.traversals, path.traversals[1:]):
        assert tg.has_edge(a, b)


def test_fastest_routes_match_networkx(yy):
    net, router = yy
    g = nx.DiGraph()
    for u, succ in enumerate(router.succ):
        for x in succ:
            g.add_edge(u, x, weight=router.cost[x])
    for a in ["cn_park_1", "vn_bay_a1", "cn_charger_2", "vn_park_5"]:
        for b in ["vn_bay_b2", "cn_bay_a2", "vn_charger_1", "cn_park_3"]:
            ours = router.route(a, b)
            ref = nx.dijkstra_path_length(g, router.place_vertex[a], router.place_vertex[b])
            assert ours is not None and ours.cost_s == pytest.approx(ref, rel=1e-9)


def test_routes_avoid_standing_carriers(yy):
    net, router = yy
    held = frozenset([net.places["cn_park_2"].resource])
    assert router.route("vn_bay_a1", "cn_park_4", held) is None  # behind a parked carrier in series
    assert router.route("vn_bay_a1", "cn_park_1", held) is not None
    at_a1 = frozenset([net.places["vn_bay_a1"].resource])
    assert router.route("cn_park_5", "vn_bay_a2", at_a1) is None  # a1 blocks the way to a2
    p = router.route("cn_park_5", "vn_bay_b2", at_a1)
    assert p is not None and all(not t.lane.startswith("vn_transfer_a") for t in p.traversals)


def test_a_remembered_route_is_the_one_a_fresh_router_finds(yy, youyiguan_world):
    # routes are remembered per (start, goal, blocked): asked again, and of a router that never saw
    # the question, the answer is the same
    net, router = yy
    blocked = frozenset([rid(net, "place:cn_bay_a1")])
    t = Traversal("link_north", True)
    questions = [("cn_park_5", "vn_bay_a2", frozenset()), ("cn_park_5", "vn_bay_b2", blocked),
                 ((t, 100.0), "vn_bay_a1", frozenset()), ((t, 100.0), "vn_bay_a1", blocked),
                 ("cn_park_5", "cn_bay_a2", blocked)]
    first = [router.route(*q) for q in questions]
    again = [router.route(*q) for q in questions]
    fresh = Router(net)
    assert first == again == [fresh.route(*q) for q in questions]
    assert first[4] is None and first[0] is not None


def test_route_from_a_lane_position(yy):
    net, router = yy
    t = Traversal("link_north", True)
    p = router.route((t, 100.0), "vn_bay_a1")
    assert p.traversals[0] == t and p.start_offset_m == 100.0
    whole = router.route((t, 0.0), "vn_bay_a1").cost_s
    assert p.cost_s == pytest.approx(whole - net.traversal_time_s[t] * 100.0 / 445.0, rel=1e-6)


@st.composite
def random_graphs(draw):
    n = draw(st.integers(2, 40))
    m = draw(st.integers(n, 4 * n))
    edges = [(draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1)), draw(st.floats(0.1, 50.0))) for _ in range(m)]
    return n, edges


@settings(max_examples=60, deadline=None)
@given(random_graphs(), st.data())
def test_contraction_hierarchy_is_exact(graph, data):
    n, edges = graph
    ch = ContractionHierarchy(n, edges)
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    for u, v, w in edges:
        if u != v and (not g.has_edge(u, v) or g[u][v]["weight"] > w):
            g.add_edge(u, v, weight=w)
    for _ in range(10):
        s, t = data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, n - 1))
        res = ch.query(s, t)
        if not nx.has_path(g, s, t):
            assert res is None
            continue
        ref = nx.dijkstra_path_length(g, s, t)
        assert res is not None and res[0] == pytest.approx(ref, rel=1e-9, abs=1e-9)
        path = res[1]
        assert path[0] == s and path[-1] == t
        assert sum(g[a][b]["weight"] for a, b in zip(path, path[1:])) == pytest.approx(ref, rel=1e-9, abs=1e-9)
