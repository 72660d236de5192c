"""OutputStream: the sending end of a stream (pyacq's API, typed and checked)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import numpy as np

from ..errors import ConfigError, SpecMismatchError, StreamError
from ..spec import SPEC_KEYS, StreamSpec, dtype_from_json
from .channel import PubChannel
from .transfermode import DataSender, transfermodes

#: Defaults of ``OutputStream.configure()`` (pyacq's ``default_stream``).
DEFAULT_PARAMS: dict[str, Any] = {
    "protocol": "tcp",
    "interface": "127.0.0.1",
    "port": "*",
    "transfermode": "plaindata",
    "streamtype": "analogsignal",
    "dtype": "float32",
    "shape": (-1, 1),
    "timeaxis": 0,
    "compression": "",
    "scale": None,
    "offset": None,
    "units": "",
    "sample_rate": None,
    "sndhwm": 1000,
}


def stream_label(node: Any, name: str | None, kind: str) -> str:
    """Human name of a stream for error messages: ``'NodeName.stream'``."""
    if node is not None:
        node_name = getattr(node, "name", "") or type(node).__name__
        return f"{node_name}.{name or kind}"
    return name or f"<{kind}>"


class OutputStream:
    """Sending end of a stream.

    Args:
        spec: fixed stream parameters (pyacq keyword form, e.g. from a node's ``_output_specs``). This dict is
            ``self.spec``: a node may fill fields in ``_configure`` (``self.output.spec['shape'] = (-1, 4)``)
            before the user configures the output; ``configure()`` refuses to override a field set here.
        node: owning Node (its ``after_output_configure(name)`` hook is called), or None.
        name: stream name.

    ``configure(**kw)`` keys: ``protocol`` ('tcp', 'ipc', 'inproc'), ``interface`` (bind address, default
    '127.0.0.1'), ``port`` ('*' = any), ``transfermode`` ('plaindata' or 'sharedmem'), the spec keys
    (``streamtype``, ``dtype``, ``shape``, ``timeaxis``, ``compression``, ``scale``, ``offset``, ``units``,
    ``sample_rate``), ``sndhwm`` (chunks queued per input before ZeroMQ drops, default 1000) and the
    transfer mode's own keys (sharedmem: ``buffer_size``, ``double``, ``axisorder``, ``fill``, ``chunk_slots``).
    Unknown keys raise ConfigError. Not thread-safe: use one OutputStream from one thread at a time.
    """

    def __init__(self, spec: dict[str, Any] | None = None, node: Any = None, name: str | None = None) -> None:
        self.spec: dict[str, Any] = dict(spec or {})
        self.node = node
        self.name = name
        self.params: dict[str, Any] = {}
        self.configured = False
        self._channel: PubChannel | None = None
        self._sender: DataSender | None = None
        self._index = 0

    @property
    def label(self) -> str:
        return stream_label(self.node, self.name, "output")

    def configure(self, **kwargs: Any) -> None:
        """Configure (or reconfigure) the stream and bind its socket. See the class doc for keys."""
        for key, value in kwargs.items():
            if key in self.spec and not _same(key, self.spec[key], value):
                raise ConfigError(
                    f"{self.label}: cannot configure {key}={value!r}; fixed by the stream spec to {self.spec[key]!r}"
                )
        params = dict(DEFAULT_PARAMS)
        params.update(self.spec)
        params.update(kwargs)
        sender_cls, _ = transfermodes.get(params["transfermode"])
        allowed = set(DEFAULT_PARAMS) | set(SPEC_KEYS) | set(sender_cls.extra_keys) | {"buffer_size"}
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise ConfigError(f"{self.label}: unknown stream parameter(s) {unknown}")
        for key, default in sender_cls.extra_keys.items():
            params.setdefault(key, default)
        spec = StreamSpec.from_dict(params)
        if spec.dtype is None or spec.shape is None:
            raise ConfigError(f"{self.label}: dtype and shape must be given")
        self.close()
        channel = PubChannel(params["protocol"], params["interface"], params["port"], int(params["sndhwm"]))
        try:
            out_params = {k: _plain(v) for k, v in params.items() if k not in SPEC_KEYS}
            out_params.update(spec.to_dict())
            out_params.update(url=channel.url, name=self.label, stream_id=uuid.uuid4().hex)
            sender = sender_cls(channel, out_params, spec)
            out_params.update(sender.extra_params())
        except BaseException:
            channel.close()
            raise
        self._channel, self._sender, self.params = channel, sender, out_params
        self._stream_spec = spec
        self._dtype = spec.dtype
        self._tail = spec.shape[1:]
        self._n0 = spec.shape[0]
        self._index = 0
        self.configured = True
        if self.node is not None:
            self.node.after_output_configure(self.name)

    @property
    def stream_spec(self) -> StreamSpec:
        """The configured :class:`StreamSpec`."""
        if not self.configured:
            raise StreamError(f"{self.label} is not configured")
        return self._stream_spec

    @property
    def last_index(self) -> int:
        """Index sent with the last chunk (pyacq convention: last sample + 1)."""
        return self._index

    def send(self, data: np.ndarray, index: int | None = None, timestamp_ns: int | None = None) -> None:
        """Send a chunk.

        Args:
            data: array of the stream's dtype, shaped like the stream's shape (axis 0 may vary if it is -1).
                A non-contiguous chunk (e.g. transposed) is copied once; a contiguous one never is.
            index: absolute index of the last sample + 1; default: previous index + ``len(data)``.
            timestamp_ns: when the data was acquired, in ``time.monotonic_ns()`` units (default: now).

        Raises SpecMismatchError (wrong type, dtype or shape), StreamError (not configured / closed).
        """
        sender = self._sender
        if sender is None:
            raise StreamError(f"{self.label}: send() before configure() or after close()")
        if type(data) is not np.ndarray and not isinstance(data, np.ndarray):
            raise SpecMismatchError(f"{self.label}: send() expects a numpy array, got {type(data).__name__}")
        dtype = data.dtype
        if dtype is not self._dtype and dtype != self._dtype:
            raise SpecMismatchError(f"{self.label}: chunk dtype {dtype} differs from stream dtype {self._dtype}")
        shape = data.shape
        if not shape or shape[1:] != self._tail or (self._n0 >= 0 and shape[0] != self._n0):
            raise SpecMismatchError(
                f"{self.label}: chunk shape {shape} does not match stream shape {(self._n0, *self._tail)}"
            )
        if not data.flags.c_contiguous:
            data = np.ascontiguousarray(data)
        if index is None:
            index = self._index + shape[0]
        self._index = index
        sender.send(data, index, time.monotonic_ns() if timestamp_ns is None else timestamp_ns)

    def wait_for_subscribers(self, n: int = 1, timeout: float = 10000.0) -> int:
        """Block until ``n`` inputs are connected (``timeout`` in ms, StreamTimeout after it)."""
        if self._channel is None:
            raise StreamError(f"{self.label} is not configured")
        return self._channel.wait_for_subscribers(n, timeout)

    def close(self) -> None:
        """Close the socket (and, for sharedmem, unlink the shared memory). Idempotent."""
        sender, channel = self._sender, self._channel
        self._sender = self._channel = None
        self.configured = False
        if sender is not None:
            sender.close()
        if channel is not None:
            channel.close()

    def __repr__(self) -> str:
        state = self.params.get("url", "not configured") if self.configured else "not configured"
        return f"<OutputStream {self.label} {state}>"


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars / arrays / tuples turned into plain Python (params travel over RPC)."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _same(key: str, a: Any, b: Any) -> bool:
    """True if two values of configure() key ``key`` mean the same thing."""
    try:
        if key == "dtype":
            return dtype_from_json(a) == dtype_from_json(b)
        if key in ("shape", "axisorder") and a is not None and b is not None:
            return tuple(a) == tuple(b)
    except (ConfigError, TypeError):
        return False
    return bool(a == b)
