"""/play, the Play button and /radio: music from the bot in the caller's voice channel."""

from __future__ import annotations

import contextlib
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.params import CLIP_SECONDS, MAX_SEED, RiffParams, random_seed
from bot.store import records
from bot.ui import result_buttons as buttons
from bot.ui.text import files_pruned, quote
from bot.voice import sessions as voice_io
from bot.voice.radio import REALTIME_MARGIN, RadioStation, RenderClip, SeedWalk
from bot.voice.sessions import VoiceSessions, radio_renderer
from riffusion_core.seed_images import list_seed_images

if TYPE_CHECKING:
    from bot.app.client import RiffusionBot

log = logging.getLogger(__name__)

NOT_IN_VOICE = "Join a voice channel first, then try again: the bot plays where you are."
NO_PROMPT = "Please describe the music for the radio in the prompt."
RADIO_SEED_IMAGE = "og_beat"


def caller_voice_channel(interaction: discord.Interaction) -> Any:
    voice = getattr(interaction.user, "voice", None)
    return getattr(voice, "channel", None)


class PlayButton(discord.ui.DynamicItem[discord.ui.Button], template=r"voice:play:(?P<id>\d+)"):
    """▶ Play under a result: plays it in the clicker's voice channel."""

    def __init__(self, generation_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Play",
                emoji="🔊",
                style=discord.ButtonStyle.secondary,
                custom_id=f"voice:play:{generation_id}",
            )
        )
        self.generation_id = generation_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> PlayButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        cog = interaction.client.get_cog("Voice")  # type: ignore[attr-defined]
        await cog.play_generation(interaction, self.generation_id)


