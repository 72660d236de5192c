"""SyntheticEye: determinism, ground truth matches what is drawn, blinks, bad input."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.eyetypes import TRUTH_DTYPE
from pyacq_etvr.synth import TIERS, SyntheticEye, bench_render


def _frames(eye: SyntheticEye, n: int):
    for _ in range(n):
        frame, truth = eye.next()
        yield frame, truth, dict(eye.info)


@pytest.mark.parametrize("tier", ["clean", "hard"])
def test_same_seed_same_frames_and_reset_replays(tier):
    a = SyntheticEye(96, 80, tier=tier, seed=7)
    b = SyntheticEye(96, 80, tier=tier, seed=7)
    first = []
    for (fa, ta, _), (fb, tb, _) in zip(_frames(a, 25), _frames(b, 25)):
        assert fa.shape == (80, 96) and fa.dtype == np.uint8 and fa.flags.c_contiguous
        assert np.array_equal(fa, fb)
        assert ta.dtype == TRUTH_DTYPE and ta.tobytes() == tb.tobytes()
        first.append(fa)
    a.reset()
    for f0, (fa, _, _) in zip(first, _frames(a, 25)):
        assert np.array_equal(f0, fa)
    a.reset(seed=8)
    assert not np.array_equal(first[0], a.next()[0])


def _dark_centroid(frame: np.ndarray, truth: np.void, eye: SyntheticEye):
    cx, cy, w, h, _ = (float(v) for v in truth["ellipse"])
    r = int(w / 2 + 3)
    x0, y0 = int(cx) - r, int(cy) - r
    win = frame[y0 : y0 + 2 * r + 2, x0 : x0 + 2 * r + 2].astype(np.float64)
    mid = (eye.model.pupil_level * 1.06 + 0.7 * eye.model.iris_level) / 2
    dark = win < mid
    ys, xs = np.nonzero(dark)
    return xs.mean() + x0, ys.mean() + y0, dark.sum(), math.pi * w * h / 4


@pytest.mark.parametrize("supersample", [1, 4])
def test_clean_pupil_centroid_matches_label(supersample):
    """Rendered pupil's dark-pixel centroid within 0.5 px of the published centre (clean, pupil uncovered)."""
    checked, errors = 0, []
    for seed in range(4):
        eye = SyntheticEye(240, 240, tier="clean", seed=seed, supersample=supersample)
        for k, (frame, truth, info) in enumerate(_frames(eye, 60 if supersample == 1 else 8)):
            if k % 3 or not truth["visible"] or info["visible_fraction"] < 0.999:
                continue
            x, y, area, area_truth = _dark_centroid(frame, truth, eye)
            errors.append(math.hypot(x - truth["x"], y - truth["y"]))
            assert abs(area - area_truth) < 0.1 * area_truth + 4
            checked += 1
    assert checked >= 10
    assert max(errors) <= 0.5, f"max centroid error {max(errors):.3f} px"
    assert float(np.mean(errors)) < 0.15


def test_ellipse_label_follows_opencv_convention():
    """fitEllipse on the drawn pupil's contour gives back the published (w, h, angle) on off-axis views."""
    # strongly off-axis, not axis-aligned, lid well clear of the pupil
    eye = SyntheticEye(240, 240, tier="clean", seed=3, overrides={"cam_yaw": 35.0, "cam_pitch": -20.0, "upper_h": 2.5})
    done = 0
    for frame, truth, info in _frames(eye, 40):
        if not truth["visible"] or info["visible_fraction"] < 0.999:
            continue
        mid = (eye.model.pupil_level * 1.06 + 0.7 * eye.model.iris_level) / 2
        mask = (frame < mid).astype(np.uint8)
        cnts, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cnt = max(cnts, key=cv2.contourArea)
        (fx, fy), (fw, fh), fa = cv2.fitEllipse(cnt)
        w, h, ang = (float(v) for v in truth["ellipse"][2:])
        assert w >= h
        if fw < fh:  # normalise OpenCV's answer to w >= h
            fw, fh, fa = fh, fw, fa + 90
        assert abs(fw - w) < 1.5 and abs(fh - h) < 1.5
        if w / h > 1.15:
            assert abs((fa - ang + 90) % 180 - 90) < 6
        done += 1
    assert done >= 5


