"""Benchmark of path following and docking on Youyiguan routes (issue #4); not a test.

Runs the carrier in the in-process simulator model (``yard_sim.carrier_model.CarrierModel``: drive and
steering lags, steering-rate limit) at 100 Hz physics with every controller at 50 Hz, on routes built
from the Youyiguan lane graph (parking spot -> carrier bay across the border corridor), and prints:

1. cross-track error of the deck centre (RMS, max) at 2, 4 and 6 m/s for our follower and the peers:
   Nav2 Regulated Pure Pursuit (re-implemented from its docs, ``bench/nav2_rpp.py``; Nav2 defaults, and
   with the lookahead scaled to a 15 m carrier) and PythonRobotics' pure pursuit, Stanley and rear-wheel
   feedback steering laws (imported from a checkout given with ``--pythonrobotics``; they get our speed
   command, so only the steering law differs);
2. docking error over many dockings at the carrier bays (varied start distance, lateral and heading
   offsets), ours and RPP with the controller server's goal checker; time to dock;
3. controller compute time per step and steps per second (Python, this machine).

Localization: ``--localization truth`` feeds the ground truth; ``noise`` adds a Gauss-Markov error
(sigma 1 cm, 1 s correlation; yaw sigma 2 mrad) like an RTK-fixed localization output; noise models
unlike the simulator's (issue #14, docking): ``white`` 1.5 cm white per axis and 2 mrad in yaw, every 50 Hz
sample independent; ``heavy`` Student-t (3 degrees of freedom) scaled 1 cm; ``quantized`` the truth on a
1 cm grid plus 3 mm white; ``late`` 1 cm white delivered at 20 Hz, 60-120 ms after its stamp (the
follower predicts it to the present); ``walk`` a random walk of 5 mm/sqrt(s) (a slow drift no average
removes); several may be given and are run one after the other; ``filter`` puts
the localization of issue #3 in the loop: the carrier model's true state drives the simulator's sensor
models (``yard_sim.sensors.CarrierSensors``: GNSS with latency and the world's GNSS zones -- RTK fixed in
open sky, float with multipath under the crane portals, none under the border canopy, single beside the
customs building -- or one mode forced with ``--gnss``, wheel odometry, IMU, and the cranes' bay
positioning system near every crane-served carrier bay unless ``--no-bay-positioning``), every measurement goes
through the node's screening and filter at its arrival time (``bench/sim_localization.py``), and the
controllers see the filter's 50 Hz output as the follower node does (pose, yaw, speed, yaw rate, position
and yaw deviations from the covariance, so the follower's localization safety caps apply). The carrier
stands until the filter has initialised (start pose registered as a parking spot); docking approaches
then start in open sky, 5-30 m before the antenna enters the degraded zone if the drawn start lies in
it, as a carrier arriving from the corridor would. The peers
track their own reference point (rear axle; Stanley: front axle) on the matching offset of the lane line.

    .venv/bin/python bench/path_following.py --pythonrobotics /tmp/PythonRobotics
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from nav2_rpp import RegulatedPurePursuit, RppParams  # noqa: E402
from sim_localization import FilterLoop  # noqa: E402

from agv_nav.follower import PathFollower, PoseEstimate, pose_estimate  # noqa: E402
from agv_nav.follower_params import PathFollowerParams  # noqa: E402
from agv_nav.path import ReferencePath  # noqa: E402
from agv_nav.pose_init import SpotPose, world_spots  # noqa: E402
from yard_model import load_world  # noqa: E402
from yard_model.geometry import wrap_angle  # noqa: E402
from yard_model.lane_graph import place_graph, traversal_points  # noqa: E402
from yard_model.world import Pose2D  # noqa: E402
from yard_sim.carrier_model import CarrierModel  # noqa: E402
from yard_sim.sensors import CarrierSensors, SensorConfig  # noqa: E402

SIM_DT = 0.01  # [s] physics step
CTRL_DT = 0.02  # [s] every controller runs at 50 Hz
LEFT_LANE_M = 1.5  # [m] a run whose deck centre strays this far from the line has failed


# ------------------------------------------------------------------ routes
@dataclass
class BenchRoute:
    name: str
    points: np.ndarray
    lane_limits: np.ndarray
    goal: Pose2D
    goal_id: str


def youyiguan_routes(world, pairs) -> list[BenchRoute]:
    """Routes from a place to a carrier bay along the lane graph (concatenated lane centre lines)."""
    g = place_graph(world)
    out = []
    for src, bay_id in pairs:
        hops = nx.shortest_path(g, ("place", src), ("place", bay_id))
        travs = [v for v in hops if not (isinstance(v, tuple) and v and v[0] == "place")]
        pts, lim = [], []
        for i, t in enumerate(travs):
            p = traversal_points(world, t)
            p = p if i == 0 else p[1:]
            pts.append(p)
            lim.append(np.full(len(p), world.lanes[t.lane].speed_limit_mps))
        bay = world.bays[bay_id]
        out.append(BenchRoute(f"{src}->{bay_id}", np.concatenate(pts), np.concatenate(lim), bay.pose, bay_id))
    return out


def trim_route(r: BenchRoute, start_s: float) -> tuple[np.ndarray, np.ndarray, Pose2D]:
    """The route from arc length start_s on (first point interpolated) and the start pose."""
    cum = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(r.points, axis=0), axis=1))])
    i = int(np.searchsorted(cum, start_s, side="right") - 1)
    f = (start_s - cum[i]) / max(cum[i + 1] - cum[i], 1e-9)
    p0 = r.points[i] + f * (r.points[i + 1] - r.points[i])
    pts = np.vstack([p0, r.points[i + 1:]])
    lim = np.concatenate([[r.lane_limits[i]], r.lane_limits[i + 1:]])
    yaw = math.atan2(r.points[i + 1][1] - r.points[i][1], r.points[i + 1][0] - r.points[i][0])
    return pts, lim, Pose2D(float(p0[0]), float(p0[1]), yaw)


def route_doc(pts, limits, goal: Pose2D, goal_id: str, rid: str) -> dict:
    return {"route_id": rid, "carrier_id": "carrier_01", "points": [[float(x), float(y)] for x, y in pts],
            "speed_limits_mps": [float(v) for v in limits],
            "goal": {"kind": "bay", "id": goal_id, "x": goal.x, "y": goal.y, "yaw": goal.yaw, "dock": True}}


def reference_point_paths(ref: ReferencePath, half_wheelbase: float, step_m: float = 0.05):
    """Lines of the rear and front axles when the deck centre follows ``ref`` exactly, and the body yaw.

    The rear axle of a bicycle moves along the body axis, so it is dragged behind the deck centre like a
    tractrix: dR = u (u . dP) with u the unit vector from R to P (|P - R| = half wheelbase). The front
    axle is at 2P - R. Sampled every 0.5 m for the peers.
    """
    s = np.append(np.arange(0.0, ref.length_m, step_m), ref.length_m)
    poses = np.array([ref.pose_at(v) for v in s])
    xy = poses[:, :2]
    h0 = poses[0, 2]
    rear = np.empty_like(xy)
    rear[0] = xy[0] - half_wheelbase * np.array([math.cos(h0), math.sin(h0)])
    for i in range(len(xy) - 1):
        u = (xy[i] - rear[i]) / half_wheelbase
        r = rear[i] + u * float(u @ (xy[i + 1] - xy[i]))
        v = xy[i + 1] - r
        rear[i + 1] = xy[i + 1] - half_wheelbase * v / np.linalg.norm(v)
    front = 2.0 * xy - rear
    yaw = np.arctan2(xy[:, 1] - rear[:, 1], xy[:, 0] - rear[:, 0])
    k = int(round(0.5 / step_m))
    return rear[::k], front[::k], yaw[::k]


# ------------------------------------------------------------- localization
@dataclass(frozen=True)
class LocSetup:
    """How the controllers are localized: mode truth | noise | filter; for the filter, the GNSS mode."""

    mode: str = "truth"
    world: object = None
    gnss: str = "zones"  # 'zones' (the world's GNSS zones) or a forced mode ('rtk_fixed', ...)
    bay_positioning: bool = True  # the cranes' bay positioning (CPS) is simulated and fused
    gnss_heading: bool = True  # a dual-antenna receiver publishes gnss/heading and the filter fuses it (shipped)


class Localizer:
    """Pose the controllers see: the truth, or the truth plus correlated noise."""

    def __init__(self, mode: str, seed: int):
        self.mode = mode
        self.rng = np.random.default_rng(seed)
        self.err = np.zeros(3)

    def tick(self, t: float, st) -> None:
        """Physics tick at t with the true state (sensors sample here; nothing to do for truth/noise)."""

    STD = {"truth": 0.0, "noise": 0.01, "white": 0.015, "heavy": 0.017, "quantized": 0.005, "late": 0.01,
           "walk": 0.02}  # reported position standard deviation [m]

    def __call__(self, st, t: float) -> PoseEstimate | None:
        rng, mode = self.rng, self.mode
        if mode == "late":
            return self._late(st, t)
        if mode == "noise":
            a = math.exp(-CTRL_DT / 1.0)
            sig = np.array([0.01, 0.01, 0.002])
            self.err = a * self.err + math.sqrt(1 - a * a) * sig * rng.standard_normal(3)
        elif mode == "white":
            self.err = np.array([0.015, 0.015, 0.002]) * rng.standard_normal(3)
        elif mode == "heavy":
            self.err = np.array([0.01, 0.01, 0.002]) * rng.standard_t(3, 3)
        elif mode == "quantized":
            q = np.round(np.array([st.x, st.y]) / 0.01) * 0.01 - np.array([st.x, st.y])
            self.err = np.append(q + 0.003 * rng.standard_normal(2), 0.001 * rng.standard_normal())
        elif mode == "walk":
            self.err = self.err + np.array([0.005, 0.005, 0.0005]) * math.sqrt(CTRL_DT) * rng.standard_normal(3)
        e = self.err
        return PoseEstimate(t, st.x + e[0], st.y + e[1], st.yaw + e[2], st.speed_mps, st.yaw_rate_radps,
                            std_xy_m=self.STD[mode])

    def _late(self, st, t: float) -> PoseEstimate:
        """1 cm white, measured at 20 Hz and delivered 60-120 ms later."""
        if not hasattr(self, "_queue"):
            self._queue, self._next_sample, self._current = [], 0.0, None
        if t >= self._next_sample - 1e-9:
            e = 0.01 * self.rng.standard_normal(2)
            latency = float(self.rng.uniform(0.06, 0.12))
            self._queue.append((t + latency, PoseEstimate(t, st.x + e[0], st.y + e[1], st.yaw, st.speed_mps,
                                                          st.yaw_rate_radps, std_xy_m=0.01)))
            self._next_sample = t + 0.05
        while self._queue and self._queue[0][0] <= t + 1e-9:
            self._current = self._queue.pop(0)[1]
        return self._current


class FilterLocalizer(Localizer):
    """The localization filter in the loop: simulator sensors -> screening -> filter -> 50 Hz output."""

    def __init__(self, setup: LocSetup, seed: int, start: Pose2D):
        world = setup.world
        ct = world.carrier_type
        lever = (ct.gnss_antenna_m[0], ct.gnss_antenna_m[1])
        # The carrier starts at rest on its start pose, as if parked on a marked spot: the filter may take
        # its heading from it (unless a world spot is already there, which it uses anyway).
        near = any(math.hypot(sp.x - start.x, sp.y - start.y) < 2.0 for sp in world_spots(world))
        extra = [] if near else [SpotPose("bench_start", start.x, start.y, start.yaw)]
        self.loop = FilterLoop(world, lever, -ct.wheelbase_m / 2.0, extra_spots=extra,
                               use_bay_positioning=setup.bay_positioning, use_heading=setup.gnss_heading)
        self.sensors = CarrierSensors(world, ct, SensorConfig(bay_positioning_enabled=setup.bay_positioning,
                                                              gnss_heading_enabled=setup.gnss_heading),
                                      seed=seed, vehicle_index=0)
        if setup.gnss != "zones":
            self.sensors.force_mode(setup.gnss)
        self.mode = "filter"
        self.last: object = None  # the newest filter Estimate handed out

    def tick(self, t: float, st) -> None:
        for m in self.sensors.step(t, st):
            self.loop.feed(t, m)

    def __call__(self, st, t: float) -> PoseEstimate | None:
        est = self.loop.estimate(t)
        if est is None:
            return None
        self.last = est
        return pose_estimate(est.t, est.x, est.y, est.yaw, est.vx, est.wz, est.pose_cov[:2, :2],
                             float(est.pose_cov[2, 2]))


def make_localizer(setup: LocSetup, seed: int, start: Pose2D) -> Localizer:
    if setup.mode == "filter":
        return FilterLocalizer(setup, seed, start)
    return Localizer(setup.mode, seed)


# -------------------------------------------------------------- controllers
@dataclass
class RunResult:
    lateral: list[float] = field(default_factory=list)
    lateral_est: list[float] = field(default_factory=list)  # estimate's distance to the line (filter mode)
    fixed: list[bool] = field(default_factory=list)  # receiver in RTK fixed at that sample (filter mode)
    where: list[tuple] = field(default_factory=list)  # (t, s, x, y, receiver mode, filter σ) per sample (filter mode)
    speed: list[float] = field(default_factory=list)
    step_s: list[float] = field(default_factory=list)
    failed: str = ""
    final_error: dict | None = None
    t_dock: float = math.nan
    t_total: float = 0.0


class Ours:
    name = "ours: preview LQ + speed chain (agv_nav)"

    def __init__(self, carrier, params=None):
        self.carrier = carrier
        self.params = params or PathFollowerParams()

    def start(self, doc, pose: PoseEstimate | None, ref: ReferencePath):
        self.f = PathFollower(self.params, self.carrier, "carrier_01")
        if pose is not None:
            self.f.update_pose(pose)
        reason = self.f.set_route(doc)
        if reason:
            raise RuntimeError(reason)

    def command(self, t, pose):
        if pose is not None:
            self.f.update_pose(pose)
        t0 = time.thread_time()
        c = self.f.step(t)
        return c.v_mps, c.yaw_rate_radps, time.thread_time() - t0

    def done(self):
        return self.f.state in ("docked", "fault")


class Rpp:
    def __init__(self, carrier, scaled: bool):
        self.carrier = carrier
        self.scaled = scaled
        self.name = "Nav2 RPP, lookahead scaled to the carrier" if scaled else "Nav2 RPP, Nav2 defaults"

    def start(self, doc, pose, ref: ReferencePath):
        a = self.carrier.wheelbase_m / 2
        rear, _, _ = reference_point_paths(ref, a)
        # RPP has one desired speed (lane limits would come from a speed-filter costmap): the bay lane's.
        speed = doc["speed_limits_mps"][-2] if len(doc["speed_limits_mps"]) > 1 else doc["speed_limits_mps"][0]
        p = RppParams(desired_linear_vel=speed)
        if self.scaled:  # lookahead_time default 1.5 s; bounds sized for a 15 m, 8 m-wheelbase carrier;
            p.use_velocity_scaled_lookahead_dist = True  # approach scaling over the braking distance at 0.8 m/s^2
            p.min_lookahead_dist, p.max_lookahead_dist = 3.0, 15.0
            p.approach_velocity_scaling_dist = max(p.approach_velocity_scaling_dist, speed * speed / (2 * 0.8))
        self.a = a
        self.rpp = RegulatedPurePursuit(rear, p)

    def command(self, t, pose):
        if pose is None:  # no localization yet: stand
            return 0.0, 0.0, 0.0
        rx, ry = pose.x - self.a * math.cos(pose.yaw), pose.y - self.a * math.sin(pose.yaw)
        t0 = time.thread_time()
        v, w = self.rpp.compute(rx, ry, pose.yaw, pose.speed_mps)
        return v, w, time.thread_time() - t0

    def done(self):
        return self.rpp.goal_reached


class PythonRoboticsPeer:
    """A PythonRobotics steering law with our speed command (shadow follower)."""

    def __init__(self, carrier, kind: str, root: Path):
        self.carrier, self.kind = carrier, kind
        sys.path.insert(0, str(root))
        mod = {"pure_pursuit": "PathTracking.pure_pursuit.pure_pursuit",
               "stanley": "PathTracking.stanley_control.stanley_control",
               "rear_wheel_feedback": "PathTracking.rear_wheel_feedback_control.rear_wheel_feedback_control"}[kind]
        self.m = importlib.import_module(mod)
        self.m.show_animation = False
        L = carrier.wheelbase_m
        if kind == "pure_pursuit":
            self.m.WB, self.m.MAX_STEER = L, carrier.max_steering_angle_rad
        else:
            self.m.L = L
            if kind == "stanley":
                self.m.max_steer = carrier.max_steering_angle_rad
        self.name = {"pure_pursuit": "PythonRobotics pure pursuit", "stanley": "PythonRobotics Stanley",
                     "rear_wheel_feedback": "PythonRobotics rear-wheel feedback"}[kind]

    def start(self, doc, pose, ref: ReferencePath):
        self.shadow = Ours(self.carrier)
        self.shadow.start(doc, pose, ref)
        a = self.carrier.wheelbase_m / 2
        self.a = a
        rear, front, yaw = reference_point_paths(ref, a)
        ext = 20.0  # their index searches run past the end of the course: extend it straight
        def extend(p):
            d = p[-1] - p[-2]
            d = d / np.linalg.norm(d)
            return np.vstack([p, p[-1] + np.outer(np.arange(0.5, ext, 0.5), d)])
        if self.kind == "pure_pursuit":
            pts = extend(rear)  # 0.5 m spacing, as their demo course
            self.course = self.m.TargetCourse(list(pts[:, 0]), list(pts[:, 1]))
            self.pind = None
        elif self.kind == "stanley":
            pts = extend(front)
            d = np.diff(pts, axis=0)
            self.cx, self.cy = list(pts[:, 0]), list(pts[:, 1])
            self.cyaw = list(np.append(np.arctan2(d[:, 1], d[:, 0]), math.atan2(d[-1, 1], d[-1, 0])))
            self.idx = 0
        else:
            self.rear_ref = ReferencePath(rear)
            self.hint = None

    def command(self, t, pose):
        v_cmd, _, _ = self.shadow.command(t, pose)
        if pose is None:
            return 0.0, 0.0, 0.0
        a, L = self.a, self.carrier.wheelbase_m
        rx, ry = pose.x - a * math.cos(pose.yaw), pose.y - a * math.sin(pose.yaw)
        v = max(pose.speed_mps, 0.0)
        t0 = time.thread_time()
        if self.kind == "pure_pursuit":
            st = self.m.State(x=pose.x, y=pose.y, yaw=pose.yaw, v=v)
            if self.pind is None:
                self.pind, _ = self.course.search_target_index(st)
            delta, self.pind = self.m.pure_pursuit_steer_control(st, self.course, self.pind)
        elif self.kind == "stanley":
            st = self.m.State(x=rx, y=ry, yaw=pose.yaw, v=v)
            delta, self.idx = self.m.stanley_control(st, self.cx, self.cy, self.cyaw, self.idx)
            delta = float(np.clip(delta, -self.m.max_steer, self.m.max_steer))
        else:
            pr = self.rear_ref.project(rx, ry, self.hint)
            self.hint = pr.index
            st = self.m.State(x=rx, y=ry, yaw=pose.yaw, v=max(v, 1e-3))
            delta = self.m.rear_wheel_feedback_control(st, pr.lateral_m, pr.curvature, pr.heading_rad)
        dt = time.thread_time() - t0
        delta = float(np.clip(delta, -self.carrier.max_steering_angle_rad, self.carrier.max_steering_angle_rad))
        v_eff = v_cmd if abs(v_cmd) >= 0.05 else 0.05
        return v_cmd, v_eff * math.tan(delta) / L, dt

    def done(self):
        return self.shadow.done()


# ------------------------------------------------------------------- runner
def bay_frame(goal: Pose2D, x: float, y: float, yaw: float) -> dict:
    """Error of a pose from the goal pose in the goal's frame: along, across [m], yaw [rad]."""
    c, s = math.cos(goal.yaw), math.sin(goal.yaw)
    dx, dy = x - goal.x, y - goal.y
    return {"along": c * dx + s * dy, "across": -s * dx + c * dy, "yaw": wrap_angle(yaw - goal.yaw)}


