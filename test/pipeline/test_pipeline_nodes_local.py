"""Calibration -> EyeMerge -> OscSender nodes in one process on real streams, to a real OSC server;
RawRecorder + ReplaySource on real streams."""

from __future__ import annotations

import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.core.stream import InputStream, OutputStream
from pyacq_etvr.eyetypes import PUPIL_DTYPE
from pyacq_etvr.nodes.calibration import Calibration
from pyacq_etvr.nodes.merge import EyeMerge
from pyacq_etvr.nodes.osc import OscCapture, OscSender
from pyacq_etvr.nodes.recorder import RawRecorder, RawRecording, ReplaySource
from pyacq_etvr.testing import wait_until


def pupil(i, gx, gy, t_ns):
    p = np.zeros(1, PUPIL_DTYPE)
    p["index"], p["timestamp_ns"], p["found"], p["confidence"], p["openness"] = i, t_ns, True, 0.9, 0.8
    p["x"], p["y"] = 120 + 40 * gx, 120 - 30 * gy
    p["ellipse"] = [120 + 40 * gx, 120 - 30 * gy, 20 + 4 * gx, 18, 0]
    return p


def test_calibrate_merge_send_local(tmp_path):
    path = str(tmp_path / "calib.json")
    srcs, cals = {}, {}
    merge = EyeMerge(name="merge")
    merge.configure()
    merge.outputs["merged"].configure(protocol="inproc")
    sender = OscSender(name="osc")
    nodes = [merge, sender]
    with OscCapture() as cap:
        sender.configure(port=cap.port, scheme="vrcft-v2")
        for eye in ("left", "right"):
            src = OutputStream(name=eye)
            src.configure(dtype=PUPIL_DTYPE, shape=(-1,), protocol="inproc")
            cal = Calibration(name=f"cal_{eye}")
            cal.configure(eye=eye, path=path, auto_sweep_s=1.0)
            cal.inputs["pupil"].connect(src)
            cal.outputs["gaze"].configure(protocol="inproc")
            cal.outputs["dilation"].configure(protocol="inproc")
            merge.inputs[eye].connect(cal.outputs["gaze"])
            merge.inputs[eye + "_dilation"].connect(cal.outputs["dilation"])
            srcs[eye], cals[eye] = src, cal
            nodes.insert(0, cal)
        sender.input.connect(merge.outputs["merged"])
        for n in nodes:
            n.initialize()
        for n in nodes:
            n.start()
        try:
            rng = np.random.default_rng(0)
            gx, gy = rng.uniform(-1, 1, 150), rng.uniform(-1, 1, 150)
            t0 = 10**12
            for i in range(150):  # 2.5 s at 60 Hz: the 1 s automatic sweep completes on the way
                for s in srcs.values():
                    s.send(pupil(i + 1, gx[i], gy[i], t0 + i * 16_666_667), index=i + 1, timestamp_ns=t0 + i)
                wait_until(lambda i=i: merge.stats()["merged"] >= 2 * i + 2, 2, 0.001)
            assert wait_until(lambda: len(cap.by_address().get("/avatar/parameters/v2/EyeLeftX", [])) > 30, 5)
            assert all(c.status()["calibrated"] for c in cals.values())
            assert cals["left"].recenter()
        finally:
            for n in nodes:
                n.stop()
            for n in nodes:
                n.close()
            for s in srcs.values():
                s.close()
        msgs = cap.by_address()
    assert set(msgs) == {
        "/avatar/parameters/v2/" + a
        for a in ["EyeLeftX", "EyeLeftY", "EyeRightX", "EyeRightY", "EyeLidLeft", "EyeLidRight", "PupilDilation"]
    }
    lid = [a[0] for _, a in msgs["/avatar/parameters/v2/EyeLidLeft"]]
    assert np.allclose(lid, 0.8)
    xs = np.array([a[0] for _, a in msgs["/avatar/parameters/v2/EyeLeftX"]])
    assert np.all(np.abs(xs) <= 1.0) and xs.std() > 0.1
    from pyacq_etvr.nodes.calibration import read_calibration_file

    assert set(read_calibration_file(path)) >= {"left", "right"}  # sweeps and the recenter were persisted


