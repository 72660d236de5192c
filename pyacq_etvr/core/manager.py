"""Manager: central point of control for hosts and NodeGroups, and :func:`create_manager`."""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from pyacq_etvr.core.errors import ConfigError, DeadProcessError

logger = logging.getLogger(__name__)


class Manager:
    """Connects to hosts, creates NodeGroups on them, watches them and closes everything at the end.

    Create it with :func:`create_manager`. In ``'rpc'`` mode it lives in its own process and the caller
    holds a proxy (published there as ``'manager'``, at ``manager._rpc_addr``, so any RPC client — even a
    non-Python one — can drive it).

    NodeGroup deaths (SIGKILL, segfault, uncaught error) are reported by their Host at once: the Manager logs
    an error, :meth:`list_nodegroups` ``(status=True)`` shows ``alive=False`` with the exit code, callbacks
    registered with :meth:`on_nodegroup_died` are called with ``(name, exitcode)``, and calls through proxies
    into the dead process raise :class:`~pyacq_etvr.core.errors.DeadProcessError` at once.

    Threading: methods may be called from the RPC server thread and from Host reaper threads; a lock
    protects the state.
    """

    def __init__(self, log_addr: str | None = None, name: str = "manager", own_process: bool = False) -> None:
        from pyacq_etvr.core.host import Host
        from pyacq_etvr.core.rpc.log import get_logger_address

        self.name = name
        self._own_process = own_process
        self.log_addr = log_addr or get_logger_address()
        self._lock = threading.RLock()
        self._hosts: dict[str, Any] = {}
        self._nodegroups: dict[str, dict[str, Any]] = {}
        self._callbacks: list[Any] = []
        self._count = 0
        self._closed = False
        self._default_nodegroup: Any = None
        #: the Host living in the Manager's process (spawns NodeGroups on this machine)
        self.default_host = Host(name=f"{name}-host", log_addr=self.log_addr)

    # --- hosts ---------------------------------------------------------------------------------------
    def add_host(self, address: str) -> Any:
        """Connect to the host server at ``address`` (``tools/host_server.py``) and return a proxy to its Host."""
        from pyacq_etvr.core.rpc.client import RPCClient

        if not isinstance(address, str) or "://" not in address:
            raise ConfigError(f"add_host: expected an address like 'tcp://10.0.0.53:8000', got {address!r}")
        with self._lock:
            if address in self._hosts:
                return self._hosts[address]
        client = RPCClient.get_client(address)
        if client is None:
            raise ConfigError(f"add_host: {address} is this Manager's own server")
        host = client.send("get_item", {"name": "host"}, timeout=10.0)
        with self._lock:
            self._hosts[address] = host
        logger.info("manager: connected to host %s", address)
        return host

    def list_hosts(self) -> list[str]:
        """Addresses of the remote hosts added with :meth:`add_host`."""
        with self._lock:
            return list(self._hosts)

    def _resolve_host(self, host: Any) -> Any:
        if host is None:
            return self.default_host
        if isinstance(host, str):
            with self._lock:
                known = self._hosts.get(host)
            return known if known is not None else self.add_host(host)
        return host

    # --- nodegroups ----------------------------------------------------------------------------------
    def create_nodegroup(self, name: str | None = None, host: Any = None, qt: bool = False, **kwds: Any) -> Any:
        """Spawn a new NodeGroup process and return a proxy to its NodeGroup.

        ``name``: unique name (also the process name in log records; default ``'nodegroupN'``).
        ``host``: None (this Manager's machine), a host address given to :meth:`add_host`, or a Host proxy.
        ``qt``: start a QApplication in the new process — needed for viewers/widgets. The default is
        **False** (pyacq's is True): headless NodeGroups start faster and need no display; pass ``qt=True``
        for GUI nodes (with ``QT_QPA_PLATFORM=offscreen`` when there is no display).
        Extra keywords go to :meth:`Host.create_nodegroup <pyacq_etvr.core.host.Host.create_nodegroup>`.
        """
        with self._lock:
            if self._closed:
                raise ConfigError("the Manager is closed")
            if name is None:
                while f"nodegroup{self._count}" in self._nodegroups:
                    self._count += 1
                name = f"nodegroup{self._count}"
                self._count += 1
            if not isinstance(name, str) or not name:
                raise ConfigError(f"create_nodegroup: name must be a non-empty str, not {name!r}")
            old = self._nodegroups.get(name)
            if old is not None and old.get("alive") is not False:
                raise ConfigError(f"a NodeGroup named {name!r} already exists")
            self._nodegroups.pop(name, None)  # a closed or dead one: its name is free again
            self._nodegroups[name] = {"name": name, "proxy": None, "alive": None}
        try:
            h = self._resolve_host(host)
            ng = h.create_nodegroup(name, manager=self, qt=qt, log_addr=self.log_addr, **kwds)
            info = h.nodegroup_info(name)
        except BaseException:
            with self._lock:
                self._nodegroups.pop(name, None)
            raise
        with self._lock:
            self._nodegroups[name] = {**info, "proxy": ng, "host": h, "alive": True, "exitcode": None}
        return ng

    def list_nodegroups(self, status: bool = False) -> list[Any]:
        """NodeGroup proxies in creation order (dead ones included).

        With ``status=True``: dicts with ``name``, ``pid``, ``address``, ``alive`` and ``exitcode``.
        """
        with self._lock:
            infos = [i for i in self._nodegroups.values() if i.get("proxy") is not None]
        if not status:
            return [i["proxy"] for i in infos]
        return [{k: i.get(k) for k in ("name", "pid", "address", "alive", "exitcode")} for i in infos]

    def get_nodegroup(self, name: str) -> Any:
        """The NodeGroup proxy named ``name``."""
        with self._lock:
            info = self._nodegroups.get(name)
        if info is None or info.get("proxy") is None:
            raise ConfigError(f"no NodeGroup named {name!r}")
        return info["proxy"]

    def on_nodegroup_died(self, callback: Callable[[str, int | None], Any]) -> None:
        """Call ``callback(name, exitcode)`` whenever a NodeGroup process dies unexpectedly.

        From another process the callback travels by proxy: that process needs an RPC server (the one
        :func:`create_manager` starts), and the callback runs in that server's thread.
        """
        with self._lock:
            self._callbacks.append(callback)

    def nodegroup_died(self, name: str, exitcode: int | None = None) -> None:
        """Called by a Host when the process of NodeGroup ``name`` exited unexpectedly."""
        from pyacq_etvr.core.rpc.client import mark_dead
        from pyacq_etvr.core.rpc.proxy import ObjectProxy

        with self._lock:
            info = self._nodegroups.get(name)
            if info is None or info.get("alive") is False:
                return
            info["alive"], info["exitcode"] = False, exitcode
            callbacks = list(self._callbacks)
        if exitcode == 0:  # e.g. nodegroup.close(): an orderly exit, not a death
            logger.info("manager: NodeGroup %r exited normally", name)
            if info.get("address"):
                mark_dead(info["address"], f"NodeGroup {name!r} was closed")
            return
        logger.error("manager: NodeGroup %r (pid %s) died, exit code %s", name, info.get("pid"), exitcode)
        if info.get("address"):
            mark_dead(info["address"], f"NodeGroup {name!r} died (exit code {exitcode})")
        for cb in callbacks:
            try:
                if isinstance(cb, ObjectProxy):
                    cb(name, exitcode, _timeout=5)
                else:
                    cb(name, exitcode)
            except Exception:
                logger.exception("manager: on_nodegroup_died callback failed")

    def close_nodegroup(self, name: str, timeout: float = 5.0) -> int | None:
        """Close NodeGroup ``name`` (its nodes are closed, then its process exits); return its exit code.

        Not reported as a death. The name may then be reused by :meth:`create_nodegroup`.
        """
        with self._lock:
            info = self._nodegroups.get(name)
        if info is None or info.get("proxy") is None:
            raise ConfigError(f"no NodeGroup named {name!r}")
        rc = info["host"].close_nodegroup(name, timeout)
        with self._lock:
            if info.get("alive"):
                info["alive"], info["exitcode"] = False, rc
            if self._default_nodegroup is not None and info["proxy"] is self._default_nodegroup:
                self._default_nodegroup = None
        return rc

    # --- nodes ---------------------------------------------------------------------------------------
    @property
    def default_nodegroup(self) -> Any:
        """A NodeGroup created on first use on this Manager's machine (for :meth:`create_node`)."""
        with self._lock:
            ng = self._default_nodegroup
        if ng is None:
            ng = self.create_nodegroup("default_nodegroup")
            with self._lock:
                self._default_nodegroup = ng
        return ng

    def create_node(self, node_class: str, *args: Any, **kwds: Any) -> Any:
        """Create a node in :attr:`default_nodegroup` (pyacq's shortcut)."""
        return self.default_nodegroup.create_node(node_class, *args, **kwds)

    def _alive_nodegroups(self) -> list[Any]:
        with self._lock:
            return [i["proxy"] for i in self._nodegroups.values() if i.get("alive") and i.get("proxy") is not None]

    def start_all(self) -> None:
        """Start every node of every live NodeGroup."""
        for ng in self._alive_nodegroups():
            ng.start_all_nodes()

    def stop_all(self) -> None:
        """Stop every running node of every live NodeGroup."""
        for ng in self._alive_nodegroups():
            try:
                ng.stop_all_nodes()
            except DeadProcessError:
                pass

    # --- shutdown ------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop every NodeGroup process this Manager started, on every host, then (rpc mode) its own process."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            infos = list(self._nodegroups.values())
        for info in infos:
            host = info.get("host")
            if host is None:
                continue
            try:
                host.close_nodegroup(info["name"])
            except Exception as exc:
                logger.warning("manager: could not close NodeGroup %r: %s", info["name"], exc)
            info["alive"] = False if info.get("alive") else info.get("alive")
        self.default_host.close()
        from pyacq_etvr.core.rpc.server import RPCServer

        server = RPCServer.get_server()
        if server is not None and self._own_process:
            server.close()  # rpc mode: our process exits after this reply

    def __repr__(self) -> str:
        return f"<Manager {self.name!r}: {len(self._nodegroups)} NodeGroups, {len(self._hosts)} remote hosts>"


