"""/settings over the fake Discord: defaults fill the options a command leaves out, given
options win, bad values are refused, status visibility, and the 0004 migration keeps rows.

The renderer is the tone generator of tests/fixtures/bot.py, recording the tasks it was given.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from bot.policy import user_settings
from bot.store.db import alembic_config, open_database
from riffusion_core.seed_images import DEFAULT_INTERPOLATION_SEED_IMAGE, bundled_name
from tests.fakediscord import FakeDiscord, Message, User
from tests.fixtures.audio import write_audio_bytes
from tests.fixtures.bot import BotHarness, FakeRenderer, RecordingRenderer, generation_id, is_result

pytestmark = pytest.mark.timeout(180)


async def answer(fake: FakeDiscord, user: User, name: str, options=None, **kw) -> Message:
    return await fake.response_message(await fake.slash(user, name, options or {}, **kw))


async def render_one(
    fake: FakeDiscord, renderer: RecordingRenderer, user: User, name: str, options: dict
) -> tuple[object, Message]:
    """Run a command that queues one job; return (its rendered task, its result message)."""
    before = len(renderer.tasks)
    status = await answer(fake, user, name, options)
    assert "could not" not in status.content, status.content
    result = await fake.wait_for_message(is_result, timeout=20)
    assert len(renderer.tasks) == before + 1
    return renderer.tasks[-1], result


async def test_show_set_and_reset(
    fake_discord: FakeDiscord, bot_harness: BotHarness, database_url: str
):
    fake = fake_discord
    bot_harness.database_url = database_url  # SQLite, then PostgreSQL
    async with bot_harness.running(FakeRenderer()) as bot:
        shown = await answer(fake, fake.member, "settings show")
        assert shown.ephemeral and "**Steps:** 3 (bot default)" in shown.content
        assert "**Status messages:** public (bot default" in shown.content
        saved = await answer(
            fake,
            fake.member,
            "settings set",
            {
                "negative_prompt": " vocals ",
                "steps": 20,
                "guidance": 9.5,
                "remix_strength": 0.4,
                "blend_clips": 6,
                "seed_image": "og_beat",
                "status": "private",
            },
        )
        assert saved.ephemeral and saved.content.startswith("Saved: Negative prompt, Steps")
        for line in (
            "**Negative prompt:** vocals",
            "**Steps:** 20",
            "**Guidance:** 9.5",
            "**Remix strength:** 0.4",
            "**Blend clips:** 6",
            "**Seed image:** backbeat",  # og_beat is backbeat's former name
            "**Status messages:** private",
        ):
            assert line in saved.content, line
        typing = await fake.autocomplete(
            fake.member, "settings set", {"seed_image": "beat"}, focused="seed_image"
        )
        await fake.interaction_response(typing)
        assert [c["value"] for c in typing.choices] == ["backbeat"]

        reset = await answer(fake, fake.member, "settings reset", {"setting": "steps"})
        assert (
            "Reset your steps" in reset.content
            and "**Steps:** 3 (bot default)" in reset.content
            and "**Guidance:** 9.5" in reset.content
        )
        assert (await user_settings.load(bot.services.db, fake.member.id)).steps is None
        cleared = await answer(fake, fake.member, "settings set", {"seed_image": "none"})
        assert "**Seed image:** none (from scratch) (bot default)" in cleared.content
        everything = await answer(fake, fake.member, "settings reset", {"setting": "all"})
        assert "Reset all your settings" in everything.content
        assert (
            await user_settings.load(bot.services.db, fake.member.id)
            == user_settings.UserDefaults()
        )
        # Someone else's settings are their own.
        assert (await user_settings.load(bot.services.db, fake.admin.id)).guidance is None


async def test_defaults_fill_riff_options_and_given_options_win(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    renderer = RecordingRenderer()
    async with bot_harness.running(renderer):
        await answer(
            fake,
            fake.member,
            "settings set",
            {"negative_prompt": "vocals", "steps": 4, "guidance": 9.5, "seed_image": "og_beat"},
        )
        task, first = await render_one(fake, renderer, fake.member, "riff", {"prompt": "jazz"})
        p = task.params
        assert (p.negative_prompt, p.steps, p.guidance, p.seed_image) == (
            "vocals",
            4,
            9.5,
            "backbeat",  # saved by its current name
        )
        assert {"name": "Seed image", "value": "backbeat", "inline": True} in first.embeds[0][
            "fields"
        ]

        task, _ = await render_one(
            fake,
            renderer,
            fake.member,
            "riff",
            {
                "prompt": "jazz",
                "negative_prompt": "noise",
                "steps": 3,
                "guidance": 2.0,
                "seed_image": "none",
            },
        )
        p = task.params
        assert (p.negative_prompt, p.steps, p.guidance, p.seed_image) == ("noise", 3, 2.0, None)

        # Someone without settings gets the bot's defaults.
        task, _ = await render_one(fake, renderer, fake.admin, "riff", {"prompt": "jazz"})
        p = task.params
        assert (p.negative_prompt, p.steps, p.guidance, p.seed_image) == (None, 3, 7.0, None)

        # Reroll keeps its parent's parameters, whatever the settings say now.
        await answer(fake, fake.member, "settings set", {"steps": 5, "guidance": 1.0})
        reroll = await fake.click(first, f"riff:reroll:{generation_id(first)}", fake.member)
        await fake.response_message(reroll)
        await fake.wait_for_message(is_result, timeout=20)
        p = renderer.tasks[-1].params
        assert (p.negative_prompt, p.steps, p.guidance, p.seed_image) == (
            "vocals",
            4,
            9.5,
            "backbeat",
        )


async def test_defaults_fill_blend_options(fake_discord: FakeDiscord, bot_harness: BotHarness):
    fake = fake_discord
    renderer = RecordingRenderer()
    async with bot_harness.running(renderer):
        await answer(
            fake,
            fake.member,
            "settings set",
            {"negative_prompt": "hiss", "steps": 4, "guidance": 8.0, "blend_clips": 3},
        )
        options = {"prompt_a": "rock", "prompt_b": "bells"}
        task, result = await render_one(fake, renderer, fake.member, "blend", options)
        assert (
            task.clips,
            task.params.steps,
            task.params.negative_prompt,
            task.params.guidance,
        ) == (3, 4, "hiss", 8.0)
        assert "in 3 clips" in result.content
        task, _ = await render_one(
            fake,
            renderer,
            fake.member,
            "blend",
            {**options, "clips": 2, "steps": 3, "negative_prompt": "noise"},
        )
        assert (task.clips, task.params.steps, task.params.negative_prompt) == (2, 3, "noise")


async def test_blend_and_riff_keep_their_own_seed_image_defaults(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    """/blend starts from Riffusion's seed image unless its own setting or option says
    otherwise; /riff stays text to audio; the denoising setting serves both."""
    fake = fake_discord
    renderer = RecordingRenderer()
    blend = {"prompt_a": "rock", "prompt_b": "bells", "clips": 2}
    async with bot_harness.running(renderer) as bot:
        task, _ = await render_one(fake, renderer, fake.member, "blend", blend)
        riffusions = (bundled_name(DEFAULT_INTERPOLATION_SEED_IMAGE), 0.75)  # its current name
        assert (task.params.seed_image, task.params.denoising) == riffusions
        task, _ = await render_one(fake, renderer, fake.member, "riff", {"prompt": "jazz"})
        assert task.params.seed_image is None

        saved = await answer(
            fake, fake.member, "settings set", {"blend_seed_image": "none", "denoising": 0.9}
        )
        assert "**Blend seed image:** none" in saved.content
        assert "**Denoising:** 0.9" in saved.content
        assert "**Seed image:** none (from scratch) (bot default)" in saved.content
        mine = await user_settings.load(bot.services.db, fake.member.id)
        assert (mine.blend_seed_image, mine.seed_image, mine.denoising) == ("none", None, 0.9)
        task, result = await render_one(fake, renderer, fake.member, "blend", blend)
        assert task.params.seed_image is None  # text only, as asked
        assert (
            "seed_image:none"
            in (
                await fake.response_message(
                    await fake.click(result, f"mix:info:{generation_id(result)}", fake.member)
                )
            ).content
        )
        task, _ = await render_one(
            fake, renderer, fake.member, "blend", {**blend, "seed_image": "backbeat"}
        )
        assert (task.params.seed_image, task.params.denoising) == ("backbeat", 0.9)
        task, _ = await render_one(
            fake,
            renderer,
            fake.member,
            "blend",
            {**blend, "seed_image": "backbeat", "denoising": 0.8},
        )
        assert (task.params.seed_image, task.params.denoising) == ("backbeat", 0.8)
        task, _ = await render_one(
            fake, renderer, fake.member, "riff", {"prompt": "jazz", "seed_image": "backbeat"}
        )
        assert (task.params.seed_image, task.params.denoising) == ("backbeat", 0.9)

        await answer(fake, fake.member, "settings set", {"blend_seed_image": "og_beat"})
        task, _ = await render_one(fake, renderer, fake.member, "blend", blend)
        assert task.params.seed_image == "backbeat"
        task, _ = await render_one(fake, renderer, fake.member, "riff", {"prompt": "jazz"})
        assert task.params.seed_image is None  # /riff's own default is untouched

        refused = await answer(fake, fake.member, "settings set", {"blend_seed_image": "nope"})
        assert "no seed image called 'nope'" in refused.content
        too_small = await answer(fake, fake.member, "settings set", {"steps": 4, "denoising": 0.1})
        assert "Nothing was saved" in too_small.content and "too small" in too_small.content
        too_small = await answer(
            fake, fake.member, "blend", {**blend, "steps": 4, "denoising": 0.1}
        )
        assert too_small.ephemeral and "too small for 4 steps" in too_small.content
        typing = await fake.autocomplete(
            fake.member, "settings set", {"blend_seed_image": "no"}, focused="blend_seed_image"
        )
        await fake.interaction_response(typing)
        assert "none" in [c["value"] for c in typing.choices]


async def test_defaults_fill_every_remix_path(fake_discord: FakeDiscord, bot_harness: BotHarness):
    fake = fake_discord
    renderer = RecordingRenderer()
    wav = write_audio_bytes("wav", 1.0, rate=22050)
    async with bot_harness.running(renderer):
        await answer(
            fake,
            fake.member,
            "settings set",
            {"remix_strength": 0.4, "steps": 5, "negative_prompt": "vocals", "guidance": 6.0},
        )
        # /remix without strength, then with it.
        task, _ = await render_one(
            fake, renderer, fake.member, "remix", {"audio": ("loop.wav", wav), "prompt": "dub"}
        )
        p = task.params
        assert (p.denoising, p.steps, p.negative_prompt, p.guidance) == (0.4, 5, "vocals", 6.0)
        task, riff = await render_one(
            fake,
            renderer,
            fake.member,
            "remix",
            {"audio": ("loop.wav", wav), "prompt": "dub", "strength": 0.9},
        )
        assert task.params.denoising == 0.9

        # A reply to a result.
        before = len(renderer.tasks)
        await fake.user_message(
            fake.member, content="", reply_to=riff, attachments=[("take.wav", wav)]
        )
        await fake.wait_for_message(is_result, timeout=20)
        assert len(renderer.tasks) == before + 1
        assert (renderer.tasks[-1].params.denoising, renderer.tasks[-1].params.steps) == (0.4, 5)

        # The message menu (a modal with an empty strength field), then the Remix button.
        post = await fake.user_message(fake.admin, content="demo", attachments=[("demo.wav", wav)])
        opened = await fake.message_command(post, "Remix with Riffusion", fake.member)
        assert (await fake.interaction_response(opened)).type == 9  # a modal
        submitted = await fake.submit_modal(opened, {"remix:prompt": "pads", "remix:strength": ""})
        await fake.response_message(submitted, timeout=15)
        result = await fake.wait_for_message(is_result, timeout=20)
        assert renderer.tasks[-1].params.denoising == 0.4
        opened = await fake.click(result, f"riff:remix:{generation_id(result)}", fake.member)
        assert (await fake.interaction_response(opened)).type == 9
        submitted = await fake.submit_modal(
            opened, {"remix:file": [("song.wav", wav)], "remix:prompt": "", "remix:strength": ""}
        )
        await fake.response_message(submitted, timeout=15)
        await fake.wait_for_message(is_result, timeout=20)
        assert renderer.tasks[-1].params.denoising == 0.4
        assert renderer.tasks[-1].params.negative_prompt == "vocals"


async def test_bad_values_are_refused_and_server_limits_apply(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    renderer = RecordingRenderer()
    async with bot_harness.running(renderer, DISCORD_GUILD_ID="") as bot:  # global: DMs too
        refused = await answer(fake, fake.member, "settings set", {"steps": 150, "guidance": 3})
        assert refused.ephemeral and refused.content.startswith("Nothing was saved")
        assert "This bot allows at most 100 steps" in refused.content
        refused = await answer(fake, fake.member, "settings set", {"seed_image": "nope"})
        assert "no seed image called 'nope'" in refused.content and "backbeat" in refused.content
        refused = await answer(fake, fake.member, "settings set", {"remix_strength": 0.1})
        assert "too small for 3 steps" in refused.content  # DEFAULT_STEPS=3: no pass at all
        refused = await answer(fake, fake.member, "settings set", {"negative_prompt": "   "})
        assert "negative prompt is empty" in refused.content
        assert (
            await user_settings.load(bot.services.db, fake.member.id)
            == user_settings.UserDefaults()
        )

        await answer(fake, fake.member, "settings set", {"steps": 20, "blend_clips": 6})
        await answer(fake, fake.admin, "admin limits", {"max_steps": 10, "max_clips": 4})
        refused = await answer(fake, fake.member, "settings set", {"steps": 12})
        assert "This server allows at most 10 steps" in refused.content
        refused = await answer(fake, fake.member, "settings set", {"blend_clips": 5})
        assert "at most 4 clips" in refused.content
        # A default saved before the server's limit is lowered to it, not refused.
        task, _ = await render_one(fake, renderer, fake.member, "riff", {"prompt": "x"})
        assert task.params.steps == 10
        task, _ = await render_one(
            fake, renderer, fake.member, "blend", {"prompt_a": "a", "prompt_b": "b"}
        )
        assert (task.clips, task.params.steps) == (4, 10)
        # In DMs the server's limits do not apply; the bot's do.
        dm = await fake.slash(fake.member, "riff", {"prompt": "in dms"}, dm=True)
        await fake.response_message(dm)
        await fake.wait_for_message(is_result, timeout=20)
        assert renderer.tasks[-1].params.steps == 20


async def test_status_messages_public_or_private(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    wav = write_audio_bytes("wav", 1.0, rate=22050)
    async with bot_harness.running(FakeRenderer()):
        public = await answer(fake, fake.member, "riff", {"prompt": "usual"})
        assert not public.ephemeral
        await fake.wait_for_message(is_result, timeout=20)
        await answer(fake, fake.member, "settings set", {"status": "private"})
        private = await answer(fake, fake.member, "riff", {"prompt": "quiet"})
        assert private.ephemeral and "quiet" in private.content
        result = await fake.wait_for_message(is_result, timeout=20)
        assert not result.ephemeral and result.channel_id == fake.general.id
        await fake.wait_until(lambda: "is ready" in private.content, what="private status done")
        # /remix is private by default; "public" posts its status for everyone.
        remix = await fake.slash(fake.member, "remix", {"audio": ("a.wav", wav), "prompt": "dub"})
        status = await fake.response_message(remix, timeout=15)
        assert status.ephemeral and "Remix" in status.content
        await fake.wait_for_message(is_result, timeout=20)
        await answer(fake, fake.member, "settings set", {"status": "public"})
        remix = await fake.slash(fake.member, "remix", {"audio": ("a.wav", wav), "prompt": "dub"})
        note = await fake.response_message(remix, timeout=15)
        assert note.ephemeral and "status is posted in this channel" in note.content
        shown = await fake.wait_for_followup(remix, timeout=15)
        assert not shown.ephemeral and "Remix" in shown.content
        await fake.wait_for_message(is_result, timeout=20)
        await fake.wait_until(lambda: "is ready" in shown.content, what="public status done")


async def test_migration_0004_keeps_existing_user_settings(database_url: str):
    url = database_url
    db = await open_database(url)
    await db.close()
    db = type(db)(url)
    try:

        def downgrade(connection: sa.Connection) -> None:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.downgrade(config, "0003")

        async with db.engine.begin() as conn:
            await conn.run_sync(downgrade)
            columns = await conn.run_sync(
                lambda c: [col["name"] for col in sa.inspect(c).get_columns("user_settings")]
            )
            assert "steps" not in columns
            await conn.execute(
                sa.text(
                    "INSERT INTO user_settings (user_id, results_by_dm, extra, updated_at) "
                    "VALUES (42, TRUE, '{}', '2026-01-01 00:00:00'), "
                    "(43, FALSE, '{}', '2026-01-01 00:00:00')"
                )
            )
        await db.migrate()
        kept = await user_settings.load(db, 42)
        assert kept == user_settings.UserDefaults(results_by_dm=True)
        assert (await user_settings.load(db, 43)).results_by_dm is False
        saved = await user_settings.save(db, 42, steps=30, private_status=True)
        assert (saved.steps, saved.private_status, saved.results_by_dm) == (30, True, True)
    finally:
        await db.close()
