"""OpenIris HTTP MJPEG: our own HTTP/1.1 client and ``multipart/x-mixed-replace`` parser.

Wire format (OpenIris firmware, port 80, path ``/``): response ``Content-Type:
multipart/x-mixed-replace;boundary=<b>`` (the boundary is read from this header, never assumed), often
with ``Transfer-Encoding: chunked`` (ESP-IDF ``httpd_resp_send_chunk``), then parts
``\\r\\n--<b>\\r\\n`` + headers (``Content-Type: image/jpeg``, ``Content-Length: n``, ``X-Timestamp:
<sec>.<usec>``) + blank line + n JPEG bytes.

Parsing is zero-copy: bytes are received straight into a :class:`ByteBuffer` (or de-chunked into it, one
``memcpy``), boundaries are found with ``bytearray.find`` and JPEGs are decoded from a numpy view of the
buffer. Only the newest complete part of what is waiting is decoded (latest-frame semantics); older
complete parts are counted as ``dropped``. A part whose ``Content-Length`` runs into the next boundary
(truncated), that is not a JPEG, or that fails to decode is counted as ``corrupt`` and skipped.
"""

from __future__ import annotations

import select
import socket
import time
from typing import NamedTuple
from urllib.parse import urlsplit

import numpy as np

from pyacq_etvr.nodes.camera.base import (
    EOI,
    EOI_SLACK,
    SOI,
    ByteBuffer,
    ByteStreamSource,
    ClockMapper,
    SourceDisconnected,
    decode_jpeg,
    imread_flags,
)

MAX_PART_HEADER = 4096
MAX_RESPONSE_HEADER = 16 * 1024
#: Upper bound on bytes drained from the socket in one ``read`` before parsing.
MAX_DRAIN = 4 * 1024 * 1024


class EndOfStream(SourceDisconnected):
    """The server sent the closing boundary or the last HTTP chunk."""


class Part(NamedTuple):
    """One complete multipart body: ``buf[start:stop]`` of the parser's buffer, and its X-Timestamp (s)."""

    start: int
    stop: int
    timestamp: float | None


def boundary_from_content_type(value: str) -> bytes:
    """Extract the multipart boundary from a Content-Type value; raise :class:`SourceDisconnected` if absent."""
    mime, _, params = value.partition(";")
    if not mime.strip().lower().startswith("multipart/"):
        raise SourceDisconnected(f"not a multipart stream (Content-Type: {value!r})")
    for param in params.split(";"):
        key, _, val = param.strip().partition("=")
        if key.strip().lower() == "boundary":
            val = val.strip().strip('"')
            if val.startswith("--"):  # some servers repeat the leading dashes
                val = val[2:]
            if val:
                return val.encode("latin-1")
    raise SourceDisconnected(f"no boundary in Content-Type {value!r}")


