"""Round trips WGS84 <-> map (ENU) <-> UTM within 1 mm anywhere within 50 km of a datum.

These are the conversions localization relies on (yard_model.geodesy.LocalFrame). The datum is
drawn anywhere inside UTM coverage, both hemispheres, including zone edges, so the pitfalls users
report against navsat_transform (zone flips, southern hemisphere) are exercised, not assumed away.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from yard_model.geodesy import Datum, LocalFrame, utm_zone_for

TOL_M = 1e-3
RADIUS_M = 50_000.0

datums = st.builds(
    Datum,
    latitude_deg=st.floats(-79.5, 83.5),
    longitude_deg=st.floats(-180.0, 179.999),
    altitude_m=st.floats(-100.0, 5000.0),
)


@st.composite
def enu_offsets(draw) -> tuple[float, float, float]:
    """A point within 50 km (horizontal) of the datum, -500..+2000 m up."""
    r = draw(st.floats(0.0, RADIUS_M))
    bearing = draw(st.floats(0.0, 2.0 * math.pi))
    up = draw(st.floats(-500.0, 2000.0))
    return r * math.sin(bearing), r * math.cos(bearing), up


def frame_for(datum: Datum) -> LocalFrame:
    return LocalFrame(datum)


@settings(max_examples=150, deadline=None)
@given(datum=datums, enu=enu_offsets())
def test_enu_geodetic_enu_round_trip_within_1mm(datum, enu):
    f = frame_for(datum)
    lat, lon, h = f.geodetic_from_enu(*enu)
    back = f.enu_from_geodetic(lat, lon, h)
    assert np.linalg.norm(np.subtract(back, enu)) < TOL_M


@settings(max_examples=150, deadline=None)
@given(datum=datums, enu=enu_offsets())
def test_geodetic_enu_geodetic_round_trip_within_1mm(datum, enu):
    f = frame_for(datum)
    lat, lon, h = f.geodetic_from_enu(*enu)  # a geodetic point within 50 km
    e, n, u = f.enu_from_geodetic(lat, lon, h)
    lat2, lon2, h2 = f.geodetic_from_enu(e, n, u)
    # Compare in metres through ECEF, which is exact and isotropic.
    to_ecef = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=False)
    a = np.array(to_ecef.transform(lat, lon, h))
    b = np.array(to_ecef.transform(lat2, lon2, h2))
    assert np.linalg.norm(a - b) < TOL_M


@settings(max_examples=150, deadline=None)
@given(datum=datums, enu=enu_offsets())
def test_enu_utm_enu_round_trip_within_1mm_in_the_datum_zone(datum, enu):
    f = frame_for(datum)
    easting, northing = f.utm_from_enu(*enu)
    _, _, h = f.geodetic_from_enu(*enu)
    back = f.enu_from_utm(easting, northing, h)
    assert np.linalg.norm(np.subtract(back, enu)) < TOL_M


@settings(max_examples=100, deadline=None)
@given(datum=datums, enu=enu_offsets())
def test_enu_is_a_rigid_rotation_of_ecef(datum, enu):
    """Topocentric ENU is exact: its distances equal ECEF distances (no flat-earth shortcut)."""
    f = frame_for(datum)
    lat, lon, h = f.geodetic_from_enu(*enu)
    to_ecef = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=False)
    p = np.array(to_ecef.transform(lat, lon, h))
    o = np.array(to_ecef.transform(datum.latitude_deg, datum.longitude_deg, datum.altitude_m))
    assert abs(np.linalg.norm(p - o) - np.linalg.norm(enu)) < TOL_M


@pytest.mark.parametrize("lon_edge", [-174.0, 0.0, 102.0, 108.0, 180.0 - 1e-6])
def test_points_across_a_zone_boundary_keep_the_datum_zone(lon_edge):
    """A datum 1 km west of a zone edge: points 5 km east of the edge stay in the datum's zone,
    so UTM stays continuous (10 m apart on the ground = 10 m apart on the grid, to the scale factor)."""
    lat = 21.9764
    m_per_deg = 111_320.0 * math.cos(math.radians(lat))
    datum = Datum(lat, lon_edge - 1000.0 / m_per_deg, 212.0)
    f = LocalFrame(datum)
    zone, _ = utm_zone_for(datum.latitude_deg, datum.longitude_deg)
    assert f.utm_zone == zone
    e1, n1 = f.utm_from_enu(5995.0, 0.0)
    e2, n2 = f.utm_from_enu(6005.0, 0.0)
    grid_distance = math.hypot(e2 - e1, n2 - n1)
    assert grid_distance == pytest.approx(10.0, rel=2e-3)  # UTM scale error < 0.1 % this near the CM band


def test_southern_datum_points_north_of_the_equator_round_trip():
    """The hemisphere is the datum's: a point 20 km across the equator keeps the southern grid."""
    f = LocalFrame(Datum(-0.05, 36.8, 1700.0))
    assert f.utm_north is False and f.utm_epsg == 32737
    e, n = f.utm_from_enu(0.0, 20_000.0, 0.0)
    assert n > 10_000_000.0  # false northing continued across the equator, no flip
    back = f.enu_from_utm(e, n, f.geodetic_from_enu(0.0, 20_000.0, 0.0)[2])
    assert np.linalg.norm(np.subtract(back, (0.0, 20_000.0, 0.0))) < TOL_M


def test_forced_zone_is_used_for_every_point():
    f = LocalFrame(Datum(21.9764, 106.7122, 212.0), utm_zone=49, utm_north=True)
    assert f.utm_epsg == 32649
    e, _ = f.utm_from_enu(0.0, 0.0)
    assert e < 500_000.0  # west of zone 49's central meridian (111 E)


@pytest.mark.parametrize(
    ("lat", "lon", "zone"),
    [(60.0, 5.0, 32), (78.0, 8.0, 31), (78.0, 10.0, 33), (78.0, 25.0, 35), (78.0, 40.0, 37), (21.9764, 106.7122, 48)],
)
def test_utm_zone_exceptions(lat, lon, zone):
    assert utm_zone_for(lat, lon)[0] == zone


def test_youyiguan_map_axes_match_utm_within_grid_convergence():
    """100 m north in map is ~100 m north on the UTM 48N grid, rotated by the grid convergence."""
    f = LocalFrame(Datum(21.9764, 106.7122, 212.0))
    e0, n0 = f.utm_from_enu(0.0, 0.0)
    e1, n1 = f.utm_from_enu(0.0, 100.0)
    # grid_convergence_rad is the standard angle from true north to grid north (clockwise positive), so
    # true north's bearing on the grid is minus it: east of the central meridian (105 E) it turns west.
    assert math.atan2(e1 - e0, n1 - n0) == pytest.approx(-f.grid_convergence_rad, abs=1e-5)
    gamma = math.atan(math.tan(math.radians(106.7122 - 105.0)) * math.sin(math.radians(21.9764)))
    assert f.grid_convergence_rad == pytest.approx(gamma, abs=1e-4)
