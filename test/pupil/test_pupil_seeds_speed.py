"""The fast paths of the seed ranker (seedrank) and of the HSF detector (hsf) give what plain code gives.

Each reference below is written the obvious way (box means by slicing an edge-padded frame, per-candidate and
per-ray loops, a pairwise suppression loop, ``np.percentile``), on frames with a dark disc, a darker line,
glints, noise and a shaded corner, at several frame sizes (even and odd reduction factors, tiny frames).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyacq_etvr.pupil import hsf as H
from pyacq_etvr.pupil import seedrank as S


def _frame(h: int, w: int, seed: int) -> np.ndarray:
    """An eye-like test frame: textured background, a dark disc (pupil) in a lighter one (iris), a dark line
    (lashes), glints, a dark corner and noise."""
    import cv2

    rng = np.random.default_rng(seed)
    img = np.full((h, w), 150.0) + rng.normal(0, 6, (h, w))
    short = min(h, w)
    cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
    r = rng.uniform(0.06, 0.18) * short
    yy, xx = np.mgrid[:h, :w]
    d2 = (xx - cx) ** 2 + (yy - cy) ** 2
    img[d2 < (2.2 * r) ** 2] -= 45
    img[d2 < r * r] = rng.uniform(15, 40)
    y0 = int(rng.uniform(0.1, 0.3) * h)
    img[y0 : y0 + max(1, h // 40), w // 8 : 7 * w // 8] -= 90  # lash line
    img[: h // 5, : w // 5] -= 70  # dark corner
    for _ in range(3):
        gx, gy = int(cx + rng.uniform(-r, r)), int(cy + rng.uniform(-r, r))
        cv2.circle(img, (gx, gy), max(1, short // 60), 250.0, -1)
    return np.clip(img, 0, 255).astype(np.uint8)


FRAMES = [(240, 240, 1), (240, 240, 2), (240, 320, 3), (480, 640, 4), (61, 97, 5), (150, 200, 6), (36, 40, 7)]


def _stage(ranker: S.SeedRanker, gray: np.ndarray):
    """The ranker's stage 1 on ``gray`` and the frames it worked on (reduced, fine, both opened)."""
    import cv2

    st = ranker._stage1(gray)
    plan = ranker._plans[gray.shape]
    fine = plan.to_fine[-1][1] if plan.radii and plan.to_fine else gray
    small = ranker._small
    k3 = np.ones((3, 3), np.uint8)
    return (
        st,
        plan,
        small,
        fine,
        cv2.morphologyEx(small, cv2.MORPH_OPEN, k3),
        cv2.morphologyEx(fine, cv2.MORPH_OPEN, k3),
    )


