"""QtRPCServer: an RPC server living in a Qt GUI thread (imports Qt; load only when needed)."""

from __future__ import annotations

import zmq
from PyQt5 import QtCore, QtWidgets

from pyacq_etvr.core.rpc.server import RPCServer


def get_qapp() -> QtWidgets.QApplication:
    """Return the QApplication, creating it if needed."""
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication([])
    return app


class QtRPCServer(RPCServer):
    """RPC server whose requests run in the Qt GUI thread, so it may create and drive widgets.

    All socket work happens in the GUI thread: a ``QSocketNotifier`` on the ZeroMQ file descriptor (plus a
    50 ms safety timer, as that descriptor is edge-triggered) wakes the Qt event loop when requests arrive.
    :meth:`run_forever` returns at once (the Qt event loop does the running). ``quit_on_close``: quit the
    QApplication when the server closes. Re-entrant calls work as with :class:`RPCServer`.
    """

    def __init__(self, address: str = "tcp://127.0.0.1:*", quit_on_close: bool = True, **kwds) -> None:
        super().__init__(address, **kwds)
        self.quit_on_close = quit_on_close
        self._notifier: QtCore.QSocketNotifier | None = None
        self._timer: QtCore.QTimer | None = None
        self._poll_interval_ms = 20

    def run_forever(self) -> None:
        """Register with the calling (GUI) thread and serve from the Qt event loop."""
        self.register_server(self)
        fd = self._socket.getsockopt(zmq.FD)
        self._notifier = QtCore.QSocketNotifier(fd, QtCore.QSocketNotifier.Read)
        self._notifier.activated.connect(self._on_activity)
        self._timer = QtCore.QTimer()
        self._timer.timeout.connect(self._on_activity)
        self._timer.start(50)
        self._running = True

    def _on_activity(self, *args) -> None:
        if self.closed:
            return
        while not self.closed and not self._closing and self._socket.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            self._process_pending()
        if self._closing:
            self._final_close()

    def close(self) -> None:
        """Close now, or right after the current request's reply when called from a request."""
        self._closing = True
        if not self._busy:
            self._final_close()

    def _final_close(self) -> None:
        if self.closed:
            return
        if self._notifier is not None:
            self._notifier.setEnabled(False)
        if self._timer is not None:
            self._timer.stop()
        self._running = False
        super()._final_close()
        if self.quit_on_close:
            app = QtWidgets.QApplication.instance()
            if app is not None:
                QtCore.QTimer.singleShot(0, app.quit)
