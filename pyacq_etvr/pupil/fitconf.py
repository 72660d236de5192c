"""Refit the ``default`` detector's confidence (:mod:`.confidence`) on labelled folders.

``python -m pyacq_etvr.pupil.fitconf --train A/labels.csv B/labels.csv --calibrate HARD/labels.csv``
collects, for every labelled frame, the features of every full-search candidate the detector refines, with
either edge rule (label: its centre within 5 px of the truth; no-pupil frames are all negatives), fits a
logistic regression whose weights are constrained to the signs in :data:`SIGNS` (a feature with the wrong
sign is dropped and the fit redone), then an isotonic map (pool-adjacent-violators on score quantiles) from
the score to the share within 5 px on the ``--calibrate`` folders. It prints ``WEIGHTS``, ``CAL_Z`` and
``CAL_P`` to paste into :mod:`.confidence`, and the precision reached at 0.5 / 0.8 / 0.9.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from pyacq_etvr.pupil.confidence import FEATURES

#: sign every weight is constrained to (same order as FEATURES)
SIGNS = {"support": 1, "rms": -1, "aspect": 1, "inner": -1, "sep": 1}


def collect(labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, len(FEATURES)) and centre errors (N,) of every refined candidate on these folders."""
    import cv2

    from pyacq_etvr.pupil import create_detector
    from pyacq_etvr.pupil.evaluate import load_labels

    det = create_detector("default", track=False)
    feats, errs = [], []
    for path in labels:
        for seq in load_labels(path):
            for lab in seq:
                img = cv2.imread(lab.path, cv2.IMREAD_GRAYSCALE)
                for seed in det.seeds(img):
                    for rise in (False, True):  # both edge rules: the search's candidates and the rise pass's
                        res = det._refine(img, seed.x, seed.y, seed.r, rise=rise)
                        if res is None:
                            continue
                        ex, ey = res[1].ellipse[:2]
                        err = float(np.hypot(ex - lab.x, ey - lab.y)) if not np.isnan(lab.x) else np.inf
                        feats.append(det.last_features.copy())
                        errs.append(err)
    return np.array(feats), np.array(errs)


def fit_weights(x: np.ndarray, y: np.ndarray, ridge: float = 1e-2) -> np.ndarray:
    """Sign-constrained logistic regression (IRLS on standardised features): intercept + one weight each."""
    sign = np.array([SIGNS[f] for f in FEATURES])
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = np.hstack([np.ones((len(x), 1)), (x - mu) / sd])
    active = np.ones(z.shape[1], bool)
    w = np.zeros(z.shape[1])
    for _ in range(len(FEATURES) + 1):
        w = np.zeros(z.shape[1])
        za = z[:, active]
        wa = np.zeros(za.shape[1])
        for _ in range(60):
            p = 1 / (1 + np.exp(-za @ wa))
            h = za.T @ (za * (p * (1 - p) + 1e-6)[:, None]) + ridge * np.eye(len(wa))
            wa += np.linalg.solve(h, za.T @ (y - p) - ridge * wa)
        w[active] = wa
        bad = np.zeros_like(active)
        bad[1:] = active[1:] & (w[1:] != 0) & (np.sign(w[1:]) != sign)
        if not bad.any():
            break
        active &= ~bad
    raw = w[1:] / sd
    return np.concatenate([[w[0] - np.sum(w[1:] * mu / sd)], raw])


def isotonic(score: np.ndarray, y: np.ndarray, bins: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Monotone map score -> P(within 5 px): pool adjacent violators over score-quantile bins."""
    order = np.argsort(score)
    s, t = score[order], y[order]
    edges = np.unique(np.quantile(s, np.linspace(0, 1, bins + 1)))
    idx = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, len(edges) - 2)
    blocks = [[t[idx == k].sum(), float((idx == k).sum()), [s[idx == k].mean()]] for k in np.unique(idx)]
    i = 0
    while i < len(blocks) - 1:
        if blocks[i][0] / blocks[i][1] > blocks[i + 1][0] / blocks[i + 1][1]:
            a, b = blocks[i], blocks.pop(i + 1)
            blocks[i] = [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
            i = max(i - 1, 0)
        else:
            i += 1
    return np.array([np.mean(b[2]) for b in blocks]), np.array([b[0] / b[1] for b in blocks])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pyacq_etvr.pupil.fitconf", description=__doc__.split("\n")[0])
    ap.add_argument("--train", nargs="+", required=True, help="labels.csv files to fit the weights on")
    ap.add_argument("--calibrate", nargs="+", required=True, help="labels.csv files for the isotonic map")
    args = ap.parse_args(argv)
    x, e = collect(args.train)
    w = fit_weights(x, (e <= 5).astype(float))
    xc, ec = collect(args.calibrate)
    yc = (ec <= 5).astype(float)
    knots, probs = isotonic(w[0] + xc @ w[1:], yc)
    fmt = lambda a, n: ", ".join(f"{v:.{n}f}" for v in a)
    print(
        f"WEIGHTS = np.array([{fmt(w, 3)}])\nCAL_Z = np.array([{fmt(knots, 3)}])\nCAL_P = np.array([{fmt(probs, 4)}])"
    )
    conf = np.interp(w[0] + xc @ w[1:], knots, probs)
    for t in (0.5, 0.8, 0.9):
        m = conf >= t
        prec = f"{yc[m].mean():.4f}" if m.any() else "n/a"
        print(f"calibration set: confidence >= {t}: {m.mean():.3f} of candidates, {prec} within 5 px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
