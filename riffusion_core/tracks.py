"""Tracks longer than one clip: a long riff, a blend between two prompts, and a remix of audio.

One generated clip is 5.11 s (512 px: generation.CLIP_SECONDS). Everything longer is several
clips rendered in batches by the pipeline and stitched:

- riff_long walks the way the Riffusion web app does: the first clip, then seed s -> s+1 at
  alpha 0.25, 0.5, 0.75, 1.0, then s+1 -> s+2, ...; with a looping seed image the clips line up
  and a very short crossfade only hides the phase step at each join (no gap, no click).
- riff_in_tempo is the same walk on a tempo's clip grid (riffusion_core.tempo): every clip holds
  whole bars of a tempo loop, is cut to them at sample precision and joined on the bar line
  (join_on_grid), so a riff of N bars lasts exactly N bars and its beat never drifts.
- blend renders N alphas evenly spaced from prompt A to prompt B and crossfades them (the
  reference concatenated them, which clicks at every join). Like Riffusion's interpolation it
  starts every clip from a seed image (og_beat by default) at each end's denoising strength,
  interpolated with alpha; seed_image=None renders from text alone.
- remix cuts the input into 512-px windows overlapping by 0.2 s, repaints each window with img2img
  (same seed for all, so the style holds), and crossfades by exactly the overlap so the output
  keeps the input's length and timing.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from riffusion_core.audio import (
    SAMPLE_RATE,
    AudioSegment,
    samples_to_segment,
    segment_to_samples,
    stitch,
    to_exchange_format,
)
from riffusion_core.clips import ClipPipeline, OnStep, ShouldCancel, render_clips
from riffusion_core.converter import get_converter
from riffusion_core.errors import AudioDecodeError, RiffusionError
from riffusion_core.generation import (
    HOP_SAMPLES,
    GenerationRequest,
    GenerationResult,
    PromptInput,
    next_seed,
)
from riffusion_core.image import save_image
from riffusion_core.seed_images import DEFAULT_INTERPOLATION_SEED_IMAGE
from riffusion_core.spectrogram_params import SpectrogramParams
from riffusion_core.strip import boundaries, marked_strip, side_by_side
from riffusion_core.tempo import ClipGrid, bar_samples

CHAIN_CROSSFADE_MS = 10  # riff chain: clips already line up; this only hides the phase step
# (each join starts the next clip 10 ms early, well under a 94 BPM sixteenth of 160 ms)
BLEND_CROSSFADE_MS = 250  # blend: neighbouring clips differ, so fade over a quarter second
REMIX_OVERLAP_MS = 200  # remix windows overlap by this much and are crossfaded over it
END_FADE_MS = 10  # fade applied where a track is cut short, so the cut does not click
MIN_GRID_CROSSFADE_SAMPLES = 88  # 2 ms: below this a render's tail is too short to fade from
WEB_APP_ALPHAS = (0.25, 0.5, 0.75, 1.0)
DEFAULT_BATCH_SIZE = 4
MAX_CLIPS = 64  # about 5 1/2 minutes: a guard against a typo asking for hours of GPU time


def clip_ms(width: int = 512) -> int:
    """Length of one clip of `width` px: 441 * (width - 1) samples, a whole number of ms."""
    return (width - 1) * HOP_SAMPLES * 1000 // SAMPLE_RATE


@dataclass
class TrackResult:
    """Clips, the picture and the stitched track of a multi-clip task, with its parameters."""

    clips: list[GenerationResult]
    image: Image.Image
    audio: AudioSegment
    params: dict[str, Any]
    elapsed_s: float
    task: str = field(default="", init=False)

    @property
    def duration_s(self) -> float:
        return self.audio.frame_count() / self.audio.frame_rate

    def extra(self) -> dict[str, Any]:
        return {}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record: parameters, output duration and each clip's own record."""
        return {
            "task": self.task,
            "params": self.params,
            "duration_s": round(self.duration_s, 4),
            "elapsed_s": round(self.elapsed_s, 3),
            "image_size": list(self.image.size),
            **self.extra(),
            "clips": [clip.to_dict() for clip in self.clips],
        }


@dataclass
class RiffResult(TrackResult):
    """A riff of any length; `image` is the clips' spectrograms side by side (still decodable)."""

    task: str = field(default="riff", init=False)


