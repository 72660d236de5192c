"""EyeCalibration and EyeMerger plain objects."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError, PyacqError
from pyacq_etvr.eyetypes import GAZE_DTYPE, PUPIL_DTYPE
from pyacq_etvr.nodes.calibration import EyeCalibration
from pyacq_etvr.nodes.merge import EyeMerger


def pupil_track(gx, gy, t0=0, rate=60.0, found=None, conf=0.9):
    """Pupil records for a gaze track: x = 120 + 40 gx px, y = 120 - 30 gy px (image y down)."""
    n = len(gx)
    p = np.zeros(n, PUPIL_DTYPE)
    p["index"] = np.arange(n) + 1
    p["timestamp_ns"] = (t0 + np.arange(n) * 1e9 / rate).astype(np.int64)
    p["found"] = True if found is None else found
    p["x"] = 120 + 40 * np.asarray(gx)
    p["y"] = 120 - 30 * np.asarray(gy)
    p["confidence"] = conf
    p["openness"] = 1.0
    p["ellipse"][:, 2] = 20 + 5 * np.asarray(gx)
    p["ellipse"][:, 3] = 18
    p["width"] = p["height"] = 240
    return p


def sweep_calibrated(**kw):
    rng = np.random.default_rng(0)
    gx, gy = rng.uniform(-1, 1, 600), rng.uniform(-1, 1, 600)
    cal = EyeCalibration(sweep_s=5.0, **kw)
    assert not cal.calibrated
    first = cal(pupil_track(gx[:10], gy[:10]))
    assert not first["calibrated"].any() and np.isnan(first["x"]).all()  # never a silent 0
    cal.start_sweep()
    cal(pupil_track(gx, gy))  # 10 s of samples at 60 Hz: sweep completes after 5 s
    assert cal.calibrated and not cal.sweeping
    return cal


def test_sweep_maps_linearly_and_clips():
    cal = sweep_calibrated()
    gx = np.linspace(-0.8, 0.8, 50)
    gy = np.linspace(0.5, -0.5, 50)
    g = cal(pupil_track(gx, gy))
    assert g.dtype == GAZE_DTYPE and g["calibrated"].all() and g["valid"].all()
    assert np.corrcoef(g["x"], gx)[0, 1] > 0.999 and np.corrcoef(g["y"], gy)[0, 1] > 0.999
    big = cal(pupil_track([5.0], [-5.0]))
    assert big["x"][0] == 1.0 and big["y"][0] == -1.0
    flipped = sweep_calibrated(flip_x=True)(pupil_track(gx, gy))
    np.testing.assert_allclose(flipped["x"], -g["x"], atol=1e-6)


def test_recenter_uses_current_point():
    cal = sweep_calibrated()
    cal(pupil_track([0.5] * 5, [0.25] * 5))  # the user looks "straight ahead" here
    assert cal.recenter()
    g = cal(pupil_track([0.5], [0.25]))
    assert abs(g["x"][0]) < 1e-6 and abs(g["y"][0]) < 1e-6
    assert not EyeCalibration().recenter()  # nothing to recenter: reported, nothing changed


def test_invalid_samples_and_openness():
    cal = sweep_calibrated()
    p = pupil_track([0.1, 0.2], [0.0, 0.0], found=np.array([True, False]))
    p["openness"][1] = np.nan
    g = cal(p)
    assert g["valid"].tolist() == [True, False]
    assert g["openness"][1] == 0.0  # not found and no openness estimate -> closed


def test_save_load_roundtrip_two_eyes(tmp_path):
    path = str(tmp_path / "sub" / "calib.json")
    left = sweep_calibrated(eye="left")
    right = sweep_calibrated(eye="right")
    left.save(path)
    right.save(path)
    data = json.loads(open(path).read())
    assert set(data) >= {"left", "right", "version"}
    again = EyeCalibration(eye="right")
    assert again.load(path) and again.calibrated
    p = pupil_track([0.3], [0.3])
    np.testing.assert_allclose(again(p)["x"], right(p)["x"])
    assert not math.isnan(float(again.dilation(p)[0]))
    assert not EyeCalibration().load(str(tmp_path / "missing.json"))


def test_bad_calibration_inputs(tmp_path):
    with pytest.raises(ConfigError, match="eye"):
        EyeCalibration(eye="middle")
    with pytest.raises(ConfigError, match="flip_x"):
        EyeCalibration(flip_x="yes")
    with pytest.raises(PyacqError, match="PUPIL_DTYPE"):
        EyeCalibration()(np.zeros(3))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="bad.json"):
        EyeCalibration().load(str(bad))
    bad.write_text(json.dumps({"left": {"offset_x": 1, "offset_y": 2, "half_x": 0, "half_y": 3}}))
    with pytest.raises(ConfigError, match="half_x"):
        EyeCalibration().load(str(bad))
    cal = EyeCalibration()
    with pytest.raises(PyacqError, match="no calibration"):
        cal.save(str(tmp_path / "x.json"))
    with pytest.raises(ConfigError, match="duration_s"):
        cal.start_sweep(-1)


def test_sweep_waits_for_enough_valid_samples():
    cal = EyeCalibration(sweep_s=1.0, min_samples=30)
    cal.start_sweep()
    cal(pupil_track(np.zeros(120), np.zeros(120), conf=0.1))  # 2 s but nothing valid
    assert cal.sweeping and not cal.calibrated
    assert cal.status()["sweep_progress"] == 1.0


def gaze(t_ms, x, y, openness=1.0, conf=0.9, valid=True, calibrated=True):
    g = np.zeros(1, GAZE_DTYPE)
    g["timestamp_ns"] = int(t_ms * 1e6)
    g["x"], g["y"], g["openness"], g["confidence"] = x, y, openness, conf
    g["valid"], g["calibrated"] = valid, calibrated
    return g


def test_merge_rules():
    m = EyeMerger()
    r = m.update("left", gaze(0, 0.2, 0.1))
    assert r["left_x"][0] == pytest.approx(0.2) and r["right_x"][0] == pytest.approx(0.2)  # one eye: both
    r = m.update("right", gaze(5, -0.2, 0.3, openness=0.8))
    assert r["right_x"][0] == pytest.approx(-0.2) and r["left_x"][0] == pytest.approx(0.2)
    assert r["lid"][0] == pytest.approx(0.9)  # agree within 0.3: mean
    r = m.update("right", gaze(10, -0.2, 0.3, openness=0.1, conf=0.3))
    assert r["lid"][0] == pytest.approx(1.0)  # disagree: the more confident eye wins
    m2 = EyeMerger()
    r = m2.update("left", gaze(0, np.nan, np.nan, calibrated=False))
    assert np.isnan(r["left_x"][0]) and np.isnan(r["right_x"][0]) and not r["left_valid"][0]
    r = m2.update("right", gaze(1000, 0.5, 0.5))
    assert r["left_x"][0] == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="eye"):
        m.update("centre", gaze(0, 0, 0))
    with pytest.raises(PyacqError, match="GAZE_DTYPE"):
        m.update("left", np.zeros(2))
