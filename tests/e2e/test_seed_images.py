"""Seed images over the fake Discord: SEED_IMAGES_DIR in /riff, /settings and Info, former names.

Most tests record what the worker was handed (a folder image travels as its file's path, the
result keeps its name); one renders Riffusion's agile.png on the tiny model.
"""

from __future__ import annotations

import io
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

from bot.engine.renderer import PipelineRenderer
from bot.policy import user_settings
from bot.store.models import Generation
from tests.conftest import REFERENCE_SEED_DIR, REFERENCE_SEEDS
from tests.fakediscord import FakeDiscord, Message, User
from tests.fixtures.bot import BotHarness, RecordingRenderer, generation_id, is_result

pytestmark = pytest.mark.timeout(240)

BUNDLED = ["ambient_pulse", "backbeat", "four_on_floor", "half_time"]


def seed_option(fake: FakeDiscord) -> dict:
    [option] = [
        o for o in fake.commands(fake.guild)["riff"]["options"] if o["name"] == "seed_image"
    ]
    return option


async def answer(fake: FakeDiscord, user: User, name: str, options: dict) -> Message:
    return await fake.response_message(await fake.slash(user, name, options))


async def riff(fake: FakeDiscord, options: dict) -> Message:
    status = await answer(fake, fake.member, "riff", {"prompt": "jazz", **options})
    assert "There is no seed image" not in status.content, status.content
    return await fake.wait_for_message(is_result, timeout=60)


async def info_of(fake: FakeDiscord, result: Message) -> str:
    click = await fake.click(result, f"riff:info:{generation_id(result)}", fake.member)
    return (await fake.response_message(click)).content


