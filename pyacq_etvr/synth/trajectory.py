"""Gaze, eyelid and pupil-size trajectory of the synthetic eye, driven by the frame clock.

:class:`GazeTrajectory` advances one frame per :meth:`~GazeTrajectory.step` (``dt = 1 / fps``; wall time is
never read) through a small state machine of eye movements:

* **fixation** 200-600 ms: slow drift (random walk pulled back to the target) plus microsaccades (about 1.5
  per second, 0.1-0.5 degrees, 20 ms);
* **saccade** to a new target: duration from the main sequence ``D = 2.2 ms/deg * A + 21 ms`` clipped to
  30-80 ms, minimum-jerk profile, so the peak velocity ``1.875 A / D`` rises with the amplitude ``A``
  (about 400 deg/s for 10 degrees);
* **smooth pursuit** 0.4-1.5 s at 5-25 deg/s along a straight line that bounces off the gaze range;
* **blinks** on their own clock: every 2-6 s (tier dependent), 100-300 ms long, the lid closes in 30 % of
  the blink, stays shut 20 %, reopens in 50 %;
* **squints** (medium/hard tiers): the resting openness drops to 30-60 % for 0.5-2 s;
* **pupil size**: an Ornstein-Uhlenbeck process around 1 (sd 0.12, time constant 2 s), clipped 0.6-1.5.

After each step the attributes ``yaw``, ``pitch`` (degrees, + = right / up), ``openness`` (0..1) and
``pupil_scale`` hold the state of the current frame. No allocation per step.
"""

from __future__ import annotations

import math

import numpy as np

from pyacq_etvr.synth.nuisance import Tier

#: gaze angle (degrees) that maps to a normalised gaze of 1.0
GAZE_FULL_SCALE_DEG = 30.0

_FIXATION, _SACCADE, _PURSUIT = 0, 1, 2


def main_sequence_duration_s(amplitude_deg: float) -> float:
    """Saccade duration (s) for an amplitude in degrees: 2.2 ms/deg * A + 21 ms, clipped to 30-80 ms."""
    return min(0.080, max(0.030, (2.2 * amplitude_deg + 21.0) * 1e-3))


def _min_jerk(tau: float) -> float:
    tau = min(1.0, max(0.0, tau))
    return tau * tau * tau * (10.0 + tau * (-15.0 + 6.0 * tau))


