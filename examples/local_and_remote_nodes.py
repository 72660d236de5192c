"""
Local and remote Nodes
======================

Node instances in the local process and in a remote process are used the same way. Three set-ups, with a
(synthetic) eye camera and an ImageViewer:

* ``remote-local`` (default): the camera in a NodeGroup process, the viewer in this process's Qt app;
* ``local-local``: no manager, both nodes in this process;
* ``remote-remote``: no Qt here at all; camera and viewer in one NodeGroup started with ``qt=True``.

Run: ``python examples/local_and_remote_nodes.py [remote-local|local-local|remote-remote]``
(``PYACQ_ETVR_EXAMPLE_DURATION=S`` stops it after S s). Compare the process ids printed by each mode.
"""

from __future__ import annotations

import os
import sys
import time

DURATION = float(os.environ.get("PYACQ_ETVR_EXAMPLE_DURATION") or 0)
CAMERA = dict(source="synthetic", fps=60)


def run_qt(app) -> None:
    from pyacq_etvr.viewers._qt import QtCore

    if DURATION:
        QtCore.QTimer.singleShot(int(DURATION * 1000), app.quit)
    app.exec_()


def dev_remote_viewer_local() -> None:
    from pyacq_etvr import create_manager
    from pyacq_etvr.viewers import ImageViewer, mkQApp

    man = create_manager()
    try:
        # this creates the camera in a separate process (NodeGroup)
        nodegroup = man.create_nodegroup(name="camera_group")
        nodegroup.register_node_type_from_module("pyacq_etvr.nodes.camera.node", "Camera")
        dev = nodegroup.create_node("Camera", name="cam0")
        dev.configure(**CAMERA)
        dev.outputs["video"].configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        dev.initialize()
        # the viewer is a Node in the local QApplication
        app = mkQApp()
        viewer = ImageViewer(name="viewer0")
        viewer.configure()
        viewer.inputs["image"].connect(dev.outputs["video"])
        viewer.initialize()
        viewer.show()
        dev.start()
        viewer.start()
        run_qt(app)
        viewer.stop()
        dev.stop()
        print(f"viewer in pid {os.getpid()}: {viewer.stats()}")
        viewer.close()
        dev.close()
    finally:
        man.close()


def dev_local_viewer_local() -> None:
    from pyacq_etvr.nodes import Camera
    from pyacq_etvr.viewers import ImageViewer, mkQApp

    # no manager: both nodes are controlled directly in this process
    app = mkQApp()
    dev = Camera(name="cam0")
    dev.configure(**CAMERA)
    dev.outputs["video"].configure(protocol="inproc", transfermode="plaindata")
    dev.initialize()
    viewer = ImageViewer(name="viewer0")
    viewer.configure()
    viewer.inputs["image"].connect(dev.outputs["video"])
    viewer.initialize()
    viewer.show()
    dev.start()
    viewer.start()
    run_qt(app)
    viewer.stop()
    dev.stop()
    print(f"viewer in pid {os.getpid()}: {viewer.stats()}")
    viewer.close()
    dev.close()


def dev_remote_viewer_remote() -> None:
    from pyacq_etvr import create_manager

    # no QApplication here: all nodes are remote, even the viewer; they share one NodeGroup (one process)
    man = create_manager()
    try:
        nodegroup = man.create_nodegroup(name="gui_group", qt=True)
        nodegroup.register_node_type_from_module("pyacq_etvr.nodes.camera.node", "Camera")
        nodegroup.register_node_type_from_module("pyacq_etvr.viewers.imageviewer", "ImageViewer")
        dev = nodegroup.create_node("Camera", name="cam0")
        dev.configure(**CAMERA)
        dev.outputs["video"].configure(protocol="inproc", transfermode="plaindata")
        dev.initialize()
        viewer = nodegroup.create_node("ImageViewer", name="viewer0")
        viewer.configure()
        viewer.inputs["image"].connect(dev.outputs["video"])
        viewer.initialize()
        viewer.show()
        dev.start()
        viewer.start()
        time.sleep(DURATION or 10.0)
        viewer.stop()
        dev.stop()
        print(f"remote viewer: {viewer.stats()}")
        viewer.close()
        dev.close()
    finally:
        man.close()


MODES = {
    "remote-local": dev_remote_viewer_local,
    "local-local": dev_local_viewer_local,
    "remote-remote": dev_remote_viewer_remote,
}

if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "remote-local"
    if mode not in MODES:
        raise SystemExit(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    MODES[mode]()
