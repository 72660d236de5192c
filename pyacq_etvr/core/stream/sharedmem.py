"""``sharedmem`` transfer mode: a ring buffer in ``/dev/shm`` guarded by a seqlock, with coalesced wake-ups.

Segment layout (all int64): a 16-slot header, ``chunk_slots`` x (index, timestamp_ns, n) chunk records, then
the data ring (a :class:`RingBuffer` of ``buffer_size`` samples, optionally doubled / axis-reordered).

Writer, per chunk ``seq`` ending at ``index``: publish ``IDX_BEGIN = index`` and ``SEQ_BEGIN = seq + 1``
(the samples about to be destroyed are those older than ``index - buffer_size``), write the chunk record and
the data, then publish ``IDX_END`` and ``SEQ_END`` (committed). Reader: copy the chunk out, then re-read
``SEQ_BEGIN`` / ``IDX_BEGIN``; if the writer started overwriting what was copied, the copy is discarded and
an overrun is counted (or OverrunError raised): torn or overwritten data is never returned.

Notifications: a reader that caught up spins ~20 us on ``SEQ_END`` (cheap, catches bursts), then sets the
``WAITING`` flag, re-checks, and blocks on the SUB socket in bounded slices (a lost wake-up costs at most
50 ms; between slices it checks that the writer process is alive, StreamClosedError if it died, after
removing the dead writer's ipc socket file, see :mod:`pyacq_etvr.core.ipcfiles`). The
writer sends a one-byte ZeroMQ notification only when ``WAITING`` is set, and clears it: at high rates
almost no chunk pays for a ZeroMQ message, at low rates each wake-up costs one small message.
Assumes a TSO machine (x86-64) for cross-process store ordering.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import zmq

from .. import ipcfiles
from ..errors import (
    ConfigError,
    NotAvailableError,
    OverrunError,
    SpecMismatchError,
    StreamClosedError,
    StreamError,
    StreamTimeout,
)
from ..spec import StreamSpec
from .channel import NOTIFY, SubChannel
from .ringbuffer import RingBuffer, ring_nbytes
from .shm import SharedMemorySegment, cleanup_stale_segments, process_start_time
from .transfermode import DataReceiver, DataSender

MAGIC = 0x70796163715F7276  # "pyacq_rv"
LAYOUT = 1
HEADER_SLOTS = 16
MAGIC_, LAYOUT_, SEQ_BEGIN, SEQ_END, IDX_BEGIN, IDX_END, WAITING, WRITER_PID, CLOSED, WRITER_START = range(10)
_WAIT_SLICE_MS = 50.0
_SPIN_NS = 20_000


def layout(params: dict[str, Any], spec: StreamSpec) -> tuple[int, int, int]:
    """Return (chunk_slots, data_offset, total_size) of a segment for these params."""
    size = int(params["buffer_size"])
    slots = int(params.get("chunk_slots") or max(size, 16))
    data_offset = (8 * HEADER_SLOTS + 24 * slots + 63) // 64 * 64
    nbytes = ring_nbytes((size, *spec.shape[1:]), spec.dtype, bool(params["double"]))
    return slots, data_offset, data_offset + nbytes


def _views(seg: SharedMemorySegment, params: dict[str, Any], spec: StreamSpec, fill: Any) -> tuple[Any, ...]:
    slots, data_offset, total = layout(params, spec)
    mv = memoryview(seg.mmap)
    header = mv[: 8 * HEADER_SLOTS].cast("q")
    meta = mv[8 * HEADER_SLOTS : 8 * HEADER_SLOTS + 24 * slots].cast("q")
    ring = RingBuffer(
        (int(params["buffer_size"]), *spec.shape[1:]),
        spec.dtype,
        double=bool(params["double"]),
        shmem=mv[data_offset:total],
        fill=fill,
        axisorder=params.get("axisorder"),
    )
    return mv, header, meta, ring, slots


class SharedMemSender(DataSender):
    """Writes chunks into the shared ring; notifies waiting readers over the output's XPUB socket."""

    extra_keys = {"buffer_size": None, "double": False, "axisorder": None, "fill": None, "chunk_slots": None}

    def __init__(self, channel: Any, params: dict[str, Any], spec: StreamSpec) -> None:
        super().__init__(channel, params, spec)
        size = params.get("buffer_size")
        if not isinstance(size, (int, np.integer)) or size <= 0:
            raise ConfigError(f"buffer_size: sharedmem needs the ring size in samples (int > 0), got {size!r}")
        if params.get("axisorder") is not None:
            params["axisorder"] = [int(a) for a in params["axisorder"]]
        cleanup_stale_segments()
        _, _, total = layout(params, spec)
        self.segment = SharedMemorySegment.create(total)
        try:
            self._mv, self._h, self._meta, self.ring, self._slots = _views(self.segment, params, spec, params["fill"])
        except BaseException:
            self.segment.close()
            raise
        h = self._h
        h[WRITER_PID] = os.getpid()
        h[WRITER_START] = process_start_time(os.getpid()) or 0
        h[LAYOUT_] = LAYOUT
        h[MAGIC_] = MAGIC
        self._size = int(size)
        self.notifications = 0  # wake-up messages sent (the rest of the chunks cost no ZeroMQ message)
        self._seq = 0
        self._last_index = 0
        self._sock, self._lock = channel.socket, channel.lock

    def extra_params(self) -> dict[str, Any]:
        slots, data_offset, total = layout(self.params, self.spec)
        return {"shm_name": self.segment.name, "shm_size": total, "chunk_slots": slots, "data_offset": data_offset}

    def send(self, data: np.ndarray, index: int, timestamp_ns: int) -> None:
        n = data.shape[0]
        if n > self._size:
            raise SpecMismatchError(f"{self.params['name']}: chunk of {n} samples > buffer_size {self._size}")
        if index - n < self._last_index and self._seq:
            raise SpecMismatchError(f"{self.params['name']}: index {index} goes back (last index {self._last_index})")
        h, meta, seq = self._h, self._meta, self._seq
        h[IDX_BEGIN] = index
        h[SEQ_BEGIN] = seq + 1
        slot = 3 * (seq % self._slots)
        meta[slot] = index
        meta[slot + 1] = timestamp_ns
        meta[slot + 2] = n
        if n:
            self.ring.write(data, index)
        h[IDX_END] = index
        h[SEQ_END] = seq + 1
        self._seq = seq + 1
        self._last_index = index
        if h[WAITING]:
            h[WAITING] = 0
            self.notifications += 1
            with self._lock:
                self._sock.send(NOTIFY)

    def close(self) -> None:
        if self.segment is None:
            return
        self._h[CLOSED] = 1
        if not self.channel.closed:
            with self._lock:
                self._sock.send(NOTIFY)
        del self.ring
        for view in (self._h, self._meta, self._mv):
            view.release()
        self.segment.close()
        self.segment = None  # type: ignore[assignment]


