"""RiffusionPipeline where it follows the reference and diffusers (issue 12): guidance at or
below 1 skips classifier-free guidance, img2img at strength 1.0 runs exactly the requested
steps, and the seed image's latents are sampled from the start seed as the reference does."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionImg2ImgPipeline
from PIL import Image

from riffusion_core.generation import GenerationRequest, PromptInput
from riffusion_core.pipeline import SCHEDULERS, _image_to_tensor, img2img_begin
from riffusion_core.seed_images import fit_width, load_seed_image
from tests.core.test_pipeline import WIDTH, pixels, render, request


@pytest.fixture
def unet_batches(tiny_pipeline):
    """(batch size, timestep) of every UNet forward pass."""
    seen: list[tuple[int, int]] = []

    def hook(module, args, kwargs):
        seen.append((int(args[0].shape[0]), int(args[1])))

    handle = tiny_pipeline.unet.register_forward_pre_hook(hook, with_kwargs=True)
    yield seen
    handle.remove()


@pytest.fixture(scope="module")
def seed_image_path(tmp_path_factory):
    rng = np.random.default_rng(1)
    grey = np.full((512, WIDTH), 220, dtype=np.uint8)
    grey[:, ::8] = 30
    grey[200:260, :] = rng.integers(0, 120, size=(60, WIDTH))
    path = tmp_path_factory.mktemp("seed") / "loop.png"
    Image.fromarray(grey).convert("RGB").save(path)
    return str(path)


def _fresh_scheduler(pipe, name: str):
    cls, overrides = SCHEDULERS[name]
    return cls.from_config({**dict(pipe.scheduler.config), **overrides})


# ------------------------------------------------------------------ guidance <= 1: no CFG


def test_guidance_one_runs_the_unet_on_one_row_per_request(tiny_pipeline, unet_batches):
    (alone,) = render(tiny_pipeline, request(guidance=1.0))
    assert {size for size, _ in unet_batches} == {1}
    assert len(unet_batches) == alone.info.unet_steps == 5  # PNDM: 4 steps + 1
    unet_batches.clear()
    render(tiny_pipeline, request(guidance=7.0))
    assert {size for size, _ in unet_batches} == {2}  # unconditional + conditional
    unet_batches.clear()
    render(tiny_pipeline, request(seed=1, guidance=1.0), request(seed=2, guidance=0.5))
    assert {size for size, _ in unet_batches} == {2}  # two requests, one row each


def test_guidance_one_equals_an_explicit_no_cfg_loop(tiny_pipeline):
    pipe = tiny_pipeline
    final = {}

    def keep_latents(_pipe, _index, _t, kwargs):
        final["latents"] = kwargs["latents"].clone()
        return kwargs

    prompt, seed = "lofi hip hop beat", 7
    render(
        pipe,
        request(prompt, seed=seed, guidance=1.0, negative_prompt="ignored without guidance"),
        callback_on_step_end=keep_latents,
    )

    tokens = pipe.tokenizer(
        prompt, padding="max_length", max_length=pipe.tokenizer.model_max_length
    ).input_ids
    with torch.inference_mode():
        embedding = pipe.text_encoder(torch.tensor([tokens]))[0]
        scheduler = _fresh_scheduler(pipe, "pndm")
        scheduler.set_timesteps(4)
        shape = (1, pipe.unet.config.in_channels, 512 // 8, WIDTH // 8)
        latents = torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed))
        latents = latents * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            model_input = scheduler.scale_model_input(latents, t)
            noise = pipe.unet(model_input, t, encoder_hidden_states=embedding).sample
            latents = scheduler.step(noise, t, latents).prev_sample
    torch.testing.assert_close(final["latents"], latents, rtol=1e-5, atol=1e-5)


def test_guidance_below_one_is_the_prompt_alone(tiny_pipeline):
    one, half, zero, guided = render(
        tiny_pipeline,
        request(guidance=1.0),
        request(guidance=0.5, negative_prompt="vocals"),
        request(guidance=0.0),
        request(guidance=1.5),
        max_batch_size=1,
    )
    assert np.array_equal(pixels(one), pixels(half))
    assert np.array_equal(pixels(one), pixels(zero))
    assert not np.array_equal(pixels(one), pixels(guided))


def test_requests_with_and_without_cfg_are_never_batched_together(tiny_pipeline, unet_batches):
    results = render(
        tiny_pipeline,
        request(seed=1, guidance=7.0),
        request(seed=2, guidance=1.0),
        request(seed=3, guidance=3.0),
        request(seed=4, guidance=0.8),
    )
    assert [r.info.batch_size for r in results] == [2, 2, 2, 2]
    assert results[0].info.batch == results[2].info.batch != results[1].info.batch
    assert results[1].info.batch == results[3].info.batch
    sizes = [size for size, _ in unet_batches]
    assert sizes == [4] * 5 + [2] * 5  # CFG batch: 2 requests x 2 rows; then 2 x 1 row


def test_a_blend_that_crosses_guidance_one_splits_by_alpha(tiny_pipeline):
    start = PromptInput("lofi beat", seed=3, guidance=1.0)
    end = PromptInput("church organ", seed=9, guidance=3.0)
    requests = [
        GenerationRequest(start, end, alpha=a, num_inference_steps=4, width=WIDTH)
        for a in (0.0, 0.5, 1.0)
    ]
    assert [r.uses_cfg for r in requests] == [False, True, True]
    results = render(tiny_pipeline, *requests)
    assert [r.info.batch_size for r in results] == [1, 2, 2]


# ------------------------------------------------------------------ img2img at strength 1.0


class _Img2ImgStandIn(SimpleNamespace):
    """What diffusers' `StableDiffusionImg2ImgPipeline.get_timesteps` reads of `self`."""


