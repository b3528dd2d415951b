"""Localization benchmark: the shipped filter over a matrix of GNSS error models (issue #14) and on Youyiguan routes
(issue #3), side by side with a robot_localization-style EKF in the same run.

``--part matrix`` (default): every error model of ``bench/recorded_drive.py`` (white, Gauss-Markov with
correlation times from 1 to 120 s, a mixture, a receiver reporting a third or three times its sigma, RTK
float for 40 s with a 20 s correlation, multipath jumps of 1-10 m, the antenna 1.5 m from where it is
configured) on two generators: the independent one in ``bench/recorded_drive.py`` (its own vehicle model
with tyre slip, sensor rates, latencies and error processes; nothing from yard_sim) and the simulator's own
sensor models with the matching settings (``SIM_MODELS``). Each drive is run through ``ours`` (the shipped
``LocalizationParams()``, as the node) and the robot_localization-style EKF of ``bench/rl_ekf.py``, ungated
and gated, in the same process; ``bench/loc_matrix.py`` scores them. Targets of issue #14 on every model:
RTK fixed RMSE <= 1 cm with white error and <= 2 cm otherwise, <= 1 % of clean fixes rejected, no lock-out
over 2 s, >= 95 % of errors inside 3 sigma, every 1-10 m multipath jump rejected.

``--part routes``: the issue #3 scenarios below.

Each scenario drives a carrier with ``yard_sim.carrier_model.CarrierModel`` (a small pure-pursuit
driver on the ground truth) along lanes of the Youyiguan world and samples
``yard_sim.sensors.CarrierSensors`` every 10 ms tick, in process (no DDS): GNSS fixes arrive
50-150 ms after their stamp, with the world's GNSS zones (border canopy, crane portals with
multipath, customs building) or a forced mode. Every measurement goes through the same screening
and filter as the node (:class:`agv_nav.localization_inputs.InputScreen`,
:class:`agv_nav.localization_filter.LocalizationFilter`), and the output is sampled at 50 Hz.

Figures: position error of base_link (RMSE, 95th percentile, max) after initialisation; raw GNSS
error of the antenna at its stamp (and at arrival for the latency scenario); the error at the
end of a 30 s outage at 5 m/s with the reported sigma; multipath and clean-fix rejection; the
map-frame jump when RTK fixed returns, as a Mahalanobis distance under the covariance reported
just before; NEES; CPU time per message.

Every run also records the dual-antenna GNSS heading; "ours" ignores it (one antenna, heading from
the lever arm and motion), "ours + GNSS heading" fuses it, as does the peer, whose
navsat_transform needs an absolute heading.

Peer: ``--export-scenarios DIR`` writes every run's inputs and truth as CSV; a peer (see
docs/benchmarks.md for how robot_localization was built and run) writes ``<scenario>.s<seed>.estimates.csv``
(``t,easting,northing,yaw_utm,var_x,cov_xy,var_y``: UTM zone of the datum) into a directory given
with ``--peer-results DIR``, and the table shows it beside ours.

Run: ``.venv/bin/python bench/localization.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import loc_matrix  # noqa: E402
import recorded_drive  # noqa: E402
from sim_localization import FilterLoop, reading_of  # noqa: E402

from agv_nav.localization_params import LocalizationParams  # noqa: E402
from yard_model import load_world  # noqa: E402
from yard_model.geometry import cumulative_length, point_at, project_onto_polyline  # noqa: E402
from yard_model.world import Pose2D  # noqa: E402
from yard_sim.carrier_model import CarrierModel  # noqa: E402
from yard_sim.sensors import CarrierSensors, GnssFix, GnssHeading, ImuSample, SensorConfig, WheelOdom  # noqa: E402

# The link drives of the scenarios below (and the figures in docs/benchmarks.md) are on the single-track layout.
WORLD = REPO / "sim_worlds" / "youyiguan_single_track.yaml"
DT = 0.01  # [s] physics tick, as the simulator node
OUTPUT_HZ = 50.0
CHI2_2DOF_999 = 13.82  # 99.9 % of a consistent 2-D error

# Routes as (lane, forward) traversals of the Youyiguan lanes.
LINK_VN_TO_CN = [("link_south", False), ("loop_east", True), ("link_north", False)]
CN_PORTAL_LOOP = [("cn_entry", True), ("cn_transfer_a0", True), ("cn_transfer_a1", True), ("cn_transfer_a2", True),
                  ("cn_turn", True), ("cn_ret_0", True), ("cn_ret_1", True), ("cn_ret_2", True), ("cn_ret_3", True)]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    route: list
    laps: int = 1
    speed_mps: float = 5.0
    forced: tuple = ()  # ((t_from [s from start], mode | None, t_until), ...) None = back to the zones
    base_mode: str | None = None  # forced for the whole run unless a window says otherwise
    latency_s: tuple[float, float] | None = None  # fixed GNSS latency range, else the default 50-150 ms
    max_s: float = 400.0


SCENARIOS = [
    Scenario("rtk_fixed", "VN hub -> border loop -> CN hub, RTK fixed forced all along, 5 m/s",
             LINK_VN_TO_CN, base_mode="rtk_fixed"),
    Scenario("rtk_float", "same link; RTK float forced 20 s in every 45 s (then the 8 s re-fix)",
             LINK_VN_TO_CN, base_mode="rtk_fixed",
             forced=((20.0, "rtk_float", 40.0), (65.0, "rtk_float", 85.0), (110.0, "rtk_float", 130.0),
                     (155.0, "rtk_float", 175.0))),
    Scenario("outage_30s", "same link; no GNSS for 30 s from t = 60 s (straight, then the loop curves), 5 m/s",
             LINK_VN_TO_CN, base_mode="rtk_fixed", forced=((60.0, "none", 90.0),)),
    Scenario("multipath_portals", "CN transfer lane under the crane portals (float, 1-10 m multipath at "
             "0.5 Hz, world zones), 4 laps at 3 m/s", CN_PORTAL_LOOP, laps=4, speed_mps=3.0, max_s=700.0),
    Scenario("latency_100ms", "link with RTK fixed, GNSS latency exactly 100 ms, 5 m/s",
             LINK_VN_TO_CN, base_mode="rtk_fixed", latency_s=(0.1, 0.1)),
    Scenario("youyiguan_link", "the link as the world makes it: border canopy outage + re-fix, customs "
             "building (single + multipath), 5 m/s", LINK_VN_TO_CN),
]


# ------------------------------------------------------------------------ driving
def route_polyline(world, route, laps: int = 1) -> np.ndarray:
    pts: list[np.ndarray] = []
    for _ in range(laps):
        for lane, forward in route:
            p = world.lanes[lane].points
            p = p if forward else p[::-1]
            if pts and np.linalg.norm(pts[-1][-1] - p[0]) < 1e-6:
                p = p[1:]
            pts.append(np.asarray(p, dtype=float))
    return np.vstack(pts)


class PurePursuit:
    """Rear-axle pure pursuit with a curvature- and stop-limited speed profile (bench driver only)."""

    def __init__(self, path: np.ndarray, speed_mps: float, lateral_accel_mps2: float = 1.0, decel_mps2: float = 0.8):
        self.path, self.speed = path, speed_mps
        self.cum = cumulative_length(path)
        self.length = float(self.cum[-1])
        self.a_lat, self.decel = lateral_accel_mps2, decel_mps2
        self.s = 0.0

    def point_at(self, s_m: float) -> tuple[float, float, float]:
        return point_at(self.path, s_m, self.cum)

    def command(self, rear_x: float, rear_y: float, yaw: float, v: float) -> tuple[float, float, bool]:
        lo = max(0, int(np.searchsorted(self.cum, self.s - 5.0)) - 1)
        hi = min(len(self.path), int(np.searchsorted(self.cum, self.s + 30.0)) + 2)
        s_local, _, _ = project_onto_polyline(self.path[lo:hi], (rear_x, rear_y))
        self.s = float(self.cum[lo] + s_local)
        remaining = self.length - self.s
        if remaining < 0.3:
            return 0.0, 0.0, True
        look = max(4.0, 1.2 * abs(v))
        gx, gy, _ = self.point_at(self.s + look)
        alpha = math.atan2(gy - rear_y, gx - rear_x) - yaw
        kappa = 2.0 * math.sin(alpha) / look
        # speed: limit by the curvature ahead and by the distance left
        ahead = [self.point_at(self.s + d)[2] for d in (0.0, 5.0, 10.0, 15.0, 20.0)]
        turn = max(abs(math.remainder(b - a, 2 * math.pi)) / 5.0 for a, b in zip(ahead, ahead[1:]))
        v_curve = math.sqrt(self.a_lat / max(turn, 1e-6))
        v_stop = math.sqrt(2.0 * self.decel * max(remaining - 0.3, 0.0))
        v_cmd = min(self.speed, v_curve, v_stop)
        return v_cmd, v_cmd * kappa, False


@dataclass
class Recording:
    """A scenario's measurements in arrival order and its ground truth at every tick."""

    scenario: Scenario
    seed: int
    items: list  # (arrival [s], measurement)
    truth: np.ndarray  # (N, 6): t, x, y, yaw, speed, yaw rate
    lever: tuple[float, float]
    rear_axle_x_m: float
    start: Pose2D

    def truth_at(self, t: float) -> tuple[float, float, float]:
        tr = self.truth
        i = int(np.clip(np.searchsorted(tr[:, 0], t) - 1, 0, len(tr) - 2))
        f = float(np.clip((t - tr[i, 0]) / (tr[i + 1, 0] - tr[i, 0]), 0.0, 1.0))
        dyaw = math.remainder(tr[i + 1, 3] - tr[i, 3], 2 * math.pi)
        return (tr[i, 1] + f * (tr[i + 1, 1] - tr[i, 1]), tr[i, 2] + f * (tr[i + 1, 2] - tr[i, 2]), tr[i, 3] + f * dyaw)

    def antenna_at(self, t: float) -> tuple[float, float]:
        x, y, yaw = self.truth_at(t)
        c, s = math.cos(yaw), math.sin(yaw)
        return x + c * self.lever[0] - s * self.lever[1], y + s * self.lever[0] + c * self.lever[1]


