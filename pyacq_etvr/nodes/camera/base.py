"""Building blocks shared by every camera transport: the source interface, a zero-copy byte buffer,
JPEG decoding and the camera-clock → ``time.monotonic_ns()`` mapping.

None of this needs a Node: sources are plain objects that can be driven from a test or a benchmark.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from pyacq_etvr.core.errors import PyacqError

#: JPEG start-of-image and end-of-image markers.
SOI = b"\xff\xd8"
EOI = b"\xff\xd9"
#: Encoders may pad after EOI; the marker must appear within this many bytes of the end.
EOI_SLACK = 32


class SourceDisconnected(PyacqError, ConnectionError):
    """The camera transport is gone (refused, closed, protocol error). The Camera node reconnects."""


class FrameSource:
    """Interface of a camera transport (one instance per connection attempt sequence).

    ``open(timeout)`` connects (raises :class:`SourceDisconnected`), ``read(timeout)`` returns the newest
    decoded frame (uint8, 2-D, mono) or None when no complete frame arrived within ``timeout`` seconds,
    and raises :class:`SourceDisconnected` when the peer goes away; ``close()`` is idempotent.
    After a successful ``read``, :attr:`timestamp_ns` holds the frame's capture time in the
    ``time.monotonic_ns()`` domain. Counters are cumulative over reconnects:

    * ``received``: frames (parts) that arrived whole enough to be considered;
    * ``decoded``: frames decoded into an image;
    * ``corrupt``: truncated or undecodable frames (skipped);
    * ``dropped``: frames skipped on purpose (stale frames behind a newer one, backlog flushes).
    """

    kind = "abstract"

    def __init__(self) -> None:
        self.timestamp_ns = 0
        self.received = 0
        self.decoded = 0
        self.corrupt = 0
        self.dropped = 0

    def open(self, timeout: float) -> None:
        raise NotImplementedError

    def read(self, timeout: float) -> np.ndarray | None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return self.kind


class ByteStreamSource(FrameSource):
    """A transport whose bytes are parsed into frames as they arrive (HTTP MJPEG, ETVR serial).

    Subclasses provide :meth:`_check_connected` (raise SourceDisconnected when closed),
    :meth:`_newest_frame` (decode the newest complete frame parsed so far, dropping older ones, or None) and
    :meth:`_wait_for_bytes` (block at most ``timeout`` s for more bytes and feed them to the parser).
    """

    def read(self, timeout: float) -> np.ndarray | None:
        self._check_connected()
        deadline = time.monotonic() + timeout
        while True:
            frame = self._newest_frame()
            if frame is not None:
                return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._wait_for_bytes(remaining)

    def _check_connected(self) -> None:
        raise NotImplementedError

    def _newest_frame(self) -> np.ndarray | None:
        raise NotImplementedError

    def _wait_for_bytes(self, timeout: float) -> None:
        raise NotImplementedError


class ByteBuffer:
    """A growable linear byte buffer filled in place (``recv_into``) and parsed without copies.

    Data lives in ``buf[r:w]``. Parsers advance :attr:`r`; space is reclaimed (one ``memmove`` of the
    unparsed tail) only when new data is written, so offsets returned by a parser stay valid until the
    next :meth:`fill` / :meth:`feed`. Never keep a view of :attr:`buf` across those calls.
    """

    def __init__(self, capacity: int = 256 * 1024, max_capacity: int = 16 * 1024 * 1024) -> None:
        self.buf = bytearray(capacity)
        self.r = 0
        self.w = 0
        self.max_capacity = max_capacity
        self._np: np.ndarray | None = None  # a numpy view of buf, dropped before buf grows

    def __len__(self) -> int:
        return self.w - self.r

    def clear(self) -> None:
        self.r = self.w = 0

    def _make_room(self, need: int) -> None:
        if len(self.buf) - self.w >= need:
            return
        if self.r:
            n = self.w - self.r
            self.buf[:n] = self.buf[self.r : self.w]
            self.r, self.w = 0, n
        if len(self.buf) - self.w < need:
            size = len(self.buf)
            while size - self.w < need:
                size *= 2
            if size > self.max_capacity:
                raise SourceDisconnected(f"buffer would exceed {self.max_capacity} bytes (no frame boundary found)")
            self._np = None  # release our export so the bytearray may be resized
            self.buf.extend(bytes(size - len(self.buf)))

    def fill(self, read_into: Callable[[memoryview], int], min_free: int = 64 * 1024) -> int:
        """Call ``read_into(view)`` on the free space (e.g. ``sock.recv_into``); return the byte count."""
        self._make_room(min_free)
        view = memoryview(self.buf)[self.w :]
        try:
            n = read_into(view)
        finally:
            view.release()
        self.w += n
        return n

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append a copy of ``data``."""
        n = len(data)
        w = self.w
        if len(self.buf) - w < n:
            self._make_room(n)
            w = self.w
        self.buf[w : w + n] = data
        self.w = w + n

    def array(self, start: int, stop: int) -> np.ndarray:
        """A zero-copy uint8 view of ``buf[start:stop]`` (release it before the next fill/feed)."""
        whole = self._np
        if whole is None:
            whole = self._np = np.frombuffer(self.buf, dtype=np.uint8)
        return whole[start:stop]

    def looks_like_jpeg(self, start: int, stop: int) -> bool:
        """SOI at ``start`` and EOI within :data:`EOI_SLACK` bytes of ``stop``."""
        buf = self.buf
        if stop - start < 4 or not buf.startswith(SOI, start):
            return False
        return buf.rfind(EOI, max(start + 2, stop - EOI_SLACK), stop) >= 0


