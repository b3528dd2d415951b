"""Start the graph's processes, watch them, and stop them all cleanly.

What ``yard-autonomy sim`` does, apart from the display:

* each :class:`~yard_bringup.graph.NodeSpec` becomes a command line
  ``python -m <module> --ros-args -r __node:=... -r __ns:=... --params-file ...
  -p k:=v`` (:func:`node_command`), the same arguments ``ros2 launch`` would
  pass to the ROS executable;
* every process writes stdout and stderr to its own log file and runs in its
  own session, so a terminal Ctrl-C reaches only the supervisor, which then
  forwards SIGINT to every child once (a second SIGINT would interrupt rclpy's
  shutdown). Children that have not exited after ``stop_timeout_s`` get
  SIGTERM, then SIGKILL after ``kill_timeout_s`` — preceded by SIGUSR1, on
  which every node (``yard_ros.spin.run_node``) writes the Python stack of
  each of its threads to its log, so a hung stop says where it hung. A child
  that dies of the forwarded SIGINT itself was still starting (importing,
  before its handler was set) and counts as stopped cleanly. Children also get SIGTERM
  from the kernel if the supervisor itself dies (``PR_SET_PDEATHSIG``), so
  nothing is left running;
* a child that exits while the graph should be running is restarted if its
  spec asks for ``respawn`` (after ``RESPAWN_DELAY_S``, at most ``MAX_RESPAWNS``
  times per ``RESPAWN_WINDOW_S``: the fleet manager, and every node of a
  carrier or a crane). Once that budget is spent — or at once without
  ``respawn`` — an *essential* process (the simulator, the fleet manager) is a
  failure: the run stops the others and reports which process died, its exit
  code and the end of its log. A non-essential one takes its *group* (the
  carrier or crane it belongs to) out of the run: the group's other processes
  are stopped, the loss is reported, and the yard goes on — unless the
  ``viable`` callback says that without the lost groups it cannot (no carrier
  left, a station without a crane), which is a failure too;
* a *sentinel* process (the ``--duration`` clock watcher) ends the run when it
  exits 0.

The loop is single-threaded (poll, sleep 0.1 s): no thread holds a lock while
a child forks. No rclpy and no rich here; a :class:`Reporter` shows progress.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from yard_model.resources import config_path

from .graph import NodeSpec

POLL_S = 0.1
RESPAWN_DELAY_S = 1.0
MAX_RESPAWNS = 3  # per RESPAWN_WINDOW_S; then the process counts as dead
RESPAWN_WINDOW_S = 60.0
LOG_TAIL_LINES = 20
DUMP_WAIT_S = 0.5  # [s] from the stack-dump request (SIGUSR1) to SIGKILL


# --------------------------------------------------------------------------- command lines
def format_param_value(value: Any) -> str:
    """A value for ``-p name:=value`` that ROS's YAML parser reads back as the same value and type."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    if isinstance(value, str):
        try:
            plain = yaml.safe_load(value) == value and "," not in value and not value.startswith(("[", "{"))
        except yaml.YAMLError:
            plain = False
        return value if plain and value else "'" + value.replace("'", "''") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_param_value(v) for v in value) + "]"
    if isinstance(value, os.PathLike):
        return format_param_value(os.fspath(value))
    raise TypeError(f"cannot pass a {type(value).__name__} as a ROS parameter: {value!r}")


