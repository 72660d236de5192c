"""Two-eye merge: the latest calibrated gaze of each eye -> one record for the OSC sender.

Plain object :class:`EyeMerger` and the :class:`EyeMerge` node.

Rules (DOMAIN.md, "Two eyes"):

* An eye's look is *usable* when it is calibrated, finite, and not older than ``stale_s`` relative to the
  newest sample of either eye. If only one eye is usable, both eyes look where it looks. If none is, the look
  fields are NaN (the sender then sends no look message) - never a sentinel number.
* Lids: VRChat takes one lid value. When the two openness values agree within ``disagree`` (0.3) the lid is
  their mean; otherwise the eye with the better score (confidence minus ``velocity_weight`` x recent gaze
  speed, in units/s) wins. With ``link_lids`` (default) both per-eye lid fields carry that single value.
* Dilation is the mean of the eyes' finite dilation values (NaN if none).
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from pyacq_etvr.core.errors import ConfigError, PyacqError, StateError, StreamTimeout
from pyacq_etvr.core.node import Node
from pyacq_etvr.core.registry import register_node_type
from pyacq_etvr.core.spec import dtype_to_json
from pyacq_etvr.eyetypes import GAZE_DTYPE
from pyacq_etvr.nodes._worker import InputWorker
from pyacq_etvr.nodes.filters._common import positive

#: One merged two-eye sample (output ``merged`` of EyeMerge, input of OscSender).
MERGED_DTYPE = np.dtype(
    [
        ("index", "int64"),  # running count of merged samples
        ("timestamp_ns", "int64"),  # capture time of the frame that produced this sample
        ("left_x", "float32"),  # normalised gaze [-1, 1], +x right, +y up; NaN = no usable look
        ("left_y", "float32"),
        ("right_x", "float32"),
        ("right_y", "float32"),
        ("left_open", "float32"),  # 0 closed .. 1 open; NaN = unknown
        ("right_open", "float32"),
        ("lid", "float32"),  # the single lid value (openness) for VRChat
        ("dilation", "float32"),  # 0..1, NaN = unknown
        ("left_valid", "bool"),  # this eye contributed a usable look
        ("right_valid", "bool"),
        ("source", "int8"),  # which eye's frame produced this sample: 0 left, 1 right
    ]
)


class _EyeState:
    __slots__ = ("t", "x", "y", "open", "conf", "valid", "calibrated", "speed", "dil", "seen")

    def __init__(self) -> None:
        self.t = 0
        self.x = self.y = self.open = self.dil = math.nan
        self.conf = 0.0
        self.valid = self.calibrated = self.seen = False
        self.speed = 0.0

    def update(self, g: np.void, dilation: float, tau_s: float) -> None:
        t, x, y = int(g["timestamp_ns"]), float(g["x"]), float(g["y"])
        if self.seen and x == x and self.x == self.x and t > self.t:
            dt = (t - self.t) * 1e-9
            v = math.hypot(x - self.x, y - self.y) / dt
            a = dt / (tau_s + dt)
            self.speed += a * (v - self.speed)
        self.t, self.x, self.y = t, x, y
        self.open = float(g["openness"])
        self.conf = float(g["confidence"])
        self.valid = bool(g["valid"])
        self.calibrated = bool(g["calibrated"])
        self.dil = dilation
        self.seen = True

    def usable(self, newest: int, stale_ns: int) -> bool:
        return self.seen and self.calibrated and self.x == self.x and self.y == self.y and newest - self.t <= stale_ns


class EyeMerger:
    """Merge the two eyes' latest gaze samples. Call :meth:`update` per incoming gaze chunk.

    Parameters
    ----------
    disagree : float, default 0.3
        Openness difference above which the eyes are said to disagree on the lid.
    velocity_weight : float, default 0.1
        Weight of the recent gaze speed (normalised units per second) in the lid-disagreement score.
    stale_s : float, default 0.5
        An eye whose newest sample is older than this (capture time, relative to the other eye) is ignored.
    link_lids : bool, default True
        Both per-eye lid fields carry the single merged lid value (VRChat has one lid parameter).
    """

    def __init__(
        self, disagree: float = 0.3, velocity_weight: float = 0.1, stale_s: float = 0.5, link_lids: bool = True
    ) -> None:
        self.disagree = positive("disagree", disagree, allow_zero=True)
        self.velocity_weight = positive("velocity_weight", velocity_weight, allow_zero=True)
        self.stale_ns = int(positive("stale_s", stale_s) * 1e9)
        if not isinstance(link_lids, bool):
            raise ConfigError(f"link_lids must be a bool, got {link_lids!r}")
        self.link_lids = link_lids
        self.eyes = {"left": _EyeState(), "right": _EyeState()}
        self.count = 0

    def update(self, eye: str, gaze: np.ndarray, dilation: np.ndarray | None = None) -> np.ndarray:
        """Take a GAZE_DTYPE chunk of ``eye`` ('left'/'right'); return one MERGED_DTYPE record per gaze sample."""
        if eye not in self.eyes:
            raise ConfigError(f"eye must be 'left' or 'right', got {eye!r}")
        if not isinstance(gaze, np.ndarray) or gaze.dtype != GAZE_DTYPE:
            raise PyacqError(
                f"EyeMerger.update({eye}): expected a GAZE_DTYPE array, got {getattr(gaze, 'dtype', gaze)}"
            )
        gaze = gaze.reshape(-1)
        out = np.zeros(gaze.shape[0], dtype=MERGED_DTYPE)
        st = self.eyes[eye]
        for i in range(gaze.shape[0]):
            d = math.nan if dilation is None or i >= len(dilation) else float(dilation[i])
            st.update(gaze[i], d, 0.1)
            self._merge(out[i], int(gaze[i]["timestamp_ns"]), 0 if eye == "left" else 1)
        return out

    def _merge(self, rec: np.void, t: int, source: int) -> None:
        left, right = self.eyes["left"], self.eyes["right"]
        newest = max(left.t, right.t)
        ul, ur = left.usable(newest, self.stale_ns), right.usable(newest, self.stale_ns)
        lx, ly = (left.x, left.y) if ul else (right.x, right.y) if ur else (math.nan, math.nan)
        rx, ry = (right.x, right.y) if ur else (left.x, left.y) if ul else (math.nan, math.nan)
        lid = self._lid(left, right, newest)
        self.count += 1
        rec["index"] = self.count
        rec["timestamp_ns"] = t
        rec["left_x"], rec["left_y"], rec["right_x"], rec["right_y"] = lx, ly, rx, ry
        if self.link_lids:
            rec["left_open"] = rec["right_open"] = lid
        else:
            rec["left_open"], rec["right_open"] = left.open, right.open
        rec["lid"] = lid
        dils = [e.dil for e in (left, right) if e.seen and e.dil == e.dil and newest - e.t <= self.stale_ns]
        rec["dilation"] = sum(dils) / len(dils) if dils else math.nan
        rec["left_valid"], rec["right_valid"] = ul, ur
        rec["source"] = source

    def _lid(self, left: _EyeState, right: _EyeState, newest: int) -> float:
        cands = [e for e in (left, right) if e.seen and e.open == e.open and newest - e.t <= self.stale_ns]
        if not cands:
            return math.nan
        if len(cands) == 1:
            return cands[0].open
        a, b = cands
        if abs(a.open - b.open) <= self.disagree:
            return 0.5 * (a.open + b.open)
        sa = a.conf - self.velocity_weight * a.speed
        sb = b.conf - self.velocity_weight * b.speed
        return a.open if sa >= sb else b.open


class EyeMerge(Node):
    """Two-eye merge node.

    Inputs ``left``, ``right``: GAZE_DTYPE (-1,) (connect one or both: one-eye setups leave the other
    unconnected); optional ``left_dilation``, ``right_dilation``: float32 (-1,) from the Calibration nodes.
    Output ``merged``: MERGED_DTYPE (-1,), one record per incoming gaze sample, carrying that sample's capture
    timestamp (chunk timestamp = capture time too), index = running count.

    Settings: those of :class:`EyeMerger` (disagree=0.3, velocity_weight=0.1, stale_s=0.5, link_lids=True).
    Direct mode: ``calibration.attach(merge)`` and ``merge.attach(sender)`` (all in one process) replace the
    streams between them by direct calls made in the calibration's worker thread, so a frame crosses the OSC
    process in one thread (``push_gaze`` / ``push_merged``); the streams remain usable for recording.

    Threading: one worker thread per connected gaze input, which also drains its eye's dilation input (the
    newest value wins; the Calibration node sends it before the gaze of the same frame); merging and sending
    are serialised by a lock. A chunk of the wrong dtype is logged and counted (``stats()['errors']``) and
    changes nothing.
    """

    _input_specs = {
        "left": {"dtype": dtype_to_json(GAZE_DTYPE), "shape": [-1]},
        "right": {"dtype": dtype_to_json(GAZE_DTYPE), "shape": [-1]},
        "left_dilation": {"dtype": "float32", "shape": [-1]},
        "right_dilation": {"dtype": "float32", "shape": [-1]},
    }
    _output_specs = {"merged": {"dtype": dtype_to_json(MERGED_DTYPE), "shape": [-1]}}

    def _configure(self, **params: Any) -> None:
        self.merger = EyeMerger(**params)
        self._lock = threading.Lock()
        self._direct: Any = None
        self._direct_eyes: set[str] = set()
        self._dil = {"left": math.nan, "right": math.nan}

    def check_input_specs(self) -> None:
        if not (self.inputs["left"].connected or self.inputs["right"].connected or self._direct_eyes):
            raise StateError(
                f"{self._label}: connect at least one of the inputs 'left' and 'right' (or attach a Calibration)"
            )

    def accept_direct(self, eye: str) -> None:
        """Called by :meth:`Calibration.attach`: ``eye``'s gaze will arrive through :meth:`push_gaze`."""
        if eye not in ("left", "right"):
            raise ConfigError(f"eye must be 'left' or 'right', got {eye!r}")
        self._direct_eyes.add(eye)

    def attach(self, target: Any) -> None:
        """Deliver every merged chunk directly to ``target.push_merged(merged, timestamp_ns)`` (an OscSender
        in this process) in the calling worker thread, instead of (or besides) the ``merged`` output.
        A remote proxy raises ConfigError. ``attach(None)`` detaches."""
        if target is not None:
            if hasattr(target, "_rpc_addr") or not callable(getattr(target, "push_merged", None)):
                raise ConfigError(f"{self._label}: attach() needs a node of this process with push_merged()")
            target.accept_direct()
        self._direct = target

    def push_gaze(self, eye: str, gaze: np.ndarray, dilation: np.ndarray | None, timestamp_ns: int) -> None:
        """Merge a gaze chunk delivered directly by an attached Calibration (thread-safe)."""
        if not self.running():
            return
        with self._lock:
            merged = self.merger.update(eye, gaze, dilation)
            self._emit(merged, timestamp_ns)

    def _emit(self, merged: np.ndarray, timestamp_ns: int) -> None:
        out = self.outputs["merged"]
        if out.configured:
            out.send(merged, index=self.merger.count, timestamp_ns=timestamp_ns)
        if self._direct is not None:
            self._direct.push_merged(merged, timestamp_ns)

    def _initialize(self) -> None:
        self._workers = []
        for eye in ("left", "right"):
            if self.inputs[eye].connected:
                cb = self._gaze_cb(eye)
                self._workers.append(InputWorker(self.inputs[eye], cb, f"{self._label} {eye}"))

    def _gaze_cb(self, eye: str) -> Any:
        dil_input = self.inputs[eye + "_dilation"]

        def on_chunk(index: int, data: np.ndarray, ts: int) -> None:
            if dil_input.connected:  # drained here, by this eye's worker only: no extra thread per frame
                self._drain_dilation(eye, dil_input)
            with self._lock:
                dil = np.full(data.shape[0], self._dil[eye], np.float32)
                merged = self.merger.update(eye, data, dil)
                self._emit(merged, ts)

        return on_chunk

    def _drain_dilation(self, eye: str, stream: Any) -> None:
        try:
            _, d = stream.recv(timeout=0, latest=True)
        except StreamTimeout:
            return
        if d.size:
            self._dil[eye] = float(d[-1])

    def process(self, eye: str, gaze: np.ndarray) -> np.ndarray:
        """Merge a gaze chunk directly (no stream involved)."""
        with self._lock:
            return self.merger.update(eye, gaze)

    def stats(self) -> dict[str, Any]:
        ws = getattr(self, "_workers", [])
        return {"merged": self.merger.count, "errors": sum(w.errors for w in ws)}

    def _start(self) -> None:
        for w in self._workers:
            w.start()

    def _stop(self) -> None:
        for w in self._workers:
            w.stop()

    def _close(self) -> None:
        for w in getattr(self, "_workers", []):
            w.stop()


register_node_type(EyeMerge)
