"""Conversions between ROS time stamps and float seconds (the cores' time unit)."""

from builtin_interfaces.msg import Time


def to_sec(stamp: Time) -> float:
    """Seconds of a builtin_interfaces/Time."""
    return stamp.sec + stamp.nanosec * 1e-9


def from_sec(t: float) -> Time:
    """builtin_interfaces/Time of a non-negative time in seconds."""
    if t < 0.0:
        t = 0.0
    sec = int(t)
    nanosec = int(round((t - sec) * 1e9))
    if nanosec >= 1_000_000_000:
        sec, nanosec = sec + 1, nanosec - 1_000_000_000
    return Time(sec=sec, nanosec=nanosec)
