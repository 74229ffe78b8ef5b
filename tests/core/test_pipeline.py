"""RiffusionPipeline on the tiny random model (CPU, narrow images, few steps): the images it
renders, its batching, and diffusers' conventions (step callback, interrupt, progress bar,
output dataclass). Clips with audio (render_clips) are tested in test_clips.py."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from diffusers.utils import BaseOutput
from PIL import Image

from riffusion_core.errors import RiffusionError
from riffusion_core.generation import GenerationRequest, PromptInput
from riffusion_core.pipeline import RenderInfo, RiffusionPipelineOutput
from riffusion_core.spectrogram_params import ExifTag, SpectrogramParams

WIDTH = 64  # 512 x 64 px images keep each render well under a second of CPU time
STEPS = 4
LONG_PROMPT = " ".join(["the"] * 200)  # 200 tokens: three 75-token chunks


def request(prompt="lofi hip hop beat", seed=1, steps=STEPS, **kwargs):
    start_keys = {"negative_prompt", "guidance", "denoising"}
    start = PromptInput(prompt, seed=seed, **{k: kwargs.pop(k) for k in start_keys & set(kwargs)})
    return GenerationRequest(
        start, num_inference_steps=steps, width=kwargs.pop("width", WIDTH), **kwargs
    )


@dataclass
class Rendered:
    """One image of a pipeline call and how it was rendered."""

    image: Image.Image
    info: RenderInfo


def pixels(result) -> np.ndarray:
    return np.asarray(result.image, dtype=np.int16)


def render(pipe, *requests, **kwargs) -> list[Rendered]:
    output = pipe(list(requests), **kwargs)
    return [Rendered(im, info) for im, info in zip(output.images, output.renders, strict=True)]


@pytest.fixture
def unet_calls(tiny_pipeline):
    """Counts UNet forward passes."""
    calls = []
    handle = tiny_pipeline.unet.register_forward_hook(lambda *_: calls.append(1))
    yield calls
    handle.remove()


@pytest.fixture(scope="module")
def seed_image_path(tmp_path_factory):
    """A 512 x 64 striped 'spectrogram' saved as a user file."""
    rng = np.random.default_rng(0)
    grey = np.full((512, WIDTH), 230, dtype=np.uint8)
    grey[:, ::16] = 20
    grey[300:340, :] = rng.integers(0, 120, size=(40, WIDTH))
    path = tmp_path_factory.mktemp("seed") / "beat.png"
    Image.fromarray(grey).convert("RGB").save(path)
    return str(path)


def test_text_to_image_and_how_it_was_rendered(tiny_pipeline):
    (result,) = render(tiny_pipeline, request(width=512))
    assert result.image.size == (512, 512) and result.image.mode == "RGB"
    assert result.info.seeds == (1,) and result.info.scheduler == "pndm"
    assert result.info.unet_steps == STEPS + 1  # PNDM with skip_prk_steps repeats one timestep
    assert (result.info.batch, result.info.batch_size) == (0, 1)
    assert result.info.batch_elapsed_s > 0
    assert pixels(result).std() > 1  # not a blank image


def test_deterministic_and_seed_dependent(tiny_pipeline):
    (a,) = render(tiny_pipeline, request(seed=5))
    (again,) = render(tiny_pipeline, request(seed=5))
    (other,) = render(tiny_pipeline, request(seed=6))
    assert np.array_equal(pixels(a), pixels(again))
    assert not np.array_equal(pixels(a), pixels(other))


def test_alpha_endpoints_equal_each_end_alone(tiny_pipeline):
    start = PromptInput("lofi beat", seed=3, guidance=5.0, negative_prompt="noise")
    end = PromptInput("church organ", seed=9, guidance=9.0)
    blend = [
        GenerationRequest(start, end, alpha=a, num_inference_steps=STEPS, width=WIDTH)
        for a in (0.0, 1.0, 0.5)
    ]
    alone = [GenerationRequest(p, num_inference_steps=STEPS, width=WIDTH) for p in (start, end)]
    # Rendered one by one: batching may move a pixel by one level (see the batching test).
    at0, at1, mid, only_start, only_end = render(tiny_pipeline, *blend, *alone, max_batch_size=1)
    assert np.array_equal(pixels(at0), pixels(only_start))
    assert np.array_equal(pixels(at1), pixels(only_end))
    assert not np.array_equal(pixels(mid), pixels(only_start))
    assert not np.array_equal(pixels(mid), pixels(only_end))
    assert at1.info.seeds == (3, 9)


def test_negative_prompt_changes_the_output(tiny_pipeline):
    plain, negative = render(
        tiny_pipeline, request(), request(negative_prompt="distorted guitar noise")
    )
    assert not np.array_equal(pixels(plain), pixels(negative))


def test_negative_prompt_is_kept_when_interpolating(tiny_pipeline):
    start = PromptInput("lofi beat", seed=3)
    end = PromptInput("church organ", seed=9)
    with_neg = PromptInput("lofi beat", seed=3, negative_prompt="vocals")
    a, b = render(
        tiny_pipeline,
        GenerationRequest(start, end, alpha=0.5, num_inference_steps=STEPS, width=WIDTH),
        GenerationRequest(with_neg, end, alpha=0.5, num_inference_steps=STEPS, width=WIDTH),
    )
    assert not np.array_equal(pixels(a), pixels(b))


def test_long_prompts_and_interpolating_short_to_long(tiny_pipeline):
    short = PromptInput("jazz", seed=2)
    long = PromptInput(LONG_PROMPT, seed=4, negative_prompt="x")
    results = render(
        tiny_pipeline,
        GenerationRequest(long, num_inference_steps=STEPS, width=WIDTH),
        GenerationRequest(short, long, alpha=0.5, num_inference_steps=STEPS, width=WIDTH),
        GenerationRequest(short, long, alpha=0.0, num_inference_steps=STEPS, width=WIDTH),
        GenerationRequest(short, num_inference_steps=STEPS, width=WIDTH),
    )
    assert all(r.image.size == (WIDTH, 512) for r in results)
    # alpha 0 uses the short prompt alone, not padded to the long one's three chunks
    assert np.array_equal(pixels(results[2]), pixels(results[3]))


def test_step_callback_sees_every_unet_pass(tiny_pipeline, unet_calls):
    seen = []

    def callback(pipe, step_index, timestep, callback_kwargs):
        seen.append((step_index, pipe.num_timesteps, int(timestep)))
        assert set(callback_kwargs) == {"latents"}
        channels, scale = pipe.unet.config.in_channels, pipe.vae_scale_factor
        assert callback_kwargs["latents"].shape[:3] == (1, channels, 512 // scale)
        return callback_kwargs

    render(tiny_pipeline, request(), request(width=72), callback_on_step_end=callback)
    total = 2 * (STEPS + 1)  # two widths -> two batches, counted as one run of steps
    assert [(i, n) for i, n, _ in seen] == [(i, total) for i in range(total)]
    assert tiny_pipeline.num_timesteps == total
    assert len(unet_calls) == total
    timesteps = [t for _, _, t in seen]
    assert timesteps[: STEPS + 1] == timesteps[STEPS + 1 :]  # each batch walks the schedule
    assert timesteps[0] > timesteps[STEPS]


def test_step_callback_can_replace_the_latents(tiny_pipeline):
    def silence_at_the_end(pipe, step_index, timestep, callback_kwargs):
        if step_index == pipe.num_timesteps - 1:
            callback_kwargs["latents"] = torch.zeros_like(callback_kwargs["latents"])
        return callback_kwargs

    (plain,) = render(tiny_pipeline, request(seed=8))
    (zeroed,) = render(tiny_pipeline, request(seed=8), callback_on_step_end=silence_at_the_end)
    (from_zeros,) = render(tiny_pipeline, request(seed=9), callback_on_step_end=silence_at_the_end)
    assert not np.array_equal(pixels(plain), pixels(zeroed))
    assert np.array_equal(pixels(zeroed), pixels(from_zeros))  # both decode the zero latents


def test_unknown_callback_tensor_inputs_are_refused(tiny_pipeline, unet_calls):
    with pytest.raises(ValueError, match="callback_on_step_end_tensor_inputs"):
        tiny_pipeline(
            [request()],
            callback_on_step_end=lambda p, i, t, kw: kw,
            callback_on_step_end_tensor_inputs=["noise"],
        )
    assert unet_calls == []
    seen = []
    tiny_pipeline(
        [request()],
        callback_on_step_end=lambda p, i, t, kw: seen.append(sorted(kw)) or kw,
        callback_on_step_end_tensor_inputs=["latents", "prompt_embeds"],
    )
    assert seen[0] == ["latents", "prompt_embeds"]


def test_interrupt_stops_the_loop_within_one_step(tiny_pipeline, unet_calls):
    def stop_after_two(pipe, step_index, timestep, callback_kwargs):
        if step_index == 1:
            pipe._interrupt = True  # how diffusers' callbacks interrupt a pipeline
        return callback_kwargs

    output = tiny_pipeline(
        [request(steps=10), request(steps=10, width=72)], callback_on_step_end=stop_after_two
    )
    assert tiny_pipeline.interrupt
    assert len(unet_calls) == 2  # neither the rest of this batch nor the next batch ran
    assert output.images == [] and output.renders == []
    (again,) = render(tiny_pipeline, request())  # the next call starts afresh
    assert not tiny_pipeline.interrupt and again.image.size == (WIDTH, 512)


def test_output_is_a_diffusers_output_of_spectrogram_images(tiny_pipeline):
    output = tiny_pipeline(request(seed=2))  # one request needs no list
    assert isinstance(output, RiffusionPipelineOutput) and isinstance(output, BaseOutput)
    assert output["images"] is output.images and output.to_tuple()[0] is output.images
    [image] = output.images
    exif = image.getexif()
    assert SpectrogramParams.from_exif(exif) == SpectrogramParams()
    assert ExifTag.MAX_VALUE.value not in exif  # a generated image has no absolute scale
    rgb = np.asarray(image)
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 0] == rgb[..., 2]).all()


def test_progress_bar_follows_the_steps(tiny_pipeline, capsys):
    tiny_pipeline.set_progress_bar_config(disable=False, ascii=True)
    try:
        render(tiny_pipeline, request(), request(width=72))
    finally:
        tiny_pipeline.set_progress_bar_config(disable=True)
    total = 2 * (STEPS + 1)
    assert f"{total}/{total}" in capsys.readouterr().err
    render(tiny_pipeline, request())
    assert capsys.readouterr().err == ""  # disabled again, as load_pipeline leaves it


def test_batched_equals_unbatched(tiny_pipeline, unet_calls):
    requests = [
        request("lofi beat", seed=11, guidance=7.0),
        request("techno kick", seed=12, guidance=3.0, negative_prompt="vocals"),
        GenerationRequest(
            PromptInput("jazz", seed=13),
            PromptInput("rock (guitar:1.3)", seed=14),
            alpha=0.3,
            num_inference_steps=STEPS,
            width=WIDTH,
        ),
    ]
    batched = render(tiny_pipeline, *requests)
    assert len(unet_calls) == STEPS + 1  # one UNet batch for all three
    assert [r.info.batch_size for r in batched] == [3, 3, 3]
    for req, together in zip(requests, batched, strict=True):
        (alone,) = render(tiny_pipeline, req)
        assert alone.info.batch_size == 1
        # Not bit-exact on CPU: kernels differ with the batch size. Measured: at most 1 level
        # on about 0.003 % of the values.
        diff = np.abs(pixels(alone) - pixels(together))
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


def test_incompatible_requests_are_grouped_and_kept_in_order(tiny_pipeline, seed_image_path):
    requests = [
        request(seed=1),
        request(seed=2, width=128),
        request(seed=3, seed_image=seed_image_path, denoising=0.5),
        request(seed=4),
    ]
    results = render(tiny_pipeline, *requests)
    assert [r.info.seeds for r in results] == [(1,), (2,), (3,), (4,)]  # in request order
    assert [r.info.batch_size for r in results] == [2, 1, 1, 2]
    assert [r.image.width for r in results] == [WIDTH, 128, WIDTH, WIDTH]


def test_max_batch_size_splits_batches(tiny_pipeline, unet_calls):
    results = render(tiny_pipeline, request(seed=1), request(seed=2), max_batch_size=1)
    assert [r.info.batch_size for r in results] == [1, 1]
    assert len(unet_calls) == 2 * (STEPS + 1)


@pytest.mark.parametrize(
    ("steps", "strength", "passes"), [(10, 0.5, 6), (10, 0.75, 8), (4, 1.0, 4)]
)
def test_img2img_runs_strength_times_steps(
    tiny_pipeline, unet_calls, seed_image_path, steps, strength, passes
):
    (result,) = render(
        tiny_pipeline, request(steps=steps, seed_image=seed_image_path, denoising=strength)
    )
    assert len(unet_calls) == passes == result.info.unet_steps
    assert result.image.size == (WIDTH, 512)


def test_img2img_depends_on_strength_and_image(tiny_pipeline, seed_image_path, tmp_path):
    other = tmp_path / "other.png"
    Image.new("RGB", (WIDTH, 512), (255, 255, 255)).save(other)
    a, b, c = render(
        tiny_pipeline,
        request(steps=10, seed_image=seed_image_path, denoising=0.3),
        request(steps=10, seed_image=seed_image_path, denoising=0.8),
        request(steps=10, seed_image=str(other), denoising=0.3),
    )
    assert not np.array_equal(pixels(a), pixels(b))
    assert not np.array_equal(pixels(a), pixels(c))


def test_img2img_seed_image_is_tiled_to_width(tiny_pipeline, seed_image_path):
    (result,) = render(tiny_pipeline, request(width=136, seed_image=seed_image_path))
    assert result.image.size == (136, 512)


def test_mask_keeps_black_regions(tiny_pipeline, seed_image_path, tmp_path, monkeypatch):
    """Compared in latent space: the VAE's GroupNorm couples all pixels of the decoded image."""
    decoded = []
    decode = tiny_pipeline.vae.decode
    monkeypatch.setattr(tiny_pipeline.vae, "decode", lambda z: decoded.append(z) or decode(z))
    keep_all = tmp_path / "black.png"
    Image.new("L", (WIDTH, 512), 0).save(keep_all)
    half = tmp_path / "half.png"
    mask = np.zeros((512, WIDTH), dtype=np.uint8)
    mask[:, WIDTH // 2 :] = 255  # left half kept, right half regenerated
    Image.fromarray(mask).save(half)
    common = {"steps": 6, "seed_image": seed_image_path, "denoising": 0.9}
    render(
        tiny_pipeline,
        request(mask_image=str(keep_all), **common),
        request(mask_image=str(half), **common),
        request(**common),
        max_batch_size=1,
    )
    kept, halved, free = decoded
    cols = WIDTH // 8 // 2
    # Black = the seed image's latents, exactly; white = regenerated like an unmasked render.
    assert torch.equal(halved[..., :cols], kept[..., :cols])
    assert (halved[..., cols:] - kept[..., cols:]).abs().mean() > 0.1
    assert (free[..., :cols] - kept[..., :cols]).abs().mean() > 0.1
    close = (halved[..., cols:] - free[..., cols:]).abs().mean()
    assert close < 0.5 * (kept[..., cols:] - free[..., cols:]).abs().mean()


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # diffusers
def test_dpm_solver_scheduler(tiny_pipeline, unet_calls):
    pipe = tiny_pipeline
    try:
        pipe.set_scheduler("dpm++")
        assert pipe.scheduler_name == "dpmsolver++"
        a, b = render(pipe, request(seed=1), request(seed=1))
        assert len(unet_calls) == STEPS  # DPM-Solver++ runs exactly the requested steps
        assert a.info.scheduler == "dpmsolver++"
        assert np.array_equal(pixels(a), pixels(b))
        with pytest.raises(RiffusionError, match="Unknown scheduler"):
            pipe.set_scheduler("magic")
    finally:
        pipe.set_scheduler("pndm")
    assert pipe.scheduler_name == "pndm"
    assert pipe.scheduler.config.skip_prk_steps


def test_empty_and_wrong_inputs(tiny_pipeline):
    assert tiny_pipeline([]).images == []
    with pytest.raises(RiffusionError):
        tiny_pipeline(["not a request"])


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # diffusers
@pytest.mark.parametrize("name", ["pndm", "dpmsolver++", "ddim", "euler"])
def test_every_offered_scheduler_renders_both_kinds(tiny_pipeline, seed_image_path, name):
    assert name in tiny_pipeline.available_schedulers()
    try:
        tiny_pipeline.set_scheduler(name)
        txt, img = render(
            tiny_pipeline,
            request(steps=6),
            request(steps=6, seed_image=seed_image_path, denoising=0.5),
        )
    finally:
        tiny_pipeline.set_scheduler("pndm")
    for result in (txt, img):
        assert result.info.scheduler == name
        assert np.isfinite(pixels(result)).all() and pixels(result).std() > 1
    extra = 1 if name == "pndm" else 0  # PNDM repeats one timestep
    assert (txt.info.unet_steps, img.info.unet_steps) == (6 + extra, 3 + extra)
