"""The Camera node end to end, against real peers: video files, HTTP MJPEG server, pty serial, synthetic."""

from __future__ import annotations

import glob
import os
import time

import cv2
import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.core.stream import InputStream
from pyacq_etvr.nodes import Camera
from pyacq_etvr.testing import wait_until
from pyacq_etvr.testing_peers import MjpegServer, SerialPeer, clip_jpegs, decoded_lookup


@pytest.fixture
def cameras():
    made: list[tuple[Camera, list[InputStream]]] = []

    def make(outputs=("video",), latest=False, **cfg):
        cam = Camera(name=f"cam{len(made)}")
        cam.configure(**cfg)
        inputs = []
        for name in outputs:
            cam.outputs[name].configure(protocol="inproc", transfermode="plaindata")
            inp = InputStream(latest=latest)
            inp.connect(cam.outputs[name])
            inputs.append(inp)
        cam.initialize()
        made.append((cam, inputs))
        return cam, inputs

    yield make
    for cam, inputs in made:
        if cam.running():
            cam.stop()
        cam.close()
        for inp in inputs:
            inp.close()


def recv_n(inp: InputStream, n: int, timeout_s: float = 10.0):
    out = []
    deadline = time.monotonic() + timeout_s
    while len(out) < n:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"only {len(out)} of {n} chunks within {timeout_s} s"
        if inp.poll(min(remaining, 0.2) * 1000):
            index, data, ts = inp.recv(with_timestamp=True)
            out.append((index, np.array(data), ts))
    return out


def clip_path(eye_clips_dir: str, name: str) -> str:
    return os.path.join(eye_clips_dir, name)


BAD_CONFIGS = [
    (dict(source="webcam"), "source"),
    (dict(source="/nonexistent/eye.mp4"), "source"),
    (dict(source=-2), "source"),
    (dict(source="synthetic", roi=(0, 0, 0, 10)), "roi"),
    (dict(source="synthetic", roi=(200, 200, 100, 100)), "roi"),
    (dict(source="synthetic", rotation=-30), "rotation"),
    (dict(source="synthetic", width=100), "width and height"),
    (dict(source="synthetic", width=0, height=10), "width"),
    (dict(source="synthetic", fps=-1), "fps"),
    (dict(source="synthetic", stall_timeout=0), "stall_timeout"),
    (dict(source="synthetic", fps=0.5, stall_timeout=1.0), "stall_timeout"),
    (dict(source="synthetic", flip_h="yes"), "flip_h"),
    (dict(source="synthetic", output_size=(0, 5)), "output_size"),
    (dict(source="synthetic", jpeg_quality=101), "jpeg_quality"),
    (dict(source="synthetic", tier="impossible"), "tier"),
    (dict(source="synthetic", backoff_initial=3.0, backoff_max=1.0), "backoff_initial"),
    (dict(source="synthetic", baudrate=0), "baudrate"),
    (dict(source="synthetic", colour=True), "unknown setting"),
    (dict(source="http://127.0.0.1:9/", probe_timeout=0.5), "give width= and height="),
    (dict(source="/dev/video9"), "give width= and height="),
]


@pytest.mark.parametrize("cfg, match", BAD_CONFIGS)
def test_bad_config_is_a_config_error_naming_the_key(cfg, match):
    cam = Camera()
    with pytest.raises(ConfigError, match=match):
        cam.configure(**cfg)
    # nothing else lost: the node is still usable
    cam.configure(source="synthetic", width=64, height=48)
    assert cam.outputs["video"].spec["shape"] == (-1, 48, 64)
    cam.close()


def test_roi_outside_video_frame_is_refused(eye_clips_dir):
    with pytest.raises(ConfigError, match="roi"):
        Camera().configure(source=clip_path(eye_clips_dir, "ransac-test1.mp4"), roi=(50, 50, 100, 100))


