"""
Stream monitor
==============

A simple node that monitors activity on an input stream and prints details about the chunks it receives.
It reads its input with the core's background poller (a plain thread, no Qt).

Run: ``python examples/stream_monitor.py`` (stops after ``PYACQ_ETVR_EXAMPLE_DURATION`` seconds, default 3).
"""

from __future__ import annotations

import os
import threading

import numpy as np

from pyacq_etvr.core import Node, ThreadPollInput, register_node_type

DURATION = float(os.environ.get("PYACQ_ETVR_EXAMPLE_DURATION") or 3.0)


class StreamMonitor(Node):
    """Print the index, shape and dtype of every chunk received on input ``signals`` (any spec)."""

    _input_specs = {"signals": {}}

    def _configure(self) -> None:
        self.count = 0

    def _initialize(self) -> None:
        # A background thread waits on the input stream and calls back for every chunk.
        self.poller = ThreadPollInput(self.input, return_data=True)
        self.poller.new_data.connect(self.data_received)

    def _start(self) -> None:
        self.poller.start()

    def _stop(self) -> None:
        self.poller.stop()
        self.poller.wait()

    def data_received(self, index: int, data: np.ndarray) -> None:
        self.count += 1
        print(f"Data received: {index} {data.shape} {data.dtype}", flush=True)


# Not necessary for this example, but registering the node class makes it possible to create this node
# type in a remote process with nodegroup.create_node('StreamMonitor').
register_node_type(StreamMonitor)


def main() -> int:
    from pyacq_etvr.devices import NumpyDeviceBuffer

    # A data source that continuously emits chunks from a numpy array.
    data = np.random.randn(2500, 7).astype("float64")
    dev = NumpyDeviceBuffer()
    # 50-sample chunks at 100 samples/s: two chunks per second.
    dev.configure(nb_channel=7, sample_interval=0.01, chunksize=50, buffer=data)
    dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
    dev.initialize()

    mon = StreamMonitor()
    mon.configure()
    mon.input.connect(dev.output)
    mon.initialize()

    mon.start()
    dev.start()
    threading.Event().wait(DURATION)
    dev.stop()
    mon.stop()
    dev.close()
    mon.close()
    print(f"monitor saw {mon.count} chunks")
    return 0 if mon.count > 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
