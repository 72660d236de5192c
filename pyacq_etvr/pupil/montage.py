"""Overlay montages of a pupil detector on unlabelled videos, for checking by eye.

``python -m pyacq_etvr.pupil.montage VIDEO [VIDEO ...] --out DIR [--detector default] [--tiles 40]
[--max-frames 1500]`` feeds every frame of each video (grey, in order, tracking state kept) to the detector,
prints per video the share of frames given a pupil, the shares with confidence >= 0.5 / >= 0.8, the time per
frame (p50 / p99 / mean ms, one OpenCV thread) and that of a 5x5 Gaussian blur of the same frames (``ref us``,
the bench's yardstick, to compare machines), and writes ``DIR/<video name>.png``: ``--tiles`` evenly spaced
frames, enlarged to ~160 px high, each with the fitted ellipse (green: confidence >= 0.8, yellow: >= 0.5, red:
lower) and ``frame:confidence``.

This is how real recordings without labels are judged ("a plausible pupil on the open-eye frames"): look at
the montages. Exit status 2 with a message if a video cannot be read or the detector is unknown.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.pupil.evaluate import reference_ms, timed_detect

_COLS = 8


def read_grey(path: str, max_frames: int) -> list[np.ndarray]:
    """Up to ``max_frames`` frames of a video file as grey uint8 arrays (ConfigError if unreadable)."""
    import cv2

    cap = cv2.VideoCapture(path)
    frames: list[np.ndarray] = []
    try:
        while len(frames) < max_frames:
            ok, img = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img)
    finally:
        cap.release()
    if not frames:
        raise ConfigError(f"cannot read any frame from {path}")
    return frames


def montage(frames: list[np.ndarray], results: list, n_tiles: int) -> np.ndarray:
    """BGR image: ``n_tiles`` evenly spaced frames with their detection drawn, ``_COLS`` per row."""
    import cv2

    h = frames[0].shape[0]
    sc = max(1, round(160 / h))
    tiles = []
    for i in np.linspace(0, len(frames) - 1, n_tiles).astype(int):
        big = cv2.resize(frames[i], None, fx=sc, fy=sc, interpolation=cv2.INTER_CUBIC)
        tile = cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)
        res = results[i]
        if res.found and res.ellipse is not None:
            x, y, w, hh, ang = res.ellipse
            colour = (0, 255, 0) if res.confidence >= 0.8 else (0, 255, 255) if res.confidence >= 0.5 else (0, 0, 255)
            centre = (x * sc + (sc - 1) / 2, y * sc + (sc - 1) / 2)  # pixel-centre convention, scaled
            cv2.ellipse(tile, (centre, (w * sc, hh * sc), ang), colour, 1)
        cv2.putText(tile, f"{i}:{res.confidence:.2f}", (2, 12), cv2.FONT_HERSHEY_PLAIN, 0.8, (255, 0, 255), 1)
        tiles.append(tile)
    while len(tiles) % _COLS:
        tiles.append(np.zeros_like(tiles[0]))
    return np.vstack([np.hstack(tiles[k : k + _COLS]) for k in range(0, len(tiles), _COLS)])


def main(argv: list[str] | None = None) -> int:
    import cv2

    from pyacq_etvr.pupil import create_detector

    ap = argparse.ArgumentParser(prog="python -m pyacq_etvr.pupil.montage", description=__doc__.split("\n")[0])
    ap.add_argument("videos", nargs="+", help="video files (any format OpenCV reads)")
    ap.add_argument("--out", required=True, help="folder for the PNG montages (created)")
    ap.add_argument("--detector", default="default", help="detector name (default: default)")
    ap.add_argument("--tiles", type=int, default=40, help="frames shown per montage (default 40)")
    ap.add_argument("--max-frames", type=int, default=1500, help="frames read per video (default 1500)")
    args = ap.parse_args(argv)
    try:
        if args.tiles < 1 or args.max_frames < 1:
            raise ConfigError("--tiles and --max-frames must be >= 1")
        det = create_detector(args.detector)
        clips = [(path, read_grey(path, args.max_frames)) for path in args.videos]
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    cols = ("frames", "found", "conf>=.5", "conf>=.8", "ms p50", "ms p99", "ms mean", "ref us")
    print(f"{'video':28s} " + " ".join(f"{c:>8s}" for c in cols))
    for path, frames in clips:
        det.reset()
        results, secs = timed_detect(det, frames)
        ms = secs * 1e3
        conf = np.array([r.confidence if r.found else 0.0 for r in results])
        found = np.mean([r.found for r in results])
        name = os.path.basename(path)
        p50, p99 = np.percentile(ms, (50, 99))
        print(
            f"{name:28s} {len(frames):8d} {found:8.3f} {np.mean(conf >= 0.5):8.3f} {np.mean(conf >= 0.8):8.3f}"
            f" {p50:8.2f} {p99:8.2f} {ms.mean():8.2f} {reference_ms(frames) * 1e3:8.1f}"
        )
        cv2.imwrite(os.path.join(args.out, name + ".png"), montage(frames, results, min(args.tiles, len(frames))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
