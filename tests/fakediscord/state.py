"""The fake's world: users, guilds, channels, messages, commands and interactions.

Kept separate from the HTTP and websocket code so the same rules (permissions, mentions,
attachment storage, edit semantics) apply whether the bot or the test creates a message.
"""

from __future__ import annotations

import mimetypes
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from .models import (
    AppCommand,
    Attachment,
    Channel,
    CommandSync,
    Edit,
    Guild,
    Interaction,
    Member,
    Message,
    MessageFlag,
    Overwrite,
    Perm,
    RequestRecord,
    Role,
    Snowflakes,
    User,
    iso_now,
)
from .validation import Upload

MENTION_RE = re.compile(r"<@!?(\d+)>")
ROLE_MENTION_RE = re.compile(r"<@&(\d+)>")


class DiscordState:
    """All in-memory objects; ``cdn_base`` is called lazily because the port is picked late."""

    def __init__(self, cdn_base: Callable[[], str], *, bot_name: str = "Riffusion") -> None:
        self.ids = Snowflakes()
        self._cdn_base = cdn_base
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, Message] = {}
        self.attachments: dict[int, Attachment] = {}
        self.commands: dict[int, AppCommand] = {}
        self.command_syncs: list[CommandSync] = []
        self.interactions: dict[int, Interaction] = {}
        self.requests: list[RequestRecord] = []
        self.dm_channels: dict[int, Channel] = {}
        #: Users that refuse DMs from the bot (Discord answers 50007).
        self.dms_closed: set[int] = set()
        self.application_id = self.ids.next()
        self.application_flags = 0
        self.bot_user = self.add_user(bot_name, bot=True, id=self.application_id)
        self.owner = self.add_user("app-owner")

    # -- setup --

    def add_user(self, name: str, *, bot: bool = False, id: int | None = None) -> User:
        user = User(id=id or self.ids.next(), name=name, bot=bot, global_name=name)
        self.users[user.id] = user
        return user

    def add_guild(self, name: str, owner: User, *, shard: tuple[int, int] | None = None) -> Guild:
        guild = Guild(id=self.ids.next(shard=shard), name=name, owner_id=owner.id)
        guild.roles[guild.id] = Role(
            id=guild.id, name="@everyone", permissions=Perm.EVERYONE_DEFAULT
        )
        self.guilds[guild.id] = guild
        self.add_member(guild, owner)
        bot_role = self.add_role(guild, self.bot_user.name, Perm.BOT_DEFAULT, managed=True)
        self.add_member(guild, self.bot_user, roles=[bot_role])
        return guild

    def add_role(self, guild: Guild, name: str, permissions: int, *, managed: bool = False) -> Role:
        role = Role(
            id=self.ids.next(),
            name=name,
            permissions=permissions,
            position=len(guild.roles),
            managed=managed,
        )
        guild.roles[role.id] = role
        return role

    def add_member(self, guild: Guild, user: User, *, roles: list[Role] | None = None) -> Member:
        member = Member(user=user, guild_id=guild.id, roles=[r.id for r in roles or []])
        guild.members[user.id] = member
        return member

    def add_channel(self, guild: Guild, name: str) -> Channel:
        channel = Channel(
            id=self.ids.next(), type=0, name=name, guild_id=guild.id, position=len(guild.channels)
        )
        guild.channels[channel.id] = channel
        self.channels[channel.id] = channel
        return channel

    def delete_channel(self, channel: Channel) -> None:
        """Removes a guild channel: calls on its id then answer 404 / 10003 Unknown Channel."""
        if channel.is_dm:
            raise ValueError("DM channels cannot be deleted")
        self.channels.pop(channel.id, None)
        guild = self.guild_of(channel)
        if guild is not None:
            guild.channels.pop(channel.id, None)
            if guild.general is channel:
                guild.general = None

    def dm_channel(self, user: User) -> Channel:
        """The bot's DM channel with ``user`` (created on first use, as Discord does)."""
        channel = self.dm_channels.get(user.id)
        if channel is None:
            channel = Channel(id=self.ids.next(), type=1, recipient=user)
            self.dm_channels[user.id] = channel
            self.channels[channel.id] = channel
        return channel

    def set_overwrite(
        self, channel: Channel, target: User | Role, *, allow: int = 0, deny: int = 0
    ) -> Overwrite:
        kind = 0 if isinstance(target, Role) else 1
        channel.overwrites = [o for o in channel.overwrites if (o.type, o.id) != (kind, target.id)]
        overwrite = Overwrite(id=target.id, type=kind, allow=allow, deny=deny)
        channel.overwrites.append(overwrite)
        return overwrite

    # -- lookups --

    def guild_of(self, channel: Channel) -> Guild | None:
        return self.guilds.get(channel.guild_id) if channel.guild_id is not None else None

    def permissions(self, user: User, channel: Channel) -> int:
        """Effective permissions of ``user`` in ``channel`` (DMs: everything but managing)."""
        guild = self.guild_of(channel)
        if guild is None:
            return Perm.EVERYONE_DEFAULT
        if user.id not in guild.members:
            return 0
        return guild.permissions_in(user.id, channel)

    def commands_for(self, guild_id: int | None) -> list[AppCommand]:
        return [c for c in self.commands.values() if c.guild_id == guild_id]

    def find_command(self, name: str, type: int, guild: Guild | None) -> AppCommand | None:
        """Guild commands shadow global ones, as in the Discord client's picker."""
        candidates = [c for c in self.commands.values() if c.name == name and c.type == type]
        if guild is not None:
            for cmd in candidates:
                if cmd.guild_id == guild.id:
                    return cmd
        return next((c for c in candidates if c.guild_id is None), None)

    def channel_messages(self, channel: Channel, *, ephemeral: bool = False) -> list[Message]:
        return [
            m
            for m in self.messages.values()
            if m.channel_id == channel.id and not m.deleted and (ephemeral or not m.ephemeral)
        ]

    # -- commands --

    def overwrite_commands(
        self, guild_id: int | None, definitions: list[dict[str, Any]]
    ) -> list[AppCommand]:
        """Bulk overwrite: keeps ids of commands whose name and type survive (like Discord)."""
        self.command_syncs.append(CommandSync(time.monotonic(), guild_id, definitions))
        old = {(c.name, c.type): c for c in self.commands_for(guild_id)}
        for cmd in old.values():
            del self.commands[cmd.id]
        result = []
        for definition in definitions:
            key = (definition["name"], int(definition.get("type", 1)))
            previous = old.get(key)
            cmd = AppCommand(
                id=previous.id if previous else self.ids.next(),
                application_id=self.application_id,
                guild_id=guild_id,
                definition=definition,
                version=self.ids.next(),
            )
            self.commands[cmd.id] = cmd
            result.append(cmd)
        return result

    # -- attachments and messages --

    def store_file(
        self,
        channel_id: int,
        filename: str,
        data: bytes,
        content_type: str | None = None,
        *,
        description: str | None = None,
        ephemeral: bool = False,
    ) -> Attachment:
        """Keeps the bytes and gives them a URL on the fake CDN (served by the same server)."""
        if not content_type or content_type == "application/octet-stream":
            content_type = mimetypes.guess_type(filename)[0] or content_type
        att_id = self.ids.next()
        url = f"{self._cdn_base()}/attachments/{channel_id}/{att_id}/{filename}"
        attachment = Attachment(
            id=att_id,
            filename=filename,
            data=data,
            content_type=content_type,
            url=url,
            description=description,
            ephemeral=ephemeral,
        )
        self.attachments[att_id] = attachment
        return attachment

    def create_message(
        self,
        channel: Channel,
        author: User,
        payload: dict[str, Any],
        uploads: list[Upload],
        **extra: Any,
    ) -> Message:
        """Builds a message from a create body (the JSON discord.py sends) and its files."""
        message = Message(
            id=self.ids.next(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=author,
            tts=bool(payload.get("tts")),
            sent_payload=payload if author.id == self.bot_user.id else None,
            bot_id=self.bot_user.id,
            **extra,
        )
        message.flags |= int(payload.get("flags") or 0) & ~MessageFlag.LOADING
        self._apply_body(message, payload, uploads, keep_existing=False)
        ref = payload.get("message_reference")
        if ref and ref.get("type", 0) == 0 and ref.get("message_id"):
            target = self.messages.get(int(ref["message_id"]))
            message.type = 19
            message.referenced = target
            message.reference = {
                "type": 0,
                "message_id": str(ref["message_id"]),
                "channel_id": str(ref.get("channel_id") or channel.id),
                **({"guild_id": str(channel.guild_id)} if channel.guild_id else {}),
            }
        message.mentions = self._mentions(message, payload.get("allowed_mentions"))
        self.messages[message.id] = message
        channel.last_message_id = message.id
        return message

    def edit_message(
        self, message: Message, payload: dict[str, Any], uploads: list[Upload]
    ) -> Message:
        """Applies an edit: absent keys are kept, ``attachments`` lists the ones to keep."""
        message.edits.append(Edit(time.monotonic(), payload, []))
        before = {a.id for a in message.attachments}
        self._apply_body(message, payload, uploads, keep_existing=True)
        message.edits[-1].new_files = [a for a in message.attachments if a.id not in before]
        if "flags" in payload and payload["flags"] is not None:
            keep = message.flags & MessageFlag.EPHEMERAL
            message.flags = (int(payload["flags"]) & ~MessageFlag.LOADING) | keep
        message.flags &= ~MessageFlag.LOADING
        if "content" in payload or "allowed_mentions" in payload:
            message.mentions = self._mentions(message, payload.get("allowed_mentions"))
        message.edited_timestamp = iso_now()
        return message

    def _apply_body(
        self,
        message: Message,
        payload: dict[str, Any],
        uploads: list[Upload],
        *,
        keep_existing: bool,
    ) -> None:
        if "content" in payload:
            message.content = payload["content"] or ""
        if "embeds" in payload:
            message.embeds = payload["embeds"] or []
        if "components" in payload:
            message.components = payload["components"] or []
        listed = payload.get("attachments")
        descriptions: dict[int, str | None] = {}
        if listed is not None:
            listed_ids = {int(a["id"]) for a in listed}
            descriptions = {int(a["id"]): a.get("description") for a in listed}
            message.attachments = [a for a in message.attachments if a.id in listed_ids]
        elif not keep_existing:
            message.attachments = []
        for upload in sorted(uploads, key=lambda u: u.index):
            message.attachments.append(
                self.store_file(
                    message.channel_id,
                    upload.filename,
                    upload.data,
                    upload.content_type,
                    description=descriptions.get(upload.index),
                    ephemeral=message.ephemeral,
                )
            )

    def _mentions(self, message: Message, allowed: dict[str, Any] | None) -> list[User]:
        """Users pinged by the message, honouring ``allowed_mentions`` like Discord does."""
        parse = None if allowed is None else set(allowed.get("parse", []))
        explicit = set() if allowed is None else {int(u) for u in allowed.get("users", [])}
        found: list[User] = []
        for raw in MENTION_RE.findall(message.content):
            user = self.users.get(int(raw))
            if (
                user
                and user not in found
                and (parse is None or "users" in parse or user.id in explicit)
            ):
                found.append(user)
        ref = message.referenced
        replied = True if allowed is None else allowed.get("replied_user", False)
        # Replies to interaction responses (webhook messages) never ping their author.
        if ref is not None and replied and ref.webhook_id is None and ref.author not in found:
            found.append(ref.author)
        message.mention_roles = [int(r) for r in ROLE_MENTION_RE.findall(message.content)]
        return found

    # -- interactions --

    def new_interaction(
        self,
        type: int,
        user: User,
        channel: Channel,
        data: dict[str, Any] | None,
        *,
        locale: str = "en-US",
        source_message: Message | None = None,
    ) -> Interaction:
        """Builds an INTERACTION_CREATE payload with the fields discord.py reads."""
        guild = self.guild_of(channel)
        interaction = Interaction(
            id=self.ids.next(),
            token=f"aW50ZXJhY3Rpb24.{secrets.token_urlsafe(48)}",
            type=type,
            user=user,
            channel=channel,
            guild=guild,
            payload={},
            created_at=time.monotonic(),
            source_message=source_message,
            original=source_message,
        )
        payload: dict[str, Any] = {
            "id": str(interaction.id),
            "application_id": str(self.application_id),
            "type": type,
            "token": interaction.token,
            "version": 1,
            "channel_id": str(channel.id),
            "channel": channel.payload(),
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": 0,  # filled by the server from its Limits
            "app_permissions": str(self.permissions(self.bot_user, channel)),
        }
        if data is not None:
            payload["data"] = data
        if guild is not None:
            member = guild.members[user.id]
            payload["guild_id"] = str(guild.id)
            payload["guild"] = {"id": str(guild.id), "locale": "en-US", "features": []}
            payload["guild_locale"] = "en-US"
            payload["member"] = member.payload() | {
                "permissions": str(self.permissions(user, channel))
            }
            payload["authorizing_integration_owners"] = {"0": str(guild.id)}
            payload["context"] = 0
        else:
            payload["user"] = user.payload()
            payload["authorizing_integration_owners"] = {"0": "0"}
            payload["context"] = 1
        if source_message is not None:
            payload["message"] = source_message.payload()
        interaction.payload = payload
        self.interactions[interaction.id] = interaction
        return interaction

    def interaction_by_token(self, token: str) -> Interaction | None:
        return next((i for i in self.interactions.values() if i.token == token), None)
