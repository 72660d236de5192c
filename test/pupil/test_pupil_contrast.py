"""The default detector's contrast cues: a faint, crisp spot does not beat a darker, far higher-contrast pupil;
a flat but strongly contrasted fit is a pupil seen at an angle, not the slit of a closing eye."""

from __future__ import annotations

import os

import numpy as np
import pytest

from pyacq_etvr.pupil import create_detector
from pyacq_etvr.pupil.default import CONTRAST_CONF, FAINT_REPORT, DefaultDetector
from pyacq_etvr.pupil.rays import RayFit


def _cand(conf: float, x: float, pupil: float, surround: float) -> tuple:
    fit = RayFit((x, 30.0, 12.0, 10.0, 0.0), 64, 60, 58, 0.4, pupil, surround, 2.0, 0.9)
    return conf, fit, None


def _fed_in_order(eye_clips_dir: str, clip: str, last: int):
    """(frame index, BGR frame, result) of a fresh ``default`` detector fed a shared clip in order, as a camera
    would, up to frame ``last``."""
    import cv2

    cap = cv2.VideoCapture(os.path.join(eye_clips_dir, clip))
    det = create_detector("default")
    try:
        for i in range(last + 1):
            ok, frame = cap.read()
            assert ok, (clip, i)
            yield i, frame, det.detect(frame)
    finally:
        cap.release()


@pytest.mark.parametrize(
    "alt, switched",
    [
        ((0.40, 60.0, 130.0), True),  # darker and 8x the contrast: the pupil
        ((0.40, 118.0, 190.0), False),  # higher contrast but not darker inside (a larger outline of the same spot)
        ((CONTRAST_CONF - 0.05, 60.0, 130.0), False),  # too unsure to take over
        ((0.40, 110.0, 130.0), False),  # darker but only 2.5x the contrast
    ],
)
def test_contrast_check_rule(alt, switched):
    det = DefaultDetector()
    faint = _cand(0.95, 120.0, 120.0, 128.0)  # a crisp spot 8 grey levels darker than its surround
    other = _cand(alt[0], 40.0, alt[1], alt[2])
    det._cands = [faint, other, _cand(0.1, 80.0, 20.0, 200.0)]  # the last one is junk (confidence 0.1)
    assert det._contrast_check(faint) is (other if switched else faint)


@pytest.mark.timeout(60)
def test_faint_spots_next_to_the_pupil_on_a_real_clip(eye_clips_dir):
    """pupil3d-demo1: frames where a faint round spot on the iris/skin used to win at confidence 0.66-0.99;
    the pupil positions were read off the overlays by eye (x, y in px; the pupil is ~20 px across)."""
    import cv2

    pupils = {263: (81.0, 47.0), 651: (93.0, 36.0), 730: (99.0, 40.0), 791: (108.0, 43.0)}
    cap = cv2.VideoCapture(os.path.join(eye_clips_dir, "pupil3d-demo1.mp4"))
    frames, i = {}, 0
    try:
        while i <= max(pupils):
            ok, frame = cap.read()
            assert ok, i
            if i in pupils:
                frames[i] = frame
            i += 1
    finally:
        cap.release()
    for i, (x, y) in pupils.items():
        res = create_detector("default").detect(frames[i])  # a fresh detector: one full search
        assert res.found and np.hypot(res.x - x, res.y - y) < 6.0, (i, res)


@pytest.mark.timeout(60)
def test_flat_open_pupils_are_not_taken_for_a_closing_eye(eye_clips_dir):
    """pupil3d-demo3: on these frames the eye is open and the pupil, seen at an angle, is much flatter than the
    last confident one; the slit rule used to report no pupil. Fed in order, as a camera would."""
    import cv2

    wanted = (406, 498, 499, 1200)
    for i, frame, res in _fed_in_order(eye_clips_dir, "pupil3d-demo3.mp4", max(wanted)):
        if i in wanted:
            gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            assert res.found, (i, res)
            _, _, w, h, _ = res.ellipse
            assert max(w, h) > 0.25 * gray.shape[1]  # the whole pupil, not a fragment
            x, y, k = int(round(res.x)), int(round(res.y)), int(min(w, h) / 4)
            inside = gray[y - k : y + k + 1, x - k : x + k + 1]
            assert np.median(inside) <= np.percentile(gray, 15), (i, res)


def test_grey_range_is_the_5_to_95_percentile_span():
    rng = np.random.default_rng(3)
    gray = np.clip(rng.normal(120, 40, (240, 320)), 0, 255).astype(np.uint8)
    det = DefaultDetector()
    p5, p95 = np.percentile(gray[::4, ::4], (5, 95))
    assert abs(det._grey_range(gray) - (p95 - p5)) <= 2
    assert det._grey_range(np.zeros_like(gray)) == pytest.approx(p95 - p5, abs=2)  # cached for 15 frames


