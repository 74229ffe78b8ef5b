"""``FakeDiscord``: the facade tests use to run, drive and inspect the fake.

It owns the aiohttp server (REST + gateway + CDN on one 127.0.0.1 port), the in-memory world,
the event injectors (a user runs /riff, clicks a button, posts a file) and the awaitable helpers
that wait for what the bot does in answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import discord
import yarl
from aiohttp import web
from discord.gateway import DiscordWebSocket
from discord.http import Route

from .faults import Faults
from .gateway import Gateway, Session
from .interactions import InteractionBuilder
from .models import (
    Attachment,
    Callback,
    Channel,
    CommandSync,
    Guild,
    Heartbeat,
    Intent,
    Interaction,
    Member,
    Message,
    Perm,
    RequestRecord,
    Role,
    User,
    emoji_payload,
)
from .nonces import DEFAULT_WINDOW as DEFAULT_NONCE_WINDOW
from .nonces import NonceCache
from .rest import API_PREFIX, RestAPI
from .state import DiscordState
from .validation import Limits, Upload

log = logging.getLogger(__name__)
T = TypeVar("T")
ClientT = TypeVar("ClientT", bound=discord.Client)
#: A file a fake user uploads: (filename, bytes) or (filename, bytes, content type).
FileSpec = tuple[str, bytes] | tuple[str, bytes, str]
POLL_INTERVAL = 0.02
WorldBuilder = Callable[[Session], dict[str, Any]]


@dataclass(frozen=True)
class WorldEvent:
    """A world change made while a bot is connected, sent to its guild's shard by ``flush``."""

    event: str
    build: WorldBuilder
    guild_id: int | None
    intent: int = 0


def discord_py_endpoints(api_base: str, gateway_url: str) -> tuple[str, yarl.URL]:
    """Values for ``Route.BASE`` (a str) and ``DiscordWebSocket.DEFAULT_GATEWAY`` (a yarl.URL).

    discord.py builds ``Route.BASE + path`` and calls ``gateway.with_query(v=10,
    encoding="json", compress="zlib-stream")``, which replaces any query, so both are taken
    without a trailing slash or query. The bot can apply the same two lines to the env values
    DISCORD_API_BASE / DISCORD_GATEWAY_URL.
    """
    gateway = yarl.URL(gateway_url).with_query(None)
    if gateway.path not in ("", "/"):
        gateway = gateway.with_path(gateway.path.rstrip("/"))
    return api_base.rstrip("/"), gateway


def point_discord_py_at(api_base: str, gateway_url: str) -> None:
    """Redirects every discord.py client in this process (class attributes, set before start)."""
    Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = discord_py_endpoints(api_base, gateway_url)


