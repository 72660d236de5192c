"""Shared configuration checks give one wording and refuse bools, NaN and non-numbers."""

from __future__ import annotations

import numpy as np
import pytest

from pyacq_etvr.core.checks import check_int, check_positive
from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.devices import NoiseGenerator


def test_check_int():
    assert check_int("n", "k", np.int64(3)) == 3
    for bad in (0, -1, 1.5, True, "2", None):
        with pytest.raises(ConfigError, match=r"n: k must be an integer >= 1"):
            check_int("n", "k", bad)


def test_check_positive():
    assert check_positive("n", "rate", "2.5") == 2.5
    for bad in (0, -1.0, float("nan"), float("inf"), True):
        with pytest.raises(ConfigError, match=r"n: rate must be > 0 \(Hz\)"):
            check_positive("n", "rate", bad, "Hz")
    with pytest.raises(ConfigError, match="must be a number"):
        check_positive("n", "rate", "fast")


def test_node_configure_uses_them():
    with pytest.raises(ConfigError, match="sample_rate must be > 0"):
        NoiseGenerator().configure(sample_rate=float("nan"))
