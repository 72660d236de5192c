"""Outlier rejection for gaze / pupil tracks: implausible jumps are dropped, an optional running median smooths.

A sample is *implausible* when it lies more than ``max_jump`` (signal units, Euclidean over the channels)
from the last accepted sample. Real saccades also jump, but then the following samples stay at the new place:
after ``confirm`` consecutive samples that agree with each other (within ``max_jump``), the new position is
accepted. A lone spike (a glint taken for the pupil, a detector flip) is rejected. Rejected samples come out
as NaN (no sentinel values) and are counted.
"""

from __future__ import annotations

import math

import numpy as np

from pyacq_etvr.nodes.filters._common import as_2d, positive, positive_int


class OutlierRejector:
    """Plain jump-rejection + running-median filter, callable on arrays.

    Parameters
    ----------
    max_jump : float, default 25.0
        Largest plausible distance between consecutive accepted samples, in signal units (pixels for pupil
        positions; use ~0.5 for normalised gaze).
    confirm : int, default 2
        Number of consecutive mutually consistent samples after which a jump is accepted as a real move.
    median : int, default 1
        Window of the running median applied to accepted samples (1 = no median). Odd values are best.

    ``f(values)`` returns a float64 (n, channels) array; rejected samples are NaN. ``rejected`` counts them.
    """

    def __init__(self, max_jump: float = 25.0, confirm: int = 2, median: int = 1) -> None:
        self.max_jump = positive("max_jump", max_jump)
        self.confirm = positive_int("confirm", confirm)
        self.median = positive_int("median", median)
        self.reset()

    def reset(self) -> None:
        """Forget the last accepted position, the pending candidate and the median window."""
        self._last: np.ndarray | None = None
        self._cand: list[np.ndarray] = []
        self._win: list[np.ndarray] = []
        self._nchan: int | None = None
        self.rejected = 0

    def __call__(self, values: np.ndarray, timestamps_ns: np.ndarray | None = None) -> np.ndarray:
        """Filter ``values``; ``timestamps_ns`` is accepted for a uniform filter interface and unused."""
        x = as_2d(values, self._nchan, "OutlierRejector")
        self._nchan = x.shape[1]
        out = np.full(x.shape, np.nan)
        for i in range(x.shape[0]):
            xi = x[i]
            if not np.isfinite(xi).all():
                continue  # missing sample: not an outlier, just nothing to say
            if self._accept(xi):
                out[i] = self._smooth(xi)
            else:
                self.rejected += 1
        return out

    def _accept(self, xi: np.ndarray) -> bool:
        if self._last is None or math.dist(xi, self._last) <= self.max_jump:
            self._last = xi.copy()
            self._cand.clear()
            return True
        if self._cand and math.dist(xi, self._cand[-1]) > self.max_jump:
            self._cand.clear()
        self._cand.append(xi.copy())
        if len(self._cand) >= self.confirm:
            self._last = xi.copy()
            self._cand.clear()
            self._win.clear()  # a real move: do not mix old and new positions in the median
            return True
        return False

    def _smooth(self, xi: np.ndarray) -> np.ndarray:
        if self.median <= 1:
            return xi
        self._win.append(xi.copy())
        if len(self._win) > self.median:
            del self._win[0]
        return np.median(np.asarray(self._win), axis=0)
