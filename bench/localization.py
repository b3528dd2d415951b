"""Localization benchmark (issue #3): raw GNSS vs the carrier filter vs robot_localization, on Youyiguan routes.

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

Peer: ``--export-scenarios DIR`` writes every scenario's inputs and truth as CSV; a peer (see
docs/benchmarks.md for how robot_localization was built and run) writes ``<scenario>.estimates.csv``
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
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agv_nav.localization_filter import LocalizationFilter  # noqa: E402
from agv_nav.localization_inputs import (  # noqa: E402
    FixReading,
    HeadingReading,
    ImuReading,
    InputScreen,
    OdomReading,
    Rejected,
)
from agv_nav.localization_params import LocalizationParams  # noqa: E402
from agv_nav.pose_init import SpotPose  # noqa: E402
from yard_model import load_world  # noqa: E402
from yard_model.geometry import cumulative_length, project_onto_polyline  # noqa: E402
from yard_model.world import Pose2D  # noqa: E402
from yard_sim.carrier_model import CarrierModel  # noqa: E402
from yard_sim.sensors import CarrierSensors, GnssFix, GnssHeading, ImuSample, SensorConfig, WheelOdom  # noqa: E402

WORLD = REPO / "sim_worlds" / "youyiguan.yaml"
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
        s = min(max(s_m, 0.0), self.length)
        i = min(max(int(np.searchsorted(self.cum, s, side="right")) - 1, 0), len(self.path) - 2)
        seg = self.cum[i + 1] - self.cum[i]
        f = 0.0 if seg <= 0 else (s - self.cum[i]) / seg
        a, b = self.path[i], self.path[i + 1]
        return a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), math.atan2(b[1] - a[1], b[0] - a[0])

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


def simulate(world, sc: Scenario, seed: int, t0: float = 1000.0, standstill_s: float = 5.0) -> Recording:
    """Drive the scenario's route and record every sensor output with its arrival time."""
    path = route_polyline(world, sc.route, sc.laps)
    ct = world.carrier_type
    half = ct.wheelbase_m / 2.0
    d0 = path[1] - path[0]
    yaw0 = math.atan2(d0[1], d0[0])
    start = Pose2D(float(path[0, 0] + half * math.cos(yaw0)), float(path[0, 1] + half * math.sin(yaw0)), yaw0)
    model = CarrierModel(ct, start)
    cfg = SensorConfig()
    if sc.latency_s is not None:
        cfg = dataclasses.replace(cfg, gnss_latency_min_s=sc.latency_s[0], gnss_latency_max_s=sc.latency_s[1])
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


def reading_of(m, arrival: float):
    """The node's plain reading of a simulator measurement (what the message carries)."""
    if isinstance(m, GnssFix):
        return FixReading(m.stamp, arrival, m.lat_deg, m.lon_deg, m.alt_m, m.status, m.covariance_type,
                          tuple(m.covariance))
    if isinstance(m, WheelOdom):
        return OdomReading(m.stamp, arrival, m.vx_mps, m.wz_radps)
    if isinstance(m, ImuSample):
        return ImuReading(m.stamp, arrival, m.wz)
    if isinstance(m, GnssHeading):
        return HeadingReading(m.stamp, arrival, (0.0, 0.0, math.sin(m.yaw_rad / 2), math.cos(m.yaw_rad / 2)),
                              m.sigma_rad**2)
    return None


def world_spots(world) -> list[SpotPose]:
    spots = [SpotPose(s.id, s.pose.x, s.pose.y, s.pose.yaw) for s in world.spots.values()]
    spots += [SpotPose(b.id, b.pose.x, b.pose.y, b.pose.yaw) for b in world.carrier_bays()]
    return spots


# ------------------------------------------------------------------------- ours
@dataclass
class Result:
    """Scored output of one estimator on one recording."""

    name: str
    t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    err: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [m] at the output samples
    nees: np.ndarray = field(default_factory=lambda: np.zeros(0))
    extra: dict = field(default_factory=dict)

    def stats(self, mask=None) -> tuple[float, float, float]:
        e = self.err if mask is None else self.err[mask]
        if len(e) == 0:
            return (math.nan,) * 3
        return float(np.sqrt(np.mean(e**2))), float(np.percentile(e, 95)), float(np.max(e))


