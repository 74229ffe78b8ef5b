"""/admin over the wire-level fake Discord: permissions, channels, limits, filters, pause, DMs.

The renderer is the tone generator of tests/fixtures/bot.py: these tests are about the rules a
request passes through (bot/policy/rules.py, called once from JobService.start), not about sound.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.fakediscord import FakeDiscord, Message, Perm, User
from tests.fixtures.bot import BotHarness, FakeRenderer, is_result


async def reply_to(fake: FakeDiscord, user: User, command: str, options=None, **kw) -> Message:
    interaction = await fake.slash(user, command, options or {}, **kw)
    return await fake.response_message(interaction)


def moderator(fake: FakeDiscord) -> User:
    user = fake.add_user("mod")
    fake.add_member(
        fake.guild,
        user,
        permissions=Perm.MANAGE_GUILD
        | Perm.VIEW_CHANNEL
        | Perm.SEND_MESSAGES
        | Perm.USE_APPLICATION_COMMANDS,
    )
    return user


async def test_non_admins_are_refused_by_discord_and_by_the_bot(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    async with bot_harness.running(FakeRenderer()):
        definition = fake.commands(fake.guild)["admin"]
        assert int(definition["default_member_permissions"]) == Perm.MANAGE_GUILD
        with pytest.raises(PermissionError):
            await fake.slash(fake.member, "admin pause")
        # A server admin re-grants /admin to everyone in Integrations: the bot still checks.
        command = fake.state.find_command("admin", 1, fake.guild)
        command.definition["default_member_permissions"] = None
        refused = await reply_to(fake, fake.member, "admin pause")
        assert refused.ephemeral and "Manage Server" in refused.content
        _, status = await riff(fake, fake.member, "still running")
        assert "jazz" not in status.content and not status.ephemeral  # not paused
        shown = await reply_to(fake, moderator(fake), "admin show")
        assert "running" in shown.content and "all channels" in shown.content


async def riff(fake: FakeDiscord, user: User, prompt: str, *, channel=None, **options):
    interaction = await fake.slash(user, "riff", {"prompt": prompt, **options}, channel=channel)
    return interaction, await fake.response_message(interaction)


async def test_blocked_words_and_patterns_apply_to_prompt_and_negative(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    async with bot_harness.running(FakeRenderer()):
        added = await reply_to(fake, fake.admin, "admin words add", {"word": "Drill"})
        assert "Blocked “drill”" in added.content
        bad = await reply_to(fake, fake.admin, "admin patterns add", {"pattern": "(a|aa)+b"})
        assert "Not added" in bad.content and "too slow" in bad.content
        invalid = await reply_to(fake, fake.admin, "admin patterns add", {"pattern": "(oops"})
        assert "not a valid regular expression" in invalid.content
        ok = await reply_to(fake, fake.admin, "admin patterns add", {"pattern": r"gang\s*sta"})
        assert "#1" in ok.content

        _, refused = await riff(fake, fake.member, "UK DRILL beat")
        assert (
            refused.ephemeral
            and "“drill”" in refused.content
            and "prompt" in refused.content
            and "blocked words" in refused.content
        )
        _, refused = await riff(fake, fake.member, "piano", negative_prompt="Gang sta")
        assert refused.ephemeral and "negative prompt" in refused.content
        assert "pattern #1" in refused.content
        _, fine = await riff(fake, fake.member, "drilling rain on a tin roof")  # whole words
        assert not fine.ephemeral
        await fake.wait_for_message(is_result, timeout=15)

        listed = await reply_to(fake, fake.admin, "admin patterns list")
        assert "1. `gang\\s*sta`" in listed.content
        await reply_to(fake, fake.admin, "admin patterns remove", {"number": 1})
        await reply_to(fake, fake.admin, "admin words remove", {"word": "drill"})
        _, allowed = await riff(fake, fake.member, "uk drill", negative_prompt="gangsta")
        assert not allowed.ephemeral


async def test_allowed_channels(fake_discord: FakeDiscord, bot_harness: BotHarness):
    fake = fake_discord
    music = fake.add_channel(fake.guild, "music")
    async with bot_harness.running(FakeRenderer()):
        added = await reply_to(fake, fake.admin, "admin channels add", {"channel": music})
        assert f"<#{music.id}>" in added.content
        _, refused = await riff(fake, fake.member, "jazz")
        assert refused.ephemeral and f"<#{music.id}>" in refused.content
        assert "allowed channels" in refused.content
        _, status = await riff(fake, fake.member, "jazz", channel=music)
        assert not status.ephemeral
        result = await fake.wait_for_message(is_result, timeout=15)
        assert result.channel_id == music.id
        # A button under an old result in another channel obeys the same rule.
        await reply_to(fake, fake.admin, "admin channels remove", {"channel": music})
        listed = await reply_to(fake, fake.admin, "admin channels list")
        assert "every channel" in listed.content


async def test_limits_steps_duration_clips_queued_and_daily(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    renderer = FakeRenderer()
    async with bot_harness.running(renderer):
        shown = await reply_to(
            fake,
            fake.admin,
            "admin limits",
            {
                "max_steps": 10,
                "max_duration": 8.0,
                "max_clips": 1,
                "queued_per_user": 1,
                "jobs_per_day": 2,
            },
        )
        assert "Limits updated" in shown.content and "**Maximum steps:** 10" in shown.content
        _, refused = await riff(fake, fake.member, "a", steps=20)
        assert "at most 10 steps" in refused.content and "would use 20" in refused.content
        _, refused = await riff(fake, fake.member, "a", duration=10.0)
        assert "up to 8 s" in refused.content and "maximum duration" in refused.content
        _, refused = await riff(fake, fake.member, "a", duration=7.0)
        assert "at most 1 clip" in refused.content and "needs 2" in refused.content

        renderer.gate.clear()
        _, first = await riff(fake, fake.member, "one")
        assert not first.ephemeral
        _, refused = await riff(fake, fake.member, "two")
        assert "allows 1 request at a time" in refused.content
        assert "queued jobs per user" in refused.content
        renderer.gate.set()
        await fake.wait_for_message(is_result, timeout=15)
        await fake.wait_until(lambda: "is ready" in first.content, what="first done")
        _, second = await riff(fake, fake.member, "two")
        assert not second.ephemeral
        await fake.wait_until(lambda: "is ready" in second.content, timeout=15, what="done")
        _, refused = await riff(fake, fake.member, "three")
        assert "all 2 of your requests for today" in refused.content
        assert "jobs per day" in refused.content and "<t:" in refused.content
        # Someone else still has their own allowance.
        _, other = await riff(fake, fake.admin, "admin's")
        assert not other.ephemeral
        await fake.wait_until(lambda: "is ready" in other.content, timeout=15, what="done")
        cleared = await reply_to(fake, fake.admin, "admin limits", {"jobs_per_day": 0})
        assert "**Jobs per user per day:** no limit" in cleared.content
        _, again = await riff(fake, fake.member, "three")
        assert not again.ephemeral
        await fake.wait_until(lambda: "is ready" in again.content, timeout=15, what="done")


async def test_pause_holds_queued_jobs_and_refuses_new_ones(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    renderer = FakeRenderer()
    renderer.gate.clear()
    async with bot_harness.running(renderer, MAX_BATCH_SIZE="1") as bot:
        _, running = await riff(fake, fake.member, "running one")
        await asyncio.to_thread(renderer.started.wait, 10)
        _, queued = await riff(fake, fake.member, "queued one")
        paused = await reply_to(fake, fake.admin, "admin pause")
        assert "paused" in paused.content
        _, refused = await riff(fake, fake.admin, "new one")
        assert refused.ephemeral and "paused" in refused.content
        renderer.gate.set()
        await fake.wait_until(lambda: "is ready" in running.content, timeout=15, what="runs on")
        await asyncio.sleep(0.5)
        assert "is ready" not in queued.content  # held while paused
        assert [b[0] for b in renderer.batches] == ["running one"]
        assert bot.queue.is_paused(fake.guild.id)
        await reply_to(fake, fake.admin, "admin resume")
        await fake.wait_until(lambda: "is ready" in queued.content, timeout=15, what="resumed")
    # The pause survives a restart (stored), and resume clears it.
    async with bot_harness.running(FakeRenderer()) as bot:
        assert not bot.queue.is_paused(fake.guild.id)
        await reply_to(fake, fake.admin, "admin pause")
    async with bot_harness.running(FakeRenderer()) as bot:
        assert bot.queue.is_paused(fake.guild.id)
        _, refused = await riff(fake, fake.member, "after restart")
        assert "paused" in refused.content


async def test_resync_forces_a_sync(fake_discord: FakeDiscord, bot_harness: BotHarness):
    fake = fake_discord
    async with bot_harness.running(FakeRenderer()):
        before = len(fake.command_syncs)
        done = await reply_to(fake, fake.admin, "admin sync")
        assert "Synced" in done.content
        assert len(fake.command_syncs) == before + 1


async def test_commands_work_in_dms_with_the_same_limits(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    async with bot_harness.running(FakeRenderer(), DISCORD_GUILD_ID="", MAX_JOBS_PER_DAY="1"):
        assert "riff" in fake.commands()  # global commands reach DMs
        with pytest.raises(PermissionError):
            await fake.slash(fake.admin, "admin show", dm=True)
        interaction = await fake.slash(fake.member, "riff", {"prompt": "dm jazz"}, dm=True)
        status = await fake.response_message(interaction)
        dm = fake.dm_channel(fake.member)
        result = await fake.wait_for_message(is_result, channel=dm, timeout=15)
        assert "dm jazz" in result.content
        await fake.wait_until(lambda: "is ready" in status.content, what="done")
        again = await fake.slash(fake.member, "riff", {"prompt": "more"}, dm=True)
        refused = await fake.response_message(again)
        assert "all 1 of your requests for today" in refused.content
        assert "the bot's setting" in refused.content


async def test_results_by_dm(fake_discord: FakeDiscord, bot_harness: BotHarness):
    fake = fake_discord
    async with bot_harness.running(FakeRenderer()):
        saved = await reply_to(fake, fake.member, "settings set", {"results_by_dm": True})
        assert saved.ephemeral and "Saved: Results by DM." in saved.content
        assert "**Results by DM:** yes" in saved.content
        await riff(fake, fake.member, "private jazz")
        dm = fake.dm_channel(fake.member)
        result = await fake.wait_for_message(is_result, channel=dm, timeout=15)
        assert "private jazz" in result.content
        assert not [m for m in fake.messages_in(fake.general) if is_result(m)]
        # DMs closed: the result falls back to the channel.
        fake.close_dms(fake.member)
        await riff(fake, fake.member, "closed dms")
        fallback = await fake.wait_for_message(
            lambda m: is_result(m) and "closed dms" in m.content, timeout=15
        )
        assert fallback.channel_id == fake.general.id


async def test_rule_lists_are_capped_and_an_existing_rule_is_not_added_twice(
    fake_discord: FakeDiscord, bot_harness: BotHarness, monkeypatch
):
    from bot.policy import prompt_filter

    # Read when the cog extension loads (discord.py executes it afresh on every start).
    monkeypatch.setattr(prompt_filter, "MAX_RULES", 2)
    fake = fake_discord
    async with bot_harness.running(FakeRenderer()):
        for word in ("drill", "grime", "drill"):
            added = await reply_to(fake, fake.admin, "admin words add", {"word": word})
        assert "(2 blocked word(s))" in added.content  # the repeat changed nothing
        full = await reply_to(fake, fake.admin, "admin words add", {"word": "trap"})
        assert "already 2 blocked words; remove one first" in full.content
        for pattern in ("a+b", "c+d"):
            await reply_to(fake, fake.admin, "admin patterns add", {"pattern": pattern})
        full = await reply_to(fake, fake.admin, "admin patterns add", {"pattern": "e+f"})
        assert "already 2 blocked patterns; remove one first" in full.content
        listed = await reply_to(fake, fake.admin, "admin words list", {})
        assert "trap" not in listed.content and "grime" in listed.content
