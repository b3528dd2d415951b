"""One way for every node process to run and to stop: Ctrl-C or SIGTERM ends it with exit code 0.

Why not `rclpy.spin(node)`: rclpy's own signal handler shuts the context down while the executor may
be inside `take_message`, which then raises `RuntimeError` from pybind11 and the process exits 1 on an
ordinary Ctrl-C (seen in the graph tests, about one run in four). Here rclpy installs no signal handler;
SIGINT and SIGTERM raise `KeyboardInterrupt` in the spinning Python executor, and the node is destroyed
before the context is shut down. Python runs a signal handler only when the executor's wait returns, and
a node whose timers run on /clock (use_sim_time) waits forever once the simulator has stopped: so a
steady-clock wake-up timer (WAKE_PERIOD_S) keeps the wait short whatever the clock does.

`rclpy.experimental.EventsExecutor` is not used for processes: on rclpy 7.1.6 it neither returns on
SIGINT nor when a callback raises.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import TypeVar

import rclpy
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

N = TypeVar("N", bound=Node)
WAKE_PERIOD_S = 0.2

STARTUP_ERRORS = (ValueError, FileNotFoundError, KeyError)
"""What a node's constructor raises for bad parameters or files (ParameterError, WorldError are ValueErrors)."""


def _wake() -> None:
    """Nothing to do: returning from the wait is the point."""


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_node(factory: Callable[[], N], name: str, args: list[str] | None = None,
             on_exit: Callable[[N], None] | None = None) -> int:
    """Build the node with `factory`, spin it until Ctrl-C/SIGTERM, clean up; return the exit code.

    A node that cannot start (bad parameter, missing world) is logged as fatal under `name` and
    gives exit code 1 instead of a traceback. `on_exit` runs before the node is destroyed
    (a recorder closes its file there).
    """
    signal.signal(signal.SIGTERM, _interrupt)
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node: N | None = None
    try:
        try:
            node = factory()
        except STARTUP_ERRORS as exc:
            why = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc  # KeyError's str() adds quotes
            rclpy.logging.get_logger(name).fatal(f"cannot start: {why}")
            return 1
        node.create_timer(WAKE_PERIOD_S, _wake, clock=Clock(clock_type=ClockType.STEADY_TIME))
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            if on_exit is not None:
                on_exit(node)
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
