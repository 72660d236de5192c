"""ImageViewer node: camera frames at display rate with the detected pupil drawn over them."""

from __future__ import annotations

from typing import Any

import numpy as np

from pyacq_etvr.core.checks import check_int
from pyacq_etvr.core.errors import ConfigError, SpecMismatchError, StateError
from pyacq_etvr.core.registry import register_node_type
from pyacq_etvr.eyetypes import PUPIL_DTYPE
from pyacq_etvr.viewers.imagewidget import ImageViewerWidget, _validate_levels
from pyacq_etvr.viewers.widgetnode import WidgetNode

__all__ = ["ImageViewer"]


class ImageViewer(WidgetNode):
    """Show an ``image`` stream, newest frame only, with an optional pupil overlay.

    Inputs:
        ``image``: frames, shape ``(-1, H, W)`` (mono) or ``(-1, H, W, 3|4)`` (colour, RGB(A) order), any numeric dtype
        (uint8 from the cameras), one or more frames per chunk (the last one is shown). Read latest-frame:
        while the GUI is busy, older frames are skipped (counted in ``stats()['skipped']``), never queued.
        ``pupil`` (optional): ``PUPIL_DTYPE`` records from a PupilDetector. The record whose ``index``
        matches the displayed frame is drawn (else the newest): ellipse and centre cross coloured by
        confidence (red 0 -> yellow -> green 1); nothing when ``found`` is False.

    Settings (``configure``):
        levels: ``(low, high)`` display levels (default ``(0, 255)``) or ``'auto'``.
        refresh_interval: repaint period, ms (default 33, i.e. up to 30 fps).
        pupil_history: pupil records kept to match frames by index (default 16).
        title: window title (default: the node's name).

    The status line shows the display and input fps, the frame age (now minus the chunk's timestamp, ms:
    the capture time for cameras) and the pupil confidence. Zoom with the mouse wheel or :meth:`set_zoom`.

    Threading: the node lives in a thread with a Qt event loop; two background poller threads read the
    inputs and hand the chunks to the GUI thread (:class:`~pyacq_etvr.viewers.QtPollInput`).
    Bad input: an image stream of another rank, a pupil stream of another dtype -> ``SpecMismatchError``
    at ``connect()`` / ``initialize()``; bad settings -> ``ConfigError`` naming the key.
    """

    _input_specs = {"image": {}, "pupil": {"dtype": PUPIL_DTYPE, "shape": (-1,)}}
    _main_input = "image"  # ``viewer.input.connect(camera.output)`` as in pyacq

    def _configure(
        self,
        levels: tuple[float, float] | str = (0, 255),
        refresh_interval: int = 33,
        pupil_history: int = 16,
        title: str | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise ConfigError(f"{self._label}: unknown configure() argument(s) {sorted(kwargs)}")
        _validate_levels(levels)
        self._levels = levels
        self._refresh_interval = check_int(self._label, "refresh_interval", refresh_interval, unit="ms")
        self._pupil_history = check_int(self._label, "pupil_history", pupil_history)
        self._title = self._check_title(self.name if title is None else title)

    def check_input_specs(self) -> None:
        image = self.inputs["image"]
        if not image.connected:
            raise StateError(f"{self._label}: input 'image' is not connected")
        shape = image.shape
        if len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] not in (3, 4)):
            raise SpecMismatchError(
                f"{self._label}: input 'image' needs chunks (-1, H, W) or (-1, H, W, 3|4), "
                f"but {image.params.get('name', 'the output')} has shape {shape}"
            )
        if image.dtype.names is not None or image.dtype.kind not in "uif":
            raise SpecMismatchError(f"{self._label}: input 'image' needs a numeric dtype, got {image.dtype}")

    def _initialize(self) -> None:
        self.widget = ImageViewerWidget(
            levels=self._levels, refresh_interval=self._refresh_interval, pupil_history=self._pupil_history
        )
        self._add_poller("image", self._on_image, max_pending=1)
        if self.inputs["pupil"].connected:
            self._add_poller("pupil", self._on_pupil, max_pending=4 * self._pupil_history)

    def _on_image(self, index: int, data: Any) -> None:
        if data is None or len(data) == 0 or self.widget is None:
            return
        poller = self.pollers["image"]
        self.widget.set_frame(data[-1], index=index, timestamp_ns=poller.last_timestamp_ns)

    def _on_pupil(self, index: int, data: Any) -> None:
        if data is not None and self.widget is not None:
            self.widget.set_pupil(data)

    def _start(self) -> None:
        self.widget.start()
        self._start_pollers()

    def _stop(self) -> None:
        self._stop_pollers()
        self.widget.stop()

    def set_levels(self, levels: tuple[float, float] | str) -> None:
        """Display levels ``(low, high)`` or ``'auto'``."""
        self._require_widget().set_levels(levels)

    def set_zoom(self, factor: float) -> None:
        """Magnify the image ``factor`` times about its centre (1 shows it whole)."""
        self._require_widget().set_zoom(factor)

    def shown_pupil(self) -> dict[str, Any] | None:
        """The pupil record drawn on the displayed frame, as a dict (None if none)."""
        rec = self._require_widget().shown_pupil
        if rec is None:
            return None
        return {k: (rec[k].tolist() if isinstance(rec[k], np.ndarray) else rec[k].item()) for k in PUPIL_DTYPE.names}

    def image_to_widget(self, x: float, y: float) -> tuple[float, float]:
        """Where image point (x, y) (pixel-centre convention) lands in :meth:`grab` (device pixels)."""
        return self._require_widget().image_to_widget(x, y)

    def stats(self) -> dict[str, Any]:
        """Counters: frames received / shown, display and input fps, frames skipped by the latest-frame read."""
        w = self._require_widget()
        skipped = self.inputs["image"].stats().get("skipped", 0) if self.inputs["image"].connected else 0
        return {
            "frames_received": w.frames_received,
            "frames_shown": w.frames_shown,
            "display_fps": w.display_rate.rate,
            "input_fps": w.input_rate.rate,
            "skipped": int(skipped),
        }


register_node_type(ImageViewer)
