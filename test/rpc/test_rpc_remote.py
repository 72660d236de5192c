"""RPC against real child processes: the seed's examples, re-entrancy, proxies between servers, errors."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

import numpy as np
import pytest

from pyacq_etvr.core.errors import DeadProcessError, RPCTimeoutError, SecurityError, SpawnError
from pyacq_etvr.core.rpc import ProcessSpawner, RemoteCallException, RPCClient, RPCServer
from pyacq_etvr.core.rpc.future import Future
from pyacq_etvr.core.rpc.log import LogServer, RPCLogHandler
from pyacq_etvr.core.rpc.proxy import ObjectProxy
from pyacq_etvr.core.rpc.server import start_background_server


@pytest.fixture
def proc():
    p = ProcessSpawner(name="child")
    yield p
    p.stop()


def test_seed_example_ordered_dict_async_and_off(proc):
    remote_col = proc.client._import("collections")
    remote_dict = remote_col.OrderedDict()
    assert isinstance(remote_dict, ObjectProxy)
    remote_dict["x"] = 1
    assert "x" in remote_dict.keys()
    assert remote_dict["x"] == 1
    assert len(remote_dict) == 1

    ros = proc._import("os")
    assert ros.getpid() == proc.pid
    request = ros.getpid(_sync="async")
    assert isinstance(request, Future)
    assert request.result(timeout=5) == proc.pid
    assert request.hasResult()
    # _sync='off': no reply, returns None at once; the call still runs
    assert remote_dict.update({"y": 2}, _sync="off") is None
    assert remote_dict["y"] == 2
    # forced return types
    rnp = proc._import("numpy")
    arr_proxy = rnp.array([1, 2, 3, 4], _return_type="proxy")
    arr_value = rnp.array([1, 2, 3, 4], _return_type="value")
    assert isinstance(arr_proxy, ObjectProxy)
    assert isinstance(arr_value, np.ndarray) and arr_value.tolist() == [1, 2, 3, 4]
    assert arr_proxy._get_value().tolist() == [1, 2, 3, 4]
    assert (arr_proxy.sum()) == 10
    assert (arr_proxy + 1).tolist() == [2, 3, 4, 5]
    # remote exceptions carry the remote traceback
    with pytest.raises(RemoteCallException) as info:
        remote_dict["missing"]
    assert info.value.remote_type == "KeyError"
    assert any("missing" in line for line in info.value.remote_traceback)
    with pytest.raises(RemoteCallException, match="AttributeError"):
        ros.no_such_function()
    # a value that cannot travel by value gives a clear remote error
    with pytest.raises(RemoteCallException, match="cannot serialize"):
        proc._import("threading").Lock(_return_type="value")
    # bad proxy options are refused locally
    with pytest.raises(ValueError, match="_sync"):
        ros.getpid(_sync="later")
    with pytest.raises(TypeError, match="unknown proxy option"):
        ros._set_proxy_options(colour="red")


def test_timeout_then_server_still_usable(proc):
    rtime = proc._import("time")
    t0 = time.monotonic()
    with pytest.raises(RPCTimeoutError):
        rtime.sleep(0.6, _timeout=0.2)
    assert time.monotonic() - t0 < 0.55
    assert proc.client.ping(timeout=5) == "pong"


def test_reentrant_callbacks_and_proxies_between_servers():
    server = RPCServer()
    server.run_lazy()
    a = b = None
    try:
        a = ProcessSpawner(name="A")
        b = ProcessSpawner(name="B")
        calls = []

        def callback(x):
            calls.append(x)
            return x * 2

        # B calls back into this thread's lazy server while we wait for B: no deadlock
        rbuiltins = b._import("builtins")
        assert rbuiltins.list(rbuiltins.map(callback, [1, 2, 3])) == [2, 4, 6]
        assert calls == [1, 2, 3]
        # A's object handed to B: B calls A directly
        a_dict = a._import("collections").OrderedDict()
        a_dict["k"] = "v"
        b_op = b._import("operator")
        assert b_op.getitem(a_dict, "k") == "v"
        # A -> B -> A chain through this process
        a_op = a._import("operator")
        assert a_op.call(b_op.getitem, a_dict, "k") == "v"
    finally:
        for p in (a, b):
            if p is not None:
                p.stop()
        server.close()
    assert RPCServer.get_server() is None


def test_kill_makes_calls_fail_at_once():
    p = ProcessSpawner(name="victim")
    died = threading.Event()
    p.on_exit(lambda sp: died.set())
    rtime = p._import("time")
    fut = rtime.sleep(30, _sync="async")
    t0 = time.monotonic()
    p.kill()
    assert died.wait(2)
    with pytest.raises(DeadProcessError):
        fut.result(timeout=10)
    with pytest.raises(DeadProcessError):
        rtime.time()
    assert time.monotonic() - t0 < 2.0
    assert p.returncode == -9


def test_spawn_failures_are_reported():
    with pytest.raises(SpawnError, match="cannot start"):
        ProcessSpawner(executable="/nonexistent/python")
    with pytest.raises(SpawnError, match="cannot bind"):
        ProcessSpawner(address="tcp://127.0.0.1:not-a-port")
    with pytest.raises(SpawnError, match="SecurityError"):
        ProcessSpawner(address="tcp://0.0.0.0:*")


def test_public_bind_needs_keys_or_insecure():
    with pytest.raises(SecurityError, match="CURVE"):
        RPCServer("tcp://0.0.0.0:*")
    srv = RPCServer("tcp://0.0.0.0:*", insecure=True)
    srv.close()


def test_log_forwarding_from_child_sorted_and_labelled():
    logger = logging.getLogger("test.rpc.forward")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    received: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            received.append(record)

    keep = Keep()
    logger.addHandler(keep)
    server = LogServer(logger)
    server.start()
    try:
        p = ProcessSpawner(name="talker", log_addr=server.address, log_level=logging.INFO)
        try:
            p._import("logging").getLogger("remote").warning("warned %d", 5)
            rsys = p._import("sys")
            rsys.stdout.write("printed line\n")
            rsys.stdout.flush()
            rsys.stderr.write("error line\n")
            rsys.stderr.flush()
            p._import("threading").Thread(target=p._import("operator").truediv, args=(1, 0)).start()
            assert _wait(lambda: len(received) >= 4, 10), [r.getMessage() for r in received]
        finally:
            p.stop()
    finally:
        server.stop()
        logger.removeHandler(keep)
    by_msg = {r.getMessage(): r for r in received}
    assert by_msg["warned 5"].process_name == "talker"
    assert by_msg["printed line"].levelno == logging.INFO and by_msg["printed line"].process_name == "talker"
    assert by_msg["error line"].levelno == logging.WARNING
    assert any("ZeroDivisionError" in (r.exc_text or "") for r in received)


def test_log_handler_sorts_by_time():
    import io

    stream = io.StringIO()
    handler = RPCLogHandler(stream, delay=0.05, color=True)
    now = time.time()
    for i, t in enumerate([now + 0.02, now, now + 0.01]):
        rec = logging.LogRecord("x", logging.INFO, "", 0, f"msg-{i}", None, None)
        rec.created = t
        rec.process_name = f"p{i % 2}"
        handler.emit(rec)
    assert _wait(lambda: stream.getvalue().count("\n") == 3, 5)
    handler.close()
    text = stream.getvalue()
    assert text.index("msg-1") < text.index("msg-2") < text.index("msg-0")
    assert "\x1b[" in text


def test_background_server_and_thread_clients():
    srv = start_background_server(default=False)
    try:
        ticks = []
        timer = srv.start_timer(lambda: ticks.append(threading.get_ident()), 0.01)
        assert _wait(lambda: len(ticks) >= 3, 5)
        timer.stop()
        assert set(ticks) == {srv._thread.ident}  # timers run in the server's thread
        srv["value"] = [1, 2, 3]
        results = []

        def worker():
            client = RPCClient.get_client(srv.address)
            assert RPCClient.get_client(srv.address) is client  # one per thread and address
            results.append(client["value"])
            client.close()

        threads = [threading.Thread(target=worker) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert results == [[1, 2, 3]] * 3
    finally:
        srv.close()
        srv._thread.join(5)


def _wait(cond, timeout):
    from pyacq_etvr.testing import wait_until

    return wait_until(cond, timeout)


def test_executable_and_environment():
    p = ProcessSpawner(executable=sys.executable)
    try:
        assert p._import("os").getppid() == os.getpid()
    finally:
        assert p.stop() == 0


@pytest.mark.timeout(60)
def test_qt_process_runs_requests_in_the_gui_thread():
    p = ProcessSpawner(name="qt-child", qt=True)
    try:
        qtw = p._import("PyQt5.QtWidgets")
        app = qtw.QApplication.instance()
        w = qtw.QWidget()
        w.setWindowTitle("remote widget")
        w.show()
        assert w.windowTitle() == "remote widget"
        assert w.isVisible()
        rthreading = p._import("threading")
        assert rthreading.current_thread().name == "MainThread"  # requests run in the Qt GUI thread
        assert app.applicationName() is not None
        # re-entrant call from the Qt process back into this thread's (lazy) server
        server = RPCServer()
        server.run_lazy()
        try:
            assert p._import("operator").call(lambda: "called back") == "called back"
        finally:
            server.close()
    finally:
        assert p.stop() == 0


def test_seed_streaming_between_processes():
    """The seed's example: a remote InputStream connects to a local OutputStream through RPC."""
    import pyacq_etvr as pyacq

    s = pyacq.RPCServer()
    s.run_lazy()
    o = pyacq.OutputStream()
    p = None
    try:
        o.configure(dtype=float, shape=(-1, 2))
        p = pyacq.ProcessSpawner()
        rpyacq = p.client._import("pyacq_etvr")
        i = rpyacq.InputStream()
        i.connect(o)  # the child asks our (lazy) server for o.params while we wait: re-entrant
        o.send(np.arange(8.0).reshape(4, 2))
        index, data = i.recv(timeout=5000)
        assert index == 4 and data.tolist() == np.arange(8.0).reshape(4, 2).tolist()
        i.close()
    finally:
        if p is not None:
            p.stop()
        o.close()
        s.close()