def _remove_dead_writer_ipc(params: dict[str, Any], pid: int) -> None:
    """A killed writer could not unlink its ipc socket file: the reader that finds it dead does (if stale)."""
    path = ipcfiles.bound_path(str(params.get("url", "")))
    if path is not None:
        ipcfiles.cleanup_stale_ipc(os.path.dirname(path), pid=pid)


class SharedMemReceiver(DataReceiver):
    """Reads chunks from the shared ring (always a private copy), detecting overruns."""

    def __init__(self, params: dict[str, Any], spec: StreamSpec, raise_on_overrun: bool = False) -> None:
        super().__init__(params, spec, raise_on_overrun)
        self.segment = SharedMemorySegment.attach(str(params["shm_name"]), int(params["shm_size"]))
        try:
            self._mv, self._h, self._meta, self.ring, self._slots = _views(self.segment, params, spec, None)
            if self._h[MAGIC_] != MAGIC or self._h[LAYOUT_] != LAYOUT:
                raise StreamError(f"shared memory segment {params['shm_name']!r} is not a pyacq_etvr ring")
            if self._h[CLOSED] or process_start_time(self._h[WRITER_PID]) != self._h[WRITER_START]:
                _remove_dead_writer_ipc(params, int(self._h[WRITER_PID]))
                raise StreamClosedError(f"{params.get('name', 'output')}: the writer of this ring is gone")
            self.channel = SubChannel(params["url"])
        except BaseException:
            self._release()
            raise
        self._size = int(params["buffer_size"])
        self._next_seq = int(self._h[SEQ_END])

    def connect(self, timeout: float, what: str) -> None:
        # the read position was taken when the segment was attached (before the subscription): every chunk
        # committed since then is delivered, even if the writer starts as soon as it sees the subscription
        self.channel.connect(timeout, what)

    def _wait(self, timeout: float | None) -> bool:
        """True once a chunk past the read position is committed, False after ``timeout`` ms."""
        h, s = self._h, self._next_seq
        if h[SEQ_END] > s:
            return True
        spin_end = time.perf_counter_ns() + _SPIN_NS
        while time.perf_counter_ns() < spin_end:
            if h[SEQ_END] > s:
                return True
        sock = self.channel.socket
        deadline = None if timeout is None else time.monotonic() + timeout / 1000.0
        while True:
            while sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                sock.recv()  # stale notifications / welcome
            h[WAITING] = 1
            if h[SEQ_END] > s:
                return True
            if h[CLOSED]:
                raise StreamClosedError(f"{self.params.get('name', 'output')} was closed")
            wait = _WAIT_SLICE_MS
            if deadline is not None:
                remaining = (deadline - time.monotonic()) * 1000.0
                if remaining <= 0:
                    return False
                wait = min(wait, remaining)
            sock.poll(wait)
            if h[SEQ_END] > s:
                return True
            if process_start_time(h[WRITER_PID]) != h[WRITER_START]:
                _remove_dead_writer_ipc(self.params, int(h[WRITER_PID]))
                raise StreamClosedError(f"the process writing {self.params.get('name', 'output')} died")

    def poll(self, timeout: float | None) -> bool:
        return self._wait(timeout)

    def recv(self, timeout: float | None, latest: bool) -> tuple[int, np.ndarray, int]:
        h, meta, slots, size = self._h, self._meta, self._slots, self._size
        deadline = None if timeout is None else time.monotonic() + timeout / 1000.0
        while True:
            s, end = self._next_seq, h[SEQ_END]
            if end <= s:
                left = None if deadline is None else max(0.0, (deadline - time.monotonic()) * 1000.0)
                if not self._wait(left):
                    raise StreamTimeout(f"no chunk from {self.params.get('name')} within {timeout} ms")
                continue
            if latest and end - 1 > s:
                self.skipped += end - 1 - s
                s = self._next_seq = end - 1
            if end - s > slots:
                self._overrun(s, end)
                continue
            slot = 3 * (s % slots)
            index, ts, n = meta[slot], meta[slot + 1], meta[slot + 2]
            data = self.ring.read(index - n, index, True, True)
            if h[SEQ_BEGIN] - s > slots or index - n < h[IDX_BEGIN] - size:
                self._overrun(s, h[SEQ_END])
                continue
            self._next_seq = s + 1
            self.received += 1
            self.last_index = index
            return index, data, ts

    def _overrun(self, s: int, end: int) -> None:
        """The writer lapped us at chunk ``s``: jump to the newest chunk, count, maybe raise."""
        newest = max(s + 1, end - 1)
        self.overruns += 1
        self.skipped += newest - s
        self._next_seq = newest
        if self.raise_on_overrun:
            raise OverrunError(
                f"reader of {self.params.get('name')} fell behind the ring buffer: {newest - s} chunk(s) overwritten"
            )

    def get_data(self, start: int, stop: int, copy: bool = True, join: bool = True) -> Any:
        """Samples ``[start, stop)`` straight from the shared ring (always copied, overrun-checked)."""
        h, size = self._h, self._size
        start, stop = int(start), int(stop)
        end = h[IDX_END]
        if stop > end:
            raise NotAvailableError(f"get_data: stop {stop} is beyond the last index {end}")
        if stop < start or stop - start > size:
            raise ConfigError(f"get_data: [{start}, {stop}) is not a segment of at most {size} samples")
        data = self.ring.read(start, stop, True, join)
        if start < h[IDX_BEGIN] - size:
            self.overruns += 1
            raise OverrunError(f"get_data: samples from {start} were overwritten (oldest is {h[IDX_BEGIN] - size})")
        return data

    def empty_queue(self) -> int:
        end = int(self._h[SEQ_END])
        n = max(0, end - self._next_seq)
        self._next_seq = max(self._next_seq, end)
        self.skipped += n
        return n

    def _release(self) -> None:
        self.ring = None  # type: ignore[assignment]
        for name in ("_h", "_meta", "_mv"):
            view = getattr(self, name, None)
            if view is not None:
                view.release()
                setattr(self, name, None)
        if self.segment is not None:
            self.segment.close()
            self.segment = None  # type: ignore[assignment]

    def close(self) -> None:
        if getattr(self, "channel", None) is not None:
            self.channel.close()
        self._release()
