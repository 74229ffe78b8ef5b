"""/queue, /help and /about over the wire-level fake Discord."""

from __future__ import annotations

import asyncio

from cogs.info import human_bytes, human_duration
from tests.fakediscord import FakeDiscord
from tests.fixtures.bot import BotHarness, FakeRenderer, is_result


async def test_queue_shows_your_jobs_positions_depth_and_gpu(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    renderer = FakeRenderer()
    async with bot_harness.running(renderer, MAX_BATCH_SIZE="1"):
        empty = await fake.response_message(await fake.slash(fake.member, "queue"))
        assert empty.ephemeral and "no requests" in empty.content
        assert "GPU:** idle" in empty.content

        renderer.gate.clear()
        await fake.slash(fake.admin, "riff", {"prompt": "admin first"})
        await asyncio.to_thread(renderer.started.wait, 10)
        for prompt in ("mine one", "mine two"):
            await fake.response_message(await fake.slash(fake.member, "riff", {"prompt": prompt}))
        shown = await fake.response_message(await fake.slash(fake.member, "queue"))
        text = shown.content
        assert "**mine one** — #1 in the queue" in text
        assert "**mine two** — #2 in the queue" in text
        assert "admin first" not in text  # only your own requests
        assert "2 waiting, 1 running" in text and "busy (1 running)" in text
        renderer.gate.set()
        for _ in range(3):
            await fake.wait_for_message(is_result, timeout=15)


async def test_help_lists_every_command_with_examples(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    async with bot_harness.running(FakeRenderer()) as bot:
        member_help = await fake.response_message(await fake.slash(fake.member, "help"))
        text = " ".join(e.get("description", "") for e in member_help.embeds)
        synced = fake.commands(fake.guild)
        for name, definition in synced.items():
            if name == "admin":
                assert "/admin" not in text  # hidden from members without Manage Server
            elif definition.get("type", 1) == 1:
                assert f"`/{name}" in text, name
            else:  # a message context menu
                assert f"`{name}` — right-click" in text, name
        assert "e.g. `/riff prompt:jazz saxophone, smooth`" in text
        admin_help = await fake.response_message(await fake.slash(fake.admin, "help"))
        admin_text = " ".join(e.get("description", "") for e in admin_help.embeds)
        assert "`/admin words add word`" in admin_text
        assert "e.g. `/admin words add word:drill`" in admin_text
        # Generated from the tree: a command added later is listed without editing any text.
        from discord import app_commands

        @app_commands.command(name="zzz", description="A command added at run time.")
        async def zzz(interaction, level: int) -> None:  # pragma: no cover - never invoked
            pass

        bot.tree.add_command(zzz)
        later = await fake.response_message(await fake.slash(fake.member, "help"))
        later_text = " ".join(e.get("description", "") for e in later.embeds)
        assert "`/zzz level` — A command added at run time." in later_text
        assert "e.g. `/zzz level:3`" in later_text


async def test_about_and_help_in_dms(fake_discord: FakeDiscord, bot_harness: BotHarness):
    fake = fake_discord
    async with bot_harness.running(FakeRenderer(), DISCORD_GUILD_ID=""):
        await fake.slash(fake.member, "riff", {"prompt": "to count"}, dm=True)
        await fake.wait_for_message(is_result, timeout=15)
        interaction = await fake.slash(fake.member, "about", dm=True)
        about = await fake.response_message(interaction, timeout=10)
        fields = {f["name"]: f["value"] for f in about.embeds[0]["fields"]}
        assert fields["Model"] == "riffusion/riffusion-model-v1"
        assert fields["Device"] == "auto"  # the fake renderer has no pipeline
        assert fields["Generated"] == "1 in all, 1 today"
        assert fields["Queue"] == "0 waiting, 0 running"
        assert "s per step" in fields["Speed"]
        assert "discord.py 2.7" in fields["Version"]
        assert fields["Disk used"].endswith("in DATA_DIR") and not fields["Disk used"].startswith(
            "0 B"
        )
        assert fields["Uptime"]
        dm_help = await fake.response_message(await fake.slash(fake.member, "help", dm=True))
        text = " ".join(e.get("description", "") for e in dm_help.embeds)
        assert "`/riff" in text and "/admin" not in text


def test_human_units():
    assert human_bytes(512) == "512 B"
    assert human_bytes(3 * 1024 * 1024) == "3.0 MiB"
    assert human_duration(59) == "59 s"
    assert human_duration(3 * 3600 + 120) == "3 h 2 min"
    assert human_duration(2 * 86400) == "2 d"