class Voice(commands.Cog):
    radio = app_commands.Group(
        name="radio",
        description="An endless, ever-morphing stream in your voice channel.",
        guild_only=True,
    )

    def __init__(self, bot: RiffusionBot, sessions: VoiceSessions | None = None) -> None:
        self.bot = bot
        self.sessions = sessions or VoiceSessions(bot.settings.voice_idle_s)

    async def cog_unload(self) -> None:
        await self.sessions.close()

    @commands.Cog.listener()
    async def on_voice_state_update(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        """Leave (and stop the radio) once the last listener has left the bot's channel."""
        session = self.sessions.get(member.guild.id)
        if session is None or member.bot:
            return
        channel = session.client.channel
        if (
            getattr(before.channel, "id", None) != channel.id
            or getattr(after.channel, "id", None) == channel.id
        ):
            return
        if any(not m.bot for m in getattr(channel, "members", [])):
            return
        radio = session.radio
        await self.sessions.leave(member.guild.id)
        if radio is not None and session.text_channel is not None:
            with contextlib.suppress(discord.HTTPException):
                await session.text_channel.send(
                    "📻 Everyone left the voice channel, so the radio stopped."
                )

    @staticmethod
    async def _say(interaction: discord.Interaction, text: str, *, ephemeral: bool = True) -> None:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=ephemeral)
        else:
            await interaction.response.send_message(text, ephemeral=ephemeral)

    # ---- playing a result ------------------------------------------------------------------

    @app_commands.command(name="play", description="Play a result in your voice channel.")
    @app_commands.describe(
        result="The result's number (#12 on its message); your latest if left out"
    )
    @app_commands.guild_only()
    async def play(
        self, interaction: discord.Interaction, result: app_commands.Range[int, 1] | None = None
    ) -> None:
        if result is None:
            result = await self._latest(interaction.user.id)
            if result is None:
                await self._say(interaction, "You have no results yet; make one with /riff.")
                return
        await self.play_generation(interaction, result)

    async def _latest(self, user_id: int) -> int | None:
        from sqlalchemy import select

        from bot.store.models import Generation

        assert self.bot.db is not None
        async with self.bot.db.session() as session:
            return await session.scalar(
                select(Generation.id)
                .where(
                    Generation.user_id == user_id,
                    Generation.deleted_at.is_(None),
                    Generation.audio_file.is_not(None),
                )
                .order_by(Generation.id.desc())
                .limit(1)
            )

    async def play_generation(self, interaction: discord.Interaction, generation_id: int) -> None:
        channel = caller_voice_channel(interaction)
        if interaction.guild_id is None or channel is None:
            await self._say(interaction, NOT_IN_VOICE)
            return
        generation = await records.get_generation(self.bot.db, generation_id)
        path = None
        if generation is not None and generation.deleted_at is None:
            for relative in (generation.audio_file, generation.extra.get("master")):
                try:
                    candidate = self.bot.storage.path(relative) if relative else None
                except ValueError:
                    candidate = None
                if candidate is not None and candidate.is_file():
                    path = candidate
                    break
        if path is None:
            text = f"Result #{generation_id} is not available any more."
            if generation is not None and files_pruned(generation):
                text = (
                    f"The files of result #{generation_id} were cleaned up, so it cannot be "
                    "played any more; Reroll under it still works."
                )
            await self._say(interaction, text)
            return
        current = self.sessions.get(interaction.guild_id)
        if current is not None and current.radio is not None:
            await self._say(interaction, "The radio is on; `/radio stop` it first.")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            await self.sessions.join(interaction.guild_id, channel)
        except Exception as exc:  # no permission, voice extra missing, timeout
            log.warning("Could not join voice channel %s: %s", channel.id, exc)
            await self._say(
                interaction,
                f"The bot could not join <#{channel.id}> (it needs "
                "the Connect and Speak permissions there).",
            )
            return
        self.sessions.play(
            interaction.guild_id,
            voice_io.file_source(str(path)),
            f"#{generation.id} {generation.prompt}",
        )
        await self._say(
            interaction,
            f"🔊 Playing #{generation.id} **{quote(generation.prompt)}** in <#{channel.id}>.",
        )

    # ---- the radio -------------------------------------------------------------------------

    @radio.command(
        name="start", description="Start an endless stream from a prompt in your voice channel."
    )
    @app_commands.describe(
        prompt="Where the music starts, e.g. 'lofi hip hop beat'",
        seed="Where the walk through seeds starts (random if left out)",
        steps="Fewer steps render faster (needed to keep up in real time)",
    )
    async def radio_start(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 300],
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        steps: app_commands.Range[int, 2, 100] | None = None,
    ) -> None:
        channel = caller_voice_channel(interaction)
        if channel is None or interaction.guild_id is None:
            await self._say(interaction, NOT_IN_VOICE)
            return
        prompt = prompt.strip()
        if not prompt:
            await self._say(interaction, NO_PROMPT)
            return
        steps = steps or self.bot.settings.default_steps
        refusal = await self._policy_refusal(interaction, prompt, steps)
        if refusal:
            await self._say(interaction, refusal)
            return
        current = self.sessions.get(interaction.guild_id)
        if current is not None and current.radio is not None:
            await self._say(interaction, "The radio is already on; steer it with `/radio next`.")
            return
        rate = self.bot.queue.seconds_per_cost  # measured on past jobs: seconds per step
        if rate is not None and rate * steps > CLIP_SECONDS * REALTIME_MARGIN:
            await self._say(
                interaction,
                RadioStation.too_slow_text(
                    rate * steps,
                    CLIP_SECONDS,
                    f"Estimated from recent requests at {steps} steps, so it does not start",
                ),
            )
            return
        await interaction.response.send_message(
            f"📻 Tuning in to **{quote(prompt)}** in <#{channel.id}>… (rendering the first clips)"
        )
        try:
            session = await self.sessions.join(interaction.guild_id, channel)
        except Exception as exc:
            log.warning("Could not join voice channel %s: %s", channel.id, exc)
            await self._say(
                interaction,
                f"The bot could not join <#{channel.id}> (it needs "
                "the Connect and Speak permissions there).",
                ephemeral=False,
            )
            return
        text_channel = interaction.channel
        guild_id = interaction.guild_id

        async def announce(text: str) -> None:
            if text_channel is not None:
                await text_channel.send(text, allowed_mentions=discord.AllowedMentions.none())

        station = RadioStation(
            SeedWalk(prompt, random_seed() if seed is None else seed),
            self._renderer(guild_id, channel.id, steps),
            announce,
            buffer_clips=self.bot.settings.radio_buffer_clips,
        )
        session.radio = station
        session.text_channel = text_channel
        task = station.start(lambda source: self.sessions.play(guild_id, source, "the radio"))
        task.add_done_callback(lambda _t: self._radio_ended(guild_id, station))

    def _radio_ended(self, guild_id: int, station: RadioStation) -> None:
        session = self.sessions.guilds.get(guild_id)
        if (
            session is not None
            and session.radio is station
            and station.stop_reason in ("too slow", "error")
        ):
            session.radio = None
            self.bot.loop.create_task(self.sessions.leave(guild_id))

    def _renderer(self, guild_id: int, channel_id: int, steps: int) -> RenderClip:
        seed_image = RADIO_SEED_IMAGE if RADIO_SEED_IMAGE in list_seed_images() else None
        return radio_renderer(
            self.bot.queue, lane=-channel_id, group=guild_id, steps=steps, seed_image=seed_image
        )

    async def _policy_refusal(
        self, interaction: discord.Interaction, prompt: str, steps: int
    ) -> str | None:
        policy = getattr(self.bot, "policy", None)
        if policy is None:
            return None
        return await policy.check(
            interaction, RiffParams(prompt=prompt, steps=steps), kind="radio", daily=False
        )

    @radio.command(
        name="next", description="Steer the radio: the next transition morphs into this prompt."
    )
    async def radio_next(
        self, interaction: discord.Interaction, prompt: app_commands.Range[str, 1, 300]
    ) -> None:
        session = self.sessions.get(interaction.guild_id) if interaction.guild_id else None
        station = session.radio if session else None
        if station is None or station.stopped.is_set():
            await self._say(interaction, "The radio is off; start it with `/radio start`.")
            return
        here = caller_voice_channel(interaction)
        if here is None or getattr(session.client.channel, "id", None) != here.id:
            await self._say(
                interaction, "Only listeners can steer: join the radio's voice channel first."
            )
            return
        prompt = prompt.strip()
        if not prompt:
            await self._say(interaction, NO_PROMPT)
            return
        refusal = await self._policy_refusal(interaction, prompt, 2)
        if refusal:
            await self._say(interaction, refusal)
            return
        place = station.steer(prompt)
        when = "the next transition" if place == 1 else f"transition #{place} from now"
        await self._say(
            interaction,
            f"🎛️ {interaction.user.mention} steers the radio: "
            f"**{quote(prompt)}** becomes the end of {when} (a few clips are already "
            "rendered ahead, so give it a moment).",
            ephemeral=False,
        )

    @radio.command(name="now", description="What the radio plays now and what comes next.")
    async def radio_now(self, interaction: discord.Interaction) -> None:
        session = self.sessions.get(interaction.guild_id) if interaction.guild_id else None
        station = session.radio if session else None
        if station is None or station.stopped.is_set():
            await self._say(interaction, "The radio is off; start it with `/radio start`.")
            return
        playing = station.stream.now_playing
        upcoming = ", ".join(f"**{quote(p)}**" for p in station.walk.pending) or "nothing queued"
        lines = [
            f"📻 Now: {quote(playing.label) if playing else 'starting…'}",
            f"Buffered: {station.stream.buffered_s:.1f} s · steering queue: {upcoming}",
        ]
        await self._say(interaction, "\n".join(lines))

    @radio.command(name="stop", description="Stop the radio and leave the voice channel.")
    async def radio_stop(self, interaction: discord.Interaction) -> None:
        session = self.sessions.get(interaction.guild_id) if interaction.guild_id else None
        if session is None or session.radio is None:
            await self._say(interaction, "The radio is not on.")
            return
        here = caller_voice_channel(interaction)
        in_channel = here is not None and getattr(session.client.channel, "id", None) == here.id
        if not in_channel and not interaction.permissions.move_members:
            await self._say(
                interaction, "Only listeners (or members who can move members) can stop the radio."
            )
            return
        await self.sessions.leave(interaction.guild_id)
        await self._say(interaction, "📻 Radio stopped.", ephemeral=False)


def play_button(generation_id: int) -> discord.ui.Item:
    return PlayButton(generation_id)


async def setup(bot: RiffusionBot) -> None:
    voice_io.ensure_opus()
    bot.add_dynamic_items(PlayButton)
    if play_button not in buttons.EXTRA_RESULT_ITEMS:
        buttons.EXTRA_RESULT_ITEMS.append(play_button)
    await bot.add_cog(Voice(bot))


async def teardown(bot: RiffusionBot) -> None:
    with_play = [f for f in buttons.EXTRA_RESULT_ITEMS if f is not play_button]
    buttons.EXTRA_RESULT_ITEMS[:] = with_play
