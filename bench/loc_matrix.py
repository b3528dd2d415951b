"""The GNSS error-model matrix of ``bench/localization.py`` (issue #14): drives, estimators and scores.

A :class:`Drive` is what a recording holds: readings in arrival order (what the localization node reads),
the ground truth, and for every fix its true solution mode and whether multipath displaced it. Drives
come from the independent generator (``bench/recorded_drive.py``) or from the simulator's sensor models
(``bench/localization.py``). Every estimator is run on the same readings, in the same process, with its
CPU time measured per message (the thread time of screening and fusing the readings and of the 50 Hz
outputs, divided by the readings: ours integrates its inputs when an output needs them, the peer fuses at
its 50 Hz cycle):

* ``ours``: the shipped configuration (``LocalizationParams()`` = ``config/localization.yaml``), every
  reading through the node's ``InputScreen`` and ``LocalizationFilter``;
* ``robot_localization-style EKF``: ``bench/rl_ekf.py`` with the package defaults (no rejection) and
  ``... gated``: a Mahalanobis rejection threshold on the GNSS position of 4.29 sigma (the chi-square
  18.42 of our gate).

Scores (:func:`evaluate`, pooled over seeds by :func:`summarize`): the horizontal position error of base_link
at 50 Hz after the estimator's first output: RMSE, 95th percentile and maximum over the samples where the
receiver has been in RTK fixed for 2 s (and, for the lever arm model, after the first turn: before it the
error is unobservable); the share of *all* samples whose error is inside 3 sigma of the reported covariance
(Mahalanobis distance <= 3, which a consistent estimate meets 98.9 % of the time); clean fixes rejected;
multipath fixes rejected; the longest lock-out (a run of consecutive rejected clean fixes, first to last, plus
one fix period).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from agv_nav.localization_filter import LocalizationFilter, Outcome
from agv_nav.localization_inputs import (
    BayPoseReading,
    FixReading,
    HeadingReading,
    ImuReading,
    InputScreen,
    OdomReading,
    Rejected,
)
from agv_nav.localization_params import LocalizationParams

OUTPUT_PERIOD_S = 0.02
FIXED_SETTLE_S = 2.0  # RTK fixed this long before a sample counts as "RTK fixed"
CHI2_3SIGMA_2D = 9.0  # Mahalanobis distance 3 in 2-D


@dataclass
class Drive:
    """One recording, whatever produced it."""

    name: str  # error model
    source: str  # 'recorded' (independent generator) | 'yard_sim'
    seed: int
    items: list  # (arrival [s], reading) in arrival order
    truth_xy: object  # callable: times (N,) -> (N, 2) base_link positions
    fix_info: dict  # fix stamp -> (mode, multipath)
    lever: tuple[float, float]  # what the estimators are configured with
    rear_axle_x_m: float
    frame: object  # LocalFrame of the map
    score_from: float = -math.inf  # samples before this are not scored for accuracy (unobservable part)


@dataclass
class Run:
    """An estimator's outputs on a drive and its decisions on the fixes."""

    name: str
    t: np.ndarray
    xy: np.ndarray
    cov: np.ndarray  # (N, 2, 2)
    fix_accepted: dict = field(default_factory=dict)  # stamp -> bool (fixes decided after the first output)
    cpu_s: float = 0.0
    messages: int = 0
    gates: bool = True  # decides per fix (an ungated peer accepts all)
    extra: dict = field(default_factory=dict)


