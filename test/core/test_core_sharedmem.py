"""sharedmem specifics: overrun detection (never torn data), shared-ring reads, SIGKILL cleanup, bad inputs."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest

from pyacq_etvr.core.errors import (
    ConfigError,
    NotAvailableError,
    OverrunError,
    SpecMismatchError,
    StreamClosedError,
    StreamError,
)
from pyacq_etvr.core.stream import InputStream, OutputStream, cleanup_stale_segments
from pyacq_etvr.testing import SHM_DIR, shm_segments

from .test_core_multiprocess import _readline, _reap, _spawn


def _pair(buffer_size=4, raise_on_overrun=False, **kw):
    out = OutputStream(name="ring")
    kw.setdefault("dtype", "int32")
    kw.setdefault("shape", (-1,))
    out.configure(protocol="inproc", transfermode="sharedmem", buffer_size=buffer_size, **kw)
    inp = InputStream(raise_on_overrun=raise_on_overrun)
    inp.connect(out)
    return out, inp


def test_overrun_is_detected_and_counted():
    out, inp = _pair(buffer_size=4)
    for i in range(10):
        out.send(np.array([i], dtype="int32"))
    index, data = inp.recv(timeout=1000)
    assert index == 10 and data.tolist() == [9]  # jumped to the newest chunk
    assert inp.stats()["overruns"] == 1 and inp.stats()["skipped"] == 9
    out.send(np.array([10], dtype="int32"))
    assert inp.recv(timeout=1000)[1].tolist() == [10]
    inp.close()
    out.close()


def test_overrun_raises_when_asked_then_continues():
    out, inp = _pair(buffer_size=4, raise_on_overrun=True)
    for i in range(10):
        out.send(np.array([i], dtype="int32"))
    with pytest.raises(OverrunError, match="fell behind"):
        inp.recv(timeout=1000)
    assert inp.recv(timeout=1000)[0] == 10
    inp.close()
    out.close()


def test_shared_ring_get_data_and_axisorder():
    out, inp = _pair(buffer_size=16, dtype="float32", shape=(-1, 3), double=True, axisorder=(1, 0))
    inp.set_buffer(shmem=True)
    for i in range(10):
        out.send(np.full((3, 3), i, dtype="float32") + np.arange(3, dtype="float32"))
    data = inp.get_data(20, 30)
    assert data.shape == (10, 3) and data[:, 0].tolist() == [6, 7, 7, 7, 8, 8, 8, 9, 9, 9]
    assert data[:, 2].tolist() == [8, 9, 9, 9, 10, 10, 10, 11, 11, 11]
    with pytest.raises(OverrunError, match="overwritten"):
        inp.get_data(0, 5)
    with pytest.raises(NotAvailableError, match="beyond the last index"):
        inp.get_data(25, 40)
    ring = inp.buffer.ring.buffer
    assert ring.strides[0] < ring.strides[1]  # time is the fast axis in memory with axisorder=(1, 0)
    inp.close()
    out.close()


def test_closed_writer_ends_reader():
    out, inp = _pair()
    out.send(np.array([1], dtype="int32"))
    out.close()
    assert inp.recv(timeout=1000)[1].tolist() == [1]  # committed data stays readable
    with pytest.raises(StreamClosedError):
        inp.recv(timeout=1000)
    inp.close()


def test_sharedmem_bad_inputs():
    mine = lambda: {n for n in shm_segments() if f"ring_{os.getpid()}_" in n}
    out = OutputStream(name="ring")
    with pytest.raises(ConfigError, match="buffer_size"):
        out.configure(transfermode="sharedmem", dtype="int16", shape=(-1,))
    with pytest.raises(ConfigError, match="axisorder"):
        out.configure(transfermode="sharedmem", buffer_size=8, dtype="int16", shape=(-1, 2), axisorder=(0, 0))
    assert mine() == set()  # a refused configure leaves no half-created segment
    out.configure(protocol="inproc", transfermode="sharedmem", buffer_size=8, dtype="int16", shape=(-1, 2))
    with pytest.raises(SpecMismatchError, match="chunk of 9 samples > buffer_size 8"):
        out.send(np.zeros((9, 2), dtype="int16"))
    out.send(np.zeros((2, 2), dtype="int16"), index=100)
    with pytest.raises(SpecMismatchError, match="goes back"):
        out.send(np.zeros((2, 2), dtype="int16"), index=50)
    params = dict(out.params, shm_name="pyacq_etvr_ring_1_1_dead")
    with pytest.raises(StreamError, match="not found"):
        InputStream().connect(params)
    with pytest.raises(StreamError, match="invalid shared memory segment name"):
        InputStream().connect(dict(out.params, shm_name="../etc/passwd"))
    out.close()


@pytest.mark.timeout(60)
def test_slow_reader_never_gets_torn_frames():
    cfg = dict(buffer_size=4, readers=2, seconds=2.0)
    procs = [_spawn("blaster", cfg)]
    try:
        params = json.loads(_readline(procs[0], 30))
        slow, strict = InputStream(), InputStream(raise_on_overrun=True)
        slow.connect(params)
        strict.connect(params)
        checked, raised = 0, 0
        deadline = time.monotonic() + 10
        while checked < 150 and time.monotonic() < deadline:
            index, frame = slow.recv(timeout=5000)
            assert frame.min() == frame.max() == (index - 1) % 251, "torn or mismatched frame"
            checked += 1
            time.sleep(0.002)  # deliberately slow: the writer laps this reader
            try:
                index, frame = strict.recv(timeout=5000)
                assert frame.min() == frame.max() == (index - 1) % 251
            except OverrunError:
                raised += 1
        assert checked == 150
        assert slow.stats()["overruns"] > 0 and slow.stats()["skipped"] > 0
        assert raised > 0 and strict.stats()["overruns"] == raised
        slow.close()
        strict.close()
        procs[0].stdin.write("done\n")
        procs[0].stdin.flush()
        _readline(procs[0], 30)
        assert procs[0].wait(30) == 0
    finally:
        _reap(procs)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["cleanup_call", "next_writer"])
def test_segment_of_sigkilled_writer_is_removed(how):
    cfg = dict(mode="sharedmem", protocol="ipc", kind="analog", n=10, readers=1)
    procs = [_spawn("sender", cfg)]
    try:
        params = json.loads(_readline(procs[0], 30))
        name = params["shm_name"]
        assert os.path.exists(os.path.join(SHM_DIR, name))
        reader = InputStream()
        reader.connect(params)
        for _ in range(10):
            reader.recv(timeout=5000)
        os.kill(procs[0].pid, signal.SIGKILL)
        assert procs[0].wait(10) == -signal.SIGKILL
        with pytest.raises(StreamClosedError, match="died"):
            reader.recv(timeout=5000)  # a reader of a dead writer is told, not left waiting
        reader.close()
        assert os.path.exists(os.path.join(SHM_DIR, name))  # the killed owner could not unlink it
        with pytest.raises(StreamClosedError, match="writer of this ring is gone"):
            InputStream().connect(params)  # fails at once instead of waiting for a dead output
        if how == "cleanup_call":
            assert name in cleanup_stale_segments()
        else:
            out = OutputStream()
            out.configure(protocol="inproc", transfermode="sharedmem", buffer_size=4, dtype="uint8", shape=(-1,))
            out.close()
        assert not os.path.exists(os.path.join(SHM_DIR, name))
    finally:
        _reap(procs)


def test_cleanup_keeps_live_segments():
    out, inp = _pair()
    assert out.params["shm_name"] not in cleanup_stale_segments()
    assert os.path.exists(os.path.join(SHM_DIR, out.params["shm_name"]))
    inp.close()
    out.close()
    assert not os.path.exists(os.path.join(SHM_DIR, out.params["shm_name"]))
