"""Moving average over the last N samples, per channel, ignoring missing (NaN) samples."""

from __future__ import annotations

import numpy as np

from pyacq_etvr.nodes.filters._common import as_2d, positive_int


class MovingAverage:
    """Plain moving-average filter, callable on arrays.

    Parameters
    ----------
    window : int, default 5
        Number of samples averaged (the current one included). Must be >= 1.

    ``f(values)`` with values (n,) or (n, channels) returns a float64 (n, channels) array: each output sample
    is the mean of the finite samples among the last ``window`` inputs of its channel (NaN if none is finite).
    The window spans chunk boundaries; ``reset()`` empties it. Cost: O(channels) per sample (running sums).
    """

    def __init__(self, window: int = 5) -> None:
        self.window = positive_int("window", window)
        self.reset()

    def reset(self) -> None:
        """Empty the window."""
        self._hist: np.ndarray | None = None  # (window - 1, k) last samples, oldest first (NaN = empty/missing)

    def __call__(self, values: np.ndarray, timestamps_ns: np.ndarray | None = None) -> np.ndarray:
        """Average ``values``; ``timestamps_ns`` is accepted for a uniform filter interface and unused."""
        x = as_2d(values, None if self._hist is None else self._hist.shape[1], "MovingAverage")
        k = x.shape[1]
        w = self.window
        if self._hist is None:
            self._hist = np.full((w - 1, k), np.nan)
        full = np.concatenate([self._hist, x], axis=0)  # (w - 1 + n, k)
        finite = np.isfinite(full)
        zeros = np.zeros((1, k))
        csum = np.concatenate([zeros, np.cumsum(np.where(finite, full, 0.0), axis=0)])
        ccnt = np.concatenate([zeros, np.cumsum(finite, axis=0)])
        s = csum[w:] - csum[:-w]
        c = ccnt[w:] - ccnt[:-w]
        out = np.full(s.shape, np.nan)
        np.divide(s, c, out=out, where=c > 0)
        self._hist = full[full.shape[0] - (w - 1) :].copy()
        return out
