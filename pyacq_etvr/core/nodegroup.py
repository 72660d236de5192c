"""NodeGroup: the collection of Nodes living in one (usually spawned) process."""

from __future__ import annotations

import atexit
import importlib
import logging
import threading
from typing import Any

from pyacq_etvr.core.errors import ConfigError, StateError
from pyacq_etvr.core.registry import default_registry

logger = logging.getLogger(__name__)


class NodeGroup:
    """Manages the Nodes of one process (pyacq's ``NodeGroup(host, manager)``).

    NodeGroups are created by a :class:`~pyacq_etvr.core.host.Host` in a new process (see
    :meth:`Manager.create_nodegroup <pyacq_etvr.core.manager.Manager.create_nodegroup>`); the caller talks
    to them through proxies. Nodes are created by class name (:meth:`create_node`) from the process's node
    registry, extended with :meth:`register_node_type_from_module`.

    Threading: methods run in the process's RPC server thread (the Qt GUI thread for ``qt=True``
    NodeGroups); a lock makes them safe to call from other threads too. When the process exits (normally,
    or because its parent died) every node is stopped and closed, so nothing (shared memory, threads,
    devices) is left behind.
    """

    def __init__(self, host: Any = None, manager: Any = None, name: str | None = None) -> None:
        self.host = host
        self.manager = manager
        self.name = name or "nodegroup"
        self._nodes: list[Any] = []
        self._lock = threading.RLock()
        # a strong reference on purpose: the group lives as long as its process, and its nodes must be closed
        # at exit even after the RPC server dropped its own references
        atexit.register(self.close_all_nodes)

    # --- node types ----------------------------------------------------------------------------------
    def register_node_type_from_module(self, modname: str, classname: str) -> None:
        """Import ``modname`` here and register its Node subclass ``classname`` for :meth:`create_node`."""
        try:
            module = importlib.import_module(modname)
        except ImportError as exc:
            raise ConfigError(f"register_node_type_from_module: cannot import {modname!r}: {exc}") from None
        try:
            cls = getattr(module, classname)
        except AttributeError:
            raise ConfigError(f"register_node_type_from_module: {modname!r} has no {classname!r}") from None
        default_registry.register(cls, classname)

    def list_node_types(self) -> list[str]:
        """Names of the node types :meth:`create_node` accepts."""
        return default_registry.names()

    # --- nodes ---------------------------------------------------------------------------------------
    def create_node(self, node_class: str, *args: Any, **kwds: Any) -> Any:
        """Create a Node of registered type ``node_class`` (``'module:Class'`` also works) and return it.

        Remote callers receive a proxy. Unknown types raise ConfigError listing the known ones.
        """
        if not isinstance(node_class, str):
            raise ConfigError(f"create_node: node_class must be a registered class name, not {node_class!r}")
        cls = default_registry.get(node_class)
        node = cls(*args, **kwds)
        with self._lock:
            self._nodes.append(node)
        logger.debug("NodeGroup %s: created %s", self.name, node)
        return node

    def list_nodes(self) -> list[Any]:
        """The nodes of this group, in creation order."""
        with self._lock:
            return list(self._nodes)

    def remove_node(self, node: Any) -> None:
        """Stop (if running) and close ``node``, and forget it."""
        with self._lock:
            for i, n in enumerate(self._nodes):
                if n is node:
                    del self._nodes[i]
                    break
            else:
                raise ConfigError(f"remove_node: {node!r} is not a node of NodeGroup {self.name!r}")
        self._shutdown_node(node)
        from pyacq_etvr.core.rpc.server import RPCServer

        server = RPCServer.get_server() or RPCServer.get_default_server()
        if server is not None:
            server.forget(node)

    def start_all_nodes(self) -> None:
        """Start every initialized (or stopped) node that is not running."""
        for node in self.list_nodes():
            if not node.running():
                node.start()

    def stop_all_nodes(self) -> None:
        """Stop every running node."""
        for node in self.list_nodes():
            if node.running():
                node.stop()

    def any_node_running(self) -> bool:
        return any(node.running() for node in self.list_nodes())

    def close_all_nodes(self) -> None:
        """Stop and close every node (errors are logged, every node is attempted)."""
        with self._lock:
            nodes, self._nodes = self._nodes, []
        for node in reversed(nodes):
            self._shutdown_node(node)

    def _shutdown_node(self, node: Any) -> None:
        try:
            if node.running():
                node.stop()
            node.close()
        except (StateError, Exception):
            logger.exception("NodeGroup %s: could not close %r", self.name, node)

    def close(self) -> None:
        """Close all nodes, then ask this process's server to exit (after replying)."""
        self.close_all_nodes()
        from pyacq_etvr.core.rpc.server import RPCServer

        server = RPCServer.get_server()
        if server is not None:
            server.close()

    def getpid(self) -> int:
        import os

        return os.getpid()

    def __repr__(self) -> str:
        return f"<NodeGroup {self.name!r} with {len(self._nodes)} nodes>"
