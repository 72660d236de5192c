"""Closing an InputStream (or its node) while a ThreadPollInput reads it is safe in every transfer mode.

libzmq aborts the whole process when a socket is closed under a thread polling it; the stream must stop and
join its registered readers first.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from pyacq_etvr.core.poller import ThreadPollInput
from pyacq_etvr.core.stream import InputStream, OutputStream
from pyacq_etvr.core.tools import StreamMonitor
from pyacq_etvr.testing import wait_until


@pytest.mark.parametrize(
    "mode,protocol", [("plaindata", "tcp"), ("plaindata", "inproc"), ("sharedmem", "tcp"), ("sharedmem", "ipc")]
)
def test_close_input_under_running_poller(mode, protocol):
    out = OutputStream()
    kw = {"buffer_size": 64} if mode == "sharedmem" else {}
    out.configure(protocol=protocol, transfermode=mode, dtype="float32", shape=(-1, 2), **kw)
    inp = InputStream()
    inp.connect(out)
    got = []
    poller = ThreadPollInput(inp, timeout=50)
    poller.new_data.connect(lambda i, d: got.append(i))
    poller.start()
    for k in range(5):
        out.send(np.full((4, 2), k, "float32"))
    assert wait_until(lambda: len(got) == 5, 5.0), got
    inp.close()  # from the main thread, while the poller is inside recv()
    assert not poller.is_running()
    inp.close()  # idempotent
    out.close()


def test_close_from_the_pollers_own_callback():
    out = OutputStream()
    out.configure(protocol="inproc", dtype="float32", shape=(-1, 2))
    inp = InputStream()
    inp.connect(out)
    closed = threading.Event()

    def on_data(index, data):
        inp.close()
        closed.set()

    poller = ThreadPollInput(inp, timeout=50)
    poller.new_data.connect(on_data)
    poller.start()
    out.send(np.zeros((2, 2), "float32"))
    assert closed.wait(5.0)
    assert poller.wait(2000)
    out.close()


def test_stream_monitor_closed_without_stopping_its_poller_first():
    out = OutputStream()
    out.configure(protocol="tcp", dtype="float64", shape=(-1, 3))
    mon = StreamMonitor()
    mon.configure()
    mon.input.connect(out)
    mon.initialize()
    mon.start()
    out.send(np.zeros((5, 3)))
    assert wait_until(lambda: mon.stats()["chunks"] == 1, 5.0)
    # a custom thread keeps reading the node's input (pyacq's docs poll inputs from user threads too)
    extra = ThreadPollInput(mon.input, timeout=50)
    extra.start()
    mon.stop()
    mon.close()  # closes the input: both the node's poller and the extra one are stopped first
    assert not extra.is_running()
    assert mon.stats()["samples"] == 5
    out.close()
