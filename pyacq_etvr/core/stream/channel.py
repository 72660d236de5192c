"""ZeroMQ plumbing shared by every transfer mode: an XPUB channel on the output, SUB channels on inputs.

Connection handshake (the PUB/SUB "slow joiner" problem)
--------------------------------------------------------
The output binds an ``XPUB`` socket with ``XPUB_WELCOME_MSG``: when a subscriber's pipe is attached, libzmq
sends it a one-frame welcome message, *after* which every message published reaches it. libzmq attaches
new pipes only when the publishing thread calls into its socket, so:

* if the output lives in this process (found through :func:`local_channel`, whatever form was passed to
  ``connect()``), ``connect()`` pumps the output socket (under the output's lock, so it is safe against a
  sending thread) until the welcome arrives: nothing sent after ``connect()`` returns is lost;
* if the output is in another process, ``connect()`` waits (deadline) for the ZMTP handshake reported by a
  socket monitor; the subscription takes effect at the output's next ``send()`` (libzmq processes pending
  subscriptions on the first send after >= ~1 ms of idleness). A sender that must not lose the first chunks
  calls ``OutputStream.wait_for_subscribers(n, timeout)`` (counts XPUB subscription messages) before sending.

Each chunk carries a sequence number, so inputs count chunks dropped at the high-water mark.
"""

from __future__ import annotations

import os
import struct
import tempfile
import threading
import time
import uuid
import weakref
from typing import Any

import zmq

from ..errors import ConfigError, StreamError, StreamTimeout

#: Per-chunk header: sequence number, index (last sample + 1), send time (monotonic ns), samples in chunk.
HEADER = struct.Struct("<qqqq")
#: One-frame welcome message sent by the XPUB to each new subscriber.
WELCOME = b"\x00pyacq_etvr:welcome"
#: One-frame wake-up notification (sharedmem).
NOTIFY = b"\x01"

PROTOCOLS = ("tcp", "ipc", "inproc")

_local_channels: weakref.WeakValueDictionary[str, PubChannel] = weakref.WeakValueDictionary()
_local_lock = threading.Lock()


def context() -> zmq.Context:
    """The process-wide ZeroMQ context (inproc streams need one shared context)."""
    return zmq.Context.instance()


def local_channel(url: str) -> PubChannel | None:
    """Return the open output channel bound at ``url`` in this process, if any."""
    with _local_lock:
        return _local_channels.get(url)


def _bind_url(protocol: str, interface: str, port: Any) -> str:
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol: {protocol!r} is not one of {PROTOCOLS}")
    port = str(port)
    token = f"{os.getpid()}_{uuid.uuid4().hex[:12]}"
    if protocol == "tcp":
        if port != "*" and not port.isdigit():
            raise ConfigError(f"port: expected '*' or a port number, got {port!r}")
        return f"tcp://{interface}:{port}"
    if protocol == "ipc":
        path = os.path.join(tempfile.gettempdir(), f"pyacq_etvr_{token}.ipc") if port == "*" else port
        if len(path) > 100:
            raise ConfigError(f"port: ipc path {path!r} is too long (max 100 characters)")
        return f"ipc://{path}"
    return f"inproc://pyacq_etvr_{token if port == '*' else port}"


class PubChannel:
    """The output side: a bound XPUB socket, its lock and a subscriber count. Not for direct use."""

    def __init__(self, protocol: str, interface: str, port: Any, sndhwm: int = 1000) -> None:
        url = _bind_url(protocol, interface, port)
        sock = context().socket(zmq.XPUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, int(sndhwm))
        sock.setsockopt(zmq.XPUB_VERBOSE, 1)
        sock.setsockopt(zmq.XPUB_VERBOSER, 1)
        sock.setsockopt(zmq.XPUB_WELCOME_MSG, WELCOME)
        try:
            sock.bind(url)
        except zmq.ZMQError as exc:
            sock.close(0)
            raise ConfigError(f"cannot bind output stream to {url}: {exc}") from None
        self.url: str = sock.getsockopt_string(zmq.LAST_ENDPOINT) if protocol != "inproc" else url
        self.socket = sock
        self.lock = threading.Lock()
        self.n_subscribers = 0
        self.closed = False
        with _local_lock:
            _local_channels[self.url] = self

    def pump(self) -> int:
        """Process pending connections and subscription messages; return the subscriber count."""
        with self.lock:
            if self.closed:
                raise StreamError("output stream is closed")
            sock = self.socket
            while sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                msg = sock.recv(zmq.NOBLOCK)
                if msg[:1] == b"\x01":
                    self.n_subscribers += 1
                elif msg[:1] == b"\x00":
                    self.n_subscribers = max(0, self.n_subscribers - 1)
            return self.n_subscribers

    def wait_for_subscribers(self, n: int, timeout: float) -> int:
        """Wait until at least ``n`` inputs subscribed (``timeout`` in ms); StreamTimeout otherwise."""
        deadline = time.monotonic() + timeout / 1000.0
        while True:
            count = self.pump()
            if count >= n:
                return count
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StreamTimeout(f"only {count} of {n} inputs connected to {self.url} within {timeout} ms")
            with self.lock:
                self.socket.poll(min(remaining * 1000.0, 10.0), zmq.POLLIN)

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            self.socket.close(0)
        with _local_lock:
            if _local_channels.get(self.url) is self:
                del _local_channels[self.url]


class SubChannel:
    """The input side: a SUB socket connected to an output's url, with the connection handshake."""

    def __init__(self, url: str, rcvhwm: int = 1000) -> None:
        self.url = url
        sock = context().socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, int(rcvhwm))
        sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.socket = sock
        self.welcomed = False

    def connect(self, timeout: float, what: str) -> None:
        """Connect and complete the handshake (see module doc); ``timeout`` in ms. StreamError on failure."""
        deadline = time.monotonic() + timeout / 1000.0
        local = local_channel(self.url)
        if local is None and self.url.startswith("inproc://"):
            raise StreamError(f"cannot connect {what}: no open inproc output at {self.url} in this process")
        monitor = None
        if local is None:
            monitor = self.socket.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        ok = False
        try:
            self.socket.connect(self.url)
            if local is not None:
                self._wait_welcome(local, deadline, what)
            else:
                assert monitor is not None
                if not monitor.poll(max(0.0, deadline - time.monotonic()) * 1000.0):
                    raise StreamError(f"cannot connect {what}: no answer from {self.url} within {timeout} ms")
            ok = True
        finally:
            if monitor is not None:
                self.socket.disable_monitor()
                monitor.close(0)
            if not ok:
                self.close()

    def _wait_welcome(self, local: PubChannel, deadline: float, what: str) -> None:
        sock = self.socket
        while True:
            local.pump()
            if sock.poll(1):
                msg = sock.recv()
                if msg == WELCOME:
                    self.welcomed = True
                    return
                raise StreamError(f"cannot connect {what}: unexpected first message from {self.url}")
            if time.monotonic() > deadline:
                raise StreamError(f"cannot connect {what}: no handshake with {self.url} before the deadline")

    def close(self) -> None:
        if not self.socket.closed:
            self.socket.close(0)
