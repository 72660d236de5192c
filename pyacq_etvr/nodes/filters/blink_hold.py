"""Blink hold: while the eye is closed (or the measurement invalid), keep the last good value."""

from __future__ import annotations

import numpy as np

from pyacq_etvr.nodes.filters._common import as_2d, check_mask, check_times, positive


class BlinkHold:
    """Plain hold-last-good filter, callable on arrays.

    ``f(values, timestamps_ns=None, valid=None)``: ``valid`` (n,) bool marks good samples (default: every
    finite sample). Invalid or non-finite samples are replaced by the last good sample of the same channel set
    (NaN if there is none yet or the hold expired). Returns float64 (n, channels). ``held`` counts held samples.

    Parameters
    ----------
    max_hold : float, default 1.0
        Longest hold in seconds (measured on the samples' timestamps; with no timestamps, on ``rate``). After
        that the output is NaN: a closed eye for more than a blink is reported as missing, not frozen forever.
    rate : float, default 60.0
        Sample rate (Hz) assumed when no timestamps are given.
    """

    def __init__(self, max_hold: float = 1.0, rate: float = 60.0) -> None:
        self.max_hold = positive("max_hold", max_hold)
        self.rate = positive("rate", rate)
        self.reset()

    def reset(self) -> None:
        """Forget the last good sample."""
        self._good: np.ndarray | None = None
        self._good_t = 0.0
        self._t = 0.0
        self._nchan: int | None = None
        self.held = 0

    def __call__(
        self, values: np.ndarray, timestamps_ns: np.ndarray | None = None, valid: np.ndarray | None = None
    ) -> np.ndarray:
        x = as_2d(values, self._nchan, "BlinkHold")
        n, k = x.shape
        self._nchan = k
        ts = check_times(timestamps_ns, n, "BlinkHold")
        ok = np.isfinite(x).all(axis=1)
        m = check_mask(valid, n, "BlinkHold")
        if m is not None:
            ok &= m
        out = x.copy()
        for i in range(n):
            self._t = float(ts[i]) * 1e-9 if ts is not None else self._t + 1.0 / self.rate
            if ok[i]:
                self._good = x[i].copy()
                self._good_t = self._t
            elif self._good is not None and self._t - self._good_t <= self.max_hold:
                out[i] = self._good
                self.held += 1
            else:
                out[i] = np.nan
        return out
