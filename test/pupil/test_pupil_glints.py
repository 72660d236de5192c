"""Large corneal glints (bright reflections several px wide) inside or on the edge of the pupil: the ``default``
detector's rays fill them with the pupil level, drop the crossings next to them and count the rays they hide
as unseen (see :meth:`pyacq_etvr.pupil.rays.RayCaster._fill_glints`)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyacq_etvr.pupil import create_detector
from pyacq_etvr.pupil.rays import RayCaster

PUPIL = (100.3, 80.6, 36.0, 30.0, 20.0)  # cx, cy, width, height, angle


def _eye(glints, size=(160, 200), ss: int = 8, seed: int = 0) -> np.ndarray:
    """Grey 170 skin, an iris (grey 105, radius 40) and the dark pupil ``PUPIL`` (grey 35), glints (grey 255
    discs ``(x, y, radius)``), rendered at ``ss`` x, light blur and noise."""
    import cv2

    h, w = size
    big = np.full((h * ss, w * ss), 170, np.uint8)
    o = (ss - 1) / 2

    def pt(x, y):
        return (x * ss + o, y * ss + o)

    cx, cy, pw, ph, ang = PUPIL
    cv2.ellipse(big, (pt(cx + 3, cy - 2), (80 * ss, 78 * ss), 0), 105, -1)
    cv2.ellipse(big, (pt(cx, cy), (pw * ss, ph * ss), ang), 35, -1)
    for gx, gy, gr in glints:
        cv2.ellipse(big, (pt(gx, gy), (2 * gr * ss, 2 * gr * ss), 0), 255, -1)
    img = cv2.GaussianBlur(cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32), (0, 0), 0.8)
    img += np.random.default_rng(seed).normal(0, 2.0, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _on_edge(t: float, inside: float) -> tuple[float, float]:
    """The point of the pupil outline at parameter angle t (degrees), moved ``inside`` px towards the centre."""
    cx, cy, pw, ph, ang = PUPIL
    a, c, s = math.radians(t), math.cos(math.radians(ang)), math.sin(math.radians(ang))
    ex, ey = (0.5 * pw - inside) * math.cos(a), (0.5 * ph - inside) * math.sin(a)
    return cx + c * ex - s * ey, cy + s * ex + c * ey


CASES = {
    "inside": [(*_on_edge(200, 9), 7.5)],
    "on the edge": [(*_on_edge(260, 2), 7.5)],
    "edge and inside": [(*_on_edge(330, 1), 6.0), (*_on_edge(150, 8), 4.5)],
}


@pytest.mark.parametrize("case", list(CASES))
def test_large_glints_in_the_pupil_leave_the_centre_within_a_pixel(case):
    det = create_detector("default")
    img = _eye(CASES[case])
    res = det.detect(img)
    assert res.found and res.confidence >= 0.9, res
    assert math.hypot(res.x - PUPIL[0], res.y - PUPIL[1]) < 1.0, (res, case)
    assert abs(0.5 * (res.ellipse[2] + res.ellipse[3]) - 33.0) < 2.0, res.ellipse


def test_rays_hidden_by_a_glint_carry_no_evidence_and_give_no_edge_point():
    """From the true centre: the rays whose edge the glint covers are neither edge points nor counted as cast
    (support stays near 1, as for rays leaving the frame); every kept point lies on the true outline."""
    rc = RayCaster()
    rc.keep_debug = True
    gx, gy = _on_edge(60, 0)
    fit, _ = rc.fit(_eye([(gx, gy, 6.0)]), PUPIL[0], PUPIL[1], 16.0)
    assert fit.n_rays < rc.n_rays - 4  # hidden rays are not counted
    assert fit.n_inliers >= 0.9 * fit.n_rays
    assert fit.separation >= 0.9
    xs, ys, _ = rc.debug
    assert np.hypot(xs - gx, ys - gy).min() > 6.0  # no point on the glint's outline
    cx, cy, pw, ph, ang = PUPIL
    c, s = math.cos(math.radians(ang)), math.sin(math.radians(ang))
    u, v = (xs - cx) * c + (ys - cy) * s, -(xs - cx) * s + (ys - cy) * c
    rho = np.hypot(u / (0.5 * pw), v / (0.5 * ph))
    assert np.all(np.abs(rho - 1.0) < 0.08)


def test_a_glint_on_the_iris_is_not_a_pupil():
    """A big glint on the iris, away from the pupil, is filled with the pupil level: rays cast from it must not
    outline the filled glint (its crossings are dropped), and the detector still reports the pupil."""
    gx, gy = PUPIL[0] + 28.0, PUPIL[1] + 14.0
    img = _eye([(gx, gy, 6.0)])
    fit = RayCaster().fit(img, gx, gy, 6.0)
    if fit is not None:
        ex, ey, ew, eh, _ = fit[0].ellipse
        assert not (math.hypot(ex - gx, ey - gy) < 3.0 and max(ew, eh) < 20.0), fit[0]
    res = create_detector("default").detect(img)
    assert res.found and math.hypot(res.x - PUPIL[0], res.y - PUPIL[1]) < 1.0, res
