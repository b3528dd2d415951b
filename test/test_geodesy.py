"""Geodesy: WGS84 <-> ENU map frame and UTM, checked against an independent ECEF computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Proj

from yard_model import Datum, LocalFrame, utm_zone_for

YOUYIGUAN = Datum(21.9764, 106.7122, 212.0)

# WGS84 ellipsoid, written out here so the reference below shares nothing with PROJ.
WGS84_A_M = 6378137.0
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)


def ecef(lat_deg: float, lon_deg: float, h_m: float) -> np.ndarray:
    """Earth-centred earth-fixed position [m] of a geodetic point (textbook closed form)."""
    lat, lon = math.radians(lat_deg), math.radians(lon_deg)
    n = WGS84_A_M / math.sqrt(1.0 - WGS84_E2 * math.sin(lat) ** 2)  # prime vertical radius
    return np.array([
        (n + h_m) * math.cos(lat) * math.cos(lon),
        (n + h_m) * math.cos(lat) * math.sin(lon),
        (n * (1.0 - WGS84_E2) + h_m) * math.sin(lat),
    ])


def enu_reference(datum: Datum, lat_deg: float, lon_deg: float, h_m: float) -> np.ndarray:
    """ENU [m] of a point by rotating its ECEF offset from the datum (independent of PROJ)."""
    lat0, lon0 = math.radians(datum.latitude_deg), math.radians(datum.longitude_deg)
    rot = np.array([
        [-math.sin(lon0), math.cos(lon0), 0.0],
        [-math.sin(lat0) * math.cos(lon0), -math.sin(lat0) * math.sin(lon0), math.cos(lat0)],
        [math.cos(lat0) * math.cos(lon0), math.cos(lat0) * math.sin(lon0), math.sin(lat0)],
    ])
    return rot @ (ecef(lat_deg, lon_deg, h_m) - ecef(datum.latitude_deg, datum.longitude_deg, datum.altitude_m))


@pytest.fixture(scope="module")
def frame() -> LocalFrame:
    return LocalFrame(YOUYIGUAN)


# ------------------------------------------------------------------ ENU against an independent ECEF rotation
@pytest.mark.parametrize(
    "lat, lon, h",
    [
        (21.9764, 106.7122, 212.0),  # the datum itself
        (21.9864, 106.7122, 212.0),  # ~1.1 km north
        (21.9764, 106.7222, 212.0),  # ~1.0 km east
        (21.9664, 106.7022, 150.0),  # south-west and lower
        (22.2, 106.9, 900.0),  # ~30 km away, on a hill
    ],
)
def test_enu_matches_independent_ecef_rotation(frame, lat, lon, h):
    e, n, u = frame.enu_from_geodetic(lat, lon, h)
    np.testing.assert_allclose([e, n, u], enu_reference(YOUYIGUAN, lat, lon, h), atol=1e-4)


def test_axes_are_east_north_up(frame):
    """A point due north has north > 0 and east ~ 0; due east the other way round (axis-order check)."""
    e, n, _ = frame.enu_from_geodetic(YOUYIGUAN.latitude_deg + 0.01, YOUYIGUAN.longitude_deg, YOUYIGUAN.altitude_m)
    assert n == pytest.approx(1107.3, abs=1.0) and abs(e) < 1e-6
    e, n, _ = frame.enu_from_geodetic(YOUYIGUAN.latitude_deg, YOUYIGUAN.longitude_deg + 0.01, YOUYIGUAN.altitude_m)
    assert e == pytest.approx(1032.6, abs=1.0) and abs(n) < 0.1
    _, _, u = frame.enu_from_geodetic(YOUYIGUAN.latitude_deg, YOUYIGUAN.longitude_deg, YOUYIGUAN.altitude_m + 10.0)
    assert u == pytest.approx(10.0, abs=1e-6)


def test_geodetic_from_enu_returns_lat_lon_h(frame):
    lat, lon, h = frame.geodetic_from_enu(0.0, 1000.0, 0.0)
    assert lat > YOUYIGUAN.latitude_deg and lon == pytest.approx(YOUYIGUAN.longitude_deg, abs=1e-9)
    assert h == pytest.approx(YOUYIGUAN.altitude_m + 1000.0**2 / (2 * 6.37e6), abs=0.01)  # earth curvature drop


def test_enu_accepts_arrays(frame):
    lat = np.array([21.98, 21.97])
    lon = np.array([106.71, 106.72])
    h = np.array([212.0, 220.0])
    e, n, u = frame.enu_from_geodetic(lat, lon, h)
    assert e.shape == (2,)
    for i in range(2):
        np.testing.assert_allclose([e[i], n[i], u[i]], enu_reference(YOUYIGUAN, lat[i], lon[i], h[i]), atol=1e-4)


# ------------------------------------------------------------------ round trips
@settings(max_examples=60, deadline=None)
@given(
    distance_m=st.floats(0.0, 50_000.0),
    bearing_rad=st.floats(0.0, 2 * math.pi),
    up_m=st.floats(-200.0, 1500.0),
)
def test_enu_round_trip_within_1mm_near_the_yard(frame, distance_m, bearing_rad, up_m):
    east, north = distance_m * math.sin(bearing_rad), distance_m * math.cos(bearing_rad)
    lat, lon, h = frame.geodetic_from_enu(east, north, up_m)
    back = frame.enu_from_geodetic(lat, lon, h)
    assert math.dist(back, (east, north, up_m)) < 1e-3


@settings(max_examples=40, deadline=None)
@given(
    lat0=st.floats(-80.0, 84.0),
    lon0=st.floats(-180.0, 180.0),
    alt0=st.floats(-400.0, 5000.0),
    east_m=st.floats(-50_000.0, 50_000.0),
    north_m=st.floats(-50_000.0, 50_000.0),
    up_m=st.floats(-100.0, 500.0),
)
def test_enu_round_trip_for_datums_worldwide(lat0, lon0, alt0, east_m, north_m, up_m):
    datum = Datum(lat0, lon0, alt0)
    frame = LocalFrame(datum)
    lat, lon, h = frame.geodetic_from_enu(east_m, north_m, up_m)
    back = frame.enu_from_geodetic(lat, lon, h)
    assert math.dist(back, (east_m, north_m, up_m)) < 1e-3
    # and the forward direction agrees with the independent reference
    np.testing.assert_allclose(enu_reference(datum, lat, lon, h), (east_m, north_m, up_m), atol=2e-3)


@settings(max_examples=40, deadline=None)
@given(dlat=st.floats(-0.4, 0.4), dlon=st.floats(-0.4, 0.4))
def test_utm_round_trip(frame, dlat, dlon):
    lat, lon = YOUYIGUAN.latitude_deg + dlat, YOUYIGUAN.longitude_deg + dlon
    e, n = frame.utm_from_geodetic(lat, lon)
    lat2, lon2 = frame.geodetic_from_utm(e, n)
    assert lat2 == pytest.approx(lat, abs=1e-9) and lon2 == pytest.approx(lon, abs=1e-9)


def test_youyiguan_is_utm_48n(frame):
    assert (frame.utm_zone, frame.utm_north, frame.utm_epsg) == (48, True, 32648)
    e, n = frame.utm_datum
    # zone 48 central meridian is 105 E: the datum lies ~177 km east of it (false easting 500 km)
    assert 670_000 < e < 680_000 and 2_430_000 < n < 2_440_000


def test_grid_convergence_matches_proj(frame):
    """Convergence east of the central meridian in the north is positive (Snyder/PROJ convention)."""
    factors = Proj("EPSG:32648").get_factors(YOUYIGUAN.longitude_deg, YOUYIGUAN.latitude_deg)
    assert math.degrees(frame.grid_convergence_rad) == pytest.approx(factors.meridian_convergence, abs=1e-5)
    approx = (YOUYIGUAN.longitude_deg - 105.0) * math.sin(math.radians(YOUYIGUAN.latitude_deg))
    assert math.degrees(frame.grid_convergence_rad) == pytest.approx(approx, abs=0.01)


def test_forced_utm_zone_is_kept():
    frame = LocalFrame(YOUYIGUAN, utm_zone=49, utm_north=True)
    assert frame.utm_epsg == 32649
    e, _ = frame.utm_from_geodetic(YOUYIGUAN.latitude_deg, YOUYIGUAN.longitude_deg)
    assert e < 500_000  # west of zone 49's central meridian (111 E)


# ------------------------------------------------------------------ UTM zones
@pytest.mark.parametrize(
    "lat, lon, zone, north",
    [
        (21.9764, 106.7122, 48, True),  # Youyiguan
        (21.0285, 105.8542, 48, True),  # Hanoi
        (22.8170, 108.3665, 49, True),  # Nanning
        (-33.92, 18.42, 34, False),  # Cape Town
        (-0.0001, 10.0, 32, False),  # just south of the equator
        (0.0, 10.0, 32, True),  # the equator counts as north
        (60.39, 5.32, 32, True),  # Bergen: Norway exception widens 32V
        (60.0, 2.9, 31, True),  # west of the Norway exception
        (64.0, 5.0, 31, True),  # above the Norway band
        (55.99, 5.0, 31, True),  # below the Norway band
        (78.22, 15.65, 33, True),  # Longyearbyen, Svalbard
        (78.0, 8.9, 31, True),  # Svalbard 31X reaches 9 E
        (78.0, 9.0, 33, True),
        (78.0, 21.0, 35, True),
        (78.0, 33.0, 37, True),
        (78.0, 42.0, 38, True),  # east of the Svalbard exceptions
        (71.99, 8.0, 32, True),  # just below Svalbard band: normal zone
        (10.0, -180.0, 1, True),
        (10.0, 180.0, 1, True),  # 180 E is 180 W
        (10.0, 179.999, 60, True),
        (10.0, 354.0, 30, True),  # longitudes beyond 180 wrap: 354 E is 6 W
        (10.0, -0.001, 30, True),
        (10.0, 0.0, 31, True),
        (-80.0, -70.0, 19, False),
        (84.0, 0.5, 31, True),
    ],
)
def test_utm_zone_for(lat, lon, zone, north):
    assert utm_zone_for(lat, lon) == (zone, north)


@pytest.mark.parametrize("lat", [84.01, -80.01, 90.0])
def test_utm_zone_outside_coverage_is_refused(lat):
    with pytest.raises(ValueError, match="outside UTM coverage"):
        utm_zone_for(lat, 0.0)


@settings(max_examples=100, deadline=None)
@given(lat=st.floats(-80.0, 84.0), lon=st.floats(-180.0, 179.999999))
def test_utm_zone_contains_the_point(lat, lon):
    """The point lies within its zone's band: 6 degrees wide, up to 12 in the Norway/Svalbard exceptions."""
    zone, north = utm_zone_for(lat, lon)
    assert 1 <= zone <= 60 and north == (lat >= 0.0)
    central = -183.0 + 6.0 * zone
    exception = (56.0 <= lat < 64.0 and 3.0 <= lon < 12.0) or (lat >= 72.0 and 0.0 <= lon < 42.0)
    assert abs(lon - central) <= (6.0 if exception else 3.0) + 1e-9
    if not exception:
        assert zone == int((lon + 180.0) // 6.0) + 1
