"""Padding bars (letterbox / pillarbox) at the frame borders: found, and searched around by ``default``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyacq_etvr.pupil import create_detector
from pyacq_etvr.pupil.frame import padding_bars


def _picture(h: int = 200, w: int = 240) -> np.ndarray:
    rng = np.random.default_rng(1)
    return np.clip(rng.normal(140, 6, (h, w)), 0, 255).astype(np.uint8)


def test_padding_bars_found_at_each_border():
    assert padding_bars(_picture()) == (0, 0, 0, 0)
    g = np.zeros((230, 290), np.uint8)
    g[14:214, 30:270] = _picture()  # 14 black rows on top, 16 below, 30 columns left, 20 right
    assert padding_bars(g) == (14, 16, 30, 20)
    g[:14] = 16  # video black on top, true black at the sides: both found where they meet
    assert padding_bars(g) == (14, 16, 30, 20)


@pytest.mark.parametrize(
    "what, frame",
    [
        ("noisy dark border", np.clip(np.random.default_rng(2).normal(20, 5, (60, 80)), 0, 255).astype(np.uint8)),
        ("bright bar", np.pad(_picture(60, 80), ((10, 0), (0, 0)), constant_values=250)),
    ],
)
def test_what_is_not_a_padding_bar(what, frame):
    assert padding_bars(frame) == (0, 0, 0, 0), what


def test_a_black_frame_is_capped_at_a_quarter_per_side():
    assert padding_bars(np.zeros((100, 120), np.uint8)) == (25, 25, 30, 30)


def test_default_searches_inside_the_bars_and_reports_frame_coordinates():
    import cv2

    pic = _picture()
    big = cv2.resize(pic, (240 * 4, 200 * 4), interpolation=cv2.INTER_NEAREST)
    cv2.ellipse(big, ((130.3 * 4 + 1.5, 90.6 * 4 + 1.5), (26 * 4, 20 * 4), 15), 40, -1)
    pic = cv2.resize(big, (240, 200), interpolation=cv2.INTER_AREA)
    ref = create_detector("default").detect(pic)
    assert ref.found and math.hypot(ref.x - 130.3, ref.y - 90.6) < 0.3, ref
    padded = np.zeros((200 + 30, 240 + 50), np.uint8)
    padded[14:214, 30:270] = pic  # letterbox and pillarbox
    res = create_detector("default").detect(padded)
    assert res.found and res.x == pytest.approx(ref.x + 30, abs=1e-6) and res.y == pytest.approx(ref.y + 14, abs=1e-6)
    assert res.ellipse[:2] == pytest.approx((res.x, res.y)) and res.confidence == pytest.approx(ref.confidence)


def test_bars_of_a_black_start_up_frame_are_not_kept():
    """A camera's first frames can be black: the bars found there (a quarter of each side) must not crop the
    frames that follow."""
    import cv2

    pic = np.full((200, 240), 150, np.uint8)
    cv2.ellipse(pic, ((30, 30), (24, 20), 0), 40, -1)  # a pupil near the corner, inside a black frame's "bars"
    det = create_detector("default")
    assert not det.detect(np.zeros_like(pic)).found
    res = det.detect(pic)
    assert res.found and math.hypot(res.x - 30, res.y - 30) < 1.0, res
