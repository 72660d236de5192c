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
_RAY_XT, _RAY_YT = (_CS[:, None] * _FR[None, :]).T[:, None], (_SN[:, None] * _FR[None, :]).T[:, None]  # unit radius
_KEY = (_NK - 3 - np.arange(_NK - 2, dtype=np.int16))[:, None]  # 9 - (centred difference index)
_FR_KEY = np.zeros(16, np.float32)
_FR_KEY[_KEY[:, 0]] = _FR[1:-1]  # the sample at the middle of a centred difference, by 9 - its index
_K3, _K5 = np.ones((3, 3), np.uint8), np.ones((5, 5), np.uint8)
# box corners (x0, x1, y0, y1) = A * r + B relative to a candidate, for the left, right, top and bottom sides
# of the surround (out to 2 r) and the inner box (half-size r)
_BOX_A = np.array([[-2, 1, -1, -1, -1], [-1, 2, 1, 1, 1], [-1, -1, -2, 1, -1], [1, 1, -1, 2, 1]])
_BOX_B = np.array([[0, 1, 0, 0, 0], [0, 1, 1, 1, 1], [0, 0, 0, 1, 0], [1, 1, 0, 1, 1]])
_BITS = np.left_shift(1, np.arange(63, dtype=np.int64))  # bit i, to turn boolean rows into Python int bit sets


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
    Threading: one instance per thread (scratch buffers). Cost on 240x240, one core: ~0.44 ms p50 (~0.3 ms
    stage 1, mostly OpenCV: 10 box filters, a dilation, two openings and integral images; ~0.1 ms stage 2),
    measured interleaved on the shared 2-core machine. Everything that depends on the frame size only
    (reduction steps, box sizes, lookup tables of positions, radii and box-corner offsets, scratch buffers:
    ~1 MB at 240x240) is built once per size, so a frame costs few calls on whole arrays.
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
        self._plans: dict[tuple[int, int], _Plan] = {}  # per frame size: factors, radii, tables, scratch
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
        st = self._stage1(gray)
        if st is None:
            return []
        plan, ri, rem, inner, feats, con = st
        w1, w2 = (_W1G, _W2G) if self.glints else (_W1, _W2)
        s1 = feats.T @ w1
        keep = _nms(plan, ri, rem, s1, self.n_probe)
        ri, rem, s1 = ri.take(keep), rem.take(keep), s1.take(keep)  # (take: cheaper than indexing)
        s, c = plan.s, plan.c
        f32 = plan.gxy32.take(rem, 1), plan.rs_s32.take(ri)
        q25, med, spread, cx, cy, r_edge = _radial(
            self._small, plan.gx.take(rem), plan.gy.take(rem), None, self._contrast, f32
        )
        # the rest per seed in Python floats, best first, until k are kept (the same operations as numpy's)
        score = w2[0] * s1 + w2[1] * q25 + w2[2] * med + w2[3] * spread
        inner = inner.take(keep)
        ring = (inner + 0.25 * con.take(keep, 1).sum(0)).tolist()
        r_edge, rs = (r_edge * s).tolist(), plan.rfull.take(ri).tolist()  # (float32 products)
        cx, cy, inner, scores = cx.tolist(), cy.tolist(), inner.tolist(), score.tolist()
        h, w = gray.shape
        wm, hm = w - 1.0, h - 1.0
        out: list[Coarse] = []
        for i in np.argsort(-score).tolist():
            x, y = min(max(cx[i] * s + c, 0.0), wm), min(max(cy[i] * s + c, 0.0), hm)
            r = min(max(r_edge[i], 0.6 * rs[i]), 1.5 * rs[i])  # the mean edge radius, within reason
            for o in out:  # candidates whose rays found the same outline are one seed
                if (x - o.x) ** 2 + (y - o.y) ** 2 < 0.25 * r * o.r and 0.67 < r / o.r < 1.5:
                    break
            else:
                out.append(Coarse(x, y, r, inner[i], ring[i], scores[i]))
                if len(out) >= k:
                    break
        return out

    def candidates(self, gray: np.ndarray):
        """Stage-1 candidates of a uint8 frame: x, y, r (full-resolution px), features (n, 9) and levels
        (n, 2: inner and surround means); None if the frame is too small or has no dark spot."""
        st = self._stage1(gray)
        if st is None:
            return None
        plan, ri, rem, inner, feats, con = st
        levels = np.stack([inner, inner + 0.25 * con.sum(0)], 1)
        return plan.xf[rem], plan.yf[rem], plan.rfull[ri], feats.T, levels

    def _stage1(self, gray: np.ndarray):
        """Reduced frames, contrast, dark spots and their features: (plan, radius index, flat position on the
        search frame, inner box mean, features (9, n) float32, sorted side contrasts (4, n)) or None."""
        import cv2

        h, w = gray.shape
        plan = self._plans.get((h, w))
        if plan is None:
            plan = self._plans[(h, w)] = _Plan(h, w, self)
        if not plan.radii:
            return None
        fine = gray
        for dsize, dst in plan.to_fine:
            fine = cv2.resize(fine, dsize, dst=dst, interpolation=cv2.INTER_AREA)
        small = fine
        for dsize, dst in plan.to_small:
            small = cv2.resize(small, dsize, dst=dst, interpolation=cv2.INTER_AREA)
        self._small = small
        hist = cv2.calcHist([small], [0], None, [256], [0, 256], hist=plan.hist)
        p2, p50 = np.searchsorted(np.cumsum(hist.reshape(-1)), plan.quant).tolist()  # grey level quantiles 2 %, 50 %
        self._contrast = d = max(float(p50 - p2), 10.0)
        opened = cv2.morphologyEx(small, cv2.MORPH_OPEN, _K3, dst=plan.opened)  # glints erased
        peaks = _peaks(opened, plan, self.per)
        if peaks is None:
            return None
        ri, rem, inner = peaks
        pad, rep = plan.pad, cv2.BORDER_REPLICATE
        cv2.integral2(cv2.copyMakeBorder(opened, pad, pad, pad, pad, rep, dst=plan.padded), *plan.coarse_sums)
        if plan.f > 1:
            fp = plan.fpad
            fine_open = cv2.morphologyEx(fine, cv2.MORPH_OPEN, _K3, dst=plan.fine_open)
            cv2.integral2(cv2.copyMakeBorder(fine_open, fp, fp, fp, fp, rep, dst=plan.fine_padded), *plan.fine_sums)
        feats, con = _features(plan, ri, rem, inner, float(p50), d)
        if self.glints:  # what the opening erased: glints (corneal reflections, often on or near the pupil)
            gi = cv2.integral(cv2.copyMakeBorder(cv2.subtract(small, opened), pad, pad, pad, pad, cv2.BORDER_CONSTANT))
            ys, xs = np.divmod(rem, plan.sw)
            xs, ys, ro = xs + pad, ys + pad, 2 * plan.rb[ri]
            feats[7] = (
                gi[ys + ro + 1, xs + ro + 1]
                - gi[ys - ro, xs + ro + 1]
                - gi[ys + ro + 1, xs - ro]
                + gi[ys - ro, xs - ro]
            )
            feats[7] = np.log1p(feats[7] / d)
        return plan, ri, rem, inner, feats, con


