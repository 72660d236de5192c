"""Ellipse fitting helpers: algebraic conic fits, a vectorised RANSAC and conversions.

Points are expressed relative to an origin placed inside the pupil (the current centre estimate), which
lets every conic be written ``a x^2 + b xy + c y^2 + d x + e y = 1``: five unknowns, no degenerate
normalisation, and an ellipse enclosing the origin exactly when ``a > 0, c > 0, 4ac - b^2 > 0``.
All hypotheses of a RANSAC round are solved at once (batched 5x5 LAPACK solves) and scored with the Sampson
distance (first-order geometric distance). The hot paths are written for few numpy calls, since with ~64
points and ~48 hypotheses the per-call overhead, not the arithmetic, dominates: every point is lifted once
to ``(x^2, xy, y^2, x, y, 1)`` (:func:`lift`), hypothesis samples and inlier refits gather its rows, and the
Sampson distance of all hypotheses is one matrix product (conic value and both gradient components
together). A RANSAC round of 48 hypotheses on ~60 points costs ~75 us (~15 us of it the 48 LAPACK solves).
"""

from __future__ import annotations

import math

import numpy as np

Conic = np.ndarray  # (..., 5): a, b, c, d, e of a x^2 + b xy + c y^2 + d x + e y = 1

try:  # the gufunc behind np.linalg.solve, without its Python wrapper (~3 us a call; same LAPACK routine)
    from numpy.linalg import _umath_linalg

    _SOLVE1 = _umath_linalg.solve1
except (ImportError, AttributeError):  # pragma: no cover - other numpy layouts: the public API
    _SOLVE1 = None

# (5, 18) map from a conic (a, b, c, d, e) to the coefficients, on the lifted point (x^2, xy, y^2, x, y, 1),
# of its value (minus 1: see _GRAD_CONST) and of both gradient components: column 6 s + i holds the
# coefficient of lifted component i in output s (0 value, 1 d/dx, 2 d/dy), so that ``q @ _GRAD`` reshaped
# to (3 H, 6) times the lifted points gives, per conic, its values, x-gradients and y-gradients (rows).
_GRAD = np.zeros((5, 3, 6))
_GRAD[:, 0, :5] = np.eye(5)  # value: a x^2 + b xy + c y^2 + d x + e y (- 1, below)
_GRAD[0, 1, 3], _GRAD[1, 1, 4], _GRAD[3, 1, 5] = 2.0, 1.0, 1.0  # d/dx = 2a x + b y + d
_GRAD[1, 2, 3], _GRAD[2, 2, 4], _GRAD[4, 2, 5] = 1.0, 2.0, 1.0  # d/dy = b x + 2c y + e
_GRAD = _GRAD.reshape(5, 18)
_GRAD_CONST = np.zeros(18)
_GRAD_CONST[5] = -1.0  # output 0 (value), lifted component 5 (the constant 1): the "= 1"


