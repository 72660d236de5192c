"""Streams: OutputStream / InputStream over ZeroMQ (``plaindata``) or a shared-memory ring (``sharedmem``).

See :mod:`.channel` for the connection handshake, :mod:`.plaindata` and :mod:`.sharedmem` for the transfer
modes, :mod:`.ringbuffer` for :class:`RingBuffer` and :mod:`.shm` for the shared-memory segments
(:func:`cleanup_stale_segments` removes the segments of dead writers).
"""

from __future__ import annotations

from .inputstream import InputStream
from .outputstream import DEFAULT_PARAMS, OutputStream
from .plaindata import PlainDataReceiver, PlainDataSender
from .ringbuffer import RingBuffer
from .sharedmem import SharedMemReceiver, SharedMemSender
from .shm import cleanup_stale_segments, segment_owner_pid
from .transfermode import DataReceiver, DataSender, TransferModeRegistry, transfermodes

transfermodes.register("plaindata", PlainDataSender, PlainDataReceiver)
transfermodes.register("sharedmem", SharedMemSender, SharedMemReceiver)

#: pyacq name of the transfer mode registry.
all_transfermodes = transfermodes

__all__ = [
    "DEFAULT_PARAMS",
    "DataReceiver",
    "DataSender",
    "InputStream",
    "OutputStream",
    "PlainDataReceiver",
    "PlainDataSender",
    "RingBuffer",
    "SharedMemReceiver",
    "SharedMemSender",
    "TransferModeRegistry",
    "all_transfermodes",
    "cleanup_stale_segments",
    "segment_owner_pid",
    "transfermodes",
]
