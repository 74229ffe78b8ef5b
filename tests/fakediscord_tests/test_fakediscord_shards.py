"""Sharding in the fake: GET /gateway/bot, one session per shard, events on the guild's shard.

Driven by discord.py's own AutoShardedClient (not the project's bot): each shard IDENTIFYs with
``shard: [id, count]`` and must get READY and GUILD_CREATE for its guilds only, and every event
about a guild (messages, interactions, world changes) on that guild's shard; DMs on shard 0.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import discord
import pytest

from tests.fakediscord import FakeDiscord
from tests.fakediscord.gateway import Session


class ShardedProbe(discord.AutoShardedClient):
    def __init__(self, **options: Any) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05, **options)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py sleeps 5 s before every IDENTIFY after the first; the fake need not."""


def events(session: Session, name: str) -> list[dict[str, Any]]:
    """The payloads of ``name`` events sent to ``session`` (its resume buffer)."""
    return [frame["d"] for frame in session.buffer if frame["t"] == name]


def by_shard(fake: FakeDiscord) -> dict[int, Session]:
    return {s.shard[0]: s for s in fake.live_sessions()}


@pytest.mark.fake_discord(recommended_shards=2)
async def test_auto_sharded_client_gets_each_guild_on_its_shard(fake_discord: FakeDiscord):
    fake = fake_discord
    zero = fake.add_guild("Zero", owner=fake.admin, shard=(0, 2))
    one = fake.add_guild("One", owner=fake.admin, shard=(1, 2))
    probe = ShardedProbe()  # shard_count None: asks GET /gateway/bot
    async with fake.running(probe):
        assert any(r.path == "/gateway/bot" for r in fake.requests)
        assert probe.shard_count == 2
        sessions = by_shard(fake)
        assert {s.shard for s in sessions.values()} == {(0, 2), (1, 2)}
        for shard_id, session in sessions.items():
            ready = events(session, "READY")[0]
            assert ready["shard"] == [shard_id, 2]
            ready_ids = {int(g["id"]) for g in ready["guilds"]}
            created = {int(g["id"]) for g in events(session, "GUILD_CREATE")}
            assert (
                ready_ids == created == {g for g in fake.state.guilds if (g >> 22) % 2 == shard_id}
            )
        assert {g.id: g.shard_id for g in probe.guilds if g.id in (zero.id, one.id)} == {
            zero.id: 0,
            one.id: 1,
        }

        later = fake.add_guild("Later", owner=fake.admin, shard=(1, 2))
        await fake.flush()  # GUILD_CREATE (and its role/member events) to shard 1 only
        assert later.id in {int(g["id"]) for g in events(sessions[1], "GUILD_CREATE")}
        assert later.id not in {int(g["id"]) for g in events(sessions[0], "GUILD_CREATE")}
        assert probe.get_guild(later.id) is not None

        for guild, shard_id in ((zero, 0), (one, 1)):
            assert guild.general is not None
            message = await fake.user_message(fake.admin, guild.general, "hello")
            got = {i for i, s in sessions.items() if message.id in message_ids(s)}
            assert got == {shard_id}
        dm = await fake.user_message(fake.member, fake.dm_channel(fake.member), "psst")
        assert {i for i, s in sessions.items() if dm.id in message_ids(s)} == {0}


def message_ids(session: Session) -> set[int]:
    return {int(m["id"]) for m in events(session, "MESSAGE_CREATE")}


async def test_gateway_bot_says_how_many_shards_to_run(fake_discord: FakeDiscord):
    fake = fake_discord
    fake.recommended_shards = 3
    headers = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{fake.api_base}/gateway/bot") as response:
            body = await response.json()
        async with http.get(f"{fake.api_base}/gateway") as response:
            plain = await response.json()
    assert body["url"] == plain["url"] == fake.gateway_url
    assert body["shards"] == 3
    assert body["session_start_limit"]["max_concurrency"] == 1
    assert "shards" not in plain


@pytest.mark.parametrize("shard", [[2, 2], [0, 0], [-1, 2], "0,1"])
async def test_an_impossible_shard_is_closed_with_4010(fake_discord: FakeDiscord, shard: object):
    fake = fake_discord
    async with aiohttp.ClientSession() as http, http.ws_connect(fake.gateway_url) as ws:
        hello = json.loads((await ws.receive()).data)
        assert hello["op"] == 10
        identify = {"token": fake.token, "intents": 0, "properties": {}, "shard": shard}
        await ws.send_str(json.dumps({"op": 2, "d": identify}))
        closed = await ws.receive()
        assert closed.type == aiohttp.WSMsgType.CLOSE and closed.data == 4010
    conn = fake.gateway.connections[-1]
    await fake.wait_until(lambda: conn.close_code is not None, what="the close recorded")
    assert conn.close_code == 4010
    assert fake.gateway.sessions == {}
