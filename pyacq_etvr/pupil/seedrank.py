"""Ranked pupil seeds for a full search (used by ``default``): :class:`SeedRanker`.

The plain HSF search (:mod:`.hsf`) ranks dark spots by ``ring - inner`` alone, so on hard frames its first
candidates are often a lash line, a lid crease, a make-up line, a dark frame corner or the shadowed top of a
dark iris. Here each spot is also scored by the four sides of its surround taken separately (a line or an
edge darkens only some of them), its darkness and texture, then re-ranked by 16 short rays (a pupil's edge
rises all round). Generic image cues only: nothing depends on the synthetic renderer.
"""

from __future__ import annotations

import math

import numpy as np

from pyacq_etvr.pupil.base import check_param
from pyacq_etvr.pupil.hsf import Coarse

# Candidate score weights (features in units of the frame's contrast D = p50 - p2 grey levels, see _features),
# fitted once by a listwise softmax ranking on synthetic medium + hard frames (seed 1), checked on held-out
# seed 11 and on the real clips. Stage 1 ranks the dark spots found at every box size; stage 2 re-ranks the
# best few by how consistently the image rises into a brighter surround all around them.
# Without the glint feature (default: on the real clips the glints often sit on the iris or lid, so they mislead)
_W1 = np.array([-2.67, 3.25, 1.18, 8.9, -0.35, -13.91, 2.36, 0.0, 21.18], np.float32)  # see _features
_W2 = np.array([0.756, 3.22, -2.51, -11.86], np.float32)  # stage-1 score, q25 rise, median rise, radius spread
# With it (``glints=True``): synthetic hard frames recall@3 0.70 -> 0.75, real clips slightly worse
_W1G = np.array([-2.91, 2.45, 0.64, 9.65, -3.23, -6.06, 2.37, 2.21, 13.84], np.float32)
_W2G = np.array([0.777, 3.98, -3.77, -11.42], np.float32)
_ND, _NK = 16, 12  # stage 2: rays, samples per ray
_FR = np.linspace(0.2, 2.0, _NK).astype(np.float32)  # ray samples, fractions of the candidate radius
_ANG = np.arange(_ND) * (2 * np.pi / _ND)
_CS, _SN = np.cos(_ANG).astype(np.float32), np.sin(_ANG).astype(np.float32)
_RAY_X, _RAY_Y = _CS[:, None] * _FR[None, :], _SN[:, None] * _FR[None, :]  # ray samples for a unit radius
_K3, _K5 = np.ones((3, 3), np.uint8), np.ones((5, 5), np.uint8)
# box corners (x0, x1, y0, y1) = A * r + B relative to a candidate, for the left, right, top and bottom sides
# of the surround (out to 2 r) and the inner box (half-size r)
_BOX_A = np.array([[-2, 1, -1, -1, -1], [-1, 2, 1, 1, 1], [-1, -1, -2, 1, -1], [1, 1, -1, 2, 1]])
_BOX_B = np.array([[0, 1, 0, 0, 0], [0, 1, 1, 1, 1], [0, 0, 0, 1, 0], [1, 1, 0, 1, 1]])


