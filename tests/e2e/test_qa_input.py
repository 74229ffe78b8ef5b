"""QA over the fake Discord: hostile or odd input gets a clear answer and loses nothing.

Discord checks option ranges only in the client: a client with an old copy of a command (or a
hand-made request) can send values the bot never declared, and discord.py does not check them
either. Public messages that echo what users typed must never ping @everyone, @here or roles.
"""

from __future__ import annotations

import asyncio
from typing import Any

import discord
import pytest

from tests.bot.test_radio import fake_voice, put_in_voice
from tests.fakediscord import FakeDiscord, Message, User
from tests.fixtures.bot import BotHarness, FakeRenderer
from tests.fixtures.mixing import is_result

pytestmark = pytest.mark.timeout(120)

STALE_FIX = "reload Discord"


def stale_client(fake: FakeDiscord, name: str) -> None:
    """The definition a client still has cached: no ranges, lengths or choices."""

    def unbound(options: list[dict[str, Any]]) -> None:
        for option in options:
            for key in ("min_value", "max_value", "min_length", "max_length", "choices"):
                option.pop(key, None)
            unbound(option.get("options") or [])

    unbound(fake.state.find_command(name, 1, fake.guild).definition.get("options") or [])


async def answer(fake: FakeDiscord, user: User, name: str, options: dict) -> Message:
    return await fake.response_message(await fake.slash(user, name, options))


def may_ping_everyone(message: Message) -> bool:
    """A public message whose text says @everyone/@here/a role that Discord would act on."""
    if message.ephemeral:
        return False
    text = message.content
    if "@everyone" not in text and "@here" not in text and "<@&" not in text:
        return False
    allowed = (message.sent_payload or {}).get("allowed_mentions")
    if allowed is None:
        return True
    parse = set(allowed.get("parse", []))
    return "everyone" in parse or "roles" in parse or bool(allowed.get("roles"))


@pytest.mark.parametrize(
    "command, options, option",
    [
        ("riff", {"prompt": "jazz", "steps": 0}, "steps"),
        ("riff", {"prompt": "jazz", "duration": 0.0}, "duration"),
        ("riff", {"prompt": "jazz", "guidance": -5.0}, "guidance"),
        ("riff", {"prompt": "x" * 700}, "prompt"),
        ("blend", {"prompt_a": "rock", "prompt_b": "bells", "clips": 1}, "clips"),
        ("blend", {"prompt_a": "rock", "prompt_b": "bells", "clips": 50}, "clips"),
        ("settings reset", {"setting": "volume"}, "setting"),
    ],
)
async def test_out_of_range_options_from_a_stale_client_are_refused_clearly(
    fake_discord: FakeDiscord, bot_harness: BotHarness, command: str, options: dict, option: str
):
    fake = fake_discord
    renderer = FakeRenderer()
    async with bot_harness.running(renderer) as bot:
        stale_client(fake, command.split()[0])
        refused = await answer(fake, fake.member, command, options)
        assert refused.ephemeral
        assert f"`{option}`" in refused.content and STALE_FIX in refused.content
        assert not bot.services.jobs.active and renderer.batches == []  # nothing was queued
        # The same command with good values still works.
        stale_client(fake, "riff")
        status = await answer(fake, fake.member, "riff", {"prompt": "fine", "steps": 2})
        assert not status.ephemeral and "fine" in status.content
        await fake.wait_for_message(lambda m: "fine" in m.content and m.attachments, timeout=15)