def simulate(world, sc: Scenario, seed: int, t0: float = 1000.0, standstill_s: float = 5.0,
             sensor_config: dict | None = None) -> Recording:
    """Drive the scenario's route and record every sensor output with its arrival time.

    ``sensor_config``: SensorConfig fields to change (the error-model matrix).
    """
    path = route_polyline(world, sc.route, sc.laps)
    ct = world.carrier_type
    half = ct.wheelbase_m / 2.0
    d0 = path[1] - path[0]
    yaw0 = math.atan2(d0[1], d0[0])
    start = Pose2D(float(path[0, 0] + half * math.cos(yaw0)), float(path[0, 1] + half * math.sin(yaw0)), yaw0)
    model = CarrierModel(ct, start)
    # Dual-antenna heading is recorded for every run (its noise stream is independent of the others, so
    # the other sensors are unchanged); our filter ignores it unless asked, the peer needs it.
    cfg = SensorConfig(gnss_heading_enabled=True, bay_positioning_enabled=False)  # GNSS scenarios: no CPS
    if sc.latency_s is not None:
        cfg = dataclasses.replace(cfg, gnss_latency_min_s=sc.latency_s[0], gnss_latency_max_s=sc.latency_s[1])
    if sensor_config:
        cfg = dataclasses.replace(cfg, **sensor_config)
    sensors = CarrierSensors(world, ct, cfg, seed=seed, vehicle_index=0)
    if sc.base_mode:
        sensors.force_mode(sc.base_mode)
    driver = PurePursuit(path, sc.speed_mps)
    windows = sorted(sc.forced)
    items, truth = [], []
    t = t0
    t_move = t0 + standstill_s
    active = None
    done_at = None
    model.t = t0
    for k in range(int(sc.max_s / DT)):
        t = t0 + k * DT
        rel = t - t_move
        for w in windows:  # forced windows (relative to the start of motion)
            if w[0] <= rel < w[2] and active is not w:
                sensors.force_mode(w[1])
                active = w
            elif active is w and rel >= w[2]:
                sensors.force_mode(sc.base_mode)
                active = None
        st = model.state
        if k % 5 == 0:  # the driver runs at 20 Hz, like a path follower
            if t >= t_move and done_at is None:
                rx, ry = st.x - half * math.cos(st.yaw), st.y - half * math.sin(st.yaw)
                v, w, done = driver.command(rx, ry, st.yaw, st.speed_mps)
                if done:
                    done_at = t
                model.command(t, v, w)
            else:
                model.command(t, 0.0, 0.0)
        model.step(t + DT, DT)
        st = model.state
        truth.append((t + DT, st.x, st.y, st.yaw, st.speed_mps, st.yaw_rate_radps))
        for m in sensors.step(t + DT, st):
            items.append((t + DT, m))
        if done_at is not None and t > done_at + 3.0:
            break
    ant = ct.gnss_antenna_m
    return Recording(sc, seed, items, np.array(truth), (ant[0], ant[1]), -half, start)


