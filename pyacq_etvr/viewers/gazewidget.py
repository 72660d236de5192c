"""Qt widget that plots both eyes' normalised gaze with trails and eyelid bars (drawing part of GazeViewer)."""

from __future__ import annotations

import numpy as np

from pyacq_etvr.core.errors import ConfigError, SpecMismatchError
from pyacq_etvr.viewers._qt import QtCore, QtWidgets, pg

#: eye name -> colour of its point, trail and eyelid bar
EYE_COLORS: dict[str, tuple[int, int, int]] = {"left": (40, 140, 255), "right": (255, 140, 0)}
_REQUIRED = ("x", "y", "openness", "valid", "calibrated")


class _EyeTrack:
    """Fixed-size history of one eye's gaze (a ring of positions; no allocation per sample)."""

    def __init__(self, trail_length: int) -> None:
        self.xy = np.full((trail_length, 2), np.nan, dtype=np.float64)
        self.pos = 0
        self.count = 0
        self.openness = float("nan")
        self.last: tuple[float, float] | None = None
        self.changed = False

    def push(self, records: np.ndarray) -> None:
        n = self.xy.shape[0]
        ok = records["valid"] & records["calibrated"] & np.isfinite(records["x"]) & np.isfinite(records["y"])
        good = records[ok][-n:]
        for x, y in zip(good["x"], good["y"]):
            self.xy[self.pos] = (x, y)
            self.pos = (self.pos + 1) % n
            self.count = min(self.count + 1, n)
        last = records[-1]
        self.last = (float(last["x"]), float(last["y"])) if ok[-1] else None
        op = float(last["openness"])
        self.openness = op if np.isfinite(op) else float("nan")
        self.changed = True

    def trail(self) -> np.ndarray:
        """Positions oldest -> newest, shape ``(count, 2)``."""
        n = self.xy.shape[0]
        idx = (self.pos - self.count + np.arange(self.count)) % n
        return self.xy[idx]


class GazeViewerWidget(QtWidgets.QWidget):
    """Both eyes' gaze as points in [-1, 1]² (+x right, +y up) with fading trails, plus eyelid bars.

    Settings:
        trail_length: number of past valid positions drawn per eye (default 60).
        refresh_interval: repaint period in ms (default 33).

    Feed it ``GAZE_DTYPE`` records with :meth:`set_gaze`. An eye whose newest record is not valid or not
    calibrated shows no current point (its trail stays); a NaN openness shows an empty bar.
    Threading: GUI thread only.
    """

    def __init__(
        self,
        parent: QtWidgets.QWidget | None = None,
        eyes: tuple[str, ...] = ("left", "right"),
        trail_length: int = 60,
        refresh_interval: int = 33,
    ) -> None:
        super().__init__(parent)
        if not isinstance(trail_length, (int, np.integer)) or trail_length < 1:
            raise ConfigError(f"trail_length must be an integer >= 1, got {trail_length!r}")
        unknown = [e for e in eyes if e not in EYE_COLORS]
        if unknown or not eyes:
            raise ConfigError(f"eyes must be a non-empty subset of {tuple(EYE_COLORS)}, got {eyes!r}")
        self.eyes = tuple(eyes)
        self.tracks = {eye: _EyeTrack(int(trail_length)) for eye in self.eyes}
        self._build_ui(int(trail_length))
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self.refresh)
        if not isinstance(refresh_interval, (int, np.integer)) or refresh_interval < 1:
            raise ConfigError(f"refresh_interval must be an integer >= 1 ms, got {refresh_interval!r}")
        self.timer.setInterval(int(refresh_interval))

    def _build_ui(self, trail_length: int) -> None:
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumSize(360, 260)
        layout.addWidget(self.graphics)
        self.plot = self.graphics.addPlot(row=0, col=0, title="gaze")
        self.plot.setAspectLocked(True)
        self.plot.setRange(xRange=(-1.05, 1.05), yRange=(-1.05, 1.05), padding=0)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.addItem(pg.PlotCurveItem([-1, 1, 1, -1, -1], [-1, -1, 1, 1, -1], pen=pg.mkPen((120, 120, 120))))
        self.lids = self.graphics.addPlot(row=0, col=1, title="eyelids")
        self.lids.setMaximumWidth(130)
        self.lids.setRange(xRange=(-0.6, len(self.eyes) - 0.4), yRange=(0, 1.02), padding=0)
        self.lids.setMouseEnabled(False, False)
        self.lids.hideButtons()
        self.lids.getAxis("bottom").setTicks([[(i, e) for i, e in enumerate(self.eyes)]])
        self.points: dict[str, pg.ScatterPlotItem] = {}
        self.trails: dict[str, pg.ScatterPlotItem] = {}
        self.bars: dict[str, pg.BarGraphItem] = {}
        self._trail_brushes: dict[str, list] = {}
        for i, eye in enumerate(self.eyes):
            r, g, b = EYE_COLORS[eye]
            alphas = np.linspace(20, 160, trail_length).astype(int)
            self._trail_brushes[eye] = [pg.mkBrush(r, g, b, int(a)) for a in alphas]
            self.trails[eye] = pg.ScatterPlotItem(size=5, pen=None)
            self.points[eye] = pg.ScatterPlotItem(size=16, pen=pg.mkPen("w", width=1.5), brush=pg.mkBrush(r, g, b))
            self.trails[eye].setZValue(1000)
            self.points[eye].setZValue(1001)  # above the grid lines
            self.plot.addItem(self.trails[eye])
            self.plot.addItem(self.points[eye])
            self.bars[eye] = pg.BarGraphItem(x=[i], height=[0.0], width=0.7, brush=pg.mkBrush(r, g, b))
            self.lids.addItem(self.bars[eye])

    def set_gaze(self, eye: str, records: np.ndarray | np.void) -> None:
        """Add ``GAZE_DTYPE`` records (one or a chunk) for ``eye`` ('left' or 'right')."""
        if eye not in self.tracks:
            raise ConfigError(f"unknown eye {eye!r}; this viewer shows {self.eyes}")
        arr = np.atleast_1d(np.asarray(records))
        if arr.dtype.names is None or not set(_REQUIRED) <= set(arr.dtype.names):
            raise SpecMismatchError(f"GazeViewer: gaze records need fields {_REQUIRED}, got dtype {arr.dtype}")
        if arr.shape[0]:
            self.tracks[eye].push(arr.reshape(-1))

    def refresh(self) -> None:
        """Redraw the eyes whose data changed."""
        for eye, track in self.tracks.items():
            if not track.changed:
                continue
            track.changed = False
            trail = track.trail()
            brushes = self._trail_brushes[eye][-len(trail) :] if len(trail) else []
            self.trails[eye].setData(pos=trail, brush=brushes)
            if track.last is None:
                self.points[eye].setData([], [])
            else:
                self.points[eye].setData([track.last[0]], [track.last[1]])
            height = 0.0 if not np.isfinite(track.openness) else min(max(track.openness, 0.0), 1.0)
            self.bars[eye].setOpts(height=[height])

    def gaze_to_widget(self, x: float, y: float) -> tuple[float, float]:
        """Map a gaze point to the pixel coordinates of this widget's grab (device pixels)."""
        scene = self.plot.vb.mapViewToScene(QtCore.QPointF(x, y))
        p = self.graphics.mapTo(self, self.graphics.mapFromScene(scene))
        ratio = self.devicePixelRatioF()
        return float(p.x()) * ratio, float(p.y()) * ratio

    def start(self) -> None:
        """Start repainting."""
        self.timer.start()

    def stop(self) -> None:
        """Stop repainting."""
        self.timer.stop()
