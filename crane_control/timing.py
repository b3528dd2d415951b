"""How late the controller runs: the simulated clock it cannot see advance, and the delays it measures.

A trajectory starts ``command_lead_s`` after it is computed so that it reaches the drive before the
motion it replaces departs from it. Under simulated time the controller's ROS clock is the last
``/clock`` message its executor processed: while a callback runs (a plan is computed, a message
built) or while the process waits for a CPU, the simulator's clock moves on unseen. Two pure
helpers, fed by the node:

* :class:`ClockEstimate` places "now" on the simulator's clock from the latest ``/clock`` sample and
  the wall time it was *sent* (the DDS source timestamp), advanced at the rate the clock has been
  running: correct after a stall whether or not the executor has taken the newest sample yet;
* :class:`LatencyWindow` keeps the longest delay seen recently (a stall between two control ticks,
  the time one tick took): the lead a new trajectory needs on this machine now.
"""

from __future__ import annotations

from collections import deque

RATE_SPAN_S = 2.0  # [s of wall time] the clock's rate is measured over about this long
MIN_RATE_SPAN_S = 0.2  # [s] shorter than this, the rate is not known yet (1.0 is assumed)


class ClockEstimate:
    """Simulated time now from /clock samples stamped with their send time (both in seconds)."""

    def __init__(self, max_ahead_s: float = 1.0):
        self.max_ahead_s = max_ahead_s  # never extrapolate further than this past the latest sample
        self._samples: deque[tuple[float, float]] = deque()  # (wall sent, sim), oldest first

    def add(self, sim_s: float, sent_wall_s: float) -> None:
        """A /clock sample: simulated time ``sim_s``, sent at system time ``sent_wall_s``."""
        if self._samples and (sent_wall_s <= self._samples[-1][0] or sim_s < self._samples[-1][1]):
            if sim_s < self._samples[-1][1] - 1.0:  # the simulator restarted: start over
                self._samples.clear()
            else:
                return  # out of order
        self._samples.append((sent_wall_s, sim_s))
        while len(self._samples) > 2 and self._samples[1][0] <= sent_wall_s - RATE_SPAN_S:
            self._samples.popleft()

    @property
    def rate(self) -> float:
        """Simulated seconds per wall second over the last ``RATE_SPAN_S`` (1.0 until measurable)."""
        if len(self._samples) < 2:
            return 1.0
        (w0, s0), (w1, s1) = self._samples[0], self._samples[-1]
        if w1 - w0 < MIN_RATE_SPAN_S:
            return 1.0
        return max(0.0, (s1 - s0) / (w1 - w0))

    def now(self, wall_s: float) -> float | None:
        """Simulated time at system time ``wall_s``; None before the first sample."""
        if not self._samples:
            return None
        w, s = self._samples[-1]
        return s + min(max(0.0, wall_s - w) * self.rate, self.max_ahead_s)


class LatencyWindow:
    """The largest delay [s] observed over the last ``window_s`` seconds (of the caller's clock)."""

    def __init__(self, window_s: float):
        self.window_s = window_s
        self._peaks: deque[tuple[float, float]] = deque()  # (time, delay), delays decreasing

    def add(self, delay_s: float, now_s: float) -> None:
        while self._peaks and self._peaks[-1][1] <= delay_s:
            self._peaks.pop()  # dominated: smaller and older than this one
        self._peaks.append((now_s, delay_s))
        self._expire(now_s)

    def max(self, now_s: float) -> float:
        self._expire(now_s)
        return self._peaks[0][1] if self._peaks else 0.0

    def _expire(self, now_s: float) -> None:
        while self._peaks and self._peaks[0][0] < now_s - self.window_s:
            self._peaks.popleft()
