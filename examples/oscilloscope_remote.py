"""
Oscilloscope (remote)
=====================

Stream data from a device node running in another process (a NodeGroup spawned by a Manager) to a
QOscilloscope in this process. The stream goes straight from the remote output to the local input; only
control calls travel over RPC. With ``--remote-viewer`` the viewer is remote too, in a NodeGroup that runs
a Qt event loop (``qt=True``), and is driven entirely through proxies.

Run: ``python examples/oscilloscope_remote.py [--remote-viewer]`` (``PYACQ_ETVR_EXAMPLE_DURATION=S``
stops it after S s).
"""

from __future__ import annotations

import os
import sys
import time

import pyacq_etvr as pyacq
from pyacq_etvr.viewers import QOscilloscope, mkQApp
from pyacq_etvr.viewers._qt import QtCore

DURATION = float(os.environ.get("PYACQ_ETVR_EXAMPLE_DURATION") or 0)


def make_device(manager):
    # The device lives in its own process.
    ng = manager.create_nodegroup(name="device")
    dev = ng.create_node("NoiseGenerator", name="noise0")
    dev.configure(nb_channel=8, sample_rate=5000.0, chunksize=100)
    dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
    dev.initialize()
    return dev


def local_viewer(manager) -> None:
    app = mkQApp()
    dev = make_device(manager)
    viewer = QOscilloscope()
    viewer.configure(with_user_dialog=True)
    viewer.input.connect(dev.output)
    viewer.initialize()
    viewer.show()
    viewer.params["decimation_method"] = "min_max"
    viewer.by_channel_params["ch0", "gain"] = 0.5
    dev.start()
    viewer.start()
    if DURATION:
        QtCore.QTimer.singleShot(int(DURATION * 1000), app.quit)
    app.exec_()
    viewer.stop()
    dev.stop()
    print(f"local viewer stats: {viewer.stats()}")
    viewer.close()
    dev.close()


def remote_viewer(manager) -> None:
    dev = make_device(manager)
    gui = manager.create_nodegroup(name="gui", qt=True)
    gui.register_node_type_from_module("pyacq_etvr.viewers.oscilloscope", "QOscilloscope")
    viewer = gui.create_node("QOscilloscope", name="scope0")
    viewer.configure()
    viewer.input.connect(dev.output)
    viewer.initialize()
    viewer.show()
    viewer.set_param("decimation_method", "mean")
    viewer.set_channel_param("ch0", "gain", 0.5)
    dev.start()
    viewer.start()
    time.sleep(DURATION or 10.0)
    viewer.stop()
    dev.stop()
    print(f"remote viewer stats: {viewer.stats()}")
    viewer.close()
    dev.close()


if __name__ == "__main__":
    manager = pyacq.create_manager()
    try:
        if "--remote-viewer" in sys.argv[1:]:
            remote_viewer(manager)
        else:
            local_viewer(manager)
    finally:
        manager.close()
