"""Confidence of a pupil fit: evidence features mapped to [0, 1] by a logistic model.

The weights were fitted (logistic regression, ``tools`` script in the issue-5 notes) on the candidates the
``default`` detector evaluates on labelled synthetic sets (medium + hard tiers, label = centre within 5 px
of the truth); ``python -m pyacq_etvr.bench pupil`` re-checks the calibration on any labelled folder (share
of confidence >= 0.8 detections within 5 px). Features (:func:`features`):

* ``support``: share of rays whose edge point lies on the ellipse (visible, clean pupil border);
* ``points``: share of rays that produced an edge point at all;
* ``rms``: RMS distance (px) of the supporting points to the ellipse;
* ``contrast``: surround minus pupil grey level (/ 100);
* ``aspect``: minor / major axis;
* ``shift``: distance (px) between the centres of the two ray passes;
* ``inner``: grey-level spread inside the pupil relative to the contrast (a pupil is uniform);
* ``outer``: spread of the surround level between rays relative to the contrast (an iris is even);
* ``dark``: pupil level minus the darkest level of the frame (/ 100; the pupil is the darkest region);
* ``size``: major axis / shorter image side.
"""

from __future__ import annotations

import numpy as np

from pyacq_etvr.pupil.rays import RayFit

FEATURES = ("support", "points", "rms", "contrast", "aspect", "shift", "inner", "outer", "dark", "size")

#: intercept followed by one weight per feature (see the module docstring)
WEIGHTS = np.array([-33.616, 5.177, 29.165, -2.212, -2.788, 8.247, -0.049, -1.289, -4.589, -9.302, 13.458])


def features(fit: RayFit, shift: float, short: int, frame_min: float) -> np.ndarray:
    """Feature vector (len(FEATURES),) of a fit."""
    _, _, w, h, _ = fit.ellipse
    major, minor = max(w, h), min(w, h)
    contrast = max(fit.surround - fit.pupil, 1.0)
    return np.array(
        [
            fit.n_inliers / fit.n_rays,
            fit.n_points / fit.n_rays,
            min(fit.rms, 3.0),
            min(contrast, 150.0) / 100.0,
            minor / major if major > 0 else 0.0,
            min(shift, 5.0),
            min(fit.inner_std / contrast, 2.0),
            min(fit.outer_std / contrast, 2.0),
            (fit.pupil - frame_min) / 100.0,
            major / short,
        ]
    )


#: isotonic calibration of the logistic score: knots (score) and the measured share within 5 px there
CAL_Z = np.array(
    [-19.866, -10.045, -7.022, -5.535, -4.316, -3.559, -2.737, -1.618, -0.124, 1.449, 2.638, 3.670, 4.325, 4.943, 5.952]
)
CAL_P = np.array(
    [
        0.0000,
        0.0008,
        0.0037,
        0.0100,
        0.0124,
        0.0150,
        0.0498,
        0.1546,
        0.5199,
        0.7855,
        0.8831,
        0.9776,
        0.9950,
        0.9988,
        0.9994,
    ]
)


def score(feat: np.ndarray, weights: np.ndarray = WEIGHTS) -> float:
    """Logistic score (log-odds) of a feature vector."""
    return float(weights[0] + feat @ weights[1:])


def confidence(feat: np.ndarray, weights: np.ndarray = WEIGHTS) -> float:
    """Calibrated confidence in [0, 1]: the isotonic map of the score (monotone, so ranking is kept)."""
    return float(np.interp(score(feat, weights), CAL_Z, CAL_P))
