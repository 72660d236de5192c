"""Eye-tracking nodes, re-exported lazily so that ``import pyacq_etvr.nodes`` loads no OpenCV,
pyserial or python-osc: each name imports its module on first use.

* :class:`Camera` — every eye camera transport (synthetic, video file, UVC, OpenIris HTTP MJPEG,
  ETVR serial) with watchdog, reconnect and preprocessing (:mod:`pyacq_etvr.nodes.camera`);
* :class:`PupilDetector` — pupil detection on an image stream (:mod:`pyacq_etvr.nodes.pupil`).
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Camera": "pyacq_etvr.nodes.camera.node",
    "CameraState": "pyacq_etvr.nodes.camera.node",
    "PupilDetector": "pyacq_etvr.nodes.pupil",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pyacq_etvr.nodes' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