def test_recorder_and_replay_roundtrip(tmp_path):
    d = str(tmp_path / "rec")
    video = OutputStream(name="video")
    video.configure(dtype="uint8", shape=(-1, 16, 16), protocol="inproc", streamtype="image")
    pup = OutputStream(name="pupil")
    pup.configure(dtype=PUPIL_DTYPE, shape=(-1,), protocol="inproc")
    rec = RawRecorder(name="rec")
    rec.configure(streams={"video": video, "pupil": pup}, dirname=d)
    rec.initialize()
    rec.start()
    frames = np.random.default_rng(0).integers(0, 255, (40, 16, 16), dtype=np.uint8)
    for i in range(40):
        video.send(frames[i : i + 1], index=i + 1, timestamp_ns=5_000_000 * i)
        if i % 10 == 9:
            pup.send(np.zeros(10, PUPIL_DTYPE), timestamp_ns=5_000_000 * i)
    video.send(frames[:1], index=45, timestamp_ns=5_000_000 * 45)  # 4 frames lost upstream: a gap
    assert wait_until(lambda: rec.stats()["video"]["chunks"] == 41, 5)
    rec.stop()
    st = rec.stats()
    rec.close()
    assert st["video"]["gaps"] == 1 and st["video"]["missing"] == 4 and st["pupil"]["samples"] == 40
    r = RawRecording(d)
    v = r.read("video")
    np.testing.assert_array_equal(v.data[:40], frames)
    assert r.read("pupil").data.shape == (40,)

    rep = ReplaySource(name="replay")
    rep.configure(dirname=d, stream="video", loop=False, speed=4.0)
    rep.outputs["video"].configure(protocol="inproc")
    sink = InputStream()
    sink.connect(rep.outputs["video"])
    rep.initialize()
    rep.start()
    try:
        got = [sink.recv(timeout=5000)[1] for _ in range(41)]
        assert wait_until(lambda: rep.stats()["state"] == "finished", 5)
    finally:
        rep.stop()
        rep.close()
        sink.close()
        video.close()
        pup.close()
    np.testing.assert_array_equal(np.concatenate(got)[:40], frames)
    with pytest.raises(ConfigError, match="no stream"):
        ReplaySource().configure(dirname=d, stream="nope")
    with pytest.raises(ConfigError, match="already exists"):
        RawRecorder().configure(streams={"x": {}}, dirname=d)


def test_recorder_that_falls_behind_says_so(tmp_path, caplog):
    import logging
    import time

    src = OutputStream(name="x")
    src.configure(dtype="float32", shape=(-1, 2), protocol="inproc")
    rec = RawRecorder(name="rec")
    rec.configure(streams={"x": src}, dirname=str(tmp_path / "r"), lag_warning_s=0.5)
    rec.initialize()
    rec.start()
    try:
        with caplog.at_level(logging.WARNING, logger="pyacq_etvr.nodes.recorder"):
            now = time.monotonic_ns()
            src.send(np.zeros((4, 2), np.float32), timestamp_ns=now)
            src.send(np.ones((4, 2), np.float32), timestamp_ns=now - 2_000_000_000)  # written 2 s after capture
            assert wait_until(lambda: rec.stats()["x"]["chunks"] == 2, 5)
    finally:
        rec.stop()
        rec.close()
        src.close()
    st = rec.stats()["x"]
    assert st["late"] == 1 and st["samples"] == 8
    assert any("falling behind" in r.getMessage() for r in caplog.records)
    assert RawRecording(str(tmp_path / "r")).read("x").data.shape == (8, 2)  # late, but nothing lost


