"""A short summary of a world, for ``yard-autonomy check-world`` (no rclpy)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import networkx as nx

from yard_model import World
from yard_model.lane_graph import place_graph


@dataclass(frozen=True)
class StationLink:
    """Shortest drive between two transfer stations (carrier bay to carrier bay)."""

    from_station: str
    to_station: str
    from_bay: str
    to_bay: str
    length_m: float


def station_links(world: World) -> list[StationLink]:
    """For every pair of stations, the shortest drivable carrier-bay-to-carrier-bay route.

    The distance is measured along lane centre lines over the drivable
    transition graph (no turning on the spot), so it is what a carrier drives
    between the two stations; for Youyiguan it includes the 1.2 km border link.
    """
    g = place_graph(world)
    weighted = nx.DiGraph()
    for u, v in g.edges:
        info = g.nodes[v].get("info")
        weighted.add_edge(u, v, weight=info.length_m if info is not None else 0.0)
    out = []
    for a, b in combinations(sorted(world.stations), 2):
        best: StationLink | None = None
        for src, dst in ((a, b), (b, a)):
            sources = {("place", bay.id) for bay in world.carrier_bays(src)} & set(weighted.nodes)
            targets = {("place", bay.id) for bay in world.carrier_bays(dst)}
            if not sources:
                continue
            lengths, paths = nx.multi_source_dijkstra(weighted, sources)
            for t in targets:
                d = lengths.get(t, math.inf)
                if best is None or d < best.length_m:
                    best = StationLink(src, dst, paths[t][0][1] if t in paths else "", t[1], d)
        if best is not None:
            out.append(best)
    return out


def world_summary(world: World) -> dict:
    """Counts, lengths and geodesy of a world as plain data (printed as a table or JSON)."""
    frame = world.frame
    zone = f"{frame.utm_zone}{'N' if frame.utm_north else 'S'}"
    min_x, min_y, max_x, max_y = world.bounds
    return {
        "name": world.name,
        "source": world.source,
        "datum": {"latitude_deg": world.datum.latitude_deg, "longitude_deg": world.datum.longitude_deg,
                  "altitude_m": world.datum.altitude_m},
        "utm_zone": zone,
        "utm_epsg": frame.utm_epsg,
        "extent_m": [round(max_x - min_x, 1), round(max_y - min_y, 1)],
        "lane_nodes": len(world.nodes),
        "lanes": len(world.lanes),
        "two_way_lanes": sum(1 for lane in world.lanes.values() if lane.two_way),
        "lane_length_m": round(sum(lane.length_m for lane in world.lanes.values()), 1),
        "stations": {
            s.id: {"name": s.name, "country": s.country, "truck_bays": len(s.truck_bays),
                   "carrier_bays": len(s.carrier_bays), "cranes": len(s.cranes)}
            for s in world.stations.values()
        },
        "cranes": len(world.cranes),
        "truck_bays": len(world.truck_bays()),
        "carrier_bays": len(world.carrier_bays()),
        "parking_spots": len(world.parking_spots()),
        "charging_spots": len(world.charging_spots()),
        "inspection_spots": len(world.inspection_spots()),
        "gnss_zones": len(world.gnss_zones),
        "station_links": [
            {"from": link.from_station, "to": link.to_station, "from_bay": link.from_bay, "to_bay": link.to_bay,
             "length_m": round(link.length_m, 1)}
            for link in station_links(world)
        ],
    }
