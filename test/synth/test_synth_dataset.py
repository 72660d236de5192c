"""Labelled data sets: ``render_dataset`` and ``python -m pyacq_etvr.synth`` (format, determinism, bad args)."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.synth import render_dataset
from pyacq_etvr.synth.dataset import COLUMNS


def _rows(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == COLUMNS
        return list(reader)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pyacq_etvr.synth", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_writes_pngs_and_labels(tmp_path):
    out = tmp_path / "set"
    proc = _cli("--out", str(out), "--n", "24", "--tier", "medium", "--size", "64", "--seed", "5")
    assert proc.returncode == 0, proc.stderr
    rows = _rows(str(out / "labels.csv"))
    assert len(rows) == 24
    assert {r["tier"] for r in rows} == {"medium"}
    assert len({r["sequence"] for r in rows}) == 24  # independent frames: one sequence each
    for r in rows:
        img = cv2.imread(str(out / r["file"]), cv2.IMREAD_UNCHANGED)
        assert img is not None and img.shape == (64, 64) and img.dtype == np.uint8
        if r["visible"] == "1":
            x, y = float(r["x"]), float(r["y"])
            assert 0 <= x < 64 and 0 <= y < 64
            assert float(r["ellipse_cx"]) == pytest.approx(x, abs=1e-3)
            assert float(r["ellipse_w"]) >= float(r["ellipse_h"]) > 0
        else:
            assert r["x"] == r["y"] == r["ellipse_cx"] == ""
        assert -1 <= float(r["gaze_x"]) <= 1 and 0 <= float(r["openness"]) <= 1


def test_sequence_mode_rows_ordered_with_blinks_unlabelled(tmp_path):
    csv_path = render_dataset(
        tmp_path, n=260, tier="easy", size=48, seed=1, sequence=True, seq_len=130, fps=30.0, supersample=1
    )
    rows = _rows(csv_path)
    assert [(int(r["sequence"]), int(r["frame"])) for r in rows] == [(i // 130, i % 130) for i in range(260)]
    hidden = [r for r in rows if r["visible"] == "0"]
    assert hidden, "8.7 s of video without a blink"
    assert all(r["x"] == "" and r["y"] == "" for r in hidden)
    assert all(float(r["visible_fraction"]) < 0.5 for r in hidden)
    # smooth video: consecutive visible centres within a saccade's reach, and gaze continuous
    gx = np.array([float(r["gaze_x"]) for r in rows[:130]])
    assert np.abs(np.diff(gx)).max() < 0.5
    xs = [float(r["x"]) for r in rows[:130] if r["x"]]
    assert len(xs) > 100


def test_same_seed_same_dataset(tmp_path):
    a = render_dataset(tmp_path / "a", n=6, tier="hard", size=40, seed=9)
    b = render_dataset(tmp_path / "b", n=6, tier="hard", size=40, seed=9)
    with open(a) as fa, open(b) as fb:
        assert fa.read() == fb.read()
    for name in os.listdir(tmp_path / "a"):
        if name.endswith(".png"):
            ia = cv2.imread(str(tmp_path / "a" / name), cv2.IMREAD_UNCHANGED)
            ib = cv2.imread(str(tmp_path / "b" / name), cv2.IMREAD_UNCHANGED)
            assert np.array_equal(ia, ib)
    c = render_dataset(tmp_path / "c", n=6, tier="hard", size=40, seed=10)
    with open(a) as fa, open(c) as fc:
        assert fa.read() != fc.read()


def test_labels_are_subpixel_on_the_supersampled_path(tmp_path):
    rows = _rows(render_dataset(tmp_path, n=12, tier="clean", size=96, seed=2))
    fr = [float(r["x"]) % 1 for r in rows if r["x"]]
    assert len(fr) >= 8 and len({round(f, 2) for f in fr}) > 4  # not snapped to the pixel grid
    for r in rows:
        if r["x"] and float(r["visible_fraction"]) > 0.999:
            img = cv2.imread(str(tmp_path / r["file"]), cv2.IMREAD_GRAYSCALE).astype(float)
            x, y, w = float(r["x"]), float(r["y"]), float(r["ellipse_w"])
            rad = int(w / 2 + 3)
            x0, y0 = int(x) - rad, int(y) - rad
            win = img[y0 : y0 + 2 * rad + 2, x0 : x0 + 2 * rad + 2]
            thr = (win.min() + np.percentile(win, 90)) / 2
            ys, xs = np.nonzero(win < thr)
            assert math.hypot(xs.mean() + x0 - x, ys.mean() + y0 - y) < 0.5


@pytest.mark.parametrize(
    "args, message",
    [
        (["--n", "5", "--size", "16"], "size"),
        (["--n", "5", "--tier", "nightmare"], "tier"),
        (["--n", "0"], "n must be"),
        (["--n", "-3"], "n must be"),
        (["--n", "5", "--seed", "-1"], "seed"),
        (["--n", "five"], "invalid int"),
        (["--n", "5", "--sequence", "--seq-len", "0"], "seq_len"),
    ],
)
def test_cli_bad_arguments_exit_2_with_message(tmp_path, args, message):
    out = tmp_path / "o"
    proc = _cli("--out", str(out), *args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert not (out / "labels.csv").exists()


def test_cli_output_path_is_a_file(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("keep me")
    proc = _cli("--out", str(f), "--n", "2", "--size", "32")
    assert proc.returncode == 2 and "not a folder" in proc.stderr
    assert f.read_text() == "keep me"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": 0},
        {"n": 2, "size": 31},
        {"n": 2, "tier": "x"},
        {"n": 2.5},
        {"n": 2, "fps": 0},
        {"n": 2, "supersample": 0},
        {"n": 2, "seed": -4},
        {"n": 2, "seq_len": 0, "sequence": True},
    ],
)
def test_render_dataset_bad_arguments(tmp_path, kwargs):
    with pytest.raises(ConfigError):
        render_dataset(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


def test_cli_lists_tiers_and_requires_out_and_n():
    proc = _cli("--list-tiers")
    assert proc.returncode == 0
    header = proc.stdout.splitlines()[0].split()
    assert header == ["parameter", "clean", "easy", "medium", "hard"]
    assert "pupil_iris_contrast" in proc.stdout and "jpeg_quality" in proc.stdout
    missing = _cli("--n", "3")
    assert missing.returncode == 2 and "--out and --n are required" in missing.stderr
