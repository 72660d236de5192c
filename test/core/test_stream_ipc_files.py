"""ZeroMQ ipc socket files: unlinked on close, at interpreter exit, and when their process was SIGKILLed."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile

import pytest

from pyacq_etvr.core import ipcfiles
from pyacq_etvr.core.errors import ConfigError, StreamClosedError
from pyacq_etvr.core.rpc import ProcessSpawner, RPCServer
from pyacq_etvr.core.rpc.log import LogServer
from pyacq_etvr.core.stream import InputStream, OutputStream, cleanup_stale_segments
from pyacq_etvr.testing import ipc_files, wait_until

SPEC = dict(dtype="float32", shape=(-1, 2))

# A child that binds an ipc output, prints its params, then does what ``then`` says.
CHILD = """
import json, sys
from pyacq_etvr.core.stream import OutputStream
out = OutputStream()
extra = {"buffer_size": 64} if sys.argv[1] == "sharedmem" else {}
out.configure(protocol="ipc", transfermode=sys.argv[1], dtype="float32", shape=(-1, 2), **extra)
print(json.dumps(out.params), flush=True)
then = sys.argv[2]
if then == "close":
    out.close()
elif then == "wait":
    sys.stdin.readline()
elif then == "raise":
    raise RuntimeError("uncaught on purpose")
