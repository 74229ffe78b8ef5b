"""Short private answers: to an interaction, or to a user's message."""

from __future__ import annotations

import logging

import discord

log = logging.getLogger(__name__)


async def reply(interaction: discord.Interaction, text: str, *, ephemeral: bool = True) -> None:
    """An answer (private unless asked otherwise), whether or not the interaction was already
    answered."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=ephemeral)
    else:
        await interaction.response.send_message(text, ephemeral=ephemeral)


async def answer(message: discord.Message, text: str) -> None:
    """A reply to a user's message that pings them (and nobody else)."""
    try:
        await message.reply(
            text,
            mention_author=True,
            allowed_mentions=discord.AllowedMentions(
                users=[message.author], everyone=False, roles=False
            ),
        )
    except discord.HTTPException as exc:
        log.info("Could not answer a reply in channel %s: %s", message.channel.id, exc)
