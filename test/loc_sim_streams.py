"""Sensor streams from the simulator's own models (``CarrierModel`` + ``CarrierSensors``), in process.

``drive`` moves a carrier from a pose with a list of legs ``(seconds, speed [m/s], yaw rate
[rad/s])`` at the simulator's 10 ms tick and returns every measurement with its arrival time
(as the simulator node would publish it) and the ground truth. Used by the localization core
and node tests; the benchmark (bench/localization.py) drives whole routes the same way.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from agv_nav.localization_inputs import FixReading, HeadingReading, ImuReading, OdomReading
from yard_model.world import Pose2D
from yard_sim.carrier_model import CarrierModel
from yard_sim.sensors import CarrierSensors, GnssFix, GnssHeading, ImuSample, SensorConfig, WheelOdom

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


def reading_of(m, arrival: float):
    """The plain reading the node makes of the message the simulator would publish."""
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
    raise TypeError(type(m))
