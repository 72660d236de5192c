"""
Simple camera viewer
====================

Stream frames from a Camera node to an ImageViewer, with the detected pupil drawn on top.

The camera runs in a NodeGroup process; the pupil detector in the same process; the viewer here. Without
``--source``, the first webcam (``/dev/video0``) is used if there is one, else the synthetic eye camera.

Run: ``python examples/camera_viewer.py [--source SRC] [--no-pupil] [--grab viewer.png]``
(``PYACQ_ETVR_EXAMPLE_DURATION=S`` closes it after S s).
"""

from __future__ import annotations

import argparse
import os

from pyacq_etvr import create_manager
from pyacq_etvr.viewers import ImageViewer, mkQApp
from pyacq_etvr.viewers._qt import QtCore

DURATION = float(os.environ.get("PYACQ_ETVR_EXAMPLE_DURATION") or 0)


def make_camera_group(man, source, with_pupil):
    """The camera (and the pupil detector) in a separate process."""
    nodegroup = man.create_nodegroup(name="eye")
    # make the node types known in that process (imports their modules there)
    nodegroup.register_node_type_from_module("pyacq_etvr.nodes.camera.node", "Camera")
    cam = nodegroup.create_node("Camera", name="cam0")
    cam.configure(source=source)
    # frames go through a shared-memory ring (same machine): only a small notification per frame
    cam.outputs["video"].configure(protocol="tcp", interface="127.0.0.1", transfermode="sharedmem", buffer_size=64)
    cam.initialize()
    det = None
    if with_pupil:
        nodegroup.register_node_type_from_module("pyacq_etvr.nodes.pupil", "PupilDetector")
        det = nodegroup.create_node("PupilDetector", name="pupil0")
        det.configure(detector="default")
        det.inputs["image"].connect(cam.outputs["video"])
        det.outputs["pupil"].configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        det.initialize()
    return cam, det


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    default = "0" if os.path.exists("/dev/video0") else "synthetic"
    parser.add_argument("--source", default=default, help=f"camera source (default {default!r})")
    parser.add_argument("--no-pupil", action="store_true", help="do not run the pupil detector")
    parser.add_argument("--grab", metavar="PNG", help="save a picture of the viewer before closing")
    args = parser.parse_args()

    man = create_manager()
    try:
        cam, det = make_camera_group(man, args.source, not args.no_pupil)
        # the viewer is a Node in the local QApplication
        app = mkQApp()
        viewer = ImageViewer(name="eye viewer")
        viewer.configure()
        viewer.inputs["image"].connect(cam.outputs["video"])
        if det is not None:
            viewer.inputs["pupil"].connect(det.outputs["pupil"])
        viewer.initialize()
        viewer.show()

        nodes = [n for n in (viewer, det, cam) if n is not None]  # downstream first
        for node in nodes:
            node.start()
        if DURATION:
            QtCore.QTimer.singleShot(int(DURATION * 1000), app.quit)
        app.exec_()
        for node in reversed(nodes):
            node.stop()
        print(f"camera: {cam.stats()}")
        print(f"viewer: {viewer.stats()}")
        print(f"pupil drawn: {viewer.shown_pupil()}")
        if args.grab:
            viewer.grab(args.grab)
        # close the readers, then the writer (which owns the shared-memory ring)
        for node in nodes:
            node.close()
    finally:
        man.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
