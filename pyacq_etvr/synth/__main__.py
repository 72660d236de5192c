"""``python -m pyacq_etvr.synth``: write a labelled synthetic eye data set (PNG frames + labels.csv).

Usage::

    python -m pyacq_etvr.synth --out DIR --n N --tier clean|easy|medium|hard --size 240 --seed S [--sequence]
                               [--seq-len 300] [--fps 60] [--supersample 4]
    python -m pyacq_etvr.synth --list-tiers      # every tier's nuisance parameters

Exit status 0 on success, 2 on a bad argument (with a one-line error on stderr), 1 on an I/O failure.
"""

from __future__ import annotations

import argparse
import sys
import time

from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.synth.nuisance import TIERS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pyacq_etvr.synth", description="Write a labelled synthetic IR eye data set."
    )
    p.add_argument("--out", help="output folder (created; labels.csv and PNG frames go there)")
    p.add_argument("--n", type=int, help="number of frames (> 0)")
    p.add_argument("--tier", default="medium", help=f"difficulty: {', '.join(TIERS)} (default medium)")
    p.add_argument("--size", type=int, default=240, help="frame width and height in px, >= 32 (default 240)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed = same data set")
    p.add_argument("--sequence", action="store_true", help="video-like runs (columns sequence, frame)")
    p.add_argument("--seq-len", type=int, default=300, help="frames per run in --sequence mode (default 300)")
    p.add_argument("--fps", type=float, default=60.0, help="frame rate of the trajectory clock (default 60)")
    p.add_argument("--supersample", type=int, default=4, help="render at this factor and downsample (default 4)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    p.add_argument("--list-tiers", action="store_true", help="print every tier's parameters and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list_tiers:
        from pyacq_etvr.synth.nuisance import tiers_table

        print(tiers_table())
        return 0
    if args.out is None or args.n is None:
        parser.print_usage(sys.stderr)
        print("error: --out and --n are required", file=sys.stderr)
        return 2
    from pyacq_etvr.synth.dataset import render_dataset

    if args.tier not in TIERS:
        print(f"error: unknown tier {args.tier!r}; choose from {', '.join(TIERS)}", file=sys.stderr)
        return 2
    if args.seed < 0:
        print(f"error: --seed must be >= 0, got {args.seed}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        path = render_dataset(
            args.out,
            args.n,
            args.tier,
            args.size,
            args.seed,
            sequence=args.sequence,
            seq_len=args.seq_len,
            fps=args.fps,
            supersample=args.supersample,
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"wrote {args.n} frames ({args.tier}, {args.size}px) and {path} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
