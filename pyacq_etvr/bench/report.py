"""Shared helpers for benchmark output: percentiles, aligned tables and ``--json``."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import numpy as np


def percentiles(samples: Sequence[float] | np.ndarray, qs: Sequence[float] = (50, 99)) -> list[float]:
    """Return the requested percentiles of ``samples`` (NaN for an empty sample)."""
    arr = np.asarray(samples, dtype=float)
    if arr.size == 0:
        return [float("nan")] * len(qs)
    return [float(v) for v in np.percentile(arr, qs)]


def format_table(rows: list[dict[str, Any]], columns: Sequence[str] | None = None, floatfmt: str = ".3g") -> str:
    """Format ``rows`` (dicts) as an aligned plain-text table."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v)

    body = [[cell(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths))
    sep = "  ".join("-" * w for w in widths)
    out = [line, sep]
    out += ["  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(b, widths))) for b in body]
    return "\n".join(out)


def emit(result: dict[str, Any], table: str, as_json: bool, stream: TextIO | None = None) -> None:
    """Print either the human table or the JSON document of a benchmark run (to ``stream``, by default the
    ``sys.stdout`` of the moment of the call, not of the import: a redirected stdout gets the output)."""
    stream = sys.stdout if stream is None else stream
    if as_json:
        json.dump(result, stream, indent=2, default=float)
        stream.write("\n")
    else:
        stream.write(table + "\n")
