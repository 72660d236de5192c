"""Static textures of the synthetic eye, computed once per sequence (float32 grey levels 0..255).

* :func:`iris_texture` -- a square iris patch in iris-plane coordinates: radial fibres, crypts, a collarette
  ring and a darker limbus, for ``cv2.remap`` onto the foreshortened iris ellipse every frame.
* :func:`smooth_noise` -- band-limited random fields (the building block of skin and sclera shading).
* :func:`skin_layer` / :func:`sclera_layer` -- full-frame layers for the skin around the eye (shading,
  pores, lid crease, optional make-up / shadows) and the eyeball (spherical shading, caruncle).
* :func:`vignette_map` -- multiplicative lens falloff.

All sizes are in render pixels; callers pass geometry already scaled to the render resolution.
"""

from __future__ import annotations

import math

import numpy as np


def _cv2():
    import cv2

    return cv2


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: tuple[int, int]) -> np.ndarray:
    """Zero-mean, unit-sd random field of ``shape`` with about ``cells`` (rows, cols) blobs (cubic upsampling)."""
    cv2 = _cv2()
    small = rng.standard_normal((max(2, cells[0]) + 2, max(2, cells[1]) + 2)).astype(np.float32)
    big = cv2.resize(
        small, (shape[1] + 2 * shape[1] // cells[1], shape[0] + 2 * shape[0] // cells[0]), interpolation=cv2.INTER_CUBIC
    )
    oy, ox = shape[0] // cells[0], shape[1] // cells[1]
    out = np.ascontiguousarray(big[oy : oy + shape[0], ox : ox + shape[1]])
    out -= out.mean()
    sd = float(out.std())
    if sd > 0:
        out /= sd
    return out


def iris_texture(
    rng: np.random.Generator, size: int, level: float, extent: float, contrast: float = 0.06
) -> np.ndarray:
    """Square iris texture of ``size`` px covering iris-plane radii ``[-extent, extent]`` (iris radius = 1).

    Mean grey ``level`` in the iris body, fibre/crypt modulation ``contrast`` (relative sd); the limbus
    (radius 0.85-1) darkens to about 60 % of it (the renderer's alpha cuts the texture past radius 1).
    """
    cv2 = _cv2()
    n_r, n_a = max(16, size // 2), 720
    fibres = np.zeros((n_r, n_a), np.float32)
    for cells_r, cells_a, amp in ((3, 90, 1.0), (6, 180, 0.6), (12, 360, 0.35)):
        fibres += amp * smooth_noise(rng, (n_r, n_a), (cells_r, cells_a))
    # crypts: dark radial lozenges
    for _ in range(int(rng.integers(4, 12))):
        r0, a0 = rng.uniform(0.3, 0.8) * n_r, rng.uniform(0, n_a)
        cv2.ellipse(
            fibres,
            (int(a0), int(r0)),
            (int(rng.uniform(4, 12)), int(rng.uniform(2, 6) * n_r / 40)),
            0,
            0,
            360,
            -2.5,
            -1,
        )
    fibres = cv2.GaussianBlur(fibres, (0, 0), 1.5)
    c = (size - 1) / 2.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    dx, dy = (xx - c) / c * extent, (yy - c) / c * extent
    rho = np.hypot(dx, dy)
    ang = (np.arctan2(dy, dx) % (2 * math.pi)) * (n_a / (2 * math.pi))
    rmap = np.clip(rho, 0, 1) * (n_r - 1)
    tex = cv2.remap(
        fibres, ang.astype(np.float32), rmap.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP
    )
    collarette = 1.5 * contrast * np.exp(-(((rho - rng.uniform(0.4, 0.55)) / 0.06) ** 2))
    limbus = 1.0 - 0.4 * np.clip((rho - 0.82) / 0.18, 0, 1) ** 1.5
    profile = (1.0 + collarette) * limbus * (1.0 + 0.06 * (rho - 0.5))
    out = level * profile * (1.0 + contrast * tex)
    return np.ascontiguousarray(out, dtype=np.float32)


def vignette_map(shape: tuple[int, int], strength: float, centre: tuple[float, float]) -> np.ndarray:
    """Gain map 1 at ``centre`` (x, y px) falling to ``1 - strength`` at the farthest corner (cos^4-like)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d2 = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2
    far = max((x - centre[0]) ** 2 + (y - centre[1]) ** 2 for x in (0, w - 1) for y in (0, h - 1))
    return (1.0 - strength * (d2 / max(far, 1.0)) ** 1.2).astype(np.float32)


def skin_layer(
    rng: np.random.Generator,
    shape: tuple[int, int],
    eye: dict[str, float],
    level: float,
    makeup: float,
    dark_level: float,
) -> np.ndarray:
    """Skin around the eye (float32 ``shape``): shading, pores, lid crease, and make-up/shadow regions.

    ``eye`` gives the eye geometry in render px: ``cx, cy`` (lid anchor), ``roll`` (rad), ``hw`` (half width
    of the opening), ``ri`` (iris radius), ``upper`` / ``lower`` (lid apex offsets, local y, down +).
    ``makeup`` 0..1 scales eye-liner / shadow regions that reach ``dark_level`` (as dark as the pupil).
    """
    cv2 = _cv2()
    h, w = shape
    ri = eye["ri"]
    skin = np.full(shape, level, np.float32)
    skin += 9.0 * smooth_noise(rng, shape, (2, 2))
    skin += 4.0 * smooth_noise(rng, shape, (8, 8))
    pores = rng.standard_normal(shape).astype(np.float32)
    skin += 5.0 * cv2.GaussianBlur(pores, (0, 0), max(0.5, ri / 50))
    _add_wrinkles(rng, skin, eye)
    # light falls off away from the IR LEDs: a random linear gradient
    ang = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    skin += float(rng.uniform(0.05, 0.2)) * level * ((xx / w - 0.5) * math.cos(ang) + (yy / h - 0.5) * math.sin(ang))
    # local eye coordinates
    c, s = math.cos(eye["roll"]), math.sin(eye["roll"])
    lx = (xx - eye["cx"]) * c + (yy - eye["cy"]) * s
    ly = -(xx - eye["cx"]) * s + (yy - eye["cy"]) * c
    t = np.clip(lx / eye["hw"], -1.5, 1.5)
    arch = np.clip(1 - t * t, 0, 1)
    # lid crease above the upper lid, and the orbit shadow around the opening
    crease_y = eye["upper"] - rng.uniform(0.45, 0.8) * ri * arch
    skin -= rng.uniform(15, 40) * np.exp(-(((ly - crease_y) / (0.12 * ri)) ** 2)) * arch
    ell = (lx / (eye["hw"] * 1.25)) ** 2 + ((ly - 0.2 * ri) / (1.9 * ri)) ** 2
    skin -= rng.uniform(10, 35) * np.exp(-ell)
    if makeup > 0:
        _add_makeup(rng, skin, lx, ly, arch, eye, makeup, dark_level)
    return skin


def _add_wrinkles(rng: np.random.Generator, skin: np.ndarray, eye: dict[str, float]) -> None:
    """Thin soft folds under the lower lid and at the outer corner (drawn anti-aliased, then blurred)."""
    cv2 = _cv2()
    ri, hw = eye["ri"], eye["hw"]
    c, s = math.cos(eye["roll"]), math.sin(eye["roll"])
    canvas = np.zeros(skin.shape, np.uint8)
    t = np.linspace(-1, 1, 24)
    for _ in range(int(rng.integers(3, 9))):
        below = rng.random() < 0.6
        span = rng.uniform(0.3, 0.8)
        x0 = rng.uniform(-0.6, 0.6) * hw if below else rng.choice([-1.0, 1.0]) * hw * rng.uniform(1.0, 1.3)
        x = x0 + span * hw * t * (1.0 if below else 0.35)
        y = (
            (eye["lower"] + rng.uniform(0.3, 1.4) * ri) * (1 - 0.35 * t * t)
            if below
            else rng.uniform(-1, 1) * ri + span * ri * t
        )
        px = eye["cx"] + x * c - y * s
        py = eye["cy"] + x * s + y * c
        pts = np.round(np.stack([px, py], 1) * 8).astype(np.int32)
        cv2.polylines(canvas, [pts], False, int(rng.integers(80, 256)), max(1, round(ri / 40)), cv2.LINE_AA, 3)
    soft = cv2.GaussianBlur(canvas.astype(np.float32), (0, 0), max(1.0, ri / 20))
    skin -= soft * np.float32(rng.uniform(0.03, 0.08))


def _add_makeup(
    rng: np.random.Generator,
    skin: np.ndarray,
    lx: np.ndarray,
    ly: np.ndarray,
    arch: np.ndarray,
    eye: dict[str, float],
    makeup: float,
    dark_level: float,
) -> None:
    """Eye liner along both lids and dark shadow blobs near the corners, blended toward ``dark_level``."""
    ri, hw = eye["ri"], eye["hw"]
    dark = np.zeros_like(skin)
    width = rng.uniform(0.08, 0.25) * ri
    upper_curve = eye["upper"] * arch - width
    dark = np.maximum(dark, np.exp(-(((ly - upper_curve) / width) ** 2)) * (np.abs(lx) < hw * 1.1))
    if rng.random() < 0.6:
        lower_curve = eye["lower"] * arch + 0.5 * width
        dark = np.maximum(dark, 0.8 * np.exp(-(((ly - lower_curve) / (0.7 * width)) ** 2)) * (np.abs(lx) < hw))
    for _ in range(int(rng.integers(1, 4))):
        bx = rng.choice([-1.0, 1.0]) * hw * rng.uniform(0.8, 1.3)
        by = rng.uniform(-1.5, 1.8) * ri
        sx, sy = rng.uniform(0.3, 0.8) * ri, rng.uniform(0.2, 0.6) * ri
        dark = np.maximum(dark, rng.uniform(0.5, 1.0) * np.exp(-(((lx - bx) / sx) ** 2 + ((ly - by) / sy) ** 2)))
    dark *= makeup
    skin += dark * (dark_level - skin)


def sclera_layer(rng: np.random.Generator, shape: tuple[int, int], eye: dict[str, float], level: float) -> np.ndarray:
    """Eyeball surface (float32 ``shape``): spherical shading darker toward the corners, a caruncle blob."""
    h, w = shape
    ri = eye["ri"]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c, s = math.cos(eye["roll"]), math.sin(eye["roll"])
    lx = (xx - eye["cx"]) * c + (yy - eye["cy"]) * s
    ly = -(xx - eye["cx"]) * s + (yy - eye["cy"]) * c
    d2 = (lx / (eye["hw"] * 1.05)) ** 2 + (ly / (2.0 * ri)) ** 2
    sclera = level * (0.62 + 0.38 * np.sqrt(np.clip(1.0 - d2, 0, 1)))
    sclera += 4.0 * smooth_noise(rng, shape, (6, 6))
    side = rng.choice([-1.0, 1.0])
    car = np.exp(-(((lx - side * eye["hw"] * 0.92) / (0.25 * ri)) ** 2 + ((ly - 0.15 * ri) / (0.3 * ri)) ** 2))
    sclera -= rng.uniform(0.2, 0.4) * level * car
    return sclera.astype(np.float32)


__all__ = ["iris_texture", "sclera_layer", "skin_layer", "smooth_noise", "vignette_map"]
