"""How much of a receiver's error is white, learnt from the fixes themselves (issue #14).

A fix's error has a white part (new every epoch) and a slow part (multipath, atmosphere, float
ambiguities: correlated over seconds to minutes). Which share is which differs between receivers,
modes and sites, and it decides everything downstream: a filter that takes white noise for a slow
error reads every fix-to-fix wobble as motion and gates clean fixes; one that takes a slow error for
white noise averages it down and becomes overconfident. The reported covariance says neither.

The fix-to-fix *increment* tells them apart without any model of the slow part: the difference of two
consecutive fixes minus the antenna's dead-reckoned displacement between them is
``w_k - w_(k-1) + (b_k - b_(k-1)) + dead-reckoning error``, whose variance per axis is
``2 sigma_w^2 + 2 sigma_b^2 (1 - exp(-dt/tau)) + small``. At 10 Hz the slow part contributes almost
nothing, so a quarter of the squared increment (two axes, two epochs) estimates ``sigma_w^2`` (slightly
high, which errs on the safe side). :class:`WhiteNoiseEstimate` keeps a running mean of it per solution
mode, starting from a prior worth a few increments. Each increment counts at most ``CLIP`` times the
current estimate: a multipath jump (1-10 m) then moves it no more than a few ordinary increments would,
and a prior that is far too small still grows geometrically, by up to (1 + 3/n) per fix, until it fits.
(For a white error, a quarter of the squared increment is exponentially distributed about sigma_w^2,
so clipping at 4 times the mean loses 2 % of it.)

The filter then splits the fix's variance: white = the estimate; slow = what the receiver's reported
variance leaves (``reported - white``), but never less than ``slow_floor`` times the white variance:
a receiver whose white noise already exceeds what it reports is optimistic, and its slow error, which
no short window can measure, is assumed to be too. Pure functions and a small value object.
"""

from __future__ import annotations

from dataclasses import dataclass

CLIP = 4.0  # an increment counts at most this many times the current estimate (multipath jumps, a wrong prior)


@dataclass(frozen=True)
class WhiteNoiseEstimate:
    """Running estimate of the white variance per axis [m^2] and how many increments it is worth."""

    var: float
    weight: float

    def updated(self, increment_sq: float, dt: float, window_s: float) -> WhiteNoiseEstimate:
        """With one more increment (its squared length [m^2] over ``dt`` seconds between the two fixes)."""
        x = min(0.25 * increment_sq, CLIP * self.var)
        n = min(self.weight + 1.0, max(window_s / max(dt, 1e-3), 1.0))
        return WhiteNoiseEstimate(self.var + (x - self.var) / n, n)


def split(reported_var: float, white_var: float, slow_floor: float) -> tuple[float, float]:
    """(white, slow) variance per axis [m^2] of a fix whose reported variance per axis is ``reported_var``."""
    slow = max(reported_var - white_var, slow_floor * white_var)
    return white_var, slow


def increment_variance(white_var: float, slow_var: float, tau_s: float, dt: float, travelled_m: float) -> float:
    """Expected variance per axis [m^2] of a fix-to-fix increment (module docstring) with dead-reckoning error."""
    import math

    slow_step = 2.0 * slow_var * (1.0 - math.exp(-dt / tau_s))
    dr = 0.002 + 0.02 * travelled_m  # [m] odometry and heading error over the step
    return 2.0 * white_var + slow_step + dr * dr
