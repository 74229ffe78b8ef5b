"""Blend, blend-clip and remix tasks on the real pipeline (tiny random model), through the
bot's PipelineRenderer: what the fake-pipe bot tests stand in for.

Few steps, two clips and one remix window keep it to a handful of spectrogram-to-audio
conversions (the slow part on a CPU).
"""

from __future__ import annotations

import numpy as np
import pytest

from bot.engine.renderer import PipelineRenderer
from bot.engine.tasks import BlendClipTask, BlendTask, RemixTask, blend_length_s
from bot.params import RiffParams
from riffusion_core.tracks import clip_ms

pytestmark = pytest.mark.slow


@pytest.fixture
def renderer(tiny_pipeline, tmp_path) -> PipelineRenderer:
    return PipelineRenderer("tiny", "cpu", tmp_path, loader=lambda *a, **k: tiny_pipeline)


def test_blend_and_remix_render_on_the_real_pipeline(renderer, sine_segment):
    steps: list[tuple[int, int]] = []

    def on_step(step: int, total: int) -> None:
        steps.append((step, total))

    params = RiffParams(prompt="rock", seed=1, steps=2, duration_s=blend_length_s(2))
    blend = BlendTask(params=params, end_prompt="church bells", end_seed=2, clips=2)
    [out] = renderer([blend], on_step, lambda: False)
    assert out.image.size == (1024, 512) and out.clips == 2
    assert out.duration_s == pytest.approx(blend_length_s(2), abs=0.02)
    step, total = steps[-1]  # progress over the whole blend (both clips share a UNet batch)
    assert step == total and len(steps) == total

    remix_params = RiffParams(prompt="jazz", seed=3, steps=2, denoising=1.0, duration_s=1.0)
    remix = RemixTask(params=remix_params, audio=sine_segment(1.0), source_duration_s=1.0)
    [out] = renderer([remix], on_step, lambda: False)
    assert out.image.size == (512, 512) and out.clips == 1
    assert out.duration_s == pytest.approx(1.0, abs=0.01)  # as long as the input part used


def test_a_picked_clip_is_that_alpha_of_the_blend(renderer, tiny_pipeline):
    params = RiffParams(prompt="rock", seed=1, steps=2)
    task = BlendClipTask(params=params, end_prompt="church bells", end_seed=2, alpha=0.0)
    [picked] = renderer([task], lambda *_: None, lambda: False)
    assert picked.duration_s == pytest.approx(clip_ms() / 1000, abs=0.01)
    # alpha 0 is prompt A alone: the same picture a plain clip of A renders.
    from riffusion_core.generation import GenerationRequest, PromptInput

    [plain] = tiny_pipeline(
        [GenerationRequest(start=PromptInput("rock", seed=1), num_inference_steps=2)]
    ).images
    assert np.array_equal(np.asarray(picked.image), np.asarray(plain))


def test_a_blend_from_the_seed_image_runs_fewer_unet_passes(renderer, tiny_pipeline):
    """/blend's default (Riffusion's seed image at 0.75) on the real pipeline: img2img runs
    fewer UNet passes than text to audio at the same steps, and the progress counts them."""
    from riffusion_core.seed_images import DEFAULT_INTERPOLATION_SEED_IMAGE
    from riffusion_core.tracks import blend_alphas, blend_requests

    calls: list[int] = []
    handle = tiny_pipeline.unet.register_forward_hook(lambda *_: calls.append(1))
    steps: list[tuple[int, int]] = []
    params = RiffParams(
        prompt="rock",
        seed=1,
        steps=8,
        seed_image=DEFAULT_INTERPOLATION_SEED_IMAGE,
        denoising=0.75,
        duration_s=blend_length_s(2),
    )
    task = BlendTask(params=params, end_prompt="church bells", end_seed=2, clips=2)
    try:
        [out] = renderer([task], lambda step, total: steps.append((step, total)), lambda: False)
        img2img = len(calls)
        calls.clear()
        text_only = blend_requests(
            params.prompt_input(), task.end(), blend_alphas(2), 8, seed_image=None
        )
        tiny_pipeline(text_only)
        text = len(calls)
    finally:
        handle.remove()
    assert out.clips == 2
    # 8 steps x 0.75 = 6 (+ the timestep PNDM repeats) for both clips in one batch, against
    # all 8 (+ 1) from text.
    assert int(8 * 0.75) <= img2img <= int(8 * 0.75) + 1 < text
    assert steps[-1] == (img2img, img2img)
    assert task.cost == 2 * 6  # the queue's ETA counts the passes that run, not the steps
