"""Helpers shared by the plain filters: argument checking and the timestamp -> seconds conversion."""

from __future__ import annotations

import numpy as np

from pyacq_etvr.core.errors import ConfigError, SpecMismatchError


def as_2d(values: np.ndarray, nchan: int | None, name: str) -> np.ndarray:
    """Return ``values`` as a float64 (n, k) view/copy; a 1-D array is one channel. Checks k is stable."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "fiu":
        raise SpecMismatchError(f"{name}: values must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise SpecMismatchError(f"{name}: values must have shape (n,) or (n, channels), got {arr.shape}")
    if nchan is not None and arr.shape[1] != nchan:
        raise SpecMismatchError(f"{name}: expected {nchan} channels (as in the first chunk), got {arr.shape[1]}")
    return arr.astype(np.float64, copy=False)


def check_times(timestamps_ns: np.ndarray | None, n: int, name: str) -> np.ndarray | None:
    """Validate a (n,) int64 timestamp vector (nanoseconds) or None."""
    if timestamps_ns is None:
        return None
    ts = np.asarray(timestamps_ns)
    if ts.shape != (n,) or ts.dtype.kind not in "iu":
        raise SpecMismatchError(
            f"{name}: timestamps_ns must be an integer array of shape ({n},), got {ts.dtype}{ts.shape}"
        )
    return ts


def check_mask(mask: np.ndarray | None, n: int, name: str) -> np.ndarray | None:
    """Validate a (n,) boolean mask or None."""
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.shape != (n,):
        raise SpecMismatchError(f"{name}: mask must have shape ({n},), got {m.shape}")
    return m.astype(bool, copy=False)


def positive(name: str, value: float, allow_zero: bool = False) -> float:
    """Return ``value`` as a float if it is finite and > 0 (>= 0 with ``allow_zero``), else ConfigError naming it."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ConfigError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return v


def positive_int(name: str, value: int, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum``, else ConfigError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
