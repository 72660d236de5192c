"""Log forwarding for multi-process applications: one log server, records from every process.

* :func:`start_log_server` (or :class:`LogServer`) receives records on a ZeroMQ PULL socket in a thread and
  hands them to a local logger; :class:`RPCLogHandler` prints them sorted by creation time and coloured by
  source (host/process) and level.
* In other processes, :func:`set_logger_address` attaches a :class:`LogSender` (PUSH socket) to the root
  logger; :func:`set_host_name` / :func:`set_process_name` / :func:`set_thread_name` label the records;
  :func:`log_exceptions` turns uncaught exceptions (main and other threads) into log records.
  :class:`~pyacq_etvr.core.rpc.spawner.ProcessSpawner` does all of this for its children and forwards their
  stdout/stderr lines as records.

Nothing here runs at import: the library never configures the root logger by itself.
Records travel as msgpack maps of plain fields (no pickle).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import socket
import sys
import threading
import time
from typing import Any, TextIO

import msgpack
import zmq

from pyacq_etvr.core import ipcfiles

_host_name: str = socket.gethostname()
_process_name: str = f"process-{os.getpid()}"
_thread_names: dict[int, str] = {}
_log_server: LogServer | None = None
_log_sender: LogSender | None = None

_FIELDS = ("name", "levelno", "levelname", "pathname", "lineno", "funcName", "created", "process", "thread")


def set_host_name(name: str) -> None:
    """Name this host in forwarded log records (default: the machine's host name)."""
    global _host_name
    _host_name = str(name)


def get_host_name() -> str:
    return _host_name


def set_process_name(name: str) -> None:
    """Name this process in forwarded log records."""
    global _process_name
    _process_name = str(name)


def get_process_name() -> str:
    return _process_name


def set_thread_name(name: str, tid: int | None = None) -> None:
    """Name a thread (default: the calling one) in forwarded log records."""
    _thread_names[threading.get_ident() if tid is None else tid] = str(name)


def get_thread_name(tid: int | None = None) -> str:
    tid = threading.get_ident() if tid is None else tid
    name = _thread_names.get(tid)
    if name is None:
        for t in threading.enumerate():
            if t.ident == tid:
                return t.name
        return str(tid)
    return name


def record_to_dict(record: logging.LogRecord) -> dict[str, Any]:
    """Plain-data form of a record (message formatted, exception text rendered)."""
    d = {k: getattr(record, k, None) for k in _FIELDS}
    d["msg"] = record.getMessage()
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    d["exc_text"] = record.exc_text
    d["hostname"] = getattr(record, "hostname", None) or _host_name
    d["process_name"] = getattr(record, "process_name", None) or _process_name
    d["thread_name"] = getattr(record, "thread_name", None) or get_thread_name(record.thread)
    return d


class LogSender(logging.Handler):
    """Logging handler that forwards records to a remote :class:`LogServer` over a ZeroMQ PUSH socket.

    Thread-safe (the handler lock serialises sends); never blocks the caller: records are dropped if the
    server is unreachable and the send queue (1000 records) is full.
    """

    def __init__(self, address: str | None = None, logger: str | None = None) -> None:
        super().__init__()
        self._socket: zmq.Socket | None = None
        self.address: str | None = None
        if address is not None:
            self.connect(address)
        if logger is not None:
            logging.getLogger(logger).addHandler(self)

    def connect(self, address: str) -> None:
        with self.lock:
            if self._socket is not None:
                self._socket.close(0)
            sock = zmq.Context.instance().socket(zmq.PUSH)
            sock.setsockopt(zmq.LINGER, 1000)
            sock.setsockopt(zmq.SNDHWM, 1000)
            from pyacq_etvr.core.rpc import auth

            auth.apply_client_curve(sock, None)
            sock.connect(address)
            self._socket = sock
            self.address = address

    def emit(self, record: logging.LogRecord) -> None:
        sock = self._socket
        if sock is None:
            return
        try:
            data = msgpack.packb(record_to_dict(record), default=str)
            sock.send(data, zmq.NOBLOCK)
        except zmq.Again:
            pass
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        with self.lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None
        super().close()


class LogServer(threading.Thread):
    """Thread receiving log records on a ZeroMQ PULL socket and passing them to ``logger``.

    Records keep their origin in the attributes ``hostname``, ``process_name`` and ``thread_name``.
    ``address`` is the bound address once constructed. Stop with :meth:`stop`.
    """

    def __init__(
        self, logger: logging.Logger | str | None = None, address: str = "tcp://127.0.0.1:*", sort: bool = True
    ):
        super().__init__(name="pyacq-log-server", daemon=True)
        self.logger = logger if isinstance(logger, logging.Logger) else logging.getLogger(logger or "")
        from pyacq_etvr.core.rpc import auth

        curve = auth.check_bind(address, None, insecure=False)
        sock = zmq.Context.instance().socket(zmq.PULL)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, 1 << 20)
        if curve is not None:
            auth.apply_server_curve(sock, curve)
        sock.bind(address)
        self._socket = sock
        self._ipc_path = ipcfiles.register_bound(address)  # explicit ipc:// path: unlinked when the thread ends
        self.address: str = sock.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.sort = sort
        self._stop_flag = False

    def run(self) -> None:
        sock = self._socket
        try:
            while not self._stop_flag:
                if not sock.poll(100):
                    continue
                while True:
                    try:
                        data = sock.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self._handle(data)
        finally:
            sock.close(0)
            ipcfiles.release_bound(self._ipc_path)

    def _handle(self, data: bytes) -> None:
        try:
            d = msgpack.unpackb(data, raw=False)
            if not isinstance(d, dict):
                raise ValueError("not a map")
            record = logging.makeLogRecord({k: v for k, v in d.items() if isinstance(k, str)})
            record.args = None
        except Exception:
            return  # malformed record: drop it, never kill the log thread
        try:
            self.logger.handle(record)
        except Exception:
            pass

    def stop(self) -> None:
        self._stop_flag = True
        if self.is_alive() and threading.current_thread() is not self:
            self.join(2)


