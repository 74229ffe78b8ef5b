"""The bot on two shards (SHARD_COUNT) over the fake Discord: each guild answered on its shard.

The fake sends a guild's events only on shard (guild_id >> 22) % shard_count (DMs on shard 0),
so a command answered in a guild of each shard shows that both connections work, and
``Interaction.shards`` says which connection the fake delivered it on.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest
from discord.ext import commands

from tests.fakediscord import FakeDiscord
from tests.fixtures.bot import BotHarness, FakeRenderer


@pytest.mark.fake_discord(recommended_shards=2)
@pytest.mark.parametrize("shard_count", ["2", "auto"])
async def test_each_guild_is_answered_through_its_own_shard(
    fake_discord: FakeDiscord,
    bot_harness: BotHarness,
    caplog: pytest.LogCaptureFixture,
    shard_count: str,
):
    fake = fake_discord
    guilds = [fake.add_guild(f"Shard {i}", owner=fake.admin, shard=(i, 2)) for i in range(2)]
    caplog.set_level(logging.INFO, logger="bot.app.client")
    # Global commands (no DISCORD_GUILD_ID): the same /about in every guild and in DMs.
    overrides = {"SHARD_COUNT": shard_count, "DISCORD_GUILD_ID": ""}
    async with bot_harness.running(FakeRenderer(), **overrides) as bot:
        assert isinstance(bot, commands.AutoShardedBot)
        assert bot.shard_count == 2 and sorted(bot.shards) == [0, 1]
        assert sorted(s.shard for s in fake.live_sessions()) == [(0, 2), (1, 2)]
        asked = [r for r in fake.requests if r.path == "/gateway/bot"]
        assert len(asked) == (1 if shard_count == "auto" else 0)

        for shard_id, guild in enumerate(guilds):
            known = bot.get_guild(guild.id)
            assert known is not None and known.shard_id == shard_id
            interaction = await fake.slash(fake.admin, "about", guild=guild)
            about = await fake.response_message(interaction, timeout=10)
            assert about.embeds[0]["title"] == "About this bot"
            assert interaction.shards == [(shard_id, 2)]

        dm = await fake.slash(fake.member, "about", dm=True)
        await fake.response_message(dm, timeout=10)
        assert dm.shards == [(0, 2)]
        assert len(bot.latencies) == 2
    assert bot_harness.exit_codes == [0]
    how = " (Discord's recommendation)" if shard_count == "auto" else ""
    assert f"Discord shards: this process runs 0, 1 of 2{how}" in caplog.messages


async def test_shard_ids_run_only_this_process_s_share(
    fake_discord: FakeDiscord, bot_harness: BotHarness, caplog: pytest.LogCaptureFixture
):
    """SHARD_IDS=1,3 of 4: two connections; a guild on another process's shard never reaches
    this one. (Settings refuse SHARD_IDS without the postgres queue, so they are set directly.)"""
    from bot.app.client import ShardedRiffusionBot, make_bot

    fake = fake_discord
    mine = fake.add_guild("Mine", owner=fake.admin, shard=(3, 4))
    other = fake.add_guild("Other", owner=fake.admin, shard=(0, 4))
    settings = dataclasses.replace(
        bot_harness.settings(DISCORD_GUILD_ID=""), shard_count=4, shard_ids=(1, 3)
    )
    bot = make_bot(settings, renderer=FakeRenderer(), guild_ready_timeout=0.05)
    assert isinstance(bot, ShardedRiffusionBot)
    bot.identify_interval_s = 0
    caplog.set_level(logging.INFO, logger="bot.app.client")
    async with fake.running(bot):
        assert sorted(s.shard for s in fake.live_sessions()) == [(1, 4), (3, 4)]
        assert bot.get_guild(mine.id) is not None and bot.get_guild(other.id) is None
        answered = await fake.slash(fake.admin, "help", guild=mine)
        await fake.response_message(answered)
        assert answered.shards == [(3, 4)]
        elsewhere = await fake.slash(fake.admin, "help", guild=other)
        assert elsewhere.shards == []  # another process's shard: nobody here hears it
    assert "Discord shards: this process runs 1, 3 of 4" in caplog.messages


async def test_without_shard_count_the_bot_stays_one_plain_client(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    async with bot_harness.running(FakeRenderer()) as bot:
        assert not isinstance(bot, commands.AutoShardedBot)
        assert [s.shard for s in fake.live_sessions()] == [(0, 1)]
        interaction = await fake.slash(fake.member, "help")
        await fake.response_message(interaction)
        assert interaction.shards == [(0, 1)]
    assert not any(r.path == "/gateway/bot" for r in fake.requests)