def ros_arguments(spec: NodeSpec, extra_params_files: Iterable[str | os.PathLike] = (),
                  resolve_config: Callable[[str], Path] | None = None) -> list[str]:
    """``--ros-args ...`` for one spec: names, shipped params files, overrides, user files, remaps.

    Order matters: rcl applies parameter sources in order of appearance, so
    the user's ``extra_params_files`` override the graph's overrides, which
    override the shipped config files (the same order ``ros2 launch`` uses).
    """
    resolve = resolve_config or config_path
    args = ["--ros-args"]
    if not spec.hosts:
        args += ["-r", f"__node:={spec.name}"]
    if spec.namespace:
        args += ["-r", f"__ns:={spec.namespace}"]
    for name in spec.params_files:
        args += ["--params-file", str(resolve(name))]
    for key, value in spec.parameters.items():
        args += ["-p", f"{key}:={format_param_value(value)}"]
    for f in extra_params_files:
        args += ["--params-file", str(Path(f).resolve())]
    for src, dst in spec.remappings:
        args += ["-r", f"{src}:={dst}"]
    return args


def node_command(spec: NodeSpec, extra_params_files: Iterable[str | os.PathLike] = (),
                 python: str = sys.executable,
                 resolve_config: Callable[[str], Path] | None = None) -> list[str]:
    """The full command line that runs one spec as ``python -m <module>``."""
    return [python, "-m", spec.module, *ros_arguments(spec, extra_params_files, resolve_config)]


def log_file_name(label: str) -> str:
    return label.strip("/").replace("/", "__") + ".log"


def default_log_dir() -> Path:
    """``$ROS_LOG_DIR`` (or ``~/.ros/log``) / yard_autonomy / <date-time>-<pid>."""
    base = Path(os.environ.get("ROS_LOG_DIR") or Path(os.environ.get("ROS_HOME", Path.home() / ".ros")) / "log")
    return base / "yard_autonomy" / f"{time.strftime('%Y-%m-%d-%H-%M-%S')}-{os.getpid()}"


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of a text file (empty if it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-lines:]


# --------------------------------------------------------------------------- process state
@dataclass
class ProcessPlan:
    """One process to supervise."""

    label: str
    argv: list[str]
    log_path: Path
    respawn: bool = False
    sentinel: bool = False  # exiting 0 ends the run normally (the --duration clock watcher)
    group: str = ""  # the carrier or crane this process belongs to; "" = the yard itself
    essential: bool = True  # its death (beyond respawn) stops the run; else only its group is lost


@dataclass
class ProcessState:
    plan: ProcessPlan
    popen: subprocess.Popen | None = None
    state: str = "pending"  # pending, running, restarting, stopping, exited, died, terminated, killed
    returncode: int | None = None
    restarts: list[float] = field(default_factory=list)
    restart_at: float | None = None
    echo_offset: int = 0
    echo_partial: bytes = b""
    retire_at: float | None = None  # its group was lost: asked to stop at this time (SIGKILL if it does not)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def clean(self) -> bool:
        """Ended by itself with exit code 0 (after SIGINT, or a sentinel's normal end), or was stopped by the
        SIGINT it was sent while still starting: a node handles SIGINT once it runs, so only a process that
        had not got that far dies of it, and it had nothing to lose yet."""
        return self.state == "exited" and self.returncode in (0, -signal.SIGINT)


@dataclass
class Failure:
    label: str
    pid: int | None
    returncode: int | None
    why: str
    log_path: Path
    log_tail: list[str]

    def describe(self) -> str:
        head = f"{self.label} (pid {self.pid}) {self.why}; log: {self.log_path}"
        if not self.log_tail:
            return head + " (empty)"
        return head + "\n" + "\n".join(f"    | {line}" for line in self.log_tail)


@dataclass
class RunResult:
    reason: str  # "interrupted", "sentinel", "failure", "stop requested"
    failures: list[Failure]
    exit_codes: dict[str, int | None]
    losses: list[Failure] = field(default_factory=list)  # groups taken out of a run that went on

    @property
    def ok(self) -> bool:
        return not self.failures


