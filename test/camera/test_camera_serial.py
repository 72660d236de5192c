"""ETVR serial transport over a real pseudo-terminal pair (os.openpty), no mocks."""

from __future__ import annotations

import os
import threading
import time

import pytest

from pyacq_etvr.nodes.camera.base import ByteBuffer, SourceDisconnected
from pyacq_etvr.nodes.camera.serial import EtvrFrameParser, SerialSource
from pyacq_etvr.testing_peers import SerialPeer, clip_jpegs, decoded_lookup, serial_frame


@pytest.fixture(scope="module")
def jpegs():
    here = os.path.dirname(os.path.abspath(__file__))
    clip = os.path.join(here, "..", "data", "eye-clips", "ransac-test2.mp4")
    return clip_jpegs(os.path.abspath(clip), 30)


@pytest.fixture
def link(jpegs):
    peer = SerialPeer(jpegs, fps=100)
    src = SerialSource(peer.path)
    src.open(1.0)
    yield peer, src
    src.close()
    peer.close()


def read_frames(src, n, timeout=5.0):
    frames = []
    deadline = time.monotonic() + timeout
    while len(frames) < n and time.monotonic() < deadline:
        frame = src.read(0.1)
        if frame is not None:
            frames.append(frame)
    assert len(frames) == n, f"only {len(frames)} of {n} frames"
    return frames


def test_intact_frames(link, jpegs):
    peer, src = link
    lookup = decoded_lookup(jpegs)
    peer.start()
    frames = read_frames(src, 20)
    idx = [lookup.get(f.tobytes()) for f in frames]
    assert None not in idx
    assert all(0 < (b - a) % len(jpegs) < len(jpegs) // 2 for a, b in zip(idx, idx[1:])), idx  # in order
    assert src.corrupt == 0 and src.parser.resyncs == 0


def test_garbage_between_frames_resynchronised(link, jpegs):
    peer, src = link
    lookup = decoded_lookup(jpegs)
    peer.start()
    read_frames(src, 2)
    peer.queue(b"\x00\xffgarbage\xff\xa0\xff" * 50)
    deadline = time.monotonic() + 5
    while src.parser.resyncs == 0 and time.monotonic() < deadline:
        src.read(0.1)
    frames = read_frames(src, 5)
    assert src.parser.resyncs >= 1 and src.parser.garbage_bytes >= 500
    assert all(f.tobytes() in lookup for f in frames)
    assert src.corrupt == 0


def test_frame_running_past_next_header_dropped(link, jpegs):
    peer, src = link
    lookup = decoded_lookup(jpegs)
    peer.start()
    read_frames(src, 2)
    cut = serial_frame(jpegs[0])[: len(jpegs[0]) // 2]  # header announces the full length, half is sent
    peer.queue(cut)
    deadline = time.monotonic() + 5
    while src.cut == 0 and time.monotonic() < deadline:
        src.read(0.1)
    frames = read_frames(src, 5)
    assert src.cut == 1 and src.dropped >= 1 and src.corrupt == 0
    assert all(f.tobytes() in lookup for f in frames)


def test_backlog_flushed(jpegs):
    peer = SerialPeer(jpegs, fps=100)
    # a generous drain_wait so that the writer thread refills the pty even on a loaded machine
    src = SerialSource(peer.path, drain_wait=0.25)
    lookup = decoded_lookup(jpegs)
    burst = b"".join(peer.next_frame() for _ in range(12))  # ~90 KiB of stale frames written at once
    assert len(burst) > 32 * 1024
    last = lookup[decoded_lookup([peer.sent[-1][2]]).popitem()[0]]
    writer = threading.Thread(target=peer.write, args=(burst,))
    try:
        src.open(1.0)
        writer.start()  # blocks on the full pty until the reader drains it
        frames = []
        deadline = time.monotonic() + 10
        while writer.is_alive() or src.port.in_waiting or len(src.parser.data):
            assert time.monotonic() < deadline, "the burst was not drained"
            if (f := src.read(0.1)) is not None:
                frames.append(lookup[f.tobytes()])
    finally:
        writer.join(10)
        src.close()
        peer.close()
    assert src.backlog_flushes >= 1
    assert len(frames) <= 3 and src.dropped >= 9, "stale frames must be dropped, not delivered one by one"
    assert frames[-1] == last and frames == sorted(frames)


def test_peer_vanishing_is_a_disconnect(jpegs):
    peer = SerialPeer(jpegs, fps=100)
    src = SerialSource(peer.path)
    try:
        src.open(1.0)
        peer.start()
        read_frames(src, 2)
        peer.close()
        with pytest.raises(SourceDisconnected):
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                src.read(0.1)
    finally:
        src.close()
        peer.close()


def test_missing_port_is_a_disconnect():
    with pytest.raises(SourceDisconnected, match="cannot open"):
        SerialSource("/dev/ttyDOESNOTEXIST0").open(0.5)


FAKE = b"\xff\xd8" + bytes(range(200)) + b"\xff\xd9"


def test_parser_corrupt_zero_length_and_split_headers():
    stream = serial_frame(FAKE) + serial_frame(b"") + serial_frame(b"not a jpeg") + b"junk" + serial_frame(FAKE)
    parser = EtvrFrameParser(ByteBuffer(512))
    got = []
    for i in range(len(stream)):
        parser.data.feed(stream[i : i + 1])
        while (f := parser.next_frame()) is not None:
            got.append(bytes(parser.data.buf[f[0] : f[1]]))
    assert got == [FAKE, FAKE]
    assert parser.corrupt == 2 and parser.resyncs == 1 and parser.garbage_bytes == 4
