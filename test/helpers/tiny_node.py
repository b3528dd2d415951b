"""A tiny process for supervisor and CLI tests: `python -m tiny_node [MODE] [--after S] [--ros-args ...]`.

The mode comes from the first argument or, when started from a graph description (which
passes only ROS arguments), from `-p mode:=MODE`:
  run       an rclpy node publishing std_msgs/String on `chatter` at 10 Hz (and /clock at
            100 Hz, 10 ms of sim time per tick, with `-p publish_clock:=true`); prints "ready"
            once spinning and exits 0 on SIGINT, as every node of the project must
  crash     prints "boom" and exits with code 3 after --after (or `-p after:=S`) seconds, counted
            from when the file --when-file (or `-p when_file:=PATH`) exists if one is given
  deaf      ignores SIGINT (SIGTERM still ends it)
  deafer    ignores SIGINT and SIGTERM (only SIGKILL ends it)
  hang      a node under run_node whose timer callback never returns, so its stop flag is never
            seen: only SIGKILL ends it (after the stack dump on SIGUSR1)
  loading   prints "ready" and sleeps with Python's default SIGINT handler, like a node still
            importing its modules when the stop comes (dies of KeyboardInterrupt)
  done      prints "done" and exits 0 at once
"""

import argparse
import os
import signal
import sys
import time

MODES = ("run", "crash", "deaf", "deafer", "hang", "loading", "done")


def run(argv: list[str]) -> int:
    # A SIGINT that arrives while rclpy is still loading (a loaded machine, a stop right after start)
    # must end the node cleanly too; from rclpy.init() on, yard_ros.spin.run_node handles it.
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    import rclpy
    from builtin_interfaces.msg import Time
    from rosgraph_msgs.msg import Clock
    from std_msgs.msg import String

    from yard_ros.spin import run_node

    signal.signal(signal.SIGINT, signal.default_int_handler)  # until run_node installs its stop flag

    def make_node():
        node = rclpy.create_node("tiny")
        node.declare_parameter("mode", "run")
        node.declare_parameter("publish_clock", False)
        pub = node.create_publisher(String, "chatter", 10)
        node.create_timer(0.1, lambda: pub.publish(String(data="tick")))
        if node.get_parameter("publish_clock").value:
            clock_pub = node.create_publisher(Clock, "/clock", 10)
            ticks = [0]

            def tick() -> None:
                ticks[0] += 1
                clock_pub.publish(Clock(clock=Time(sec=ticks[0] // 100, nanosec=(ticks[0] % 100) * 10_000_000)))

            node.create_timer(0.01, tick)
        print(f"ready {node.get_fully_qualified_name()}", flush=True)
        return node

    code = run_node(make_node, "tiny", argv)
    print("bye", flush=True)
    return code


def hang(argv: list[str]) -> int:
    import rclpy

    from yard_ros.spin import run_node

    def stuck_in_a_callback() -> None:
        print("ready", flush=True)  # only now: a stop request before this would be seen by run_node
        while True:
            time.sleep(0.05)

    def make_node():
        node = rclpy.create_node("tiny")
        node.create_timer(0.05, stuck_in_a_callback)
        return node

    return run_node(make_node, "tiny", argv)


def ros_param(argv: list[str], name: str, default: str) -> str:
    for a in argv:
        if a.startswith(f"{name}:="):
            return a.split(":=", 1)[1]
    return default


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", nargs="?", choices=MODES)
    parser.add_argument("--after", type=float, default=None)
    parser.add_argument("--when-file", default=None)
    own = sys.argv[1:sys.argv.index("--ros-args")] if "--ros-args" in sys.argv else sys.argv[1:]
    args = parser.parse_args(own)
    mode = args.mode or ros_param(sys.argv, "mode", "run")
    after = args.after if args.after is not None else float(ros_param(sys.argv, "after", "0"))
    if mode == "run":
        return run(sys.argv)
    if mode == "hang":
        return hang(sys.argv)
    if mode == "loading":
        print("ready", flush=True)
        time.sleep(60.0)
        return 0
    if mode == "done":
        print("done", flush=True)
        return 0
    if mode == "crash":
        when_file = args.when_file or ros_param(sys.argv, "when_file", "")
        deadline = time.monotonic() + 60.0
        while when_file and not os.path.exists(when_file) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(after)
        print("something went wrong [here]\nboom", flush=True)
        return 3
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if mode == "deafer":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ready", flush=True)
    while True:
        time.sleep(1.0)


if __name__ == "__main__":
    sys.exit(main())