@pytest.mark.timeout(60)
def test_faint_tracks_are_not_reported_sure_and_give_way_to_the_pupil(eye_clips_dir):
    """pupil3d-demo1, fed in order: from frame 1496 the track holds a faint spot beside the pupil (it used to be
    reported at 0.99): it is reported at most at 0.75, and the full search that re-checks a faint track hands
    over to the pupil (read off the overlay by eye at (74, 38)) by frame 1499; the clear pupil of frames 1306
    and 1345 stays sure."""
    wanted = (1306, 1345, 1496, 1497, 1498, 1499)
    res = {i: r for i, _, r in _fed_in_order(eye_clips_dir, "pupil3d-demo1.mp4", 1499) if i in wanted}
    assert res[1306].confidence >= 0.8 and res[1345].confidence >= 0.8, res
    for i in (1496, 1497, 1498, 1499):  # never a sure report off the pupil
        assert res[i].confidence <= 0.75 or np.hypot(res[i].x - 74.0, res[i].y - 38.0) < 6.0, (i, res[i])
    assert res[1499].confidence >= 0.8, res[1499]


def test_a_faint_track_gives_way_only_to_a_sure_darker_fit_of_far_higher_contrast():
    det = DefaultDetector()
    gray = np.full((120, 160), 128, np.uint8)
    gray[:, :80] = 20  # grey range 108: a fit under 8.6 grey levels of contrast is faint
    tracked = _cand(0.9, 120.0, 120.0, 128.0)
    for alt, switched in [
        (_cand(0.95, 40.0, 60.0, 130.0), True),
        (_cand(0.7, 40.0, 60.0, 130.0), False),  # not sure
        (_cand(0.95, 40.0, 112.0, 130.0), False),  # not darker inside
    ]:
        det._search = lambda g, best, alt=alt: alt
        assert det._faint(tracked[1], gray)
        assert det._recheck(gray, tracked) is (alt if switched else tracked)


@pytest.mark.timeout(60)
def test_an_unsure_darker_candidate_of_far_higher_contrast_still_outshines_a_spot(eye_clips_dir):
    """pupil3d-demo2, fed in order: in frames 493-502 a faint spot at the left edge of the frame (x ~ 13) used to
    win the search at 0.6-0.8 while the pupil (x 65-80) was found at confidence 0.2-0.3 only: the pupil, darker
    and of far higher contrast, now outshines it (the frame reports the pupil or nothing), never the spot."""
    frames = _fed_in_order(eye_clips_dir, "pupil3d-demo2.mp4", 502)
    found = [(i, r.x, r.y, r.confidence) for i, _, r in frames if i >= 493 and r.found]
    assert len(found) >= 5, found  # the pupil on most of them
    assert all(x > 40 for _, x, _, _ in found), found


@pytest.mark.timeout(60)
def test_a_faint_fit_does_not_reacquire_the_pupil(eye_clips_dir):
    """pupil3d-demo3, fed in order: in frames 721-786 the pupil is under the lid and a faint dark spot on the skin
    at the top right (x ~ 175, y ~ 46) used to be acquired after a frame with no pupil and then reported at
    0.55-0.75 for 58 frames; a faint fit no longer re-acquires, so it is never reported."""
    spot = [
        (i, r.confidence)
        for i, _, r in _fed_in_order(eye_clips_dir, "pupil3d-demo3.mp4", 786)
        if i >= 715 and r.found and np.hypot(r.x - 176.0, r.y - 46.0) < 10
    ]
    assert not spot, spot


@pytest.mark.timeout(60)
def test_faint_fits_are_reported_below_the_pipelines_validity_gate(eye_clips_dir):
    """pupil3d-demo3, fed in order: from frame ~948 the track holds a spot on the lid (x ~ 110, y ~ 20) whose
    contrast is faint; such fits are right far less often than others of the same confidence (synthetic hard
    sequences 27-47 % within 5 px at 0.5-0.75, against 67-73 %), so they are reported at ``FAINT_REPORT`` (0.4) at
    most: below the 0.5 the pipeline needs to use a detection. The track itself is kept as before."""
    spot = [
        r.confidence
        for i, _, r in _fed_in_order(eye_clips_dir, "pupil3d-demo3.mp4", 984)
        if i >= 946 and r.found and np.hypot(r.x - 110.0, r.y - 20.0) < 8
    ]
    assert len(spot) >= 10, spot
    assert max(spot) <= FAINT_REPORT < 0.5, spot
