"""
Oscilloscope (local)
====================

Stream 16 channels at 10 kHz from a noise generator to a QOscilloscope. Both nodes are created locally,
without a manager: the generator runs in a background thread, the viewer in the Qt main thread.

Run: ``python examples/oscilloscope_local.py`` (``PYACQ_ETVR_EXAMPLE_DURATION=S`` closes it after S s).
"""

from __future__ import annotations

import os

from pyacq_etvr.devices import NoiseGenerator
from pyacq_etvr.viewers import QOscilloscope, mkQApp
from pyacq_etvr.viewers._qt import QtCore

DURATION = float(os.environ.get("PYACQ_ETVR_EXAMPLE_DURATION") or 0)

# Start the Qt application
app = mkQApp()

# Create the device node
dev = NoiseGenerator()
dev.configure(nb_channel=16, sample_rate=10000.0, chunksize=100)
dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
dev.initialize()

# Create an oscilloscope to display the data
viewer = QOscilloscope()
viewer.configure(with_user_dialog=True, xsize=2.0)
viewer.input.connect(dev.output)
viewer.initialize()
viewer.show()
viewer.params["decimation_method"] = "min_max"
viewer.params["refresh_interval"] = 40
for chan in range(16):
    viewer.by_channel_params[f"ch{chan}", "gain"] = 0.15
    viewer.by_channel_params[f"ch{chan}", "offset"] = float(15 - chan)
viewer.params["ylim_min"] = -1.0
viewer.params["ylim_max"] = 16.0

# Start both nodes
dev.start()
viewer.start()

if __name__ == "__main__":
    if DURATION:
        QtCore.QTimer.singleShot(int(DURATION * 1000), app.quit)
    app.exec_()
    dev.stop()
    viewer.stop()
    print(f"oscilloscope stats: {viewer.stats()}")
    dev.close()
    viewer.close()
