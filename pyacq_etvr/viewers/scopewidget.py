"""Scrolling multi-channel oscilloscope widget (the drawing part of :class:`QOscilloscope`).

Samples go into the core's double :class:`~pyacq_etvr.core.stream.RingBuffer` holding ``xsize`` seconds
(any window of it is one contiguous view, nothing is copied to read it);
each repaint decimates the window to about the plot's width in pixels (``mean`` or ``min_max``) into
preallocated arrays, so the cost of a repaint does not grow with the sample rate.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from pyacq_etvr.core.errors import ConfigError, SpecMismatchError
from pyacq_etvr.core.stream.ringbuffer import RingBuffer
from pyacq_etvr.viewers._qt import QtCore, QtWidgets, pg

DECIMATION_METHODS = ("mean", "min_max")
GLOBAL_DEFAULTS: dict[str, Any] = {
    "xsize": 3.0,  # seconds shown
    "refresh_interval": 50,  # ms between repaints
    "decimation_method": "min_max",
    "ylim_min": None,  # None: follow the data (auto range)
    "ylim_max": None,
    "show_bottom_axis": True,
    "show_left_axis": True,
    "background_color": "k",
}
CHANNEL_KEYS = ("gain", "offset", "visible", "color")


class ParamStore:
    """Validated settings addressed like pyacq's parameter trees: ``p['xsize']`` or ``p['ch0', 'gain']``."""

    def __init__(self, values: dict[Any, Any], validate: Any, on_change: Any) -> None:
        self._values = values
        self._validate = validate
        self._on_change = on_change

    def __getitem__(self, key: Any) -> Any:
        if key not in self._values:
            raise ConfigError(f"unknown parameter {key!r}; known: {sorted(map(str, self._values))}")
        return self._values[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        if key not in self._values:
            raise ConfigError(f"unknown parameter {key!r}; known: {sorted(map(str, self._values))}")
        value = self._validate(key, value)
        self._values[key] = value
        self._on_change(key, value)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def keys(self) -> list[Any]:
        return list(self._values)

    def to_dict(self) -> dict[Any, Any]:
        """A copy of every value (serialisable over RPC)."""
        return dict(self._values)


def decimate(window: np.ndarray, factor: int, method: str, out: np.ndarray) -> np.ndarray:
    """Reduce ``window`` ``(n, ch)`` by ``factor`` along time into ``out``.

    ``mean`` writes ``n // factor`` rows; ``min_max`` writes ``2 * (n // factor)`` rows alternating the
    minimum and maximum of each block (so spikes stay visible). Returns the filled part of ``out``.
    """
    nb = window.shape[0] // factor
    blocks = window[window.shape[0] - nb * factor :].reshape(nb, factor, window.shape[1])
    if method == "mean":
        np.mean(blocks, axis=1, out=out[:nb])
        return out[:nb]
    np.min(blocks, axis=1, out=out[0 : 2 * nb : 2])
    np.max(blocks, axis=1, out=out[1 : 2 * nb : 2])
    return out[: 2 * nb]


def check_global_param(key: str, value: Any, sample_rate: float | None = None) -> Any:
    """Validate one global oscilloscope parameter; return its normalised value or raise ConfigError."""
    if key == "xsize":
        if not (isinstance(value, (int, float, np.number)) and np.isfinite(value) and value > 0):
            raise ConfigError(f"xsize must be a positive number of seconds, got {value!r}")
        if sample_rate is not None and value * sample_rate > 50_000_000:
            raise ConfigError(f"xsize={value} s at {sample_rate} Hz needs too large a buffer")
        return float(value)
    if key == "refresh_interval":
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"refresh_interval must be an integer >= 1 ms, got {value!r}")
        return int(value)
    if key == "decimation_method":
        if value not in DECIMATION_METHODS:
            raise ConfigError(f"decimation_method must be one of {DECIMATION_METHODS}, got {value!r}")
        return value
    if key in ("ylim_min", "ylim_max"):
        if value is not None and not (isinstance(value, (int, float, np.number)) and np.isfinite(value)):
            raise ConfigError(f"{key} must be a finite number or None, got {value!r}")
        return None if value is None else float(value)
    if key in ("show_bottom_axis", "show_left_axis"):
        return bool(value)
    try:
        pg.mkColor(value)
    except Exception:
        raise ConfigError(f"{key}: not a colour: {value!r}") from None
    return value


