"""Filters for gaze and pupil streams: each is a plain object callable on arrays and a Node.

Plain objects (no Node, no process): :class:`OneEuro`, :class:`MovingAverage`, :class:`OutlierRejector`,
:class:`BlinkHold`. Nodes (module :mod:`pyacq_etvr.nodes.filters.nodes`): ``OneEuroFilter``,
``MovingAverageFilter``, ``OutlierFilter``, ``BlinkHoldFilter`` and ``FilterChain`` (several filters in one
node, one stream hop). Names load lazily.
"""

from __future__ import annotations

from pyacq_etvr._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "OneEuro": "pyacq_etvr.nodes.filters.one_euro",
    "MovingAverage": "pyacq_etvr.nodes.filters.moving_average",
    "OutlierRejector": "pyacq_etvr.nodes.filters.outlier",
    "BlinkHold": "pyacq_etvr.nodes.filters.blink_hold",
    "OneEuroFilter": "pyacq_etvr.nodes.filters.nodes",
    "MovingAverageFilter": "pyacq_etvr.nodes.filters.nodes",
    "OutlierFilter": "pyacq_etvr.nodes.filters.nodes",
    "BlinkHoldFilter": "pyacq_etvr.nodes.filters.nodes",
    "FilterChain": "pyacq_etvr.nodes.filters.nodes",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
