"""Recording nodes under pyacq's module path (``pyacq.rec.RawRecorder``): lossless raw recording of any set
of streams, a reader that opens a recording as numpy arrays, and a node that replays it.

The implementation lives in :mod:`pyacq_etvr.nodes.recorder`; names load lazily.
"""

from __future__ import annotations

from pyacq_etvr._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "RawRecorder": "pyacq_etvr.nodes.recorder",
    "RawRecording": "pyacq_etvr.nodes.recorder",
    "ReplaySource": "pyacq_etvr.nodes.recorder",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
