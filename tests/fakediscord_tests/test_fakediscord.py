"""The fake Discord driven by the real discord.py client and a small bot defined here."""

from __future__ import annotations

import asyncio
import io
import itertools
import re
import time
from collections.abc import AsyncIterator

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakediscord import FakeDiscord, Perm

AUDIO = b"ID3\x04fake-mp3-bytes" + bytes(range(256)) * 40


class RerollButton(discord.ui.DynamicItem[discord.ui.Button], template=r"riff:reroll:(?P<id>\d+)"):
    """A persistent button: rebuilt from its custom_id on any click, even after a restart."""

    def __init__(self, gen_id: int) -> None:
        super().__init__(discord.ui.Button(label="Reroll", custom_id=f"riff:reroll:{gen_id}"))
        self.gen_id = gen_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> RerollButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"rerolling {self.gen_id}", ephemeral=True)


class PromptModal(discord.ui.Modal, title="Remix"):
    prompt = discord.ui.TextInput(label="Prompt", custom_id="remix:prompt")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"remixing with {self.prompt.value}")


class UploadModal(discord.ui.Modal, title="Upload a loop"):
    loop = discord.ui.Label(text="Your loop", component=discord.ui.FileUpload(custom_id="up:file"))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        assert isinstance(self.loop.component, discord.ui.FileUpload)
        attachment = self.loop.component.values[0]
        data = await attachment.read()
        await interaction.response.send_message(f"got {attachment.filename} ({len(data)} bytes)")


