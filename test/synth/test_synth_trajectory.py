"""Gaze trajectory: fixation durations, main-sequence saccades, pursuit, blinks, all on the frame clock."""

from __future__ import annotations

import numpy as np
import pytest

from pyacq_etvr.synth.nuisance import TIERS
from pyacq_etvr.synth.trajectory import GazeTrajectory, main_sequence_duration_s


def _run(fps: float, seconds: float, seed: int = 0, tier: str = "medium") -> dict[str, np.ndarray]:
    tr = GazeTrajectory(fps, np.random.default_rng(seed), TIERS[tier])
    n = int(fps * seconds)
    out = {k: np.empty(n) for k in ("yaw", "pitch", "openness", "pupil", "blink")}
    for i in range(n):
        tr.step()
        out["yaw"][i], out["pitch"][i] = tr.yaw, tr.pitch
        out["openness"][i], out["pupil"][i], out["blink"][i] = tr.openness, tr.pupil_scale, tr.blinking
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of the True runs of ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0] - np.nonzero(edges == 1)[0]))


@pytest.fixture(scope="module")
def fast_run():
    return _run(1000.0, 40.0, seed=3)


def test_main_sequence_duration():
    assert main_sequence_duration_s(1.0) == pytest.approx(0.030)
    assert main_sequence_duration_s(10.0) == pytest.approx(0.043)
    assert main_sequence_duration_s(60.0) == pytest.approx(0.080)


def test_saccades_follow_the_main_sequence(fast_run):
    speed = np.hypot(np.diff(fast_run["yaw"]), np.diff(fast_run["pitch"])) * 1000.0  # deg/s
    amps, peaks, durs = [], [], []
    for start, length in _runs(speed > 60.0):
        seg = slice(start, start + length + 1)
        amp = np.hypot(
            fast_run["yaw"][seg][-1] - fast_run["yaw"][seg][0], fast_run["pitch"][seg][-1] - fast_run["pitch"][seg][0]
        )
        if amp < 3.0:
            continue
        amps.append(amp)
        peaks.append(speed[start : start + length].max())
        durs.append(length / 1000.0)
    assert len(amps) >= 20
    assert 0.015 <= min(durs) and max(durs) <= 0.085  # above-threshold part of 30-80 ms saccades
    assert np.corrcoef(amps, peaks)[0, 1] > 0.8  # peak velocity rises with amplitude
    assert 150 < np.median(peaks) < 800


def test_fixations_and_pursuit(fast_run):
    speed = np.hypot(np.diff(fast_run["yaw"]), np.diff(fast_run["pitch"])) * 1000.0
    slow = _runs(speed < 60.0)
    lengths = np.array([n for _, n in slow]) / 1000.0
    assert np.median(lengths) > 0.18  # fixations last 200-600 ms (merged with pursuits sometimes)
    pursuit = (speed > 4.0) & (speed < 30.0)
    assert max(n for _, n in _runs(pursuit)) > 300  # at least one smooth pursuit > 0.3 s


def test_blinks_every_few_seconds(fast_run):
    blinks = _runs(fast_run["blink"] > 0)
    assert 6 <= len(blinks) <= 25  # 40 s at one blink per 2-6 s
    for start, length in blinks:
        assert 0.09 <= length / 1000.0 <= 0.31
        seg = fast_run["openness"][start : start + length]
        assert seg.min() == 0.0  # fully shut in the middle
        assert np.argmin(seg) < 0.5 * length  # closing is faster than opening
    starts = np.array([s for s, _ in blinks]) / 1000.0
    assert np.diff(starts).min() > 1.5


def test_driven_by_frame_clock_not_wall_time():
    a = _run(60.0, 5.0, seed=1)
    b = _run(60.0, 5.0, seed=1)
    for k in a:
        assert np.array_equal(a[k], b[k])
    c = _run(120.0, 5.0, seed=1)
    assert len(c["yaw"]) == 2 * len(a["yaw"])


def test_ranges(fast_run):
    assert np.abs(fast_run["yaw"]).max() <= TIERS["medium"].gaze_range_deg[0] + 2
    assert np.abs(fast_run["pitch"]).max() <= TIERS["medium"].gaze_range_deg[1] + 2
    assert 0.6 <= fast_run["pupil"].min() and fast_run["pupil"].max() <= 1.5
    assert fast_run["pupil"].std() > 0.03
    assert 0 <= fast_run["openness"].min() and fast_run["openness"].max() <= 1
