"""The one place in pyacq_etvr.viewers that imports PyQt5 and pyqtgraph.

Every viewer module imports Qt through here, so the binding is chosen once and ``import pyacq_etvr``
never loads Qt (the viewers package itself is imported lazily).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtGui, QtWidgets

__all__ = ["QtCore", "QtGui", "QtWidgets", "pg", "mkQApp", "grab_widget", "qimage_to_array", "confidence_color"]


def mkQApp() -> QtWidgets.QApplication:
    """Return the running QApplication, creating one if needed (offscreen when there is no display)."""
    return pg.mkQApp()


def qimage_to_array(image: QtGui.QImage) -> np.ndarray:
    """Copy a QImage into an ``(H, W, 4)`` uint8 RGBA array."""
    img = image.convertToFormat(QtGui.QImage.Format_RGBA8888)
    h, w = img.height(), img.width()
    ptr = img.constBits()
    ptr.setsize(img.bytesPerLine() * h)
    arr = np.frombuffer(ptr, dtype=np.uint8).reshape(h, img.bytesPerLine() // 4, 4)
    return arr[:, :w].copy()


def grab_widget(widget: QtWidgets.QWidget, path: str | None = None) -> np.ndarray:
    """Render ``widget`` (offscreen too) and return it as an RGBA array; also save a PNG if ``path`` is given."""
    QtWidgets.QApplication.processEvents()
    pixmap = widget.grab()
    if path is not None and not pixmap.save(path, "PNG"):
        raise OSError(f"could not write PNG {path!r}")
    return qimage_to_array(pixmap.toImage())


def confidence_color(confidence: float) -> tuple[int, int, int]:
    """Map a confidence in [0, 1] to red (0) -> yellow (0.5) -> green (1); NaN maps to grey."""
    if not np.isfinite(confidence):
        return (160, 160, 160)
    c = min(max(float(confidence), 0.0), 1.0)
    return (int(round(255 * min(1.0, 2.0 * (1.0 - c)))), int(round(255 * min(1.0, 2.0 * c))), 0)
