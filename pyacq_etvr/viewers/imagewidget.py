"""Qt widget that shows camera frames with a pupil overlay (the drawing part of :class:`ImageViewer`).

The widget is fed with arrays (:meth:`ImageViewerWidget.set_frame`, :meth:`ImageViewerWidget.set_pupil`)
from the GUI thread and repaints from a QTimer, so it can be used without any stream.
"""

from __future__ import annotations

import time

import numpy as np

from pyacq_etvr.core.errors import ConfigError, SpecMismatchError
from pyacq_etvr.eyetypes import PUPIL_DTYPE
from pyacq_etvr.viewers._qt import QtCore, QtWidgets, confidence_color, pg

_N_ELLIPSE = 65  # points of the ellipse polyline (closed)
_T = np.linspace(0.0, 2.0 * np.pi, _N_ELLIPSE)
_COS_T, _SIN_T = np.cos(_T), np.sin(_T)


def ellipse_polyline(cx: float, cy: float, width: float, height: float, angle_deg: float) -> np.ndarray:
    """Points ``(2, N)`` of an ellipse in image coordinates (OpenCV's convention: ``angle_deg`` turns the
    ``width`` axis from +x towards +y, i.e. clockwise on screen since y points down)."""
    a, b = 0.5 * width, 0.5 * height
    th = np.deg2rad(angle_deg)
    c, s = np.cos(th), np.sin(th)
    x = cx + a * _COS_T * c - b * _SIN_T * s
    y = cy + a * _COS_T * s + b * _SIN_T * c
    return np.vstack((x, y))


