"""GazeViewer node: both eyes' calibrated gaze as moving points in [-1, 1]², with trails and eyelid bars."""

from __future__ import annotations

from typing import Any

from pyacq_etvr.core.checks import check_int
from pyacq_etvr.core.errors import StateError
from pyacq_etvr.core.registry import register_node_type
from pyacq_etvr.eyetypes import GAZE_DTYPE
from pyacq_etvr.viewers.gazewidget import GazeViewerWidget
from pyacq_etvr.viewers.widgetnode import WidgetNode

__all__ = ["GazeViewer"]


class GazeViewer(WidgetNode):
    """Plot the gaze of the left and right eyes.

    Inputs (at least one connected):
        ``left``, ``right``: ``GAZE_DTYPE`` records (shape ``(-1,)``) from the calibration node: x, y in
        [-1, 1] (+x right, +y up), openness 0..1, valid, calibrated. Every record feeds the eye's trail; the
        newest is the moving point (hidden when not valid or not calibrated); the eyelid bar shows openness.

    Settings (``configure``):
        trail_length: past positions drawn per eye (default 60).
        refresh_interval: repaint period, ms (default 33).
        max_pending: records chunks buffered between two GUI deliveries per eye (default 256).
        title: window title (default: the node's name).

    Threading: lives in a thread with a Qt event loop; one background poller thread per connected input.
    Bad input: a stream of another dtype -> ``SpecMismatchError`` at ``connect()``; no input connected ->
    ``StateError`` at ``initialize()``; bad settings -> ``ConfigError``.
    """

    _input_specs = {"left": {"dtype": GAZE_DTYPE, "shape": (-1,)}, "right": {"dtype": GAZE_DTYPE, "shape": (-1,)}}

    def _configure(
        self, trail_length: int = 60, refresh_interval: int = 33, max_pending: int = 256, title: str | None = None
    ) -> None:
        self._trail_length = check_int(self._label, "trail_length", trail_length)
        self._refresh_interval = check_int(self._label, "refresh_interval", refresh_interval, unit="ms")
        self._max_pending = check_int(self._label, "max_pending", max_pending)
        self._title = self._check_title(self.name if title is None else title)

    def check_input_specs(self) -> None:
        if not any(inp.connected for inp in self.inputs.values()):
            raise StateError(f"{self._label}: connect input 'left' and/or 'right' before initialize()")

    def _initialize(self) -> None:
        eyes = tuple(eye for eye in ("left", "right") if self.inputs[eye].connected)
        self.widget = GazeViewerWidget(
            eyes=eyes, trail_length=self._trail_length, refresh_interval=self._refresh_interval
        )
        for eye in eyes:
            self._add_poller(eye, self._make_slot(eye), max_pending=self._max_pending)

    def _make_slot(self, eye: str) -> Any:
        def slot(index: int, data: Any) -> None:
            if self.widget is not None and data is not None:
                self.widget.set_gaze(eye, data)

        return slot

    def _start(self) -> None:
        self.widget.start()
        self._start_pollers()

    def _stop(self) -> None:
        self._stop_pollers()
        self.widget.stop()

    def gaze_to_widget(self, x: float, y: float) -> tuple[float, float]:
        """Where gaze point (x, y) lands in :meth:`grab` (device pixels)."""
        return self._require_widget().gaze_to_widget(x, y)

    def last_gaze(self) -> dict[str, tuple[float, float] | None]:
        """Per eye, the newest valid gaze point shown (None if hidden)."""
        return {eye: track.last for eye, track in self._require_widget().tracks.items()}


register_node_type(GazeViewer)
