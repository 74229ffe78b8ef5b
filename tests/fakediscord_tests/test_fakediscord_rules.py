"""Discord rules the fake enforces: error codes, limits, intents, resume, the log guard."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord.ext import commands

from tests.fakediscord import FakeDiscord, Interaction, Perm, discord_py_endpoints
from tests.fixtures.discord import ErrorCollector


class ProbeBot(commands.Bot):
    """Commands that provoke each error so the test can see what discord.py raised."""

    def __init__(self, guild_id: int, *, intents: discord.Intents | None = None) -> None:
        super().__init__(
            command_prefix="!",
            intents=intents or discord.Intents.default(),
            guild_ready_timeout=0.05,
        )
        self.guild_id = guild_id
        self.errors: list[discord.HTTPException] = []
        self.seen: list[discord.Message] = []
        self.release = asyncio.Event()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py sleeps 5 s before every non-initial IDENTIFY; tests need not."""

    async def setup_hook(self) -> None:
        @self.tree.command(description="Answer (maybe too late)")
        async def answer(interaction: discord.Interaction) -> None:
            try:
                await interaction.response.send_message("on time")
            except discord.HTTPException as exc:
                self.errors.append(exc)

        @self.tree.command(description="Defer, wait, then post the result")
        async def later(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await self.release.wait()
            try:
                await interaction.followup.send("result")
            except discord.HTTPException as exc:
                self.errors.append(exc)
                assert isinstance(interaction.channel, discord.TextChannel)
                await interaction.channel.send(f"{interaction.user.mention} result")

        @self.tree.command(description="Send something Discord refuses")
        async def bad(interaction: discord.Interaction, kind: str) -> None:
            await interaction.response.defer(ephemeral=True)
            channel = interaction.channel
            assert isinstance(channel, discord.TextChannel)
            files = {
                "files": [discord.File(io.BytesIO(b"x"), f"{i}.txt") for i in range(11)],
                "big": [discord.File(io.BytesIO(b"x" * 2048), "big.bin")],
            }.get(kind, [])
            try:
                if kind == "long":
                    await channel.send("x" * 2001)
                else:
                    await channel.send("files", files=files)
            except discord.HTTPException as exc:
                self.errors.append(exc)
            await interaction.followup.send("done", ephemeral=True)

        @self.tree.command(description="Send two files, then keep one")
        async def trim(interaction: discord.Interaction) -> None:
            await interaction.response.send_message(
                "two",
                files=[
                    discord.File(io.BytesIO(b"one"), "1.txt"),
                    discord.File(io.BytesIO(b"two"), "2.txt"),
                ],
            )
            original = await interaction.original_response()
            await interaction.edit_original_response(
                content="one",
                attachments=[original.attachments[0], discord.File(io.BytesIO(b"new"), "3.txt")],
            )

        @self.tree.context_menu(name="Profile")
        async def profile(interaction: discord.Interaction, user: discord.Member) -> None:
            await interaction.response.send_message(
                f"{user.display_name} can manage: {user.guild_permissions.manage_guild}"
            )

        @self.tree.command(description="Fail loudly")
        async def boom(interaction: discord.Interaction) -> None:
            raise RuntimeError("handler bug")

        guild = discord.Object(self.guild_id)
        self.tree.copy_global_to(guild=guild)
        await self.tree.sync(guild=guild)

    async def on_message(self, message: discord.Message) -> None:
        if message.author != self.user:
            self.seen.append(message)


@pytest.fixture
async def probe(fake_discord: FakeDiscord) -> AsyncIterator[ProbeBot]:
    async with fake_discord.running(ProbeBot(fake_discord.guild.id)) as client:
        yield client


async def raw(fake: FakeDiscord, method: str, path: str, **kwargs: Any) -> tuple[int, str, Any]:
    """A bare HTTP call with the bot token: status, Content-Type header, JSON body."""
    headers = {"Authorization": f"Bot {fake.token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, fake.api_base + path, headers=headers, **kwargs) as resp,
    ):
        body = await resp.json(content_type=None) if resp.status != 204 else None
        return resp.status, resp.headers.get("Content-Type", ""), body


async def test_json_content_type_is_exact_and_auth_checked(fake_discord: FakeDiscord) -> None:
    status, content_type, body = await raw(fake_discord, "GET", "/users/@me")
    assert (status, content_type) == (200, "application/json")
    assert body["id"] == str(fake_discord.bot_user.id)
    async with (
        aiohttp.ClientSession() as http,
        http.get(fake_discord.api_base + "/users/@me") as resp,
    ):
        assert resp.status == 401


async def test_double_ack_and_late_ack(fake_discord: FakeDiscord, probe: ProbeBot) -> None:
    first = await fake_discord.slash(fake_discord.member, "answer")
    await fake_discord.response_message(first)
    status, _, body = await raw(
        fake_discord,
        "POST",
        f"/interactions/{first.id}/{first.token}/callback",
        json={"type": 4, "data": {"content": "again"}},
    )
    assert (status, body["code"]) == (400, 40060)

    fake_discord.ack_timeout = -1.0  # every answer is now later than Discord's 3 s
    late = await fake_discord.slash(fake_discord.member, "answer")
    await fake_discord.wait_until(lambda: probe.errors, what="bot error")
    assert isinstance(probe.errors[0], discord.NotFound) and probe.errors[0].code == 10062
    assert late.response is None


async def test_expired_token_forces_channel_send(
    fake_discord: FakeDiscord, probe: ProbeBot
) -> None:
    interaction = await fake_discord.slash(fake_discord.member, "later")
    assert (await fake_discord.interaction_response(interaction)).type == 5
    fake_discord.expire_token(interaction)
    probe.release.set()
    message = await fake_discord.wait_for_message(lambda m: m.webhook_id is None)
    assert [e.code for e in probe.errors] == [50027]
    assert message.content == f"{fake_discord.member.mention} result"
    assert message.mentions == [fake_discord.member]


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("long", 400, 50035),
        ("files", 400, 50035),
        ("big", 413, 40005),
    ],
)
async def test_message_limits(
    fake_discord: FakeDiscord, probe: ProbeBot, kind: str, status: int, code: int
) -> None:
    fake_discord.limits.upload_limit = 1024
    interaction = await fake_discord.slash(fake_discord.member, "bad", {"kind": kind})
    await fake_discord.response_message(interaction)
    assert [(e.status, e.code) for e in probe.errors] == [(status, code)]
    assert fake_discord.messages_in(fake_discord.general) == []