def gray_frames(path: str, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(path)
    out = []
    while len(out) < n:
        ok, frame = cap.read()
        assert ok
        out.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    cap.release()
    return out


def test_video_file_source_on_every_clip(cameras, eye_clips_dir):
    clips = sorted(glob.glob(os.path.join(eye_clips_dir, "*.mp4")) + glob.glob(os.path.join(eye_clips_dir, "*.avi")))
    assert len(clips) == 7
    for path in clips:
        cam, (inp,) = cameras(source=path, realtime=False)
        expected = gray_frames(path, 20)
        cam.start()
        got = recv_n(inp, 20)
        cam.stop()
        assert [i for i, _, _ in got] == list(range(1, 21)), path
        for (_, frame, _), ref in zip(got, expected):
            assert np.array_equal(frame[0], ref), path
        assert cam.stats()["corrupt"] == 0


def test_video_file_loops_and_paces(cameras, eye_clips_dir):
    path = clip_path(eye_clips_dir, "ransac-test4.mp4")  # 312 frames at 30 fps
    cam, (inp,) = cameras(source=path, realtime=False)
    cam.start()
    assert wait_until(lambda: cam.stats()["frames"] > 400, 20), cam.stats()
    cam.stop()
    assert cam.stats()["reconnects"] == 0 and cam.stats()["loops"] >= 1  # looped by rewinding, not reconnecting
    paced, (pinp,) = cameras(source=path)
    paced.start()
    got = recv_n(pinp, 12)
    paced.stop()
    period_ms = np.median(np.diff([ts for _, _, ts in got])) / 1e6
    assert 25 < period_ms < 80, period_ms  # the file's 30 fps (33 ms), not as fast as possible


def test_mjpeg_frames_timestamps_and_corrupt_parts(cameras, eye_clips_dir):
    jpegs = clip_jpegs(clip_path(eye_clips_dir, "pupil3d-demo3.mp4"), 40)
    lookup = decoded_lookup(jpegs)
    with MjpegServer(jpegs, fps=60) as server:
        cam, (inp,) = cameras(source=server.url)
        assert cam.outputs["video"].spec["shape"] == (-1, 150, 200)  # learnt from a first frame
        cam.start()
        got = recv_n(inp, 10)
        server.inject("corrupt")
        server.inject("truncated")
        assert wait_until(lambda: cam.stats()["corrupt"] == 2, 5), cam.stats()
        got += recv_n(inp, 5)
        cam.stop()
        sent = {i % len(jpegs): stamp for i, stamp, _ in server.sent}
    idx = [lookup.get(frame[0].tobytes()) for _, frame, _ in got]
    assert None not in idx, "frames must arrive intact"
    cam_s = np.array([sent[i] for i in idx[:10]])
    ts = np.array([t for _, _, t in got[:10]])
    # X-Timestamp carried: the chunk timestamps keep the camera's frame spacing (only a new fastest frame
    # moves the offset), where arrival times would carry the network and scheduling jitter
    assert np.median(np.abs(np.diff(ts) / 1e9 - np.diff(cam_s))) < 5e-5
    st = cam.stats()
    assert st["corrupt"] == 2 and st["frames"] >= 15 and st["state"] == "closed"


def test_mjpeg_freeze_stalls_then_reconnects(cameras, eye_clips_dir):
    jpegs = clip_jpegs(clip_path(eye_clips_dir, "ransac-test1.mp4"), 20)
    with MjpegServer(jpegs, fps=60) as server:
        cam, (inp,) = cameras(source=server.url, stall_timeout=0.3)
        cam.start()
        recv_n(inp, 3)
        server.freeze()  # connection stays open, no data
        assert wait_until(lambda: any(s == "stalled" for _, s, _ in cam.state_log()), 3)
        assert wait_until(lambda: cam.stats()["reconnects"] >= 1, 3)
        assert server.connections >= 2  # the watchdog closed the open-but-silent connection and reconnected
        server.unfreeze()
        assert wait_until(lambda: cam.stats()["state"] == "streaming", 5)
        before = cam.stats()["frames"]
        assert wait_until(lambda: cam.stats()["frames"] > before + 5, 5)
        cam.stop()


@pytest.mark.timeout(60)
def test_mjpeg_server_dies_and_comes_back(cameras, eye_clips_dir):
    jpegs = clip_jpegs(clip_path(eye_clips_dir, "ransac-test1.mp4"), 20)
    server = MjpegServer(jpegs, fps=60).start()
    try:
        cam, (inp,) = cameras(source=server.url)
        cam.start()
        recv_n(inp, 3)
        server.kill()
        assert wait_until(lambda: cam.stats()["state"] in ("disconnected", "connecting"), 3)
        t_dead = time.monotonic()
        assert wait_until(lambda: time.monotonic() - t_dead > 3.0 and cam.stats()["reconnects"] >= 3, 10)
        server.revive()
        assert wait_until(lambda: cam.stats()["state"] == "streaming", 10), cam.state_log()
        recv_n(inp, 5)
        cam.stop()
    finally:
        server.close()
    log = [s for _, s, _ in cam.state_log()]
    assert "disconnected" in log and log[-1] == "closed"


def test_serial_node_frames_garbage_and_cut(cameras, eye_clips_dir):
    jpegs = clip_jpegs(clip_path(eye_clips_dir, "ransac-test2.mp4"), 20)
    lookup = decoded_lookup(jpegs)
    with SerialPeer(jpegs, fps=60) as peer:
        cam, (inp,) = cameras(source=peer.path, width=408, height=240, output_size=(204, 120))
        cam.start()
        peer.start()
        got = recv_n(inp, 5)
        peer.queue(b"\x13\x37 line noise \xff\xa0" * 40)
        peer.queue(b"\xff\xa0\xff\xa1\x00\xf0" + jpegs[0][:300])  # announces 61440 bytes, sends 300
        assert wait_until(lambda: cam.stats()["dropped"] >= 1, 5), cam.stats()
        got += recv_n(inp, 5)
        cam.stop()
    assert all(frame.shape == (1, 120, 204) for _, frame, _ in got)
    st = cam.stats()
    assert st["resyncs"] >= 1 and st["cut"] == 1 and st["corrupt"] == 0
    assert st["decode_scale"] == 2  # the output is half the frame: libjpeg decodes straight at 1/2
    # intact: each frame matches the source JPEG decoded in full and downscaled (within rounding)
    refs = []
    for jpg in jpegs:
        full = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_GRAYSCALE)
        refs.append(cv2.resize(full, (204, 120), interpolation=cv2.INTER_AREA).astype(np.int16))
    for _, frame, _ in got:
        err = [np.abs(frame[0].astype(np.int16) - ref) for ref in refs]
        best = int(np.argmin([e.mean() for e in err]))
        assert err[best].max() <= 2 and err[best].mean() < 0.5
    assert len(lookup) == len(jpegs)


