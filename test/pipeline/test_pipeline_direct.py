"""Direct mode in an eye process: Camera.attach(detector) and PupilDetector.attach(filters).

The camera's acquisition thread detects and filters every frame itself (no stream hop, no thread wake-up, no
latest-frame skip); the streams stay usable for recorders and viewers; bad attachments are refused.
"""

from __future__ import annotations

import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError, StateError
from pyacq_etvr.core.rpc.proxy import ObjectProxy
from pyacq_etvr.core.stream import InputStream
from pyacq_etvr.eyetypes import GAZE_DTYPE, PUPIL_DTYPE
from pyacq_etvr.nodes.camera.node import Camera
from pyacq_etvr.nodes.filters.nodes import FilterChain
from pyacq_etvr.nodes.pupil import PupilDetector
from pyacq_etvr.testing import wait_until


def make_chain(fps: float = 120.0, raw: bool = True) -> tuple[Camera, PupilDetector, FilterChain]:
    cam = Camera(name="cam")
    cam.configure(source="synthetic", fps=fps, tier="easy", seed=3)
    cam.outputs["video"].configure(protocol="inproc")
    det = PupilDetector(name="det")
    det.configure(detector="default")
    if raw:
        det.outputs["pupil"].configure(protocol="inproc")
    filt = FilterChain(name="filt")
    filt.configure(min_confidence=0.5)
    filt.outputs["output"].configure(protocol="inproc")
    cam.attach(det)
    det.attach(filt)
    return cam, det, filt


def eye_frame() -> np.ndarray:
    """A 240 x 240 frame with a dark, slightly blurred elliptic pupil at (118, 104) on an iris-grey background."""
    import cv2

    img = np.full((240, 240), 170, np.uint8)
    cv2.ellipse(img, ((118.0, 104.0), (44.0, 38.0), 15.0), 25, -1)
    return cv2.GaussianBlur(img, (5, 5), 1.0)


def drain(stream: InputStream, out: list, n: int) -> bool:
    while len(out) < n:
        try:
            out.append(stream.recv(timeout=2000, with_timestamp=True))
        except Exception:
            return False
    return True


@pytest.mark.timeout(60)
def test_camera_detector_filters_in_one_thread_every_frame_once():
    cam, det, filt = make_chain()
    video, raw, filtered = InputStream(), InputStream(), InputStream()
    video.connect(cam.outputs["video"])
    raw.connect(det.outputs["pupil"])
    filtered.connect(filt.outputs["output"])
    nodes = (cam, det, filt)
    for n in nodes:
        n.initialize()
    for n in (filt, det, cam):  # consumers first
        n.start()
    got_v, got_r, got_f = [], [], []
    try:
        assert drain(filtered, got_f, 60)
        assert drain(raw, got_r, 60) and drain(video, got_v, 60)
    finally:
        for n in nodes:
            n.stop()
    st, cs, fs = det.stats(), cam.stats(), filt.stats()
    for n in nodes:
        n.close()
    for s in (video, raw, filtered):
        s.close()
    # one record per camera frame, in order, nothing skipped: same indices and capture timestamps everywhere
    assert [g[0] for g in got_f] == [g[0] for g in got_v[:60]] == list(range(1, 61))
    assert [g[2] for g in got_f] == [g[2] for g in got_r[:60]] == [g[2] for g in got_v[:60]]
    assert st["skipped"] == 0 and st["errors"] == 0 and st["frames"] == cs["frames"]
    assert fs["chunks"] == st["frames"] and fs["errors"] == 0
    rec = np.concatenate([g[1] for g in got_f])
    raw_rec = np.concatenate([g[1] for g in got_r[:60]])
    assert rec.dtype == PUPIL_DTYPE and rec["found"].mean() > 0.9
    assert np.array_equal(rec["timestamp_ns"], [g[2] for g in got_v[:60]])
    # the filters smooth the detector's positions, they do not copy them
    found = rec["found"] & raw_rec["found"]
    assert np.nanmax(np.abs(rec["x"][found] - raw_rec["x"][found])) > 0


@pytest.mark.timeout(30)
def test_detector_without_pupil_output_feeds_attached_filters():
    cam, det, filt = make_chain(raw=False)
    out = InputStream()
    out.connect(filt.outputs["output"])
    for n in (cam, det, filt):
        n.initialize()
    for n in (filt, det):
        n.start()
    frame = eye_frame()
    try:
        for i in range(3):
            cam.publish(frame, 1000 + i)  # publish() runs the direct chain in this thread
        idx = [out.recv(timeout=2000)[0] for _ in range(3)]
    finally:
        for n in (det, filt):
            n.stop()
        for n in (cam, det, filt):
            n.close()
        out.close()
    assert idx == [1, 2, 3]


