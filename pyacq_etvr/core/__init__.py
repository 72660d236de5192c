"""Core of pyacq_etvr: nodes, streams, RPC and process management (pyacq's ``pyacq.core``).

Like the package root, names are re-exported lazily so that importing a sub-module stays cheap.
"""

from __future__ import annotations

from pyacq_etvr._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "Node": "pyacq_etvr.core.node",
    "NodeState": "pyacq_etvr.core.node",
    "register_node_type": "pyacq_etvr.core.registry",
    "StreamSpec": "pyacq_etvr.core.spec",
    "OutputStream": "pyacq_etvr.core.stream",
    "InputStream": "pyacq_etvr.core.stream",
    "RingBuffer": "pyacq_etvr.core.stream",
    "ThreadPollInput": "pyacq_etvr.core.poller",
    "StreamConverter": "pyacq_etvr.core.tools",
    "ChannelSplitter": "pyacq_etvr.core.tools",
    "StreamMonitor": "pyacq_etvr.core.tools",
    "create_manager": "pyacq_etvr.core.manager",
    "Manager": "pyacq_etvr.core.manager",
    "NodeGroup": "pyacq_etvr.core.nodegroup",
    "Host": "pyacq_etvr.core.host",
    "RPCServer": "pyacq_etvr.core.rpc",
    "RPCClient": "pyacq_etvr.core.rpc",
    "ObjectProxy": "pyacq_etvr.core.rpc",
    "ProcessSpawner": "pyacq_etvr.core.rpc",
    "RemoteCallException": "pyacq_etvr.core.rpc",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
