"""Per-camera preprocessing: ROI crop + rotation (+ flips + resize) in one affine warp.

Coordinates follow the pixel-centre convention (centre of the top-left pixel = (0, 0)). The ROI
``(x, y, w, h)`` is in input pixels; the output is the ROI (or the whole frame) rotated by ``rotation``
degrees counter-clockwise about its centre, flipped, and scaled to ``output_size`` — all folded into a
single ``cv2.warpAffine`` whose uncovered area is filled with the frame's mean grey (white or black
would fool pupil thresholds). Without rotation, the cheaper crop (a view) + ``cv2.flip`` + ``cv2.resize``
path is used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from pyacq_etvr.core.errors import ConfigError


def check_roi(roi: object) -> tuple[int, int, int, int] | None:
    """Validate the form of ``roi`` = (x, y, w, h) in pixels (ints, x/y >= 0, w/h > 0)."""
    if roi is None:
        return None
    if isinstance(roi, (str, bytes)) or not isinstance(roi, Sequence) or len(roi) != 4:
        raise ConfigError(f"roi must be None or (x, y, width, height) in pixels, got {roi!r}")
    vals = []
    for v in roi:
        if (
            isinstance(v, bool)
            or not isinstance(v, (int, np.integer))
            and not (isinstance(v, float) and v.is_integer())
        ):
            raise ConfigError(f"roi values must be integers, got {roi!r}")
        vals.append(int(v))
    x, y, w, h = vals
    if x < 0 or y < 0 or w <= 0 or h <= 0:
        raise ConfigError(f"roi needs x >= 0, y >= 0, width > 0, height > 0, got {roi!r}")
    return x, y, w, h


def check_size(key: str, size: object) -> tuple[int, int] | None:
    """Validate a (width, height) pair of positive ints."""
    if size is None:
        return None
    if isinstance(size, (str, bytes)) or not isinstance(size, Sequence) or len(size) != 2:
        raise ConfigError(f"{key} must be None or (width, height), got {size!r}")
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0 for v in size):
        raise ConfigError(f"{key} must be two positive integers, got {size!r}")
    return int(size[0]), int(size[1])


def check_rotation(rotation: object) -> float:
    """Rotation in degrees counter-clockwise, 0 <= rotation <= 360."""
    if isinstance(rotation, bool) or not isinstance(rotation, (int, float, np.integer, np.floating)):
        raise ConfigError(f"rotation must be a number of degrees, got {rotation!r}")
    r = float(rotation)
    if not math.isfinite(r) or r < 0 or r > 360:
        raise ConfigError(f"rotation must be in [0, 360] degrees, got {rotation!r}")
    return r % 360.0


class Preprocessor:
    """Apply ROI/rotation/flips/resize to mono frames of a fixed input size ``(in_width, in_height)``.

    Frames of another size are first resized to the input size (counted in :attr:`resized`).
    Bad settings raise :class:`ConfigError` naming the key (``roi`` outside the frame, ...).
    """

    def __init__(
        self,
        in_width: int,
        in_height: int,
        rotation: float = 0.0,
        roi: Sequence[int] | None = None,
        flip_h: bool = False,
        flip_v: bool = False,
        output_size: Sequence[int] | None = None,
    ) -> None:
        self.in_size = (int(in_width), int(in_height))
        self.rotation = check_rotation(rotation)
        self.roi = check_roi(roi)
        self.flip_h, self.flip_v = bool(flip_h), bool(flip_v)
        if self.roi is not None:
            x, y, w, h = self.roi
            if x + w > in_width or y + h > in_height:
                raise ConfigError(f"roi {self.roi} does not fit in the {in_width}x{in_height} frame")
        rw, rh = (self.roi[2], self.roi[3]) if self.roi else self.in_size
        self.out_size = check_size("output_size", output_size) or (rw, rh)
        self.resized = 0
        self.matrix = self._matrix()
        self.identity = self.rotation == 0 and self.roi is None and not (flip_h or flip_v) and self.out_size == (rw, rh)

    def _matrix(self) -> np.ndarray:
        """2x3 affine map input → output pixel centres: scale · flip · rotate about the ROI centre."""
        x, y, w, h = self.roi if self.roi else (0, 0, *self.in_size)
        ow, oh = self.out_size
        cx, cy = x + (w - 1) / 2.0, y + (h - 1) / 2.0
        a = math.radians(self.rotation)
        rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
        flip = np.diag([-1.0 if self.flip_h else 1.0, -1.0 if self.flip_v else 1.0])
        scale = np.diag([ow / w, oh / h])
        lin = scale @ flip @ rot
        t = np.array([(ow - 1) / 2.0, (oh - 1) / 2.0]) - lin @ np.array([cx, cy])
        return np.hstack([lin, t[:, None]])

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        import cv2

        if (frame.shape[1], frame.shape[0]) != self.in_size:
            frame = cv2.resize(frame, self.in_size, interpolation=cv2.INTER_AREA)
            self.resized += 1
        if self.identity:
            return frame
        if self.rotation:
            fill = cv2.mean(frame)[0]
            return cv2.warpAffine(
                frame,
                self.matrix,
                self.out_size,
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=fill,
            )
        if self.roi is not None:
            x, y, w, h = self.roi
            frame = frame[y : y + h, x : x + w]
        if self.flip_h or self.flip_v:
            frame = cv2.flip(frame, -1 if (self.flip_h and self.flip_v) else (1 if self.flip_h else 0))
        if (frame.shape[1], frame.shape[0]) != self.out_size:
            shrink = self.out_size[0] < frame.shape[1]
            frame = cv2.resize(frame, self.out_size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        return frame

    def reduction(self, factors: tuple[int, ...] = (8, 4, 2)) -> int:
        """Largest JPEG decode reduction (1/2, 1/4, 1/8 in libjpeg's scaled IDCT) that loses nothing we output.

        Allowed when the output is at least that many times smaller than the ROI in both directions and the
        frame and ROI are divisible by it (so the geometry maps exactly); 1 otherwise.
        """
        w, h = self.in_size
        x, y, rw, rh = self.roi if self.roi else (0, 0, w, h)
        ow, oh = self.out_size
        for r in factors:
            if any(v % r for v in (w, h, x, y, rw, rh)):
                continue
            if ow * r <= rw and oh * r <= rh:
                return r
        return 1

    def reduced(self, factor: int) -> Preprocessor:
        """The same transform for frames decoded at 1/``factor`` scale (see :meth:`reduction`)."""
        if factor == 1:
            return self
        w, h = self.in_size
        roi = None if self.roi is None else tuple(v // factor for v in self.roi)
        return Preprocessor(w // factor, h // factor, self.rotation, roi, self.flip_h, self.flip_v, self.out_size)