class StyleSelect(discord.ui.View):
    """A persistent select menu (timeout=None + fixed custom_id, registered with add_view)."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.select(
        custom_id="riff:style",
        options=[
            discord.SelectOption(label="Jazz", value="jazz"),
            discord.SelectOption(label="Techno", value="techno"),
        ],
    )
    async def style(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
        await interaction.response.edit_message(content=f"style: {select.values[0]}")


class MiniBot(commands.Bot):
    """Not the project's bot: just enough commands to exercise every fake endpoint."""

    def __init__(self, guild_id: int | None = None, **kwargs: object) -> None:
        super().__init__(
            command_prefix="!",
            intents=discord.Intents.default(),
            guild_ready_timeout=0.05,
            **kwargs,
        )
        self.guild_id = guild_id
        self.seen_messages: list[discord.Message] = []
        self.forbidden: list[discord.Forbidden] = []

    async def setup_hook(self) -> None:
        self.add_dynamic_items(RerollButton)

        @self.tree.command(description="Make a riff")
        @app_commands.describe(prompt="what to play", seconds="length")
        async def riff(
            interaction: discord.Interaction, prompt: str, seconds: int = 5, loud: bool = False
        ) -> None:
            await interaction.response.send_message(f"queued {prompt} for {seconds}s loud={loud}")

        @self.tree.command(description="Render with a file")
        async def render(interaction: discord.Interaction, prompt: str) -> None:
            await interaction.response.defer(thinking=True)
            view = discord.ui.View(timeout=None)
            view.add_item(RerollButton(7))
            await interaction.followup.send(
                f"done: {prompt}", file=discord.File(io.BytesIO(AUDIO), "riff.mp3"), view=view
            )

        @self.tree.command(description="Post into a channel")
        async def post(interaction: discord.Interaction, where: discord.TextChannel) -> None:
            await interaction.response.defer(ephemeral=True)
            try:
                channel = self.get_channel(where.id)
                await channel.send("hello", file=discord.File(io.BytesIO(AUDIO), "a.mp3"))
            except discord.Forbidden as exc:
                self.forbidden.append(exc)
                await interaction.followup.send("I may not post there.", ephemeral=True)
            else:
                await interaction.followup.send("posted", ephemeral=True)

        @self.tree.command(description="DM me")
        async def dm(interaction: discord.Interaction) -> None:
            await interaction.user.send("a private riff")
            await interaction.response.send_message("sent", ephemeral=True)

        @self.tree.command(description="Open the remix form")
        async def form(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(PromptModal())

        @self.tree.context_menu(name="Remix with Riffusion")
        async def remix(interaction: discord.Interaction, message: discord.Message) -> None:
            names = ",".join(a.filename for a in message.attachments)
            data = await message.attachments[0].read() if message.attachments else b""
            await interaction.response.send_message(f"remix of {names} ({len(data)} bytes)")

        @self.tree.command(description="Remix an uploaded file")
        async def remixfile(interaction: discord.Interaction, file: discord.Attachment) -> None:
            data = await file.read()
            await interaction.response.send_message(f"{file.filename}: {len(data)} bytes")

        @self.tree.command(description="Upload through a form")
        async def upload(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(UploadModal())

        @self.tree.command(description="Pick a style")
        @app_commands.guild_only()
        async def pick(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("style: ?", view=StyleSelect())

        @self.tree.command(description="Admins only")
        @app_commands.default_permissions(manage_guild=True)
        async def admin(interaction: discord.Interaction) -> None:
            perms = interaction.permissions
            await interaction.response.send_message(f"manage_guild={perms.manage_guild}")

        @self.tree.command(description="Choose a mood")
        async def mood(interaction: discord.Interaction, style: str) -> None:
            await interaction.response.send_message(style)

        @mood.autocomplete("style")
        async def mood_style(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            return [
                app_commands.Choice(name=s, value=s)
                for s in ("jazz", "jungle", "techno")
                if s.startswith(current)
            ]

        @self.tree.command(description="Say hello anywhere")
        @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
        async def hello(interaction: discord.Interaction) -> None:
            where = "dm" if interaction.guild_id is None else "guild"
            await interaction.response.send_message(f"hello from {where}")

        self.add_view(StyleSelect())
        if self.guild_id is None:
            await self.tree.sync()
        else:
            guild = discord.Object(self.guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)

    async def on_message(self, message: discord.Message) -> None:
        if message.author != self.user:
            self.seen_messages.append(message)


@pytest.fixture
async def bot(fake_discord: FakeDiscord) -> AsyncIterator[MiniBot]:
    async with fake_discord.running(MiniBot(guild_id=fake_discord.guild.id)) as client:
        yield client


async def test_startup_calls_and_guild_sync(fake_discord: FakeDiscord, bot: MiniBot) -> None:
    calls = [(r.method, r.path) for r in fake_discord.requests]
    assert calls[:2] == [("GET", "/users/@me"), ("GET", "/oauth2/applications/@me")]
    assert (
        "PUT",
        f"/applications/{fake_discord.application_id}/guilds/{fake_discord.guild.id}/commands",
    ) in calls
    assert len(fake_discord.command_syncs) == 1
    synced = fake_discord.commands(fake_discord.guild)
    assert {"riff", "render", "form", "Remix with Riffusion"} <= set(synced)
    assert fake_discord.commands() == {}  # nothing global
    assert bot.user is not None and bot.user.id == fake_discord.bot_user.id
    assert bot.get_guild(fake_discord.guild.id) is not None
    conn = fake_discord.gateway.connections[0]
    assert conn.query["v"] == "10" and conn.query["encoding"] == "json"


async def test_slash_command_with_typed_options(fake_discord: FakeDiscord, bot: MiniBot) -> None:
    interaction = await fake_discord.slash(
        fake_discord.member, "riff", {"prompt": "jazz", "seconds": 8, "loud": True}
    )
    response = await fake_discord.interaction_response(interaction)
    assert response.type == 4
    message = await fake_discord.response_message(interaction)
    assert message.content == "queued jazz for 8s loud=True"
    assert message in fake_discord.messages_in(fake_discord.general)


async def test_defer_then_followup_with_file_and_persistent_button(
    fake_discord: FakeDiscord, bot: MiniBot
) -> None:
    interaction = await fake_discord.slash(fake_discord.member, "render", {"prompt": "lofi"})
    assert (await fake_discord.interaction_response(interaction)).type == 5
    message = await fake_discord.response_message(interaction)
    assert message is interaction.original  # the first followup filled the "thinking" message
    assert message.content == "done: lofi"
    assert message.files == {"riff.mp3": AUDIO}
    assert message.attachments[0].content_type == "audio/mpeg"
    assert message.custom_ids() == ["riff:reroll:7"]

    click = await fake_discord.click(message, "riff:reroll:7", fake_discord.admin)
    answer = await fake_discord.response_message(click)
    assert answer.content == "rerolling 7" and answer.ephemeral


async def test_channel_send_with_file_and_cdn(fake_discord: FakeDiscord, bot: MiniBot) -> None:
    music = fake_discord.add_channel(fake_discord.guild, "music")
    await fake_discord.slash(fake_discord.member, "post", {"where": music})
    posted = await fake_discord.wait_for_message(channel=music)
    assert posted.content == "hello" and posted.files == {"a.mp3": AUDIO}
    assert posted.interaction_metadata is None and posted.webhook_id is None
    async with aiohttp.ClientSession() as http, http.get(posted.attachments[0].url) as resp:
        assert await resp.read() == AUDIO


async def test_missing_send_permission_is_forbidden(
    fake_discord: FakeDiscord, bot: MiniBot
) -> None:
    closed = fake_discord.add_channel(fake_discord.guild, "announcements")
    fake_discord.forbid_bot(closed)
    interaction = await fake_discord.slash(fake_discord.member, "post", {"where": closed})
    reply = await fake_discord.wait_for_message(lambda m: m.ephemeral)
    assert reply.content == "I may not post there."
    assert reply is interaction.original
    assert [e.code for e in bot.forbidden] == [50013]
    assert fake_discord.messages_in(closed) == []


async def test_dm_to_user(fake_discord: FakeDiscord, bot: MiniBot) -> None:
    interaction = await fake_discord.slash(fake_discord.member, "dm")
    dm = await fake_discord.wait_for_message(channel=fake_discord.dm_channel(fake_discord.member))
    assert dm.content == "a private riff" and dm.guild_id is None
    assert (await fake_discord.response_message(interaction)).content == "sent"


@pytest.mark.fake_discord(heartbeat_interval_ms=500)
async def test_heartbeats_keep_flowing(fake_discord: FakeDiscord, bot: MiniBot) -> None:
    before = len(fake_discord.heartbeats)
    start = time.monotonic()
    await asyncio.sleep(1.6)
    beats = fake_discord.heartbeats[before:]
    assert len(beats) >= 2
    assert all(b.at > a.at for a, b in itertools.pairwise(beats))
    assert fake_discord.max_heartbeat_gap(since=start) < 1.0

    blocked = time.monotonic()
    time.sleep(1.2)  # what a model run on the event loop would do
    await asyncio.sleep(0.6)
    assert fake_discord.max_heartbeat_gap(since=blocked) >= 1.2


async def test_message_command_reads_target_attachment(
    fake_discord: FakeDiscord, bot: MiniBot
) -> None:
    upload = await fake_discord.user_message(
        fake_discord.member, content="my loop", attachments=[("loop.wav", b"RIFF....WAVE")]
    )
    interaction = await fake_discord.message_command(
        upload, "Remix with Riffusion", fake_discord.member
    )
    message = await fake_discord.response_message(interaction)
    assert message.content == "remix of loop.wav (12 bytes)"


async def test_modal_submit(fake_discord: FakeDiscord, bot: MiniBot) -> None:
    opened = await fake_discord.slash(fake_discord.member, "form")
    assert (await fake_discord.interaction_response(opened)).type == 9
    assert opened.modal is not None and opened.modal["title"] == "Remix"
    submitted = await fake_discord.submit_modal(opened, {"remix:prompt": "dub techno"})
    message = await fake_discord.response_message(submitted)
    assert message.content == "remixing with dub techno"


async def test_second_client_after_restart(fake_discord: FakeDiscord, bot: MiniBot) -> None:
    rendered = await fake_discord.slash(fake_discord.member, "render", {"prompt": "x"})
    old_result = await fake_discord.response_message(rendered)
    await bot.close()
    async with fake_discord.running(MiniBot(guild_id=fake_discord.guild.id)) as second:
        assert second.is_ready()
        # The persistent DynamicItem button still works on the message from before.
        click = await fake_discord.click(old_result, "riff:reroll:7", fake_discord.member)
        assert (await fake_discord.response_message(click)).content == "rerolling 7"
        message = await fake_discord.user_message(fake_discord.member, content="hi")
        clicked = await fake_discord.slash(fake_discord.admin, "riff", {"prompt": "after"})
        assert (await fake_discord.response_message(clicked)).content.startswith("queued after")
        await fake_discord.wait_until(lambda: second.seen_messages, what="on_message")
        # Without the message_content intent a guild message arrives blank.
        assert second.seen_messages[0].id == message.id
        assert second.seen_messages[0].content == ""
    identified = [c for c in fake_discord.gateway.connections if c.session_id]
    assert len({c.session_id for c in identified}) == 2


async def test_attachment_option_is_resolved(fake_discord: FakeDiscord, bot: MiniBot) -> None:
    interaction = await fake_discord.slash(
        fake_discord.member, "remixfile", {"file": ("in.wav", b"RIFF1234", "audio/wav")}
    )
    assert "attachments" in interaction.payload["data"]["resolved"]
    assert (await fake_discord.response_message(interaction)).content == "in.wav: 8 bytes"


async def test_modal_with_file_upload(fake_discord: FakeDiscord, bot: MiniBot) -> None:
    opened = await fake_discord.slash(fake_discord.member, "upload")
    await fake_discord.interaction_response(opened)
    submitted = await fake_discord.submit_modal(opened, {"up:file": [("loop.mp3", AUDIO)]})
    message = await fake_discord.response_message(submitted)
    assert message.content == f"got loop.mp3 ({len(AUDIO)} bytes)"


async def test_select_menu_updates_message(fake_discord: FakeDiscord, bot: MiniBot) -> None:
    opened = await fake_discord.slash(fake_discord.member, "pick")
    message = await fake_discord.response_message(opened)
    with pytest.raises(ValueError, match="not options"):
        await fake_discord.click(message, "riff:style", fake_discord.member, values=["polka"])
    click = await fake_discord.click(message, "riff:style", fake_discord.member, values=["techno"])
    assert (await fake_discord.interaction_response(click)).type == 7
    assert message.content == "style: techno" and len(message.edits) == 1


async def test_autocomplete(fake_discord: FakeDiscord, bot: MiniBot) -> None:
    typing = await fake_discord.autocomplete(
        fake_discord.member, "mood", {"style": "j"}, focused="style"
    )
    assert (await fake_discord.interaction_response(typing)).type == 8
    assert [c["value"] for c in typing.choices or []] == ["jazz", "jungle"]


async def test_default_member_permissions(fake_discord: FakeDiscord, bot: MiniBot) -> None:
    with pytest.raises(PermissionError):
        await fake_discord.slash(fake_discord.member, "admin")
    moderator = fake_discord.add_user("moderator")
    fake_discord.add_member(
        fake_discord.guild, moderator, permissions=Perm.MANAGE_GUILD | Perm.VIEW_CHANNEL
    )
    interaction = await fake_discord.slash(moderator, "admin")
    assert (await fake_discord.response_message(interaction)).content == "manage_guild=True"
    with pytest.raises(LookupError, match="not synced"):
        await fake_discord.slash(fake_discord.member, "nonexistent")


async def test_global_command_in_dm(fake_discord: FakeDiscord) -> None:
    async with fake_discord.running(MiniBot()):
        assert "hello" in fake_discord.commands()
        interaction = await fake_discord.slash(fake_discord.member, "hello", dm=True)
        assert "user" in interaction.payload and "member" not in interaction.payload
        assert (await fake_discord.response_message(interaction)).content == "hello from dm"
        with pytest.raises(PermissionError):
            await fake_discord.slash(fake_discord.member, "pick", dm=True)


async def test_sync_keeps_ids_and_counts_puts(fake_discord: FakeDiscord, bot: MiniBot) -> None:
    before = {c.name: c.id for c in fake_discord.state.commands.values()}
    await bot.tree.sync(guild=discord.Object(fake_discord.guild.id))
    after = {c.name: c.id for c in fake_discord.state.commands.values()}
    assert before == after
    assert len(fake_discord.command_syncs) == 2
