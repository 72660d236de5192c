"""ObjectProxy: a local stand-in for an object owned by an :class:`RPCServer` in another thread/process/host."""

from __future__ import annotations

import threading
from typing import Any

#: proxy options and their defaults (see :meth:`ObjectProxy._set_proxy_options`)
DEFAULT_PROXY_OPTIONS: dict[str, Any] = {
    "sync": "sync",
    "return_type": "auto",
    "timeout": 10.0,
    "defer_getattr": False,
    "auto_delete": False,
    "auto_proxy": True,
}
_SYNC_VALUES = ("sync", "async", "off")
_RETURN_TYPES = ("auto", "proxy", "value")


def _check_option(name: str, value: Any) -> None:
    if name not in DEFAULT_PROXY_OPTIONS:
        raise TypeError(f"unknown proxy option {name!r}; choose from {', '.join(DEFAULT_PROXY_OPTIONS)}")
    if value is None:
        return
    if name == "sync" and value not in _SYNC_VALUES:
        raise ValueError(f"_sync must be one of {_SYNC_VALUES}, not {value!r}")
    if name == "return_type" and value not in _RETURN_TYPES:
        raise ValueError(f"_return_type must be one of {_RETURN_TYPES}, not {value!r}")
    if name == "timeout" and not (isinstance(value, (int, float)) and value > 0):
        raise ValueError(f"_timeout must be a positive number of seconds, not {value!r}")


