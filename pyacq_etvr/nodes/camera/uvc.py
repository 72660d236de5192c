"""UVC webcam through ``cv2.VideoCapture`` (``0``, ``1``, ``/dev/video2``). New OpenIris firmware shows up
as a 240x240 MJPEG UVC camera at 60 fps; we request MJPG, the configured size and fps, and convert to mono.

``cv2.VideoCapture.read`` blocks inside OpenCV (the V4L2 backend gives up after ~10 s), so a frozen
camera is noticed by the node's watchdog once that call returns.
"""

from __future__ import annotations

import time

import numpy as np

from pyacq_etvr.nodes.camera.base import FrameSource, SourceDisconnected


class UvcSource(FrameSource):
    """OpenCV VideoCapture camera; timestamps are the monotonic time ``read`` returned the frame."""

    kind = "uvc"

    def __init__(
        self, device: int | str, width: int | None = None, height: int | None = None, fps: float | None = None
    ) -> None:
        super().__init__()
        self.device = device
        self.width, self.height, self.fps = width, height, fps
        self.cap = None

    def describe(self) -> str:
        return f"uvc {self.device}"

    def open(self, timeout: float) -> None:
        import cv2

        self.close()
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(timeout * 1000), cv2.CAP_PROP_READ_TIMEOUT_MSEC, 2000]
        cap = cv2.VideoCapture(self.device, cv2.CAP_ANY, params)
        if not cap.isOpened():
            cap.release()
            raise SourceDisconnected(f"cannot open camera {self.device!r}")
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        if self.width and self.height:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        if self.fps:
            cap.set(cv2.CAP_PROP_FPS, self.fps)
        self.cap = cap

    def read(self, timeout: float) -> np.ndarray | None:
        import cv2

        if self.cap is None:
            raise SourceDisconnected("not open")
        ok, frame = self.cap.read()
        if not ok or frame is None:
            raise SourceDisconnected(f"camera {self.device!r} returned no frame")
        self.received += 1
        self.decoded += 1
        self.timestamp_ns = time.monotonic_ns()
        if frame.ndim == 3:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        return frame

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None