# ------------------------------------------------------------------ estimators
@dataclass
class Result:
    """An estimator's output series on one recording (or pooled), scored against the truth."""

    name: str
    t: np.ndarray  # [s] output times
    xy: np.ndarray  # (N, 2) base_link in map [m]
    cov: np.ndarray  # (N, 2, 2) reported position covariance in map [m^2]
    err: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [m]
    nees: np.ndarray = field(default_factory=lambda: np.zeros(0))
    extra: dict = field(default_factory=dict)

    def score(self, rec: Recording) -> Result:
        truth = np.array([rec.truth_at(t)[:2] for t in self.t]) if len(self.t) else np.zeros((0, 2))
        d = self.xy - truth
        self.err = np.hypot(d[:, 0], d[:, 1])
        self.nees = np.einsum("ni,nij,nj->n", d, np.linalg.inv(self.cov), d) if len(d) else np.zeros(0)
        return self

    def stats(self) -> tuple[float, float, float]:
        e = self.err
        if len(e) == 0:
            return (math.nan,) * 3
        return float(np.sqrt(np.mean(e**2))), float(np.percentile(e, 95)), float(np.max(e))

    def sample(self, t: float) -> int | None:
        """Index of the last output at or before t."""
        i = int(np.searchsorted(self.t, t, side="right")) - 1
        return i if i >= 0 else None


