"""QOscilloscope node: scrolling display of multi-channel analog streams (pyacq's QOscilloscope)."""

from __future__ import annotations

from typing import Any

from pyacq_etvr.core.checks import check_int
from pyacq_etvr.core.errors import ConfigError, SpecMismatchError, StateError
from pyacq_etvr.core.registry import register_node_type
from pyacq_etvr.viewers.scopewidget import GLOBAL_DEFAULTS, OscilloscopeWidget, check_global_param
from pyacq_etvr.viewers.widgetnode import WidgetNode

__all__ = ["QOscilloscope"]


class QOscilloscope(WidgetNode):
    """Scroll the last ``xsize`` seconds of an analog stream, one trace per channel.

    Input:
        ``signals``: numeric chunks ``(-1, nb_channel)`` with a ``sample_rate`` in the stream spec (or given
        to ``configure``). Every chunk is appended to a ring buffer of ``xsize`` seconds; if the GUI falls
        more than ``max_pending`` chunks behind, the oldest pending chunks are dropped (counted in
        ``poller_stats()``), so the GUI never builds an unbounded queue.

    Settings (``configure``):
        with_user_dialog: double click opens the settings dialog (default False; see :meth:`open_settings`).
        sample_rate: Hz, overrides the stream's (required if the stream has none).
        channel_names: names for ``by_channel_params`` (default ``'ch0'``, ``'ch1'``...).
        max_pending: chunks buffered between two GUI deliveries (default 1000).
        title: window title (default: the node's name).
        any global param below, as its initial value.

    Params (after ``initialize()``), as in pyacq: ``viewer.params['xsize']`` (s, 3.0),
    ``'refresh_interval'`` (ms, 50), ``'decimation_method'`` (``'mean'`` | ``'min_max'``), ``'ylim_min'`` /
    ``'ylim_max'`` (None = auto), ``'show_bottom_axis'``, ``'show_left_axis'``, ``'background_color'``;
    ``viewer.by_channel_params['ch0', 'gain' | 'offset' | 'visible' | 'color']``. Over RPC use
    :meth:`set_param` / :meth:`set_channel_param` or item assignment on the proxies. Each repaint decimates
    the window to the plot's width in pixels, so 16 channels at 10 kHz repaint in a few ms.

    Threading: lives in a thread with a Qt event loop; a background poller thread reads the input.
    Bad input: a non-2-D or non-numeric stream -> ``SpecMismatchError``; unknown or invalid params ->
    ``ConfigError`` naming the key (nothing changes).
    """

    _input_specs = {"signals": {}}

    def _configure(
        self,
        with_user_dialog: bool = False,
        sample_rate: float | None = None,
        channel_names: list[str] | None = None,
        max_pending: int = 1000,
        title: str | None = None,
        max_xsize: float | None = None,
        **params: Any,
    ) -> None:
        # pyacq's max_xsize bounds xsize (pyacq sizes its ring once from it; ours follows xsize on demand)
        if max_xsize is not None:
            if isinstance(max_xsize, bool) or not isinstance(max_xsize, (int, float)) or not max_xsize > 0:
                raise ConfigError(f"{self._label}: max_xsize must be a positive number of seconds, got {max_xsize!r}")
            xsize = params.get("xsize", GLOBAL_DEFAULTS["xsize"])
            if isinstance(xsize, (int, float)) and xsize > max_xsize:
                params["xsize"] = float(max_xsize)
        unknown = sorted(set(params) - set(GLOBAL_DEFAULTS))
        if unknown:
            raise ConfigError(f"{self._label}: unknown configure() argument(s) {unknown}")
        if sample_rate is not None and not (isinstance(sample_rate, (int, float)) and sample_rate > 0):
            raise ConfigError(f"{self._label}: sample_rate must be a positive number (Hz), got {sample_rate!r}")
        max_pending = check_int(self._label, "max_pending", max_pending)
        self.with_user_dialog = bool(with_user_dialog)
        self._sample_rate = sample_rate
        self._channel_names = None if channel_names is None else list(channel_names)
        self._max_pending = max_pending
        self._initial_params = {key: check_global_param(key, value) for key, value in params.items()}
        self._title = self._check_title(self.name if title is None else title)

    def check_input_specs(self) -> None:
        inp = self.inputs["signals"]
        if not inp.connected:
            raise StateError(f"{self._label}: input 'signals' is not connected")
        if len(inp.shape) != 2 or inp.shape[1] < 1:
            raise SpecMismatchError(f"{self._label}: input 'signals' needs chunks (-1, nb_channel), got {inp.shape}")
        if inp.dtype.names is not None or inp.dtype.kind not in "uifb":
            raise SpecMismatchError(f"{self._label}: input 'signals' needs a numeric dtype, got {inp.dtype}")
        if self._sample_rate is None and not inp.params.get("sample_rate"):
            raise ConfigError(f"{self._label}: the stream has no sample_rate; pass configure(sample_rate=...)")

    def _initialize(self) -> None:
        inp = self.inputs["signals"]
        rate = float(self._sample_rate or inp.params["sample_rate"])
        self.widget = OscilloscopeWidget(inp.shape[1], rate, channel_names=self._channel_names, **self._initial_params)
        self._add_poller("signals", self._on_signals, max_pending=self._max_pending)

    def _on_signals(self, index: int, data: Any) -> None:
        if data is not None and self.widget is not None:
            self.widget.append(data, index)

    @property
    def params(self) -> Any:
        """Global parameters (pyacq's ``viewer.params``)."""
        return self._require_widget().params

    @property
    def by_channel_params(self) -> Any:
        """Per-channel parameters (pyacq's ``viewer.by_channel_params[channel, field]``)."""
        return self._require_widget().by_channel_params

    @property
    def nb_channel(self) -> int:
        return self._require_widget().nb_channel

    def set_param(self, key: str, value: Any) -> None:
        """``params[key] = value`` (convenient through RPC)."""
        self.params[key] = value

    def set_channel_param(self, channel: str | int, field: str, value: Any) -> None:
        """``by_channel_params[channel, field] = value`` (convenient through RPC)."""
        self.by_channel_params[channel, field] = value

    def get_params(self) -> dict[str, Any]:
        """Every global parameter as a plain dict."""
        return self.params.to_dict()

    def open_settings(self) -> None:
        """Open the settings dialog (see ``with_user_dialog``)."""
        self._require_widget().open_settings()

    def auto_scale(self, spacing: float = 1.0) -> None:
        """Stack the channels ``spacing`` apart, each scaled to its visible range."""
        self._require_widget().auto_scale(spacing)

    def _start(self) -> None:
        self.widget.start()
        self._start_pollers()

    def _stop(self) -> None:
        self._stop_pollers()
        self.widget.stop()

    def stats(self) -> dict[str, Any]:
        """Repaints done, last index received, and the poller's counters."""
        w = self._require_widget()
        return {"frames_drawn": w.frames_drawn, "last_index": w.ring.last_index(), **self.pollers["signals"].stats()}


register_node_type(QOscilloscope)
