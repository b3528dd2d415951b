"""Does the data agree with the configured GNSS antenna lever arm (and slip point)? (issue #14)

A lever arm configured wrong is invisible on a straight and shows in every turn. The localization node puts
what this finds on ``/diagnostics``; it is a pure function of the filter so that it is tested without ROS.
"""

from __future__ import annotations

from .localization_filter import LocalizationFilter
from .localization_params import LocalizationParams


def lever_arm_findings(f: LocalizationFilter, configured: tuple[float, float],
                       p: LocalizationParams) -> tuple[dict[str, str], list[str]]:
    """(diagnostic values, warnings): the configured and estimated lever arm, the measured GNSS white noise, and
    a warning when the estimate differs from the configuration by more than ``lever_arm_warn_m`` and three sigma
    (or, without estimation, when fixes had to be trusted again while turning in two or more turns)."""
    x0, y0 = configured
    values = {"configured lever arm [m]": f"({x0:.3f}, {y0:.3f})"}
    for mode, sigma in f.gnss_white_sigma().items():
        values[f"gnss white noise {mode} [m]"] = f"{sigma:.4f}"
    turns = f.turn_recoveries
    values["fixes trusted again while turning"] = str(turns)
    est = f.lever_arm()
    if p.estimate_lever_arm and est is not None:
        (lx, ly), (sx, sy) = est
        values["estimated lever arm [m]"] = f"({lx:.3f} ± {sx:.3f}, {ly:.3f} ± {sy:.3f})"
        dx, dy = lx - x0, ly - y0
        if abs(dx) > max(p.lever_arm_warn_m, 3.0 * sx) or abs(dy) > max(p.lever_arm_warn_m, 3.0 * sy):
            return values, [f"GNSS antenna lever arm: the fixes put the antenna at ({lx:.2f}, {ly:.2f}) ± "
                            f"({sx:.2f}, {sy:.2f}) m in base_link, configured ({x0:.2f}, {y0:.2f}): "
                            "check gnss_antenna_m"]
    elif turns >= 2:
        return values, [f"fixes disagreed with the vehicle model in {turns} turns: check gnss_antenna_m and "
                        "rear_axle_x_m (or set estimate_lever_arm)"]
    return values, []
