"""Encoding of GNSS solution types in ``sensor_msgs/NavSatFix`` (see docs/architecture.md).

NavSatStatus has no RTK states. Like nmea_navsat_driver (GGA quality 4/5 -> GBAS) we report
RTK fixed and float as ``STATUS_GBAS_FIX`` and tell them apart by the reported horizontal
standard deviation. The constants mirror sensor_msgs so this module needs no ROS install.
"""

from __future__ import annotations

import math

STATUS_NO_FIX = -1
STATUS_FIX = 0
STATUS_SBAS_FIX = 1
STATUS_GBAS_FIX = 2

COVARIANCE_TYPE_UNKNOWN = 0
COVARIANCE_TYPE_APPROXIMATED = 1
COVARIANCE_TYPE_DIAGONAL_KNOWN = 2
COVARIANCE_TYPE_KNOWN = 3

SERVICE_GPS, SERVICE_GLONASS, SERVICE_COMPASS, SERVICE_GALILEO = 1, 2, 4, 8
SERVICE_ALL = SERVICE_GPS | SERVICE_GLONASS | SERVICE_COMPASS | SERVICE_GALILEO

RTK_FIXED_MAX_SIGMA_M = 0.05
"""A GBAS fix reporting a horizontal sigma above this is RTK float."""


def status_for_mode(mode: str) -> tuple[int, int]:
    """(NavSatStatus.status, position_covariance_type) that encode a solution mode."""
    return {
        "rtk_fixed": (STATUS_GBAS_FIX, COVARIANCE_TYPE_DIAGONAL_KNOWN),
        "rtk_float": (STATUS_GBAS_FIX, COVARIANCE_TYPE_DIAGONAL_KNOWN),
        "single": (STATUS_FIX, COVARIANCE_TYPE_DIAGONAL_KNOWN),
        "none": (STATUS_NO_FIX, COVARIANCE_TYPE_UNKNOWN),
    }[mode]


def gnss_mode_of(status: int, covariance_type: int, horizontal_variance_m2: float) -> str:
    """Solution mode ('rtk_fixed' | 'rtk_float' | 'single' | 'none') of a received fix.

    A fix whose covariance is unknown or not finite is classed by its status alone,
    pessimistically (GBAS -> 'rtk_float'), since nothing proves it is fixed.
    """
    if status < STATUS_FIX:
        return "none"
    known = covariance_type != COVARIANCE_TYPE_UNKNOWN and math.isfinite(horizontal_variance_m2) \
        and horizontal_variance_m2 > 0.0
    if status == STATUS_GBAS_FIX:
        if known and math.sqrt(horizontal_variance_m2) <= RTK_FIXED_MAX_SIGMA_M:
            return "rtk_fixed"
        return "rtk_float"
    return "single"