class MultipartParser:
    """Incremental ``multipart/x-mixed-replace`` parser over a :class:`ByteBuffer`.

    Feed bytes with ``parser.data.fill(...)`` / ``parser.data.feed(...)``, then call :meth:`next_part`
    until it returns None. Counters: ``parts`` (complete JPEG parts found) and ``corrupt``. A part whose
    body is still arriving is remembered, so its headers are parsed once however the bytes trickle in.
    """

    def __init__(self, boundary: bytes, data: ByteBuffer | None = None) -> None:
        self.delim = b"--" + boundary
        self.data = data if data is not None else ByteBuffer()
        self.parts = 0
        self.corrupt = 0
        self._pending: tuple[int, int, int, float | None] | None = None  # (delimiter, body, stop, stamp)

    def next_part(self) -> Part | None:
        """Return the next complete part (offsets into ``data.buf``) or None if more bytes are needed."""
        d = self.data
        buf, delim = d.buf, self.delim
        while True:
            if self._pending is not None:
                p, body, stop, stamp = self._pending
                if p != d.r:  # the buffer was compacted since: shift the remembered offsets
                    shift = p - d.r
                    p, body, stop = d.r, body - shift, stop - shift
                if stop > d.w:
                    self._pending = (p, body, stop, stamp)
                    return None
                self._pending = None
            else:
                p = buf.find(delim, d.r, d.w)
                if p < 0:
                    d.r = max(d.r, d.w - len(delim) + 1)  # skip garbage, keep a possible partial delimiter
                    return None
                d.r = p
                q = p + len(delim)
                h = buf.find(b"\r\n\r\n", q, d.w)
                if h < 0:
                    if d.w - q > MAX_PART_HEADER:
                        self.corrupt += 1
                        d.r = q
                        continue
                    if buf[q : q + 2] == b"--":
                        raise EndOfStream("server sent the closing boundary")
                    return None
                length, stamp, ok = self._headers(buf[q:h])
                body = h + 4
                if not ok:
                    self.corrupt += 1
                    d.r = body
                    continue
                if length is None:
                    end = buf.find(delim, body, d.w)
                    if end < 0:
                        return None
                    stop = end - 2 if buf[end - 2 : end] == b"\r\n" else end
                    d.r = end
                    if self._accept(body, stop):
                        return Part(body, stop, stamp)
                    continue
                stop = body + length
                if stop > d.w:
                    self._pending = (p, body, stop, stamp)
                    return None
            cut = buf.find(delim, body, stop)
            if cut >= 0:  # Content-Length runs into the next part: truncated
                self.corrupt += 1
                d.r = cut
                continue
            d.r = stop
            if buf.startswith(SOI, body) and buf.rfind(EOI, max(body + 2, stop - EOI_SLACK), stop) >= 0:
                self.parts += 1
                return Part(body, stop, stamp)
            self.corrupt += 1

    def _accept(self, start: int, stop: int) -> bool:
        if self.data.looks_like_jpeg(start, stop):
            self.parts += 1
            return True
        self.corrupt += 1
        return False

    @staticmethod
    def _headers(raw: bytes | bytearray) -> tuple[int | None, float | None, bool]:
        """(Content-Length, X-Timestamp, well-formed) from a part's header block (names case-insensitive)."""
        if raw.startswith(b"--"):
            raise EndOfStream("server sent the closing boundary")
        i = raw.find(b"Content-Length:")  # fast path: the spelling OpenIris (and most servers) use
        k = raw.find(b"X-Timestamp:")
        if i < 0 or k < 0:
            low = raw.lower()
            i = low.find(b"content-length:")
            k = low.find(b"x-timestamp:")
        length: int | None = None
        stamp: float | None = None
        try:
            if i >= 0:
                j = raw.find(b"\r\n", i)
                length = int(raw[i + 15 : j if j >= 0 else len(raw)])
                if length < 0:
                    return None, None, False
            if k >= 0:
                j = raw.find(b"\r\n", k)
                stamp = float(raw[k + 12 : j if j >= 0 else len(raw)])
        except ValueError:
            return None, None, False
        return length, stamp, True


class Dechunker:
    """Incremental decoder of HTTP/1.1 ``Transfer-Encoding: chunked``, writing payload into a ByteBuffer."""

    def __init__(self, out: ByteBuffer) -> None:
        self.out = out
        self.remaining = 0  # payload bytes left in the current chunk
        self.line = b""  # a chunk-size line split across two reads

    def feed(self, data: bytes | bytearray, start: int = 0, end: int | None = None) -> None:
        """Decode ``data[start:end]``: the input is not copied, the payload is copied once into ``out``."""
        i, n = start, len(data) if end is None else end
        out = self.out
        with memoryview(data) as view:
            while i < n:
                rem = self.remaining
                if rem:
                    k = rem if rem < n - i else n - i
                    out.feed(view[i : i + k])
                    self.remaining = rem = rem - k
                    i += k
                    if rem or n - i < 2:
                        continue
                    if data[i] == 13 and data[i + 1] == 10:  # the CRLF closing the chunk, usually right here
                        i += 2
                        continue
                j = data.find(b"\n", i, n)
                if j < 0:
                    self.line += bytes(view[i:n])
                    if len(self.line) > 1024:
                        raise SourceDisconnected("malformed chunked encoding (chunk-size line too long)")
                    return
                if self.line:
                    line, self.line = self.line + bytes(view[i:j]), b""
                else:
                    line = data[i:j]
                i = j + 1
                if len(line) > 1 or (line and line != b"\r"):  # else: a CRLF split across two reads
                    self._chunk_size(line)

    def _chunk_size(self, line: bytes | bytearray) -> None:
        try:
            size = int(line, 16)  # int() ignores the surrounding whitespace and CR
        except ValueError:
            try:
                size = int(line.split(b";", 1)[0], 16)  # chunk extensions
            except ValueError:
                raise SourceDisconnected(f"malformed chunk size {bytes(line[:32])!r}") from None
        if size == 0:
            raise EndOfStream("server ended the chunked response")
        self.remaining = size


