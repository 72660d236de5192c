"""RingBuffer: the recent history of a stream, addressed by absolute sample index (pyacq's API).

Sample ``i`` lives at position ``i % size``. With ``double=True`` every sample is written twice (at ``p`` and
``p + size``) so that any window of at most ``size`` samples is one contiguous view: reads never copy.
``axisorder`` chooses the memory layout (e.g. ``(1, 0)`` stores a 2-D ring channel-major); the logical
view is always time-first. The memory can be supplied (``shmem``: any writable buffer, e.g. a shared memory
mapping), which is how the ``sharedmem`` transfer mode places its ring in ``/dev/shm``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, NotAvailableError, OverrunError
from ..spec import dtype_from_json


def ring_nbytes(shape: Sequence[int], dtype: Any, double: bool) -> int:
    """Bytes needed by a ring of logical ``shape`` (``(size, *sample_shape)``)."""
    n = int(np.prod(shape, dtype=np.int64)) * dtype_from_json(dtype).itemsize
    return 2 * n if double else n


def write_wrapped(arr: np.ndarray, start: int, data: np.ndarray) -> None:
    """Write ``data`` into ``arr`` (axis 0) from position ``start``, wrapping around the end once."""
    n = data.shape[0]
    first = min(n, arr.shape[0] - start)
    arr[start : start + first] = data[:first]
    if first < n:
        arr[: n - first] = data[first:]


class RingBuffer:
    """Single or double ring buffer of shape ``(size, *sample_shape)``.

    Args:
        shape: ``(size, *sample_shape)``; ``size`` samples are kept.
        dtype: numpy dtype (structured allowed).
        double: write each sample twice so reads are always contiguous views (default True).
        shmem: optional writable buffer to hold the data (at least :func:`ring_nbytes` bytes).
        fill: initial value of every element (default: zeros).
        axisorder: memory order of the axes (a permutation of ``range(len(shape))``), default time first.
    """

    def __init__(
        self,
        shape: Sequence[int],
        dtype: Any,
        double: bool = True,
        shmem: Any = None,
        fill: Any = None,
        axisorder: Sequence[int] | None = None,
    ) -> None:
        shape = tuple(int(s) for s in shape)
        if not shape or shape[0] <= 0 or any(s <= 0 for s in shape):
            raise ConfigError(f"buffer shape: every size must be > 0, got {shape}")
        self.shape = shape
        self.size = shape[0]
        self.dtype = dtype_from_json(dtype)
        self.double = bool(double)
        alloc = (2 * self.size if self.double else self.size, *shape[1:])
        order = tuple(range(len(shape))) if axisorder is None else tuple(int(a) for a in axisorder)
        if sorted(order) != list(range(len(shape))):
            raise ConfigError(f"axisorder: {axisorder!r} is not a permutation of the {len(shape)} axes")
        self.axisorder = order
        mem_shape = tuple(alloc[a] for a in order)
        if shmem is None:
            base = np.empty(mem_shape, dtype=self.dtype)
        else:
            base = np.ndarray(mem_shape, dtype=self.dtype, buffer=shmem)
        self.buffer = base.transpose(np.argsort(order))  # logical (time-first) view
        self.fill = fill
        if fill is not None:
            self.buffer[...] = fill
        elif shmem is None:
            self.buffer[...] = np.zeros((), dtype=self.dtype)
        self._index = 0

    def last_index(self) -> int:
        """Index of the last written sample + 1."""
        return self._index

    def first_index(self) -> int:
        """Oldest index still in the buffer."""
        return max(0, self._index - self.size)

    def write(self, data: np.ndarray, index: int) -> None:
        """Low level: store ``data`` as the samples ``[index - len(data), index)`` (no bookkeeping)."""
        n = data.shape[0]
        if n > self.size:
            data = data[n - self.size :]
            n = self.size
        pos = (index - n) % self.size
        if self.double:
            write_wrapped(self.buffer, pos, data)
            write_wrapped(self.buffer, pos + self.size, data)
        else:
            write_wrapped(self.buffer, pos, data)

    def new_chunk(self, data: np.ndarray, index: int | None = None) -> None:
        """Append a chunk. ``index`` (last sample + 1) defaults to ``last_index() + len(data)``.

        A gap (index beyond last_index() + len(data)) is filled with ``fill`` (zeros by default).
        A decreasing index raises ConfigError.
        """
        n = data.shape[0]
        if index is None:
            index = self._index + n
        start = index - n
        if start < self._index:
            raise ConfigError(f"new_chunk: index {index} would rewrite samples before {self._index}")
        if start > self._index:
            gap = np.zeros((min(start - self._index, self.size), *self.shape[1:]), dtype=self.dtype)
            if self.fill is not None:
                gap[...] = self.fill
            self.write(gap, start)
        self.write(data, index)
        self._index = index

    def get_data(self, start: int, stop: int, copy: bool = False, join: bool = True) -> Any:
        """Samples ``[start, stop)``.

        Returns a view when possible (``copy=False``). With a single ring and a wrapping segment, ``join=True``
        returns one (copied) array, ``join=False`` a tuple of two views. Raises OverrunError if ``start`` was
        already overwritten, NotAvailableError if ``stop`` is beyond :meth:`last_index`.
        """
        start, stop = int(start), int(stop)
        if stop < start:
            raise ConfigError(f"get_data: stop {stop} < start {start}")
        if start < self.first_index():
            raise OverrunError(f"get_data: start {start} was overwritten (oldest index is {self.first_index()})")
        if stop > self._index:
            raise NotAvailableError(f"get_data: stop {stop} is beyond the last index {self._index}")
        return self.read(start, stop, copy, join)

    def read(self, start: int, stop: int, copy: bool, join: bool) -> Any:
        """Low level: positions of ``[start, stop)`` without bounds checks."""
        n = stop - start
        pos = start % self.size
        if self.double or pos + n <= self.size:
            out = self.buffer[pos : pos + n]
            return out.copy() if copy else out
        first = self.buffer[pos:]
        second = self.buffer[: n - (self.size - pos)]
        if join:
            return np.concatenate([first, second])
        return (first.copy(), second.copy()) if copy else (first, second)

    def __getitem__(self, item: slice) -> np.ndarray:
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise ConfigError("RingBuffer supports [start:stop] slices only")
        start = self.first_index() if item.start is None else item.start
        stop = self._index if item.stop is None else item.stop
        return self.get_data(start, stop)
