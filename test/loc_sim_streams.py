"""Sensor streams from the simulator's own models (``CarrierModel`` + ``CarrierSensors``), in process.

``drive`` moves a carrier from a pose with a list of legs ``(seconds, speed [m/s], yaw rate
[rad/s])`` at the simulator's 10 ms tick and returns every measurement with its arrival time
(as the simulator node would publish it) and the ground truth. Used by the localization core
and node tests; the benchmark (bench/localization.py) drives whole routes the same way.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agv_nav.localization_inputs import BayPoseReading, FixReading, HeadingReading, ImuReading, OdomReading
from yard_model.world import Pose2D
from yard_sim.carrier_model import CarrierModel
from yard_sim.sensors import CarrierSensors, GnssFix, SensorConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from sim_localization import reading_of  # noqa: E402 - the benchmarks' own conversion, one copy for both

DT = 0.01  # [s] simulator tick


@dataclass
class SimStream:
    items: list  # (arrival [s], measurement), arrival order
    truth: np.ndarray  # (N, 4): t, x, y, yaw of base_link
    lever: tuple[float, float]
    rear_axle_x_m: float

    def truth_at(self, t: float) -> tuple[float, float, float]:
        tr = self.truth
        i = int(np.clip(np.searchsorted(tr[:, 0], t) - 1, 0, len(tr) - 2))
        f = float(np.clip((t - tr[i, 0]) / (tr[i + 1, 0] - tr[i, 0]), 0.0, 1.0))
        dyaw = math.remainder(tr[i + 1, 3] - tr[i, 3], 2 * math.pi)
        return tr[i, 1] + f * (tr[i + 1, 1] - tr[i, 1]), tr[i, 2] + f * (tr[i + 1, 2] - tr[i, 2]), tr[i, 3] + f * dyaw


def drive(world, start: Pose2D, legs, seed: int = 1, t0: float = 100.0, forced: tuple = (),
          **sensor_config) -> SimStream:
    """Drive legs (seconds, speed, yaw rate); ``forced`` = ((t_from, mode | None), ...) relative to t0."""
    ct = world.carrier_type
    model = CarrierModel(ct, start)
    model.t = t0
    sensors = CarrierSensors(world, ct, dataclasses.replace(SensorConfig(), **sensor_config), seed, 0)
    schedule = [(t0 + sum(leg[0] for leg in legs[:i]), leg) for i, leg in enumerate(legs)]
    forced = sorted(forced)
    items, truth = [], []
    t = t0
    for k in range(int(round(sum(leg[0] for leg in legs) / DT))):
        t = t0 + k * DT
        while forced and t >= t0 + forced[0][0]:
            sensors.force_mode(forced.pop(0)[1])
        leg = [lg for start_t, lg in schedule if start_t <= t + 1e-9][-1]
        model.command(t, leg[1], leg[2])
        model.step(t + DT, DT)
        st = model.state
        truth.append((t + DT, st.x, st.y, st.yaw))
        items.extend((t + DT, m) for m in sensors.step(t + DT, st))
    ax, ay, _ = ct.gnss_antenna_m
    return SimStream(items, np.array(truth), (ax, ay), -ct.wheelbase_m / 2.0)


@dataclass
class FilterRun:
    """A filter fed with a stream: output sampled at 50 Hz and every fix's outcome."""

    t: np.ndarray
    est: list  # Estimate per sample time (only once initialised)
    fixes: list  # (GnssFix, Outcome | Rejected)
    filt: object

    def errors(self, stream: SimStream, t_from: float = -math.inf, t_to: float = math.inf) -> np.ndarray:
        out = []
        for t, e in zip(self.t, self.est):
            if t_from <= t <= t_to:
                x, y, _ = stream.truth_at(t)
                out.append(math.hypot(e.x - x, e.y - y))
        return np.array(out)

    def at(self, t: float):
        """The last estimate sampled at or before t."""
        i = int(np.searchsorted(self.t, t, side="right")) - 1
        return self.est[i] if i >= 0 else None


def run_filter(stream: SimStream, world, params=None, lever=None, spots=None, rate_hz: float = 50.0) -> FilterRun:
    """Feed the stream in arrival order through InputScreen and the filter, as the node does."""
    from agv_nav.localization_filter import LocalizationFilter
    from agv_nav.localization_inputs import InputScreen, Rejected
    from agv_nav.localization_params import LocalizationParams
    from agv_nav.pose_init import SpotPose

    p = params or LocalizationParams()
    if spots is None:
        spots = [SpotPose(s.id, s.pose.x, s.pose.y, s.pose.yaw) for s in world.spots.values()]
    screen = InputScreen(p, world.frame)
    filt = LocalizationFilter(p, lever or stream.lever, stream.rear_axle_x_m, spots)
    handlers = {FixReading: screen.fix, OdomReading: screen.odom, ImuReading: screen.imu,
                HeadingReading: screen.heading, BayPoseReading: screen.bay_pose}
    ts, ests, fixes = [], [], []
    next_t = stream.items[0][0]
    for arrival, m in stream.items:
        while next_t <= arrival:
            e = filt.estimate(next_t)
            if e is not None:
                ts.append(next_t)
                ests.append(e)
            next_t += 1.0 / rate_hz
        r = reading_of(m, arrival)
        z = handlers[type(r)](r)
        out = z if isinstance(z, Rejected) else filt.add(z)
        if isinstance(m, GnssFix):
            fixes.append((m, out))
    return FilterRun(np.array(ts), ests, fixes, filt)
