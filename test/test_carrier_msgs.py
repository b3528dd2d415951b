"""Carrier measurements and truth -> ROS messages (and cmd_vel back), per docs/architecture.md."""

from __future__ import annotations

import math

import pytest
from geometry_msgs.msg import TwistStamped
from sensor_msgs.msg import BatteryState, NavSatFix, NavSatStatus

from yard_model.gnss_status import SERVICE_ALL, gnss_mode_of, status_for_mode
from yard_ros.stamps import to_sec
from yard_sim.carrier_model import CarrierState
from yard_sim.carrier_msgs import (
    battery_msg,
    cmd_from_twist,
    gnss_fix_msg,
    gnss_heading_msg,
    ground_truth_msg,
    imu_msg,
    wheel_odom_msg,
)
from yard_sim.sensors import GnssFix, GnssHeading, ImuSample, WheelOdom


def yaw_of(q) -> float:
    return 2.0 * math.atan2(q.z, q.w)


def test_messages_carry_the_documented_encodings(small_world):
    # GNSS: RTK float and no fix
    status, cov_type = status_for_mode("rtk_float")
    fix = gnss_fix_msg(GnssFix(12.25, 21.97, 106.71, 215.0, status, cov_type, (0.09, 0, 0, 0, 0.09, 0, 0, 0, 0.36),
                               "rtk_float", False), "carrier_01/gnss_link")
    assert isinstance(fix, NavSatFix)
    assert to_sec(fix.header.stamp) == pytest.approx(12.25)
    assert fix.header.frame_id == "carrier_01/gnss_link"
    assert (fix.latitude, fix.longitude, fix.altitude) == (21.97, 106.71, 215.0)
    assert fix.status.status == NavSatStatus.STATUS_GBAS_FIX and fix.status.service == SERVICE_ALL
    assert gnss_mode_of(fix.status.status, fix.position_covariance_type, fix.position_covariance[0]) == "rtk_float"
    status, cov_type = status_for_mode("none")
    nofix = gnss_fix_msg(GnssFix(1.0, math.nan, math.nan, math.nan, status, cov_type, (0.0,) * 9, "none", False), "g")
    assert nofix.status.status == NavSatStatus.STATUS_NO_FIX and math.isnan(nofix.latitude)
    assert nofix.position_covariance_type == NavSatFix.COVARIANCE_TYPE_UNKNOWN

    heading = gnss_heading_msg(GnssHeading(2.0, 2.5, 0.01), "carrier_01/gnss_link")
    assert yaw_of(heading.orientation) == pytest.approx(2.5)
    assert heading.orientation_covariance[8] == pytest.approx(1e-4)
    assert heading.angular_velocity_covariance[0] == -1.0 and heading.linear_acceleration_covariance[0] == -1.0

    cov36 = tuple(float(i) for i in range(36))
    odom = wheel_odom_msg(WheelOdom(3.0, 2.0, 0.1, 5.0, -1.0, -3.0, cov36, cov36, 0.4), "carrier_01/odom",
                          "carrier_01/base_link")
    assert (odom.header.frame_id, odom.child_frame_id) == ("carrier_01/odom", "carrier_01/base_link")
    assert (odom.pose.pose.position.x, odom.pose.pose.position.y) == (5.0, -1.0)
    assert yaw_of(odom.pose.pose.orientation) == pytest.approx(-3.0)
    assert (odom.twist.twist.linear.x, odom.twist.twist.linear.y, odom.twist.twist.angular.z) == (2.0, 0.4, 0.1)
    assert list(odom.pose.covariance) == list(cov36) and list(odom.twist.covariance) == list(cov36)

    imu = imu_msg(ImuSample(4.0, 0.01, -0.02, 0.3, 0.5, 1.2, 9.8, 4e-6, 2.5e-3), "carrier_01/imu_link")
    assert imu.orientation_covariance[0] == -1.0
    assert (imu.angular_velocity.z, imu.linear_acceleration.y, imu.linear_acceleration.z) == (0.3, 1.2, 9.8)
    assert imu.angular_velocity_covariance[4] == 4e-6 and imu.linear_acceleration_covariance[8] == 2.5e-3

    truth = CarrierState(x=10.0, y=20.0, yaw=1.0, speed_mps=3.0, steer_rad=0.1, yaw_rate_radps=0.2,
                         accel_mps2=0.0, odometer_m=5.0, soc=0.25, lateral_speed_mps=0.8, charging=True)
    gt = ground_truth_msg(truth, 5.5, "carrier_01/base_link")
    assert (gt.header.frame_id, gt.child_frame_id) == ("map", "carrier_01/base_link")
    assert (gt.pose.pose.position.x, gt.twist.twist.linear.x, gt.twist.twist.linear.y) == (10.0, 3.0, 0.8)
    assert yaw_of(gt.pose.pose.orientation) == pytest.approx(1.0)

    battery = battery_msg(truth, 6.0, small_world.carrier_type)
    assert battery.percentage == pytest.approx(0.25)
    assert battery.power_supply_status == BatteryState.POWER_SUPPLY_STATUS_CHARGING
    assert battery.charge == pytest.approx(0.25 * battery.capacity) and battery.present

    twist = TwistStamped()
    twist.twist.linear.x, twist.twist.angular.z = 2.0, -0.1
    assert cmd_from_twist(twist) == (2.0, -0.1)
    twist.twist.angular.z = math.nan
    assert cmd_from_twist(twist) is None
    twist.twist.angular.z, twist.twist.linear.x = 0.0, math.inf
    assert cmd_from_twist(twist) is None
