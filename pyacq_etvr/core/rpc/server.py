"""RPCServer: the ROUTER side of the RPC protocol (pyacq-compatible wire format).

Request (multipart, after the ROUTER identity frame): ``[req_id, action, return_type, serializer, opts]``;
reply (one frame): ``{'action': 'return', 'req_id', 'rval', 'error'}`` encoded with the request's serializer,
``error`` being ``[exception type name, traceback lines]`` or None. ``req_id`` ``-1`` asks for no reply.
Actions: ``call_obj``, ``get_obj``, ``get_item``, ``set_item``, ``delete``, ``import``, ``ping``, ``close``.

Malformed traffic (wrong frame count, bad request id, unknown serializer/action, undecodable payload,
oversized messages refused by ``zmq.MAXMSGSIZE``) is counted in :attr:`RPCServer.malformed_count`, logged
(rate-limited) and answered with an error when a reply is possible; it never stops the server.
"""

from __future__ import annotations

import heapq
import importlib
import itertools
import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import zmq

from pyacq_etvr.core import ipcfiles
from pyacq_etvr.core.errors import RPCProtocolError
from pyacq_etvr.core.rpc._zmqfast import NOBLOCK, SNDMORE, recv_frames
from pyacq_etvr.core.rpc._zmqfast import _send as _zsend
from pyacq_etvr.core.rpc.auth import advertised_address
from pyacq_etvr.core.rpc.proxy import ObjectProxy
from pyacq_etvr.core.rpc.serializer import Serializer, all_serializers

logger = logging.getLogger(__name__)

#: default largest accepted request (bytes); bigger messages are dropped by ZeroMQ before reaching Python
DEFAULT_MAX_MSG_SIZE = 256 * 1024 * 1024
_RETURN_TYPES = {b"auto": "auto", b"proxy": "proxy", b"value": "value"}
_MAX_KNOWN_CLIENTS = 4096

_servers: dict[int, RPCServer] = {}
_servers_lock = threading.Lock()
_default_server: RPCServer | None = None


class _Timer:
    """Handle returned by :meth:`RPCServer.start_timer`; ``stop()`` cancels it."""

    _seq = itertools.count()

    def __init__(self, callback: Callable[[], Any], interval: float) -> None:
        self.callback = callback
        self.interval = float(interval)
        self.active = True
        self.seq = next(self._seq)

    def stop(self) -> None:
        self.active = False


