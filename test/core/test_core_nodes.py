"""Reference nodes (NumpyDeviceBuffer, NoiseGenerator, StreamMonitor, StreamConverter, ChannelSplitter) and
the ThreadPollInput poller, wired with real streams in one process."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError, StateError
from pyacq_etvr.core.poller import Callbacks, ThreadPollInput
from pyacq_etvr.core.registry import get_node_type
from pyacq_etvr.core.stream import InputStream, OutputStream
from pyacq_etvr.core.tools import ChannelSplitter, StreamConverter, StreamMonitor
from pyacq_etvr.devices import NoiseGenerator, NumpyDeviceBuffer
from pyacq_etvr.testing import wait_until


def _device(buffer=None, chunksize=32, interval=1e-4, protocol="inproc", **kw):
    dev = NumpyDeviceBuffer(name="dev")
    dev.configure(
        nb_channel=4 if buffer is None else buffer.shape[1],
        sample_interval=interval,
        chunksize=chunksize,
        buffer=buffer,
    )
    dev.output.configure(protocol=protocol, **kw)
    dev.initialize()
    return dev


def test_numpy_device_replays_buffer_endlessly_into_monitor():
    buf = np.arange(100 * 4, dtype="int16").reshape(100, 4)
    dev = _device(buf, chunksize=30)
    got: list[tuple[int, np.ndarray]] = []
    mon = StreamMonitor(name="mon")
    mon.configure(callback=lambda i, d: got.append((i, d.copy())))
    mon.input.connect(dev.output)
    mon.initialize()
    assert dev.output.params["sample_rate"] == pytest.approx(1e4) and dev.output.params["shape"] == [-1, 4]
    mon.start()
    dev.start()
    assert wait_until(lambda: len(got) >= 8, 10)
    dev.stop()
    mon.stop()
    expected = np.concatenate([buf] * 3)
    for k, (index, data) in enumerate(got[:8]):
        assert index == 30 * (k + 1)
        np.testing.assert_array_equal(data, expected[index - 30 : index])
    stats = mon.stats()
    assert stats["chunks"] >= 8 and stats["samples"] == 30 * stats["chunks"] and stats["input_dropped"] == 0
    n = len(got)
    mon.start()  # both restartable
    dev.start()
    assert wait_until(lambda: len(got) > n, 10)
    dev.stop()
    mon.stop()
    for node in (mon, dev):
        node.close()


def test_noise_converter_monitor_chain():
    gen = NoiseGenerator(name="noise")
    gen.configure(chunksize=10, sample_rate=2000.0, nb_channel=2, seed=1)
    gen.output.configure(protocol="tcp", transfermode="plaindata")
    conv = StreamConverter(name="conv")
    conv.configure()
    conv.input.connect(gen.output)
    conv.output.configure(protocol="ipc")
    assert conv.output.params["shape"] == [-1, 2] and conv.output.params["sample_rate"] == 2000.0
    mon = get_node_type("StreamMonitor")(name="mon")
    mon.configure()
    mon.input.connect(conv.output)
    for node in (gen, conv, mon):
        node.initialize()
    for node in (mon, conv, gen):
        node.start()
    assert wait_until(lambda: mon.stats()["chunks"] >= 10, 10)
    for node in (gen, conv, mon):
        node.stop()
        node.close()
    assert mon.stats()["last_index"] % 10 == 0 and mon.stats()["max_latency_ms"] > 0


def test_channel_splitter():
    buf = np.arange(64 * 6, dtype="float32").reshape(64, 6)
    dev = _device(buf, chunksize=16)
    split = ChannelSplitter(name="split")
    split.configure(output_channels={"ab": [0, 1], "e": [4]})
    split.input.connect(dev.output)
    split.outputs["ab"].configure(protocol="inproc")
    split.outputs["e"].configure(protocol="inproc")
    ins = {}
    for name in ("ab", "e"):
        ins[name] = InputStream()
        ins[name].connect(split.outputs[name])
    split.initialize()
    split.start()
    dev.start()
    index, ab = ins["ab"].recv(timeout=5000)
    index2, e = ins["e"].recv(timeout=5000)
    dev.stop()
    split.stop()
    assert index == index2 == 16
    np.testing.assert_array_equal(ab, buf[:16, [0, 1]])
    np.testing.assert_array_equal(e, buf[:16, [4]])
    for s in ins.values():
        s.close()
    split.close()
    dev.close()


def test_splitter_bad_channels():
    dev = _device(np.zeros((10, 3), dtype="float32"), chunksize=5)
    split = ChannelSplitter(name="split")
    with pytest.raises(ConfigError, match="non-empty dict"):
        split.configure(output_channels={})
    with pytest.raises(ConfigError, match="channels >= 0"):
        split.configure(output_channels={"a": [-1]})
    split.configure(output_channels={"a": [7]})
    with pytest.raises(ConfigError, match="asks channel 7 of 3"):
        split.input.connect(dev.output)
    split.close()
    dev.close()


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(chunksize=0), "chunksize"),
        (dict(sample_interval=0), "sample_interval"),
        (dict(sample_interval="fast"), "sample_interval"),
        (dict(buffer=np.zeros((10, 3)), nb_channel=4), "nb_channel"),
        (dict(buffer=np.zeros((10, 4)), chunksize=11), "chunksize 11 > buffer length 10"),
        (dict(buffer=np.zeros(10)), r"\(n_samples, ...\)"),
    ],
)
def test_numpy_device_bad_configure(kw, match):
    dev = NumpyDeviceBuffer()
    kw.setdefault("nb_channel", 4)
    with pytest.raises(ConfigError, match=match):
        dev.configure(**kw)
    assert not dev.configured()


def test_noise_bad_configure_and_unconfigured_output():
    gen = NoiseGenerator()
    with pytest.raises(ConfigError, match="sample_rate"):
        gen.configure(sample_rate=0)
    with pytest.raises(ConfigError, match="nb_channel"):
        gen.configure(nb_channel=0)
    gen.configure(chunksize=5, sample_rate=1e4)
    gen.initialize()  # output left unconfigured: the pacing thread fails, stop() reports it
    gen.start()
    assert wait_until(lambda: not gen._pacer.is_running(), 5)
    with pytest.raises(StateError, match="pacing thread failed"):
        gen.stop()


def test_poller_callbacks_errors_and_latest():
    out = OutputStream()
    out.configure(protocol="inproc", dtype="int64", shape=(-1,))
    inp = InputStream()
    inp.connect(out)
    poller = ThreadPollInput(inp, timeout=50)
    received: list[int] = []
    done = threading.Event()

    def cb(index, data):
        received.append(int(data[0]))
        if data[0] == 1:
            raise RuntimeError("callback failure is logged, not fatal")
        if data[0] == 4:
            done.set()

    poller.new_data.connect(cb)
    poller.start()
    assert poller.is_running()
    for i in range(5):
        out.send(np.array([i]))
    assert done.wait(5)
    poller.stop()
    assert poller.wait(2000) and not poller.is_running()
    assert received == [0, 1, 2, 3, 4] and poller.errors == 1
    poller.new_data.disconnect(cb)
    with pytest.raises(ValueError):
        poller.new_data.disconnect(cb)
    inp.close()
    out.close()


def test_callbacks_list():
    cbs = Callbacks()
    seen = []
    cbs.connect(seen.append)
    cbs.connect(lambda x: seen.append(x * 2))
    cbs.emit(3)
    assert seen == [3, 6] and len(cbs) == 2
    cbs.disconnect()
    cbs.emit(1)
    assert seen == [3, 6]


def test_poller_latest_mode_delivers_only_the_newest():
    out = OutputStream()
    out.configure(protocol="inproc", dtype="int64", shape=(-1,))
    inp = InputStream()
    inp.connect(out)
    for i in range(5):
        out.send(np.array([i]))
    poller = ThreadPollInput(inp, timeout=50, latest=True, return_data=False)
    got: list[tuple[int, object]] = []
    poller.new_data.connect(lambda index, data: got.append((index, data)))
    poller.start()
    assert wait_until(lambda: len(got) >= 1, 5)
    poller.stop()
    assert poller.wait(2000)
    assert got == [(5, None)] and inp.stats()["skipped"] == 4
    assert poller.timestamp_ns > 0
    inp.close()
    out.close()


def test_poller_bad_arguments():
    with pytest.raises(ConfigError, match="timeout must be a number of ms > 0"):
        ThreadPollInput(InputStream(), timeout=0)
    with pytest.raises(ConfigError, match="timeout"):
        ThreadPollInput(InputStream(), timeout="1s")
    with pytest.raises(ConfigError, match="not an InputStream"):
        ThreadPollInput(object())


def test_converter_from_sharedmem_to_tcp():
    """pyacq's documented use: receive from a sharedmem stream and forward over tcp."""
    buf = np.arange(40 * 2, dtype="float32").reshape(40, 2)
    dev = _device(buf, chunksize=10, transfermode="sharedmem", buffer_size=100)
    conv = StreamConverter(name="conv")
    conv.configure()
    conv.input.connect(dev.output)
    conv.output.configure(protocol="tcp")
    inp = InputStream()
    inp.connect(conv.output)
    conv.initialize()
    conv.start()
    dev.start()
    got = [inp.recv(timeout=5000) for _ in range(5)]
    dev.stop()
    conv.stop()
    assert [i for i, _ in got] == [10, 20, 30, 40, 50]
    np.testing.assert_array_equal(got[4][1], buf[:10])  # the 5th chunk wrapped around the 40-sample buffer
    inp.close()
    conv.close()
    dev.close()
