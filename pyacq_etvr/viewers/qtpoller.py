"""Qt adapter around the core input poller: chunks arrive as a Qt signal in the GUI thread.

:class:`QtPollInput` runs the core's :class:`~pyacq_etvr.core.poller.ThreadPollInput` (a plain background
thread, no Qt) and re-emits each chunk it receives as ``new_data(index, data)`` in the thread that owns the
QtPollInput — the GUI thread. Chunks wait in a bounded backlog, never in an unbounded Qt event queue: with
``max_pending=1`` only the newest chunk is delivered (latest-frame semantics for images); with a larger
backlog every chunk is delivered unless the GUI falls more than ``max_pending`` chunks behind, in which case
the oldest are dropped and counted in :attr:`QtPollInput.dropped`.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.viewers._qt import QtCore

__all__ = ["QtPollInput"]


class QtPollInput(QtCore.QObject):
    """Emit ``new_data(index, data)`` in the GUI thread for chunks received on ``input_stream``.

    During a ``new_data`` slot, :attr:`last_timestamp_ns` holds the chunk's timestamp (its send time, or the
    time the sender gave, e.g. a camera's capture time).

    Args:
        input_stream: a connected :class:`~pyacq_etvr.core.InputStream` (owned by this poller while it
            runs: do not read it from another thread until :meth:`stop` and :meth:`wait` returned).
        return_data: pass the chunk's data (True) or None (False), as pyacq's ThreadPollInput.
        max_pending: chunks kept for the GUI thread between two deliveries (>= 1; 1 = newest only).
        latest: make the input drain to its newest chunk on every read (for images; counted by the input as
            ``skipped``). Default: True when ``max_pending == 1``.
        timeout: ms the background thread waits per poll (bounds how long :meth:`stop` takes).

    The data objects are the stream's own (read-only views for plaindata, private copies for sharedmem), so
    a receiver may keep them. Create and start the poller in the GUI thread, which must run a Qt event loop.
    """

    new_data = QtCore.pyqtSignal(int, object)
    _wake = QtCore.pyqtSignal()

    def __init__(
        self,
        input_stream: Any,
        return_data: bool = True,
        max_pending: int = 1000,
        latest: bool | None = None,
        timeout: float = 200,
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if not isinstance(max_pending, int) or isinstance(max_pending, bool) or max_pending < 1:
            raise ConfigError(f"max_pending must be an integer >= 1, got {max_pending!r}")
        from pyacq_etvr.core.poller import ThreadPollInput

        self.input_stream = input_stream
        if latest if latest is not None else max_pending == 1:
            input_stream.latest = True
        self._pending: collections.deque[tuple[int, Any, int]] = collections.deque(maxlen=max_pending)
        self._lock = threading.Lock()
        self._woken = False
        self.received = 0
        self.delivered = 0
        self.dropped = 0
        #: timestamp (``time.monotonic_ns()`` units) of the chunk being delivered, readable in a ``new_data`` slot
        self.last_timestamp_ns: int | None = None
        self._poller = ThreadPollInput(input_stream, timeout=timeout, return_data=return_data)
        self._poller.new_data.connect(self._on_chunk)
        self._wake.connect(self._deliver, QtCore.Qt.QueuedConnection)

    def _on_chunk(self, index: int, data: Any) -> None:
        """Background thread: queue the chunk, wake the GUI thread once per batch."""
        with self._lock:
            if len(self._pending) == self._pending.maxlen:
                self.dropped += 1
            self._pending.append((index, data, self._poller.timestamp_ns))
            self.received += 1
            wake = not self._woken
            self._woken = True
        if wake:
            self._wake.emit()

    @QtCore.pyqtSlot()
    def _deliver(self) -> None:
        """GUI thread: emit every pending chunk, oldest first."""
        with self._lock:
            batch = list(self._pending)
            self._pending.clear()
            self._woken = False
        for index, data, ts in batch:
            self.delivered += 1
            self.last_timestamp_ns = ts
            self.new_data.emit(int(index), data)

    def start(self) -> None:
        """Start the background thread."""
        self._poller.start()

    def stop(self) -> None:
        """Ask the background thread to stop (it ends within ``timeout`` ms)."""
        self._poller.stop()

    def wait(self, timeout: float | None = 5.0) -> bool:
        """Wait up to ``timeout`` seconds for the thread to end; True if it did."""
        return bool(self._poller.wait(None if timeout is None else timeout * 1000.0))

    def is_running(self) -> bool:
        """True while the background thread runs."""
        return bool(self._poller.is_running())

    def stats(self) -> dict[str, int]:
        """Counters: ``received`` by the thread, ``delivered`` in the GUI thread, ``dropped`` from the backlog."""
        with self._lock:
            return {"received": self.received, "delivered": self.delivered, "dropped": self.dropped}