def run(controller, carrier, pts, limits, goal, goal_id, start: Pose2D, loc_setup: LocSetup, seed: int,
        t_max: float, measure_from_s: float = 5.0) -> RunResult:
    doc = route_doc(pts, limits, goal, goal_id, "bench")
    ref = ReferencePath(pts)
    model = CarrierModel(carrier, start)
    loc = make_localizer(loc_setup, seed, start)
    res = RunResult()
    t = 0.0
    controller.start(doc, loc(model.state, t), ref)
    hint = None
    ratio = int(round(CTRL_DT / SIM_DT))
    goal_s = ref.project(goal.x, goal.y).s_m
    t_at_20m = math.nan
    stopped_since = None
    max_std = 0.0

    def physics(v: float, w: float) -> None:
        nonlocal t
        model.command(t, v, w)
        for _ in range(ratio):
            t += SIM_DT
            model.step(t, SIM_DT)
            loc.tick(t, model.state)

    while t < t_max:
        st = model.state
        pr = ref.project(st.x, st.y, hint)
        hint = pr.index
        if abs(pr.lateral_m) > LEFT_LANE_M:
            res.failed = f"left the lane at s = {pr.s_m:.0f} m"
            break
        if math.isnan(t_at_20m) and goal_s - pr.s_m <= 20.0:
            t_at_20m = t
        pose = loc(st, t)
        if measure_from_s <= pr.s_m <= ref.length_m - 1.0:
            res.lateral.append(pr.lateral_m)
            res.speed.append(st.speed_mps)
            if isinstance(loc, FilterLocalizer) and pose is not None:
                res.lateral_est.append(ref.project(pose.x, pose.y, hint).lateral_m)
                res.fixed.append(loc.sensors.mode == "rtk_fixed")
                res.where.append((t, pr.s_m, st.x, st.y, loc.sensors.mode, pose.std_xy_m))
        if pose is not None and goal_s - pr.s_m <= 20.0:
            max_std = max(max_std, pose.std_xy_m)
        v, w, dt_step = controller.command(t, pose)
        if pose is not None:
            res.step_s.append(dt_step)
        physics(v, w)
        if controller.done() and abs(model.state.speed_mps) < 0.01:
            stopped_since = stopped_since if stopped_since is not None else t
            if t - stopped_since > 0.0:
                break
    res.t_total = t
    res.t_dock = t - t_at_20m
    at_docked = loc.loop.estimate(t) if isinstance(loc, FilterLocalizer) else None
    truth_docked = model.state
    # Let the drive's lag settle (2 s at zero command) and measure where the deck centre stands.
    while t < res.t_total + 2.0 - 1e-9:
        physics(0.0, 0.0)
    st = model.state
    res.final_error = bay_frame(goal, st.x, st.y, st.yaw)
    if at_docked is not None:
        est = loc.loop.estimate(t)
        # When the follower judged the docking: where it believed the deck stood (controller error) and
        # how wrong that belief was (localization error, truth - estimate), both in the bay frame.
        res.final_error["estimate"] = bay_frame(goal, at_docked.x, at_docked.y, at_docked.yaw)
        res.final_error["loc"] = bay_frame(goal, truth_docked.x - at_docked.x + goal.x,
                                           truth_docked.y - at_docked.y + goal.y, goal.yaw)
        # After settling: how far the estimate moved while the carrier stood (float fixes pull it).
        res.final_error["estimate_drift"] = math.hypot(est.x - at_docked.x, est.y - at_docked.y)
        res.final_error["std_xy"] = float(np.sqrt(max(np.linalg.eigvalsh(est.pose_cov[:2, :2]))))
        res.final_error["max_std_20m"] = max_std
        res.final_error["gnss_mode"] = loc.sensors.mode
    return res