class _Plan:
    """What depends on the frame size only (built once per size): reduction factors, box half-sizes, lookup
    tables (positions, radii, corner offsets of every box in the integral images) and scratch buffers, so
    that a frame costs a few calls on whole arrays."""

    def __init__(self, h: int, w: int, ranker: SeedRanker) -> None:
        import cv2

        short = min(h, w)
        s = self.s = max(1, int(math.ceil(max(h, w) / ranker.coarse_size)))
        sh, sw = self.sh, self.sw = h // s, w // s
        a = max(1.0, ranker.r_min * short / 1.4 / s)
        b = max(a, ranker.r_max * short / 1.4 / s)
        radii = sorted({int(round(v)) for v in np.geomspace(a, b, ranker.n_radii)})
        self.radii = radii = [r for r in radii if 2 * r + 3 <= min(sh, sw)]
        if not radii:
            return
        f = self.f = 2 if s % 2 == 0 else 1  # fine texture: measured at f times the search resolution
        fh, fw = h // (s // f), w // (s // f)
        self.to_fine = [(d, np.empty(d[::-1], np.uint8)) for d in _reduce_sizes(h, w, s // f)]
        self.to_small = [(d, np.empty(d[::-1], np.uint8)) for d in _reduce_sizes(fh, fw, f)] if f > 1 else []
        self.hist = np.empty((256, 1), np.float32)
        n_px = np.float32(sh * sw)  # the histogram's total (float32, as counted)
        self.quant = np.array([0.02 * n_px, 0.5 * n_px])
        self.opened = np.empty((sh, sw), np.uint8)
        self._boxes(sh, sw, radii)
        # integral images (sum, sum of squares; float64: exact) of the opened frame padded for the largest
        # surround, and of the opened frame at f times the resolution padded for the largest inner box
        # (peaks are at least max(1, r // 2) px from the border, see _boxes: the boxes overhang by the rest)
        pad = self.pad = max(2 * r - max(1, r // 2) for r in radii)
        fpad = self.fpad = f * max(r - max(1, r // 2) for r in radii) if f > 1 else pad
        cw, ca = sw + 2 * pad + 1, (sh + 2 * pad + 1) * (sw + 2 * pad + 1)
        fw1, fa = (fw + 2 * fpad + 1, (fh + 2 * fpad + 1) * (fw + 2 * fpad + 1)) if f > 1 else (cw, ca)
        fo = ca if f > 1 else 0  # the fine frame's integrals follow the coarse ones (or are them, f = 1)
        self.isum = np.empty(ca + (fa if f > 1 else 0), np.int32)  # sums (int32: the fast path)
        self.sqsum = np.empty(self.isum.size)  # sums of squares
        self.coarse_sums = (self.isum[:ca].reshape(-1, cw), self.sqsum[:ca].reshape(-1, cw), cv2.CV_32S, cv2.CV_64F)
        self.padded = np.empty((sh + 2 * pad, sw + 2 * pad), np.uint8)
        if f > 1:
            self.fine_sums = (self.isum[ca:].reshape(-1, fw1), self.sqsum[ca:].reshape(-1, fw1), cv2.CV_32S, cv2.CV_64F)
            self.fine_open = np.empty((fh, fw), np.uint8)
            self.fine_padded = np.empty((fh + 2 * fpad, fw + 2 * fpad), np.uint8)
        self._tables(radii, s, f, pad, fpad, cw, fw1, fo)

    def _boxes(self, sh: int, sw: int, radii: list[int]) -> None:
        """Box means at every half-size (boxFilter destinations), the response stack ``ring - inner`` (zero
        near the border, where no peak may be: dark corners, cut pupils) and its dilation."""
        n = len(radii)
        self.inner = np.empty((n, sh, sw), np.float32)  # box means at each radius
        boxes = {r: self.inner[i] for i, r in enumerate(radii)}
        for r in radii:
            boxes.setdefault(2 * r, np.empty((sh, sw), np.float32))  # surround boxes
        self.box_calls = [((2 * k + 1, 2 * k + 1), dst) for k, dst in boxes.items()]
        self.resp = np.zeros((n, sh, sw), np.float32)
        self.weights = []
        self.sizes = np.arange(n + 1)  # run boundaries of the radius indices
        for i, r in enumerate(radii):
            m = max(1, r // 2)
            sl = (slice(m, sh - m), slice(m, sw - m))
            g = (4 * r + 1) ** 2 / ((4 * r + 1) ** 2 - (2 * r + 1) ** 2)  # ring mean factor
            self.weights.append((boxes[2 * r][sl], g, boxes[r][sl], -g, self.resp[i][sl]))
        self.tall = self.resp.reshape(n * sh, sw)  # the stack as one image (rows leaking across: border, 0)
        self.dil = np.empty_like(self.tall)

    def _tables(self, radii, s, f, pad, fpad, cw, fw1, fo) -> None:
        """Lookup tables by position on the search frame and by radius index."""
        sh, sw = self.sh, self.sw
        self.c = c = (s - 1) / 2.0
        yy, xx = np.divmod(np.arange(sh * sw), sw)
        self.xf, self.yf = xx * s + c, yy * s + c  # full-resolution pixel centres
        self.gx, self.gy = (self.xf - c) / s, (self.yf - c) / s  # search-frame coordinates (stage 2)
        base_c = (yy + pad) * cw + xx + pad  # flat index of the position in the coarse integrals
        base_f = (yy * f + fpad) * fw1 + xx * f + fpad + fo  # ... in the fine ones
        rows = [(base_c, 20), (base_f, 4), (base_c, 4), (base_f, 4)]  # the order of self.off below
        self.base = np.concatenate([np.repeat(v[:, None], k, 1) for v, k in rows], 1)  # (position, 32)
        self.rb = rb = np.asarray(radii)
        self.rfull = 1.4 * rb * s  # pupil radius of a box, full-resolution px
        self.rs_s32 = (self.rfull / s).astype(np.float32)
        self.gxy32 = np.stack([self.gx, self.gy]).astype(np.float32)
        self.logr32 = np.log(self.rfull).astype(np.float32)
        # corner offsets (32, radius), corners ordered (y1 x1, y0 x1, y1 x0, y0 x0): in the sums, 5 boxes (left,
        # right, top, bottom side, inner) on the coarse frame and the inner box on the fine one; in the sums of
        # squares, the inner box on both. Box areas (8, radius) in the same order.
        off = np.empty((32, len(radii)), np.int64)
        area = np.empty((8, len(radii)))
        for i, r in enumerate(radii):
            x0, x1, y0, y1 = _BOX_A * r + _BOX_B  # each (5,): the 5 boxes
            off[0:20, i] = np.stack([y1 * cw + x1, y0 * cw + x1, y1 * cw + x0, y0 * cw + x0], 1).ravel()
            a0, a1 = -r * f, (r + 1) * f
            off[20:24, i] = [a1 * fw1 + a1, a0 * fw1 + a1, a1 * fw1 + a0, a0 * fw1 + a0]
            off[24:28, i], off[28:32, i] = off[16:20, i], off[20:24, i]
            area[0:5, i] = (x1 - x0) * (y1 - y0)
            area[5, i], area[6, i], area[7, i] = (a1 - a0) ** 2, area[4, i], (a1 - a0) ** 2
        self.off, self.area = off.T.copy(), area.T.copy()  # (radius, 32), (radius, 8)
        # non-maximum suppression: squared distance below which two radii clash (-inf: sizes too different)
        big, small = np.maximum.outer(self.rfull, self.rfull), np.minimum.outer(self.rfull, self.rfull)
        self.clash = np.where(big < 2.0 * small, np.square(0.8 * big), -np.inf)


def _reduce_sizes(h: int, w: int, s: int) -> list[tuple[int, int]]:
    """Sizes (w, h) of the INTER_AREA resizes that reduce an h x w frame s times: halvings first (OpenCV's
    2x path is ~6x faster), then the rest at once."""
    sizes, ch, cw, f = [], h, w, s
    while f % 2 == 0:
        ch, cw, f = ch // 2, cw // 2, f // 2
        sizes.append((cw, ch))
    if f > 1:
        sizes.append((w // s, h // s))
    return sizes


def _peaks(opened: np.ndarray, plan: _Plan, per: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Local maxima (5x5) of ``ring - inner`` (a dark spot in a brighter surround) for every box half-size,
    away from the border, the ``per`` best of each size by contrast + darkness: radius indices, flat positions
    on the search frame and inner box means (None if there is none)."""
    import cv2

    for ksize, dst in plan.box_calls:
        cv2.boxFilter(opened, cv2.CV_32F, ksize, dst=dst, borderType=cv2.BORDER_REPLICATE)
    for outer, g, inner, mg, dst in plan.weights:
        cv2.addWeighted(outer, g, inner, mg, 0.0, dst=dst)
    tall, dil = plan.tall, plan.dil
    # one dilation of the stacked maps (rows leaking across slices are border rows: zero, so harmless);
    cv2.dilate(tall, _K5, dst=dil)
    idx = np.flatnonzero((tall >= dil) & (tall > 0.5))
    if idx.size == 0:
        return None
    ri, rem = np.divmod(idx, plan.sh * plan.sw)
    vals = plan.inner.take(idx)
    order = np.lexsort((vals - plan.resp.take(idx), ri))  # by size, then contrast + darkness
    # ri is sorted (idx is) and order permutes within sizes: the first per of each size's run
    st = ri.searchsorted(plan.sizes).tolist()
    sel = np.concatenate([order[a : min(b, a + per)] for a, b in zip(st, st[1:])])
    return ri.take(sel), rem.take(sel), vals.take(sel)


def _features(plan: _Plan, ri, rem, inner, p50: float, d: float) -> tuple[np.ndarray, np.ndarray]:
    """Stage-1 features (9, n) float32 of the candidates at flat search-frame positions ``rem``, box sizes
    ``ri`` (indices), from the integral images of the opened frame (sums and squares) and of the opened frame
    at f times its resolution: the four side contrasts of the surround sorted (weakest, second weakest, mean
    of the two strongest), darkness (p50 - inner), log radius, texture inside (standard deviation), the
    weakest side contrast relative to it, the glint mass around (0 here, see SeedRanker._stage1) and the
    texture inside at the finer resolution; levels in units of d. Also the sorted side contrasts (4, n)."""
    idx = plan.off.take(ri, 0) + plan.base.take(rem, 0)  # (n, 32): every box corner of every candidate
    vi, vf = plan.isum.take(idx[:, :24]).reshape(-1, 6, 4), plan.sqsum.take(idx[:, 24:]).reshape(-1, 2, 4)
    area = plan.area.take(ri, 0)
    mv = np.empty((inner.size, 8))  # 5 box means, fine inner mean, mean squares inside (coarse, fine)
    np.divide(vi[..., 0] - vi[..., 1] - vi[..., 2] + vi[..., 3], area[:, :6], out=mv[:, :6])
    np.divide(vf[..., 0] - vf[..., 1] - vf[..., 2] + vf[..., 3], area[:, 6:], out=mv[:, 6:])
    mv = mv.T
    con = np.sort(np.subtract(mv[:4], inner, order="C"), 0)  # C order: con.sum(0) adds rows in order
    sd = np.sqrt(np.maximum(mv[6:8] - mv[4:6] * mv[4:6], 0.0))  # texture inside: coarse, fine
    feats = np.empty((9, inner.size), np.float32)  # computed as float64 (row 3: float32), stored as float32
    np.divide(con[0:2], d, out=feats[0:2])
    t = con[2] + con[3]
    t *= 0.5
    np.divide(t, d, out=feats[2])
    np.divide(p50 - inner, d, out=feats[3])
    np.take(plan.logr32, ri, out=feats[4])
    np.divide(sd[0], d, out=feats[5])
    t = sd[0] + 2.0
    np.divide(con[0], t, out=feats[6])
    feats[7] = 0.0
    np.divide(sd[1], d, out=feats[8])
    return feats, con


def _nms(plan: _Plan, ri, rem, score, n: int) -> np.ndarray:
    """Indices of up to n candidates, best first; a weaker one at the same place and a similar size is dropped
    (a pupil inside a larger iris stays)."""
    neg = -score
    if score.size > 3 * n:  # only the best 3n can matter in practice
        top = np.argpartition(neg, 3 * n)[: 3 * n]
        order = top.take(np.argsort(neg.take(top)))
    else:
        order = np.argsort(neg)
    p, r = rem.take(order), ri.take(order)
    x, y = plan.xf.take(p), plan.yf.take(p)
    d2 = np.square(np.subtract.outer(x, x)) + np.square(np.subtract.outer(y, y))
    clash = d2 < plan.clash.take(r, 0).take(r, 1)
    m = len(order)
    if m < 63:  # each row a bit set, as Python ints
        rows = (clash @ _BITS[:m]).tolist()
    else:
        nbytes = (m + 7) // 8
        packed = np.zeros((m, (nbytes + 7) // 8 * 8), np.uint8)
        packed[:, :nbytes] = np.packbits(clash, axis=1, bitorder="little")
        rows = [int.from_bytes(b, "little") for b in packed]
    dead, keep = 0, []
    for i in range(m):
        if not (dead >> i) & 1:
            keep.append(i)
            if len(keep) >= n:
                break
            dead |= rows[i]
    return order.take(keep)


def _radial(gray: np.ndarray, xs, ys, rs, d: float, f32: tuple | None = None):
    """Stage 2: per candidate, the steepest rise on each of 16 rays (0.2-2 radii, on the reduced frame): its
    25 % quantile and median over rays (/ d), the spread of the edge radii (std / mean), the mean edge point
    and the mean edge radius."""
    import cv2

    n = len(xs)
    xy32, r = (np.stack([xs, ys]).astype(np.float32), rs.astype(np.float32)) if f32 is None else f32
    r = r[None, :, None]
    mx, my = r * _RAY_XT, r * _RAY_YT  # sample positions (sample, candidate, ray)
    mx += xy32[0, None, :, None]
    my += xy32[1, None, :, None]
    m = n * _ND
    prof = cv2.remap(gray, mx.reshape(_NK, m), my.reshape(_NK, m), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # the steepest centred rise per ray and, among equal ones, the first: the max of rise * 16 + (9 - index)
    key = np.subtract(prof[2:], prof[:-2], dtype=np.int16)
    key <<= 4
    key += _KEY
    top = key.max(0)
    e = (top >> 4).reshape(n, _ND)
    rad = _FR_KEY.take(top & 15).reshape(n, _ND) * r[0]
    e.sort(1)
    q25, med = e[:, _ND // 4] / d, (e[:, _ND // 2 - 1] + e[:, _ND // 2]) / (2 * d)
    mean = rad.sum(1) / _ND
    spread = np.sqrt(np.maximum((rad * rad).sum(1) / _ND - mean * mean, 0.0)) / mean
    return q25, med, spread, xs + rad @ _CS / _ND, ys + rad @ _SN / _ND, mean
