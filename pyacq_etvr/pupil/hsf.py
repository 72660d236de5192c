"""HSF: Haar surround feature pupil detector, and the coarse search that other detectors reuse.

Idea: the pupil is a dark disc inside a brighter surround. On a downscaled copy of the image (longest
side ~``coarse_size`` px) an integral image gives, for every pixel and a few radii, the mean of a square
of half-size r and of the surrounding square of half-size ``surround`` * r; the most negative
``inner - ring`` difference is the coarse pupil (centre, radius). Borders are replicated so pupils at the
edge of the frame are found too. The coarse centre is then refined at full resolution in a crop: pixels
darker than the midpoint between the darkest level and the surround level form the pupil blob, whose
outer contour gives an ellipse and the centre.

:class:`~.seedrank.SeedRanker` builds on the same dark-spot search to rank the ``default`` detector's
full-search seeds.
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
        self._radii_cache: dict[tuple[int, int], list[tuple[int, int, float]]] = {}
        self._masked: dict[tuple[int, int, int], np.ndarray] = {}  # response buffers by size and border margin

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
            diff = self._response(outer, factor, inner, -(factor + dw), max(1, r // 2))
            for _ in range(k if k > 1 else 1):
                _, val, _, (xx, yy) = cv2.minMaxLoc(diff)
                m_in = float(inner[yy, xx])
                contrast = (float(outer[yy, xx]) - m_in) * factor
                if contrast <= 0:
                    break
                found.append((val, xx, yy, r, m_in, contrast))
                if k > 1:  # suppress this peak and look for the next one
                    cv2.circle(diff, (xx, yy), max(2, r + 1), -1e9, -1)
        return _distinct(found, k, s, ox, oy)

    def _response(self, outer: np.ndarray, a: float, inner: np.ndarray, b: float, m: int) -> np.ndarray:
        """``a * outer + b * inner`` (cv2.addWeighted), masked within ``m`` px of the border as
        :func:`_mask_border` does, in a buffer kept per size and margin whose border is set once (the caller
        may draw into it: only its interior is rewritten, and only with the mask value near the border)."""
        import cv2

        sh, sw = outer.shape
        if min(sh, sw) <= 2 * m + 2:  # too small to mask
            return cv2.addWeighted(outer, a, inner, b, 0.0)
        buf = self._masked.get((sh, sw, m))
        if buf is None:
            buf = self._masked[(sh, sw, m)] = np.full((sh, sw), -1e9, np.float32)
        sl = (slice(m, sh - m), slice(m, sw - m))
        cv2.addWeighted(outer[sl], a, inner[sl], b, 0.0, dst=buf[sl])
        return buf


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


def _percentile(img: np.ndarray, q: float) -> float:
    """``np.percentile(img, q)`` (its default, linear method) of a uint8 array, the same float, at a quarter of
    the cost: the two order statistics around the virtual index from the histogram, interpolated as numpy
    does."""
    import cv2

    vi = (img.size - 1) * (q / 100)
    lo = math.floor(vi)
    cum = np.cumsum(cv2.calcHist([img], [0], None, [256], [0, 256]).ravel())
    a, b = np.searchsorted(cum, (lo + 1, min(lo + 2, img.size))).tolist()
    t, diff = vi - lo, b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


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
    dark = _percentile(crop, 2.0)
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
    Cost: one resize, box filters at 6 radii on ~64x64, one threshold, contour and ellipse fit in a crop:
    ~0.23 ms p50 per 240x240 frame on medium synthetic frames, ~0.35 ms on hard ones (larger crops), one core.
    Confidence: surround contrast and blob/ellipse fill.
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
        return PupilResult(True, float(x), float(y), min(max(float(conf), 0.0), 1.0), ell, None)
