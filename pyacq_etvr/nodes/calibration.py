"""Per-eye calibration: pupil position in pixels -> normalised gaze in [-1, 1] (+x right, +y up).

Plain object :class:`EyeCalibration` (callable on PUPIL_DTYPE arrays) and the :class:`Calibration` node.

Model (DOMAIN.md, "From pupil position to gaze")::

    nx = (x_px - offset_x) / half_x          ny = -(y_px - offset_y) / half_y      (image y is down)
    nx = -nx if flip_x ;  ny = -ny if flip_y ;  clipped to [-1, 1] if clip

*Sweep calibration*: for ``sweep_s`` seconds (measured on the frames' capture timestamps) the user looks at
the extremes; the offset becomes the mean of the valid raw positions, the half-axes ``sigma`` (default 2)
standard deviations in x and y. *Recenter* sets the offset to the current raw position (median of the last
few valid samples) while the user looks straight ahead, keeping the half-axes. An eye with no calibration
yet outputs ``calibrated=False`` and NaN x/y - never a silent 0.

Calibrations persist in one JSON file holding both eyes (``{"version": 1, "left": {...}, "right": {...}}``);
writes are atomic (temp file + rename) under an ``fcntl`` lock, so two processes saving different eyes at
once keep both.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import tempfile
import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from pyacq_etvr.core.errors import ConfigError, PyacqError
from pyacq_etvr.core.node import Node
from pyacq_etvr.core.registry import register_node_type
from pyacq_etvr.core.spec import dtype_to_json
from pyacq_etvr.eyetypes import GAZE_DTYPE, PUPIL_DTYPE
from pyacq_etvr.nodes._worker import InputWorker
from pyacq_etvr.nodes.filters._common import positive

log = logging.getLogger(__name__)

EYES = ("left", "right")


@dataclass
class CalibrationState:
    """The persisted part of an eye's calibration (pixels)."""

    offset_x: float
    offset_y: float
    half_x: float
    half_y: float
    width: int = 0  # frame size the pixel values refer to (0 = unknown)
    height: int = 0

    def check(self) -> CalibrationState:
        for key in ("offset_x", "offset_y", "half_x", "half_y"):
            v = getattr(self, key)
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"calibration {key} must be a finite number, got {v!r}")
        if self.half_x <= 0 or self.half_y <= 0:
            raise ConfigError(f"calibration half_x/half_y must be > 0, got {self.half_x!r}, {self.half_y!r}")
        return self


