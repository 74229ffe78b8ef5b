"""Request validation: bad input is a RiffusionError with a message for the user."""

import json

import pytest
from PIL import Image

from riffusion_core import seed_images
from riffusion_core.errors import RiffusionError
from riffusion_core.generation import (
    CLIP_SECONDS,
    MAX_SEED,
    GenerationRequest,
    PromptInput,
    next_seed,
)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt": ""}, "prompt is empty"),
        ({"prompt": "   "}, "prompt is empty"),
        ({"prompt": "x", "seed": -1}, "seed"),
        ({"prompt": "x", "seed": 1.5}, "seed"),
        ({"prompt": "x", "seed": MAX_SEED + 1}, "seed"),
        ({"prompt": "x", "guidance": float("nan")}, "guidance"),
        ({"prompt": "x", "guidance": 100}, "guidance"),
        ({"prompt": "x", "denoising": 0}, "denoising"),
        ({"prompt": "x", "denoising": 1.2}, "denoising"),
        ({"prompt": "x" * 5000}, "too long"),
    ],
)
def test_prompt_input_validation(kwargs, message):
    with pytest.raises(RiffusionError, match=message):
        PromptInput(**kwargs)


START = PromptInput("lofi beat")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": -0.1}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"num_inference_steps": 0}, "steps"),
        ({"num_inference_steps": 10_000}, "steps"),
        ({"width": 500}, "multiple of 8"),
        ({"width": 8}, "multiple of 8"),
        ({"seed_image": "definitely_not_a_seed"}, "Available seed images"),
        ({"mask_image": "mask.png"}, "needs a seed image"),
    ],
)
def test_request_validation(kwargs, message):
    with pytest.raises(RiffusionError, match=message):
        GenerationRequest(START, **kwargs)


def test_interpolated_values_are_exact_at_the_ends():
    end = PromptInput("choir", seed=7, guidance=3.0, denoising=0.5)
    assert GenerationRequest(START, end, alpha=0.0).guidance == START.guidance
    assert GenerationRequest(START, end, alpha=1.0).guidance == end.guidance
    assert GenerationRequest(START, end, alpha=1.0).denoising == end.denoising
    assert GenerationRequest(START, end, alpha=0.5).guidance == pytest.approx(5.0)


def test_too_little_denoising_for_the_steps(tmp_path):
    path = tmp_path / "seed.png"
    Image.new("RGB", (64, 512)).save(path)
    with pytest.raises(RiffusionError, match="too small"):
        GenerationRequest(
            PromptInput("x", denoising=0.05), num_inference_steps=10, seed_image=str(path)
        )


def test_seeds_are_the_ones_discord_carries_and_walks_wrap():
    assert MAX_SEED == 2**31 - 1  # Discord integer options and the bot's records
    assert PromptInput("x", seed=MAX_SEED).seed == MAX_SEED
    assert next_seed(41) == 42 and next_seed(MAX_SEED) == 0


def test_one_clip_length_for_the_project():
    assert CLIP_SECONDS == 441 * 511 / 44100 == 5.11
    assert GenerationRequest(START).duration_s == CLIP_SECONDS
    assert GenerationRequest(START, width=1024).duration_s == pytest.approx(10.23)


def test_duration_and_json(tmp_path):
    request = GenerationRequest(START, PromptInput("choir"), alpha=0.5)
    assert request.duration_s == pytest.approx(5.11)
    assert json.loads(json.dumps(request.to_dict()))["end"]["prompt"] == "choir"


def test_seed_images_by_name_and_path(tmp_path, monkeypatch):
    monkeypatch.setattr(seed_images, "SEED_IMAGE_DIR", tmp_path)
    Image.new("L", (1024, 1024), 128).save(tmp_path / "loop_a.png")
    Image.new("RGB", (512, 512)).save(tmp_path / "loop_b.png")
    (tmp_path / "notes.txt").write_text("not an image")
    assert seed_images.list_seed_images() == ["loop_a", "loop_b"]
    image = seed_images.load_seed_image("loop_a")
    assert image.mode == "RGB" and image.size == (512, 512)
    other = tmp_path / "elsewhere" / "mine.png"
    other.parent.mkdir()
    Image.new("RGB", (300, 256)).save(other)
    loaded = seed_images.load_seed_image(str(other))
    assert loaded.height == 512 and loaded.width % 8 == 0
    with pytest.raises(RiffusionError, match="loop_a, loop_b"):
        seed_images.load_seed_image("loop_c")
    broken = tmp_path / "broken.png"
    broken.write_text("nope")
    with pytest.raises(RiffusionError, match="not a readable image"):
        seed_images.load_seed_image(str(broken))


def test_fit_width_tiles_and_crops():
    image = Image.new("RGB", (64, 512), (10, 20, 30))
    image.paste((200, 200, 200), (0, 0, 8, 512))
    tiled = seed_images.fit_width(image, 160)
    assert tiled.size == (160, 512)
    assert tiled.getpixel((64, 0)) == (200, 200, 200) and tiled.getpixel((128, 5)) == (200,) * 3
    assert seed_images.fit_width(tiled, 96).size == (96, 512)
