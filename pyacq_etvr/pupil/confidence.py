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
(:mod:`.fitconf`). The values below were fitted with that procedure on the current pipeline (edges on a
9x5-smoothed polar image, evidence on a 5x3 one) over synthetic medium + hard independent frames (seed 1)
and medium + hard sequences of 60 frames (seed 21), the isotonic map on the hard ones. Checked on sets not
used for the fit (hard sequences, seed 1): DR@5 0.687 instead of 0.645 with the previous weights, detections
with confidence >= 0.8 within 5 px 100 %; on the hard independent frames of the fit, 92 % instead of 86 %. ``python -m
pyacq_etvr.bench pupil`` checks the calibration on any labelled folder.
"""

from __future__ import annotations

import numpy as np

from pyacq_etvr.pupil.rays import RayFit

FEATURES = ("support", "rms", "aspect", "inner", "sep")

#: intercept followed by one weight per feature
WEIGHTS = np.array([-14.880, 4.704, -4.212, 6.291, -2.788, 11.755])

#: isotonic calibration: score knots and the share within 5 px measured there (interpolated, clamped)
CAL_Z = np.array(
    [
        -10.686,
        -7.767,
        -6.070,
        -5.162,
        -4.732,
        -4.341,
        -3.922,
        -3.108,
        -2.304,
        -1.908,
        -1.479,
        -1.024,
        -0.511,
        0.065,
        0.653,
        1.272,
        2.128,
        3.390,
        4.652,
    ]
)
CAL_P = np.array(
    [
        0.0026,
        0.0026,
        0.0095,
        0.0156,
        0.0181,
        0.0208,
        0.0415,
        0.0597,
        0.1065,
        0.1451,
        0.1974,
        0.2953,
        0.3247,
        0.4727,
        0.6218,
        0.7065,
        0.8212,
        0.9662,
        0.9896,
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
