"""Sphinx configuration for the pyacq_etvr documentation (built-in extensions only)."""

from __future__ import annotations

import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)

project = "pyacq_etvr"
author = "pyacq_etvr developers"
copyright = "2026, pyacq_etvr developers"

try:
    from pyacq_etvr import __version__ as release
except ImportError:  # pragma: no cover - the docs are built from a checkout
    release = "0.0"
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

# Import the real modules (nothing is mocked): a module that cannot be imported fails the build.
autodoc_default_options = {
    "members": True,
    "undoc-members": False,
    "show-inheritance": True,
}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = True

templates_path: list[str] = []
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = ["_static"]
html_theme_options = {"description": "Real-time acquisition graphs and a VR eye tracker", "fixed_sidebar": True}
nitpicky = False
