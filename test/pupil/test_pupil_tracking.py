"""``default`` over sequences: tracking follows jumps, the per-frame search budget, blink (slit) rejection."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.pupil import create_detector
from pyacq_etvr.pupil.history import HISTORY_STABLE, SIZE_MEMORY
from pyacq_etvr.pupil.rays import RayFit


def _eye(cx: float, cy: float, w: float, h: float, angle: float = 0.0, seed: int = 0) -> np.ndarray:
    """Dark ellipse (grey 35) on a noisy grey 160 frame, 160x160, anti-aliased (rendered at 4x)."""
    import cv2

    big = np.full((640, 640), 160, np.uint8)
    cv2.ellipse(big, ((cx * 4 + 1.5, cy * 4 + 1.5), (w * 4, h * 4), angle), 35, -1)
    img = cv2.resize(big, (160, 160), interpolation=cv2.INTER_AREA).astype(np.float32)
    img += np.random.default_rng(seed).normal(0, 3, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _closed(seed: int) -> np.ndarray:
    """A closed eye: bright skin, a thin dark lash line across, noise; no pupil."""
    import cv2

    img = np.full((160, 160), 170, np.float32)
    cv2.line(img, (20, 90), (140, 84), 70, 2)
    img += np.random.default_rng(seed).normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_tracking_follows_a_saccade_and_never_keeps_the_old_target():
    det = create_detector("default")
    for i in range(8):  # settle on A (drifting slowly)
        res = det.detect(_eye(50 + 0.2 * i, 60, 24, 20, 10, seed=i))
        assert res.found and math.hypot(res.x - 50 - 0.2 * i, res.y - 60) < 0.5, res
        assert res.confidence >= 0.8, res
    for i in range(HISTORY_STABLE + 2):  # jump to B: found at once, never reported at A
        res = det.detect(_eye(110, 100, 22, 22, 0, seed=10 + i))
        assert res.found and math.hypot(res.x - 110, res.y - 100) < 0.5, (i, res)
        # 6.5 radii from the pupil sure a frame ago: tracked, but not sure until it stayed there a few frames
        if i < HISTORY_STABLE - 1:
            assert 0.5 <= res.confidence < 0.8, (i, res)
        else:
            assert res.confidence >= 0.8, (i, res)


def test_a_far_jump_that_keeps_moving_stays_unsure_until_the_old_pupil_is_forgotten():
    det = create_detector("default")
    for i in range(3):
        assert det.detect(_eye(50, 60, 24, 20, 10, seed=i)).confidence >= 0.8
    confs, openness = [], []
    for i in range(SIZE_MEMORY + 2):  # far from A and never still: a wandering dark spot, not a saccade's end
        x = 110 + (4 if i % 2 else -4)
        res = det.detect(_eye(x, 100, 22, 22, 0, seed=10 + i))
        assert res.found and math.hypot(res.x - x, res.y - 100) < 0.5, (i, res)
        confs.append(res.confidence)
        openness.append(res.openness)
    assert max(confs[: SIZE_MEMORY - 2]) < 0.8 and min(confs[-2:]) >= 0.8, confs
    assert min(openness) > 0.9, openness  # openness reads the uncapped confidence: the eye is open
    for i in range(3):  # a small move from there is sure at once; so is the same jump after a reset
        res = det.detect(_eye(112, 101, 22, 22, 0, seed=50 + i))
        assert res.confidence >= 0.8 and math.hypot(res.x - 112, res.y - 101) < 0.5, res
    det.reset()
    assert det.detect(_eye(50, 60, 24, 20, 10, seed=60)).confidence >= 0.8


@pytest.mark.parametrize("rise_fits", [0, 3])
def test_search_budget_is_bounded_per_frame(rise_fits):
    det = create_detector("default", max_fits=10, lost_fits=4, rise_fits=rise_fits)
    prev_found, n_lost = True, 0  # after reset(): the full budget
    for i in range(12):
        img = _closed(i) if i % 6 < 4 else _eye(80, 80, 26, 22, 20, seed=i)
        before = det.rays.calls
        res = det.detect(img)
        spent = det.rays.calls - before
        assert spent <= (10 if prev_found else 4) + rise_fits, (i, spent, prev_found)
        prev_found = res.found
        n_lost += not res.found
    assert n_lost >= 4  # the cheap search on lost frames was exercised
    # the pupil comes back after the closed frames (frames 4, 5 and 10, 11)
    assert det.detect(_eye(80, 80, 26, 22, 20, seed=99)).found


def test_closed_eye_frames_give_found_false_and_zero_openness():
    det = create_detector("default")
    for i in range(5):
        det.detect(_eye(70, 80, 26, 24, 0, seed=i))
    n_found = 0
    for i in range(10):
        res = det.detect(_closed(100 + i))
        assert not res.found or res.confidence < 0.8, res
        assert res.openness is not None and res.openness <= 0.3, res
        n_found += res.found
    assert n_found <= 2, n_found


def _fit(w: float, h: float, end_sep: float, contrast: float = 20.0) -> RayFit:
    return RayFit((80.0, 80.0, w, h, 0.0), 64, 60, 50, 0.4, 60.0, 60.0 + contrast, 5.0, 0.9, end_sep)


#: a frame whose grey levels span ~230 levels between the 5th and 95th percentile
RAMP = np.tile(np.linspace(0, 255, 160).astype(np.uint8), (120, 1))


def test_slit_rule_rejects_an_unsure_flat_fit_after_a_round_pupil():
    det = create_detector("default")
    g = RAMP
    # no confident pupil seen yet: a flat unsure fit is a slit only if the dark line goes on past its ends
    assert det._slit((0.5, _fit(30, 9, 0.25)), g)
    assert not det._slit((0.5, _fit(30, 9, 1.0)), g)  # an oblique pupil ending in brighter iris
    assert not det._slit((0.9, _fit(30, 9, 0.25)), g)  # confident: kept
    det.detect(_eye(80, 80, 26, 25, 0))  # a confident round pupil
    assert det._age <= 1 and det._aspect > 0.9
    det._range_age = 1 << 30  # the grey range is cached: measure it on the ramp, not on the eye just seen
    assert det._slit((0.5, _fit(30, 12, 1.0)), g)  # much flatter than the pupil just seen, faint: the lid closing
    # as flat, but its contrast is half the frame's grey range: a pupil seen at an angle, not a lid line
    assert not det._slit((0.5, _fit(30, 12, 1.0, contrast=115.0)), g)
    assert not det._slit((0.5, _fit(30, 25, 1.0)), g)
    det.reset()
    assert not det._slit((0.5, _fit(30, 12, 1.0)), g)


@pytest.mark.parametrize("params", [{"lost_fits": 0}, {"lost_fits": 2.5}, {"max_fits": 0}])
def test_bad_budget_settings(params):
    with pytest.raises(ConfigError):
        create_detector("default", **params)


def test_dark_frame_corners_are_not_seeds():
    """Vignetting makes the corners as dark as the pupil: HSF seeds stay off the border, the pupil is found."""
    from pyacq_etvr.pupil.hsf import HaarSurround

    yy, xx = np.mgrid[0:120, 0:160]
    d2 = ((xx - 80.0) / 80) ** 2 + ((yy - 60.0) / 60) ** 2
    img = 175 - 150 * np.clip(d2 - 0.6, 0, None) ** 0.7  # corners fall to ~30
    img[(xx - 70.0) ** 2 + (yy - 55.0) ** 2 < 10**2] = 30
    img = np.clip(img, 0, 255).astype(np.uint8)
    hsf = HaarSurround(0.02, 0.25)
    for c in hsf.candidates(img, None, 6):
        assert 2 <= c.x <= 157 and 2 <= c.y <= 117, c
    res = create_detector("default").detect(img)
    assert res.found and math.hypot(res.x - 70, res.y - 55) < 1.0, res


def test_a_much_smaller_dark_spot_right_after_a_pupil_is_not_taken_for_it():
    """A closed eye's lash clump (a third of the pupil's size) is rejected while the last pupil is recent; an
    unrelated frame of another size starts afresh and finds the same spot."""
    det = create_detector("default")
    for i in range(5):
        assert det.detect(_eye(70, 80, 30, 28, 0, seed=i)).found
    clump = _eye(100, 60, 9, 8, 0, seed=9)
    fresh = create_detector("default").detect(clump)
    assert fresh.found and math.hypot(fresh.x - 100, fresh.y - 60) < 1.0, fresh  # a pupil-like spot
    for i in range(3):
        res = det.detect(_eye(100, 60, 9, 8, 0, seed=20 + i))
        assert not res.found and res.openness == 0.0, (i, res)
    res = det.detect(np.ascontiguousarray(clump[:150]))  # another frame size: no memory of the big pupil
    assert res.found and math.hypot(res.x - 100, res.y - 60) < 1.0, res


def test_a_fit_much_larger_than_the_pupil_just_seen_is_found_but_not_sure():
    """After a confident pupil, a dark disc 2.5x its size (the iris around a pupil too faint to outline) is
    still reported and tracked, but below 0.8 while the pupil is recent; with no such memory it is sure."""
    det = create_detector("default")
    for i in range(4):
        res = det.detect(_eye(80, 80, 16, 15, 0, seed=i))
        assert res.found and res.confidence >= 0.8, res
    big = [_eye(80, 80, 40, 38, 0, seed=10 + i) for i in range(3)]
    fresh = create_detector("default").detect(big[0])
    assert fresh.found and fresh.confidence >= 0.8, fresh
    for img in big:
        res = det.detect(img)
        assert res.found and math.hypot(res.x - 80, res.y - 80) < 1.0, res
        assert 0.5 <= res.confidence < 0.8, res  # still tracked (>= track_conf), never counted as sure


def test_a_fit_much_smaller_than_the_pupil_just_seen_reads_as_a_closing_eye():
    """A dark disc 0.55x the diameter of the confident pupil just seen (above SIZE_MIN: still reported) gets
    a low openness (a lash tip or lid crease in a blink); with no such memory the same disc reads as open."""
    det = create_detector("default")
    for i in range(4):
        res = det.detect(_eye(80, 80, 30, 28, 0, seed=i))
        assert res.found and res.confidence >= 0.8 and res.openness > 0.8, res
    small = _eye(80, 80, 16.5, 15.5, 0, seed=9)
    res = det.detect(small)
    assert res.found and math.hypot(res.x - 80, res.y - 80) < 1.0, res
    assert res.openness <= 0.35, res
    fresh = create_detector("default").detect(small)
    assert fresh.found and fresh.openness > 0.8, fresh