def fmt_cm(v: float) -> str:
    return f"{v * 100:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pythonrobotics", type=Path, help="checkout of AtsushiSakai/PythonRobotics (peers)")
    ap.add_argument("--speeds", type=float, nargs="+", default=[2.0, 4.0, 6.0])
    ap.add_argument("--dockings", type=int, default=120)
    ap.add_argument("--localization", nargs="+", default=["truth"],
                    choices=("truth", "noise", "white", "heavy", "quantized", "late", "walk", "filter"),
                    help="how the controllers are localized (module docstring); several are run one after the other")
    ap.add_argument("--gnss", choices=("zones", "rtk_fixed", "rtk_float"), default="zones",
                    help="with --localization filter: the world's GNSS zones, or one mode forced everywhere")
    ap.add_argument("--no-bay-positioning", action="store_true",
                    help="with --localization filter: without the cranes' bay positioning (GNSS, odometry, IMU only)")
    ap.add_argument("--no-gnss-heading", action="store_true",
                    help="with --localization filter: a single-antenna receiver (no gnss/heading; the shipped "
                         "configuration has a dual-antenna one: sensors.gnss_heading_enabled, use_gnss_heading)")
    ap.add_argument("--controllers", nargs="+", choices=("ours", "rpp", "rpp_scaled"),
                    default=["ours", "rpp", "rpp_scaled"], help="which of ours and the Nav2 RPP peers to run")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--parts", choices=("all", "cross-track", "docking"), default="all")
    ap.add_argument("--excursions-cm", type=float, default=0.0,
                    help="with --localization filter, cross-track: list where along the routes the deck is more "
                         "than this far off the line (GNSS mode history, filter σ, localization error)")
    args = ap.parse_args()
    console = Console(width=220)
    world = load_world(REPO / "sim_worlds" / "youyiguan.yaml")
    ct = world.carrier_type
    routes = youyiguan_routes(world, [("cn_park_1", "vn_bay_b1"), ("vn_park_1", "cn_bay_a2")])

    made = {"ours": lambda: Ours(ct), "rpp": lambda: Rpp(ct, scaled=False), "rpp_scaled": lambda: Rpp(ct, scaled=True)}
    controllers = [made[k]() for k in args.controllers]
    if args.pythonrobotics:
        for kind in ("pure_pursuit", "stanley", "rear_wheel_feedback"):
            controllers.append(PythonRoboticsPeer(ct, kind, args.pythonrobotics))

    compute: dict[str, list[float]] = {}
    summary: list[tuple] = []
    for mode in args.localization:
        args.mode = mode
        args.loc = LocSetup(mode, world, args.gnss, not args.no_bay_positioning, not args.no_gnss_heading)
        args.loc_label = mode if mode != "filter" else \
            f"filter (GNSS: {args.gnss}, bay positioning: {'off' if args.no_bay_positioning else 'on'}, " \
            f"GNSS heading: {'off' if args.no_gnss_heading else 'on'})"
        if args.parts in ("all", "cross-track"):
            cross_track(args, console, ct, routes, controllers, compute)
        if args.parts in ("all", "docking"):
            summary += docking(args, console, world, ct,
                               [c for c in controllers if not isinstance(c, PythonRoboticsPeer)])
    if len(summary) > 1:
        table = Table(title="Stop error at the bay by localization model (deck centre after settling, cm)")
        for col in ("controller", "localization", "n", "along |mean| | p95 | max", "radial p95", "failed"):
            table.add_column(col, justify="left" if col in ("controller", "localization") else "right")
        for row in summary:
            table.add_row(*row)
        console.print(table)
    if compute:
        comp = Table(title="Controller compute per step (Python 3, this machine, all steps of the cross-track runs)")
        for col in ("controller", "mean µs", "p99 µs", "steps/s"):
            comp.add_column(col, justify="right" if col != "controller" else "left")
        for name, steps in compute.items():
            a = np.asarray(steps) * 1e6
            comp.add_row(name, f"{a.mean():.0f}", f"{np.percentile(a, 99):.0f}", f"{1e6 / a.mean():.0f}")
        console.print(comp)


