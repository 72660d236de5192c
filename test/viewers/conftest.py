"""Fixtures for the viewer tests: one QApplication (offscreen) and a folder for the PNG grabs.

Set ``PYACQ_ETVR_PNG_DIR`` to keep the grabs for a human look; otherwise they go to pytest's tmp dir.
"""

from __future__ import annotations

import os

import numpy as np
import pytest


@pytest.fixture(scope="session")
def qapp():
    from pyacq_etvr.viewers._qt import mkQApp

    return mkQApp()


@pytest.fixture
def png_dir(tmp_path):
    path = os.environ.get("PYACQ_ETVR_PNG_DIR") or str(tmp_path)
    os.makedirs(path, exist_ok=True)
    return path


def color_mask(rgba: np.ndarray, rgb: tuple[int, int, int], tol: int = 40) -> np.ndarray:
    """Pixels within ``tol`` (sum of absolute differences) of ``rgb``."""
    return np.abs(rgba[..., :3].astype(np.int32) - np.asarray(rgb, dtype=np.int32)).sum(-1) <= tol


@pytest.fixture
def mask_of():
    return color_mask