async def test_component_and_lookup_rules(fake_discord: FakeDiscord) -> None:
    path = f"/channels/{fake_discord.general.id}/messages"
    button: dict[str, Any] = {"type": 2, "style": 1, "label": "x", "custom_id": "x" * 101}
    status, _, body = await raw(
        fake_discord,
        "POST",
        path,
        json={"content": "c", "components": [{"type": 1, "components": [button]}]},
    )
    assert (status, body["code"]) == (400, 50035)
    assert "custom_id" in str(body["errors"])
    rows = [{"type": 1, "components": [{**button, "custom_id": f"b{i}"}]} for i in range(6)]
    status, _, body = await raw(
        fake_discord, "POST", path, json={"content": "c", "components": rows}
    )
    assert (status, body["code"]) == (400, 50035)
    six = [{**button, "custom_id": f"c{i}"} for i in range(6)]
    status, _, body = await raw(
        fake_discord,
        "POST",
        path,
        json={"content": "c", "components": [{"type": 1, "components": six}]},
    )
    assert status == 400
    status, _, body = await raw(fake_discord, "GET", f"{path}/123")
    assert (status, body["code"]) == (404, 10008)
    status, _, body = await raw(fake_discord, "POST", path, json={"content": ""})
    assert (status, body["code"]) == (400, 50006)


async def test_edit_keeps_listed_attachments(fake_discord: FakeDiscord, probe: ProbeBot) -> None:
    interaction = await fake_discord.slash(fake_discord.member, "trim")
    message = await fake_discord.wait_for_edit(await fake_discord.response_message(interaction))
    assert message.content == "one"
    assert message.files == {"1.txt": b"one", "3.txt": b"new"}
    assert [a.filename for a in message.edits[0].new_files] == ["3.txt"]