def test_proxy_options_defer_getattr_auto_delete_auto_proxy():
    import gc

    srv = start_background_server(default=False)
    client = None
    try:
        srv["obj"] = {"a": 1}
        client = RPCClient(srv.address)
        obj = client.send("get_item", {"name": "obj"}, return_type="proxy")
        deferred = obj._set_proxy_options(defer_getattr=True).get
        assert isinstance(deferred, ObjectProxy) and deferred._attributes == ("get",)
        assert deferred("a") == 1
        missing = obj.no_such_attribute  # deferred: no round trip, the error comes at use
        with pytest.raises(RemoteCallException, match="AttributeError"):
            missing()
        before = len(srv._refs)
        temp = client.send("get_item", {"name": "obj"}, return_type="proxy")
        temp._set_proxy_options(auto_delete=True)
        temp._get_value()
        del temp
        gc.collect()
        client.ping()  # queued deletions are sent with the next request
        assert _wait(lambda: srv._refs.get(obj._ref_id, [None, 0])[1] == 1, 5), srv._refs
        assert len(srv._refs) == before
        obj._set_proxy_options(auto_proxy=False)  # (still deferred: .get inherits the options)
        with pytest.raises(TypeError, match="cannot serialize"):
            obj.get(object())
    finally:
        if client is not None:
            client.close()
        srv.close()
        srv._thread.join(5)


