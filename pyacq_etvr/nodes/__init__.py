"""Eye-tracking nodes, re-exported lazily so that ``import pyacq_etvr.nodes`` loads no OpenCV,
pyserial or python-osc: each name imports its module on first use.

* :class:`Camera` — every eye camera transport (synthetic, video file, UVC, OpenIris HTTP MJPEG,
  ETVR serial) with watchdog, reconnect and preprocessing (:mod:`pyacq_etvr.nodes.camera`);
* :class:`PupilDetector` — pupil detection on an image stream (:mod:`pyacq_etvr.nodes.pupil`);
* gaze filters (:class:`OneEuroFilter`, :class:`MovingAverageFilter`, :class:`OutlierFilter`,
  :class:`BlinkHoldFilter`, :class:`FilterChain`), :class:`Calibration`, :class:`EyeMerge`,
  :class:`OscSender`, :class:`RawRecorder` and :class:`ReplaySource`.
"""

from __future__ import annotations

from pyacq_etvr._lazy import lazy_exports

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Camera": "pyacq_etvr.nodes.camera.node",
    "CameraState": "pyacq_etvr.nodes.camera.node",
    "PupilDetector": "pyacq_etvr.nodes.pupil",
    "OneEuroFilter": "pyacq_etvr.nodes.filters.nodes",
    "MovingAverageFilter": "pyacq_etvr.nodes.filters.nodes",
    "OutlierFilter": "pyacq_etvr.nodes.filters.nodes",
    "BlinkHoldFilter": "pyacq_etvr.nodes.filters.nodes",
    "FilterChain": "pyacq_etvr.nodes.filters.nodes",
    "Calibration": "pyacq_etvr.nodes.calibration",
    "EyeMerge": "pyacq_etvr.nodes.merge",
    "OscSender": "pyacq_etvr.nodes.osc",
    "RawRecorder": "pyacq_etvr.nodes.recorder",
    "ReplaySource": "pyacq_etvr.nodes.recorder",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