def run_ours(d: Drive, params: LocalizationParams | None = None) -> Run:
    """InputScreen + LocalizationFilter as the node runs them; output at 50 Hz."""
    p = params or LocalizationParams()
    screen = InputScreen(p, d.frame)
    filt = LocalizationFilter(p, d.lever, d.rear_axle_x_m, [])
    handlers = {FixReading: screen.fix, OdomReading: screen.odom, ImuReading: screen.imu,
                HeadingReading: screen.heading, BayPoseReading: screen.bay_pose}
    ts, xy, cov, decided = [], [], [], {}
    next_t = d.items[0][0]
    cpu = 0
    for arrival, r in d.items:
        while next_t <= arrival:
            c0 = time.thread_time_ns()
            e = filt.estimate(next_t)
            cpu += time.thread_time_ns() - c0
            if e is not None:
                ts.append(next_t)
                xy.append((e.x, e.y))
                cov.append(e.pose_cov[:2, :2])
            next_t += OUTPUT_PERIOD_S
        c0 = time.thread_time_ns()
        z = handlers[type(r)](r)
        out = z if isinstance(z, Rejected) else filt.add(z)
        cpu += time.thread_time_ns() - c0
        if isinstance(r, FixReading):
            decided[r.stamp] = out
    run = Run("ours (shipped configuration)", np.array(ts), np.array(xy).reshape(-1, 2),
              np.array(cov).reshape(-1, 2, 2), cpu_s=cpu * 1e-9, messages=len(d.items))
    first = run.t[0] if len(run.t) else math.inf
    # a fix stamped beyond the inputs is decided later: read every decision from the filter's counts would
    # lose the stamp, so the late-decided ones (rare) keep their final outcome from the history if still there
    for e in filt._events:  # noqa: SLF001 - bench: decisions of fixes still in the history
        if getattr(e, "outcome", None) is not None and type(e.data).__name__ == "GnssPosition":
            decided[e.t] = e.outcome
    run.fix_accepted = {s: o.accepted and o.reason != "pending" for s, o in decided.items()
                        if s >= first and isinstance(o, Outcome)}
    run.extra = {"counts": dict(filt.counts), "lever_arm": getattr(filt, "lever_arm", lambda: None)()}
    return run


def run_peer(d: Drive, gated: bool) -> Run:
    """The robot_localization-style EKF (bench/rl_ekf.py) at its 50 Hz cycle."""
    from rl_ekf import RlStyleEkf

    ekf = RlStyleEkf(d.frame, d.lever, d.rear_axle_x_m, gps_threshold_sigma=math.sqrt(18.42) if gated else math.inf)
    ts, xy, cov = [], [], []
    next_t = d.items[0][0]
    cpu = 0
    for arrival, r in d.items:
        while next_t <= arrival:
            c0 = time.thread_time_ns()
            e = ekf.cycle(next_t)
            cpu += time.thread_time_ns() - c0
            if e is not None and ekf.navsat_ready and ekf.gps_accepted + ekf.gps_rejected > 0:
                ts.append(next_t)
                xy.append((e.x, e.y))
                cov.append(e.cov_xy)
            next_t += OUTPUT_PERIOD_S
        if isinstance(r, BayPoseReading):
            continue
        c0 = time.thread_time_ns()
        ekf.feed(r)
        cpu += time.thread_time_ns() - c0
    name = "robot_localization-style EKF" + (", gated 4.29 σ" if gated else "")
    run = Run(name, np.array(ts), np.array(xy).reshape(-1, 2), np.array(cov).reshape(-1, 2, 2),
              cpu_s=cpu * 1e-9, messages=len(d.items), gates=gated)
    first = run.t[0] if len(run.t) else math.inf
    run.fix_accepted = {s: a for s, a in ekf.gps_decisions.items() if s >= first}
    return run


def _fixed_mask(d: Drive, ts: np.ndarray) -> np.ndarray:
    """Samples at which the receiver has reported RTK fixed for FIXED_SETTLE_S (and fixes keep coming)."""
    stamps = np.array(sorted(d.fix_info))
    fixed = np.array([d.fix_info[s][0] == "rtk_fixed" for s in stamps])
    # time of the last non-fixed fix before each sample
    last_bad = np.where(~fixed, stamps, -np.inf)
    last_bad = np.maximum.accumulate(last_bad)
    i = np.searchsorted(stamps, ts, side="right") - 1
    ok = i >= 0
    i = np.clip(i, 0, len(stamps) - 1)
    return ok & (ts - last_bad[i] >= FIXED_SETTLE_S) & (ts - stamps[i] <= 1.0)


