"""One Euro filter (Casiez, Roussel & Vogel, CHI 2012) on multi-channel samples with capture timestamps.

The filter is an adaptive first-order low-pass: the cut-off frequency rises with the signal's speed, so a
fixation is smoothed hard (little jitter) while a saccade passes with little lag::

    dx      = (x - x_prev) / Te                      (derivative, itself low-passed at d_cutoff)
    cutoff  = min_cutoff + beta * |dx_hat|
    alpha   = 1 / (1 + tau / Te),   tau = 1 / (2 pi cutoff)
    x_hat   = x_hat_prev + alpha * (x - x_hat_prev)

``Te`` is taken from the samples' capture timestamps (never from the wall clock at filter time), so a chunk
that arrives late is filtered exactly like one that arrived on time. A repeated or backwards timestamp
(``Te <= 0``) is guarded: ``Te`` is floored at ``min_dt`` seconds, which makes that sample's update tiny
instead of dividing by zero. NaN samples (no measurement) pass through as NaN and leave the state untouched.
"""

from __future__ import annotations

import math

import numpy as np

from pyacq_etvr.nodes.filters._common import as_2d, check_times, positive


class OneEuro:
    """Plain One Euro filter, callable on arrays.

    Call ``f(values, timestamps_ns=None)`` with values of shape (n,) or (n, channels); returns a new float64
    array of shape (n, channels). State persists across calls; ``reset()`` forgets it.

    Parameters
    ----------
    min_cutoff : float, default 1.0
        Cut-off at zero speed, Hz. Lower = smoother fixations, more lag.
    beta : float, default 0.007
        Speed coefficient (per unit of the signal per second). Higher = less lag during fast moves.
        EyeTrackApp uses min_cutoff 0.0004, beta 0.9 for gaze in [-1, 1]; for pupil pixels 1.0 / 0.01 works.
    d_cutoff : float, default 1.0
        Cut-off of the derivative's low-pass, Hz.
    rate : float, default 60.0
        Sample rate (Hz) assumed when no timestamps are given.
    min_dt : float, default 1e-6
        Floor of ``Te`` in seconds (guards a zero or negative time step).
    """

    def __init__(
        self,
        min_cutoff: float = 1.0,
        beta: float = 0.007,
        d_cutoff: float = 1.0,
        rate: float = 60.0,
        min_dt: float = 1e-6,
    ) -> None:
        self.min_cutoff = positive("min_cutoff", min_cutoff)
        self.beta = positive("beta", beta, allow_zero=True)
        self.d_cutoff = positive("d_cutoff", d_cutoff)
        self.rate = positive("rate", rate)
        self.min_dt = positive("min_dt", min_dt)
        self.reset()

    def reset(self) -> None:
        """Forget the filter state (the next sample is passed through unchanged)."""
        self._x: list[float] = []  # last filtered value per channel (NaN = never seen)
        self._dx: list[float] = []
        self._t: list[float] = []  # last timestamp per channel, seconds (NaN = none)
        self._nchan: int | None = None
        self._tau_d = 1.0 / (2.0 * math.pi * self.d_cutoff)
        self.guarded = 0  # number of samples whose Te was <= 0 and was floored

    def __call__(
        self, values: np.ndarray, timestamps_ns: np.ndarray | None = None, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Filter ``values`` ((n,) or (n, k)); write into ``out`` ((n, k) float) if given, else a new array."""
        x = as_2d(values, self._nchan, "OneEuro")
        n, k = x.shape
        ts = check_times(timestamps_ns, n, "OneEuro")
        if self._nchan is None:
            self._nchan = k
            self._x = [math.nan] * k
            self._dx = [0.0] * k
            self._t = [math.nan] * k
        if out is None:
            out = np.empty((n, k))
        for i in range(n):
            t = float(ts[i]) * 1e-9 if ts is not None else math.nan
            for c in range(k):
                out[i, c] = self._step(c, float(x[i, c]), t)
        return out

    def _step(self, c: int, xi: float, t: float) -> float:
        if xi != xi:  # NaN: no measurement, state untouched
            return math.nan
        prev = self._x[c]
        t_prev = self._t[c]
        if t != t:  # no timestamps: assume the nominal rate
            t = (t_prev if t_prev == t_prev else 0.0) + 1.0 / self.rate
        self._t[c] = t
        if prev != prev:  # first sample: pass through
            self._x[c] = xi
            return xi
        te = t - t_prev if t_prev == t_prev else 1.0 / self.rate
        if te < self.min_dt:
            self.guarded += 1
            te = self.min_dt
        a_d = 1.0 / (1.0 + self._tau_d / te)
        dx_hat = self._dx[c] + a_d * ((xi - prev) / te - self._dx[c])
        cutoff = self.min_cutoff + self.beta * abs(dx_hat)
        a = 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff * te))
        res = prev + a * (xi - prev)
        self._dx[c] = dx_hat
        self._x[c] = res
        return res
