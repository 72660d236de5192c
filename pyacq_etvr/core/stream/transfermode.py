"""Transfer modes: one sender / receiver interface, and an explicit registry object.

A transfer mode is a pair of classes: a :class:`DataSender` used by :class:`OutputStream` and a
:class:`DataReceiver` used by :class:`InputStream`. Built-in modes (``plaindata``, ``sharedmem``) are
registered in :data:`transfermodes` when :mod:`pyacq_etvr.core.stream` is imported; a project can register
its own with ``transfermodes.register(name, sender_cls, receiver_cls)`` or build a separate
:class:`TransferModeRegistry` (nothing global needs resetting).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError
from ..spec import StreamSpec
from .channel import PubChannel


class DataSender(ABC):
    """Sends chunks (already validated, C-contiguous) of one output stream.

    ``extra_keys`` maps the extra configure() keys this mode accepts to their defaults.
    """

    extra_keys: ClassVar[dict[str, Any]] = {}

    def __init__(self, channel: PubChannel, params: dict[str, Any], spec: StreamSpec) -> None:
        self.channel = channel
        self.params = params
        self.spec = spec

    def extra_params(self) -> dict[str, Any]:
        """Serialisable parameters receivers need (added to ``OutputStream.params``)."""
        return {}

    @abstractmethod
    def send(self, data: np.ndarray, index: int, timestamp_ns: int) -> None:
        """Send one chunk."""

    @abstractmethod
    def close(self) -> None:
        """Release the mode's own resources (the channel is closed by the OutputStream)."""


class DataReceiver(ABC):
    """Receives the chunks of one output stream (see :class:`InputStream` for the public semantics).

    Counters: ``received`` chunks returned, ``skipped`` chunks discarded by latest-frame reads or
    ``empty_queue()``, ``dropped`` chunks lost in transit (high-water mark), ``overruns`` ring-buffer overruns.
    """

    def __init__(self, params: dict[str, Any], spec: StreamSpec, raise_on_overrun: bool = False) -> None:
        self.params = params
        self.spec = spec
        self.raise_on_overrun = raise_on_overrun
        self.received = 0
        self.skipped = 0
        self.dropped = 0
        self.overruns = 0
        self.last_index = -1

    @abstractmethod
    def connect(self, timeout: float, what: str) -> None:
        """Connect to the output (handshake); ``timeout`` in ms."""

    @abstractmethod
    def poll(self, timeout: float | None) -> bool:
        """True when a chunk is ready (``timeout`` in ms, None = forever)."""

    @abstractmethod
    def recv(self, timeout: float | None, latest: bool) -> tuple[int, np.ndarray, int]:
        """Return ``(index, data, timestamp_ns)``; StreamTimeout after ``timeout`` ms."""

    @abstractmethod
    def empty_queue(self) -> int:
        """Discard every pending chunk; return how many."""

    @abstractmethod
    def close(self) -> None:
        """Release sockets and mappings."""

    def stats(self) -> dict[str, int]:
        return {
            "received": self.received,
            "skipped": self.skipped,
            "dropped": self.dropped,
            "overruns": self.overruns,
            "last_index": self.last_index,
        }


class TransferModeRegistry:
    """Name -> (sender class, receiver class)."""

    def __init__(self) -> None:
        self._modes: dict[str, tuple[type[DataSender], type[DataReceiver]]] = {}

    def register(self, name: str, sender: type[DataSender], receiver: type[DataReceiver]) -> None:
        self._modes[name] = (sender, receiver)

    def get(self, name: str) -> tuple[type[DataSender], type[DataReceiver]]:
        try:
            return self._modes[name]
        except KeyError:
            raise ConfigError(f"transfermode: {name!r} is not one of {sorted(self._modes)}") from None

    def names(self) -> list[str]:
        return sorted(self._modes)

    def __contains__(self, name: object) -> bool:
        return name in self._modes


#: The registry used by OutputStream / InputStream.
transfermodes = TransferModeRegistry()