async def test_message_content_intent_rules(fake_discord: FakeDiscord, probe: ProbeBot) -> None:
    member = fake_discord.member
    await fake_discord.user_message(member, content="plain", attachments=[("a.wav", b"1")])
    await fake_discord.user_message(member, content="hey bot", mentions_bot=True)
    await fake_discord.user_message(member, fake_discord.dm_channel(member), "in a dm")
    await fake_discord.wait_until(lambda: len(probe.seen) == 3, what="three messages")
    plain, mention, dm = probe.seen
    assert (plain.content, plain.attachments) == ("", [])
    assert mention.content.endswith("hey bot") and probe.user in mention.mentions
    assert dm.content == "in a dm" and dm.guild is None


async def test_reply_to_bot_message_counts_as_mention(
    fake_discord: FakeDiscord, probe: ProbeBot
) -> None:
    channel = probe.get_channel(fake_discord.general.id)
    assert isinstance(channel, discord.TextChannel)
    await channel.send("a regular result")
    result = await fake_discord.wait_for_message()
    await fake_discord.user_message(
        fake_discord.member, content="remix this", attachments=[("x.wav", b"12")], reply_to=result
    )
    await fake_discord.user_message(
        fake_discord.member, content="quiet reply", reply_to=result, ping_on_reply=False
    )
    await fake_discord.wait_until(lambda: len(probe.seen) == 2, what="two replies")
    pinged, quiet = probe.seen
    assert pinged.content == "remix this" and pinged.attachments[0].filename == "x.wav"
    assert pinged.reference is not None and pinged.reference.message_id == result.id
    assert quiet.content == ""


async def test_with_message_content_intent(fake_discord: FakeDiscord) -> None:
    intents = discord.Intents.default()
    intents.message_content = True
    async with fake_discord.running(ProbeBot(fake_discord.guild.id, intents=intents)) as bot:
        await fake_discord.user_message(fake_discord.member, content="visible")
        await fake_discord.wait_until(lambda: bot.seen, what="message")
        assert bot.seen[0].content == "visible"


async def test_resume_after_reconnect_request(fake_discord: FakeDiscord, probe: ProbeBot) -> None:
    session = await fake_discord.wait_for_bot()
    await fake_discord.force_reconnect()
    await fake_discord.user_message(fake_discord.member, content="while away", mentions_bot=True)
    await fake_discord.wait_until(lambda: session.resumes == 1, what="resume")
    await fake_discord.wait_until(lambda: probe.seen, what="replayed message")
    assert probe.seen[0].content.endswith("while away")
    assert [c.resumed for c in fake_discord.gateway.connections] == [False, True]
    assert probe.latency < 1.0


async def test_invalid_session_leads_to_fresh_identify(
    fake_discord: FakeDiscord, probe: ProbeBot
) -> None:
    first = await fake_discord.wait_for_bot()
    await fake_discord.invalidate_session()
    second = await fake_discord.wait_until(
        lambda: next((s for s in fake_discord.live_sessions() if s is not first), None),
        what="new session",
    )
    interaction = await fake_discord.slash(fake_discord.member, "answer")
    assert (await fake_discord.response_message(interaction)).content == "on time"
    assert second.id != first.id


async def test_wait_for_message_returns_each_message_once(
    fake_discord: FakeDiscord, probe: ProbeBot
) -> None:
    answers: list[Interaction] = [
        await fake_discord.slash(fake_discord.member, "answer") for _ in range(2)
    ]
    one = await fake_discord.wait_for_message()
    two = await fake_discord.wait_for_message()
    assert one is not two and {one.id, two.id} == {a.original.id for a in answers if a.original}
    with pytest.raises(TimeoutError):
        await fake_discord.wait_for_message(timeout=0.2)


async def test_channel_overwrites_reach_the_bot(fake_discord: FakeDiscord, probe: ProbeBot) -> None:
    quiet = fake_discord.add_channel(fake_discord.guild, "quiet")
    fake_discord.forbid_bot(quiet, Perm.SEND_MESSAGES | Perm.ATTACH_FILES)
    await fake_discord.flush()
    channel = probe.get_channel(quiet.id)
    assert isinstance(channel, discord.TextChannel)
    perms = channel.permissions_for(channel.guild.me)
    assert not perms.send_messages and perms.view_channel
    with pytest.raises(discord.Forbidden) as caught:
        await channel.send("nope")
    assert caught.value.code == 50013


