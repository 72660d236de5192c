"""Filter Nodes: the plain filters of this package applied to a stream, in a worker thread.

Every filter node has one input ``input`` and one output ``output`` of the same spec:

* a structured stream (default PUPIL_DTYPE, or GAZE_DTYPE, or any structured dtype with float fields),
  shape (-1,): the fields named by ``fields`` (default ``('x', 'y')``) are filtered, every other field is
  passed through. Per-sample times come from a ``timestamp_ns`` field if the dtype has one; validity (for
  blink hold) from ``found`` or ``valid`` and ``confidence >= min_confidence``.
* an analog stream: float dtype, shape (-1, channels): every channel is filtered; the chunk timestamp is
  the time of its last sample, earlier samples are spaced by ``1 / sample_rate``.

Settings (``configure``): ``dtype`` (default PUPIL_DTYPE), ``shape`` (default (-1,) structured,
(-1, channels) analog), ``sample_rate`` (Hz, analog only, default 60), ``fields``, ``min_confidence``
(default 0.5), plus the filter's own parameters (see OneEuro, MovingAverage, OutlierRejector, BlinkHold).
``FilterChain`` takes ``filters=[('outlier', {...}), ('one_euro', {...}), ('blink_hold', {...})]`` and
applies them in order in one node (one stream hop instead of three).

Threading: one worker thread receives every chunk (no skipping: filters need the whole sequence), filters it
and sends it with the input's index and capture timestamp unchanged. A chunk that fails (wrong dtype...) is
logged and counted in ``stats()['errors']``; the next chunks are processed normally.

Direct mode (nodes of one process): ``detector.attach(filter_node)`` (PupilDetector.attach) delivers every
chunk through ``push_chunk(index, data, timestamp_ns)`` in the producer's thread instead of the ``input``
stream, which may then stay unconnected: no stream hop, no thread wake-up; same processing, same output.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from pyacq_etvr.core.errors import ConfigError, StateError
from pyacq_etvr.core.node import Node
from pyacq_etvr.core.registry import register_node_type
from pyacq_etvr.core.spec import dtype_from_json, dtype_to_json
from pyacq_etvr.eyetypes import PUPIL_DTYPE
from pyacq_etvr.nodes._worker import InputWorker
from pyacq_etvr.nodes.filters.blink_hold import BlinkHold
from pyacq_etvr.nodes.filters.moving_average import MovingAverage
from pyacq_etvr.nodes.filters.one_euro import OneEuro
from pyacq_etvr.nodes.filters.outlier import OutlierRejector

log = logging.getLogger(__name__)

FILTERS: dict[str, type] = {
    "one_euro": OneEuro,
    "moving_average": MovingAverage,
    "outlier": OutlierRejector,
    "blink_hold": BlinkHold,
}


def make_filter(kind: str, params: dict[str, Any]) -> Any:
    """Build a plain filter by name; ConfigError naming the filter on bad names or parameters."""
    cls = FILTERS.get(kind)
    if cls is None:
        raise ConfigError(f"filters: unknown filter {kind!r}; choose from {', '.join(FILTERS)}")
    try:
        return cls(**params)
    except TypeError as exc:
        raise ConfigError(f"filters.{kind}: {exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"filters.{kind}.{exc}") from None


class StreamFilterer:
    """Apply a list of plain filters to chunks of one stream layout (the work of the filter nodes, no thread).

    ``process(chunk, timestamp_ns)`` returns the filtered chunk (a new array of the same dtype and shape).
    """

    def __init__(self, filters: list[Any], dtype: Any, fields: Any, min_confidence: float, sample_rate: float):
        self.filters = filters
        self.dtype = dtype_from_json(dtype)
        self.structured = self.dtype.fields is not None
        self.min_confidence = float(min_confidence)
        self.period_ns = int(1e9 / sample_rate)
        if self.structured:
            self.fields = tuple(fields or ("x", "y"))
            names = self.dtype.names or ()
            bad = [f for f in self.fields if f not in names or self.dtype[f].kind != "f" or self.dtype[f].shape]
            if bad or not self.fields:
                raise ConfigError(f"fields: {bad or self.fields} are not scalar float fields of {self.dtype}")
            self.valid_field = "found" if "found" in names else "valid" if "valid" in names else None
        elif self.dtype.kind != "f":
            raise ConfigError(f"dtype: filter nodes need a float or structured dtype, got {self.dtype}")

    def process(self, chunk: np.ndarray, timestamp_ns: int) -> np.ndarray:
        if chunk.dtype != self.dtype:
            raise ConfigError(f"chunk dtype {chunk.dtype} differs from the configured {self.dtype}")
        n = chunk.shape[0]
        if self.structured:
            names = chunk.dtype.names or ()
            ts = chunk["timestamp_ns"] if "timestamp_ns" in names else np.full(n, timestamp_ns, np.int64)
            values = np.stack([chunk[f].astype(np.float64) for f in self.fields], axis=1)
            valid = np.ones(n, bool) if self.valid_field is None else chunk[self.valid_field].astype(bool)
            if "confidence" in names:
                valid &= chunk["confidence"] >= self.min_confidence
        else:
            ts = timestamp_ns - self.period_ns * np.arange(n - 1, -1, -1, dtype=np.int64)
            values = chunk.reshape(n, -1).astype(np.float64)
            valid = None
        for f in self.filters:
            values = f(values, ts, valid) if isinstance(f, BlinkHold) else f(values, ts)
        out = chunk.copy()
        if self.structured:
            for i, name in enumerate(self.fields):
                out[name] = values[:, i]
        else:
            out.reshape(n, -1)[:] = values
        return out


class _FilterNode(Node):
    """Base of the filter nodes (see the module docstring for the contract)."""

    _input_specs = {"input": {}}
    _output_specs = {"output": {}}

    def _make_filters(self, **params: Any) -> list[Any]:
        raise NotImplementedError

    def _configure(
        self,
        dtype: Any = PUPIL_DTYPE,
        shape: Any = None,
        fields: Any = None,
        min_confidence: float = 0.5,
        sample_rate: float = 60.0,
        **params: Any,
    ) -> None:
        filters = self._make_filters(**params)
        self.filterer = StreamFilterer(filters, dtype, fields, min_confidence, sample_rate)
        dt = self.filterer.dtype
        if shape is None:
            shape = (-1,) if self.filterer.structured else (-1, 1)
        spec = {"dtype": dtype_to_json(dt), "shape": list(shape), "sample_rate": float(sample_rate)}
        self.inputs["input"].spec.update(dtype=spec["dtype"], shape=spec["shape"])
        self.outputs["output"].spec.update(spec)
        self._rate = 0.0
        self._conf = 0.0
        self._direct = False
        self._direct_chunks = self._direct_errors = 0

    def check_input_specs(self) -> None:
        if not self.inputs["input"].connected and not getattr(self, "_direct", False):
            raise StateError(f"{self._label}: input 'input' is not connected (nor a producer attached)")

    def accept_direct(self, dtype: Any) -> None:
        """Called by a producer's ``attach()`` (PupilDetector.attach): chunks of ``dtype`` will arrive through
        :meth:`push_chunk`. ConfigError if ``dtype`` is not the configured one (nothing changes then)."""
        if not hasattr(self, "filterer"):
            raise StateError(f"{self._label}: configure() before attaching a producer")
        if dtype_from_json(dtype) != self.filterer.dtype:
            raise ConfigError(
                f"{self._label}: attached chunks of {dtype} differ from the configured {self.filterer.dtype}"
            )
        self._direct = True

    def push_chunk(self, index: int, data: np.ndarray, timestamp_ns: int) -> None:
        """Filter and send one chunk now, in the caller's thread (direct mode). Never raises: a failing chunk
        is logged and counted (``stats()['errors']``); chunks pushed while the node is not running are ignored."""
        if not self.running():
            return
        self._direct_chunks += 1
        try:
            self._on_chunk(index, data, timestamp_ns)
        except Exception:
            self._direct_errors += 1
            log.exception("%s: processing chunk %d failed", self._label, index)

    def _initialize(self) -> None:
        self._worker = None
        if self.inputs["input"].connected:
            self._worker = InputWorker(self.inputs["input"], self._on_chunk, f"{self._label} worker")

    def _on_chunk(self, index: int, data: np.ndarray, ts: int) -> None:
        self.outputs["output"].send(self.filterer.process(data, ts), index=index, timestamp_ns=ts)
        names = data.dtype.names or ()
        if "confidence" in names and data.shape[0]:  # recent detection rate / confidence (EMA, ~60 samples)
            found = data["found"] if "found" in names else data["valid"] if "valid" in names else None
            if found is not None:
                self._rate += 0.03 * (float(found.mean()) - self._rate)
                conf = data["confidence"][found]
                if conf.size:
                    self._conf += 0.03 * (float(conf.mean()) - self._conf)

    def process(self, chunk: np.ndarray, timestamp_ns: int = 0) -> np.ndarray:
        """Filter one chunk directly (no stream involved): the node's work as a plain method."""
        return self.filterer.process(chunk, timestamp_ns)

    def reset(self) -> None:
        """Forget the filters' state (e.g. after a camera reconnects)."""
        for f in self.filterer.filters:
            f.reset()

    def stats(self) -> dict[str, Any]:
        """Plain dict: chunks, errors, the filters' counters, and for pupil/gaze streams the recent detection
        rate (share of samples found/valid) and mean confidence of found samples (moving averages)."""
        w = getattr(self, "_worker", None)
        out: dict[str, Any] = {"chunks": w.chunks if w else 0, "errors": w.errors if w else 0}
        out["chunks"] += getattr(self, "_direct_chunks", 0)
        out["errors"] += getattr(self, "_direct_errors", 0)
        out["detection_rate"], out["mean_confidence"] = self._rate, self._conf
        for f in self.filterer.filters:
            for key in ("rejected", "held", "guarded"):
                if hasattr(f, key):
                    out[key] = out.get(key, 0) + int(getattr(f, key))
        return out

    def _start(self) -> None:
        if self._worker is not None:
            self._worker.start()

    def _stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()

    def _close(self) -> None:
        w = getattr(self, "_worker", None)
        if w is not None:
            w.stop()


