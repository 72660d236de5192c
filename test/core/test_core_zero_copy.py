"""Zero-copy: a contiguous chunk is not copied in Python on its way, and receivers cannot write into it."""

from __future__ import annotations

import numpy as np
import pytest

from pyacq_etvr.core.stream import InputStream, OutputStream


def _pair(protocol: str, shape: tuple[int, ...]):
    out = OutputStream()
    out.configure(protocol=protocol, transfermode="plaindata", dtype="uint8", shape=shape)
    inp = InputStream()
    inp.connect(out)
    return out, inp


def test_inproc_large_chunk_arrives_without_a_copy():
    out, inp = _pair("inproc", (-1, 480, 640))
    try:
        sent = np.arange(2 * 480 * 640, dtype=np.uint32).astype(np.uint8).reshape(2, 480, 640)
        out.send(sent)
        _, got = inp.recv(timeout=2000)
        # the receiver's array is a view of the very memory that was sent (no copy anywhere on the way)
        assert got.__array_interface__["data"][0] == sent.__array_interface__["data"][0]
        np.testing.assert_array_equal(got, sent)
        assert not got.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            got[0, 0, 0] = 1
    finally:
        inp.close()
        out.close()


@pytest.mark.parametrize("protocol", ["tcp", "ipc"])
def test_received_chunks_are_read_only_views(protocol):
    out, inp = _pair(protocol, (-1, 240, 240))
    try:
        sent = np.random.default_rng(0).integers(0, 255, (1, 240, 240), dtype=np.uint8)
        out.send(sent)
        _, got = inp.recv(timeout=2000)
        np.testing.assert_array_equal(got, sent)
        assert not got.flags.writeable and not got.flags.owndata  # a view on the received frame
    finally:
        inp.close()
        out.close()
