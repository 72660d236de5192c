"""Labelled synthetic data sets: PNG frames plus ``labels.csv`` (``render_dataset`` and the CLI).

Rows of ``labels.csv`` (one per PNG, paths relative to the CSV's folder):

``file, x, y, visible, visible_fraction, openness, ellipse_cx, ellipse_cy, ellipse_w, ellipse_h, ellipse_angle,
gaze_x, gaze_y, tier, sequence, frame``

* ``x, y`` pupil centre in px (pixel-centre convention, centre of the top-left pixel = (0, 0)); both empty when
  no pupil is visible (``visible = 0``: blinks, or less than half the pupil uncovered). The ellipse columns
  follow OpenCV's RotatedRect (full axes, ``w >= h``, angle of ``w`` from +x toward +y in degrees) and are
  empty with ``x, y``.
* ``sequence, frame``: rows sharing ``sequence`` form one video-like run, to be fed in ``frame`` order (with a
  detector ``reset()`` between sequences). Without ``--sequence`` every row is its own sequence (frame 0):
  independent frames, several drawn from each synthetic eye at random moments of its trajectory.

Frames are rendered 4x supersampled and area-downsampled (``supersample``), deterministically from ``seed``.
"""

from __future__ import annotations

import csv
import os

import numpy as np

from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.synth.eye import SyntheticEye
from pyacq_etvr.synth.nuisance import Tier, get_tier

COLUMNS = [
    "file", "x", "y", "visible", "visible_fraction", "openness", "ellipse_cx", "ellipse_cy", "ellipse_w",
    "ellipse_h", "ellipse_angle", "gaze_x", "gaze_y", "tier", "sequence", "frame",
]  # fmt: skip

#: independent-frame mode draws this many frames from each synthetic eye
FRAMES_PER_EYE = 10


def _fmt(v: float, nd: int = 4) -> str:
    return "" if not np.isfinite(v) else f"{float(v):.{nd}f}"


def _row(file: str, truth: np.void, frac: float, tier: str, seq: int, frame: int) -> list[str]:
    vis = bool(truth["visible"])
    ell = truth["ellipse"]
    return [
        file,
        _fmt(truth["x"]) if vis else "",
        _fmt(truth["y"]) if vis else "",
        str(int(vis)),
        f"{frac:.3f}",
        f"{float(truth['openness']):.3f}",
        *((_fmt(e) for e in ell) if vis else [""] * 5),
        f"{float(truth['gaze_x']):.4f}",
        f"{float(truth['gaze_y']):.4f}",
        tier,
        str(seq),
        str(frame),
    ]


def render_dataset(
    out: str | os.PathLike,
    n: int,
    tier: str | Tier = "medium",
    size: int = 240,
    seed: int = 0,
    sequence: bool = False,
    seq_len: int = 300,
    fps: float = 60.0,
    supersample: int = 4,
) -> str:
    """Write ``n`` labelled PNG frames of ``tier`` (``size`` x ``size``) into ``out``; return the CSV path.

    ``sequence=True`` writes runs of ``seq_len`` consecutive frames at ``fps`` (one eye per run); otherwise
    independent frames. Raises ``ConfigError`` for bad arguments (n <= 0, size < 32, unknown tier, ...).
    """
    t = get_tier(tier)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ConfigError(f"n must be a positive integer, got {n!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 32 <= size <= 4096:
        raise ConfigError(f"size must be an integer in [32, 4096], got {size!r}")
    if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)) or seq_len <= 0:
        raise ConfigError(f"seq_len must be a positive integer, got {seq_len!r}")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not np.isfinite(fps) or fps <= 0:
        raise ConfigError(f"fps must be a positive finite number, got {fps!r}")
    if isinstance(supersample, bool) or not isinstance(supersample, (int, np.integer)) or not 1 <= supersample <= 8:
        raise ConfigError(f"supersample must be an integer in [1, 8], got {supersample!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")
    import cv2

    out = os.fspath(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(f"output path {out!r} exists and is not a folder")
    os.makedirs(out, exist_ok=True)
    per_eye = seq_len if sequence else FRAMES_PER_EYE
    gap_rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
    eye = None
    frame = np.empty((size, size), np.uint8)
    csv_path = os.path.join(out, "labels.csv")
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for i in range(n):
            k, j = divmod(i, per_eye)
            eye_seed = int(np.random.SeedSequence([seed, k]).generate_state(1, np.uint64)[0] >> 1)
            if j == 0:
                if eye is None:
                    eye = SyntheticEye(size, size, fps, t, eye_seed, supersample=supersample)
                else:
                    eye.reset(eye_seed)
            if not sequence:
                eye.skip(int(gap_rng.integers(10, 60)))
            truth = eye.next_into(frame)
            name = f"s{k:04d}_f{j:05d}.png" if sequence else f"{i:06d}.png"
            if not cv2.imwrite(os.path.join(out, name), frame, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
                raise OSError(f"could not write {os.path.join(out, name)}")
            seq_id, frame_id = (k, j) if sequence else (i, 0)
            writer.writerow(_row(name, truth, float(eye.info["visible_fraction"]), t.name, seq_id, frame_id))
    return csv_path


__all__ = ["COLUMNS", "FRAMES_PER_EYE", "render_dataset"]