_spawned: dict[int, tuple[Any, Any]] = {}  # id(manager proxy) -> (proxy, ProcessSpawner), rpc mode


def _setup_logging() -> str:
    from pyacq_etvr.core.rpc.log import RPCLogHandler, start_log_server

    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(RPCLogHandler())
        if root.level == logging.WARNING:
            root.setLevel(logging.INFO)
    return start_log_server(root).address


def create_manager(mode: str = "rpc", auto_close_at_exit: bool = True) -> Any:
    """Create the application's Manager and start the log server (pyacq's ``create_manager``).

    ``mode='rpc'`` (default): the Manager runs in a new process and a proxy is returned; ``'local'``: it
    runs in this process (its RPC server in a background thread). Either way a log server starts in this
    process: records, uncaught exceptions and stdout/stderr of every spawned process are printed here
    (sorted by time, coloured by source) — a :class:`~pyacq_etvr.core.rpc.log.RPCLogHandler` is attached to
    the root logger if it has no handler. A background RPC server also starts here, so that callbacks
    (e.g. :meth:`Manager.on_nodegroup_died`) can be passed by proxy.
    ``auto_close_at_exit``: close the Manager (and every process it started) when this interpreter exits.
    """
    from pyacq_etvr.core.rpc.server import RPCServer, start_background_server

    if mode not in ("rpc", "local"):
        raise ConfigError(f"create_manager: mode must be 'rpc' or 'local', not {mode!r}")
    log_addr = _setup_logging()
    server = RPCServer.get_default_server() or start_background_server()
    if mode == "local":
        man = Manager(log_addr=log_addr)
        server["manager"] = man
        if auto_close_at_exit:
            atexit.register(man.close)
        return man
    from pyacq_etvr.core.rpc.spawner import ProcessSpawner

    proc = ProcessSpawner(name="manager", log_addr=log_addr)
    try:
        rmod = proc.client._import("pyacq_etvr.core.manager")
        man = rmod.Manager(log_addr=log_addr, own_process=True, _return_type="proxy")
        proc.client["manager"] = man
    except BaseException:
        proc.kill()
        raise
    _spawned[id(man)] = (man, proc)
    if auto_close_at_exit:
        atexit.register(_close_remote_manager, man, proc)
    return man


def shutdown_manager(man: Any, timeout: float = 10.0) -> None:
    """Close ``man`` and, in rpc mode, wait until its process exited (killed after ``timeout`` s).

    ``man.close()`` alone returns before the Manager's process is gone; use this when the caller needs every
    process reaped (tests, scripts that continue).
    """
    entry = _spawned.pop(id(man), None)
    if entry is None:
        man.close()
        return
    _close_remote_manager(entry[0], entry[1], timeout)


def _close_remote_manager(man: Any, proc: Any, timeout: float = 10.0) -> None:
    _spawned.pop(id(man), None)
    if not proc.is_alive():
        proc.wait(1)
        return
    try:
        man.close(_timeout=timeout)
    except DeadProcessError:
        pass  # already closed by the user (its server is gone and the process is exiting): just reap it
    except Exception as exc:
        logger.warning("could not close the manager cleanly: %s", exc)
    deadline = time.monotonic() + timeout
    if not proc.wait(max(0.1, deadline - time.monotonic())):
        proc.kill()
