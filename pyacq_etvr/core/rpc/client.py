"""RPCClient: the DEALER side of the RPC protocol (one client per thread and server address)."""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from pyacq_etvr.core.errors import DeadProcessError, RPCProtocolError, RPCTimeoutError, SecurityError
from pyacq_etvr.core.rpc._zmqfast import NOBLOCK, POLLIN, SNDMORE, readable, send_frames, zmq_poll
from pyacq_etvr.core.rpc._zmqfast import _recv as _zrecv
from pyacq_etvr.core.rpc._zmqfast import _send as _zsend
from pyacq_etvr.core.rpc.future import Future, RemoteCallException
from pyacq_etvr.core.rpc.proxy import ObjectProxy
from pyacq_etvr.core.rpc.serializer import all_serializers
from pyacq_etvr.core.rpc.server import _servers

logger = logging.getLogger(__name__)

_registry_lock = threading.Lock()
_clients: dict[tuple[int, str], RPCClient] = {}
_dead: dict[str, str] = {}  # address -> reason, process-wide
_ids = itertools.count()

_RECV_SLICE_MS = 100  # a blocked wait checks the connection (monitor, dead marks) at least this often
_MONITOR_EVENTS = (
    zmq.EVENT_CONNECTED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_CONNECT_RETRIED
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
)


class _Pending:
    """Slot for the answer of a synchronous call (the part of the Future interface the client uses)."""

    __slots__ = ("call_id", "result", "exc", "_done")

    def __init__(self, call_id: int) -> None:
        self.call_id = call_id
        self.result: Any = None
        self.exc: BaseException | None = None
        self._done = False

    def done(self) -> bool:
        return self._done

    def set_result(self, value: Any) -> None:
        self.result, self._done = value, True

    def set_exception(self, exc: BaseException) -> None:
        self.exc, self._done = exc, True


def mark_dead(address: str, reason: str = "the process died", before: float | None = None) -> None:
    """Record (process-wide) that the server at ``address`` is gone: calls to it fail at once.

    Every client of this process connected to ``address`` (created before the monotonic time ``before``,
    default now) fails its pending and future calls with DeadProcessError. Clients created later are not
    affected: ports are reused, and a new server may listen at the same address.
    """
    before = time.monotonic() if before is None else before
    with _registry_lock:
        _dead[address] = reason
        clients = [c for (_, addr), c in _clients.items() if addr == address and c._created <= before]
    for c in clients:
        c._dead_reason, c._dead_since = reason, time.monotonic()


def is_dead(address: str) -> bool:
    """True if ``address`` was marked dead in this process."""
    return address in _dead


