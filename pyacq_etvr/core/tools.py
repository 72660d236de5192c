"""Stream management nodes from pyacq: StreamMonitor, StreamConverter, ChannelSplitter.

All three consume their input in a :class:`~pyacq_etvr.core.poller.ThreadPollInput` thread created in
``initialize()``, started by ``start()`` and joined (2 s deadline) by ``stop()``. None of them needs Qt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import ConfigError, StateError
from .node import Node
from .poller import ThreadPollInput
from .registry import register_node_type
from .stream import OutputStream

_JOIN_MS = 2000.0
_FORWARDED_KEYS = ("streamtype", "dtype", "shape", "sample_rate", "units", "scale", "offset")


class _HandlerPoller(ThreadPollInput):
    """Poller calling ``handler(index, data, timestamp_ns)`` directly (no callback list)."""

    def __init__(self, input_stream: Any, handler: Callable[[int, Any, int], None], latest: bool | None) -> None:
        super().__init__(input_stream, timeout=100.0, latest=latest)
        self._handler = handler

    def process_data(self, index: int, data: Any) -> None:
        self._handler(index, data, self.timestamp_ns)


class _PollingNode(Node):
    """Shared threading for nodes that consume one input in a poller thread."""

    _latest: bool | None = None
    _poller: _HandlerPoller | None = None

    def _make_poller(self, input_name: str) -> None:
        self._poller = _HandlerPoller(self.inputs[input_name], self._on_chunk, self._latest)

    def _on_chunk(self, index: int, data: Any, timestamp_ns: int) -> None:
        raise NotImplementedError

    def _start(self) -> None:
        if self._poller is not None:
            self._poller.start()  # a new thread on each start()

    def _stop(self) -> None:
        if self._poller is not None:
            self._poller.stop()
            if not self._poller.wait(_JOIN_MS):
                raise StateError(f"{self._label}: poller thread did not stop within {_JOIN_MS} ms")


class StreamMonitor(_PollingNode):
    """Consumes any stream and keeps statistics (pyacq's stream monitor example, without printing).

    Input ``signals``: any spec. ``configure(callback=None, latest=False)``: ``callback(index, data)`` is
    called in the poller thread for every chunk; ``latest=True`` reads latest-frame (skips are counted).
    :meth:`stats` (thread-safe) returns chunks, samples, last_index, rate (chunks/s since start), latency of
    the last chunk and the max (ms, from the chunk's send timestamp) and the input's counters.
    """

    _input_specs = {"signals": {}}

    def _configure(self, callback: Callable[[int, Any], None] | None = None, latest: bool = False) -> None:
        if callback is not None and not callable(callback):
            raise ConfigError(f"{self._label}: callback must be callable, got {callback!r}")
        self.callback = callback
        self._latest = bool(latest)
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._chunks = self._samples = 0
        self._last_index = -1
        self._latency_ns = self._max_latency_ns = 0
        self._t_start = time.monotonic()

    def _initialize(self) -> None:
        self._make_poller("signals")

    def _start(self) -> None:
        with self._lock:
            self._reset()
        super()._start()

    def _on_chunk(self, index: int, data: Any, timestamp_ns: int) -> None:
        latency = time.monotonic_ns() - timestamp_ns
        with self._lock:
            self._chunks += 1
            self._samples += int(data.shape[0])
            self._last_index = index
            self._latency_ns = latency
            self._max_latency_ns = max(self._max_latency_ns, latency)
        if self.callback is not None:
            self.callback(index, data)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            elapsed = max(1e-9, time.monotonic() - self._t_start)
            out: dict[str, Any] = {
                "chunks": self._chunks,
                "samples": self._samples,
                "last_index": self._last_index,
                "rate": self._chunks / elapsed,
                "latency_ms": self._latency_ns / 1e6,
                "max_latency_ms": self._max_latency_ns / 1e6,
            }
        out.update({f"input_{k}": v for k, v in self.input.stats().items() if k != "last_index"})
        return out


class StreamConverter(_PollingNode):
    """Forwards a stream to an output with another configuration (e.g. sharedmem -> tcp), pyacq's converter.

    Input ``in``: any spec. Output ``out``: the input's streamtype, dtype, shape, sample_rate, units, scale and
    offset are copied into the output spec at connect time; the user chooses protocol / transfermode. Index
    and send timestamp are preserved. ``configure(latest=False)``.
    """

    _input_specs = {"in": {}}
    _output_specs = {"out": {}}

    def _configure(self, latest: bool = False) -> None:
        self._latest = bool(latest)

    def after_input_connect(self, inputname: str) -> None:
        params = self.inputs["in"].params
        for k in _FORWARDED_KEYS:
            if params.get(k) is not None:
                self.outputs["out"].spec[k] = params[k]

    def _initialize(self) -> None:
        if not self.outputs["out"].configured:
            raise StateError(f"{self._label}: output 'out' is not configured")
        self._make_poller("in")

    def _on_chunk(self, index: int, data: Any, timestamp_ns: int) -> None:
        self.outputs["out"].send(data, index=index, timestamp_ns=timestamp_ns)


class ChannelSplitter(_PollingNode):
    """Splits a multi-channel ``(-1, n)`` stream into several outputs (pyacq's ChannelSplitter).

    ``configure(output_channels={'name': [channels...], ...}, output_timeaxis='same')`` creates one output per
    name with shape ``(-1, len(channels))``, same dtype / sample_rate / streamtype as the input. Channel
    indices are checked against the input at connect time (ConfigError). Index and timestamp are preserved.
    """

    _input_specs = {"signals": {}}

    def _configure(
        self, output_channels: dict[str, Sequence[int]] | None = None, output_timeaxis: Any = "same"
    ) -> None:
        if not output_channels or not isinstance(output_channels, dict):
            raise ConfigError(f"{self._label}: output_channels must be a non-empty dict name -> channel list")
        if output_timeaxis not in ("same", 0):
            raise ConfigError(f"{self._label}: output_timeaxis={output_timeaxis!r} is not supported (use 'same')")
        channels: dict[str, np.ndarray] = {}
        for name, chans in output_channels.items():
            arr = np.asarray(chans)
            if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer) or (arr < 0).any():
                raise ConfigError(f"{self._label}: output_channels[{name!r}] must be a non-empty list of channels >= 0")
            channels[str(name)] = arr.astype(np.intp)
        for out in self.outputs.values():
            out.close()
        self.output_channels = channels
        self.outputs = {name: OutputStream(spec={}, node=self, name=name) for name in channels}

    def after_input_connect(self, inputname: str) -> None:
        params = self.inputs["signals"].params
        shape = params.get("shape") or []
        if len(shape) != 2:
            raise ConfigError(f"{self._label}: input must be 2-D (-1, n_channels), got shape {shape}")
        for name, chans in self.output_channels.items():
            if chans.max() >= shape[1]:
                raise ConfigError(f"{self._label}: output {name!r} asks channel {int(chans.max())} of {shape[1]}")
            spec = self.outputs[name].spec
            for k in _FORWARDED_KEYS:
                if params.get(k) is not None:
                    spec[k] = params[k]
            spec["shape"] = (-1, len(chans))

    def _initialize(self) -> None:
        missing = [n for n, o in self.outputs.items() if not o.configured]
        if missing:
            raise StateError(f"{self._label}: outputs {missing} are not configured")
        self._routes = [(self.outputs[n], c) for n, c in self.output_channels.items()]
        self._make_poller("signals")

    def _on_chunk(self, index: int, data: Any, timestamp_ns: int) -> None:
        for out, chans in self._routes:
            out.send(data[:, chans], index=index, timestamp_ns=timestamp_ns)


register_node_type(StreamMonitor)
register_node_type(StreamConverter)
register_node_type(ChannelSplitter)
