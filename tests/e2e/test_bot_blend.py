"""/blend over the fake Discord: one track, one marked strip, buttons, and "pick clip k".

The bot runs its real PipelineRenderer and riffusion_core.tracks.blend on FakePipe (see
tests/fixtures/mixing.py), so the stitching, the strip and the queue are real; only the
diffusion is a stand-in.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.store.models import Generation, Job
from riffusion_core.seed_images import DEFAULT_INTERPOLATION_SEED_IMAGE, bundled_name
from riffusion_core.strip import MARK_COLOUR
from riffusion_core.tracks import BLEND_CROSSFADE_MS, clip_ms
from tests.fakediscord import FakeDiscord, Message
from tests.fixtures.bot import BotHarness
from tests.fixtures.mixing import FakePipe, is_result, mp3_seconds, png_of

pytestmark = pytest.mark.timeout(120)


def generation_id(message: Message) -> int:
    return int(message.custom_ids()[0].split(":")[2])


async def test_blend_posts_one_track_one_strip_and_buttons(
    fake_discord: FakeDiscord, bot_harness: BotHarness, pipe_renderer, fake_pipe: FakePipe
):
    fake = fake_discord
    async with bot_harness.running(pipe_renderer):
        interaction = await fake.slash(
            fake.member,
            "blend",
            {
                "prompt_a": "rock",
                "prompt_b": "church bells",
                "clips": 3,
                "seed_a": 11,
                "seed_b": 22,
                "negative_prompt": "noise",
                "steps": 3,
            },
        )
        status = await fake.response_message(interaction)
        assert "Blend" in status.content and status.custom_ids()[0].startswith("riff:cancel:")
        result = await fake.wait_for_message(is_result, timeout=30)

        assert fake.member.mention in result.content
        assert "rock" in result.content and "church bells" in result.content
        assert sorted(n.rsplit(".", 1)[1] for n in result.files) == ["mp3", "png"]
        strip = png_of(result).convert("RGB")
        assert strip.size == (3 * 512, 512)
        assert strip.getpixel((512, 256)) == MARK_COLOUR  # a marker between clips 1 and 2
        assert strip.getpixel((1024, 256)) == MARK_COLOUR
        expected = (3 * clip_ms() - 2 * BLEND_CROSSFADE_MS) / 1000
        assert mp3_seconds(result) == pytest.approx(expected, abs=0.1)

        gen = generation_id(result)
        assert result.custom_ids() == [
            f"mix:reroll:{gen}",
            f"riff:fav:{gen}",
            f"mix:info:{gen}",
            f"riff:delete:{gen}",
            f"blend:pick:{gen}:3",
        ]
        blended = [
            (r.start.prompt, r.end.prompt, r.alpha, r.start.seed, r.end.seed)
            for r in fake_pipe.requests
        ]
        assert blended == [("rock", "church bells", a, 11, 22) for a in (0.0, 0.5, 1.0)]
        assert all(
            r.start.negative_prompt == "noise" and r.num_inference_steps == 3
            for r in fake_pipe.requests
        )
        await fake.wait_until(lambda: "is ready" in status.content, what="status done")

        info = await fake.click(result, f"mix:info:{gen}", fake.member)
        reply = await fake.response_message(info)
        assert reply.ephemeral
        assert (
            "/blend prompt_a:rock prompt_b:church bells clips:3 seed_a:11 seed_b:22"
            in reply.content
        )

        fav = await fake.click(result, f"riff:fav:{gen}", fake.member)
        assert "Added" in (await fake.response_message(fav)).content


async def test_blend_runs_riffusions_interpolation_from_its_seed_image(
    fake_discord: FakeDiscord, bot_harness: BotHarness, pipe_renderer, fake_pipe: FakePipe
):
    """By default every clip is img2img from Riffusion's seed image at denoising 0.75 (6 of 8
    steps run), as Info and the stored parameters say; Reroll seeds and Pick a clip keep both."""
    fake = fake_discord
    # Riffusion's og_beat; without SEED_IMAGES_DIR the bundled loop that answers to that name.
    seed_image = bundled_name(DEFAULT_INTERPOLATION_SEED_IMAGE)
    options = {"prompt_a": "rock", "prompt_b": "church bells", "clips": 3, "steps": 8}
    async with bot_harness.running(pipe_renderer) as bot:
        await fake.slash(fake.member, "blend", {**options, "seed_a": 11, "seed_b": 22})
        result = await fake.wait_for_message(is_result, timeout=30)
        gen = generation_id(result)
        clips = list(fake_pipe.requests)
        assert [(r.seed_image, r.alpha) for r in clips] == [(seed_image, a) for a in (0, 0.5, 1)]
        assert all(r.start.denoising == r.end.denoising == r.denoising == 0.75 for r in clips)
        # The UNet passes the pipe ran per clip: 8 steps x 0.75, not all 8 of text to audio.
        assert [r.denoising_passes for r in clips] == [6, 6, 6]
        fields = result.embeds[0]["fields"]
        assert {"name": "Seed image", "value": f"{seed_image} at denoising 0.75"} in [
            {k: f[k] for k in ("name", "value")} for f in fields
        ]

        info = await fake.click(result, f"mix:info:{gen}", fake.member)
        shown = (await fake.response_message(info)).content
        assert f"Seed image: {seed_image} at denoising 0.75" in shown
        assert f"seed_b:22 steps:8 seed_image:{seed_image} denoising:0.75" in shown
        async with bot.services.db.session() as session:
            row = await session.get(Generation, gen)
            job = await session.scalar(select(Job).where(Job.generation_id == gen))
        assert row is not None and (row.seed_image, row.denoising) == (seed_image, 0.75)
        assert job is not None
        assert (job.params["seed_image"], job.params["denoising"]) == (seed_image, 0.75)

        fake_pipe.requests.clear()
        reroll = await fake.click(result, f"mix:reroll:{gen}", fake.member)
        await fake.response_message(reroll)
        await fake.wait_for_message(lambda m: is_result(m) and m.id != result.id, timeout=30)
        assert [(r.seed_image, r.denoising) for r in fake_pipe.requests] == [(seed_image, 0.75)] * 3
        fake_pipe.requests.clear()
        pick = await fake.click(result, f"blend:pick:{gen}:3", fake.member, values=["2"])
        await fake.response_message(pick)
        await fake.wait_for_message(lambda m: is_result(m) and "Clip 2" in m.content, timeout=30)
        [picked] = fake_pipe.requests
        assert (picked.seed_image, picked.alpha, picked.denoising) == (seed_image, 0.5, 0.75)

        # Text only, at the same steps: every clip runs all 8 steps.
        fake_pipe.requests.clear()
        await fake.slash(fake.member, "blend", {**options, "seed_image": "none"})
        await fake.wait_for_message(lambda m: is_result(m) and "Blend" in m.content, timeout=30)
        assert [(r.seed_image, r.denoising_passes) for r in fake_pipe.requests] == [(None, 8)] * 3


async def test_pick_clip_renders_that_alpha_alone(
    fake_discord: FakeDiscord, bot_harness: BotHarness, pipe_renderer, fake_pipe: FakePipe
):
    fake = fake_discord
    async with bot_harness.running(pipe_renderer):
        await fake.slash(
            fake.member,
            "blend",
            {"prompt_a": "jazz", "prompt_b": "techno", "seed_a": 1, "seed_b": 2, "steps": 2},
        )
        blend = await fake.wait_for_message(is_result, timeout=30)
        gen = generation_id(blend)
        assert blend.custom_ids()[-1] == f"blend:pick:{gen}:4"  # 4 clips by default
        fake_pipe.requests.clear()

        pick = await fake.click(blend, f"blend:pick:{gen}:4", fake.admin, values=["2"])
        await fake.response_message(pick)
        single = await fake.wait_for_message(is_result, timeout=30)
        [request] = fake_pipe.requests
        assert (request.start.prompt, request.end.prompt) == ("jazz", "techno")
        assert request.alpha == pytest.approx(1 / 3)
        assert (request.start.seed, request.end.seed) == (1, 2)
        assert png_of(single).size == (512, 512)
        assert mp3_seconds(single) == pytest.approx(clip_ms() / 1000, abs=0.1)
        assert "Clip 2 of a blend" in single.content and fake.admin.mention in single.content
        assert f"/channels/{fake.guild.id}/{fake.general.id}/{blend.id}" in single.content
        single_gen = generation_id(single)
        assert f"riff:variation:{single_gen}" in single.custom_ids()
        assert f"riff:remix:{single_gen}" in single.custom_ids()


async def test_reroll_seeds_keeps_the_prompts_and_survives_a_restart(
    fake_discord: FakeDiscord, bot_harness: BotHarness, pipe_renderer, fake_pipe: FakePipe
):
    fake = fake_discord
    async with bot_harness.running(pipe_renderer):
        await fake.slash(
            fake.member,
            "blend",
            {"prompt_a": "a", "prompt_b": "b", "clips": 2, "seed_a": 5, "seed_b": 6, "steps": 2},
        )
        first = await fake.wait_for_message(is_result, timeout=30)
    fake_pipe.requests.clear()
    async with bot_harness.running(pipe_renderer):
        reroll = await fake.click(first, f"mix:reroll:{generation_id(first)}", fake.member)
        await fake.response_message(reroll)
        second = await fake.wait_for_message(is_result, timeout=30)
        assert [(r.start.prompt, r.end.prompt) for r in fake_pipe.requests] == [("a", "b")] * 2
        seeds = {(r.start.seed, r.end.seed) for r in fake_pipe.requests}
        assert len(seeds) == 1 and seeds != {(5, 6)}
        assert png_of(second).size == (2 * 512, 512)
        assert f"/{first.id}" in second.content


async def test_blend_refuses_too_many_steps(
    fake_discord: FakeDiscord, bot_harness: BotHarness, pipe_renderer
):
    fake = fake_discord
    async with bot_harness.running(pipe_renderer, MAX_STEPS="10"):
        interaction = await fake.slash(
            fake.member, "blend", {"prompt_a": "a", "prompt_b": "b", "steps": 50}
        )
        reply = await fake.response_message(interaction)
        assert reply.ephemeral and "at most 10 steps" in reply.content


async def test_blend_shows_progress_and_can_be_cancelled(
    fake_discord: FakeDiscord, bot_harness: BotHarness, pipe_renderer, fake_pipe: FakePipe
):
    fake = fake_discord
    fake_pipe.step_s = 0.05
    async with bot_harness.running(pipe_renderer, MAX_STEPS="200") as bot:
        interaction = await fake.slash(
            fake.member, "blend", {"prompt_a": "slow", "prompt_b": "slower", "steps": 100}
        )
        status = await fake.response_message(interaction)
        await fake.wait_until(lambda: "/300" in status.content, timeout=15, what="progress")
        # FakePipe counts 4 clips x 75 passes: /blend starts from Riffusion's seed image at
        # denoising 0.75 by default, so each clip runs 75 of its 100 steps (text only: /400).
        assert "step" in status.content
        await fake.interaction_response(
            await fake.click(status, status.custom_ids()[0], fake.member)
        )
        await fake.wait_until(lambda: "Cancelled" in status.content, what="cancelled")
        await fake.wait_until(lambda: not bot.queue.running_jobs(), what="worker free")
        done = len(fake_pipe.requests)
        # The queue is free again: a /riff right after is served.
        fake_pipe.step_s = 0.0
        await fake.slash(fake.member, "riff", {"prompt": "next"})
        result = await fake.wait_for_message(is_result, timeout=30)
        assert "next" in result.content and len(fake_pipe.requests) == done + 1