def run_ours(rec: Recording, world, params: LocalizationParams | None = None) -> Result:
    p = params or LocalizationParams()
    screen = InputScreen(p, world.frame)
    filt = LocalizationFilter(p, rec.lever, rec.rear_axle_x_m, world_spots(world))
    handlers = {FixReading: screen.fix, OdomReading: screen.odom, ImuReading: screen.imu,
                HeadingReading: screen.heading}
    period = 1.0 / OUTPUT_HZ
    next_t = rec.items[0][0]
    ts, errs, nees = [], [], []
    cost_ns = {"all": [], "gnss": []}
    fixes = []  # (fix, outcome)
    jumps = []  # (t, |jump|, d2 under the covariance before, sigma before, mode before)
    prev_mode = None
    outage_probe = []
    for arrival, m in rec.items:
        while next_t <= arrival:
            est = filt.estimate(next_t)
            if est is not None:
                x, y, _ = rec.truth_at(next_t)
                d = np.array([est.x - x, est.y - y])
                ts.append(next_t)
                errs.append(float(np.hypot(*d)))
                nees.append(float(d @ np.linalg.solve(est.pose_cov[:2, :2], d)))
                outage_probe.append((next_t, errs[-1], math.sqrt(max(np.linalg.eigvalsh(est.pose_cov[:2, :2])))))
            next_t += period
        r = reading_of(m, arrival)
        if r is None:
            continue
        before = filt.estimate(arrival) if isinstance(m, GnssFix) else None
        c0 = time.thread_time_ns()
        z = handlers[type(r)](r)
        out = z if isinstance(z, Rejected) else filt.add(z)
        dt_ns = time.thread_time_ns() - c0
        cost_ns["all"].append(dt_ns)
        if isinstance(m, GnssFix):
            cost_ns["gnss"].append(dt_ns)
            fixes.append((m, out))
            if m.mode == "rtk_fixed" and prev_mode not in (None, "rtk_fixed") and before is not None:
                # RTK fixed is back: follow the corrections over the next second
                jumps.append({"t": m.stamp, "before": before, "start": arrival})
            if m.mode != "none":
                prev_mode = m.mode
        for j in jumps:
            if "after" not in j and arrival >= j["start"] + 1.0:
                after = filt.estimate(arrival)
                ref = j["before"]
                # where the pre-return estimate thought the carrier is now: its pose moved with the truth
                x0, y0, _ = rec.truth_at(ref.t)
                x1, y1, _ = rec.truth_at(after.t)
                moved = np.array([x1 - x0, y1 - y0])
                d = np.array([after.x - ref.x, after.y - ref.y]) - moved
                j["after"] = after
                j["jump_m"] = float(np.hypot(*d))
                j["d2"] = float(d @ np.linalg.solve(ref.pose_cov[:2, :2], d))
                j["sigma"] = math.sqrt(max(np.linalg.eigvalsh(ref.pose_cov[:2, :2])))
    res = Result("ours", np.array(ts), np.array(errs), np.array(nees))
    res.extra.update(cost_ns=cost_ns, fixes=fixes, jumps=[j for j in jumps if "d2" in j], probe=outage_probe,
                     counts=dict(filt.counts), init=filt.initial_pose)
    return res


# ---------------------------------------------------------------------- scoring
def raw_gnss(rec: Recording, world, at_arrival: bool = False) -> Result:
    """Antenna fix vs the true antenna position at its stamp (or at its arrival)."""
    ts, errs = [], []
    for arrival, m in rec.items:
        if isinstance(m, GnssFix) and m.mode != "none":
            e, n, _ = world.frame.enu_from_geodetic(m.lat_deg, m.lon_deg, m.alt_m)
            ax, ay = rec.antenna_at(arrival if at_arrival else m.stamp)
            ts.append(m.stamp)
            errs.append(math.hypot(e - ax, n - ay))
    return Result("raw GNSS" + (" at arrival" if at_arrival else ""), np.array(ts), np.array(errs))


def outage_end(rec: Recording, res: Result) -> tuple[float, float] | None:
    """(error, reported sigma) at the last output before fixes return after a forced 'none' window."""
    win = [w for w in rec.scenario.forced if w[1] == "none"]
    if not win or "probe" not in res.extra:
        return None
    t_move = rec.items[0][0] + 5.0 - DT  # motion starts 5 s after the first tick
    t_end = t_move + win[0][2]
    probe = [p for p in res.extra["probe"] if p[0] <= t_end]
    return (probe[-1][1], probe[-1][2]) if probe else None


