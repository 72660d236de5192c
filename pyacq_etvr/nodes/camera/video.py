"""Video-file camera: decodes a file with OpenCV, converts to mono, loops at the end, and paces frames at
the file's own fps (``realtime=True``) or delivers them as fast as they decode (``realtime=False``)."""

from __future__ import annotations

import math
import time

import numpy as np

from pyacq_etvr.nodes.camera.base import FrameSource, SourceDisconnected


def probe_video(path: str) -> tuple[int, int, float, int]:
    """(width, height, fps, frame_count) of a video file; ValueError if OpenCV cannot read it."""
    import cv2

    cap = cv2.VideoCapture(path)
    try:
        ok, frame = cap.read()
        if not cap.isOpened() or not ok:
            raise ValueError(f"OpenCV cannot decode {path!r}")
        fps = cap.get(cv2.CAP_PROP_FPS)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    fps = fps if math.isfinite(fps) and fps > 0 else 30.0
    return frame.shape[1], frame.shape[0], float(fps), count


class VideoFileSource(FrameSource):
    """Looped video file. Timestamps are the monotonic time each frame is delivered.

    When the consumer or the decoder falls behind, pacing restarts from now rather than bursting to
    catch up (latest-frame semantics). ``loops`` counts rewinds.
    """

    kind = "video"

    def __init__(self, path: str, realtime: bool = True, fps: float | None = None) -> None:
        super().__init__()
        self.path = path
        self.realtime = realtime
        self.fps = fps
        self.cap = None
        self.loops = 0
        self._due = 0.0

    def describe(self) -> str:
        return f"video {self.path}"

    def open(self, timeout: float) -> None:
        import cv2

        self.close()
        cap = cv2.VideoCapture(self.path)
        if not cap.isOpened():
            cap.release()
            raise SourceDisconnected(f"cannot open video file {self.path!r}")
        if self.fps is None:
            fps = cap.get(cv2.CAP_PROP_FPS)
            self.fps = fps if math.isfinite(fps) and fps > 0 else 30.0
        self.cap = cap
        self._due = time.monotonic()

    def _grab(self) -> np.ndarray:
        import cv2

        ok, frame = self.cap.read()
        if not ok:  # end of file: rewind and loop
            self.loops += 1
            if not self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
                self.open(1.0)
            ok, frame = self.cap.read()
            if not ok:
                raise SourceDisconnected(f"cannot read {self.path!r} after rewinding")
        if frame.ndim == 3:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        return frame

    def read(self, timeout: float) -> np.ndarray | None:
        if self.cap is None:
            raise SourceDisconnected("not open")
        if self.realtime:
            now = time.monotonic()
            wait = self._due - now
            if wait > timeout:
                time.sleep(max(0.0, timeout))
                return None
            if wait > 0:
                time.sleep(wait)
            period = 1.0 / self.fps
            self._due = max(self._due + period, time.monotonic() - period)
        frame = self._grab()
        self.received += 1
        self.decoded += 1
        self.timestamp_ns = time.monotonic_ns()
        return frame

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None
