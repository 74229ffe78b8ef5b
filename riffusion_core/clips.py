"""Clips with audio: run the pipeline, then turn each spectrogram it made into sound.

The pipeline stops at images, as diffusers' pipelines do; everyone who wants to hear a clip (the
whole-track renders, the bot, the CLI) goes through `render_clips`, which also maps diffusers'
step callback and `interrupt` onto the simple progress and cancel hooks the bot's queue uses:
`on_step(done, total)` after every UNet pass and `should_cancel()` polled between steps.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import torch
from PIL import Image
from pydub import AudioSegment

from riffusion_core.converter import get_converter
from riffusion_core.errors import GenerationCancelled
from riffusion_core.generation import DEFAULT_MAX_BATCH_SIZE, GenerationRequest, GenerationResult
from riffusion_core.spectrogram_params import SpectrogramParams

if TYPE_CHECKING:  # only for annotations: importing the pipeline loads diffusers
    from riffusion_core.pipeline import RiffusionPipelineOutput, StepCallback

OnStep = Callable[[int, int], None]
ShouldCancel = Callable[[], bool]


class ClipPipeline(Protocol):
    """What render_clips needs of a pipeline: RiffusionPipeline, or a test's stand-in."""

    @property
    def interrupt(self) -> bool: ...

    @property
    def num_timesteps(self) -> int: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def model_id(self) -> str: ...

    def __call__(
        self,
        requests: Sequence[GenerationRequest],
        *,
        max_batch_size: int = ...,
        callback_on_step_end: StepCallback | None = ...,
    ) -> RiffusionPipelineOutput: ...


def render_clips(
    pipe: ClipPipeline,
    requests: Sequence[GenerationRequest],
    *,
    on_step: OnStep | None = None,
    should_cancel: ShouldCancel | None = None,
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
) -> list[GenerationResult]:
    """Render `requests` with `pipe` and decode each image to audio (results in request order).

    `on_step(done, total)` follows every UNet pass over all batches; `should_cancel()` is
    checked before the first pass, after every pass and before each clip's audio, and raises
    GenerationCancelled when it answers True.
    """
    requests = list(requests)
    _check_cancel(should_cancel)

    def on_step_end(
        pipeline: Any, step_index: int, timestep: Any, callback_kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        if on_step is not None:
            on_step(step_index + 1, pipeline.num_timesteps)
        if should_cancel is not None and should_cancel():
            pipeline._interrupt = True  # diffusers' way for a callback to stop the loop
        return callback_kwargs

    output = pipe(requests, max_batch_size=max_batch_size, callback_on_step_end=on_step_end)
    if pipe.interrupt:
        raise GenerationCancelled()
    results: list[GenerationResult] = []
    audio_s: defaultdict[int, float] = defaultdict(float)  # decoding time per UNet batch
    for request, image, info in zip(requests, output.images, output.renders, strict=True):
        _check_cancel(should_cancel)
        started = time.perf_counter()
        audio = clip_audio(image, info.seeds[0], pipe.device)
        audio_s[info.batch] += time.perf_counter() - started
        results.append(
            GenerationResult(
                request=request,
                image=image,
                audio=audio,
                duration_s=audio.frame_count() / audio.frame_rate,
                elapsed_s=0.0,
                seeds=info.seeds,
                scheduler=info.scheduler,
                model_id=pipe.model_id,
                device=str(pipe.device),
                unet_steps=info.unet_steps,
                batch_size=info.batch_size,
            )
        )
    for result, info in zip(results, output.renders, strict=True):
        result.elapsed_s = info.batch_elapsed_s + audio_s[info.batch]
    return results


def clip_audio(image: Image.Image, seed: int, device: torch.device | str) -> AudioSegment:
    """A generated spectrogram's audio, its phase seeded by the clip's start seed so the same
    clip always sounds the same (the converter of the model's parameters, on `device`)."""
    converter = get_converter(SpectrogramParams(), device)
    return converter.audio_from_spectrogram_image(image, seed=seed)


def _check_cancel(should_cancel: ShouldCancel | None) -> None:
    if should_cancel is not None and should_cancel():
        raise GenerationCancelled()
