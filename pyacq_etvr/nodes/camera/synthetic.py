"""Synthetic eye camera: :class:`pyacq_etvr.synth.SyntheticEye` paced at its fps, with ground truth.

After each ``read`` the frame's ground truth (a ``TRUTH_DTYPE`` record) is in :attr:`truth`; the Camera
node publishes it on its ``truth`` output with the same index and timestamp as the frame.
"""

from __future__ import annotations

import time

import numpy as np

from pyacq_etvr.nodes.camera.base import FrameSource, SourceDisconnected


class SyntheticSource(FrameSource):
    """Renders frames on demand; ``realtime=False`` renders as fast as possible."""

    kind = "synthetic"

    def __init__(
        self,
        width: int = 240,
        height: int = 240,
        fps: float = 60.0,
        tier: str = "clean",
        seed: int = 0,
        jpeg_quality: int | None = None,
        realtime: bool = True,
    ) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self.tier, self.seed, self.jpeg_quality = tier, seed, jpeg_quality
        self.realtime = realtime
        self.eye = None
        self.truth: np.void | None = None
        self._due = 0.0

    def describe(self) -> str:
        return f"synthetic {self.width}x{self.height}@{self.fps:g} tier={self.tier} seed={self.seed}"

    def open(self, timeout: float) -> None:
        if self.eye is None:  # a reconnect continues the same trajectory
            from pyacq_etvr.synth import SyntheticEye

            self.eye = SyntheticEye(
                width=self.width,
                height=self.height,
                fps=self.fps,
                tier=self.tier,
                seed=self.seed,
                jpeg_quality=self.jpeg_quality,
            )
        self._due = time.monotonic()

    def read(self, timeout: float) -> np.ndarray | None:
        if self.eye is None:
            raise SourceDisconnected("not open")
        if self.realtime:
            wait = self._due - time.monotonic()
            if wait > timeout:
                time.sleep(max(0.0, timeout))
                return None
            if wait > 0:
                time.sleep(wait)
            period = 1.0 / self.fps
            self._due = max(self._due + period, time.monotonic() - period)
        frame, truth = self.eye.next()
        self.truth = truth
        self.received += 1
        self.decoded += 1
        self.timestamp_ns = time.monotonic_ns()
        return frame
