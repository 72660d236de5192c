"""``python -m pyacq_etvr.bench rpc`` runs and reports every measurement next to its raw pyzmq reference."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.timeout(120)
def test_rpc_benchmark_runs_and_reports_ratios():
    cmd = [sys.executable, "-m", "pyacq_etvr.bench", "rpc", "--calls", "200", "--async-calls", "500"]
    cmd += ["--spawns", "1", "--repeat", "1", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["raw_echo"]["p50_us"] > 0 and res["raw_echo"]["pipelined_per_s"] > 0
    call = res["rpc_call"]
    assert call["p50_us"] > 0
    assert call["ratio_p50_vs_raw"] == pytest.approx(call["p50_us"] / res["raw_echo"]["p50_us"], rel=1e-6)
    assert res["rpc_async"]["calls_per_s"] > 0
    assert res["spawn"]["n"] == 1 and res["spawn"]["median_s"] > 0
    assert set(res["targets"]) == {"ratio_p50_vs_raw", "calls_per_s", "spawn_s"}


def test_rpc_benchmark_rejects_bad_arguments():
    proc = subprocess.run(
        [sys.executable, "-m", "pyacq_etvr.bench", "rpc", "--calls", "-3"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0
    assert "calls" in proc.stderr
