"""Benchmark: does the tempo hold over a whole song, and are its joins clean? (issue 16)

Run `python bench/song_tempo.py` from the repository root (CPU, a few minutes).
bench/tempo.py measures one loop and a 4-clip chain; this measures the song machinery itself:
riffusion_core.songs plans a song (STRUCTURE: section changes and a chorus that returns) at each
tempo, renders every clip with `render_song_clip` and joins them with `assemble` (normalised, end
fade and all), with the pipeline bypassed: a pass-through pipe answers each request with its
seed image, the tempo loop `<style>@<bpm>bpm` at the grid's width, so each clip is the seed loop
sent straight to the converter (decoded with the clip's own phase seed, as render_clips does)
and then cut, placed and crossfaded by the song code: widths, joins and section changes are what
is measured.

bench/tempo.py's measure_chain gives (a) the song's tempo against the requested one (target 2 %)
and where the detected beats are against the planned grid, over all beats and over the first
beat after each join, also relative to the same beat of the source loop played on without the
converter or joins (so each instrument's own onset shape cancels); and (b) the spectral change
at each join over the median frame-to-frame change inside the clips, with the bar lines inside
clips and the source loop at the join positions as yardsticks.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ comes first on sys.path, where bench/queue.py would hide the standard
# library's queue from torch: import the benchmarks as the package `bench` from the root instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from bench.tempo import TARGET_ERROR_PCT, TEMPOS, ChainMeasure, _join_ratio, measure_chain  # noqa: E402
from riffusion_core.audio import segment_to_samples  # noqa: E402
from riffusion_core.generation import GenerationRequest  # noqa: E402
from riffusion_core.pipeline import RenderInfo, RiffusionPipelineOutput  # noqa: E402
from riffusion_core.seed_images import load_seed_image  # noqa: E402
from riffusion_core.seed_images.loops import LOOP_STYLES, render_loop, set_cache_dir  # noqa: E402
from riffusion_core.songs import (  # noqa: E402
    SongPlan,
    SongSpec,
    assemble,
    parse_structure,
    plan_song,
    render_song_clip,
)

STRUCTURE = "intro: a | verse: b | chorus: c | verse | chorus | outro: d"
LENGTH_S = 75.0
SONG_SEED = 42
STYLES = ("backbeat", "four_on_floor", "half_time")


class PassThroughPipe:
    """A ClipPipeline (riffusion_core.clips) that renders nothing: each request's image is its
    seed image, at the request's width; the seeds are the pipeline's (start, and end for a
    blend), so render_clips decodes each clip with the phase seed a real render would get."""

    model_id = "pass-through"
    device = torch.device("cpu")

    def __init__(self) -> None:
        self._interrupt = False
        self.num_timesteps = 1

    @property
    def interrupt(self) -> bool:
        return self._interrupt

    def __call__(
        self,
        requests: Sequence[GenerationRequest],
        *,
        max_batch_size: int = 1,
        callback_on_step_end=None,
    ) -> RiffusionPipelineOutput:
        images: list[Image.Image] = []
        renders: list[RenderInfo] = []
        for batch, request in enumerate(requests):
            if request.seed_image is None:
                raise ValueError("the pass-through pipe needs a seed image")
            image = load_seed_image(request.seed_image)
            if image.width != request.width:
                raise ValueError(f"{request.seed_image} is {image.width} px, not {request.width}")
            seeds = (request.start.seed,) + (() if request.end is None else (request.end.seed,))
            images.append(image)
            renders.append(RenderInfo(seeds, "pass-through", 0, batch, 1, 0.0))
        if callback_on_step_end is not None:
            callback_on_step_end(self, 0, 0, {})
        return RiffusionPipelineOutput(images=images, renders=renders)


def reference(plan: SongPlan, style: str) -> np.ndarray:
    """The source loop (no converter, no joins) laid on the song's clips: each clip's samples
    are the loop from its start, as the clip's seed image holds it."""
    loop = render_loop(style, plan.grid)
    out = np.zeros(plan.total_samples)
    for clip in plan.clips:
        repeats = -(-clip.kept_samples // len(loop))
        out[clip.start_sample : clip.start_sample + clip.kept_samples] = np.tile(loop, repeats)[
            : clip.kept_samples
        ]
    return out


def song(style: str, bpm: float) -> tuple[SongPlan, ChainMeasure, float, float]:
    """(plan, measure, worst section-change join / median, its source yardstick)."""
    spec = SongSpec(
        sections=parse_structure(STRUCTURE), bpm=bpm, length_s=LENGTH_S, seed=SONG_SEED, loop=style
    )
    plan = plan_song(spec)
    pipe = PassThroughPipe()
    clips = [render_song_clip(pipe, plan, index) for index in range(len(plan.clips))]
    audio = segment_to_samples(assemble(plan, clips).audio)
    joins = [clip.start_sample for clip in plan.clips[1:]]
    bar_lines = [b for b in plan.bar_starts if b and b not in set(joins)]
    ref = reference(plan, style)
    measure = measure_chain(audio, bpm, joins, bar_lines, ref)
    changes = [s.start_sample for s in plan.sections[1:]]
    return plan, measure, _join_ratio(audio[0], changes)[0], _join_ratio(ref, changes)[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--tempo", type=float, action="append", help="default: 70 100 128 160")
    parser.add_argument(
        "--style", action="append", choices=LOOP_STYLES, help=f"default: {' '.join(STYLES)}"
    )
    args = parser.parse_args()
    print(
        f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, torch {torch.__version__}"
    )
    print(f"Structure: {STRUCTURE!r}, {LENGTH_S:g} s, seed {SONG_SEED}")
    print(
        "| BPM | style | clips (bars x px) | song s | est. (raw) | err % | beats found | lag ms "
        "| median dev ms | max dev ms | max dev after joins ms | vs source ms "
        "| after joins vs source ms | inside clips vs source ms | worst join / median "
        "| median join / median | worst section change / median | bar line / median (worst) "
        "| source worst join / median | source section change / median |"
    )
    print(
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    failures = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="song-tempo-loops-") as folder:
        set_cache_dir(Path(folder))
        try:
            for bpm in args.tempo or TEMPOS:
                for style in args.style or STYLES:
                    plan, m, change, ref_change = song(style, bpm)
                    bad = abs(m.error_pct) > TARGET_ERROR_PCT
                    failures += bad
                    print(
                        f"| {bpm:g} | {style} | {len(plan.clips)} ({plan.grid.bars} x "
                        f"{plan.grid.width}) | {plan.duration_s:.1f} | {m.bpm:.2f} "
                        f"({m.bpm_raw:.2f}) | {m.error_pct:+.2f}{' FAIL' if bad else ''} | "
                        f"{m.beats_found}/{m.beats_planned} | {m.lag_ms:.1f} | "
                        f"{m.median_dev_ms:.1f} | {m.max_dev_ms:.1f} | {m.max_dev_join_ms:.1f} | "
                        f"{m.max_dev_ref_ms:.1f} | {m.max_dev_join_ref_ms:.1f} | "
                        f"{m.max_dev_inside_ref_ms:.1f} | {m.join_ratio:.2f} | "
                        f"{m.median_join_ratio:.2f} | {change:.2f} | "
                        f"{m.bar_ratio:.2f} ({m.bar_max_ratio:.2f}) | "
                        f"{m.ref_join_ratio:.2f} | {ref_change:.2f} |",
                        flush=True,
                    )
        finally:
            set_cache_dir(None)
    print(
        f"\n{failures} song(s) off by more than {TARGET_ERROR_PCT} %; "
        f"{time.perf_counter() - started:.0f} s"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
