"""Ranked full-search seeds (hsf.SeedRanker): recall on synthetic frames, line/edge rejection, odd frames."""

from __future__ import annotations

import csv
import math
import os

import numpy as np
import pytest

from pyacq_etvr.pupil.hsf import Coarse, HaarSurround
from pyacq_etvr.pupil.seedrank import SeedRanker


def _load(out: str, n: int, tier: str, seed: int) -> list[tuple[np.ndarray, float, float, float]]:
    """Render ``n`` labelled frames; (frame, x, y, true radius) of those with a visible pupil."""
    import cv2

    from pyacq_etvr.synth import render_dataset

    path = render_dataset(out, n, tier=tier, seed=seed, supersample=2)
    frames = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["x"]:
                gray = cv2.imread(os.path.join(out, row["file"]), cv2.IMREAD_GRAYSCALE)
                r = 0.25 * (float(row["ellipse_w"]) + float(row["ellipse_h"]))
                frames.append((gray, float(row["x"]), float(row["y"]), r))
    return frames


def _recall(frames, seeds_of, k: int) -> float:
    """Share of frames with a seed among the first k within max(2, 0.6 r) of the true centre (a ray pass
    started there converges on the pupil)."""
    hits = 0
    for gray, x, y, r in frames:
        seeds = seeds_of(gray)[:k]
        hits += any(math.hypot(s.x - x, s.y - y) < max(2.0, 0.6 * r) for s in seeds)
    return hits / len(frames)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("seeds")
    return {
        "medium": _load(str(root / "medium"), 48, "medium", 21),
        "hard": _load(str(root / "hard"), 72, "hard", 21),
    }


@pytest.mark.timeout(60)
def test_seed_recall_beats_plain_hsf(synthetic):
    """The ranked seeds find the pupil early, on medium frames and on hard ones (dark iris, lashes, make-up,
    shadows), clearly more often than the plain HSF candidates."""
    ranker, hsf = SeedRanker(), HaarSurround()
    for tier, (min1, min3) in {"medium": (0.9, 0.95), "hard": (0.45, 0.58)}.items():
        frames = synthetic[tier]
        assert len(frames) >= 0.8 * (48 if tier == "medium" else 72) - 10
        new1 = _recall(frames, lambda g: ranker.seeds(g, 8), 1)
        new3 = _recall(frames, lambda g: ranker.seeds(g, 8), 3)
        old1 = _recall(frames, lambda g: hsf.candidates(g, None, 8), 1)
        old3 = _recall(frames, lambda g: hsf.candidates(g, None, 8), 3)
        assert new1 >= min1 and new3 >= min3, (tier, new1, new3)
        assert new1 >= old1 and new3 >= old3, (tier, new1, old1, new3, old3)
        if tier == "hard":  # measured 0.56 / 0.66 against 0.23 / 0.49
            assert new1 >= old1 + 0.2 and new3 >= old3 + 0.1, (new1, old1, new3, old3)


