"""Camera nodes: every way an eye camera reaches us (synthetic, video file, UVC, OpenIris HTTP MJPEG,
ETVR serial), with a frame-age watchdog, reconnect with backoff and preprocessing.

Import is lazy: ``Camera`` (the node) loads the core stream machinery; the transports load OpenCV /
pyserial only when used.
"""

from __future__ import annotations

from pyacq_etvr._lazy import lazy_exports

_EXPORTS = {
    "Camera": "pyacq_etvr.nodes.camera.node",
    "CameraState": "pyacq_etvr.nodes.camera.node",
    "parse_source": "pyacq_etvr.nodes.camera.source",
    "SourceSpec": "pyacq_etvr.nodes.camera.source",
    "Preprocessor": "pyacq_etvr.nodes.camera.preprocess",
    "MjpegSource": "pyacq_etvr.nodes.camera.mjpeg",
    "MultipartParser": "pyacq_etvr.nodes.camera.mjpeg",
    "SerialSource": "pyacq_etvr.nodes.camera.serial",
    "EtvrFrameParser": "pyacq_etvr.nodes.camera.serial",
    "VideoFileSource": "pyacq_etvr.nodes.camera.video",
    "UvcSource": "pyacq_etvr.nodes.camera.uvc",
    "SyntheticSource": "pyacq_etvr.nodes.camera.synthetic",
    "FrameSource": "pyacq_etvr.nodes.camera.base",
    "SourceDisconnected": "pyacq_etvr.nodes.camera.base",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
