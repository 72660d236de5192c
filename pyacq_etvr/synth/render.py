"""Rasteriser of the synthetic near-IR eye: one :class:`Renderer` per sequence (eye), buffers preallocated.

Per frame, at the render resolution (output size x ``supersample``), in float32 grey levels:

1. lid state (:meth:`Renderer.prepare_lids`): the lid opening (anti-aliased ``cv2.fillPoly`` with sub-pixel
   ``shift``), the eyeball shading under the upper lid and near the corners, the shaded skin and the lash
   coverage; recomputed only when the quantised lid state changes (not during fixations);
2. the eyeball layer starts as the precomputed sclera inside the lid box;
3. the iris is drawn in a ROI around its ellipse: every pixel is mapped back to the iris plane (``M^-1``),
   the iris texture is ``cv2.warpAffine``-d there and blended with an analytic anti-aliased alpha (soft limbus);
   the pupil is blended the same way with a ~0.7 output-px edge. The pupil's alpha is point-symmetric about
   its centre, so the dark-pixel centroid equals the published centre (sub-pixel labels without needing to
   supersample; the data-set path supersamples x4 anyway for everything else);
4. glints (Gaussian specular spots, saturating) and the hazy lens reflection are added on the cornea;
5. motion blur of the eyeball layer along the pupil's motion (the lids stay sharp, as in a real saccade);
6. eyeball and skin are blended through the lid opening, then lashes and lid margin are blended dark;
7. post-processing at output resolution (:meth:`Renderer.post`): area downsampling, low-resolution
   resampling and defocus (applied at the low resolution when there is one), vignetting and uneven
   lighting, sensor noise from a precomputed bank, rounding to uint8, optional JPEG round trip.
"""

from __future__ import annotations

import math

import numpy as np

from pyacq_etvr.synth import texture
from pyacq_etvr.synth.model import EyeModel, ellipse_of

_SHIFT = 3  # sub-pixel bits for cv2 drawing
_ONE = float(1 << _SHIFT)
_TEX = 256  # iris texture size
_TEX_EXTENT = 1.12  # iris texture covers +- this many iris radii


def _cv2():
    import cv2

    return cv2


