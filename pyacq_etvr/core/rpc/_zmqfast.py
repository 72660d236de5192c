"""Hot-path ZeroMQ helpers: pyzmq's backend calls with plain int flags.

pyzmq's high-level ``send_multipart`` / ``recv_multipart`` / ``getsockopt(zmq.EVENTS)`` convert flags and
results through Python enums, which costs ~10 µs per 5-frame message; these helpers call the Cython
backend directly (measured 6 x faster for a send + receive of 5 frames).
"""

from __future__ import annotations

from typing import Any

from zmq.backend import Socket as _Backend
from zmq.backend import zmq_poll

__all__ = ["NOBLOCK", "POLLIN", "SNDMORE", "readable", "recv_frames", "send_frames", "zmq_poll"]

NOBLOCK = 1
SNDMORE = 2
RCVMORE = 13
EVENTS = 15
POLLIN = 1

_send = _Backend.send
_recv = _Backend.recv
_get = _Backend.get


def send_frames(sock: Any, frames: list[bytes], flags: int = 0) -> None:
    """Send a multipart message (``flags`` applied to every frame)."""
    more = flags | SNDMORE
    for frame in frames[:-1]:
        _send(sock, frame, more)
    _send(sock, frames[-1], flags)


def recv_frames(sock: Any, flags: int = 0) -> list[bytes]:
    """Receive a whole multipart message as a list of bytes."""
    frames = [_recv(sock, flags)]
    while _get(sock, RCVMORE):
        frames.append(_recv(sock, flags))
    return frames


def readable(sock: Any) -> bool:
    """True if a message can be received without blocking."""
    return bool(_get(sock, EVENTS) & POLLIN)
