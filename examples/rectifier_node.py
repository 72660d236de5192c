"""
Writing a node: a rectifier
===========================

A processing node with one input and one output: it sends the absolute value of every chunk it receives.
The output copies the input's channel count and sample rate when the input is connected; a poller thread
reads every chunk. This file is the example of the "Writing a node" page of the documentation.

Run: ``python examples/rectifier_node.py``
"""

from __future__ import annotations

import numpy as np

from pyacq_etvr.core import Node, ThreadPollInput, register_node_type


class Rectifier(Node):
    """Absolute value of an analog signal.

    Inputs:  ``signals`` float32 (-1, nb_channel), any number of channels
    Outputs: ``signals`` float32 (-1, nb_channel), same rate
    Settings: none.
    Threading: a poller thread reads every input chunk and sends its result.
    Bad input: a chunk of another dtype is refused at ``connect()``.
    """

    # any number of channels: the shape is left open on the input, the output copies it
    _input_specs = {"signals": dict(streamtype="analogsignal", dtype="float32")}
    _output_specs = {"signals": dict(streamtype="analogsignal", dtype="float32")}

    def after_input_connect(self, inputname):
        # the output copies the input's channel count and rate (connect the input first)
        spec = self.input.params
        self.output.spec["shape"] = spec["shape"]
        self.output.spec["sample_rate"] = spec["sample_rate"]

    def _initialize(self):
        self.poller = ThreadPollInput(self.input, return_data=True)
        self.poller.new_data.connect(self._on_data)

    def _start(self):
        self.poller.start()

    def _stop(self):
        self.poller.stop()
        self.poller.wait()

    def _on_data(self, index, chunk):
        self.output.send(np.abs(chunk), index=index)


register_node_type(Rectifier)


def main() -> int:
    from pyacq_etvr.core import InputStream
    from pyacq_etvr.devices import NumpyDeviceBuffer

    data = np.sin(np.linspace(0, 20, 4000, dtype=np.float32))[:, None] * np.ones((1, 3), np.float32)
    dev = NumpyDeviceBuffer()
    dev.configure(nb_channel=3, sample_interval=0.001, chunksize=100, buffer=data)
    dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
    dev.initialize()

    rect = Rectifier()
    rect.configure()
    rect.input.connect(dev.output)  # first: the output spec follows the input
    rect.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
    rect.initialize()

    result = InputStream()
    result.connect(rect.output)
    rect.start()
    dev.start()
    chunks = [result.recv(timeout=2000) for _ in range(10)]
    dev.stop()
    rect.stop()
    for node in (rect, dev):
        node.close()
    result.close()
    values = np.concatenate([c for _, c in chunks])
    print(f"received {len(chunks)} chunks, last index {chunks[-1][0]}, min value {values.min():.3f} (>= 0)")
    return 0 if values.min() >= 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
