"""ROS messages from the carrier model and sensor measurements (and cmd_vel back).

Pure translation, no node: the simulator node calls these so that the cores never see a
message type. Encodings follow docs/architecture.md (GNSS status table, frames).
"""

from __future__ import annotations

import math

from geometry_msgs.msg import PoseWithCovarianceStamped, TwistStamped
from nav_msgs.msg import Odometry
from sensor_msgs.msg import BatteryState, Imu, NavSatFix, NavSatStatus

from yard_model.gnss_status import SERVICE_ALL
from yard_model.world import CarrierType
from yard_ros.orientation import yaw_quaternion
from yard_ros.stamps import from_sec

from .carrier_model import CarrierState
from .sensors import BayPose, GnssFix, GnssHeading, ImuSample, WheelOdom

UNKNOWN_VARIANCE = 1e6  # [rad^2] roll/pitch of a GNSS heading: not measured
NOMINAL_PACK_VOLTAGE_V = 600.0  # [V] CarrierType has no voltage; typical of heavy electric vehicle packs


def _diag9(a: float, b: float, c: float) -> list[float]:
    return [a, 0.0, 0.0, 0.0, b, 0.0, 0.0, 0.0, c]


def gnss_fix_msg(m: GnssFix, frame_id: str) -> NavSatFix:
    """NavSatFix of a GNSS fix; RTK fixed/float as STATUS_GBAS_FIX, told apart by the covariance."""
    msg = NavSatFix()
    msg.header.stamp = from_sec(m.stamp)
    msg.header.frame_id = frame_id
    msg.status = NavSatStatus(status=m.status, service=SERVICE_ALL)
    msg.latitude, msg.longitude, msg.altitude = float(m.lat_deg), float(m.lon_deg), float(m.alt_m)
    msg.position_covariance = [float(v) for v in m.covariance]
    msg.position_covariance_type = m.covariance_type
    return msg


def gnss_heading_msg(m: GnssHeading, frame_id: str) -> Imu:
    """Imu carrying only the dual-antenna yaw; roll/pitch unknown, rates and accelerations absent."""
    msg = Imu()
    msg.header.stamp = from_sec(m.stamp)
    msg.header.frame_id = frame_id
    msg.orientation = yaw_quaternion(m.yaw_rad)
    msg.orientation_covariance = _diag9(UNKNOWN_VARIANCE, UNKNOWN_VARIANCE, m.sigma_rad ** 2)
    msg.angular_velocity_covariance[0] = -1.0
    msg.linear_acceleration_covariance[0] = -1.0
    return msg


def bay_pose_msg(m: BayPose) -> PoseWithCovarianceStamped:
    """Bay positioning: base_link pose in ``map`` at the measurement time; z, roll, pitch not measured."""
    msg = PoseWithCovarianceStamped()
    msg.header.stamp = from_sec(m.stamp)
    msg.header.frame_id = "map"
    msg.pose.pose.position.x, msg.pose.pose.position.y = float(m.x), float(m.y)
    msg.pose.pose.orientation = yaw_quaternion(m.yaw)
    cov = [0.0] * 36
    cov[0] = cov[7] = float(m.sigma_m) ** 2
    cov[14] = cov[21] = cov[28] = UNKNOWN_VARIANCE
    cov[35] = float(m.yaw_sigma_rad) ** 2
    msg.pose.covariance = cov
    return msg


def wheel_odom_msg(m: WheelOdom, odom_frame: str, base_frame: str) -> Odometry:
    """Odometry: dead-reckoned pose in ``odom_frame``, twist in ``base_frame``."""
    msg = Odometry()
    msg.header.stamp = from_sec(m.stamp)
    msg.header.frame_id = odom_frame
    msg.child_frame_id = base_frame
    msg.pose.pose.position.x, msg.pose.pose.position.y = float(m.x), float(m.y)
    msg.pose.pose.orientation = yaw_quaternion(m.yaw)
    msg.pose.covariance = [float(v) for v in m.pose_cov]
    msg.twist.twist.linear.x, msg.twist.twist.linear.y = float(m.vx_mps), float(m.vy_mps)
    msg.twist.twist.angular.z = float(m.wz_radps)
    msg.twist.covariance = [float(v) for v in m.twist_cov]
    return msg


def imu_msg(m: ImuSample, frame_id: str) -> Imu:
    """Imu with gyro and accelerometer; no orientation (``orientation_covariance[0] = -1``)."""
    msg = Imu()
    msg.header.stamp = from_sec(m.stamp)
    msg.header.frame_id = frame_id
    msg.orientation_covariance[0] = -1.0
    msg.angular_velocity.x, msg.angular_velocity.y, msg.angular_velocity.z = float(m.wx), float(m.wy), float(m.wz)
    msg.angular_velocity_covariance = _diag9(m.gyro_var, m.gyro_var, m.gyro_var)
    a = msg.linear_acceleration
    a.x, a.y, a.z = float(m.ax), float(m.ay), float(m.az)
    msg.linear_acceleration_covariance = _diag9(m.accel_var, m.accel_var, m.accel_var)
    return msg


def ground_truth_msg(state: CarrierState, stamp: float, base_frame: str) -> Odometry:
    """Truth in ``map`` (child ``base_frame``), twist in base_link; covariance zero (exact)."""
    msg = Odometry()
    msg.header.stamp = from_sec(stamp)
    msg.header.frame_id = "map"
    msg.child_frame_id = base_frame
    msg.pose.pose.position.x, msg.pose.pose.position.y = float(state.x), float(state.y)
    msg.pose.pose.orientation = yaw_quaternion(state.yaw)
    msg.twist.twist.linear.x = float(state.speed_mps)
    msg.twist.twist.linear.y = float(state.lateral_speed_mps)
    msg.twist.twist.angular.z = float(state.yaw_rate_radps)
    return msg


def battery_msg(state: CarrierState, stamp: float, carrier_type: CarrierType, frame_id: str = "",
                nominal_voltage_v: float = NOMINAL_PACK_VOLTAGE_V) -> BatteryState:
    """BatteryState: ``percentage`` = soc (0..1); charges in Ah at the nominal pack voltage."""
    msg = BatteryState()
    msg.header.stamp = from_sec(stamp)
    msg.header.frame_id = frame_id
    capacity_ah = carrier_type.battery_capacity_kwh * 1000.0 / nominal_voltage_v
    msg.voltage = float(nominal_voltage_v)
    msg.temperature = math.nan
    msg.current = math.nan
    msg.capacity = msg.design_capacity = float(capacity_ah)
    msg.charge = float(state.soc * capacity_ah)
    msg.percentage = float(state.soc)
    if state.charging:
        msg.power_supply_status = BatteryState.POWER_SUPPLY_STATUS_FULL if state.soc >= 1.0 \
            else BatteryState.POWER_SUPPLY_STATUS_CHARGING
    else:
        msg.power_supply_status = BatteryState.POWER_SUPPLY_STATUS_DISCHARGING
    msg.power_supply_health = BatteryState.POWER_SUPPLY_HEALTH_GOOD
    msg.power_supply_technology = BatteryState.POWER_SUPPLY_TECHNOLOGY_LION
    msg.present = True
    return msg


def cmd_from_twist(msg: TwistStamped) -> tuple[float, float] | None:
    """(speed [m/s] along base_link x, yaw rate [rad/s]) of a cmd_vel, or None if not finite."""
    v, w = msg.twist.linear.x, msg.twist.angular.z
    if not (math.isfinite(v) and math.isfinite(w)):
        return None
    return float(v), float(w)
