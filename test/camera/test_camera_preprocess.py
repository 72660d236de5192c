"""Preprocessing (ROI + rotation + flips + resize in one warp) and source-string parsing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.nodes.camera.preprocess import Preprocessor
from pyacq_etvr.nodes.camera.source import parse_source


@pytest.fixture
def frame():
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (60, 80), dtype=np.uint8)


def test_identity_is_zero_copy(frame):
    pre = Preprocessor(80, 60)
    assert pre(frame) is frame


def test_roi_flips_resize_match_numpy(frame):
    assert np.array_equal(Preprocessor(80, 60, roi=(10, 5, 30, 20))(frame), frame[5:25, 10:40])
    assert np.array_equal(Preprocessor(80, 60, flip_h=True)(frame), frame[:, ::-1])
    assert np.array_equal(Preprocessor(80, 60, flip_v=True)(frame), frame[::-1])
    assert np.array_equal(Preprocessor(80, 60, flip_h=True, flip_v=True)(frame), frame[::-1, ::-1])
    out = Preprocessor(80, 60, output_size=(40, 30))(frame)
    assert out.shape == (30, 40)
    assert abs(float(out.mean()) - float(frame.mean())) < 2


@pytest.mark.parametrize("rotation, k", [(90, 1), (180, 2), (270, 3)])
def test_rotation_about_roi_centre_matches_rot90(frame, rotation, k):
    roi = (20, 10, 40, 40)  # square, so a quarter turn maps the ROI onto itself
    out = Preprocessor(80, 60, rotation=rotation, roi=roi)(frame)
    expected = np.rot90(frame[10:50, 20:60], k)  # counter-clockwise like np.rot90
    assert np.array_equal(out, expected)


def test_rotation_with_flip_and_scale_in_one_warp(frame):
    roi = (20, 10, 40, 40)
    out = Preprocessor(80, 60, rotation=90, roi=roi, flip_h=True, output_size=(80, 80))(frame)
    ref = np.rot90(frame[10:50, 20:60], 1)[:, ::-1]
    assert out.shape == (80, 80)
    # nearest 2x upsampling of the reference agrees with the bilinear warp away from edges
    up = np.repeat(np.repeat(ref, 2, 0), 2, 1).astype(float)
    assert np.abs(out[4:-4, 4:-4].astype(float) - up[4:-4, 4:-4]).mean() < 40


def test_uncovered_area_is_mean_grey():
    img = np.zeros((100, 100), np.uint8)
    img[:, 50:] = 200  # mean 100, neither white nor black
    out = Preprocessor(100, 100, rotation=45)(img)
    assert out[0, 0] == 100 and out[-1, -1] == 100


def test_reduced_decode_factor_and_geometry(frame):
    assert Preprocessor(240, 240, output_size=(120, 120)).reduction() == 2
    assert Preprocessor(240, 240, output_size=(60, 60)).reduction() == 4
    assert Preprocessor(240, 240, output_size=(121, 120)).reduction() == 1
    assert Preprocessor(240, 240, roi=(8, 8, 160, 160), output_size=(40, 40)).reduction() == 4
    assert Preprocessor(240, 240, roi=(3, 0, 160, 160), output_size=(40, 40)).reduction() == 1  # x not divisible
    assert Preprocessor(80, 60).reduction() == 1
    # the reduced transform of a 2x-downscaled frame equals the full transform, within interpolation
    yy, xx = np.mgrid[0:120, 0:160]
    big = (128 + 60 * np.sin(xx / 9.0) * np.cos(yy / 13.0)).astype(np.uint8)  # smooth 160x120 scene
    half = cv2.resize(big, (80, 60), interpolation=cv2.INTER_AREA)  # what a 1/2 decode delivers
    full = Preprocessor(160, 120, rotation=90, roi=(40, 20, 80, 80), output_size=(40, 40))
    small = full.reduced(2)
    assert small.in_size == (80, 60) and small.roi == (20, 10, 40, 40)
    assert np.abs(full(big).astype(int) - small(half).astype(int)).max() <= 8


def test_other_frame_sizes_are_resized(frame):
    pre = Preprocessor(40, 30)
    assert pre(frame).shape == (30, 40) and pre.resized == 1


@pytest.mark.parametrize(
    "kwargs, key",
    [
        (dict(roi=(70, 0, 20, 20)), "roi"),
        (dict(roi=(0, 0, 0, 10)), "roi"),
        (dict(roi=(0, 0, 10)), "roi"),
        (dict(roi="0,0,10,10"), "roi"),
        (dict(roi=(0.5, 0, 10, 10)), "roi"),
        (dict(rotation=-10), "rotation"),
        (dict(rotation=400), "rotation"),
        (dict(rotation=float("nan")), "rotation"),
        (dict(rotation="90"), "rotation"),
        (dict(output_size=(0, 10)), "output_size"),
        (dict(output_size=(10,)), "output_size"),
    ],
)
def test_bad_settings_raise_config_error_naming_the_key(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        Preprocessor(80, 60, **kwargs)


def test_parse_source(tmp_path):
    clip = tmp_path / "eye.mp4"
    clip.write_bytes(b"")
    cases = {
        "synthetic": ("synthetic", None),
        "SYNTHETIC": ("synthetic", None),
        0: ("uvc", 0),
        "1": ("uvc", 1),
        "/dev/video2": ("uvc", "/dev/video2"),
        "http://openiristracker.local/": ("http", "http://openiristracker.local/"),
        "COM3": ("serial", "COM3"),
        "/dev/ttyACM0": ("serial", "/dev/ttyACM0"),
        "/dev/serial/by-id/usb-Espressif-if00": ("serial", "/dev/serial/by-id/usb-Espressif-if00"),
        str(clip): ("video", str(clip)),
    }
    for source, (kind, target) in cases.items():
        spec = parse_source(source)
        assert (spec.kind, spec.target) == (kind, target), source


@pytest.mark.parametrize(
    "source, match",
    [
        ("webcam", "not 'synthetic'"),
        ("", "empty"),
        (-1, ">= 0"),
        (True, "source"),
        (3.5, "source"),
        ("/nonexistent/eye.mp4", "does not exist"),
        ("http://host:badport/", "source"),
        ("ftp://host/", "not 'synthetic'"),
    ],
)
def test_bad_sources(source, match):
    with pytest.raises(ConfigError, match=match):
        parse_source(source)


def test_existing_file_without_video_extension(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("x")
    with pytest.raises(ConfigError, match="known video extension"):
        parse_source(str(f))
