"""A steady tempo in a model that thinks in 5-second pictures: clips that hold whole bars.

One image column is 10 ms (441 samples), so a bar of 4/4 at `bpm` is 24000 / bpm columns, which
is rarely a whole number, let alone a multiple of 8 (the VAE's factor). So a clip holds a whole
number of bars, is rendered a little wider (a multiple of 8 px, within the widths the model
handles well) and is cut back to its bars at sample precision. Clip k of a chain keeps samples
[round(k * B), round((k + 1) * B)) of the ideal grid, B being the clip's bars in samples, so the
rounding never accumulates: every join falls on a bar line, and the beat holds across joins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from riffusion_core.spectrogram_params import SpectrogramParams

_PARAMS = SpectrogramParams()  # the published model's geometry (as in riffusion_core.generation)
SAMPLE_RATE = _PARAMS.sample_rate
HOP_SAMPLES = _PARAMS.hop_length  # 10 ms: one image column

MIN_BPM = 60.0
MAX_BPM = 180.0
BEATS_PER_BAR = 4
# Widths (px) the model handles well: close to the 512 it was trained on. A clip holds as many
# whole bars as fit in MAX_CLIP_WIDTH; one bar at 60-70 BPM (343-400 px) is rendered at
# MIN_CLIP_WIDTH and cut back.
MIN_CLIP_WIDTH = 448
MAX_CLIP_WIDTH = 640
WIDTH_MULTIPLE = 8


def beat_samples(bpm: float) -> float:
    return 60.0 * SAMPLE_RATE / bpm


def bar_samples(bpm: float) -> float:
    return BEATS_PER_BAR * beat_samples(bpm)


def bar_columns(bpm: float) -> float:
    """A bar in image columns (10 ms each): 24000 / bpm."""
    return bar_samples(bpm) / HOP_SAMPLES


def check_bpm(bpm: float) -> float:
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise ValueError(f"bpm must be between {MIN_BPM:g} and {MAX_BPM:g} (got {bpm:g})")
    return float(bpm)


@dataclass(frozen=True)
class ClipGrid:
    """How clips at one tempo are rendered and cut: `bars` whole bars per clip, rendered
    `width` px wide, kept to exactly the bars."""

    bpm: float
    bars: int
    width: int

    @property
    def clip_samples(self) -> float:
        """The ideal (fractional) length of one clip: its bars."""
        return self.bars * bar_samples(self.bpm)

    @property
    def rendered_samples(self) -> int:
        """What a clip of `width` px decodes to (441 * (width - 1) samples)."""
        return HOP_SAMPLES * (self.width - 1)

    def bounds(self, index: int) -> tuple[int, int]:
        """Samples [start, end) of clip `index` on the chain's grid (joins on bar lines)."""
        return round(index * self.clip_samples), round((index + 1) * self.clip_samples)

    def kept_samples(self, index: int) -> int:
        """How many samples of clip `index` are kept (its bars, to the sample)."""
        start, end = self.bounds(index)
        return end - start


def clip_grid(bpm: float) -> ClipGrid:
    """The clip layout for `bpm`: as many whole bars as fit MAX_CLIP_WIDTH (at least one)."""
    bpm = check_bpm(bpm)
    columns = bar_columns(bpm)
    bars = max(1, math.floor((MAX_CLIP_WIDTH - 1) / columns))
    # One column more than the bars need, so the kept samples always lie inside the render.
    needed = bars * columns + 1
    width = max(MIN_CLIP_WIDTH, WIDTH_MULTIPLE * math.ceil(needed / WIDTH_MULTIPLE))
    return ClipGrid(bpm=bpm, bars=bars, width=width)


def bars_in(seconds: float, bpm: float) -> int:
    """Whole bars closest to `seconds` (at least one)."""
    return max(1, round(seconds * SAMPLE_RATE / bar_samples(bpm)))
