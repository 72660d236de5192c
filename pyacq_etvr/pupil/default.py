"""``default``: the project's best pupil detector (HSF seeds, sub-pixel edge rays, RANSAC ellipse, tracking).

See :class:`DefaultDetector` for the algorithm, its parameters and its cost.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from pyacq_etvr.pupil.base import MIN_CONTRAST, MIN_SIZE, Detector, PupilResult, check_param
from pyacq_etvr.pupil.confidence import confidence, features
from pyacq_etvr.pupil.ellipse import shift_conic
from pyacq_etvr.pupil.frame import bars_hold, padding_bars
from pyacq_etvr.pupil.history import HISTORY_CAP, PupilHistory
from pyacq_etvr.pupil.rays import RayCaster, RayFit
from pyacq_etvr.pupil.seedrank import SeedRanker

#: flattest pupil outline accepted (minor / major axis): cos(70 deg); eye cameras see pupils well inside that
MIN_ASPECT = 0.34
#: Contrast check (:meth:`DefaultDetector._contrast_check`), after a full search: a fit whose pupil/surround
#: contrast is below ``CONTRAST_RATIO`` x that of another candidate of the same search, confidence >=
#: ``CONTRAST_CONF``, whose inside is darker by at least ``CONTRAST_DARKER`` x the fit's contrast, gives way to
#: the most confident such candidate. The confidence features are contrast-normalised, so a faint, crisp spot
#: on the iris or skin can outscore the pupil beside it; in an IR eye image the pupil is the darkest,
#: highest-contrast round thing. Held-out synthetic sets unchanged but for hard sequences (+1.4 points); on
#: the real clips most of the frames it changes move from a spot off the pupil onto the pupil (by eye). When
#: that candidate is below ``min_confidence`` the frame reports no pupil: the fit it outshines is no pupil
#: either. ``CONTRAST_CONF`` 0.2 rather than 0.3: of the 82 real-clip frames that changed, ~53 of the 66 looked
#: at went from a spot on a closed or squinting eye, or beside the pupil, to no pupil or to the pupil, 9 got
#: worse (3 demo1 pupils lost through the track); held-out synthetic sets unchanged but 10 frames.
CONTRAST_CONF = 0.2
CONTRAST_RATIO = 0.4
CONTRAST_DARKER = 0.5
#: A faint fit (contrast below ``FAINT_CAP_RATIO`` of the frame's grey range) is tracked as before but reported at
#: this confidence at most, below the 0.5 the pipeline needs to use a detection: on synthetic hard sequences
#: faint fits reported at 0.5-0.75 were within 5 px 27-47 % of the time (others at that confidence 67-73 %), on
#: the real clips ~28 of the 37 looked at were spots on a closed eye, the lashes or the skin. Positions unchanged.
FAINT_REPORT = 0.4


class DefaultDetector(PupilHistory, Detector):
    """``default``: the best detector we have.

    Pipeline per frame:

    0. **Frame.** Flat dark padding bars at the borders are cropped away (:mod:`.frame`, checked every 30
       frames). A frame whose shorter side exceeds ``work_size`` (240) is resized (bilinear, reused buffer) to
       that size and the result mapped back: smoothing, glint sizes and the RANSAC tolerance are in pixels,
       tuned at 240 (held-out synthetic hard sequences at 384x384: DR@5 0.61 -> 0.72; at 480, 0.51 -> 0.54;
       hard frames 0.53 -> 0.59 at both; medium unchanged). Smaller frames are used as they are (enlarging
       96x96 frames to 192 lost 10 points on hard frames).
    1. **Track.** While tracking (last confidence >= ``track_conf``), the previous ellipse guides one ray
       pass from its centre: its inliers are refitted (no RANSAC); a second guided pass only if the centre
       moved more than 0.3 px. A result below ``track_conf`` triggers a full search (the better is kept), so a
       track is never kept over a better target found by the search. So does a faint one (contrast below
       ``FAINT_CAP_RATIO`` of the frame's grey range): the search's best takes over if sure (>= 0.8), not a
       slit, darker and of far higher contrast (as in step 5); a track can hold a faint spot beside the pupil.
    2. **Full search seeds.** :class:`~.seedrank.SeedRanker`: dark spots at six box sizes on a downscaled
       frame (``2 n_cand`` per size) scored by the four sides of their surround, darkness and texture, then
       re-ranked by 16 short rays (the edge must rise all round); ``max_seeds`` best first. Work budget per
       frame (ray passes, the tracking ones included): ``max_fits``, or ``lost_fits`` when the previous
       frame found no pupil (a blink or a closed eye searches every frame; when that budget stops the
       search, the next lost frame tries the first seed then the seeds not reached yet, so a pupil coming
       back is found within a few frames even with a small ``lost_fits``). **Rise pass**: if no fit reached
       ``rise_conf``, the tracked pupil and the seeds just tried are refined again, in that order, with the
       steepest-rise edge rule (step 3), within ``rise_fits`` more ray passes; the most confident fit wins.
    3. **Edges.** From a seed, ``n_rays`` rays (``cv2.warpPolar`` on a crop where a grey opening has erased
       small glints and large ones on the pupil are filled with the pupil level) give the pupil level (inside)
       and surround level (a ring outside, or just outside the previous ellipse); each ray's edge is the
       steepest rise near its first crossing of 0.4 of the way from pupil to surround level (sub-sample
       parabola); crossings into or next to glints and beyond the frame border are dropped, and rays whose
       edge a glint hides or that leave the frame do not count against the support. The rise pass's rule:
       the steepest rise within 0.5-1.5 x the expected radius, brightness counted only up to the surround
       level (faint or hazy pupils, where noise or haze crosses the level inside them).
    4. **Ellipse.** A vectorised RANSAC conic fit (Sampson distance < ``tol`` px) rejects eyelid, eyelash
       and glint points; passes repeat from the fitted centre (``n_pass``) and end with a guided refit.
    5. **Contrast and inner checks.** The best fit of a search gives way to a fit of the same search (confidence
       >= ``CONTRAST_CONF`` 0.2) that is darker inside and has more than 1 / ``CONTRAST_RATIO`` (2.5) x its
       contrast: confidence is contrast-normalised, so a faint crisp spot beside the pupil can outscore it
       (real clips: demo1 and ransac-test2/3/4 mostly). Then, if the best ellipse is iris-sized, a darker disc
       inside it wins when it is a confident pupil (the pupil of a dark iris, outlined by mistake).
    6. **Confidence** (:mod:`.confidence`): calibrated map of the ray support, fit residual, aspect, flatness
       inside and dark/bright separation along the outline. Below ``min_confidence``: ``found=False``; after a
       frame with no pupil, below ``acquire_conf`` (0.5; hysteresis: junk in a blink stays unreported) or faint
       (contrast below ``FAINT_CAP_RATIO`` of the frame's grey range: on the real clips such acquisitions were
       spots on a closed eye, the lashes or the skin). A faint fit is reported at ``FAINT_REPORT`` (0.4) at most:
       it is right far less often than its confidence says.
       **Slit rejection** (blinks): a fit below ``slit_conf`` (0.7) that is much flatter than the last confident pupil
       (aspect < 0.6 x its aspect, within 30 frames) and faint (contrast below ``SLIT_KEEP_CONTRAST`` 0.3 of the frame's
       5-95 % grey range: a pupil seen at an angle is dark) or, with no recent confident pupil, flat (aspect < 0.6) with
       ends that do not separate dark from bright (``RayFit.end_separation`` < 0.75: a lash line or lid slit goes on
       past the ends) is the closing eye: ``found=False``, openness 0. So is a fit smaller than ``SIZE_MIN`` (0.45) x
       the last confident pupil within ``SIZE_MEMORY`` (30) frames, whatever its confidence (a lash clump or shadow of a
       closing eye). Outlines flatter than ``MIN_ASPECT`` are never pupils; a change of frame size resets all of this
       state.
       **History check**: within ``SIZE_MEMORY`` frames of a pupil reported with confidence >= 0.8, a fit
       more than ``SIZE_MAX_SURE`` (1.8) x its diameter or more than ``JUMP_MAX_SURE`` (3) of its radii
       away is reported (and tracked) with its confidence capped at ``HISTORY_CAP`` (0.75): the iris
       around a faint pupil, or a dark spot off the eye, far more often than a pupil that grew or jumped;
       a capped fit that stays put for ``HISTORY_STABLE`` (5) frames is the pupil after a saccade and
       becomes the reference. Openness is computed from the uncapped confidence.
    7. **Openness**: share of the pupil outline seen (relative to a running baseline of confident frames; rays
       a glint hides count as unseen), scaled by the confidence (0 at 0.4, full at 0.8) and, within
       ``SIZE_MEMORY`` frames of a confident pupil, by the fit's size (0 at ``SIZE_MIN`` x its diameter, full
       at ``OPEN_SIZE`` 0.75 x: what is found in a blink is a lash tip or lid crease); 0 when nothing is
       found (closed eye).

    Parameters (defaults): ``r_min`` 0.02, ``r_max`` 0.25 (pupil radius range, fractions of the shorter
    image side), ``n_rays`` 64, ``tol`` 1.0 px, ``n_hyp`` 48 (RANSAC hypotheses per pass), ``track`` True,
    ``track_conf`` 0.5, ``min_confidence`` 0.3, ``n_cand`` 6, ``n_pass`` 2, ``max_seeds`` 8, ``n_refine`` 8
    (seeds refined in full; fewer = probe all with one pass and refine the best-supported: faster, less
    accurate), ``max_fits`` 18 (ray passes a frame may spend: no seed is started that could exceed it),
    ``lost_fits`` 18 (the same after a frame with no pupil), ``edge`` "gradient" (or "midpoint": the crossing
    itself), ``seed`` 0 (RANSAC sample tables), ``rise_conf`` 0.5 (0 = no rise pass), ``rise_fits`` 6,
    ``work_size`` 240 (0 = always the full frame).

    Cost on a 240x240 frame, one core: ~0.25 ms tracked (one or two guided ray passes, no RANSAC); a ray
    pass costs ~0.2 ms and the seeds ~0.5 ms, so a full search after a lost track costs up to ~4.5 ms, ~5.7
    ms with the rise pass (typically 1.5-2.5 ms: it stops at the first fit of confidence 0.9). Real-time
    budget: ``max_fits=6, lost_fits=5, rise_fits=0`` keeps every frame near 2 ms (p99 2.0 ms on medium
    sequences instead of ~6 ms) at a cost in accuracy where the track is often lost, as a search it stops
    goes on with the next seeds on the next lost frame only: synthetic medium sequences DR@5 0.995 instead
    of 0.997, hard sequences 0.44 instead of 0.52, and the real clips far fewer pupils found (ransac-test4
    26 % of frames instead of 69 %). The default is therefore the full budget; two eyes at 120 fps still fit
    in one core at its worst case.
    """

    name = "default"

    def __init__(
        self,
        r_min: float = 0.02,
        r_max: float = 0.25,
        n_rays: int = 64,
        tol: float = 1.0,
        n_hyp: int = 48,
        track: bool = True,
        track_conf: float = 0.5,
        min_confidence: float = 0.3,
        n_cand: int = 6,
        n_pass: int = 2,
        max_seeds: int = 8,
        n_refine: int = 8,
        max_fits: int = 18,
        lost_fits: int = 18,
        edge: str = "gradient",
        seed: int = 0,
        rise_conf: float = 0.5,
        rise_fits: int = 6,
        work_size: int = 240,
    ) -> None:
        from pyacq_etvr.core.errors import ConfigError

        if not isinstance(track, bool):
            raise ConfigError(f"parameter 'track' must be a bool, got {track!r}")
        self._params = {
            "r_min": check_param("r_min", r_min, 0.005, 0.5),
            "r_max": check_param("r_max", r_max, 0.01, 0.5),
            "n_rays": check_param("n_rays", n_rays, 16, 360, int),
            "tol": check_param("tol", tol, 0.1, 10.0),
            "n_hyp": check_param("n_hyp", n_hyp, 4, 1000, int),
            "track": track,
            "track_conf": check_param("track_conf", track_conf, 0.0, 1.0),
            "min_confidence": check_param("min_confidence", min_confidence, 0.0, 1.0),
            "n_cand": check_param("n_cand", n_cand, 1, 20, int),
            "n_pass": check_param("n_pass", n_pass, 1, 10, int),
            "max_seeds": check_param("max_seeds", max_seeds, 1, 100, int),
            "n_refine": check_param("n_refine", n_refine, 1, 100, int),
            "max_fits": check_param("max_fits", max_fits, 1, 1000, int),
            "lost_fits": check_param("lost_fits", lost_fits, 1, 1000, int),
            "edge": edge,
            "seed": check_param("seed", seed, 0, 2**32 - 1, int),
            "rise_conf": check_param("rise_conf", rise_conf, 0.0, 1.0),
            "rise_fits": check_param("rise_fits", rise_fits, 0, 1000, int),
            "work_size": check_param("work_size", work_size, 0, 4096, int),
        }
        if 0 < work_size < 64:
            raise ConfigError(f"parameter 'work_size' must be 0 (off) or at least 64, got {work_size}")
        if r_max < r_min:
            raise ConfigError(f"parameter 'r_max' ({r_max}) must be >= 'r_min' ({r_min})")
        if edge not in ("midpoint", "gradient"):
            raise ConfigError(f"parameter 'edge' must be 'midpoint' or 'gradient', got {edge!r}")
        self.ranker = SeedRanker(r_min, r_max, per=2 * n_cand)  # n_cand 6: 12 dark spots per box size
        self.rays = RayCaster(n_rays, tol, n_hyp, seed, edge)
        self.track, self.track_conf, self.min_conf = track, track_conf, min_confidence
        self.r_min, self.r_max, self.n_cand, self.n_pass = r_min, r_max, n_cand, n_pass
        self.max_seeds, self.n_refine, self.max_fits, self.lost_fits = max_seeds, n_refine, max_fits, lost_fits
        self.rise_conf, self.rise_fits, self.work_size = rise_conf, rise_fits, work_size
        self._work: np.ndarray | None = None  # the resized frame (see work_size), reused
        self._bars, self._bars_shape, self._bars_age = (0, 0, 0, 0), (), 0  # padding bars (see frame.padding_bars)
        self.early_exit = 0.9  # a full search stops at the first seed refined to this confidence
        self.acquire_conf = 0.5  # confidence needed to report a pupil after a frame with none (blinks)
        self.slit_conf = 0.7  # below this confidence, a flattened fit is taken for a closing eye (see _slit)
        self.reset()

    def reset(self) -> None:
        """Forget the tracked pupil, its shape and size, and the openness baseline (also done by detect() when
        the frame size changes)."""
        self._last: tuple[float, float, float, np.ndarray] | None = None  # x, y, radius, conic
        self._reset_history()
        self._budget = 0
        self._lost = False  # the previous frame found no pupil (next search: lost_fits budget)
        self._cands: list = []  # every fit of the current full search: (confidence, fit, conic)
        self._offset = 0  # seeds skipped (after the first) by the next search: rotation over lost frames
        self._tried = 0  # seeds the last search refined
        self._exhausted = False  # the last search stopped on its budget
        self._shape: tuple[int, ...] = ()  # frame shape the state above belongs to
        self.last_features: np.ndarray | None = None

    def _detect(self, gray: np.ndarray) -> PupilResult:
        if gray.shape != self._bars_shape or self._bars_age >= 30 or not bars_hold(gray, self._bars):
            self._bars, self._bars_shape, self._bars_age = padding_bars(gray), gray.shape, 0  # every 30 frames
        self._bars_age += 1
        top, bottom, left, right = self._bars
        h, w = gray.shape
        if (top or bottom or left or right) and min(h - top - bottom, w - left - right) >= MIN_SIZE:
            gray = gray[top : h - bottom, left : w - right]  # the picture inside the bars (a view)
            h, w = gray.shape
        else:
            top = left = 0
        if not self.work_size or min(h, w) <= self.work_size:
            res = self._detect_work(gray)
            return res.rescaled(1.0, 1.0, left, top) if top or left else res
        import cv2

        s = self.work_size / min(h, w)
        size = (round(w * s), round(h * s))
        if self._work is None or self._work.shape != (size[1], size[0]):
            self._work = np.empty((size[1], size[0]), np.uint8)
        cv2.resize(gray, size, dst=self._work, interpolation=cv2.INTER_LINEAR)
        return self._detect_work(self._work).rescaled(size[0] / w, size[1] / h, left, top)

    def _detect_work(self, gray: np.ndarray) -> PupilResult:
        import cv2

        if gray.shape != self._shape:  # another camera or ROI: the tracked pupil and its size mean nothing here
            self.reset()
            self._shape = gray.shape
        lo, hi, _, _ = cv2.minMaxLoc(gray)
        if hi - lo < MIN_CONTRAST:
            self._last = None
            return PupilResult.not_found(openness=None)
        best = None
        self._range_age += 1
        self._age += 1
        self._ref_age += 1
        # ray passes this frame may spend: the full budget, or a smaller one when the previous frame found no
        # pupil (a blink, a closed eye: seeds rotate over consecutive lost frames until the pupil is back)
        self._budget = self.rays.calls + (self.lost_fits if self._lost else self.max_fits)
        if self.track and self._last is not None:
            best = self._refine(gray, *self._last)
        if best is None or best[0] < self.track_conf:
            best = self._search(gray, best)
        elif self._faint(best[1], gray):  # a faint track: is the pupil elsewhere?
            best = self._recheck(gray, best)
        # after a frame with no pupil, re-acquiring needs more: acquire_conf, and a fit that is not faint
        floor = self.acquire_conf if self._lost else self.min_conf
        lost = best is None or best[0] < floor or (self._lost and self._faint(best[1], gray))
        lost = self._lost = lost or self._slit(best, gray)
        self._offset = self._offset + self._tried if lost and self._exhausted else 0
        if lost:
            self._last, self._streak = None, 0
            return PupilResult.not_found(openness=0.0)
        conf, fit, q = best
        ex, ey, ew, eh, ang = fit.ellipse
        openness = self._openness(fit, conf)  # (against the pupil seen before this frame)
        if conf >= 0.8:  # the shape of the last confident pupil (see _slit)
            self._aspect, self._age, self._size = min(ew, eh) / max(ew, eh, 1e-6), 0, 0.5 * (ew + eh)
        faint = conf > FAINT_REPORT and self._faint(fit, gray)
        if faint and conf > HISTORY_CAP:
            held = HISTORY_CAP  # a faint fit is never the reference
        else:
            held = self._history_cap(conf, fit)
        self._last = (ex, ey, 0.25 * (ew + eh), q) if held >= self.track_conf and q is not None else None
        reported = min(held, FAINT_REPORT) if faint else held  # tracked as before, reported as what it is worth
        return PupilResult(True, ex, ey, reported, fit.ellipse, openness)

    def _search(self, gray: np.ndarray, best: tuple | None) -> tuple | None:
        """Full search: refine every seed (best confidence wins, early exit at 0.9); with more seeds than
        ``n_refine``, only the best-supported ones after a single probing pass."""
        seeds = self.iter_seeds(gray) if self.n_refine >= self.max_seeds else self.seeds(gray)
        if self.n_refine < self.max_seeds:  # probe: keep the seeds whose single pass is best supported
            probes = []
            for seed in seeds:
                res = self.rays.fit(gray, seed.x, seed.y, seed.r, final=False)
                if res is not None:
                    probes.append((res[0].n_inliers / res[0].n_rays, seed))
            probes.sort(key=lambda t: -t[0])
            seeds = [seed for _, seed in probes[: self.n_refine]]
        elif self._offset:  # the eye stayed lost: the first seed, then those the last searches did not reach
            seeds = list(seeds)
            k = 1 + self._offset % max(1, len(seeds) - 1)
            seeds = seeds[:1] + seeds[k:] + seeds[1:k]
        starts = [(seed.x, seed.y, seed.r, None) for seed in seeds]
        self._cands = [] if best is None else [best]
        best, self._tried, self._exhausted = self._refine_from(gray, starts, best)
        if best is None or best[0] < self.rise_conf:
            # rise pass: no confident pupil with the first-crossing edges (a faint, hazy one?): the tracked
            # pupil, then the seeds just tried, with the steepest-rise edge rule, within rise_fits more passes
            self._budget += self.rise_fits
            tracked = [] if self._last is None else [self._last]
            best = self._refine_from(gray, tracked + starts[: self._tried], best, rise=True)[0]
        return None if best is None else self._inner(gray, self._contrast_check(best))

    def _contrast_check(self, best: tuple) -> tuple:
        """The best fit of a search, or a darker candidate of far higher contrast (see ``CONTRAST_RATIO``)."""
        alts = [c for c in self._cands if c[0] >= CONTRAST_CONF and _outshines(c[1], best[1])]
        return max(alts, key=lambda c: c[0]) if alts else best

    def _recheck(self, gray: np.ndarray, best: tuple) -> tuple:
        """A faint tracked fit, or a full search's sure fit that is darker, of far higher contrast and not a slit."""
        alt = self._search(gray, None)
        if alt is not None and alt[0] >= 0.8 and _outshines(alt[1], best[1]) and not self._slit(alt, gray):
            return alt
        return best

    def _refine_from(self, gray: np.ndarray, starts: list, best: tuple | None, rise: bool = False):
        """Refine from each start (x, y, r, prior conic or None) in order while the frame's budget allows (a
        bounded worst case: blinks search every frame); the most confident fit wins, and one of at least
        ``early_exit`` ends the search. Returns (best, starts refined, whether the budget stopped it)."""
        for n, (x, y, r, prior) in enumerate(starts):
            if self.rays.calls + self.n_pass + 1 > self._budget:
                return best, n, True
            cand = self._refine(gray, x, y, r, prior, rise)
            if cand is not None:
                self._cands.append(cand)
            if cand is not None and (best is None or cand[0] > best[0]):
                best = cand
                if cand[0] >= self.early_exit:
                    return best, n + 1, False
        return best, len(starts), False

    def _inner(self, gray: np.ndarray, best: tuple) -> tuple:
        """If the best fit is large, look for a darker disc inside it (the pupil inside an iris we outlined)."""
        ex, ey, ew, eh, _ = best[1].ellipse
        r_out = 0.25 * (ew + eh)
        if r_out < 2.5 * self.r_min * min(gray.shape) or self.rays.calls + self.n_pass + 1 > self._budget:
            return best
        inner = self._refine(gray, ex, ey, 0.4 * r_out)
        if inner is None or inner[0] < 0.5:
            return best
        ix, iy, iw, ih, _ = inner[1].ellipse
        if 0.25 * (iw + ih) < 0.75 * r_out and (ix - ex) ** 2 + (iy - ey) ** 2 < (0.5 * r_out) ** 2:
            return inner
        return best

    def seeds(self, gray: np.ndarray) -> list:
        """Full-search seeds (all of :meth:`iter_seeds`)."""
        return list(self.iter_seeds(gray))

    def iter_seeds(self, gray: np.ndarray) -> Iterator:
        """Full-search seeds, most likely pupil first (:class:`~.seedrank.SeedRanker`), at most ``max_seeds``."""
        yield from self.ranker.seeds(gray, self.max_seeds)

    def _refine(
        self, gray: np.ndarray, x: float, y: float, r: float, prior: np.ndarray | None = None, rise: bool = False
    ) -> tuple[float, RayFit, np.ndarray | None] | None:
        """Ray passes from (x, y): guided by ``prior`` (tracking) or RANSAC until the centre settles, then a
        guided pass from the fitted centre, with the first-crossing edge rule or (``rise``) the steepest-rise
        one. Returns (confidence, fit, conic relative to the fit's centre)."""
        h, w = gray.shape
        short = min(h, w)
        max_d = 2.2 * self.r_max * short
        q = None
        n_pass = self.n_pass
        if prior is not None:  # tracking: refit the previous ellipse's inliers, no RANSAC
            res = self.rays.fit(gray, x, y, r, prior, final=True, rise=rise)
            if res is not None and res[0].n_inliers >= 0.6 * self.rays.n_rays:
                step = self._moved(res, x, y, w, h, max_d)
                if step is not None:
                    if step[4] < 0.3 and self._plausible(res[0], w, h, short):  # settled: done in one pass
                        self.last_features = features(res[0])
                        return confidence(self.last_features), res[0], step[3]
                    x, y, r, q, _ = step
                    n_pass = 0
        for _ in range(n_pass):
            res = self.rays.fit(gray, x, y, r, q, guided=False, final=False, rise=rise)
            step = None if res is None else self._moved(res, x, y, w, h, max_d)
            if step is None:
                return None
            x, y, r, q, moved = step
            if moved < 0.5:
                break
        res = self.rays.fit(gray, x, y, r, q, final=True, rise=rise)
        if res is None or not self._plausible(res[0], w, h, short):
            return None
        second, q2 = res
        sx, sy, _, _, _ = second.ellipse
        self.last_features = features(second)
        return confidence(self.last_features), second, shift_conic(q2, sx - x, sy - y)

    def _plausible(self, fit: RayFit, w: int, h: int, short: int) -> bool:
        """Centre inside the frame, the ellipse not smaller than a pupil can be, and not flatter than
        ``MIN_ASPECT`` (a pupil that flat would be seen 70 degrees off-axis; a lash line or lid slit is)."""
        ex, ey, ew, eh, _ = fit.ellipse
        minor = min(ew, eh)
        return (
            0 <= ex < w and 0 <= ey < h and minor >= max(3.0, self.r_min * short) and minor >= MIN_ASPECT * max(ew, eh)
        )

    @staticmethod
    def _moved(res: tuple[RayFit, np.ndarray], x: float, y: float, w: int, h: int, max_d: float):
        """Centre, radius and re-centred conic of a pass: (x, y, r, conic, distance moved) or None if implausible."""
        fit, q = res
        ex, ey, ew, eh, _ = fit.ellipse
        if not (0 <= ex < w and 0 <= ey < h) or max(ew, eh) > max_d:
            return None
        q = shift_conic(q, ex - x, ey - y)
        if q is None:
            return None
        return ex, ey, 0.25 * (ew + eh), q, math.hypot(ex - x, ey - y)


def _outshines(fit: RayFit, other: RayFit) -> bool:
    """Whether ``fit`` is darker inside by ``CONTRAST_DARKER`` x the contrast of ``other`` and has more than
    1 / ``CONTRAST_RATIO`` x that contrast: the pupil beside a faint spot."""
    contrast = other.surround - other.pupil
    darker = fit.pupil <= other.pupil - CONTRAST_DARKER * contrast
    return darker and CONTRAST_RATIO * (fit.surround - fit.pupil) > contrast
