"""Real host server processes (tools/host_server.py): a stream across two hosts, CLI errors, shutdown."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import pytest

import pyacq_etvr as pyacq
from pyacq_etvr.core.hostserver import main as host_main
from pyacq_etvr.testing import wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST_SERVER = os.path.join(ROOT, "tools", "host_server.py")


def start_host_server(*args: str, timeout: float = 20.0) -> tuple[subprocess.Popen, str]:
    """Start tools/host_server.py; return (process, address) once it prints that it listens."""
    proc = subprocess.Popen(
        [sys.executable, HOST_SERVER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            line = proc.stdout.readline()
            if line.startswith("host server listening on "):
                return proc, line.split()[-1]
            if not line:
                break
    proc.kill()
    _, err = proc.communicate(timeout=10)
    raise AssertionError(f"host server did not start: {err}")


def stop_host_server(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=5)
    proc.captured_err = err
    return proc.returncode


@pytest.mark.timeout(90)
def test_stream_between_two_host_servers():
    h1, addr1 = start_host_server("tcp://127.0.0.1:*", "--name", "hostA")
    h2, addr2 = start_host_server("tcp://127.0.0.1:*", "--name", "hostB")
    man = None
    try:
        assert addr1 != addr2
        man = pyacq.create_manager("local")
        host1 = man.add_host(addr1)
        assert man.add_host(addr1) is host1
        man.add_host(addr2)
        assert sorted(man.list_hosts()) == sorted([addr1, addr2])
        ng1 = man.create_nodegroup("producer", host=addr1)
        ng2 = man.create_nodegroup("consumer", host=addr2)
        pids = {s["name"]: s["pid"] for s in man.list_nodegroups(status=True)}
        assert pids["producer"] in _children(h1.pid) and pids["consumer"] in _children(h2.pid)

        dev = ng1.create_node("NumpyDeviceBuffer")
        dev.configure(nb_channel=2, sample_interval=0.001, chunksize=20)
        dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        dev.initialize()
        mon = ng2.create_node("StreamMonitor")
        mon.configure()
        mon.input.connect(dev.output)
        mon.initialize()
        mon.start()
        dev.start()
        assert wait_until(lambda: mon.stats()["chunks"] >= 5, 10), mon.stats()
        dev.stop()
        mon.stop()
        man.close()
        man = None
        # the Manager closed its NodeGroups on both hosts; the host servers keep running
        assert wait_until(lambda: not _children(h1.pid) and not _children(h2.pid), 10)
        assert h1.poll() is None and h2.poll() is None
    finally:
        if man is not None:
            man.close()
        assert stop_host_server(h1) == 0
        assert stop_host_server(h2) == 0


@pytest.mark.timeout(60)
def test_host_server_stops_its_nodegroups_on_sigterm():
    h, addr = start_host_server("tcp://127.0.0.1:*")
    man = pyacq.create_manager("local")
    try:
        man.create_nodegroup("orphan-candidate", host=addr)
        child = man.list_nodegroups(status=True)[0]["pid"]
        assert child in _children(h.pid)
    finally:
        assert stop_host_server(h) == 0
        man.close()
    assert not os.path.exists(f"/proc/{child}") or _state(child) == "Z"


def test_host_server_cli_errors(tmp_path, capsys):
    assert host_main([]) == 2
    assert "ADDRESS is required" in capsys.readouterr().err
    assert host_main(["tcp://0.0.0.0:*"]) == 1
    assert "CURVE" in capsys.readouterr().err
    assert host_main(["tcp://127.0.0.1:*", "--log-level", "LOUD"]) == 2
    keys = tmp_path / "keys"
    assert host_main(["--generate-keys", str(keys)]) == 0
    assert (keys / "server.key_secret").exists() and (keys / "authorized_clients" / "client.key").exists()
    assert oct((keys / "client.key_secret").stat().st_mode & 0o777) == "0o600"
    capsys.readouterr()
    assert host_main(["--generate-keys", str(keys)]) == 1  # never overwrites keys
    assert "refusing to overwrite" in capsys.readouterr().err
    assert host_main(["tcp://127.0.0.1:*", "--keys", str(tmp_path / "missing")]) == 1
    assert "cannot read CURVE key" in capsys.readouterr().err


def _children(pid: int) -> set[int]:
    from pyacq_etvr.testing import descendant_pids

    return descendant_pids(pid, include_zombies=False)


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


@pytest.mark.timeout(60)
def test_curve_host_server_serves_authorised_manager_only(tmp_path):
    from pyacq_etvr.core.errors import SecurityError
    from pyacq_etvr.core.rpc import RPCClient, auth

    keys = str(tmp_path / "keys")
    assert host_main(["--generate-keys", keys]) == 0
    h, addr = start_host_server("tcp://127.0.0.1:*", "--keys", keys)
    try:
        # without the deployment keys: refused at the handshake, nothing runs
        intruder = RPCClient(addr)
        with pytest.raises(SecurityError):
            intruder.send("get_item", {"name": "host"}, timeout=5)
        intruder.close()
        auth.use_keys_dir(keys)
        try:
            client = RPCClient(addr)
            host = client.send("get_item", {"name": "host"}, timeout=10)
            ng = host.create_nodegroup("secured", qt=False)
            assert "StreamMonitor" in ng.list_node_types()  # the NodeGroup process serves CURVE clients too
            assert host.close_nodegroup("secured") == 0
            client.close()
        finally:
            auth.use_keys_dir(None)
            auth.stop_authenticators()
    finally:
        assert stop_host_server(h) == 0
    assert "refused" in h.captured_err  # the host logged the refused attempt
