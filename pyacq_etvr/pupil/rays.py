"""Sub-pixel pupil edge points along rays, and the ellipse fit on them (used by ``default``).

From a centre inside the pupil, ``cv2.warpPolar`` samples the image on ``n_rays`` rays (bilinear), giving a
(rays x radii) profile image. The pupil level is a low percentile of the profile near the centre, the
surround level a median just outside the expected radius; each ray's edge is its first upward crossing of
the edge level (0.4 of the way from pupil to surround), refined to the steepest rise nearby (sub-pixel).
The other edge rule (``rise=True``) takes instead the steepest rise within 0.5-1.5 of the expected radius,
counting brightness only up to just above the surround level: on noisy, hazy, low-contrast pupils the first
crossing often comes from noise inside the pupil, the steepest rise to the surround level does not.
Glints: a 5x5 grey opening of the polar image erases small ones. Large ones (samples above the glint level,
halfway from the surround level to 255, left within 1.8 seed radii) are filled with the pupil level, with a
2.5 px halo, before smoothing: a ray crossing a glint inside the pupil then finds the pupil's edge behind it,
a crossing next to a filled glint is dropped (its outline), and rays whose edge a glint hides count neither
as cast nor in the evidence, like rays leaving the frame. A crossing into a glint is dropped, as are rays
that never start dark. A vectorised RANSAC ellipse (:mod:`.ellipse`) rejects eyelid, lash and glint points.

Cost (240x240 frames, one core): ~0.19 ms for a guided pass with the confidence evidence, ~0.22 ms for a
RANSAC pass (of which ~35 us polar sampling, ~75 us RANSAC). A pass is ~80 numpy/OpenCV calls on arrays of
64 rays x <= 96 samples, so call overhead dominates: the code computes every ray at once (selection comes
last), runs the element-wise tests on flat contiguous buffers, gathers per-ray windows with one fancy index
through strided views of scratch buffers (no index clipping), and lifts the edge points once for RANSAC,
refit and residual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pyacq_etvr.pupil.ellipse import Ransac, _sampson_lifted, conic_to_ellipse, refit_lifted


@dataclass(slots=True)
class RayFit:
    """An ellipse fitted on ray edge points, with the evidence used for confidence."""

    ellipse: tuple[float, float, float, float, float]  # cx, cy, width, height, angle (image px)
    n_rays: int  # rays cast (that stay inside the frame up to ~the pupil radius)
    n_points: int  # rays that produced an edge point
    n_inliers: int  # points within tolerance of the ellipse
    rms: float  # RMS Sampson distance of the inliers, px
    pupil: float  # pupil grey level
    surround: float  # surround grey level
    inner_std: float  # spread of the grey levels inside the pupil (glints clipped), grey levels
    separation: float  # share of rays where the ellipse separates dark inside from bright outside
    end_separation: float = math.nan  # the same on the rays nearest the major axis (the ends of the ellipse)
    n_hidden: int = 0  # rays whose edge a large glint hides (not counted in n_rays)


class RayCaster:
    """Casts ``n_rays`` rays and fits an ellipse (scratch state reused; not thread-safe)."""

    def __init__(
        self,
        n_rays: int = 64,
        tol: float = 1.0,
        n_hyp: int = 48,
        seed: int = 0,
        edge: str = "gradient",
        deglint: bool = True,
    ) -> None:
        self.edge = edge
        self.deglint = deglint
        self.calls = 0  # fit() calls so far (callers use it as a work budget)
        self.keep_debug = False  # keep the last edge points in ``debug`` (for overlays)
        self.debug: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.n_rays, self.tol = n_rays, tol
        self.ransac = Ransac(n_hyp, tol, seed)
        self._rows = np.arange(n_rays)
        self._rows2 = self._rows[:, None]
        ang = np.arange(n_rays) * (2 * np.pi / n_rays)  # warpPolar: row i <-> angle 2 pi i / n
        self.cos, self.sin = np.cos(ang), np.sin(ang)
        c, s = self.cos, self.sin
        self._quad = np.stack([c * c, c * s, s * s], axis=1)  # conic value along a ray: t^2 (quad @ abc) + ...
        self._lin = np.stack([c, s], axis=1)  # ... + t (lin @ de)
        self._lift = np.ones((6, n_rays))  # scratch: lifted edge points of every ray (transposed); row 5 stays 1
        self._buffers = _Scratch.buffers(n_rays)
        self._scratch: dict[int, _Scratch] = {}  # views of the buffers per samples-per-ray count
        self._opened = np.zeros((n_rays, 1), np.float32)  # the last polar image before smoothing

    def fit(
        self,
        gray: np.ndarray,
        cx: float,
        cy: float,
        r: float,
        prior: np.ndarray | None = None,
        guided: bool = True,
        final: bool = True,
        rise: bool = False,
    ) -> tuple[RayFit, np.ndarray] | None:
        """Edge points around (cx, cy) for a pupil of radius ~r; (fit, conic relative to (cx, cy)) or None.

        With ``prior`` (a conic relative to (cx, cy)), the pupil and surround levels are read just inside and
        just outside it, and (if ``guided``) its inliers are refitted instead of running RANSAC. ``final``
        computes the evidence used for the confidence (``rms``, ``inner_std``, ``separation``; NaN otherwise).
        ``rise`` picks the steepest-rise edge rule instead of the first crossing (see the module docstring).
        """
        import cv2

        self.calls += 1
        sampled = self._sample(gray, cx, cy, r)
        if sampled is None:
            return None
        sc, step, exit_r = sampled
        inner, ring = self._level_samples(sc.polar, r, step, prior)
        pupil, surround = _quantile(inner, 0.3), _quantile(ring, 0.5)
        if surround - pupil < 4:
            return None
        level = pupil + _LEVEL * (surround - pupil)
        glint_level = surround + 0.5 * (255.0 - surround)
        near = None
        if self.deglint:  # large glints on the pupil or near its edge are filled
            inner_max = cv2.minMaxLoc(self._opened[:, : min(sc.polar.shape[1], int(_GLINT_REACH * r / step) + 2)])[1]
            if inner_max >= glint_level:
                near = self._fill_glints(sc, glint_level, pupil, step)
        if rise:
            edges = self._rise_edges(sc, r, step, pupil, surround, glint_level, exit_r, near)
        else:
            edges = self._edges(sc, level, glint_level, step, exit_r, near)
        if edges is None:
            return None
        f, n_points, n_hidden = edges
        res = self._fit_points(f, None if not guided else prior)
        if res is None:
            return None
        q, mask, dist = res
        ell = conic_to_ellipse(q)
        if ell is None:
            return None
        ex, ey, ew, eh, ang = ell
        self.debug = (f[:, 3] + cx, f[:, 4] + cy, mask) if self.keep_debug else None
        n_in = int(np.count_nonzero(mask))
        if final:  # evidence for the confidence (skipped on intermediate passes), on a lightly smoothed image
            d = dist[mask]
            rms = math.sqrt(float(d @ d) / n_in)
            fine = cv2.GaussianBlur(self._opened, _FINE_BLUR, 0)
            inner, ring = self._level_samples(fine, r, step, prior)
            pupil, surround = _quantile(inner, 0.3), _quantile(ring, 0.5)
            sep, end_sep = self._separation(fine, q, step, 0.5 * (surround - pupil), near)
            inner_std = float(cv2.meanStdDev(np.minimum(inner, 0.5 * (pupil + surround)))[1][0, 0])
        else:
            rms = sep = end_sep = inner_std = math.nan
        n_eff = self.n_rays if exit_r is None else max(8, int(np.count_nonzero(exit_r > 0.9 * r)))
        n_hidden = min(n_hidden, max(0, n_eff - 8))  # rays whose edge a glint hides: no evidence either way
        n_eff -= n_hidden
        ellipse = (ex + cx, ey + cy, ew, eh, ang)
        fit = RayFit(ellipse, n_eff, n_points, n_in, rms, pupil, surround, inner_std, sep, end_sep, n_hidden)
        return fit, q

    def _sample(self, gray: np.ndarray, cx: float, cy: float, r: float):
        """Polar image (rays x samples, float32, glints opened away, smoothed with ``_BLUR``; in the scratch
        buffers of that sample count, valid until the next call), sample step (px) and the distance to the
        frame border per ray (None if the rays stay inside the frame). The unsmoothed image: ``_opened``."""
        import cv2

        max_r = max(8.0, 2.6 * r + 4.0)
        n_s = int(min(_MAX_SAMPLES, max(24, max_r * 1.5)))
        h, w = gray.shape
        half = int(max_r) + 2
        ix, iy = int(cx), int(cy)
        x0, y0, x1, y1 = ix - half, iy - half, ix + half + 1, iy + half + 1
        crop = gray[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]
        if crop.shape[0] < 3 or crop.shape[1] < 3:
            return None
        exit_r = None
        if x0 < 0 or y0 < 0 or x1 > w or y1 > h:  # rays leaving the frame see its edge, not black
            exit_r = self._exit_radius(cx, cy, w, h)
            top, left = max(0, -y0), max(0, -x0)
            crop = cv2.copyMakeBorder(crop, top, max(0, y1 - h), left, max(0, x1 - w), cv2.BORDER_REPLICATE)
        polar = cv2.warpPolar(
            crop, (n_s, self.n_rays), (cx - x0, cy - y0), max_r, cv2.INTER_LINEAR + cv2.WARP_FILL_OUTLIERS
        )
        if self.deglint:  # grey opening in polar space: glints (a few rays x samples) vanish, the pupil stays
            polar = cv2.morphologyEx(polar, cv2.MORPH_OPEN, _GLINT_KERNEL)
        sc = self._scratch.get(n_s)
        if sc is None:
            sc = self._scratch[n_s] = _Scratch(self.n_rays, n_s, self._buffers)
        self._opened = polar.astype(np.float32)  # kept for the confidence evidence (see fit)
        cv2.GaussianBlur(self._opened, _BLUR, 0, dst=sc.polar)  # de-noise along rays and across
        sc.padded[:, n_s:] = sc.polar[:, n_s - 1 :]
        return sc, max_r / n_s, exit_r

    def _level_samples(
        self, polar: np.ndarray, r: float, step: float, prior: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Samples for the pupil level (inside) and the surround level (a ring outside)."""
        n_s = polar.shape[1]
        if prior is None:  # inside the seed radius and in a ring at 1.2-1.9 of it
            k_in = max(2, int(0.5 * r / step))
            k_out0, k_out1 = min(n_s - 2, int(1.2 * r / step) + 1), min(n_s, int(1.9 * r / step) + 2)
            return polar[:, :k_in], polar[:, k_out0:k_out1]
        t = self._ray_radius(prior)  # just inside and just outside the prior ellipse, ray by ray
        both = polar[self._rows2, _index(t[:, None] * (_IN_OUT / step), n_s)]
        return both[:, :3], both[:, 3:]

    def _edges(
        self,
        sc: _Scratch,
        level: float,
        glint_level: float,
        step: float,
        exit_r: np.ndarray | None,
        near: np.ndarray | None = None,
    ):
        """(lifted edge points (:func:`.ellipse.lift`; a transposed view), number of points, number of rays whose
        edge a large glint hides) of the rays with a clean first dark-to-bright edge; None if fewer than 8. Every
        ray is computed; the selection comes last. ``near``: samples next to a large glint (see
        :meth:`_fill_glints`): a crossing there is the glint's outline, not the pupil's."""
        polar, rows = sc.polar, self._rows
        # flat (row after row) element-wise passes; the padding columns repeat the last sample, so the
        # shifted comparisons never see a crossing or glint of the next row at a crossing that counts
        b, c, g, n = sc.flat[0], sc.flat[1], sc.flat[2], sc.flat.shape[1]
        np.less(sc.padded.reshape(-1), level, out=b)
        np.greater(b[:-1], b[1:], out=c[:-1])  # dark at k, bright at k + 1: the first one is the ray's edge
        cross = c.reshape(sc.padded.shape)
        cross[:, -1] = False  # (row wrap)
        k = cross.argmax(axis=1)
        np.greater_equal(sc.padded.reshape(-1), glint_level, out=b)  # glints: bright at k + 1 or k + 3
        np.logical_or(b[1 : n - 2], b[3:], out=g[: n - 3])
        np.greater(c[: n - 3], g[: n - 3], out=g[: n - 3])  # crossings not into a glint
        ok = g.reshape(sc.padded.shape)[rows, k]
        kept = self._keep(ok, k, step, exit_r, near, cross[rows, k])
        if kept is None:
            return None
        if self.edge == "gradient":
            rad = _gradient_edge(sc, rows, k)
        else:
            v0, v1 = polar[rows, k], sc.padded[rows, k + 1]
            rad = k + (level - v0) / np.maximum(v1 - v0, 1e-3)
        rad *= step
        return self._lifted(rad, ok), *kept

    def _rise_edges(
        self,
        sc: _Scratch,
        r: float,
        step: float,
        pupil: float,
        surround: float,
        glint_level: float,
        exit_r: np.ndarray | None,
        near: np.ndarray | None = None,
    ):
        """Like :meth:`_edges` with the steepest-rise rule: on each ray, the largest central difference
        between ``_RISE_WINDOW`` x r, on the polar image capped at ``_RISE_CAP`` above the surround level (a
        pupil edge rises to the surround; sclera, skin and glints beyond it would outbid a faint pupil), at
        least ``_RISE_MIN`` x (surround - pupil), not into a glint nor next to a filled one (``near``);
        sub-sample parabola on the differences."""
        polar, rows = sc.polar, self._rows
        n_s = polar.shape[1]
        a = max(1, int(_RISE_WINDOW[0] * r / step))
        b = min(n_s - 1, int(_RISE_WINDOW[1] * r / step) + 1)
        if b - a < 3:
            return None
        contrast = surround - pupil
        win = np.minimum(polar[:, a - 1 : b + 1], surround + _RISE_CAP * contrast)
        d = win[:, 2:] - win[:, :-2]  # central difference at samples a .. b - 1
        j = d.argmax(axis=1)
        around = np.clip(j[:, None] + _AROUND, 0, d.shape[1] - 1)  # the peak and its neighbours (clamped)
        p3 = d[self._rows2, around]
        off = _vertex(p3)
        k = j + a
        ok = p3[:, 1] > _RISE_MIN * contrast
        ok &= polar[rows, np.minimum(k + 2, n_s - 1)] < glint_level  # not a rise into a glint
        kept = self._keep(ok, k, step, exit_r, near, ok.copy())
        if kept is None:
            return None
        off += k
        off *= step
        return self._lifted(off, ok), *kept

    def _keep(
        self,
        ok: np.ndarray,
        k: np.ndarray,
        step: float,
        exit_r: np.ndarray | None,
        near: np.ndarray | None,
        found: np.ndarray,
    ) -> tuple[int, int] | None:
        """Drop from ``ok`` (in place) the edges (sample ``k + 1`` of each ray) next to a filled glint
        (``near``: the glint's outline, not the pupil's; the rays of ``found`` among them are counted as
        hidden) and beyond the frame border (made up by the padding). (points kept, rays hidden), or None if
        fewer than 8 points are kept."""
        n_hidden = 0
        if near is not None:
            hidden = near[self._rows, k + 1]
            n_hidden = int(np.count_nonzero(hidden & found))
            ok &= ~hidden
        if exit_r is not None:
            ok &= (k + 2) * step < exit_r
        n_points = int(np.count_nonzero(ok))
        return None if n_points < 8 else (n_points, n_hidden)

    def _lifted(self, rad: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """Lifted edge points (:func:`.ellipse.lift`, a transposed view) at radii ``rad`` of the rays in ``ok``."""
        lifted = self._lift  # (6, rays): x^2, xy, y^2, x, y, 1 in rows (contiguous element-wise passes)
        np.multiply(self.cos, rad, out=lifted[3])
        np.multiply(self.sin, rad, out=lifted[4])
        np.multiply(lifted[3:5], lifted[3], out=lifted[0:2])
        np.multiply(lifted[4], lifted[4], out=lifted[2])
        return lifted[:, ok].T

    def _fill_glints(self, sc: _Scratch, glint_level: float, pupil: float, step: float) -> np.ndarray | None:
        """Large glints (samples at or above ``glint_level`` that the polar opening left, with a halo of
        ``_GLINT_HALO`` px along the rays and one ray across) are filled with the pupil level in the unsmoothed
        polar image, which is smoothed again: a ray crossing a glint inside the pupil then finds the pupil's
        edge behind it. Returns the samples near a glint (the filled ones widened by the smoothing kernel;
        (rays, n_s + 2) bool, for :meth:`_edges` and :meth:`_separation`), or None if there is no glint."""
        import cv2

        opened = self._opened
        bright = opened >= glint_level
        if not bright.any():
            return None
        n_s = opened.shape[1]
        h = int(math.ceil(_GLINT_HALO / step))
        fill = cv2.dilate(bright.view(np.uint8), np.ones((3, 2 * h + 1), np.uint8))
        opened[fill.view(bool)] = pupil
        cv2.GaussianBlur(opened, _BLUR, 0, dst=sc.polar)
        sc.padded[:, n_s:] = sc.polar[:, n_s - 1 :]
        near = np.zeros(sc.padded.shape, np.uint8)
        cv2.dilate(fill, np.ones((1, _BLUR[0]), np.uint8), dst=near[:, :n_s])
        near[:, n_s:] = near[:, n_s - 1 : n_s]
        return near.view(bool)

    def _fit_points(self, f: np.ndarray, prior: np.ndarray | None):
        """RANSAC conic (no prior) or the refit of the prior's inliers: (conic, inlier mask, Sampson
        distances of the points to the conic; exact for the inliers) or None."""
        if prior is None:
            return self.ransac.fit_lifted(f)
        dist = _sampson_lifted(prior[None], f)[0]
        mask = dist < 1.5 * self.tol
        if np.count_nonzero(mask) < 5:
            return None
        return refit_lifted(prior, mask, f, self.tol, dist)

    def _exit_radius(self, cx: float, cy: float, w: int, h: int) -> np.ndarray:
        """Distance along each ray from (cx, cy) to the frame border (px)."""
        with np.errstate(divide="ignore"):
            tx = np.where(
                self.cos > 1e-9, (w - 0.5 - cx) / self.cos, np.where(self.cos < -1e-9, (-0.5 - cx) / self.cos, np.inf)
            )
            ty = np.where(
                self.sin > 1e-9, (h - 0.5 - cy) / self.sin, np.where(self.sin < -1e-9, (-0.5 - cy) / self.sin, np.inf)
            )
        return np.minimum(tx, ty)

    def _ray_radius(self, q: np.ndarray) -> np.ndarray:
        """Distance from the origin to conic q along each ray (px; huge where the ray never meets it).

        Along a ray, q(t cos, t sin) - 1 = qa t^2 + qb t - 1 with qa and qb quadratic / linear forms of
        (cos, sin); the positive root is 2 / (qb + sqrt(qb^2 + 4 qa)), and qb^2 + 4 qa is itself a quadratic
        form of (cos, sin), so the whole is three small products and three element-wise operations."""
        a, b, c, d, e = q.tolist()
        if a + c - math.hypot(a - c, b) <= 1e-9:  # qa <= 1e-12 on some ray: not an ellipse around the origin
            return _ray_radius_safe(self._quad @ q[:3], self._lin @ q[3:5])
        t = self._quad @ np.array([4 * a + d * d, 4 * b + 2 * d * e, 4 * c + e * e])  # qb^2 + 4 qa
        np.sqrt(t, out=t)
        t += self._lin @ q[3:5]
        np.divide(2.0, t, out=t)
        return t

    def _separation(
        self, polar: np.ndarray, q: np.ndarray, step: float, half: float, near: np.ndarray | None = None
    ) -> tuple[float, float]:
        """Share of rays along which the fitted ellipse separates dark (at 0.7 of its radius) from bright
        (at 1.3): a right pupil outline does so all around, one that leaked onto lashes or a lid does not.
        Second value: the same share on the eighth of the rays nearest the major axis, where a dark line (the
        lash line or slit of a closing eye) goes on beyond the ends of a flat fit but a pupil does not."""
        t = self._ray_radius(q)
        n_s = polar.shape[1]
        pos = t[:, None] * (_SEP / step)
        v = polar[self._rows2, _index(pos, n_s)]
        good = np.subtract(v[:, 1], v[:, 0]) > half  # bright outside minus dark inside
        good &= pos[:, 1] < n_s - 0.5
        if near is not None:  # rays where a large glint covers a side: no evidence either way
            idx = _index(pos, n_s)
            seen = ~(near[self._rows, idx[:, 0]] | near[self._rows, idx[:, 1]])
            if np.count_nonzero(seen) >= 8:
                good, t = good[seen], t[seen]
        n = t.size
        k = max(2, n // 8)
        ends = np.argpartition(t, n - k)[n - k :]
        return np.count_nonzero(good) / n, np.count_nonzero(good[ends]) / k


_MAX_SAMPLES = 96  # samples per ray at most
_GLINT_KERNEL = np.ones((5, 5), np.uint8)  # 5 rays x 5 samples
#: halo (px along a ray) around a large glint filled with the pupil level (see RayCaster._fill_glints)
_GLINT_HALO = 2.5
#: large glints are filled within this many seed radii (on the pupil or near its edge; the whole crop: +0.1 ms)
_GLINT_REACH = 1.8
#: Gaussian kernel on the polar image (samples x rays): 9x5 instead of 5x3 lifts hard-tier fits from a seed in
#: the pupil from 68 to 70 % and the confident ones from 40 to 50 %, medium unchanged
_BLUR = (9, 5)
#: the confidence evidence (inside spread, dark/bright separation) is read on a lightly smoothed polar image,
#: as the confidence weights were fitted (a stronger blur hides the texture that tells lashes from a pupil)
_FINE_BLUR = (5, 3)
#: edge level between the pupil and the surround level: below the midpoint, as the pupil level is a low
#: percentile of noisy samples and the rise into the iris is often shallow on its upper part
_LEVEL = 0.4
#: steepest-rise rule (``fit(rise=True)``): window (x expected radius), brightness cap above the surround and
#: smallest rise (x contrast). Hard synthetic sequences, seed on the true pupil: fits within 5 px 73 -> 86 %;
#: the cap keeps the iris outline of dark-iris real clips (ransac-test1) from outbidding a faint pupil
_RISE_WINDOW = (0.5, 1.5)
_RISE_CAP = 0.1
_RISE_MIN, _AROUND = 0.1, np.array([-1, 0, 1])  # (_AROUND: a peak's neighbourhood, for _vertex)
# fractions of the prior ellipse radius sampled for the pupil level (3 first) and the surround level
_IN_OUT = np.array([0.3, 0.5, 0.7, 1.15, 1.3, 1.45])
_SEP = np.array([0.7, 1.3])  # fractions of the fitted radius compared by the separation evidence
_PEAK_START = np.array([0, 0, 1, 2, 3, 4, 4])  # window index of the steepest rise -> start of the 3 around it
_PARABOLA = np.array([[1.0, 0.5], [-2.0, 0.0], [1.0, -0.5]], np.float32)  # (d0, d1, d2) -> (curvature, slope)


class _Scratch:
    """Views for one samples-per-ray count ``n_s`` over buffers shared by every count (one ray pass uses one
    count at a time), with strided window views over them (built once per count), so that per-ray windows
    are gathered by one fancy index with no index arithmetic or clipping.

    ``polar`` (rays, n_s) float32 lives in ``padded`` (2 more columns repeating the last sample); ``flat``
    holds 3 boolean images of the size of ``padded``, flattened. ``diff`` (rays, n_s + 5) holds at column c
    the central difference polar[i + 1] - polar[i - 1] at sample i = clip(c - 2, 1, n_s - 2) (columns
    3 .. n_s, edge-replicated 3 columns to the left and 4 to the right): ``win7[r, k]`` = the differences at
    samples k - 2 .. k + 4 (the +-3 window around sample k + 1, clipped), ``peak3[r, c]`` =
    diff[r, c : c + 3] and ``sample[c]`` = the sample index of the middle one, diff column c + 1.
    """

    __slots__ = ("padded", "polar", "flat", "diff", "win7", "peak3", "sample")

    @staticmethod
    def buffers(n_rays: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The shared buffers, sized for the largest sample count."""
        size = n_rays * (_MAX_SAMPLES + 5)
        return np.zeros(size, np.float32), np.zeros((3, size), bool), np.zeros(size, np.float32)

    def __init__(self, n_rays: int, n_s: int, buffers: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        f4 = np.dtype(np.float32).itemsize
        size = n_rays * (n_s + 2)
        self.padded = buffers[0][:size].reshape(n_rays, n_s + 2)
        self.polar = self.padded[:, :n_s]
        self.flat = buffers[1][:, :size]
        self.diff = buffers[2][: n_rays * (n_s + 5)].reshape(n_rays, n_s + 5)
        ds = self.diff.strides[0]
        self.win7 = np.ndarray((n_rays, n_s - 1, 7), np.float32, self.diff, 0, (ds, f4, f4))
        self.peak3 = np.ndarray((n_rays, n_s + 3, 3), np.float32, self.diff, 0, (ds, f4, f4))
        self.sample = np.clip(np.arange(n_s + 3) - 1, 1, n_s - 2)

    def differences(self) -> None:
        """Fill ``diff`` from ``polar``."""
        import cv2

        diff = self.polar[:, 2:] - self.polar[:, :-2]
        cv2.copyMakeBorder(diff, 0, 0, 3, 4, cv2.BORDER_REPLICATE, dst=self.diff)


def _gradient_edge(sc: _Scratch, rows: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Sub-sample position (samples) of the steepest rise within +-3 samples of each ray's crossing sample
    k + 1 (parabolic peak of the central difference); computed for every ray."""
    sc.differences()
    m = _PEAK_START[sc.win7[rows, k].argmax(axis=1)]  # steepest of the 7 -> start of the 3 around it
    m += k  # as a column of diff
    return sc.sample[m] + _vertex(sc.peak3[rows, m])


def _vertex(p3: np.ndarray) -> np.ndarray:
    """Offset (-0.5..0.5) from the middle of each row's 3 values of their parabola's vertex (0: no peak)."""
    d = p3 @ _PARABOLA
    den, num = d[:, 0], d[:, 1]
    peak = den < -1e-6
    off = num / np.where(peak, den, -1.0)
    off *= peak
    np.maximum(off, -0.5, out=off)
    np.minimum(off, 0.5, out=off)
    return off


def _ray_radius_safe(qa: np.ndarray, qb: np.ndarray) -> np.ndarray:
    """Ray radii where some rays may never meet the conic (qa <= 0): 1e6 there."""
    disc = qb * qb + 4 * qa
    t = (-qb + np.sqrt(np.maximum(disc, 0.0))) / (2 * np.where(qa > 1e-12, qa, 1e-12))
    return np.where(qa > 1e-12, t, 1e6)


def _index(pos: np.ndarray, n: int) -> np.ndarray:
    """Nearest sample index of positions (in samples, >= 0: ray radii are), clamped to n - 1."""
    idx = np.minimum(pos, n - 1)
    np.rint(idx, out=idx)
    return idx.astype(np.intp)


def _quantile(a: np.ndarray, q: float) -> float:
    """q-quantile (nearest rank) of a small array, cheaper than np.percentile."""
    flat = a.flatten()
    k = min(flat.size - 1, int(q * flat.size))
    flat.partition(k)
    return float(flat[k])
