"""Yard world model: the one description of a yard that every node shares.

Pure Python (no rclpy): load a world with :func:`load_world`, then query it.
"""

from .geodesy import Datum, LocalFrame, utm_zone_for
from .loader import WorldError, load_world, parse_world
from .world import GNSS_MODES, Bay, Crane, Lane, Pose2D, Station, World

__all__ = [
    "GNSS_MODES",
    "Bay",
    "Crane",
    "Datum",
    "Lane",
    "LocalFrame",
    "Pose2D",
    "Station",
    "World",
    "WorldError",
    "load_world",
    "parse_world",
    "utm_zone_for",
]
