"""Serializers for the RPC wire format (pyacq-compatible): msgpack (default) and json.

Plain types (int, float, str, bool, None, list, dict) map to the native types of each format. Other types
travel as dicts tagged with the key ``'___type_name___'``:

* ``ndarray``: ``{'data': bytes, 'dtype': str | descr-list, 'shape': [...]}``; structured dtypes are sent as
  ``dtype.descr``. Decoded arrays are zero-copy, **read-only** views of the received bytes (copy to modify).
* ``npscalar``: a numpy scalar, same fields as an ndarray without shape (comes back with its dtype).
* ``datetime`` / ``date``: ISO-8601 strings. ``bytes`` (json only, base64; msgpack sends bytes natively).
* ``tuple`` (msgpack only; json turns tuples into lists like pyacq does).
* ``proxy``: an object reference ``{'rpc_addr', 'obj_id', 'ref_id', 'type_str', 'attributes'}``.

Anything else is sent by proxy when the sending thread (or process) runs an :class:`RPCServer` and the
caller allows it (``auto_proxy``), otherwise encoding fails with ``TypeError``.

Decoding never calls ``eval``, ``exec`` or pickle. Received dtypes are parsed by ``numpy.dtype`` from a
validated description; object dtypes are refused (an object array built from bytes would dereference
arbitrary pointers), sizes must match the data exactly, and malformed input raises
:class:`~pyacq_etvr.core.errors.RPCProtocolError`.
"""

from __future__ import annotations

import base64
import datetime
import json
import sys
from typing import TYPE_CHECKING, Any

import msgpack

from pyacq_etvr.core.errors import RPCProtocolError
from pyacq_etvr.core.rpc.proxy import ObjectProxy

if TYPE_CHECKING:
    from pyacq_etvr.core.rpc.server import RPCServer

TYPE_KEY = "___type_name___"

#: Largest number of array elements / dimensions accepted from the wire.
MAX_NDIM = 32
MAX_DESCR_FIELDS = 1024
MAX_DESCR_DEPTH = 8


def _np():
    import numpy

    return numpy


def _numpy_loaded():
    """Return numpy if this process already imported it (an ndarray cannot exist otherwise)."""
    return sys.modules.get("numpy")


def _check_descr(descr: Any, depth: int = 0) -> Any:
    """Validate a structured dtype description (``dtype.descr``) and return it as a list of tuples."""
    if depth > MAX_DESCR_DEPTH:
        raise RPCProtocolError("dtype description nested too deeply")
    if isinstance(descr, str):
        return descr
    if not isinstance(descr, (list, tuple)) or not 0 < len(descr) <= MAX_DESCR_FIELDS:
        raise RPCProtocolError(f"bad dtype description {descr!r:.80}")
    out = []
    for field in descr:
        if not isinstance(field, (list, tuple)) or len(field) not in (2, 3):
            raise RPCProtocolError(f"bad dtype field {field!r:.80}")
        name = field[0]
        if isinstance(name, (list, tuple)):  # (title, name)
            if len(name) != 2 or not all(isinstance(n, str) for n in name):
                raise RPCProtocolError(f"bad dtype field name {name!r:.80}")
            name = tuple(name)
        elif not isinstance(name, str):
            raise RPCProtocolError(f"bad dtype field name {name!r:.80}")
        fmt = _check_descr(field[1], depth + 1)
        if len(field) == 3:
            shape = field[2]
            shape = (shape,) if isinstance(shape, int) else shape
            if not isinstance(shape, (list, tuple)) or not all(isinstance(s, int) and 0 <= s < 2**31 for s in shape):
                raise RPCProtocolError(f"bad dtype field shape {field[2]!r:.80}")
            out.append((name, fmt, tuple(shape)))
        else:
            out.append((name, fmt))
    return out


def decode_dtype(desc: Any):
    """Build a numpy dtype from a wire description (string or descr list); refuse object dtypes."""
    np = _np()
    if isinstance(desc, str):
        if len(desc) > 64:
            raise RPCProtocolError("dtype string too long")
        spec: Any = desc
    else:
        spec = _check_descr(desc)
    try:
        dtype = np.dtype(spec)
    except (TypeError, ValueError, SyntaxError) as exc:
        raise RPCProtocolError(f"invalid dtype {desc!r:.80}: {exc}") from None
    if dtype.hasobject:
        raise RPCProtocolError(f"object dtypes are refused on the wire: {desc!r:.80}")
    return dtype