class OscilloscopeWidget(QtWidgets.QWidget):
    """Scrolling display of ``nb_channel`` analog channels sampled at ``sample_rate`` Hz.

    Global params (``widget.params[key]``): ``xsize`` (s, 3.0), ``refresh_interval`` (ms, 50),
    ``decimation_method`` (``'mean'`` | ``'min_max'``, default ``'min_max'``), ``ylim_min`` / ``ylim_max``
    (None = auto range), ``show_bottom_axis``, ``show_left_axis``, ``background_color``.
    Per channel (``widget.by_channel_params['ch3', 'gain']``, channel name or ``'ch<i>'`` or index):
    ``gain`` (1.0), ``offset`` (0.0), ``visible`` (True), ``color`` (distinct hues).
    Bad keys or values raise :class:`~pyacq_etvr.core.errors.ConfigError` and change nothing.
    ``with_user_dialog=True``: a double click opens :meth:`open_settings` (pyacq's settings dialog).
    Threading: GUI thread only.
    """

    def __init__(
        self,
        nb_channel: int,
        sample_rate: float,
        parent: QtWidgets.QWidget | None = None,
        channel_names: Sequence[str] | None = None,
        with_user_dialog: bool = False,
        **params: Any,
    ) -> None:
        super().__init__(parent)
        if not isinstance(nb_channel, (int, np.integer)) or nb_channel < 1:
            raise ConfigError(f"nb_channel must be an integer >= 1, got {nb_channel!r}")
        if not (isinstance(sample_rate, (int, float, np.number)) and np.isfinite(sample_rate) and sample_rate > 0):
            raise ConfigError(f"sample_rate must be a positive number (Hz), got {sample_rate!r}")
        self.nb_channel, self.sample_rate = int(nb_channel), float(sample_rate)
        names = [f"ch{i}" for i in range(self.nb_channel)] if channel_names is None else [str(n) for n in channel_names]
        if len(names) != self.nb_channel or len(set(names)) != len(names):
            raise ConfigError(f"channel_names must be {self.nb_channel} unique names, got {channel_names!r}")
        self.channel_names = names
        values = dict(GLOBAL_DEFAULTS)
        for key, value in params.items():
            if key not in values:
                raise ConfigError(f"unknown oscilloscope parameter {key!r}; known: {sorted(values)}")
            values[key] = self._check_global(key, value)
        self.params = ParamStore(values, self._check_global, self._global_changed)
        ch_values: dict[Any, Any] = {}
        for i, name in enumerate(names):
            color = pg.intColor(i, hues=max(self.nb_channel, 2)).getRgb()[:3]
            ch_values.update({(name, "gain"): 1.0, (name, "offset"): 0.0, (name, "visible"): True})
            ch_values[(name, "color")] = tuple(int(c) for c in color)
        self._ch_store = ParamStore(ch_values, self._check_channel, self._channel_changed)
        self.by_channel_params = _ChannelParams(self)
        self.with_user_dialog = bool(with_user_dialog)
        self.dialog: Any = None
        self._build_ui()
        self.frames_drawn = 0
        self._alloc()
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.setInterval(int(self.params["refresh_interval"]))

    # -- validation ------------------------------------------------------------------------------
    def _check_global(self, key: str, value: Any) -> Any:
        return check_global_param(key, value, self.sample_rate)

    def _check_channel(self, key: tuple[str, str], value: Any) -> Any:
        field = key[1]
        if field in ("gain", "offset"):
            if not (isinstance(value, (int, float, np.number)) and np.isfinite(value)):
                raise ConfigError(f"{key}: {field} must be a finite number, got {value!r}")
            return float(value)
        if field == "visible":
            return bool(value)
        try:
            return tuple(int(c) for c in pg.mkColor(value).getRgb()[:3])
        except Exception:
            raise ConfigError(f"{key}: not a colour: {value!r}") from None

    # -- UI ---------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(self.params["background_color"])
        layout.addWidget(self.graphics)
        self.plot = self.graphics.addPlot()
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.setLabel("bottom", "time", units="s")
        self.curves = []
        for name in self.channel_names:
            curve = pg.PlotCurveItem(pen=pg.mkPen(self._ch_store[(name, "color")]), skipFiniteCheck=False)
            self.plot.addItem(curve)
            self.curves.append(curve)
        self._apply_axes()
        self.graphics.scene().sigMouseClicked.connect(self._on_click)

    def _on_click(self, event: Any) -> None:
        if self.with_user_dialog and event.double():
            self.open_settings()

    def open_settings(self) -> Any:
        """Show the settings dialog (a parameter tree over ``params`` and ``by_channel_params``) and return it.

        With ``with_user_dialog=True`` a double click on the plot opens it too.
        """
        from pyacq_etvr.viewers.scopedialog import ScopeSettingsDialog

        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
        self.dialog = ScopeSettingsDialog(self)
        self.dialog.show()
        return self.dialog

    def _apply_axes(self) -> None:
        self.plot.showAxis("bottom", self.params["show_bottom_axis"])
        self.plot.showAxis("left", self.params["show_left_axis"])
        self.plot.setXRange(-self.params["xsize"], 0, padding=0)
        lo, hi = self.params["ylim_min"], self.params["ylim_max"]
        if lo is not None and hi is not None and hi > lo:
            self.plot.setYRange(lo, hi, padding=0)
        else:
            self.plot.enableAutoRange(axis="y")

    def _alloc(self) -> None:
        size = max(2, int(round(self.params["xsize"] * self.sample_rate)))
        old = getattr(self, "ring", None)
        self.ring = RingBuffer((size, self.nb_channel), np.float32, double=True, fill=np.nan)
        if old is not None and old.last_index() > 0:  # keep what is already shown
            last = old.last_index()
            keep = min(old.size, size)
            self.ring.new_chunk(old.read(last - keep, last, copy=True, join=True), last)
        self._dec = np.empty((2 * size, self.nb_channel), dtype=np.float32)
        self._scaled = np.empty_like(self._dec)
        self._gains = np.ones(self.nb_channel, dtype=np.float32)
        self._offsets = np.zeros(self.nb_channel, dtype=np.float32)
        self._load_channel_arrays()
        self._x_cache: dict[tuple[int, int, str], np.ndarray] = {}
        self._dirty = True

    def window(self) -> np.ndarray:
        """View of the last ``xsize`` seconds, ``(n, nb_channel)`` float32 (NaN where nothing arrived yet)."""
        last = self.ring.last_index()
        return self.ring.read(last - self.ring.size, last, copy=False, join=True)

    def _load_channel_arrays(self) -> None:
        for i, name in enumerate(self.channel_names):
            self._gains[i] = self._ch_store[(name, "gain")]
            self._offsets[i] = self._ch_store[(name, "offset")]

    def _global_changed(self, key: str, value: Any) -> None:
        if key == "xsize":
            self._alloc()
        elif key == "refresh_interval":
            self.timer.setInterval(value)
        elif key == "background_color":
            self.graphics.setBackground(value)
        self._apply_axes()
        self._dirty = True

    def _channel_changed(self, key: tuple[str, str], value: Any) -> None:
        i = self.channel_names.index(key[0])
        if key[1] == "color":
            self.curves[i].setPen(pg.mkPen(value))
        elif key[1] == "visible":
            self.curves[i].setVisible(value)
        self._load_channel_arrays()
        self._dirty = True

    # -- data and painting --------------------------------------------------------------------------
    def append(self, chunk: np.ndarray, index: int | None = None) -> None:
        """Add a chunk ``(n, nb_channel)`` (a 1-D chunk is taken as one channel)."""
        arr = np.asarray(chunk)
        if arr.ndim == 1 and self.nb_channel == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != self.nb_channel or arr.dtype.kind not in "uifb":
            raise SpecMismatchError(
                f"QOscilloscope: chunk must be numeric (n, {self.nb_channel}), got {arr.dtype} {arr.shape}"
            )
        n = arr.shape[0]
        if index is not None and int(index) - n < self.ring.last_index():
            # the source restarted (index went back): start a fresh display rather than refuse the data
            self.ring = RingBuffer((self.ring.size, self.nb_channel), np.float32, double=True, fill=np.nan)
        self.ring.new_chunk(arr, index)
        self._dirty = True

    def _xvalues(self, n_points: int, factor: int, method: str) -> np.ndarray:
        key = (n_points, factor, method)
        x = self._x_cache.get(key)
        if x is None:
            if method == "min_max" and factor > 1:
                x = -(np.repeat(np.arange(n_points // 2)[::-1], 2) + 0.5) * factor / self.sample_rate
            else:
                x = -(np.arange(n_points)[::-1] + 0.5) * factor / self.sample_rate
            self._x_cache = {key: x}
        return x

    def refresh(self) -> None:
        """Redraw from the ring if new data or settings arrived (called by the timer)."""
        if not self._dirty:
            return
        self._dirty = False
        width = max(100, int(self.plot.vb.width() or 0))
        window = self.window()
        method = self.params["decimation_method"]
        factor = max(1, window.shape[0] // width)
        if factor > 1:
            dec = decimate(window, factor, method, self._dec)
        else:
            dec = self._dec[: window.shape[0]]
            dec[:] = window
        scaled = self._scaled[: dec.shape[0]]
        np.multiply(dec, self._gains, out=scaled)
        scaled += self._offsets
        x = self._xvalues(dec.shape[0], factor, method)
        for i, curve in enumerate(self.curves):
            if curve.isVisible():
                curve.setData(x, scaled[:, i], connect="finite")
        self.frames_drawn += 1

    def auto_scale(self, spacing: float = 1.0) -> None:
        """Stack the channels: each gets gain 1/(6 std) of its visible window and an offset ``i * spacing``."""
        window = self.window()
        std = np.nanstd(window, axis=0) if np.isfinite(window).any() else np.ones(self.nb_channel)
        mean = np.nanmean(window, axis=0) if np.isfinite(window).any() else np.zeros(self.nb_channel)
        for i, name in enumerate(self.channel_names):
            s = float(std[i]) if np.isfinite(std[i]) and std[i] > 0 else 1.0
            gain = spacing / (6.0 * s)
            self._ch_store[(name, "gain")] = gain
            m = float(mean[i]) if np.isfinite(mean[i]) else 0.0
            self._ch_store[(name, "offset")] = (self.nb_channel - 1 - i) * spacing - m * gain
        self.params["ylim_min"] = -spacing
        self.params["ylim_max"] = self.nb_channel * spacing

    def start(self) -> None:
        """Start repainting."""
        self.timer.start()

    def stop(self) -> None:
        """Stop repainting."""
        self.timer.stop()


class _ChannelParams:
    """``by_channel_params[channel, field]`` where channel is a name, ``'ch<i>'`` or an index."""

    def __init__(self, widget: OscilloscopeWidget) -> None:
        self._w = widget

    def _key(self, key: Any) -> tuple[str, str]:
        if not (isinstance(key, tuple) and len(key) == 2):
            raise ConfigError(f"by_channel_params takes [channel, field], got {key!r}")
        chan, field = key
        names = self._w.channel_names
        if isinstance(chan, (int, np.integer)) and not isinstance(chan, bool):
            if not 0 <= chan < len(names):
                raise ConfigError(f"channel index {chan} out of range 0..{len(names) - 1}")
            chan = names[chan]
        elif chan not in names and isinstance(chan, str) and chan.startswith("ch") and chan[2:].isdigit():
            if int(chan[2:]) < len(names):
                chan = names[int(chan[2:])]
        if chan not in names:
            raise ConfigError(f"unknown channel {chan!r}; channels: {names}")
        if field not in CHANNEL_KEYS:
            raise ConfigError(f"unknown channel parameter {field!r}; known: {CHANNEL_KEYS}")
        return (chan, field)

    def __getitem__(self, key: Any) -> Any:
        return self._w._ch_store[self._key(key)]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._w._ch_store[self._key(key)] = value

    def to_dict(self) -> dict[Any, Any]:
        return self._w._ch_store.to_dict()