class Renderer:
    """Draws one sequence's eye (``model``) into uint8 frames of ``width`` x ``height``."""

    def __init__(self, model: EyeModel, width: int, height: int, supersample: int, rng: np.random.Generator):
        cv2 = _cv2()
        self.cv2 = cv2
        self.model = model
        self.w, self.h, self.ss = width, height, supersample
        rw, rh = width * supersample, height * supersample
        self.rw, self.rh = rw, rh
        self.roll = np.asarray(model.roll_matrix())
        self.c_rot = model.rot_centre()
        # static layers are smooth: build them at output resolution, then upsample to the render grid
        geo = {
            "cx": model.anchor[0],
            "cy": model.anchor[1],
            "roll": math.radians(model.roll),
            "hw": model.hw,
            "ri": model.ri,
            "upper": -model.upper_h * model.ri,
            "lower": model.lower_h * model.ri,
        }
        self.sclera = self._upsampled(texture.sclera_layer(rng, (height, width), geo, model.sclera_level))
        skin = texture.skin_layer(rng, (height, width), geo, model.skin_level, model.makeup, model.pupil_level + 5)
        self.skin = self._upsampled(skin)
        self.iris_tex = texture.iris_texture(rng, _TEX, model.iris_level, _TEX_EXTENT, model.iris_contrast)
        self.work_r = np.empty((rh, rw), np.float32)
        self.eye_r = np.empty((rh, rw), np.float32)
        self.bb: tuple[slice, slice] | None = None
        self.tmp_r = np.empty((rh, rw), np.float32)
        # lid-state fields (valid inside bb / lash_box), recomputed only when the quantised lid state changes
        self.alpha_r = np.empty((rh, rw), np.float32)  # lid opening coverage 0..1
        self.eye_gain = np.empty((rh, rw), np.float32)  # shading of the eyeball under lids / in corners
        self.skin_shaded = np.empty((rh, rw), np.float32)  # skin darkened next to the margin
        self.lash_alpha = np.empty((rh, rw), np.float32)  # lash / margin coverage 0..1
        self.lash_box: tuple[slice, slice] | None = None
        self._lid_key: tuple[int, int] | None = None
        self.mask = np.zeros((rh, rw), np.uint8)
        self.dark = np.zeros((rh, rw), np.uint8)
        self.shade_lo = np.zeros((max(16, height // 4), max(16, width // 4)), np.uint8)
        self.occl_lo = np.zeros_like(self.shade_lo)
        self.occl_r = np.zeros((rh, rw), np.uint8)
        self.work = self.work_r if supersample == 1 else np.empty((height, width), np.float32)
        self.ar_x = np.arange(rw, dtype=np.float32)
        self.ar_y = np.arange(rh, dtype=np.float32)
        self.lid_t = np.linspace(-1.0, 1.0, 41)
        self._init_lashes(rng)
        self._init_glints(rng)
        self._init_post(rng)

    # ------------------------------------------------------------------ set-up
    def _init_lashes(self, rng: np.random.Generator) -> None:
        """Lashes in clumps along both lids: root parameter, length, tilt, curl and darkness per lash."""
        m = self.model
        n_up = m.n_lashes
        n_lo = n_up // 3
        n = n_up + n_lo
        clumps = rng.uniform(-0.95, 0.95, max(6, n_up // 3))
        t_up = np.clip(rng.choice(clumps, n_up) + rng.normal(0, 0.025, n_up), -0.97, 0.97)
        self.lash_t = np.concatenate([t_up, rng.uniform(-0.85, 0.8, n_lo)])
        self.lash_upper = np.arange(n) < n_up
        mid = 1 - self.lash_t**2
        length = rng.uniform(0.55, 1.0, n) * (0.3 + 0.4 * mid) * m.ri
        length[~self.lash_upper] *= 0.4
        self.lash_len = length
        self.lash_tilt = 0.8 * self.lash_t + rng.normal(0, 0.18, n)
        self.lash_curl = np.abs(rng.normal(0.35, 0.12, n))
        self.lash_droop = (rng.random(n) < m.lash_droop) & self.lash_upper
        self.lash_group = np.where(self.lash_upper, rng.integers(0, 3, n), 3)
        self.lash_pts = np.empty((n, 4, 2), np.int32)
        self.lash_tmp = np.empty((n, 4, 2), np.float64)
        k = len(self.lid_t)
        pos = np.interp(self.lash_t, self.lid_t, np.arange(float(k)))
        self.lash_idx = np.minimum(pos.astype(np.intp), k - 2)
        self.lash_w = (pos - self.lash_idx)[:, None]
        self.lash_vy = np.where(self.lash_upper, 0.7, 1.0)  # droopy upper lashes / lower lashes point down
        side = np.where(self.lash_t >= 0, 1.0, -1.0) * np.where(self.lash_upper, 1.0, -1.0)
        self.lash_side = side[:, None]
        f = np.array([0.0, 0.35, 0.7, 1.0])
        self.lash_f1 = (f[None, :] * length[:, None])[:, :, None]
        self.lash_f2 = (f[None, :] ** 2 * length[:, None] * self.lash_curl[:, None])[:, :, None]
        self.margin_w = max(1, round(0.05 * m.ri * self.ss))

    def _init_glints(self, rng: np.random.Generator) -> None:
        self._iris_box: tuple[int, int, int, int] | None = None
        self._iris_alpha = np.zeros((1, 1), np.float32)
        self.refl = None
        m = self.model
        if m.reflection > 0:  # a blurred rounded patch (lens / screen seen in the cornea)
            ax, ay = m.reflection_size[0] * self.ss, m.reflection_size[1] * self.ss
            half = int(1.6 * max(ax, ay)) + 2
            yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
            ang = rng.uniform(0, math.pi)
            u = xx * math.cos(ang) + yy * math.sin(ang)
            v = -xx * math.sin(ang) + yy * math.cos(ang)
            d = (np.abs(u) / ax) ** 4 + (np.abs(v) / ay) ** 4
            self.refl = (m.reflection / (1.0 + d**2)).astype(np.float32)
        n = len(self.model.glints)
        self.glint_sigma = np.maximum(0.6, rng.uniform(0.025, 0.06, n) * self.model.ri) * self.ss
        self.glint_peak = rng.uniform(250.0, 450.0, n)

    def _init_post(self, rng: np.random.Generator) -> None:
        m = self.model
        self.vig = None
        if m.vignette > 0 or m.lighting > 0:
            cx = self.w / 2 + rng.uniform(-0.15, 0.15) * self.w
            cy = self.h / 2 + rng.uniform(-0.15, 0.15) * self.h
            gain = texture.vignette_map((self.h, self.w), m.vignette, (cx, cy))
            if m.lighting > 0:
                gain *= 1.0 + np.float32(m.lighting) * texture.smooth_noise(rng, (self.h, self.w), (2, 2))
            self.vig = np.maximum(gain, np.float32(0.25))
        self.noise = None
        if m.noise_sigma > 0:
            pad = 16
            self.noise = (rng.standard_normal((3, self.h + pad, self.w + pad)) * m.noise_sigma).astype(np.float32)
        self.gain_state = 0.0
        self.small = None
        if m.lowres > 1.05:
            self.small = np.empty((max(8, round(self.h / m.lowres)), max(8, round(self.w / m.lowres))), np.float32)

    def _upsampled(self, layer: np.ndarray) -> np.ndarray:
        if self.ss == 1:
            return layer
        return self.cv2.resize(layer, (self.rw, self.rh), interpolation=self.cv2.INTER_LINEAR)

    def to_r(self, p: np.ndarray) -> np.ndarray:
        """Output px (pixel-centre convention) -> render px."""
        return (np.asarray(p, dtype=np.float64) + 0.5) * self.ss - 0.5

    # ------------------------------------------------------------------ drawing
    def lid_polygon(self, openness: float, gaze_dy: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Image (output px) points of the upper and lower lids, corner to corner, and the lids' local x."""
        x, yu, yl = self.model.lid_curves(openness, gaze_dy, self.lid_t)
        a = np.asarray(self.model.anchor)
        up = (self.roll @ np.stack([x, yu])).T + a
        lo = (self.roll @ np.stack([x, yl])).T + a
        return up, lo, yl - yu

    def draw_lid_mask(self, up: np.ndarray, lo: np.ndarray, gap: np.ndarray) -> None:
        """Fill the anti-aliased lid opening into ``mask``; set ``bb`` (its render-px box) or None if shut."""
        self.mask.fill(0)
        self.bb = None
        if float(gap.max()) * self.ss < 0.05:
            return
        poly = np.concatenate([up, lo[::-1]])
        pts = np.round(self.to_r(poly) * _ONE).astype(np.int32)
        self.cv2.fillPoly(self.mask, [pts], 255, self.cv2.LINE_AA, _SHIFT)
        lo_xy, hi_xy = pts.min(axis=0) >> _SHIFT, pts.max(axis=0) >> _SHIFT
        pad = int(0.5 * self.model.ri * self.ss) + 2  # room for the soft shading around the opening
        x0, y0 = max(0, int(lo_xy[0]) - pad), max(0, int(lo_xy[1]) - pad)
        x1, y1 = min(self.rw, int(hi_xy[0]) + pad + 1), min(self.rh, int(hi_xy[1]) + pad + 1)
        if x1 > x0 and y1 > y0:
            self.bb = (slice(y0, y1), slice(x0, x1))
        self._poly = poly

    def _clip_box(self, c: np.ndarray, hx: float, hy: float) -> tuple[int, int, int, int] | None:
        """Box of half size (hx, hy) around render-px point ``c``, clipped to the lid box ``bb``."""
        bys, bxs = self.bb
        x0, x1 = max(bxs.start, int(c[0] - hx)), min(bxs.stop, int(c[0] + hx) + 2)
        y0, y1 = max(bys.start, int(c[1] - hy)), min(bys.stop, int(c[1] + hy) + 2)
        return None if x1 <= x0 or y1 <= y0 else (x0, x1, y0, y1)

    def draw_iris(self, m: np.ndarray, iris_c: np.ndarray, pupil_c: np.ndarray, rp: float) -> float:
        """Blend iris and pupil into the eyeball layer; return the pupil's visible fraction (lids, frame edges)."""
        self._iris_box = None
        if self.bb is None:
            return 0.0
        cv2, ss, mod = self.cv2, self.ss, self.model
        ri_r, rp_r = mod.ri * ss, rp * ss
        ic = self.to_r(iris_c)
        sx, sy = math.hypot(m[0, 0], m[0, 1]), math.hypot(m[1, 0], m[1, 1])
        box = self._clip_box(ic, _TEX_EXTENT * ri_r * sx + 2, _TEX_EXTENT * ri_r * sy + 2)
        if box is None:
            return 0.0
        x0, x1, y0, y1 = box
        mi = np.linalg.inv(m).astype(np.float32)
        xs = (self.ar_x[x0:x1] - np.float32(ic[0]))[None, :]
        ys = (self.ar_y[y0:y1] - np.float32(ic[1]))[:, None]
        u = mi[0, 0] * xs + mi[0, 1] * ys
        v = mi[1, 0] * xs + mi[1, 1] * ys
        roi = self.eye_r[y0:y1, x0:x1]
        # texture: box px -> texture px is affine, so one warpAffine (no per-pixel maps)
        scale = (_TEX - 1) / 2 / (_TEX_EXTENT * ri_r)
        a2 = scale * mi.astype(np.float64)
        b2 = a2 @ (np.array([x0, y0], np.float64) - ic) + (_TEX - 1) / 2
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        affine = np.hstack([a2, b2[:, None]])
        tex = cv2.warpAffine(self.iris_tex, affine, (x1 - x0, y1 - y0), flags=flags, borderMode=cv2.BORDER_REPLICATE)
        # soft limbus ~1.3 px: pixel distance to the edge ~ (R^2 - rho^2) / (2 R |grad rho|), |grad rho| taken
        # as its mean 1/sqrt(det M) (exactness only matters for the pupil, below)
        k = np.float32(math.sqrt(abs(float(np.linalg.det(m)))) / (2 * ri_r * 1.3 * ss))
        a = np.float32(ri_r * ri_r) - u * u
        a -= v * v
        a *= k
        a += np.float32(0.5)
        np.clip(a, 0, 1, out=a)
        tex -= roi
        tex *= a
        roi += tex
        self._iris_alpha, self._iris_box = a, box
        pbox = self._clip_box(self.to_r(pupil_c), rp_r * sx + 2, rp_r * sy + 2)
        if pbox is None:
            return 0.0
        px0, px1, py0, py1 = pbox
        sl = (slice(py0 - y0, py1 - y0), slice(px0 - x0, px1 - x0))
        up = u[sl] - np.float32(mod.pupil_offset[0] * ss)
        vp = v[sl] - np.float32(mod.pupil_offset[1] * ss)
        ap = _edge_alpha(up, vp, mi, rp_r, 0.7 * ss)
        rho2 = (up * up + vp * vp) * np.float32(1.0 / (rp_r * rp_r))
        pv = np.float32(mod.pupil_level) * (1 + np.float32(0.12) * np.minimum(rho2, 1))
        proi = roi[sl]
        proi += ap * (pv - proi)
        area = math.pi * rp_r * rp_r * abs(float(np.linalg.det(m)))
        covered = float(np.sum(ap * self.mask[py0:py1, px0:px1])) / 255.0
        return min(1.0, covered / area) if area > 0 else 0.0

    def draw_reflection(self, apex: np.ndarray) -> None:
        """Add the hazy lens reflection, on the cornea only (weighted by the iris coverage just drawn)."""
        if self.refl is None or self.bb is None or self._iris_box is None:
            return
        x0, x1, y0, y1 = self._iris_box
        c = self.to_r(apex + np.asarray(self.model.reflection_offset))
        h, w = self.refl.shape
        px0, py0 = int(round(c[0])) - w // 2, int(round(c[1])) - h // 2
        ax0, ax1 = max(x0, px0), min(x1, px0 + w)
        ay0, ay1 = max(y0, py0), min(y1, py0 + h)
        if ax1 <= ax0 or ay1 <= ay0:
            return
        patch = self.refl[ay0 - py0 : ay1 - py0, ax0 - px0 : ax1 - px0]
        alpha = self._iris_alpha[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0]
        self.eye_r[ay0:ay1, ax0:ax1] += patch * alpha

    def draw_glints(self, apex: np.ndarray, iris_c: np.ndarray, m: np.ndarray) -> None:
        """Add Gaussian specular spots (peak above 255: they saturate) where they fall on the cornea."""
        if self.bb is None:
            return
        mi = np.linalg.inv(m)
        ri = self.model.ri
        for off, sig, peak in zip(self.model.glints, self.glint_sigma, self.glint_peak):
            g = apex + off
            uv = mi @ (g - iris_c)
            if float(uv @ uv) > (1.15 * ri) ** 2:
                continue  # off the cornea
            c = self.to_r(g)
            box = self._clip_box(c, 3 * sig + 1, 3 * sig + 1)
            if box is None:
                continue
            x0, x1, y0, y1 = box
            dx = (self.ar_x[x0:x1] - np.float32(c[0]))[None, :]
            dy = (self.ar_y[y0:y1] - np.float32(c[1]))[:, None]
            self.eye_r[y0:y1, x0:x1] += np.float32(peak) * np.exp((dx * dx + dy * dy) * np.float32(-0.5 / sig**2))

    def prepare_lids(self, openness: float, gaze_dy: float) -> None:
        """Make the lid-state fields current for (openness, gaze_dy) quantised to 1/400 and 1/4 px.

        During fixations the lids do not move, so the mask, the shading gains and the lash coverage are
        reused from the previous frame (the lid drawn is off by < 0.1 px; the published truth is exact).
        """
        key = (round(openness * 400), round(gaze_dy * 4))
        if key == self._lid_key:
            return
        self._lid_key = key
        openness, gaze_dy = key[0] / 400, key[1] / 4
        up, lo, gap = self.lid_polygon(openness, gaze_dy)
        self.draw_lid_mask(up, lo, gap)
        if self.bb is not None:
            self._lid_fields(up)
        self._lash_field(up, lo, openness)

    def begin_eye(self) -> None:
        """Start the eyeball layer of a frame (sclera inside the lid box)."""
        if self.bb is not None:
            self.eye_r[self.bb] = self.sclera[self.bb]

    def _lid_fields(self, up: np.ndarray) -> None:
        """Opening coverage, eyeball gain (upper-lid shadow x occlusion near lids and corners), shaded skin.

        The soft fields are drawn and blurred at a quarter of the output resolution, then resized up.
        """
        ri, bb = self.model.ri, self.bb
        f = self.shade_lo.shape[1] / self.w
        sigma = max(0.5, 0.18 * ri * f)
        drop = np.array([0.0, 0.22 * ri])  # the shadow: the region above the lid curve moved down, blurred
        poly = np.concatenate([up + self.roll @ drop, [[up[-1, 0], -4 * self.h], [up[0, 0], -4 * self.h]]])
        shade = self._soft(self.shade_lo, poly, f, sigma, self.dark)[bb]
        occl = self._soft(self.occl_lo, self._poly, f, sigma, self.occl_r)[bb]
        gain, t, sk = self.eye_gain[bb], self.tmp_r[bb], self.skin_shaded[bb]
        np.multiply(shade, np.float32(-0.45 / 255), out=gain)
        gain += 1.0
        np.multiply(occl, np.float32(0.35 / 255), out=t)
        t += np.float32(0.65)
        gain *= t
        np.multiply(occl, np.float32(-0.15 / 255), out=sk)
        sk += 1.0
        sk *= self.skin[bb]
        np.multiply(self.mask[bb], np.float32(1 / 255), out=self.alpha_r[bb])

    def composite_lids(self) -> None:
        """Blend the shaded eyeball and the skin through the lid opening into ``work_r``."""
        self.work_r[...] = self.skin
        bb = self.bb
        if bb is None:
            return
        eye, sk = self.eye_r[bb], self.skin_shaded[bb]
        eye *= self.eye_gain[bb]
        eye -= sk
        eye *= self.alpha_r[bb]
        np.add(eye, sk, out=self.work_r[bb])

    def _soft(self, lo: np.ndarray, poly: np.ndarray, f: float, sigma: float, dst: np.ndarray) -> np.ndarray:
        """Fill ``poly`` (output px) at the low resolution ``f``, blur by ``sigma``, resize into ``dst``."""
        cv2 = self.cv2
        lo.fill(0)
        pts = np.round(((poly + 0.5) * f - 0.5) * _ONE).astype(np.int32)
        cv2.fillPoly(lo, [pts], 255, cv2.LINE_AA, _SHIFT)
        cv2.GaussianBlur(lo, (0, 0), sigma, dst=lo)
        cv2.resize(lo, (self.rw, self.rh), dst=dst, interpolation=cv2.INTER_LINEAR)
        return dst

    def _lash_field(self, up: np.ndarray, lo: np.ndarray, openness: float) -> None:
        """Coverage of the curved lashes (4-point polylines, 4 darkness groups) and the upper lid margin."""
        cv2, ss = self.cv2, self.ss
        d = self.dark
        d.fill(0)
        i, w = self.lash_idx, self.lash_w
        lid = np.where(self.lash_upper[:, None], up[i] * (1 - w) + up[i + 1] * w, lo[i] * (1 - w) + lo[i + 1] * w)
        vy = np.where(self.lash_upper & ~self.lash_droop, -(1.3 * openness - 0.3), self.lash_vy)
        loc = np.stack([self.lash_tilt, vy], 1)
        loc /= np.hypot(loc[:, 0], loc[:, 1])[:, None]
        perp = np.stack([-loc[:, 1], loc[:, 0]], 1) * self.lash_side
        dirn = loc @ self.roll.T
        perp = perp @ self.roll.T
        # point k of lash j: root + f_k L_j dir_j + curl_j f_k^2 L_j perp_j, in render px, fixed point
        pts = self.lash_pts
        tmp = self.lash_tmp
        np.multiply(lid[:, None, :] + self.lash_f1 * dirn[:, None, :] + self.lash_f2 * perp[:, None, :] + 0.5,
                    ss * _ONE, out=tmp)  # fmt: skip
        tmp -= 0.5 * _ONE
        pts[...] = np.rint(tmp)
        th = max(1, round(0.6 * ss * min(self.w, self.h) / 240))
        for group, colour in ((0, 255), (1, 210), (2, 160), (3, 120)):
            sel = self.lash_group == group
            if sel.any():
                cv2.polylines(d, list(pts[sel]), False, colour, th, cv2.LINE_AA, _SHIFT)
        drawn = [pts.reshape(-1, 2)]
        if openness > 0.02:
            margin = np.round(self.to_r(up[2:-2]) * _ONE).astype(np.int32)
            cv2.polylines(d, [margin], False, 150, self.margin_w, cv2.LINE_AA, _SHIFT)
            drawn.append(margin)
        drawn_pts = np.concatenate(drawn)
        if drawn_pts.size == 0:
            self.lash_box = None
            return
        lo_xy, hi_xy = drawn_pts.min(axis=0) >> _SHIFT, drawn_pts.max(axis=0) >> _SHIFT
        pad = max(th, self.margin_w) + 2
        x0, y0 = max(0, int(lo_xy[0]) - pad), max(0, int(lo_xy[1]) - pad)
        x1, y1 = min(self.rw, int(hi_xy[0]) + pad + 1), min(self.rh, int(hi_xy[1]) + pad + 1)
        self.lash_box = (slice(y0, y1), slice(x0, x1)) if x1 > x0 and y1 > y0 else None
        if self.lash_box is not None:
            np.multiply(d[self.lash_box], np.float32(1 / 255), out=self.lash_alpha[self.lash_box])

    def draw_lashes(self) -> None:
        """Blend the lash coverage toward the lash grey level."""
        box = self.lash_box
        if box is None:
            return
        tmp, work = self.tmp_r[box], self.work_r[box]
        np.subtract(work, np.float32(self.model.lash_level), out=tmp)
        tmp *= self.lash_alpha[box]
        work -= tmp

    # ------------------------------------------------------------------ post-processing
    def post(self, out: np.ndarray, rng: np.random.Generator) -> None:
        """Downsample, defocus, low-resolution resampling, lighting, noise, round into ``out`` (uint8), JPEG."""
        cv2, m, w = self.cv2, self.model, self.work
        if self.ss > 1:
            cv2.resize(self.work_r, (self.w, self.h), dst=w, interpolation=cv2.INTER_AREA)
        if self.small is not None:  # low resolution; the defocus is applied there (cheaper, same look)
            sh, sw = self.small.shape
            cv2.resize(w, (sw, sh), dst=self.small, interpolation=cv2.INTER_AREA)
            sigma = m.defocus_sigma * sw / self.w
            if sigma > 0.25:
                cv2.GaussianBlur(self.small, (0, 0), sigma, dst=self.small)
            cv2.resize(self.small, (self.w, self.h), dst=w, interpolation=cv2.INTER_LINEAR)
        elif m.defocus_sigma > 0.25:
            cv2.GaussianBlur(w, (0, 0), m.defocus_sigma, dst=w)
        if self.vig is not None:
            w *= self.vig
        if m.gain_drift > 0:  # Ornstein-Uhlenbeck gain, one step per frame (time constant ~180 frames)
            a = 1.0 / 180.0
            self.gain_state += -a * self.gain_state + math.sqrt(2 * a) * float(rng.standard_normal())
            w *= np.float32(max(0.3, 1.0 + m.gain_drift * self.gain_state))
        if self.noise is not None:
            k = int(rng.integers(0, 3))
            oy, ox = int(rng.integers(0, 16)), int(rng.integers(0, 16))
            w += self.noise[k, oy : oy + self.h, ox : ox + self.w]
        w += np.float32(0.5)
        np.clip(w, 0, 255, out=w)
        np.copyto(out, w, casting="unsafe")
        if m.jpeg_quality is not None:
            ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, m.jpeg_quality])
            if ok:
                np.copyto(out, cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE))

    def motion_blur(self, motion: np.ndarray, iris_c: np.ndarray) -> None:
        """Blur the eyeball layer along the pupil's last-frame motion (output px); the lids stay sharp.

        The line kernel is point-symmetric about its centre, so the blurred pupil stays centred on its label.
        """
        if self.bb is None or self.model.exposure <= 0:
            return
        length = self.model.exposure * float(math.hypot(motion[0], motion[1])) * self.ss
        if length <= 1.0:
            return
        cv2 = self.cv2
        n = int(math.ceil(length)) | 1
        k = np.zeros((n, n), np.float32)
        c = (n - 1) / 2
        ux, uy = motion / max(float(np.hypot(*motion)), 1e-9)
        pa = (round((c - ux * length / 2) * _ONE), round((c - uy * length / 2) * _ONE))
        pb = (round((c + ux * length / 2) * _ONE), round((c + uy * length / 2) * _ONE))
        cv2.line(k, pa, pb, 1.0, 1, cv2.LINE_8, _SHIFT)
        k = 0.5 * (k + k[::-1, ::-1])  # exactly point-symmetric
        k /= max(float(k.sum()), 1e-9)
        half = 1.2 * self.model.ri * self.ss + n
        box = self._clip_box(self.to_r(iris_c), half, half)
        if box is not None:
            x0, x1, y0, y1 = box
            roi = self.eye_r[y0:y1, x0:x1]
            roi[...] = cv2.filter2D(roi, -1, k, borderType=cv2.BORDER_REPLICATE)


def _edge_alpha(u: np.ndarray, v: np.ndarray, mi: np.ndarray, radius: float, width: float) -> np.ndarray:
    """Coverage of the disc ``|(u, v)| <= radius`` (iris plane) with an image-space edge ``width`` px wide."""
    rho = np.sqrt(u * u + v * v) + np.float32(1e-6)
    gx = mi[0, 0] * u + mi[1, 0] * v
    gy = mi[0, 1] * u + mi[1, 1] * v
    g = np.sqrt(gx * gx + gy * gy) / rho
    return np.clip((np.float32(radius) - rho) / (g * np.float32(width)) + np.float32(0.5), 0, 1)


__all__ = ["Renderer", "ellipse_of"]
