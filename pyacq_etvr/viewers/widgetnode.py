"""Base class of the viewer nodes: a :class:`~pyacq_etvr.core.Node` that owns a Qt widget.

The widget is built in ``initialize()`` (when the input specs are known) in the thread that owns the node,
which must have a ``QApplication`` — your main thread, or a NodeGroup created with ``qt=True``. The node
forwards the window methods users call on pyacq's widget nodes (``show``, ``hide``, ``resize``...), which
also work through an RPC proxy.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from pyacq_etvr.core.errors import ConfigError, StateError
from pyacq_etvr.core.node import Node
from pyacq_etvr.viewers._qt import QtWidgets, grab_widget
from pyacq_etvr.viewers.qtpoller import QtPollInput

log = logging.getLogger(__name__)


class WidgetNode(Node):
    """A node with a Qt widget (``self.widget``, created by the subclass's ``_make_widget`` in initialize)."""

    def __init__(self, name: str = "", parent: Any = None) -> None:
        if QtWidgets.QApplication.instance() is None:
            raise StateError(
                f"{type(self).__name__} needs a QApplication in this thread: create one first "
                "(pyacq_etvr.viewers.mkQApp()) or create the node in a NodeGroup started with qt=True"
            )
        super().__init__(name=name, parent=parent)
        self.widget: QtWidgets.QWidget | None = None
        self.pollers: dict[str, QtPollInput] = {}
        self.errors: dict[str, int] = {}
        self._title = ""

    def _check_title(self, title: Any) -> str:
        if not isinstance(title, str):
            raise ConfigError(f"{self._label}: title must be a str, got {title!r}")
        return title

    def _require_widget(self) -> QtWidgets.QWidget:
        if self.widget is None:
            raise StateError(f"{self._label}: the widget exists after initialize() (state {self.state.value!r})")
        return self.widget

    def _add_poller(self, inputname: str, slot: Any, max_pending: int) -> None:
        """Read ``inputname`` in a background thread; ``slot(index, data)`` runs in the GUI thread.

        An exception in ``slot`` (a chunk the widget cannot show) is logged and counted in ``self.errors``;
        the viewer keeps running.
        """
        poller = QtPollInput(self.inputs[inputname], return_data=True, max_pending=max_pending)
        self.errors[inputname] = 0

        def guarded(index: int, data: Any) -> None:
            try:
                slot(index, data)
            except Exception:
                self.errors[inputname] += 1
                if self.errors[inputname] <= 3:
                    log.exception("%s: cannot show a chunk of input %r", self._label, inputname)

        poller.new_data.connect(guarded)
        self.pollers[inputname] = poller

    def _start_pollers(self) -> None:
        for poller in self.pollers.values():
            poller.start()

    def _stop_pollers(self) -> None:
        for poller in self.pollers.values():
            poller.stop()
        for name, poller in self.pollers.items():
            if not poller.wait(5.0):
                raise StateError(f"{self._label}: the poller of input {name!r} did not stop within 5 s")

    def _close(self) -> None:
        if self.widget is not None:
            self.widget.stop()
            # hide + delete rather than close(): closing the last window would quit the event loop of a
            # qt=True NodeGroup (QApplication.quitOnLastWindowClosed) and end that process
            self.widget.hide()
            self.widget.deleteLater()
            self.widget = None
        for poller in self.pollers.values():
            poller.deleteLater()
        self.pollers = {}

    # -- window methods (usable through RPC proxies) ----------------------------------------------
    def show(self) -> None:
        """Show the widget's window."""
        w = self._require_widget()
        if self._title:
            w.setWindowTitle(self._title)
        w.show()

    def hide(self) -> None:
        """Hide the widget's window."""
        self._require_widget().hide()

    def resize(self, width: int, height: int) -> None:
        """Resize the window (pixels)."""
        self._require_widget().resize(int(width), int(height))

    def is_visible(self) -> bool:
        """True if the window is shown."""
        return bool(self._require_widget().isVisible())

    def refresh(self) -> None:
        """Repaint now (normally done by the widget's timer)."""
        self._require_widget().refresh()

    def grab(self, path: str | None = None) -> np.ndarray:
        """Render the widget to an ``(H, W, 4)`` RGBA array (device pixels), saving a PNG if ``path`` is given."""
        return grab_widget(self._require_widget(), path)

    def poller_stats(self) -> dict[str, dict[str, int]]:
        """Per input: chunks received by the poller thread, delivered to the GUI, dropped from the backlog."""
        return {name: p.stats() for name, p in self.pollers.items()}