class EyeCalibration:
    """Mapping of one eye's pupil positions to normalised gaze, with sweep calibration and recenter.

    Parameters
    ----------
    eye : 'left' | 'right'
        Which eye (the key in the calibration file).
    flip_x, flip_y : bool, default False
        Mirror the axes. A real camera looking at the eye sees the user's right on its left: set
        ``flip_x=True`` for it. The synthetic camera's ground truth is expressed in image axes, so it needs none.
    clip : bool, default True
        Clip the normalised gaze to [-1, 1].
    sigma : float, default 2.0
        Half-axis of the sweep calibration in standard deviations.
    min_confidence : float, default 0.5
        Detections below this confidence are not valid (not used for calibration, ``valid=False`` in the output).
    sweep_s : float, default 15.0
        Default duration of a sweep calibration, seconds of capture time.
    min_samples : int, default 30
        Valid samples a sweep needs; a sweep that ends with fewer keeps collecting until it has them.
    """

    def __init__(
        self,
        eye: str = "left",
        flip_x: bool = False,
        flip_y: bool = False,
        clip: bool = True,
        sigma: float = 2.0,
        min_confidence: float = 0.5,
        sweep_s: float = 15.0,
        min_samples: int = 30,
    ) -> None:
        if eye not in EYES:
            raise ConfigError(f"eye must be 'left' or 'right', got {eye!r}")
        for key, val in (("flip_x", flip_x), ("flip_y", flip_y), ("clip", clip)):
            if not isinstance(val, (bool, np.bool_)):
                raise ConfigError(f"{key} must be a bool, got {val!r}")
        if not (0.0 <= float(min_confidence) <= 1.0):
            raise ConfigError(f"min_confidence must be within [0, 1], got {min_confidence!r}")
        self.eye = eye
        self.flip_x, self.flip_y, self.clip = bool(flip_x), bool(flip_y), bool(clip)
        self.sigma = positive("sigma", sigma)
        self.min_confidence = float(min_confidence)
        self.sweep_s = positive("sweep_s", sweep_s)
        self.min_samples = int(min_samples)
        self.state: CalibrationState | None = None
        self._recent: deque[tuple[float, float]] = deque(maxlen=9)
        self._sweep: list[np.ndarray] | None = None
        self._sweep_sizes: list[np.ndarray] = []
        self._sweep_t0: int | None = None
        self._sweep_len_ns = 0
        self._size_range: tuple[float, float] | None = None
        self.sweeps_done = 0
        self.recenters = 0

    # -- state ----------------------------------------------------------------------------------------------
    @property
    def calibrated(self) -> bool:
        return self.state is not None

    @property
    def sweeping(self) -> bool:
        return self._sweep is not None

    def set_state(self, state: CalibrationState | dict | None) -> None:
        """Install a calibration (or None to forget it). Raises ConfigError on a bad one."""
        if state is None:
            self.state = None
            return
        if isinstance(state, dict):
            known = {k: state[k] for k in ("offset_x", "offset_y", "half_x", "half_y", "width", "height") if k in state}
            try:
                state = CalibrationState(**known)
            except TypeError as exc:
                raise ConfigError(f"calibration for {self.eye!r} is incomplete: {exc}") from None
        self.state = state.check()

    def status(self) -> dict[str, Any]:
        """Plain dict (RPC friendly): calibrated, sweeping, progress, counts and the state."""
        prog = 0.0
        if self._sweep is not None and self._sweep_len_ns > 0:
            prog = min(1.0, self._sweep_progress_ns / self._sweep_len_ns)
        return {
            "eye": self.eye,
            "calibrated": self.calibrated,
            "sweeping": self.sweeping,
            "sweep_progress": prog,
            "sweeps_done": self.sweeps_done,
            "recenters": self.recenters,
            "state": asdict(self.state) if self.state else None,
        }

    # -- actions ---------------------------------------------------------------------------------------------
    def start_sweep(self, duration_s: float | None = None) -> None:
        """Begin a sweep calibration lasting ``duration_s`` (default ``sweep_s``) seconds of capture time.

        The current calibration (if any) stays in use until the sweep completes.
        """
        dur = self.sweep_s if duration_s is None else positive("duration_s", duration_s)
        self._sweep = []
        self._sweep_sizes = []
        self._sweep_t0 = None
        self._sweep_progress_ns = 0
        self._sweep_len_ns = int(dur * 1e9)

    def recenter(self) -> bool:
        """Set the offset to the current raw pupil position. Returns False (and changes nothing) when there is
        no recent valid sample or no calibration to recenter."""
        if not self._recent or self.state is None:
            return False
        pts = np.asarray(self._recent)
        self.state.offset_x = float(np.median(pts[:, 0]))
        self.state.offset_y = float(np.median(pts[:, 1]))
        self.recenters += 1
        return True

    # -- mapping ---------------------------------------------------------------------------------------------
    def __call__(self, pupil: np.ndarray) -> np.ndarray:
        """Map a PUPIL_DTYPE array to a GAZE_DTYPE array of the same length (feeding any running sweep)."""
        if not isinstance(pupil, np.ndarray) or pupil.dtype != PUPIL_DTYPE:
            got = getattr(pupil, "dtype", type(pupil).__name__)
            raise PyacqError(f"EyeCalibration({self.eye}): expected a PUPIL_DTYPE array, got {got}")
        pupil = pupil.reshape(-1)
        x = pupil["x"].astype(np.float64)
        y = pupil["y"].astype(np.float64)
        finite = np.isfinite(x) & np.isfinite(y)
        good = finite & pupil["found"] & (pupil["confidence"] >= self.min_confidence)
        if good.any():
            for xi, yi in zip(x[good][-self._recent.maxlen :], y[good][-self._recent.maxlen :]):
                self._recent.append((float(xi), float(yi)))
        if self._sweep is not None:
            self._feed_sweep(pupil, x, y, good)
        out = np.zeros(pupil.shape[0], dtype=GAZE_DTYPE)
        out["index"] = pupil["index"]
        out["timestamp_ns"] = pupil["timestamp_ns"]
        out["confidence"] = pupil["confidence"]
        op = pupil["openness"]
        out["openness"] = np.where(np.isfinite(op), op, np.where(pupil["found"], 1.0, 0.0))
        st = self.state
        if st is None:
            out["x"] = np.nan
            out["y"] = np.nan
            return out
        nx = (x - st.offset_x) / st.half_x
        ny = (st.offset_y - y) / st.half_y
        if self.flip_x:
            nx = -nx
        if self.flip_y:
            ny = -ny
        if self.clip:
            np.clip(nx, -1.0, 1.0, out=nx)
            np.clip(ny, -1.0, 1.0, out=ny)
        out["x"] = nx  # NaN where the pupil position is NaN
        out["y"] = ny
        out["valid"] = good
        out["calibrated"] = True
        return out

    def dilation(self, pupil: np.ndarray) -> np.ndarray:
        """Pupil dilation 0..1 per sample: ellipse major axis scaled by the 5th..95th percentile of the sizes
        seen during the last sweep (NaN before any sweep or when the pupil is not found)."""
        ell = pupil["ellipse"].reshape(-1, 5)
        size = np.fmax(ell[:, 2], ell[:, 3]).astype(np.float64)
        if self._size_range is None:
            return np.full(size.shape, np.nan, dtype=np.float32)
        lo, hi = self._size_range
        d = (size - lo) / max(hi - lo, 1e-6)
        d = np.where(pupil["found"].reshape(-1), np.clip(d, 0.0, 1.0), np.nan)
        return d.astype(np.float32)

    def _feed_sweep(self, pupil: np.ndarray, x: np.ndarray, y: np.ndarray, good: np.ndarray) -> None:
        assert self._sweep is not None
        ts = pupil["timestamp_ns"]
        if ts.size == 0:
            return
        if self._sweep_t0 is None:
            self._sweep_t0 = int(ts[0])
        self._sweep_progress_ns = int(ts[-1]) - self._sweep_t0
        if good.any():
            self._sweep.append(np.stack([x[good], y[good]], axis=1))
            ell = pupil["ellipse"].reshape(-1, 5)[good]
            self._sweep_sizes.append(np.fmax(ell[:, 2], ell[:, 3]).astype(np.float64))
        if self._sweep_progress_ns >= self._sweep_len_ns:
            self._finish_sweep()

    def _finish_sweep(self) -> None:
        assert self._sweep is not None
        pts = np.concatenate(self._sweep) if self._sweep else np.empty((0, 2))
        if pts.shape[0] < self.min_samples:
            return  # not enough valid samples yet: keep collecting
        std = pts.std(axis=0)
        if not (std > 1e-3).all():
            return  # the eye did not move: a sweep needs movement on both axes
        mean = pts.mean(axis=0)
        w, h = (self.state.width, self.state.height) if self.state else (0, 0)
        self.state = CalibrationState(
            float(mean[0]), float(mean[1]), float(self.sigma * std[0]), float(self.sigma * std[1]), w, h
        )
        sizes = np.concatenate(self._sweep_sizes)
        sizes = sizes[np.isfinite(sizes)]
        if sizes.size >= 2:
            lo, hi = np.percentile(sizes, [5, 95])
            self._size_range = (float(lo), float(hi))
        self._sweep = None
        self.sweeps_done += 1

    # -- persistence -----------------------------------------------------------------------------------------
    def save(self, path: str) -> None:
        """Write this eye's calibration into the JSON file ``path`` (other eye's entry kept). Atomic."""
        if self.state is None:
            raise PyacqError(f"eye {self.eye!r} has no calibration to save")
        entry = asdict(self.state)
        if self._size_range is not None:
            entry["size_range"] = list(self._size_range)
        update_calibration_file(path, self.eye, entry)

    def load(self, path: str) -> bool:
        """Load this eye's calibration from ``path``. Returns False if the file or the eye's entry is absent;
        raises ConfigError (naming the file) if the file is unreadable or the entry invalid."""
        data = read_calibration_file(path)
        entry = data.get(self.eye)
        if entry is None:
            return False
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: entry {self.eye!r} must be an object")
        self.set_state(entry)
        rng = entry.get("size_range")
        if isinstance(rng, list) and len(rng) == 2 and all(isinstance(v, (int, float)) for v in rng):
            self._size_range = (float(rng[0]), float(rng[1]))
        return True


