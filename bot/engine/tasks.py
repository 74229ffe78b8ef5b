"""What the queue carries: render tasks in, finished audio and spectrograms out.

A RenderTask is one request's work. Single-clip tasks (riff, variation, extend) can share one
pipeline call when the queue batches them (equal `batch_key`); a riff longer than one clip is a
chain of clips. Whole-track tasks (blend, a blend's single clip, remix) render themselves in one
`render_on` call on the worker thread and are never batched with others (their clips are batched
inside the pipeline call). bot/engine/renderer.py runs them all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from PIL import Image
from pydub import AudioSegment

from bot.limits import CLIP_SECONDS
from bot.params import RiffParams
from riffusion_core.clips import render_clips
from riffusion_core.generation import (
    GenerationRequest,
    GenerationResult,
    PromptInput,
    uses_cfg,
)
from riffusion_core.tracks import (
    BLEND_CROSSFADE_MS,
    REMIX_OVERLAP_MS,
    TrackResult,
    blend,
    clip_ms,
    remix,
)

StepCallback = Callable[[int, int], None]
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class ExtendSource:
    """The generation an Extend continues: its lossless master, its picture, its clip count."""

    master_path: Path
    image_path: Path
    clips: int


@dataclass(frozen=True)
class RenderTask:
    """One queued piece of work (the queue's payload)."""

    params: RiffParams
    init_image: Path | None = None  # Variation: img2img of this stored spectrogram
    extend: ExtendSource | None = None

    @property
    def single_clip(self) -> bool:
        return self.extend is not None or self.params.single_clip

    @property
    def batch_key(self) -> Hashable | None:
        """Tasks with equal keys can share one pipeline call (and its UNet batches): with and
        without classifier-free guidance (guidance above 1) never do."""
        if not self.single_clip:
            return None
        return ("clip", self.params.steps, self.params.width, uses_cfg(self.params.guidance))

    @property
    def cost(self) -> float:
        """Relative work, for the ETA: UNet steps times clips."""
        clips = (
            1 if self.single_clip else max(1, round(self.params.duration_s / CLIP_SECONDS + 0.49))
        )
        return float(self.params.steps * clips)

    @property
    def clip_count(self) -> int:
        """How many clips the track has (what a server's maximum clips limits)."""
        if self.extend is not None:
            return self.extend.clips + 1
        return max(1, math.ceil(self.params.duration_s / CLIP_SECONDS - 1e-6))

    def other_prompts(self) -> dict[str, str]:
        """Prompts besides params' own, by a name users recognise (the prompt filter reads
        every one)."""
        return {}

    def for_job(self, folder: Path, relative: str) -> RenderTask:
        """The task once its job has a row: `folder` (DATA_DIR/jobs/<id>, `relative` to
        DATA_DIR) is the job's own, for work kept between queue turns (a song's clips)."""
        del folder, relative
        return self

    def turns_left(self, progress: tuple[int, int] | None) -> int:
        """Queue turns still to come, this one included (a song: one a clip)."""
        del progress
        return 1

    def progress_detail(self, progress: tuple[int, int] | None) -> str | None:
        """More than step k/N for the status line (a song: which section); None: nothing."""
        del progress
        return None


@runtime_checkable
class RendersItself(Protocol):
    """A task that renders its whole track in one call on the worker thread (blend, remix,
    a radio clip), instead of being batched or chained by the renderer."""

    def render_on(self, pipe: Any, on_step: StepCallback, should_cancel: CancelCheck) -> Any: ...


@dataclass
class RenderOutput:
    image: Image.Image  # the spectrogram (clips side by side when longer than one)
    audio: AudioSegment  # what is posted
    master: AudioSegment  # the untrimmed chain of clips, kept losslessly so Extend lines up
    clips: int
    elapsed_s: float

    @property
    def duration_s(self) -> float:
        return len(self.audio) / 1000

    @classmethod
    def as_made(cls, result: TrackResult | GenerationResult, clips: int) -> RenderOutput:
        """A blend, a remix or one clip as riffusion_core made it: posted and kept as is."""
        return cls(
            image=result.image,
            audio=result.audio,
            master=result.audio,
            clips=clips,
            elapsed_s=result.elapsed_s,
        )


@dataclass(frozen=True)
class MadeResult:
    """A result a GPU worker on another machine made and encoded (the postgres queue): the
    files as they will be posted and kept, and the facts the result's row records."""

    png: bytes
    mp3: bytes
    wav: bytes  # the lossless master (Extend continues it)
    bitrate_kbps: int
    clips: int
    elapsed_s: float
    duration_s: float
    model: str | None = None  # the worker's RIFFUSION_MODEL (what the result row records)


RenderResult = RenderOutput | MadeResult  # what a job's handle resolves to, in either queue


def blend_length_s(clips: int, width: int = 512) -> float:
    """Length of a blend of `clips` clips crossfaded by BLEND_CROSSFADE_MS."""
    return round((clips * clip_ms(width) - (clips - 1) * BLEND_CROSSFADE_MS) / 1000, 2)


def remix_windows_count(seconds: float, width: int = 512) -> int:
    window = clip_ms(width)
    hop = window - REMIX_OVERLAP_MS
    return 1 + max(0, math.ceil((seconds * 1000 - window) / hop))


@dataclass(frozen=True)
class WholeTrackTask(RenderTask):
    """A task that renders its whole track in one `render_on` call: never batched with others
    (its clips are batched inside the pipeline call), never trimmed or chained like a riff."""

    @property
    def single_clip(self) -> bool:
        return False

    @property
    def batch_key(self) -> Hashable | None:
        return None


def unet_passes(params: RiffParams) -> int:
    """UNet passes one clip of `params` runs: img2img from a seed image skips the first
    1 - denoising of the steps (at least one pass runs)."""
    if params.seed_image is None:
        return params.steps
    return max(1, min(params.steps, int(params.steps * params.denoising)))


@dataclass(frozen=True)
class BlendTask(WholeTrackTask):
    """/blend: prompt A (params) to prompt B over `clips` clips, as one crossfaded track.

    Every clip starts from params.seed_image at params.denoising, both ends alike (as the web
    app sends them); None is text to audio, which is also what blends stored before seed images
    were recorded for them mean.
    """

    end_prompt: str = ""
    end_seed: int = 0
    clips: int = 4

    @property
    def cost(self) -> float:
        return float(unet_passes(self.params) * self.clips)

    @property
    def clip_count(self) -> int:
        return self.clips

    def other_prompts(self) -> dict[str, str]:
        return {"end prompt": self.end_prompt}

    def end(self) -> PromptInput:
        p = self.params
        return PromptInput(
            prompt=self.end_prompt,
            seed=self.end_seed,
            negative_prompt=p.negative_prompt,
            guidance=p.guidance,
            denoising=p.denoising,
        )

    def render_on(
        self, pipe: Any, on_step: StepCallback, should_cancel: CancelCheck
    ) -> RenderOutput:
        result = blend(
            pipe,
            self.params.prompt_input(),
            self.end(),
            self.clips,
            num_inference_steps=self.params.steps,
            seed_image=self.params.seed_image,
            width=self.params.width,
            on_step=on_step,
            should_cancel=should_cancel,
        )
        return RenderOutput.as_made(result, clips=len(result.clips))


@dataclass(frozen=True)
class BlendClipTask(BlendTask):
    """One alpha of a blend, re-rendered alone as a normal single clip ("pick clip k")."""

    alpha: float = 0.0
    clips: int = 1

    @property
    def cost(self) -> float:
        return float(unet_passes(self.params))

    def render_on(
        self, pipe: Any, on_step: StepCallback, should_cancel: CancelCheck
    ) -> RenderOutput:
        request = GenerationRequest(
            start=self.params.prompt_input(),
            end=self.end(),
            alpha=self.alpha,
            num_inference_steps=self.params.steps,
            seed_image=self.params.seed_image,
            width=self.params.width,
        )
        [result] = render_clips(pipe, [request], on_step=on_step, should_cancel=should_cancel)
        return RenderOutput.as_made(result, clips=1)


@dataclass(frozen=True)
class RemixTask(WholeTrackTask):
    """Remix: the uploaded audio repainted in the style of params.prompt at denoising strength.

    `audio` is the decoded upload (already cut to the bot's input cap); it stays in memory only
    while the job is queued.
    """

    audio: AudioSegment | None = field(default=None, compare=False, hash=False, repr=False)
    source_duration_s: float | None = None
    max_input_s: float = 60.0

    @property
    def cost(self) -> float:
        seconds = len(self.audio) / 1000 if self.audio is not None else self.max_input_s
        passes = max(1, int(self.params.steps * self.params.denoising))
        return float(passes * remix_windows_count(min(seconds, self.max_input_s)))

    def render_on(
        self, pipe: Any, on_step: StepCallback, should_cancel: CancelCheck
    ) -> RenderOutput:
        assert self.audio is not None
        p = self.params
        result = remix(
            pipe,
            self.audio,
            p.prompt_input(),
            strength=p.denoising,
            num_inference_steps=p.steps,
            max_input_s=self.max_input_s,
            source_duration_s=self.source_duration_s,
            width=p.width,
            on_step=on_step,
            should_cancel=should_cancel,
        )
        return RenderOutput.as_made(result, clips=len(result.clips))
