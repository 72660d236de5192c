"""Sub-pixel pupil edge points along rays, and the ellipse fit on them (used by ``default``).

From a centre inside the pupil, ``cv2.warpPolar`` samples the image on ``n_rays`` rays (bilinear), giving a
(rays x radii) profile image. The pupil level is a low percentile of the profile near the centre, the
surround level a median just outside the expected radius; each ray's edge is its first upward crossing of
the midpoint, interpolated linearly between samples (sub-pixel). A crossing that runs into a glint (a
sample brighter than the glint level right after the crossing) is dropped, as are rays that never start
dark. A vectorised RANSAC ellipse (see :mod:`.ellipse`) rejects eyelid, eyelash and remaining glint points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pyacq_etvr.pupil.ellipse import Ransac, conic_to_ellipse, refit, sampson


@dataclass(slots=True)
class RayFit:
    """An ellipse fitted on ray edge points, with the evidence used for confidence."""

    ellipse: tuple[float, float, float, float, float]  # cx, cy, width, height, angle (image px)
    n_rays: int  # rays cast
    n_points: int  # rays that produced an edge point
    n_inliers: int  # points within tolerance of the ellipse
    rms: float  # RMS Sampson distance of the inliers, px
    pupil: float  # pupil grey level
    surround: float  # surround grey level
    inner_std: float  # spread of the grey levels inside the pupil (glints clipped), grey levels
    outer_std: float  # spread of the surround level between rays, grey levels
    separation: float  # share of rays where the ellipse separates dark inside from bright outside


class RayCaster:
    """Casts ``n_rays`` rays and fits an ellipse (scratch state reused; not thread-safe)."""

    def __init__(
        self, n_rays: int = 64, tol: float = 1.0, n_hyp: int = 48, seed: int = 0, edge: str = "gradient"
    ) -> None:
        self.edge = edge
        self.keep_debug = False  # keep the last edge points in ``debug`` (for overlays)
        self.debug: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.n_rays, self.tol = n_rays, tol
        self.ransac = Ransac(n_hyp, tol, seed)
        self._rows = np.arange(n_rays)
        ang = np.arange(n_rays) * (2 * np.pi / n_rays)  # warpPolar: row i <-> angle 2 pi i / n
        self.cos, self.sin = np.cos(ang), np.sin(ang)

    def fit(
        self, gray: np.ndarray, cx: float, cy: float, r: float, prior: np.ndarray | None = None
    ) -> tuple[RayFit, np.ndarray] | None:
        """Edge points around (cx, cy) for a pupil of radius ~r; (fit, conic relative to (cx, cy)) or None.

        With ``prior`` (a conic relative to (cx, cy)), its inliers are refitted instead of running RANSAC.
        """
        import cv2

        max_r = max(8.0, 2.6 * r + 4.0)
        n_s = int(min(96, max(24, max_r * 1.5)))
        polar = cv2.warpPolar(gray, (n_s, self.n_rays), (cx, cy), max_r, cv2.INTER_LINEAR + cv2.WARP_FILL_OUTLIERS)
        polar = cv2.GaussianBlur(polar.astype(np.float32), (5, 3), 0)  # de-noise along rays and across
        step = max_r / n_s
        k_in = max(2, int(0.5 * r / step))
        k_out0, k_out1 = min(n_s - 2, int(1.2 * r / step) + 1), min(n_s, int(1.9 * r / step) + 2)
        pupil = _quantile(polar[:, :k_in], 0.3)
        surround = _quantile(polar[:, k_out0:k_out1], 0.5)
        if surround - pupil < 4:
            return None
        level = 0.5 * (pupil + surround)
        inner_std = float(cv2.meanStdDev(np.minimum(polar[:, :k_in], level))[1][0, 0])
        outer_std = float(cv2.meanStdDev(cv2.reduce(polar[:, k_out0:k_out1], 1, cv2.REDUCE_AVG))[1][0, 0])
        glint_level = surround + 0.5 * (255.0 - surround)
        below = polar < level
        started = np.maximum.accumulate(below, axis=1)
        cross = started & ~below
        cross[:, 0] = False
        j = np.argmax(cross, axis=1)
        rows = self._rows
        ok = cross[rows, j]
        # drop crossings into a glint (bright spot within 2 samples after the crossing)
        j2 = np.minimum(j + 2, n_s - 1)
        ok &= (polar[rows, j] < glint_level) & (polar[rows, j2] < glint_level)
        if ok.sum() < 8:
            return None
        rows, j = rows[ok], j[ok]
        if self.edge == "gradient":
            rad = _gradient_edge(polar, rows, j, n_s) * step
        else:
            v0, v1 = polar[rows, j - 1], polar[rows, j]
            rad = (j - 1 + (level - v0) / np.maximum(v1 - v0, 1e-3)) * step
        px, py = rad * self.cos[rows], rad * self.sin[rows]
        if prior is None:
            res = self.ransac.fit(px, py)
            if res is None:
                return None
            q, mask = res
        else:
            mask = sampson(prior[None], px, py)[:, 0] < 1.5 * self.tol
            if mask.sum() < 5:
                return None
            q, mask = refit(prior, mask, px, py, self.tol)
        ell = conic_to_ellipse(q)
        if ell is None:
            return None
        ex, ey, ew, eh, ang = ell
        n_in = int(mask.sum())
        self.debug = (px + cx, py + cy, mask) if self.keep_debug else None
        rms = float(np.sqrt(np.mean(sampson(q[None], px[mask], py[mask]) ** 2)))
        sep = self._separation(polar, q, step, 0.5 * (surround - pupil))
        fit = RayFit(
            (ex + cx, ey + cy, ew, eh, ang),
            self.n_rays,
            int(ok.sum()),
            n_in,
            rms,
            pupil,
            surround,
            inner_std,
            outer_std,
            sep,
        )
        return fit, q

    def _separation(self, polar: np.ndarray, q: np.ndarray, step: float, half: float) -> float:
        """Share of rays along which the fitted ellipse separates dark (at 0.7 of its radius) from bright
        (at 1.3): a right pupil outline does so all around, one that leaked onto lashes or a lid does not."""
        c, s = self.cos, self.sin
        qa = q[0] * c * c + q[1] * c * s + q[2] * s * s
        qb = q[3] * c + q[4] * s
        disc = qb * qb + 4 * qa
        t = (-qb + np.sqrt(np.maximum(disc, 0.0))) / (2 * np.where(qa > 1e-12, qa, 1e-12))  # radius along each ray
        n_s = polar.shape[1]
        i_in = np.clip(np.rint(0.7 * t / step), 0, n_s - 1).astype(np.intp)
        i_out = np.rint(1.3 * t / step).astype(np.intp)
        valid = (qa > 1e-12) & (i_out < n_s)
        i_out = np.minimum(i_out, n_s - 1)
        rows = self._rows
        good = valid & (polar[rows, i_out] - polar[rows, i_in] > half)
        return float(good.mean())


_W = np.arange(-3, 4)  # samples around the midpoint crossing searched for the steepest rise


def _gradient_edge(polar: np.ndarray, rows: np.ndarray, j: np.ndarray, n_s: int) -> np.ndarray:
    """Sub-sample position of the steepest rise within +-3 samples of each crossing (parabolic peak)."""
    idx = np.clip(j[:, None] + _W, 1, n_s - 2)
    r2 = rows[:, None]
    d = polar[r2, idx + 1] - polar[r2, idx - 1]
    m = np.clip(np.argmax(d, axis=1), 1, _W.size - 2)
    k = np.arange(rows.size)
    d0, d1, d2 = d[k, m - 1], d[k, m], d[k, m + 1]
    den = d0 - 2 * d1 + d2
    off = np.where(den < -1e-6, 0.5 * (d0 - d2) / np.where(den < -1e-6, den, -1.0), 0.0)
    return idx[k, m] + np.clip(off, -0.5, 0.5)


def _quantile(a: np.ndarray, q: float) -> float:
    """q-quantile (nearest rank) of a small array, cheaper than np.percentile."""
    flat = a.ravel()
    k = min(flat.size - 1, int(q * flat.size))
    return float(np.partition(flat, k)[k])
