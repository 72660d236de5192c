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
* ``size``: major axis / shorter image side;
* ``sep``: share of rays along which the ellipse separates dark inside (0.7 radius) from bright outside
  (1.3 radius) by at least half the contrast;
* ``ring``: surround level relative to the frame's bright level (mean + std): a pupil is ringed by the
  darker iris, an iris (mistaken for a pupil when the pupil is invisible) by the bright sclera.
"""

from __future__ import annotations

import numpy as np

from pyacq_etvr.pupil.rays import RayFit

FEATURES = ("support", "points", "rms", "contrast", "aspect", "shift", "inner", "outer", "dark", "size", "sep", "ring")

#: intercept followed by one weight per feature (see the module docstring)
WEIGHTS = np.array(
    [-19.139, 3.059, 10.436, -0.550, 0.940, 7.751, -0.152, -0.777, -4.310, -7.249, 12.106, 7.408, -6.324]
)


def features(fit: RayFit, shift: float, short: int, frame_min: float, frame_bright: float) -> np.ndarray:
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
            fit.separation,
            (fit.surround - frame_min) / max(frame_bright - frame_min, 1.0),
        ]
    )


#: isotonic calibration of the logistic score: knots (score) and the measured share within 5 px there
CAL_Z = np.array(
    [
        -9.686,
        -6.618,
        -5.815,
        -4.733,
        -3.355,
        -2.131,
        -1.093,
        -0.435,
        0.144,
        0.753,
        1.373,
        2.030,
        2.612,
        3.030,
        3.373,
        3.812,
        5.039,
    ]
)
CAL_P = np.array(
    [
        0.0215,
        0.0392,
        0.0820,
        0.0874,
        0.1370,
        0.1580,
        0.1621,
        0.2157,
        0.2969,
        0.4431,
        0.5781,
        0.7305,
        0.8431,
        0.9492,
        0.9569,
        0.9883,
        0.9883,
    ]
)


def score(feat: np.ndarray, weights: np.ndarray = WEIGHTS) -> float:
    """Logistic score (log-odds) of a feature vector."""
    return float(weights[0] + feat @ weights[1:])


def confidence(feat: np.ndarray, weights: np.ndarray = WEIGHTS) -> float:
    """Calibrated confidence in [0, 1]: the isotonic map of the score (monotone, so ranking is kept)."""
    return float(np.interp(score(feat, weights), CAL_Z, CAL_P))