def interrupt(proc: subprocess.Popen, timeout_s: float = 20.0) -> int:
    """Stop one process started outside a :class:`Supervisor` as a user would (SIGINT, as Ctrl-C), killing
    it if it has not exited within ``timeout_s``; returns its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


class Reporter:
    """What the supervisor tells the user; the CLI draws it with rich, tests record it."""

    def started(self, states: list[ProcessState]) -> None:
        """All processes have been started."""

    def changed(self, states: list[ProcessState]) -> None:
        """A process changed state."""

    def message(self, text: str) -> None:
        """Something worth one line."""

    def output(self, label: str, line: str) -> None:
        """A line a process wrote (only when echo is on)."""

    def tick(self, states: list[ProcessState]) -> None:
        """Called every loop iteration (a live display may refresh)."""


# --------------------------------------------------------------------------- supervisor
def _pdeathsig_preexec() -> Callable[[], None]:
    """A preexec_fn that lets the child receive the SIGINT it will be stopped with, and (on Linux) asks the
    kernel to SIGTERM it when the supervisor dies.

    Signal masks and ignored signals survive exec: a supervisor started as a background shell job (SIGINT
    ignored) or forking while a library had SIGINT blocked would start children deaf to a clean stop.
    """
    prctl = None
    if sys.platform.startswith("linux"):
        libc_name = ctypes.util.find_library("c")
        if libc_name:
            prctl = ctypes.CDLL(libc_name, use_errno=True).prctl
    pr_set_pdeathsig = 1

    def preexec() -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Python turns it into KeyboardInterrupt at startup
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if prctl is not None:
            prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)

    return preexec


class Supervisor:
    """Runs a set of processes until a stop request, a sentinel's end or a failure."""

    def __init__(self, plans: list[ProcessPlan], env: dict[str, str], log_dir: Path,
                 reporter: Reporter | None = None, *, echo: bool = False,
                 stop_timeout_s: float = 10.0, kill_timeout_s: float = 3.0,
                 clock: Callable[[], float] = time.monotonic,
                 viable: Callable[[set[str]], str | None] | None = None):
        """``viable(lost groups)``: None while the yard can go on without them, else why it cannot."""
        labels = [p.label for p in plans]
        if len(set(labels)) != len(labels):
            raise ValueError(f"process labels must be unique: {labels}")
        self.states = [ProcessState(p) for p in plans]
        self.env = dict(env)
        self.log_dir = Path(log_dir)
        self.reporter = reporter or Reporter()
        self.echo = echo
        self.stop_timeout_s = stop_timeout_s
        self.kill_timeout_s = kill_timeout_s
        self.clock = clock
        self._stop_reason: str | None = None
        self._hurry = False
        self._stop_started: float | None = None
        self._terminated = False
        self._dumped = False  # SIGUSR1 sent (stack dump) before SIGKILL
        self._killed = False
        self.failures: list[Failure] = []
        self.losses: list[Failure] = []
        self.lost: set[str] = set()
        self.viable = viable or (lambda lost: None)
        self._preexec = _pdeathsig_preexec()

    # ---- control (safe to call from a signal handler or another thread)
    def request_stop(self, reason: str = "stop requested") -> None:
        """Begin a clean stop; a second request skips the grace period."""
        if self._stop_reason is None:
            self._stop_reason = reason
        else:
            self._hurry = True

    @property
    def stopping(self) -> bool:
        return self._stop_reason is not None

    # ---- process management
    def _spawn(self, st: ProcessState) -> None:
        st.plan.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(st.plan.log_path, "ab") as log:
            st.popen = subprocess.Popen(
                st.plan.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=self.env, start_new_session=True, preexec_fn=self._preexec,
            )
        st.state = "running"
        st.returncode = None
        st.restart_at = None

    def _signal(self, st: ProcessState, sig: int) -> None:
        if st.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(st.popen.pid, sig)

    def _write_manifest(self) -> None:
        doc = [{"label": s.plan.label, "pid": s.pid, "state": s.state, "returncode": s.returncode,
                "log": str(s.plan.log_path), "argv": s.plan.argv} for s in self.states]
        path = self.log_dir / "processes.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=2))
        tmp.replace(path)

    def _changed(self) -> None:
        self._write_manifest()
        self.reporter.changed(self.states)

    def _fail(self, st: ProcessState, why: str) -> None:
        self.failures.append(Failure(st.plan.label, st.pid, st.returncode, why, st.plan.log_path,
                                     tail(st.plan.log_path)))

    def _on_exit(self, st: ProcessState, now: float) -> None:
        rc = st.popen.returncode
        st.returncode = rc
        if self.stopping:
            if self._dumped and rc in (-signal.SIGKILL, -signal.SIGUSR1):  # the latter: no stack-dump handler
                st.state = "killed"
            elif self._terminated and rc == -signal.SIGTERM:
                st.state = "terminated"
            else:
                st.state = "exited"
            if not st.clean and not st.plan.sentinel:
                killed = "did not stop after SIGINT and SIGTERM: killed " + (
                    "with SIGKILL" if rc == -signal.SIGKILL else "by the stack-dump request SIGUSR1 (no handler)")
                how = {"killed": killed,
                       "terminated": "did not stop after SIGINT: terminated with SIGTERM"}.get(
                    st.state, f"stopped uncleanly ({describe_exit(rc)})")
                self._fail(st, how)
            return
        if st.plan.sentinel and rc == 0:
            st.state = "exited"
            self.reporter.message(f"{st.plan.label} finished: stopping the graph")
            self.request_stop("sentinel")
            return
        st.restarts = [t for t in st.restarts if now - t < RESPAWN_WINDOW_S]
        if st.plan.respawn and len(st.restarts) < MAX_RESPAWNS:
            st.state = "restarting"
            st.restart_at = now + RESPAWN_DELAY_S
            st.restarts.append(now)
            self.reporter.message(f"{st.plan.label} (pid {st.pid}) died ({describe_exit(rc)}): restarting "
                                  f"in {RESPAWN_DELAY_S:.0f} s")
            return
        st.state = "died"
        extra = f" (after {len(st.restarts)} restarts within {RESPAWN_WINDOW_S:.0f} s)" if st.plan.respawn else ""
        if not st.plan.essential and st.plan.group:
            self._lose_group(st, f"died ({describe_exit(rc)}){extra}", now)
            return
        self._fail(st, f"died ({describe_exit(rc)}){extra}")
        self.reporter.message(f"process {st.plan.label} (pid {st.pid}) died ({describe_exit(rc)}): "
                              "stopping the graph")
        self.request_stop("failure")

    def _lose_group(self, st: ProcessState, why: str, now: float) -> None:
        """A carrier's or crane's process is gone for good: take its group out, go on if the yard can."""
        group = st.plan.group
        self.losses.append(Failure(st.plan.label, st.pid, st.returncode, why, st.plan.log_path,
                                   tail(st.plan.log_path)))
        self.lost.add(group)
        for other in self.states:
            if other.plan.group == group and other is not st:
                if other.alive:
                    other.retire_at = now
                    self._signal(other, signal.SIGINT)
                elif other.state == "restarting":
                    other.state = "exited"
        cannot = self.viable(set(self.lost))
        if cannot:
            self._fail(st, f"{why}; {group} lost and the yard cannot go on: {cannot}")
            self.reporter.message(f"process {st.plan.label} (pid {st.pid}) {why}: {group} lost and the yard "
                                  f"cannot go on ({cannot}): stopping the graph")
            self.request_stop("failure")
            return
        self.reporter.message(f"process {st.plan.label} (pid {st.pid}) {why}: {group} taken out of the run, "
                              "the yard goes on without it")

    def _echo(self, st: ProcessState) -> None:
        try:
            with open(st.plan.log_path, "rb") as f:
                f.seek(st.echo_offset)
                data = f.read(256 * 1024)
        except OSError:
            return
        if not data:
            return
        st.echo_offset += len(data)
        data = st.echo_partial + data
        *lines, st.echo_partial = data.split(b"\n")
        for line in lines:
            self.reporter.output(st.plan.label, line.decode("utf-8", "replace"))

    def _step(self) -> None:
        now = self.clock()
        changed = False
        for st in self.states:
            if st.retire_at is not None and st.popen is not None and st.state == "running":
                if st.popen.poll() is not None:
                    st.returncode, st.state, st.retire_at = st.popen.returncode, "exited", None
                    changed = True
                elif now - st.retire_at > self.stop_timeout_s:
                    self._signal(st, signal.SIGKILL)
                continue
            if st.popen is not None and st.state in ("running", "stopping") and st.popen.poll() is not None:
                self._on_exit(st, now)
                changed = True
            elif st.state == "restarting" and not self.stopping and st.restart_at is not None and now >= st.restart_at:
                self._spawn(st)
                self.reporter.message(f"{st.plan.label} restarted (pid {st.pid})")
                changed = True
            if self.echo:
                self._echo(st)
        if self.stopping:
            changed |= self._advance_stop(now)
        if changed:
            self._changed()

    def _advance_stop(self, now: float) -> bool:
        changed = False
        if self._stop_started is None:
            self._stop_started = now
            for st in self.states:
                if st.state == "restarting":
                    st.state = "exited"
                    changed = True
                elif st.alive:
                    st.state = "stopping"
                    self._signal(st, signal.SIGINT)
                    changed = True
            return changed
        waited = now - self._stop_started
        if not self._terminated and (self._hurry or waited >= self.stop_timeout_s):
            self._terminated = True
            for st in self.states:
                if st.alive:
                    self.reporter.message(f"{st.plan.label} (pid {st.pid}) still running: SIGTERM")
                    self._signal(st, signal.SIGTERM)
            self._stop_started = now - self.stop_timeout_s  # SIGKILL kill_timeout_s from now
        elif self._terminated and not self._dumped and waited >= self.stop_timeout_s + self.kill_timeout_s:
            self._dumped = True
            for st in self.states:
                if st.alive:
                    self.reporter.message(f"{st.plan.label} (pid {st.pid}) still running: stack dump to its log "
                                          "(SIGUSR1), then SIGKILL")
                    self._signal(st, signal.SIGUSR1)
        elif self._dumped and not self._killed and waited >= self.stop_timeout_s + self.kill_timeout_s + DUMP_WAIT_S:
            self._killed = True
            for st in self.states:
                if st.alive:
                    self.reporter.message(f"{st.plan.label} (pid {st.pid}) still running: SIGKILL")
                    self._signal(st, signal.SIGKILL)
        return changed

    def _done(self) -> bool:
        return self.stopping and not any(st.alive for st in self.states)

    def run(self, handle_signals: bool = True) -> RunResult:
        """Start everything and supervise until stopped; returns how it ended.

        With ``handle_signals`` (main thread only) SIGINT, SIGTERM and SIGHUP
        request a clean stop; a second one skips the grace period.
        """
        self.log_dir.mkdir(parents=True, exist_ok=True)
        previous: dict[int, Any] = {}
        if handle_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                previous[sig] = signal.signal(sig, lambda *_: self.request_stop("interrupted"))
        try:
            for st in self.states:
                if self.stopping:
                    break
                self._spawn(st)
            self._write_manifest()
            self.reporter.started(self.states)
            while not self._done():
                self._step()
                self.reporter.tick(self.states)
                if not self._done():
                    time.sleep(POLL_S)
            self._step()  # final states, last echo
        finally:
            for st in self.states:  # never leave a child behind, whatever happened above
                if st.alive:
                    self._signal(st, signal.SIGKILL)
                    st.popen.wait()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self._write_manifest()
        return RunResult(self._stop_reason or "stop requested", list(self.failures),
                         {st.plan.label: st.returncode for st in self.states}, list(self.losses))
