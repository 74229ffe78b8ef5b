"""What a song's structure costs (issue 16, item 5c), and how clean its joins are.

1. Overhead: a song is its clips plus planning, cutting, joining, the end fade, normalising the
   whole track and drawing the labelled strip. This renders songs with the tiny random model on
   the CPU (2 steps, text to audio) through `render_song`, and compares its wall time with the
   sum of its clips' render times (each clip is one pipeline call, as in the bot). The budget
   is 5 % of the song's time. On a GPU the clips are far faster, so the share grows there; the
   absolute seconds of assembly are the figure to carry over.
2. Joins: clips decoded from the bundled loops (each with its own phase seed, so every join has
   a real phase step) assembled with hard cuts and with the 10 ms length-keeping crossfade.
   Score: high-frequency energy (first difference, RMS over +-1.5 ms) at each join divided by
   the median of the same at the bar lines inside clips (which carry drum onsets too): about 1
   means a join is no sharper than any other bar line.

    python bench/song_cost.py
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The repository root instead of bench/, whose queue.py would shadow the standard library's.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from riffusion_core.audio import segment_to_samples  # noqa: E402
from riffusion_core.converter import get_converter  # noqa: E402
from riffusion_core.model import load_pipeline  # noqa: E402
from riffusion_core.seed_images import fit_width, load_seed_image  # noqa: E402
from riffusion_core.songs import (  # noqa: E402
    SongClip,
    SongSpec,
    assemble,
    parse_structure,
    plan_song,
    render_song,
)
from riffusion_core.spectrogram_params import SpectrogramParams  # noqa: E402
from tests.fixtures.model import ensure_tiny_model  # noqa: E402

STRUCTURE = (
    "intro: ambient pads | verse: lofi beat | chorus: jazz sax | verse | chorus | outro: pads"
)


def overhead() -> None:
    pipe = load_pipeline(str(ensure_tiny_model()), device="cpu", show_progress=False)
    print(
        "| song | clips | song s | sum of clips s | overhead s | overhead % | assemble s "
        "| of which normalise s | overhead without normalise % |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for length in (30.0, 60.0, 120.0):
        spec = SongSpec(parse_structure(STRUCTURE), bpm=128, length_s=length, loop=None, steps=2)
        render_song(pipe, replace(spec, length_s=30.0))  # warm up caches (converter, kernels)
        runs = [render_song(pipe, spec) for _ in range(2)]
        best = min(runs, key=lambda r: r.elapsed_s - sum(r.clip_elapsed_s))
        clips_s = sum(best.clip_elapsed_s)
        extra = best.elapsed_s - clips_s
        started = time.perf_counter()
        assemble(best.plan, best.clips, normalised=False)
        unnormalised = time.perf_counter() - started
        normalise_s = max(0.0, best.assemble_s - unnormalised)
        rest = extra - normalise_s
        print(
            f"| {length:.0f} s at 128 BPM | {len(best.plan.clips)} | {best.elapsed_s:.2f} | "
            f"{clips_s:.2f} | {extra:.3f} | {100 * extra / best.elapsed_s:.1f} | "
            f"{best.assemble_s:.3f} | {normalise_s:.3f} | "
            f"{100 * rest / (best.elapsed_s - normalise_s):.1f} |"
        )


def _hf(x: np.ndarray, at: int, half: int = 66) -> float:
    d = np.diff(x[max(0, at - half) : at + half])
    return float(np.sqrt(np.mean(d.astype(np.float64) ** 2)))


def joins() -> None:
    converter = get_converter(SpectrogramParams(), "cpu")
    spec = SongSpec(parse_structure(STRUCTURE), bpm=120, length_s=60, loop=None, steps=2)
    plan = plan_song(spec)
    loops = ["backbeat", "half_time", "four_on_floor", "ambient_pulse"]
    clips = []
    for clip in plan.clips:
        image = fit_width(load_seed_image(loops[clip.section % len(loops)]), plan.grid.width)
        audio = converter.audio_from_spectrogram_image(image, seed=clip.index)
        clips.append(SongClip.from_stored(plan, clip.index, image, audio))
    hard = [replace(c, overhang=c.overhang[:0]) for c in clips]
    joins_at = [c.start_sample for c in plan.clips[1:]]
    inner = [b for b in plan.bar_starts if b not in joins_at and b > 0]
    print("| joins | median join / bar-line HF | worst join / bar-line HF |")
    print("|---|---:|---:|")
    for name, parts in (("hard cut", hard), ("10 ms crossfade (default)", clips)):
        x = segment_to_samples(assemble(plan, parts).audio)[0]
        base = statistics.median(_hf(x, b) for b in inner)
        ratios = [_hf(x, j) / base for j in joins_at]
        print(f"| {name} | {statistics.median(ratios):.2f} | {max(ratios):.2f} |")


def main() -> None:
    torch.set_num_threads(1)
    print(f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, 1 thread\n")
    overhead()
    print()
    joins()


if __name__ == "__main__":
    main()
