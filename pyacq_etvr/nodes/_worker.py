"""A background thread that receives every chunk of one InputStream and hands it to a callback.

Used by the pipeline nodes (filters, calibration, merge, OSC sender, recorder). The thread blocks in
``recv(timeout)`` with a short timeout so that ``stop()`` returns within ``timeout_ms`` + the callback time;
a callback that raises is logged and counted (``errors``) and the thread goes on with the next chunk, so one
bad chunk loses nothing else.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from pyacq_etvr.core.errors import StreamClosedError, StreamError, StreamTimeout

log = logging.getLogger(__name__)

Callback = Callable[[int, np.ndarray, int], None]


class InputWorker:
    """Receive chunks of ``stream`` in a daemon thread and call ``callback(index, data, timestamp_ns)``."""

    def __init__(
        self, stream: Any, callback: Callback, name: str, timeout_ms: float = 50.0, latest: bool = False
    ) -> None:
        self.stream = stream
        self.callback = callback
        self.name = name
        self.timeout_ms = timeout_ms
        self.latest = latest
        self.errors = 0
        self.chunks = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Ask the thread to end and join it; returns False if it did not end within ``timeout`` s."""
        self._stop.set()
        t, self._thread = self._thread, None
        if t is None:
            return True
        t.join(timeout)
        if t.is_alive():
            log.error("%s: worker thread did not stop within %.1f s", self.name, timeout)
            return False
        return True

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        recv = self.stream.recv
        while not self._stop.is_set():
            try:
                index, data, ts = recv(timeout=self.timeout_ms, latest=self.latest, with_timestamp=True)
            except StreamTimeout:
                continue
            except StreamClosedError:
                return
            except StreamError as exc:
                if self._stop.is_set():
                    return
                self.errors += 1
                log.warning("%s: receive failed: %s", self.name, exc)
                self._stop.wait(0.05)
                continue
            self.chunks += 1
            try:
                self.callback(index, data, ts)
            except Exception:
                self.errors += 1
                log.exception("%s: processing chunk %d failed", self.name, index)
