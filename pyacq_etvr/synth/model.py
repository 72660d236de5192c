"""Geometry of the synthetic eye: per-sequence parameters and the per-frame pose (pupil / iris ellipses, lids).

Model (orthographic camera, image x right, y down, z toward the camera):

* The eyeball rotates about a centre whose image is ``c_rot``. For a rotation (yaw ``t``, pitch ``p``) -- the
  gaze angles plus the camera's fixed offset from the optical axis -- the optical axis is
  ``n = (sin t cos p, -sin p, cos t cos p)`` and the iris/pupil plane sits ``rot_radius`` px from the centre.
* The iris plane's in-plane axes project through ``M = R(roll) [[cos t, sin t sin p], [0, cos p]]``, so a
  circle of radius ``r`` becomes the ellipse ``c + M (r cos a, r sin a)``: semi-axes ``r * singular values``
  of ``M``, major-axis direction the first left singular vector (off-axis foreshortening follows gaze).
* The pupil is a disc of radius ``pupil_ratio * ri * pupil_scale`` in the iris plane, offset by
  ``pupil_offset`` from the iris centre; the published centre is the exact centre of its projected ellipse.
* The lids are curves in the eye's local frame (rotated by ``roll`` about the lid anchor, which is where the
  pupil sits at gaze 0): the upper lid follows vertical gaze, both close toward ``close_y`` as openness
  drops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.synth.nuisance import Tier

#: eyeball rotation radius to the iris plane, in iris radii (10.3 mm / 5.9 mm)
ROT_RADIUS_IRIS = 1.75


def _pm(rng: np.random.Generator, r: tuple[float, float]) -> float:
    """A value with magnitude in ``r`` and a random sign."""
    return float(rng.uniform(*r)) * (1.0 if rng.random() < 0.5 else -1.0)


@dataclass
class EyeModel:
    """Per-sequence eye, face and camera parameters (lengths in output px, angles in degrees)."""

    anchor: tuple[float, float]  # image of the pupil centre at gaze 0 (the lids' reference point)
    ri: float  # iris radius
    pupil_ratio: float  # pupil radius / iris radius at pupil_scale 1
    pupil_offset: tuple[float, float]  # pupil centre offset from the iris centre in the iris plane
    cam_yaw: float
    cam_pitch: float
    roll: float
    hw: float  # half width of the lid opening
    lid_dx: float  # lid opening centre offset along the eye axis
    corner_y: tuple[float, float]  # corner heights (local y) at the two ends
    upper_h: float  # upper lid apex height above the anchor at openness 1, iris radii
    lower_h: float  # lower lid apex below the anchor at openness 1, iris radii
    close_y: float  # where the lids meet, iris radii below the anchor
    lid_skew: float
    glints: np.ndarray  # (n, 2) glint offsets from the corneal apex image, px
    pupil_level: float
    iris_level: float
    sclera_level: float
    skin_level: float
    lash_level: float
    noise_sigma: float
    defocus_sigma: float
    exposure: float
    jpeg_quality: int | None
    vignette: float
    lighting: float
    gain_drift: float  # sd of the slow global gain variation
    reflection: float  # peak grey levels of the lens reflection on the cornea
    reflection_offset: tuple[float, float]  # its centre from the corneal apex image, px
    reflection_size: tuple[float, float]  # its half axes, px
    iris_contrast: float
    lowres: float
    makeup: float
    n_lashes: int
    lash_droop: float

    @classmethod
    def sample(cls, rng: np.random.Generator, tier: Tier, width: int, height: int) -> EyeModel:
        """Draw one eye for ``tier`` in a ``width`` x ``height`` frame."""
        size = min(width, height)
        k = size / 240.0
        ri = float(rng.uniform(*tier.iris_size)) * size
        off = tier.eye_offset
        anchor = (width / 2 - 0.5 + _pm(rng, off) * width, height / 2 - 0.5 + _pm(rng, off) * height)
        n_gl = int(rng.integers(tier.n_glints[0], tier.n_glints[1] + 1))
        ang0 = rng.uniform(0, 2 * math.pi)
        gang = ang0 + np.arange(n_gl) * (2 * math.pi / max(n_gl, 1)) + rng.uniform(-0.4, 0.4, n_gl)
        grad = rng.uniform(*tier.glint_radius, n_gl) * ri
        glints = np.stack([grad * np.cos(gang), grad * np.sin(gang)], axis=1).astype(np.float64)
        pupil_level = float(rng.uniform(*tier.pupil_level))
        iris_level = pupil_level + float(rng.uniform(*tier.pupil_iris_contrast))
        q = tier.jpeg_quality
        return cls(
            anchor=anchor,
            ri=ri,
            pupil_ratio=float(rng.uniform(0.27, 0.42)),
            pupil_offset=(float(rng.normal(0, 0.04)) * ri, float(rng.normal(0, 0.03)) * ri),
            cam_yaw=_pm(rng, tier.camera_offset_deg),
            cam_pitch=_pm(rng, tier.camera_offset_deg),
            roll=_pm(rng, tier.roll_deg),
            hw=float(rng.uniform(2.1, 2.6)) * ri,
            lid_dx=float(rng.uniform(-0.25, 0.25)) * ri,
            corner_y=(float(rng.uniform(-0.1, 0.35)) * ri, float(rng.uniform(-0.1, 0.35)) * ri),
            upper_h=float(rng.uniform(*tier.lid_height)),
            lower_h=float(rng.uniform(1.0, 1.25)),
            close_y=float(rng.uniform(0.45, 0.75)),
            lid_skew=float(rng.uniform(-0.25, 0.25)),
            glints=glints,
            pupil_level=pupil_level,
            iris_level=iris_level,
            sclera_level=float(rng.uniform(max(iris_level + 25, 140.0), 205.0)),
            skin_level=float(rng.uniform(175.0, 225.0)),
            lash_level=float(rng.uniform(20.0, 55.0)),
            noise_sigma=float(rng.uniform(*tier.noise_sigma)),
            defocus_sigma=float(rng.uniform(*tier.defocus_sigma)) * k,
            exposure=float(rng.uniform(*tier.exposure)),
            jpeg_quality=None if q is None else int(rng.integers(q[0], q[1] + 1)),
            vignette=float(rng.uniform(*tier.vignette)),
            lighting=float(rng.uniform(*tier.lighting)),
            gain_drift=float(rng.uniform(*tier.gain_drift)),
            reflection=float(rng.uniform(*tier.reflection)),
            reflection_offset=(float(rng.uniform(-0.6, 0.6)) * ri, float(rng.uniform(-0.6, 0.6)) * ri),
            reflection_size=(float(rng.uniform(0.25, 0.6)) * ri, float(rng.uniform(0.15, 0.45)) * ri),
            iris_contrast=float(rng.uniform(0.025, 0.08)),
            lowres=float(rng.uniform(*tier.lowres)),
            makeup=float(rng.uniform(*tier.makeup)),
            n_lashes=int(rng.integers(tier.lashes[0], tier.lashes[1] + 1)),
            lash_droop=float(rng.uniform(*tier.lash_droop)),
        )

    def validate(self) -> None:
        """Check every field's type and shape (after user overrides); ConfigError naming the field."""
        for name in self.__dataclass_fields__:
            v = getattr(self, name)
            if name == "glints":
                arr = np.asarray(v, dtype=float) if isinstance(v, (list, tuple, np.ndarray)) else None
                if arr is None or arr.ndim != 2 or arr.shape[1] != 2 or not np.isfinite(arr).all():
                    raise ConfigError(f"eye model: glints must be an (n, 2) array of finite offsets, got {v!r}")
                self.glints = arr
            elif name == "jpeg_quality":
                if v is not None and (not isinstance(v, (int, np.integer)) or not 1 <= v <= 100):
                    raise ConfigError(f"eye model: jpeg_quality must be None or 1..100, got {v!r}")
            elif name in ("n_lashes",):
                if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v <= 2000:
                    raise ConfigError(f"eye model: {name} must be an integer in [0, 2000], got {v!r}")
            elif isinstance(v, tuple) or name in ("anchor", "pupil_offset", "corner_y", "reflection_offset",
                                                   "reflection_size"):  # fmt: skip
                if not isinstance(v, (tuple, list)) or len(v) != 2 or not all(_finite(x) for x in v):
                    raise ConfigError(f"eye model: {name} must be a pair of finite numbers, got {v!r}")
            elif not _finite(v):
                raise ConfigError(f"eye model: {name} must be a finite number, got {v!r}")
        if self.ri <= 0 or self.hw <= 0:
            raise ConfigError(f"eye model: ri and hw must be > 0, got ri={self.ri!r}, hw={self.hw!r}")

    # ------------------------------------------------------------------ per-frame pose
    @property
    def rot_radius(self) -> float:
        return ROT_RADIUS_IRIS * self.ri

    def roll_matrix(self) -> np.ndarray:
        a = math.radians(self.roll)
        return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])

    def plane_map(self, yaw_deg: float, pitch_deg: float) -> tuple[np.ndarray, np.ndarray]:
        """(M, d): iris-plane -> image linear map and the iris-centre displacement from the rotation centre."""
        t, p = math.radians(yaw_deg + self.cam_yaw), math.radians(pitch_deg + self.cam_pitch)
        rm = self.roll_matrix()
        m = rm @ np.array([[math.cos(t), math.sin(t) * math.sin(p)], [0.0, math.cos(p)]])
        d = rm @ (self.rot_radius * np.array([math.sin(t) * math.cos(p), -math.sin(p)]))
        return m, d

    def rot_centre(self) -> np.ndarray:
        """Image of the eyeball rotation centre (so that the pupil sits at ``anchor`` at gaze 0)."""
        m, d = self.plane_map(0.0, 0.0)
        return np.asarray(self.anchor) - d - m @ np.asarray(self.pupil_offset)

    def lid_curves(self, openness: float, gaze_dy: float, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Local (x, y_upper, y_lower) of the lids at parameters ``t`` in [-1, 1] (corner to corner).

        ``gaze_dy`` is the pupil's local vertical displacement from the anchor (px, down +).
        """
        ri = self.ri
        x = self.lid_dx + self.hw * t
        corner = self.corner_y[0] + (self.corner_y[1] - self.corner_y[0]) * (t + 1) / 2
        arch = np.clip(1 - np.abs(t) ** 2.2, 0, 1) ** 0.75 * (1 + self.lid_skew * t)
        close = self.close_y * ri + 0.3 * gaze_dy
        up_open = -self.upper_h * ri + 0.75 * gaze_dy
        lo_open = self.lower_h * ri + 0.3 * max(gaze_dy, 0.0)
        o = min(1.0, max(0.0, openness))
        up_apex = close + (up_open - close) * o
        lo_apex = close + (lo_open - close) * o**0.35
        # the lids meet at the corners: blend the apex heights into the corner heights
        yu = corner * (1 - arch) + up_apex * arch
        yl = corner * (1 - arch) + lo_apex * arch
        yl = np.maximum(yl, yu)
        return x, yu, yl


def _finite(x: object) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, float, np.integer, np.floating)) and math.isfinite(x)


def ellipse_of(m: np.ndarray, centre: np.ndarray, radius: float) -> tuple[float, float, float, float, float]:
    """OpenCV RotatedRect ``(cx, cy, w, h, angle_deg)`` of the image of a circle of ``radius`` through ``m``.

    ``w`` is the full major axis, ``h`` the full minor axis (``w >= h``), ``angle_deg`` in [0, 180) the
    direction of the ``w`` axis measured from +x toward +y (clockwise on screen, y down): the convention of
    ``cv2.ellipse(img, ((cx, cy), (w, h), angle), ...)`` and ``cv2.fitEllipse``.
    """
    u, s, _ = np.linalg.svd(m)
    ang = math.degrees(math.atan2(u[1, 0], u[0, 0])) % 180.0
    return float(centre[0]), float(centre[1]), float(2 * radius * s[0]), float(2 * radius * s[1]), ang


__all__ = ["ROT_RADIUS_IRIS", "EyeModel", "ellipse_of"]