def read_calibration_file(path: str) -> dict[str, Any]:
    """Read a calibration JSON file; {} if it does not exist; ConfigError naming the file if it is corrupt."""
    try:
        with open(path, encoding="utf8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"calibration file {path}: cannot read it ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"calibration file {path}: expected a JSON object")
    return data


def update_calibration_file(path: str, eye: str, entry: dict[str, Any]) -> None:
    """Set ``data[eye] = entry`` in the JSON file at ``path`` atomically, under an exclusive fcntl lock."""
    path = os.path.abspath(os.path.expanduser(path))
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data = read_calibration_file(path)
            data["version"] = 1
            data[eye] = entry
            fd, tmp = tempfile.mkstemp(prefix=".calib", dir=folder)
            try:
                with os.fdopen(fd, "w", encoding="utf8") as f:
                    json.dump(data, f, indent=2, sort_keys=True)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class Calibration(Node):
    """Calibration node: one eye's pupil stream -> calibrated gaze (+ pupil dilation).

    Input ``pupil``: PUPIL_DTYPE, shape (-1,). Outputs ``gaze``: GAZE_DTYPE (-1,), and ``dilation``: float32
    (-1,) 0..1 (NaN unknown), one value per pupil sample; configure ``dilation`` only if you use it. Index and
    timestamp of every output chunk are those of the input chunk (capture time).

    Settings (``configure``): ``eye`` ('left'), ``path`` (calibration JSON file, default None: not persisted;
    loaded at initialize() if it exists, written after every completed sweep and every recenter),
    ``auto_sweep_s`` (default None; if set and no calibration was loaded, a sweep of that many seconds starts
    with the stream: the default ``pyacq-etvr run`` uses it so that a fresh machine calibrates itself on the
    synthetic eyes), and the :class:`EyeCalibration` parameters (flip_x, flip_y, clip, sigma,
    min_confidence, sweep_s).

    Methods callable locally or over RPC (thread-safe): :meth:`recenter`, :meth:`recalibrate`,
    :meth:`save`, :meth:`load`, :meth:`status`. One worker thread maps every chunk.
    """

    _input_specs = {"pupil": {"dtype": dtype_to_json(PUPIL_DTYPE), "shape": [-1]}}
    _output_specs = {
        "gaze": {"dtype": dtype_to_json(GAZE_DTYPE), "shape": [-1]},
        "dilation": {"dtype": "float32", "shape": [-1]},
    }

    def _configure(self, path: str | None = None, auto_sweep_s: float | None = None, **params: Any) -> None:
        self.calib = EyeCalibration(**params)
        self.path = None if path is None else os.path.expanduser(str(path))
        self.auto_sweep_s = None if auto_sweep_s is None else positive("auto_sweep_s", auto_sweep_s)
        self._lock = threading.Lock()
        self._was_calibrated = False
        self._sweeps_saved = 0
        self._direct: Any = None

    def _initialize(self) -> None:
        if self.path is not None:
            self.calib.load(self.path)
        if not self.calib.calibrated and self.auto_sweep_s is not None:
            self.calib.start_sweep(self.auto_sweep_s)
            log.info(
                "%s: no calibration for %s eye: automatic %.1f s sweep", self._label, self.calib.eye, self.auto_sweep_s
            )
        self._worker = InputWorker(self.inputs["pupil"], self._on_chunk, f"{self._label} worker")

    def _on_chunk(self, index: int, data: np.ndarray, ts: int) -> None:
        direct = self._direct
        with self._lock:
            gaze = self.calib(data)
            want_dil = direct is not None or self.outputs["dilation"].configured
            dil = self.calib.dilation(data) if want_dil else None
            finished = self.calib.sweeps_done > self._sweeps_saved
            self._sweeps_saved = self.calib.sweeps_done
        if finished:
            log.info("%s: %s eye calibrated: %s", self._label, self.calib.eye, self.calib.state)
            self._autosave()
        if direct is not None:  # same-process consumer: a direct call, no stream hop
            direct.push_gaze(self.calib.eye, gaze, dil, ts)
        if dil is not None and self.outputs["dilation"].configured:  # before the gaze: a merge reading both
            self.outputs["dilation"].send(dil, index=index, timestamp_ns=ts)  # finds this frame's dilation
        if self.outputs["gaze"].configured:
            self.outputs["gaze"].send(gaze, index=index, timestamp_ns=ts)

    def attach(self, target: Any) -> None:
        """Deliver every gaze chunk directly to ``target.push_gaze(eye, gaze, dilation, timestamp_ns)`` (an
        :class:`~pyacq_etvr.nodes.merge.EyeMerge` in this process), in this node's worker thread: one stream hop
        and one thread wake-up less per frame than connecting the ``gaze`` output. The outputs still work (for
        recorders and viewers). ``target`` must live in this process (a proxy created here, passed back over
        RPC, arrives as the object itself); a remote proxy raises ConfigError. ``attach(None)`` detaches."""
        if target is not None:
            if hasattr(target, "_rpc_addr") or not callable(getattr(target, "push_gaze", None)):
                raise ConfigError(f"{self._label}: attach() needs a node of this process with push_gaze()")
            target.accept_direct(self.calib.eye)
        self._direct = target

    def _autosave(self) -> None:
        if self.path is None:
            return
        try:
            with self._lock:
                self.calib.save(self.path)
        except (OSError, PyacqError) as exc:
            log.error("%s: cannot save calibration to %s: %s", self._label, self.path, exc)

    def process(self, pupil: np.ndarray) -> np.ndarray:
        """Map a PUPIL_DTYPE array directly (no stream involved)."""
        with self._lock:
            return self.calib(pupil)

    def recenter(self) -> bool:
        """Recenter on the current pupil position (see :meth:`EyeCalibration.recenter`); saved if ``path``."""
        with self._lock:
            ok = self.calib.recenter()
        if ok:
            self._autosave()
        log.info("%s: recenter %s eye: %s", self._label, self.calib.eye, "done" if ok else "nothing to recenter")
        return ok

    def recalibrate(self, duration_s: float | None = None) -> None:
        """Start a sweep calibration of ``duration_s`` seconds (default: the ``sweep_s`` setting)."""
        with self._lock:
            self.calib.start_sweep(duration_s)
        log.info("%s: sweep calibration of the %s eye started", self._label, self.calib.eye)

    def save(self, path: str | None = None) -> None:
        """Write the calibration to ``path`` (default: the configured path)."""
        target = path or self.path
        if target is None:
            raise ConfigError("save(): no path given and none configured")
        with self._lock:
            self.calib.save(target)

    def load(self, path: str | None = None) -> bool:
        """Load the calibration from ``path`` (default: the configured path); False if absent."""
        target = path or self.path
        if target is None:
            raise ConfigError("load(): no path given and none configured")
        with self._lock:
            return self.calib.load(target)

    def status(self) -> dict[str, Any]:
        """Plain dict: calibrated, sweeping, sweep_progress, counts, state (see EyeCalibration.status)."""
        with self._lock:
            out = self.calib.status()
        w = getattr(self, "_worker", None)
        out["chunks"] = w.chunks if w else 0
        out["errors"] = w.errors if w else 0
        return out

    def _start(self) -> None:
        self._worker.start()

    def _stop(self) -> None:
        self._worker.stop()

    def _close(self) -> None:
        w = getattr(self, "_worker", None)
        if w is not None:
            w.stop()


register_node_type(Calibration)
