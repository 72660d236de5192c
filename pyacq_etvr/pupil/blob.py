"""``blob``: the oldest and simplest detector -- threshold, contours, most pupil-like blob.

Idea: pixels darker than ``threshold`` (after a 3x3 blur) form blobs; among the outer contours whose
equivalent diameter lies in the expected pupil range, the most circular (4 pi area / perimeter^2 weighted
by how well an ellipse fills it) wins, and its fitted ellipse gives the centre.
"""

from __future__ import annotations

import math

import numpy as np

from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.pupil.base import MIN_CONTRAST, Detector, PupilResult, check_param


class BlobDetector(Detector):
    """``blob``: fixed (or automatic) threshold + contours.

    Parameters (defaults): ``threshold`` 65 (grey level; ``None`` = automatic: darkest level + ``margin``),
    ``margin`` 20 (grey levels above the darkest, automatic mode only), ``r_min`` 0.02 and ``r_max`` 0.25
    (pupil radius range, fractions of the shorter image side).
    Cost: one blur, one threshold and ``findContours`` on the full frame: ~0.1-0.3 ms at 240x240.
    Confidence: circularity times ellipse fill (not calibrated as well as ``default``). No openness (None).
    """

    name = "blob"

    def __init__(self, threshold: int | None = 65, margin: int = 20, r_min: float = 0.02, r_max: float = 0.25) -> None:
        if threshold is not None:
            threshold = check_param("threshold", threshold, 1, 254, int)
        self._params = {
            "threshold": threshold,
            "margin": check_param("margin", margin, 1, 200, int),
            "r_min": check_param("r_min", r_min, 0.005, 0.5),
            "r_max": check_param("r_max", r_max, 0.01, 0.5),
        }
        if r_max < r_min:
            raise ConfigError(f"parameter 'r_max' ({r_max}) must be >= 'r_min' ({r_min})")
        self.threshold, self.margin, self.r_min, self.r_max = threshold, margin, r_min, r_max

    def _detect(self, gray: np.ndarray) -> PupilResult:
        import cv2

        blur = cv2.blur(gray, (3, 3))
        lo, hi, _, _ = cv2.minMaxLoc(blur)
        if hi - lo < MIN_CONTRAST:
            return PupilResult.not_found()
        level = self.threshold if self.threshold is not None else lo + self.margin
        _, mask = cv2.threshold(blur, level, 255, cv2.THRESH_BINARY_INV)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        return best_blob(contours, min(gray.shape), self.r_min, self.r_max)


def best_blob(contours: list, short: int, r_min: float, r_max: float, offset: tuple[float, float] = (0, 0)):
    """Most pupil-like contour among ``contours`` -> PupilResult (not found if none is plausible)."""
    import cv2

    a_min, a_max = math.pi * (r_min * short) ** 2 * 0.5, math.pi * (r_max * short) ** 2 * 1.5
    best, best_score = None, 0.0
    for cnt in contours:
        if cnt.shape[0] < 6:
            continue
        area = cv2.contourArea(cnt)
        if not (a_min <= area <= a_max):
            continue
        per = cv2.arcLength(cnt, True)
        circ = min(1.0, 4 * math.pi * area / max(per * per, 1e-9))
        (ex, ey), (ew, eh), ang = cv2.fitEllipse(cnt)
        if ew <= 0 or eh <= 0 or not (math.isfinite(ex) and math.isfinite(ey)):
            continue
        fill = area / (math.pi * ew * eh / 4)
        score = circ * max(0.0, 1.0 - abs(1.0 - fill))
        if score > best_score:
            best, best_score = (ex + offset[0], ey + offset[1], ew, eh, ang), score
    if best is None:
        return PupilResult.not_found()
    return PupilResult(True, best[0], best[1], float(min(1.0, best_score)), best, None)
