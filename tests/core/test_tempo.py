"""Clip grids: whole bars per clip, widths the model handles, joins on the bar grid."""

from __future__ import annotations

import pytest

from riffusion_core.tempo import (
    MAX_CLIP_WIDTH,
    MIN_CLIP_WIDTH,
    bar_samples,
    check_bpm,
    clip_grid,
)


@pytest.mark.parametrize("bpm", [60, 70, 93.5, 100, 128, 140, 160, 180])
def test_a_clip_holds_whole_bars_inside_its_render(bpm: float) -> None:
    grid = clip_grid(bpm)
    assert MIN_CLIP_WIDTH <= grid.width <= MAX_CLIP_WIDTH and grid.width % 8 == 0
    assert grid.bars >= 1
    for index in range(200):
        assert grid.kept_samples(index) <= grid.rendered_samples
    # Joins stay on the ideal bar grid however many clips a chain has (no drift).
    start, _ = grid.bounds(100)
    assert abs(start - 100 * grid.bars * bar_samples(bpm)) <= 0.5


def test_tempo_outside_the_range_is_refused() -> None:
    with pytest.raises(ValueError, match="between 60 and 180"):
        check_bpm(200)
