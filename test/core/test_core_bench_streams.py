"""The streams benchmark runs end to end (numbers are printed by the command, never asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.timeout(120)
def test_streams_benchmark_runs_and_reports_ratios():
    proc = subprocess.run(
        [sys.executable, "-m", "pyacq_etvr.bench", "streams", "--quick", "--json", "--payload", "image"],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    rows = {r["transport"]: r for r in result["rows"]}
    assert set(rows) == {"numpy-copy", "raw-tcp", "raw-ipc", "plaindata-tcp", "plaindata-ipc", "sharedmem"}
    for name in ("raw-tcp", "raw-ipc", "plaindata-tcp", "plaindata-ipc", "sharedmem"):
        row = rows[name]
        assert row["chunks_per_s"] > 0 and row["lat_p99_us"] >= row["lat_p50_us"] > 0
        assert row["lost"] == 0  # flow-controlled throughput phase: nothing may be dropped
    for name in ("plaindata-tcp", "plaindata-ipc", "sharedmem"):
        assert rows[name]["tp_ratio"] > 0 and rows[name]["p99_ratio"] > 0


def test_streams_benchmark_rejects_bad_arguments():
    proc = subprocess.run(
        [sys.executable, "-m", "pyacq_etvr.bench", "streams", "--repeat", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "--repeat" in proc.stderr


def test_report_emit_writes_to_the_stdout_of_the_call():
    """The benchmarks print through ``emit``: a stdout redirected after the import (pytest's capture, a
    notebook, ``contextlib.redirect_stdout``) gets the table or the JSON document."""
    import contextlib
    import io
    import json

    from pyacq_etvr.bench.report import emit

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        emit({"benchmark": "x", "rows": [{"a": 1.5}]}, "a\n1.5", as_json=True)
    assert json.loads(buf.getvalue()) == {"benchmark": "x", "rows": [{"a": 1.5}]}
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        emit({}, "the table", as_json=False)
    assert buf.getvalue() == "the table\n"