class RPCClient:
    """Connection to one :class:`RPCServer`, used from the thread that created it.

    ``reentrant=True`` lets the server running in this thread (if any) process its requests while this
    client waits for an answer, so A -> B -> A call chains do not deadlock. The client watches its
    connection (ZeroMQ socket monitor and heartbeats): when the server process dies, pending and future
    calls raise :class:`~pyacq_etvr.core.errors.DeadProcessError` at once.

    ``curve`` is a :class:`~pyacq_etvr.core.rpc.auth.ClientCurve` (default: the process-wide keys set with
    :func:`~pyacq_etvr.core.rpc.auth.use_keys_dir`, if any).
    """

    def __init__(self, address: str, reentrant: bool = True, serializer: str = "msgpack", curve: Any = None) -> None:
        if serializer not in all_serializers:
            raise ValueError(f"unknown serializer {serializer!r}; choose from {', '.join(all_serializers)}")
        if not isinstance(address, str):
            raise TypeError(f"address must be a str, not {type(address).__name__}")
        self.address = address
        self.reentrant = reentrant
        self.thread_id = threading.get_ident()
        self.closed = False
        self._ser_type = serializer.encode()
        self._serializer = all_serializers[serializer]()
        self._futures: dict[int, Future] = {}
        self._next_id = 0
        self._pending_deletes: list[tuple[int, int]] = []
        self._created = time.monotonic()
        self._dead_since: float | None = None
        self._dead_reason: str | None = None
        self._refused = False
        self._connected = False
        self._handshaken = False
        ctx = zmq.Context.instance()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.IDENTITY, f"{os.getpid()}-{self.thread_id}-{next(_ids)}".encode())
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.HEARTBEAT_IVL, 1000)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 5000)
        sock.setsockopt(zmq.SNDTIMEO, 5000)
        sock.setsockopt(zmq.RCVTIMEO, _RECV_SLICE_MS)
        sock.setsockopt(zmq.RCVHWM, 100000)
        sock.setsockopt(zmq.SNDHWM, 100000)
        from pyacq_etvr.core.rpc import auth

        auth.apply_client_curve(sock, curve)
        self._monitor = sock.get_monitor_socket(_MONITOR_EVENTS)
        sock.connect(address)
        self._socket = sock
        self._pollers: dict[Any, zmq.Poller] = {}
        with _registry_lock:
            old = _clients.get((self.thread_id, address))
            if old is None or old.closed or old._dead_reason is not None:
                _clients[(self.thread_id, address)] = self  # the newest live client serves get_client

    # --- registry ------------------------------------------------------------------------------------
    @staticmethod
    def get_client(address: str) -> RPCClient | None:
        """Return this thread's client for ``address`` (created on demand); None if the server runs here."""
        key = (threading.get_ident(), address)
        client = _clients.get(key)
        if client is not None and not client.closed:
            if (client._dead_reason is None and not client._refused) or client._dead_recently():
                return client  # alive, or known dead for < 1 s: calls fail at once
            # its server is gone: a new server may have bound the same address since (ports are reused)
            client.close()
        from pyacq_etvr.core.rpc.server import RPCServer

        server = RPCServer.get_server()
        if server is not None and server.address == address:
            return None
        with _registry_lock:
            _clients.pop(key, None)
        return RPCClient(address)

    # --- requests ------------------------------------------------------------------------------------
    def send(
        self,
        action: str,
        opts: dict | None = None,
        return_type: str = "auto",
        sync: str = "sync",
        timeout: float = 10.0,
        auto_proxy: bool = True,
    ) -> Any:
        """Send a request; return its value (sync), a :class:`Future` (async) or None (off).

        ``auto_proxy``: send local objects that cannot be serialized by proxy (needs an RPC server in this
        thread or a background server); if False they raise TypeError.
        """
        if self.closed:
            raise DeadProcessError(f"RPC client for {self.address} is closed")
        self._check_alive()
        if self._pending_deletes:
            self._flush_deletes()
        if sync == "off":
            req_id = -1
        elif sync in ("sync", "async"):
            req_id = self._next_id
            self._next_id += 1
        else:
            raise ValueError(f"sync must be 'sync', 'async' or 'off', not {sync!r}")
        data = b"" if opts is None else self._serializer.dumps(opts, auto_proxy)
        try:
            sock = self._socket  # the 5 request frames, sent inline (hot path)
            _zsend(sock, str(req_id).encode(), SNDMORE)
            _zsend(sock, action.encode(), SNDMORE)
            _zsend(sock, return_type.encode(), SNDMORE)
            _zsend(sock, self._ser_type, SNDMORE)
            _zsend(sock, data, 0)
        except zmq.Again:
            self._check_alive(read_monitor=True)
            raise RPCTimeoutError(f"could not send to {self.address} within 5 s (no connection)") from None
        if req_id < 0:
            return None
        if sync == "async":
            fut = self._futures[req_id] = Future(self, req_id)
            if not req_id & 255:  # many calls in flight: take in the answers already there
                self._recv_all()
            return fut
        pending = self._futures[req_id] = _Pending(req_id)  # lighter than a Future for a blocking call
        self.process_until_future(pending, timeout)
        if pending.exc is not None:
            raise pending.exc
        return pending.result

    def call_obj(self, obj: ObjectProxy, args: Any = None, kwargs: Any = None, **kwds: Any) -> Any:
        """Invoke a remote callable (``obj`` is a proxy to it)."""
        if isinstance(obj, ObjectProxy):
            obj = obj._wire_dict()  # plain dict: packed without a Python encoder hook
        # args travel as a list (pyacq does the same); nested tuples keep their tag
        opts: dict[str, Any] = {"obj": obj}
        if args:
            opts["args"] = list(args)
        if kwargs:
            opts["kwargs"] = kwargs
        return self.send("call_obj", opts, **kwds)

    def get_obj(self, obj: ObjectProxy, **kwds: Any) -> Any:
        """Return a copy of a remote object (or a new proxy if it cannot be serialized and return_type allows)."""
        return self.send("get_obj", {"obj": obj._wire_dict() if isinstance(obj, ObjectProxy) else obj}, **kwds)

    def __getitem__(self, name: str) -> Any:
        return self.send("get_item", {"name": name})

    def __setitem__(self, name: str, obj: Any) -> None:
        self.send("set_item", {"name": name, "value": obj})

    def _import(self, module: str, **kwds: Any) -> Any:
        """Import ``module`` in the remote process and return a proxy to it."""
        return self.send("import", {"module": module}, **kwds)

    def delete(self, obj: ObjectProxy, **kwds: Any) -> Any:
        """Release the server's reference held by ``obj``."""
        return self.send("delete", {"obj_id": obj._obj_id, "ref_id": obj._ref_id}, **kwds)

    def ping(self, sync: str = "sync", **kwds: Any) -> Any:
        """Ping the server ('pong')."""
        return self.send("ping", sync=sync, **kwds)

    def close_server(self, sync: str = "sync", timeout: float = 1.0, **kwds: Any) -> bool:
        """Ask the server to close; True if it did (or was already gone)."""
        if self._dead_reason is not None or self.closed:
            return True
        try:
            return bool(self.send("close", sync=sync, timeout=timeout, **kwds)) if sync != "off" else True
        except DeadProcessError:
            return True

    def _queue_delete(self, obj_id: int, ref_id: int) -> None:
        self._pending_deletes.append((obj_id, ref_id))

    def _flush_deletes(self) -> None:
        todo, self._pending_deletes = self._pending_deletes, []
        for obj_id, ref_id in todo:
            data = self._serializer.dumps({"obj_id": obj_id, "ref_id": ref_id})
            try:
                send_frames(self._socket, [b"-1", b"delete", b"auto", self._ser_type, data], NOBLOCK)
            except zmq.Again:
                return

    # --- receiving -----------------------------------------------------------------------------------
    def _poller(self, server: Any) -> zmq.Poller:
        poller = self._pollers.get(server)
        if poller is None:
            poller = zmq.Poller()
            poller.register(self._socket, zmq.POLLIN)
            poller.register(self._monitor, zmq.POLLIN)
            server._register_in_poller(poller)
            self._pollers = {server: poller}
        return poller

    def process_until_future(self, future: Future, timeout: float | None = None) -> None:
        """Process incoming messages (and this thread's server requests) until ``future`` is done.

        Raises RPCTimeoutError after ``timeout`` seconds. Connection loss is checked at least every 0.1 s.
        """
        server = _servers.get(threading.get_ident()) if self.reentrant else None
        deadline = None if timeout is None else time.monotonic() + timeout
        sock, monitor = self._socket, self._monitor
        poll_items = [(sock, POLLIN), (monitor, POLLIN)]
        while not future.done():
            if server is not None and server.closed:
                server = None
            if self._dead_reason is not None or self._refused:
                self._fail_all(self._refusal() if self._refused else None)
                break
            if deadline is None:
                wait = 100
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._forget(future.call_id)
                    raise RPCTimeoutError(
                        f"no answer from {self.address} within {timeout} s (request {future.call_id})"
                    )
                wait = min(100, int(remaining * 1000) + 1)
            if server is None and wait >= _RECV_SLICE_MS:
                # blocking receive (cheapest wake-up); connection events are read when it times out
                try:
                    self.process_msg(_zrecv(sock, 0))
                except zmq.Again:
                    if readable(monitor):
                        self._handle_monitor()
                    continue
                if not future.done():
                    self._recv_until(future)
                continue
            if server is None:
                for item, _ in zmq_poll(poll_items, wait):
                    if item is sock:
                        self._recv_until(future)
                    else:
                        self._handle_monitor()
                continue
            events = dict(self._poller(server).poll(min(wait, server._poll_interval_ms)))
            if sock in events:
                self._recv_all()
            if monitor in events:
                self._handle_monitor()
            server._process_from_poll(events)

    def process(self) -> None:
        """Handle every message already received (non-blocking); only from the owner thread."""
        if threading.get_ident() != self.thread_id or self.closed:
            return
        self._recv_all()
        self._handle_monitor()

    def _recv_until(self, future: Any) -> None:
        """Handle received messages until ``future`` is done or none is left (non-blocking)."""
        sock = self._socket
        try:
            while True:
                self.process_msg(_zrecv(sock, NOBLOCK))
                if future.done():
                    return
        except zmq.Again:
            return

    def _recv_all(self) -> None:
        sock = self._socket
        while readable(sock):
            self.process_msg(_zrecv(sock, NOBLOCK))

    def process_msg(self, data: bytes) -> None:
        """Handle one message from the server: resolve a Future, or note that the server disconnected."""
        self._serializer.server = _servers.get(threading.get_ident())
        try:
            msg = self._serializer.loads(data)
            action = msg.get("action")
        except (RPCProtocolError, AttributeError, LookupError) as exc:
            logger.warning("RPC client for %s: undecodable reply dropped: %s", self.address, exc)
            return
        if action == "disconnect":
            self._dead_reason, self._dead_since = "the server closed", time.monotonic()
            self._fail_all()
            return
        fut = self._futures.pop(msg.get("req_id"), None)
        if fut is None or fut.done():
            return
        error = msg.get("error")
        if error is not None:
            try:
                exc_type, tb = error[0], error[1]
            except (TypeError, IndexError, KeyError):
                exc_type, tb = "Exception", [repr(error)]
            fut.set_exception(RemoteCallException(exc_type, tb))
        else:
            fut.set_result(msg.get("rval"))

    def _handle_monitor(self) -> None:
        while True:
            try:
                evt = recv_monitor_message(self._monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            except zmq.ZMQError:
                return
            event = evt["event"]
            if event == zmq.EVENT_CONNECTED:
                self._connected = True
            elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._connected = self._handshaken = True
                if not self.closed:  # a server (back) at this address: a stale dead mark no longer holds
                    self._dead_reason = self._dead_since = None
                    _dead.pop(self.address, None)
            elif self._refused:
                continue  # the server refused our keys: a disconnection says nothing about its health
            elif event in (zmq.EVENT_HANDSHAKE_FAILED_AUTH, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL) or (
                event == zmq.EVENT_DISCONNECTED and self._connected and not self._handshaken
            ):  # rejected during the handshake: wrong or missing CURVE keys
                self._refused = True
                self._dead_since = time.monotonic()
                self._fail_all(self._refusal())
            elif event == zmq.EVENT_DISCONNECTED or (event == zmq.EVENT_CONNECT_RETRIED and not self._connected):
                self._connected = self._handshaken = False
                reason = "connection refused" if event == zmq.EVENT_CONNECT_RETRIED else "connection lost"
                self._dead_reason = f"{reason} (process dead?)"  # this connection only: see mark_dead
                self._dead_since = time.monotonic()
                self._fail_all()

    def _refusal(self) -> SecurityError:
        return SecurityError(
            f"RPC server {self.address} refused our credentials (CURVE keys missing or not authorised?)"
        )

    def _dead_recently(self, window: float = 1.0) -> bool:
        since = self._dead_since
        return since is not None and time.monotonic() - since < window

    def _check_alive(self, read_monitor: bool = False) -> None:
        """Raise if the server is known to be gone (``read_monitor``: read pending connection events first).

        Sends need not read the monitor: the wait for the answer polls it, so a call into a dead process
        still fails at once.
        """
        if read_monitor and readable(self._monitor):
            self._handle_monitor()
        if self._refused:
            raise self._refusal()
        reason = self._dead_reason
        if reason is not None:
            raise DeadProcessError(f"RPC server {self.address} is gone: {reason}")

    def _fail_all(self, exc: BaseException | None = None) -> None:
        futures, self._futures = self._futures, {}
        for fut in futures.values():
            if not fut.done():
                err = exc or DeadProcessError(f"RPC server {self.address} is gone: {self._dead_reason}")
                fut.set_exception(err)

    def _forget(self, call_id: int) -> None:
        self._futures.pop(call_id, None)

    def close(self) -> None:
        """Close the sockets (pending calls fail); only from the owner thread."""
        if self.closed:
            return
        self.closed = True
        self._dead_reason = self._dead_reason or "the client was closed"
        self._fail_all()
        with _registry_lock:
            if _clients.get((self.thread_id, self.address)) is self:
                del _clients[(self.thread_id, self.address)]
        try:
            self._socket.disable_monitor()
        except zmq.ZMQError:
            pass
        self._monitor.close(0)
        self._socket.close(0)
        self._pollers = {}

    def __repr__(self) -> str:
        return f"<RPCClient to {self.address}{' closed' if self.closed else ''}>"


def close_thread_clients() -> None:
    """Close every client owned by the calling thread (call before a thread exits)."""
    tid = threading.get_ident()
    with _registry_lock:
        mine = [c for (t, _), c in _clients.items() if t == tid]
    for c in mine:
        c.close()
