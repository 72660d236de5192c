"""Pupil detectors: API, sub-pixel accuracy on rendered ellipses, synthetic labelled frames, bad input, blinks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError, ImageError
from pyacq_etvr.pupil import PupilResult, create_detector, describe_detectors, list_detectors

NAMES = list_detectors()


def render_ellipse(cx: float, cy: float, w: float, h: float, angle: float, size=(120, 160), ss: int = 8):
    """Anti-aliased dark ellipse (grey 30) on grey 170, pixel-centre convention, rendered at ss x."""
    import cv2

    hh, ww = size
    big = np.full((hh * ss, ww * ss), 170, np.uint8)
    cv2.ellipse(big, ((cx * ss + (ss - 1) / 2, cy * ss + (ss - 1) / 2), (w * ss, h * ss), angle), 30, -1)
    return cv2.resize(big, (ww, hh), interpolation=cv2.INTER_AREA)


def test_registry_lists_the_issue_names():
    assert NAMES[0] == "default"
    assert {"default", "hsf", "blob", "ransac", "hsrac"} <= set(NAMES)
    assert set(describe_detectors()) == set(NAMES)
    for name in NAMES:
        det = create_detector(name)
        assert det.name == name
        assert "Cost" in (det.__class__.__doc__ or ""), name


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("nope", {}, "unknown pupil detector"),
        ("default", {"bogus": 1}, "bad parameters"),
        ("default", {"n_rays": 2}, "n_rays"),
        ("default", {"tol": "1"}, "tol"),
        ("default", {"track": 1}, "track"),
        ("default", {"work_size": 32}, "work_size"),
        ("default", {"work_size": 240.0}, "work_size"),
        ("hsf", {"r_min": 0.3, "r_max": 0.1}, "r_max"),
        ("blob", {"threshold": 300}, "threshold"),
        ("ransac", {"blur": 4}, "odd"),
        ("hsrac", {"margin": float("nan")}, "margin"),
    ],
)
def test_bad_detector_config_is_a_clear_error(name, params, match):
    with pytest.raises(ConfigError, match=match):
        create_detector(name, **params)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("ell", [(80.3, 55.7, 28, 20, 30), (40.5, 70.25, 18, 18, 0), (110.1, 60.9, 40, 26, 100)])
def test_subpixel_centre_on_rendered_ellipse(name, ell):
    img = render_ellipse(*ell)
    res = create_detector(name).detect(img)
    assert res.found, res
    err = math.hypot(res.x - ell[0], res.y - ell[1])
    tol = 0.25 if name in ("default", "ransac", "hsrac", "blob") else 1.0
    assert err < tol, (name, ell, res)
    if name == "default":
        assert res.confidence >= 0.8
        ex, ey, ew, eh, _ = res.ellipse
        assert abs(max(ew, eh) - max(ell[2:4])) < 0.5 and abs(min(ew, eh) - min(ell[2:4])) < 0.5


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs(name):
    det = create_detector(name)
    good = render_ellipse(60.0, 50.0, 20, 16, 0)
    # errors with a message that says what is expected
    for bad, match in [
        ([[1, 2], [3, 4]], "numpy array"),
        (np.zeros((0, 0), np.uint8), "empty"),
        (good.astype(np.float32), "uint8"),
        (np.full((60, 60), np.nan, np.float64), "NaN"),
        (good.astype(np.int16), "uint8"),
        (np.zeros((2, 30, 30, 3), np.uint8), "2-D"),
        (np.zeros((30, 30, 2), np.uint8), "channels"),
    ]:
        with pytest.raises(ImageError, match=match):
            det.detect(bad)
    # documented found=False results
    for flat in (np.zeros((120, 160), np.uint8), np.full((120, 160), 255, np.uint8), np.full((50, 50), 128, np.uint8)):
        res = det.detect(flat)
        assert res == PupilResult(False, res.x, res.y, 0.0, None, res.openness) and math.isnan(res.x)
    assert not det.detect(np.zeros((8, 8), np.uint8)).found  # tiny
    # conversions: 3-channel, 4-channel, non-contiguous views give the same answer as the plain frame
    ref = det.detect(good)
    assert ref.found
    bgr = np.ascontiguousarray(np.repeat(good[:, :, None], 3, axis=2))
    for variant in (bgr, np.dstack([good, good, good, good]), good[:, :, None]):
        r = det.detect(variant)
        assert r.found and abs(r.x - ref.x) < 0.05 and abs(r.y - ref.y) < 0.05
    wide = np.zeros((120, 320), np.uint8)
    wide[:, ::2] = good
    r = det.detect(wide[:, ::2])
    assert r.found and abs(r.x - ref.x) < 0.05
    flipped = det.detect(good[:, ::-1])
    assert flipped.found and abs(flipped.x - (good.shape[1] - 1 - ref.x)) < 0.3
    # the detector still works after all that
    det.reset()
    again = det.detect(good)
    assert again.found and abs(again.x - ref.x) < 0.05


def test_sizes_from_32_to_640():
    det = create_detector("default")
    for (h, w), scale in (((32, 32), 0.2), ((64, 48), 0.25), ((480, 640), 1.0)):
        cx, cy = w * 0.45 + 0.3, h * 0.55 - 0.2
        r = max(4.0, 30 * scale)
        img = render_ellipse(cx, cy, 2 * r, 1.6 * r, 20, size=(h, w), ss=4)
        res = det.detect(img)
        assert res.found and math.hypot(res.x - cx, res.y - cy) < 0.5, ((h, w), res)


@pytest.mark.parametrize("size", [(480, 640), (300, 400)])
def test_large_frames_are_detected_at_the_working_size(size):
    """Frames larger than ``work_size`` are resized for detection; results come back in frame pixels."""
    h, w = size
    cx, cy, ew, eh = w * 0.43 + 0.37, h * 0.58 - 0.21, 70.0, 52.0
    img = render_ellipse(cx, cy, ew, eh, 25, size=size, ss=4)
    det = create_detector("default")
    for res in (det.detect(img), det.detect(img), create_detector("default", work_size=0).detect(img)):
        assert res.found and res.confidence >= 0.8 and math.hypot(res.x - cx, res.y - cy) < 0.3, res
        rx, ry, rw, rh, angle = res.ellipse
        assert (rx, ry) == pytest.approx((res.x, res.y))
        assert abs(max(rw, rh) - ew) < 1.0 and abs(min(rw, rh) - eh) < 1.0, res


def test_rescaled_maps_pixel_centres():
    res = PupilResult(True, 10.0, 20.0, 0.9, (10.0, 20.0, 8.0, 6.0, 30.0), 0.5)
    big = res.rescaled(0.5, 0.5)  # found on a half-size frame
    assert (big.x, big.y) == (20.5, 40.5) and big.ellipse == (20.5, 40.5, 16.0, 12.0, 30.0)
    assert big.confidence == 0.9 and big.openness == 0.5
    assert big.rescaled(2.0, 2.0) == res
    miss = PupilResult.not_found(openness=0.0)
    assert miss.rescaled(0.5, 0.5) is miss


@pytest.fixture(scope="module")
def medium_set(tmp_path_factory):
    from pyacq_etvr.pupil.evaluate import load_images, load_labels
    from pyacq_etvr.synth import render_dataset

    out = tmp_path_factory.mktemp("medium")
    csv = render_dataset(out, 36, tier="medium", seed=11, supersample=2)
    seqs = load_labels(csv)
    return csv, seqs, load_images(seqs)


def test_default_on_synthetic_medium(medium_set):
    from pyacq_etvr.pupil.evaluate import run_detector, score

    _, seqs, images = medium_set
    m = score(run_detector(create_detector("default"), seqs, images))
    assert m["labelled"] >= 30
    assert m["dr5"] >= 0.85, m
    assert m["median_err"] <= 0.6, m
    if not math.isnan(m["hi_conf_dr5"]):
        assert m["hi_conf_dr5"] >= 0.95, m


@pytest.mark.parametrize("eye_seed", [5, 6, 7, 8])
def test_closed_eye_is_not_a_confident_pupil(eye_seed):
    """Fed a synthetic eye in order (open, then blinking), the tracker reads every shut-eye frame as closed
    (openness <= 0.3) and never reports a confident pupil there; a fresh detector shown only the shut frames
    (nothing tracked before) reports no confident pupil either."""
    from pyacq_etvr.synth import SyntheticEye

    det = create_detector("default")
    eye = SyntheticEye(tier="easy", seed=eye_seed, overrides={})
    shut = []
    for _ in range(400):
        frame, truth = eye.next()
        res = det.detect(frame)
        if truth["visible"] or truth["openness"] > 0.05:
            continue
        shut.append(frame)
        # never a confident pupil (0.8 is the calibrated "confident" level) and the eye reads as closed
        assert not res.found or res.confidence < 0.8, res
        assert res.openness is not None and res.openness <= 0.3, res
        if len(shut) >= 6:
            break
    if not shut:
        pytest.skip("no closed-eye frame in this synthetic sequence")
    fresh = create_detector("default")
    for frame in shut:
        res = fresh.detect(frame)
        assert not res.found or res.confidence < 0.8, res
