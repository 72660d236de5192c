"""``pyacq_etvr.nodes`` re-exports every node lazily: importing it loads no OpenCV, pyserial or python-osc."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_import_nodes_is_light_and_names_resolve():
    code = (
        "import sys, pyacq_etvr.nodes as n, pyacq_etvr.nodes.camera;"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('cv2', 'serial', 'pythonosc', 'PyQt5')];"
        "assert not heavy, heavy;"
        "from pyacq_etvr.core.node import Node;"
        "bad = [k for k in n.__all__ if k != 'CameraState' and not issubclass(getattr(n, k), Node)];"
        "assert not bad, bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_unknown_name_is_an_attribute_error():
    import pyacq_etvr.nodes as nodes

    with pytest.raises(AttributeError, match="no attribute 'Kamera'"):
        nodes.Kamera  # noqa: B018
