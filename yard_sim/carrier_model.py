"""Ground-truth motion of one container carrier: a kinematic bicycle with actuator limits.

Method: the kinematic bicycle model about the rear axle (Rajamani, *Vehicle Dynamics and
Control*, ch. 2; Kong et al., "Kinematic and dynamic vehicle models for autonomous driving
control design", IV 2015). A container carrier drives at a few m/s on dry asphalt, where
tyre slip is negligible and the kinematic model is the standard choice. Its ``base_link`` is
the deck centre, half a wheelbase ahead of the rear axle, so the body point we report has the
proper slip angle: its lateral velocity is ``yaw_rate * wheelbase / 2`` (``lateral_speed_mps``).

The limits come from the world's ``CarrierType``:

* speed: forward ``max_speed_mps``, reverse ``max_reverse_speed_mps``;
* drive: first-order lag ``speed_time_constant_s`` towards the commanded speed, then clipped
  to ``max_acceleration_mps2`` when speeding up and ``max_deceleration_mps2`` when slowing
  down; a braking step never crosses zero speed (changing direction passes through a stop);
* steering: angle limit ``atan(wheelbase / min_turning_radius)``, first-order lag
  ``steering_time_constant_s``, rate limit ``max_steering_rate_radps``.

Integration: the lags are integrated exactly (``1 - exp(-dt/tau)``), then the limits are
applied, which keeps them stable for any step (tested from 0.001 s to 0.05 s). The pose uses
the step's midpoint speed and steering angle and moves the rear axle on the exact circular arc
of that curvature (second order, exact for a constant command once the actuators settled).

cmd_vel -> steering: ``yaw_rate = v * tan(delta) / L`` (rear-axle bicycle; the longitudinal
speed is the same at every point of the body's x axis, so the cmd_vel ``linear.x`` along
base_link x is the rear-axle speed), hence ``delta = atan(L * yaw_rate / v)``. Near standstill
(|v| < ``STANDSTILL_SPEED_MPS``) the ratio is undefined: with a yaw-rate command the carrier
steers towards that curvature as if it drove at ``STANDSTILL_SPEED_MPS`` in the commanded
direction (forward for v = 0), which saturates at the steering limit (a path follower may
pre-steer before starting); without one (|yaw_rate| < ``STANDSTILL_YAW_RATE_RADPS``) it keeps
its wheels where they are. A carrier cannot turn on the spot: at v = 0 the yaw rate is 0.

Safety layer (as on a real vehicle):

=================  ==========================================  ============================
condition          behaviour                                   deceleration
=================  ==========================================  ============================
stale command      (none yet, or older than stale_timeout_s)   ``max_deceleration_mps2``
                   brake to a stop, hold, keep the wheel angle
``battery_empty``  set when soc reaches 0; cleared when        ``max_deceleration_mps2``
                   charged above ``BATTERY_RESUME_SOC``
other faults       ``set_fault("drive_fault")`` etc.; commands  ``emergency_deceleration_mps2``
                   are ignored (not stored) until cleared
=================  ==========================================  ============================

Why the command watchdog (stale command) brakes at the service deceleration, not the emergency
one: a stale command means the controller is gone (its process died and is being restarted, a
link dropped), not that a hazard was detected — a controlled stop (IEC 60204-1 stop category 1),
as drive watchdogs do, sparing a 30 t load the emergency brake. It is also enough for traffic
safety: a path follower always keeps room to stop at its movement authority at its planned
deceleration (0.8 m/s², jerk-limited); holding the last command for ``stale_timeout_s`` (0.5 s)
and then braking at 1.5 m/s² ends within that room plus the fleet manager's
``authority_margin_m`` at every speed (``test_carrier_model``: the watchdog test). Detected
hazards (drive fault, emergency stop) brake at the emergency deceleration.

Battery: ``energy_use_kwh_per_km`` per km driven (either direction) plus ``idle_power_kw``
all the time; soc is clamped to [0, 1]. Time is passed in by the caller; nothing reads a clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from yard_model import geometry
from yard_model.world import CarrierType, Pose2D

STANDSTILL_SPEED_MPS = 0.05  # [m/s] below this cmd_vel speed, delta = atan(L*w/v) is replaced (module doc)
STANDSTILL_YAW_RATE_RADPS = 1e-3  # [rad/s] below this (at standstill) the wheels keep their angle
BATTERY_RESUME_SOC = 0.01  # [0..1] a carrier stopped by an empty battery drives again above this
FAULT_BATTERY_EMPTY = "battery_empty"


def advance_base_link(x: float, y: float, yaw: float, ds_m: float, dyaw_rad: float,
                      rear_offset_m: float) -> tuple[float, float, float]:
    """Pose of a body point ``rear_offset_m`` ahead of the rear axle after the axle drives an arc.

    The rear axle travels ``ds_m`` along a circle while the heading turns by ``dyaw_rad``
    (exact for constant curvature; a straight line when the turn is negligible). Returns
    (x [m], y [m], yaw [rad] wrapped).
    """
    rx, ry = x - rear_offset_m * math.cos(yaw), y - rear_offset_m * math.sin(yaw)
    yaw1 = yaw + dyaw_rad
    if abs(dyaw_rad) > 1e-9:
        radius = ds_m / dyaw_rad
        rx += radius * (math.sin(yaw1) - math.sin(yaw))
        ry += radius * (math.cos(yaw) - math.cos(yaw1))
    else:
        mid = yaw + 0.5 * dyaw_rad
        rx += ds_m * math.cos(mid)
        ry += ds_m * math.sin(mid)
    return rx + rear_offset_m * math.cos(yaw1), ry + rear_offset_m * math.sin(yaw1), geometry.wrap_angle(yaw1)


@dataclass
class CarrierState:
    """Ground truth of one carrier (map frame, SI units)."""

    x: float  # [m] base_link (deck centre) in map
    y: float  # [m]
    yaw: float  # [rad] counter-clockwise from east, wrapped to [-pi, pi)
    speed_mps: float  # [m/s] signed, along base_link x (= rear-axle speed)
    steer_rad: float  # [rad] front wheel angle, positive = left
    yaw_rate_radps: float  # [rad/s]
    accel_mps2: float  # [m/s^2] longitudinal, over the last step
    odometer_m: float  # [m] distance driven, either direction
    soc: float  # [0..1] battery state of charge
    lateral_speed_mps: float = 0.0  # [m/s] base_link y velocity (deck centre slips: yaw_rate * L / 2)
    charging: bool = False  # charge() was called since the previous step


class CarrierModel:
    """One carrier: latest cmd_vel in, ground-truth state out, one ``step`` per physics tick."""

    def __init__(self, carrier_type: CarrierType, pose: Pose2D, soc: float = 1.0, stale_timeout_s: float = 0.5):
        if not all(math.isfinite(v) for v in (pose.x, pose.y, pose.yaw, soc, stale_timeout_s)):
            raise ValueError("carrier pose, soc and stale timeout must be finite")
        self.type = carrier_type
        self.wheelbase_m = carrier_type.wheelbase_m
        self.max_steer_rad = carrier_type.max_steering_angle_rad
        self.stale_timeout_s = stale_timeout_s
        self.state = CarrierState(
            x=pose.x, y=pose.y, yaw=geometry.wrap_angle(pose.yaw), speed_mps=0.0, steer_rad=0.0,
            yaw_rate_radps=0.0, accel_mps2=0.0, odometer_m=0.0, soc=min(max(soc, 0.0), 1.0),
        )
        self.t = 0.0  # [s] simulation time the state belongs to (end of the last step)
        self.cmd_v_mps = 0.0
        self.cmd_yaw_rate_radps = 0.0
        self.cmd_t: float | None = None  # [s] reception time of the latest accepted command
        self.rejected_commands = 0  # NaN / inf commands
        self.ignored_commands = 0  # commands received while a fault is active
        self._fault: str | None = FAULT_BATTERY_EMPTY if self.state.soc <= 0.0 else None
        self._charged_since_step = False

    # ---------------------------------------------------------------- inputs
    def command(self, t_received: float, v_mps: float, yaw_rate_radps: float) -> bool:
        """Take the latest cmd_vel; False (and counted) if it is not finite or a fault is active.

        Speeds beyond the carrier's limits are accepted and clipped by the dynamics.
        """
        if not (math.isfinite(t_received) and math.isfinite(v_mps) and math.isfinite(yaw_rate_radps)):
            self.rejected_commands += 1
            return False
        if self._fault is not None:
            self.ignored_commands += 1
            return False
        self.cmd_v_mps, self.cmd_yaw_rate_radps, self.cmd_t = float(v_mps), float(yaw_rate_radps), float(t_received)
        return True

    def set_fault(self, fault: str | None) -> None:
        """Inject (a name, e.g. "drive_fault") or clear (None) a fault.

        While a fault is active the carrier brakes at its emergency deceleration and ignores
        commands; after clearing, it waits for a fresh command (the old one is dropped).
        ``battery_empty`` cannot be cleared while the battery is still empty.
        """
        if fault is None and self._fault == FAULT_BATTERY_EMPTY and self.state.soc < BATTERY_RESUME_SOC:
            return
        self._fault = fault
        self.cmd_t = None
        self.cmd_v_mps = self.cmd_yaw_rate_radps = 0.0

    @property
    def fault(self) -> str | None:
        """Active fault name, or None."""
        return self._fault

    def charge(self, power_kw: float, dt: float) -> None:
        """Add ``power_kw`` for ``dt`` seconds to the battery (a charging spot); clears an empty-battery fault."""
        if not (math.isfinite(power_kw) and math.isfinite(dt)) or power_kw <= 0.0 or dt <= 0.0:
            return
        s = self.state
        s.soc = min(1.0, s.soc + power_kw * dt / 3600.0 / self.type.battery_capacity_kwh)
        s.charging = True
        self._charged_since_step = True
        if self._fault == FAULT_BATTERY_EMPTY and s.soc >= BATTERY_RESUME_SOC:
            self._fault = None

    # ----------------------------------------------------------------- state
    @property
    def stale(self) -> bool:
        """True if no command was ever accepted or the latest is older than the timeout (at ``self.t``)."""
        return self.cmd_t is None or self.t - self.cmd_t > self.stale_timeout_s

    def footprint(self) -> list[tuple[float, float]]:
        """The four corners [m] of the carrier's outline in map (centred on base_link)."""
        s = self.state
        return geometry.rectangle(s.x, s.y, s.yaw, self.type.length_m, self.type.width_m)

    def rear_axle(self) -> tuple[float, float]:
        """Map position [m] of the rear axle centre (base_link - wheelbase/2 along x)."""
        s = self.state
        h = self.wheelbase_m / 2.0
        return s.x - h * math.cos(s.yaw), s.y - h * math.sin(s.yaw)

    # -------------------------------------------------------------- dynamics
    def target_steer_rad(self, v_mps: float, yaw_rate_radps: float, current_rad: float) -> float:
        """Front wheel angle [rad] that realises a cmd_vel (Ackermann, rear axle), within limits."""
        if abs(v_mps) < STANDSTILL_SPEED_MPS:
            if abs(yaw_rate_radps) < STANDSTILL_YAW_RATE_RADPS:
                return current_rad
            v_mps = STANDSTILL_SPEED_MPS if v_mps >= 0.0 else -STANDSTILL_SPEED_MPS
        delta = math.atan(self.wheelbase_m * yaw_rate_radps / v_mps)
        return min(max(delta, -self.max_steer_rad), self.max_steer_rad)

    def _next_speed(self, v: float, dt: float, braking_decel: float | None) -> float:
        """Speed [m/s] after dt: exact first-order lag, then acceleration limits (no zero crossing when braking)."""
        ct = self.type
        if braking_decel is not None:  # safety layer: constant deceleration to a stop
            dv = braking_decel * dt
            return 0.0 if abs(v) <= dv else v - math.copysign(dv, v)
        target = min(max(self.cmd_v_mps, -ct.max_reverse_speed_mps), ct.max_speed_mps)
        lagged = target + (v - target) * math.exp(-dt / ct.speed_time_constant_s) \
            if ct.speed_time_constant_s > 0.0 else target
        dv = lagged - v
        speeding_up = v == 0.0 or dv * v > 0.0
        limit = (ct.max_acceleration_mps2 if speeding_up else ct.max_deceleration_mps2) * dt
        dv = min(max(dv, -limit), limit)
        if not speeding_up and abs(dv) > abs(v):  # a braking step ends at standstill
            return 0.0
        return v + dv

    def _next_steer(self, delta: float, target: float, dt: float) -> float:
        """Wheel angle [rad] after dt: exact first-order lag, then the rate and angle limits."""
        ct = self.type
        lagged = target + (delta - target) * math.exp(-dt / ct.steering_time_constant_s) \
            if ct.steering_time_constant_s > 0.0 else target
        max_step = ct.max_steering_rate_radps * dt
        step = min(max(lagged - delta, -max_step), max_step)
        return min(max(delta + step, -self.max_steer_rad), self.max_steer_rad)

    def step(self, t: float, dt: float) -> None:
        """Advance the truth by dt [s] to simulation time t [s] (t = end of the step).

        Staleness is judged at t: a command received at t_received drives the carrier until
        t - t_received exceeds ``stale_timeout_s``.
        """
        if not (dt > 0.0 and math.isfinite(dt) and math.isfinite(t)):
            return
        s, ct, L = self.state, self.type, self.wheelbase_m
        self.t = t
        if self._fault is None and s.soc <= 0.0:
            self.set_fault(FAULT_BATTERY_EMPTY)
        if self._fault is not None:
            braking = ct.max_deceleration_mps2 if self._fault == FAULT_BATTERY_EMPTY else ct.emergency_deceleration_mps2
        elif self.stale:
            braking = ct.max_deceleration_mps2
        else:
            braking = None

        v0, d0 = s.speed_mps, s.steer_rad
        v1 = self._next_speed(v0, dt, braking)
        d_target = d0 if braking is not None else self.target_steer_rad(self.cmd_v_mps, self.cmd_yaw_rate_radps, d0)
        d1 = self._next_steer(d0, d_target, dt)

        # Midpoint speed and curvature; the rear axle moves on the exact arc of that curvature.
        ds = 0.5 * (v0 + v1) * dt
        s.x, s.y, s.yaw = advance_base_link(s.x, s.y, s.yaw, ds, ds * math.tan(0.5 * (d0 + d1)) / L, L / 2.0)
        s.speed_mps, s.steer_rad = v1, d1
        s.accel_mps2 = (v1 - v0) / dt
        s.yaw_rate_radps = v1 * math.tan(d1) / L
        s.lateral_speed_mps = s.yaw_rate_radps * L / 2.0
        s.odometer_m += abs(ds)

        used_kwh = ct.energy_use_kwh_per_km * abs(ds) / 1000.0 + ct.idle_power_kw * dt / 3600.0
        s.soc = max(0.0, s.soc - used_kwh / ct.battery_capacity_kwh)
        if s.soc <= 0.0 and self._fault is None:
            self.set_fault(FAULT_BATTERY_EMPTY)
        s.charging = self._charged_since_step
        self._charged_since_step = False