def _disc(img: np.ndarray, cx: float, cy: float, r: float, level: int) -> None:
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    img[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = level


def test_disc_wins_over_darker_line_and_corner():
    """A pupil-like disc ranks above a darker lash line and a dark frame corner (they darken only some sides
    of the surround), and the seed lands on its centre."""
    rng = np.random.default_rng(3)
    img = np.full((240, 240), 150, np.uint8)
    img[40:46, 20:220] = 30  # a long dark line (lashes, make-up)
    img[200:, :40] = 20  # a dark corner (vignetting, shadow)
    _disc(img, 150.3, 130.6, 14, 60)
    img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    seeds = SeedRanker().seeds(img, 8)
    assert seeds and all(isinstance(s, Coarse) for s in seeds)
    assert math.hypot(seeds[0].x - 150.3, seeds[0].y - 130.6) < 3.0, seeds[0]
    assert 7 < seeds[0].r < 28, seeds[0]
    assert seeds[0].inner < seeds[0].ring
    scores = [s.score for s in seeds]
    assert scores == sorted(scores, reverse=True)


def test_pupil_inside_iris_is_kept():
    """A dark pupil inside a larger, lighter iris disc: both are among the first two seeds (suppression keeps
    nested discs of different sizes; the detector outlines either and looks inside an iris-sized fit)."""
    img = np.full((200, 260), 170, np.uint8)
    _disc(img, 120, 95, 45, 90)  # iris
    _disc(img, 127, 99, 13, 45)  # pupil
    seeds = SeedRanker().seeds(img)[:2]
    assert any(math.hypot(s.x - 127, s.y - 99) < 0.6 * 13 and s.r < 25 for s in seeds), seeds
    assert any(math.hypot(s.x - 120, s.y - 95) < 0.6 * 45 and s.r > 25 for s in seeds), seeds


def test_sizes_views_and_flat_frames():
    """Every frame size from 32x32 to 640x480 and non-contiguous views work; seeds stay inside the frame;
    flat or tiny frames give no seed rather than an error."""
    ranker = SeedRanker()
    for h, w in ((32, 32), (48, 64), (66, 146), (240, 240), (480, 640)):
        img = np.full((h, w), 160, np.uint8)
        r = max(3.0, 0.08 * min(h, w))
        _disc(img, 0.55 * w, 0.45 * h, r, 40)
        seeds = ranker.seeds(img, 5)
        assert 1 <= len(seeds) <= 5, (h, w)
        assert math.hypot(seeds[0].x - 0.55 * w, seeds[0].y - 0.45 * h) < max(2.0, 0.6 * r), ((h, w), seeds[0])
        assert all(0 <= s.x <= w - 1 and 0 <= s.y <= h - 1 for s in seeds)
    import cv2

    big = np.full((240, 480), 160, np.uint8)
    cv2.ellipse(big, (300, 120), (30, 15), 0, 0, 360, 40, -1)
    view = big[:, ::2]  # non-contiguous, a disc of radius 15 at (150, 120)
    first = ranker.seeds(view)[0]
    assert math.hypot(first.x - 150, first.y - 120) < 4, first
    for flat in (np.zeros((240, 240), np.uint8), np.full((240, 240), 255, np.uint8)):
        assert ranker.seeds(flat) == []
    assert ranker.seeds(np.full((6, 6), 100, np.uint8)) == []


def test_glint_option_favours_the_disc_with_a_glint():
    """With ``glints=True`` a bright corneal reflection on a dark disc counts for it: of two equal discs the
    one carrying the glint gains on the other; both stay the first two seeds, each once (no duplicates)."""
    img = np.full((240, 240), 150, np.uint8)
    _disc(img, 70, 120, 14, 50)
    _disc(img, 170, 120, 14, 50)
    _disc(img, 174, 116, 2.5, 255)  # the glint

    def gap(seeds):  # score of the disc with the glint minus that of the other one
        sc = {round(s.x / 100): s.score for s in seeds[:2]}
        assert set(sc) == {1, 2}, seeds
        return sc[2] - sc[1]

    with_glints, plain = SeedRanker(glints=True).seeds(img), SeedRanker().seeds(img)
    assert gap(with_glints) > gap(plain) + 1.0
    for seeds in (with_glints, plain):
        near = [s for s in seeds if min(math.hypot(s.x - 70, s.y - 120), math.hypot(s.x - 170, s.y - 120)) < 5]
        assert all(abs(s.r - 14) > 4 for s in near[2:]), seeds  # a repeat only at a clearly different size


def test_bad_input_and_settings_are_refused():
    from pyacq_etvr.core.errors import ConfigError, ImageError

    ranker = SeedRanker()
    for bad in (np.zeros((64, 64), np.float32), np.zeros((64, 64, 3), np.uint8), np.zeros(64, np.uint8), [[1, 2]]):
        with pytest.raises(ImageError):
            ranker.seeds(bad)
    for kw in (
        {"r_min": 0.0},
        {"r_max": 0.6},
        {"r_min": 0.2, "r_max": 0.1},
        {"per": 0},
        {"n_probe": 2.5},
        {"coarse_size": 8},
        {"glints": 1},
    ):
        with pytest.raises(ConfigError):
            SeedRanker(**kw)
