"""Streams between processes: one OutputStream process, two InputStream processes, every chunk checked."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys

import pytest

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_core_stream_peer.py")


def _readline(proc: subprocess.Popen, timeout: float) -> str:
    """One stdout line of ``proc`` within ``timeout`` seconds (fails the test otherwise)."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"no output from pid {proc.pid} within {timeout} s")
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(f"pid {proc.pid} exited: {proc.stderr.read()}")
    return line


def _spawn(role: str, cfg: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, PEER, role, json.dumps(cfg)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _reap(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(10)
        for f in (p.stdin, p.stdout, p.stderr):
            f.close()


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    "mode, protocol, kind, n",
    [
        ("plaindata", "tcp", "analog", 10000),
        ("plaindata", "ipc", "analog", 10000),
        ("sharedmem", "tcp", "analog", 10000),
        ("sharedmem", "ipc", "analog", 10000),
        ("plaindata", "tcp", "image", 2000),
        ("sharedmem", "ipc", "image", 2000),
        ("plaindata", "ipc", "struct", 3000),
        ("sharedmem", "tcp", "transposed", 3000),
    ],
)
def test_one_writer_two_reader_processes(mode, protocol, kind, n):
    cfg = dict(mode=mode, protocol=protocol, kind=kind, n=n, readers=2)
    procs = [_spawn("sender", cfg)]
    try:
        params_line = _readline(procs[0], 30)
        for _ in range(2):
            procs.append(_spawn("receiver", cfg))
            procs[-1].stdin.write(params_line)
            procs[-1].stdin.flush()
        for p in procs[1:]:
            assert _readline(p, 30).strip() == "ready"
        sent = json.loads(_readline(procs[0], 60))
        results = [json.loads(_readline(p, 60)) for p in procs[1:]]
        procs[0].stdin.write("done\n")
        procs[0].stdin.flush()
        for p in procs:
            assert p.wait(30) == 0, p.stderr.read()
    finally:
        _reap(procs)
    for res in results:
        assert res["n_bad"] == 0, res
        assert res["crc"] == sent["crc"]
        assert res["stats"]["received"] == n
        assert res["stats"]["dropped"] == 0 and res["stats"]["overruns"] == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode, protocol", [("plaindata", "tcp"), ("plaindata", "ipc"), ("sharedmem", "tcp")])
def test_remote_connect_then_start_loses_nothing(mode, protocol):
    """No wait_for_subscribers: connect() to another process's output returns once the transport handshake is
    done, and every chunk sent after that (here: after a 'go' from the parent) arrives (no slow-joiner loss)."""
    from pyacq_etvr.core.stream import InputStream

    cfg = dict(mode=mode, protocol=protocol, kind="analog", n=200, readers=0)
    procs = [_spawn("sender", cfg)]
    inp = InputStream()
    try:
        inp.connect(json.loads(_readline(procs[0], 30)))
        procs[0].stdin.write("go\n")
        procs[0].stdin.flush()
        indexes = [inp.recv(timeout=10000)[0] for _ in range(200)]
        assert indexes == [8 * (k + 1) for k in range(200)]
        assert inp.stats()["dropped"] == 0
        _readline(procs[0], 30)
        procs[0].stdin.write("done\n")
        procs[0].stdin.flush()
        assert procs[0].wait(30) == 0
    finally:
        inp.close()
        _reap(procs)
