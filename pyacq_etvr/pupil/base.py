"""Detector base class, result type and input validation shared by every pupil detector.

Input contract of :meth:`Detector.detect` (the same for every detector):

* a 2-D ``uint8`` array (grey levels), any size; 32x32 to 640x480 is the supported range;
* a 3-D ``uint8`` array with 3 (BGR) or 4 (BGRA) channels is converted to grey first;
* non-contiguous views (crops, flips, strided slices) are accepted (copied once to contiguous memory);
* an image smaller than :data:`MIN_SIZE` pixels on a side, or without contrast (constant, all black or
  all white), gives a ``found=False`` result with confidence 0 -- not an error;
* anything else raises :class:`~pyacq_etvr.core.errors.ImageError` with a message that says what was
  expected: not an array, an empty array, another number of dimensions or channels, a dtype other than
  uint8 (float images, NaN included: scale to 0..255 and convert yourself, we do not guess the range).

OpenCV is never called on an unvalidated array, so no ``cv2.error`` escapes from a detector.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from pyacq_etvr.core.errors import ImageError

#: Smallest side (px) on which a detector runs; smaller images give ``found=False``.
MIN_SIZE = 16

#: Minimum grey-level range (max - min) of an image worth searching; below it: ``found=False``.
MIN_CONTRAST = 8

Ellipse = tuple[float, float, float, float, float]


@dataclass(frozen=True, slots=True)
class PupilResult:
    """One detection. Coordinates use the pixel-centre convention (centre of the top-left pixel = (0, 0)).

    ``x``/``y`` are NaN and ``ellipse`` is None when ``found`` is False. ``confidence`` is in [0, 1] and
    calibrated on labelled data (higher means more often within a few pixels of the truth).
    ``ellipse`` is (cx, cy, width, height, angle_deg) with full axis lengths, OpenCV's ``RotatedRect``
    convention. ``openness`` is 0 (closed) .. 1 (open), or None if the detector does not estimate it.
    """

    found: bool
    x: float
    y: float
    confidence: float
    ellipse: Ellipse | None = None
    openness: float | None = None

    @classmethod
    def not_found(cls, openness: float | None = None) -> PupilResult:
        """A result with no pupil (confidence 0)."""
        return cls(False, math.nan, math.nan, 0.0, None, openness)

    def rescaled(self, sx: float, sy: float, dx: float = 0.0, dy: float = 0.0) -> PupilResult:
        """This result, found on a frame resized by ``sx`` x ``sy`` (``cv2.resize``) from a crop whose top-left
        pixel is (``dx``, ``dy``) of the original frame, in the original frame.

        Pixel centres map to pixel centres (``x = (x' + 0.5) / sx - 0.5 + dx``); the axes are divided by the
        mean scale (a resize to whole pixels scales both sides alike to within one pixel)."""
        if not self.found:
            return self
        x, y = (self.x + 0.5) / sx - 0.5 + dx, (self.y + 0.5) / sy - 0.5 + dy
        ellipse = None
        if self.ellipse is not None:
            cx, cy, ew, eh, angle = self.ellipse
            s = 0.5 * (sx + sy)
            ellipse = ((cx + 0.5) / sx - 0.5 + dx, (cy + 0.5) / sy - 0.5 + dy, ew / s, eh / s, angle)
        return PupilResult(True, x, y, self.confidence, ellipse, self.openness)


def as_gray(image: Any) -> np.ndarray:
    """Validate ``image`` and return it as a C-contiguous 2-D uint8 array (see the module docstring).

    Raises :class:`ImageError` on an unusable input. Returns the same object when nothing needs converting.
    """
    if not isinstance(image, np.ndarray):
        raise ImageError(f"expected a numpy array (H, W) of uint8, got {type(image).__name__}")
    if image.size == 0:
        raise ImageError(f"empty image (shape {image.shape})")
    if image.dtype != np.uint8:
        if image.dtype.kind == "f" and not np.isfinite(image).all():
            raise ImageError(f"image of {image.dtype} contains NaN or infinity; expected uint8 grey levels")
        raise ImageError(
            f"expected a uint8 image, got {image.dtype}: scale it to 0..255 and convert "
            "(e.g. np.clip(img, 0, 255).astype(np.uint8)); the detector does not guess the range"
        )
    if image.ndim == 3:
        channels = image.shape[2]
        if channels == 1:
            image = image[:, :, 0]
        elif channels in (3, 4):
            import cv2

            code = cv2.COLOR_BGR2GRAY if channels == 3 else cv2.COLOR_BGRA2GRAY
            return cv2.cvtColor(np.ascontiguousarray(image), code)
        else:
            raise ImageError(f"expected 1, 3 or 4 channels, got shape {image.shape}")
    elif image.ndim != 2:
        raise ImageError(f"expected a 2-D grey image (H, W) or (H, W, 3), got shape {image.shape}")
    if not image.flags.c_contiguous:
        image = np.ascontiguousarray(image)
    return image


class Detector:
    """Base class of pupil detectors: validates the input, then calls :meth:`_detect`.

    Subclasses set :attr:`name`, take their parameters as keyword arguments in ``__init__`` (each with a
    default, validated there with :class:`~pyacq_etvr.core.errors.ConfigError`), and implement
    :meth:`_detect` on a validated contiguous 2-D uint8 image. Detectors are not thread-safe: use one per
    thread (they keep scratch buffers and tracking state).
    """

    name: ClassVar[str] = ""
    _params: dict[str, Any]

    def detect(self, gray: Any) -> PupilResult:
        """Detect the pupil in one frame. See the module docstring for the input contract."""
        img = as_gray(gray)
        h, w = img.shape
        if h < MIN_SIZE or w < MIN_SIZE:
            return PupilResult.not_found()
        return self._detect(img)

    def _detect(self, gray: np.ndarray) -> PupilResult:
        """Detect on a validated C-contiguous 2-D uint8 image of at least MIN_SIZE x MIN_SIZE."""
        raise NotImplementedError(f"{type(self).__name__} must implement _detect()")

    def reset(self) -> None:
        """Forget any tracking state (call between unrelated sequences). Stateless detectors do nothing."""

    def params(self) -> dict[str, Any]:
        """The detector's parameters (constructor keyword arguments) and their current values."""
        return dict(self._params)


def check_param(name: str, value: Any, lo: float, hi: float, kind: type = float) -> Any:
    """Validate a numeric detector parameter; raise ConfigError naming it when invalid."""
    from pyacq_etvr.core.errors import ConfigError

    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise ConfigError(f"parameter {name!r} must be a {kind.__name__}, got {value!r}")
    if not (lo <= value <= hi) or (isinstance(value, float) and not math.isfinite(value)):
        raise ConfigError(f"parameter {name!r} must be in [{lo}, {hi}], got {value!r}")
    return kind(value)
