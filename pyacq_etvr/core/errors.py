"""Typed errors raised by pyacq_etvr. Every user-facing failure is one of these (never a bare assert)."""

from __future__ import annotations


class PyacqError(Exception):
    """Base class of every pyacq_etvr error."""


class StateError(PyacqError, RuntimeError):
    """A lifecycle method was called in the wrong state (e.g. ``start()`` before ``initialize()``)."""


class ConfigError(PyacqError, ValueError):
    """A configuration value is unknown, of the wrong type or out of range. The message names the key."""


class StreamError(PyacqError):
    """Base class of stream errors."""


class SpecMismatchError(StreamError, ValueError):
    """Two streams, or a chunk and its stream, disagree on a spec field (dtype, shape, ...).

    The message names both ends and the field that differs.
    """


class StreamTimeout(StreamError, TimeoutError):
    """No chunk arrived before the deadline."""


class OverrunError(StreamError):
    """A reader fell behind a ring buffer and the data it asked for was overwritten."""


class StreamClosedError(StreamError):
    """The stream was closed (locally, or its peer went away)."""


class RemoteError(PyacqError):
    """Base class of RPC / process-management errors."""


class DeadProcessError(RemoteError, ConnectionError):
    """The remote process that owns an object has died; calls into it fail at once."""


class ImageError(PyacqError, ValueError):
    """An image handed to an image-processing function is unusable (not an array, empty, wrong dtype,
    wrong number of dimensions or channels). The message says what was expected."""


class RPCProtocolError(RemoteError, ValueError):
    """A malformed RPC message: wrong frame count, undecodable payload, unknown action or type tag."""


class RPCTimeoutError(RemoteError, TimeoutError):
    """An RPC request got no answer before its deadline (the remote process may be busy or stuck)."""


class SpawnError(RemoteError):
    """A child process failed to start or did not report readiness before its deadline.

    The message carries the child's traceback or its last stderr lines.
    """


class SecurityError(RemoteError, PermissionError):
    """A server would be reachable from the network without authentication (no CURVE keys), or keys are bad."""


class NotAvailableError(StreamError, IndexError):
    """The requested samples are not in a ring buffer yet (asked beyond the last written index)."""
