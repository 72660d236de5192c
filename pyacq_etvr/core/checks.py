"""Validation of configuration values: one wording for every node's ``ConfigError`` messages."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConfigError


def check_int(label: str, key: str, value: Any, minimum: int = 1, unit: str = "") -> int:
    """Return ``value`` as an int, or raise ConfigError ``"<label>: <key> must be an integer >= <minimum>"``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        unit = f" {unit}" if unit else ""
        raise ConfigError(f"{label}: {key} must be an integer >= {minimum}{unit}, got {value!r}")
    return int(value)


def check_positive(label: str, key: str, value: Any, unit: str = "") -> float:
    """Return ``value`` as a float > 0 (finite), or raise ConfigError naming ``key``."""
    unit = f" ({unit})" if unit else ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{label}: {key} must be a number{unit}, got {value!r}") from None
    if isinstance(value, bool) or not np.isfinite(number) or not number > 0:
        raise ConfigError(f"{label}: {key} must be > 0{unit}, got {value!r}")
    return number
