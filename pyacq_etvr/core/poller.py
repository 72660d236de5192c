"""ThreadPollInput: receive an InputStream in a background thread and call back with ``(index, data)``.

No Qt: callbacks are kept in a tiny thread-safe :class:`Callbacks` list whose ``connect`` / ``disconnect`` /
``emit`` spelling matches Qt signals, so ``poller.new_data.connect(cb)`` reads like pyacq. Callbacks run in
the poller thread; a Qt adapter (``pyacq_etvr.viewers``) re-emits them as a real signal in the GUI thread.

While the poller runs, only its thread may use the input stream: call ``stop()`` and ``wait()`` before using
the stream from another thread again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .errors import ConfigError, StreamClosedError, StreamError, StreamTimeout

log = logging.getLogger(__name__)


class Callbacks:
    """Thread-safe list of callables with Qt-signal spelling (``connect``, ``disconnect``, ``emit``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: tuple[Callable[..., Any], ...] = ()

    def connect(self, callback: Callable[..., Any]) -> None:
        with self._lock:
            self._callbacks = (*self._callbacks, callback)

    def disconnect(self, callback: Callable[..., Any] | None = None) -> None:
        """Remove ``callback`` (all callbacks if None). ValueError if it was not connected."""
        with self._lock:
            if callback is None:
                self._callbacks = ()
                return
            if callback not in self._callbacks:
                raise ValueError(f"{callback!r} is not connected")
            cbs = list(self._callbacks)
            cbs.remove(callback)
            self._callbacks = tuple(cbs)

    def emit(self, *args: Any) -> None:
        for cb in self._callbacks:  # tuple snapshot: connect/disconnect during emit is safe
            cb(*args)

    def __len__(self) -> int:
        return len(self._callbacks)


class ThreadPollInput:
    """Background thread that receives chunks from ``input_stream`` and emits ``new_data(index, data)``.

    Args:
        input_stream: a connected InputStream (owned by the poller thread while it runs).
        timeout: receive timeout in ms; bounds how long ``stop()`` takes to be noticed (default 200 ms).
        return_data: if False, callbacks get ``(index, None)``.
        latest: latest-frame mode: each emission carries the newest chunk; older pending ones are skipped
            (counted in ``input_stream.stats()['skipped']``). Default: the input's own ``latest`` setting.

    Subclasses may override :meth:`process_data`; the chunk's send time is in ``self.timestamp_ns`` there.
    An exception raised by a callback is logged and counted in ``errors``; the thread keeps running. The thread
    ends on ``stop()``, or when the stream is closed (StreamClosedError / StreamError).
    """

    def __init__(
        self, input_stream: Any, timeout: float = 200.0, return_data: bool = True, latest: bool | None = None
    ) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ConfigError(f"ThreadPollInput: timeout must be a number of ms > 0, got {timeout!r}")
        if not hasattr(input_stream, "recv"):
            raise ConfigError(f"ThreadPollInput: {input_stream!r} is not an InputStream")
        self.input_stream = input_stream
        self.timeout = float(timeout)
        self.return_data = return_data
        self.latest = latest
        self.new_data = Callbacks()
        self.timestamp_ns = 0
        self.errors = 0
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (no-op if it is already running)."""
        if self.is_running():
            return
        self._stop_event.clear()
        add_reader = getattr(self.input_stream, "add_reader", None)
        if add_reader is not None:  # the stream stops and joins us before closing its socket
            add_reader(self)
        name = f"ThreadPollInput-{getattr(self.input_stream, 'label', 'input')}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop (it notices within ``timeout`` ms); use :meth:`wait` to join it."""
        self._stop_event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Join the thread (``timeout`` in ms, None = forever); True if it has ended."""
        thread = self._thread
        if thread is None:
            return True
        if thread is not threading.current_thread():
            thread.join(None if timeout is None else timeout / 1000.0)
        return not thread.is_alive()

    def is_running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    isRunning = is_running  # Qt / pyacq spelling

    def process_data(self, index: int, data: Any) -> None:
        """Called in the poller thread for each received chunk; default: emit ``new_data``."""
        self.new_data.emit(index, data if self.return_data else None)

    def _run(self) -> None:
        stream, stop = self.input_stream, self._stop_event
        while not stop.is_set():
            try:
                index, data, ts = stream.recv(timeout=self.timeout, latest=self.latest, with_timestamp=True)
            except StreamTimeout:
                continue
            except (StreamClosedError, StreamError) as exc:
                if not stop.is_set():
                    log.debug("poller of %s ends: %s", getattr(stream, "label", stream), exc)
                break
            self.timestamp_ns = ts
            try:
                self.process_data(index, data)
            except Exception:
                self.errors += 1
                log.exception("error in a callback of the poller of %s", getattr(stream, "label", stream))