def test_qt_nodegroup_close_from_a_request_replies_first():
    import pyacq_etvr as pyacq

    man = pyacq.create_manager("local")
    try:
        ng = man.create_nodegroup("gui", qt=True)
        assert ng.list_nodes() == []
        assert ng.close() is None  # the reply arrives before the Qt server closes
        assert _wait(lambda: man.list_nodegroups(status=True)[0]["alive"] is False, 10)
        assert man.list_nodegroups(status=True)[0]["exitcode"] == 0
    finally:
        man.close()


def test_lazy_server_closed_by_a_request_replies_first():
    srv = RPCServer()
    srv.run_lazy()
    srv["server"] = srv
    p = None
    try:
        p = ProcessSpawner(name="closer")
        rop = p._import("operator")
        # the child calls srv.close() in this thread's lazy server while we wait: the reply still arrives
        assert rop.methodcaller("close")(srv) is None
        assert srv.closed
    finally:
        if p is not None:
            p.stop()
        srv.close()


def test_future_works_with_concurrent_futures_helpers():
    import concurrent.futures

    class _Client:  # stands for an RPCClient owned by another thread: result() just waits
        thread_id, closed, address = -1, False, "tcp://x"

        def _forget(self, call_id):
            pass

        def process(self):
            pass

    got = []
    f = Future(_Client(), 1)
    assert isinstance(f, concurrent.futures.Future) and not f.done()
    f.add_done_callback(lambda fut: got.append(fut.result()))
    waiter = threading.Thread(target=lambda: got.append(("waited", f.result(5))))
    waiter.start()
    assert _wait(lambda: "_condition" in f.__dict__, 5)  # the waiter created the condition lazily
    f.set_result(42)
    waiter.join(5)
    assert len(got) == 2 and 42 in got and ("waited", 42) in got
    g = Future(_Client(), 2)
    g.set_exception(ValueError("boom"))
    with pytest.raises(ValueError, match="boom"):
        g.result()
    assert concurrent.futures.wait([g], 1).done == {g}
    with pytest.raises(concurrent.futures.InvalidStateError):
        g.set_result(1)
    h = Future(_Client(), 3)
    assert h.cancel() and h.cancelled() and h.done()
    k = Future(_Client(), 4)
    threading.Timer(0.05, lambda: k.set_result(7)).start()
    assert [x.result() for x in concurrent.futures.as_completed([k], 5)] == [7]
    slow = Future(_Client(), 5)
    with pytest.raises(RPCTimeoutError):
        slow.result(timeout=0.05)


