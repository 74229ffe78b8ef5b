"""/play, the Play button and /radio: music from the bot in the caller's voice channel."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.limits import CLIP_SECONDS
from bot.params import RiffParams, random_seed
from bot.store import records
from bot.ui.context import guild_id_of, messageable
from bot.ui.options import RadioPrompt, RadioSteps, Seed
from bot.ui.origins import requester_of
from bot.ui.play import NOT_IN_VOICE, caller_voice_channel, cannot_join, play_generation
from bot.ui.replies import reply
from bot.ui.text import quote
from bot.voice import sessions as voice_io
from bot.voice.radio import REALTIME_MARGIN, RadioStation
from bot.voice.sessions import VoiceSessions
from bot.web.radio import radio_link

if TYPE_CHECKING:
    from bot.app.client import RiffusionBot

log = logging.getLogger(__name__)

NO_PROMPT = "Please describe the music for the radio in the prompt."


class Voice(commands.Cog):
    radio = app_commands.Group(
        name="radio",
        description="An endless, ever-morphing stream in your voice channel.",
        guild_only=True,
    )

    def __init__(self, bot: RiffusionBot) -> None:
        self.bot = bot

    @property
    def sessions(self) -> VoiceSessions:
        return self.bot.services.voice

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
                await reply(interaction, "You have no results yet; make one with /riff.")
                return
        await play_generation(self.bot.services, interaction, result)

    async def _latest(self, user_id: int) -> int | None:
        return await records.latest_playable(self.bot.services.db, user_id)

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
        prompt: RadioPrompt,
        seed: Seed | None = None,
        steps: RadioSteps | None = None,
    ) -> None:
        channel = caller_voice_channel(interaction)
        if channel is None or interaction.guild_id is None:
            await reply(interaction, NOT_IN_VOICE)
            return
        prompt = prompt.strip()
        if not prompt:
            await reply(interaction, NO_PROMPT)
            return
        steps = steps or self.bot.services.settings.default_steps
        refusal = await self._policy_refusal(interaction, prompt, steps)
        if refusal:
            await reply(interaction, refusal)
            return
        current = self.sessions.get(interaction.guild_id)
        if current is not None and current.radio is not None:
            await reply(interaction, "The radio is already on; steer it with `/radio next`.")
            return
        rate = self.bot.services.queue.seconds_per_cost  # measured on past jobs: seconds per step
        if rate is not None and rate * steps > CLIP_SECONDS * REALTIME_MARGIN:
            await reply(
                interaction,
                RadioStation.too_slow_text(
                    rate * steps,
                    CLIP_SECONDS,
                    f"Estimated from recent requests at {steps} steps, so it does not start",
                ),
            )
            return
        on_air = self.bot.services.radio.broadcasts.open(prompt)
        await interaction.response.send_message(
            f"📻 Tuning in to **{quote(prompt)}** in <#{channel.id}>… (rendering the first clips)"
            + self._web_line(on_air.token)
        )
        try:
            session = await self.sessions.join(interaction.guild_id, channel)
        except Exception as exc:
            on_air.end("not started")
            log.warning("Could not join voice channel %s: %s", channel.id, exc)
            await reply(
                interaction,
                cannot_join(channel.id),
                ephemeral=False,
            )
            return
        text_channel = messageable(interaction.channel)
        guild_id = interaction.guild_id

        async def announce(text: str) -> None:
            if text_channel is not None:
                await text_channel.send(text, allowed_mentions=discord.AllowedMentions.none())

        station = self.bot.services.radio.station(
            prompt,
            random_seed() if seed is None else seed,
            guild_id=guild_id,
            channel_id=channel.id,
            steps=steps,
            announce=announce,
            on_air=on_air,
        )
        session.radio = station
        session.text_channel = text_channel
        task = station.start(lambda source: self.sessions.play(guild_id, source, "the radio"))
        task.add_done_callback(lambda _t: self._radio_ended(guild_id, station))

    def _web_line(self, token: str) -> str:
        """The station's page, when this process serves the web side (WEB_PORT)."""
        web = self.bot.web
        link = radio_link(self.bot.services.settings, token)
        if web is None or not web.running or link is None:
            return ""
        return f"\n🌐 Listen and watch the spectrograms in a browser: {link}"

    def _radio_ended(self, guild_id: int, station: RadioStation) -> None:
        session = self.sessions.guilds.get(guild_id)
        if (
            session is not None
            and session.radio is station
            and station.stop_reason in ("too slow", "error")
        ):
            session.radio = None
            self.bot.loop.create_task(self.sessions.leave(guild_id))

    async def _policy_refusal(
        self, interaction: discord.Interaction, prompt: str, steps: int
    ) -> str | None:
        return await self.bot.services.policy.check(
            requester_of(interaction),
            RiffParams(prompt=prompt, steps=steps),
            kind="radio",
            daily=False,
        )

    @radio.command(
        name="next", description="Steer the radio: the next transition morphs into this prompt."
    )
    async def radio_next(self, interaction: discord.Interaction, prompt: RadioPrompt) -> None:
        session = self.sessions.get(interaction.guild_id) if interaction.guild_id else None
        station = session.radio if session else None
        if session is None or station is None or station.stopped.is_set():
            await reply(interaction, "The radio is off; start it with `/radio start`.")
            return
        here = caller_voice_channel(interaction)
        if here is None or getattr(session.client.channel, "id", None) != here.id:
            await reply(
                interaction, "Only listeners can steer: join the radio's voice channel first."
            )
            return
        prompt = prompt.strip()
        if not prompt:
            await reply(interaction, NO_PROMPT)
            return
        refusal = await self._policy_refusal(interaction, prompt, 2)
        if refusal:
            await reply(interaction, refusal)
            return
        place = station.steer(prompt)
        when = "the next transition" if place == 1 else f"transition #{place} from now"
        await reply(
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
            await reply(interaction, "The radio is off; start it with `/radio start`.")
            return
        playing = station.stream.now_playing
        upcoming = ", ".join(f"**{quote(p)}**" for p in station.walk.pending) or "nothing queued"
        lines = [
            f"📻 Now: {quote(playing.label) if playing else 'starting…'}",
            f"Buffered: {station.stream.buffered_s:.1f} s · steering queue: {upcoming}",
        ]
        web = self._web_line(station.on_air.token)
        if web:
            lines.append(web.strip())
        await reply(interaction, "\n".join(lines))

    @radio.command(name="stop", description="Stop the radio and leave the voice channel.")
    async def radio_stop(self, interaction: discord.Interaction) -> None:
        session = self.sessions.get(interaction.guild_id) if interaction.guild_id else None
        if session is None or session.radio is None:
            await reply(interaction, "The radio is not on.")
            return
        here = caller_voice_channel(interaction)
        in_channel = here is not None and getattr(session.client.channel, "id", None) == here.id
        if not in_channel and not interaction.permissions.move_members:
            await reply(
                interaction, "Only listeners (or members who can move members) can stop the radio."
            )
            return
        await self.sessions.leave(guild_id_of(interaction))
        await reply(interaction, "📻 Radio stopped.", ephemeral=False)


async def setup(bot: RiffusionBot) -> None:
    voice_io.ensure_opus()
    await bot.add_cog(Voice(bot))
