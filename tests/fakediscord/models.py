"""In-memory Discord state and the JSON payloads discord.py expects for it.

Everything is a plain dataclass so tests can read the recorded state directly (a message's
content, its files' bytes, its edit history) instead of going back over the wire.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

DISCORD_EPOCH_MS = 1420070400000


class Perm:
    """Permission bits (https://discord.com/developers/docs/topics/permissions)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    USE_APPLICATION_COMMANDS = 1 << 31
    SEND_MESSAGES_IN_THREADS = 1 << 38

    ALL = (1 << 51) - 1
    #: What @everyone gets in a fresh guild (roughly Discord's default).
    EVERYONE_DEFAULT = (
        CREATE_INSTANT_INVITE
        | ADD_REACTIONS
        | VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | USE_EXTERNAL_EMOJIS
        | CONNECT
        | SPEAK
        | USE_APPLICATION_COMMANDS
        | SEND_MESSAGES_IN_THREADS
    )
    #: What the bot's managed role gets when invited with the usual scopes.
    BOT_DEFAULT = (
        VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | ADD_REACTIONS
        | USE_EXTERNAL_EMOJIS
        | SEND_MESSAGES_IN_THREADS
        | CONNECT
        | SPEAK
    )


class Intent:
    """Gateway intent bits the fake honours when dispatching."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    DIRECT_MESSAGES = 1 << 12
    DIRECT_MESSAGE_REACTIONS = 1 << 13
    MESSAGE_CONTENT = 1 << 15


class MessageFlag:
    EPHEMERAL = 1 << 6
    LOADING = 1 << 7
    COMPONENTS_V2 = 1 << 15


class Snowflakes:
    """Time-based ids, so discord.py's ``created_at`` on fake objects is plausible."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def next(self, *, shard: tuple[int, int] | None = None) -> int:
        """A fresh id; ``shard=(shard_id, shard_count)`` picks one Discord sends on that shard
        ((id >> 22) % shard_count == shard_id), at most ``shard_count - 1`` ms ahead of now."""
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        if shard is not None:
            ms += (shard[0] - ms) % shard[1]
        return (ms << 22) | (next(self._counter) & 0x3FFFFF)


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """The shard Discord sends a guild's events on; DMs (no guild) go to shard 0."""
    return 0 if guild_id is None else (guild_id >> 22) % shard_count


def iso_now() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass
class User:
    id: int
    name: str
    bot: bool = False
    global_name: str | None = None

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
            "flags": 0,
        }


@dataclass
class Role:
    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": False,
            "flags": 0,
        }


@dataclass
class Member:
    user: User
    guild_id: int
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=iso_now)

    def payload(self, *, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        return data


@dataclass
class Overwrite:
    """A channel permission overwrite; ``type`` 0 targets a role, 1 a member."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


@dataclass
class Channel:
    """A guild text channel (type 0) or a DM channel (type 1)."""

    id: int
    type: int
    name: str | None = None
    guild_id: int | None = None
    recipient: User | None = None
    overwrites: list[Overwrite] = field(default_factory=list)
    position: int = 0
    last_message_id: int | None = None

    @property
    def is_dm(self) -> bool:
        return self.type == 1

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    def payload(self) -> dict[str, Any]:
        if self.is_dm:
            assert self.recipient is not None
            return {
                "id": str(self.id),
                "type": 1,
                "recipients": [self.recipient.payload()],
                "last_message_id": _opt_str(self.last_message_id),
                "flags": 0,
            }
        return {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [o.payload() for o in self.overwrites],
            "nsfw": False,
            "topic": None,
            "last_message_id": _opt_str(self.last_message_id),
            "rate_limit_per_user": 0,
            "parent_id": None,
            "flags": 0,
        }


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    #: The ``bot`` helper fills these in: the default text channel, an admin and a member.
    general: Channel | None = None

    @property
    def everyone(self) -> Role:
        return self.roles[self.id]

    def base_permissions(self, user_id: int) -> int:
        if user_id == self.owner_id:
            return Perm.ALL
        member = self.members[user_id]
        perms = self.everyone.permissions
        for role_id in member.roles:
            perms |= self.roles[role_id].permissions
        return Perm.ALL if perms & Perm.ADMINISTRATOR else perms

    def permissions_in(self, user_id: int, channel: Channel | None) -> int:
        """Discord's permission algorithm: base, then @everyone, role and member overwrites."""
        perms = self.base_permissions(user_id)
        if perms & Perm.ADMINISTRATOR or channel is None:
            return perms
        overwrites = {(o.type, o.id): o for o in channel.overwrites}
        everyone = overwrites.get((0, self.id))
        if everyone:
            perms = (perms & ~everyone.deny) | everyone.allow
        allow = deny = 0
        for role_id in self.members[user_id].roles:
            ow = overwrites.get((0, role_id))
            if ow:
                allow |= ow.allow
                deny |= ow.deny
        perms = (perms & ~deny) | allow
        own = overwrites.get((1, user_id))
        if own:
            perms = (perms & ~own.deny) | own.allow
        return perms if perms & Perm.VIEW_CHANNEL else 0

    def payload(self, *, bot_user_id: int, with_all_members: bool) -> dict[str, Any]:
        """A GUILD_CREATE payload; without the members intent only the bot itself is listed."""
        members = [
            m.payload()
            for m in self.members.values()
            if with_all_members or m.user.id == bot_user_id
        ]
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_id": _opt_str(self.general.id if self.general else None),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "joined_at": self.members[bot_user_id].joined_at,
            "large": False,
            "unavailable": False,
            "member_count": len(self.members),
            "voice_states": [],
            "members": members,
            "channels": [c.payload() for c in self.channels.values()],
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }


@dataclass
class Attachment:
    """A stored file; ``data`` holds the exact bytes that were uploaded."""

    id: int
    filename: str
    data: bytes
    content_type: str | None
    url: str
    description: str | None = None
    ephemeral: bool = False

    @property
    def size(self) -> int:
        return len(self.data)

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
        }
        if self.content_type:
            data["content_type"] = self.content_type
        if self.description:
            data["description"] = self.description
        if self.ephemeral:
            data["ephemeral"] = True
        return data


@dataclass
class Edit:
    """One recorded change to a message (the JSON the bot sent, and when)."""

    at: float
    payload: dict[str, Any]
    new_files: list[Attachment]


@dataclass
class Message:
    id: int
    channel_id: int
    author: User
    guild_id: int | None = None
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    flags: int = 0
    type: int = 0
    mentions: list[User] = field(default_factory=list)
    mention_roles: list[int] = field(default_factory=list)
    mention_everyone: bool = False
    reference: dict[str, Any] | None = None
    referenced: Message | None = None
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_metadata: dict[str, Any] | None = None
    timestamp: str = field(default_factory=iso_now)
    edited_timestamp: str | None = None
    deleted: bool = False
    edits: list[Edit] = field(default_factory=list)
    #: The raw JSON payload the bot sent to create it (None for user messages).
    sent_payload: dict[str, Any] | None = None
    tts: bool = False
    #: Emoji ("⭐", or "name:id" for a custom one) -> ids of the users who reacted, in order.
    reactions: dict[str, list[int]] = field(default_factory=dict)
    #: The bot's id, so a payload can say whether the bot itself reacted ("me").
    bot_id: int | None = None
    #: The create call's ``nonce``: echoed when the message is created, never when read back.
    nonce: str | None = None

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & MessageFlag.EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & MessageFlag.LOADING)

    @property
    def files(self) -> dict[str, bytes]:
        """Filename -> bytes of the current attachments (handy in assertions)."""
        return {a.filename: a.data for a in self.attachments}

    def custom_ids(self) -> list[str]:
        """Every custom_id in the message's components, depth first."""
        found: list[str] = []

        def walk(items: list[dict[str, Any]]) -> None:
            for item in items:
                if "custom_id" in item:
                    found.append(item["custom_id"])
                for key in ("components", "accessory", "component"):
                    child = item.get(key)
                    if isinstance(child, list):
                        walk(child)
                    elif isinstance(child, dict):
                        walk([child])

        walk(self.components)
        return found

    def payload(
        self, *, hide_content: bool = False, with_reference: bool = True, with_nonce: bool = False
    ) -> dict[str, Any]:
        """The message as Discord serialises it; ``hide_content`` models a missing intent.

        ``with_nonce``: only the create response and MESSAGE_CREATE carry the nonce.
        """
        data: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "type": self.type,
            "author": self.author.payload(),
            "content": "" if hide_content else self.content,
            "timestamp": self.timestamp,
            "edited_timestamp": self.edited_timestamp,
            "tts": self.tts,
            "mention_everyone": self.mention_everyone,
            "mentions": [u.payload() for u in self.mentions],
            "mention_roles": [str(r) for r in self.mention_roles],
            "attachments": [] if hide_content else [a.payload() for a in self.attachments],
            "embeds": [] if hide_content else self.embeds,
            "components": [] if hide_content else self.components,
            "pinned": False,
            "flags": self.flags,
        }
        if self.reactions:
            data["reactions"] = [
                {
                    "emoji": emoji_payload(emoji),
                    "count": len(users),
                    "count_details": {"burst": 0, "normal": len(users)},
                    "me": self.bot_id in users,
                    "me_burst": False,
                    "burst_colors": [],
                }
                for emoji, users in self.reactions.items()
                if users
            ]
        if with_nonce and self.nonce is not None:
            data["nonce"] = self.nonce
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
        if self.application_id is not None:
            data["application_id"] = str(self.application_id)
        if self.interaction_metadata is not None:
            data["interaction_metadata"] = self.interaction_metadata
        if self.reference is not None:
            data["message_reference"] = self.reference
            if with_reference:
                data["referenced_message"] = (
                    None
                    if self.referenced is None or self.referenced.deleted
                    else self.referenced.payload(with_reference=False)
                )
        return data