@pytest.mark.allow_discord_errors
async def test_log_guard_collects_handler_errors(
    fake_discord: FakeDiscord, probe: ProbeBot, discord_errors: ErrorCollector
) -> None:
    await fake_discord.slash(fake_discord.member, "boom")
    await fake_discord.wait_until(lambda: discord_errors.records, what="logged error")
    assert "Ignoring exception in command 'boom'" in discord_errors.records[0].getMessage()


class ChoresBot(ProbeBot):
    """Reactions, typing, deleting its own results and plain followups."""

    def __init__(self, guild_id: int) -> None:
        intents = discord.Intents.default()
        super().__init__(guild_id, intents=intents)
        self.reactions: list[tuple[str, int]] = []

    async def setup_hook(self) -> None:
        @self.tree.command(description="Post, star, then tidy up")
        async def chores(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("working")
            await interaction.followup.send("extra")
            channel = interaction.channel
            assert isinstance(channel, discord.TextChannel)
            async with channel.typing():
                message = await channel.send("result")
            await message.add_reaction("⭐")
            await interaction.delete_original_response()

        await super().setup_hook()

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if payload.user_id != self.user.id:  # type: ignore[union-attr]
            self.reactions.append((str(payload.emoji), payload.user_id))


async def test_reactions_typing_followups_and_deletes(fake_discord: FakeDiscord) -> None:
    async with fake_discord.running(ChoresBot(fake_discord.guild.id)) as bot:
        interaction = await fake_discord.slash(fake_discord.member, "chores")
        extra = await fake_discord.wait_for_followup(interaction)
        assert extra.content == "extra" and extra is not interaction.original
        result = await fake_discord.wait_for_message(lambda m: m.content == "result")
        await fake_discord.wait_until(lambda: result.reactions, what="bot reaction")
        assert result.reactions == {"⭐": [fake_discord.bot_user.id]}
        assert [c for _, c in fake_discord.typing] == [fake_discord.general.id]
        assert interaction.original is not None
        await fake_discord.wait_for_deletion(interaction.original)
        await fake_discord.react(fake_discord.member, result, "⭐")
        await fake_discord.wait_until(lambda: bot.reactions, what="reaction event")
        assert bot.reactions == [("⭐", fake_discord.member.id)]
        assert [m.content for m in fake_discord.messages_in(fake_discord.general)] == [
            "extra",
            "result",
        ]


def test_endpoint_values_for_discord_py() -> None:
    base, gateway = discord_py_endpoints(
        "http://127.0.0.1:5/api/v10/", "ws://127.0.0.1:5/gateway/?v=9"
    )
    assert base == "http://127.0.0.1:5/api/v10"
    assert str(gateway.with_query(v=10, encoding="json")) == (
        "ws://127.0.0.1:5/gateway?v=10&encoding=json"
    )


async def test_env_and_history(fake_discord: FakeDiscord, probe: ProbeBot) -> None:
    assert fake_discord.env()["DISCORD_API_BASE"] == fake_discord.api_base
    assert fake_discord.api_base == discord.http.Route.BASE
    for text in ("one", "two", "three"):
        await fake_discord.user_message(fake_discord.member, content=text)
    channel = probe.get_channel(fake_discord.general.id)
    assert isinstance(channel, discord.TextChannel)
    history = [m.id async for m in channel.history(limit=2)]
    assert history == [m.id for m in fake_discord.messages_in(fake_discord.general)][::-1][:2]
    fake_discord.set_permissions(fake_discord.general, fake_discord.member, deny=Perm.SEND_MESSAGES)
    with pytest.raises(PermissionError):
        await fake_discord.user_message(fake_discord.member, content="muted")


async def test_user_command(fake_discord: FakeDiscord, probe: ProbeBot) -> None:
    interaction = await fake_discord.user_command(
        fake_discord.admin, "Profile", fake_discord.member
    )
    message = await fake_discord.response_message(interaction)
    assert message.content == "admin can manage: True"
