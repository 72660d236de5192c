"""``SyntheticEye``: a frame-by-frame synthetic near-IR eye camera with exact ground truth.

Contract
--------
``SyntheticEye(width=240, height=240, fps=60.0, tier="clean", seed=0, jpeg_quality=None, supersample=1,
overrides=None)``

* ``next()`` -> ``(frame, truth)``: ``frame`` a new C-contiguous ``(height, width)`` uint8 array, ``truth`` an
  ``np.void`` of :data:`pyacq_etvr.eyetypes.TRUTH_DTYPE` (``index`` and ``timestamp_ns`` left 0 for the caller).
* ``next_into(out)`` renders into a preallocated ``(height, width)`` uint8 C-contiguous array, returns ``truth``.
* ``reset(seed=None)`` restarts the sequence: same seed (default) = the very same frames again; a new seed =
  a new eye, face, camera placement and trajectory.
* ``skip(n)`` advances the trajectory ``n`` frames without drawing (cheap).
* ``info`` holds extra truth of the last frame: ``visible_fraction`` (share of the pupil's area not hidden by
  the lids or the frame edge), ``blinking``, ``pupil_radius`` (px, in the iris plane), ``pupil_centre`` and
  ``iris_centre`` (px, also while hidden), ``frame`` (frame number since the last reset).

Ground truth (all in output px, pixel-centre convention: the centre of the top-left pixel is (0, 0), y down):

* ``x, y``: centre of the pupil's projected ellipse (exact: orthographic projection of a disc); NaN when not
  visible.
* ``ellipse``: ``(cx, cy, w, h, angle_deg)`` as an OpenCV RotatedRect: ``w`` = full major axis, ``h`` = full
  minor axis (``w >= h``), ``angle_deg`` in [0, 180) is the direction of the ``w`` axis from +x toward +y
  (clockwise on screen). ``cv2.ellipse(img, ((cx, cy), (w, h), angle), ...)`` draws the pupil outline.
* ``visible``: ``visible_fraction >= 0.5``; blinks (lids shut) give ``visible = False``.
* ``openness``: lid aperture relative to this eye's fully open aperture (0 shut .. 1 open).
* ``gaze_x, gaze_y``: eye rotation (yaw, pitch) / 30 degrees, clipped to [-1, 1]: +x turns the pupil toward
  the image's right, +y toward its top (in the eye's frame, which the camera roll turns by at most 6 degrees
  on ``clean``, 35 on ``hard``); defined even during blinks. The pupil's image position is a smooth,
  monotonic but not linear function of gaze (``sin`` of the angle plus the camera's offset).

Settings: ``tier`` a name in :data:`~pyacq_etvr.synth.nuisance.TIERS` or a ``Tier``; ``jpeg_quality`` None =
the tier's choice, 1..100 = force a JPEG round trip at that quality, 0 = no JPEG; ``supersample`` renders at
that factor and area-downsamples (the data-set writer uses 4); ``overrides`` replaces fields of the sampled
:class:`~pyacq_etvr.synth.model.EyeModel` (e.g. ``{"glints": np.empty((0, 2)), "cam_yaw": 30.0}``) for
controlled experiments. Bad values raise ``ConfigError``.
Threading: one instance is not thread-safe; use one per thread. Cost on one core (``bench_render``): about
0.6 ms per 240x240 frame on ``clean``, 1-2 ms on the other tiers, ~3 ms at 640x480 ``clean``; ``reset`` builds
the textures of a new eye (~20-40 ms at 240x240).
"""

from __future__ import annotations

import math
import time

import numpy as np

from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.eyetypes import TRUTH_DTYPE
from pyacq_etvr.synth.model import EyeModel, ellipse_of
from pyacq_etvr.synth.nuisance import Tier, get_tier
from pyacq_etvr.synth.render import Renderer
from pyacq_etvr.synth.trajectory import GazeTrajectory

#: a pupil is labelled visible when at least this share of its area is uncovered
VISIBLE_MIN_FRACTION = 0.5