def test_direct_mode_calibration_merge_sender(tmp_path):
    from pyacq_etvr.core.errors import StateError
    from pyacq_etvr.core.rpc.proxy import ObjectProxy

    src = OutputStream(name="left")
    src.configure(dtype=PUPIL_DTYPE, shape=(-1,), protocol="inproc")
    cal, merge, sender = Calibration(name="cal"), EyeMerge(name="merge"), OscSender(name="osc")
    with OscCapture() as cap:
        sender.configure(port=cap.port, scheme="vrcft-v2", eyes="left")
        merge.configure()
        with pytest.raises(StateError, match="connect at least one"):
            merge.initialize()  # nothing connected, nothing attached
        cal.configure(eye="left")
        cal.calib.set_state({"offset_x": 120, "offset_y": 120, "half_x": 40, "half_y": 30})
        cal.inputs["pupil"].connect(src)
        with pytest.raises(ConfigError, match="attach"):
            cal.attach(ObjectProxy("tcp://127.0.0.1:1", 1, 1, "EyeMerge", ()))  # remote: refused
        with pytest.raises(ConfigError, match="attach"):
            merge.attach(object())
        cal.attach(merge)
        merge.attach(sender)
        nodes = [sender, merge, cal]
        for n in nodes:
            n.initialize()  # no stream between them: accepted because attached
        for n in nodes:
            n.start()
        try:
            for i in range(20):
                src.send(pupil(i + 1, 0.5, -0.25, 10**9 + i), index=i + 1, timestamp_ns=10**9 + i)
            assert wait_until(lambda: sender.stats()["sent"] == 20, 5)
            assert wait_until(lambda: len(cap.by_address().get("/avatar/parameters/v2/EyeX", [])) == 20, 5)
        finally:
            for n in nodes:
                n.stop()
            for n in nodes:
                n.close()
            src.close()
        got = cap.by_address()
    assert got["/avatar/parameters/v2/EyeX"][0][1][0] == pytest.approx(0.5, abs=1e-5)
    assert got["/avatar/parameters/v2/EyeY"][0][1][0] == pytest.approx(-0.25, abs=1e-5)
    assert sender.stats()["latency_ms_p50_left"] >= 0


def test_calibration_node_reloads_its_file_and_skips_the_auto_sweep(tmp_path):
    import json

    path = tmp_path / "calib.json"
    path.write_text(json.dumps({"version": 1, "left": {"offset_x": 110, "offset_y": 100, "half_x": 40, "half_y": 20}}))
    for eye, calibrated in (("left", True), ("right", False)):
        cal = Calibration(name=eye)
        cal.configure(eye=eye, path=str(path), auto_sweep_s=3.0)
        cal.outputs["gaze"].configure(protocol="inproc")
        src = OutputStream()
        src.configure(dtype=PUPIL_DTYPE, shape=(-1,), protocol="inproc")
        cal.inputs["pupil"].connect(src)
        cal.initialize()
        st = cal.status()
        assert st["calibrated"] is calibrated and st["sweeping"] is not calibrated  # no file entry: auto sweep
        g = cal.process(pupil(1, 0.0, 0.0, 0))  # pupil at (120, 120) px
        if calibrated:
            assert g["x"][0] == pytest.approx(0.25) and g["y"][0] == pytest.approx(-1.0)
        else:
            assert np.isnan(g["x"][0]) and not g["calibrated"][0]
        cal.close()
        src.close()
    path.write_text("{broken")
    cal = Calibration()
    cal.configure(eye="left", path=str(path))
    src = OutputStream()
    src.configure(dtype=PUPIL_DTYPE, shape=(-1,), protocol="inproc")
    cal.inputs["pupil"].connect(src)
    with pytest.raises(ConfigError, match="calib.json"):
        cal.initialize()  # a corrupt file is a clear error, not a silent reset
    cal.close()
    src.close()