def _validate_levels(levels: object) -> tuple[float, float] | None:
    if isinstance(levels, str):
        if levels != "auto":
            raise ConfigError(f"levels must be 'auto' or a (low, high) pair, got {levels!r}")
        return None
    try:
        lo, hi = (float(v) for v in levels)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ConfigError(f"levels must be 'auto' or a (low, high) pair, got {levels!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ConfigError(f"levels must satisfy low < high (finite), got {levels!r}")
    return (lo, hi)


class _RateMeter:
    """Events per second over windows of about half a second (no allocation per event)."""

    def __init__(self) -> None:
        self.rate = 0.0
        self._n = 0
        self._t0 = time.monotonic()

    def tick(self, n: int = 1) -> None:
        self._n += n
        now = time.monotonic()
        dt = now - self._t0
        if dt >= 0.5:
            self.rate = self._n / dt
            self._n = 0
            self._t0 = now


class ImageViewerWidget(QtWidgets.QWidget):
    """Image display with an optional pupil overlay, an fps / frame-age readout, levels and zoom.

    Settings:
        levels: ``(low, high)`` display levels (default ``(0, 255)``) or ``'auto'`` (min/max of each frame).
        refresh_interval: repaint period in ms (default 33). Only the newest frame is drawn.
        pupil_history: number of recent pupil records kept to match the displayed frame by index (16).

    Threading: every method must be called from the GUI thread. Frames are copied into a buffer owned by
    the widget (reallocated only when the frame shape changes), so the caller may reuse its array.
    """

    def __init__(
        self,
        parent: QtWidgets.QWidget | None = None,
        levels: tuple[float, float] | str = (0, 255),
        refresh_interval: int = 33,
        pupil_history: int = 16,
    ) -> None:
        super().__init__(parent)
        self._levels = _validate_levels(levels)
        if int(pupil_history) < 1:
            raise ConfigError(f"pupil_history must be >= 1, got {pupil_history!r}")
        self._build_ui()
        self._frame: np.ndarray | None = None
        self._frame_index = -1
        self._frame_time_ns: int | None = None
        self._new_frame = False
        self._pupils = np.zeros(int(pupil_history), dtype=PUPIL_DTYPE)
        self._pupils["index"] = -1
        self._pupil_pos = 0
        self._n_pupils = 0
        self.shown_pupil: np.void | None = None
        self._pens: dict[tuple[int, int, int], object] = {}
        self._status_t = 0.0
        self._status_found: bool | None = None
        self.display_rate = _RateMeter()
        self.input_rate = _RateMeter()
        self.frames_shown = 0
        self.frames_received = 0
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.set_refresh_interval(refresh_interval)

    def _build_ui(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.ci.setContentsMargins(0, 0, 0, 0)
        self.view = self.graphics.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image_item)
        self.ellipse_item = pg.PlotCurveItem(pen=pg.mkPen((0, 255, 0), width=2))
        self.cross_item = pg.PlotCurveItem(pen=pg.mkPen((0, 255, 0), width=2), connect="pairs")
        for item in (self.ellipse_item, self.cross_item):
            item.setZValue(10)
            self.view.addItem(item)
        self.status = QtWidgets.QLabel("no frame yet")
        self.status.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        # the readout must not dictate the widget's minimum width (it is clipped when narrow)
        self.status.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Preferred)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.status)

    # -- settings ---------------------------------------------------------------------------------
    def set_refresh_interval(self, ms: int) -> None:
        """Repaint period in milliseconds (>= 1)."""
        if not isinstance(ms, (int, np.integer)) or ms < 1:
            raise ConfigError(f"refresh_interval must be an integer >= 1 ms, got {ms!r}")
        self.timer.setInterval(int(ms))

    def set_levels(self, levels: tuple[float, float] | str) -> None:
        """Display levels ``(low, high)`` or ``'auto'``."""
        self._levels = _validate_levels(levels)
        self._new_frame = self._frame is not None

    def set_zoom(self, factor: float) -> None:
        """Show the image magnified ``factor`` times about its centre (1 = whole image)."""
        if not np.isfinite(factor) or factor <= 0:
            raise ConfigError(f"zoom factor must be > 0, got {factor!r}")
        if self._frame is None:
            return
        h, w = self._frame.shape[:2]
        cw, ch = w / factor, h / factor
        self.view.setRange(xRange=(w / 2 - cw / 2, w / 2 + cw / 2), yRange=(h / 2 - ch / 2, h / 2 + ch / 2), padding=0)

    def auto_range(self) -> None:
        """Fit the whole image in the view."""
        self.view.autoRange(padding=0)

    # -- data ---------------------------------------------------------------------------------------
    def set_frame(self, frame: np.ndarray, index: int = -1, timestamp_ns: int | None = None) -> None:
        """Store ``frame`` (``(H, W)``, ``(H, W, 3|4)`` or a one-frame chunk ``(1, H, W[, C])``) for display."""
        arr = np.asarray(frame)
        if arr.ndim in (3, 4) and arr.shape[0] == 1 and (arr.ndim == 4 or arr.shape[-1] not in (3, 4)):
            arr = arr[0]
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)) or arr.size == 0:
            raise SpecMismatchError(f"ImageViewer: a frame must be (H, W) or (H, W, 3|4), got shape {arr.shape}")
        if arr.dtype.kind not in "uif" or arr.dtype.names is not None:
            raise SpecMismatchError(f"ImageViewer: frame dtype must be numeric, got {arr.dtype}")
        if self._frame is None or self._frame.shape != arr.shape or self._frame.dtype != arr.dtype:
            first = self._frame is None or self._frame.shape[:2] != arr.shape[:2]
            self._frame = np.empty(arr.shape, dtype=arr.dtype)
            if first:
                self.view.setRange(xRange=(0, arr.shape[1]), yRange=(0, arr.shape[0]), padding=0)
        np.copyto(self._frame, arr)
        self._frame_index = int(index)
        self._frame_time_ns = None if timestamp_ns is None else int(timestamp_ns)
        self._new_frame = True
        self.frames_received += 1
        self.input_rate.tick()

    def set_pupil(self, pupils: np.ndarray | np.void) -> None:
        """Store pupil records (``PUPIL_DTYPE``, one record or a chunk) to draw over matching frames."""
        arr = np.atleast_1d(np.asarray(pupils))
        if arr.dtype.names is None or not set(("x", "y", "found", "confidence", "ellipse")) <= set(arr.dtype.names):
            raise SpecMismatchError(f"ImageViewer: pupil records must have PUPIL_DTYPE fields, got dtype {arr.dtype}")
        n = self._pupils.shape[0]
        for rec in arr[-n:]:
            self._pupils[self._pupil_pos] = rec
            self._pupil_pos = (self._pupil_pos + 1) % n
            self._n_pupils = min(self._n_pupils + 1, n)
        self._new_frame = self._new_frame or self._frame is not None

    def _pupil_for_frame(self) -> np.void | None:
        if self._n_pupils == 0:
            return None
        hits = np.flatnonzero(self._pupils["index"] == self._frame_index) if self._frame_index >= 0 else ()
        if len(hits):
            return self._pupils[hits[-1]]
        return self._pupils[(self._pupil_pos - 1) % self._pupils.shape[0]]

    # -- painting -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Repaint if anything changed since the last repaint (called by the timer)."""
        if not self._new_frame or self._frame is None:
            self._update_status()
            return
        self._new_frame = False
        if self._levels is None:
            self.image_item.setImage(self._frame, autoLevels=True)
        else:
            self.image_item.setImage(self._frame, autoLevels=False, levels=self._levels)
        self._draw_pupil(self._pupil_for_frame())
        self.frames_shown += 1
        self.display_rate.tick()
        self._update_status()

    def _draw_pupil(self, rec: np.void | None) -> None:
        self.shown_pupil = rec
        if rec is None or not bool(rec["found"]) or not (np.isfinite(rec["x"]) and np.isfinite(rec["y"])):
            self.ellipse_item.setData([], [])
            self.cross_item.setData([], [])
            return
        color = confidence_color(float(rec["confidence"]))
        pen = self._pens.get(color)
        if pen is None:  # at most a few hundred distinct colours: cache them
            pen = self._pens[color] = pg.mkPen(color, width=2)
        # pixel-centre convention: the centre of pixel (0, 0) is at (0.5, 0.5) in the ImageItem's frame
        x, y = float(rec["x"]) + 0.5, float(rec["y"]) + 0.5
        cx, cy, w, h, ang = (float(v) for v in rec["ellipse"])
        if np.isfinite(w) and np.isfinite(h) and w > 0 and h > 0:
            pts = ellipse_polyline(cx + 0.5, cy + 0.5, w, h, ang if np.isfinite(ang) else 0.0)
            self.ellipse_item.setData(pts[0], pts[1], pen=pen)
            arm = max(3.0, 0.3 * min(w, h))
        else:
            self.ellipse_item.setData([], [])
            arm = 5.0
        self.cross_item.setData([x - arm, x + arm, x, x], [y, y, y - arm, y + arm], pen=pen)

    def _update_status(self) -> None:
        # a QLabel repaint per frame is wasted work: refresh the text 4 times a second, or at once when
        # the pupil appears or disappears
        rec = self.shown_pupil
        found = None if rec is None else bool(rec["found"])
        now = time.monotonic()
        if now - self._status_t < 0.25 and found == self._status_found:
            return
        self._status_t, self._status_found = now, found
        parts = [f"display {self.display_rate.rate:5.1f} fps", f"input {self.input_rate.rate:5.1f} fps"]
        if self._frame_time_ns is not None:
            parts.append(f"age {(time.monotonic_ns() - self._frame_time_ns) / 1e6:6.1f} ms")
        if rec is not None:
            parts.append(f"pupil conf {float(rec['confidence']):.2f}" if rec["found"] else "no pupil")
        self.status.setText("  |  ".join(parts))

    def image_to_widget(self, x: float, y: float) -> tuple[float, float]:
        """Map an image point (pixel-centre convention) to the pixel coordinates of this widget's grab
        (:func:`~pyacq_etvr.viewers._qt.grab_widget`), i.e. in device pixels."""
        scene = self.view.mapViewToScene(QtCore.QPointF(x + 0.5, y + 0.5))
        p = self.graphics.mapTo(self, self.graphics.mapFromScene(scene))
        ratio = self.devicePixelRatioF()
        return float(p.x()) * ratio, float(p.y()) * ratio

    def start(self) -> None:
        """Start repainting."""
        self.timer.start()

    def stop(self) -> None:
        """Stop repainting (data keeps being accepted)."""
        self.timer.stop()