@dataclass
class BlendResult(TrackResult):
    """A blend A -> B; `image` has a red line and number per clip; clips[k] is alpha alphas[k]."""

    alphas: list[float] = field(default_factory=list)
    clip_x: list[int] = field(default_factory=list)  # where each clip starts in `image`
    task: str = field(default="blend", init=False)

    def extra(self) -> dict[str, Any]:
        return {"alphas": self.alphas, "clip_x": self.clip_x}


@dataclass
class RemixResult(TrackResult):
    """A remix; says which part of the input was used and whether it was cut to max_input_s.

    `window_images[k]` is the input spectrogram clip k was repainted from (its request names a
    temporary file that is gone once remix returns): save it to re-render one clip alone.
    """

    window_images: list[Image.Image] = field(default_factory=list)
    input_start_s: float = 0.0
    input_end_s: float = 0.0
    source_duration_s: float = 0.0
    truncated: bool = False
    task: str = field(default="remix", init=False)

    def extra(self) -> dict[str, Any]:
        return {
            "input_start_s": round(self.input_start_s, 4),
            "input_end_s": round(self.input_end_s, 4),
            "source_duration_s": round(self.source_duration_s, 4),
            "truncated": self.truncated,
        }


def _generate_batched(
    pipe: ClipPipeline,
    requests: Sequence[GenerationRequest],
    batch_size: int,
    on_step: OnStep | None,
    should_cancel: ShouldCancel | None,
) -> list[GenerationResult]:
    """All clips in one pipeline call: the pipeline batches compatible requests (at most
    `batch_size` per UNet batch) and reports progress over the whole track."""
    return render_clips(
        pipe,
        requests,
        on_step=on_step,
        should_cancel=should_cancel,
        max_batch_size=max(1, batch_size),
    )


def _trim(segment: AudioSegment, samples: int) -> AudioSegment:
    """Cut to `samples` frames, fading the last few ms out if anything was cut off."""
    if int(segment.frame_count()) <= samples:
        return segment
    return segment.get_sample_slice(0, samples).fade_out(END_FADE_MS)


