"""The public-channel rule for web pages (bot/ui/context.py): a result is public only in a
server channel where @everyone has View Channel, or a public thread in one; never in a DM, a
private thread, a channel that denies @everyone, an unknown channel or an ephemeral message."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from unittest.mock import MagicMock

import discord

from bot.ui.context import public_channel, public_message

VIEW = 1 << 10
EVERYONE = discord.Permissions.general().value | discord.Permissions.text().value
GUILD_ID = 10


def make_state() -> Any:
    state = MagicMock()
    state.self_id = 1
    state.member_cache_flags = discord.MemberCacheFlags.none()
    return state


def make_guild(state: Any, everyone: int = EVERYONE) -> discord.Guild:
    role = {
        "id": str(GUILD_ID),
        "name": "@everyone",
        "permissions": str(everyone),
        "position": 0,
        "color": 0,
        "hoist": False,
        "managed": False,
        "mentionable": False,
    }
    data: Any = {"id": str(GUILD_ID), "name": "g", "owner_id": "99", "roles": [role]}
    return discord.Guild(data=data, state=state)


def make_channel(
    state: Any, guild: discord.Guild, *, deny: int = 0, allow: int = 0, kind: int = 0
) -> discord.abc.GuildChannel:
    data: Any = {
        "id": "20",
        "type": kind,
        "name": "c",
        "position": 0,
        "bitrate": 64000,
        "user_limit": 0,
        "permission_overwrites": [
            {"id": str(GUILD_ID), "type": 0, "allow": str(allow), "deny": str(deny)}
        ],
    }
    channel: discord.abc.GuildChannel = (
        discord.VoiceChannel(state=state, guild=guild, data=data)
        if kind == 2
        else discord.TextChannel(state=state, guild=guild, data=data)
    )
    guild._add_channel(channel)
    return channel


def make_thread(state: Any, guild: discord.Guild, *, private: bool) -> discord.Thread:
    data: Any = {
        "id": "30",
        "parent_id": "20",
        "owner_id": "1",
        "name": "t",
        "type": 12 if private else 11,
        "message_count": 0,
        "member_count": 0,
        "rate_limit_per_user": 0,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 60,
            "archive_timestamp": "2026-01-01T00:00:00+00:00",
            "locked": False,
        },
    }
    return discord.Thread(guild=guild, state=state, data=data)


def test_a_channel_everyone_can_view_is_public():
    state = make_state()
    guild = make_guild(state)
    assert public_channel(make_channel(state, guild))
    assert public_channel(make_channel(state, guild, kind=2))  # a voice channel's text chat


def test_a_channel_that_hides_from_everyone_is_not():
    state = make_state()
    assert not public_channel(make_channel(state, make_guild(state), deny=VIEW))
    # @everyone without View Channel server-wide, not given it back here: not public either.
    assert not public_channel(make_channel(state, make_guild(state, EVERYONE & ~VIEW)))
    # ... unless the channel gives it back.
    assert public_channel(make_channel(state, make_guild(state, EVERYONE & ~VIEW), allow=VIEW))


def test_threads_follow_their_parent_and_private_threads_never_count():
    state = make_state()
    guild = make_guild(state)
    make_channel(state, guild)
    assert public_channel(make_thread(state, guild, private=False))
    assert not public_channel(make_thread(state, guild, private=True))
    hidden = make_guild(state)
    make_channel(state, hidden, deny=VIEW)
    assert not public_channel(make_thread(state, hidden, private=False))


def test_dms_and_unknown_channels_are_not_public():
    state = make_state()
    data: Any = {"id": "5", "type": 1}
    dm = discord.DMChannel(me=MagicMock(), state=state, data=data)
    assert not public_channel(dm)
    assert not public_channel(None)
    assert not public_channel(discord.Object(20))


def test_an_ephemeral_message_is_not_public_even_in_a_public_channel():
    state = make_state()
    channel = make_channel(state, make_guild(state))
    client = MagicMock()
    visible: Any = SimpleNamespace(flags=discord.MessageFlags(), channel=channel)
    hidden: Any = SimpleNamespace(flags=discord.MessageFlags(ephemeral=True), channel=channel)
    assert public_message(visible, client)
    assert not public_message(hidden, client)
    # A followup names only the channel: the cached one decides.
    named: Any = SimpleNamespace(flags=discord.MessageFlags(), channel=SimpleNamespace(id=20))
    client.get_channel.return_value = channel
    assert public_message(named, client)
    client.get_channel.return_value = None
    assert not public_message(named, client)