class OneEuroFilter(_FilterNode):
    """One Euro filter node. Settings: min_cutoff=1.0 Hz, beta=0.007, d_cutoff=1.0 Hz (see :class:`OneEuro`)."""

    def _make_filters(self, **params: Any) -> list[Any]:
        return [make_filter("one_euro", params)]


class MovingAverageFilter(_FilterNode):
    """Moving-average node. Setting: window=5 samples (see :class:`MovingAverage`)."""

    def _make_filters(self, **params: Any) -> list[Any]:
        return [make_filter("moving_average", params)]


class OutlierFilter(_FilterNode):
    """Jump-rejection / median node. Settings: max_jump=25, confirm=2, median=1 (see :class:`OutlierRejector`).
    Rejected samples come out with NaN in the filtered fields."""

    def _make_filters(self, **params: Any) -> list[Any]:
        return [make_filter("outlier", params)]


class BlinkHoldFilter(_FilterNode):
    """Blink-hold node: invalid samples (closed eye, low confidence) carry the last good values for up to
    max_hold=1.0 s (see :class:`BlinkHold`). The ``found``/``valid`` field is left as it was."""

    def _make_filters(self, **params: Any) -> list[Any]:
        return [make_filter("blink_hold", params)]


class FilterChain(_FilterNode):
    """Several filters in one node: ``configure(filters=[(name, params), ...])``, applied in order.

    Names: 'outlier', 'one_euro', 'moving_average', 'blink_hold'. Default chain for pupil positions in
    pixels: outlier rejection (max_jump 40 px), One Euro (min_cutoff 1.5 Hz, beta 0.05), blink hold (1 s).
    """

    DEFAULT = (
        ("outlier", {"max_jump": 40.0, "confirm": 2}),
        ("one_euro", {"min_cutoff": 1.5, "beta": 0.05}),
        ("blink_hold", {"max_hold": 1.0}),
    )

    def _make_filters(self, filters: Any = DEFAULT) -> list[Any]:  # type: ignore[override]
        if not isinstance(filters, (list, tuple)):
            raise ConfigError(f"filters must be a list of (name, params) pairs, got {filters!r}")
        out = []
        for item in filters:
            if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[1], dict)):
                raise ConfigError(f"filters: each entry must be (name, params dict), got {item!r}")
            out.append(make_filter(str(item[0]), dict(item[1])))
        return out


for _cls in (OneEuroFilter, MovingAverageFilter, OutlierFilter, BlinkHoldFilter, FilterChain):
    register_node_type(_cls)
