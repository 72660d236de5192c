"""In-process stream round trips: every transfer mode x protocol x payload kind, and the bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError, SpecMismatchError, StreamError, StreamTimeout
from pyacq_etvr.core.stream import InputStream, OutputStream, transfermodes

MODES = [m for m in ("plaindata", "sharedmem") if m in transfermodes]
PROTOCOLS = ["tcp", "ipc", "inproc"]
POINT = np.dtype([("x", "<f4"), ("y", "<f4"), ("flags", "u1", (2,))])

PAYLOADS = {
    "analog": (dict(streamtype="analogsignal", dtype="float32", shape=(-1, 16)), lambda i: _analog(i)),
    "image": (dict(streamtype="image", dtype="uint8", shape=(-1, 240, 240)), lambda i: _image(i)),
    "struct": (dict(streamtype="event", dtype=POINT, shape=(-1,)), lambda i: _struct(i)),
    "transposed": (dict(streamtype="analogsignal", dtype="float64", shape=(-1, 3)), lambda i: _transposed(i)),
}


def _analog(i: int) -> np.ndarray:
    return (np.arange(32 * 16, dtype="float32").reshape(32, 16) + i).astype("float32")


def _image(i: int) -> np.ndarray:
    img = np.full((1, 240, 240), i % 256, dtype="uint8")
    img[0, i % 240, :] = 255
    return img


def _struct(i: int) -> np.ndarray:
    arr = np.zeros(5, dtype=POINT)
    arr["x"] = np.arange(5) + i
    arr["y"] = -i
    arr["flags"] = [[i % 7, 1]] * 5
    return arr


def _transposed(i: int) -> np.ndarray:
    base = np.arange(3 * 10, dtype="float64").reshape(3, 10) * (i + 1)
    chunk = base.T  # (10, 3), not C-contiguous
    assert not chunk.flags.c_contiguous
    return chunk


def _extra(mode: str) -> dict:
    return dict(buffer_size=64) if mode == "sharedmem" else {}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("kind", list(PAYLOADS))
def test_roundtrip(mode, protocol, kind):
    spec, make = PAYLOADS[kind]
    out = OutputStream()
    out.configure(protocol=protocol, transfermode=mode, **spec, **_extra(mode))
    inp = InputStream()
    inp.connect(out)
    try:
        index = 0
        for i in range(20):
            chunk = make(i)
            index += chunk.shape[0]
            out.send(chunk, timestamp_ns=1000 + i)
            got_index, data, ts = inp.recv(timeout=2000, with_timestamp=True)
            assert got_index == index and ts == 1000 + i
            assert data.dtype == chunk.dtype and data.shape == chunk.shape
            np.testing.assert_array_equal(data, chunk)
        assert inp.stats()["received"] == 20 and inp.stats()["dropped"] == 0
    finally:
        inp.close()
        out.close()


@pytest.mark.parametrize("mode", MODES)
def test_latest_skips_and_counts(mode):
    out = OutputStream()
    out.configure(protocol="inproc", transfermode=mode, dtype="int32", shape=(-1,), **_extra(mode))
    inp = InputStream(latest=True)
    inp.connect(out)
    for i in range(10):
        out.send(np.full(2, i, dtype="int32"))
    assert inp.poll(1000)
    index, data = inp.recv(timeout=1000)
    assert index == 20 and data.tolist() == [9, 9]
    assert inp.stats()["skipped"] == 9
    out.send(np.zeros(2, dtype="int32"))
    out.send(np.ones(2, dtype="int32"))
    index, data = inp.recv(timeout=1000, latest=False)
    assert index == 22 and data.tolist() == [0, 0]
    assert inp.empty_queue() == 1
    with pytest.raises(StreamTimeout):
        inp.recv(timeout=10)
    inp.close()
    out.close()


def test_explicit_index_and_default_configure():
    out = OutputStream()
    out.configure()  # tcp, 127.0.0.1, port *, plaindata, float32 (-1, 1)
    assert out.params["protocol"] == "tcp" and out.params["url"].startswith("tcp://127.0.0.1:")
    inp = InputStream()
    inp.connect(out.params)  # a params dict works too
    out.send(np.zeros((4, 1), dtype="float32"), index=1000)
    out.send(np.zeros((2, 1), dtype="float32"))
    assert inp.recv(timeout=1000)[0] == 1000
    assert inp.recv(timeout=1000)[0] == 1002
    inp.close()
    out.close()


class _Proxy:
    """Stands for an RPC proxy: .params yields an object with _get_value()."""

    def __init__(self, out):
        self._out = out

    @property
    def params(self):
        out = self._out

        class _Remote:
            def _get_value(self):
                return dict(out.params)

        return _Remote()


def test_connect_through_proxy_like_object():
    out = OutputStream()
    out.configure(protocol="ipc", dtype="uint16", shape=(-1, 2))
    inp = InputStream()
    inp.connect(_Proxy(out))
    out.send(np.ones((3, 2), dtype="uint16"))
    assert inp.recv(timeout=1000)[1].sum() == 6
    inp.close()
    out.close()


def test_send_rejects_bad_chunks_and_stream_survives():
    out = OutputStream(name="sig")
    out.configure(protocol="inproc", dtype="float32", shape=(-1, 4))
    inp = InputStream()
    inp.connect(out)
    with pytest.raises(SpecMismatchError, match="dtype float64 differs from stream dtype float32"):
        out.send(np.zeros((2, 4)))
    with pytest.raises(SpecMismatchError, match=r"chunk shape \(2, 5\) does not match stream shape \(-1, 4\)"):
        out.send(np.zeros((2, 5), dtype="float32"))
    with pytest.raises(SpecMismatchError, match="expects a numpy array"):
        out.send([[0.0] * 4])
    with pytest.raises(SpecMismatchError, match="shape"):
        out.send(np.zeros((2, 4, 1), dtype="float32"))
    out.send(np.ones((2, 4), dtype="float32"))
    assert inp.recv(timeout=1000)[0] == 2  # nothing was lost, index unaffected by refused chunks
    inp.close()
    out.close()
    with pytest.raises(StreamError, match="after close"):
        out.send(np.ones((2, 4), dtype="float32"))


def test_fixed_first_axis_is_checked():
    out = OutputStream()
    out.configure(protocol="inproc", dtype="uint8", shape=(1, 8, 8))
    with pytest.raises(SpecMismatchError):
        out.send(np.zeros((2, 8, 8), dtype="uint8"))
    with pytest.raises(SpecMismatchError, match=r"chunk shape \(\) does not match"):
        out.send(np.zeros((), dtype="uint8"))
    out.close()


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(protocol="udp"), "protocol"),
        (dict(transfermode="carrier-pigeon"), "transfermode"),
        (dict(shape=(4, -1)), "shape"),
        (dict(dtype="notadtype"), "dtype"),
        (dict(bogus=3), "unknown stream parameter"),
        (dict(compression="blosc"), "compression"),
        (dict(sample_rate=-5), "sample_rate"),
        (dict(port="http"), "port"),
    ],
)
def test_configure_rejects_bad_params(kw, match):
    out = OutputStream()
    with pytest.raises(ConfigError, match=match):
        out.configure(**kw)
    assert not out.configured
    out.configure(protocol="inproc")  # still usable
    out.close()


def test_connect_errors():
    inp = InputStream(name="in")
    with pytest.raises(ConfigError, match="expects an OutputStream"):
        inp.connect(42)
    with pytest.raises(ConfigError, match="not configured"):
        inp.connect(OutputStream())
    with pytest.raises(StreamError, match="no open inproc output"):
        inp.connect(dict(url="inproc://pyacq_etvr_nothing", transfermode="plaindata", dtype="f4", shape=[-1]))
    with pytest.raises(StreamError, match="no answer"):
        inp.connect(dict(url="tcp://127.0.0.1:9", transfermode="plaindata", dtype="f4", shape=[-1]), timeout=200)
    with pytest.raises(StreamError, match="not connected"):
        inp.recv(timeout=0)
    out = OutputStream()
    out.configure(protocol="inproc", dtype="float32", shape=(-1, 3))
    with pytest.raises(SpecMismatchError, match="shape differs"):
        InputStream(spec=dict(shape=(-1, 4))).connect(out)
    with pytest.raises(SpecMismatchError, match="streamtype differs"):
        InputStream(spec=dict(streamtype="image")).connect(out)
    out.close()


def test_ringbuffer_on_input():
    out = OutputStream()
    out.configure(protocol="inproc", dtype="float32", shape=(-1, 2))
    inp = InputStream()
    inp.connect(out)
    with pytest.raises(StreamError, match="set_buffer"):
        inp.get_data(0, 1)
    inp.set_buffer(size=10, double=False)
    for i in range(4):
        out.send(np.full((3, 2), i, dtype="float32"))
        inp.recv(timeout=1000)
    data = inp.get_data(6, 12)
    assert data[:, 0].tolist() == [2, 2, 2, 3, 3, 3]
    first, second = inp.get_data(2, 12, join=False)
    assert len(first) + len(second) == 10
    inp.close()
    out.close()


def test_hwm_drops_are_counted():
    out = OutputStream()
    out.configure(protocol="inproc", dtype="uint8", shape=(-1,), sndhwm=10)
    inp = InputStream()
    inp.connect(out)
    for _ in range(3000):  # inproc queues sndhwm + rcvhwm (10 + 1000) chunks
        out.send(np.zeros(4, dtype="uint8"))
    n = 0
    while inp.poll(50):
        inp.recv(timeout=0)
        n += 1
    out.send(np.zeros(4, dtype="uint8"))  # the first chunk after the gap reveals the drops
    inp.recv(timeout=1000)
    assert n < 3000 and inp.stats()["dropped"] == 3000 - n
    inp.close()
    out.close()


@pytest.mark.parametrize("mode", MODES)
def test_params_are_json_and_msgpack_serialisable(mode):
    import json

    import msgpack

    out = OutputStream()
    extra = dict(buffer_size=8, fill=np.float32(0.5), axisorder=(1, 0)) if mode == "sharedmem" else {}
    size = dict(buffer_size=8) if mode == "sharedmem" else {}
    out.configure(protocol="tcp", transfermode=mode, dtype=PAYLOADS["struct"][0]["dtype"], shape=(-1,), **size)
    assert json.loads(json.dumps(out.params))["dtype"] == [["x", "<f4"], ["y", "<f4"], ["flags", "|u1", [2]]]
    out.close()
    out.configure(
        protocol="tcp", transfermode=mode, dtype="float32", shape=(-1, 2), sample_rate=np.float64(10), **extra
    )
    params = json.loads(json.dumps(out.params))
    assert msgpack.unpackb(msgpack.packb(out.params)) == params
    inp = InputStream()
    inp.connect(params)  # a params dict that went through JSON still connects
    out.send(np.ones((3, 2), dtype="float32"))
    assert inp.recv(timeout=1000)[0] == 3
    inp.close()
    out.close()


def test_pump_thread_serves_idle_outputs_and_ends_with_the_last_one():
    import threading

    from pyacq_etvr.core.stream.channel import ACK_TOPIC
    from pyacq_etvr.testing import wait_until

    def pumps() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "pyacq_etvr-stream-pump"]

    out = OutputStream()
    out.configure(protocol="tcp", dtype="uint8", shape=(-1,))
    assert pumps()  # started with the first output
    # a raw SUB that asks for an acknowledgement, like a remote input: only the pump thread can answer it
    import zmq

    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.SUBSCRIBE, ACK_TOPIC + b"x" * 32)
    sub.connect(out.params["url"])
    assert sub.poll(5000) and sub.recv() != b""  # welcome and/or ack, without any send() on the output
    assert wait_until(lambda: out._channel.n_subscribers == 1, 5)
    sub.close(0)
    out.close()
    assert wait_until(lambda: not pumps(), 5)


def test_forked_child_does_not_pump_the_parents_sockets():
    import os

    from pyacq_etvr.core.stream import channel

    out = OutputStream()
    out.configure(protocol="inproc", dtype="uint8", shape=(-1,))
    pid = os.fork()
    if pid == 0:  # child: its registry and pump are empty, so nothing touches the inherited socket
        ok = channel.local_channel(out.params["url"]) is None and not list(channel._pump._channels)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert channel.local_channel(out.params["url"]) is not None  # the parent is unaffected
    out.close()


@pytest.mark.parametrize("timeout", ["100", -5, [1]])
def test_bad_timeouts_are_refused(timeout):
    out = OutputStream()
    out.configure(protocol="inproc", dtype="uint8", shape=(-1,))
    inp = InputStream(name="in")
    inp.connect(out)
    with pytest.raises(ConfigError, match="timeout must be None or a number of ms"):
        inp.recv(timeout=timeout)
    with pytest.raises(ConfigError, match="timeout"):
        inp.poll(timeout)
    out.send(np.zeros(1, dtype="uint8"))
    assert inp.recv(timeout=np.float64(1000))[0] == 1  # numpy numbers are fine, and nothing was lost
    inp.close()
    out.close()