def test_blink_hides_the_pupil():
    eye = SyntheticEye(160, 160, fps=60.0, tier="clean", seed=2)
    closed = 0
    for frame, truth, info in _frames(eye, 60 * 8):
        if truth["openness"] < 0.02:
            closed += 1
            assert not truth["visible"]
            assert math.isnan(truth["x"]) and math.isnan(truth["y"]) and np.isnan(truth["ellipse"]).all()
            assert np.isfinite(truth["gaze_x"]) and np.isfinite(truth["gaze_y"])
            cx, cy = info["pupil_centre"]
            r = max(2, int(0.7 * info["pupil_radius"]))
            win = frame[int(cy) - r : int(cy) + r + 1, int(cx) - r : int(cx) + r + 1]
            mid = (eye.model.pupil_level + 0.7 * eye.model.iris_level) / 2
            # no pupil disc there: at most a few dark lash pixels
            assert (win < mid).mean() < 0.25
        elif truth["openness"] > 0.9 * eye.trajectory.base_openness and info["visible_fraction"] > 0.99:
            assert truth["visible"] and np.isfinite(truth["x"])
    assert closed >= 3, "no fully closed frame in 8 s: blinks are missing"


def test_tiers_differ_in_difficulty():
    """Pupil/iris contrast falls and sensor noise grows from clean to hard (measured on the frames)."""
    contrast, noise = {}, {}
    for tier in TIERS:
        cs, ns = [], []
        for seed in range(8):
            kw = {"tier": tier, "seed": seed, "jpeg_quality": 0}
            eye = SyntheticEye(160, 160, **kw, overrides={"glints": np.empty((0, 2)), "upper_h": 2.5, "exposure": 0})
            frame, truth = eye.next()
            quiet = SyntheticEye(
                160,
                160,
                **kw,
                overrides={"glints": np.empty((0, 2)), "upper_h": 2.5, "exposure": 0, "noise_sigma": 0.0},
            )
            ns.append(float(np.std(frame.astype(float) - quiet.next()[0])))
            if truth["visible"]:
                cx, cy = eye.info["pupil_centre"]
                rp, ic = eye.info["pupil_radius"], eye.info["iris_centre"]
                yy, xx = np.mgrid[0:160, 0:160]
                d_p = np.hypot(xx - cx, yy - cy)
                d_i = np.hypot(xx - ic[0], yy - ic[1])
                pupil = np.median(frame[d_p < 0.5 * rp])
                iris = np.median(frame[(d_p > rp + 2) & (d_i < 0.8 * eye.model.ri)])
                cs.append(iris - pupil)
        contrast[tier], noise[tier] = np.mean(cs), np.mean(ns)
    assert contrast["clean"] > contrast["medium"] > contrast["hard"] > 5
    assert noise["clean"] == 0 < noise["easy"] < noise["hard"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"width": 16},
        {"height": 31},
        {"width": 240.5},
        {"tier": "impossible"},
        {"fps": 0},
        {"fps": float("nan")},
        {"jpeg_quality": 101},
        {"seed": -1},
        {"supersample": 0},
        {"overrides": {"no_such_field": 1}},
        {"overrides": {"anchor": "centre"}},
        {"overrides": {"glints": [1.0, 2.0, 3.0]}},
    ],
)
def test_bad_settings_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        SyntheticEye(**kwargs)


def test_next_into_rejects_bad_buffers_and_keeps_working():
    eye = SyntheticEye(64, 48, seed=1)
    for bad in (
        np.empty((64, 48), np.uint8),
        np.empty((48, 64), np.float32),
        np.empty((48, 128), np.uint8)[:, ::2],
        np.empty((48, 64, 3), np.uint8),
        [[0] * 64] * 48,
    ):
        with pytest.raises(ConfigError, match="out must be"):
            eye.next_into(bad)
    out = np.zeros((48, 64), np.uint8)
    truth = eye.next_into(out)
    assert out.any() and truth.dtype == TRUTH_DTYPE
    assert eye.frame_count == 1  # the rejected calls did not advance the sequence


def test_jpeg_quality_setting_applies():
    plain = SyntheticEye(96, 96, tier="clean", seed=4).next()[0]
    jpeg = SyntheticEye(96, 96, tier="clean", seed=4, jpeg_quality=20).next()[0]
    assert not np.array_equal(plain, jpeg)
    assert np.abs(plain.astype(int) - jpeg.astype(int)).mean() < 10


