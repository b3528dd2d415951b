"""One way for every node process to run and to stop: Ctrl-C or SIGTERM ends it with exit code 0.

Why not `rclpy.spin(node)`: rclpy's own signal handler shuts the context down while the executor may
be inside `take_message`, which then raises `RuntimeError` from pybind11 and the process exits 1 on an
ordinary Ctrl-C (seen in the graph tests, about one run in four). Raising `KeyboardInterrupt` from a
Python handler has the same hazard (it can land inside rclpy's message conversion). So rclpy installs
no handler here; ours only sets a flag, and the executor is spun in steps of at most `WAKE_PERIOD_S`
of wall time, so the flag is seen even when nothing else wakes the executor (a node on /clock, with
use_sim_time, after the simulator has stopped). The node is destroyed before the context is shut down.

A node that does not stop anyway (a callback that never returns) is killed by whoever started it; on
SIGUSR1 it first writes the Python stack of every thread to stderr (`faulthandler`, which works even
while the main thread is inside a C call), so its log says where it hung. The bringup's supervisor
sends SIGUSR1 before SIGKILL.
"""

from __future__ import annotations

import faulthandler
import signal
import threading
from collections.abc import Callable
from typing import TypeVar

import rclpy
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

N = TypeVar("N", bound=Node)
WAKE_PERIOD_S = 0.1  # [s] longest executor wait (wall clock) before a stop request is seen

STARTUP_ERRORS = (ValueError, FileNotFoundError, KeyError)
"""What a node's constructor raises for bad parameters or files (ParameterError, WorldError are ValueErrors)."""


class StopFlag:
    """Set by SIGINT/SIGTERM: a flag, not an exception, so no handler runs inside rclpy's C++ calls."""

    def __init__(self) -> None:
        self.stop = False

    def __call__(self, signum, frame) -> None:
        self.stop = True


def run_node(factory: Callable[[], N], name: str, args: list[str] | None = None,
             on_exit: Callable[[N], None] | None = None,
             executor_factory: Callable[[], Executor] = SingleThreadedExecutor,
             done: Callable[[N], bool] | None = None) -> int:
    """Build the node with `factory`, spin it until Ctrl-C/SIGTERM, clean up; return the exit code.

    A node that cannot start (bad parameter, missing world) is logged as fatal under `name` and
    gives exit code 1 instead of a traceback. `on_exit` runs before the node is destroyed
    (a recorder closes its file there). `executor_factory`: e.g. rclpy's EventsExecutor for a
    node with a high message rate. `done(node)` True ends the process as Ctrl-C does (exit 0):
    a node whose job is finished (the KPI collector once it wrote its report).
    """
    flag = StopFlag()
    signal.signal(signal.SIGINT, flag)
    signal.signal(signal.SIGTERM, flag)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node: N | None = None
    executor: Executor | None = None
    try:
        try:
            node = factory()
        except STARTUP_ERRORS as exc:
            why = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc  # KeyError's str() adds quotes
            rclpy.logging.get_logger(name).fatal(f"cannot start: {why}")
            return 1
        executor = executor_factory()
        executor.add_node(node)
        while rclpy.ok() and not flag.stop and not (done is not None and done(node)):
            executor.spin_once(timeout_sec=WAKE_PERIOD_S)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None and on_exit is not None:
            on_exit(node)
        # Take the node out of the executor before destroying it, and shut the executor down before the
        # context (rclpy.spin's order). An EventsExecutor still holding the node's entities hung the
        # process twice in the parallel suite (stacks dumped on SIGUSR1): in its destructor after the node
        # was gone (an event handler's __exit__), and, with only the executor shut down first, in
        # destroy_node (the type-description service's destroy_when_not_in_use).
        if executor is not None and node is not None:
            executor.remove_node(node)
        if node is not None:
            node.destroy_node()
        if executor is not None:
            executor.shutdown()
            del executor
        rclpy.try_shutdown()
    return 0


def fast_executor(context=None) -> Executor:
    """rclpy's EventsExecutor where it exists (about twice the message rate), else the single-threaded one."""
    try:
        from rclpy.experimental import EventsExecutor
    except ImportError:
        return SingleThreadedExecutor(context=context)
    return EventsExecutor(context=context)


class ExecutorThread:
    """One node spun by its own executor in a daemon thread, apart from the caller's executor.

    For work that must never wait for the caller's callbacks (the fleet manager's order ingress) and for
    helpers used from any program (the order client, test observers). ``close()`` stops the thread and
    tears down in rclpy.spin's order: node out of the executor, node destroyed, executor shut down.
    """

    def __init__(self, node: Node, executor: Executor, name: str = "executor"):
        self.node, self.executor = node, executor
        self.executor.add_node(node)
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        ctx = self.node.context
        while not self._stop and ctx.ok():
            try:
                self.executor.spin_once(timeout_sec=WAKE_PERIOD_S)
            except Exception as exc:  # a shutdown racing the wait is expected; anything else is logged
                if self._stop or not ctx.ok():
                    return
                self.node.get_logger().error(f"{self._thread.name}: {exc}")

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=5.0)
        self.executor.remove_node(self.node)
        self.node.destroy_node()
        self.executor.shutdown()
