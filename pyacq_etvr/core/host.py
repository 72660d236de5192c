"""Host: spawns and watches NodeGroup processes on one machine (pyacq's ``Host``)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from pyacq_etvr.core.errors import ConfigError

logger = logging.getLogger(__name__)


class Host:
    """Pre-existing contact point that spawns NodeGroup processes on its machine.

    One Host runs on each machine a Manager uses: the Manager's own process holds the default Host, other
    machines run ``pyacq-etvr-host ADDRESS`` (``tools/host_server.py``), which publishes a Host as ``'host'``.

    ``poll_procs`` is accepted for pyacq compatibility: processes are always watched (see below), so there
    is nothing to poll. ``child_address`` is the address NodeGroup servers bind (default loopback, random port; the host
    server uses its own interface). ``insecure`` lets them bind a public address without CURVE keys.

    Watching: every NodeGroup process has a reaper thread (see
    :class:`~pyacq_etvr.core.rpc.spawner.ProcessSpawner`), so an unexpected exit (SIGKILL, segfault,
    uncaught error) is noticed at once, logged, and reported to the NodeGroup's manager
    (``manager.nodegroup_died(name, exitcode)``). :meth:`check_spawners` lists dead NodeGroups on demand.
    """

    def __init__(
        self,
        name: str = "host",
        poll_procs: bool = True,
        child_address: str = "tcp://127.0.0.1:*",
        insecure: bool = False,
        log_addr: str | None = None,
    ) -> None:
        self.name = name
        self.child_address = child_address
        self.insecure = insecure
        self.log_addr = log_addr
        self._spawners: dict[str, Any] = {}
        self._nodegroups: dict[str, Any] = {}
        self._managers: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._closed = False

    def create_nodegroup(
        self,
        name: str,
        manager: Any = None,
        qt: bool = False,
        log_addr: str | None = None,
        log_level: int | None = None,
        **kwds: Any,
    ) -> Any:
        """Spawn a process holding a new NodeGroup ``name``; return (a proxy to) the NodeGroup.

        ``qt``: run a QApplication and a Qt RPC server in the process (needed for viewers; needs a display
        or ``QT_QPA_PLATFORM=offscreen``). Extra keywords go to ProcessSpawner.
        """
        from pyacq_etvr.core.rpc.spawner import ProcessSpawner

        if not isinstance(name, str) or not name:
            raise ConfigError(f"create_nodegroup: name must be a non-empty str, not {name!r}")
        with self._lock:
            if self._closed:
                raise ConfigError(f"host {self.name!r} is closed")
            old = self._spawners.get(name)
            if old is not None and old.is_alive():
                raise ConfigError(f"a NodeGroup named {name!r} already runs on host {self.name!r}")
        kwds.setdefault("insecure", self.insecure)
        log_addr = log_addr or self.log_addr
        sp = ProcessSpawner(
            name=name, address=self.child_address, qt=qt, log_addr=log_addr, log_level=log_level, **kwds
        )
        try:
            ng_mod = sp.client._import("pyacq_etvr.core.nodegroup")
            ng = ng_mod.NodeGroup(host=self, manager=manager, name=name, _return_type="proxy")
            sp.client["nodegroup"] = ng
        except BaseException:
            sp.kill()
            raise
        with self._lock:
            self._spawners[name] = sp
            self._nodegroups[name] = ng
            self._managers[name] = manager
        sp.on_exit(lambda spawner: self._on_exit(name, spawner))
        logger.info("host %s: NodeGroup %r started (pid %d, %s)", self.name, name, sp.pid, sp.address)
        return ng

    def _on_exit(self, name: str, spawner: Any) -> None:
        """Reaper-thread callback: report an unexpected exit to the NodeGroup's manager."""
        if getattr(spawner, "_stopping", False):
            return
        rc = spawner.returncode
        logger.error("host %s: NodeGroup %r (pid %d) died unexpectedly, exit code %s", self.name, name, spawner.pid, rc)
        with self._lock:
            manager = self._managers.get(name)
        if manager is None:
            return
        from pyacq_etvr.core.rpc.client import close_thread_clients
        from pyacq_etvr.core.rpc.proxy import ObjectProxy

        try:
            if isinstance(manager, ObjectProxy):
                manager.nodegroup_died(name, rc, _timeout=5)
            else:
                manager.nodegroup_died(name, rc)
        except Exception as exc:
            logger.warning("host %s: could not tell the manager that %r died: %s", self.name, name, exc)
        finally:
            close_thread_clients()

    def list_nodegroups(self) -> list[str]:
        """Names of the NodeGroup processes this host started that are still alive."""
        with self._lock:
            return [n for n, sp in self._spawners.items() if sp.is_alive()]

    def check_spawners(self) -> list[str]:
        """Names of the NodeGroups whose process has exited (pyacq API; deaths are also reported at once)."""
        with self._lock:
            return [n for n, sp in self._spawners.items() if not sp.is_alive()]

    def nodegroup_info(self, name: str) -> dict[str, Any]:
        """pid, address, alive flag and exit code of NodeGroup ``name``."""
        with self._lock:
            sp = self._spawners.get(name)
        if sp is None:
            raise ConfigError(f"no NodeGroup named {name!r} on host {self.name!r}")
        return {"name": name, "pid": sp.pid, "address": sp.address, "alive": sp.is_alive(), "exitcode": sp.returncode}

    def close_nodegroup(self, name: str, timeout: float = 5.0) -> int | None:
        """Close NodeGroup ``name`` (its nodes are closed, then its process exits; killed after ``timeout``)."""
        with self._lock:
            sp = self._spawners.pop(name, None)
            self._nodegroups.pop(name, None)
            self._managers.pop(name, None)
        if sp is None:
            return None
        return sp.stop(timeout)

    def close_all_nodegroups(self, manager: Any = None, timeout: float = 5.0) -> None:
        """Close every NodeGroup of this host (only those of ``manager`` if given)."""
        with self._lock:
            names = [n for n, m in self._managers.items() if manager is None or m == manager]
            names += [n for n in self._spawners if n not in self._managers]
        for name in names:
            try:
                self.close_nodegroup(name, timeout)
            except Exception:
                logger.exception("host %s: error while closing NodeGroup %r", self.name, name)

    def close(self) -> None:
        """Close every NodeGroup process of this host."""
        with self._lock:
            self._closed = True
        self.close_all_nodegroups()

    def __repr__(self) -> str:
        return f"<Host {self.name!r} with {len(self.list_nodegroups())} NodeGroups>"
