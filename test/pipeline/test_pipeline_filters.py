"""Plain filter objects: One Euro, moving average, outlier rejection, blink hold."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError, SpecMismatchError
from pyacq_etvr.nodes.filters.blink_hold import BlinkHold
from pyacq_etvr.nodes.filters.moving_average import MovingAverage
from pyacq_etvr.nodes.filters.one_euro import OneEuro
from pyacq_etvr.nodes.filters.outlier import OutlierRejector


def _ts(n, rate=100.0, t0=0):
    return (t0 + np.arange(n) * (1e9 / rate)).astype(np.int64)


def test_one_euro_matches_reference_formula():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(size=(200, 2)), axis=0)
    ts = _ts(200, 100.0)
    f = OneEuro(min_cutoff=1.0, beta=0.05, d_cutoff=1.0)
    out = f(x, ts)
    # independent scalar implementation of Casiez et al. on channel 0
    te = 0.01
    xh, dxh = x[0, 0], 0.0
    ref = [xh]
    for v in x[1:, 0]:
        ad = 1 / (1 + 1 / (2 * math.pi * 1.0 * te))
        dxh = dxh + ad * ((v - xh) / te - dxh)
        cut = 1.0 + 0.05 * abs(dxh)
        a = 1 / (1 + 1 / (2 * math.pi * cut * te))
        xh = xh + a * (v - xh)
        ref.append(xh)
    np.testing.assert_allclose(out[:, 0], ref, rtol=1e-12)


def test_one_euro_smooths_noise_and_follows_steps():
    rng = np.random.default_rng(1)
    n = 600
    truth = np.where(np.arange(n) < 300, 0.0, 10.0)
    noisy = truth + rng.normal(scale=0.5, size=n)
    out = OneEuro(min_cutoff=1.0, beta=0.5)(noisy, _ts(n, 120.0))[:, 0]
    assert np.std(out[100:290] - 0.0) < 0.5 * np.std(noisy[100:290])
    assert abs(out[340] - 10.0) < 1.0  # a step is followed within ~1/3 s


def test_one_euro_uses_chunk_timestamps_not_call_time():
    x = np.sin(np.linspace(0, 6, 300))[:, None]
    ts = _ts(300, 60.0)
    whole = OneEuro(min_cutoff=0.5, beta=0.1)(x, ts)
    f = OneEuro(min_cutoff=0.5, beta=0.1)
    parts = [f(x[i : i + 7], ts[i : i + 7]) for i in range(0, 300, 7)]
    np.testing.assert_allclose(np.concatenate(parts), whole)
    # a slower sample clock (bigger Te) gives less smoothing: different output from the same samples
    slower = OneEuro(min_cutoff=0.5, beta=0.1)(x, _ts(300, 15.0))
    assert not np.allclose(slower, whole)


def test_one_euro_guards_zero_dt_and_nan():
    f = OneEuro()
    ts = np.array([0, 0, 0, 10_000_000], np.int64)
    out = f(np.array([1.0, 5.0, 5.0, 5.0]), ts)
    assert np.isfinite(out).all() and f.guarded == 2
    out = f(np.array([np.nan, 6.0]), np.array([20_000_000, 30_000_000]))
    assert math.isnan(out[0, 0]) and np.isfinite(out[1, 0])


def test_one_euro_bad_input():
    with pytest.raises(ConfigError, match="min_cutoff"):
        OneEuro(min_cutoff=0)
    with pytest.raises(ConfigError, match="beta"):
        OneEuro(beta=-1)
    f = OneEuro()
    f(np.zeros((3, 2)), _ts(3))
    with pytest.raises(SpecMismatchError, match="channels"):
        f(np.zeros((3, 3)), _ts(3))
    with pytest.raises(SpecMismatchError, match="timestamps"):
        f(np.zeros((3, 2)), np.zeros(4, np.int64))
    with pytest.raises(SpecMismatchError, match="numeric"):
        f(np.array(["a", "b"]))


def test_moving_average_across_chunks_with_nan():
    x = np.arange(10, dtype=float)
    x[4] = np.nan
    f = MovingAverage(window=3)
    out = np.concatenate([f(x[:5]), f(x[5:])])[:, 0]
    assert out[0] == 0.0 and out[1] == 0.5 and out[2] == 1.0
    assert out[4] == 2.5  # mean of 2, 3 (the NaN ignored)
    assert out[5] == 4.0  # mean of 3, 5
    assert out[9] == 8.0
    with pytest.raises(ConfigError, match="window"):
        MovingAverage(window=0)


def test_outlier_rejects_spike_accepts_saccade():
    x = np.array([[10, 10], [11, 10], [80, 80], [12, 10], [60, 40], [61, 40], [62, 41]], float)
    f = OutlierRejector(max_jump=20, confirm=2)
    out = f(x)
    assert np.isnan(out[2]).all()  # lone spike dropped
    assert np.isnan(out[4]).all()  # first sample of a real move: pending
    np.testing.assert_array_equal(out[5], [61, 40])  # confirmed
    np.testing.assert_array_equal(out[6], [62, 41])
    assert f.rejected == 2
    med = OutlierRejector(max_jump=100, median=3)(np.array([1.0, 2.0, 9.0, 3.0]))
    assert med[-1, 0] == 3.0
    with pytest.raises(ConfigError, match="max_jump"):
        OutlierRejector(max_jump=-1)


def test_blink_hold_holds_then_expires():
    x = np.array([[0.1, 0.2], [0.3, 0.4], [np.nan, np.nan], [0.9, 0.9], [0.5, 0.5]])
    valid = np.array([True, True, False, False, True])
    f = BlinkHold(max_hold=0.5)
    out = f(x, _ts(5, 10.0), valid)
    np.testing.assert_array_equal(out[2], [0.3, 0.4])
    np.testing.assert_array_equal(out[3], [0.3, 0.4])  # invalid (eye closed) though finite: held
    np.testing.assert_array_equal(out[4], [0.5, 0.5])
    long = f(np.full((10, 2), np.nan), _ts(10, 10.0, t0=int(0.5e9)))
    assert np.isfinite(long[:4]).all() and np.isnan(long[6:]).all()
    with pytest.raises(SpecMismatchError, match="mask"):
        f(np.zeros((2, 2)), None, np.zeros(3, bool))
