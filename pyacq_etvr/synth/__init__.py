"""Synthetic near-IR eye: renderer, gaze trajectories, difficulty tiers and labelled data sets.

Public API::

    from pyacq_etvr.synth import SyntheticEye, render_dataset, TIERS, bench_render
    eye = SyntheticEye(width=240, height=240, fps=60.0, tier="clean", seed=0, jpeg_quality=None)
    frame, truth = eye.next()          # (H, W) uint8, np.void of pyacq_etvr.eyetypes.TRUTH_DTYPE

Command line: ``python -m pyacq_etvr.synth --out DIR --n N --tier clean|easy|medium|hard --size 240 --seed S
[--sequence]``. OpenCV is imported when a renderer is built, not by ``import pyacq_etvr``.
"""

from __future__ import annotations

from pyacq_etvr.synth.dataset import render_dataset
from pyacq_etvr.synth.eye import VISIBLE_MIN_FRACTION, SyntheticEye, bench_render
from pyacq_etvr.synth.nuisance import TIERS, Tier, get_tier

__all__ = ["TIERS", "VISIBLE_MIN_FRACTION", "SyntheticEye", "Tier", "bench_render", "get_tier", "render_dataset"]
