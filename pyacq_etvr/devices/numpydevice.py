"""NumpyDeviceBuffer: replays an array endlessly at a given rate (pyacq's reference device node)."""

from __future__ import annotations

import numpy as np

from ..core.checks import check_int, check_positive
from ..core.errors import ConfigError, StateError
from ..core.node import Node
from ..core.registry import register_node_type
from ._pacing import PacedThread


class NumpyDeviceBuffer(Node):
    """Replays ``buffer`` chunk by chunk, looping forever, paced by a deadline-based thread.

    Output ``signals``: dtype of the buffer, shape ``(-1, *buffer.shape[1:])`` (``(-1, nb_channel)`` for the
    default analog buffer), ``sample_rate = 1 / sample_interval``; streamtype 'analogsignal' for 2-D buffers,
    'image' otherwise.

    ``configure(nb_channel=16, sample_interval=0.001, chunksize=256, buffer=None)``:
        nb_channel: channels of the default buffer (must match ``buffer.shape[1]`` for a 2-D buffer).
        sample_interval: seconds between samples (> 0); a chunk is sent every ``chunksize * sample_interval`` s.
        chunksize: samples per chunk (1 <= chunksize <= len(buffer)).
        buffer: array ``(n_samples, ...)`` to replay (default: 16384 samples of float32 sines plus noise).

    Each chunk is sent with ``index`` = samples sent so far (pyacq convention) and ``timestamp_ns`` = its
    scheduled time. Chunks are read-only views of an internal copy of the buffer (zero-copy; never mutated).
    Threading: one pacing thread between start() and stop(); an error there is re-raised by stop().
    """

    _output_specs = {"signals": dict(streamtype="analogsignal", dtype="float32", shape=(-1, 16))}

    def _configure(
        self,
        nb_channel: int = 16,
        sample_interval: float = 0.001,
        chunksize: int = 256,
        buffer: np.ndarray | None = None,
    ) -> None:
        chunksize = check_int(self._label, "chunksize", chunksize)
        sample_interval = check_positive(self._label, "sample_interval", sample_interval, "s")
        if buffer is None:
            buffer = _default_buffer(int(nb_channel), max(16384, int(chunksize)), sample_interval)
        buffer = np.asarray(buffer)
        if buffer.ndim < 2 or buffer.shape[0] == 0:
            raise ConfigError(f"{self._label}: buffer must be (n_samples, ...) with n_samples > 0, got {buffer.shape}")
        if buffer.ndim == 2 and buffer.shape[1] != nb_channel:
            raise ConfigError(f"{self._label}: buffer has {buffer.shape[1]} channels but nb_channel={nb_channel}")
        if chunksize > buffer.shape[0]:
            raise ConfigError(f"{self._label}: chunksize {chunksize} > buffer length {buffer.shape[0]}")
        self.nb_channel = int(nb_channel)
        self.sample_interval = sample_interval
        self.sample_rate = 1.0 / sample_interval
        self.chunksize = int(chunksize)
        # extended by one chunk so that every chunk is a contiguous view, even across the loop point
        ext = np.concatenate([buffer, buffer[: self.chunksize]])
        ext.flags.writeable = False
        self._ext, self._length = ext, buffer.shape[0]
        spec = self.outputs["signals"].spec
        spec["dtype"] = buffer.dtype.str if buffer.dtype.fields is None else buffer.dtype.descr
        spec["shape"] = (-1, *buffer.shape[1:])
        spec["sample_rate"] = self.sample_rate
        spec["streamtype"] = "analogsignal" if buffer.ndim == 2 else "image"

    @property
    def buffer(self) -> np.ndarray:
        """The replayed array (read-only)."""
        return self._ext[: self._length]

    def _initialize(self) -> None:
        self.head = 0
        self._pacer = PacedThread(self.chunksize * self.sample_interval, self._send_chunk, f"{self._label}-pacer")

    def _send_chunk(self, scheduled_ns: int) -> None:
        pos = self.head % self._length
        self.head += self.chunksize
        self.output.send(self._ext[pos : pos + self.chunksize], index=self.head, timestamp_ns=scheduled_ns)

    def _start(self) -> None:
        self._pacer.start()

    def _stop(self) -> None:
        if not self._pacer.stop(2.0):
            raise StateError(f"{self._label}: pacing thread did not stop within 2 s")
        if self._pacer.error is not None:
            raise StateError(f"{self._label}: the pacing thread failed: {self._pacer.error!r}") from self._pacer.error


def _default_buffer(nb_channel: int, length: int, sample_interval: float) -> np.ndarray:
    t = np.arange(length) * sample_interval
    freqs = 1.0 + np.arange(nb_channel)
    rng = np.random.default_rng(0)
    sig = 0.5 * np.sin(2 * np.pi * t[:, None] * freqs[None, :]) + 0.1 * rng.standard_normal((length, nb_channel))
    return sig.astype("float32")


register_node_type(NumpyDeviceBuffer)

__all__ = ["NumpyDeviceBuffer"]
