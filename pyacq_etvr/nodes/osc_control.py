"""OSC control input (recenter / recalibrate on port 9001) and an OSC capture server for tests and tools.

Both use python-osc, imported when an object is created. Also importable from :mod:`pyacq_etvr.nodes.osc`.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from pyacq_etvr.core.errors import ConfigError

log = logging.getLogger(__name__)

RECENTER = "/avatar/parameters/etvr_recenter"
RECALIBRATE = "/avatar/parameters/etvr_recalibrate"


def check_endpoint(host: Any, port: Any, key: str) -> tuple[str, int]:
    """Validate an OSC host/port pair; ConfigError naming ``key`` (e.g. 'osc') on a bad one."""
    if isinstance(port, bool) or not isinstance(port, int) or not (0 <= port <= 65535):
        raise ConfigError(f"{key}.port must be an integer in 0..65535, got {port!r}")
    if not isinstance(host, str) or not host:
        raise ConfigError(f"{key}.host must be a host name or IP address, got {host!r}")
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(f"{key}.host {host!r} cannot be resolved: {exc}") from None
    return infos[0][4][0], port


class OscControlServer:
    """Listen for OSC control messages and call back: recenter / recalibrate (bool true triggers).

    Parameters
    ----------
    on_recenter, on_recalibrate : callable() -> Any
        Called from the server thread. Exceptions are logged and counted, never kill the server.
    host, port : default '127.0.0.1', 9001
        Where to listen; port 0 picks a free port (read :attr:`port` after construction).

    Bad messages (wrong argument count or type, unknown addresses) are counted in ``stats()['ignored']``.
    ``False`` values (VRChat sends them when a button is released) are ignored by design.
    """

    def __init__(
        self,
        on_recenter: Callable[[], Any] | None = None,
        on_recalibrate: Callable[[], Any] | None = None,
        host: str = "127.0.0.1",
        port: int = 9001,
    ) -> None:
        from pythonosc.dispatcher import Dispatcher
        from pythonosc.osc_server import BlockingOSCUDPServer

        host, port = check_endpoint(host, port, "control")
        self._handlers = {RECENTER: on_recenter, RECALIBRATE: on_recalibrate}
        self.counters = {"recenter": 0, "recalibrate": 0, "ignored": 0, "errors": 0}
        disp = Dispatcher()
        disp.map(RECENTER, self._on_message)
        disp.map(RECALIBRATE, self._on_message)
        disp.set_default_handler(self._on_unknown)
        try:
            self._server = BlockingOSCUDPServer((host, port), disp)
        except OSError as exc:
            raise ConfigError(f"control.port {port}: cannot listen on {host}:{port} ({exc})") from None
        self.host, self.port = self._server.server_address[:2]
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve in a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True)
            self._thread.name = "OscControlServer"
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout)
            self._thread = None
        self._server.server_close()

    def stats(self) -> dict[str, int]:
        return dict(self.counters)

    def _on_unknown(self, address: str, *args: Any) -> None:
        self.counters["ignored"] += 1

    def _on_message(self, address: str, *args: Any) -> None:
        if len(args) != 1 or args[0] is not True:
            self.counters["ignored"] += 1
            if len(args) != 1 or not isinstance(args[0], bool):
                log.warning("OSC control %s expects one bool argument, got %r", address, args)
            return
        key = "recenter" if address == RECENTER else "recalibrate"
        cb = self._handlers[address]
        self.counters[key] += 1
        if cb is None:
            return
        try:
            cb()
        except Exception:
            self.counters["errors"] += 1
            log.exception("OSC control %s callback failed", key)


class OscCapture:
    """A python-osc UDP server that records every message it receives (tests, benchmarks, debugging).

    ``OscCapture(port=0)`` listens on 127.0.0.1 and a free port (:attr:`port`). ``messages`` is a list of
    ``(receive_time_ns, address, args)``; bundles are unpacked by python-osc. Use as a context manager.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from pythonosc.dispatcher import Dispatcher
        from pythonosc.osc_server import BlockingOSCUDPServer

        self.messages: list[tuple[int, str, tuple[Any, ...]]] = []
        self._lock = threading.Lock()
        disp = Dispatcher()
        disp.set_default_handler(self._on_message)
        self._server = BlockingOSCUDPServer((host, port), disp)
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def _on_message(self, address: str, *args: Any) -> None:
        with self._lock:
            self.messages.append((time.monotonic_ns(), address, args))

    def snapshot(self) -> list[tuple[int, str, tuple[Any, ...]]]:
        """A copy of the messages received so far."""
        with self._lock:
            return list(self.messages)

    def by_address(self) -> dict[str, list[tuple[int, tuple[Any, ...]]]]:
        """Messages grouped by address: address -> [(receive_time_ns, args), ...]."""
        out: dict[str, list[tuple[int, tuple[Any, ...]]]] = {}
        for t, a, args in self.snapshot():
            out.setdefault(a, []).append((t, args))
        return out

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(2.0)
        self._server.server_close()

    def __enter__(self) -> OscCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