class FakeDiscord:
    """A wire-level fake Discord for one test.

    A default world is created up front: ``guild`` ("Test Server") with ``general`` (#general),
    ``admin`` (the owner, Administrator) and ``member`` (a regular user).

    ``recommended_shards`` is what ``GET /gateway/bot`` answers (what an auto-sharded client
    launches); the gateway takes any ``shard`` a client IDENTIFYs with (see gateway.py).
    """

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        heartbeat_interval_ms: int = 1000,
        limits: Limits | None = None,
        ack_timeout: float = 3.0,
        token_lifetime: float = 15 * 60.0,
        bot_name: str = "Riffusion",
        host: str = "127.0.0.1",
        nonce_window: float = DEFAULT_NONCE_WINDOW,
        recommended_shards: int = 1,
    ) -> None:
        self.token = token
        self.recommended_shards = recommended_shards
        self.limits = limits or Limits()
        self.ack_timeout = ack_timeout
        self.token_lifetime = token_lifetime
        self.host = host
        self.port = 0
        self.state = DiscordState(lambda: self.cdn_base, bot_name=bot_name)
        self.gateway = Gateway(self, heartbeat_interval_ms)
        #: Discord's failures on demand: see ``Faults`` (all off until a test asks).
        self.faults = Faults(self.gateway)
        #: ``enforce_nonce`` de-duplication within ``nonces.window`` seconds of ``now()``.
        self.nonces = NonceCache(self.now, nonce_window)
        self.rest = RestAPI(self)
        self.builder = InteractionBuilder(self.state, self.limits)
        self.typing: list[tuple[float, int]] = []
        self._time_offset = 0.0
        self._runner: web.AppRunner | None = None
        self._cond: asyncio.Condition | None = None
        self._claimed: set[int] = set()
        self._saved_endpoints: tuple[str, yarl.URL] | None = None
        #: World changes made while a bot is connected, sent before the next injected event.
        self._pending: list[WorldEvent] = []

        self.admin = self.add_user("admin")
        self.member = self.add_user("member")
        self.guild = self.add_guild("Test Server", owner=self.admin)
        assert self.guild.general is not None
        self.general: Channel = self.guild.general
        self.add_member(self.guild, self.member)

    # -- lifecycle --

    async def start(self) -> FakeDiscord:
        """Listens on a free port and points discord.py at it (undone by ``stop``)."""
        self._cond = asyncio.Condition()
        app = web.Application(middlewares=[self.rest.middleware], client_max_size=256 * 1024**2)
        app.add_routes(self.rest.routes())
        app.router.add_get("/gateway", self.gateway.handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]
        self._saved_endpoints = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
        point_discord_py_at(self.api_base, self.gateway_url)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            if self.gateway.live_sessions():
                # The client would reconnect forever against a dead port: a test bug.
                log.error(
                    "FakeDiscord stopped while a client was still connected; close the "
                    "client first (use `async with fake.running(client)`)"
                )
            await self.faults.aclose()
            await self.gateway.close_all()
            await self._runner.cleanup()
            self._runner = None
        if self._saved_endpoints is not None:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = self._saved_endpoints
            self._saved_endpoints = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """For DISCORD_API_BASE / ``Route.BASE``, e.g. ``http://127.0.0.1:PORT/api/v10``."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """For DISCORD_GATEWAY_URL, e.g. ``ws://127.0.0.1:PORT/gateway`` (also resume URL)."""
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def cdn_base(self) -> str:
        return f"{self.base_url}/cdn"

    def env(self) -> dict[str, str]:
        """Environment for a bot configured from env (DISCORD_TOKEN, API base, gateway URL)."""
        return {
            "DISCORD_TOKEN": self.token,
            "DISCORD_API_BASE": self.api_base,
            "DISCORD_GATEWAY_URL": self.gateway_url,
        }

    @contextlib.asynccontextmanager
    async def running(self, client: ClientT, *, timeout: float = 10.0) -> AsyncIterator[ClientT]:
        """Logs ``client`` in, connects it, waits for on_ready; closes it on exit.

        Pass ``guild_ready_timeout`` small when building the client, or this waits 2 s.
        """
        await client.login(self.token)
        connect = asyncio.create_task(client.connect(reconnect=True), name="fake-discord-connect")
        ready = asyncio.create_task(client.wait_until_ready())
        try:
            await asyncio.wait(
                {connect, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if not ready.done():
                if connect.done():
                    connect.result()  # re-raise why the client could not connect
                raise TimeoutError(f"the client was not ready within {timeout}s")
            yield client
        finally:
            ready.cancel()
            await client.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(connect, timeout=5)

    # -- world setup --

    def add_user(self, name: str, *, bot: bool = False) -> User:
        return self.state.add_user(name, bot=bot)

    def add_guild(
        self, name: str, *, owner: User | None = None, shard: tuple[int, int] | None = None
    ) -> Guild:
        """A guild with the bot in it and a #general channel (``guild.general``).

        ``shard=(shard_id, shard_count)`` picks an id that Discord sends on that shard.
        """
        guild = self.state.add_guild(name, owner or self.add_user(f"{name}-owner"), shard=shard)
        guild.general = self.state.add_channel(guild, "general")
        self._world_event(
            "GUILD_CREATE",
            lambda s: guild.payload(
                bot_user_id=self.bot_user.id, with_all_members=s.has_intent(Intent.GUILD_MEMBERS)
            ),
            guild.id,
        )
        return guild

    def add_channel(self, guild: Guild, name: str) -> Channel:
        channel = self.state.add_channel(guild, name)
        self._world_event("CHANNEL_CREATE", lambda _s: channel.payload(), guild.id)
        return channel

    def add_role(self, guild: Guild, name: str, permissions: int) -> Role:
        role = self.state.add_role(guild, name, permissions)
        self._world_event(
            "GUILD_ROLE_CREATE",
            lambda _s: {"guild_id": str(guild.id), "role": role.payload()},
            guild.id,
        )
        return role

    def add_member(
        self,
        guild: Guild,
        user: User,
        *,
        permissions: int | None = None,
        roles: Sequence[Role] = (),
    ) -> Member:
        """Adds ``user`` to ``guild``; ``permissions`` creates a role granting exactly those."""
        all_roles = list(roles)
        if permissions is not None:
            all_roles.append(self.add_role(guild, f"{user.name}-role", permissions))
        member = self.state.add_member(guild, user, roles=all_roles)
        self._world_event(
            "GUILD_MEMBER_ADD",
            lambda _s: member.payload() | {"guild_id": str(guild.id)},
            guild.id,
            Intent.GUILD_MEMBERS,
        )
        return member

    def set_permissions(
        self, channel: Channel, target: User | Role, *, allow: int = 0, deny: int = 0
    ) -> None:
        """A channel permission overwrite (role or member), visible to the bot as well."""
        self.state.set_overwrite(channel, target, allow=allow, deny=deny)
        self._world_event("CHANNEL_UPDATE", lambda _s: channel.payload(), channel.guild_id)

    def forbid_bot(self, channel: Channel, deny: int = Perm.SEND_MESSAGES) -> None:
        """Makes the bot lack ``deny`` in ``channel``: its sends there get 403 / 50013."""
        self.set_permissions(channel, self.state.bot_user, deny=deny)

    def delete_channel(self, channel: Channel) -> None:
        """Someone deletes ``channel``: the bot gets CHANNEL_DELETE (sent by ``flush`` or the
        next injected event) and every call on it answers 404 / 10003 Unknown Channel."""
        self.state.delete_channel(channel)
        self._world_event("CHANNEL_DELETE", lambda _s: channel.payload(), channel.guild_id)

    def close_dms(self, user: User) -> None:
        """``user`` does not accept DMs from the bot: sends answer 403 / 50007."""
        self.state.dms_closed.add(user.id)

    def dm_channel(self, user: User) -> Channel:
        return self.state.dm_channel(user)

    @property
    def bot_user(self) -> User:
        return self.state.bot_user

    @property
    def application_id(self) -> int:
        return self.state.application_id

    # -- clock --

    def now(self) -> float:
        """The clock interaction deadlines and nonce windows use (see ``advance_time``)."""
        return time.monotonic() + self._time_offset

    def advance_time(self, seconds: float) -> None:
        """Moves the fake's clock: ack deadlines (3 s), token lifetimes (15 min) and nonce
        windows pass. Outages run on real time (discord.py's retry pauses are real)."""
        self._time_offset += seconds

    def expire_token(self, interaction: Interaction) -> None:
        """Makes followups/edits with this interaction's token fail with 401 / 50027."""
        interaction.token_expired = True

    # -- event injection --

    async def slash(
        self,
        user: User,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        channel: Channel | None = None,
        guild: Guild | None = None,
        dm: bool = False,
        locale: str = "en-US",
    ) -> Interaction:
        """A user runs ``/name`` (``"riff extend"`` for a subcommand); returns the interaction.

        Option values are typed from the synced definition: str/int/float/bool, ``User``,
        ``Channel``, ``Role``, and for attachments ``(filename, bytes[, content_type])``.
        Raises LookupError if the bot never synced the command, PermissionError if the user
        could not see it (default_member_permissions, contexts).
        """
        channel = self._pick_channel(user, channel, guild, dm)
        data = self.builder.command_data(user, channel, name, dict(options or {}))
        return await self._inject(2, user, channel, data, locale=locale)

    async def autocomplete(
        self,
        user: User,
        name: str,
        options: Mapping[str, Any],
        focused: str,
        *,
        channel: Channel | None = None,
        guild: Guild | None = None,
        dm: bool = False,
    ) -> Interaction:
        """The user types in option ``focused`` (its value is the partial text)."""
        channel = self._pick_channel(user, channel, guild, dm)
        data = self.builder.command_data(user, channel, name, dict(options), focused=focused)
        return await self._inject(4, user, channel, data)

    async def click(
        self, message: Message, custom_id: str, user: User, *, values: Sequence[str] = ()
    ) -> Interaction:
        """``user`` clicks a button (or picks ``values`` in a select) on ``message``."""
        data = self.builder.component_data(message, custom_id, list(values))
        channel = self.state.channels[message.channel_id]
        return await self._inject(3, user, channel, data, source_message=message)

    async def submit_modal(
        self, interaction: Interaction, values: Mapping[str, Any], *, user: User | None = None
    ) -> Interaction:
        """Submits the modal the bot opened for ``interaction``.

        ``values`` maps custom_id -> text (text inputs), list of str (selects) or a list of
        ``(filename, bytes[, content_type])`` (file uploads).
        """
        modal = interaction.modal
        if modal is None:
            raise ValueError("the bot did not answer this interaction with a modal")
        data = self.builder.modal_data(modal, interaction.channel, dict(values))
        return await self._inject(
            5,
            user or interaction.user,
            interaction.channel,
            data,
            source_message=interaction.source_message,
        )

    async def message_command(self, target: Message, name: str, user: User) -> Interaction:
        """``user`` runs the message context-menu command ``name`` on ``target``."""
        channel = self.state.channels[target.channel_id]
        data = self.builder.context_menu_data(user, channel, name, 3, target)
        return await self._inject(2, user, channel, data)

    async def user_command(
        self, target: User, name: str, user: User, *, channel: Channel | None = None
    ) -> Interaction:
        """``user`` runs the user context-menu command ``name`` on ``target``."""
        channel = channel or self.general
        data = self.builder.context_menu_data(user, channel, name, 2, target)
        return await self._inject(2, user, channel, data)

    async def user_message(
        self,
        user: User,
        channel: Channel | None = None,
        content: str = "",
        *,
        attachments: Iterable[FileSpec] = (),
        reply_to: Message | None = None,
        mentions_bot: bool = False,
        ping_on_reply: bool = True,
    ) -> Message:
        """``user`` posts a message (``channel=None``: #general; pass ``dm_channel(user)``).

        The bot receives it with content/attachments blanked unless it has the
        message_content intent, or it is mentioned (``mentions_bot``, or a reply to one of its
        regular messages with ``ping_on_reply``), or the message is a DM.
        """
        channel = channel or self.general
        guild = self.state.guild_of(channel)
        if guild is not None and user.id not in guild.members:
            raise ValueError(f"{user.name} is not a member of {guild.name}")
        if not self.state.permissions(user, channel) & Perm.SEND_MESSAGES:
            raise PermissionError(f"{user.name} may not post in #{channel.name}")
        if mentions_bot and self.bot_user.mention not in content:
            content = f"{self.bot_user.mention} {content}".strip()
        payload: dict[str, Any] = {
            "content": content,
            "allowed_mentions": {
                "parse": ["users", "roles", "everyone"],
                "replied_user": ping_on_reply,
            },
        }
        if reply_to is not None:
            payload["message_reference"] = {
                "message_id": reply_to.id,
                "channel_id": reply_to.channel_id,
            }
        uploads = [
            Upload(i, spec[0], spec[1], spec[2] if len(spec) > 2 else None)  # type: ignore[misc]
            for i, spec in enumerate(attachments)
        ]
        await self.wait_for_bot()
        message = self.state.create_message(channel, user, payload, uploads)
        await self.dispatch_message(message, "MESSAGE_CREATE")
        return message

    async def react(self, user: User, message: Message, emoji: str) -> None:
        """``user`` adds a reaction (``"⭐"``, or ``"name:id"`` for a custom emoji)."""
        await self.wait_for_bot()
        await self.set_reaction(user, message, emoji, added=True)

    async def unreact(self, user: User, message: Message, emoji: str) -> None:
        await self.wait_for_bot()
        await self.set_reaction(user, message, emoji, added=False)

    async def delete_by_user(self, message: Message) -> None:
        """Someone (a user or moderator) deletes ``message``; the bot gets MESSAGE_DELETE."""
        await self.delete(message)

    async def force_reconnect(self) -> None:
        """Asks the connected client to reconnect (op 7); discord.py then RESUMEs.

        The same as ``faults.reconnect()`` (counted as "op7").
        """
        await self.faults.reconnect()

    async def invalidate_session(self) -> None:
        """Op 9: the client must IDENTIFY again (a fresh READY and GUILD_CREATEs).

        The same as ``faults.invalid_session()`` (counted as "op9").
        """
        await self.faults.invalid_session()

    # -- waiting and inspection --

    async def wait_until(
        self, check: Callable[[], T | None], *, timeout: float = 5.0, what: str = "condition"
    ) -> T:
        """Waits until ``check()`` is truthy.

        Re-checked on every change in the fake and every 20 ms, so checks on the bot's own
        state (a list its handler appends to) work too.
        """
        assert self._cond is not None, "FakeDiscord is not started"
        cond = self._cond

        async def wait() -> T:
            async with cond:
                while not (result := check()):
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(cond.wait(), POLL_INTERVAL)
                return result

        try:
            return await asyncio.wait_for(wait(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"FakeDiscord: no {what} within {timeout}s") from None

    async def wait_for_message(
        self,
        predicate: Callable[[Message], bool] | None = None,
        *,
        timeout: float = 5.0,
        channel: Channel | None = None,
        author: User | None = None,
    ) -> Message:
        """The oldest message by the bot (or ``author``) matching ``predicate`` not yet returned.

        Each message is returned at most once, so consecutive calls walk through the bot's
        messages in order without racing against it. Ephemeral responses are included.
        """
        author = author or self.bot_user

        def find() -> Message | None:
            for message in self.state.messages.values():
                if (
                    message.id not in self._claimed
                    and message.author.id == author.id
                    and not message.loading
                    and (channel is None or message.channel_id == channel.id)
                    and (predicate is None or predicate(message))
                ):
                    return message
            return None

        message = await self.wait_until(find, timeout=timeout, what="matching message")
        self._claimed.add(message.id)
        return message

    async def wait_for_edit(
        self,
        message: Message,
        predicate: Callable[[Message], bool] | None = None,
        *,
        edits: int = 1,
        timeout: float = 5.0,
    ) -> Message:
        """Waits until ``message`` has been edited ``edits`` times and matches ``predicate``."""
        return await self.wait_until(
            lambda: (
                message
                if len(message.edits) >= edits and (predicate is None or predicate(message))
                else None
            ),
            timeout=timeout,
            what=f"edit of message {message.id}",
        )

    async def wait_for_deletion(self, message: Message, *, timeout: float = 5.0) -> Message:
        return await self.wait_until(
            lambda: message if message.deleted else None,
            timeout=timeout,
            what=f"deletion of message {message.id}",
        )

    async def interaction_response(
        self, interaction: Interaction, *, timeout: float = 5.0
    ) -> Callback:
        """The bot's first callback (type 4/5/6/7/8/9) to ``interaction``."""
        return await self.wait_until(
            lambda: interaction.response,
            timeout=timeout,
            what=f"response to interaction {interaction.id}",
        )

    async def response_message(self, interaction: Interaction, *, timeout: float = 5.0) -> Message:
        """The interaction's visible response message once it is no longer "thinking"."""
        return await self.wait_until(
            lambda: (
                interaction.original
                if interaction.callbacks
                and interaction.original
                and not interaction.original.loading
                else None
            ),
            timeout=timeout,
            what=f"response message of interaction {interaction.id}",
        )

    async def wait_for_followup(
        self, interaction: Interaction, count: int = 1, *, timeout: float = 5.0
    ) -> Message:
        """The ``count``-th followup message (not counting one that filled a deferral)."""
        return await self.wait_until(
            lambda: (
                interaction.followups[count - 1] if len(interaction.followups) >= count else None
            ),
            timeout=timeout,
            what=f"followup #{count} of {interaction.id}",
        )

    def messages_in(self, channel: Channel, *, ephemeral: bool = False) -> list[Message]:
        """Messages in ``channel`` oldest first (deleted ones and, by default, ephemeral out)."""
        return self.state.channel_messages(channel, ephemeral=ephemeral)

    @property
    def messages(self) -> list[Message]:
        """Every message ever created (by anyone, including deleted and ephemeral ones)."""
        return list(self.state.messages.values())

    @property
    def bot_messages(self) -> list[Message]:
        return [m for m in self.state.messages.values() if m.author.id == self.bot_user.id]

    @property
    def heartbeats(self) -> list[Heartbeat]:
        """Every client heartbeat (op 1) with its monotonic arrival time and sequence."""
        return self.gateway.heartbeats

    def max_heartbeat_gap(self, since: float | None = None) -> float:
        """The longest silence between heartbeats (and since the last one) after ``since``.

        discord.py beats every ``heartbeat_interval``; a gap well above it means the bot
        blocked its event loop (say, running the model outside an executor).
        """
        start = (
            since
            if since is not None
            else (self.heartbeats[0].at if self.heartbeats else time.monotonic())
        )
        times = [start, *(h.at for h in self.heartbeats if h.at >= start), time.monotonic()]
        return max(b - a for a, b in itertools.pairwise(times))

    @property
    def command_syncs(self) -> list[CommandSync]:
        """Each bulk PUT of commands (count them to assert "synced only when changed")."""
        return self.state.command_syncs

    @property
    def requests(self) -> list[RequestRecord]:
        """Every REST call: ``RequestRecord(at, method, path, status)`` (path without /api/v10)."""
        return self.state.requests

    def commands(self, guild: Guild | None = None) -> dict[str, dict[str, Any]]:
        """The synced commands (global, or ``guild``'s) by name, as the bot defined them."""
        gid = guild.id if guild is not None else None
        return {c.name: c.definition for c in self.state.commands_for(gid)}

    def attachment(self, attachment_id: int) -> Attachment:
        return self.state.attachments[attachment_id]

    def live_sessions(self) -> list[Session]:
        return self.gateway.live_sessions()

    async def wait_for_bot(self, *, timeout: float = 5.0) -> Session:
        """Waits until a client has identified (or resumed), then sends pending world changes."""
        sessions = await self.wait_until(
            self.gateway.live_sessions, timeout=timeout, what="connected bot"
        )
        await self.flush()
        return sessions[0]

    async def flush(self) -> None:
        """Sends world changes made since the bot connected (new channels, roles, overwrites).

        Setup helpers are synchronous, so they queue these events; every injected event
        flushes first, so the bot knows about a channel before a user posts in it.
        """
        pending, self._pending = self._pending, []
        for world in pending:
            await self.gateway.dispatch(
                world.event, lambda s, w=world: self._build_world(s, w), guild_id=world.guild_id
            )
        if pending:
            await self.sync()

    async def sync(self, *, timeout: float = 5.0) -> None:
        """Returns once every connected client has parsed all events sent to it so far.

        Sends op 1 (Discord may ask for a heartbeat) and waits for a heartbeat carrying the
        last sequence: discord.py parses frames in order, so its cache (channels, roles,
        permissions) is then up to date. Event *handlers* run as tasks and may still be busy.
        """
        for session in self.gateway.live_sessions():
            target, start = session.seq, time.monotonic()
            await self.gateway.request_heartbeat(session)
            await self.wait_until(
                lambda s=session, t=target, a=start: any(
                    h.session_id == s.id and h.at >= a and (h.sequence or 0) >= t
                    for h in reversed(self.gateway.heartbeats)
                ),
                timeout=timeout,
                what=f"heartbeat with sequence {target}",
            )

    def _world_event(
        self, event: str, build: WorldBuilder, guild_id: int | None, intent: int = 0
    ) -> None:
        if any(s.connected or s.resumable for s in self.gateway.sessions.values()):
            self._pending.append(WorldEvent(event, build, guild_id, intent))

    @staticmethod
    def _build_world(session: Session, world: WorldEvent) -> dict[str, Any] | None:
        if world.intent and not session.has_intent(world.intent):
            return None
        return world.build(session)

    # -- used by rest / gateway --

    async def notify(self) -> None:
        """Wakes the ``wait_*`` helpers after any change."""
        if self._cond is not None:
            async with self._cond:
                self._cond.notify_all()

    async def record_callback(
        self, interaction: Interaction, kind: int, data: dict[str, Any], message: Message | None
    ) -> None:
        files = list(message.attachments) if message is not None and kind in (4, 7) else []
        interaction.callbacks.append(Callback(time.monotonic(), kind, data, files))
        if message is not None:
            await self.dispatch_message(
                message, "MESSAGE_UPDATE" if kind == 7 else "MESSAGE_CREATE"
            )
        await self.notify()

    async def dispatch_message(self, message: Message, event: str) -> None:
        """MESSAGE_CREATE/UPDATE as the bot's session would see it (intents applied)."""
        if message.ephemeral:
            await self.notify()
            return
        created = event == "MESSAGE_CREATE"
        await self.gateway.dispatch(
            event,
            lambda s: self._message_for(s, message, with_nonce=created),
            guild_id=message.guild_id,
        )
        await self.notify()

    async def delete(self, message: Message) -> None:
        message.deleted = True
        if not message.ephemeral:
            payload = {"id": str(message.id), "channel_id": str(message.channel_id)}
            if message.guild_id is not None:
                payload["guild_id"] = str(message.guild_id)
            await self.gateway.dispatch(
                "MESSAGE_DELETE",
                lambda s: self._if_intent(s, message, payload),
                guild_id=message.guild_id,
            )
        await self.notify()

    async def set_reaction(self, user: User, message: Message, emoji: str, *, added: bool) -> None:
        users = message.reactions.setdefault(emoji, [])
        if added == (user.id in users):
            return  # Discord ignores repeated adds/removes
        if added:
            users.append(user.id)
        else:
            users.remove(user.id)
        payload: dict[str, Any] = {
            "user_id": str(user.id),
            "channel_id": str(message.channel_id),
            "message_id": str(message.id),
            "emoji": emoji_payload(emoji),
            "burst": False,
            "type": 0,
        }
        if added:
            payload |= {"message_author_id": str(message.author.id), "burst_colors": []}
        intent = Intent.DIRECT_MESSAGE_REACTIONS
        if message.guild_id is not None:
            intent = Intent.GUILD_MESSAGE_REACTIONS
            payload["guild_id"] = str(message.guild_id)
            member = self.state.guilds[message.guild_id].members.get(user.id)
            if added and member is not None:
                payload["member"] = member.payload()
        event = "MESSAGE_REACTION_ADD" if added else "MESSAGE_REACTION_REMOVE"
        if not message.ephemeral:
            await self.gateway.dispatch(
                event,
                lambda s: payload if s.has_intent(intent) else None,
                guild_id=message.guild_id,
            )
        await self.notify()

    def _if_intent(
        self, session: Session, message: Message, payload: dict[str, Any]
    ) -> dict[str, Any] | None:
        needed = Intent.DIRECT_MESSAGES if message.guild_id is None else Intent.GUILD_MESSAGES
        return payload if session.has_intent(needed) else None

    def _message_for(
        self, session: Session, message: Message, *, with_nonce: bool = False
    ) -> dict[str, Any] | None:
        bot = self.bot_user
        hidden = (
            message.guild_id is not None
            and not session.has_intent(Intent.MESSAGE_CONTENT)
            and message.author.id != bot.id
            and bot not in message.mentions
        )
        payload = message.payload(hide_content=hidden, with_nonce=with_nonce)
        ref = message.referenced
        if hidden and ref is not None and not ref.deleted and ref.author.id != bot.id:
            payload["referenced_message"] = ref.payload(hide_content=True, with_reference=False)
        if message.guild_id is not None:
            member = self.state.guilds[message.guild_id].members.get(message.author.id)
            if member is not None:
                payload["member"] = member.payload(with_user=False)
        return self._if_intent(session, message, payload)

    async def _inject(
        self,
        kind: int,
        user: User,
        channel: Channel,
        data: dict[str, Any],
        *,
        locale: str = "en-US",
        source_message: Message | None = None,
    ) -> Interaction:
        await self.wait_for_bot()
        interaction = self.state.new_interaction(
            kind, user, channel, data, locale=locale, source_message=source_message
        )
        interaction.payload["attachment_size_limit"] = self.limits.upload_limit
        sessions = await self.gateway.dispatch(
            "INTERACTION_CREATE", interaction.payload, guild_id=channel.guild_id
        )
        interaction.shards = [s.shard for s in sessions]
        await self.notify()
        return interaction

    def _pick_channel(
        self, user: User, channel: Channel | None, guild: Guild | None, dm: bool
    ) -> Channel:
        if dm:
            return self.state.dm_channel(user)
        if channel is not None:
            return channel
        guild = guild or self.guild
        assert guild.general is not None
        return guild.general