def _diffusers_img2img_timesteps(scheduler, steps: int, strength: float) -> torch.Tensor:
    scheduler.set_timesteps(steps)
    timesteps, _ = StableDiffusionImg2ImgPipeline.get_timesteps(
        _Img2ImgStandIn(scheduler=scheduler), steps, strength, "cpu"
    )
    return timesteps


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # diffusers
@pytest.mark.parametrize("name", ["dpmsolver++", "ddim", "euler"])
def test_strength_one_runs_the_steps_diffusers_img2img_runs(
    tiny_pipeline, unet_batches, seed_image_path, name
):
    expected = _diffusers_img2img_timesteps(_fresh_scheduler(tiny_pipeline, name), 6, 1.0)
    assert len(expected) == 6
    try:
        tiny_pipeline.set_scheduler(name)
        (result,) = render(tiny_pipeline, request(steps=6, seed_image=seed_image_path, denoising=1))
    finally:
        tiny_pipeline.set_scheduler("pndm")
    assert len(unet_batches) == result.info.unet_steps == 6
    assert [t for _, t in unet_batches] == [int(t) for t in expected]


def test_strength_one_with_pndm_runs_exactly_the_steps_as_the_reference(
    tiny_pipeline, unet_batches, seed_image_path
):
    """PNDM has steps + 1 timesteps; the reference ran the last `steps` of them (50 from 961),
    diffusers' img2img all of them (51 from 981)."""
    scheduler = _fresh_scheduler(tiny_pipeline, "pndm")
    scheduler.set_timesteps(4)
    schedule = [int(t) for t in scheduler.timesteps]
    assert schedule == [751, 501, 501, 251, 1]
    (result,) = render(tiny_pipeline, request(steps=4, seed_image=seed_image_path, denoising=1.0))
    assert len(unet_batches) == result.info.unet_steps == 4
    assert [t for _, t in unet_batches] == schedule[1:]


@pytest.mark.parametrize(
    ("strength", "passes", "first"), [(1.0, 50, 961), (0.99, 50, 961), (0.75, 38, 741)]
)
def test_pndm_img2img_slice_at_50_steps(tiny_pipeline, strength, passes, first, seed_image_path):
    """The real checkpoint's schedule: the reference's passes and first timestep (its web app
    default, 0.75, runs 38 passes from 741, as diffusers' img2img does)."""
    scheduler = _fresh_scheduler(tiny_pipeline, "pndm")
    scheduler.set_timesteps(50)
    req = request(steps=50, seed_image=seed_image_path, denoising=strength)
    begin = img2img_begin(len(scheduler.timesteps), scheduler.order, 50, req)
    ours = scheduler.timesteps[begin:]
    assert (len(ours), int(ours[0])) == (passes, first)
    if strength < 1.0:  # below 1.0 the slice is diffusers' own
        theirs = _diffusers_img2img_timesteps(_fresh_scheduler(tiny_pipeline, "pndm"), 50, strength)
        assert torch.equal(ours, theirs)


# ------------------------------------------------------------------ init-image latents


def test_init_latents_are_sampled_from_a_fresh_start_seed_generator(tiny_pipeline, seed_image_path):
    pipe = tiny_pipeline
    start = PromptInput("lofi beat", seed=1234)
    blend = GenerationRequest(
        start,
        PromptInput("organ", seed=99),
        alpha=0.5,
        num_inference_steps=4,
        seed_image=seed_image_path,
        width=WIDTH,
    )
    alone = GenerationRequest(start, num_inference_steps=4, seed_image=seed_image_path, width=WIDTH)
    with torch.inference_mode():
        pixels_in = _image_to_tensor(fit_width(load_seed_image(seed_image_path), WIDTH))
        dist = pipe.vae.encode(pixels_in).latent_dist
        eps = torch.randn(dist.mean.shape, generator=torch.Generator("cpu").manual_seed(1234))
        expected = (dist.mean + dist.std * eps) * pipe.vae.config.scaling_factor
        got_blend = pipe._init_latents(blend, {})
        got_alone = pipe._init_latents(alone, {})
    torch.testing.assert_close(got_blend, expected)
    # Only the start seed counts: the end seed and alpha change the noise, not the init latents.
    assert torch.equal(got_blend, got_alone)
