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


# Channels whose messages everyone in the server may read, given View Channel: text, voice
# and stage channels (their text chat); threads follow their parent (below).
PUBLIC_KINDS = (discord.TextChannel, discord.VoiceChannel, discord.StageChannel)


def public_channel(channel: object) -> bool:
    """Whether a result posted in `channel` is public (it may get a web page): a server channel
    where the server's default role (@everyone) has View Channel, or a public thread in one.
    DMs, group DMs, private threads, channels that deny @everyone and anything unknown (a
    channel not in the cache) are not."""
    if isinstance(channel, discord.Thread):
        if channel.is_private() or channel.parent is None:
            return False
        parent = channel.parent
        return parent.permissions_for(parent.guild.default_role).view_channel
    if not isinstance(channel, PUBLIC_KINDS):
        return False
    return channel.permissions_for(channel.guild.default_role).view_channel


def public_message(message: discord.Message, client: discord.Client) -> bool:
    """Whether a posted message is public: not ephemeral (a private followup), and in a public
    channel (the cached one when the message only names it, as a followup's may)."""
    if message.flags.ephemeral:
        return False
    channel: object = message.channel
    if not isinstance(channel, (*PUBLIC_KINDS, discord.Thread)):
        channel = client.get_channel(message.channel.id)
    return public_channel(channel)
