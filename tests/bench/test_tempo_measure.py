"""The benchmark's tempo estimator and beat finder, on the synthesised loops (no converter)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.tempo_measure import beat_deviations, estimate_bpm, fold_octave
from riffusion_core.seed_images.loops import loop_pcm, render_loop
from riffusion_core.tempo import clip_grid


def played(style: str, bpm: float, seconds: float = 12.0) -> np.ndarray:
    loop = render_loop(style, clip_grid(bpm))
    return loop_pcm(loop, 0, round(seconds * 44100)).astype(np.float64)


@pytest.mark.parametrize(("style", "bpm"), [("four_on_floor", 97.3), ("backbeat", 143.0)])
def test_the_tempo_is_found_within_two_percent(style, bpm):
    estimate = fold_octave(estimate_bpm(played(style, bpm)), bpm)
    assert estimate == pytest.approx(bpm, rel=0.02)
    assert fold_octave(estimate_bpm(played(style, bpm * 1.1)), bpm) != pytest.approx(bpm, rel=0.02)


def test_beats_on_the_grid_are_found_and_a_shift_is_seen():
    audio = played("four_on_floor", 120.0, 6.0)
    check = beat_deviations(audio, 120.0)
    assert check.found >= check.planned - 1 and check.max_deviation_ms < 3
    late = np.concatenate([audio[: 3 * 22050], np.zeros(441), audio[3 * 22050 :]])  # +10 ms
    assert beat_deviations(late, 120.0).max_deviation_ms > 7


def test_fold_octave():
    assert fold_octave(140.0, 70.0) == 70.0 and fold_octave(64.0, 128.0) == 128.0
    assert fold_octave(101.0, 100.0) == 101.0
