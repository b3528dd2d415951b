"""Lane traversal graph: directions, headings at nodes, no U-turns, places, reachability."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from yard_model.lane_graph import (
    Traversal,
    headings_agree,
    place_graph,
    transition_graph,
    traversal_infos,
    traversal_points,
    unreachable_places,
)

WORLDS = Path(__file__).resolve().parents[1] / "sim_worlds"


def test_two_way_lanes_have_two_traversals(small_world):
    infos = traversal_infos(small_world)
    assert Traversal("link", True) in infos and Traversal("link", False) in infos
    assert Traversal("cn_entry", True) in infos and Traversal("cn_entry", False) not in infos
    n_two_way = sum(lane.two_way for lane in small_world.lanes.values())
    assert len(infos) == len(small_world.lanes) + n_two_way


def test_reverse_traversal_geometry(small_world):
    infos = traversal_infos(small_world)
    fwd, back = infos[Traversal("link", True)], infos[Traversal("link", False)]
    assert (fwd.from_node, fwd.to_node) == ("cn_hub", "vn_hub")
    assert (back.from_node, back.to_node) == ("vn_hub", "cn_hub")
    assert fwd.start_heading == pytest.approx(-math.pi / 2) and back.start_heading == pytest.approx(math.pi / 2)
    assert fwd.length_m == back.length_m == pytest.approx(240.0)
    np.testing.assert_array_equal(traversal_points(small_world, Traversal("link", False)),
                                  small_world.lanes["link"].points[::-1])


def test_headings_agree_wraps_around():
    assert headings_agree(math.radians(179), math.radians(-179), math.radians(5))
    assert not headings_agree(0.0, math.radians(25))
    assert headings_agree(0.0, math.radians(19.9))


def test_transitions_follow_headings_and_never_u_turn(small_world):
    g = transition_graph(small_world)
    infos = traversal_infos(small_world)
    for a, b, data in g.edges(data=True):
        assert a.lane != b.lane  # no U-turn on a single track
        assert infos[a].to_node == infos[b].from_node == data["node"]
        assert headings_agree(infos[a].end_heading, infos[b].start_heading)
    # At the CN hub: arriving from Vietnam (heading north) a carrier goes on into the station loop,
    # leaving the loop (heading south) it goes on to Vietnam.
    assert g.has_edge(Traversal("link", False), Traversal("cn_entry", True))
    assert g.has_edge(Traversal("cn_ret_3", True), Traversal("link", True))
    assert not g.has_edge(Traversal("cn_ret_3", True), Traversal("cn_entry", True))  # a 180 degree turn
    assert not g.has_edge(Traversal("link", False), Traversal("link", True))


def test_places_are_entered_and_left_along_their_yaw(small_world):
    g = place_graph(small_world)
    bay = ("place", "cn_bay_a1")
    assert set(g.predecessors(bay)) == {Traversal("cn_transfer_a0", True)}
    assert set(g.successors(bay)) == {Traversal("cn_transfer_a1", True)}
    spot = ("place", "vn_charger_1")
    assert set(g.predecessors(spot)) == {Traversal("vn_charge_0", True)}
    truck_bays = {("place", b.id) for b in small_world.truck_bays()}
    assert not truck_bays & set(g.nodes)  # trucks are not on the carrier lane graph


@pytest.mark.parametrize("fixture", ["small_world", "youyiguan_world"])
def test_every_place_reaches_every_other(request, fixture):
    world = request.getfixturevalue(fixture)
    assert unreachable_places(world) == []
    g = place_graph(world)
    places = [v for v in g.nodes if isinstance(v, tuple) and v[0] == "place"]
    assert len(places) == len(world.carrier_bays()) + len(world.spots)
    assert nx.is_strongly_connected(g.subgraph(nx.descendants(g, places[0]) | {places[0]}))


def test_cross_border_route_uses_the_link_in_its_direction(small_world):
    g = place_graph(small_world)
    there = nx.shortest_path(g, ("place", "cn_park_1"), ("place", "vn_bay_a1"))
    back = nx.shortest_path(g, ("place", "vn_bay_a1"), ("place", "cn_park_1"))
    assert Traversal("link", True) in there and Traversal("link", False) not in there
    assert Traversal("link", False) in back


def test_reversed_lane_leaves_places_unreachable(small_world):
    """Reverse the one-way lane out of the VN carrier bay: the bay becomes a dead end."""
    lane = small_world.lanes["vn_transfer_a1"]
    reversed_lane = dataclasses.replace(lane, start=lane.end, end=lane.start, points=lane.points[::-1].copy())
    world = dataclasses.replace(small_world, lanes={**small_world.lanes, "vn_transfer_a1": reversed_lane})
    bad = unreachable_places(world)
    assert ("vn_bay_a1", "vn_park_1") in bad and ("cn_park_1", "vn_park_1") in bad
    assert all(a != b for a, b in bad)


def test_kink_limit_controls_transitions(small_world):
    """With a tiny kink allowance a curved lane that meets a straight one at an angle breaks the graph."""
    loose = transition_graph(small_world, max_kink_rad=math.radians(20))
    strict = transition_graph(small_world, max_kink_rad=math.radians(0.001))
    assert strict.number_of_edges() <= loose.number_of_edges()
    assert loose.has_edge(Traversal("cn_entry", True), Traversal("cn_transfer_a0", True))