_PALETTE = [31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96]
_LEVEL_COLOURS = {logging.DEBUG: 37, logging.INFO: 0, logging.WARNING: 33, logging.ERROR: 31, logging.CRITICAL: 41}


class RPCLogHandler(logging.StreamHandler):
    """StreamHandler that prints records from every process sorted by creation time, coloured by source.

    Records are held ``delay`` seconds (default 0.1 s) so that late arrivals from other processes sort
    into place; a daemon thread flushes them. Colour (ANSI) is used when ``color`` is True, or by default
    when the stream is a terminal; each host/process gets its own colour, the level its own.
    """

    def __init__(self, stream: TextIO | None = None, delay: float = 0.1, color: bool | None = None) -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        self._follow_stderr = stream is None  # write to the current sys.stderr (it may be swapped)
        self.delay = float(delay)
        if color is None:
            color = bool(getattr(self.stream, "isatty", lambda: False)())
        self.color = color
        self._heap: list[tuple[float, int, logging.LogRecord]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._source_colours: dict[str, int] = {}
        self._thread = threading.Thread(target=self._flusher, name="pyacq-log-sorter", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        with self._cond:
            heapq.heappush(self._heap, (record.created, next(self._seq), record))
            self._cond.notify()

    def _flusher(self) -> None:
        while True:
            with self._cond:
                if self._closed and not self._heap:
                    return
                if not self._heap:
                    self._cond.wait(0.5)
                    continue
                wait = self._heap[0][0] + self.delay - time.time()
                if wait > 0 and not self._closed:
                    self._cond.wait(wait)
                    continue
                _, _, record = heapq.heappop(self._heap)
            self._write(record)

    def flush_all(self) -> None:
        """Write every held record now, in time order."""
        with self._cond:
            records = [heapq.heappop(self._heap)[2] for _ in range(len(self._heap))]
        for r in records:
            self._write(r)

    def format(self, record: logging.LogRecord) -> str:
        host = getattr(record, "hostname", None) or _host_name
        proc = getattr(record, "process_name", None) or _process_name
        thread = getattr(record, "thread_name", None) or get_thread_name(record.thread)
        source = f"[{host}:{proc}:{thread}]"
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created)) + f".{int(record.created % 1 * 1000):03d}"
        msg = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            msg = f"{msg}\n{record.exc_text}"
        if not self.color:
            return f"{stamp} {source} {record.levelname} {record.name}: {msg}"
        key = f"{host}:{proc}"
        colour = self._source_colours.setdefault(key, _PALETTE[len(self._source_colours) % len(_PALETTE)])
        level = _LEVEL_COLOURS.get(record.levelno, 0)
        return f"\x1b[{colour}m{stamp} {source}\x1b[0m \x1b[{level}m{record.levelname} {record.name}: {msg}\x1b[0m"

    def _write(self, record: logging.LogRecord) -> None:
        if self._follow_stderr:
            self.stream = sys.stderr
        try:
            self.stream.write(self.format(record) + self.terminator)
            self.stream.flush()
        except Exception:
            pass  # a closed or broken stream: never raise from the sorter thread

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(2)
        super().close()


def start_log_server(logger: logging.Logger | str | None = None, address: str = "tcp://127.0.0.1:*") -> LogServer:
    """Start (once per process) the global log server feeding ``logger`` (default: root); return it."""
    global _log_server
    if _log_server is None or not _log_server.is_alive():
        _log_server = LogServer(logger, address)
        _log_server.start()
    return _log_server


def get_logger_address() -> str | None:
    """Address of this process's log server (if started) or of the server its records are sent to."""
    if _log_server is not None and _log_server.is_alive():
        return _log_server.address
    if _log_sender is not None:
        return _log_sender.address
    return None


def set_logger_address(address: str | None) -> None:
    """Forward this process's root-logger records to the log server at ``address`` (None stops)."""
    global _log_sender
    root = logging.getLogger()
    if _log_sender is not None:
        root.removeHandler(_log_sender)
        _log_sender.close()
        _log_sender = None
    if address:
        _log_sender = LogSender(address, logger="")


def stop_log_server() -> None:
    """Stop the global log server of this process (if any)."""
    global _log_server
    if _log_server is not None:
        _log_server.stop()
        _log_server = None


def log_exceptions() -> None:
    """Log uncaught exceptions (main thread and other threads) at CRITICAL before the default hooks run."""
    log = logging.getLogger("pyacq_etvr.uncaught")
    prev_hook = sys.excepthook
    prev_thread_hook = threading.excepthook

    def hook(exc_type, exc, tb):
        log.critical("uncaught exception", exc_info=(exc_type, exc, tb))
        prev_hook(exc_type, exc, tb)

    def thread_hook(args):
        if args.exc_type is not SystemExit:
            name = args.thread.name if args.thread is not None else "?"
            log.critical(
                "uncaught exception in thread %s", name, exc_info=(args.exc_type, args.exc_value, args.exc_traceback)
            )
        prev_thread_hook(args)

    sys.excepthook = hook
    threading.excepthook = thread_hook
