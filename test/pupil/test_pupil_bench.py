"""``python -m pyacq_etvr.bench pupil`` on a labelled folder, the evaluation metrics, and bad label files."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.pupil.evaluate import Run, load_labels, score


def _write_set(folder, rows, header="file,x,y,sequence,frame"):
    """Write rendered frames (dark disc at x, y or blank) and a labels.csv."""
    import cv2

    os.makedirs(folder, exist_ok=True)
    lines = [header]
    for i, (x, y, seq, frame) in enumerate(rows):
        big = np.full((80 * 4, 100 * 4), 150, np.uint8)
        if x is not None:
            cv2.circle(big, (int(x * 4 + 1.5), int(y * 4 + 1.5)), 36, 20, -1)
        cv2.imwrite(os.path.join(folder, f"f{i}.png"), cv2.resize(big, (100, 80), interpolation=cv2.INTER_AREA))
        xs = "" if x is None else f"{x:.3f}"
        ys = "" if y is None else f"{y:.3f}"
        lines.append(f"f{i}.png,{xs},{ys},{seq},{frame}")
    path = os.path.join(folder, "labels.csv")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


@pytest.mark.timeout(120)
def test_bench_pupil_json_on_a_labelled_folder(tmp_path):
    rows = [(30 + i, 40.0, "a", 10 - i) for i in range(6)] + [(None, None, "b", 0), (60.5, 30.25, "b", 1)]
    labels = _write_set(tmp_path / "set", rows)
    proc = subprocess.run(
        [sys.executable, "-m", "pyacq_etvr.bench", "pupil", "--labels", labels, "--detector", "default", "hsf"]
        + ["--json"],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ref_ms_p50"] > 0
    res = {r["detector"]: r for r in doc["results"]}
    assert set(res) == {"default", "hsf"}
    d = res["default"]
    assert d["frames"] == 8 and d["labelled"] == 7
    assert d["dr5"] == 1.0 and d["dr2"] == 1.0 and d["miss"] == 0 and d["false_det"] == 0.0
    assert d["median_err"] < 0.2 and d["ms_p50"] > 0 and d["ms_p99"] >= d["ms_p50"]
    assert d["hi_conf_dr5"] == 1.0
    # the human table too
    proc = subprocess.run(
        [sys.executable, "-m", "pyacq_etvr.bench", "pupil", "--labels", labels, "--detector", "blob"],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert proc.returncode == 0 and "dr5" in proc.stdout and "blob" in proc.stdout


def test_sequences_are_fed_in_frame_order_with_reset(tmp_path):
    rows = [(30, 40.0, "s", 2), (31, 40.0, "s", 0), (32, 40.0, "t", 5), (33, 40.0, "s", 1)]
    labels = _write_set(tmp_path / "seq", rows)
    seqs = load_labels(labels)
    assert [[lab.frame for lab in s] for s in seqs] == [[0, 1, 2], [5]]
    assert [lab.x for lab in seqs[0]] == [31, 33, 30]


def test_bad_label_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_labels(str(tmp_path / "missing.csv"))
    p = tmp_path / "cols.csv"
    p.write_text("name,x\na.png,1\n")
    with pytest.raises(ConfigError, match="missing column"):
        load_labels(str(p))
    p.write_text("file,x,y\na.png,1.5,\n")
    with pytest.raises(ConfigError, match="both"):
        load_labels(str(p))
    p.write_text("file,x,y\na.png,abc,2\n")
    with pytest.raises(ConfigError, match="row 1"):
        load_labels(str(p))
    p.write_text("file,x,y\n")
    with pytest.raises(ConfigError, match="no data rows"):
        load_labels(str(p))
    p.write_text("file,x,y\nnothere.png,1,2\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pyacq_etvr.bench", "pupil", "--labels", str(p), "--detector", "hsf"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "cannot read image" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "pyacq_etvr.bench", "pupil", "--labels", str(p), "--detector", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "unknown pupil detector" in proc.stderr


def test_score_counts_misses_as_wrong_and_false_detections():
    nan = math.nan
    run = Run(
        truth=np.array([[10, 10], [20, 20], [30, 30], [nan, nan], [nan, nan]], float),
        found=np.array([True, True, False, True, False]),
        pos=np.array([[10.5, 10], [23, 20], [nan, nan], [5, 5], [nan, nan]], float),
        confidence=np.array([0.9, 0.85, 0.0, 0.3, 0.0]),
        seconds=np.full(5, 1e-4),
    )
    m = score(run)
    assert m["labelled"] == 3 and m["frames"] == 5
    assert m["dr2"] == pytest.approx(1 / 3) and m["dr5"] == pytest.approx(2 / 3)
    assert m["miss"] == pytest.approx(1 / 3) and m["false_det"] == pytest.approx(0.5)
    assert m["mean_err"] == pytest.approx(1.75) and m["median_err"] == pytest.approx(1.75)
    assert m["hi_conf_share"] == pytest.approx(2 / 3) and m["hi_conf_dr5"] == 1.0
    assert m["ms_p50"] == pytest.approx(0.1)
    assert m["false_det_hi"] == 0.0 and math.isnan(m["false_det_closed"])  # labels without visible_fraction


def test_closed_eye_and_confident_false_detections(tmp_path):
    """visible_fraction < 0.05 on a no-pupil row marks a closed eye; a half-hidden pupil is not one."""
    path = tmp_path / "labels.csv"
    path.write_text(
        "file,x,y,visible_fraction\na.png,10,10,1.0\nb.png,,,0.0\nc.png,,,0.4\nd.png,,,\n", encoding="utf-8"
    )
    labels = [lab for seq in load_labels(str(path)) for lab in seq]
    assert [lab.closed for lab in labels] == [False, True, False, False]
    nan = math.nan
    run = Run(
        truth=np.array([[10, 10], [nan, nan], [nan, nan], [nan, nan]], float),
        found=np.array([True, True, True, False]),
        pos=np.array([[10, 10], [3, 3], [9, 9], [nan, nan]], float),
        confidence=np.array([0.9, 0.2, 0.9, 0.0]),
        seconds=np.full(4, 1e-4),
        closed=np.array([lab.closed for lab in labels]),
    )
    m = score(run)
    assert m["false_det"] == pytest.approx(2 / 3) and m["false_det_hi"] == pytest.approx(1 / 3)
    assert m["false_det_closed"] == 1.0
