"""Fix-aware trust: how much a GNSS fix is believed, from its solution type and reported covariance.

Receivers report covariances that range from honest to absurd: zeros, NaN, negative variances,
``COVARIANCE_TYPE_UNKNOWN`` with garbage, or an RTK-float sigma that ignores multipath. The rule
here (documented in docs/localization.md) is:

1. the solution mode comes from ``yard_model.gnss_status.gnss_mode_of`` (RTK fixed/float are both
   ``STATUS_GBAS_FIX`` and differ by the reported sigma; unknown covariance -> pessimistic);
2. a usable reported covariance (finite, positive diagonal, positive definite horizontal block)
   is taken, each axis floored at the mode's minimum sigma; an unusable one is replaced by the
   mode's default sigma;
3. the variance is split into a white part and a slowly varying part (a first-order Gauss-Markov
   error state in the filter, with a mode-dependent share and correlation time): GNSS errors
   wander for seconds (fixed) to a minute (single), and treating them as white makes any filter
   overconfident and lets multipath jumps through.

Pure functions, no state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from yard_model.gnss_status import COVARIANCE_TYPE_DIAGONAL_KNOWN, COVARIANCE_TYPE_UNKNOWN, gnss_mode_of

from .localization_params import LocalizationParams

USABLE_MODES = ("rtk_fixed", "rtk_float", "single")


@dataclass(frozen=True)
class FixNoise:
    """Noise model of one fix in the map's east/north axes."""

    mode: str  # 'rtk_fixed' | 'rtk_float' | 'single' | 'none'
    white_cov: np.ndarray  # (2, 2) [m^2] white part
    bias_var_m2: float  # variance of the slowly varying part (isotropic) [m^2]
    bias_time_constant_s: float  # its correlation time [s]
    covariance_used: str  # 'reported' | 'floored' | 'default': how the reported covariance was treated

    @property
    def reported_var(self) -> float:
        """Variance per axis [m^2] the fix claims in total (after floors and defaults), white and slow together."""
        return 0.5 * float(self.white_cov[0, 0] + self.white_cov[1, 1]) + self.bias_var_m2

    @property
    def prior_white_var(self) -> float:
        """White variance per axis [m^2] assumed before the filter has measured the receiver's (gnss_noise)."""
        return 0.5 * float(self.white_cov[0, 0] + self.white_cov[1, 1])


def _mode_key(mode: str) -> str:
    return {"rtk_fixed": "fixed", "rtk_float": "float", "single": "single"}[mode]


def horizontal_block(cov_type: int, cov9) -> np.ndarray | None:
    """The east/north 2x2 block of a NavSatFix covariance, or None if it is unusable."""
    if cov_type == COVARIANCE_TYPE_UNKNOWN or cov9 is None or len(cov9) != 9:
        return None
    c = np.asarray(cov9, dtype=float).reshape(3, 3)[:2, :2].copy()
    if not np.all(np.isfinite(c)) or c[0, 0] <= 0.0 or c[1, 1] <= 0.0:
        return None
    if cov_type <= COVARIANCE_TYPE_DIAGONAL_KNOWN:  # approximated or diagonal: off-diagonals are not meaningful
        c[0, 1] = c[1, 0] = 0.0
    else:
        c[0, 1] = c[1, 0] = 0.5 * (c[0, 1] + c[1, 0])
        if c[0, 0] * c[1, 1] - c[0, 1] ** 2 <= 0.0:
            return None
    return c


def mode_of_fix(status: int, cov_type: int, cov9) -> str:
    """Solution mode of a fix, as consumers agree it (yard_model.gnss_status)."""
    block = horizontal_block(cov_type, cov9)
    horizontal_var = 0.5 * float(block[0, 0] + block[1, 1]) if block is not None else math.nan
    return gnss_mode_of(status, cov_type, horizontal_var)


def fix_noise(mode: str, cov_type: int, cov9, p: LocalizationParams) -> FixNoise:
    """Noise of a fix of a usable mode, after floors and defaults (see the module docstring)."""
    key = _mode_key(mode)
    floor = getattr(p, f"gnss_min_sigma_{key}_m")
    default = getattr(p, f"gnss_default_sigma_{key}_m")
    fraction = getattr(p, f"gnss_bias_fraction_{key}")
    block = horizontal_block(cov_type, cov9)
    if block is None:
        cov = np.eye(2) * default**2
        used = "default"
    else:
        cov = block
        used = "reported"
        for i in (0, 1):
            if cov[i, i] < floor**2:
                scale = floor / math.sqrt(cov[i, i])
                cov[i, :] *= scale
                cov[:, i] *= scale
                used = "floored"
    mean_var = 0.5 * float(cov[0, 0] + cov[1, 1])
    tau = getattr(p, f"gnss_bias_time_constant_{key}_s")
    return FixNoise(mode, (1.0 - fraction) * cov, fraction * mean_var, tau, used)
