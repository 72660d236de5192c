"""ETVR wired serial protocol: back-to-back frames ``FF A0 FF A1`` + uint16 LE length + JPEG bytes.

:class:`EtvrFrameParser` is a pure byte parser (no port): it resynchronises on the 4-byte header after
garbage, drops a frame whose length runs past the next header (it was cut short), counts corrupt frames
(not a JPEG, zero length) and lets the reader flush a backlog. :class:`SerialSource` reads a pyserial
port (``COM3``, ``/dev/ttyACM0``, ``/dev/serial/by-id/...``; the baud rate is irrelevant on a pty).

Latest-frame semantics: after draining the port only the newest complete frame is decoded; older
complete frames are counted as ``dropped``. When more than ``backlog_limit`` bytes (default 32 KiB) of
complete frames were waiting, this is counted as a backlog flush (stale frames are worse than missing
ones). ``dropped`` = stale frames skipped + frames cut short. A pty or USB driver only buffers a few
KiB, so when one read returns a full kernel buffer (the sender is ahead of us) the reader keeps draining
while bytes keep coming, for at most ``drain_wait`` (10 ms) per read: the blocked sender refills the
buffer within microseconds, so this only costs time when a burst ends exactly on a full buffer.
"""

from __future__ import annotations

import select
import time

import numpy as np

from pyacq_etvr.nodes.camera.base import (
    ByteBuffer,
    ByteStreamSource,
    SourceDisconnected,
    decode_jpeg,
    imread_flags,
)

HEADER = b"\xff\xa0\xff\xa1"
HEADER_LEN = 6  # magic + uint16 length
BACKLOG_LIMIT = 32 * 1024
#: A single read returning at least this many bytes means the kernel buffer was full: keep draining.
FULL_READ = 4000
DRAIN_WAIT = 0.01
MAX_DRAIN = 1024 * 1024


class EtvrFrameParser:
    """Incremental parser of the ETVR serial framing over a :class:`ByteBuffer`.

    :meth:`next_frame` returns ``(start, stop)`` offsets of the next complete JPEG in ``data.buf``.
    Counters: ``frames`` (complete frames found), ``corrupt`` (bad payload), ``cut`` (length ran past
    the next header: dropped), ``resyncs`` (garbage skipped to find a header), ``garbage_bytes``.
    """

    def __init__(self, data: ByteBuffer | None = None) -> None:
        self.data = data if data is not None else ByteBuffer()
        self.frames = 0
        self.corrupt = 0
        self.cut = 0
        self.resyncs = 0
        self.garbage_bytes = 0
        self._skipping = False

    def _skip_to(self, pos: int) -> None:
        if pos > self.data.r:
            self.garbage_bytes += pos - self.data.r
            if not self._skipping:  # one resync per run of garbage, however it was fed
                self.resyncs += 1
                self._skipping = True
        self.data.r = pos

    def next_frame(self) -> tuple[int, int] | None:
        d = self.data
        buf = d.buf
        while True:
            p = buf.find(HEADER, d.r, d.w)
            if p < 0:
                self._skip_to(max(d.r, d.w - len(HEADER) + 1))
                return None
            self._skip_to(p)
            self._skipping = False
            if d.w - p < HEADER_LEN:
                return None
            length = buf[p + 4] | (buf[p + 5] << 8)
            start = p + HEADER_LEN
            stop = start + length
            nxt = buf.find(HEADER, start, min(stop, d.w))
            if nxt >= 0:  # the announced length runs past the next header: this frame was cut short
                self.cut += 1
                d.r = nxt
                continue
            if stop > d.w:
                return None
            d.r = stop
            if not d.looks_like_jpeg(start, stop):
                self.corrupt += 1
                continue
            self.frames += 1
            return start, stop

    def pending_from_last_header(self) -> int:
        """Offset of the last header in the unparsed data (or ``data.w`` if none)."""
        p = self.data.buf.rfind(HEADER, self.data.r, self.data.w)
        return self.data.w if p < 0 else p


