"""``python -m pyacq_etvr.pupil.montage``: overlay montages of a detector on a real clip, and bad input."""

from __future__ import annotations

import os

import numpy as np

from pyacq_etvr.pupil.montage import main


def test_montage_of_a_real_clip(eye_clips_dir, tmp_path, capsys):
    import cv2

    clip = os.path.join(eye_clips_dir, "pupil3d-demo2.mp4")  # 98x128 frames
    assert main([clip, "--out", str(tmp_path), "--tiles", "16", "--max-frames", "120"]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("pupil3d-demo2.mp4")][0]
    frames, found, half, high, p50, p99, mean, ref = line.split()[1:]
    assert int(frames) == 120 and 0.5 <= float(found) <= 1.0 and float(found) >= float(half) >= float(high)
    assert 0 < float(p50) <= float(p99) and float(mean) > 0 and float(ref) > 0  # ms per frame; reference in us
    img = cv2.imread(str(tmp_path / "pupil3d-demo2.mp4.png"))
    assert img.shape == (2 * 98 * 2, 8 * 128 * 2, 3)  # 16 tiles, 8 a row, each enlarged 2x
    drawn = (img[..., 0] == 0) & (img[..., 1] == 255)  # ellipse colours: green (conf >= 0.8) or yellow
    assert drawn.sum() > 100


def test_bad_input_exits_2(tmp_path, capsys):
    missing = str(tmp_path / "nope.mp4")
    assert main([missing, "--out", str(tmp_path / "o")]) == 2
    assert "cannot read any frame" in capsys.readouterr().err
    junk = tmp_path / "junk.avi"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert main([str(junk), "--out", str(tmp_path / "o")]) == 2
    assert main([missing, "--out", str(tmp_path / "o"), "--detector", "nosuch"]) == 2
    assert "unknown pupil detector" in capsys.readouterr().err
    assert main([missing, "--out", str(tmp_path / "o"), "--tiles", "0"]) == 2
    assert not os.path.exists(tmp_path / "o")  # nothing written on bad input
