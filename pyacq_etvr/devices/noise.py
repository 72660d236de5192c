"""NoiseGenerator: pyacq's example node, with a pacing thread instead of a QTimer."""

from __future__ import annotations

import numpy as np

from ..core.checks import check_int, check_positive
from ..core.errors import StateError
from ..core.node import Node
from ..core.registry import register_node_type
from ._pacing import PacedThread


class NoiseGenerator(Node):
    """Sends chunks of Gaussian noise at a fixed rate.

    Output ``signals``: float32, shape ``(-1, nb_channel)``, ``sample_rate`` as configured.

    ``configure(chunksize=100, sample_rate=1000., nb_channel=1, seed=None)``: a chunk of ``chunksize``
    samples every ``chunksize / sample_rate`` seconds; ``seed`` makes the noise reproducible.
    Each chunk is a new array (safe to keep downstream). Threading: one pacing thread between start() and
    stop(); an error there is re-raised by stop().
    """

    _output_specs = {"signals": dict(streamtype="analogsignal", dtype="float32", shape=(-1, 1))}

    def _configure(
        self, chunksize: int = 100, sample_rate: float = 1000.0, nb_channel: int = 1, seed: int | None = None
    ) -> None:
        self.chunksize = check_int(self._label, "chunksize", chunksize)
        self.nb_channel = check_int(self._label, "nb_channel", nb_channel)
        self.sample_rate = sample_rate = check_positive(self._label, "sample_rate", sample_rate, "Hz")
        self._rng = np.random.default_rng(seed)
        spec = self.outputs["signals"].spec
        spec["shape"] = (-1, self.nb_channel)
        spec["sample_rate"] = sample_rate

    def _initialize(self) -> None:
        self.head = 0
        self._pacer = PacedThread(self.chunksize / self.sample_rate, self._send_chunk, f"{self._label}-pacer")

    def _send_chunk(self, scheduled_ns: int) -> None:
        chunk = self._rng.standard_normal((self.chunksize, self.nb_channel), dtype=np.float32)
        self.head += self.chunksize
        self.output.send(chunk, index=self.head, timestamp_ns=scheduled_ns)

    def _start(self) -> None:
        self._pacer.start()

    def _stop(self) -> None:
        if not self._pacer.stop(2.0):
            raise StateError(f"{self._label}: pacing thread did not stop within 2 s")
        if self._pacer.error is not None:
            raise StateError(f"{self._label}: the pacing thread failed: {self._pacer.error!r}") from self._pacer.error


register_node_type(NoiseGenerator)