def _plain_peaks(opened: np.ndarray, radii: list[int], per: int):
    """Dark-spot peaks the obvious way: per box size, ring - inner, border excluded, strict local maxima over
    5x5 (ties allowed) above 0.5, the ``per`` best by inner - response (stable), sizes in order."""
    import cv2

    sh, sw = opened.shape
    out = []
    for i, r in enumerate(radii):

        def box(k):
            return cv2.boxFilter(opened, cv2.CV_32F, (2 * k + 1, 2 * k + 1), borderType=cv2.BORDER_REPLICATE)

        g = (4 * r + 1) ** 2 / ((4 * r + 1) ** 2 - (2 * r + 1) ** 2)
        resp = cv2.addWeighted(box(2 * r), g, box(r), -g, 0.0)
        m = max(1, r // 2)
        mask = np.zeros_like(resp)
        mask[m : sh - m, m : sw - m] = 1
        resp = resp * mask
        padded = np.pad(resp, 2, constant_values=-np.inf)
        inner, found = box(r), []
        for y in range(sh):
            for x in range(sw):
                v = resp[y, x]
                if v > 0.5 and v >= padded[y : y + 5, x : x + 5].max():
                    found.append((float(inner[y, x] - v), y * sw + x, float(inner[y, x])))
        found.sort(key=lambda t: t[0])  # stable: scan order among equal keys
        out += [(i, rem, val) for _, rem, val in found[:per]]
    return out


@pytest.mark.parametrize("h,w,seed", FRAMES[:3] + FRAMES[4:])
def test_peaks_match_plain(h, w, seed):
    ranker = S.SeedRanker(per=12)
    st, plan, small, fine, opened, _ = _stage(ranker, _frame(h, w, seed))
    if not plan.radii:
        assert st is None
        return
    ref = _plain_peaks(opened, plan.radii, 12)
    _, ri, rem, inner, _, _ = st
    assert list(zip(ri.tolist(), rem.tolist())) == [(i, p) for i, p, _ in ref]
    np.testing.assert_array_equal(inner, np.array([v for _, _, v in ref], np.float32))


@pytest.mark.parametrize("h,w,seed", FRAMES)
@pytest.mark.parametrize("glints", [False, True])
def test_features_match_plain(h, w, seed, glints):
    """Box means, textures and the glint mass from slices of the edge-padded frames, one candidate at a time."""
    import cv2

    ranker = S.SeedRanker(per=12, glints=glints)
    st, plan, small, fine, opened, fine_open = _stage(ranker, _frame(h, w, seed))
    assert st is not None
    _, ri, rem, inner, feats, con = st
    f, s, sw = plan.f, plan.s, plan.sw
    cum = np.cumsum(np.bincount(small.ravel(), minlength=256))  # grey levels reached by 2 % / 50 % of pixels
    n = np.float32(small.size)
    p2, p50 = (float(np.flatnonzero(cum >= np.float32(q) * n)[0]) for q in (0.02, 0.5))
    d = max(p50 - p2, 10.0)
    P = 64
    po, pf = np.pad(opened, P, mode="edge"), np.pad(fine_open, P * f, mode="edge")
    glint = np.pad(cv2.subtract(small, opened), P)
    for j in range(ri.size):
        r = plan.radii[ri[j]]
        y, x = divmod(int(rem[j]), sw)
        y, x = y + P, x + P

        def box(img, y0, y1, x0, x1):
            return img[y0:y1, x0:x1].astype(np.float64)

        sides = [
            box(po, y - r, y + r + 1, x - 2 * r, x - r),
            box(po, y - r, y + r + 1, x + r + 1, x + 2 * r + 1),
            box(po, y - 2 * r, y - r, x - r, x + r + 1),
            box(po, y + r + 1, y + 2 * r + 1, x - r, x + r + 1),
        ]
        ib = box(po, y - r, y + r + 1, x - r, x + r + 1)
        fy, fx = (y - P) * f + P * f, (x - P) * f + P * f
        fb = box(pf, fy - r * f, fy + (r + 1) * f, fx - r * f, fx + (r + 1) * f)
        c = sorted(b.mean() - inner[j] for b in sides)
        np.testing.assert_array_equal(con[:, j], c)
        sd = math.sqrt(max((ib * ib).mean() - ib.mean() ** 2, 0.0))
        sdf = math.sqrt(max((fb * fb).mean() - fb.mean() ** 2, 0.0))
        r_full = 1.4 * r * s
        mass = glint[y - 2 * r : y + 2 * r + 1, x - 2 * r : x + 2 * r + 1].sum() if glints else 0.0
        want = [c[0] / d, c[1] / d, 0.5 * (c[2] + c[3]) / d, (p50 - inner[j]) / d, math.log(r_full)]
        want += [sd / d, c[0] / (sd + 2.0), math.log1p(np.float32(mass) / d), sdf / d]
        np.testing.assert_allclose(feats[:, j], np.array(want, np.float32), rtol=1e-6, atol=1e-6)


def _plain_nms(x, y, r, score, n):
    order = sorted(range(len(score)), key=lambda i: -score[i])[: 3 * n]
    keep = []
    for i in order:
        if all(
            not (
                (x[i] - x[k]) ** 2 + (y[i] - y[k]) ** 2 < (0.8 * max(r[i], r[k])) ** 2
                and max(r[i], r[k]) < 2 * min(r[i], r[k])
            )
            for k in keep
        ):
            keep.append(i)
            if len(keep) >= n:
                break
    return keep


@pytest.mark.parametrize("seed", range(6))
def test_nms_matches_plain(seed):
    """Greedy suppression on bit sets = the pairwise loop (distinct scores: the order is then unique)."""
    rng = np.random.default_rng(seed)
    ranker = S.SeedRanker(n_probe=16)
    ranker._stage1(_frame(240, 240, seed))
    plan = ranker._plans[(240, 240)]
    m = int(rng.integers(5, 90))
    ri = rng.integers(0, len(plan.radii), m)
    rem = rng.integers(0, plan.sh * plan.sw, m)
    score = rng.permutation(m).astype(np.float32) + rng.uniform(0, 0.5, m).astype(np.float32)
    for n in (1, 4, 16, 40):
        got = S._nms(plan, ri, rem, score, n).tolist()
        x, y, r = plan.xf[rem].tolist(), plan.yf[rem].tolist(), plan.rfull[ri].tolist()
        assert got == _plain_nms(x, y, r, score.tolist(), n), n


def test_radial_matches_plain():
    """Steepest rise per ray by the max of rise * 16 + (9 - index) = per-ray argmax (first of equal ones)."""
    import cv2

    rng = np.random.default_rng(0)
    gray = cv2.GaussianBlur(_frame(60, 60, 3), (3, 3), 0)
    gray[20:30, 20:30] = 77  # flat: equal rises
    n = 16
    xs, ys = rng.uniform(-3, 63, n), rng.uniform(-3, 63, n)
    rs = rng.uniform(0.8, 15, n)
    xs[:3], ys[:3] = 25.0, 25.0
    d = 37.0
    q25, med, spread, cx, cy, r_edge = S._radial(gray, xs, ys, rs, d)
    for j in range(n):
        rad, rises = [], []
        for a in range(16):
            ang = a * (2 * np.pi / 16)
            px = np.float32(xs[j]) + np.float32(rs[j]) * (np.float32(math.cos(ang)) * S._FR)
            py = np.float32(ys[j]) + np.float32(rs[j]) * (np.float32(math.sin(ang)) * S._FR)
            prof = cv2.remap(gray, px[None], py[None], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[0]
            rise = [int(prof[k + 2]) - int(prof[k]) for k in range(len(prof) - 2)]
            k = rise.index(max(rise))
            rises.append(max(rise))
            rad.append(float(S._FR[k + 1]) * float(np.float32(rs[j])))
        rises.sort()
        assert q25[j] == rises[4] / d and med[j] == (rises[7] + rises[8]) / (2 * d)
        mean = sum(rad) / 16
        assert r_edge[j] == pytest.approx(mean, rel=1e-5)
        sd = math.sqrt(max(sum(v * v for v in rad) / 16 - mean * mean, 0.0))
        assert spread[j] == pytest.approx(sd / mean, rel=1e-3, abs=1e-5)
        ex = xs[j] + sum(v * math.cos(a * 2 * np.pi / 16) for a, v in enumerate(rad)) / 16
        ey = ys[j] + sum(v * math.sin(a * 2 * np.pi / 16) for a, v in enumerate(rad)) / 16
        assert (cx[j], cy[j]) == (pytest.approx(ex, abs=1e-4), pytest.approx(ey, abs=1e-4))


def test_seeds_of_frames_of_any_size_and_flat_ones():
    """Seeds on every test frame size are in the frame, ranked by score; flat or tiny frames give none."""
    for h, w, seed in FRAMES:
        seeds = S.SeedRanker().seeds(_frame(h, w, seed), 8)
        assert seeds or min(h, w) < 50
        for s in seeds:
            assert 0 <= s.x <= w - 1 and 0 <= s.y <= h - 1 and s.r > 0
    assert S.SeedRanker().seeds(np.full((240, 240), 80, np.uint8)) == []
    assert S.SeedRanker().seeds(np.zeros((12, 9), np.uint8)) == []


def test_percentile_is_numpys():
    rng = np.random.default_rng(1)
    big = rng.integers(0, 256, (200, 200), dtype=np.uint8)
    for i in range(3000):
        h, w = rng.integers(1, 90, 2)
        y, x = rng.integers(0, 200 - h), rng.integers(0, 200 - w)
        crop = big[y : y + h, x : x + w]
        if i % 2:
            crop = (crop // rng.integers(1, 80) + rng.integers(0, 100)).astype(np.uint8)
        q = 2.0 if i % 3 == 0 else float(rng.choice([0.0, 100.0, rng.uniform(0, 100)]))
        assert H._percentile(crop, q) == np.percentile(crop, q), (crop.shape, q)


def test_masked_response_matches_mask_border():
    """The response buffer kept per size and margin = addWeighted then _mask_border, also after the caller
    drew into it (peak suppression) and with another margin sharing nothing."""
    import cv2

    rng = np.random.default_rng(2)
    hs = H.HaarSurround()
    for shape in [(60, 60), (60, 80), (7, 9), (5, 40)]:
        for m in (1, 2, 5, 1):
            a = rng.uniform(0, 255, shape).astype(np.float32)
            b = rng.uniform(0, 255, shape).astype(np.float32)
            ref = cv2.addWeighted(a, 1.3, b, -2.05, 0.0)
            H._mask_border(ref, m)
            got = hs._response(a, 1.3, b, -2.05, m)
            np.testing.assert_array_equal(got, ref)
            cv2.circle(got, (shape[1] // 2, shape[0] // 2), 3, -1e9, -1)