def test_bad_attachments_are_refused():
    cam, det, filt = Camera(name="c"), PupilDetector(name="d"), FilterChain(name="f")
    remote = ObjectProxy("tcp://127.0.0.1:1", 1, 1, "PupilDetector", ())
    with pytest.raises(StateError, match="configure"):
        cam.attach(det)  # the frame size is not known yet
    cam.configure(source="synthetic", fps=60)
    for bad in (object(), remote, filt):  # filt: no push_frame
        with pytest.raises(ConfigError, match="attach"):
            cam.attach(bad)
    det.configure()
    for bad in (object(), remote, cam):
        with pytest.raises(ConfigError, match="attach"):
            det.attach(bad)
    with pytest.raises(StateError, match="configure"):
        det.attach(filt)  # the filter's dtype is not known yet
    gaze = FilterChain(name="g")
    gaze.configure(dtype=GAZE_DTYPE)
    with pytest.raises(ConfigError, match="differ"):
        det.attach(gaze)  # a gaze filter cannot take pupil records
    with pytest.raises(ConfigError, match="attached frames"):
        det.accept_frames((-1, 240))
    det.outputs["pupil"].configure(protocol="inproc")
    with pytest.raises(StateError, match="not connected"):
        det.initialize()  # neither a stream nor a camera
    filt.configure()
    filt.outputs["output"].configure(protocol="inproc")
    with pytest.raises(StateError, match="not connected"):
        filt.initialize()
    cam.attach(det)
    cam.attach(None)  # detached: the detector needs a stream again
    with pytest.raises(StateError, match="not connected"):
        det.initialize()
    for n in (cam, det, filt, gaze):
        n.close()


@pytest.mark.timeout(30)
def test_bad_frames_are_counted_and_lose_nothing_else():
    cam, det, filt = make_chain(raw=False)
    out = InputStream()
    out.connect(filt.outputs["output"])
    for n in (cam, det, filt):
        n.initialize()
    good = eye_frame()
    det.push_frame(good, 1, 1)  # not running: ignored
    filt.push_chunk(1, np.zeros(1, PUPIL_DTYPE), 1)
    for n in (filt, det):
        n.start()
    try:
        det.push_frame(np.zeros(5, np.uint8), 2, 2)  # not an image: counted, no record
        det.push_frame(good.astype(np.float32), 3, 3)  # detector refuses the dtype: counted, found=False record
        filt.push_chunk(4, np.zeros(1, GAZE_DTYPE), 4)  # wrong dtype reaching the filters: counted
        det.push_frame(good, 5, 5)
        got = [out.recv(timeout=2000) for _ in range(2)]
        assert wait_until(lambda: filt.stats()["errors"] == 1, 2)
    finally:
        for n in (det, filt):
            n.stop()
        for n in (cam, det, filt):
            n.close()
        out.close()
    st = det.stats()
    assert [g[0] for g in got] == [3, 5]
    assert not got[0][1]["found"][0] and got[1][1]["found"][0]
    assert got[1][1]["x"][0] == pytest.approx(118.0, abs=2.0) and got[1][1]["y"][0] == pytest.approx(104.0, abs=2.0)
    assert st["errors"] == 2 and st["frames"] == 2


@pytest.mark.timeout(30)
def test_priority_applies_to_every_thread_of_a_process():
    import os
    import subprocess
    import sys

    from pyacq_etvr.app.pipeline import set_process_priority

    code = "import sys, threading; e = threading.Event(); threading.Thread(target=e.wait).start(); print(1, flush=True); sys.stdin.read(); e.set()"  # noqa: E501
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "1"  # readiness: its second thread exists
        tids = [int(t) for t in os.listdir(f"/proc/{proc.pid}/task")]
        assert len(tids) >= 2
        assert set_process_priority(proc.pid, 0)  # 0: nothing to do
        assert set_process_priority(proc.pid, 5)  # a higher nice value needs no privilege
        assert all(os.getpriority(os.PRIO_PROCESS, t) == 5 for t in tids)
    finally:
        proc.stdin.close()
        proc.wait(10)
    assert not set_process_priority(proc.pid, 5)  # reaped: no such process, a warning, False
