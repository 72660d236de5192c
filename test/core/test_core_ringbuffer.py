"""RingBuffer: single/double rings, axis order, gaps, wrap-around reads and the bad requests."""

from __future__ import annotations

import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError, NotAvailableError, OverrunError
from pyacq_etvr.core.stream import RingBuffer


@pytest.mark.parametrize("double", [True, False])
@pytest.mark.parametrize("axisorder", [None, (1, 0)])
def test_history_matches_a_plain_concatenation(double, axisorder):
    ring = RingBuffer((10, 3), "float32", double=double, axisorder=axisorder)
    history = []
    rng = np.random.default_rng(0)
    for _ in range(25):
        chunk = rng.standard_normal((int(rng.integers(1, 5)), 3)).astype("float32")
        ring.new_chunk(chunk)
        history.append(chunk)
        full = np.concatenate(history)
        last = ring.last_index()
        assert last == len(full) and ring.first_index() == max(0, last - 10)
        for start in range(ring.first_index(), last):
            got = ring.get_data(start, last)
            np.testing.assert_array_equal(got, full[start:last])
            if double:
                assert np.shares_memory(got, ring.buffer)  # double ring: always a view, never a copy


def test_single_ring_wrapped_segment_join_false_gives_two_views():
    ring = RingBuffer((8,), "int64", double=False)
    ring.new_chunk(np.arange(13))
    first, second = ring.get_data(7, 13, join=False)
    assert first.tolist() == [7] and second.tolist() == [8, 9, 10, 11, 12]
    assert ring.get_data(7, 13).tolist() == list(range(7, 13))
    copy = ring.get_data(9, 11, copy=True)
    copy[0] = -1
    assert ring.get_data(9, 11).tolist() == [9, 10]


def test_gap_gets_the_fill_value():
    ring = RingBuffer((6, 2), "int16", fill=7)
    assert (ring.buffer == 7).all()
    ring.new_chunk(np.ones((2, 2), "int16"), index=2)
    ring.new_chunk(np.full((1, 2), 5, "int16"), index=5)  # samples 2..3 missing
    assert ring.get_data(0, 5)[:, 0].tolist() == [1, 1, 7, 7, 5]
    assert ring[3:5][:, 1].tolist() == [7, 5]
    plain = RingBuffer((4,), "int16")
    plain.new_chunk(np.ones(1, "int16"), index=3)
    assert plain.get_data(0, 3).tolist() == [0, 0, 1]


def test_chunk_longer_than_ring_keeps_the_tail():
    ring = RingBuffer((4,), "int32")
    ring.new_chunk(np.arange(10, dtype="int32"))
    assert ring.get_data(6, 10).tolist() == [6, 7, 8, 9]


def test_structured_dtype():
    dt = np.dtype([("x", "f4"), ("n", "i2")])
    ring = RingBuffer((4,), dt)
    chunk = np.zeros(3, dt)
    chunk["x"] = [1, 2, 3]
    ring.new_chunk(chunk)
    assert ring.get_data(1, 3)["x"].tolist() == [2, 3]


def test_bad_requests():
    ring = RingBuffer((4, 2), "float32")
    ring.new_chunk(np.zeros((6, 2), "float32"))
    with pytest.raises(OverrunError, match="overwritten"):
        ring.get_data(1, 3)
    with pytest.raises(NotAvailableError, match="beyond the last index 6"):
        ring.get_data(4, 7)
    with pytest.raises(ConfigError, match="stop 3 < start 5"):
        ring.get_data(5, 3)
    with pytest.raises(ConfigError, match="rewrite samples"):
        ring.new_chunk(np.zeros((2, 2), "float32"), index=5)
    with pytest.raises(ConfigError, match="slices"):
        ring[3]
    with pytest.raises(ConfigError, match="must be > 0"):
        RingBuffer((0, 2), "float32")
    with pytest.raises(ConfigError, match="permutation"):
        RingBuffer((4, 2), "float32", axisorder=(0, 2))
    with pytest.raises(ConfigError, match="dtype"):
        RingBuffer((4, 2), "nope")
    assert ring.last_index() == 6  # refused requests changed nothing
