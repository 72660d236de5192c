"""The Sphinx documentation builds with warnings as errors (autodoc imports the real modules)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.timeout(180)
def test_sphinx_build_warning_free(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "doc", str(tmp_path / "html")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-8000:]
    index = (tmp_path / "html" / "index.html").read_text()
    assert "pyacq_etvr" in index
    for page in ("architecture", "streams", "distributed", "eyetracking", "viewers", "cli", "examples", "api"):
        assert (tmp_path / "html" / f"{page}.html").is_file(), page
    api = (tmp_path / "html" / "api.html").read_text()
    for name in ("ImageViewer", "QOscilloscope", "GazeViewer", "QtPollInput", "Node", "InputStream", "Manager"):
        assert name in api, f"{name} missing from the API reference"
    assert "create_nodegroup" in (tmp_path / "html" / "examples.html").read_text()
