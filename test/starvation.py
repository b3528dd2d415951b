"""Load injected from outside a node process, for graph tests: CPU hogs, stop/continue bursts, a delay relay.

A node under test is not told it is being starved: busy processes share its CPU, SIGSTOP/SIGCONT
bursts freeze it (every thread, DDS included) for a moment at random times, and a relay node holds
its input topic back. Every generator is seeded, so a failing run can be replayed.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable

HOG = "while True:\n    pass\n"


def pinned(cpus: set[int]) -> Callable[[], None]:
    """A Popen ``preexec_fn`` that pins the child (and every thread it will start) to ``cpus``."""
    return lambda: os.sched_setaffinity(0, cpus)


def start_pinned(cmd: list[str], env: dict[str, str], cpus: set[int]) -> subprocess.Popen:
    """A node process (output captured, own session, as the graph tests start them) pinned to ``cpus``."""
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=pinned(cpus))


class CpuHogs:
    """``n`` busy-looping processes pinned to ``cpus`` while the context is open."""

    def __init__(self, n: int, cpus: set[int]):
        self.n, self.cpus = n, cpus
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> CpuHogs:
        self.procs = [subprocess.Popen([sys.executable, "-c", HOG], preexec_fn=pinned(self.cpus))
                      for _ in range(self.n)]
        return self

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            p.kill()
            p.wait(timeout=10)


class StopBursts:
    """Freezes a process (SIGSTOP) for ``stop_s`` seconds every ``gap_s`` seconds (both drawn uniformly).

    Runs in a thread of the test process; the process is always continued when the context closes.
    ``stopped_s`` adds up how long it was frozen, ``count`` how often.
    """

    def __init__(self, pid: int, stop_s: tuple[float, float], gap_s: tuple[float, float], seed: int = 0):
        self.pid, self.stop_s, self.gap_s = pid, stop_s, gap_s
        self.rng = random.Random(seed)
        self.count, self.stopped_s = 0, 0.0
        self._quit = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._quit.wait(self.rng.uniform(*self.gap_s)):
            pause = self.rng.uniform(*self.stop_s)
            try:
                os.kill(self.pid, signal.SIGSTOP)
            except ProcessLookupError:
                return
            try:
                self._quit.wait(pause)
            finally:
                os.kill(self.pid, signal.SIGCONT)
            self.count += 1
            self.stopped_s += pause

    def __enter__(self) -> StopBursts:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._quit.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGCONT)


class DelayRelay:
    """Republishes every message of one topic on another ``delay_s`` (drawn per message) later, in order.

    Call ``release()`` often (a timer of the test node): a message goes out once its time has come
    and every message before it has gone. Header stamps are untouched, as a slow network leaves them.
    """

    def __init__(self, node, msg_type, src: str, dst: str, qos_sub, qos_pub, delay_s: tuple[float, float],
                 seed: int = 0):
        self.rng = random.Random(seed)
        self.delay_s = delay_s
        self.queue: deque = deque()
        self.relayed = 0
        self.pub = node.create_publisher(msg_type, dst, qos_pub)
        node.create_subscription(msg_type, src, self._on_msg, qos_sub)

    def _on_msg(self, msg) -> None:
        due = time.monotonic() + self.rng.uniform(*self.delay_s)
        if self.queue:
            due = max(due, self.queue[-1][0])  # a network queue keeps the order
        self.queue.append((due, msg))

    def release(self) -> None:
        now = time.monotonic()
        while self.queue and self.queue[0][0] <= now:
            self.pub.publish(self.queue.popleft()[1])
            self.relayed += 1
