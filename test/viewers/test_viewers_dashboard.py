"""EyeDashboard: both eyes' images + overlays and the gaze plot in one window, pumped from a plain loop."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.core.stream import OutputStream
from pyacq_etvr.eyetypes import GAZE_DTYPE, PUPIL_DTYPE


def _out(**spec) -> OutputStream:
    out = OutputStream()
    out.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata", **spec)
    return out


def _eye_outputs() -> dict[str, OutputStream]:
    return {
        "video": _out(dtype="uint8", shape=(-1, 60, 80), streamtype="image"),
        "pupil": _out(dtype=PUPIL_DTYPE, shape=(-1,)),
        "gaze": _out(dtype=GAZE_DTYPE, shape=(-1,)),
    }


def _feed(outs: dict[str, OutputStream], level: int, gx: float) -> None:
    outs["video"].send(np.full((1, 60, 80), level, np.uint8))
    rec = np.zeros(1, PUPIL_DTYPE)
    rec["found"], rec["x"], rec["y"], rec["confidence"], rec["ellipse"] = True, 40, 30, 1.0, (40, 30, 10, 10, 0)
    outs["pupil"].send(rec)
    g = np.zeros(1, GAZE_DTYPE)
    g["x"], g["y"], g["openness"], g["valid"], g["calibrated"] = gx, 0.0, 1.0, True, True
    outs["gaze"].send(g)


def _pump_until(dash, cond, timeout=10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dash.process_events(0.02)
        if cond():
            return True
    return bool(cond())


def test_dashboard_shows_both_eyes_and_survives_a_reconnect(qapp, png_dir):
    from pyacq_etvr.viewers import EyeDashboard

    left, right = _eye_outputs(), _eye_outputs()
    new_left = _eye_outputs()
    dash = EyeDashboard({"left": left, "right": right}, refresh_interval=10)
    try:
        dash.start()
        assert set(dash.image_viewers) == {"left", "right"} and dash.gaze_viewer is not None

        def shown(eye, level):
            w = dash.image_viewers[eye].widget
            return w._frame is not None and int(w._frame[0, 0]) == level and w.frames_shown > 0

        def both_shown() -> bool:
            _feed(left, 50, -0.5)
            _feed(right, 200, 0.5)
            gaze = dash.gaze_viewer.last_gaze()
            return shown("left", 50) and shown("right", 200) and gaze == {"left": (-0.5, 0.0), "right": (0.5, 0.0)}

        assert _pump_until(dash, both_shown)
        img = dash.grab(os.path.join(png_dir, "dashboard.png"))
        assert img.shape[1] > img.shape[0]  # eyes and gaze side by side
        # the left eye's group "restarts": its viewers follow the new outputs
        dash.reconnect_eye("left", new_left)

        def new_left_shown() -> bool:
            _feed(new_left, 120, -0.25)
            return shown("left", 120) and dash.gaze_viewer.last_gaze()["left"] == (-0.25, 0.0)

        assert _pump_until(dash, new_left_shown)
        with pytest.raises(ConfigError, match="no viewer"):
            dash.reconnect_eye("middle", new_left)
        with pytest.raises(ConfigError, match="video"):
            dash.reconnect_eye("left", {"pupil": new_left["pupil"]})
    finally:
        dash.close()
        for outs in (left, right, new_left):
            for out in outs.values():
                out.close()


def test_dashboard_refuses_bad_eyes(qapp):
    from pyacq_etvr.viewers import EyeDashboard

    with pytest.raises(ConfigError, match="subset"):
        EyeDashboard({})
    with pytest.raises(ConfigError, match="subset"):
        EyeDashboard({"centre": {"video": {}}})
    with pytest.raises(ConfigError, match="video"):
        EyeDashboard({"left": {"pupil": None}})
