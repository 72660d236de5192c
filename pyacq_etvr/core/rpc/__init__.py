"""Remote process control: RPC server/client, object proxies, process spawning and log forwarding.

pyacq's ``pyacq.core.rpc`` API (wire-compatible). Names load lazily so that ``import pyacq_etvr.core.rpc``
stays cheap (the Qt server imports Qt only when used).
"""

from __future__ import annotations

from pyacq_etvr._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "RPCServer": "pyacq_etvr.core.rpc.server",
    "start_background_server": "pyacq_etvr.core.rpc.server",
    "RPCClient": "pyacq_etvr.core.rpc.client",
    "mark_dead": "pyacq_etvr.core.rpc.client",
    "ObjectProxy": "pyacq_etvr.core.rpc.proxy",
    "Future": "pyacq_etvr.core.rpc.future",
    "RemoteCallException": "pyacq_etvr.core.rpc.future",
    "ProcessSpawner": "pyacq_etvr.core.rpc.spawner",
    "QtRPCServer": "pyacq_etvr.core.rpc.qt_server",
    "Serializer": "pyacq_etvr.core.rpc.serializer",
    "MsgpackSerializer": "pyacq_etvr.core.rpc.serializer",
    "JsonSerializer": "pyacq_etvr.core.rpc.serializer",
    "start_log_server": "pyacq_etvr.core.rpc.log",
    "get_logger_address": "pyacq_etvr.core.rpc.log",
    "set_logger_address": "pyacq_etvr.core.rpc.log",
    "LogServer": "pyacq_etvr.core.rpc.log",
    "LogSender": "pyacq_etvr.core.rpc.log",
    "RPCLogHandler": "pyacq_etvr.core.rpc.log",
    "set_host_name": "pyacq_etvr.core.rpc.log",
    "set_process_name": "pyacq_etvr.core.rpc.log",
    "set_thread_name": "pyacq_etvr.core.rpc.log",
    "log_exceptions": "pyacq_etvr.core.rpc.log",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
