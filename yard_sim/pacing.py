"""Controller pacing: the simulator does not run ahead of the carriers' controllers.

On a real yard every carrier has its own computer and its path follower runs in real time. In a
simulation on one shared machine the follower competes for the CPU with the simulator and every
other node: starved, it sees the world late and steers the carrier off its route, a fault the real
carrier would not have. Simulators that run controllers in the loop solve this with lockstep (the
physics waits for the controller); this is its light form: the simulator keeps stepping only while
every *live* controller's latest command is at most ``max_lag_s`` plus that controller's own
command period (the last interval between its stamps, at most ``MAX_PERIOD_S``) of simulation time
old: a controller commanding at 5 Hz of simulation time is not stalled waiting for a command it
only sends once the clock has moved on.

A controller is waited for while its latest command asks for motion (a speed or a turn): one that
commanded a stop has its carrier braking or standing anyway, so a silence then costs nothing (a
follower at a standstill is paced again from its next command on). One that has not answered for ``give_up_s`` of
wall-clock time while the simulator waited is dropped (a dead or stopped follower must not freeze
the yard: its carrier brakes on its stale command as the real one would) until it sends again.

``max_lag_s`` = 0 turns pacing off. The stamp of a command is the simulation time its controller
computed it at (a TwistStamped header); a zero stamp counts as "now" (the time it arrived).

No rclpy here; simulation times and wall times are float seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_PERIOD_S = 1.0  # [s] a controller's command period counted at most this long (a pause is not a period)


@dataclass
class _Controller:
    stamp: float  # simulation time of its latest command
    period: float = 0.0  # interval between its last two stamps [s], at most MAX_PERIOD_S
    live: bool = True


class ControllerPacer:
    """Decides whether the simulator may step (see the module docstring)."""

    def __init__(self, max_lag_s: float = 0.1, give_up_s: float = 5.0):
        if not (max_lag_s >= 0.0 and give_up_s > 0.0):
            raise ValueError(f"max_lag_s must be >= 0 and give_up_s > 0, got {max_lag_s}, {give_up_s}")
        self.max_lag_s = float(max_lag_s)
        self.give_up_s = float(give_up_s)
        self.controllers: dict[str, _Controller] = {}
        self.waiting_since: float | None = None  # wall time the current wait began
        self.waits = 0  # times the simulator had to wait
        self.wait_wall_s = 0.0  # wall time spent waiting, in total
        self.given_up: list[str] = []  # controllers dropped, in order

    def command(self, key: str, stamp: float, t_sim: float, moving: bool = True) -> None:
        """A command of controller ``key`` stamped ``stamp`` (0 = now) arrived at simulation time ``t_sim``.

        ``moving``: it asks for motion; a stop command is not waited after (module docstring).
        """
        stamp = t_sim if stamp <= 0.0 else min(stamp, t_sim)
        c = self.controllers.get(key)
        if c is None:
            self.controllers[key] = _Controller(stamp, live=moving)
        else:
            if stamp > c.stamp:
                c.period = min(stamp - c.stamp, MAX_PERIOD_S)
                c.stamp = stamp
            c.live = moving

    def lagging(self, t_sim: float) -> list[str]:
        """Live controllers whose latest command is more than ``max_lag_s`` + their period older than ``t_sim``."""
        if self.max_lag_s <= 0.0:
            return []
        return sorted(k for k, c in self.controllers.items()
                      if c.live and t_sim - c.stamp > self.max_lag_s + c.period + 1e-9)

    def may_step(self, t_sim: float, wall: float) -> bool:
        """True if the simulator may step now; else it should serve its subscriptions and ask again."""
        late = self.lagging(t_sim)
        if not late:
            if self.waiting_since is not None:
                self.wait_wall_s += wall - self.waiting_since
                self.waiting_since = None
            return True
        if self.waiting_since is None:
            self.waiting_since = wall
            self.waits += 1
            return False
        if wall - self.waiting_since < self.give_up_s:
            return False
        for k in late:  # silent too long: stop waiting for them until they send again
            self.controllers[k].live = False
            self.given_up.append(k)
        self.wait_wall_s += wall - self.waiting_since
        self.waiting_since = None
        return True
