"""``python -m pyacq_etvr.bench pupil --labels labels.csv [--root DIR] [--detector NAME ...|all] [--json]``

Accuracy and speed of pupil detectors on any labelled folder (format: :mod:`pyacq_etvr.pupil.evaluate`).
Columns: DR@2, DR@5 (share of all labelled frames within 2 / 5 px, a miss is wrong), miss rate, false
detections on no-pupil frames (all; with confidence >= 0.8; on closed eyes when labels carry
``visible_fraction``), mean / median error (px) on detected frames, ms per frame p50 / p99 on one
thread, share of frames detected with confidence >= 0.8 and the share of those within 5 px. The reference
measured in the same run is ``cv2.GaussianBlur`` 5x5 of the same frames (``ref_ms_p50``), so speed ratios
are comparable across machines.
"""

from __future__ import annotations

import argparse
import sys

from pyacq_etvr.bench.report import emit, format_table
from pyacq_etvr.core.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    from pyacq_etvr.pupil import create_detector, list_detectors
    from pyacq_etvr.pupil.evaluate import load_images, load_labels, reference_ms, run_detector, score

    ap = argparse.ArgumentParser(prog="python -m pyacq_etvr.bench pupil", description=__doc__.split("\n")[2])
    ap.add_argument("--labels", required=True, help="labels.csv (columns file,x,y[,sequence,frame])")
    ap.add_argument("--root", default=None, help="folder the file column is relative to (default: the csv's)")
    ap.add_argument("--detector", nargs="+", default=["all"], help="detector names, or 'all' (default)")
    ap.add_argument("--json", action="store_true", help="print a JSON document instead of the table")
    args = ap.parse_args(argv)
    names = list_detectors() if "all" in args.detector else args.detector
    try:
        dets = {n: create_detector(n) for n in names}
        seqs = load_labels(args.labels, args.root)
        images = load_images(seqs)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ref = reference_ms(list(images.values()))
    rows = []
    for name, det in dets.items():
        run_detector(det, seqs[:1], images)  # warm-up (imports, caches)
        m = score(run_detector(det, seqs, images))
        rows.append({"detector": name, **m, "x_ref_p50": m["ms_p50"] / ref if ref > 0 else float("nan")})
    cols = ["detector", "dr2", "dr5", "miss", "false_det", "false_det_hi", "false_det_closed", "mean_err"]
    cols += ["median_err", "ms_p50", "ms_p99"]
    cols += ["hi_conf_share", "hi_conf_dr5", "x_ref_p50"]
    head = f"{args.labels}: {rows[0]['frames']} frames, {rows[0]['labelled']} with a pupil; "
    head += f"reference GaussianBlur 5x5 p50 {ref * 1e3:.1f} us/frame\n"
    emit({"labels": args.labels, "ref_ms_p50": ref, "results": rows}, head + format_table(rows, cols), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