def encode_dtype(dtype) -> Any:
    """Wire description of a dtype: its string for simple dtypes, ``dtype.descr`` for structured ones."""
    if dtype.hasobject:
        raise TypeError("arrays of Python objects cannot be serialized")
    if dtype.fields is None and dtype.subdtype is None:
        return dtype.str
    return [list(f) for f in dtype.descr]


def decode_array(data: Any, dtype_desc: Any, shape: Any):
    """Rebuild an ndarray (zero-copy, read-only) from its wire form; validate sizes."""
    np = _np()
    dtype = decode_dtype(dtype_desc)
    if not isinstance(shape, (list, tuple)) or len(shape) > MAX_NDIM:
        raise RPCProtocolError(f"bad array shape {shape!r:.80}")
    count = 1
    for s in shape:
        if not isinstance(s, int) or isinstance(s, bool) or s < 0:
            raise RPCProtocolError(f"bad array shape {shape!r:.80}")
        count *= s
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise RPCProtocolError("array data must be bytes")
    if count * dtype.itemsize != len(data):
        raise RPCProtocolError(
            f"array data has {len(data)} bytes, shape {shape} x {dtype} needs {count * dtype.itemsize}"
        )
    if count == 0:
        return np.empty(tuple(shape), dtype=dtype)
    return np.frombuffer(data, dtype=dtype).reshape(shape)


class Serializer:
    """Base serializer: encodes the extra types into tagged dicts and back.

    ``server`` (the :class:`RPCServer` whose thread decodes) turns references to its own objects back into
    the objects; other references become :class:`ObjectProxy` instances.
    """

    type: str = ""
    #: whether the format carries bytes natively
    native_bytes = True

    def __init__(self, server: RPCServer | None = None) -> None:
        self.server = server

    # --- encoding -------------------------------------------------------------------------------------
    def dumps(self, obj: Any, auto_proxy: bool = True) -> bytes:
        raise NotImplementedError

    def loads(self, data: bytes | memoryview) -> Any:
        raise NotImplementedError

    def encode(self, obj: Any, auto_proxy: bool) -> Any:
        """Convert a non-native object into a tagged dict (or a native value)."""
        if isinstance(obj, ObjectProxy):
            return obj._wire_dict()
        np = _numpy_loaded()
        if np is not None:
            if isinstance(obj, np.ndarray):
                return self._encode_array(obj)
            if isinstance(obj, np.generic):
                return self._encode_scalar(obj)
        if isinstance(obj, tuple):
            return {TYPE_KEY: "tuple", "data": list(obj)}
        if isinstance(obj, datetime.datetime):
            return {TYPE_KEY: "datetime", "data": obj.isoformat()}
        if isinstance(obj, datetime.date):
            return {TYPE_KEY: "date", "data": obj.isoformat()}
        if isinstance(obj, (bytes, bytearray, memoryview)):
            if self.native_bytes:
                return bytes(obj)
            return {TYPE_KEY: "bytes", "data": base64.b64encode(obj).decode()}
        # exact-type checks are strict in msgpack: subclasses of native types land here
        for base in (bool, int, float, str):
            if isinstance(obj, base):
                return base(obj)
        if auto_proxy and isinstance(obj, (dict, list)):  # a subclass (OrderedDict...): keep its behaviour
            proxy = self._proxy_for(obj)
            if proxy is not None:
                return proxy._wire_dict()
        if isinstance(obj, dict):
            return dict(obj)
        if isinstance(obj, (list, set, frozenset)):
            return list(obj)
        if auto_proxy:
            proxy = self._proxy_for(obj)
            if proxy is not None:
                return proxy._wire_dict()
        raise TypeError(f"cannot serialize {type(obj).__module__}.{type(obj).__qualname__} by value")

    def _proxy_for(self, obj: Any):
        from pyacq_etvr.core.rpc.server import RPCServer

        server = self.server or RPCServer.get_server() or RPCServer.get_default_server()
        if server is None:
            return None
        return server.get_proxy(obj)

    def _bytes(self, data: Any) -> Any:
        if self.native_bytes:
            return data
        return base64.b64encode(data).decode()

    def _encode_array(self, arr) -> dict:
        desc = encode_dtype(arr.dtype)
        if not arr.flags.c_contiguous:
            arr = arr.copy(order="C")
        data = arr.data.cast("B") if arr.size else b""
        return {TYPE_KEY: "ndarray", "data": self._bytes(data), "dtype": desc, "shape": list(arr.shape)}

    def _encode_scalar(self, val) -> dict:
        desc = encode_dtype(val.dtype)
        return {TYPE_KEY: "npscalar", "data": self._bytes(val.tobytes()), "dtype": desc}

    # --- decoding -------------------------------------------------------------------------------------
    def _get_bytes(self, data: Any) -> bytes:
        if isinstance(data, (bytes, bytearray)):
            return data
        if not self.native_bytes and isinstance(data, str):
            try:
                return base64.b64decode(data, validate=True)
            except ValueError as exc:
                raise RPCProtocolError(f"bad base64 data: {exc}") from None
        raise RPCProtocolError(f"expected bytes, got {type(data).__name__}")

    def decode(self, dct: dict) -> Any:
        """Object hook: turn a tagged dict back into its object."""
        tname = dct.get(TYPE_KEY)
        if tname is None:
            return dct
        try:
            if tname == "proxy":  # the most frequent tag (every call carries one)
                return self._decode_proxy(dct)
            if tname == "tuple":
                return tuple(dct["data"])
            if tname == "ndarray":
                return decode_array(self._get_bytes(dct["data"]), dct["dtype"], dct["shape"])
            if tname == "npscalar":
                arr = decode_array(self._get_bytes(dct["data"]), dct["dtype"], [])
                return arr[()]
            if tname == "proxy":
                return self._decode_proxy(dct)
            if tname == "datetime":
                return datetime.datetime.fromisoformat(dct["data"])
            if tname == "date":
                return datetime.date.fromisoformat(dct["data"])
            if tname == "bytes":
                return self._get_bytes(dct["data"])
            if tname == "none":
                return None
        except RPCProtocolError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise RPCProtocolError(f"malformed {tname!r:.40} value: {exc!r:.200}") from None
        raise RPCProtocolError(f"unknown type tag {tname!r:.40}")

    def _decode_proxy(self, dct: dict) -> Any:
        addr, obj_id, ref_id = dct["rpc_addr"], dct["obj_id"], dct["ref_id"]
        attrs = dct.get("attributes") or ()
        if type(addr) is not str or type(obj_id) is not int or type(ref_id) is not int:
            raise RPCProtocolError("malformed proxy reference")
        if type(attrs) is not list and type(attrs) is not tuple:
            raise RPCProtocolError("malformed proxy attributes")
        for a in attrs:
            if type(a) is not str:
                raise RPCProtocolError("malformed proxy attributes")
        server = self.server
        if server is not None and addr == server.address:
            return server.unwrap_ref(obj_id, ref_id, attrs)
        type_str = dct.get("type_str", "")
        return ObjectProxy(addr, obj_id, ref_id, type_str if isinstance(type_str, str) else "", tuple(attrs))


