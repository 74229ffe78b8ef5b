"""Benchmark: does a steady tempo survive the converter and the joins of a chain? (issue 16)

Run `python bench/tempo.py` from the repository root (CPU, about a minute and a half).
For each tempo (70, 100, 128, 160 BPM) and each loop style (riffusion_core.seed_images.loops):

(a) one loop: the style's loop at that tempo is made as a seed image (the grid's width), decoded
    through the converter as a generated image would be (image -> audio, seed 0), cut to its
    bars and played four times over; its tempo is estimated from onsets (bench/tempo_measure.py)
    and compared with the planned tempo.
    a chain: CHAIN_CLIPS clips of that loop, each decoded on its own (seeds 0, 1, ...: a
    different phase per clip, as different renders have), cut and joined per riffusion_core.tempo
    by tracks.join_on_grid, the pipeline bypassed. measure_chain gives the whole chain's tempo
    and how far the detected beats are from the planned grid, across the joins.
(b) joins are clean: the spectral change across each join (the largest frame-to-frame change of
    the log spectrum within +-2 frames of the join) against the median frame-to-frame change
    inside the clips, and, as a yardstick, the same change measured at the beats inside clips
    (a beat's own onset is a large change too).

measure_chain(audio, bpm, join_samples) is the reusable part: bench/song_tempo.py hands it whole
songs assembled by riffusion_core.songs (the pipeline bypassed) and their join positions.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ comes first on sys.path, where bench/queue.py would hide the standard
# library's queue from torch: import the benchmarks as the package `bench` from the root instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.tempo_measure import (  # noqa: E402
    HOP,
    SAMPLE_RATE,
    beat_deviations,
    estimate_bpm,
    fold_octave,
    spectrogram,
)
from riffusion_core.audio import samples_to_segment, segment_to_samples  # noqa: E402
from riffusion_core.converter import get_converter  # noqa: E402
from riffusion_core.seed_images.loops import (  # noqa: E402
    LOOP_STYLES,
    loop_image,
    loop_pcm,
    make_loop_image,
    render_loop,
)
from riffusion_core.tempo import clip_grid  # noqa: E402
from riffusion_core.tracks import join_on_grid  # noqa: E402

TEMPOS = (70.0, 100.0, 128.0, 160.0)
CHAIN_CLIPS = 4
LOOP_REPEATS = 4
TARGET_ERROR_PCT = 2.0
JOIN_FRAMES = 2  # +-2 frames of 5.8 ms around a join or a beat


@dataclass(frozen=True)
class ChainMeasure:
    bpm_raw: float  # the estimator's pick in 60-180 BPM
    bpm: float  # folded into the planned tempo's octave
    error_pct: float
    beats_found: int
    beats_planned: int
    lag_ms: float  # median onset - beat: the detector's and the decoder's constant lag
    max_dev_ms: float  # largest |offset - lag| over all beats found
    max_dev_join_ms: float  # the same over the first beat after each join
    join_ratio: float  # largest spectral change at a join / median change inside clips
    bar_ratio: float  # median change at bar lines inside clips / the same median (nan: none)
    # With a reference (the same music played without converter or joins): per beat, the chain's
    # offset minus the reference's, so an instrument's own onset shape cancels out.
    max_dev_ref_ms: float = float("nan")
    max_dev_join_ref_ms: float = float("nan")
    max_dev_inside_ref_ms: float = float("nan")  # the same over the beats not after a join
    ref_join_ratio: float = float("nan")  # the reference's change at the join positions
    median_dev_ms: float = float("nan")  # median |offset - lag| over all beats found
    median_join_ratio: float = float("nan")  # median change at the joins / median inside clips
    bar_max_ratio: float = float("nan")  # largest change at a bar line inside clips / median


def _changes(samples: np.ndarray) -> np.ndarray:
    """Frame-to-frame change of the log spectrum (frame i vs i - 1), mean over bins."""
    mag = spectrogram(samples)
    return np.concatenate([[0.0], np.abs(np.diff(mag, axis=0)).mean(axis=1)])


def _peak_near(changes: np.ndarray, sample: float) -> float:
    centre = round(sample / HOP)
    return float(changes[max(1, centre - JOIN_FRAMES) : centre + JOIN_FRAMES + 1].max())


def _mono(audio: np.ndarray) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float64)
    return x.mean(axis=0) if x.ndim == 2 else x


def _join_ratio(x: np.ndarray, join_samples: list[int]) -> tuple[float, float]:
    """(largest change at a join, median change at the joins) over the median change away
    from the joins."""
    changes = _changes(x)
    near_join = np.zeros(len(changes), dtype=bool)
    for j in join_samples:
        c = round(j / HOP)
        near_join[max(0, c - 2 * JOIN_FRAMES) : c + 2 * JOIN_FRAMES + 1] = True
    inside = float(np.median(changes[1:][~near_join[1:]]))
    at_joins = [_peak_near(changes, j) for j in join_samples]
    return max(at_joins) / inside, float(np.median(at_joins)) / inside


def measure_chain(
    audio: np.ndarray,
    bpm: float,
    join_samples: list[int],
    bar_samples: list[int] | None = None,
    reference: np.ndarray | None = None,
) -> ChainMeasure:
    """Tempo, beat grid and join cleanliness of a chain whose first downbeat is sample 0.

    `audio`: mono samples (any scale) or (channels, frames); `join_samples`: where clips meet;
    `bar_samples`: bar lines inside clips (the yardstick for a join, which is a bar line too);
    `reference`: the same music without the converter or the joins, if there is one.
    """
    x = _mono(audio)
    raw = estimate_bpm(x)
    folded = fold_octave(raw, bpm)
    check = beat_deviations(x, bpm)
    beat = 60.0 * SAMPLE_RATE / bpm
    after_join = np.array(
        [any(0 <= t - j < beat for j in join_samples) for t in check.planned_s * SAMPLE_RATE],
        dtype=bool,
    )
    centred = np.abs(check.offsets_ms - check.lag_ms)
    changes = _changes(x)
    join_ratio, median_join_ratio = (
        _join_ratio(x, join_samples) if join_samples else (float("nan"), float("nan"))
    )
    near_join = np.zeros(len(changes), dtype=bool)
    for j in join_samples:
        c = round(j / HOP)
        near_join[max(0, c - 2 * JOIN_FRAMES) : c + 2 * JOIN_FRAMES + 1] = True
    inside = float(np.median(changes[1:][~near_join[1:]]))
    bars = [_peak_near(changes, b) for b in bar_samples or []]
    extra: dict[str, float] = {}
    if reference is not None:
        ref = _mono(reference)
        ref_check = beat_deviations(ref, bpm)
        ref_at = dict(zip(np.round(ref_check.planned_s, 6), ref_check.offsets_ms, strict=True))
        pairs = [
            (offset - ref_at[t], joined)
            for t, offset, joined in zip(
                np.round(check.planned_s, 6), check.offsets_ms, after_join, strict=True
            )
            if t in ref_at
        ]
        if pairs:
            devs = np.array([abs(d) for d, _ in pairs])
            at_join = np.array([j for _, j in pairs], dtype=bool)
            extra["max_dev_ref_ms"] = float(devs.max())
            extra["max_dev_join_ref_ms"] = (
                float(devs[at_join].max()) if at_join.any() else float("nan")
            )
            extra["max_dev_inside_ref_ms"] = (
                float(devs[~at_join].max()) if (~at_join).any() else float("nan")
            )
        if join_samples:
            extra["ref_join_ratio"] = _join_ratio(ref, join_samples)[0]
    return ChainMeasure(
        bpm_raw=raw,
        bpm=folded,
        error_pct=100.0 * (folded - bpm) / bpm,
        beats_found=check.found,
        beats_planned=check.planned,
        lag_ms=check.lag_ms,
        max_dev_ms=float(centred.max()) if check.found else float("nan"),
        max_dev_join_ms=float(centred[after_join].max()) if after_join.any() else float("nan"),
        join_ratio=join_ratio,
        bar_ratio=float(np.median(bars)) / inside if bars else float("nan"),
        median_dev_ms=float(np.median(centred)) if check.found else float("nan"),
        median_join_ratio=median_join_ratio,
        bar_max_ratio=float(np.max(bars)) / inside if bars else float("nan"),
        **extra,
    )


def decode(image, seed: int) -> np.ndarray:
    return segment_to_samples(get_converter().audio_from_spectrogram_image(image, seed=seed))[0]


def one_loop(style: str, bpm: float) -> tuple[float, float, float]:
    """(raw estimate, folded estimate, error %) of one decoded loop played LOOP_REPEATS times."""
    grid = clip_grid(bpm)
    clip = decode(make_loop_image(style, grid), 0)[: grid.kept_samples(0)]
    raw = estimate_bpm(np.tile(clip, LOOP_REPEATS))
    folded = fold_octave(raw, bpm)
    return raw, folded, 100.0 * (folded - bpm) / bpm


def chain(style: str, bpm: float, clips: int = CHAIN_CLIPS) -> ChainMeasure:
    """The loop's clips, each decoded with its own seed, joined on the grid, measured against
    the loop itself played on for as long."""
    grid = clip_grid(bpm)
    loop = render_loop(style, grid)
    image = loop_image(loop, grid.width)
    decoded = [samples_to_segment(decode(image, k), normalize=False) for k in range(clips)]
    joined = segment_to_samples(join_on_grid(decoded, grid))[0]
    joins = [grid.bounds(k)[0] for k in range(1, clips)]
    bar = grid.clip_samples / grid.bars
    bar_lines = [round(k * bar) for k in range(1, clips * grid.bars) if k % grid.bars]
    reference = loop_pcm(loop, 0, len(joined)).astype(np.float64)
    return measure_chain(joined, bpm, joins, bar_lines, reference)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--tempo", type=float, action="append", help="default: 70 100 128 160")
    parser.add_argument("--style", action="append", choices=LOOP_STYLES, help="default: all")
    args = parser.parse_args()
    print(f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}; numpy only.")
    print(
        "| BPM | style | bars x px | loop est. (raw) | loop err % | chain est. (raw) | "
        "chain err % | beats found | lag ms | max dev ms | vs source ms | at joins vs source ms "
        "| join / median | bar line / median | source at joins / median |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    failures = 0
    started = time.perf_counter()
    for bpm in args.tempo or TEMPOS:
        grid = clip_grid(bpm)
        for style in args.style or LOOP_STYLES:
            raw, folded, err = one_loop(style, bpm)
            m = chain(style, bpm)
            bad = abs(err) > TARGET_ERROR_PCT or abs(m.error_pct) > TARGET_ERROR_PCT
            failures += bad
            print(
                f"| {bpm:g} | {style} | {grid.bars} x {grid.width} | {folded:.2f} ({raw:.2f}) | "
                f"{err:+.2f}{' FAIL' if abs(err) > TARGET_ERROR_PCT else ''} | "
                f"{m.bpm:.2f} ({m.bpm_raw:.2f}) | {m.error_pct:+.2f} | "
                f"{m.beats_found}/{m.beats_planned} | {m.lag_ms:.1f} | {m.max_dev_ms:.1f} | "
                f"{m.max_dev_ref_ms:.1f} | {m.max_dev_join_ref_ms:.1f} | {m.join_ratio:.2f} | "
                f"{m.bar_ratio:.2f} | {m.ref_join_ratio:.2f} |"
            )
    print(
        f"\n{failures} tempo(s) off by more than {TARGET_ERROR_PCT} %; "
        f"{time.perf_counter() - started:.0f} s"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
