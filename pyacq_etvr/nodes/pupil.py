"""PupilDetector node: runs a pupil detector (:mod:`pyacq_etvr.pupil`) on the newest frame of an image stream."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

import numpy as np

from pyacq_etvr.core.errors import ConfigError, PyacqError, StateError
from pyacq_etvr.core.node import Node
from pyacq_etvr.core.registry import register_node_type
from pyacq_etvr.core.spec import dtype_to_json
from pyacq_etvr.eyetypes import PUPIL_DTYPE
from pyacq_etvr.nodes._worker import InputWorker
from pyacq_etvr.pupil import create_detector
from pyacq_etvr.pupil.base import Detector

log = logging.getLogger(__name__)

_WINDOW = 240  # frames kept for the rolling statistics


class PupilDetector(Node):
    """Detect the pupil in every newest frame of an image stream.

    Input ``image``: ``uint8`` frames, shape ``(-1, H, W)`` (grey) or ``(-1, H, W, 3)`` (BGR, converted),
    streamtype ``image`` -- e.g. a Camera node's ``video``. Latest-frame semantics: when detection falls
    behind, older frames are skipped (counted in ``stats()['skipped']``), never queued.

    Output ``pupil``: :data:`~pyacq_etvr.eyetypes.PUPIL_DTYPE` records, shape ``(-1,)``, one per processed
    frame. Its index is the input chunk's index (so it aligns with the camera frame and its ground truth) and
    its timestamp the input chunk's timestamp (capture time). ``proc_time_us`` is the detector's time.
    Configure the output (``node.outputs['pupil'].configure(protocol=..., transfermode=...)``) before
    ``initialize()``.

    Settings: ``configure(detector='default', **detector_params)``: any name of
    :func:`~pyacq_etvr.pupil.list_detectors` and that detector's keyword parameters (see its docstring); an
    unknown name or parameter raises ConfigError at once. ``set_detector(name, **params)`` swaps the detector
    while running; ``reset()`` forgets its tracking state.

    Threading: one worker thread receives frames and runs the detector (``cv2.setNumThreads`` is not
    changed); ``stop()`` joins it within ~0.1 s plus one detection. ``stats()`` is safe from any thread (RPC).

    Direct mode (nodes of one process): ``camera.attach(detector)`` hands every frame to :meth:`push_frame`
    in the camera's acquisition thread instead of the ``image`` stream (which may then stay unconnected):
    no stream hop, no thread wake-up, no GIL hand-over between a camera thread and a detector thread, and no
    frame skipped by this node (a detector slower than the camera slows the acquisition loop instead, whose
    transport then drops stale frames and counts them). ``detector.attach(filters)`` likewise hands every
    record to a filter node's ``push_chunk`` (the ``pupil`` output then is optional, e.g. for a recorder).

    Bad input: a frame the detector rejects (:class:`~pyacq_etvr.core.errors.ImageError`, e.g. a stream of
    another dtype) is counted in ``stats()['errors']`` and answered with a ``found=False`` record, so the
    output keeps one record per processed frame; nothing else is lost.
    """

    _input_specs = {"image": {"streamtype": "image", "dtype": "uint8"}}
    _output_specs = {"pupil": {"dtype": dtype_to_json(PUPIL_DTYPE), "shape": (-1,)}}

    def __init__(self, name: str = "", parent: Any = None) -> None:
        super().__init__(name=name, parent=parent)
        self.inputs["image"].latest = True
        self._detector_name = "default"
        self._detector_params: dict[str, Any] = {}
        self._det: Detector | None = None
        self._det_lock = threading.Lock()
        self._worker: InputWorker | None = None
        self._rec = np.zeros(1, dtype=PUPIL_DTYPE)  # the worker's record, refilled for every frame
        self._direct_shape: tuple[int, ...] | None = None  # set by Camera.attach: frames come by push_frame
        self._direct_out: Any = None  # attached filter node (push_chunk)
        self._stats_lock = threading.Lock()
        self._reset_stats()

    # ------------------------------------------------------------------ lifecycle hooks
    def _configure(self, detector: str = "default", **params: Any) -> None:
        create_detector(detector, **params)  # validates name and parameters now (ConfigError)
        self._detector_name, self._detector_params = detector, dict(params)

    def check_input_specs(self) -> None:
        if self.inputs["image"].connected:
            shape = self.inputs["image"].shape
        elif self._direct_shape is not None:
            shape = self._direct_shape
        else:
            raise StateError(f"{self._label}: input 'image' is not connected (nor a Camera attached)")
        if len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] not in (1, 3, 4)):
            raise ConfigError(f"{self._label}: input 'image' must be (-1, H, W) or (-1, H, W, 3), got {shape}")

    def check_output_specs(self) -> None:
        if not self.outputs["pupil"].configured and self._direct_out is None:
            raise StateError(f"{self._label}: configure output 'pupil' (or attach a filter node) before initialize()")

    def _initialize(self) -> None:
        self._det = create_detector(self._detector_name, **self._detector_params)
        image = self.inputs["image"]
        shape = image.shape if image.connected else self._direct_shape
        self._height, self._width = int(shape[1]), int(shape[2])
        self._worker = None
        if image.connected:
            self._worker = InputWorker(image, self._on_chunk, f"{self._label} detector", 50.0, True)

    def _start(self) -> None:
        self._reset_stats()
        if self._worker is not None:
            self._worker.start()

    def _stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()

    def _close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    # ------------------------------------------------------------------ direct mode (same process)
    def accept_frames(self, shape: Any) -> None:
        """Called by :meth:`Camera.attach <pyacq_etvr.nodes.camera.node.Camera.attach>`: frames of ``shape``
        ((-1, H, W) or (-1, H, W, 3)) will arrive through :meth:`push_frame`. ``None`` detaches."""
        if shape is not None:
            shape = tuple(int(v) for v in shape)
            if len(shape) not in (3, 4) or min(shape[1:]) <= 0:
                raise ConfigError(f"{self._label}: attached frames must be (-1, H, W) or (-1, H, W, 3), got {shape}")
        self._direct_shape = shape

    def push_frame(self, frame: np.ndarray, index: int, timestamp_ns: int) -> None:
        """Detect on one frame (H, W) or (H, W, 3) now, in the caller's thread, and emit its record.

        Called by an attached Camera. Never raises: a failure is logged and counted (``stats()['errors']``).
        Frames pushed while the node is not running are ignored."""
        if not self.running():
            return
        try:
            self._on_chunk(index, frame[np.newaxis], timestamp_ns)
        except Exception:
            with self._stats_lock:
                self._errors += 1
            log.exception("%s: frame %d failed", self._label, index)

    def attach(self, target: Any) -> None:
        """Hand every record directly to ``target.push_chunk(index, record, timestamp_ns)`` (a filter node of
        this process, e.g. FilterChain), in the detecting thread: one stream hop and one thread wake-up less
        than connecting the ``pupil`` output (which still works, for recorders and viewers). A remote proxy or
        a target without ``push_chunk`` raises ConfigError. ``attach(None)`` detaches."""
        if target is not None:
            if hasattr(target, "_rpc_addr") or not callable(getattr(target, "push_chunk", None)):
                raise ConfigError(f"{self._label}: attach() needs a filter node of this process with push_chunk()")
            target.accept_direct(PUPIL_DTYPE)
        self._direct_out = target

    # ------------------------------------------------------------------ control (RPC-callable)
    def set_detector(self, detector: str = "default", **params: Any) -> None:
        """Replace the detector (any state but CLOSED); ConfigError leaves the current one in place."""
        det = create_detector(detector, **params)
        with self._det_lock:
            self._detector_name, self._detector_params = detector, dict(params)
            if self._det is not None:
                self._det = det

    def reset(self) -> None:
        """Forget the detector's tracking state (e.g. after the headset was taken off)."""
        with self._det_lock:
            if self._det is not None:
                self._det.reset()

    def detector_info(self) -> dict[str, Any]:
        """Name and parameters of the current detector (plain dict)."""
        with self._det_lock:
            params = self._det.params() if self._det is not None else dict(self._detector_params)
            return {"detector": self._detector_name, "params": params}

    def stats(self) -> dict[str, float | int]:
        """Rolling statistics (plain dict of floats/ints, for RPC).

        ``frames`` processed, ``found`` among them, ``skipped`` frames (older frames dropped because the
        detector was busy, plus extra frames of multi-frame chunks), ``errors``, ``fps`` (processed frames per
        second over the last ~240 frames), ``mean_confidence`` (found frames in that window),
        ``proc_ms_p50`` / ``proc_ms_p99`` (detector time in that window).
        """
        with self._stats_lock:
            times = np.array(self._proc_ms, dtype=float)
            confs = np.array(self._confs, dtype=float)
            wall = np.array(self._wall, dtype=float)
            out: dict[str, float | int] = {
                "frames": self._frames,
                "found": self._found,
                "skipped": self._extra_skipped,
                "errors": self._errors,
            }
        if self.inputs["image"].connected:
            out["skipped"] = int(out["skipped"]) + int(self.inputs["image"].stats().get("skipped", 0))
        out["fps"] = float((wall.size - 1) / (wall[-1] - wall[0])) if wall.size > 1 and wall[-1] > wall[0] else 0.0
        out["mean_confidence"] = float(confs.mean()) if confs.size else 0.0
        out["proc_ms_p50"] = float(np.percentile(times, 50)) if times.size else 0.0
        out["proc_ms_p99"] = float(np.percentile(times, 99)) if times.size else 0.0
        return out

    # ------------------------------------------------------------------ work
    def process(self, frame: np.ndarray, index: int = 0, timestamp_ns: int = 0) -> np.ndarray:
        """Detect on one frame and return its (1,) PUPIL_DTYPE record (usable without streams)."""
        return self._detect_into(np.zeros(1, dtype=PUPIL_DTYPE), frame, index, timestamp_ns)

    def _detect_into(self, rec: np.ndarray, frame: np.ndarray, index: int, timestamp_ns: int) -> np.ndarray:
        """Detect on ``frame`` and fill every field of the (1,) record ``rec`` (reused by the worker: the
        stream and the filters copy it before the next frame)."""
        r = rec[0]
        r["index"], r["timestamp_ns"] = index, timestamp_ns
        r["height"], r["width"] = frame.shape[0], frame.shape[1]
        with self._det_lock:
            det = self._det if self._det is not None else create_detector(self._detector_name, **self._detector_params)
            self._det = det
            t0 = time.perf_counter()
            try:
                res = det.detect(frame)
            except PyacqError as exc:
                res = None
                with self._stats_lock:
                    self._errors += 1
                log.warning("%s: frame %d rejected: %s", self._label, index, exc)
            dt_ms = (time.perf_counter() - t0) * 1e3
        r["proc_time_us"] = dt_ms * 1e3
        if res is not None and res.found:
            r["found"], r["x"], r["y"], r["confidence"] = True, res.x, res.y, res.confidence
            r["ellipse"] = res.ellipse if res.ellipse is not None else (np.nan,) * 5
        else:
            r["found"], r["confidence"] = False, 0.0
            r["x"] = r["y"] = np.nan
            r["ellipse"] = (np.nan,) * 5
        r["openness"] = np.nan if res is None or res.openness is None else res.openness
        with self._stats_lock:
            self._frames += 1
            self._proc_ms.append(dt_ms)
            self._wall.append(time.monotonic())
            if res is not None and res.found:
                self._found += 1
                self._confs.append(res.confidence)
        return rec

    def _on_chunk(self, index: int, data: np.ndarray, timestamp_ns: int) -> None:
        if data.ndim < 3 or data.shape[0] == 0:
            with self._stats_lock:
                self._errors += 1
            return
        if data.shape[0] > 1:
            with self._stats_lock:
                self._extra_skipped += data.shape[0] - 1
        rec = self._detect_into(self._rec, data[-1], index, timestamp_ns)
        out = self.outputs["pupil"]
        if out.configured:
            out.send(rec, index=index, timestamp_ns=timestamp_ns)
        direct = self._direct_out
        if direct is not None:
            direct.push_chunk(index, rec, timestamp_ns)

    def _reset_stats(self) -> None:
        with self._stats_lock:
            self._frames = self._found = self._errors = self._extra_skipped = 0
            self._proc_ms: deque[float] = deque(maxlen=_WINDOW)
            self._confs: deque[float] = deque(maxlen=_WINDOW)
            self._wall: deque[float] = deque(maxlen=_WINDOW)


register_node_type(PupilDetector)
