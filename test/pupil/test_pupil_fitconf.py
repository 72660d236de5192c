"""Confidence refitting: sign-constrained logistic weights and the isotonic calibration map."""

from __future__ import annotations

import numpy as np

from pyacq_etvr.pupil.confidence import FEATURES, confidence
from pyacq_etvr.pupil.fitconf import SIGNS, fit_weights, isotonic


def test_weights_keep_their_signs_and_separate_classes():
    rng = np.random.default_rng(3)
    n = 3000
    y = rng.random(n) < 0.4
    x = rng.normal(size=(n, len(FEATURES)))
    sign = np.array([SIGNS[f] for f in FEATURES])
    x[:, 0] += 1.5 * y * sign[0]  # feature 0 informative with the expected sign
    x[:, 1] -= 1.0 * y * sign[1]  # feature 1 informative with the WRONG sign: must be dropped (weight 0)
    w = fit_weights(x, y.astype(float))
    assert w.shape == (len(FEATURES) + 1,)
    assert np.sign(w[1]) == sign[0] and abs(w[1]) > 1
    assert w[2] == 0.0
    assert all(v == 0 or np.sign(v) == s for v, s in zip(w[1:], sign))
    score = w[0] + x @ w[1:]
    assert score[y].mean() > score[~y].mean() + 1


def test_isotonic_map_is_monotone_and_calibrated():
    rng = np.random.default_rng(4)
    score = rng.normal(size=5000)
    y = (rng.random(5000) < 1 / (1 + np.exp(-2 * score))).astype(float)
    knots, probs = isotonic(score, y)
    assert np.all(np.diff(knots) > 0) and np.all(np.diff(probs) >= 0)
    assert 0 <= probs[0] < 0.2 and 0.8 < probs[-1] <= 1
    hi = np.interp(score, knots, probs) >= 0.8
    assert y[hi].mean() >= 0.75


def test_shipped_confidence_is_bounded_and_monotone_in_support():
    base = np.array([0.5, 0.5, 0.8, 0.1, 0.8])
    values = []
    for support in np.linspace(0, 1, 11):
        f = base.copy()
        f[FEATURES.index("support")] = support
        c = confidence(f)
        assert 0.0 <= c <= 1.0
        values.append(c)
    assert all(b >= a for a, b in zip(values, values[1:]))
