"""The three viewers inside a remote NodeGroup started with qt=True, driven through proxies, fed by streams
from this process; grabs come back over RPC as arrays."""

from __future__ import annotations

import os

import numpy as np
import pytest

from pyacq_etvr.core.stream import OutputStream
from pyacq_etvr.eyetypes import GAZE_DTYPE, PUPIL_DTYPE
from pyacq_etvr.testing import wait_until


def _out(**spec) -> OutputStream:
    out = OutputStream()
    out.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata", **spec)
    return out


def _save_png(rgba: np.ndarray, path: str) -> None:
    import cv2

    cv2.imwrite(path, cv2.cvtColor(np.ascontiguousarray(rgba), cv2.COLOR_RGBA2BGRA))


@pytest.mark.timeout(120)
def test_viewers_in_a_qt_nodegroup(png_dir):
    from pyacq_etvr import create_manager

    video = _out(dtype="uint8", shape=(-1, 120, 160), streamtype="image")
    pupil = _out(dtype=PUPIL_DTYPE, shape=(-1,))
    gaze = _out(dtype=GAZE_DTYPE, shape=(-1,))
    signals = _out(dtype="float32", shape=(-1, 4), sample_rate=1000.0)
    man = create_manager()
    try:
        ng = man.create_nodegroup(name="gui", qt=True)
        for mod, cls in (("imageviewer", "ImageViewer"), ("oscilloscope", "QOscilloscope"), ("gaze", "GazeViewer")):
            ng.register_node_type_from_module(f"pyacq_etvr.viewers.{mod}", cls)
        img_v = ng.create_node("ImageViewer", name="image")
        img_v.configure(refresh_interval=10)
        img_v.inputs["image"].connect(video.params)
        img_v.inputs["pupil"].connect(pupil.params)
        scope = ng.create_node("QOscilloscope", name="scope")
        scope.configure(xsize=1.0, refresh_interval=10, ylim_min=-1.0, ylim_max=4.0)
        scope.inputs["signals"].connect(signals.params)
        gaze_v = ng.create_node("GazeViewer", name="gaze")
        gaze_v.configure(refresh_interval=10)
        gaze_v.inputs["right"].connect(gaze.params)
        for node, size in ((img_v, (400, 340)), (scope, (500, 300)), (gaze_v, (500, 400))):
            node.initialize()
            node.resize(*size)
            node.show()
            node.start()
        assert img_v.is_visible()
        scope.set_channel_param("ch2", "offset", 2.0)
        scope.params["decimation_method"] = "mean"  # item assignment through the proxy
        assert scope.get_params()["decimation_method"] == "mean"

        frame = np.full((1, 120, 160), 180, np.uint8)
        frame[0, 50:70, 90:110] = 10
        rec = np.zeros(1, PUPIL_DTYPE)
        rec["found"], rec["x"], rec["y"], rec["confidence"] = True, 99.5, 59.5, 1.0
        rec["ellipse"], rec["index"] = (99.5, 59.5, 20, 20, 0), 3
        g = np.zeros(1, GAZE_DTYPE)
        g["x"], g["y"], g["openness"], g["valid"], g["calibrated"] = 0.5, 0.5, 1.0, True, True

        def feed_and_check() -> bool:
            for _ in range(3):
                video.send(frame)
            pupil.send(rec)
            signals.send(np.full((100, 4), 1.0, np.float32))
            gaze.send(g)
            shown = img_v.shown_pupil()
            return bool(
                shown
                and shown["index"] == 3
                and scope.stats()["last_index"] >= 500
                and gaze_v.last_gaze()["right"] == pytest.approx((0.5, 0.5))
            )

        assert wait_until(feed_and_check, 20.0, 0.05)
        for node in (img_v, scope, gaze_v):
            node.refresh()
        img = np.asarray(img_v.grab())
        _save_png(img, os.path.join(png_dir, "remote_imageviewer.png"))
        px, py = img_v.image_to_widget(99.5, 59.5)
        green = (img[..., 1] > 200) & (img[..., 0] < 80) & (img[..., 2] < 80)
        ys, xs = np.nonzero(green)
        scale = img_v.image_to_widget(100.5, 59.5)[0] - px
        assert len(xs) > 20 and np.hypot(xs.mean() - px, ys.mean() - py) / scale < 2.0
        sc = np.asarray(scope.grab())
        _save_png(sc, os.path.join(png_dir, "remote_scope.png"))
        assert (sc[..., :3].astype(int).sum(-1) > 150).mean() > 0.002  # traces drawn
        gz = np.asarray(gaze_v.grab())
        _save_png(gz, os.path.join(png_dir, "remote_gaze.png"))
        gx, gy = gaze_v.gaze_to_widget(0.5, 0.5)
        assert abs(int(gz[int(gy), int(gx), 0]) - 255) < 40  # the right eye's orange point
        pid = ng.getpid()
        for node in (img_v, scope, gaze_v):
            node.stop()
            node.close()
        # closing the viewers' windows must not end the NodeGroup's Qt event loop (and its process)
        assert ng.getpid() == pid
        extra = ng.create_node("GazeViewer", name="after")
        extra.configure()
        extra.inputs["left"].connect(gaze.params)
        extra.initialize()
        extra.close()
        assert ng.getpid() == pid
    finally:
        man.close()
        for out in (video, pupil, gaze, signals):
            out.close()
