"""Pupil detectors with a calibrated confidence and an eye-openness estimate.

::

    from pyacq_etvr.pupil import create_detector, list_detectors
    det = create_detector("default")      # or "hsf", "blob", "ransac", "hsrac"
    res = det.detect(gray)                # 2-D uint8 (3-channel is converted); see base.as_gray
    res.found, res.x, res.y, res.confidence, res.ellipse, res.openness
    det.reset()                           # between unrelated sequences

Importing this package loads numpy only; OpenCV is imported on the first detection.
"""

from __future__ import annotations

import importlib
from typing import Any

from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.pupil.base import Detector, PupilResult, as_gray

# name -> (module, class, one-line description)
_DETECTORS: dict[str, tuple[str, str, str]] = {
    "default": ("pyacq_etvr.pupil.default", "DefaultDetector", "HSF candidates + edge rays + RANSAC ellipse, tracking"),
    "hsf": ("pyacq_etvr.pupil.hsf", "HSFDetector", "Haar surround feature + dark-blob refinement"),
    "blob": ("pyacq_etvr.pupil.blob", "BlobDetector", "threshold + contours, most pupil-like blob"),
    "ransac": ("pyacq_etvr.pupil.ransac", "RansacDetector", "threshold blob edge points + RANSAC ellipse"),
    "hsrac": ("pyacq_etvr.pupil.hsrac", "HsracDetector", "HSF seed + RANSAC ellipse on edges in a crop"),
}


def list_detectors() -> list[str]:
    """Names accepted by :func:`create_detector`, ``"default"`` first."""
    return list(_DETECTORS)


def describe_detectors() -> dict[str, str]:
    """Name -> one-line description of every detector."""
    return {k: v[2] for k, v in _DETECTORS.items()}


def detector_class(name: str) -> type[Detector]:
    """The class implementing detector ``name`` (raises ConfigError for an unknown name)."""
    if not isinstance(name, str) or name not in _DETECTORS:
        raise ConfigError(f"unknown pupil detector {name!r}; choose from {', '.join(_DETECTORS)}")
    module, cls, _ = _DETECTORS[name]
    return getattr(importlib.import_module(module), cls)


def create_detector(name: str = "default", **params: Any) -> Detector:
    """Create detector ``name`` with keyword parameters (see each class's docstring for the list).

    Unknown names, unknown parameters and out-of-range values raise :class:`ConfigError`.
    """
    cls = detector_class(name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise ConfigError(f"bad parameters for pupil detector {name!r}: {exc}") from None


__all__ = ["Detector", "PupilResult", "as_gray", "create_detector", "describe_detectors", "list_detectors"]
