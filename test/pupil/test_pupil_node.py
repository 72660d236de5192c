"""PupilDetector node fed by a real OutputStream: record content, index/timestamp alignment, stats, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError, SpecMismatchError, StateError
from pyacq_etvr.core.stream import InputStream, OutputStream
from pyacq_etvr.eyetypes import PUPIL_DTYPE
from pyacq_etvr.testing import wait_until


def frames(n: int, size=(96, 128)):
    """Frames with a dark ellipse moving right by 0.5 px per frame (ground truth returned too)."""
    import cv2

    out, truth = [], []
    h, w = size
    for i in range(n):
        cx, cy = 40.0 + 0.5 * i, 50.25
        big = np.full((h * 4, w * 4), 160, np.uint8)
        cv2.ellipse(big, ((cx * 4 + 1.5, cy * 4 + 1.5), (22 * 4, 18 * 4), 10), 25, -1)
        out.append(cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA))
        truth.append((cx, cy))
    return out, truth


@pytest.mark.timeout(60)
def test_node_detects_streamed_frames():
    from pyacq_etvr.nodes.pupil import PupilDetector

    src = OutputStream(name="video")
    src.configure(dtype="uint8", shape=(-1, 96, 128), protocol="inproc", streamtype="image")
    node = PupilDetector(name="det")
    node.configure(detector="default", n_rays=48)
    node.inputs["image"].connect(src)
    node.outputs["pupil"].configure(protocol="inproc")
    sink = InputStream()
    sink.connect(node.outputs["pupil"])
    node.initialize()
    node.start()
    imgs, truth = frames(20)
    got = []
    try:
        for i, img in enumerate(imgs):
            ts = 1_000_000 * (i + 1)
            src.send(img[None], index=i + 1, timestamp_ns=ts)
            # wait for this frame's record so that none is skipped (latest-frame input)
            index, rec, rts = sink.recv(timeout=5000, with_timestamp=True)
            got.append((index, rec, rts))
        st = node.stats()
    finally:
        node.stop()
        node.close()
        sink.close()
        src.close()
    assert len(got) == 20
    for i, (index, rec, rts) in enumerate(got):
        assert rec.dtype == PUPIL_DTYPE and rec.shape == (1,)
        r = rec[0]
        assert index == i + 1 and r["index"] == i + 1
        assert rts == r["timestamp_ns"] == 1_000_000 * (i + 1)
        assert r["found"] and math.hypot(r["x"] - truth[i][0], r["y"] - truth[i][1]) < 0.3
        assert 0.8 <= r["confidence"] <= 1 and r["proc_time_us"] > 0
        assert (r["width"], r["height"]) == (128, 96)
        assert np.isfinite(r["ellipse"]).all() and 0 <= r["openness"] <= 1
    assert st["frames"] == 20 and st["found"] == 20 and st["errors"] == 0
    assert st["mean_confidence"] >= 0.8 and st["proc_ms_p50"] > 0 and st["fps"] > 0
    assert all(isinstance(v, (int, float)) for v in st.values())


@pytest.mark.timeout(60)
def test_node_skips_stale_frames_and_counts_them():
    from pyacq_etvr.nodes.pupil import PupilDetector

    src = OutputStream(name="video")
    src.configure(dtype="uint8", shape=(-1, 96, 128), protocol="inproc", streamtype="image")
    node = PupilDetector()
    node.configure(detector="hsf")
    node.inputs["image"].connect(src)
    node.outputs["pupil"].configure(protocol="inproc")
    sink = InputStream()
    sink.connect(node.outputs["pupil"])
    node.initialize()
    imgs, _ = frames(30)
    # 30 frames queued before the worker starts: it must jump to the newest one
    for i, img in enumerate(imgs):
        src.send(img[None], index=i + 1, timestamp_ns=i + 1)
    stack = np.stack(imgs[:3])
    node.start()
    try:
        index, rec = sink.recv(timeout=5000)
        assert index == 30 and rec[0]["index"] == 30
        src.send(stack, index=33, timestamp_ns=33)  # a 3-frame chunk: the last frame is used
        index, rec = sink.recv(timeout=5000)
        assert index == 33 and rec[0]["found"]
        assert wait_until(lambda: node.stats()["frames"] == 2, 5)
        st = node.stats()
    finally:
        node.stop()
        node.close()
        sink.close()
        src.close()
    assert st["skipped"] == 29 + 2


def test_node_bad_configuration_and_lifecycle():
    from pyacq_etvr.nodes.pupil import PupilDetector

    node = PupilDetector()
    with pytest.raises(ConfigError, match="unknown pupil detector"):
        node.configure(detector="nope")
    with pytest.raises(ConfigError, match="bad parameters"):
        node.configure(detector="hsf", foo=1)
    node.configure(detector="hsf")
    with pytest.raises(ConfigError):
        node.set_detector("ransac", blur=2)
    node.set_detector("blob", threshold=80)
    assert node.detector_info()["detector"] == "blob"
    with pytest.raises(StateError, match="not connected"):
        node.initialize()
    src = OutputStream(name="video")
    src.configure(dtype="float32", shape=(-1, 32, 32), protocol="inproc", streamtype="image")
    with pytest.raises(SpecMismatchError, match="dtype"):
        node.inputs["image"].connect(src)
    src.close()
    src = OutputStream(name="video")
    src.configure(dtype="uint8", shape=(-1, 32, 32), protocol="inproc", streamtype="image")
    node.inputs["image"].connect(src)
    with pytest.raises(StateError, match="configure output"):
        node.initialize()
    node.outputs["pupil"].configure(protocol="inproc")
    node.initialize()
    with pytest.raises(StateError):
        node.configure(detector="hsf")
    node.close()
    src.close()


def test_node_process_without_streams_and_rejected_frame():
    from pyacq_etvr.nodes.pupil import PupilDetector

    node = PupilDetector()
    node.configure(detector="default")
    imgs, truth = frames(1)
    rec = node.process(imgs[0], index=7, timestamp_ns=99)
    assert rec[0]["found"] and rec[0]["index"] == 7 and rec[0]["timestamp_ns"] == 99
    bad = node.process(imgs[0].astype(np.float32), index=8, timestamp_ns=100)
    assert not bad[0]["found"] and math.isnan(bad[0]["x"]) and node.stats()["errors"] == 1
    assert node.stats()["frames"] == 2
    node.reset()
    node.close()


def test_node_is_registered():
    from pyacq_etvr.core.registry import get_node_type
    from pyacq_etvr.nodes.pupil import PupilDetector

    assert get_node_type("PupilDetector") is PupilDetector