def run_ours(rec: Recording, world, params: LocalizationParams | None = None, use_heading: bool = False) -> Result:
    """Feed the recording through InputScreen + LocalizationFilter as the node does; output at 50 Hz.

    ``use_heading``: also fuse the dual-antenna GNSS heading (the node's ``use_gnss_heading``).
    """
    loop = FilterLoop(world, rec.lever, rec.rear_axle_x_m, params, use_heading)
    filt = loop.filter
    period = 1.0 / OUTPUT_HZ
    next_t = rec.items[0][0]
    ts, xy, cov = [], [], []
    cost_ns = {"all": [], "gnss": []}
    fixes = []  # (GnssFix, outcome)
    for arrival, m in rec.items:
        while next_t <= arrival:
            est = loop.estimate(next_t)
            if est is not None:
                ts.append(next_t)
                xy.append((est.x, est.y))
                cov.append(est.pose_cov[:2, :2])
            next_t += period
        fed = loop.feed(arrival, m)
        if fed is None:
            continue
        out, dt_s = fed
        dt_ns = int(round(dt_s * 1e9))
        cost_ns["all"].append(dt_ns)
        if isinstance(m, GnssFix):
            cost_ns["gnss"].append(dt_ns)
            fixes.append((m, out))
    res = Result("ours + GNSS heading" if use_heading else "ours", np.array(ts), np.array(xy).reshape(-1, 2),
                 np.array(cov).reshape(-1, 2, 2))
    res.extra.update(cost_ns=cost_ns, fixes=fixes, counts=dict(filt.counts), init=filt.initial_pose)
    return res.score(rec)


def raw_gnss(rec: Recording, world, at_arrival: bool = False) -> Result:
    """Antenna fix vs the true antenna position at its stamp (or at its arrival); no covariance claim used."""
    ts, errs = [], []
    for arrival, m in rec.items:
        if isinstance(m, GnssFix) and m.mode != "none":
            e, n, _ = world.frame.enu_from_geodetic(m.lat_deg, m.lon_deg, m.alt_m)
            ax, ay = rec.antenna_at(arrival if at_arrival else m.stamp)
            ts.append(m.stamp)
            errs.append(math.hypot(e - ax, n - ay))
    res = Result("raw GNSS" + (" at arrival" if at_arrival else ""), np.array(ts), np.zeros((0, 2)),
                 np.zeros((0, 2, 2)))
    res.err = np.array(errs)
    return res


def load_peer(rec: Recording, world, peer_dir: Path, label: str) -> Result | None:
    """A peer's estimates (``t,easting,northing,yaw_utm,var_x,cov_xy,var_y``, UTM in the datum's zone) in map."""
    path = peer_dir / f"{rec.scenario.name}.s{rec.seed}.estimates.csv"
    if not path.exists():
        return None
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    if data.size == 0:
        return None
    e, n, _ = world.frame.enu_from_utm(data[:, 1], data[:, 2], np.full(len(data), world.datum.altitude_m))
    # Grid bearing of true north (grid_convergence_rad is the standard angle true -> grid north, so minus it):
    # east of the central meridian true north points west of grid north.
    conv = -world.frame.grid_convergence_rad
    c, s = math.cos(conv), math.sin(conv)
    rot = np.array([[c, s], [-s, c]])
    cov_grid = np.stack([np.stack([data[:, 4], data[:, 5]], -1), np.stack([data[:, 5], data[:, 6]], -1)], -2)
    cov = rot @ cov_grid @ rot.T
    return Result(label, data[:, 0], np.stack([e, n], -1), cov).score(rec)


# ---------------------------------------------------------------------- metrics
def t_motion(rec: Recording) -> float:
    return rec.items[0][0] + 5.0 - DT  # simulate(): motion starts 5 s after the first tick


def outage_end(rec: Recording, res: Result) -> tuple[float, float] | None:
    """(error, reported sigma) at the last output before fixes return after a forced 'none' window."""
    win = [w for w in rec.scenario.forced if w[1] == "none"]
    if not win or not len(res.t):
        return None
    i = res.sample(t_motion(rec) + win[0][2])
    if i is None:
        return None
    return float(res.err[i]), math.sqrt(max(np.linalg.eigvalsh(res.cov[i])))


def rtk_returns(rec: Recording) -> list[float]:
    """Arrival times of the first RTK fixed fix after any stretch without one."""
    out, prev = [], None
    for arrival, m in rec.items:
        if isinstance(m, GnssFix):
            if m.mode == "rtk_fixed" and prev not in (None, "rtk_fixed"):
                out.append(arrival)
            if m.mode != "none" or prev is None:
                prev = m.mode
    return out