class MsgpackSerializer(Serializer):
    """msgpack: compact, bytes and ndarrays without base64; tuples come back as tuples."""

    type = "msgpack"
    native_bytes = True

    def __init__(self, server: RPCServer | None = None) -> None:
        super().__init__(server)
        self._packer_auto = msgpack.Packer(default=lambda o: self.encode(o, True), strict_types=True)
        self._packer_value = msgpack.Packer(default=lambda o: self.encode(o, False), strict_types=True)

    def dumps(self, obj: Any, auto_proxy: bool = True) -> bytes:
        packer = self._packer_auto if auto_proxy else self._packer_value
        try:
            return packer.pack(obj)
        except BaseException:
            packer.reset()
            raise

    def loads(self, data: bytes | memoryview) -> Any:
        try:
            return msgpack.unpackb(data, object_hook=self.decode, raw=False, strict_map_key=False)
        except RPCProtocolError:
            raise
        except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as exc:
            raise RPCProtocolError(f"undecodable msgpack message: {exc!r:.200}") from None


class JsonSerializer(Serializer):
    """json: universal; bytes and arrays are base64-encoded; tuples become lists."""

    type = "json"
    native_bytes = False

    def encode(self, obj: Any, auto_proxy: bool) -> Any:
        if isinstance(obj, tuple):
            return list(obj)
        return super().encode(obj, auto_proxy)

    def dumps(self, obj: Any, auto_proxy: bool = True) -> bytes:
        return json.dumps(obj, default=lambda o: self.encode(o, auto_proxy), allow_nan=True).encode()

    def loads(self, data: bytes | memoryview) -> Any:
        try:
            return json.loads(bytes(data), object_hook=self.decode)
        except RPCProtocolError:
            raise
        except (ValueError, TypeError, RecursionError) as exc:
            raise RPCProtocolError(f"undecodable json message: {exc!r:.200}") from None


all_serializers: dict[str, type[Serializer]] = {"msgpack": MsgpackSerializer, "json": JsonSerializer}