@dataclass
class AppCommand:
    """A command as synced by the bot; ``definition`` is exactly what it PUT."""

    id: int
    application_id: int
    guild_id: int | None
    definition: dict[str, Any]
    version: int

    @property
    def name(self) -> str:
        return self.definition["name"]

    @property
    def type(self) -> int:
        return int(self.definition.get("type", 1))

    def payload(self) -> dict[str, Any]:
        data = {
            "options": [],
            "description": "",
            "default_member_permissions": None,
            "nsfw": False,
            **self.definition,
            "type": self.type,
            "id": str(self.id),
            "application_id": str(self.application_id),
            "version": str(self.version),
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        return data


@dataclass
class CommandSync:
    """One bulk overwrite (PUT) of a command list, recorded for "sync only on change" tests."""

    at: float
    guild_id: int | None
    definitions: list[dict[str, Any]]


@dataclass
class Callback:
    """One POST to an interaction's callback endpoint."""

    at: float
    type: int
    data: dict[str, Any]
    files: list[Attachment]


@dataclass
class Interaction:
    """An interaction the test injected, and everything the bot did with it."""

    id: int
    token: str
    type: int
    user: User
    channel: Channel
    guild: Guild | None
    payload: dict[str, Any]
    created_at: float
    callbacks: list[Callback] = field(default_factory=list)
    #: The message shown as the interaction response (type 4/5), or the component's message.
    original: Message | None = None
    followups: list[Message] = field(default_factory=list)
    source_message: Message | None = None
    token_expired: bool = False
    #: The gateway shards ``(shard_id, shard_count)`` INTERACTION_CREATE went to.
    shards: list[tuple[int, int]] = field(default_factory=list)

    @property
    def response(self) -> Callback | None:
        return self.callbacks[0] if self.callbacks else None

    @property
    def modal(self) -> dict[str, Any] | None:
        """The modal the bot opened (callback type 9), if any."""
        cb = self.response
        return cb.data if cb is not None and cb.type == 9 else None

    @property
    def choices(self) -> list[dict[str, Any]] | None:
        """Autocomplete choices the bot returned (callback type 8), if any."""
        cb = self.response
        return cb.data.get("choices", []) if cb is not None and cb.type == 8 else None


@dataclass
class Heartbeat:
    at: float
    session_id: str
    sequence: int | None


@dataclass
class RequestRecord:
    at: float
    method: str
    path: str
    status: int
    payload: Any = None
    #: The kind of fault the fake answered with (``fake.faults``), None for a real answer.
    fault: str | None = None


def emoji_payload(key: str) -> dict[str, Any]:
    """``"⭐"`` -> a unicode emoji; ``"name:id"`` -> a custom one (as in reaction URLs)."""
    name, _, emoji_id = key.partition(":")
    return {"id": emoji_id or None, "name": name}


def _opt_str(value: int | None) -> str | None:
    return None if value is None else str(value)
