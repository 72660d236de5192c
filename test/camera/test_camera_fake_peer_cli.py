"""``python -m pyacq_etvr.testing_peers mjpeg CLIP`` serves a fake OpenIris camera from another process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from pyacq_etvr.nodes.camera.mjpeg import MjpegSource
from pyacq_etvr.nodes.camera.serial import SerialSource


@pytest.mark.parametrize("kind, source_cls", [("mjpeg", MjpegSource), ("serial", SerialSource)])
def test_fake_camera_process(eye_clips_dir, kind, source_cls):
    clip = os.path.join(eye_clips_dir, "ransac-test1.mp4")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyacq_etvr.testing_peers", kind, clip, "--fps", "100", "--frames", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        address = proc.stdout.readline().strip()  # readiness handshake: printed once serving
        assert address, proc.stderr.read()
        src = source_cls(address)
        src.open(5.0)
        try:
            deadline = time.monotonic() + 10
            frame = None
            while frame is None and time.monotonic() < deadline:
                frame = src.read(0.2)
        finally:
            src.close()
        assert frame is not None and frame.shape == (90, 102)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def test_fake_camera_rejects_bad_clip(tmp_path):
    bad = tmp_path / "x.mp4"
    bad.write_bytes(b"nope")
    proc = subprocess.run(
        [sys.executable, "-m", "pyacq_etvr.testing_peers", "mjpeg", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "no frame could be read" in proc.stderr
