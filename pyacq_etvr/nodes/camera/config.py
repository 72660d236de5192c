"""Validated Camera settings (:class:`CameraConfig`) and the factory that turns them into a transport."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields
from typing import Any

from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.nodes.camera.base import FrameSource, SourceDisconnected
from pyacq_etvr.nodes.camera.preprocess import check_roi, check_rotation, check_size
from pyacq_etvr.nodes.camera.source import SourceSpec, parse_source


@dataclass
class CameraConfig:
    """Every Camera setting, with its default. Units: px, degrees, seconds, bytes, baud."""

    source: Any = "synthetic"
    width: int | None = None  # frame size delivered by the source (None: learn it)
    height: int | None = None
    fps: float | None = None  # synthetic / UVC request / video pacing override (None: source default)
    rotation: float = 0.0  # degrees counter-clockwise about the ROI centre, 0..360
    roi: tuple[int, int, int, int] | None = None  # x, y, w, h in source pixels
    flip_h: bool = False
    flip_v: bool = False
    output_size: tuple[int, int] | None = None  # (w, h) of published frames (None: ROI or frame size)
    stall_timeout: float = 1.0  # no frame for this long -> stalled -> reconnect
    realtime: bool = True  # pace video files and the synthetic eye at their fps
    tier: str = "clean"  # synthetic
    seed: int = 0  # synthetic
    jpeg_quality: int | None = None  # synthetic: JPEG round trip like a real camera (None: off)
    baudrate: int = 3_000_000  # serial
    backlog_limit: int = 32 * 1024  # serial: bytes of stale frames that count as a backlog
    connect_timeout: float = 2.0
    probe_timeout: float = 5.0  # learning the frame size at configure() when width/height are None
    backoff_initial: float = 0.1
    backoff_max: float = 2.5
    reduced_decode: bool = True  # MJPEG/serial: decode at 1/2..1/8 scale when the output is that much smaller

    spec: SourceSpec | None = None  # derived

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> CameraConfig:
        known = {f.name for f in fields(cls)} - {"spec"}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ConfigError(f"Camera: unknown setting(s) {unknown}; known: {sorted(known)}")
        cfg = cls(**kwargs)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        self.spec = parse_source(self.source)
        for key in ("width", "height"):
            _check_int(key, getattr(self, key), allow_none=True)
        if (self.width is None) != (self.height is None):
            raise ConfigError("width and height must be given together")
        if self.fps is not None:
            self.fps = _check_pos(key="fps", value=self.fps)
        self.rotation = check_rotation(self.rotation)
        self.roi = check_roi(self.roi)
        self.output_size = check_size("output_size", self.output_size)
        for key in ("flip_h", "flip_v", "realtime", "reduced_decode"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"{key} must be True or False, got {getattr(self, key)!r}")
        for key in ("stall_timeout", "connect_timeout", "probe_timeout", "backoff_initial", "backoff_max"):
            setattr(self, key, _check_pos(key, getattr(self, key)))
        if self.fps is not None and 1.0 / self.fps >= self.stall_timeout:
            raise ConfigError(f"stall_timeout ({self.stall_timeout} s) must exceed the frame period at fps={self.fps}")
        if self.backoff_initial > self.backoff_max:
            raise ConfigError(f"backoff_initial ({self.backoff_initial}) must not exceed backoff_max")
        _check_int("baudrate", self.baudrate)
        _check_int("backlog_limit", self.backlog_limit)
        _check_int("seed", self.seed, minimum=0)
        if self.jpeg_quality is not None:
            _check_int("jpeg_quality", self.jpeg_quality)
            if self.jpeg_quality > 100:
                raise ConfigError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")
        if self.spec.kind == "synthetic":
            self._check_tier()

    def _check_tier(self) -> None:
        if not isinstance(self.tier, str):
            raise ConfigError(f"tier must be a string, got {self.tier!r}")
        try:
            from pyacq_etvr.synth import TIERS
        except ImportError:  # the synthetic eye will report a bad tier when it is created
            return
        if self.tier not in TIERS:
            raise ConfigError(f"tier {self.tier!r} is unknown; choose from {sorted(TIERS)}")


def _check_int(key: str, value: Any, allow_none: bool = False, minimum: int = 1) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{key} must be an integer >= {minimum}, got {value!r}")


def _check_pos(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key} must be a positive number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{key} must be a positive finite number, got {value!r}")
    return float(value)


def make_source(cfg: CameraConfig, reduce: int = 1) -> FrameSource:
    """Instantiate the transport for a validated config (``reduce``: JPEG decode scale 1/1..1/8)."""
    spec = cfg.spec
    assert spec is not None, "validate() first"
    if spec.kind == "synthetic":
        from pyacq_etvr.nodes.camera.synthetic import SyntheticSource

        return SyntheticSource(
            width=cfg.width or 240,
            height=cfg.height or 240,
            fps=cfg.fps or 60.0,
            tier=cfg.tier,
            seed=cfg.seed,
            jpeg_quality=cfg.jpeg_quality,
            realtime=cfg.realtime,
        )
    if spec.kind == "video":
        from pyacq_etvr.nodes.camera.video import VideoFileSource

        return VideoFileSource(str(spec.target), realtime=cfg.realtime, fps=cfg.fps)
    if spec.kind == "uvc":
        from pyacq_etvr.nodes.camera.uvc import UvcSource

        return UvcSource(spec.target, cfg.width, cfg.height, cfg.fps)
    if spec.kind == "http":
        from pyacq_etvr.nodes.camera.mjpeg import MjpegSource

        return MjpegSource(str(spec.target), reduce=reduce)
    from pyacq_etvr.nodes.camera.serial import SerialSource

    return SerialSource(str(spec.target), baudrate=cfg.baudrate, reduce=reduce, backlog_limit=cfg.backlog_limit)


def probe_frame_size(cfg: CameraConfig) -> tuple[int, int]:
    """(width, height) of the source's frames: from the settings, the file, or a first frame read live.

    Raises ConfigError naming ``source`` if no frame arrives within ``probe_timeout``.
    """
    spec = cfg.spec
    if cfg.width is not None and cfg.height is not None:
        return cfg.width, cfg.height
    if spec.kind == "synthetic":
        return 240, 240
    if spec.kind == "video":
        from pyacq_etvr.nodes.camera.video import probe_video

        try:
            w, h, _, _ = probe_video(str(spec.target))
        except ValueError as exc:
            raise ConfigError(f"source {spec.target!r}: {exc}") from None
        return w, h
    src = make_source(cfg)
    deadline = time.monotonic() + cfg.probe_timeout
    try:
        src.open(cfg.probe_timeout)
        while (remaining := deadline - time.monotonic()) > 0:
            frame = src.read(min(remaining, 0.1))
            if frame is not None:
                return frame.shape[1], frame.shape[0]
        reason = f"no frame within {cfg.probe_timeout} s"
    except SourceDisconnected as exc:
        reason = str(exc)
    finally:
        src.close()
    raise ConfigError(
        f"source {cfg.source!r}: cannot learn the frame size ({reason}); give width= and height= to configure "
        "without a live camera"
    )