def return_jumps(rec: Recording, res: Result, window_s: float = 1.0) -> list[dict]:
    """How far the estimate moved (beyond the true motion) in the second after RTK fixed returned,
    and that move's Mahalanobis distance squared under the covariance reported just before."""
    out = []
    for t in rec_returns_cache(rec):
        i, j = res.sample(t - 1e-6), res.sample(t + window_s)
        if i is None or j is None or j <= i:
            continue
        moved = np.subtract(rec.truth_at(res.t[j])[:2], rec.truth_at(res.t[i])[:2])
        d = res.xy[j] - res.xy[i] - moved
        out.append({"jump_m": float(np.hypot(*d)), "d2": float(d @ np.linalg.solve(res.cov[i], d)),
                    "sigma": math.sqrt(max(np.linalg.eigvalsh(res.cov[i])))})
    return out


_RETURNS: dict[int, list[float]] = {}


def rec_returns_cache(rec: Recording) -> list[float]:
    if id(rec) not in _RETURNS:
        _RETURNS[id(rec)] = rtk_returns(rec)
    return _RETURNS[id(rec)]


def multipath_rates(res: Result) -> dict:
    """Rejected multipath fixes and rejected clean fixes (after initialisation), from our outcomes."""
    init = res.extra.get("init")
    fixes = [(m, o) for m, o in res.extra.get("fixes", []) if m.mode != "none" and init is not None
             and m.stamp > init.t]
    rejected = [not getattr(o, "accepted", False) for _, o in fixes]
    mp = [r for (m, _), r in zip(fixes, rejected) if m.multipath]
    clean = [r for (m, _), r in zip(fixes, rejected) if not m.multipath]
    return {"multipath_fixes": len(mp), "multipath_rejected": sum(mp), "clean_fixes": len(clean),
            "clean_rejected": sum(clean)}