def rendered_pupil_centroid(frame: np.ndarray, x: float, y: float) -> tuple[float, float] | None:
    """Centroid of the dark blob under (x, y), glints filled in (pixel-centre convention)."""
    mask = (frame < np.percentile(frame, 0.5) + 30).astype(np.uint8)
    _, labels = cv2.connectedComponents(mask)
    label = labels[int(round(y)), int(round(x))]
    if label == 0:
        return None
    contours, _ = cv2.findContours((labels == label).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros(frame.shape, np.uint8)
    cv2.drawContours(filled, contours, -1, 1, -1)
    m = cv2.moments(filled, True)
    return m["m10"] / m["m00"], m["m01"] / m["m00"]


def test_synthetic_ground_truth_aligned_and_matches_drawing(cameras):
    cam, (video, truth) = cameras(outputs=("video", "truth"), source="synthetic", tier="clean", seed=3, fps=200.0)
    assert cam.outputs["truth"].spec["shape"] == (-1,)
    cam.start()
    frames = recv_n(video, 40)
    truths = recv_n(truth, 40)
    cam.stop()
    errors = []
    for (vi, frame, vts), (ti, rec, tts) in zip(frames, truths):
        assert vi == ti == int(rec["index"][0]) and vts == tts == int(rec["timestamp_ns"][0])
        if rec["visible"][0]:
            c = rendered_pupil_centroid(frame[0], float(rec["x"][0]), float(rec["y"][0]))
            assert c is not None
            errors.append(np.hypot(c[0] - rec["x"][0], c[1] - rec["y"][0]))
    assert len(errors) >= 20 and max(errors) < 0.5, errors


def test_slow_consumer_gets_fresh_frames_camera_never_queues(cameras):
    cam, (inp,) = cameras(source="synthetic", width=120, height=120, fps=100.0, latest=True)
    cam.start()
    lags = []
    for _ in range(5):
        time.sleep(0.15)  # a consumer much slower than the camera
        newest = cam.stats()["frames"]  # index of the newest frame published before we read
        index, _ = inp.recv(timeout=2000)
        lags.append(newest - index)
    st = cam.stats()
    cam.stop()
    assert st["frames"] >= 3 * 5  # the camera went on at its own pace while the consumer slept
    assert inp.stats()["skipped"] > 0
    assert max(lags) <= 2, lags  # each read got the newest frame (give or take one in flight), none stale


def test_unplugged_uvc_camera_reconnects_with_backoff(cameras):
    cam, (inp,) = cameras(source="/dev/video9", width=240, height=240)
    cam.start()
    assert wait_until(lambda: cam.stats()["reconnects"] >= 3, 5)
    st = cam.stats()
    cam.stop()
    assert st["state"] in ("disconnected", "connecting") and "cannot open camera" in st["last_error"]
    times = [t for t, s, _ in cam.state_log() if s == "connecting"]
    gaps = np.diff(times)[:3]
    assert np.all(gaps >= np.array([0.1, 0.2, 0.4]) - 0.01), gaps  # backoff 0.1 s doubling (a wait never ends early)
    assert cam.stats()["state"] == "closed"


def test_stats_restart_and_single_output(cameras, eye_clips_dir):
    cam, (inp,) = cameras(source=clip_path(eye_clips_dir, "ransac-test4.mp4"), realtime=False)
    assert cam.output is cam.outputs["video"]  # no truth output for a non-synthetic source
    cam.start()
    first = recv_n(inp, 3)
    cam.stop()
    cam.start()
    assert wait_until(lambda: cam.stats()["state"] == "streaming", 5)
    cam.stop()
    st = cam.stats()
    expected = {"state", "frames", "received", "decoded", "corrupt", "dropped", "reconnects", "fps"}
    assert expected <= set(st) and st["frames"] > first[-1][0]
    assert isinstance(st["fps"], float) and isinstance(st["last_frame_age_s"], float)


def test_undecodable_or_vanishing_video_file(cameras, tmp_path, eye_clips_dir):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(4000))
    with pytest.raises(ConfigError, match="cannot decode"):
        Camera().configure(source=str(broken))
    # a file that disappears while the node is stopped: the node reports it and keeps retrying
    clip = tmp_path / "eye.mp4"
    clip.write_bytes(open(clip_path(eye_clips_dir, "ransac-test4.mp4"), "rb").read())
    cam, (inp,) = cameras(source=str(clip), realtime=False)
    clip.unlink()
    cam.start()
    assert wait_until(lambda: cam.stats()["reconnects"] >= 2, 5)
    st = cam.stats()
    cam.stop()
    assert st["frames"] == 0 and "cannot open video file" in st["last_error"]