def test_client_and_server_bad_arguments():
    with pytest.raises(ValueError, match="unknown serializer"):
        RPCClient("tcp://127.0.0.1:1", serializer="pickle")
    with pytest.raises(TypeError, match="address must be a str"):
        RPCClient(b"tcp://127.0.0.1:1")
    with pytest.raises(OSError, match="cannot bind"):
        RPCServer("tcp://127.0.0.1:notaport")
    srv, other = RPCServer(), RPCServer()
    try:
        srv.run_lazy()
        with pytest.raises(RuntimeError, match="already has an RPC server"):
            RPCServer.register_server(other)
    finally:
        other.close()
        srv.close()
    assert RPCServer.get_server() is None


def test_dead_marks_do_not_poison_a_new_server_at_the_same_address():
    from pyacq_etvr.core.rpc.client import mark_dead

    srv = start_background_server(default=False)
    old = new = None
    try:
        old = RPCClient.get_client(srv.address)
        assert old.ping() == "pong"
        mark_dead(srv.address, "pretend the process died")
        with pytest.raises(DeadProcessError, match="pretend"):
            old.ping()
        assert RPCClient.get_client(srv.address) is old  # known dead for < 1 s: fail fast
        # a client made afterwards (e.g. for a new process that reuses the port) is not affected
        new = RPCClient(srv.address)
        assert new.ping() == "pong"
        assert RPCClient.get_client(srv.address) is new
    finally:
        for c in (old, new):
            if c is not None:
                c.close()
        srv.close()
        srv._thread.join(5)


def test_proxies_compare_locally():
    a = ObjectProxy("tcp://127.0.0.1:1", 10, 1, "", ("x",))
    b = ObjectProxy("tcp://127.0.0.1:1", 10, 2, "", ("x",))  # another reference to the same object
    c = ObjectProxy("tcp://127.0.0.1:2", 10, 1, "", ("x",))
    assert a == b and not (a != b) and hash(a) == hash(b)
    assert a != c and [c, a].index(b) == 1  # no network involved (nothing listens there)
    assert len({a, b, c}) == 2
