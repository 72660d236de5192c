"""Evaluate pupil detectors on a labelled folder (``labels.csv`` + images), as in DOMAIN.md.

``labels.csv`` format: a header with at least ``file,x,y`` (``file`` relative to the root folder, empty
``x``/``y`` = no pupil visible); optional ``sequence`` and ``frame`` columns: rows sharing a ``sequence``
value are fed in ``frame`` order and the detector is ``reset()`` between sequences (otherwise every frame
is its own sequence, in file order, with a reset before each); optional ``visible_fraction`` (share of
the pupil uncovered, as our synthetic sets write it): a no-pupil row below 0.05 is a closed eye. Other
columns are ignored.

Metrics per detector (:func:`score`): DR@2 and DR@5 = share of ALL labelled frames (pupil visible) whose
detection is within 2 / 5 px (a miss counts as wrong); miss rate; false detections on no-pupil frames
(``false_det``), those with confidence >= 0.8 (``false_det_hi``: confident wrong pupils, the harmful kind)
and, when the labels say, on closed-eye frames only (``false_det_closed``; a half-hidden pupil labelled
"no pupil" is often still found, and rightly so);
mean and median error on detected frames; time per frame p50/p99 (``cv2.setNumThreads(1)`` during the
run); and, for detections with confidence >= 0.8, their share of labelled frames and the share of them
within 5 px.
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.pupil.base import Detector, PupilResult

#: a no-pupil frame whose ``visible_fraction`` is below this is a closed eye (see :func:`score`)
CLOSED_FRACTION = 0.05


@dataclass(frozen=True, slots=True)
class Label:
    """One labelled frame."""

    path: str
    x: float  # NaN when no pupil is visible
    y: float
    sequence: str
    frame: int
    closed: bool = False  # no pupil at all (``visible_fraction`` column < 0.05: a shut eye, not a half-hidden pupil)


def load_labels(labels: str, root: str | None = None) -> list[list[Label]]:
    """Read ``labels.csv`` into sequences of labels (each sorted by frame). Raises ConfigError if malformed."""
    if not os.path.isfile(labels):
        raise ConfigError(f"labels file not found: {labels}")
    root = os.path.dirname(os.path.abspath(labels)) if root is None else root
    seqs: dict[str, list[Label]] = {}
    with open(labels, newline="") as f:
        reader = csv.DictReader(f)
        cols = set(reader.fieldnames or ())
        missing = {"file", "x", "y"} - cols
        if missing:
            raise ConfigError(f"{labels}: missing column(s) {sorted(missing)}; need at least file,x,y")
        for n, row in enumerate(reader):
            try:
                x = float(row["x"]) if row["x"].strip() else math.nan
                y = float(row["y"]) if row["y"].strip() else math.nan
                frame = int(row["frame"]) if row.get("frame", "").strip() else n
                vf = row.get("visible_fraction", "") or ""
                closed = math.isnan(x) and bool(vf.strip()) and float(vf) < CLOSED_FRACTION
            except ValueError as exc:
                raise ConfigError(f"{labels}, data row {n + 1}: {exc}") from None
            if math.isnan(x) != math.isnan(y):
                raise ConfigError(f"{labels}, data row {n + 1}: x and y must both be set or both empty")
            seq = row.get("sequence", "").strip() if "sequence" in cols else ""
            seq = seq or f"\0{n}"  # no sequence: every frame alone
            seqs.setdefault(seq, []).append(Label(os.path.join(root, row["file"]), x, y, seq, frame, closed))
    out = [sorted(v, key=lambda lab: lab.frame) for v in seqs.values()]
    if not out:
        raise ConfigError(f"{labels}: no data rows")
    return out


def load_image(path: str) -> np.ndarray:
    """Read an image file as grey uint8 (ConfigError if unreadable)."""
    import cv2

    img = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ConfigError(f"cannot read image {path}")
    return img


@dataclass(slots=True)
class Run:
    """Raw outcome of a detector over a data set (arrays aligned with the flattened labels)."""

    truth: np.ndarray  # (N, 2), NaN rows = no pupil
    found: np.ndarray  # (N,) bool
    pos: np.ndarray  # (N, 2)
    confidence: np.ndarray  # (N,)
    seconds: np.ndarray  # (N,) detect() time
    closed: np.ndarray | None = None  # (N,) bool: closed-eye frames (None: the labels do not say)


@contextmanager
def one_opencv_thread() -> Iterator[None]:
    """Run the block with OpenCV on one thread (how detectors are timed), then restore its setting."""
    import cv2

    prev = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(prev)


def timed_detect(det: Detector, frames: Sequence[np.ndarray]) -> tuple[list[PupilResult], np.ndarray]:
    """``det``'s results on ``frames`` fed in order (no reset) and the seconds each ``detect()`` took, on one
    OpenCV thread."""
    results, secs = [], np.empty(len(frames))
    with one_opencv_thread():
        for i, img in enumerate(frames):
            t0 = time.perf_counter()
            results.append(det.detect(img))
            secs[i] = time.perf_counter() - t0
    return results, secs


def reference_ms(images: Sequence[np.ndarray]) -> float:
    """p50 ms of a 5x5 ``cv2.GaussianBlur`` per frame on one thread: the yardstick timings are compared to, so
    that numbers from machines of different speed (or one machine whose speed drifts) can be compared."""
    import cv2

    ts = np.empty(len(images))
    with one_opencv_thread():
        for i, img in enumerate(images):
            t0 = time.perf_counter()
            cv2.GaussianBlur(img, (5, 5), 0)
            ts[i] = time.perf_counter() - t0
    return float(np.percentile(ts * 1e3, 50)) if len(ts) else math.nan


def run_detector(det: Detector, sequences: list[list[Label]], images: dict[str, np.ndarray]) -> Run:
    """Feed every sequence through ``det`` (reset between sequences) and time each call on one thread."""
    n = sum(len(s) for s in sequences)
    truth, pos = np.full((n, 2), np.nan), np.full((n, 2), np.nan)
    found, conf, secs, closed = np.zeros(n, bool), np.zeros(n), np.zeros(n), np.zeros(n, bool)
    i = 0
    for seq in sequences:
        det.reset()
        results, secs[i : i + len(seq)] = timed_detect(det, [images[lab.path] for lab in seq])
        for lab, res in zip(seq, results):
            truth[i] = lab.x, lab.y
            closed[i] = lab.closed
            found[i], conf[i] = res.found, res.confidence
            if res.found:
                pos[i] = res.x, res.y
            i += 1
    return Run(truth, found, pos, conf, secs, closed if closed.any() else None)


def score(run: Run, high: float = 0.8) -> dict[str, float]:
    """Metrics of one run (see the module docstring); rates are fractions in [0, 1], times in ms."""
    visible = ~np.isnan(run.truth[:, 0])
    n_vis, n_blank = int(visible.sum()), int((~visible).sum())
    err = np.hypot(*(run.pos - run.truth).T)
    det_vis = visible & run.found
    e = err[det_vis]
    hi = det_vis & (run.confidence >= high)
    ms = run.seconds * 1e3
    nan = math.nan
    return {
        "frames": int(visible.size),
        "labelled": n_vis,
        "dr2": float(np.sum(e <= 2) / n_vis) if n_vis else nan,
        "dr5": float(np.sum(e <= 5) / n_vis) if n_vis else nan,
        "miss": float(1 - det_vis.sum() / n_vis) if n_vis else nan,
        "false_det": float(np.sum(run.found & ~visible) / n_blank) if n_blank else nan,
        "false_det_hi": float(np.sum(run.found & ~visible & (run.confidence >= high)) / n_blank) if n_blank else nan,
        "false_det_closed": float(np.mean(run.found[run.closed])) if run.closed is not None else nan,
        "mean_err": float(np.mean(e)) if e.size else nan,
        "median_err": float(np.median(e)) if e.size else nan,
        "ms_p50": float(np.percentile(ms, 50)),
        "ms_p99": float(np.percentile(ms, 99)),
        "hi_conf_share": float(hi.sum() / n_vis) if n_vis else nan,
        "hi_conf_dr5": float(np.mean(err[hi] <= 5)) if hi.any() else nan,
    }


def load_images(sequences: list[list[Label]]) -> dict[str, np.ndarray]:
    """Decode every image once (so detectors are timed on detection only)."""
    return {lab.path: load_image(lab.path) for seq in sequences for lab in seq}
