"""The camera benchmark runs and reports its reference (no speed is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_camera_benchmark_runs_with_reference():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyacq_etvr.bench",
            "camera",
            "--json",
            "--frames",
            "20",
            "--repeat",
            "1",
            "--synthetic-frames",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    cases = {(r["input"], r["case"]) for r in result["mjpeg"]}
    assert ("real clip 240x240", "bare cv2.imdecode grey") in cases
    assert ("sensor-noise 240x240", "our MJPEG path (chunked)") in cases
    assert all(r["ratio_vs_bare_gray"] > 0 for r in result["mjpeg"])
    assert {r["case"] for r in result["synthetic"]} >= {"synthetic 240x240 (bench_render)"}
    assert isinstance(result["verdict"]["mjpeg_ok"], bool)


def test_camera_benchmark_rejects_bad_arguments():
    proc = subprocess.run(
        [sys.executable, "-m", "pyacq_etvr.bench", "camera", "--frames", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "--frames" in proc.stderr