class GazeTrajectory:
    """Frame-clocked gaze / lid / pupil trajectory (see the module docstring for the model)."""

    def __init__(self, fps: float, rng: np.random.Generator, tier: Tier) -> None:
        self.dt = 1.0 / float(fps)
        self.rng = rng
        self.range_yaw, self.range_pitch = tier.gaze_range_deg
        self.blink_interval = tier.blink_interval_s
        self.squint_rate = tier.squint_rate
        self.base_openness = float(rng.uniform(*tier.openness))
        self.yaw = float(rng.uniform(-0.5, 0.5) * self.range_yaw)
        self.pitch = float(rng.uniform(-0.5, 0.5) * self.range_pitch)
        self.openness = self.base_openness
        self.pupil_scale = float(rng.uniform(0.8, 1.2))
        self.blinking = False
        self._tyaw, self._tpitch = self.yaw, self.pitch
        self._state = _FIXATION
        self._t = 0.0
        self._dur = float(rng.uniform(0.2, 0.6))
        self._start = (self.yaw, self.pitch)
        self._vel = (0.0, 0.0)
        self._micro = 0.0  # remaining microsaccade time
        self._micro_step = (0.0, 0.0)
        self._blink_in = float(rng.uniform(0.3, self.blink_interval[1]))
        self._blink_t = -1.0
        self._blink_dur = 0.2
        self._squint_left = 0.0
        self._squint_level = 1.0

    # ------------------------------------------------------------------ eye movements
    def _new_target(self) -> tuple[float, float]:
        r = self.rng
        return float(r.uniform(-1, 1) * self.range_yaw), float(r.uniform(-1, 1) * self.range_pitch)

    def _next_state(self) -> None:
        r = self.rng
        if self._state != _FIXATION:
            self._state, self._t, self._dur = _FIXATION, 0.0, float(r.uniform(0.2, 0.6))
            self._tyaw, self._tpitch = self.yaw, self.pitch
            return
        self._start = (self.yaw, self.pitch)
        self._t = 0.0
        if r.random() < 0.15:
            speed = float(r.uniform(5.0, 25.0))
            ang = float(r.uniform(0, 2 * math.pi))
            self._vel = (speed * math.cos(ang), speed * math.sin(ang))
            self._state, self._dur = _PURSUIT, float(r.uniform(0.4, 1.5))
        else:
            self._tyaw, self._tpitch = self._new_target()
            amp = math.hypot(self._tyaw - self.yaw, self._tpitch - self.pitch)
            self._state, self._dur = _SACCADE, main_sequence_duration_s(amp)

    def _move(self) -> None:
        dt, r = self.dt, self.rng
        if self._state == _SACCADE:
            s = _min_jerk(self._t / self._dur)
            self.yaw = self._start[0] + s * (self._tyaw - self._start[0])
            self.pitch = self._start[1] + s * (self._tpitch - self._start[1])
        elif self._state == _PURSUIT:
            vy, vp = self._vel
            self.yaw += vy * dt
            self.pitch += vp * dt
            if abs(self.yaw) > self.range_yaw:
                self._vel = (-vy, vp)
                self.yaw = math.copysign(self.range_yaw, self.yaw)
            if abs(self.pitch) > self.range_pitch:
                self._vel = (self._vel[0], -vp)
                self.pitch = math.copysign(self.range_pitch, self.pitch)
        else:  # fixation: drift pulled back to the target, plus microsaccades
            k = min(1.0, dt / 0.15)
            sd = 0.25 * math.sqrt(dt)
            self.yaw += k * (self._tyaw - self.yaw) + sd * r.standard_normal()
            self.pitch += k * (self._tpitch - self.pitch) + sd * r.standard_normal()
            if self._micro > 0:
                self.yaw += self._micro_step[0]
                self.pitch += self._micro_step[1]
                self._micro -= dt
            elif r.random() < 1.5 * dt:
                amp, ang = float(r.uniform(0.1, 0.5)), float(r.uniform(0, 2 * math.pi))
                n = max(1, round(0.02 / dt))
                self._micro = n * dt
                self._micro_step = (amp * math.cos(ang) / n, amp * math.sin(ang) / n)
                self._tyaw += amp * math.cos(ang)
                self._tpitch += amp * math.sin(ang)
        self._t += dt
        if self._t >= self._dur:
            self._next_state()

    # ------------------------------------------------------------------ lids and pupil
    def _lids(self) -> None:
        dt, r = self.dt, self.rng
        if self._squint_left > 0:
            self._squint_left -= dt
        elif self.squint_rate > 0 and r.random() < self.squint_rate * dt:
            self._squint_left = float(r.uniform(0.5, 2.0))
            self._squint_level = float(r.uniform(0.3, 0.6))
        level = self.base_openness * (self._squint_level if self._squint_left > 0 else 1.0)
        if self._blink_t < 0:
            self._blink_in -= dt
            if self._blink_in <= 0:
                self._blink_t = 0.0
                self._blink_dur = float(r.uniform(0.1, 0.3))
        closed = 0.0
        if self._blink_t >= 0:
            tau = self._blink_t / self._blink_dur
            if tau < 0.3:
                closed = _min_jerk(tau / 0.3)
            elif tau < 0.5:
                closed = 1.0
            else:
                closed = 1.0 - _min_jerk((tau - 0.5) / 0.5)
            self._blink_t += dt
            if self._blink_t >= self._blink_dur:
                self._blink_t = -1.0
                self._blink_in = float(r.uniform(*self.blink_interval))
        self.blinking = closed > 0
        self.openness = level * (1.0 - closed)

    def _pupil(self) -> None:
        tau, sd = 2.0, 0.12
        a = self.dt / tau
        self.pupil_scale += a * (1.0 - self.pupil_scale) + sd * math.sqrt(2 * a) * self.rng.standard_normal()
        self.pupil_scale = min(1.5, max(0.6, self.pupil_scale))

    def step(self) -> None:
        """Advance one frame."""
        self._move()
        self._lids()
        self._pupil()

    @property
    def gaze_x(self) -> float:
        """Normalised horizontal gaze, + = right in the image (yaw / 30 degrees)."""
        return self.yaw / GAZE_FULL_SCALE_DEG

    @property
    def gaze_y(self) -> float:
        """Normalised vertical gaze, + = up (pitch / 30 degrees)."""
        return self.pitch / GAZE_FULL_SCALE_DEG


__all__ = ["GAZE_FULL_SCALE_DEG", "GazeTrajectory", "main_sequence_duration_s"]