# ------------------------------------------------------------------ export/peer
def export(rec: Recording, world, out_dir: Path) -> None:
    """Inputs (arrival order) and truth of one recording as CSV, plus the metadata a peer needs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"{rec.scenario.name}.s{rec.seed}"
    with open(out_dir / f"{name}.inputs.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arrival", "stamp", "kind", "a", "b", "c", "d", "e", "f", "g"])
        for arrival, m in rec.items:
            if isinstance(m, ImuSample):
                w.writerow([f"{arrival:.4f}", f"{m.stamp:.4f}", "imu", repr(m.wz), repr(m.gyro_var)])
            elif isinstance(m, WheelOdom):
                w.writerow([f"{arrival:.4f}", f"{m.stamp:.4f}", "odom", repr(m.vx_mps), repr(m.vy_mps),
                            repr(m.wz_radps), repr(m.twist_cov[0]), repr(m.twist_cov[7]), repr(m.twist_cov[35])])
            elif isinstance(m, GnssFix):
                w.writerow([f"{arrival:.4f}", f"{m.stamp:.4f}", "fix", repr(m.lat_deg), repr(m.lon_deg),
                            repr(m.alt_m), m.status, m.covariance_type, repr(m.covariance[0]), repr(m.covariance[4])])
            elif isinstance(m, GnssHeading):
                w.writerow([f"{arrival:.4f}", f"{m.stamp:.4f}", "heading", repr(m.yaw_rad), repr(m.sigma_rad**2)])
    with open(out_dir / f"{name}.truth.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t", "x", "y", "yaw"])
        for row in rec.truth[::2]:
            w.writerow([f"{row[0]:.4f}", f"{row[1]:.5f}", f"{row[2]:.5f}", f"{row[3]:.6f}"])
    fr = world.frame
    # The initial heading a navsat_transform user must supply (IMU/compass): the truth plus 0.005 rad
    # of dual-antenna noise, seeded.
    first_fix = next(m for _, m in rec.items if isinstance(m, GnssFix) and m.mode != "none")
    yaw0 = rec.truth_at(first_fix.stamp)[2] + np.random.default_rng(rec.seed).normal(0.0, 0.005)
    meta = {
        "scenario": rec.scenario.name, "name": name, "description": rec.scenario.description, "seed": rec.seed,
        "datum": dataclasses.asdict(world.datum), "utm_zone": fr.utm_zone, "utm_north": fr.utm_north,
        "utm_epsg": fr.utm_epsg, "gnss_antenna_m": list(world.carrier_type.gnss_antenna_m),
        "rear_axle_x_m": rec.rear_axle_x_m, "initial_heading_enu_rad": float(yaw0),
        "initial_heading_true_enu_rad": float(rec.truth_at(first_fix.stamp)[2]),
        "grid_convergence_rad": fr.grid_convergence_rad,
        "columns": {"imu": "a=wz b=gyro_var", "odom": "a=vx b=vy c=wz d=var_vx e=var_vy f=var_wz",
                    "fix": "a=lat b=lon c=alt d=status e=cov_type f=var_e g=var_n",
                    "heading": "a=yaw_enu b=var"},
    }
    (out_dir / f"{name}.meta.json").write_text(json.dumps(meta, indent=1))



# ---------------------------------------------------------------- error-model matrix
_MIX = {"gnss_fixed_sigma_m": 0.007, "gnss_fixed_time_constant_s": 10.0, "gnss_fixed_white_sigma_m": 0.007}
SIM_MODELS = {  # name -> (SensorConfig changes, scenario, lever arm error (configured minus true) [m])
    "white": ({"gnss_fixed_sigma_m": 0.0, "gnss_fixed_white_sigma_m": 0.010}, "link", (0.0, 0.0)),
    "white_1.5cm": ({"gnss_fixed_sigma_m": 0.0, "gnss_fixed_white_sigma_m": 0.015}, "link", (0.0, 0.0)),
    "gm_1s": ({"gnss_fixed_sigma_m": 0.010, "gnss_fixed_time_constant_s": 1.0}, "link", (0.0, 0.0)),
    "gm_5s": ({"gnss_fixed_sigma_m": 0.010, "gnss_fixed_time_constant_s": 5.0}, "link", (0.0, 0.0)),
    "gm_30s": ({"gnss_fixed_sigma_m": 0.010, "gnss_fixed_time_constant_s": 30.0}, "link", (0.0, 0.0)),
    "gm_120s": ({"gnss_fixed_sigma_m": 0.010, "gnss_fixed_time_constant_s": 120.0}, "link", (0.0, 0.0)),
    "mixture": (_MIX, "link", (0.0, 0.0)),
    "optimistic_3x": (_MIX | {"gnss_reported_sigma_scale": 1.0 / 3.0}, "link", (0.0, 0.0)),
    "pessimistic_3x": (_MIX | {"gnss_reported_sigma_scale": 3.0}, "link", (0.0, 0.0)),
    "float_40s": (_MIX | {"gnss_float_time_constant_s": 20.0}, "link_float", (0.0, 0.0)),
    "multipath": (_MIX, "portals_fixed", (0.0, 0.0)),
    "float_multipath": (_MIX, "portals", (0.0, 0.0)),
    "lever_arm_1.5m": (_MIX, "portals_fixed", (1.5, 0.0)),
}
_SIM_SCENARIOS = {
    "link": Scenario("link", "VN hub -> border loop, RTK fixed forced, 5 m/s", LINK_VN_TO_CN, base_mode="rtk_fixed",
                     max_s=150.0),
    "link_float": Scenario("link_float", "same, RTK float forced for 40 s from t = 30 s", LINK_VN_TO_CN,
                           base_mode="rtk_fixed", forced=((30.0, "rtk_float", 70.0),), max_s=150.0),
    "portals_fixed": Scenario("portals_fixed", "CN transfer lane loop under the portals, RTK fixed forced (the "
                              "portals' 1-10 m multipath at 0.5 Hz stays), 3 m/s", CN_PORTAL_LOOP,
                              base_mode="rtk_fixed", speed_mps=3.0, max_s=200.0),
    "portals": Scenario("portals", "CN transfer lane loop under the portals, world zones (RTK float, 1-10 m multipath "
                        "at 0.5 Hz), 3 m/s", CN_PORTAL_LOOP, speed_mps=3.0, max_s=200.0),
}


def first_turn_end(t: np.ndarray, yaw: np.ndarray, angle: float = math.radians(60.0)) -> float:
    """Time at which the heading has turned ``angle`` from where it was when the carrier started (-inf: never)."""
    turned = np.abs(np.unwrap(yaw) - yaw[0])
    i = np.flatnonzero(turned >= angle)
    return float(t[i[0]] + 2.0) if len(i) else math.inf  # and a couple of seconds to settle


def sim_drive(world, name: str, seed: int) -> loc_matrix.Drive:
    """A matrix drive from the simulator's own sensor models."""
    changes, scenario, lever_error = SIM_MODELS[name]
    rec = simulate(world, _SIM_SCENARIOS[scenario], seed, sensor_config=changes)
    items = [(a, r) for a, m in rec.items if (r := reading_of(m, a)) is not None]
    info = {m.stamp: (m.mode, m.multipath) for _, m in rec.items if isinstance(m, GnssFix) and m.mode != "none"}
    tr = rec.truth

    def truth_xy(ts):
        return np.column_stack([np.interp(ts, tr[:, 0], tr[:, 1]), np.interp(ts, tr[:, 0], tr[:, 2])])

    lever = (rec.lever[0] + lever_error[0], rec.lever[1] + lever_error[1])
    score_from = first_turn_end(tr[:, 0], tr[:, 3]) if lever_error != (0.0, 0.0) else -math.inf
    return loc_matrix.Drive(name, "yard_sim", seed, items, truth_xy, info, lever, rec.rear_axle_x_m, world.frame,
                            score_from)