def multipath_rates(res: Result) -> dict:
    fixes = [(m, o) for m, o in res.extra.get("fixes", []) if m.mode != "none" and res.extra.get("init") is not None
             and m.stamp > res.extra["init"].t]
    mp = [(m, o) for m, o in fixes if m.multipath]
    clean = [(m, o) for m, o in fixes if not m.multipath]
    rejected = lambda o: not getattr(o, "accepted", False)  # noqa: E731
    big = [(m, o) for m, o in mp]
    return {
        "multipath_fixes": len(big),
        "multipath_rejected": sum(rejected(o) for _, o in big),
        "clean_fixes": len(clean),
        "clean_rejected": sum(rejected(o) for _, o in clean),
    }


# ------------------------------------------------------------------ export/peer
def export(rec: Recording, world, out_dir: Path) -> None:
    """Inputs (arrival order) and truth of one recording as CSV, plus the metadata a peer needs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    name = rec.scenario.name
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
        "scenario": name, "description": rec.scenario.description, "seed": rec.seed,
        "datum": dataclasses.asdict(world.datum), "utm_zone": fr.utm_zone, "utm_north": fr.utm_north,
        "utm_epsg": fr.utm_epsg, "gnss_antenna_m": list(world.carrier_type.gnss_antenna_m),
        "rear_axle_x_m": rec.rear_axle_x_m, "initial_heading_enu_rad": float(yaw0),
        "grid_convergence_rad": fr.grid_convergence_rad,
        "columns": {"imu": "a=wz b=gyro_var", "odom": "a=vx b=vy c=wz d=var_vx e=var_vy f=var_wz",
                    "fix": "a=lat b=lon c=alt d=status e=cov_type f=var_e g=var_n",
                    "heading": "a=yaw_enu b=var"},
    }
    (out_dir / f"{name}.meta.json").write_text(json.dumps(meta, indent=1))


def load_peer(rec: Recording, world, peer_dir: Path, label: str) -> Result | None:
    """Score a peer's estimates (UTM in the datum's zone) against the truth, in map."""
    path = peer_dir / f"{rec.scenario.name}.estimates.csv"
    if not path.exists():
        return None
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    if data.size == 0:
        return None
    e, n, _ = world.frame.enu_from_utm(data[:, 1], data[:, 2], np.full(len(data), world.datum.altitude_m))
    ts, errs, nees = [], [], []
    conv = world.frame.grid_convergence_rad
    c, s = math.cos(conv), math.sin(conv)  # UTM grid axes -> map axes (covariance only)
    rot = np.array([[c, s], [-s, c]])
    for i, t in enumerate(data[:, 0]):
        x, y, _ = rec.truth_at(t)
        d = np.array([e[i] - x, n[i] - y])
        cov = rot @ np.array([[data[i, 4], data[i, 5]], [data[i, 5], data[i, 6]]]) @ rot.T
        ts.append(t)
        errs.append(float(np.hypot(*d)))
        try:
            nees.append(float(d @ np.linalg.solve(cov, d)))
        except np.linalg.LinAlgError:
            nees.append(math.inf)
    res = Result(label, np.array(ts), np.array(errs), np.array(nees))
    t_move = rec.items[0][0] + 5.0 - DT
    win = [w for w in rec.scenario.forced if w[1] == "none"]
    if win:
        t_end = t_move + win[0][2]
        k = np.searchsorted(res.t, t_end) - 1
        if k >= 0:
            cov = np.array([[data[k, 4], data[k, 5]], [data[k, 5], data[k, 6]]])
            res.extra["outage_end"] = (float(res.err[k]), math.sqrt(max(np.linalg.eigvalsh(cov))))
    return res


# ------------------------------------------------------------------------ report
def fmt(v: float, unit: str = "m") -> str:
    if v is None or not math.isfinite(v):
        return "—"
    if unit == "m":
        return f"{v * 100:.1f} cm" if abs(v) < 1.0 else f"{v:.2f} m"
    return f"{v:.2f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenarios", nargs="*", default=[s.name for s in SCENARIOS])
    ap.add_argument("--seeds", type=int, default=3, help="seeds per scenario (figures pool all runs)")
    ap.add_argument("--export-scenarios", type=Path, help="write inputs/truth CSV for a peer here (seed 1 only)")
    ap.add_argument("--peer-results", type=Path, action="append", default=[],
                    help="directory with <scenario>.estimates.csv from a peer (repeatable; label = dir name)")
    args = ap.parse_args(argv)
    world = load_world(WORLD)
    console = Console()
    chosen = [s for s in SCENARIOS if s.name in args.scenarios]
    table = Table(title="Localization on Youyiguan routes: base_link position error (RMSE / p95 / max)")
    for col in ("scenario", "estimator", "RMSE", "p95", "max", "mean NEES", "notes"):
        table.add_column(col)
    summary: dict = {}
    for sc in chosen:
        pooled: dict[str, list[Result]] = {}
        notes: dict[str, list[str]] = {}
        for seed in range(1, args.seeds + 1):
            rec = simulate(world, sc, seed)
            if args.export_scenarios and seed == 1:
                export(rec, world, args.export_scenarios)
            runs = [raw_gnss(rec, world)]
            if sc.latency_s is not None:
                runs.append(raw_gnss(rec, world, at_arrival=True))
            ours = run_ours(rec, world)
            runs.append(ours)
            if seed == 1:
                for peer_dir in args.peer_results:
                    peer = load_peer(rec, world, peer_dir, peer_dir.name)
                    if peer is not None:
                        runs.append(peer)
            for r in runs:
                pooled.setdefault(r.name, []).append(r)
            end = outage_end(rec, ours)
            if end:
                notes.setdefault("ours", []).append(f"outage end {fmt(end[0])} (σ {fmt(end[1])})")
            for r in runs:
                if "outage_end" in r.extra:
                    e, sg = r.extra["outage_end"]
                    notes.setdefault(r.name, []).append(f"outage end {fmt(e)} (σ {fmt(sg)})")
            rates = multipath_rates(ours)
            summary.setdefault(sc.name, {}).setdefault("rates", []).append(rates)
            summary[sc.name].setdefault("jumps", []).extend(ours.extra["jumps"])
            summary[sc.name].setdefault("cost", []).extend(ours.extra["cost_ns"]["all"])
            summary[sc.name].setdefault("cost_gnss", []).extend(ours.extra["cost_ns"]["gnss"])
        for name, rs in pooled.items():
            res = Result(name, np.concatenate([r.t for r in rs]), np.concatenate([r.err for r in rs]),
                         np.concatenate([r.nees for r in rs]))
            rmse, p95, mx = res.stats()
            nees = fmt(float(np.mean(res.nees)), "") if len(res.nees) else "—"
            note = "; ".join(notes.get(name, [])) if name != "ours" or not notes.get("ours") else \
                "; ".join(notes["ours"])
            if name == "ours":
                rates = summary[sc.name]["rates"]
                mpf = sum(r["multipath_fixes"] for r in rates)
                if mpf:
                    note += (f"multipath rejected {sum(r['multipath_rejected'] for r in rates)}/{mpf}; "
                             f"clean rejected {sum(r['clean_rejected'] for r in rates)}/"
                             f"{sum(r['clean_fixes'] for r in rates)}")
                jumps = summary[sc.name]["jumps"]
                if jumps:
                    worst = max(jumps, key=lambda j: j["d2"])
                    note += (f" RTK return ×{len(jumps)}: max jump {fmt(max(j['jump_m'] for j in jumps))}, "
                             f"max d² {worst['d2']:.1f} (σ before {fmt(worst['sigma'])})")
            table.add_row(sc.name, name, fmt(rmse), fmt(p95), fmt(mx), nees, note.strip())
        table.add_section()
    console.print(table)
    cost = Table(title="CPU time per message (screening + filter, incl. re-propagation of late fixes)")
    for col in ("scenario", "all messages mean", "p99", "GNSS fix mean", "GNSS p99"):
        cost.add_column(col)
    for name, s in summary.items():
        a, g = np.array(s["cost"]) / 1e3, np.array(s["cost_gnss"]) / 1e3
        cost.add_row(name, f"{a.mean():.0f} µs", f"{np.percentile(a, 99):.0f} µs", f"{g.mean():.0f} µs",
                     f"{np.percentile(g, 99):.0f} µs")
    console.print(cost)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
