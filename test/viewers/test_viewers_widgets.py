"""The viewer widgets fed with arrays: grab each to a PNG and check it shows what was sent."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError, SpecMismatchError
from pyacq_etvr.eyetypes import GAZE_DTYPE, PUPIL_DTYPE


def eye_frame(cx: float, cy: float, w: float = 40, h: float = 30, size: int = 240) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    img = np.full((size, size), 150, np.uint8)
    img[((xx - cx) / (w / 2)) ** 2 + ((yy - cy) / (h / 2)) ** 2 < 1] = 20
    return img


def pupil_record(x, y, conf=1.0, found=True, index=1, ellipse=None):
    rec = np.zeros(1, PUPIL_DTYPE)
    rec["index"], rec["found"], rec["x"], rec["y"], rec["confidence"] = index, found, x, y, conf
    rec["ellipse"] = ellipse if ellipse is not None else (x, y, 40, 30, 20)
    return rec


def test_image_overlay_drawn_at_pupil_centre(qapp, png_dir, mask_of):
    from pyacq_etvr.viewers import ImageViewerWidget, grab_widget

    w = ImageViewerWidget()
    w.resize(500, 520)
    w.show()
    cx, cy = 100.3, 130.7
    w.set_frame(eye_frame(cx, cy), index=7, timestamp_ns=time.monotonic_ns())
    w.set_pupil(pupil_record(cx, cy, conf=1.0, index=7))
    w.refresh()
    img = grab_widget(w, os.path.join(png_dir, "imageviewer_overlay.png"))
    green = mask_of(img, (0, 255, 0), 60)
    ys, xs = np.nonzero(green)
    assert len(xs) > 100, "no overlay drawn"
    px, py = w.image_to_widget(cx, cy)
    scale = w.image_to_widget(cx + 1, cy)[0] - px  # grab pixels per image pixel
    assert scale > 1
    err = np.hypot(xs.mean() - px, ys.mean() - py) / scale
    assert err < 2.0, f"overlay centre {err:.2f} image px away from the pupil"
    # the image itself is drawn: dark pupil under the cross, grey elsewhere
    dx, dy = w.image_to_widget(cx + 6, cy + 6)  # inside the pupil, off the cross
    assert img[int(dy), int(dx), :3].mean() < 60
    corner = w.image_to_widget(5, 5)
    assert 130 < img[int(corner[1]), int(corner[0]), :3].mean() < 170
    assert "pupil conf 1.00" in w.status.text() and "age" in w.status.text()
    w.close()


def test_image_overlay_colour_follows_confidence_and_missing_pupil(qapp, png_dir, mask_of):
    from pyacq_etvr.viewers import ImageViewerWidget, grab_widget

    w = ImageViewerWidget()
    w.resize(400, 420)
    w.show()
    w.set_frame(eye_frame(120, 120), index=1)
    w.set_pupil(pupil_record(120, 120, conf=0.1, index=1))
    w.refresh()
    img = grab_widget(w, os.path.join(png_dir, "imageviewer_lowconf.png"))
    assert mask_of(img, (255, 51, 0), 60).sum() > 100  # red-ish overlay
    assert mask_of(img, (0, 255, 0), 60).sum() == 0
    w.set_frame(eye_frame(120, 120), index=2)
    w.set_pupil(pupil_record(np.nan, np.nan, conf=0.0, found=False, index=2, ellipse=[np.nan] * 5))
    w.refresh()
    img = grab_widget(w, os.path.join(png_dir, "imageviewer_nopupil.png"))
    assert mask_of(img, (255, 51, 0), 60).sum() == 0
    assert "no pupil" in w.status.text()
    w.close()


def test_image_latest_frame_only_and_matching_pupil(qapp):
    from pyacq_etvr.viewers import ImageViewerWidget, grab_widget

    w = ImageViewerWidget(levels=(0, 255))
    w.resize(300, 320)
    w.show()
    for i in range(10):
        w.set_frame(np.full((60, 80), 10 * i, np.uint8), index=i + 1)
        w.set_pupil(pupil_record(10 + i, 20, index=i + 1))
    w.set_pupil(pupil_record(50, 20, index=11))  # a pupil newer than the frame: not the one drawn
    w.refresh()
    assert w.frames_received == 10 and w.frames_shown == 1
    assert int(w.shown_pupil["index"]) == 10 and float(w.shown_pupil["x"]) == 19
    img = grab_widget(w)
    x, y = w.image_to_widget(70, 50)
    assert abs(img[int(y), int(x), :3].astype(int).mean() - 90) <= 2
    w.refresh()  # nothing new: no repaint
    assert w.frames_shown == 1
    w.close()


def test_image_levels_zoom_and_bad_input(qapp):
    from pyacq_etvr.viewers import ImageViewerWidget, grab_widget

    w = ImageViewerWidget(levels="auto")
    w.resize(300, 320)
    w.show()
    frame = np.zeros((40, 40), np.uint16)
    frame[:, 20:] = 1000
    w.set_frame(frame)
    w.refresh()
    img = grab_widget(w)
    x, y = w.image_to_widget(30, 20)
    assert img[int(y), int(x), :3].mean() > 240  # auto levels stretch 1000 to white
    w.set_zoom(4.0)
    rng = w.view.viewRange()
    assert rng[0][1] - rng[0][0] <= 11
    with pytest.raises(SpecMismatchError, match="frame must be"):
        w.set_frame(np.zeros((2, 3, 4, 5), np.uint8))
    with pytest.raises(SpecMismatchError, match="frame must be"):
        w.set_frame(np.zeros((0, 10), np.uint8))
    with pytest.raises(SpecMismatchError, match="dtype"):
        w.set_frame(np.zeros((4, 4), PUPIL_DTYPE))
    with pytest.raises(SpecMismatchError, match="PUPIL_DTYPE"):
        w.set_pupil(np.zeros(3, np.float32))
    with pytest.raises(ConfigError, match="levels"):
        w.set_levels((5, 1))
    with pytest.raises(ConfigError, match="levels"):
        w.set_levels("bright")
    with pytest.raises(ConfigError, match="zoom"):
        w.set_zoom(0)
    with pytest.raises(ConfigError, match="refresh_interval"):
        w.set_refresh_interval(0)
    assert w.frames_received == 1  # the refused inputs changed nothing
    w.close()


def test_gaze_points_trails_and_lids(qapp, png_dir, mask_of):
    from pyacq_etvr.viewers import GazeViewerWidget, grab_widget
    from pyacq_etvr.viewers.gazewidget import EYE_COLORS

    w = GazeViewerWidget(trail_length=20)
    w.resize(620, 460)
    w.show()
    sent = {"left": ((-0.5, 0.4), 0.8), "right": ((0.6, -0.3), 0.3)}
    for eye, ((x, y), op) in sent.items():
        rec = np.zeros(30, GAZE_DTYPE)
        t = np.linspace(0, 1, 30)
        rec["x"], rec["y"], rec["openness"] = x * t, y * t, op
        rec["valid"] = rec["calibrated"] = True
        w.set_gaze(eye, rec)
    w.refresh()
    img = grab_widget(w, os.path.join(png_dir, "gazeviewer.png"))
    bar_heights = {}
    for eye, ((x, y), _op) in sent.items():
        px, py = w.gaze_to_widget(x, y)
        mask = mask_of(img, EYE_COLORS[eye], 50)  # 50: faint grid lines are drawn over the points
        patch = mask[int(py) - 4 : int(py) + 5, int(px) - 4 : int(px) + 5]
        assert patch.mean() > 0.8, f"{eye} point not drawn where sent"
        # the trail (last 20 of 30 samples, translucent) is tinted with the eye's colour at t=0.7, absent at t=0.2
        r, _, b = EYE_COLORS[eye]
        sign = 1 if b > r else -1
        tx, ty = w.gaze_to_widget(0.7 * x, 0.7 * y)
        tint = img[int(ty) - 1 : int(ty) + 2, int(tx) - 1 : int(tx) + 2, :3].astype(int).mean(axis=(0, 1))
        assert sign * (tint[2] - tint[0]) > 20, f"{eye} trail missing: {tint}"
        tx, ty = w.gaze_to_widget(0.2 * x, 0.2 * y)
        tint = img[int(ty) - 1 : int(ty) + 2, int(tx) - 1 : int(tx) + 2, :3].astype(int).mean(axis=(0, 1))
        assert sign * (tint[2] - tint[0]) < 10, f"{eye} trail longer than trail_length: {tint}"
        ys, xs = np.nonzero(mask[:, int(img.shape[1] * 0.75) :])
        bar_heights[eye] = ys.max() - ys.min()
    ratio = bar_heights["right"] / bar_heights["left"]
    assert abs(ratio - 0.3 / 0.8) < 0.05, ratio
    # invalid newest sample: the point disappears, the trail stays
    bad = np.zeros(1, GAZE_DTYPE)
    bad["x"] = bad["y"] = np.nan
    bad["openness"] = 0.0
    w.set_gaze("left", bad)
    w.refresh()
    img = grab_widget(w, os.path.join(png_dir, "gazeviewer_left_invalid.png"))
    px, py = w.gaze_to_widget(-0.5, 0.4)
    assert mask_of(img, (255, 255, 255), 30)[int(py) - 9 : int(py) + 10, int(px) - 9 : int(px) + 10].sum() == 0
    with pytest.raises(ConfigError, match="unknown eye"):
        w.set_gaze("middle", bad)
    with pytest.raises(SpecMismatchError, match="fields"):
        w.set_gaze("left", np.zeros(2, np.float32))
    with pytest.raises(ConfigError, match="eyes"):
        GazeViewerWidget(eyes=("cyclops",))
    w.close()


def test_scope_ring_and_decimation(qapp):
    from pyacq_etvr.viewers import OscilloscopeWidget
    from pyacq_etvr.viewers.scopewidget import decimate

    w = OscilloscopeWidget(2, 50.0, xsize=2.0)  # a ring of 100 samples
    assert np.isnan(w.window()).all()
    data = np.arange(700, dtype=np.float32).reshape(350, 2)
    for start in range(0, 350, 30):
        chunk = data[start : start + 30]
        w.append(chunk, start + len(chunk))
    np.testing.assert_array_equal(w.window(), data[-100:])
    w.append(np.ones((10, 2), np.float32), 350 + 20)  # 10 samples lost: a gap, then the new samples
    assert (w.window()[-10:] == 1).all() and w.ring.last_index() == 370
    w.params["xsize"] = 1.0  # a smaller ring keeps the newest samples
    assert w.ring.size == 50 and (w.window()[-10:] == 1).all() and w.ring.last_index() == 370
    w.append(np.full((5, 2), 7, np.float32), 5)  # the source restarted: a fresh display
    assert w.ring.last_index() == 5 and (w.window()[-5:] == 7).all() and np.isnan(w.window()[:-5]).all()
    w.append(np.zeros((500, 2), bool))  # bigger than the ring, bool cast to float
    assert (w.window() == 0).all() and w.ring.last_index() == 505
    w.close()
    win = np.array([[1, 5], [3, -2], [2, 0], [8, 1], [0, 0]], np.float32)
    out = np.empty((10, 2), np.float32)
    # the oldest sample that does not fill a block is dropped (the newest are kept)
    np.testing.assert_array_equal(decimate(win, 2, "mean", out), [[2.5, -1.0], [4.0, 0.5]])
    np.testing.assert_array_equal(decimate(win, 2, "min_max", out), [[2, -2], [3, 0], [0, 0], [8, 1]])


def test_scope_traces_follow_data_and_params(qapp, png_dir, mask_of):
    from pyacq_etvr.viewers import OscilloscopeWidget, grab_widget

    w = OscilloscopeWidget(4, 1000.0, xsize=2.0, ylim_min=-1.0, ylim_max=4.0)
    w.resize(700, 400)
    w.show()
    for c in range(4):
        w.by_channel_params[c, "offset"] = float(c)
    w.by_channel_params["ch1", "color"] = (255, 0, 255)
    w.refresh()
    empty = grab_widget(w)
    assert mask_of(empty, (255, 0, 255), 30).sum() == 0
    chunk = np.zeros((100, 4), np.float32)
    for i in range(10):
        w.append(chunk, (i + 1) * 100)
    w.refresh()
    img1 = grab_widget(w, os.path.join(png_dir, "scope_flat.png"))
    ys, xs = np.nonzero(mask_of(img1, (255, 0, 255), 30))
    assert len(xs) > 100, "trace of ch1 missing"
    # ch1 is flat at offset 1: its pixels are on one row, the half-window filled so far is on the right
    vb = w.plot.vb
    y_expected = w.graphics.mapFromScene(vb.mapViewToScene(_point(-0.5, 1.0))).y() * w.devicePixelRatioF()
    assert abs(np.median(ys) - y_expected) < 3
    x_mid = w.graphics.mapFromScene(vb.mapViewToScene(_point(-1.0, 1.0))).x() * w.devicePixelRatioF()
    assert xs.min() >= x_mid - 6
    # new data: a step to +1 on ch1 moves its trace up; gain 0.5 halves it
    w.append(np.ones((1000, 4), np.float32), 2000)
    w.by_channel_params["ch1", "gain"] = 0.5
    w.refresh()
    img2 = grab_widget(w, os.path.join(png_dir, "scope_step.png"))
    assert np.abs(img2.astype(int) - img1.astype(int)).sum() > 0
    ys2, xs2 = np.nonzero(mask_of(img2, (255, 0, 255), 30))
    y_expected2 = w.graphics.mapFromScene(vb.mapViewToScene(_point(-0.5, 1.5))).y() * w.devicePixelRatioF()
    right = xs2 > x_mid + 6
    assert abs(np.median(ys2[right]) - y_expected2) < 3
    w.by_channel_params["ch1", "visible"] = False
    w.refresh()
    assert mask_of(grab_widget(w), (255, 0, 255), 30).sum() == 0
    assert w.frames_drawn == 4


def _point(x, y):
    from pyacq_etvr.viewers._qt import QtCore

    return QtCore.QPointF(x, y)


def test_scope_bad_params_are_refused(qapp):
    from pyacq_etvr.viewers import OscilloscopeWidget

    with pytest.raises(ConfigError, match="nb_channel"):
        OscilloscopeWidget(0, 100.0)
    with pytest.raises(ConfigError, match="sample_rate"):
        OscilloscopeWidget(2, -5.0)
    with pytest.raises(ConfigError, match="unknown oscilloscope parameter"):
        OscilloscopeWidget(2, 100.0, xsise=3)
    w = OscilloscopeWidget(2, 100.0)
    for key, value, match in [
        ("xsize", 0, "xsize"),
        ("xsize", float("nan"), "xsize"),
        ("refresh_interval", 2.5, "refresh_interval"),
        ("decimation_method", "median", "decimation_method"),
        ("ylim_min", "low", "ylim_min"),
        ("nope", 1, "unknown parameter"),
    ]:
        with pytest.raises(ConfigError, match=match):
            w.params[key] = value
    for key, value, match in [
        (("ch5", "gain"), 1.0, "unknown channel"),
        ((9, "gain"), 1.0, "out of range"),
        (("ch0", "gain"), float("inf"), "finite"),
        (("ch0", "colour"), "r", "unknown channel parameter"),
        (("ch0", "color"), object(), "colour"),
        ("ch0", 1.0, r"\[channel, field\]"),
    ]:
        with pytest.raises(ConfigError, match=match):
            w.by_channel_params[key] = value
    with pytest.raises(SpecMismatchError, match="chunk must be"):
        w.append(np.zeros((10, 3), np.float32))
    assert w.params["xsize"] == 3.0 and w.by_channel_params["ch0", "gain"] == 1.0 and w.ring.last_index() == 0
    w.close()


def test_scope_min_max_keeps_spikes_mean_smooths_them(qapp, png_dir, mask_of):
    from pyacq_etvr.viewers import OscilloscopeWidget, grab_widget

    w = OscilloscopeWidget(1, 10000.0, xsize=3.0, ylim_min=-0.5, ylim_max=10.5)
    w.by_channel_params["ch0", "color"] = (255, 255, 0)
    w.resize(500, 300)
    w.show()
    data = np.zeros((30000, 1), np.float32)
    data[15000] = 10.0  # one single-sample spike; the window has ~60 samples per pixel column
    w.append(data)
    tops = {}
    for method in ("min_max", "mean"):
        w.params["decimation_method"] = method
        w.refresh()
        img = grab_widget(w, os.path.join(png_dir, f"scope_spike_{method}.png"))
        ys, _ = np.nonzero(mask_of(img, (255, 255, 0), 60))
        tops[method] = ys.min()
    y_of = lambda v: w.graphics.mapFromScene(w.plot.vb.mapViewToScene(_point(-1.5, v))).y() * w.devicePixelRatioF()
    assert abs(tops["min_max"] - y_of(10.0)) < 4, "min_max must show the full spike"
    assert tops["mean"] > y_of(1.0), "mean averages the spike away"
    w.close()


def test_scope_settings_dialog_edits_validated_params(qapp, png_dir):
    from pyacq_etvr.viewers import OscilloscopeWidget, grab_widget

    w = OscilloscopeWidget(3, 1000.0, with_user_dialog=True)
    w.show()
    dlg = w.open_settings()
    dlg.parameter("global", "decimation_method").setValue("mean")
    dlg.parameter("global", "xsize").setValue(1.5)
    dlg.parameter("channels", "ch2", "gain").setValue(4.0)
    dlg.parameter("channels", "ch1", "color").setValue((10, 200, 30))
    assert w.params["decimation_method"] == "mean" and w.params["xsize"] == 1.5 and w.ring.size == 1500
    assert w.by_channel_params["ch2", "gain"] == 4.0 and w.by_channel_params["ch1", "color"] == (10, 200, 30)
    from pyacq_etvr.viewers._qt import QtWidgets

    dlg.parameter("global", "xsize").setValue(-2.0)  # refused by the widget: the tree goes back
    QtWidgets.QApplication.processEvents()
    assert w.params["xsize"] == 1.5 and dlg.parameter("global", "xsize").value() == 1.5
    dlg.parameter("channels", "ch0", "offset").setValue(float("nan"))
    QtWidgets.QApplication.processEvents()
    assert w.by_channel_params["ch0", "offset"] == 0.0 and dlg.refused >= 2
    assert "xsize" in dlg.message.text() or "finite" in dlg.message.text()
    grab_widget(dlg, os.path.join(png_dir, "scope_settings_dialog.png"))
    dlg.close()
    w.close()


def test_viewers_package_imports_qt_lazily():
    import subprocess
    import sys

    code = (
        "import sys, pyacq_etvr.viewers as v;"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('PyQt5', 'pyqtgraph')], 'Qt loaded early';"
        "v.ImageViewer; assert 'PyQt5' in sys.modules; print(sorted(v.__all__))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for name in ("ImageViewer", "QOscilloscope", "GazeViewer", "QtPollInput", "EyeDashboard"):
        assert name in proc.stdout


def test_image_colour_frames_shown_in_rgb(qapp, mask_of):
    from pyacq_etvr.viewers import ImageViewerWidget, grab_widget

    w = ImageViewerWidget()
    w.resize(300, 320)
    w.show()
    frame = np.zeros((1, 40, 60, 3), np.uint8)  # a one-frame colour chunk
    frame[0, :, :30] = (255, 0, 0)
    frame[0, :, 30:] = (0, 0, 255)
    w.set_frame(frame, index=1)
    w.refresh()
    img = grab_widget(w)
    for x, rgb in ((10, (255, 0, 0)), (50, (0, 0, 255))):
        px, py = w.image_to_widget(x, 20)
        assert mask_of(img[int(py) : int(py) + 1, int(px) : int(px) + 1], rgb, 30).all(), (x, img[int(py), int(px)])
    w.close()
