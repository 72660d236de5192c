"""Raw recording format: writer, reader, crash safety (a real SIGKILL mid-recording)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError, PyacqError
from pyacq_etvr.eyetypes import PUPIL_DTYPE
from pyacq_etvr.nodes.recorder import RawRecording, RawStreamWriter, create_recording_folder


def test_roundtrip_images_and_structured(tmp_path):
    d = str(tmp_path / "rec")
    create_recording_folder(d, ["video", "pupil"])
    wv = RawStreamWriter(d, "video", {"dtype": "uint8", "shape": (-1, 24, 32), "streamtype": "video"})
    wp = RawStreamWriter(d, "pupil", {"dtype": PUPIL_DTYPE.descr, "shape": [-1]})
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (50, 24, 32), dtype=np.uint8)
    pup = np.zeros(50, PUPIL_DTYPE)
    pup["index"] = np.arange(1, 51)
    pup["x"] = rng.normal(size=50)
    for i in range(50):
        wv.write(i + 1, 1000 + i, frames[i : i + 1])
    wp.write(20, 5, pup[:20])  # chunks of different sizes
    wp.write(50, 6, pup[20:])
    wv.close()
    wp.close()
    rec = RawRecording(d)
    assert rec.streams == ["video", "pupil"]
    v = rec.read("video")
    np.testing.assert_array_equal(v.data, frames)
    np.testing.assert_array_equal(v.chunk_index, np.arange(1, 51))
    np.testing.assert_array_equal(v.timestamp_ns, 1000 + np.arange(50))
    assert v.header["streamtype"] == "video" and v.truncated_bytes == 0
    p = rec.read("pupil")
    assert p.data.dtype == PUPIL_DTYPE
    np.testing.assert_array_equal(p.data, pup)
    np.testing.assert_array_equal(p.timestamp_ns, [5] * 20 + [6] * 30)


def test_writer_rejects_mismatching_chunk_and_reader_bad_folders(tmp_path):
    d = str(tmp_path / "rec")
    create_recording_folder(d, ["a"])
    w = RawStreamWriter(d, "a", {"dtype": "float32", "shape": (-1, 2)})
    with pytest.raises(PyacqError, match="does not match"):
        w.write(1, 0, np.zeros((1, 3), np.float32))
    w.write(1, 0, np.zeros((1, 2), np.float32))  # the bad chunk broke nothing
    w.close()
    assert RawRecording(d).read("a").data.shape == (1, 2)
    with pytest.raises(ConfigError, match="already exists"):
        create_recording_folder(d, ["b"])
    with pytest.raises(ConfigError, match="does not exist"):
        RawRecording(str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="not a pyacq_etvr recording"):
        RawRecording(str(tmp_path))
    with pytest.raises(ConfigError, match="no stream"):
        RawRecording(d).read("zzz")
    with pytest.raises(ConfigError, match="file name"):
        RawStreamWriter(d, "../evil", {"dtype": "uint8"})


def test_sigkill_mid_recording_leaves_every_chunk_readable(tmp_path):
    d = str(tmp_path / "rec")
    code = textwrap.dedent(
        f"""
        import sys, numpy as np
        from pyacq_etvr.nodes.recorder import RawStreamWriter, create_recording_folder
        create_recording_folder({d!r}, ["x"])
        w = RawStreamWriter({d!r}, "x", {{"dtype": "int64", "shape": (-1, 1000)}})
        i = 0
        while True:
            i += 1
            w.write(i, i, np.full((1, 1000), i, np.int64))
            if i == 200:
                print("ready", flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
        proc.stdout.close()
    s = RawRecording(d).read("x")
    n = s.data.shape[0]
    assert n >= 200
    np.testing.assert_array_equal(s.chunk_index, np.arange(1, n + 1))
    np.testing.assert_array_equal(s.data[:, 0], np.arange(1, n + 1))
    assert (s.data == s.data[:, :1]).all()  # no torn record
