"""Qt viewers (PyQt5 + pyqtgraph): the only package, with the Qt RPC server, that imports Qt.

Names load lazily, so ``import pyacq_etvr.viewers`` stays cheap until a viewer is used:

* nodes: :class:`ImageViewer` (camera frames + pupil overlay), :class:`QOscilloscope` (analog signals),
  :class:`GazeViewer` (both eyes' gaze and eyelids);
* :class:`EyeDashboard`: per-eye images with pupil overlays and the gaze plot in one window (``--viewer``);
* :class:`QtPollInput`: the core's background input poller delivering ``(index, data)`` as a Qt signal in
  the GUI thread;
* the plain widgets behind the nodes, usable without streams: :class:`ImageViewerWidget`,
  :class:`OscilloscopeWidget`, :class:`GazeViewerWidget`.
"""

from __future__ import annotations

from pyacq_etvr._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "ImageViewer": "pyacq_etvr.viewers.imageviewer",
    "QOscilloscope": "pyacq_etvr.viewers.oscilloscope",
    "GazeViewer": "pyacq_etvr.viewers.gaze",
    "QtPollInput": "pyacq_etvr.viewers.qtpoller",
    "EyeDashboard": "pyacq_etvr.viewers.dashboard",
    "ImageViewerWidget": "pyacq_etvr.viewers.imagewidget",
    "OscilloscopeWidget": "pyacq_etvr.viewers.scopewidget",
    "GazeViewerWidget": "pyacq_etvr.viewers.gazewidget",
    "mkQApp": "pyacq_etvr.viewers._qt",
    "grab_widget": "pyacq_etvr.viewers._qt",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