# "exit": leave without closing the stream
"""


def _child(mode: str, then: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, then], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def _read_params(proc: subprocess.Popen, timeout: float) -> dict:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise TimeoutError("child did not answer in time")
    return json.loads(proc.stdout.readline())


def _read_path(proc: subprocess.Popen, timeout: float) -> str:
    return _read_params(proc, timeout)["url"][len("ipc://") :]


def _finish(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(10)
        for f in (p.stdin, p.stdout):
            f.close()


def _path(out: OutputStream) -> str:
    return out.params["url"][len("ipc://") :]


@pytest.mark.parametrize("mode", ["plaindata", "sharedmem"])
def test_close_unlinks_the_socket_file(mode):
    out = OutputStream()
    out.configure(protocol="ipc", transfermode=mode, **SPEC, **({"buffer_size": 64} if mode == "sharedmem" else {}))
    path = _path(out)
    name = os.path.basename(path)
    assert os.path.dirname(path) == tempfile.gettempdir()
    assert ipcfiles.ipc_owner_pid(name) == os.getpid()
    assert name in ipc_files() and path in ipcfiles.owned_paths()
    inp = InputStream()
    inp.connect(out)
    inp.close()
    out.close()
    assert not os.path.exists(path)
    assert path not in ipcfiles.owned_paths()
    out.close()  # idempotent


def test_reconfigure_unlinks_the_previous_file():
    out = OutputStream()
    out.configure(protocol="ipc", **SPEC)
    first = _path(out)
    out.configure(protocol="ipc", **SPEC)
    assert not os.path.exists(first) and os.path.exists(_path(out))
    out.close()
    assert not os.path.exists(_path(out))


def test_explicit_ipc_port_is_unlinked_on_close():
    path = os.path.join(tempfile.gettempdir(), f"pyacq_etvr_explicit_{os.getpid()}.ipc")
    out = OutputStream()
    out.configure(protocol="ipc", port=path, **SPEC)
    assert os.path.exists(path) and _path(out) == path
    out.close()
    assert not os.path.exists(path)


def test_too_long_ipc_path_is_refused_and_binds_nothing():
    before = ipc_files()
    with pytest.raises(ConfigError, match="too long"):
        OutputStream().configure(protocol="ipc", port="/tmp/" + "x" * 120 + ".ipc", **SPEC)
    assert ipc_files() == before


def test_configure_failing_after_the_bind_leaves_no_file():
    before = ipc_files()
    with pytest.raises(ConfigError, match="buffer_size"):
        OutputStream().configure(protocol="ipc", transfermode="sharedmem", **SPEC)  # no buffer_size
    assert ipc_files() == before


def test_rpc_and_log_servers_unlink_an_explicit_ipc_path():
    base = os.path.join(tempfile.gettempdir(), f"pyacq_etvr_srv_{os.getpid()}")
    srv = RPCServer(f"ipc://{base}_rpc.ipc")
    assert os.path.exists(f"{base}_rpc.ipc")
    srv.close()
    assert not os.path.exists(f"{base}_rpc.ipc")
    log = LogServer(address=f"ipc://{base}_log.ipc")
    log.start()
    assert os.path.exists(f"{base}_log.ipc")
    log.stop()
    assert not log.is_alive() and not os.path.exists(f"{base}_log.ipc")


def test_rpc_server_wildcard_ipc_is_left_to_libzmq():
    srv = RPCServer("ipc://*")
    path = srv.address[len("ipc://") :]
    assert ipcfiles.bound_path("ipc://*") is None and os.path.exists(path)
    srv.close()
    assert wait_until(lambda: not os.path.exists(path), 5.0)  # libzmq removes its own wildcard file


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode, then", [("plaindata", "exit"), ("sharedmem", "raise"), ("plaindata", "close")])
def test_process_exiting_without_closing_leaves_no_file(mode, then):
    proc = _child(mode, then)
    try:
        path = _read_path(proc, 30)
        assert ipcfiles.ipc_owner_pid(os.path.basename(path)) == proc.pid
        assert proc.wait(30) == (1 if then == "raise" else 0)
        assert not os.path.exists(path)
    finally:
        _finish([proc])


@pytest.mark.timeout(60)
def test_sigkilled_process_file_removed_by_next_first_bind_live_one_kept():
    live, killed = _child("plaindata", "wait"), _child("plaindata", "wait")
    procs = [live, killed]
    try:
        live_path, killed_path = _read_path(live, 30), _read_path(killed, 30)
        os.kill(killed.pid, signal.SIGKILL)
        assert killed.wait(10) == -signal.SIGKILL
        assert os.path.exists(killed_path)  # nobody could unlink it yet
        nxt = _child("plaindata", "close")  # its first ipc bind cleans up
        procs.append(nxt)
        _read_path(nxt, 30)
        assert nxt.wait(30) == 0
        assert not os.path.exists(killed_path)
        assert os.path.exists(live_path)  # a live process's file is never removed
        live.stdin.write("\n")
        live.stdin.flush()
        assert live.wait(30) == 0
        assert not os.path.exists(live_path)
    finally:
        _finish(procs)


@pytest.mark.timeout(60)
def test_spawner_removes_the_files_of_a_killed_child():
    sp = ProcessSpawner(name="ipc-child")
    try:
        out = sp._import("pyacq_etvr.core.stream").OutputStream()
        out.configure(protocol="ipc", dtype="float32", shape=[-1, 2])
        path = out.params["url"][len("ipc://") :]
        assert os.path.exists(path)
        sp.kill()
        assert not os.path.exists(path)  # removed by the reaper before kill() returned
    finally:
        sp.stop()


@pytest.mark.timeout(60)
def test_sharedmem_reader_removes_the_file_of_a_dead_writer():
    proc = _child("sharedmem", "wait")
    try:
        params = _read_params(proc, 30)
        path = params["url"][len("ipc://") :]
        inp = InputStream()
        inp.connect(params)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        with pytest.raises(StreamClosedError, match="died"):
            inp.recv(timeout=5000)
        inp.close()
        assert not os.path.exists(path)  # the reader that found the writer dead removed it
        assert params["shm_name"] in cleanup_stale_segments()  # (its ring is removed by the next writer)
    finally:
        _finish([proc])


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait(30)
    return p.pid


def test_cleanup_removes_only_generated_files_of_dead_processes(tmp_path):
    pid, start, dead = os.getpid(), ipcfiles.process_start_time(os.getpid()), _dead_pid()
    keep = [
        f"pyacq_etvr_{pid}_{start}_0123456789ab.ipc",  # this live process
        f"pyacq_etvr_{pid}_0123456789ab.ipc",  # older name format, live pid
        f"pyacq_etvr_{dead}_zz.ipc",  # not a generated name
        "pyacq_etvr_ring_1_2_ab.ipc",
        f"other_{dead}_1_ab.ipc",
        f"pyacq_etvr_{dead}_1_ab.sock",
    ]
    stale = [
        f"pyacq_etvr_{pid}_{start + 1}_0123456789ab.ipc",  # a recycled pid: another start time
        f"pyacq_etvr_{dead}_{start}_abcdef012345.ipc",
        f"pyacq_etvr_{dead}_abcdef012345.ipc",  # older name format, dead pid
    ]
    for name in keep + stale:
        (tmp_path / name).write_bytes(b"")
    assert ipcfiles.cleanup_stale_ipc(str(tmp_path), pid=dead + 1 if dead + 1 != pid else dead + 2) == []
    assert sorted(ipcfiles.cleanup_stale_ipc(str(tmp_path), pid=dead)) == sorted(stale[1:])
    assert ipcfiles.cleanup_stale_ipc(str(tmp_path)) == stale[:1]
    assert sorted(os.listdir(tmp_path)) == sorted(keep)
    assert ipcfiles.cleanup_stale_ipc(str(tmp_path / "missing")) == []


def test_names_and_urls():
    assert ipcfiles.ipc_owner_pid("pyacq_etvr_123_456_abcdef.ipc") == 123
    assert ipcfiles.ipc_owner_pid("pyacq_etvr_123_abcdef.ipc") == 123
    for bad in (
        "pyacq_etvr_ring_1_2_ab",
        "pyacq_etvr_x_1_ab.ipc",
        "pyacq_etvr_1_ab.ipc.bak",
        "/tmp/pyacq_etvr_1_ab.ipc",
    ):
        assert ipcfiles.ipc_owner_pid(bad) is None
    assert os.path.basename(ipcfiles.new_ipc_path()).startswith(f"pyacq_etvr_{os.getpid()}_")
    assert ipcfiles.bound_path("tcp://127.0.0.1:5000") is None
    assert ipcfiles.bound_path("inproc://x") is None
    assert ipcfiles.bound_path("ipc://*") is None
    assert ipcfiles.bound_path("ipc://@abstract") is None
    assert ipcfiles.bound_path("ipc://rel.ipc") == os.path.join(os.getcwd(), "rel.ipc")
    assert ipcfiles.register_bound("tcp://127.0.0.1:5000") is None
    ipcfiles.release_bound(None)  # no-op


def test_release_only_unlinks_what_this_process_bound(tmp_path):
    path = tmp_path / "pyacq_etvr_1_ab.ipc"
    path.write_bytes(b"")
    ipcfiles.release_bound(str(path))  # never registered: not ours
    assert path.exists()
    assert ipcfiles.register_bound(f"ipc://{path}") == str(path)
    child = os.fork()
    if child == 0:  # a forked child inherits the registry but must not unlink its parent's files
        ipcfiles.release_bound(str(path))
        os._exit(0 if path.exists() else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert path.exists() and str(path) in ipcfiles.owned_paths()
    ipcfiles.release_bound(str(path))
    assert not path.exists() and str(path) not in ipcfiles.owned_paths()