def cross_track(args, console, ct, routes, controllers, compute) -> None:
    table = Table(title=f"Cross-track error of the deck centre, Youyiguan routes "
                        f"({' + '.join(r.name for r in routes)}, {sum(len(r.points) for r in routes)} points), "
                        f"localization: {args.loc_label}")
    cols = ["controller", "target m/s", "RMS cm", "max cm", "mean m/s", "route time s", "µs/step", "steps/s"]
    if args.mode == "filter":
        cols += ["RMS | max cm, RTK fixed", "RMS | max cm, degraded GNSS", "% degraded",
                 "controller: estimate vs line RMS | max cm", "localization: lateral error RMS | max cm"]
    for col in cols:
        table.add_column(col, justify="right" if col != "controller" else "left")

    def rms_max(a) -> str:
        a = np.asarray(a)
        return "—" if a.size == 0 else f"{fmt_cm(float(np.sqrt(np.mean(a**2))))} | {fmt_cm(float(np.max(np.abs(a))))}"

    for ctrl in controllers:
        for v in args.speeds:
            lat, spd, steps, fails, t_tot = [], [], [], [], 0.0
            lat_f, lat_e, fixed = [], [], []
            for r in routes:
                limits = np.full(len(r.points), v)
                start = Pose2D(float(r.points[0, 0]), float(r.points[0, 1]),
                               math.atan2(*(r.points[1] - r.points[0])[::-1]))
                res = run(ctrl, ct, r.points, limits, r.goal, r.goal_id, start, args.loc, args.seed,
                          t_max=4.0 * 1400.0 / v)
                lat += res.lateral
                spd += res.speed
                if res.lateral_est:  # the samples with an estimate (the carrier stands until there is one)
                    lat_f += res.lateral[-len(res.lateral_est):]
                    lat_e += res.lateral_est
                    fixed += res.fixed
                steps += res.step_s
                t_tot += res.t_total
                if res.failed:
                    fails.append(f"{r.name}: {res.failed}")
                if args.excursions_cm > 0.0 and res.where:
                    print_excursions(console, f"{ctrl.name} @ {v:g} m/s, {r.name}", res, args.excursions_cm / 100.0)
            e = np.asarray(lat) if lat else np.array([math.nan])
            compute.setdefault(ctrl.name, []).extend(steps)
            mean_us = np.mean(steps) * 1e6
            row = [ctrl.name, f"{v:g}", fmt_cm(float(np.sqrt(np.mean(e**2)))), fmt_cm(float(np.max(np.abs(e)))),
                   f"{np.mean(spd) if spd else math.nan:.2f}", f"{t_tot:.0f}", f"{mean_us:.0f}", f"{1e6 / mean_us:.0f}"]
            if fails:
                row[3] += " FAILED: " + "; ".join(fails)
            if args.mode == "filter":
                tr, es, fx = np.asarray(lat_f), np.asarray(lat_e), np.asarray(fixed, dtype=bool)
                row += [rms_max(tr[fx]), rms_max(tr[~fx]), f"{100.0 * (1 - fx.mean()) if fx.size else 0:.0f}",
                        rms_max(es), rms_max(tr - es)]
            table.add_row(*row)
            console.print(f"  {ctrl.name} @ {v:g} m/s done", style="dim")
    console.print(table)


