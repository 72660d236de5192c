"""Structured dtypes shared by the eye-tracking nodes, viewers and recorders.

All coordinates use the pixel-centre convention: the centre of the top-left pixel is (0, 0), x to the
right, y down. Missing values are NaN (never a sentinel number); ``found`` / ``valid`` say why.
Timestamps are ``time.monotonic_ns()`` of the frame's capture (or the camera's clock mapped onto it).
"""

from __future__ import annotations

import numpy as np

#: One pupil detection per camera frame (output ``pupil`` of the PupilDetector node).
PUPIL_DTYPE = np.dtype(
    [
        ("index", "int64"),  # stream index of the frame (pyacq convention: last sample + 1)
        ("timestamp_ns", "int64"),  # capture time of the frame
        ("found", "bool"),
        ("x", "float32"),  # pupil centre, px (NaN if not found)
        ("y", "float32"),
        ("confidence", "float32"),  # 0..1, calibrated
        ("ellipse", "float32", (5,)),  # cx, cy, width, height, angle_deg (NaN if none)
        ("openness", "float32"),  # 0 closed .. 1 open (NaN if the detector has none)
        ("width", "int16"),  # frame size the coordinates refer to
        ("height", "int16"),
        ("proc_time_us", "float32"),  # detector time for this frame
    ]
)

#: Calibrated gaze of one eye (output of the calibration node), normalised to [-1, 1].
GAZE_DTYPE = np.dtype(
    [
        ("index", "int64"),
        ("timestamp_ns", "int64"),
        ("x", "float32"),  # +x = looking right (from the user's point of view)
        ("y", "float32"),  # +y = looking up
        ("openness", "float32"),  # 0 closed .. 1 open
        ("confidence", "float32"),
        ("valid", "bool"),  # a usable gaze (pupil found with enough confidence)
        ("calibrated", "bool"),  # False: x/y are NaN because the eye has no calibration yet
    ]
)

#: Ground truth published by the synthetic eye camera, aligned by index with its ``video`` output.
TRUTH_DTYPE = np.dtype(
    [
        ("index", "int64"),
        ("timestamp_ns", "int64"),
        ("visible", "bool"),  # False during a blink (no pupil visible)
        ("x", "float32"),  # pupil centre in the image, px, pixel-centre convention
        ("y", "float32"),
        ("ellipse", "float32", (5,)),  # cx, cy, width, height, angle_deg of the pupil outline
        ("openness", "float32"),  # eyelid aperture 0..1
        ("gaze_x", "float32"),  # true gaze direction, normalised [-1, 1], +x right (image), +y up
        ("gaze_y", "float32"),
    ]
)

__all__ = ["GAZE_DTYPE", "PUPIL_DTYPE", "TRUTH_DTYPE"]
