"""Playing results in voice: the Play button under results and what /play does."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import discord

from bot.store import records
from bot.store.models import Generation
from bot.ui.replies import reply
from bot.ui.services import Services, services_of
from bot.ui.text import files_pruned, quote
from bot.voice import sessions as voice_io

log = logging.getLogger(__name__)

NOT_IN_VOICE = "Join a voice channel first, then try again: the bot plays where you are."


def cannot_join(channel_id: int) -> str:
    return (
        f"The bot could not join <#{channel_id}> (it needs the Connect and Speak permissions "
        "there)."
    )


def caller_voice_channel(interaction: discord.Interaction) -> Any:
    member = interaction.user
    voice = member.voice if isinstance(member, discord.Member) else None
    return voice.channel if voice is not None else None


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
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PlayButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await play_generation(services_of(interaction), interaction, self.generation_id)


def _audio_path(services: Services, generation: Generation) -> Path | None:
    """The stored audio to play: the MP3, else the master; None once deleted or pruned."""
    if generation.deleted_at is not None:
        return None
    for relative in (generation.audio_file, generation.extra.get("master")):
        try:
            candidate = services.files.path(relative) if relative else None
        except ValueError:
            candidate = None
        if candidate is not None and candidate.is_file():
            return candidate
    return None


async def play_generation(
    services: Services, interaction: discord.Interaction, generation_id: int
) -> None:
    """Play a result in the caller's voice channel (/play and the Play button)."""
    channel = caller_voice_channel(interaction)
    if interaction.guild_id is None or channel is None:
        await reply(interaction, NOT_IN_VOICE)
        return
    generation = await records.get_generation(services.db, generation_id)
    path = None if generation is None else _audio_path(services, generation)
    if generation is None or path is None:
        text = f"Result #{generation_id} is not available any more."
        if generation is not None and files_pruned(generation):
            text = (
                f"The files of result #{generation_id} were cleaned up, so it cannot be "
                "played any more; Reroll under it still works."
            )
        await reply(interaction, text)
        return
    current = services.voice.get(interaction.guild_id)
    if current is not None and current.radio is not None:
        await reply(interaction, "The radio is on; `/radio stop` it first.")
        return
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        await services.voice.join(interaction.guild_id, channel)
    except Exception as exc:  # no permission, voice extra missing, timeout
        log.warning("Could not join voice channel %s: %s", channel.id, exc)
        await reply(interaction, cannot_join(channel.id))
        return
    services.voice.play(
        interaction.guild_id,
        voice_io.file_source(str(path)),
        f"#{generation.id} {generation.prompt}",
    )
    await reply(
        interaction,
        f"🔊 Playing #{generation.id} **{quote(generation.prompt)}** in <#{channel.id}>.",
    )