class RPCServer:
    """Remote procedure call server: publishes objects and serves requests on a ZeroMQ ROUTER socket.

    At most one server per thread. Run it with :meth:`run_forever` (exclusive loop), :meth:`run_lazy`
    (requests are served while a client of this thread waits for an answer, or by :meth:`_process_pending`)
    or use :class:`QtRPCServer` in a Qt GUI thread. Publish objects with ``server['name'] = obj``.

    ``advertise``: host name or IP put in :attr:`address` (and thus in the proxies this server hands out)
    when binding a wildcard address such as ``tcp://0.0.0.0:8000``.

    Security: a server bound to anything but loopback, ``ipc://`` or ``inproc://`` refuses to start
    without CURVE keys (``curve=`` a :class:`~pyacq_etvr.core.rpc.auth.ServerCurve`, or process-wide keys
    set by :func:`~pyacq_etvr.core.rpc.auth.use_keys_dir`) unless ``insecure=True``: anyone who can reach
    an RPC server can run arbitrary code in its process. See :mod:`pyacq_etvr.core.rpc.auth`.
    """

    def __init__(
        self,
        address: str = "tcp://127.0.0.1:*",
        *,
        curve: Any = None,
        insecure: bool = False,
        max_msg_size: int = DEFAULT_MAX_MSG_SIZE,
        name: str | None = None,
        advertise: str | None = None,
    ) -> None:
        from pyacq_etvr.core.rpc import auth

        self.curve = auth.check_bind(address, curve, insecure)
        self.name = name
        ctx = zmq.Context.instance()
        sock = ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, int(max_msg_size))
        sock.setsockopt(zmq.RCVHWM, 100000)
        sock.setsockopt(zmq.SNDHWM, 100000)  # replies to a client that pipelines many async calls
        self._monitor = None
        if self.curve is not None:
            auth.apply_server_curve(sock, self.curve)
            self._monitor = sock.get_monitor_socket(
                zmq.EVENT_HANDSHAKE_FAILED_AUTH
                | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
            )
        try:
            sock.bind(address)
        except zmq.ZMQError as exc:
            sock.close(0)
            raise OSError(f"cannot bind RPC server to {address}: {exc}") from None
        self._socket = sock
        self._ipc_path = ipcfiles.register_bound(address)  # an explicit ipc:// path: unlinked on close
        #: the address clients connect to (with the real port when binding ``*``)
        self.address: str = advertised_address(sock.getsockopt(zmq.LAST_ENDPOINT).decode(), advertise)
        self._lock = threading.RLock()
        self._refs: dict[int, list[Any]] = {}  # ref_id -> [obj, count]
        self._ref_of_obj: dict[int, int] = {}  # id(obj) -> ref_id
        self._next_ref = itertools.count(1)
        self._named: dict[str, Any] = {}
        self._serializers: dict[bytes, Serializer] = {
            k.encode(): cls(server=self) for k, cls in all_serializers.items()
        }
        self._known_clients: dict[bytes, bytes] = {}
        self._timers: list[tuple[float, int, _Timer]] = []
        self._closing = False
        self.closed = False
        self._thread_id: int | None = None
        self._running = False
        self._busy = 0
        self._poll_interval_ms = 1000
        #: number of malformed requests received so far
        self.malformed_count = 0
        #: number of requests served
        self.request_count = 0

    # --- thread registry -----------------------------------------------------------------------------
    @staticmethod
    def get_server() -> RPCServer | None:
        """Return the server registered for the calling thread, or None."""
        return _servers.get(threading.get_ident())

    @staticmethod
    def register_server(srv: RPCServer) -> None:
        """Register ``srv`` as the (only) server of the calling thread."""
        tid = threading.get_ident()
        with _servers_lock:
            other = _servers.get(tid)
            if other is not None and other is not srv:
                raise RuntimeError(f"thread already has an RPC server ({other.address})")
            _servers[tid] = srv
        srv._thread_id = tid

    @staticmethod
    def unregister_server(srv: RPCServer) -> None:
        with _servers_lock:
            if srv._thread_id is not None and _servers.get(srv._thread_id) is srv:
                del _servers[srv._thread_id]

    @staticmethod
    def get_default_server() -> RPCServer | None:
        """The process-wide background server (see :func:`start_background_server`), if any."""
        srv = _default_server
        return srv if srv is not None and not srv.closed else None

    @staticmethod
    def local_client():
        """pyacq compatibility: the client of this thread for its own server (always None here)."""
        return None

    # --- published objects and references -------------------------------------------------------------
    def __setitem__(self, name: str, obj: Any) -> None:
        self._named[name] = obj

    def __getitem__(self, name: str) -> Any:
        return self._named[name]

    def get_proxy(self, obj: Any, **kwds: Any) -> ObjectProxy:
        """Return a proxy to the local ``obj`` (it stays referenced until every proxy ref is deleted)."""
        if isinstance(obj, ObjectProxy):
            return obj
        with self._lock:
            oid = id(obj)
            ref = self._ref_of_obj.get(oid)
            if ref is None:
                ref = next(self._next_ref)
                self._refs[ref] = [obj, 0]
                self._ref_of_obj[oid] = ref
            self._refs[ref][1] += 1
        return ObjectProxy(self.address, oid, ref, str(type(obj)), (), **kwds)

    def unwrap_proxy(self, proxy: ObjectProxy) -> Any:
        """Return the local object (and attribute) that ``proxy`` references."""
        return self.unwrap_ref(proxy._obj_id, proxy._ref_id, proxy._attributes)

    def unwrap_ref(self, obj_id: int, ref_id: int, attributes: Any = ()) -> Any:
        """Return the local object referenced by (obj_id, ref_id), then its chain of ``attributes``."""
        entry = self._refs.get(ref_id)
        if entry is None or id(entry[0]) != obj_id:
            raise LookupError(f"unknown object reference {ref_id} on {self.address} (deleted?)")
        obj = entry[0]
        for attr in attributes:
            obj = getattr(obj, attr)
        return obj

    def forget(self, obj: Any) -> None:
        """Drop every reference this server holds to ``obj`` (proxies to it stop working)."""
        with self._lock:
            ref = self._ref_of_obj.pop(id(obj), None)
            if ref is not None:
                self._refs.pop(ref, None)

    def _release(self, obj_id: int, ref_id: int) -> None:
        with self._lock:
            entry = self._refs.get(ref_id)
            if entry is None or id(entry[0]) != obj_id:
                return
            entry[1] -= 1
            if entry[1] <= 0:
                del self._refs[ref_id]
                self._ref_of_obj.pop(obj_id, None)

    # --- request handling ----------------------------------------------------------------------------
    def _malformed(self, what: str) -> None:
        self.malformed_count += 1
        n = self.malformed_count
        if n <= 5 or n % 1000 == 0:
            logger.warning("RPC server %s: malformed request #%d dropped: %s", self.address, n, what)

    def _handle(self, frames: list[bytes]) -> None:
        """Serve one received multipart message."""
        self._busy += 1  # a depth: requests nest when a handler makes re-entrant calls
        try:
            self._handle_frames(frames)
        finally:
            self._busy -= 1

    def _handle_frames(self, frames: list[bytes]) -> None:
        if len(frames) != 6:
            self._malformed(f"{len(frames) - 1} frames instead of 5")
            return
        caller, req_b, action_b, rt_b, ser_b, opts_b = frames
        ser = self._serializers.get(ser_b)
        try:
            if len(req_b) > 20:
                raise ValueError
            req_id = int(req_b)
        except ValueError:
            self._malformed(f"bad request id {req_b[:20]!r}")
            return
        if ser is None:
            self._malformed(f"unknown serializer {ser_b[:20]!r}")
            return
        try:
            return_type = _RETURN_TYPES.get(rt_b)
            if return_type is None:
                raise RPCProtocolError(f"unknown return type {rt_b[:20]!r}")
            action = action_b.decode("ascii")
            opts = ser.loads(opts_b) if opts_b else None
            if opts is not None and not isinstance(opts, dict):
                raise RPCProtocolError("request options must be a map")
            rval = self.process_action(action, opts, return_type, caller)
            error = None
        except Exception as exc:
            if isinstance(exc, (RPCProtocolError, UnicodeDecodeError)):
                self._malformed(str(exc)[:200])
            rval, return_type = None, "auto"
            error = [type(exc).__name__, traceback.format_exception(type(exc), exc, exc.__traceback__)]
        self.request_count += 1
        if len(self._known_clients) < _MAX_KNOWN_CLIENTS or caller in self._known_clients:
            self._known_clients[caller] = ser_b
        if req_id >= 0:
            self._send_result(caller, ser, req_id, rval, error, return_type)

    def _send_result(
        self, caller: bytes, ser: Serializer, req_id: int, rval: Any, error: Any, return_type: str
    ) -> None:
        if return_type == "proxy" and error is None:
            rval = self.get_proxy(rval)
        msg = {"action": "return", "req_id": req_id, "rval": rval, "error": error}
        try:
            data = ser.dumps(msg, auto_proxy=return_type != "value")
        except Exception as exc:
            err = [type(exc).__name__, traceback.format_exception(type(exc), exc, exc.__traceback__)]
            data = ser.dumps({"action": "return", "req_id": req_id, "rval": None, "error": err})
        try:
            _zsend(self._socket, caller, SNDMORE | NOBLOCK)
            _zsend(self._socket, data, NOBLOCK)
        except zmq.ZMQError as exc:
            logger.warning("RPC server %s: could not send reply %d: %s", self.address, req_id, exc)

    def process_action(self, action: str, opts: dict | None, return_type: str, caller: bytes) -> Any:
        """Invoke one action and return its result (exceptions are sent back to the caller)."""
        opts = opts or {}
        if action == "call_obj":
            args = opts.get("args") or ()
            kwargs = opts.get("kwargs") or {}
            if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
                raise RPCProtocolError("call_obj needs args as a list and kwargs as a map")
            return opts["obj"](*args, **kwargs)
        if action == "get_obj":
            return opts["obj"]
        if action == "ping":
            return "pong"
        if action == "get_item":
            name = opts["name"]
            try:
                return self._named[name]
            except (KeyError, TypeError):
                raise KeyError(f"no object named {name!r} on {self.address}") from None
        if action == "set_item":
            self._named[str(opts["name"])] = opts["value"]
            return None
        if action == "delete":
            self._release(opts["obj_id"], opts["ref_id"])
            return None
        if action == "import":
            return importlib.import_module(str(opts["module"]))
        if action == "close":
            self._closing = True
            return True
        raise RPCProtocolError(f"unknown action {action[:40]!r}")

    def _process_pending(self, max_count: int = 1000) -> int:
        """Serve the requests already received (non-blocking); return how many were read."""
        sock = self._socket
        n = 0
        try:
            while n < max_count and not self.closed and not self._closing:
                frames = recv_frames(sock, NOBLOCK)  # raises zmq.Again when nothing is left
                n += 1
                self._handle(frames)
        except zmq.Again:
            pass
        if self._monitor is not None and not self.closed:
            self._drain_monitor()
        if self._closing and not self._running and not self._busy:
            self._final_close()
        return n

    _read_and_process_one = _process_pending

    def _drain_monitor(self) -> None:
        from zmq.utils.monitor import recv_monitor_message

        while True:
            try:
                evt = recv_monitor_message(self._monitor, zmq.NOBLOCK)
            except (zmq.Again, zmq.ZMQError):
                return
            logger.warning(
                "RPC server %s refused a connection (CURVE handshake failed, event %s)", self.address, evt["event"]
            )

    def _register_in_poller(self, poller: zmq.Poller) -> None:
        poller.register(self._socket, zmq.POLLIN)

    def _process_from_poll(self, events: dict) -> None:
        if self._socket in events:
            self._process_pending()

    # --- loops ---------------------------------------------------------------------------------------
    def start_timer(self, callback: Callable[[], Any], interval: float, **kwds: Any) -> _Timer:
        """Call ``callback`` every ``interval`` seconds from this server's loop (run_forever); return a handle."""
        timer = _Timer(callback, interval)
        with self._lock:
            heapq.heappush(self._timers, (time.monotonic() + timer.interval, timer.seq, timer))
        return timer

    def _run_timers(self) -> float | None:
        """Run due timers; return seconds until the next one."""
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            with self._lock:
                due, _, timer = heapq.heappop(self._timers)
            if not timer.active:
                continue
            try:
                timer.callback()
            except Exception:
                logger.exception("RPC server %s: timer callback failed", self.address)
            with self._lock:
                heapq.heappush(self._timers, (max(due + timer.interval, now), timer.seq, timer))
        return self._timers[0][0] - now if self._timers else None

    def run_lazy(self) -> None:
        """Register this server for the calling thread without starting a loop."""
        self.register_server(self)

    def run_forever(self) -> None:
        """Serve requests in the calling thread until :meth:`close` (or a ``close`` request)."""
        self.register_server(self)
        self._running = True
        sock = self._socket
        timeout_ms = -2
        try:
            while not self._closing:
                wait_ms = 100
                if self._timers:
                    wait = self._run_timers()
                    if wait is not None:
                        wait_ms = max(1, min(100, int(wait * 1000)))
                if wait_ms != timeout_ms:
                    sock.setsockopt(zmq.RCVTIMEO, wait_ms)
                    timeout_ms = wait_ms
                try:
                    frames = recv_frames(sock)  # a blocking receive wakes up fastest; RCVTIMEO bounds it
                except zmq.Again:
                    if self._monitor is not None:
                        self._drain_monitor()
                    continue
                self._handle(frames)
                if self._monitor is not None:
                    self._drain_monitor()
        finally:
            self._running = False
            self._final_close()

    def close(self) -> None:
        """Close the server.

        Not running: at once. Called while serving a request (e.g. by a published object): right after
        that request's reply. Running ``run_forever`` in another thread: its loop ends within 0.1 s.
        """
        self._closing = True
        if self._running or self._busy:
            return  # the loop (or the request being served) finishes first, then closes
        self._final_close()

    def _final_close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for caller, ser_b in list(self._known_clients.items()):
            try:
                data = self._serializers[ser_b].dumps({"action": "disconnect"})
                self._socket.send_multipart([caller, data], zmq.NOBLOCK)
            except zmq.ZMQError:
                pass
        self.unregister_server(self)
        if self._monitor is not None:
            try:
                self._socket.disable_monitor()
            except zmq.ZMQError:
                pass
            self._monitor.close(0)
        self._socket.close(0)
        ipcfiles.release_bound(self._ipc_path)
        with self._lock:
            self._refs.clear()
            self._ref_of_obj.clear()
            self._named.clear()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.address}{' closed' if self.closed else ''}>"


def start_background_server(address: str = "tcp://127.0.0.1:*", default: bool = True, **kwds: Any) -> RPCServer:
    """Start an :class:`RPCServer` in a daemon thread and return it once it listens.

    With ``default=True`` it becomes the process's default server: local objects passed as arguments from
    threads without their own server are sent by proxy to it (their methods then run in that thread).
    """
    global _default_server
    ready = threading.Event()
    box: list[Any] = []

    def run() -> None:
        try:
            srv = RPCServer(address, **kwds)
        except BaseException as exc:
            box.append(exc)
            ready.set()
            return
        box.append(srv)
        srv.register_server(srv)
        ready.set()
        srv.run_forever()

    thread = threading.Thread(target=run, name="pyacq-rpc-server", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise TimeoutError("background RPC server did not start within 10 s")
    if isinstance(box[0], BaseException):
        raise box[0]
    srv = box[0]
    srv._thread = thread
    if default:
        _default_server = srv
    return srv
