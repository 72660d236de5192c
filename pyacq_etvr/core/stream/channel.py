"""ZeroMQ plumbing shared by every transfer mode: an XPUB channel on the output, SUB channels on inputs.

Connection handshake (the PUB/SUB "slow joiner" problem)
--------------------------------------------------------
An input subscribes to everything (``""``) and then to a private topic ``pyacq_etvr:ack:<token>``. Both
subscriptions travel in order on the same pipe, so when the output's ``XPUB`` (verbose) reads the private
one, the ``""`` subscription is already applied; it then publishes the one-frame message ``<token topic>``.
``connect()`` returns when the input receives its token: from then on every chunk the output sends reaches
it, whether the output is in this process or another one, idle or sending.

libzmq applies subscriptions only when the output's thread calls into its socket, so every process runs one
small daemon thread (:class:`_Pump`, started with the first output, ended with the last) that pumps each
output every 5 ms under the output's lock (the lock also guards ``send``, which makes sharing the socket
between the two threads safe). A local output is also pumped directly by ``connect()``, so connecting in one
thread is immediate. ``OutputStream.wait_for_subscribers(n, timeout)`` counts ``""`` subscriptions.

Each chunk carries a sequence number, so inputs count chunks dropped at the high-water mark.

An ``ipc`` output binds a generated socket file in the temporary directory; :meth:`PubChannel.close` unlinks
it (and an exit hook or the next process cleans up after a killed one): see :mod:`pyacq_etvr.core.ipcfiles`.
"""

from __future__ import annotations

import os
import struct
import threading
import time
import uuid
import weakref
from typing import Any

import zmq

from .. import ipcfiles
from ..errors import ConfigError, StreamError, StreamTimeout

#: Per-chunk header: sequence number, index (last sample + 1), send time (monotonic ns), samples in chunk.
HEADER = struct.Struct("<qqqq")
#: One-frame welcome message sent by the XPUB to each new subscriber (not a proof of subscription).
WELCOME = b"\x00pyacq_etvr:welcome"
#: Topic prefix of the connection acknowledgements (the ack message is the topic itself: 47 bytes).
ACK_TOPIC = b"pyacq_etvr:ack:"
_PUMP_INTERVAL = 0.005
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
        path = ipcfiles.new_ipc_path() if port == "*" else port
        if len(path) > ipcfiles.MAX_PATH:
            raise ConfigError(f"port: ipc path {path!r} is too long (max {ipcfiles.MAX_PATH} characters)")
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
        self._ipc_path = ipcfiles.register_bound(url)  # the socket file to unlink on close (ipc only)
        self.socket = sock
        self.lock = threading.Lock()
        self.n_subscribers = 0
        self.closed = False
        with _local_lock:
            _local_channels[self.url] = self
        _pump.add(self)

    def pump(self) -> int:
        """Process pending connections and subscription messages; return the subscriber count."""
        with self.lock:
            if self.closed:
                raise StreamError("output stream is closed")
            return self.pump_locked()

    def pump_locked(self) -> int:
        """:meth:`pump` for a caller that holds ``self.lock``; answers connection acknowledgement requests."""
        sock = self.socket
        while sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            msg = sock.recv(zmq.NOBLOCK)
            if msg == b"\x01":
                self.n_subscribers += 1
            elif msg == b"\x00":
                self.n_subscribers = max(0, self.n_subscribers - 1)
            elif msg[:1] == b"\x01" and msg[1:].startswith(ACK_TOPIC):
                sock.send(msg[1:])  # the input's "" subscription is applied: tell it
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
        ipcfiles.release_bound(self._ipc_path)
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
        """Connect and wait until the output acknowledged the subscription (``timeout`` ms, StreamError)."""
        deadline = time.monotonic() + timeout / 1000.0
        local = local_channel(self.url)
        if local is None and self.url.startswith("inproc://"):
            self.close()
            raise StreamError(f"cannot connect {what}: no open inproc output at {self.url} in this process")
        topic = ACK_TOPIC + uuid.uuid4().hex.encode()
        sock = self.socket
        try:
            sock.setsockopt(zmq.SUBSCRIBE, topic)  # after "" on the same pipe: see the module doc
            sock.connect(self.url)
            while not self._got_ack(topic, local):
                if time.monotonic() > deadline:
                    raise StreamError(f"cannot connect {what}: no answer from {self.url} within {timeout} ms")
            sock.setsockopt(zmq.UNSUBSCRIBE, topic)
        except BaseException:
            self.close()
            raise

    def _got_ack(self, topic: bytes, local: PubChannel | None) -> bool:
        """Wait a little for the acknowledgement; discard what arrives before it (sent before connect returned)."""
        sock = self.socket
        if local is not None:
            try:
                local.pump()
            except StreamError:
                return False
        if not sock.poll(1 if local is not None else 5):
            return False
        while sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            msg = sock.recv()
            while sock.getsockopt(zmq.RCVMORE):
                sock.recv()
            if msg == topic:
                return True
            if msg == WELCOME:
                self.welcomed = True
        return False

    def close(self) -> None:
        if not self.socket.closed:
            self.socket.close(0)


class _Pump:
    """Per-process daemon thread pumping every open output (see the module doc); it ends with the last one."""

    def __init__(self) -> None:
        self._channels: weakref.WeakSet[PubChannel] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, channel: PubChannel) -> None:
        with self._lock:
            self._channels.add(channel)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="pyacq_etvr-stream-pump", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(_PUMP_INTERVAL)
            with self._lock:
                channels = [c for c in self._channels if not c.closed]
                if not channels:
                    self._thread = None
                    return
            for channel in channels:
                if not channel.lock.acquire(timeout=0.01):
                    continue  # a sender holds it: its sends process the socket's commands too
                try:
                    if not channel.closed:
                        channel.pump_locked()
                except Exception:  # interpreter shutdown / closed context: nothing to pump
                    pass
                finally:
                    channel.lock.release()


_pump = _Pump()


def _forget_after_fork() -> None:
    """A forked child must not touch its parent's sockets: start from an empty pump and registry."""
    global _pump
    _pump = _Pump()
    _local_channels.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