def print_excursions(console, title: str, res: RunResult, threshold_m: float) -> None:
    """Diagnostic: the stretches where the deck is more than ``threshold_m`` off the line, with their context.

    For each stretch (samples less than 2 s apart merged): time, route station and position of its
    worst sample, the receiver's mode history over the 30 s before it (mode and seconds in it), the
    filter's σ, and the deck's, the estimate's and the localization's lateral errors at the worst sample.
    """
    tr = np.asarray(res.lateral[-len(res.lateral_est):])
    es = np.asarray(res.lateral_est)
    where = res.where
    idx = np.flatnonzero(np.abs(tr) > threshold_m)
    table = Table(title=f"Cross-track excursions > {threshold_m * 100:.0f} cm: {title}")
    for col in ("t s", "s m", "x, y m", "samples", "deck | estimate vs line | loc error cm at worst",
                "filter σ cm", "receiver modes over the 30 s before (mode s)"):
        table.add_column(col)
    groups: list[list[int]] = []
    for i in idx:
        if groups and where[i][0] - where[groups[-1][-1]][0] < 2.0:
            groups[-1].append(int(i))
        else:
            groups.append([int(i)])
    for g in groups:
        w = max(g, key=lambda i: abs(tr[i]))
        t, s_m, x, y, _, sig = where[w]
        hist: list[list] = []
        for tt, _, _, _, mode, _ in where:
            if t - 30.0 <= tt <= t:
                if hist and hist[-1][0] == mode:
                    hist[-1][2] = tt
                else:
                    hist.append([mode, tt, tt])
        modes = ", ".join(f"{m} {b - a:.1f}" for m, a, b in hist)
        table.add_row(f"{t:.1f}", f"{s_m:.0f}", f"{x:.1f}, {y:.1f}", str(len(g)),
                      f"{tr[w] * 100:+.1f} | {es[w] * 100:+.1f} | {(tr[w] - es[w]) * 100:+.1f}",
                      f"{sig * 100:.1f}", modes)
    console.print(table)
    for g in groups:  # the localization error's history before each excursion, once a second
        w = max(g, key=lambda i: abs(tr[i]))
        t_w, last, line = where[w][0], -math.inf, []
        for i, (tt, _, _, _, mode, sig) in enumerate(where):
            if t_w - 30.0 <= tt <= t_w and tt - last >= 1.0 - 1e-6:
                last = tt
                line.append(f"{tt:.0f} {mode} {(tr[i] - es[i]) * 100:+.1f}±{sig * 100:.1f}")
        console.print(f"  before t = {t_w:.1f} s (t, receiver mode, localization lateral error ± filter σ, cm): "
                      + "; ".join(line), soft_wrap=True)