def _check_int(name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= int(value) <= hi:
        raise ConfigError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    return int(value)


class SyntheticEye:
    """Synthetic near-IR eye camera with ground truth (see the module docstring for the contract)."""

    def __init__(
        self,
        width: int = 240,
        height: int = 240,
        fps: float = 60.0,
        tier: str | Tier = "clean",
        seed: int = 0,
        jpeg_quality: int | None = None,
        supersample: int = 1,
        overrides: dict[str, object] | None = None,
    ) -> None:
        self.width = _check_int("width", width, 32, 4096)
        self.height = _check_int("height", height, 32, 4096)
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
            raise ConfigError(f"fps must be a positive finite number, got {fps!r}")
        self.fps = float(fps)
        self.tier = get_tier(tier)
        if jpeg_quality is not None:
            jpeg_quality = _check_int("jpeg_quality", jpeg_quality, 0, 100)
        self.jpeg_quality = jpeg_quality
        self.supersample = _check_int("supersample", supersample, 1, 8)
        self.seed = _check_int("seed", seed, 0, 2**63 - 1)
        self.overrides = dict(overrides or {})
        known = set(EyeModel.__dataclass_fields__)
        unknown = sorted(set(self.overrides) - known)
        if unknown:
            raise ConfigError(f"unknown eye-model override(s) {unknown}; known: {', '.join(sorted(known))}")
        self.info: dict[str, object] = {}
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        """Restart the sequence (the same frames again), or start a new eye with ``seed``."""
        if seed is not None:
            self.seed = _check_int("seed", seed, 0, 2**63 - 1)
        ss = np.random.SeedSequence(self.seed)
        model_rng, tex_rng, traj_rng, frame_rng = (np.random.default_rng(s) for s in ss.spawn(4))
        self.model = EyeModel.sample(model_rng, self.tier, self.width, self.height)
        if self.jpeg_quality is not None:
            self.model.jpeg_quality = self.jpeg_quality or None
        for key, value in self.overrides.items():
            setattr(self.model, key, value)
        self.model.validate()
        try:
            self.renderer = Renderer(self.model, self.width, self.height, self.supersample, tex_rng)
            self.trajectory = GazeTrajectory(self.fps, traj_rng, self.tier)
            self.frame_rng = frame_rng
            self.frame_count = 0
            self._prev_pupil = None
            self._pose = self._compute_pose()
        except (TypeError, ValueError, IndexError) as exc:
            if not self.overrides:
                raise
            raise ConfigError(f"bad eye-model override(s) {sorted(self.overrides)}: {exc}") from exc

    # ------------------------------------------------------------------ pose
    def _compute_pose(self) -> tuple:
        tr, mod = self.trajectory, self.model
        m, d = mod.plane_map(tr.yaw, tr.pitch)
        iris_c = self.renderer.c_rot + d
        pupil_c = iris_c + m @ np.asarray(mod.pupil_offset)
        rp = min(0.7, max(0.12, mod.pupil_ratio * tr.pupil_scale)) * mod.ri
        apex = self.renderer.c_rot + (5.7 / 10.3) * d  # corneal centre of curvature: glints move ~55 %
        local = self.renderer.roll.T @ (pupil_c - np.asarray(mod.anchor))
        return m, iris_c, pupil_c, rp, apex, float(local[1])

    def skip(self, n: int) -> None:
        """Advance the trajectory ``n`` frames without drawing them."""
        for _ in range(_check_int("n", n, 0, 2**31)):
            self._prev_pupil = self._pose[2]
            self.trajectory.step()
            self._pose = self._compute_pose()
            self.frame_count += 1

    # ------------------------------------------------------------------ frames
    def next(self) -> tuple[np.ndarray, np.void]:
        """Render the next frame into a new array; return ``(frame, truth)``."""
        out = np.empty((self.height, self.width), np.uint8)
        return out, self.next_into(out)

    def next_into(self, out: np.ndarray) -> np.void:
        """Render the next frame into ``out`` ((height, width) uint8, C-contiguous); return the truth."""
        if (
            not isinstance(out, np.ndarray)
            or out.dtype != np.uint8
            or out.shape != (self.height, self.width)
            or not out.flags.c_contiguous
            or not out.flags.writeable
        ):
            got = f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}"
            raise ConfigError(
                f"out must be a writeable C-contiguous uint8 array of shape {(self.height, self.width)}, got {got}"
            )
        self.skip(1)
        return self._draw(out)

    def _draw(self, out: np.ndarray) -> np.void:
        r, tr = self.renderer, self.trajectory
        m, iris_c, pupil_c, rp, apex, gaze_dy = self._pose
        r.prepare_lids(tr.openness, gaze_dy)
        r.begin_eye()
        frac = r.draw_iris(m, iris_c, pupil_c, rp)
        r.draw_reflection(apex)
        r.draw_glints(apex, iris_c, m)
        prev = pupil_c if self._prev_pupil is None else self._prev_pupil
        r.motion_blur(pupil_c - prev, iris_c)
        r.composite_lids()
        r.draw_lashes()
        r.post(out, self.frame_rng)
        visible = frac >= VISIBLE_MIN_FRACTION
        truth = np.zeros(1, TRUTH_DTYPE)[0]
        truth["visible"] = visible
        if visible:
            truth["x"], truth["y"] = pupil_c
            truth["ellipse"] = ellipse_of(m, pupil_c, rp)
        else:
            truth["x"] = truth["y"] = np.nan
            truth["ellipse"] = np.nan
        truth["openness"] = tr.openness
        truth["gaze_x"] = min(1.0, max(-1.0, tr.gaze_x))
        truth["gaze_y"] = min(1.0, max(-1.0, tr.gaze_y))
        self.info = {
            "visible_fraction": frac,
            "blinking": tr.blinking,
            "pupil_radius": rp,
            "iris_centre": (float(iris_c[0]), float(iris_c[1])),
            "pupil_centre": (float(pupil_c[0]), float(pupil_c[1])),
            "frame": self.frame_count - 1,
        }
        return truth


def bench_render(
    width: int = 240, height: int = 240, n: int = 500, tier: str | Tier = "clean", jpeg_quality: int | None = None
) -> dict[str, float]:
    """Render ``n`` frames with :meth:`SyntheticEye.next_into` on one thread (OpenCV limited to 1 thread).

    Returns ``fps`` (wall clock), ``cpu_ms_per_frame``, ``wall_ms_per_frame`` and ``n``.
    """
    import cv2

    n = _check_int("n", n, 1, 10**7)
    eye = SyntheticEye(width, height, tier=tier, seed=1, jpeg_quality=jpeg_quality)
    out = np.empty((eye.height, eye.width), np.uint8)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # the target is per core: keep OpenCV from borrowing the other cores
    try:
        for _ in range(min(20, n)):
            eye.next_into(out)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            eye.next_into(out)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        cv2.setNumThreads(threads)
    return {"fps": n / wall, "cpu_ms_per_frame": 1e3 * cpu / n, "wall_ms_per_frame": 1e3 * wall / n, "n": n}


__all__ = ["VISIBLE_MIN_FRACTION", "SyntheticEye", "bench_render"]
