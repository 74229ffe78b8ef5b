"""Where an interaction happened, narrowed to what the code after it may rely on."""

from __future__ import annotations

import discord


def guild_id_of(interaction: discord.Interaction) -> int:
    """The server of a guild-only command (or of one that checked for a server already).

    Discord sends guild-only commands only from servers; raising here, rather than an assert at
    each use, states that once and gives the type checker an int.
    """
    guild_id = interaction.guild_id
    if guild_id is None:
        raise RuntimeError("A guild-only interaction arrived outside a server")
    return guild_id


def messageable(channel: object) -> discord.abc.Messageable | None:
    """The channel if messages can be sent to it, else None.

    An interaction's channel is typed as any channel, forums and categories included, which
    take no messages; interactions never come from those, so this narrows without a loss.
    """
    return channel if isinstance(channel, discord.abc.Messageable) else None
