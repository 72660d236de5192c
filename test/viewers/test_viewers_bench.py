"""The viewers benchmark runs and reports every row with its reference (no speed is asserted)."""

from __future__ import annotations

import json
import math

import pytest


@pytest.mark.timeout(120)
def test_viewers_benchmark_quick_json(qapp, capfd):
    from pyacq_etvr.bench import viewers

    assert viewers.main(["--quick", "--json"]) == 0
    doc = json.loads(capfd.readouterr().out)
    assert doc["benchmark"] == "viewers"
    names = [r["measure"] for r in doc["rows"]]
    assert any("oscilloscope" in n for n in names) and any("image" in n for n in names)
    assert any("latency" in n for n in names)
    for row in doc["rows"]:
        for key in ("p50", "p99", "ref p50", "ref p99", "ratio"):
            assert math.isfinite(row[key]) and row[key] > 0, (row, key)