def recorded(model, seed: int, truth=None) -> loc_matrix.Drive:
    """A matrix drive from the independent generator (bench/recorded_drive.py)."""
    rec = recorded_drive.record(model, seed, truth)
    tr = rec.truth
    info = {s: (m, mp) for s, m, mp in rec.fixes}
    score_from = tr.first_turn_end if model.antenna_error_m != (0.0, 0.0) else -math.inf
    return loc_matrix.Drive(model.name, "recorded", seed, rec.items, tr.at_many, info, recorded_drive.LEVER,
                            -recorded_drive.D_REAR, recorded_drive.FRAME, score_from)


def matrix(args, console) -> None:
    """The error-model matrix (module docstring): one table per generator."""
    world = load_world(WORLD)
    names = args.models or [m.name for m in recorded_drive.ERROR_MODELS]
    estimators = [(k, fn) for k, fn in (("ours", lambda d: loc_matrix.run_ours(d)),
                                         ("rl", lambda d: loc_matrix.run_peer(d, gated=False)),
                                         ("rl_gated", lambda d: loc_matrix.run_peer(d, gated=True)))
                  if k in args.estimators]
    # the same drive for every model and seed (the errors are what differs); --true-slip changes the vehicle's tyres
    vehicle = recorded_drive.VehicleModel() if args.true_slip is None else \
        recorded_drive.VehicleModel(rear_slip_rad_per_mps2=args.true_slip)
    truth = recorded_drive.drive(vehicle=vehicle)
    for source in args.generators:
        table = Table(title=f"GNSS error-model matrix, generator: {source}, {args.seeds} seed(s) per model; errors "
                            "of base_link, RTK fixed samples (lever arm model: after the first turn)")
        for col in ("model", "estimator", "RMSE", "p95", "max", "inside 3σ", "clean fixes rejected",
                    "multipath rejected", "longest lock-out", "µs / message (with outputs)"):
            table.add_column(col, justify="left" if col in ("model", "estimator") else "right")
        for name in names:
            if source == "yard_sim" and name not in SIM_MODELS:
                continue
            scored: dict[str, list] = {}
            labels: dict[str, str] = {}
            notes = ""
            for seed in range(1, args.seeds + 1):
                d = recorded(recorded_drive.MODELS[name], seed, truth) if source == "recorded" \
                    else sim_drive(world, name, seed)
                for key, fn in estimators:
                    run = fn(d)
                    labels[key] = run.name
                    scored.setdefault(key, []).append(loc_matrix.evaluate(d, run))
                    if key == "ours" and run.extra.get("lever_arm") and name.startswith("lever"):
                        (lx, ly), (sx, sy) = run.extra["lever_arm"]
                        notes += f" s{seed}: antenna ({lx:.2f} ± {sx:.2f}, {ly:.2f} ± {sy:.2f}) m;"
            for key in (k for k, _ in estimators):
                f = loc_matrix.summarize(scored[key])
                table.add_row(name, labels[key], fmt(f["rmse"]), fmt(f["p95"]), fmt(f["max"]),
                              pct(f["inside_3sigma"]), pct(f["clean_rejected"]) + f" of {f['clean_fixes']}",
                              pct(f["multipath_rejected"]) + f" of {f['multipath_fixes']}",
                              "—" if math.isnan(f["lockout_s"]) else f"{f['lockout_s']:.1f} s", f"{f['cpu_us']:.0f}")
            if notes:
                console.print(f"  {name} ({source}), ours, estimated lever arm (true (6.00, 0.50) m):{notes}",
                              style="dim")
            table.add_section()
            console.print(f"  {name} ({source}) done", style="dim")
        console.print(table)


def pct(v: float) -> str:
    return "—" if v is None or not math.isfinite(v) else f"{v * 100:.1f} %"


# ------------------------------------------------------------------------ report
def fmt(v: float | None, unit: str = "m") -> str:
    if v is None or not math.isfinite(v):
        return "—"
    if unit == "m":
        return f"{v * 100:.1f} cm" if abs(v) < 1.0 else f"{v:.2f} m"
    return f"{v:.2f}"