class SerialSource(ByteStreamSource):
    """ETVR serial camera on a pyserial port; frames are time-stamped at arrival of their last byte."""

    kind = "serial"

    def __init__(
        self,
        port: str,
        baudrate: int = 3_000_000,
        reduce: int = 1,
        backlog_limit: int = BACKLOG_LIMIT,
        drain_wait: float = DRAIN_WAIT,
    ) -> None:
        super().__init__()
        self.drain_wait = drain_wait
        self.port_name = port
        self.baudrate = baudrate
        self.backlog_limit = backlog_limit
        self.flags = imread_flags(reduce)
        self.port = None
        self._fd: int | None = None
        self.parser = EtvrFrameParser()
        self.backlog_flushes = 0
        self.stale = 0

    def describe(self) -> str:
        return f"serial {self.port_name}"

    def open(self, timeout: float) -> None:
        import serial

        self.close()
        try:
            self.port = serial.Serial(self.port_name, self.baudrate, timeout=0, write_timeout=timeout)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise SourceDisconnected(f"cannot open {self.port_name}: {exc}") from exc
        try:
            self._fd = self.port.fileno()
        except (AttributeError, OSError):
            self._fd = None
        self.parser.data.clear()

    def _read_wait(self, timeout: float) -> bytes:
        """Wait up to ``timeout`` for data and return what is there (b'' on timeout)."""
        port = self.port
        if self._fd is not None:  # posix: select, so the port timeout (a tcsetattr) never changes
            if not select.select([self._fd], [], [], max(0.0, timeout))[0]:
                return b""
            return port.read(max(1, port.in_waiting))
        port.timeout = timeout
        try:
            return port.read(1)
        finally:
            port.timeout = 0

    def _drain(self, timeout: float) -> int:
        """Read what the port holds (waiting up to ``timeout`` for the first byte); return the count."""
        import serial

        port = self.port
        data = self.parser.data
        total = 0
        try:
            chunk = self._read_wait(timeout)
            deadline = time.monotonic() + self.drain_wait
            while chunk and total < MAX_DRAIN:
                data.feed(chunk)
                total += len(chunk)
                n = port.in_waiting
                if n:
                    chunk = port.read(n)
                    continue
                if len(chunk) < FULL_READ:
                    break
                # the last read emptied a full kernel buffer: the sender is blocked on us with more queued
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                chunk = self._read_wait(remaining)
        except (serial.SerialException, OSError, TypeError) as exc:
            # pyserial raises SerialException (or TypeError on some platforms) when the device vanishes
            raise SourceDisconnected(f"{self.port_name}: {exc}") from exc
        return total

    def _check_connected(self) -> None:
        if self.port is None:
            raise SourceDisconnected("not open")

    def _wait_for_bytes(self, timeout: float) -> None:
        self._drain(timeout)

    def _newest_frame(self) -> np.ndarray | None:
        parser = self.parser
        if parser.pending_from_last_header() - parser.data.r > self.backlog_limit:
            self.backlog_flushes += 1  # the loop below drops every complete frame but the newest
        newest = None
        while True:
            found = parser.next_frame()
            if found is None:
                break
            if newest is not None:
                self.stale += 1
            newest = found
            self.received += 1
        self.corrupt = parser.corrupt
        self.dropped = self.stale + parser.cut
        if newest is None:
            return None
        arrival = time.monotonic_ns()
        arr = parser.data.array(*newest)
        img = decode_jpeg(arr, self.flags)
        del arr
        if img is None:
            parser.corrupt += 1
            self.corrupt += 1
            return None
        self.decoded += 1
        self.timestamp_ns = arrival
        return img

    @property
    def cut(self) -> int:
        """Frames dropped because their length ran past the next header (included in ``dropped``)."""
        return self.parser.cut

    def close(self) -> None:
        if self.port is not None:
            try:
                self.port.close()
            except OSError:
                pass
            self.port = None