async def test_an_unknown_option_from_a_stale_client_is_refused_clearly(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    async with bot_harness.running(FakeRenderer()) as bot:
        definition = fake.state.find_command("riff", 1, fake.guild).definition
        definition["options"].append({"name": "tempo", "type": 4, "description": "old"})
        refused = await answer(fake, fake.member, "riff", {"prompt": "jazz", "tempo": 120})
        assert refused.ephemeral and "`tempo`" in refused.content
        assert STALE_FIX in refused.content and not bot.services.jobs.active


@pytest.mark.allow_discord_errors
async def test_a_command_that_breaks_still_answers(
    fake_discord: FakeDiscord, bot_harness: BotHarness, monkeypatch: pytest.MonkeyPatch
):
    fake = fake_discord
    async with bot_harness.running(FakeRenderer()) as bot:

        async def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("database went away")

        monkeypatch.setattr(bot.services.jobs, "start", broken)
        reply = await answer(fake, fake.member, "riff", {"prompt": "jazz"})
        assert reply.ephemeral and "went wrong" in reply.content
        assert "database went away" not in reply.content  # internals stay in the log


async def test_radio_messages_never_ping_and_blank_prompts_are_refused(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    async with bot_harness.running(FakeRenderer()) as bot:
        fake_voice(bot, idle_s=5)
        bot.services.radio.renderer = lambda guild_id, channel_id, steps: _silent
        put_in_voice(bot, fake, fake.member.id, 9001)
        blank = await answer(fake, fake.member, "radio start", {"prompt": "   "})
        assert blank.ephemeral and "prompt" in blank.content
        started = await answer(
            fake,
            fake.member,
            "radio start",
            {"prompt": "@everyone lofi **loud** <@&123456789012345678>"},
        )
        assert "Tuning in" in started.content
        blank_next = await answer(fake, fake.member, "radio next", {"prompt": " \n "})
        assert blank_next.ephemeral and "prompt" in blank_next.content
        steer = await answer(fake, fake.member, "radio next", {"prompt": "@here ambient"})
        assert "steers the radio" in steer.content
        await answer(fake, fake.member, "radio stop", {})
        pinging = [m.content for m in fake.bot_messages if may_ping_everyone(m)]
        assert pinging == []


async def test_nothing_the_bot_posts_pings_everyone_or_roles(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    hostile = "@everyone @here <@&123456789012345678> **bold** `tick ||spoiler||"
    async with bot_harness.running(FakeRenderer(), MAX_JOBS_PER_USER="10"):
        await answer(
            fake, fake.member, "riff", {"prompt": hostile, "steps": 2, "negative_prompt": hostile}
        )
        result = await fake.wait_for_message(
            lambda m: any(a.filename.endswith(".mp3") for a in m.attachments), timeout=15
        )
        await answer(
            fake,
            fake.member,
            "blend",
            {"prompt_a": hostile, "prompt_b": hostile, "clips": 2, "steps": 2},
        )
        await fake.wait_for_message(
            lambda m: any(a.filename.endswith(".mp3") for a in m.attachments), timeout=15
        )
        gen = result.custom_ids()[0].rsplit(":", 1)[1]
        await fake.response_message(await fake.click(result, f"riff:info:{gen}", fake.member))
        await fake.response_message(await fake.click(result, f"riff:fav:{gen}", fake.member))
        favourites = await answer(fake, fake.member, "favorites", {})
        post = next(c for c in favourites.custom_ids() if c.startswith("lib:post:"))
        await fake.response_message(await fake.click(favourites, post, fake.member))
        await fake.wait_for_message(lambda m: "shared" in m.content, timeout=5)
        await asyncio.sleep(0.3)
        pinging = [m.content for m in fake.bot_messages if may_ping_everyone(m)]
        assert pinging == []


async def _silent(clip: Any) -> Any:
    await asyncio.sleep(3600)


_ = discord  # the voice helpers build discord.py objects


async def test_buttons_respect_a_lowered_bot_wide_steps_limit(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    """Reroll re-uses its result's steps: after the operator lowers MAX_STEPS, the button is
    refused with the limit and a way forward instead of rendering past it."""
    fake = fake_discord
    async with bot_harness.running(FakeRenderer()):
        await fake.slash(fake.member, "riff", {"prompt": "cello", "steps": 20})
        result = await fake.wait_for_message(is_result, timeout=15)
    async with bot_harness.running(FakeRenderer(), MAX_STEPS="10"):
        reroll = next(c for c in result.custom_ids() if c.startswith("riff:reroll:"))
        refused = await fake.response_message(await fake.click(result, reroll, fake.member))
        assert refused.ephemeral
        assert "at most 10 steps" in refused.content and "would use 20" in refused.content
        assert "start a new one with steps:10 or fewer" in refused.content
        await fake.slash(fake.member, "riff", {"prompt": "cello", "steps": 10})
        await fake.wait_for_message(lambda m: is_result(m) and m.id != result.id, timeout=15)


async def test_info_keeps_its_copy_paste_command_whole(
    fake_discord: FakeDiscord, bot_harness: BotHarness, pipe_renderer
):
    """A ``` in a prompt cannot close Info's code block, and the longest blend's Info stays
    within Discord's 2000 characters with the command complete (the text above gives way)."""
    fake = fake_discord
    long_a, long_b = "a" * 499 + "z", "b" * 499 + "y"
    async with bot_harness.running(pipe_renderer):
        await fake.slash(fake.member, "riff", {"prompt": "lofi ```dub``` beats", "steps": 3})
        riff = await fake.wait_for_message(is_result, timeout=30)
        info_id = next(c for c in riff.custom_ids() if c.startswith("riff:info:"))
        info = await fake.response_message(await fake.click(riff, info_id, fake.member))
        assert info.content.count("```") == 2 and info.content.endswith("```")
        assert "/riff prompt:lofi `\u200b``dub`\u200b`` beats" in info.content

        options = {"prompt_a": long_a, "prompt_b": long_b, "clips": 2, "steps": 3}
        await fake.slash(fake.member, "blend", {**options, "negative_prompt": "n" * 500})
        blend = await fake.wait_for_message(lambda m: is_result(m) and m.id != riff.id, timeout=30)
        info_id = next(c for c in blend.custom_ids() if c.startswith("mix:info:"))
        info = await fake.response_message(await fake.click(blend, info_id, fake.member))
        assert len(info.content) <= 2000 and info.content.endswith("```")
        command = info.content.split("```\n")[-1]
        assert f"prompt_a:{long_a} prompt_b:{long_b}" in command and "n" * 500 in command
