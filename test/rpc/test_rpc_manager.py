"""Manager / Host / NodeGroup across real processes: streams between processes, death of a NodeGroup."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import pyacq_etvr as pyacq
from pyacq_etvr.core.errors import ConfigError, DeadProcessError
from pyacq_etvr.core.manager import Manager, shutdown_manager
from pyacq_etvr.core.rpc import RemoteCallException, RPCClient
from pyacq_etvr.core.rpc.proxy import ObjectProxy
from pyacq_etvr.testing import wait_until


@pytest.mark.timeout(60)
def test_stream_between_processes_then_sigkill_is_detected():
    man = pyacq.create_manager("rpc")
    try:
        assert isinstance(man, ObjectProxy)
        ng1 = man.create_nodegroup("ng1")
        ng2 = man.create_nodegroup(name="ng2")
        assert man.list_nodegroups() == [ng1, ng2]
        assert "StreamMonitor" in ng1.list_node_types()

        dev = ng1.create_node("NumpyDeviceBuffer")
        dev.configure(nb_channel=4, sample_interval=0.001, chunksize=50)
        dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        dev.initialize()
        mon = ng2.create_node("StreamMonitor")
        mon.configure()
        mon.input.connect(dev.output)  # the remote InputStream asks the remote OutputStream proxy for params
        mon.initialize()
        man.start_all()
        assert wait_until(lambda: mon.stats()["chunks"] >= 5, 10), mon.stats()
        assert mon.stats()["last_index"] % 50 == 0
        man.stop_all()

        died = []
        event = threading.Event()

        def on_death(name, exitcode):
            died.append((name, exitcode))
            event.set()

        man.on_nodegroup_died(on_death)
        status = {s["name"]: s for s in man.list_nodegroups(status=True)}
        t0 = time.monotonic()
        os.kill(status["ng1"]["pid"], signal.SIGKILL)
        assert event.wait(1.0), "death not reported within 1 s"
        assert died == [("ng1", -signal.SIGKILL)]
        with pytest.raises(DeadProcessError):
            dev.start()
        assert time.monotonic() - t0 < 1.5
        status = {s["name"]: s for s in man.list_nodegroups(status=True)}
        assert status["ng1"]["alive"] is False and status["ng1"]["exitcode"] == -signal.SIGKILL
        assert status["ng2"]["alive"] is True
        assert mon.stats()["chunks"] >= 5  # the other NodeGroup is unaffected
        # a NodeGroup dying from an error (non-zero exit) is reported the same way
        event.clear()
        RPCClient.get_client(ng2._rpc_addr)._import("os")._exit(3, _sync="off")
        assert event.wait(1.0)
        assert died[-1] == ("ng2", 3)
        with pytest.raises(DeadProcessError):
            mon.stats()
        assert [s["alive"] for s in man.list_nodegroups(status=True)] == [False, False]
    finally:
        shutdown_manager(man)


def test_local_manager_nodes_and_bad_inputs():
    man = pyacq.create_manager("local")
    try:
        assert isinstance(man, Manager)
        with pytest.raises(ConfigError, match="mode"):
            pyacq.create_manager("distributed")
        ng = man.default_nodegroup
        assert man.default_nodegroup is ng
        ng.register_node_type_from_module("pyacq_etvr.core.tools", "StreamMonitor")
        with pytest.raises(RemoteCallException, match="ConfigError"):
            ng.register_node_type_from_module("no.such.module", "X")
        with pytest.raises(RemoteCallException, match="has no 'Nope'"):
            ng.register_node_type_from_module("pyacq_etvr.core.tools", "Nope")
        with pytest.raises(RemoteCallException, match="unknown node type"):
            ng.create_node("NoSuchNode")
        node = man.create_node("NumpyDeviceBuffer")
        node.configure(nb_channel=2, chunksize=10)
        node.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        node.initialize()
        man.start_all()
        assert node.running()
        man.stop_all()
        assert not node.running()
        assert len(ng.list_nodes()) == 1
        ng.remove_node(node)
        assert ng.list_nodes() == []
        with pytest.raises(RemoteCallException, match="LookupError"):
            node.running()  # the NodeGroup dropped its reference
        with pytest.raises(ConfigError, match="already exists"):
            man.create_nodegroup("default_nodegroup")
        with pytest.raises(ConfigError, match="non-empty str"):
            man.create_nodegroup(name="")
        with pytest.raises(ConfigError, match="address"):
            man.add_host("localhost:8000")
        # orderly closes are not deaths, and free the name
        deaths = []
        man.on_nodegroup_died(lambda name, rc: deaths.append(name))
        assert man.close_nodegroup("default_nodegroup") == 0
        with pytest.raises(ConfigError, match="no NodeGroup"):
            man.close_nodegroup("nope")
        ng2 = man.create_nodegroup("default_nodegroup")
        ng2.close()  # from the NodeGroup itself: its process exits with code 0
        assert wait_until(lambda: man.list_nodegroups(status=True)[-1]["alive"] is False, 5)
        assert man.list_nodegroups(status=True)[-1]["exitcode"] == 0
        assert deaths == []
    finally:
        man.close()
    assert all(not s["alive"] for s in man.list_nodegroups(status=True))
    with pytest.raises(ConfigError, match="closed"):
        man.create_nodegroup("late")