def _check_positive(name: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise RiffusionError(f"The {name} must be a positive number, not {value}.")


# ----------------------------------------------------------------------------- long riff


def chain_requests(request: GenerationRequest, clips: int) -> list[GenerationRequest]:
    """The web app's walk: the request's start, then s -> s+1 at 0.25..1.0, s+1 -> s+2, ...
    (after MAX_SEED the walk goes on from seed 0).

    If the request has an `end`, the first transition goes to it (a newly typed prompt becomes
    the end of the next transition) and the walk carries on from there.
    """
    current = request.start
    target = (
        request.end if request.end is not None else replace(current, seed=next_seed(current.seed))
    )
    out = [replace(request, end=None, alpha=0.0)]
    while len(out) < clips:
        for alpha in WEB_APP_ALPHAS:
            if len(out) == clips:
                break
            out.append(replace(request, start=current, end=target, alpha=alpha))
        current, target = target, replace(target, seed=next_seed(target.seed))
    return out


def clips_needed(duration_ms: int, one_clip_ms: int, crossfade_ms: int) -> int:
    """Fewest clips whose crossfaded length reaches `duration_ms`."""
    if duration_ms <= one_clip_ms:
        return 1
    return 1 + math.ceil((duration_ms - one_clip_ms) / (one_clip_ms - crossfade_ms))


def riff_long(
    pipe: ClipPipeline,
    request: GenerationRequest,
    duration_s: float,
    *,
    crossfade_ms: int = CHAIN_CROSSFADE_MS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_step: OnStep | None = None,
    should_cancel: ShouldCancel | None = None,
) -> RiffResult:
    """A riff of `duration_s` seconds: a chain of clips (see chain_requests), trimmed exactly."""
    _check_positive("duration", duration_s)
    started = time.perf_counter()
    one = clip_ms(request.width)
    count = clips_needed(math.ceil(duration_s * 1000), one, crossfade_ms)
    if count > MAX_CLIPS:
        longest = (MAX_CLIPS * (one - crossfade_ms) + crossfade_ms) / 1000
        raise RiffusionError(f"That is too long: a riff can last at most {longest:.0f} seconds.")
    requests = chain_requests(request, count)
    clips = _generate_batched(pipe, requests, batch_size, on_step, should_cancel)
    audio = _trim(stitch([c.audio for c in clips], crossfade_ms), round(duration_s * SAMPLE_RATE))
    params = {
        "request": asdict(request),
        "duration_s": duration_s,
        "crossfade_ms": crossfade_ms,
        "clips": len(clips),
    }
    return RiffResult(
        clips=clips,
        image=side_by_side([c.image for c in clips]),
        audio=audio,
        params=params,
        elapsed_s=time.perf_counter() - started,
    )


# ----------------------------------------------------------------------------- riff in tempo


def bars_samples(bars: int, bpm: float) -> int:
    """`bars` bars at `bpm`, to the nearest sample (on the same grid as ClipGrid.bounds)."""
    return round(bars * bar_samples(bpm))


def join_on_grid(
    clips: Sequence[AudioSegment],
    grid: ClipGrid,
    total_samples: int | None = None,
    crossfade_ms: int = CHAIN_CROSSFADE_MS,
) -> AudioSegment:
    """Clip k placed at grid.bounds(k), cut to its bars, the track `total_samples` long
    (default: every clip's bars).

    Each clip starts on its bar line, so nothing shifts: where a clip's render runs past its
    bars (it is up to 8 columns wider), that tail fades out over the next clip's first
    `crossfade_ms` (or what the tail holds) while the next one fades in; a tail shorter than
    2 ms is not used and the clip's own last 2 ms fade out instead. Where the track ends inside
    a clip, its last END_FADE_MS fade out. Mono clips become stereo when any clip is stereo.
    """
    if not clips:
        raise ValueError("join_on_grid needs at least one clip")
    end_of_all = grid.bounds(len(clips) - 1)[1]
    total = end_of_all if total_samples is None else total_samples
    if not 0 < total <= end_of_all:
        raise ValueError(f"total_samples must be 1..{end_of_all}, not {total}")
    parts = [segment_to_samples(to_exchange_format(c)) for c in clips]
    channels = max(p.shape[0] for p in parts)
    parts = [np.repeat(p, channels, axis=0) if p.shape[0] < channels else p for p in parts]
    out = np.zeros((channels, total), dtype=np.float64)
    longest_fade = crossfade_ms * SAMPLE_RATE // 1000
    fade_in = 0
    for index, part in enumerate(parts):
        start, end = grid.bounds(index)
        if start >= total:
            break
        end = min(end, total)
        if part.shape[1] < end - start:
            raise ValueError(
                f"clip {index} has {part.shape[1]} samples, fewer than its bars ({end - start})"
            )
        body = part[:, : end - start].astype(np.float64)
        if fade_in:
            body[:, :fade_in] *= np.linspace(0.0, 1.0, fade_in, endpoint=False)
        fade_in = 0
        if end < total:  # a join follows
            tail = min(longest_fade, part.shape[1] - (end - start), total - end)
            if tail >= MIN_GRID_CROSSFADE_SAMPLES:
                ramp = np.linspace(1.0, 0.0, tail, endpoint=False)
                out[:, end : end + tail] += part[:, end - start : end - start + tail] * ramp
                fade_in = tail
            else:
                edge = min(MIN_GRID_CROSSFADE_SAMPLES, body.shape[1])
                body[:, -edge:] *= np.cos(np.linspace(0.0, np.pi / 2, edge))
        out[:, start:end] += body
        if end == total and part.shape[1] > end - start:  # the track ends inside this clip
            edge = min(END_FADE_MS * SAMPLE_RATE // 1000, total - start)
            out[:, total - edge :] *= np.linspace(1.0, 0.0, edge)
    return samples_to_segment(out, SAMPLE_RATE, normalize=False)


def riff_in_tempo(
    pipe: ClipPipeline,
    request: GenerationRequest,
    grid: ClipGrid,
    bars: int,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_step: OnStep | None = None,
    should_cancel: ShouldCancel | None = None,
) -> RiffResult:
    """A riff of exactly `bars` bars at `grid.bpm`: chain_requests' walk at `grid.width` px
    (the request's seed image should be the tempo's loop, e.g. `backbeat@128bpm`), each clip
    cut to its whole bars and joined on the bar grid (join_on_grid)."""
    if isinstance(bars, bool) or not isinstance(bars, int) or bars < 1:
        raise RiffusionError(f"A riff in tempo needs a whole number of bars, not {bars!r}.")
    count = math.ceil(bars / grid.bars)
    if count > MAX_CLIPS:
        raise RiffusionError(
            f"That is too long: at {grid.bpm:g} BPM a riff can last at most "
            f"{MAX_CLIPS * grid.bars} bars."
        )
    started = time.perf_counter()
    sized = replace(request, width=grid.width)
    clips = _generate_batched(
        pipe, chain_requests(sized, count), batch_size, on_step, should_cancel
    )
    total = bars_samples(bars, grid.bpm)
    params = {
        "request": asdict(sized),
        "bpm": grid.bpm,
        "bars": bars,
        "bars_per_clip": grid.bars,
        "clips": len(clips),
        "crossfade_ms": CHAIN_CROSSFADE_MS,
    }
    return RiffResult(
        clips=clips,
        image=side_by_side([c.image for c in clips]),
        audio=join_on_grid([c.audio for c in clips], grid, total),
        params=params,
        elapsed_s=time.perf_counter() - started,
    )


# ----------------------------------------------------------------------------- blend


def blend_alphas(clips: int) -> list[float]:
    """`clips` alphas evenly spaced from 0 (all A) to 1 (all B)."""
    return [i / (clips - 1) for i in range(clips)]


def blend_requests(
    start: PromptInput,
    end: PromptInput,
    alphas: Sequence[float],
    num_inference_steps: int = 50,
    seed_image: str | None = DEFAULT_INTERPOLATION_SEED_IMAGE,
    width: int = 512,
) -> list[GenerationRequest]:
    """One request per alpha: what `blend` renders (each interpolates guidance and denoising
    between the two ends at its alpha)."""
    return [
        GenerationRequest(
            start=start,
            end=end,
            alpha=alpha,
            num_inference_steps=num_inference_steps,
            seed_image=seed_image,
            width=width,
        )
        for alpha in alphas
    ]


def blend(
    pipe: ClipPipeline,
    start: PromptInput,
    end: PromptInput,
    clips: int = 5,
    *,
    num_inference_steps: int = 50,
    seed_image: str | None = DEFAULT_INTERPOLATION_SEED_IMAGE,
    width: int = 512,
    crossfade_ms: int = BLEND_CROSSFADE_MS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_step: OnStep | None = None,
    should_cancel: ShouldCancel | None = None,
) -> BlendResult:
    """Morph from prompt A to prompt B in `clips` clips, crossfaded into one track.

    Each clip is img2img from `seed_image` (None: text to audio) at the denoising strength
    interpolated between `start.denoising` and `end.denoising`, as Riffusion's interpolation
    does; the seed image's steady beat is what keeps the clips in time with each other.
    """
    if not 2 <= clips <= MAX_CLIPS:
        raise RiffusionError(f"A blend needs from 2 to {MAX_CLIPS} clips, not {clips}.")
    started = time.perf_counter()
    alphas = blend_alphas(clips)
    requests = blend_requests(start, end, alphas, num_inference_steps, seed_image, width)
    results = _generate_batched(pipe, requests, batch_size, on_step, should_cancel)
    images = [r.image for r in results]
    params = {
        "start": asdict(start),
        "end": asdict(end),
        "clips": clips,
        "num_inference_steps": num_inference_steps,
        "seed_image": seed_image,
        "width": width,
        "crossfade_ms": crossfade_ms,
    }
    return BlendResult(
        clips=results,
        image=marked_strip(images),
        audio=stitch([r.audio for r in results], crossfade_ms),
        params=params,
        elapsed_s=time.perf_counter() - started,
        alphas=alphas,
        clip_x=boundaries(images),
    )


# ----------------------------------------------------------------------------- remix


def remix_windows(total: int, window: int, overlap: int) -> list[int]:
    """Start sample of each window so that windows of `window` overlapping by `overlap` cover
    `total` samples (the last one may run past the end and is padded)."""
    hop = window - overlap
    count = 1 + max(0, math.ceil((total - window) / hop))
    return [i * hop for i in range(count)]


def _mono_pcm(audio: AudioSegment) -> AudioSegment:
    return audio.set_frame_rate(SAMPLE_RATE).set_channels(1).set_sample_width(2)


def remix(
    pipe: ClipPipeline,
    audio: AudioSegment,
    prompt: PromptInput,
    strength: float = 0.55,
    num_inference_steps: int = 25,
    max_input_s: float = 60.0,
    *,
    start_s: float = 0.0,
    source_duration_s: float | None = None,
    width: int = 512,
    overlap_ms: int = REMIX_OVERLAP_MS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_step: OnStep | None = None,
    should_cancel: ShouldCancel | None = None,
) -> RemixResult:
    """Repaint `audio` in the style of `prompt`; output is as long as the input part used.

    The input from `start_s` is cut to at most `max_input_s` seconds. Each 512-px window's own
    spectrogram is the init image (img2img at denoising `strength`), every window uses
    `prompt.seed`, and windows are crossfaded over their `overlap_ms` overlap. Pass
    `source_duration_s` when `audio` is itself only the first part of a longer file, so the
    result reports the real length and the truncation.
    """
    _check_positive("max input length", max_input_s)
    if not 0.0 < strength <= 1.0:
        raise RiffusionError(f"The remix strength must be between 0 and 1, not {strength}.")
    if not math.isfinite(start_s) or start_s < 0:
        raise RiffusionError(f"The start time must be 0 or more seconds, not {start_s}.")
    started = time.perf_counter()
    mono = _mono_pcm(audio)
    available_s = mono.frame_count() / SAMPLE_RATE
    if source_duration_s is None or source_duration_s < available_s:
        source_duration_s = available_s
    first = round(start_s * SAMPLE_RATE)
    last = min(int(mono.frame_count()), first + round(max_input_s * SAMPLE_RATE))
    if last - first < HOP_SAMPLES:
        raise AudioDecodeError(
            f"There is no audio to remix after {start_s:g} s (the input is "
            f"{source_duration_s:.2f} s long)."
        )
    used = mono.get_sample_slice(first, last)
    used_samples = last - first
    window = (width - 1) * HOP_SAMPLES
    overlap = overlap_ms * SAMPLE_RATE // 1000
    converter = get_converter(SpectrogramParams(), "cpu")
    denoised = replace(prompt, denoising=strength)
    with tempfile.TemporaryDirectory(prefix="riffusion-remix-") as tmp:
        requests, window_images = [], []
        for index, offset in enumerate(remix_windows(used_samples, window, overlap)):
            piece = used.get_sample_slice(offset, min(offset + window, used_samples))
            if piece.frame_count() < window:  # pad the last, short window with silence
                piece = _pad_samples(piece, window)
            path = Path(tmp) / f"window_{index:03d}.png"
            image = converter.spectrogram_image_from_audio(piece)
            save_image(image, path)
            window_images.append(image)
            requests.append(
                GenerationRequest(
                    start=denoised,
                    num_inference_steps=num_inference_steps,
                    seed_image=str(path),
                    width=width,
                )
            )
        results = _generate_batched(pipe, requests, batch_size, on_step, should_cancel)
    stitched = stitch([r.audio for r in results], overlap_ms)
    out = _trim(stitched, used_samples)
    params = {
        "prompt": asdict(prompt),
        "strength": strength,
        "num_inference_steps": num_inference_steps,
        "max_input_s": max_input_s,
        "start_s": start_s,
        "width": width,
        "overlap_ms": overlap_ms,
    }
    return RemixResult(
        clips=results,
        image=side_by_side([r.image for r in results]),
        audio=out,
        params=params,
        elapsed_s=time.perf_counter() - started,
        window_images=window_images,
        input_start_s=first / SAMPLE_RATE,
        input_end_s=last / SAMPLE_RATE,
        source_duration_s=source_duration_s,
        truncated=last < mono.frame_count() or source_duration_s > last / SAMPLE_RATE + 0.01,
    )


def _pad_samples(segment: AudioSegment, samples: int) -> AudioSegment:
    """Append digital silence so a mono 16-bit segment is exactly `samples` long."""
    missing = samples - segment.frame_count()
    pcm = np.zeros(int(missing), dtype="<i2").tobytes()
    return segment._spawn(segment.raw_data + pcm)