@dataclass
class Scored:
    """Per-sample and per-fix results of one run, pooled over seeds by :func:`summarize`."""

    err_fixed: np.ndarray  # errors of the RTK-fixed samples (after score_from)
    err: np.ndarray  # errors of every scored sample
    inside: np.ndarray  # bool per scored sample: Mahalanobis distance <= 3
    clean: list  # accepted? per clean fix
    multipath: list  # accepted? per multipath fix
    lockout_s: float
    cpu_s: float
    messages: int
    gates: bool
    max_before: float = math.nan  # largest error before score_from (lever arm: before the first turn)


def evaluate(d: Drive, run: Run) -> Scored:
    """Errors and decisions of one run (module docstring)."""
    if len(run.t) == 0:
        empty = np.zeros(0)
        return Scored(empty, empty, np.zeros(0, bool), [], [], math.nan, run.cpu_s, run.messages, run.gates)
    truth = d.truth_xy(run.t)
    diff = run.xy - truth
    err = np.hypot(diff[:, 0], diff[:, 1])
    try:
        d2 = np.einsum("ni,nij,nj->n", diff, np.linalg.inv(run.cov), diff)
    except np.linalg.LinAlgError:
        d2 = np.full(len(err), np.inf)
    scored = run.t >= d.score_from
    fixed = _fixed_mask(d, run.t) & scored
    clean = [a for s, a in sorted(run.fix_accepted.items()) if not d.fix_info.get(s, ("", False))[1]]
    mp = [a for s, a in run.fix_accepted.items() if d.fix_info.get(s, ("", False))[1]]
    # longest lock-out: consecutive rejected clean fixes (a multipath fix or an accepted fix ends the run)
    stamps = sorted(run.fix_accepted)
    period = float(np.median(np.diff(stamps))) if len(stamps) > 2 else 0.1
    longest, start = 0.0, None
    for s in stamps:
        if run.fix_accepted[s] or d.fix_info.get(s, ("", False))[1]:
            start = None
            continue
        start = s if start is None else start
        longest = max(longest, s - start + period)
    before = err[~scored]
    return Scored(err[fixed], err[scored], d2[scored] <= CHI2_3SIGMA_2D, clean, mp, longest if run.gates else math.nan,
                  run.cpu_s, run.messages, run.gates, float(before.max()) if len(before) else math.nan)


def summarize(runs: list[Scored]) -> dict:
    """Figures pooled over seeds: errors and decisions pooled, the longest lock-out, CPU per message."""
    ef = np.concatenate([r.err_fixed for r in runs])
    ea = np.concatenate([r.err for r in runs])
    inside = np.concatenate([r.inside for r in runs])
    clean = [a for r in runs for a in r.clean]
    mp = [a for r in runs for a in r.multipath]
    gates = runs[0].gates
    nan = math.nan
    return {
        "rmse": float(np.sqrt(np.mean(ef**2))) if len(ef) else nan,
        "p95": float(np.percentile(ef, 95)) if len(ef) else nan,
        "max": float(np.max(ef)) if len(ef) else nan,
        "rmse_all": float(np.sqrt(np.mean(ea**2))) if len(ea) else nan,
        "max_all": float(np.max(ea)) if len(ea) else nan,
        "inside_3sigma": float(np.mean(inside)) if len(inside) else nan,
        "clean_rejected": (sum(not a for a in clean) / len(clean) if clean else nan) if gates else nan,
        "clean_fixes": len(clean),
        "multipath_rejected": (sum(not a for a in mp) / len(mp) if mp else nan) if gates else (0.0 if mp else nan),
        "multipath_fixes": len(mp),
        "lockout_s": max((r.lockout_s for r in runs), default=nan) if gates else nan,
        "cpu_us": sum(r.cpu_s for r in runs) / max(sum(r.messages for r in runs), 1) * 1e6,
        "max_before": max((r.max_before for r in runs), default=nan),
    }
