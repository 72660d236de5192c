"""The default detector on the shared real IR clips (no labels: plausibility and stability checks)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from pyacq_etvr.pupil import create_detector


def _read(path: str, n: int, step: int):
    import cv2

    cap = cv2.VideoCapture(path)
    out = []
    try:
        i = 0
        while len(out) < n:
            ok, frame = cap.read()
            if not ok:
                break
            if i % step == 0:
                out.append(frame)  # BGR: the detector converts
            i += 1
    finally:
        cap.release()
    return out


@pytest.mark.timeout(60)
@pytest.mark.parametrize("clip, min_rate", [("pupil3d-demo2.mp4", 0.75), ("pupil3d-demo3.mp4", 0.7)])
def test_default_finds_a_dark_pupil_on_real_clips(eye_clips_dir, clip, min_rate):
    import cv2

    frames = _read(os.path.join(eye_clips_dir, clip), 150, 3)
    assert len(frames) >= 100
    det = create_detector("default")
    found = 0
    for bgr in frames:
        res = det.detect(bgr)
        if not res.found or res.confidence < 0.5:
            continue
        found += 1
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        # plausible: the inside of the ellipse (glints aside) is darker than most of the frame
        _, _, w, h, _ = res.ellipse
        x, y, k = int(round(res.x)), int(round(res.y)), max(1, int(min(w, h) / 4))
        inside = gray[max(0, y - k) : y + k + 1, max(0, x - k) : x + k + 1]
        assert np.median(inside) <= np.percentile(gray, 30), (clip, res)
        assert 3 <= min(w, h) and max(w, h) <= 0.8 * min(gray.shape)
    assert found / len(frames) >= min_rate, (clip, found, len(frames))