def imread_flags(reduce: int = 1) -> int:
    """OpenCV ``imdecode`` flags that decode straight to grey, optionally downscaled by 2, 4 or 8 in the IDCT."""
    import cv2

    return {
        1: cv2.IMREAD_GRAYSCALE,
        2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
        4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
        8: cv2.IMREAD_REDUCED_GRAYSCALE_8,
    }[reduce]


_cv2 = None


def decode_jpeg(data: np.ndarray, flags: int) -> np.ndarray | None:
    """Decode JPEG bytes (a uint8 array) to a mono uint8 image, or None if the data is not a valid JPEG.

    ``flags`` come from :func:`imread_flags` (grey decode: libjpeg skips the chroma planes).
    """
    global _cv2
    cv2 = _cv2
    if cv2 is None:
        import cv2

        _cv2 = cv2
    try:
        img = cv2.imdecode(data, flags)
    except cv2.error:
        return None
    if img is None or not img.size:
        return None
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return img


class ClockMapper:
    """Map a camera clock (seconds, e.g. OpenIris ``X-Timestamp``) onto ``time.monotonic_ns()``.

    offset = min over frames of (arrival_ns - camera_ns): the frame that travelled fastest fixes the
    offset, so mapped times keep the camera's own frame spacing and are never later than arrival. To
    follow clock drift, the offset may rise by at most ``drift_ppm`` of the camera time elapsed since
    the previous frame. A camera clock that jumps backwards (reboot) restarts the estimate. Call
    :meth:`reset` on every new connection.
    """

    def __init__(self, drift_ppm: float = 200.0) -> None:
        self.drift = drift_ppm * 1e-6
        self.reset()

    def reset(self) -> None:
        self.offset_ns: int | None = None
        self.last_cam_ns = 0

    def map(self, camera_s: float, arrival_ns: int) -> int:
        cam_ns = int(round(camera_s * 1e9))
        candidate = arrival_ns - cam_ns
        off = self.offset_ns
        if off is None or cam_ns < self.last_cam_ns:
            off = candidate
        elif candidate < off:
            off = candidate
        else:
            off += min(candidate - off, int((cam_ns - self.last_cam_ns) * self.drift))
        self.offset_ns = off
        self.last_cam_ns = cam_ns
        return cam_ns + off


def monotonic_ns() -> int:
    return time.monotonic_ns()