async def test_riff_offers_the_folder_and_keeps_the_name(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    renderer = RecordingRenderer()
    async with bot_harness.running(renderer, SEED_IMAGES_DIR=str(REFERENCE_SEED_DIR)):
        option = seed_option(fake)
        names = sorted({*BUNDLED, *REFERENCE_SEEDS})
        assert [c["value"] for c in option["choices"]] == [*names, "none"]
        assert not option.get("autocomplete")

        result = await riff(fake, {"seed_image": "agile"})
        assert renderer.tasks[-1].params.seed_image == str(REFERENCE_SEED_DIR / "agile.png")
        assert {"name": "Seed image", "value": "agile", "inline": True} in result.embeds[0][
            "fields"
        ]
        info = await info_of(fake, result)
        assert "Seed image: agile · " in info and "seed_image:agile " in info

        # og_beat is Riffusion's own here; the bundled loop keeps its current name.
        await riff(fake, {"seed_image": "og_beat"})
        assert renderer.tasks[-1].params.seed_image == str(REFERENCE_SEED_DIR / "og_beat.png")
        await riff(fake, {"seed_image": "backbeat"})
        assert renderer.tasks[-1].params.seed_image == "backbeat"

        saved = await answer(fake, fake.member, "settings set", {"seed_image": "vibes"})
        assert "**Seed image:** vibes" in saved.content
        await riff(fake, {})
        assert renderer.tasks[-1].params.seed_image == str(REFERENCE_SEED_DIR / "vibes.png")


async def test_former_names_stored_before_the_rename_keep_working(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    renderer = RecordingRenderer()
    async with bot_harness.running(renderer) as bot:
        assert [c["value"] for c in seed_option(fake)["choices"]] == [*BUNDLED, "none"]
        db = bot.services.db
        # A default saved as og_beat before the rename.
        await user_settings.save(db, fake.member.id, seed_image="og_beat")
        first = await riff(fake, {})
        assert renderer.tasks[-1].params.seed_image == "backbeat"  # stored by its current name

        # A result recorded as og_beat: Info names the loop as /riff offers it, and Reroll runs.
        async with db.session() as session:
            await session.execute(
                sa.update(Generation)
                .where(Generation.id == generation_id(first))
                .values(seed_image="og_beat")
            )
        info = await info_of(fake, first)
        assert "Seed image: backbeat (recorded as og_beat, its former name)" in info
        assert "seed_image:backbeat " in info
        reroll = await fake.click(first, f"riff:reroll:{generation_id(first)}", fake.member)
        await fake.response_message(reroll)
        await fake.wait_for_message(is_result, timeout=20)
        assert renderer.tasks[-1].params.seed_image == "backbeat"


async def test_more_than_25_seed_images_autocomplete(
    fake_discord: FakeDiscord, bot_harness: BotHarness, tmp_path: Path
):
    fake = fake_discord
    folder = tmp_path / "seeds"
    folder.mkdir()
    for i in range(30):
        shutil.copy(REFERENCE_SEED_DIR / "marim.png", folder / f"loop_{i:02d}.png")
    renderer = RecordingRenderer()
    async with bot_harness.running(renderer, SEED_IMAGES_DIR=str(folder)):
        option = seed_option(fake)
        assert option.get("autocomplete") and not option.get("choices")
        typing = await fake.autocomplete(
            fake.member, "riff", {"prompt": "jazz", "seed_image": "loop_2"}, focused="seed_image"
        )
        await fake.interaction_response(typing)
        assert [c["value"] for c in typing.choices] == [f"loop_2{i}" for i in range(10)]

        await riff(fake, {"seed_image": "loop_27"})
        assert renderer.tasks[-1].params.seed_image == str((folder / "loop_27.png").resolve())
        await riff(fake, {"seed_image": "og_beat"})  # typed: the former name still works
        assert renderer.tasks[-1].params.seed_image == "backbeat"
        refused = await answer(fake, fake.member, "riff", {"prompt": "x", "seed_image": "nope"})
        assert refused.ephemeral and "There is no seed image called 'nope'" in refused.content


async def test_an_unusable_file_is_logged_and_left_out(
    fake_discord: FakeDiscord, bot_harness: BotHarness, tmp_path: Path, caplog
):
    fake = fake_discord
    folder = tmp_path / "seeds"
    folder.mkdir()
    shutil.copy(REFERENCE_SEED_DIR / "motorway.png", folder / "motorway.png")
    Image.new("L", (512, 300), 255).save(folder / "squashed.png")
    (folder / "notes.png").write_text("not an image")
    caplog.set_level(logging.INFO, logger="bot")
    async with bot_harness.running(RecordingRenderer(), SEED_IMAGES_DIR=str(folder)):
        values = [c["value"] for c in seed_option(fake)["choices"]]
        assert values == [*BUNDLED, "motorway", "none"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        "SEED_IMAGES_DIR: left out notes.png: not an image (unknown or damaged file format)."
        in (warnings)
    )
    assert any(w.startswith("SEED_IMAGES_DIR: left out squashed.png: wrong size") for w in warnings)


@pytest.mark.slow
async def test_a_folder_seed_image_renders_on_the_tiny_model(
    fake_discord: FakeDiscord, bot_harness: BotHarness, tiny_pipeline, tmp_path: Path
):
    """/riff seed_image:agile (Riffusion's, through SEED_IMAGES_DIR) gives what the pipeline
    gives for agile.png itself, and not what it gives for the bundled loop."""
    from riffusion_core.clips import render_clips
    from riffusion_core.generation import GenerationRequest, PromptInput

    fake = fake_discord
    renderer = PipelineRenderer(
        "tiny", "cpu", tmp_path / "scratch", loader=lambda *a, **k: tiny_pipeline
    )
    async with bot_harness.running(renderer, SEED_IMAGES_DIR=str(REFERENCE_SEED_DIR)):
        result = await riff(fake, {"seed": 5, "seed_image": "agile"})
    posted = np.asarray(
        Image.open(io.BytesIO(next(d for n, d in result.files.items() if n.endswith(".png"))))
    )

    def direct(seed_image: str) -> np.ndarray:
        start = PromptInput("jazz", seed=5, guidance=7.0, denoising=0.75)
        request = GenerationRequest(start, num_inference_steps=3, seed_image=seed_image)
        [clip] = render_clips(tiny_pipeline, [request])
        return np.asarray(clip.image)

    assert np.array_equal(posted, direct(str(REFERENCE_SEED_DIR / "agile.png")))
    assert not np.array_equal(posted, direct("backbeat"))