def pool(results: list[Result]) -> Result:
    r = Result(results[0].name, np.concatenate([x.t for x in results]), np.zeros((0, 2)), np.zeros((0, 2, 2)))
    r.err = np.concatenate([x.err for x in results])
    r.nees = np.concatenate([x.nees for x in results])
    return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=("matrix", "routes"), default="matrix")
    ap.add_argument("--models", nargs="*", help="matrix: error models to run (default: all)")
    ap.add_argument("--generators", nargs="+", choices=("recorded", "yard_sim"), default=["recorded", "yard_sim"],
                    help="matrix: the independent generator, the simulator's sensor models, or both")
    ap.add_argument("--estimators", nargs="+", choices=("ours", "rl", "rl_gated"), default=["ours", "rl", "rl_gated"],
                    help="matrix: ours (shipped configuration) and the robot_localization-style peer, ungated / gated")
    ap.add_argument("--true-slip", type=float, default=None,
                    help="matrix, independent generator: the vehicle's rear slip angle per lateral acceleration "
                         "[rad/(m/s^2)] instead of its default 0.008 (what one turn can tell about the lever arm)")
    ap.add_argument("--scenarios", nargs="*", default=[s.name for s in SCENARIOS])
    ap.add_argument("--seeds", type=int, default=3, help="seeds per scenario (figures pool all runs)")
    ap.add_argument("--export-scenarios", type=Path, help="write every run's inputs/truth as CSV for a peer here")
    ap.add_argument("--peer-results", type=Path, action="append", default=[],
                    help="directory with <scenario>.s<seed>.estimates.csv from a peer (repeatable; label = dir name)")
    args = ap.parse_args(argv)
    console = Console()
    if args.part == "matrix":
        matrix(args, console)
        return 0
    world = load_world(WORLD)
    chosen = [s for s in SCENARIOS if s.name in args.scenarios]
    table = Table(title=f"Localization on Youyiguan routes, {args.seeds} seed(s) per scenario: base_link position "
                        "error after initialisation")
    for col in ("scenario", "estimator", "RMSE", "p95", "max", "mean NEES", "30 s outage: end error (σ)",
                "RTK return: max jump (max d²)"):
        table.add_column(col)
    gating = Table(title="Outlier gating (ours; the peers have no per-fix decision to count)")
    for col in ("scenario", "multipath fixes rejected", "clean fixes rejected", "recoveries"):
        gating.add_column(col)
    cost = Table(title="CPU time per message, ours (screening + filter, incl. re-propagation of late fixes)")
    for col in ("scenario", "all messages: mean", "p99", "GNSS fix: mean", "p99"):
        cost.add_column(col)
    for sc in chosen:
        runs: dict[str, list[Result]] = {}
        ends: dict[str, list] = {}
        jumps: dict[str, list] = {}
        rates, costs, costs_gnss, recovered = [], [], [], 0
        for seed in range(1, args.seeds + 1):
            rec = simulate(world, sc, seed)
            if args.export_scenarios:
                export(rec, world, args.export_scenarios)
            found = [raw_gnss(rec, world)]
            if sc.latency_s is not None:
                found.append(raw_gnss(rec, world, at_arrival=True))
            ours = run_ours(rec, world)
            found += [ours, run_ours(rec, world, use_heading=True)]
            found += [p for d in args.peer_results if (p := load_peer(rec, world, d, d.name)) is not None]
            for r in found:
                runs.setdefault(r.name, []).append(r)
                if len(r.xy):
                    if (e := outage_end(rec, r)) is not None:
                        ends.setdefault(r.name, []).append(e)
                    jumps.setdefault(r.name, []).extend(return_jumps(rec, r))
            rates.append(multipath_rates(ours))
            costs += ours.extra["cost_ns"]["all"]
            costs_gnss += ours.extra["cost_ns"]["gnss"]
            recovered += ours.extra["counts"].get("gnss_recovered", 0)
        for name, rs in runs.items():
            r = pool(rs)
            rmse, p95, mx = r.stats()
            nees = fmt(float(np.mean(r.nees)), "") if len(r.nees) else "—"
            end = ", ".join(f"{fmt(e)} ({fmt(sg)})" for e, sg in ends.get(name, [])) or "—"
            js = jumps.get(name, [])
            jump = f"{fmt(max(j['jump_m'] for j in js))} ({max(j['d2'] for j in js):.1f})" if js else "—"
            table.add_row(sc.name, name, fmt(rmse), fmt(p95), fmt(mx), nees, end, jump)
        table.add_section()
        mpf = sum(x["multipath_fixes"] for x in rates)
        cf = sum(x["clean_fixes"] for x in rates)
        gating.add_row(sc.name, f"{sum(x['multipath_rejected'] for x in rates)} / {mpf}",
                       f"{sum(x['clean_rejected'] for x in rates)} / {cf}", str(recovered))
        a, g = np.array(costs) / 1e3, np.array(costs_gnss) / 1e3
        cost.add_row(sc.name, f"{a.mean():.0f} µs", f"{np.percentile(a, 99):.0f} µs", f"{g.mean():.0f} µs",
                     f"{np.percentile(g, 99):.0f} µs")
    console.print(table)
    console.print("d² = Mahalanobis distance² of the correction in the second after RTK fixed returns, under the "
                  f"covariance reported just before; 99.9 % of consistent corrections are below {CHI2_2DOF_999}.")
    console.print(gating)
    console.print(cost)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