def test_reconfigure_switches_truth_output(eye_clips_dir):
    cam = Camera()
    cam.configure(source="synthetic", width=64, height=64)
    assert set(cam.outputs) == {"video", "truth"}
    assert cam.output is cam.outputs["video"]  # the shorthand is the video, as in pyacq's camera nodes
    cam.configure(source=clip_path(eye_clips_dir, "ransac-test1.mp4"), rotation=90.0, output_size=(50, 40))
    assert set(cam.outputs) == {"video"} and cam.output.spec["shape"] == (-1, 40, 50)
    cam.close()


@pytest.mark.timeout(60)
def test_attached_detector_sees_every_published_frame_in_the_camera_thread(cameras, eye_clips_dir):
    from pyacq_etvr.nodes.pupil import PupilDetector

    cam, (video,) = cameras(source=clip_path(eye_clips_dir, "ransac-test4.mp4"), realtime=False, output_size=(160, 120))
    det = PupilDetector(name="det")
    det.configure()
    det.outputs["pupil"].configure(protocol="inproc")
    cam.attach(det)  # frames reach the detector by a direct call: no 'image' stream connected
    pupil = InputStream()
    pupil.connect(det.outputs["pupil"])
    det.initialize()
    det.start()
    try:
        cam.start()  # as fast as the file decodes: the detector paces the acquisition loop, nothing is skipped
        recs = recv_n(pupil, 40)
        frames = recv_n(video, 40)
        cam.stop()
        cam.attach(None)  # detached: published frames no longer reach the detector
        n = det.stats()["frames"]
        cam.publish(np.zeros((120, 160), np.uint8), time.monotonic_ns())
        st = det.stats()
    finally:
        det.stop()
        det.close()
        pupil.close()
    assert [r[0] for r in recs] == [f[0] for f in frames] == list(range(1, 41))
    assert [int(r[1]["timestamp_ns"][0]) for r in recs] == [f[2] for f in frames]
    assert all(r[1]["width"][0] == 160 and r[1]["height"][0] == 120 for r in recs)
    assert st["frames"] == n == cam.stats()["frames"] - 1 and st["skipped"] == 0