def docking(args, console, world, ct, controllers) -> list[tuple]:
    rng = np.random.default_rng(args.seed)
    bays = [b.id for b in world.carrier_bays()]
    sources = {b: ("cn_park_1" if b.startswith("vn") else "vn_park_1") for b in bays}
    bay_routes = {b: youyiguan_routes(world, [(sources[b], b)])[0] for b in bays}
    rng_sky = np.random.default_rng(args.seed + 1000)  # own stream: the other draws stay those of truth/noise
    antenna_x = ct.gnss_antenna_m[0]
    degraded_entry = {b: degraded_zone_entry(world, r.points) - antenna_x for b, r in bay_routes.items()}
    cases = []
    for k in range(args.dockings):
        b = bays[k % len(bays)]
        r = bay_routes[b]
        total = float(np.sum(np.linalg.norm(np.diff(r.points, axis=0), axis=1)))
        back = float(rng.uniform(25.0, 150.0))
        s0 = total - back
        if args.mode == "filter":  # start in open sky (the carrier arrives with a converged filter)
            s0 = min(s0, degraded_entry[b] - float(rng_sky.uniform(5.0, 30.0)))
        cases.append((b, s0, float(rng.uniform(-0.3, 0.3)), float(rng.uniform(-0.03, 0.03))))
    dock_table = Table(title=f"Docking at the 8 Youyiguan carrier bays: {args.dockings} approaches from 25-150 m, "
                             f"lateral offset ±0.3 m, heading ±0.03 rad, lane speed limits; localization: "
                             f"{args.loc_label}; error of the deck centre after settling")
    for col in ("controller", "n", "along mean|p95|max cm", "across mean|p95|max cm", "radial p95 cm",
                "yaw p95 mrad", "time from 20 m s (mean|p95)", "fails"):
        dock_table.add_column(col, justify="right" if col != "controller" else "left")
    split: dict[str, list[dict]] = {}
    rows: list[tuple] = []
    for ctrl in controllers:
        along, across, yaw, tdock, fails = [], [], [], [], 0
        for i, (b, s0, dy, dyaw) in enumerate(cases):
            r = bay_routes[b]
            pts, lim, start = trim_route(r, s0)
            start = Pose2D(start.x - dy * math.sin(start.yaw), start.y + dy * math.cos(start.yaw), start.yaw + dyaw)
            res = run(ctrl, ct, pts, lim, r.goal, r.goal_id, start, args.loc, args.seed + i, t_max=400.0)
            if res.failed or res.final_error is None:
                fails += 1
                continue
            along.append(res.final_error["along"])
            across.append(res.final_error["across"])
            yaw.append(res.final_error["yaw"])
            tdock.append(res.t_dock)
            if "loc" in res.final_error:
                split.setdefault(ctrl.name, []).append(res.final_error)
        if not along:
            dock_table.add_row(ctrl.name, "0", "—", "—", "—", "—", "—", str(fails))
            continue
        al, ac, yw = np.abs(along), np.abs(across), np.abs(yaw)
        radial = np.hypot(al, ac)
        rows.append((ctrl.name, args.loc_label, str(len(al)),
                     f"{fmt_cm(al.mean())} | {fmt_cm(np.percentile(al, 95))} | {fmt_cm(al.max())}",
                     fmt_cm(np.percentile(radial, 95)), str(fails)))
        dock_table.add_row(
            ctrl.name, str(len(al)),
            f"{fmt_cm(al.mean())} | {fmt_cm(np.percentile(al, 95))} | {fmt_cm(al.max())}",
            f"{fmt_cm(ac.mean())} | {fmt_cm(np.percentile(ac, 95))} | {fmt_cm(ac.max())}",
            fmt_cm(np.percentile(radial, 95)), f"{np.percentile(yw, 95) * 1e3:.1f}",
            f"{np.mean(tdock):.1f} | {np.percentile(tdock, 95):.1f}", str(fails))
        console.print(f"  docking with {ctrl.name} done (signed along mean {np.mean(along) * 100:+.2f} cm)",
                      style="dim")
    console.print(dock_table)
    if split:
        console.print(error_split_table(split))
    return rows