def parse_http_url(url: str) -> tuple[str, int, str]:
    """Split ``http://host[:port][/path]`` into (host, port, path-with-query); ValueError if unusable."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        raise ValueError(f"only http:// is supported, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    port = parts.port or 80  # raises ValueError for a bad port
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.hostname, port, path


def _read_response_head(sock: socket.socket, deadline: float) -> tuple[bytes, bytes]:
    """Receive up to the blank line ending the HTTP response head; return (head, leftover body bytes)."""
    head = bytearray()
    while True:
        end = head.find(b"\r\n\r\n")
        if end >= 0:
            return bytes(head[:end]), bytes(head[end + 4 :])
        if len(head) > MAX_RESPONSE_HEADER:
            raise SourceDisconnected("HTTP response header too long")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SourceDisconnected("timed out waiting for the HTTP response")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(4096)
        except OSError as exc:
            raise SourceDisconnected(f"HTTP response: {exc}") from exc
        if not chunk:
            raise SourceDisconnected("connection closed before the HTTP response")
        head += chunk


def _parse_response_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(None, 2)
    if len(status) < 2 or not status[0].startswith("HTTP/") or not status[1].isdigit():
        raise SourceDisconnected(f"not an HTTP response: {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        key, sep, val = line.partition(":")
        if sep:
            headers[key.strip().lower()] = val.strip()
    return int(status[1]), headers


class MjpegSource(ByteStreamSource):
    """OpenIris HTTP MJPEG camera (``http://host[:port]/path``).

    Capture time: ``X-Timestamp`` is mapped onto ``time.monotonic_ns()`` by :class:`ClockMapper`
    (offset fixed by the fastest frame of the connection, drift-tracked); without the header, the
    arrival time of the part's last byte is used.
    """

    kind = "http"

    def __init__(self, url: str, reduce: int = 1) -> None:
        super().__init__()
        self.url = url
        self.host, self.port, self.path = parse_http_url(url)
        self.flags = imread_flags(reduce)
        self.clock = ClockMapper()
        self.sock: socket.socket | None = None
        self.parser: MultipartParser | None = None
        self.dechunker: Dechunker | None = None
        self._raw = bytearray(64 * 1024)
        self._corrupt_base = 0

    def describe(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    def open(self, timeout: float) -> None:
        self.close()
        deadline = time.monotonic() + timeout
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError as exc:
            raise SourceDisconnected(f"cannot connect to {self.describe()}: {exc}") from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            request = f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
            sock.sendall(request.encode("latin-1"))
            head, rest = _read_response_head(sock, deadline)
            status, headers = _parse_response_head(head)
            if status != 200:
                raise SourceDisconnected(f"{self.describe()} answered HTTP {status}")
            boundary = boundary_from_content_type(headers.get("content-type", ""))
        except BaseException:
            sock.close()
            raise
        sock.setblocking(False)
        self.sock = sock
        self.parser = MultipartParser(boundary)
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self.dechunker = Dechunker(self.parser.data) if chunked else None
        self.clock.reset()
        self._ingest_bytes(rest)

    def _ingest_bytes(self, data: bytes) -> None:
        if not data:
            return
        if self.dechunker is not None:
            self.dechunker.feed(data)
        else:
            self.parser.data.feed(data)

    def _recv(self) -> int:
        """Receive what the socket holds (non-blocking, bounded); raise if the peer closed."""
        total = 0
        sock = self.sock
        try:
            while total < MAX_DRAIN:
                if self.dechunker is None:
                    n = self.parser.data.fill(sock.recv_into)
                else:
                    n = sock.recv_into(self._raw)
                    if n:
                        self.dechunker.feed(self._raw, 0, n)
                if n == 0:
                    raise SourceDisconnected("the server closed the connection")
                total += n
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            raise SourceDisconnected(f"connection lost: {exc}") from exc
        return total

    def _check_connected(self) -> None:
        if self.sock is None:
            raise SourceDisconnected("not connected")

    def _wait_for_bytes(self, timeout: float) -> None:
        readable, _, _ = select.select([self.sock], [], [], timeout)
        if readable:
            self._recv()

    def _newest_frame(self) -> np.ndarray | None:
        parser = self.parser
        newest: Part | None = None
        while True:
            part = parser.next_part()
            if part is None:
                break
            if newest is not None:
                self.dropped += 1
            newest = part
            self.received += 1
        self.corrupt = self._corrupt_base + parser.corrupt
        if newest is None:
            return None
        arrival = time.monotonic_ns()
        data = parser.data.array(newest.start, newest.stop)
        img = decode_jpeg(data, self.flags)
        del data
        if img is None:
            self._corrupt_base += 1
            self.corrupt += 1
            return None
        self.decoded += 1
        self.timestamp_ns = arrival if newest.timestamp is None else self.clock.map(newest.timestamp, arrival)
        return img

    def close(self) -> None:
        if self.parser is not None:
            self._corrupt_base += self.parser.corrupt
            self.parser = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None
