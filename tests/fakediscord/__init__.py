"""A wire-level fake Discord (REST + gateway on 127.0.0.1) for testing the real discord.py client.

Usage::

    async with FakeDiscord() as fake:          # or the ``fake_discord`` pytest fixture
        async with fake.running(bot):           # login + connect + wait until ready
            interaction = await fake.slash(fake.member, "riff", {"prompt": "jazz"})
            message = await fake.wait_for_message(lambda m: m.attachments)

Make it fail the way Discord does with ``fake.faults`` (``fail_next``, ``outage``, ``random``,
``close_gateway``...; see faults.py); ``enforce_nonce`` is de-duplicated within
``fake.nonces.window`` seconds.

Sharded clients work as with Discord: ``GET /gateway/bot`` recommends ``recommended_shards``,
each shard's session gets its own guilds and their events (``add_guild(shard=(1, 2))`` puts a
guild on a shard; ``Interaction.shards`` says which session an interaction went to).
"""

from .failures import RestFault
from .faults import DEFAULT_RANDOM_KINDS, GATEWAY_KINDS, Faults, InjectedFault, Outage
from .models import (
    AppCommand,
    Attachment,
    Callback,
    Channel,
    Guild,
    Heartbeat,
    Intent,
    Interaction,
    Member,
    Message,
    MessageFlag,
    Perm,
    RequestRecord,
    Role,
    User,
)
from .server import FakeDiscord, discord_py_endpoints, point_discord_py_at
from .validation import APIError, Limits

__all__ = [
    "DEFAULT_RANDOM_KINDS",
    "GATEWAY_KINDS",
    "APIError",
    "AppCommand",
    "Attachment",
    "Callback",
    "Channel",
    "FakeDiscord",
    "Faults",
    "Guild",
    "Heartbeat",
    "InjectedFault",
    "Intent",
    "Interaction",
    "Limits",
    "Member",
    "Message",
    "MessageFlag",
    "Outage",
    "Perm",
    "RequestRecord",
    "RestFault",
    "Role",
    "User",
    "discord_py_endpoints",
    "point_discord_py_at",
]
