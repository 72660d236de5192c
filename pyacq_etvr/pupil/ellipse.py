"""Ellipse fitting helpers: algebraic conic fits, a vectorised RANSAC and conversions.

Points are expressed relative to an origin placed inside the pupil (the current centre estimate), which
lets every conic be written ``a x^2 + b xy + c y^2 + d x + e y = 1``: five unknowns, no degenerate
normalisation, and an ellipse enclosing the origin exactly when ``a > 0, c > 0, 4ac - b^2 > 0``.
All hypotheses of a RANSAC round are solved at once (batched 5x5 solves) and scored with the Sampson
distance (first-order geometric distance), so a round of 64 hypotheses on 64 points costs ~60 us.
"""

from __future__ import annotations

import math

import numpy as np

Conic = np.ndarray  # (..., 5): a, b, c, d, e of a x^2 + b xy + c y^2 + d x + e y = 1


def design(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Design matrix rows (x^2, xy, y^2, x, y) for the conic model (shape (..., 5))."""
    m = np.empty((*x.shape, 5))
    np.multiply(x, x, out=m[..., 0])
    np.multiply(x, y, out=m[..., 1])
    np.multiply(y, y, out=m[..., 2])
    m[..., 3] = x
    m[..., 4] = y
    return m


def fit_conic(x: np.ndarray, y: np.ndarray) -> Conic | None:
    """Least-squares conic through >= 5 points (normal equations); None if ill-conditioned."""
    if x.size < 5:
        return None
    m = design(x, y)
    try:
        return np.linalg.solve(m.T @ m, m.sum(axis=0))
    except np.linalg.LinAlgError:
        return None


def is_ellipse(q: np.ndarray) -> np.ndarray:
    """Boolean mask: which conics (..., 5) are real ellipses enclosing the origin."""
    a, b, c = q[..., 0], q[..., 1], q[..., 2]
    return (a > 0) & (c > 0) & (4 * a * c - b * b > 0)


def sampson(q: np.ndarray, x: np.ndarray, y: np.ndarray, m: np.ndarray | None = None) -> np.ndarray:
    """Sampson distance (px) of points (x, y) to conics q; q (H, 5), points (N,) -> (N, H).

    ``m`` is the points' design matrix if already computed.
    """
    if m is None:
        m = design(x, y)
    val = m @ q.T
    val -= 1.0
    # gradient: (2a x + b y + d, b x + 2c y + e) = [2x, y, 1] . (a, b, d) and [x, 2y, 1] . (b, c, e)
    g = np.empty((x.size, 3))
    g[:, 0], g[:, 1], g[:, 2] = 2 * x, y, 1.0
    gx = g @ q[:, (0, 1, 3)].T
    g[:, 0], g[:, 1] = x, 2 * y
    gy = g @ q[:, (1, 2, 4)].T
    gx *= gx
    gy *= gy
    gx += gy
    gx += 1e-12
    np.sqrt(gx, out=gx)
    np.abs(val, out=val)
    val /= gx
    return val


def conic_to_ellipse(q: np.ndarray) -> tuple[float, float, float, float, float] | None:
    """Conic (5,) -> (cx, cy, width, height, angle_deg) in the points' frame, or None if not an ellipse."""
    a, b, c, d, e = (float(v) for v in q)
    det = 4 * a * c - b * b
    if a <= 0 or c <= 0 or det <= 0:
        return None
    cx = (b * e - 2 * c * d) / det
    cy = (b * d - 2 * a * e) / det
    k = 1.0 + (a * cx * cx + b * cx * cy + c * cy * cy)  # (p - p0)^T M (p - p0) = k
    if k <= 0:
        return None
    # eigenvalues of [[a, b/2], [b/2, c]]; the smaller one belongs to the major axis
    tr, diff = a + c, math.hypot(a - c, b)
    l1, l2 = (tr - diff) / 2, (tr + diff) / 2
    if l1 <= 0:
        return None
    major, minor = 2 * math.sqrt(k / l1), 2 * math.sqrt(k / l2)
    theta = 0.5 * math.atan2(b, a - c)  # direction of the eigenvector of the larger eigenvalue...
    angle = math.degrees(theta) + 90.0  # ... so the major axis is perpendicular to it
    return cx, cy, major, minor, angle % 180.0


class Ransac:
    """Vectorised RANSAC ellipse fit; sample tables are drawn once per point count (deterministic)."""

    def __init__(self, n_hyp: int = 48, tol: float = 1.0, seed: int = 0) -> None:
        self.n_hyp, self.tol = n_hyp, tol
        self._rng = np.random.default_rng(seed)
        self._tables: dict[int, np.ndarray] = {}

    def _table(self, n: int) -> np.ndarray:
        t = self._tables.get(n)
        if t is None:
            t = np.argsort(self._rng.random((self.n_hyp, n)), axis=1)[:, :5]
            self._tables[n] = t
        return t

    def fit(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Best ellipse conic and its inlier mask (Sampson distance < tol), refitted on its inliers."""
        n = x.size
        if n < 5:
            return None
        idx = self._table(n)
        m = design(x[idx], y[idx])  # (H, 5, 5)
        rhs = np.ones((self.n_hyp, 5, 1))
        try:
            sol = np.linalg.solve(m, rhs)[..., 0]
        except np.linalg.LinAlgError:
            good = np.abs(np.linalg.det(m)) > 1e-9
            if not good.any():
                return None
            sol = np.linalg.solve(m[good], rhs[good])[..., 0]
        sol = sol[is_ellipse(sol)]
        if sol.shape[0] == 0:
            return None
        tol = self.tol
        dist = np.minimum(sampson(sol, x, y, design(x, y)), tol)  # (N, H)
        score = (dist < tol).sum(axis=0) - dist.sum(axis=0) / (tol * n)
        best = int(np.argmax(score))
        mask = dist[:, best] < tol
        return refit(sol[best], mask, x, y, tol)


def refit(q: np.ndarray, mask: np.ndarray, x: np.ndarray, y: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares refit of conic q on its inliers; keeps q if the refit is not a better ellipse."""
    q2 = fit_conic(x[mask], y[mask])
    if q2 is None or not is_ellipse(q2):
        return q, mask
    mask2 = sampson(q2[None], x, y)[:, 0] < tol
    if mask2.sum() >= mask.sum():
        return q2, mask2
    return q, mask


def shift_conic(q: np.ndarray, dx: float, dy: float) -> np.ndarray | None:
    """Conic q expressed in a frame whose origin moved by (dx, dy); None if the new origin is outside it."""
    a, b, c, d, e = (float(v) for v in q)
    # substitute x = x' + dx, y = y' + dy into a x^2 + b xy + c y^2 + d x + e y - 1
    f = a * dx * dx + b * dx * dy + c * dy * dy + d * dx + e * dy - 1.0
    if f >= 0:
        return None
    d2, e2 = 2 * a * dx + b * dy + d, b * dx + 2 * c * dy + e
    return np.array([a, b, c, d2, e2]) / -f