def error_split_table(split: dict[str, list[dict]]) -> Table:
    """Docking error split: controller (estimate vs bay) and localization (truth vs estimate) at the bay."""
    t = Table(title="Docking error split: total = truth - bay after settling; when the follower judged the "
                    "docking: controller = estimate - bay, localization = truth - estimate; |value| mean | p95 | "
                    "max cm")
    for col in ("controller", "total along", "total across", "controller along", "controller across",
                "localization along", "localization across", "estimate drift while standing 2 s (p95)",
                "reported σ at bay cm (mean|p95)",
                "max σ in last 20 m cm (p95)", "GNSS at the bay"):
        t.add_column(col, justify="right" if col != "controller" else "left")

    def mpm(v) -> str:
        a = np.abs(np.asarray(v))
        return f"{fmt_cm(a.mean())} | {fmt_cm(np.percentile(a, 95))} | {fmt_cm(a.max())}"

    for name, rows in split.items():
        modes: dict[str, int] = {}
        for r in rows:
            modes[r["gnss_mode"]] = modes.get(r["gnss_mode"], 0) + 1
        std = np.array([r["std_xy"] for r in rows])
        mx = np.array([r["max_std_20m"] for r in rows])
        t.add_row(name, mpm([r["along"] for r in rows]), mpm([r["across"] for r in rows]),
                  mpm([r["estimate"]["along"] for r in rows]), mpm([r["estimate"]["across"] for r in rows]),
                  mpm([r["loc"]["along"] for r in rows]), mpm([r["loc"]["across"] for r in rows]),
                  fmt_cm(np.percentile([r["estimate_drift"] for r in rows], 95)),
                  f"{fmt_cm(std.mean())} | {fmt_cm(np.percentile(std, 95))}", fmt_cm(np.percentile(mx, 95)),
                  ", ".join(f"{k} {v}" for k, v in sorted(modes.items())))
    return t


def degraded_zone_entry(world, points: np.ndarray, step_m: float = 0.5) -> float:
    """Arc length along the route where the first GNSS zone worse than RTK fixed begins on its last stretch.

    The zone that matters for docking is the one around the bay: walking back from the route's end,
    the first point in open sky ends it. Returns the route length if the bay is in open sky.
    """
    ref = ReferencePath(points)
    s = ref.length_m
    while s > 0.0:
        x, y, _ = ref.pose_at(s)
        z = world.gnss_zone_at(x, y)
        if z is None or z.mode == "rtk_fixed":
            return s
        s -= step_m
    return 0.0


if __name__ == "__main__":
    main()
