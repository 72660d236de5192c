"""End-to-end: real `pyacq-etvr run` processes with synthetic eyes, a real python-osc server receiving the
output, OSC control messages, a SIGKILL of one eye's NodeGroup, bad configurations."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from pyacq_etvr.nodes.osc import RECALIBRATE, RECENTER, OscCapture
from pyacq_etvr.nodes.osc_schemes import scheme_addresses
from pyacq_etvr.nodes.recorder import RawRecording
from pyacq_etvr.testing import descendant_pids, wait_until

RUN = [sys.executable, "-m", "pyacq_etvr.cli", "run", "--plain", "--control-port", "0"]


def start_run(tmp_path, cap, *args, toml="", session=False):
    cfg = tmp_path / "eyes.toml"
    cfg.write_text(toml)
    out = open(tmp_path / "out.txt", "w+")
    cmd = [*RUN, "--config", str(cfg), "--osc-port", str(cap.port), *args]
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=session)
    return proc, out


def output(out):
    out.flush()
    out.seek(0)
    return out.read()


def last_status(out):
    lines = [ln for ln in output(out).splitlines() if ln.startswith("pyacq-etvr run  t=")]
    return lines[-1] if lines else ""


def _reap(proc):
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


@contextlib.contextmanager
def running(tmp_path, cap, *args, **kw):
    """``start_run``; on leaving the block, however it is left, the run process is killed if still alive."""
    proc, out = start_run(tmp_path, cap, *args, **kw)
    try:
        yield proc, out
    finally:
        _reap(proc)


def finish(proc, out, timeout=60):
    try:
        rc = proc.wait(timeout)
    finally:
        _reap(proc)
    text = output(out)
    out.close()
    return rc, text


def group_pid(proc, name):
    for pid in descendant_pids(proc.pid, include_zombies=False):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if f'"name": "{name}"' in cmd:
            return pid
    return None


def truth_of(rec_root, eye):
    parts = sorted(d for d in os.listdir(rec_root) if d == eye or d.startswith(eye + "-"))
    return np.concatenate([RawRecording(os.path.join(rec_root, d)).read("truth").data for d in parts])


def follow_truth(osc, truth, eye):
    """OSC records triggered by ``eye``'s frames (after its calibration) matched to that frame's ground truth."""
    src = 0 if eye == "left" else 1
    o = osc[(osc["source"] == src) & osc[f"{eye}_valid"]]
    by_t = {int(t): i for i, t in enumerate(truth["timestamp_ns"])}
    idx = np.array([by_t.get(int(t), -1) for t in o["timestamp_ns"]])
    o, t = o[idx >= 0], truth[idx[idx >= 0]]
    return o[f"{eye}_x"], o[f"{eye}_y"], t["gaze_x"], t["gaze_y"]


@pytest.mark.timeout(90)
def test_run_native_follows_truth_and_survives_sigkill(tmp_path):
    rec = str(tmp_path / "rec")
    with OscCapture() as cap:
        with running(tmp_path, cap, "--record", rec, toml="[calibration]\nauto_sweep_s = 4.0\n") as (proc, out):
            assert wait_until(lambda: "streaming" in last_status(out) and "calibrat" not in last_status(out), 40)
            time.sleep(2.0)
            victim = group_pid(proc, "eye-left-0")
            assert victim is not None
            t_kill = time.monotonic_ns()
            os.kill(victim, signal.SIGKILL)
            assert wait_until(lambda: "restarts 1" in last_status(out), 10)
            assert wait_until(lambda: last_status(out).split("|")[1].split()[1] == "streaming", 10)
            time.sleep(3.5)  # let the restarted eye send for a while
            proc.send_signal(signal.SIGINT)  # Ctrl-C: clean stop
            rc, text = finish(proc, out)
        msgs = cap.snapshot()
    assert rc == 0, text
    assert "left eye: NodeGroup process" in text and "restarts 1" in text and "stopped after" in text
    # every address of the scheme, right argument count and types, values in range
    expected = scheme_addresses("native", "both", "vec")
    seen = {}
    for _, addr, args in msgs:
        seen.setdefault(addr, []).append(args)
    assert set(seen) == set(expected)
    for addr, arglists in seen.items():
        assert all(len(a) == expected[addr] and all(isinstance(v, float) for v in a) for a in arglists)
    vec = np.array(seen["/tracking/eye/LeftRightVec"])
    assert np.all(np.abs(vec[:, [0, 1, 3, 4]]) <= 1.0) and np.all(vec[:, [2, 5]] == 1.0)
    closed = np.array(seen["/tracking/eye/EyesClosedAmount"])
    assert np.all((closed >= 0) & (closed <= 1))
    # the rate follows the cameras: one update per frame of either eye (2 x 60 fps), minus overwritten ones
    times = np.array([t for t, a, _ in msgs if a == "/tracking/eye/EyesClosedAmount"])
    steady = times[(times > times[0] + 3e9) & (times < t_kill)]
    rate = (len(steady) - 1) / ((steady[-1] - steady[0]) * 1e-9)
    assert 50 <= rate <= 130, rate
    # the other eye never stopped, the killed one is back within 3 s
    osc = RawRecording(os.path.join(rec, "osc")).read("osc").data
    right_t = np.sort(osc["timestamp_ns"][osc["source"] == 1])
    left_t = np.sort(osc["timestamp_ns"][osc["source"] == 0])
    assert np.diff(right_t[right_t > t_kill - 1e9]).max() < 0.5e9
    after = left_t[left_t > t_kill]
    assert after.size > 60 and after[0] - t_kill < 3e9, (after[:1] - t_kill) * 1e-9
    assert np.diff(np.sort([t for t, _, _ in msgs if t > t_kill])).max() < 0.5e9  # OSC never went silent
    # the killed eye's recorder died with it: every frame written before the SIGKILL is readable
    video = RawRecording(os.path.join(rec, "left")).read("video")
    assert video.data.shape[0] > 100 and np.all(np.diff(video.chunk_index) > 0)
    assert video.chunk_timestamp_ns[-1] < t_kill and video.data.shape[1:] == (240, 240)
    # the gaze follows the synthetic ground truth after calibration
    for eye in ("left", "right"):
        x, y, gx, gy = follow_truth(osc, truth_of(rec, eye), eye)
        assert x.size > 150
        cx, cy = np.corrcoef(x, gx)[0, 1], np.corrcoef(y, gy)[0, 1]
        assert cx >= 0.95 and cy >= 0.95, (eye, cx, cy)


def osc_matches_calibration(rec, state, t_from, t_to=None, versus=None):
    """Share of left-eye OSC records in [t_from, t_to) whose x/y equal the mapping of the recorded pupil
    position through the calibration ``state`` (synthetic camera: no x flip, image y down).

    With ``versus`` (another calibration), only records where the two calibrations give different outputs
    count (where both clip to the same edge, a record matches both)."""
    pupil = RawRecording(os.path.join(rec, "left")).read("pupil").data
    osc = RawRecording(os.path.join(rec, "osc")).read("osc").data
    o = osc[(osc["source"] == 0) & osc["left_valid"] & (osc["timestamp_ns"] >= t_from)]
    if t_to is not None:
        o = o[o["timestamp_ns"] < t_to]
    by_t = {int(t): i for i, t in enumerate(pupil["timestamp_ns"])}
    idx = np.array([by_t.get(int(t), -1) for t in o["timestamp_ns"]])
    p, o = pupil[idx[idx >= 0]], o[idx >= 0]
    ex = np.clip((p["x"] - state["offset_x"]) / state["half_x"], -1, 1)
    ey = np.clip((state["offset_y"] - p["y"]) / state["half_y"], -1, 1)
    ok = (np.abs(ex - o["left_x"]) < 1e-4) & (np.abs(ey - o["left_y"]) < 1e-4)
    if versus is not None:
        vx = np.clip((p["x"] - versus["offset_x"]) / versus["half_x"], -1, 1)
        vy = np.clip((versus["offset_y"] - p["y"]) / versus["half_y"], -1, 1)
        ok = ok[(np.abs(vx - ex) > 1e-3) | (np.abs(vy - ey) > 1e-3)]
    return float(ok.mean()) if ok.size else 0.0, int(ok.size)


@pytest.mark.timeout(90)
def test_osc_recenter_and_recalibrate_change_the_output(tmp_path):
    from pythonosc.udp_client import SimpleUDPClient

    rec = str(tmp_path / "rec")
    calib = str(tmp_path / "calib.json")
    toml = '[right]\nsource = "none"\n[calibration]\nauto_sweep_s = 2.0\nsweep_s = 2.0\n'

    def state():
        try:
            return json.load(open(calib))["left"]
        except (OSError, ValueError, KeyError):
            return None

    with OscCapture() as cap:
        with running(tmp_path, cap, "--record", rec, "--calibration", calib, toml=toml) as (proc, out):
            assert wait_until(lambda: "control on port" in output(out), 20)
            port = int(output(out).split("control on port ")[1].split(")")[0])
            assert wait_until(lambda: state() is not None, 20)  # automatic sweep done and saved
            s0 = state()
            time.sleep(1.0)
            client = SimpleUDPClient("127.0.0.1", port)
            t1 = time.monotonic_ns()
            client.send_message(RECENTER, True)
            assert wait_until(lambda: state()["offset_x"] != s0["offset_x"], 5)
            t1b = time.monotonic_ns()
            s1 = state()
            time.sleep(1.0)
            client.send_message(RECALIBRATE, False)  # a released button does nothing
            client.send_message(RECALIBRATE, True)
            t2 = time.monotonic_ns()
            assert wait_until(lambda: state()["half_x"] != s1["half_x"], 8)
            t2b = time.monotonic_ns()
            s2 = state()
            time.sleep(1.0)
            proc.send_signal(signal.SIGINT)
            rc, text = finish(proc, out)
    assert rc == 0, text
    assert "recenter" in text and "recalibration sweep started" in text
    # before the recenter the output follows the first calibration, after it the recentered one...
    share, n = osc_matches_calibration(rec, s0, t1 - int(0.8e9), t1)
    assert n > 20 and share > 0.9
    share, n = osc_matches_calibration(rec, s1, t1b + int(0.1e9), t2)
    assert n > 20 and share > 0.9
    share, n = osc_matches_calibration(rec, s0, t1b + int(0.1e9), t2, versus=s1)
    assert n > 10 and share < 0.1, (share, n)
    # ... and after the new sweep, the new calibration
    share, n = osc_matches_calibration(rec, s2, t2b + int(0.1e9))
    assert n > 20 and share > 0.9
    assert s1["half_x"] == s0["half_x"] and s1["half_y"] == s0["half_y"]  # recenter keeps the half-axes


@pytest.mark.timeout(60)
def test_run_vrcft_v1_one_eye_then_ctrl_c(tmp_path):
    with OscCapture() as cap:
        with running(
            tmp_path, cap, "--right", "none", "--osc-scheme", "vrcft-v1", session=True,
            toml="[calibration]\nauto_sweep_s = 1.5\n[osc]\nbundles = true\n",
        ) as (proc, out):  # fmt: skip
            assert wait_until(lambda: len(cap.by_address().get("/avatar/parameters/LeftEyeX", [])) > 100, 30)
            groups = descendant_pids(proc.pid, include_zombies=False)
            assert len(groups) == 2  # the eye and the OSC NodeGroups
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole process group
            rc, text = finish(proc, out)
        got = cap.by_address()
    assert rc == 0, text
    assert "stopped after" in text and "died" not in text  # the NodeGroups were stopped, not killed by Ctrl-C
    assert not [p for p in groups if os.path.exists(f"/proc/{p}")]  # every process reaped
    assert set(got) == set(scheme_addresses("vrcft-v1", "left"))
    x = np.array([a[0] for _, a in got["/avatar/parameters/LeftEyeX"]])
    assert np.array_equal(x, [a[0] for _, a in got["/avatar/parameters/RightEyeX"]])  # one eye drives both
    assert np.all(np.abs(x) <= 1) and x.std() > 0.05


@pytest.mark.parametrize(
    "args,key",
    [
        (["--osc-port", "99999"], "osc.port"),
        (["--left", "/nonexistent/eye.mp4"], "left.source"),
        (["--osc-scheme", "vrchat"], "osc.scheme"),
        (["--duration", "-1"], "--duration"),
    ],
)
def test_bad_config_starts_nothing(tmp_path, args, key):
    rec = tmp_path / "rec"
    calib = tmp_path / "calib.json"
    cmd = [*RUN, "--record", str(rec), "--calibration", str(calib), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert key in proc.stderr and "error" in proc.stderr
    assert proc.stdout == ""  # nothing started, no status
    assert not rec.exists() and not calib.exists()  # and nothing left behind


def test_bad_toml_key_and_busy_control_port(tmp_path):
    f = tmp_path / "eyes.toml"
    f.write_text("[filters]\none_euro_beta = -1\n")
    proc = subprocess.run([*RUN[:-2], "--config", str(f)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "filters.one_euro_beta" in proc.stderr
    with OscCapture() as busy:  # the control port is taken: clear error, nothing started
        proc = subprocess.run([*RUN[:-2], "--control-port", str(busy.port)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "control.port" in proc.stderr and proc.stdout == ""


@pytest.mark.timeout(60)
def test_viewer_follows_a_restarted_eye(tmp_path):
    # offscreen Qt (set by conftest and inherited): the dashboard runs in the main process of `run`
    with OscCapture() as cap:
        with running(tmp_path, cap, "--viewer", "--right", "none", "--duration", "7") as (proc, out):
            assert wait_until(lambda: "streaming" in last_status(out), 30)
            victim = group_pid(proc, "eye-left-0")
            os.kill(victim, signal.SIGKILL)
            assert wait_until(lambda: "restarts 1" in last_status(out) and "streaming" in last_status(out), 10)
            rc, text = finish(proc, out)
    assert rc == 0, text
    assert "Traceback" not in text and "stopped after" in text


def make_recording(path, n=240, fps=60.0):
    """A recording folder with a 'video' stream of synthetic eye frames (as `run --record` writes)."""
    from pyacq_etvr.nodes.recorder import RawStreamWriter, create_recording_folder
    from pyacq_etvr.synth import SyntheticEye

    eye = SyntheticEye(width=240, height=240, fps=fps, tier="easy", seed=5)
    create_recording_folder(path, ["video"])
    w = RawStreamWriter(path, "video", {"dtype": "uint8", "shape": (-1, 240, 240), "streamtype": "image"})
    for i in range(n):
        frame, _ = eye.next()
        w.write(i + 1, int(i * 1e9 / fps), frame[np.newaxis])
    w.close()


@pytest.mark.timeout(60)
def test_run_replays_a_recording_as_a_camera(tmp_path):
    rec = str(tmp_path / "eye")
    make_recording(rec)
    with OscCapture() as cap:
        proc, out = start_run(
            tmp_path, cap, "--left", f"replay:{rec}", "--right", "none", "--duration", "5",
            toml="[calibration]\nauto_sweep_s = 2.0\n",
        )  # fmt: skip
        rc, text = finish(proc, out)
        got = cap.by_address()
    assert rc == 0, text
    vec = np.array([a for _, a in got.get("/tracking/eye/LeftRightVec", [])])
    assert vec.shape[0] > 30 and vec[:, 0].std() > 0.05  # calibrated gaze from the replayed frames
    assert "calibrated True" in text


def test_pipeline_benchmark_runs():
    proc = subprocess.run(
        [sys.executable, "-m", "pyacq_etvr.bench", "pipeline", "--duration", "1.5", "--warmup", "1", "--fps", "60",
         "--json"],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert {r["eye"] for r in res["eyes"]} == {"left", "right"}
    for r in res["eyes"]:
        assert r["frames"] > 0 and r["sent"] > 0 and r["latency_p50_ms"] > 0
        assert r["overhead_p50_ms"] == pytest.approx(r["latency_p50_ms"] - r["detector_p50_ms"], abs=5)
    assert res["reference_zmq_hop_p50_ms"] > 0


@pytest.mark.timeout(60)
def test_osc_group_death_stops_the_run_with_an_error(tmp_path):
    with OscCapture() as cap:
        with running(tmp_path, cap, "--right", "none") as (proc, out):
            assert wait_until(lambda: "streaming" in last_status(out), 30)
            os.kill(group_pid(proc, "osc"), signal.SIGKILL)
            rc, text = finish(proc, out, timeout=30)
    assert rc == 1 and "OSC NodeGroup process" in text and "stopped after" in text


@pytest.mark.timeout(60)
def test_failed_restart_is_retried_while_the_other_eye_keeps_sending(tmp_path):
    import shutil

    rec = str(tmp_path / "eye")
    make_recording(rec, n=120)
    with OscCapture() as cap:
        with running(tmp_path, cap, "--left", f"replay:{rec}", "--no-control") as (proc, out):
            assert wait_until(lambda: last_status(out).count("streaming") == 2, 30)
            shutil.rmtree(rec)  # the left eye cannot be rebuilt any more
            os.kill(group_pid(proc, "eye-left-0"), signal.SIGKILL)
            assert wait_until(lambda: output(out).count("restart failed") >= 2, 20)  # retried with a backoff
            n = len(cap.snapshot())
            assert wait_until(lambda: len(cap.snapshot()) > n + 60, 5)  # the right eye keeps sending
            proc.send_signal(signal.SIGINT)
            rc, text = finish(proc, out)
    assert rc == 0, text
    assert "left  DOWN" in text and "does not exist" in text


@pytest.mark.timeout(60)
def test_stop_signal_during_a_restart_lets_it_finish_then_stops(tmp_path):
    """Ctrl-C while an eye's NodeGroup is being rebuilt: the rebuild completes, then everything is reaped
    (an exception thrown into the middle of a process spawn could leave that process behind)."""
    import re

    rec = str(tmp_path / "eye")
    make_recording(rec, n=120)
    died = re.compile(r"left eye: NodeGroup process \d+ died")  # logged in the tick that starts the rebuild
    with OscCapture() as cap:
        with running(tmp_path, cap, "--left", f"replay:{rec}", "--right", "none", "--no-control") as (proc, out):
            assert wait_until(lambda: "streaming" in last_status(out), 30)
            os.kill(group_pid(proc, "eye-left-0"), signal.SIGKILL)
            assert wait_until(lambda: died.search(output(out)) is not None, 10, 0.002)
            proc.send_signal(signal.SIGINT)  # the new process is being spawned (that takes ~0.5 s)
            rc, text = finish(proc, out)
    assert rc == 0, text
    assert "NodeGroup restarted (generation 1)" in text and "stopped after" in text, text
