"""Viewer nodes and the Qt poller on real streams, in this process (offscreen Qt)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError, SpecMismatchError, StateError
from pyacq_etvr.core.stream import OutputStream
from pyacq_etvr.eyetypes import GAZE_DTYPE, PUPIL_DTYPE


def process_until(condition, timeout: float = 10.0) -> bool:
    """Run the Qt event loop until ``condition()`` is true or ``timeout`` seconds pass."""
    from pyacq_etvr.viewers._qt import QtWidgets

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        QtWidgets.QApplication.processEvents()
        if condition():
            return True
        time.sleep(0.005)
    QtWidgets.QApplication.processEvents()
    return bool(condition())


def make_output(**spec) -> OutputStream:
    out = OutputStream()
    out.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata", **spec)
    return out


@pytest.fixture
def outputs():
    made: list[OutputStream] = []

    def factory(**spec):
        out = make_output(**spec)
        made.append(out)
        return out

    yield factory
    for out in made:
        out.close()


def test_qtpoller_delivers_every_chunk_in_gui_thread(qapp, outputs):
    from pyacq_etvr.core.stream import InputStream
    from pyacq_etvr.viewers import QtPollInput

    out = outputs(dtype="float32", shape=(-1, 3), sample_rate=100.0)
    inp = InputStream()
    inp.connect(out)
    poller = QtPollInput(inp, return_data=True, max_pending=1000)
    got, threads, stamps = [], set(), []

    def slot(index, data):
        got.append((index, np.array(data)))
        threads.add(threading.current_thread() is threading.main_thread())
        stamps.append(poller.last_timestamp_ns)

    poller.new_data.connect(slot)
    poller.start()
    for i in range(50):
        out.send(np.full((10, 3), i, np.float32))
    assert process_until(lambda: len(got) == 50)
    poller.stop()
    assert poller.wait(5.0) and not poller.is_running()
    assert [g[0] for g in got] == [10 * (i + 1) for i in range(50)]
    assert all((g[1] == i).all() for i, g in enumerate(got))
    assert threads == {True}, "new_data must be emitted in the GUI thread"
    assert all(isinstance(t, int) and 0 < t <= time.monotonic_ns() for t in stamps)
    assert poller.stats() == {"received": 50, "delivered": 50, "dropped": 0}
    inp.close()


def test_qtpoller_latest_only_never_queues(qapp, outputs):
    from pyacq_etvr.core.stream import InputStream
    from pyacq_etvr.viewers import QtPollInput

    out = outputs(dtype="uint8", shape=(-1, 8, 8), streamtype="image")
    inp = InputStream()
    inp.connect(out)
    poller = QtPollInput(inp, max_pending=1)
    assert inp.latest is True
    got = []
    poller.new_data.connect(lambda index, data: got.append(index))
    poller.start()
    for _ in range(200):  # the GUI thread is not processing events meanwhile
        out.send(np.zeros((1, 8, 8), np.uint8))
    assert process_until(lambda: got and got[-1] == 200)
    poller.stop()
    assert poller.wait(5.0)
    assert len(got) < 200 and got == sorted(got)
    stats = poller.stats()
    assert stats["delivered"] == len(got)
    assert stats["received"] + stats["dropped"] + inp.stats()["skipped"] >= 200 - 1
    with pytest.raises(ConfigError, match="max_pending"):
        QtPollInput(inp, max_pending=0)
    inp.close()


def eye_frame(cx, cy, size=240):
    yy, xx = np.mgrid[:size, :size]
    img = np.full((1, size, size), 160, np.uint8)
    img[0][((xx - cx) / 18) ** 2 + ((yy - cy) / 14) ** 2 < 1] = 25
    return img


def test_imageviewer_node_shows_frames_and_pupil_overlay(qapp, outputs, png_dir, mask_of):
    from pyacq_etvr.viewers import ImageViewer

    video = outputs(dtype="uint8", shape=(-1, 240, 240), streamtype="image", sample_rate=60.0)
    pupil = outputs(dtype=PUPIL_DTYPE, shape=(-1,), streamtype="event")
    viewer = ImageViewer(name="eye")
    viewer.configure(refresh_interval=10)
    viewer.inputs["image"].connect(video)
    viewer.inputs["pupil"].connect(pupil)
    viewer.initialize()
    viewer.resize(480, 510)
    viewer.show()
    viewer.start()
    cx, cy = 150.25, 90.75
    for i in range(1, 6):
        video.send(eye_frame(cx, cy))
        rec = np.zeros(1, PUPIL_DTYPE)
        rec["index"], rec["found"], rec["x"], rec["y"], rec["confidence"] = i, True, cx, cy, 0.95
        rec["ellipse"] = (cx, cy, 36, 28, 0)
        rec["timestamp_ns"] = time.monotonic_ns()
        pupil.send(rec)
    assert process_until(lambda: (viewer.shown_pupil() or {}).get("index") == 5 and viewer.stats()["frames_shown"])
    assert process_until(lambda: viewer.widget._frame_index == 5)
    viewer.refresh()
    img = viewer.grab(os.path.join(png_dir, "imageviewer_node.png"))
    ys, xs = np.nonzero(mask_of(img, (13, 255, 0), 60))  # confidence 0.95: green
    assert len(xs) > 50
    px, py = viewer.image_to_widget(cx, cy)
    scale = viewer.image_to_widget(cx + 1, cy)[0] - px
    assert np.hypot(xs.mean() - px, ys.mean() - py) / scale < 2.0
    stats = viewer.stats()
    assert stats["frames_received"] >= 1 and stats["frames_received"] + stats["skipped"] <= 5
    assert "age" in viewer.widget.status.text()
    viewer.stop()
    viewer.close()
    assert viewer.widget is None


def test_oscilloscope_node_traces_change_as_data_arrives(qapp, outputs, png_dir):
    from pyacq_etvr.viewers import QOscilloscope

    sig = outputs(dtype="float32", shape=(-1, 16), sample_rate=10000.0, streamtype="analogsignal")
    scope = QOscilloscope(name="scope")
    scope.configure(xsize=1.0, refresh_interval=20, decimation_method="min_max")
    scope.input.connect(sig)
    scope.initialize()
    scope.resize(800, 500)
    scope.show()
    for c in range(16):
        scope.by_channel_params[c, "offset"] = float(c)
        scope.by_channel_params[c, "gain"] = 0.3
    scope.params["ylim_min"], scope.params["ylim_max"] = -1.0, 16.0
    scope.start()
    t = np.arange(10000) / 10000.0
    data = np.sin(2 * np.pi * np.arange(1, 17)[None, :] * t[:, None]).astype(np.float32)
    for k in range(0, 5000, 100):
        sig.send(data[k : k + 100])
    assert process_until(lambda: scope.stats()["last_index"] == 5000)
    scope.refresh()
    first = scope.grab(os.path.join(png_dir, "scope_node_half.png"))
    for k in range(5000, 10000, 100):
        sig.send(data[k : k + 100])
    assert process_until(lambda: scope.stats()["last_index"] == 10000)
    scope.refresh()
    second = scope.grab(os.path.join(png_dir, "scope_node_full.png"))
    changed = np.abs(second[..., :3].astype(int) - first[..., :3].astype(int)).sum(-1) > 60
    assert changed.mean() > 0.01, "the traces did not change with new data"
    # right half was empty before: now every channel has a trace there
    h, w = second.shape[:2]
    right = second[:, int(w * 0.7) : int(w * 0.95), :3].astype(int).sum(-1) > 150
    assert right.any(axis=1).sum() > 0.5 * h
    np.testing.assert_allclose(scope.widget.window()[-100:], data[-100:])
    assert scope.stats()["dropped"] == 0
    scope.stop()
    scope.close()


def test_gazeviewer_node_points_where_sent(qapp, outputs, png_dir, mask_of):
    from pyacq_etvr.viewers import GazeViewer
    from pyacq_etvr.viewers.gazewidget import EYE_COLORS

    left = outputs(dtype=GAZE_DTYPE, shape=(-1,), streamtype="event")
    right = outputs(dtype=GAZE_DTYPE, shape=(-1,), streamtype="event")
    viewer = GazeViewer(name="gaze")
    viewer.configure(trail_length=30, refresh_interval=10)
    viewer.inputs["left"].connect(left)
    viewer.inputs["right"].connect(right)
    viewer.initialize()
    viewer.resize(600, 450)
    viewer.show()
    viewer.start()
    targets = {"left": (-0.7, -0.2), "right": (0.25, 0.65)}
    for k in range(1, 11):
        for eye, out in (("left", left), ("right", right)):
            rec = np.zeros(1, GAZE_DTYPE)
            rec["x"], rec["y"] = (v * k / 10 for v in targets[eye])
            rec["openness"], rec["valid"], rec["calibrated"], rec["index"] = 0.9, True, True, k
            out.send(rec)
    assert process_until(lambda: viewer.last_gaze() == {e: pytest.approx(v, abs=1e-6) for e, v in targets.items()})
    viewer.refresh()
    img = viewer.grab(os.path.join(png_dir, "gazeviewer_node.png"))
    for eye, (x, y) in targets.items():
        px, py = viewer.gaze_to_widget(x, y)
        patch = mask_of(img, EYE_COLORS[eye], 50)[int(py) - 3 : int(py) + 4, int(px) - 3 : int(px) + 4]
        assert patch.mean() > 0.8, eye
    viewer.stop()
    viewer.close()


def test_viewer_nodes_refuse_bad_input(qapp, outputs):
    from pyacq_etvr.viewers import GazeViewer, ImageViewer, QOscilloscope

    analog = outputs(dtype="float32", shape=(-1, 4))
    viewer = ImageViewer()
    with pytest.raises(ConfigError, match="levels"):
        viewer.configure(levels=(3, 1))
    with pytest.raises(ConfigError, match="unknown configure"):
        viewer.configure(zoom=2)
    viewer.configure()
    with pytest.raises(SpecMismatchError):
        viewer.inputs["pupil"].connect(analog)  # wrong dtype: refused at connect
    viewer.inputs["image"].connect(analog)
    with pytest.raises(SpecMismatchError, match="image"):
        viewer.initialize()
    with pytest.raises(StateError, match="initialize"):
        viewer.show()
    viewer.close()

    scope = QOscilloscope()
    with pytest.raises(ConfigError, match="unknown configure"):
        scope.configure(xsise=2)
    with pytest.raises(ConfigError, match="decimation_method"):
        scope.configure(decimation_method="median")
    with pytest.raises(ConfigError, match="sample_rate"):
        scope.configure(sample_rate=-1.0)
    scope.close()
    scope = QOscilloscope()
    scope.configure()
    scope.input.connect(analog)  # no sample_rate in the stream, none given
    with pytest.raises(ConfigError, match="sample_rate"):
        scope.initialize()
    scope.close()

    gaze = GazeViewer()
    gaze.configure()
    with pytest.raises(StateError, match="left"):
        gaze.initialize()
    with pytest.raises(ConfigError, match="trail_length"):
        gaze.configure(trail_length=0)
    gaze.close()


def test_viewer_without_qapplication_is_refused():
    code = "from pyacq_etvr.viewers import ImageViewer\nImageViewer()"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "StateError" in proc.stderr and "QApplication" in proc.stderr


@pytest.mark.timeout(60)
def test_imageviewer_overlay_on_detected_pupil(qapp, png_dir, mask_of):
    """Synthetic camera -> real PupilDetector -> ImageViewer: the overlay is within 2 px of the detection."""
    from pyacq_etvr.nodes import Camera, PupilDetector
    from pyacq_etvr.viewers import ImageViewer

    cam = Camera(name="cam")
    cam.configure(source="synthetic", fps=60)
    cam.outputs["video"].configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
    cam.initialize()
    det = PupilDetector(name="det")
    det.configure(detector="default")
    det.inputs["image"].connect(cam.outputs["video"])
    det.outputs["pupil"].configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
    det.initialize()
    viewer = ImageViewer(name="viewer")
    viewer.configure(refresh_interval=15)
    viewer.inputs["image"].connect(cam.outputs["video"])
    viewer.inputs["pupil"].connect(det.outputs["pupil"])
    viewer.initialize()
    viewer.resize(480, 510)
    viewer.show()
    viewer.start()
    det.start()
    cam.start()
    try:

        def matched() -> bool:
            rec = viewer.shown_pupil()
            # the drawn pupil belongs to the displayed frame and was found with a high confidence
            return bool(rec and rec["found"] and rec["confidence"] > 0.8 and rec["index"] == viewer.widget._frame_index)

        assert process_until(matched, 20.0)
        viewer.stop()  # freeze the display, then grab what it shows
        rec = viewer.shown_pupil()
        img = viewer.grab(os.path.join(png_dir, "imageviewer_detected.png"))
    finally:
        cam.stop()
        det.stop()
        if viewer.running():
            viewer.stop()
    from pyacq_etvr.viewers._qt import confidence_color

    ys, xs = np.nonzero(mask_of(img, confidence_color(rec["confidence"]), 60))
    px, py = viewer.image_to_widget(rec["x"], rec["y"])
    scale = viewer.image_to_widget(rec["x"] + 1, rec["y"])[0] - px
    near = np.hypot(xs - px, ys - py) < 0.75 * max(rec["ellipse"][2:4]) * scale  # the overlay, not the scene
    assert near.sum() > 50
    err = np.hypot(xs[near].mean() - px, ys[near].mean() - py) / scale
    assert err < 2.0, f"overlay {err:.2f} px from the detected centre"
    for node in (cam, det, viewer):
        node.close()


def test_bad_chunk_in_a_viewer_is_counted_not_fatal(qapp, outputs):
    from pyacq_etvr.viewers import ImageViewer

    video = outputs(dtype="uint8", shape=(-1, 20, 30), streamtype="image")
    viewer = ImageViewer()
    viewer.configure(refresh_interval=10)
    viewer.inputs["image"].connect(video)
    viewer.initialize()
    viewer.start()
    viewer.pollers["image"].new_data.emit(1, np.zeros((1, 2), PUPIL_DTYPE))  # a chunk the widget cannot show
    viewer.pollers["image"].new_data.emit(2, "garbage")
    assert viewer.errors["image"] == 2
    video.send(np.full((1, 20, 30), 77, np.uint8))
    assert process_until(lambda: viewer.stats()["frames_shown"] >= 1)
    assert int(viewer.widget._frame[0, 0]) == 77
    viewer.stop()
    viewer.close()


def test_qtpoller_over_sharedmem_delivers_intact_frames(qapp):
    from pyacq_etvr.core.stream import InputStream, OutputStream
    from pyacq_etvr.viewers import QtPollInput

    out = OutputStream()
    spec = dict(dtype="uint8", shape=(-1, 16, 16))
    out.configure(protocol="tcp", interface="127.0.0.1", transfermode="sharedmem", buffer_size=4, **spec)
    inp = InputStream()
    inp.connect(out)
    poller = QtPollInput(inp, max_pending=1)
    got = []
    poller.new_data.connect(lambda index, data: got.append((index, data)))
    poller.start()
    try:
        for i in range(1, 41):  # the ring holds 4 frames: the writer laps the reader many times
            out.send(np.full((1, 16, 16), i, np.uint8))
        assert process_until(lambda: got and got[-1][0] == 40)
        for index, data in got:  # every delivered frame is whole and is the one its index names
            assert (np.asarray(data) == index).all(), index
    finally:
        poller.stop()
        assert poller.wait(5.0)
        inp.close()
        out.close()


def test_oscilloscope_accepts_pyacqs_max_xsize(qapp):
    from pyacq_etvr.viewers import QOscilloscope

    scope = QOscilloscope(name="scope_max")
    scope.configure(with_user_dialog=False, max_xsize=2.0)  # pyacq's signature; default xsize 3 s is bounded
    assert scope._initial_params["xsize"] == 2.0
    with pytest.raises(ConfigError, match="max_xsize"):
        QOscilloscope(name="bad").configure(max_xsize=-1)
    scope.close()
