"""Exit 0 once the simulation has run for a given number of simulated seconds.

``yard-autonomy sim --duration SEC`` starts this tiny node beside the graph as
a *sentinel*: the supervisor stops every process cleanly when it exits 0.
Simulated time is counted on ``/clock`` from the first message this node
receives (within a discovery delay of the simulator's start), so the run
lasts SEC of simulated time at any real-time factor, including "as fast as
possible". The supervisor process itself stays free of rclpy.
"""

from __future__ import annotations

import argparse
import sys


class ElapsedSimTime:
    """Simulated seconds since the first clock reading; a clock that jumps back restarts the count."""

    def __init__(self, duration_s: float):
        self.duration_s = duration_s
        self.start_s: float | None = None
        self.now_s: float | None = None

    def update(self, t_s: float) -> bool:
        """Record a clock reading [s]; True once ``duration_s`` has elapsed."""
        if self.start_s is None or t_s < (self.now_s if self.now_s is not None else t_s):
            self.start_s = t_s
        self.now_s = t_s
        return self.elapsed_s >= self.duration_s

    @property
    def elapsed_s(self) -> float:
        if self.start_s is None or self.now_s is None:
            return 0.0
        return self.now_s - self.start_s


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m yard_bringup.clock_watch", description=__doc__)
    parser.add_argument("--duration", type=float, required=True, help="simulated seconds to wait for [s]")
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock

    args = parser.parse_args(rclpy.utilities.remove_ros_args(argv)[1:])
    rclpy.init(args=argv)
    node = rclpy.create_node("clock_watch")
    watch = ElapsedSimTime(args.duration)
    done = False

    def on_clock(msg: Clock) -> None:
        nonlocal done
        first = watch.start_s is None
        done = watch.update(msg.clock.sec + msg.clock.nanosec * 1e-9) or done
        if first:
            node.get_logger().info(f"first /clock at {watch.start_s:.3f} s; stopping after {args.duration} s")

    node.create_subscription(Clock, "/clock", on_clock,
                             QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT))
    try:
        while rclpy.ok() and not done:
            rclpy.spin_once(node, timeout_sec=0.2)
        if done:
            node.get_logger().info(f"{watch.elapsed_s:.3f} s of simulated time elapsed")
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
