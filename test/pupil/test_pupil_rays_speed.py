"""The fast paths of the ray caster and the ellipse helpers give what a plain implementation gives.

Each reference below is written the obvious way (per conic / per ray loops, ``np.linalg.solve``), on random
point sets and on polar profiles sampled from synthetic eye frames (with glints, noise, frame borders).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyacq_etvr.pupil import ellipse as E
from pyacq_etvr.pupil.rays import RayCaster, _gradient_edge


def _ref_sampson(q: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = np.empty((x.size, q.shape[0]))
    for h, (a, b, c, d, e) in enumerate(q):
        val = a * x * x + b * x * y + c * y * y + d * x + e * y - 1.0
        gx, gy = 2 * a * x + b * y + d, b * x + 2 * c * y + e
        out[:, h] = np.abs(val) / np.sqrt(gx * gx + gy * gy + 1e-12)
    return out


def _ref_lsq(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    m = np.stack([x * x, x * y, y * y, x, y], axis=1)
    return np.linalg.solve(m.T @ m, m.sum(axis=0))


def _ref_ransac(x: np.ndarray, y: np.ndarray, table: np.ndarray, tol: float):
    """Plain RANSAC: every sampled conic, the ellipses scored, the best refitted on its inliers."""
    n = x.size
    best, best_score = None, -np.inf
    for idx in table:
        m = np.stack([x[idx] ** 2, x[idx] * y[idx], y[idx] ** 2, x[idx], y[idx]], axis=1)
        if abs(np.linalg.det(m)) <= 1e-9 and np.linalg.matrix_rank(m) < 5:
            continue
        q = np.linalg.solve(m, np.ones(5))
        if not E.is_ellipse(q):
            continue
        d = np.minimum(_ref_sampson(q[None], x, y)[:, 0], tol)
        score = np.sum(d < tol) - d.sum() / (tol * n)
        if score > best_score:
            best, best_score = (q, d < tol), score
    if best is None:
        return None
    q, mask = best
    q2 = _ref_lsq(x[mask], y[mask])
    if E.is_ellipse(q2):
        mask2 = _ref_sampson(q2[None], x, y)[:, 0] < tol
        if mask2.sum() >= mask.sum():
            return q2, mask2
    return q, mask


def _points(rng: np.random.Generator, n: int, outliers: int):
    """Noisy points on a random ellipse around the origin, some replaced by lid-like outliers."""
    w, h, ang = rng.uniform(8, 30), rng.uniform(6, 30), rng.uniform(0, math.pi)
    ox, oy = rng.uniform(-2, 2, 2)
    t = np.sort(rng.uniform(0, 2 * math.pi, n))
    u, v = w * np.cos(t), h * np.sin(t)
    x = ox + u * math.cos(ang) - v * math.sin(ang) + rng.normal(0, 0.3, n)
    y = oy + u * math.sin(ang) + v * math.cos(ang) + rng.normal(0, 0.3, n)
    k = rng.choice(n, outliers, replace=False)
    x[k] += rng.uniform(-8, 8, outliers)
    y[k] = rng.uniform(-5, 5) + 0.1 * x[k]
    return x, y


def test_sampson_and_lift_match_the_plain_formula():
    rng = np.random.default_rng(1)
    for _ in range(20):
        x, y = _points(rng, int(rng.integers(5, 90)), 3)
        q = rng.normal(0, 0.01, (int(rng.integers(1, 50)), 5))
        q[:, :3] = np.abs(q[:, :3])
        ref = _ref_sampson(q, x, y)
        np.testing.assert_allclose(E.sampson(q, x, y), ref, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(E._sampson_lifted(q, E.lift(x, y)), ref.T, rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(E.lift(x, y)[:, :5], E.design(x, y))
        np.testing.assert_allclose(E.fit_conic(x, y), _ref_lsq(x, y), rtol=1e-8)
        np.testing.assert_array_equal(E._ellipse_mask(q), E.is_ellipse(q))


def test_fit_conic_is_none_when_singular():
    assert E.fit_conic(np.ones(6), np.ones(6)) is None  # all points equal: rank 1
    assert E.fit_conic(np.arange(4.0), np.arange(4.0)) is None  # fewer than 5 points


@pytest.mark.parametrize("outliers", [0, 8, 20])
def test_ransac_matches_the_plain_loop(outliers):
    rng = np.random.default_rng(outliers)
    for trial in range(15):
        n = int(rng.integers(12, 80))
        x, y = _points(rng, n, min(outliers, n // 2))
        ransac = E.Ransac(48, 1.0, seed=trial)
        got = ransac.fit(x, y)
        ref = _ref_ransac(x, y, ransac._table(n), 1.0)
        assert (got is None) == (ref is None)
        if got is None:
            continue
        np.testing.assert_array_equal(got[1], ref[1])
        np.testing.assert_allclose(got[0], ref[0], rtol=1e-8, atol=1e-12)
        q, mask, dist = ransac.fit_lifted(E.lift(x, y))  # distances returned with the fit are the fit's
        np.testing.assert_allclose(dist[mask], _ref_sampson(q[None], x, y)[mask, 0], rtol=1e-10, atol=1e-12)


def test_ransac_with_singular_samples_drops_them_like_the_plain_loop():
    rng = np.random.default_rng(7)
    x, y = _points(rng, 30, 0)
    x[10:20], y[10:20] = x[10], y[10]  # ten identical points: many 5-point samples are singular
    ransac = E.Ransac(48, 1.0, seed=3)
    got, ref = ransac.fit(x, y), _ref_ransac(x, y, ransac._table(30), 1.0)
    assert got is not None and ref is not None
    np.testing.assert_array_equal(got[1], ref[1])
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-8)
    assert E.Ransac().fit(np.zeros(8), np.zeros(8)) is None  # every sample singular


def _eye(rng: np.random.Generator, cx: float, cy: float, w: float, h: float, ang: float, size: int = 120):
    """Dark ellipse on a textured bright frame, with noise and two glints (one on the pupil edge)."""
    import cv2

    img = np.full((size, size), 150, np.float32)
    img += cv2.GaussianBlur(rng.normal(0, 25, (size, size)).astype(np.float32), (0, 0), 4)
    cv2.ellipse(img, ((cx, cy), (w, h), ang), 40, -1)
    cv2.circle(img, (int(cx + w / 2), int(cy)), 3, 250, -1)
    cv2.circle(img, (int(cx - 2), int(cy - 3)), 2, 245, -1)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _ref_edges(polar: np.ndarray, level: float, glint: float, exit_r, step: float, edge: str):
    """Per-ray loop: first dark-to-bright crossing, glint and border checks, sub-sample position."""
    n_s = polar.shape[1]
    out = {}
    for i, p in enumerate(polar):
        dark = np.flatnonzero(p < level)
        if dark.size == 0:
            continue
        bright = np.flatnonzero((p >= level) & (np.arange(n_s) > dark[0]))
        if bright.size == 0:
            continue
        j = int(bright[0])
        if p[j] >= glint or p[min(j + 2, n_s - 1)] >= glint:
            continue
        if exit_r is not None and not (j + 1) * step < exit_r[i]:
            continue
        if edge == "midpoint":
            frac = (level - p[j - 1]) / max(p[j] - p[j - 1], np.float32(1e-3))  # float32, as the profile
            pos = float(j - 1) + float(frac)
        else:
            idx = np.clip(j + np.arange(-3, 4), 1, n_s - 2)
            d = p[idx + 1] - p[idx - 1]
            m = int(np.clip(np.argmax(d), 1, 5))
            den = d[m - 1] - 2 * d[m] + d[m + 1]
            off = 0.5 * (d[m - 1] - d[m + 1]) / den if den < -1e-6 else 0.0
            pos = idx[m] + min(max(off, -0.5), 0.5)
        out[i] = pos * step
    return out


@pytest.mark.parametrize("edge", ["gradient", "midpoint"])
def test_edges_match_the_per_ray_loop(edge):
    rng = np.random.default_rng(3)
    rc = RayCaster(edge=edge)
    checked = 0
    for _ in range(12):
        cx, cy = rng.uniform(15, 105, 2)  # some near the border: rays leave the frame
        w, h = rng.uniform(14, 40), rng.uniform(12, 40)
        gray = _eye(rng, cx, cy, w, h, rng.uniform(0, 180))
        r = 0.25 * (w + h) * rng.uniform(0.7, 1.3)
        sampled = rc._sample(gray, cx + rng.normal(0, 1), cy + rng.normal(0, 1), r)
        assert sampled is not None
        sc, step, exit_r = sampled
        polar = sc.polar.copy()
        for level in (70.0, 95.0, 120.0):
            ref = _ref_edges(polar, level, 200.0, exit_r, step, edge)
            got = rc._edges(sc, level, 200.0, step, exit_r)
            if got is None:
                assert len(ref) < 8
                continue
            f, n_points, n_hidden = got
            assert n_points == len(ref) == f.shape[0] and n_hidden == 0
            rows = np.array(sorted(ref))
            rad = np.array([ref[i] for i in rows])
            np.testing.assert_allclose(f[:, 3], rad * rc.cos[rows], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(f[:, 4], rad * rc.sin[rows], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(f, E.lift(f[:, 3], f[:, 4]), rtol=1e-12, atol=1e-12)
            checked += 1
    assert checked >= 20


def test_gradient_edge_handles_crossings_at_both_ends_of_the_ray():
    rc = RayCaster()
    sampled = rc._sample(_eye(np.random.default_rng(0), 60, 60, 30, 26, 0), 60, 60, 14)
    sc = sampled[0]
    n_s = sc.polar.shape[1]
    for k in (np.zeros(64, np.intp), np.full(64, n_s - 2), np.arange(64) % (n_s - 1)):
        pos = _gradient_edge(sc, rc._rows, k)
        for i in range(64):  # windows clipped at the ends exactly like the plain loop
            p = sc.polar[i]
            idx = np.clip(k[i] + 1 + np.arange(-3, 4), 1, n_s - 2)
            d = p[idx + 1] - p[idx - 1]
            m = int(np.clip(np.argmax(d), 1, 5))
            den = d[m - 1] - 2 * d[m] + d[m + 1]
            off = 0.5 * (d[m - 1] - d[m + 1]) / den if den < -1e-6 else 0.0
            assert pos[i] == pytest.approx(idx[m] + min(max(off, -0.5), 0.5), abs=1e-6)


def test_ray_radius_and_separation_match_the_plain_formulas():
    rng = np.random.default_rng(5)
    rc = RayCaster()
    sc = rc._sample(_eye(rng, 60, 60, 32, 24, 20), 60, 60, 14)[0]
    polar = sc.polar
    n_s = polar.shape[1]
    for _ in range(10):
        x, y = _points(rng, 40, 0)
        q = E.fit_conic(x, y)
        assert q is not None and E.is_ellipse(q)
        t = rc._ray_radius(q)
        for i in range(64):  # positive root of q(t cos, t sin) = 1
            c, s = rc.cos[i], rc.sin[i]
            qa = q[0] * c * c + q[1] * c * s + q[2] * s * s
            qb = q[3] * c + q[4] * s
            assert t[i] == pytest.approx((-qb + math.sqrt(qb * qb + 4 * qa)) / (2 * qa), rel=1e-12)
        step, half = 0.7, 15.0
        good = [
            1.3 * t[i] / step < n_s - 0.5
            and polar[i, min(round(1.3 * t[i] / step), n_s - 1)] - polar[i, min(round(0.7 * t[i] / step), n_s - 1)]
            > half
            for i in range(64)
        ]
        ends = np.argsort(t)[-8:]
        sep, end_sep = rc._separation(polar, q, step, half)
        assert sep == pytest.approx(np.mean(good)) and end_sep == pytest.approx(np.mean(np.array(good)[ends]))
    hyperbola = np.array([0.01, 0.0, -0.01, 0.0, 0.0])  # rays that never meet it: a huge radius
    assert (rc._ray_radius(hyperbola)[[16, 48]] == 1e6).all()


def test_fit_is_repeatable_and_reports_consistent_evidence():
    rng = np.random.default_rng(11)
    rc = RayCaster()
    gray = _eye(rng, 58, 62, 30, 24, 30)
    first = rc.fit(gray, 59, 61, 13)
    assert first is not None
    for n_s_other in (5, 30):  # other sample counts in between use other scratch buffers
        rc.fit(gray, 50, 50, n_s_other)
    again = rc.fit(gray, 59, 61, 13)
    assert again is not None
    assert again[0] == first[0] and np.array_equal(again[1], first[1])
    fit, q = first
    assert abs(fit.ellipse[0] - 58) < 1 and abs(fit.ellipse[1] - 62) < 1
    assert 0 < fit.n_inliers <= fit.n_points <= fit.n_rays and 0 <= fit.rms < 1.0
    guided = rc.fit(gray, 59, 61, 13, prior=q)
    assert guided is not None and abs(guided[0].ellipse[0] - fit.ellipse[0]) < 0.5


def test_fit_returns_none_without_a_pupil_and_on_degenerate_input():
    rc = RayCaster()
    assert rc.fit(np.full((80, 80), 120, np.uint8), 40, 40, 10) is None  # no contrast: no levels
    assert rc.fit(np.full((80, 80), 120, np.uint8), 200, 200, 10) is None  # centre far outside: empty crop
    noise = np.random.default_rng(2).integers(0, 256, (80, 80)).astype(np.uint8)
    res = rc.fit(noise, 40, 40, 10)  # pure noise: nothing or an unsupported fit, never an exception
    assert res is None or res[0].n_inliers <= res[0].n_rays
    assert E.Ransac().fit(np.arange(4.0), np.arange(4.0)) is None  # fewer than 5 points
    assert E.conic_to_ellipse(np.array([0.01, 0.0, -0.01, 0.0, 0.0])) is None  # a hyperbola
