"""Readable route scenarios and a closed loop for the path follower tests and the benchmark.

``Straight(20) + LeftTurn(15) + Straight(10)`` builds a route polyline the way the fleet manager sends
lanes (straight legs as end points, arcs sampled every metre); ``drive`` closes the loop through the
simulator's ``CarrierModel`` (actuator lags, steering-rate limit) with ground-truth poses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from agv_nav.follower import PathFollower, PoseEstimate
from agv_nav.follower_params import PathFollowerParams
from yard_model.world import CarrierType, Pose2D
from yard_sim.carrier_model import CarrierModel

ORIGIN = Pose2D(0.0, 0.0, 0.0)


@dataclass
class Piece:
    """One piece of a route: a straight (radius 0) or an arc turning ``angle_deg`` (+ left)."""

    length_m: float = 0.0
    radius_m: float = 0.0
    angle_deg: float = 0.0

    def __add__(self, other: Piece | Pieces) -> Pieces:
        return Pieces([self]) + other

    def points(self, start: Pose2D = ORIGIN, step_m: float = 1.0) -> np.ndarray:
        return Pieces([self]).points(start, step_m)


@dataclass
class Pieces:
    items: list[Piece] = field(default_factory=list)

    def __add__(self, other: Piece | Pieces) -> Pieces:
        more = other.items if isinstance(other, Pieces) else [other]
        return Pieces(self.items + more)

    def points(self, start: Pose2D = ORIGIN, step_m: float = 1.0) -> np.ndarray:
        x, y, h = start.x, start.y, start.yaw
        out = [(x, y)]
        for p in self.items:
            if p.radius_m == 0.0:
                x, y = x + p.length_m * math.cos(h), y + p.length_m * math.sin(h)
                out.append((x, y))
                continue
            turn = math.radians(p.angle_deg)
            n = max(2, int(math.ceil(abs(turn) * p.radius_m / step_m)))
            sign = math.copysign(1.0, turn)
            cx, cy = x - sign * p.radius_m * math.sin(h), y + sign * p.radius_m * math.cos(h)
            a0 = math.atan2(y - cy, x - cx)
            for k in range(1, n + 1):
                a = a0 + turn * k / n
                out.append((cx + p.radius_m * math.cos(a), cy + p.radius_m * math.sin(a)))
            x, y = out[-1]
            h += turn
        return np.array(out)


def Straight(length_m: float) -> Piece:  # noqa: N802 - reads like the scenario it builds
    return Piece(length_m=length_m)


def LeftTurn(radius_m: float, angle_deg: float = 90.0) -> Piece:  # noqa: N802
    return Piece(radius_m=radius_m, angle_deg=abs(angle_deg))


def RightTurn(radius_m: float, angle_deg: float = 90.0) -> Piece:  # noqa: N802
    return Piece(radius_m=radius_m, angle_deg=-abs(angle_deg))


def SBend(radius_m: float, angle_deg: float = 40.0) -> Pieces:  # noqa: N802
    return LeftTurn(radius_m, angle_deg) + RightTurn(radius_m, angle_deg)


def route_doc(points, speed_mps: float, dock: bool = True, route_id: str = "r1", carrier_id: str = "carrier_01",
              authority_m: float | None = None) -> dict:
    """A carrier_route document ending with a goal at the last point, heading along the last segment."""
    pts = [[float(p[0]), float(p[1])] for p in points]
    yaw = math.atan2(pts[-1][1] - pts[-2][1], pts[-1][0] - pts[-2][0])
    doc = {"route_id": route_id, "carrier_id": carrier_id, "points": pts, "speed_limits_mps": [speed_mps] * len(pts),
           "goal": {"kind": "bay" if dock else "waypoint", "id": "bay_1", "x": pts[-1][0], "y": pts[-1][1],
                    "yaw": yaw, "dock": dock}}
    if authority_m is not None:
        doc["authority_m"] = authority_m
    return doc


@dataclass
class Trace:
    """What happened in a closed-loop run (one row per control period)."""

    t: list[float] = field(default_factory=list)
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    speed: list[float] = field(default_factory=list)
    s: list[float] = field(default_factory=list)
    lateral: list[float] = field(default_factory=list)
    state: list[str] = field(default_factory=list)
    v_cmd: list[float] = field(default_factory=list)

    def cross_track(self, after_s: float = 0.0) -> np.ndarray:
        s = np.asarray(self.s)
        return np.asarray(self.lateral)[s >= after_s]


def make_follower(carrier: CarrierType, params: PathFollowerParams | None = None,
                  carrier_id: str = "carrier_01") -> PathFollower:
    return PathFollower(params or PathFollowerParams(), carrier, carrier_id)


def drive(follower: PathFollower, model: CarrierModel, t_end: float, t0: float = 0.0, sim_dt: float = 0.01,
          on_step=None, stop_when=None, trace: Trace | None = None) -> tuple[float, Trace]:
    """Close the loop with ground-truth poses until ``t_end`` or ``stop_when(follower)``; returns (t, trace)."""
    trace = trace or Trace()
    ratio = max(1, int(round(follower.dt / sim_dt)))
    t = t0
    while t < t_end - 1e-9:
        st = model.state
        follower.update_pose(PoseEstimate(t, st.x, st.y, st.yaw, st.speed_mps, st.yaw_rate_radps))
        if on_step is not None:
            on_step(t, follower, model)
        cmd = follower.step(t)
        model.command(t, cmd.v_mps, cmd.yaw_rate_radps)
        trace.t.append(t)
        trace.x.append(st.x)
        trace.y.append(st.y)
        trace.speed.append(st.speed_mps)
        trace.s.append(follower.s)
        trace.lateral.append(follower.lateral_error)
        trace.state.append(follower.state)
        trace.v_cmd.append(cmd.v_mps)
        for _ in range(ratio):
            t += sim_dt
            model.step(t, sim_dt)
        if stop_when is not None and stop_when(follower):
            break
    return t, trace


def run_route(carrier: CarrierType, doc: dict, start: Pose2D, params: PathFollowerParams | None = None,
              t_end: float = 300.0, settle_s: float = 2.0, **kw) -> tuple[PathFollower, CarrierModel, Trace]:
    """Accept ``doc`` at ``start`` and drive until docked/arrived/fault (+ ``settle_s`` standing)."""
    f = make_follower(carrier, params, doc["carrier_id"])
    m = CarrierModel(carrier, start)
    f.update_pose(PoseEstimate(0.0, start.x, start.y, start.yaw))
    reason = f.set_route(doc)
    assert reason is None, reason
    done = lambda fo: fo.state in ("docked", "fault") or (fo.route is not None and fo.route.finished)  # noqa: E731
    t, trace = drive(f, m, t_end, stop_when=done, **kw)
    if settle_s > 0.0:
        t, trace = drive(f, m, t + settle_s, t0=t, trace=trace)
    return f, m, trace
