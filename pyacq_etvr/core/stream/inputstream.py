"""InputStream: the receiving end of a stream (pyacq's API, typed, with latest-frame reads and counters)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..errors import ConfigError, StreamError
from ..spec import StreamSpec, check_compatible
from .outputstream import stream_label
from .ringbuffer import RingBuffer
from .transfermode import DataReceiver, transfermodes


def _check_timeout(stream: InputStream, timeout: Any) -> None:
    """ConfigError unless ``timeout`` is None or a number of milliseconds >= 0."""
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float, np.integer, np.floating)) or timeout < 0:
        raise ConfigError(f"{stream.label}: timeout must be None or a number of ms >= 0, got {timeout!r}")


def resolve_params(output: Any) -> dict[str, Any]:
    """Params dict of ``output``: an OutputStream, a proxy to one (anything with ``.params``), or the dict."""
    if isinstance(output, dict):
        params = output
    else:
        try:
            params = output.params
        except AttributeError:
            raise ConfigError(
                f"connect() expects an OutputStream, a proxy of one or its params dict, got {type(output).__name__}"
            ) from None
        if not isinstance(params, dict) and hasattr(params, "_get_value"):
            params = params._get_value()
    if not isinstance(params, dict) or "url" not in params or "transfermode" not in params:
        raise ConfigError("connect(): the output is not configured (its params have no url/transfermode)")
    return dict(params)


class InputStream:
    """Receiving end of a stream.

    Args:
        spec: what the owning node requires (pyacq keyword form); checked against the output at ``connect()``.
        node: owning Node (its ``after_input_connect(name)`` hook is called), or None.
        name: stream name.
        latest: leaky input: ``recv()`` drains to the newest chunk by default and counts the rest as
            ``skipped`` (cameras, detectors, viewers). Also settable as the ``latest`` attribute.
        raise_on_overrun: sharedmem only: raise OverrunError when the writer lapped this reader (the read
            position then jumps to the newest chunk); by default the overrun is counted and reading continues.

    After ``connect()``, ``params`` holds the output's params (JSON-serialisable: dtype in
    :func:`~pyacq_etvr.core.spec.dtype_to_json` form); ``dtype``, ``shape`` and ``stream_spec`` give them typed.
    Timeouts are in milliseconds, like pyacq's ``poll(timeout)``. Not thread-safe: one thread at a time.
    """

    def __init__(
        self,
        spec: dict[str, Any] | None = None,
        node: Any = None,
        name: str | None = None,
        latest: bool = False,
        raise_on_overrun: bool = False,
    ) -> None:
        self.spec: dict[str, Any] = dict(spec or {})
        self.node = node
        self.name = name
        self.latest = bool(latest)
        self.raise_on_overrun = bool(raise_on_overrun)
        self.params: dict[str, Any] = {}
        self.stream_spec: StreamSpec | None = None
        self._receiver: DataReceiver | None = None
        self._buffer: Any = None
        # background readers (e.g. ThreadPollInput) stopped and joined by close(): a ZeroMQ socket must not
        # be closed under a thread that is polling it (libzmq aborts the process)
        self._readers: list[Any] = []

    @property
    def label(self) -> str:
        return stream_label(self.node, self.name, "input")

    def connect(self, output: Any, timeout: float = 10000.0) -> None:
        """Connect to an OutputStream, a proxy of one, or its params dict (``timeout`` in ms for the handshake).

        Raises SpecMismatchError if the output's spec is incompatible with this input's spec (the message names
        both streams and the field), ConfigError for an unconfigured output, StreamError if the handshake fails.
        Connecting again first disconnects.
        """
        params = resolve_params(output)
        out_spec = StreamSpec.from_dict(params)
        in_spec = StreamSpec.from_dict(self.spec)
        check_compatible(out_spec, in_spec, str(params.get("name", "output")), self.label)
        _, receiver_cls = transfermodes.get(params["transfermode"])
        self.close()
        receiver = receiver_cls(params, out_spec, self.raise_on_overrun)
        receiver.connect(timeout, f"{self.label} to {params.get('name', 'output')}")
        self._receiver = receiver
        self.params = params
        self.stream_spec = out_spec
        if self.node is not None:
            self.node.after_input_connect(self.name)

    @property
    def connected(self) -> bool:
        return self._receiver is not None

    def _rx(self) -> DataReceiver:
        rx = self._receiver
        if rx is None:
            raise StreamError(f"{self.label} is not connected")
        return rx

    @property
    def dtype(self) -> np.dtype:
        spec = self.stream_spec
        if spec is None or spec.dtype is None:
            raise StreamError(f"{self.label} is not connected")
        return spec.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        spec = self.stream_spec
        if spec is None or spec.shape is None:
            raise StreamError(f"{self.label} is not connected")
        return spec.shape

    def poll(self, timeout: float | None = None) -> bool:
        """True if a chunk is ready within ``timeout`` ms (None: wait forever, 0: do not wait)."""
        _check_timeout(self, timeout)
        return self._rx().poll(timeout)

    def recv(
        self, timeout: float | None = None, latest: bool | None = None, with_timestamp: bool = False
    ) -> tuple[Any, ...]:
        """Receive the next chunk: ``(index, data)`` or ``(index, data, timestamp_ns)``.

        Args:
            timeout: ms to wait (None: forever); StreamTimeout when nothing arrived.
            latest: drain to the newest chunk, counting the others as skipped (default: ``self.latest``).
            with_timestamp: also return the chunk's send time (``time.monotonic_ns()`` units).

        ``data`` is read-only for plaindata (a view of the received message) and a private copy for sharedmem.
        If a buffer is attached (:meth:`set_buffer`) the chunk is also appended to it.
        """
        rx = self._receiver
        if rx is None:
            raise StreamError(f"{self.label} is not connected")
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout < 0):
            _check_timeout(self, timeout)
        index, data, ts = rx.recv(timeout, self.latest if latest is None else latest)
        if self._buffer is not None and isinstance(self._buffer, RingBuffer):
            self._buffer.new_chunk(data, index)
        if with_timestamp:
            return index, data, ts
        return index, data

    def empty_queue(self) -> int:
        """Discard every pending chunk (counted as skipped); return how many."""
        return self._rx().empty_queue()

    def stats(self) -> dict[str, int]:
        """Counters: received, skipped (latest/empty_queue), dropped (lost in transit), overruns, last_index."""
        if self._receiver is None:
            return {"received": 0, "skipped": 0, "dropped": 0, "overruns": 0, "last_index": -1}
        return self._receiver.stats()

    def set_buffer(
        self,
        size: int | None = None,
        double: bool = True,
        axisorder: Any = None,
        shmem: bool | None = None,
        fill: Any = None,
    ) -> None:
        """Attach a ring buffer of ``size`` samples that ``recv()`` fills; read it with :meth:`get_data`.

        ``shmem=True`` on a sharedmem stream reads the output's shared ring directly instead (``size`` ignored;
        ``get_data`` then always copies and raises OverrunError for overwritten data).
        """
        rx = self._rx()
        if shmem:
            if not hasattr(rx, "get_data"):
                raise ConfigError(f"{self.label}: shmem=True needs a sharedmem stream")
            self._buffer = rx
            return
        if size is None:
            size = int(self.params.get("buffer_size") or 0)
        if size <= 0:
            raise ConfigError(f"{self.label}: set_buffer() needs size > 0")
        shape = (int(size), *self.shape[1:])
        self._buffer = RingBuffer(shape, self.dtype, double=double, fill=fill, axisorder=axisorder)

    @property
    def buffer(self) -> Any:
        """The attached RingBuffer (or the shared ring reader), or None."""
        return self._buffer

    def get_data(self, start: int, stop: int, copy: bool = False, join: bool = True) -> Any:
        """Samples ``[start, stop)`` of the attached buffer (see :meth:`RingBuffer.get_data`)."""
        if self._buffer is None:
            raise StreamError(f"{self.label}: no buffer attached (call set_buffer() first)")
        return self._buffer.get_data(start, stop, copy=copy, join=join)

    def add_reader(self, reader: Any) -> None:
        """Register a background reader (an object with ``stop()`` and ``wait(timeout_ms)``, such as
        :class:`~pyacq_etvr.core.poller.ThreadPollInput`) that :meth:`close` stops and joins first."""
        if reader not in self._readers:
            self._readers.append(reader)

    def remove_reader(self, reader: Any) -> None:
        """Forget a reader registered with :meth:`add_reader`."""
        if reader in self._readers:
            self._readers.remove(reader)

    def close(self) -> None:
        """Disconnect and release the socket / mapping. Idempotent.

        Registered background readers are stopped and joined first (each within its own receive timeout
        plus one second), so closing from another thread is safe.
        """
        for reader in list(self._readers):
            reader.stop()
        me = threading.current_thread()
        for reader in list(self._readers):
            if getattr(reader, "_thread", None) is me:
                continue  # closed from the reader's own callback: it is not inside recv now
            if not reader.wait(float(getattr(reader, "timeout", 200.0)) + 1000.0):
                raise StreamError(f"{self.label}: background reader {reader!r} did not stop; not closing")
        self._readers.clear()
        rx, self._receiver = self._receiver, None
        self._buffer = None
        if rx is not None:
            rx.close()

    def __repr__(self) -> str:
        where = self.params.get("name", "?") if self._receiver is not None else "not connected"
        return f"<InputStream {self.label} <- {where}>"
