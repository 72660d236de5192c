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
  darker iris, an iris (mistaken for a pupil when the pupil is invisible) by the bright sclera;
* ``texture``: grey-level spread inside the ellipse on the raw image (glints excluded) relative to the
  contrast: a pupil is flat, a clump of eyelashes is not.
"""

from __future__ import annotations

import numpy as np

from pyacq_etvr.pupil.rays import RayFit

FEATURES = (
    "support",
    "points",
    "rms",
    "contrast",
    "aspect",
    "shift",
    "inner",
    "outer",
    "dark",
    "size",
    "sep",
    "ring",
    "texture",
)

#: intercept followed by one weight per feature (see the module docstring)
WEIGHTS = np.array(
    [-6.100, 1.418, 0.000, -6.344, 0.000, 6.206, 0.000, -15.872, 0.000, 0.000, 0.000, 7.423, 0.000, 0.000]
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
            min(fit.texture, 2.0),
        ]
    )


#: isotonic calibration of the logistic score: knots (score) and the measured share within 5 px there
CAL_Z = np.array(
    [
        -9.677,
        -6.561,
        -5.718,
        -3.481,
        -1.748,
        -1.486,
        -1.114,
        -0.738,
        -0.478,
        -0.205,
        0.058,
        0.317,
        0.609,
        0.946,
        1.421,
        2.251,
        4.142,
    ]
)
CAL_P = np.array(
    [
        0.0193,
        0.1351,
        0.1351,
        0.1600,
        0.1892,
        0.2046,
        0.2838,
        0.3127,
        0.3475,
        0.4363,
        0.5598,
        0.6216,
        0.6988,
        0.7606,
        0.7915,
        0.8919,
        0.9885,
    ]
)


def score(feat: np.ndarray, weights: np.ndarray = WEIGHTS) -> float:
    """Logistic score (log-odds) of a feature vector."""
    return float(weights[0] + feat @ weights[1:])


def confidence(feat: np.ndarray, weights: np.ndarray = WEIGHTS) -> float:
    """Calibrated confidence in [0, 1]: the isotonic map of the score (monotone, so ranking is kept)."""
    return float(np.interp(score(feat, weights), CAL_Z, CAL_P))
