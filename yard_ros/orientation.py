"""Yaw <-> geometry_msgs/Quaternion for a planar yard: one conversion for the simulator and every node."""

from __future__ import annotations

import math

from geometry_msgs.msg import Quaternion

from yard_model.geometry import yaw_of_quaternion


def yaw_quaternion(yaw_rad: float) -> Quaternion:
    """Quaternion of a rotation about z (ENU yaw)."""
    return Quaternion(x=0.0, y=0.0, z=math.sin(yaw_rad / 2.0), w=math.cos(yaw_rad / 2.0))


def yaw_of(q) -> float:
    """ENU yaw [rad] of a geometry_msgs/Quaternion."""
    return yaw_of_quaternion(q.x, q.y, q.z, q.w)