class ObjectProxy:
    """Proxy to an object stored by a remote :class:`RPCServer`.

    Attribute access, calls, item access and operators are forwarded to the remote object. Calls accept the
    special keyword arguments ``_sync`` (``'sync'`` blocks and returns the value, ``'async'`` returns a
    :class:`Future`, ``'off'`` returns None at once and asks for no reply), ``_return_type`` (``'auto'``:
    by value when serializable, else by proxy; ``'proxy'``; ``'value'``) and ``_timeout`` (seconds).
    Defaults per proxy come from :meth:`_set_proxy_options`.

    A proxy may be used from any thread (each thread gets its own :class:`RPCClient`) and passed to other
    processes, where it still refers to the same object. ``repr()`` and ``hash()`` are local, and so is
    ``proxy == proxy`` (equal when both reference the same remote object and attributes); comparing with a
    non-proxy and the other operators are forwarded. Calls into a process that died raise
    :class:`~pyacq_etvr.core.errors.DeadProcessError`.
    """

    __slots__ = ("_rpc_addr", "_obj_id", "_ref_id", "_type_str", "_attributes", "_proxy_options", "_cache", "_wire")

    def __init__(
        self,
        rpc_addr: str,
        obj_id: int,
        ref_id: int,
        type_str: str = "",
        attributes: tuple[str, ...] = (),
        **kwds: Any,
    ) -> None:
        object.__setattr__(self, "_rpc_addr", rpc_addr)
        object.__setattr__(self, "_obj_id", obj_id)
        object.__setattr__(self, "_ref_id", ref_id)
        object.__setattr__(self, "_type_str", type_str)
        object.__setattr__(self, "_attributes", tuple(attributes))
        object.__setattr__(self, "_proxy_options", {})
        object.__setattr__(self, "_cache", None)
        object.__setattr__(self, "_wire", None)
        if kwds:
            self._set_proxy_options(**kwds)

    # --- options ---------------------------------------------------------------------------------------
    def _set_proxy_options(self, **kwds: Any) -> ObjectProxy:
        """Change this proxy's defaults (None resets one). Returns the proxy.

        ``sync`` ('sync'), ``return_type`` ('auto'), ``timeout`` (10 s), ``defer_getattr`` (False: attribute
        access asks the server at once; True: returns a derived proxy without a round trip),
        ``auto_delete`` (False: True releases the server's reference when this proxy is garbage collected),
        ``auto_proxy`` (True: unserializable call arguments are sent by proxy).
        """
        for k, v in kwds.items():
            _check_option(k, v)
            if v is None:
                self._proxy_options.pop(k, None)
            else:
                self._proxy_options[k] = v
        return self

    def _get_option(self, name: str) -> Any:
        return self._proxy_options.get(name, DEFAULT_PROXY_OPTIONS[name])

    # --- plumbing --------------------------------------------------------------------------------------
    def _wire_dict(self) -> dict[str, Any]:
        """The reference as sent on the wire (cached; only plain types, so no encoder hook is needed)."""
        wire = self._wire
        if wire is None:
            wire = {
                "___type_name___": "proxy",
                "rpc_addr": self._rpc_addr,
                "obj_id": self._obj_id,
                "ref_id": self._ref_id,
                "type_str": self._type_str,
                "attributes": list(self._attributes),
            }
            object.__setattr__(self, "_wire", wire)
        return wire

    def _client(self):
        """The RPCClient of the calling thread for this proxy's server (None if the server runs here)."""
        cache = self._cache
        tid = threading.get_ident()
        if cache is not None and cache[0] == tid and not cache[1].closed:
            return cache[1]
        from pyacq_etvr.core.rpc.client import RPCClient

        client = RPCClient.get_client(self._rpc_addr)
        if client is not None:
            object.__setattr__(self, "_cache", (tid, client))
        return client

    def _local_object(self) -> Any:
        from pyacq_etvr.core.rpc.server import RPCServer

        server = RPCServer.get_server()
        return server.unwrap_proxy(self)

    def _derive(self, attr: str) -> ObjectProxy:
        p = ObjectProxy(self._rpc_addr, self._obj_id, self._ref_id, self._type_str, (*self._attributes, attr))
        p._proxy_options.update(self._proxy_options)
        return p

    def _send(self, action: str, opts: dict, sync: str | None = None, return_type: str | None = None, timeout=None):
        client = self._client()
        sync = sync or self._get_option("sync")
        return_type = return_type or self._get_option("return_type")
        timeout = timeout or self._get_option("timeout")
        return client.send(action, opts, return_type=return_type, sync=sync, timeout=timeout)

    # --- public API ------------------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        opts = self._proxy_options
        sync = opts.get("sync", "sync")
        return_type = opts.get("return_type", "auto")
        timeout = opts.get("timeout", 10.0)
        if kwargs and ("_sync" in kwargs or "_return_type" in kwargs or "_timeout" in kwargs):
            for name in ("sync", "return_type", "timeout"):
                val = kwargs.pop("_" + name, None)
                if val is not None:
                    _check_option(name, val)
                    if name == "sync":
                        sync = val
                    elif name == "return_type":
                        return_type = val
                    else:
                        timeout = val
        client = self._client()
        if client is None:  # the object lives in this thread: call it directly
            return self._local_object()(*args, **kwargs)
        kw = {"sync": sync, "return_type": return_type, "timeout": timeout, "auto_proxy": opts.get("auto_proxy", True)}
        return client.call_obj(self, args, kwargs, **kw)

    def __getattr__(self, attr: str) -> Any:
        if (attr.startswith("__") and attr.endswith("__")) or attr in ObjectProxy.__slots__:
            raise AttributeError(attr)
        if self._get_option("defer_getattr"):
            return self._derive(attr)
        client = self._client()
        if client is None:
            return getattr(self._local_object(), attr)
        return client.get_obj(
            self._derive(attr),
            return_type=self._get_option("return_type"),
            timeout=self._get_option("timeout"),
        )

    def __setattr__(self, attr: str, value: Any) -> None:
        if attr in ObjectProxy.__slots__:
            object.__setattr__(self, attr, value)
            return
        self._special("__setattr__")(attr, value, _sync=self._get_option("sync"))

    def _get_value(self) -> Any:
        """Return the proxied object by value (raises RemoteCallException if it is not serializable)."""
        client = self._client()
        if client is None:
            return self._local_object()
        return client.get_obj(self, return_type="value", timeout=self._get_option("timeout"))

    def _delete(self, sync: str = "sync", **kwds: Any) -> Any:
        """Ask the server to release the reference held by this proxy (other proxies to it break too)."""
        client = self._client()
        if client is None:
            return None
        return client.delete(self, sync=sync, **kwds)

    def _special(self, name: str) -> ObjectProxy:
        p = self._derive(name)
        p._proxy_options["sync"] = "sync"
        return p

    def __repr__(self) -> str:
        attrs = "." + ".".join(self._attributes) if self._attributes else ""
        return f"<ObjectProxy for {self._rpc_addr}[{self._ref_id}]{attrs} {self._type_str}>"

    __str__ = __repr__

    def __hash__(self) -> int:
        return hash((self._rpc_addr, self._obj_id, self._attributes))

    def __eq__(self, other: Any) -> Any:
        if isinstance(other, ObjectProxy):  # references compare locally: containers of proxies need no network
            return (self._rpc_addr, self._obj_id, self._attributes) == (
                other._rpc_addr,
                other._obj_id,
                other._attributes,
            )
        return self._special("__eq__")(other)

    def __ne__(self, other: Any) -> Any:
        if isinstance(other, ObjectProxy):
            return not self.__eq__(other)
        return self._special("__ne__")(other)

    def __bool__(self) -> bool:
        return True

    def __del__(self) -> None:
        try:
            if self._proxy_options.get("auto_delete") and not self._attributes:
                cache = self._cache
                if cache is not None:
                    cache[1]._queue_delete(self._obj_id, self._ref_id)
        except Exception:
            pass


def _make_forwarder(name: str):
    def method(self: ObjectProxy, *args: Any, **kwargs: Any) -> Any:
        return self._special(name)(*args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"Forward ``{name}`` to the remote object."
    return method


for _name in (
    "__getitem__ __setitem__ __delitem__ __len__ __contains__ __lt__ __le__ __gt__ __ge__ "
    "__add__ __sub__ __mul__ __truediv__ __floordiv__ __mod__ __pow__ __matmul__ __and__ __or__ __xor__ "
    "__lshift__ __rshift__ __radd__ __rsub__ __rmul__ __rtruediv__ __rfloordiv__ __rmod__ __rpow__ "
    "__rand__ __ror__ __rxor__ __neg__ __pos__ __abs__ __invert__"
).split():
    setattr(ObjectProxy, _name, _make_forwarder(_name))
del _name
