"""A wire-level fake Discord (REST + gateway on 127.0.0.1) for testing the real discord.py client.

Usage::

    async with FakeDiscord() as fake:          # or the ``fake_discord`` pytest fixture
        async with fake.running(bot):           # login + connect + wait until ready
            interaction = await fake.slash(fake.member, "riff", {"prompt": "jazz"})
            message = await fake.wait_for_message(lambda m: m.attachments)
"""

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
    "APIError",
    "AppCommand",
    "Attachment",
    "Callback",
    "Channel",
    "FakeDiscord",
    "Guild",
    "Heartbeat",
    "Intent",
    "Interaction",
    "Limits",
    "Member",
    "Message",
    "MessageFlag",
    "Perm",
    "RequestRecord",
    "Role",
    "User",
    "discord_py_endpoints",
    "point_discord_py_at",
]
