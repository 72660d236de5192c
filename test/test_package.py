"""Package-level checks: import hygiene, metadata, lint."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_import_loads_no_qt_cv2_or_osc():
    code = (
        "import sys, pyacq_etvr, pyacq_etvr.core;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PyQt5', 'PyQt6', 'PySide2', 'PySide6',"
        " 'pyqtgraph', 'cv2', 'pythonosc')];"
        "print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"import pyacq_etvr loaded {proc.stdout.strip()} {proc.stderr}"


def test_version_and_lazy_exports():
    import pyacq_etvr

    assert pyacq_etvr.__version__
    with pytest.raises(AttributeError, match="no attribute"):
        pyacq_etvr.DoesNotExist  # noqa: B018


def test_cli_help_lists_commands():
    proc = subprocess.run(
        [sys.executable, "-m", "pyacq_etvr.cli", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    assert "run" in proc.stdout and "bench" in proc.stdout


def test_bench_rejects_unknown_name():
    proc = subprocess.run(
        [sys.executable, "-m", "pyacq_etvr.bench", "nope"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "unknown benchmark" in proc.stderr


def test_ruff_clean():
    paths = [p for p in ("pyacq_etvr", "test", "examples", "tools") if os.path.isdir(os.path.join(ROOT, p))]
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pyacq_module_paths_resolve():
    """pyacq's public names resolve under the same module paths (a script ports by changing the import)."""
    import pyacq_etvr
    from pyacq_etvr.core import InputStream, Node, OutputStream, RingBuffer, ThreadPollInput, create_manager
    from pyacq_etvr.core.rpc import ObjectProxy, ProcessSpawner, RPCClient, RPCServer
    from pyacq_etvr.devices import NumpyDeviceBuffer
    from pyacq_etvr.rec import RawRecorder

    assert pyacq_etvr.Node is Node and pyacq_etvr.RawRecorder is RawRecorder
    assert issubclass(NumpyDeviceBuffer, Node) and issubclass(RawRecorder, Node)
    for obj in (InputStream, OutputStream, RingBuffer, ThreadPollInput, create_manager, ObjectProxy):
        assert callable(obj)
    for obj in (ProcessSpawner, RPCClient, RPCServer):
        assert callable(obj)


def test_readme_is_valid_rst_with_a_two_command_quick_start():
    import docutils.core

    text = open(os.path.join(ROOT, "README.rst"), encoding="utf-8").read()
    docutils.core.publish_doctree(text, settings_overrides={"halt_level": 2, "report_level": 2})
    quick = text.split("Quick start", 1)[1].split("\nInstallation extras", 1)[0]
    blocks = [b.strip().splitlines()[0] for b in quick.split(".. code-block:: bash")[1:]]
    assert len(blocks) == 2
    assert "pyacq-etvr run --duration 10" in blocks[0]
    ci = open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read()
    assert blocks[1] in ci and "pytest" in blocks[1]  # CI runs the README's test command verbatim
