"""Deadline-based pacing thread used by the device nodes (no drift, stops promptly)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class PacedThread:
    """Calls ``step(scheduled_ns)`` every ``period`` seconds from a background thread.

    The k-th call is scheduled at ``t0 + k * period`` (monotonic clock), so timing errors do not accumulate.
    If the thread falls more than ``max_lag`` seconds behind (a suspended VM...), the schedule restarts from
    now instead of bursting, and ``resyncs`` is incremented. ``stop()`` is noticed at once (Event wait).
    An exception in ``step`` ends the thread; it is kept in ``error``.
    """

    def __init__(self, period: float, step: Callable[[int], None], name: str, max_lag: float = 1.0) -> None:
        if not period > 0:
            raise ValueError(f"period must be > 0, got {period}")
        self.period = float(period)
        self.step = step
        self.name = name
        self.max_lag = max_lag
        self.resyncs = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self.error = None
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop and join (``timeout`` seconds); True if the thread ended."""
        self._stop.set()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        stop, period = self._stop, self.period
        t0, k = time.monotonic(), 0
        try:
            while True:
                deadline = t0 + k * period
                wait = deadline - time.monotonic()
                if wait > 0:
                    if stop.wait(wait):
                        return
                elif stop.is_set():
                    return
                elif -wait > self.max_lag:
                    self.resyncs += 1
                    t0, k = time.monotonic(), 0
                    deadline = t0
                self.step(int(deadline * 1e9))
                k += 1
        except BaseException as exc:  # kept for the owner; the thread must not die silently
            self.error = exc
            log.exception("pacing thread %s failed", self.name)
