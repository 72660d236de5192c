"""EyeDashboard: the viewers of ``pyacq-etvr run --viewer`` in one window, driven from a plain loop.

One :class:`~pyacq_etvr.viewers.ImageViewer` per eye (camera image with its pupil overlay) and one
:class:`~pyacq_etvr.viewers.GazeViewer` for both eyes' calibrated gaze, side by side. The streams may live in
any process (pass OutputStreams, proxies of them, or their params dicts — they must be ``tcp`` or ``ipc``
to be reachable from this process). A program with its own loop (no ``app.exec_()``) keeps the window alive
by calling :meth:`EyeDashboard.process_events` instead of sleeping; after an eye's NodeGroup was restarted,
:meth:`EyeDashboard.reconnect_eye` points that eye's viewers at the new outputs.
"""

from __future__ import annotations

import time
from typing import Any

from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.viewers._qt import QtWidgets, grab_widget, mkQApp
from pyacq_etvr.viewers.gaze import GazeViewer
from pyacq_etvr.viewers.imageviewer import ImageViewer

EYES = ("left", "right")


class EyeDashboard:
    """Eye images with pupil overlays and the gaze plot in one window.

    Args:
        eyes: ``{eye: {'video': output, 'pupil': output or None, 'gaze': output or None}}`` for 'left'
            and/or 'right'.
        title: window title.
        refresh_interval: repaint period of every viewer, ms (default 33).

    Threading: create and use it in the thread that runs (or pumps) the Qt event loop. Bad input: an
    unknown eye name, no eye, or an eye without ``'video'`` raise ConfigError before anything is created.
    """

    def __init__(self, eyes: dict[str, dict[str, Any]], title: str = "pyacq-etvr", refresh_interval: int = 33) -> None:
        if not eyes or set(eyes) - set(EYES):
            raise ConfigError(f"EyeDashboard: eyes must be a non-empty subset of {EYES}, got {sorted(eyes or ())}")
        for eye, outs in eyes.items():
            if not isinstance(outs, dict) or outs.get("video") is None:
                raise ConfigError(f"EyeDashboard: eye {eye!r} needs a 'video' output")
        self.app = mkQApp()
        self.window = QtWidgets.QWidget()
        self.window.setWindowTitle(title)
        layout = QtWidgets.QHBoxLayout(self.window)
        self.image_viewers: dict[str, ImageViewer] = {}
        for eye in EYES:
            if eye not in eyes:
                continue
            viewer = ImageViewer(name=f"{eye} eye")
            viewer.configure(refresh_interval=refresh_interval)
            self._connect_image(viewer, eyes[eye])
            viewer.initialize()
            self.image_viewers[eye] = viewer
            layout.addWidget(viewer.widget, 1)
        self.gaze_viewer: GazeViewer | None = None
        if any(outs.get("gaze") is not None for outs in eyes.values()):
            self.gaze_viewer = GazeViewer(name="gaze")
            self.gaze_viewer.configure(refresh_interval=refresh_interval)
            for eye, outs in eyes.items():
                if outs.get("gaze") is not None:
                    self.gaze_viewer.inputs[eye].connect(outs["gaze"])
            self.gaze_viewer.initialize()
            layout.addWidget(self.gaze_viewer.widget, 1)
        self.window.resize(420 * len(self.image_viewers) + (460 if self.gaze_viewer else 0), 440)

    @staticmethod
    def _connect_image(viewer: ImageViewer, outs: dict[str, Any]) -> None:
        viewer.inputs["image"].connect(outs["video"])
        if outs.get("pupil") is not None:
            viewer.inputs["pupil"].connect(outs["pupil"])

    @property
    def viewers(self) -> list[Any]:
        return [*self.image_viewers.values(), *([self.gaze_viewer] if self.gaze_viewer else [])]

    def show(self) -> None:
        """Show the window."""
        self.window.show()

    def start(self) -> None:
        """Start every viewer (and show the window)."""
        self.show()
        for viewer in self.viewers:
            if not viewer.running():
                viewer.start()

    def stop(self) -> None:
        """Stop every viewer (the window stays)."""
        for viewer in self.viewers:
            if viewer.running():
                viewer.stop()

    def process_events(self, duration: float = 0.0) -> None:
        """Run the Qt event loop for about ``duration`` seconds (0: just what is pending)."""
        deadline = time.monotonic() + max(0.0, duration)
        while True:
            self.app.processEvents()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.01, left))

    def reconnect_eye(self, eye: str, outputs: dict[str, Any]) -> None:
        """Point ``eye``'s viewers at new outputs (same keys as in the constructor), e.g. after a restart."""
        viewer = self.image_viewers.get(eye)
        if viewer is None:
            raise ConfigError(f"EyeDashboard: no viewer for eye {eye!r} (eyes: {sorted(self.image_viewers)})")
        if outputs.get("video") is None:
            raise ConfigError(f"EyeDashboard: eye {eye!r} needs a 'video' output")
        running = viewer.running()
        if running:
            viewer.stop()
        self._connect_image(viewer, outputs)
        if running:
            viewer.start()
        gv = self.gaze_viewer
        if gv is not None and outputs.get("gaze") is not None and gv.inputs[eye].connected:
            running = gv.running()
            if running:
                gv.stop()
            gv.inputs[eye].connect(outputs["gaze"])
            if running:
                gv.start()

    def grab(self, path: str | None = None) -> Any:
        """The whole window as an RGBA array (device pixels); also a PNG if ``path`` is given."""
        return grab_widget(self.window, path)

    def close(self) -> None:
        """Stop and close every viewer and the window."""
        self.stop()
        for viewer in self.viewers:
            if viewer.widget is not None:
                viewer.widget.setParent(None)
            viewer.close()
        self.window.close()
        self.window.deleteLater()