class SeedRanker:
    """Ranked pupil seeds for a full search: dark spots at several sizes, scored, kept diverse, re-ranked.

    1. **Candidates.** The frame is reduced (longest side ~``coarse_size`` px, INTER_AREA) and its glints
       erased by a 3x3 grey opening. For pupil radii ``r_min``..``r_max`` (fractions of the shorter side),
       box half-sizes r: local maxima of ``ring - inner`` (box of half-size r, surround 2r), the ``per``
       best of each size by contrast + darkness.
    2. **Stage 1 score**: the four sides of the surround taken separately (a lash line, a lid crease or a
       frame edge darkens some of them: the weakest and second weakest side contrasts count), darkness
       relative to the frame, texture inside (standard deviation at the search resolution and at twice it)
       and size. Non-maximum suppression keeps ``n_probe`` diverse candidates (a pupil inside a larger iris
       stays).
    3. **Stage 2**: 16 rays from each kept candidate (one ``cv2.remap`` for all) give the steepest rise per
       direction: the 25 % quantile of those rises (a pupil rises all round, a line on two sides), their
       median and the spread of the edge radii re-rank the candidates; each seed moves to the mean of its
       edge points and takes their mean distance as its radius (within 0.6-1.5 x the box estimate); seeds
       that land on the same outline are kept once.

    Parameters (defaults): ``r_min`` 0.02, ``r_max`` 0.25 (pupil radius range, fractions of the shorter
    side), ``coarse_size`` 64 px, ``per`` 12 peaks per box size, ``n_probe`` 16 candidates re-ranked by rays,
    ``glints`` False (True adds the mass of bright spots around a candidate to its score: better on our
    synthetic frames, worse on the real clips, where glints often sit on the iris).
    Threading: one instance per thread (scratch buffers). Cost on 240x240, one core: ~0.5 ms, 1.25-1.5x the
    plain HSF seeds of the ``default`` detector (:class:`~.hsf.HaarSurround` candidates, darkest disc,
    nested discs), measured interleaved on the shared (noisy) 2-core machine.
    Frames too small for the smallest box (or flat) give no seed.
    """

    def __init__(
        self,
        r_min: float = 0.02,
        r_max: float = 0.25,
        coarse_size: int = 64,
        per: int = 12,
        n_probe: int = 16,
        glints: bool = False,
    ) -> None:
        from pyacq_etvr.core.errors import ConfigError

        self.r_min = check_param("r_min", r_min, 0.005, 0.5)
        self.r_max = check_param("r_max", r_max, 0.01, 0.5)
        if r_max < r_min:
            raise ConfigError(f"parameter 'r_max' ({r_max}) must be >= 'r_min' ({r_min})")
        self.coarse_size = check_param("coarse_size", coarse_size, 16, 640, int)
        self.per = check_param("per", per, 1, 100, int)
        self.n_probe = check_param("n_probe", n_probe, 1, 100, int)
        if not isinstance(glints, bool):
            raise ConfigError(f"parameter 'glints' must be a bool, got {glints!r}")
        self.glints = glints
        self._plans: dict[tuple[int, int], tuple] = {}  # per frame size: factor, radii, padding, scratch
        self.n_radii = 6  # box sizes
        self._small: np.ndarray | None = None  # the reduced frame of the last call (rays of stage 2)
        self._contrast = 10.0

    def seeds(self, gray: np.ndarray, k: int = 8) -> list[Coarse]:
        """Up to ``k`` seeds for a 2-D uint8 frame, most likely pupil first (full-resolution pixel centres;
        ``r`` the pupil radius estimate, ``inner``/``ring`` box levels, ``score`` the ranking score).
        Raises :class:`~pyacq_etvr.core.errors.ImageError` for anything but a 2-D uint8 array."""
        if not isinstance(gray, np.ndarray) or gray.ndim != 2 or gray.dtype != np.uint8:
            from pyacq_etvr.core.errors import ImageError

            desc = f"{gray.dtype} array of shape {gray.shape}" if isinstance(gray, np.ndarray) else type(gray).__name__
            raise ImageError(f"SeedRanker.seeds expects a 2-D uint8 array, got {desc} (see pupil.base.as_gray)")
        cand = self.candidates(gray)
        if cand is None:
            return []
        xs, ys, rs, feats, levels = cand
        w1, w2 = (_W1G, _W2G) if self.glints else (_W1, _W2)
        s1 = feats @ w1
        keep = _nms(xs, ys, rs, s1, self.n_probe)
        xs, ys, rs, s1, levels = xs[keep], ys[keep], rs[keep], s1[keep], levels[keep]
        s = self._plans[gray.shape][0]
        c = (s - 1) / 2.0
        q25, med, spread, cx, cy, r_edge = _radial(self._small, (xs - c) / s, (ys - c) / s, rs / s, self._contrast)
        rs = np.clip(r_edge * s, 0.6 * rs, 1.5 * rs)  # the mean edge radius, within reason
        score = w2[0] * s1 + w2[1] * q25 + w2[2] * med + w2[3] * spread
        h, w = gray.shape
        order = np.argsort(-score)
        cx, cy = (cx[order] * s + c).tolist(), (cy[order] * s + c).tolist()
        rs, score, levels = rs[order].tolist(), score[order].tolist(), levels[order].tolist()
        out: list[Coarse] = []
        for i in range(len(order)):  # candidates whose rays found the same outline are one seed
            x, y, r = min(max(cx[i], 0.0), w - 1.0), min(max(cy[i], 0.0), h - 1.0), rs[i]
            if any((x - o.x) ** 2 + (y - o.y) ** 2 < 0.25 * r * o.r and 0.67 < r / o.r < 1.5 for o in out):
                continue
            out.append(Coarse(x, y, r, *levels[i], score[i]))
            if len(out) >= k:
                break
        return out

    def candidates(self, gray: np.ndarray):
        """Stage-1 candidates of a uint8 frame: x, y, r (full-resolution px), features (n, 9) and levels
        (n, 2: inner and surround means); None if the frame is too small or has no dark spot."""
        import cv2

        h, w = gray.shape
        s, radii, pad, scratch = self._plan(h, w)
        if not radii:
            return None
        f = 2 if s % 2 == 0 else 1  # fine texture: measured at f times the search resolution
        fine = _reduce(gray, s // f)
        small = _reduce(fine, f) if f > 1 else fine
        self._small = small
        hist = np.cumsum(cv2.calcHist([small], [0], None, [256], [0, 256]).ravel())
        p2, p50 = np.searchsorted(hist, [0.02 * hist[-1], 0.5 * hist[-1]])
        self._contrast = d = max(float(p50 - p2), 10.0)
        opened = cv2.morphologyEx(small, cv2.MORPH_OPEN, _K3)  # glints erased
        idx, inner = _peaks(opened, radii, scratch, self.per)
        if idx.size == 0:
            return None
        sh, sw = small.shape
        ri, rem = np.divmod(idx, sh * sw)
        ys, xs = np.divmod(rem, sw)
        rep = cv2.BORDER_REPLICATE
        sums = scratch[4]  # preallocated integral images (coarse, fine; sum and sum of squares)
        cv2.integral2(cv2.copyMakeBorder(opened, pad, pad, pad, pad, rep), sums[0], sums[1], cv2.CV_32S, cv2.CV_64F)
        fp = scratch[5]
        if f > 1:
            fine_open = cv2.morphologyEx(fine, cv2.MORPH_OPEN, _K3)
            cv2.integral2(cv2.copyMakeBorder(fine_open, fp, fp, fp, fp, rep), sums[2], sums[3], cv2.CV_32S, cv2.CV_64F)
        ints = [*sums, None]
        if self.glints:  # what the opening erased: glints (corneal reflections, often on or near the pupil)
            ints[4] = cv2.integral(
                cv2.copyMakeBorder(cv2.subtract(small, opened), pad, pad, pad, pad, cv2.BORDER_CONSTANT)
            )
        return _features(ints, (f, fp), xs + pad, ys + pad, np.asarray(radii)[ri], inner, pad, s, float(p50), d)

    def _plan(self, h: int, w: int) -> tuple:
        """Reduction factor, box half-sizes, integral-image padding and scratch buffers (cached per size)."""
        if (h, w) not in self._plans:
            short = min(h, w)
            s = max(1, int(math.ceil(max(h, w) / self.coarse_size)))
            sh, sw = h // s, w // s
            a = max(1.0, self.r_min * short / 1.4 / s)
            b = max(a, self.r_max * short / 1.4 / s)
            radii = sorted({int(round(v)) for v in np.geomspace(a, b, self.n_radii)})
            radii = [r for r in radii if 2 * r + 3 <= min(sh, sw)]
            n = len(radii)
            border = np.zeros((n, sh, sw), np.float32)
            for i, r in enumerate(radii):
                m = max(1, r // 2)
                border[i, m : sh - m, m : sw - m] = 1.0  # no peak near the border (dark corners, cut pupils)
            gains = [(4 * r + 1) ** 2 / ((4 * r + 1) ** 2 - (2 * r + 1) ** 2) for r in radii]  # ring mean factor
            pad = 2 * max(radii, default=1) + 2  # the surround of the largest box
            f = 2 if s % 2 == 0 else 1  # the fine frame (texture) has f times the search resolution
            fh, fw = h // (s // f), w // (s // f)
            fpad = f * (max(radii, default=1) + 1) if f > 1 else pad  # the inner box only
            sums = [np.empty((sh + 2 * pad + 1, sw + 2 * pad + 1), t) for t in (np.int32, np.float64)]
            if f > 1:
                sums += [np.empty((fh + 2 * fpad + 1, fw + 2 * fpad + 1), t) for t in (np.int32, np.float64)]
            else:
                sums += sums  # the fine frame is the search frame
            grids = (np.empty((n, sh, sw), np.float32), np.empty((n, sh, sw), np.float32), border, gains)
            self._plans[(h, w)] = (s, radii, pad, (*grids, sums, fpad))
        return self._plans[(h, w)]


def _reduce(gray: np.ndarray, s: int) -> np.ndarray:
    """``gray`` reduced s times by block averaging (INTER_AREA), halving first: OpenCV's 2x path is ~6x faster."""
    import cv2

    h, w = gray.shape
    img, f = gray, s
    while f % 2 == 0:
        img = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
        f //= 2
    if f > 1:
        img = cv2.resize(img, (w // s, h // s), interpolation=cv2.INTER_AREA)
    return img


def _peaks(small: np.ndarray, radii: list[int], scratch: tuple, per: int) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima (5x5) of ``ring - inner`` (a dark spot in a brighter surround) for every box half-size,
    away from the border, the ``per`` best of each size by contrast + darkness: flat indices into a
    (radius, y, x) stack and the inner box means there."""
    import cv2

    inner, resp, border, gains = scratch[:4]
    n, sh, sw = resp.shape
    boxes: dict[int, np.ndarray] = {}
    for i, r in enumerate(radii):
        for k in (r, 2 * r):
            if k not in boxes:
                boxes[k] = cv2.boxFilter(small, cv2.CV_32F, (2 * k + 1, 2 * k + 1), borderType=cv2.BORDER_REPLICATE)
        inner[i] = boxes[r]
        cv2.addWeighted(boxes[2 * r], gains[i], boxes[r], -gains[i], 0.0, dst=resp[i])
    resp *= border
    # one dilation of the stacked maps: rows leaking across slices are border rows (zero), so harmless
    tall = resp.reshape(n * sh, sw)
    idx = np.flatnonzero((tall >= cv2.dilate(tall, _K5)) & (tall > 0.5))
    vals = inner.ravel()[idx]
    ri = idx // (sh * sw)
    order = np.lexsort((vals - resp.ravel()[idx], ri))  # by size, then contrast + darkness
    ri = ri[order]
    rank = np.arange(ri.size) - np.searchsorted(ri, ri)
    sel = order[rank < per]
    return idx[sel], vals[sel]


def _features(integrals: list, fine: tuple, xs, ys, rb, inner, pad: int, s: int, p50: float, d: float):
    """Stage-1 features at padded reduced-frame (xs, ys), box half-sizes rb, from the integral images (and of
    the squares) of the opened frame, of the opened frame at f times its resolution, and of the erased glints
    (or None): the four side contrasts of the surround sorted (weakest, second weakest, mean of the two
    strongest), darkness (p50 - inner), log radius, texture inside (standard deviation), the weakest side
    contrast relative to it, the glint mass around (log) and the texture inside at the finer resolution;
    levels in units of d."""
    ii, ii2, fi, fi2, gi = integrals
    # the four sides of the surround (left, right, top, bottom) and the inner box, gathered at once
    c = _BOX_A[:, :, None] * rb + _BOX_B[:, :, None]  # (x0, x1, y0, y1) x box x candidate, relative
    x0, x1, y0, y1 = c[0] + xs, c[1] + xs, c[2] + ys, c[3] + ys
    means = (ii[y1, x1] - ii[y0, x1] - ii[y1, x0] + ii[y0, x0]) / ((c[1] - c[0]) * (c[3] - c[2]))
    x0, x1, y0, y1 = x0[4], x1[4], y0[4], y1[4]
    sq = (ii2[y1, x1] - ii2[y0, x1] - ii2[y1, x0] + ii2[y0, x0]) / ((x1 - x0) * (y1 - y0))
    con = np.sort(means[:4] - inner, 0)
    sd = np.sqrt(np.maximum(sq - means[4] * means[4], 0.0))
    f, fpad = fine
    x0, x1, y0, y1 = ((v - pad) * f + fpad for v in (x0, x1, y0, y1))  # the same inner box on the finer frame
    area = (x1 - x0) * (y1 - y0)
    m1 = (fi[y1, x1] - fi[y0, x1] - fi[y1, x0] + fi[y0, x0]) / area
    m2 = (fi2[y1, x1] - fi2[y0, x1] - fi2[y1, x0] + fi2[y0, x0]) / area
    sd_fine = np.sqrt(np.maximum(m2 - m1 * m1, 0.0))
    r_full = 1.4 * rb * s
    feats = np.empty((9, xs.size), np.float32)
    feats[0:2] = con[0:2] / d
    feats[2] = 0.5 * (con[2] + con[3]) / d
    feats[3] = (p50 - inner) / d
    feats[4] = np.log(r_full)
    feats[5] = sd / d
    feats[6] = con[0] / (sd + 2.0)
    if gi is None:
        feats[7] = 0.0
    else:
        ro = 2 * rb
        feats[7] = (
            gi[ys + ro + 1, xs + ro + 1] - gi[ys - ro, xs + ro + 1] - gi[ys + ro + 1, xs - ro] + gi[ys - ro, xs - ro]
        )
        feats[7] = np.log1p(feats[7] / d)
    feats[8] = sd_fine / d
    c = (s - 1) / 2.0
    levels = np.stack([inner, inner + 0.25 * con.sum(0)], 1)
    return (xs - pad) * s + c, (ys - pad) * s + c, r_full, feats.T, levels


def _nms(xs, ys, rs, score, n: int) -> np.ndarray:
    """Indices of up to n candidates, best first; a weaker one at the same place and a similar size is dropped
    (a pupil inside a larger iris stays)."""
    if score.size > 3 * n:  # only the best 3n can matter in practice
        top = np.argpartition(-score, 3 * n)[: 3 * n]
        order = top[np.argsort(-score[top])]
    else:
        order = np.argsort(-score)
    x, y, r = xs[order], ys[order], rs[order]
    big, small = np.maximum.outer(r, r), np.minimum.outer(r, r)
    d2 = np.square(np.subtract.outer(x, x)) + np.square(np.subtract.outer(y, y))
    clash = (d2 < np.square(0.8 * big)) & (big < 2.0 * small)
    m = len(order)
    nbytes = (m + 7) // 8
    packed = np.zeros((m, (nbytes + 7) // 8 * 8), np.uint8)  # each row a bit set, as Python ints below
    packed[:, :nbytes] = np.packbits(clash, axis=1, bitorder="little")
    if packed.shape[1] == 8:
        rows = packed.view(np.uint64)[:, 0].tolist()
    else:
        rows = [int.from_bytes(b, "little") for b in packed]
    dead, keep = 0, []
    for i in range(m):
        if not (dead >> i) & 1:
            keep.append(i)
            if len(keep) >= n:
                break
            dead |= rows[i]
    return order[keep]


def _radial(gray: np.ndarray, xs, ys, rs, d: float):
    """Stage 2: per candidate, the steepest rise on each of 16 rays (0.2-2 radii, on the reduced frame): its
    25 % quantile and median over rays (/ d), the spread of the edge radii (std / mean), the mean edge point
    and the mean edge radius."""
    import cv2

    n = len(xs)
    maps = np.empty((n, _ND, _NK, 2), np.float32)  # (x, y) sample positions for one remap
    r3 = rs.astype(np.float32)[:, None, None]
    np.add(xs.astype(np.float32)[:, None, None], r3 * _RAY_X, out=maps[..., 0])
    np.add(ys.astype(np.float32)[:, None, None], r3 * _RAY_Y, out=maps[..., 1])
    prof = cv2.remap(gray, maps.reshape(1, -1, 2), None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    prof = prof.reshape(n, _ND, _NK).astype(np.int16)
    rise = prof[:, :, 2:] - prof[:, :, :-2]
    rad = _FR[rise.argmax(2) + 1] * r3[:, :, 0]
    e = rise.max(2)
    e.sort(1)
    q25, med = e[:, _ND // 4] / d, (e[:, _ND // 2 - 1] + e[:, _ND // 2]) / (2 * d)
    mean = rad.sum(1) / _ND
    spread = np.sqrt(np.maximum((rad * rad).sum(1) / _ND - mean * mean, 0.0)) / mean
    return q25, med, spread, xs + rad @ _CS / _ND, ys + rad @ _SN / _ND, mean
