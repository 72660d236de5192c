"""HTTP MJPEG transport against a real OpenIris-format server on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import os
import socket
import threading
import time

import numpy as np
import pytest

from pyacq_etvr.nodes.camera.base import ByteBuffer, ClockMapper, SourceDisconnected
from pyacq_etvr.nodes.camera.mjpeg import (
    Dechunker,
    EndOfStream,
    MjpegSource,
    MultipartParser,
    boundary_from_content_type,
    parse_http_url,
)
from pyacq_etvr.testing_peers import MjpegServer, clip_jpegs, decoded_lookup


@pytest.fixture(scope="module")
def jpegs():
    here = os.path.dirname(os.path.abspath(__file__))
    clip = os.path.join(here, "..", "data", "eye-clips", "pupil3d-demo3.mp4")
    return clip_jpegs(os.path.abspath(clip), 40)


def collect(src: MjpegSource, n: int, timeout: float = 5.0):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        frame = src.read(0.1)
        if frame is not None:
            out.append((frame, src.timestamp_ns, time.monotonic_ns()))
    assert len(out) == n, f"only {len(out)} of {n} frames within {timeout} s"
    return out


@pytest.mark.parametrize("chunked", [True, False])
def test_frames_intact_and_x_timestamp_carried(jpegs, chunked):
    lookup = decoded_lookup(jpegs)
    with MjpegServer(jpegs, fps=100, chunked=chunked) as server:
        src = MjpegSource(server.url)
        src.open(2.0)
        try:
            got = collect(src, 30)
        finally:
            src.close()
        sent = {i % len(jpegs): stamp for i, stamp, _ in server.sent}
    indices = [lookup.get(frame.tobytes()) for frame, _, _ in got]
    assert None not in indices, "a received frame differs from every source JPEG"
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    assert all(ts <= arrival for _, ts, arrival in got), "capture time must not be later than arrival"
    cam = np.array([sent[i] for i in indices])
    ts = np.array([t for _, t, _ in got], dtype=np.int64)
    # the camera's frame spacing is kept: only a new fastest frame moves the clock offset
    err_ms = np.abs(np.diff(ts) / 1e6 - np.diff(cam) * 1e3)
    assert np.median(err_ms) < 0.05, err_ms
    assert src.corrupt == 0 and src.decoded >= 30


def test_corrupt_and_truncated_parts_skipped_and_counted(jpegs):
    lookup = decoded_lookup(jpegs)
    with MjpegServer(jpegs, fps=100) as server:
        src = MjpegSource(server.url)
        src.open(2.0)
        try:
            collect(src, 3)
            server.inject("corrupt")
            server.inject("truncated")
            deadline = time.monotonic() + 5
            while src.corrupt < 2 and time.monotonic() < deadline:
                src.read(0.1)
            after = collect(src, 5)
        finally:
            src.close()
    assert src.corrupt == 2
    assert all(frame.tobytes() in lookup for frame, _, _ in after)


def test_server_closing_is_a_disconnect(jpegs):
    server = MjpegServer(jpegs, fps=100).start()
    src = MjpegSource(server.url)
    try:
        src.open(2.0)
        collect(src, 2)
        server.kill()
        with pytest.raises(SourceDisconnected):
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                src.read(0.1)
    finally:
        src.close()
        server.close()
    with pytest.raises(SourceDisconnected, match="cannot connect"):
        src.open(1.0)


class OneShotServer:
    """A raw TCP peer answering one request with fixed bytes (for bad HTTP answers)."""

    def __init__(self, answer: bytes) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.answer = answer
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(self.answer)
            conn.recv(1)  # hold until the client closes

    def close(self) -> None:
        self.thread.join(5)
        self.sock.close()


@pytest.mark.parametrize(
    "answer, match",
    [
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "HTTP 404"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>", "not a multipart"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace\r\n\r\n", "no boundary"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP response"),
    ],
)
def test_bad_http_answers_raise_clear_errors(answer, match):
    peer = OneShotServer(answer)
    src = MjpegSource(f"http://127.0.0.1:{peer.port}/")
    try:
        with pytest.raises(SourceDisconnected, match=match):
            src.open(2.0)
    finally:
        src.close()
        peer.close()


def test_boundary_from_header_not_constant():
    assert boundary_from_content_type('multipart/x-mixed-replace; boundary="abc123"') == b"abc123"
    assert boundary_from_content_type("multipart/x-mixed-replace;boundary=--xyz") == b"xyz"
    with pytest.raises(SourceDisconnected):
        boundary_from_content_type("image/jpeg")


def test_parse_http_url():
    assert parse_http_url("http://openiristracker.local") == ("openiristracker.local", 80, "/")
    assert parse_http_url("http://10.0.0.5:8080/stream?x=1") == ("10.0.0.5", 8080, "/stream?x=1")
    for bad in ("https://x/", "http://", "http://host:notaport/"):
        with pytest.raises(ValueError):
            parse_http_url(bad)


def _part(body: bytes, boundary: bytes = b"B", length: bool = True, stamp: str = "12.000500") -> bytes:
    head = b"Content-Type: image/jpeg\r\n"
    if length:
        head += b"Content-Length: %d\r\n" % len(body)
    head += b"X-Timestamp: " + stamp.encode() + b"\r\n\r\n"
    return b"\r\n--" + boundary + b"\r\n" + head + body


FAKE_JPEG = b"\xff\xd8" + bytes(range(256)) * 4 + b"\xff\xd9"


def test_parser_cases_byte_by_byte():
    stream = (
        b"garbage before the first boundary"
        + _part(FAKE_JPEG)
        + _part(b"not a jpeg at all")
        + _part(FAKE_JPEG, length=False)
        + b"\r\n--B\r\nContent-Length: nope\r\n\r\n"
        + _part(FAKE_JPEG, stamp="13.5")
        + b"\r\n--B--\r\n"
    )
    parser = MultipartParser(b"B", ByteBuffer(1024))
    parts = []
    with pytest.raises(EndOfStream):
        for i in range(len(stream)):  # worst case: one byte at a time
            parser.data.feed(stream[i : i + 1])
            while (p := parser.next_part()) is not None:
                parts.append((bytes(parser.data.buf[p.start : p.stop]), p.timestamp))
    assert [body for body, _ in parts] == [FAKE_JPEG] * 3
    assert [t for _, t in parts] == [12.0005, 12.0005, 13.5]
    assert parser.corrupt == 2


def test_dechunker_reassembles_split_chunks():
    payload = _part(FAKE_JPEG) + _part(FAKE_JPEG)
    wire = b"".join(
        b"%x\r\n%b\r\n" % (len(payload[i : i + 100]), payload[i : i + 100]) for i in range(0, len(payload), 100)
    )
    out = ByteBuffer(1024)
    dechunk = Dechunker(out)
    for i in range(0, len(wire), 7):
        dechunk.feed(wire, i, min(i + 7, len(wire)))
    assert bytes(out.buf[out.r : out.w]) == payload
    with pytest.raises(EndOfStream):
        dechunk.feed(b"0\r\n\r\n")
    with pytest.raises(SourceDisconnected, match="malformed"):
        Dechunker(ByteBuffer()).feed(b"zz\r\n")


def test_clock_mapper_keeps_camera_spacing_and_tracks_drift():
    clock = ClockMapper(drift_ppm=200)
    arrival = 5_000_000_000
    arrivals = [arrival + k * 10_000_000 + (k % 3) * 300_000 for k in range(10)]  # 0.3-0.6 ms network jitter
    out = [clock.map(100.0 + k * 0.01, a) for k, a in enumerate(arrivals)]
    # jitter removed: the fastest frame fixes the offset, which may creep by 200 ppm of 10 ms per frame
    assert np.abs(np.diff(out) - 10_000_000).max() <= 10_000
    assert all(t <= a for t, a in zip(out, arrivals)) and out[0] == arrival
    # a camera clock 1000 ppm slow: the offset follows within the drift allowance, never past arrival
    slow = [clock.map(100.1 + k * 0.01 * 0.999, arrivals[-1] + (k + 1) * 10_000_000) for k in range(2000)]
    lag = (arrivals[-1] + 2000 * 10_000_000) - slow[-1]
    # untracked, the lag would reach 1000 ppm of 20 s = 20 ms; tracking 200 ppm of it leaves 16 ms
    assert 0 <= lag <= 16.1e6
    # the camera clock jumps backwards (reboot): the mapping restarts
    assert clock.map(1.0, arrival + 10**9) == arrival + 10**9


def test_garbage_without_boundary_does_not_grow_the_buffer():
    parser = MultipartParser(b"B", ByteBuffer(4096))
    noise = bytes(np.random.default_rng(0).integers(0, 256, 1 << 20, dtype=np.uint8)).replace(b"--B", b"xxx")
    for i in range(0, len(noise), 4096):
        parser.data.feed(noise[i : i + 4096])
        assert parser.next_part() is None
    assert len(parser.data) < 8 and len(parser.data.buf) <= 8192  # bounded, not 1 MiB
    parser.data.feed(_part(FAKE_JPEG) + _part(FAKE_JPEG))
    assert parser.next_part() is not None
