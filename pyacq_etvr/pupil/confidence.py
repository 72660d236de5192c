"""Confidence of a pupil fit: a few evidence features mapped to [0, 1] (logistic score + isotonic map).

Features (:func:`features`), each with the sign its weight is constrained to:

* ``support`` (+): share of the rays (those inside the frame) whose edge point lies on the ellipse;
* ``rms`` (-): RMS distance (px) of those points to the ellipse;
* ``aspect`` (+): minor / major axis (a pupil seen at an angle stays rounder than eyelid or lash shapes);
* ``inner`` (-): grey-level spread inside the pupil relative to the pupil/surround contrast (a pupil is
  flat, a clump of eyelashes or an iris with a pupil in it is not);
* ``sep`` (+): share of rays along which the ellipse separates dark inside (0.7 radius) from bright outside
  (1.3 radius) by at least half the contrast.

Only features whose meaning does not depend on the camera were kept: weights fitted on every feature we
tried (size, darkness, surround brightness...) scored better on the synthetic tiers but failed on the real
clips. The weights come from a sign-constrained logistic regression on the candidates the ``default``
detector evaluates on synthetic medium + hard + sequence sets (label: centre within 5 px of the truth); the
isotonic map from the score to the measured share within 5 px was fitted on the hard tier only, so it is
conservative elsewhere. Refit with ``python -m pyacq_etvr.pupil.fitconf --train ... --calibrate ...``
(:mod:`.fitconf`). The values below were fitted with that procedure on synthetic medium/hard/sequence sets
(300-600 frames each, seeds 1-3 and 23) one pipeline revision earlier (glint opening in image space): a
refit on the current pipeline scored better on independent hard frames (DR@5 0.78 vs 0.75) but worse on
hard sequences (0.46 vs 0.57), so they were kept. ``python -m pyacq_etvr.bench pupil`` checks the
calibration on any labelled folder.
"""

from __future__ import annotations

import numpy as np

from pyacq_etvr.pupil.rays import RayFit

FEATURES = ("support", "rms", "aspect", "inner", "sep")

#: intercept followed by one weight per feature
WEIGHTS = np.array([-6.869, 2.263, -5.905, 6.112, -14.646, 7.459])

#: isotonic calibration: score knots and the share within 5 px measured there (interpolated, clamped)
CAL_Z = np.array(
    [
        -9.486,
        -6.370,
        -5.466,
        -3.623,
        -1.751,
        -1.304,
        -0.896,
        -0.525,
        -0.288,
        -0.040,
        0.193,
        0.441,
        0.713,
        1.101,
        1.637,
        2.400,
        4.432,
    ]
)
CAL_P = np.array(
    [
        0.0039,
        0.1028,
        0.1725,
        0.1934,
        0.2283,
        0.2638,
        0.2829,
        0.3543,
        0.4016,
        0.4331,
        0.5630,
        0.5922,
        0.6614,
        0.7756,
        0.8346,
        0.9134,
        0.9961,
    ]
)


def features(fit: RayFit) -> np.ndarray:
    """Feature vector (len(FEATURES),) of a fit."""
    _, _, w, h, _ = fit.ellipse
    major, minor = max(w, h), min(w, h)
    contrast = max(fit.surround - fit.pupil, 1.0)
    return np.array(
        [
            fit.n_inliers / fit.n_rays,
            min(fit.rms, 3.0),
            minor / major if major > 0 else 0.0,
            min(fit.inner_std / contrast, 2.0),
            fit.separation,
        ]
    )


def score(feat: np.ndarray, weights: np.ndarray = WEIGHTS) -> float:
    """Logistic score (log-odds) of a feature vector."""
    return float(weights[0] + feat @ weights[1:])


def confidence(feat: np.ndarray, weights: np.ndarray = WEIGHTS) -> float:
    """Calibrated confidence in [0, 1]: the isotonic map of the score (monotone, so ranking is kept)."""
    return float(np.interp(score(feat, weights), CAL_Z, CAL_P))