def test_bench_render_reports_speed():
    res = bench_render(64, 64, n=5, tier="hard")
    assert res["fps"] > 0 and res["cpu_ms_per_frame"] > 0 and res["n"] == 5


def test_pupil_leaving_the_frame_counts_as_hidden():
    """The visible fraction accounts for the frame edge: a pupil centred on the left border is half visible."""
    eye = SyntheticEye(160, 160, tier="clean", seed=5, overrides={"anchor": (-0.5, 80.0), "upper_h": 2.5})
    fracs = []
    for _frame, truth, info in _frames(eye, 30):
        x = info["pupil_centre"][0]
        fracs.append((x, info["visible_fraction"], bool(truth["visible"])))
    for x, frac, vis in fracs:
        if abs(x + 0.5) < 1.0 and frac > 0:
            assert 0.35 < frac < 0.65
        assert vis == (frac >= 0.5)
    assert any(not v for _, _, v in fracs) or any(f < 0.65 for _, f, _ in fracs)


def test_labels_unbiased_under_motion_blur():
    """Motion blur uses a point-symmetric kernel: saccade frames keep the dark centroid on the label."""
    still = {"glints": np.empty((0, 2)), "upper_h": 2.5, "lower_h": 2.5, "exposure": 1.0}  # lids far away
    eye = SyntheticEye(200, 200, fps=30.0, tier="clean", seed=11, overrides=still)
    prev, moving = None, 0
    for frame, truth, info in _frames(eye, 300):
        c = np.array(info["pupil_centre"])
        # away from the upper lid, whose shadow darkens the top of a smeared pupil (physically right, but
        # it moves a threshold centroid)
        if prev is not None and truth["visible"] and info["visible_fraction"] > 0.999 and truth["gaze_y"] < 0:
            step = float(np.hypot(*(c - prev)))
            if step > 3.0:
                x, y, _, _ = _dark_centroid(frame, truth, eye)
                assert math.hypot(x - truth["x"], y - truth["y"]) < 0.5
                moving += 1
        prev = c
    assert moving >= 3, "no fast eye movement found"


@pytest.mark.parametrize("tier", ["medium", "hard"])
def test_non_square_frames_and_labels_in_range(tier):
    eye = SyntheticEye(320, 200, tier=tier, seed=3)
    out = np.empty((200, 320), np.uint8)
    seen = 0
    for _ in range(40):
        truth = eye.next_into(out)
        assert 0 <= float(truth["openness"]) <= 1
        assert -1 <= float(truth["gaze_x"]) <= 1 and -1 <= float(truth["gaze_y"]) <= 1
        if truth["visible"]:
            seen += 1
            assert -0.5 <= truth["x"] <= 319.5 and -0.5 <= truth["y"] <= 199.5
            w, h = float(truth["ellipse"][2]), float(truth["ellipse"][3])
            assert w >= h > 0 and 0 <= float(truth["ellipse"][4]) < 180
    assert seen > 0
    assert out.std() > 5  # a picture, not a flat frame


def test_overrides_without_lashes_or_glints_render():
    eye = SyntheticEye(64, 64, tier="hard", seed=2, overrides={"n_lashes": 0, "glints": np.empty((0, 2))})
    for _ in range(30):
        frame, truth = eye.next()
        assert frame.shape == (64, 64)


def test_bad_calls_raise_config_error_and_keep_state():
    from pyacq_etvr.synth import Tier, get_tier

    eye = SyntheticEye(64, 64, seed=1)
    eye.next()
    for call in (lambda: eye.skip(-1), lambda: eye.skip(1.5), lambda: eye.reset(seed="x"), lambda: eye.reset(-2)):
        with pytest.raises(ConfigError):
            call()
    assert eye.frame_count == 1 and eye.seed == 1
    ro = np.zeros((64, 64), np.uint8)
    ro.flags.writeable = False
    with pytest.raises(ConfigError, match="writeable"):
        eye.next_into(ro)
    with pytest.raises(ConfigError, match="lo > hi"):
        Tier(name="broken", noise_sigma=(5.0, 1.0))
    with pytest.raises(ConfigError, match="unknown synthetic tier"):
        get_tier(3)
    custom = Tier(name="mine", n_glints=(1, 1), noise_sigma=(2.0, 2.0))
    frame, truth = SyntheticEye(64, 64, tier=custom, seed=1).next()
    assert frame.shape == (64, 64) and truth.dtype == TRUTH_DTYPE
