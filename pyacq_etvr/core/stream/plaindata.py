"""``plaindata`` transfer mode: each chunk travels over ZeroMQ as two frames, a 32-byte header and the data.

Zero-copy: the sender hands the chunk's memory to ZeroMQ (``copy=False`` from 64 KiB; below that pyzmq
copies into the message in C anyway, and its copying path is cheaper) and the receiver wraps the received
frame with ``np.frombuffer`` (read-only, no copy). Do not modify an array after sending it: a chunk of
64 KiB or more may still be in flight (inproc: the receiver even sees the sender's memory).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import zmq

from ..errors import StreamTimeout
from ..spec import StreamSpec
from .channel import HEADER, SubChannel
from .transfermode import DataReceiver, DataSender

_pack = HEADER.pack
_unpack = HEADER.unpack
_HEADER_SIZE = HEADER.size
_COPY_THRESHOLD = zmq.COPY_THRESHOLD


class PlainDataSender(DataSender):
    """Publishes ``[header, data]`` on the output's XPUB socket."""

    def __init__(self, channel: Any, params: dict[str, Any], spec: StreamSpec) -> None:
        super().__init__(channel, params, spec)
        self._seq = 0
        self._sock = channel.socket
        self._lock = channel.lock

    def send(self, data: np.ndarray, index: int, timestamp_ns: int) -> None:
        header = _pack(self._seq, index, timestamp_ns, data.shape[0])
        self._seq += 1
        with self._lock:
            self._sock.send(header, zmq.SNDMORE)
            # pyzmq copies messages under 64 KiB anyway, and its copying path is the cheaper one there
            self._sock.send(data, copy=data.nbytes < _COPY_THRESHOLD)

    def close(self) -> None:
        """Nothing of its own to release."""


class PlainDataReceiver(DataReceiver):
    """Receives ``[header, data]`` chunks; counts sequence gaps as ``dropped``."""

    def __init__(self, params: dict[str, Any], spec: StreamSpec, raise_on_overrun: bool = False) -> None:
        super().__init__(params, spec, raise_on_overrun)
        self.channel = SubChannel(params["url"], int(params.get("rcvhwm", 1000)))
        self._sock = self.channel.socket
        self._dtype = spec.dtype
        self._tail = tuple(spec.shape[1:]) if spec.shape is not None else ()
        self._next_seq = -1
        self._pending: bytes | None = None
        self._timeout_arg: float | None = None  # RCVTIMEO is -1 (None) on a new socket
        self._last_n = -1
        self._last_shape: tuple[int, ...] = ()

    def connect(self, timeout: float, what: str) -> None:
        self.channel.connect(timeout, what)

    def poll(self, timeout: float | None) -> bool:
        if self._pending is not None:
            return True
        sock = self._sock
        deadline = None if timeout is None else time.monotonic() + timeout / 1000.0
        while True:
            wait = -1 if deadline is None else max(0.0, (deadline - time.monotonic()) * 1000.0)
            if not sock.poll(wait):
                return False
            first = sock.recv()
            if len(first) == _HEADER_SIZE:
                self._pending = first  # zmq cannot peek: keep the header for recv()
                return True
            self.channel.welcomed = True  # a one-frame welcome message: consume it and keep waiting

    def _next_header(self, timeout: float | None) -> bytes | None:
        """Header of the next chunk within ``timeout`` ms, or None. Blocking recv with RCVTIMEO: no extra poll."""
        if self._pending is not None:
            header, self._pending = self._pending, None
            return header
        sock = self._sock
        if timeout != self._timeout_arg:  # setsockopt only when the timeout changes
            ms = -1 if timeout is None else max(0, math.ceil(timeout))
            sock.setsockopt(zmq.RCVTIMEO, ms)
            self._timeout_arg = timeout
        try:
            first = sock.recv()
        except zmq.Again:
            return None
        if len(first) == _HEADER_SIZE:
            return first
        return self._after_welcome(timeout)

    def _after_welcome(self, timeout: float | None) -> bytes | None:
        """Rare path: a one-frame welcome message came first; skip it and wait for the rest of ``timeout``."""
        self.channel.welcomed = True
        deadline = None if timeout is None else time.monotonic() + timeout / 1000.0
        while True:
            remaining = None if deadline is None else max(0.0, (deadline - time.monotonic()) * 1000.0)
            if not self._sock.poll(-1 if remaining is None else remaining):
                return None
            first = self._sock.recv()
            if len(first) == _HEADER_SIZE:
                return first

    def _read_one(self, header: bytes) -> tuple[int, np.ndarray, int]:
        frame = self._sock.recv(copy=False)
        seq, index, ts, n = _unpack(header)
        if seq != self._next_seq and self._next_seq >= 0:
            self.dropped += max(0, seq - self._next_seq)
        self._next_seq = seq + 1
        if n != self._last_n:
            self._last_n, self._last_shape = n, (n, *self._tail)
        arr = np.ndarray(self._last_shape, self._dtype, frame)
        arr.flags.writeable = False  # the frame may be the sender's own memory (inproc zero-copy)
        return index, arr, ts

    def recv(self, timeout: float | None, latest: bool) -> tuple[int, np.ndarray, int]:
        header = self._next_header(timeout)
        if header is None:
            raise StreamTimeout(f"no chunk from {self.params.get('name', self.channel.url)} within {timeout} ms")
        out = self._read_one(header)
        if latest:
            sock = self._sock
            while sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                header = self._next_header(0)
                if header is None:
                    break
                out = self._read_one(header)
                self.skipped += 1
        self.received += 1
        self.last_index = out[0]
        return out

    def empty_queue(self) -> int:
        n = 0
        while True:
            header = self._next_header(0)
            if header is None:
                break
            self._read_one(header)
            n += 1
        self.skipped += n
        return n

    def close(self) -> None:
        self._pending = None
        self.channel.close()
