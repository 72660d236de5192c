"""
Noise generator node
====================

A custom Node class that generates a stream of gaussian noise, displayed by a QOscilloscope.

The node produces data from its own background thread (no Qt needed in the node itself), paced by the
sample rate; the oscilloscope lives in the Qt main thread.

Run: ``python examples/noise_generator_node.py`` (``PYACQ_ETVR_EXAMPLE_DURATION=S`` closes it after S s).
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np

from pyacq_etvr.core import Node, register_node_type
from pyacq_etvr.core.errors import ConfigError

DURATION = float(os.environ.get("PYACQ_ETVR_EXAMPLE_DURATION") or 0)


class NoiseGenerator(Node):
    """A simple example node that generates gaussian noise.

    Output ``signals``: float32 ``(-1, nb_channel)`` at ``sample_rate`` Hz, in chunks of ``chunksize``.
    Threading: a background thread sends one chunk every ``chunksize / sample_rate`` seconds.
    """

    _output_specs = {"signals": dict(streamtype="analogsignal", dtype="float32")}

    def _configure(self, chunksize: int = 100, sample_rate: float = 1000.0, nb_channel: int = 1) -> None:
        if chunksize < 1 or sample_rate <= 0 or nb_channel < 1:
            raise ConfigError("chunksize, sample_rate and nb_channel must be positive")
        self.chunksize, self.sample_rate, self.nb_channel = int(chunksize), float(sample_rate), int(nb_channel)
        self.output.spec["shape"] = (-1, self.nb_channel)
        self.output.spec["sample_rate"] = self.sample_rate

    def _initialize(self) -> None:
        self.head = 0
        self._rng = np.random.default_rng(0)
        self._chunk = np.empty((self.chunksize, self.nb_channel), dtype="float32")

    def _start(self) -> None:
        self._stop_event = threading.Event()
        self._thread = threading.Thread(target=self._run, name="noise", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        self._stop_event.set()
        self._thread.join(5)

    def _run(self) -> None:
        period = self.chunksize / self.sample_rate
        next_t = time.monotonic()
        while not self._stop_event.is_set():
            self.send_data()
            next_t += period
            self._stop_event.wait(max(0.0, next_t - time.monotonic()))

    def send_data(self) -> None:
        self.head += self.chunksize
        self._chunk[:] = self._rng.standard_normal(self._chunk.shape, dtype=np.float32)
        self.output.send(self._chunk, index=self.head)


# Not necessary for this example, but registering the node class makes it possible to create this node
# type in a remote process with nodegroup.create_node('NoiseGenerator').
register_node_type(NoiseGenerator)


def main() -> int:
    from pyacq_etvr.viewers import QOscilloscope, mkQApp
    from pyacq_etvr.viewers._qt import QtCore

    app = mkQApp()

    # Create a noise generator node
    ng = NoiseGenerator()
    ng.configure(nb_channel=4, sample_rate=2000.0, chunksize=50)
    ng.output.configure(protocol="inproc", transfermode="sharedmem", buffer_size=20000)
    ng.initialize()

    # Create an oscilloscope node to view the noise stream
    osc = QOscilloscope()
    osc.configure(with_user_dialog=True)
    osc.input.connect(ng.output)
    osc.initialize()
    osc.show()
    osc.auto_scale()

    # start both nodes
    osc.start()
    ng.start()
    if DURATION:
        QtCore.QTimer.singleShot(int(DURATION * 1000), app.quit)
    app.exec_()
    ng.stop()
    osc.stop()
    print(f"oscilloscope stats: {osc.stats()}")
    ng.close()
    osc.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
