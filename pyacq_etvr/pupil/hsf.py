"""HSF: Haar surround feature pupil detector, and the coarse search that other detectors reuse.

Idea: the pupil is a dark disc inside a brighter surround. On a downscaled copy of the image (longest
side ~``coarse_size`` px) an integral image gives, for every pixel and a few radii, the mean of a square
of half-size r and of the surrounding square of half-size ``surround`` * r; the most negative
``inner - ring`` difference is the coarse pupil (centre, radius). Borders are replicated so pupils at the
edge of the frame are found too. The coarse centre is then refined at full resolution in a crop: pixels
darker than the midpoint between the darkest level and the surround level form the pupil blob, whose
outer contour gives an ellipse and the centre.

:class:`SeedRanker` gives the ``default`` detector its full-search seeds: the same dark-spot search, each
candidate scored by the four sides of its surround separately (lines, lid creases and frame edges darken only
some of them), darkness and texture, then re-ranked by 16 short rays (a pupil's edge rises all round).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pyacq_etvr.pupil.base import MIN_CONTRAST, Detector, PupilResult, check_param


@dataclass(slots=True)
class Coarse:
    """Coarse HSF result in full-resolution pixel coordinates."""

    x: float
    y: float
    r: float  # estimated pupil radius, px (1.4 x the inner box half-size)
    inner: float  # mean grey level of the inner box
    ring: float  # mean grey level of the surrounding ring
    score: float  # ring - inner (grey levels, > 0 for a dark blob)


class HaarSurround:
    """Multi-radius HSF search on an integral image (scratch state reused between frames).

    ``r_min``/``r_max`` are pupil radii as fractions of the image's shorter side; ``surround`` is the
    outer/inner half-size ratio; ``coarse_size`` the longest side (px) of the downscaled search image;
    candidates are ranked by ``ring - inner - dark_weight * inner`` so that the dark pupil wins over the
    larger but lighter iris disc around it.
    """

    def __init__(
        self,
        r_min: float = 0.02,
        r_max: float = 0.25,
        surround: float = 2.0,
        coarse_size: int = 64,
        n_radii: int = 6,
        dark_weight: float = 0.75,
    ) -> None:
        self.r_min, self.r_max, self.surround, self.dark_weight = r_min, r_max, surround, dark_weight
        self.coarse_size, self.n_radii = coarse_size, n_radii
        self.darkest: Coarse | None = None  # darkest small disc of the last candidates() call
        self._radii_cache: dict[tuple[int, int], list[tuple[int, int, float]]] = {}

    def _radii(self, lo: float, hi: float, s: int) -> list[tuple[int, int, float]]:
        """(inner, outer half-size, ring-mean factor) per radius for pupil radii lo..hi px at scale s (cached)."""
        key = (round(lo, 1), round(hi, 1), s)
        if key not in self._radii_cache:
            rmin = max(1.0, lo / 1.4 / s)
            rmax = max(rmin, hi / 1.4 / s)
            out = []
            for r in sorted({int(round(v)) for v in np.geomspace(rmin, rmax, self.n_radii)}):
                ro = max(r + 1, int(round(self.surround * r)))
                a_in, a_out = (2 * r + 1) ** 2, (2 * ro + 1) ** 2
                out.append((r, ro, a_out / (a_out - a_in)))
            self._radii_cache[key] = out
        return self._radii_cache[key]

    def search(self, gray: np.ndarray, roi: tuple[int, int, int, int] | None = None) -> Coarse | None:
        """Best dark disc in ``gray`` (optionally only inside roi = x0, y0, x1, y1); None if flat."""
        cands = self.candidates(gray, roi, 1)
        return cands[0] if cands else None

    def candidates(
        self,
        gray: np.ndarray,
        roi: tuple[int, int, int, int] | None = None,
        k: int = 4,
        radii: tuple[float, float] | None = None,
        dark_weight: float | None = None,
        coarse_size: int | None = None,
    ) -> list[Coarse]:
        """Up to ``k`` distinct dark discs, strongest first (local maxima of the HSF response over radii).

        ``radii`` (px) defaults to ``r_min``..``r_max`` of the shorter image side; ``dark_weight`` and
        ``coarse_size`` default to the instance's.
        """
        import cv2

        h, w = gray.shape
        ox, oy = 0, 0
        img = gray
        short = min(h, w)
        if roi is not None:
            x0, y0, x1, y1 = roi
            img = gray[y0:y1, x0:x1]
            ox, oy = x0, y0
        ih, iw = img.shape
        s = max(1, int(math.ceil(max(ih, iw) / (coarse_size or self.coarse_size))))
        dw = self.dark_weight if dark_weight is None else dark_weight
        lo, hi = radii if radii is not None else (self.r_min * short, self.r_max * short)
        # bilinear at an integer factor averages 2x2 of every s x s block: enough before box filtering
        small = img if s == 1 else cv2.resize(img, (iw // s, ih // s), interpolation=cv2.INTER_LINEAR)
        sh, sw = small.shape
        if sh < 4 or sw < 4:
            return []
        boxes = _BoxCache(small)
        found: list[tuple[float, int, int, int, float, float]] = []
        for r, ro, factor in self._radii(lo, hi, s):
            inner, outer = boxes(r), boxes(ro)
            # (ring - inner) - dark_weight * inner: a dark pupil beats the larger, lighter iris disc
            diff = cv2.addWeighted(outer, factor, inner, -(factor + dw), 0.0)
            _mask_border(diff, max(1, r // 2))
            for _ in range(k if k > 1 else 1):
                _, val, _, (xx, yy) = cv2.minMaxLoc(diff)
                m_in = float(inner[yy, xx])
                contrast = (float(outer[yy, xx]) - m_in) * factor
                if contrast <= 0:
                    break
                found.append((val, xx, yy, r, m_in, contrast))
                if k > 1:  # suppress this peak and look for the next one
                    cv2.circle(diff, (xx, yy), max(2, r + 1), -1e9, -1)
        radii = self._radii(lo, hi, s)
        self.darkest = _darkest(boxes, radii[min(1, len(radii) - 1)][0], s, ox, oy)
        return _distinct(found, k, s, ox, oy)

    def nested(self, gray: np.ndarray, outer: Coarse, k: int = 2) -> list[Coarse]:
        """Pupil candidates inside a large dark disc (an iris): local HSF, contrast only, radii 0.15-0.6 R."""
        h, w = gray.shape
        half = int(outer.r * 1.1) + 2
        x0, y0 = max(0, int(outer.x) - half), max(0, int(outer.y) - half)
        x1, y1 = min(w, int(outer.x) + half + 1), min(h, int(outer.y) + half + 1)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return []
        lo = max(self.r_min * min(h, w), 0.15 * outer.r)
        return self.candidates(gray, (x0, y0, x1, y1), k, (lo, 0.6 * outer.r), 0.0, 48)


class _BoxCache:
    """Box means of one small image by half-size, computed once each (radii share sizes)."""

    def __init__(self, small: np.ndarray) -> None:
        self.small, self.boxes = small, {}

    def __call__(self, k: int) -> np.ndarray:
        import cv2

        b = self.boxes.get(k)
        if b is None:
            b = cv2.boxFilter(self.small, cv2.CV_32F, (2 * k + 1, 2 * k + 1), borderType=cv2.BORDER_REPLICATE)
            self.boxes[k] = b
        return b


def _darkest(boxes: _BoxCache, r: int, s: int, ox: int, oy: int) -> Coarse:
    """The darkest small disc: where the pupil usually is, whatever surrounds it (lids, lashes)."""
    import cv2

    b = boxes(r)
    m = max(1, r // 2) if min(b.shape) > 2 * r + 2 else 0
    m_dark, _, (dx, dy), _ = cv2.minMaxLoc(b[m : b.shape[0] - m, m : b.shape[1] - m])
    dx, dy = dx + m, dy + m
    c = (s - 1) / 2.0
    ring = float(boxes(2 * r + 1)[dy, dx])
    return Coarse(ox + dx * s + c, oy + dy * s + c, 1.4 * r * s, m_dark, ring, ring - m_dark)


def _mask_border(diff: np.ndarray, m: int) -> None:
    """No peak within ``m`` px of the border: a dark frame corner or edge (vignetting) is not a pupil, and a
    pupil centred there would be mostly outside the frame (the replicated border fakes its surround)."""
    if min(diff.shape) <= 2 * m + 2:
        return
    diff[:m] = diff[-m:] = -1e9
    diff[:, :m] = diff[:, -m:] = -1e9


def _distinct(found: list, k: int, s: int, ox: int, oy: int) -> list[Coarse]:
    """Strongest first; a weaker peak at the same place and a similar scale is dropped (a pupil inside an
    iris stays). Coordinates back to full resolution (pixel centres); box half-size r ~ 0.7 pupil radius."""
    found.sort(key=lambda t: -t[0])
    out: list[Coarse] = []
    c = (s - 1) / 2.0
    for _, xx, yy, r, m_in, val in found:
        x, y = ox + xx * s + c, oy + yy * s + c
        rad = 1.4 * r * s
        if any((x - o.x) ** 2 + (y - o.y) ** 2 < (0.8 * max(o.r, rad)) ** 2 and 0.5 < o.r / rad < 2 for o in out):
            continue
        out.append(Coarse(x, y, rad, m_in, m_in + val, val))
        if len(out) >= k:
            break
    return out


def refine_blob(gray: np.ndarray, c: Coarse, margin: float = 0.5) -> tuple[float, float, tuple, float] | None:
    """Threshold a crop around the coarse pupil and fit its dark blob.

    Returns (x, y, ellipse, fill) where fill is blob area / ellipse area, or None if no blob.
    """
    import cv2

    h, w = gray.shape
    half = int(c.r * 2.2) + 3
    x0, y0 = max(0, int(c.x) - half), max(0, int(c.y) - half)
    x1, y1 = min(w, int(c.x) + half + 1), min(h, int(c.y) + half + 1)
    crop = gray[y0:y1, x0:x1]
    if crop.shape[0] < 5 or crop.shape[1] < 5:
        return None
    dark = float(np.percentile(crop, 2))
    level = dark + margin * max(c.ring - dark, MIN_CONTRAST / 2)
    _, mask = cv2.threshold(crop, level, 255, cv2.THRESH_BINARY_INV)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    cx, cy = c.x - x0, c.y - y0
    best, best_d = None, math.inf
    for cnt in contours:
        if cnt.shape[0] < 5:
            continue
        area = cv2.contourArea(cnt)
        if area < 4:
            continue
        mx, my, mw, mh = cv2.boundingRect(cnt)
        d = math.hypot(mx + mw / 2 - cx, my + mh / 2 - cy) / math.sqrt(area)
        if d < best_d:
            best, best_d = cnt, d
    if best is None:
        return None
    (ex, ey), (ew, eh), ang = cv2.fitEllipse(best)
    if not (math.isfinite(ex) and math.isfinite(ey)) or ew <= 0 or eh <= 0:
        return None
    fill = float(np.count_nonzero(mask)) / (math.pi * ew * eh / 4.0)
    ell = (ex + x0, ey + y0, ew, eh, ang)
    return ex + x0, ey + y0, ell, fill


class HSFDetector(Detector):
    """``hsf``: Haar surround feature coarse search + dark-blob refinement in a crop.

    Parameters (defaults): ``r_min`` 0.02 and ``r_max`` 0.25 (pupil radius range, fractions of the
    shorter image side), ``surround`` 2.0 (outer/inner box ratio), ``coarse_size`` 64 (px, longest side of
    the search image), ``margin`` 0.5 (threshold between darkest and surround level).
    Cost: one resize + integral image + 6 radii of vectorised box sums on ~64x64, one small threshold
    and contour fit: ~0.15 ms per 240x240 frame. Confidence: surround contrast and blob/ellipse fill.
    No openness estimate (None).
    """

    name = "hsf"

    def __init__(
        self,
        r_min: float = 0.02,
        r_max: float = 0.25,
        surround: float = 2.0,
        coarse_size: int = 64,
        margin: float = 0.5,
    ) -> None:
        self._params = {
            "r_min": check_param("r_min", r_min, 0.005, 0.5),
            "r_max": check_param("r_max", r_max, 0.01, 0.5),
            "surround": check_param("surround", surround, 1.3, 4.0),
            "coarse_size": check_param("coarse_size", coarse_size, 16, 640, int),
            "margin": check_param("margin", margin, 0.05, 0.95),
        }
        if self._params["r_max"] < self._params["r_min"]:
            from pyacq_etvr.core.errors import ConfigError

            raise ConfigError(f"parameter 'r_max' ({r_max}) must be >= 'r_min' ({r_min})")
        self.hsf = HaarSurround(r_min, r_max, surround, coarse_size)
        self.margin = margin

    def _detect(self, gray: np.ndarray) -> PupilResult:
        c = self.hsf.search(gray)
        if c is None or c.score < MIN_CONTRAST / 2:
            return PupilResult.not_found()
        ref = refine_blob(gray, c, self.margin)
        if ref is None:
            return PupilResult(True, c.x, c.y, 0.1, None, None)
        x, y, ell, fill = ref
        if math.hypot(x - c.x, y - c.y) > 1.5 * c.r + 2:
            x, y, ell = c.x, c.y, None
        contrast = min(1.0, c.score / 40.0)
        conf = contrast * max(0.0, 1.0 - abs(1.0 - fill) * 2.0)
        return PupilResult(True, float(x), float(y), float(np.clip(conf, 0, 1)), ell, None)


# --- ranked seeds for the full search (used by ``default``) ------------------------------------------------
# Candidate score weights (features in units of the frame's contrast D = p50 - p2 grey levels, see _features),
# fitted once by a listwise softmax ranking on synthetic medium + hard frames (seed 1), checked on held-out
# seed 11 and on the real clips. Stage 1 ranks the dark spots found at every box size; stage 2 re-ranks the
# best few by how consistently the image rises into a brighter surround all around them.
# Without the glint feature (default: on the real clips the glints often sit on the iris or lid, so they mislead)
_W1 = np.array([-3.05, 3.75, 1.9, 8.06, -0.41, 4.79, 2.29, 0.0], np.float32)  # see _features
_W2 = np.array([0.762, 2.74, -2.39, -13.0], np.float32)  # stage-1 score, q25 rise, median rise, radius spread
# With it (``glints=True``): synthetic hard frames recall@3 0.70 -> 0.75, real clips slightly worse
_W1G = np.array([-3.21, 2.66, 0.7, 9.21, -3.86, 6.24, 2.29, 2.69], np.float32)
_W2G = np.array([0.765, 4.51, -4.31, -11.3], np.float32)
_ND, _NK = 16, 12  # stage 2: rays, samples per ray
_FR = np.linspace(0.2, 2.0, _NK).astype(np.float32)  # ray samples, fractions of the candidate radius
_ANG = np.arange(_ND) * (2 * np.pi / _ND)
_CS, _SN = np.cos(_ANG).astype(np.float32), np.sin(_ANG).astype(np.float32)
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
       relative to the frame, texture inside (standard deviation) and size. Non-maximum suppression keeps
       ``n_probe`` diverse candidates (a pupil inside a larger iris stays).
    3. **Stage 2**: 16 rays from each kept candidate (one ``cv2.remap`` for all) give the steepest rise per
       direction: the 25 % quantile of those rises (a pupil rises all round, a line on two sides), their
       median and the spread of the edge radii re-rank the candidates; each seed moves to the mean of its
       edge points and takes their mean distance as its radius (within 0.6-1.5 x the box estimate).

    Parameters (defaults): ``r_min`` 0.02, ``r_max`` 0.25 (pupil radius range, fractions of the shorter
    side), ``coarse_size`` 64 px, ``per`` 12 peaks per box size, ``n_probe`` 16 candidates re-ranked by rays,
    ``glints`` False (True adds the mass of bright spots around a candidate to its score: better on our
    synthetic frames, worse on the real clips, where glints often sit on the iris).
    Threading: one instance per thread (scratch buffers). Cost on 240x240, one core: ~1.3x the plain HSF
    candidates of :class:`HaarSurround` (~0.5-0.65 ms vs 0.45-0.5 ms on the shared test machine).
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
        self.r_min, self.r_max, self.coarse_size, self.per, self.n_probe = r_min, r_max, coarse_size, per, n_probe
        self.glints = glints
        self._plans: dict[tuple[int, int], tuple] = {}  # per frame size: factor, radii, padding, scratch
        self.n_radii = 6  # box sizes
        self._small: np.ndarray | None = None  # the reduced frame of the last call (rays of stage 2)
        self._contrast = 10.0

    def seeds(self, gray: np.ndarray, k: int = 8) -> list[Coarse]:
        """Up to ``k`` seeds for a uint8 frame, most likely pupil first (full-resolution pixel centres;
        ``r`` the pupil radius estimate, ``inner``/``ring`` box levels, ``score`` the ranking score)."""
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
        order = np.argsort(-score)[:k]
        cx, cy = (cx[order] * s + c).tolist(), (cy[order] * s + c).tolist()
        rs, score, levels = rs[order].tolist(), score[order].tolist(), levels[order].tolist()
        return [
            Coarse(min(max(cx[i], 0.0), w - 1.0), min(max(cy[i], 0.0), h - 1.0), rs[i], *levels[i], score[i])
            for i in range(len(order))
        ]

    def candidates(self, gray: np.ndarray):
        """Stage-1 candidates of a uint8 frame: x, y, r (full-resolution px), features (n, 8) and levels
        (n, 2: inner and surround means); None if the frame is too small or has no dark spot."""
        import cv2

        h, w = gray.shape
        s, radii, pad, scratch = self._plan(h, w)
        if not radii:
            return None
        small = _reduce(gray, s)
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
        padded = cv2.copyMakeBorder(opened, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        ii, ii2 = cv2.integral2(padded, sdepth=cv2.CV_32S, sqdepth=cv2.CV_64F)
        gi = None
        if self.glints:  # what the opening erased: glints (corneal reflections, often on or near the pupil)
            gi = cv2.integral(cv2.copyMakeBorder(cv2.subtract(small, opened), pad, pad, pad, pad, cv2.BORDER_CONSTANT))
        return _features((ii, ii2, gi), xs + pad, ys + pad, np.asarray(radii)[ri], inner, pad, s, float(p50), d)

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
            scratch = (np.empty((n, sh, sw), np.float32), np.empty((n, sh, sw), np.float32), border, gains)
            self._plans[(h, w)] = (s, radii, 2 * max(radii, default=1) + 2, scratch)
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

    inner, resp, border, gains = scratch
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


def _features(integrals: tuple, xs, ys, rb, inner, pad: int, s: int, p50: float, d: float):
    """Stage-1 features at padded reduced-frame (xs, ys), box half-sizes rb, from the integral images of the
    opened frame, of its square and of the erased glints: the four side contrasts of the surround sorted
    (weakest, second weakest, mean of the two strongest), darkness (p50 - inner), log radius, texture inside
    (standard deviation), the weakest side contrast relative to it and the glint mass around (log); levels
    in units of d."""
    ii, ii2, gi = integrals
    # the four sides of the surround (left, right, top, bottom) and the inner box, gathered at once
    c = _BOX_A[:, :, None] * rb + _BOX_B[:, :, None]  # (x0, x1, y0, y1) x box x candidate, relative
    x0, x1, y0, y1 = c[0] + xs, c[1] + xs, c[2] + ys, c[3] + ys
    means = (ii[y1, x1] - ii[y0, x1] - ii[y1, x0] + ii[y0, x0]) / ((c[1] - c[0]) * (c[3] - c[2]))
    x0, x1, y0, y1 = x0[4], x1[4], y0[4], y1[4]
    sq = (ii2[y1, x1] - ii2[y0, x1] - ii2[y1, x0] + ii2[y0, x0]) / ((x1 - x0) * (y1 - y0))
    con = np.sort(means[:4] - inner, 0)
    sd = np.sqrt(np.maximum(sq - means[4] * means[4], 0.0))
    r_full = 1.4 * rb * s
    feats = np.empty((8, xs.size), np.float32)
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
    alive = np.ones(len(order), bool)
    keep = []
    for i in range(len(order)):
        if alive[i]:
            keep.append(i)
            if len(keep) >= n:
                break
            alive &= ~clash[i]
    return order[keep]


def _radial(gray: np.ndarray, xs, ys, rs, d: float):
    """Stage 2: per candidate, the steepest rise on each of 16 rays (0.2-2 radii, smoothed image): its 25 %
    quantile and median over rays (/ d), the spread of the edge radii (std / mean) and the mean edge point."""
    import cv2

    rr = rs[:, None, None] * _FR[None, None, :]
    mx = (xs[:, None, None] + _CS[None, :, None] * rr).astype(np.float32).reshape(1, -1)
    my = (ys[:, None, None] + _SN[None, :, None] * rr).astype(np.float32).reshape(1, -1)
    prof = cv2.remap(gray, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    prof = prof.reshape(len(xs), _ND, _NK).astype(np.int16)
    rise = prof[:, :, 2:] - prof[:, :, :-2]
    rad = _FR[rise.argmax(2) + 1] * rs[:, None]
    e = rise.max(2) / d
    e.sort(1)
    q25, med = e[:, _ND // 4], 0.5 * (e[:, _ND // 2 - 1] + e[:, _ND // 2])
    mean = rad.sum(1) / _ND
    spread = np.sqrt(np.square(rad - mean[:, None]).sum(1) / _ND) / mean
    cx = xs + (_CS * rad).sum(1) / _ND
    cy = ys + (_SN * rad).sum(1) / _ND
    return q25, med, spread, cx, cy, mean
