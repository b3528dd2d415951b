"""Localization in the loop for the benchmarks: simulator measurements through the node's screening and filter.

Shared by ``bench/localization.py`` (recorded runs, scored against the truth) and
``bench/path_following.py`` (closed loop: the follower drives on the filter's output). What the
localization node does with a message (``agv_nav.localization_node``), without ROS: convert the
simulator's measurement into the plain reading its message carries (:func:`reading_of`), screen it
(:class:`agv_nav.localization_inputs.InputScreen`) and add it to
:class:`agv_nav.localization_filter.LocalizationFilter` at its arrival time (:class:`FilterLoop`).
"""

from __future__ import annotations

import math
import time

from agv_nav.localization_filter import LocalizationFilter
from agv_nav.localization_inputs import (
    BayPoseReading,
    FixReading,
    HeadingReading,
    ImuReading,
    InputScreen,
    OdomReading,
    Rejected,
)
from agv_nav.localization_params import LocalizationParams
from agv_nav.pose_init import SpotPose, world_spots
from yard_sim.carrier_msgs import bay_pose_msg
from yard_sim.sensors import BayPose, GnssFix, GnssHeading, ImuSample, WheelOdom


def reading_of(m, arrival: float):
    """The node's plain reading of a simulator measurement (what the message carries)."""
    if isinstance(m, GnssFix):
        return FixReading(m.stamp, arrival, m.lat_deg, m.lon_deg, m.alt_m, m.status, m.covariance_type,
                          tuple(m.covariance))
    if isinstance(m, WheelOdom):
        return OdomReading(m.stamp, arrival, m.vx_mps, m.wz_radps)
    if isinstance(m, ImuSample):
        return ImuReading(m.stamp, arrival, m.wz)
    if isinstance(m, GnssHeading):
        return HeadingReading(m.stamp, arrival, (0.0, 0.0, math.sin(m.yaw_rad / 2), math.cos(m.yaw_rad / 2)),
                              m.sigma_rad**2)
    if isinstance(m, BayPose):
        msg = bay_pose_msg(m)  # the simulator's own encoding, covariance included
        q = msg.pose.pose.orientation
        return BayPoseReading(m.stamp, arrival, msg.header.frame_id, m.x, m.y, (q.x, q.y, q.z, q.w),
                              tuple(msg.pose.covariance))
    return None


class FilterLoop:
    """InputScreen + LocalizationFilter of one carrier, fed simulator measurements as the node feeds messages.

    ``use_heading``: also fuse the dual-antenna GNSS heading (the node's ``use_gnss_heading``);
    otherwise heading measurements are dropped before the screen, as the node does not subscribe.
    ``extra_spots``: start-up places besides the world's spots and carrier bays.
    ``use_bay_positioning``: fuse the crane-mounted bay positioning (the node's ``use_bay_positioning``).
    """

    def __init__(self, world, lever: tuple[float, float], rear_axle_x_m: float,
                 params: LocalizationParams | None = None, use_heading: bool = False,
                 extra_spots: list[SpotPose] | tuple[SpotPose, ...] = (), use_bay_positioning: bool = True):
        self.params = params or LocalizationParams()
        self.screen = InputScreen(self.params, world.frame)
        self.filter = LocalizationFilter(self.params, lever, rear_axle_x_m, world_spots(world) + list(extra_spots))
        self.use_heading = use_heading
        self.use_bay_positioning = use_bay_positioning
        self._handlers = {FixReading: self.screen.fix, OdomReading: self.screen.odom, ImuReading: self.screen.imu,
                          HeadingReading: self.screen.heading, BayPoseReading: self.screen.bay_pose}

    def feed(self, arrival: float, m):
        """Screen and fuse one measurement that arrived at ``arrival`` [s].

        Returns (outcome, CPU seconds) — the outcome is the screen's ``Rejected`` or the filter's
        result — or None for a measurement the node would not take.
        """
        r = reading_of(m, arrival)
        if r is None or (isinstance(m, GnssHeading) and not self.use_heading) \
                or (isinstance(m, BayPose) and not self.use_bay_positioning):
            return None
        c0 = time.thread_time_ns()
        z = self._handlers[type(r)](r)
        out = z if isinstance(z, Rejected) else self.filter.add(z)
        return out, (time.thread_time_ns() - c0) * 1e-9

    def estimate(self, t: float):
        """The filter's output at t (None until initialised), as the node publishes it."""
        return self.filter.estimate(t)
