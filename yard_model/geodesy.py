"""WGS84 <-> local ENU ``map`` frame and UTM, with pyproj.

The ``map`` frame of a yard is the tangent plane (east, north, up) at the
world's datum, as REP-105 allows for a fixed local frame. We use PROJ's
``topocentric`` conversion through ECEF, which is exact (no small-angle or
flat-earth approximation), so round trips are at the sub-millimetre level
anywhere within tens of kilometres of the datum.

UTM is offered for users who want grid coordinates: the zone and hemisphere
are derived from the datum once (never per fix), which avoids the zone-flip
and southern-hemisphere pitfalls reported against robot_localization's
navsat_transform. Callers may force a zone for sites that straddle a boundary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyproj import CRS, Transformer


@dataclass(frozen=True)
class Datum:
    """Origin of the local ENU ``map`` frame on the WGS84 ellipsoid."""

    latitude_deg: float
    longitude_deg: float
    altitude_m: float  # ellipsoidal height [m]


def utm_zone_for(latitude_deg: float, longitude_deg: float) -> tuple[int, bool]:
    """(zone number 1..60, northern hemisphere?) for a WGS84 position.

    Includes the Norway and Svalbard exceptions of the UTM standard.
    """
    if not -80.0 <= latitude_deg <= 84.0:
        raise ValueError(f"latitude {latitude_deg} deg is outside UTM coverage (-80..84)")
    lon = (longitude_deg + 180.0) % 360.0 - 180.0
    zone = int((lon + 180.0) // 6.0) + 1
    if 56.0 <= latitude_deg < 64.0 and 3.0 <= lon < 12.0:
        zone = 32
    if latitude_deg >= 72.0:
        for lo, hi, z in ((0, 9, 31), (9, 21, 33), (21, 33, 35), (33, 42, 37)):
            if lo <= lon < hi:
                zone = z
    return min(zone, 60), latitude_deg >= 0.0


class LocalFrame:
    """Conversions between WGS84 geodetic coordinates and a yard's ENU frame.

    Geodetic input/output is (latitude [deg], longitude [deg], ellipsoidal
    height [m]); ENU is (east, north, up) [m] relative to the datum.
    """

    def __init__(self, datum: Datum, utm_zone: int | None = None, utm_north: bool | None = None):
        self.datum = datum
        pipeline = (
            "+proj=pipeline +step +proj=axisswap +order=2,1 "
            "+step +proj=unitconvert +xy_in=deg +xy_out=rad "
            "+step +proj=cart +ellps=WGS84 "
            f"+step +proj=topocentric +ellps=WGS84 +lat_0={datum.latitude_deg!r} "
            f"+lon_0={datum.longitude_deg!r} +h_0={datum.altitude_m!r}"
        )
        self._to_enu = Transformer.from_pipeline(pipeline)
        zone, north = utm_zone_for(datum.latitude_deg, datum.longitude_deg)
        self.utm_zone = utm_zone if utm_zone is not None else zone
        self.utm_north = utm_north if utm_north is not None else north
        epsg = (32600 if self.utm_north else 32700) + self.utm_zone
        self._to_utm = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_epsg(epsg), always_xy=False)
        self.utm_epsg = epsg
        # Grid convergence at the datum relates map (true north) and UTM (grid north) axes.
        # Convention of Snyder and PROJ (``Factors.meridian_convergence``): the angle from true
        # north to grid north, clockwise positive, so grid bearing = true bearing - convergence;
        # positive east of the central meridian in the northern hemisphere. True north seen in
        # the grid points at bearing atan2(dE, dN) = -convergence.
        e0, n0 = self._to_utm.transform(datum.latitude_deg, datum.longitude_deg)
        e1, n1 = self._to_utm.transform(datum.latitude_deg + 1e-4, datum.longitude_deg)
        self.utm_datum = (float(e0), float(n0))
        self.grid_convergence_rad = -math.atan2(e1 - e0, n1 - n0)

    def enu_from_geodetic(self, latitude_deg, longitude_deg, altitude_m):
        """ENU [m] of geodetic point(s); accepts scalars or numpy arrays."""
        return self._to_enu.transform(latitude_deg, longitude_deg, altitude_m)

    def geodetic_from_enu(self, east_m, north_m, up_m):
        """Geodetic (lat [deg], lon [deg], h [m]) of ENU point(s)."""
        return self._to_enu.transform(east_m, north_m, up_m, direction="INVERSE")

    def utm_from_geodetic(self, latitude_deg, longitude_deg):
        """UTM (easting, northing) [m] in this frame's fixed zone."""
        return self._to_utm.transform(latitude_deg, longitude_deg)

    def geodetic_from_utm(self, easting_m, northing_m):
        """Geodetic (lat, lon) [deg] from UTM in this frame's fixed zone."""
        return self._to_utm.transform(easting_m, northing_m, direction="INVERSE")
