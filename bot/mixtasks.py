"""Queue payloads for /blend, a blend's single clip, and remix: RenderTasks that render themselves.

They travel through the same GenerationQueue as /riff (fairness, per-user limits, progress,
cancel, timeout). Each runs alone on the worker thread (batch_key None: a blend or remix already
batches its own clips inside the pipeline call), through `render_on`, which PipelineRenderer
calls for any task that has it. `result_look` gives the posted message its own text and buttons.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from pydub import AudioSegment

from bot.models import Generation
from bot.renderer import RenderOutput, RenderTask
from riffusion_core.clips import render_clips
from riffusion_core.generation import GenerationRequest, PromptInput
from riffusion_core.tracks import BLEND_CROSSFADE_MS, REMIX_OVERLAP_MS, blend, clip_ms, remix


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


@dataclass(frozen=True)
class BlendTask(WholeTrackTask):
    """/blend: prompt A (params) to prompt B over `clips` clips, as one crossfaded track."""

    end_prompt: str = ""
    end_seed: int = 0
    clips: int = 4

    @property
    def cost(self) -> float:
        return float(self.params.steps * self.clips)

    def end(self) -> PromptInput:
        p = self.params
        return PromptInput(
            prompt=self.end_prompt,
            seed=self.end_seed,
            negative_prompt=p.negative_prompt,
            guidance=p.guidance,
            denoising=p.denoising,
        )

    def render_on(self, pipe: Any, on_step, should_cancel) -> RenderOutput:
        result = blend(
            pipe,
            self.params.prompt_input(),
            self.end(),
            self.clips,
            num_inference_steps=self.params.steps,
            width=self.params.width,
            on_step=on_step,
            should_cancel=should_cancel,
        )
        return RenderOutput.as_made(result, clips=len(result.clips))

    def result_look(
        self, generation: Generation, parent_url: str | None, image_name: str
    ) -> dict[str, Any]:
        from bot.mixviews import blend_look

        return blend_look(generation, parent_url, image_name)


@dataclass(frozen=True)
class BlendClipTask(BlendTask):
    """One alpha of a blend, re-rendered alone as a normal single clip ("pick clip k")."""

    alpha: float = 0.0
    clips: int = 1

    @property
    def cost(self) -> float:
        return float(self.params.steps)

    def render_on(self, pipe: Any, on_step, should_cancel) -> RenderOutput:
        request = GenerationRequest(
            start=self.params.prompt_input(),
            end=self.end(),
            alpha=self.alpha,
            num_inference_steps=self.params.steps,
            width=self.params.width,
        )
        [result] = render_clips(pipe, [request], on_step=on_step, should_cancel=should_cancel)
        return RenderOutput.as_made(result, clips=1)

    def result_look(
        self, generation: Generation, parent_url: str | None, image_name: str
    ) -> dict[str, Any]:
        from bot.mixviews import blend_clip_look

        return blend_clip_look(generation, parent_url, image_name)


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

    def render_on(self, pipe: Any, on_step, should_cancel) -> RenderOutput:
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

    def result_look(
        self, generation: Generation, parent_url: str | None, image_name: str
    ) -> dict[str, Any]:
        from bot.mixviews import remix_look

        return remix_look(generation, parent_url, image_name)
