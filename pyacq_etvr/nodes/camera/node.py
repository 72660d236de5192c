"""The Camera node: one node for every camera transport, with a watchdog, reconnect and preprocessing."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from typing import Any

import numpy as np

from pyacq_etvr.core.errors import ConfigError, StateError
from pyacq_etvr.core.node import Node
from pyacq_etvr.core.registry import register_node_type
from pyacq_etvr.core.stream import OutputStream
from pyacq_etvr.eyetypes import TRUTH_DTYPE
from pyacq_etvr.nodes.camera.base import FrameSource, SourceDisconnected
from pyacq_etvr.nodes.camera.config import CameraConfig, make_source, probe_frame_size
from pyacq_etvr.nodes.camera.preprocess import Preprocessor

logger = logging.getLogger("pyacq_etvr.nodes.camera")


class CameraState(str, enum.Enum):
    """What the acquisition thread is doing (``stats()['state']``)."""

    CONNECTING = "connecting"
    STREAMING = "streaming"
    STALLED = "stalled"
    DISCONNECTED = "disconnected"
    CLOSED = "closed"


#: Read granularity of the acquisition loop (s): bounds how late the watchdog and stop() react.
POLL = 0.05
TRUTH_SPEC = dict(streamtype="event", dtype=TRUTH_DTYPE, shape=(-1,))


class Camera(Node):
    """Eye camera: frames from a source string, preprocessed, one frame per chunk on output ``video``.

    **Outputs**

    * ``video`` — ``streamtype='image'``, ``dtype='uint8'``, ``shape=(-1, H, W)`` (mono), one frame per
      chunk; ``index`` = frames published so far (pyacq convention: the first frame has index 1);
      ``timestamp_ns`` = capture time in the ``time.monotonic_ns()`` domain (OpenIris ``X-Timestamp``
      mapped onto it, see :class:`~pyacq_etvr.nodes.camera.base.ClockMapper`; other transports: arrival of
      the frame's last byte / time the frame was read).
    * ``truth`` — only with ``source='synthetic'``: ``TRUTH_DTYPE``, ``shape=(-1,)``, one record per frame,
      sent with the same index and timestamp as the frame (configure it to use it).

    **Settings** (``configure``; every bad value raises :class:`ConfigError` naming the key):
    see :class:`~pyacq_etvr.nodes.camera.config.CameraConfig` — ``source`` ('synthetic', a video file,
    an int or '/dev/videoN', 'http://...', 'COMn' / '/dev/tty*' / '/dev/serial/...'), ``width``/
    ``height`` (px; None = learn from the source), ``fps``, ``rotation`` (deg CCW, 0-360), ``roi`` (x, y,
    w, h px), ``flip_h``, ``flip_v``, ``output_size`` (w, h), ``stall_timeout`` (s, default 1.0),
    ``realtime`` (pace files/synthetic, default True), ``tier``/``seed``/``jpeg_quality`` (synthetic),
    ``baudrate`` (serial, 3,000,000), ``backlog_limit`` (serial bytes, 32 KiB), ``connect_timeout`` (s, 2),
    ``probe_timeout`` (s, 5), ``backoff_initial``/``backoff_max`` (s, 0.1 / 2.5), ``reduced_decode``
    (MJPEG/serial, default True: when ``output_size`` is 2, 4 or 8 times smaller than the ROI, JPEGs are
    decoded straight at that scale by libjpeg, ``stats()['decode_scale']``).

    **Threading**: ``start()`` runs one acquisition thread: connect → read → preprocess → send, in a loop.
    It never queues frames: transports hand over only the newest complete frame (older ones are counted
    as dropped), and frames are sent as soon as decoded. ``stop()`` joins it (deadline 5 s).

    **Direct mode**: ``attach(detector)`` (a PupilDetector of this process) also hands every published frame
    to ``detector.push_frame(frame, index, timestamp_ns)`` in the acquisition thread, right after sending it
    on ``video``: detection starts without a stream hop or a thread wake-up. The next frame is read once
    detection returns; transports that drop stale frames count them in ``dropped`` as usual.

    **Watchdog and reconnect**: no new frame for ``stall_timeout`` s → state ``stalled``, the connection
    is closed even if still open, and the node reconnects; a refused or lost connection → ``disconnected``.
    Reconnect attempts wait ``backoff_initial`` doubling to ``backoff_max``, forever until ``stop()``; the
    backoff resets after a frame. States (``connecting``, ``streaming``, ``stalled``, ``disconnected``,
    ``closed``) are logged on change and listed by :meth:`state_log`.

    **Bad input**: corrupt or truncated JPEGs are skipped and counted (``corrupt``); serial garbage is
    skipped (resync); frames of an unexpected size are resized to ``width`` x ``height`` (``resized``).

    Example::

        cam = Camera(name="left")
        cam.configure(source="http://openiristracker.local/", rotation=15.0, roi=(20, 30, 180, 160))
        cam.outputs["video"].configure(protocol="tcp", transfermode="sharedmem", buffer_size=64)
        cam.initialize()
        cam.start()
        cam.stats()  # {'state': 'streaming', 'frames': 1234, 'fps': 60.0, 'corrupt': 0, ...}

    To try the network and serial transports without hardware, serve a clip as a fake camera with
    ``python -m pyacq_etvr.testing_peers mjpeg|serial CLIP`` and use the URL or port it prints.
    """

    _output_specs = {"video": dict(streamtype="image", dtype="uint8", shape=(-1, 240, 240))}
    _main_output = "video"  # ``camera.output`` is the video even when a synthetic source adds ``truth``

    def __init__(self, name: str = "", parent: Any = None) -> None:
        super().__init__(name=name, parent=parent)
        self.config: CameraConfig | None = None
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._cam_state = CameraState.CLOSED
        self._log: deque[tuple[float, str, str]] = deque(maxlen=200)
        self._direct: Any = None
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._frames = 0
        self._reconnects = 0
        self._connects = 0
        self._errors = 0
        self._last_error = ""
        self._last_frame = 0.0
        self._arrivals = np.zeros(128)
        self._source: FrameSource | None = None
        self._pre: Preprocessor | None = None
        self._reduce = 1

    # ------------------------------------------------------------------ lifecycle hooks
    def _configure(self, **kwargs: Any) -> None:
        cfg = CameraConfig.from_kwargs(kwargs)
        in_w, in_h = probe_frame_size(cfg)
        pre = Preprocessor(in_w, in_h, cfg.rotation, cfg.roi, cfg.flip_h, cfg.flip_v, cfg.output_size)
        out_w, out_h = pre.out_size
        video = self.outputs["video"]
        if video.configured:
            raise StateError(f"{self._label}: configure() the node before its outputs")
        video.spec["shape"] = (-1, out_h, out_w)
        video.spec["sample_rate"] = cfg.fps or (60.0 if cfg.spec.kind == "synthetic" else None)
        if cfg.spec.kind == "synthetic":
            if "truth" not in self.outputs:
                self.outputs["truth"] = OutputStream(spec=dict(TRUTH_SPEC), node=self, name="truth")
        elif "truth" in self.outputs:
            self.outputs.pop("truth").close()
        reduce = pre.reduction() if cfg.reduced_decode and cfg.spec.kind in ("http", "serial") else 1
        self.config, self._pre, self._reduce = cfg, pre.reduced(reduce), reduce

    def check_output_specs(self) -> None:
        if not self.outputs["video"].configured:
            raise StateError(f"{self._label}: configure output 'video' before initialize()")

    def _initialize(self) -> None:
        self._truth_buf = np.zeros(1, dtype=TRUTH_DTYPE)
        self._index = 0
        # kept across stop()/start(): counters and trajectory go on
        self._source = make_source(self.config, self._reduce)

    def _start(self) -> None:
        self._stop_event.clear()
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.name or 'acq'}", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        self._stop_event.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(5.0)
            if thread.is_alive():
                logger.error("%s: acquisition thread did not stop within 5 s", self._label)

    def _close(self) -> None:
        if self._source is not None:
            self._source.close()

    def attach(self, target: Any) -> None:
        """Hand every frame directly to ``target.push_frame(frame, index, timestamp_ns)`` (a PupilDetector of
        this process) in the acquisition thread, besides the ``video`` output. Call after configure(); a
        remote proxy or a target without ``push_frame`` raises ConfigError. ``attach(None)`` detaches."""
        if target is not None:
            if hasattr(target, "_rpc_addr") or not callable(getattr(target, "push_frame", None)):
                raise ConfigError(f"{self._label}: attach() needs a detector node of this process with push_frame()")
            if self.config is None:
                raise StateError(f"{self._label}: configure() before attach()")
            target.accept_frames(self.outputs["video"].spec["shape"])
        elif self._direct is not None:
            self._direct.accept_frames(None)
        self._direct = target

    # ------------------------------------------------------------------ acquisition thread
    def _set_state(self, state: CameraState, reason: str = "") -> None:
        if state is self._cam_state:
            return
        old, self._cam_state = self._cam_state, state
        self._log.append((time.time(), state.value, reason))
        level = logging.WARNING if state in (CameraState.STALLED, CameraState.DISCONNECTED) else logging.INFO
        logger.log(
            level,
            "%s %s: %s -> %s%s",
            self._label,
            self._source.describe(),
            old.value,
            state.value,
            f" ({reason})" if reason else "",
        )

    def _run(self) -> None:
        cfg, src, stop = self.config, self._source, self._stop_event
        backoff = cfg.backoff_initial
        try:
            while not stop.is_set():
                self._set_state(CameraState.CONNECTING)
                if self._connects:
                    self._reconnects += 1
                self._connects += 1
                try:
                    src.open(cfg.connect_timeout)
                    if self._stream(src, cfg):
                        backoff = cfg.backoff_initial
                except SourceDisconnected as exc:
                    self._failed(CameraState.DISCONNECTED, str(exc))
                except Exception as exc:  # a bug or an unusable frame: visible, logged once, retried like a drop
                    reason = f"{type(exc).__name__}: {exc}"
                    if reason != self._last_error:
                        logger.exception("%s: acquisition failed", self._label)
                    self._failed(CameraState.DISCONNECTED, reason)
                finally:
                    src.close()
                if stop.wait(backoff):
                    break
                backoff = min(backoff * 2.0, cfg.backoff_max)
        finally:
            self._set_state(CameraState.CLOSED, "stopped")

    def _failed(self, state: CameraState, reason: str) -> None:
        self._errors += 1
        self._last_error = reason
        self._set_state(state, reason)

    def _stream(self, src: FrameSource, cfg: CameraConfig) -> bool:
        """Read frames until stop, a stall or a disconnect; return True if any frame arrived."""
        stop, stall = self._stop_event, cfg.stall_timeout
        last = time.monotonic()
        got = False
        while not stop.is_set():
            try:
                frame = src.read(min(POLL, stall))
            except SourceDisconnected as exc:
                self._failed(CameraState.DISCONNECTED, str(exc))
                return got
            now = time.monotonic()
            if frame is None:
                if now - last > stall:
                    self._failed(CameraState.STALLED, f"no frame for {now - last:.2f} s")
                    return got
                continue
            last = now
            if not got:
                got = True
                self._set_state(CameraState.STREAMING)
            self.publish(frame, src.timestamp_ns, getattr(src, "truth", None))
        return got

    def publish(self, frame: np.ndarray, timestamp_ns: int, truth: np.void | None = None) -> np.ndarray:
        """Preprocess one mono frame and send it (and its ground truth) with the next index.

        This is the node's work as a plain method: callable on arrays from a test. Returns the frame sent.
        """
        out = self._pre(frame)
        self._index += 1
        self.outputs["video"].send(out[np.newaxis], index=self._index, timestamp_ns=timestamp_ns)
        t_out = self.outputs.get("truth")
        if truth is not None and t_out is not None and t_out.configured:
            buf = self._truth_buf
            buf[0] = truth
            buf["index"] = self._index
            buf["timestamp_ns"] = timestamp_ns
            t_out.send(buf, index=self._index, timestamp_ns=timestamp_ns)
        now = time.monotonic()
        self._arrivals[self._frames % len(self._arrivals)] = now
        self._frames += 1
        self._last_frame = now
        direct = self._direct
        if direct is not None:
            direct.push_frame(out, self._index, timestamp_ns)  # never raises (counted by the detector)
        return out

    # ------------------------------------------------------------------ introspection
    def stats(self) -> dict[str, Any]:
        """Counters (plain ints/floats/str, RPC-friendly).

        ``state``; ``frames`` published; ``received`` / ``decoded`` by the transport; ``corrupt`` frames
        skipped; ``dropped`` (stale frames behind a newer one, serial backlog and cut frames);
        ``reconnects`` (connection attempts after the first); ``fps`` over the last second;
        ``last_frame_age_s`` (NaN before the first frame); ``resized``; ``errors`` and ``last_error``;
        ``source``; serial only: ``resyncs``, ``cut``, ``backlog_flushes``; video files: ``loops``.
        ``state`` is ``closed`` whenever the acquisition thread is not running (before start, after stop).
        """
        src = self._source
        now = time.monotonic()
        n = min(self._frames, len(self._arrivals))
        recent = np.sort(self._arrivals[:n])
        recent = recent[recent > now - 1.0]
        fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 2 and recent[-1] > recent[0] else 0.0
        return {
            "state": self._cam_state.value,
            "frames": int(self._frames),
            "received": int(src.received) if src else 0,
            "decoded": int(src.decoded) if src else 0,
            "corrupt": int(src.corrupt) if src else 0,
            "dropped": int(src.dropped) if src else 0,
            "reconnects": int(self._reconnects),
            "fps": float(fps),
            "last_frame_age_s": float(now - self._last_frame) if self._frames else float("nan"),
            "resized": int(self._pre.resized) if self._pre else 0,
            "decode_scale": int(self._reduce),
            "errors": int(self._errors),
            "last_error": self._last_error,
            "source": src.describe() if src else (str(self.config.source) if self.config else ""),
            **self._transport_stats(src),
        }

    @staticmethod
    def _transport_stats(src: FrameSource | None) -> dict[str, int]:
        """Transport-specific counters: serial ``resyncs``/``cut``/``backlog_flushes``, video ``loops``."""
        out: dict[str, int] = {}
        parser = getattr(src, "parser", None)
        if hasattr(parser, "resyncs"):
            out.update(resyncs=int(parser.resyncs), cut=int(parser.cut), backlog_flushes=int(src.backlog_flushes))
        if hasattr(src, "loops"):
            out["loops"] = int(src.loops)
        return out

    @property
    def camera_state(self) -> CameraState:
        return self._cam_state

    def state_log(self) -> list[tuple[float, str, str]]:
        """Recent state changes as (wall time, state, reason), oldest first."""
        return list(self._log)


register_node_type(Camera)
