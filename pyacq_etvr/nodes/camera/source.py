"""Source strings as users write them → which transport serves them.

=============================================  ===========  =========================================
source                                          kind         transport
=============================================  ===========  =========================================
``'synthetic'``                                 synthetic    :class:`~.synthetic.SyntheticSource`
``0``, ``'1'``, ``'/dev/video2'``               uvc          :class:`~.uvc.UvcSource` (OpenCV)
``'http://openiristracker.local/'``             http         :class:`~.mjpeg.MjpegSource`
``COM3``, ``/dev/ttyACM0``, ``/dev/serial/by-id/...``, ``/dev/pts/3``, ``/dev/cu.usbmodem1``  serial
``'eye.mp4'``, ``'eye.avi'`` (an existing file)  video        :class:`~.video.VideoFileSource`
=============================================  ===========  =========================================

Anything else raises :class:`ConfigError` naming ``source``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from pyacq_etvr.core.errors import ConfigError

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mjpeg", ".mjpg", ".mpg", ".mpeg", ".wmv")
_SERIAL = re.compile(r"^(COM\d+|/dev/tty\S+|/dev/pts/\d+|/dev/cu\.\S+|/dev/serial/\S+)$", re.IGNORECASE)
_UVC_PATH = re.compile(r"^/dev/video\d+$")


@dataclass(frozen=True)
class SourceSpec:
    """A parsed source: ``kind`` in synthetic/uvc/http/serial/video and its ``target``."""

    kind: str
    target: str | int | None


def parse_source(source: object) -> SourceSpec:
    """Classify a user source string (see the module table); raise :class:`ConfigError` if unknown."""
    if isinstance(source, bool):
        raise ConfigError(f"source must be a camera index, path, URL or 'synthetic', got {source!r}")
    if isinstance(source, int):
        if source < 0:
            raise ConfigError(f"source camera index must be >= 0, got {source}")
        return SourceSpec("uvc", source)
    if not isinstance(source, (str, os.PathLike)):
        raise ConfigError(f"source must be a string, a path or a camera index, got {type(source).__name__}")
    text = os.fspath(source).strip()
    if not text:
        raise ConfigError("source is empty")
    if text.lower() == "synthetic":
        return SourceSpec("synthetic", None)
    if text.isdigit():
        return SourceSpec("uvc", int(text))
    if _UVC_PATH.match(text):
        return SourceSpec("uvc", text)
    lower = text.lower()
    if lower.startswith(("http://", "https://")):
        from pyacq_etvr.nodes.camera.mjpeg import parse_http_url

        try:
            parse_http_url(text)
        except ValueError as exc:
            raise ConfigError(f"source {text!r}: {exc}") from None
        return SourceSpec("http", text)
    if _SERIAL.match(text):
        return SourceSpec("serial", text)
    if lower.endswith(VIDEO_EXTENSIONS):
        if not os.path.isfile(text):
            raise ConfigError(f"source video file {text!r} does not exist")
        return SourceSpec("video", os.path.abspath(text))
    if os.path.isfile(text):
        raise ConfigError(f"source {text!r} is a file without a known video extension {VIDEO_EXTENSIONS}")
    raise ConfigError(
        f"source {text!r} is not 'synthetic', a camera index or /dev/videoN, an http:// URL, "
        "a serial port (COMn, /dev/tty*, /dev/serial/...) or a video file"
    )
