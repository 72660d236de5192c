"""Filter nodes on real streams (in-process, tcp and inproc)."""

from __future__ import annotations

import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError, SpecMismatchError
from pyacq_etvr.core.stream import InputStream, OutputStream
from pyacq_etvr.eyetypes import GAZE_DTYPE, PUPIL_DTYPE
from pyacq_etvr.nodes.filters.nodes import FilterChain, OneEuroFilter
from pyacq_etvr.nodes.filters.one_euro import OneEuro


def run_through(node, chunks, out_dtype, protocol="tcp"):
    src = OutputStream()
    src.configure(dtype=out_dtype, shape=(-1,) if out_dtype.fields else (-1, chunks[0].shape[1]), protocol=protocol)
    node.input.connect(src)
    node.output.configure(protocol=protocol)
    sink = InputStream()
    sink.connect(node.output)
    node.initialize()
    node.start()
    got = []
    try:
        for i, c in enumerate(chunks):
            src.send(c, index=i + 1, timestamp_ns=1000 + i)
        for _ in chunks:
            got.append(sink.recv(timeout=5000, with_timestamp=True))
    finally:
        node.stop()
        node.close()
        sink.close()
        src.close()
    return got


def pupil_chunks(n):
    rng = np.random.default_rng(0)
    p = np.zeros(n, PUPIL_DTYPE)
    p["timestamp_ns"] = (np.arange(n) * 1e9 / 60).astype(np.int64)
    p["found"] = True
    p["confidence"] = 0.9
    p["x"] = 100 + rng.normal(size=n)
    p["y"] = 80 + rng.normal(size=n)
    p["found"][10:14] = False
    p["x"][10:14] = np.nan
    p["y"][10:14] = np.nan
    return [p[i : i + 1] for i in range(n)]


def test_one_euro_node_matches_plain_filter_and_keeps_index_and_time():
    chunks = pupil_chunks(40)
    node = OneEuroFilter(name="oe")
    node.configure(min_cutoff=1.0, beta=0.1)
    got = run_through(node, chunks, PUPIL_DTYPE)
    allp = np.concatenate(chunks)
    ref = OneEuro(min_cutoff=1.0, beta=0.1)(np.stack([allp["x"], allp["y"]], 1), allp["timestamp_ns"])
    out = np.concatenate([g[1] for g in got])
    np.testing.assert_allclose(out["x"], ref[:, 0].astype(np.float32), rtol=1e-6)
    assert [g[0] for g in got] == list(range(1, 41)) and [g[2] for g in got] == [1000 + i for i in range(40)]
    np.testing.assert_array_equal(out["found"], allp["found"])  # other fields untouched


def test_filter_chain_holds_blinks_on_gaze_stream_inproc():
    g = np.zeros(20, GAZE_DTYPE)
    g["timestamp_ns"] = (np.arange(20) * 1e9 / 60).astype(np.int64)
    g["x"], g["y"], g["valid"], g["confidence"], g["calibrated"] = 0.5, -0.25, True, 1.0, True
    g["valid"][8:12] = False
    g["x"][8:12] = np.nan
    node = FilterChain()
    node.configure(dtype=GAZE_DTYPE, filters=[("moving_average", {"window": 3}), ("blink_hold", {"max_hold": 1.0})])
    got = run_through(node, [g[i : i + 1] for i in range(20)], GAZE_DTYPE, protocol="inproc")
    out = np.concatenate([x[1] for x in got])
    assert np.isfinite(out["x"]).all() and np.allclose(out["x"], 0.5)
    assert not out["valid"][8:12].any()


def test_analog_stream_and_bad_config():
    node = OneEuroFilter()
    node.configure(dtype="float32", shape=(-1, 3), sample_rate=100.0)
    data = np.random.default_rng(1).normal(size=(10, 3)).astype(np.float32)
    out = node.process(data, 10**9)
    assert out.shape == (10, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], data[0])
    with pytest.raises(ConfigError, match="filters.one_euro.min_cutoff"):
        OneEuroFilter().configure(min_cutoff=-1)
    with pytest.raises(ConfigError, match="fields"):
        OneEuroFilter().configure(fields=("found",))
    with pytest.raises(ConfigError, match="unknown filter"):
        FilterChain().configure(filters=[("kalman", {})])
    with pytest.raises(ConfigError, match="filters.outlier"):
        FilterChain().configure(filters=[("outlier", {"nope": 1})])
    with pytest.raises(ConfigError, match="dtype"):
        node.process(np.zeros((2, 3), np.float64))


def test_connecting_a_wrong_stream_is_refused():
    src = OutputStream()
    src.configure(dtype="uint8", shape=(-1, 8, 8))
    node = OneEuroFilter()
    node.configure()
    try:
        with pytest.raises(SpecMismatchError):
            node.input.connect(src)
    finally:
        node.close()
        src.close()