def _solve(m: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve m x = rhs (batched); NaN/inf rows where m is singular (no exception, no warning)."""
    if _SOLVE1 is not None:
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            return _SOLVE1(m, rhs, signature="dd->d")
    try:  # pragma: no cover
        return np.linalg.solve(m, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:  # pragma: no cover
        return np.full(rhs.shape, np.nan)


def lift(x: np.ndarray, y: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Lifted points (x^2, xy, y^2, x, y, 1), shape (N, 6): the conic value is ``lift @ (a, b, c, d, e, -1)``."""
    f = np.empty((x.size, 6)) if out is None else out
    np.multiply(x, x, out=f[:, 0])
    np.multiply(x, y, out=f[:, 1])
    np.multiply(y, y, out=f[:, 2])
    f[:, 3] = x
    f[:, 4] = y
    f[:, 5] = 1.0
    return f


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
    q = _fit_lifted(lift(x, y))
    return q if np.isfinite(q).all() else None


def _fit_lifted(f: np.ndarray, mask: np.ndarray | None = None) -> Conic:
    """Least-squares conic of lifted points (N, 6) (those in ``mask``): normal equations of the first five
    columns, whose right-hand side (their sums) is the last column of the same Gram matrix. NaN if singular."""
    ft = f.T if mask is None else f.T.compress(mask, axis=1)
    g = ft @ ft.T
    return _solve(g[:5, :5], g[:5, 5])


def is_ellipse(q: np.ndarray) -> np.ndarray:
    """Boolean mask: which conics (..., 5) are real ellipses enclosing the origin."""
    a, b, c = q[..., 0], q[..., 1], q[..., 2]
    return (a > 0) & (c > 0) & (4 * a * c - b * b > 0)


def _ellipse_mask(q: np.ndarray) -> np.ndarray:
    """:func:`is_ellipse` of (H, 5) conics in fewer calls: a > 0 and 4ac > b^2 imply c > 0."""
    a = q[:, 0]
    det = a * q[:, 2]
    det *= 4.0
    det -= np.square(q[:, 1])
    return np.minimum(det, a) > 0


def sampson(q: np.ndarray, x: np.ndarray, y: np.ndarray, f: np.ndarray | None = None) -> np.ndarray:
    """Sampson distance (px) of points (x, y) to conics q; q (H, 5), points (N,) -> (N, H).

    ``f`` is the points' :func:`lift` if already computed.
    """
    return _sampson_lifted(q, lift(x, y) if f is None else f).T


def _sampson_lifted(q: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Sampson distance (H, N) of lifted points f (N, 6) to conics q (H, 5): |value| / |gradient|.

    One matrix product gives every conic's values and gradient components (rows of length N, so the
    element-wise work that follows runs on contiguous rows); computed as sqrt(value^2 / |gradient|^2)."""
    h = q.shape[0]
    coef = q @ _GRAD  # exact: every coefficient is one conic term times 1 or 2
    coef += _GRAD_CONST
    out = (coef.reshape(3 * h, 6) @ f.T).reshape(h, 3, -1)  # per conic: values, x-gradients, y-gradients
    np.square(out, out=out)
    norm = out[:, 1] + out[:, 2]
    norm += 1e-12
    dist = out[:, 0]
    dist /= norm
    np.sqrt(dist, out=dist)
    return dist


def conic_to_ellipse(q: np.ndarray) -> tuple[float, float, float, float, float] | None:
    """Conic (5,) -> (cx, cy, width, height, angle_deg) in the points' frame, or None if not an ellipse."""
    a, b, c, d, e = q.tolist()
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
        self._ones = np.ones((n_hyp, 5))

    def _table(self, n: int) -> np.ndarray:
        t = self._tables.get(n)
        if t is None:  # tables for every count up to n, in increasing order: a fit's samples do not depend on
            # which point counts earlier fits used
            for m in range(max(self._tables, default=4) + 1, n + 1):
                self._tables[m] = np.argsort(self._rng.random((self.n_hyp, m)), axis=1)[:, :5]
            t = self._tables[n]
        return t

    def fit(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Best ellipse conic and its inlier mask (Sampson distance < tol), refitted on its inliers."""
        res = self.fit_lifted(lift(x, y)) if x.size >= 5 else None
        return None if res is None else res[:2]

    def fit_lifted(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """:meth:`fit` on lifted points (:func:`lift`): (conic, inlier mask, Sampson distances to it) or None."""
        n = f.shape[0]
        if n < 5:
            return None
        sol = _solve(f[self._table(n), :5], self._ones)  # (H, 5) conics through 5 sampled points each
        good = _ellipse_mask(sol)  # False for the NaN rows of singular samples too
        if not good.all():
            if math.isnan(sol[:, 0].sum()) and np.isnan(sol).any():  # a singular sample (NaN row): drop the
                # near-singular ones too, as np.linalg.solve's error made this do
                sol = self._solve_nonsingular(f, n)
                if sol is None:
                    return None
                good = _ellipse_mask(sol)
            sol = sol[good]
            if sol.shape[0] == 0:
                return None
        tol = self.tol
        dist = _sampson_lifted(sol, f)  # (H, N)
        inl = dist < tol
        np.minimum(dist, tol, out=dist)
        # score: inliers - sum(min(d, tol)) / (tol n), as one sum: minus the sum of min(d, tol) / (tol n) - inlier
        loss = dist * (1.0 / (tol * n))
        loss -= inl
        best = int(np.argmin(loss.sum(axis=1)))
        return refit_lifted(sol[best], inl[best], f, tol, dist[best])

    def _solve_nonsingular(self, f: np.ndarray, n: int) -> np.ndarray | None:
        """Hypotheses of the samples whose design matrix is clearly non-singular (|det| > 1e-9)."""
        m = f[self._table(n), :5]
        ok = np.abs(np.linalg.det(m)) > 1e-9
        if not ok.any():
            return None
        return _solve(m[ok], self._ones[ok])


def refit(q: np.ndarray, mask: np.ndarray, x: np.ndarray, y: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares refit of conic q on its inliers; keeps q if the refit is not a better ellipse."""
    return refit_lifted(q, mask, lift(x, y), tol)[:2]


def refit_lifted(
    q: np.ndarray, mask: np.ndarray, f: np.ndarray, tol: float, dist: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`refit` on lifted points: (conic, inlier mask, Sampson distances of the points to that conic).

    ``dist`` (the points' distances to q) is computed if not given.
    """
    q2 = _fit_lifted(f, mask) if np.count_nonzero(mask) >= 5 else None
    if q2 is not None:
        a, b, c = q2[:3].tolist()
        if a > 0 and c > 0 and 4 * a * c - b * b > 0:  # False for NaN (singular)
            d2 = _sampson_lifted(q2[None], f)[0]
            mask2 = d2 < tol
            if np.count_nonzero(mask2) >= np.count_nonzero(mask):
                return q2, mask2, d2
    if dist is None:
        dist = _sampson_lifted(q[None], f)[0]
    return q, mask, dist


def shift_conic(q: np.ndarray, dx: float, dy: float) -> np.ndarray | None:
    """Conic q expressed in a frame whose origin moved by (dx, dy); None if the new origin is outside it."""
    a, b, c, d, e = (float(v) for v in q)
    # substitute x = x' + dx, y = y' + dy into a x^2 + b xy + c y^2 + d x + e y - 1
    f = a * dx * dx + b * dx * dy + c * dy * dy + d * dx + e * dy - 1.0
    if f >= 0:
        return None
    d2, e2 = 2 * a * dx + b * dy + d, b * dx + 2 * c * dy + e
    return np.array([a, b, c, d2, e2]) / -f
