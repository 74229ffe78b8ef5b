"""The gateway websocket: HELLO, heartbeats, IDENTIFY/READY, RESUME and event dispatch.

Sharding as Discord does it: each connection IDENTIFYs with ``shard: [shard_id, shard_count]``
(``[0, 1]`` when absent), gets READY and GUILD_CREATE for its own guilds only, and every event
goes to the sessions of its guild's shard, ``(guild_id >> 22) % shard_count`` (DMs: shard 0).

Frames are plain JSON text. discord.py asks for ``compress=zlib-stream`` in the URL and sets
``compress: true`` in IDENTIFY, but it decompresses only binary frames, so text frames are
accepted as they are (as Discord's own documentation allows).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .models import Heartbeat, Intent, shard_of

if TYPE_CHECKING:
    from .server import FakeDiscord

log = logging.getLogger(__name__)

#: Close codes after which Discord forgets the session (client.close() sends 1000).
FINAL_CLOSE_CODES = frozenset({1000, 1001})
RESUME_BUFFER = 2000
#: Discord's reason text for the close codes the fake sends.
CLOSE_REASONS = {
    4000: b"Unknown error.",
    4007: b"Invalid seq.",
    4008: b"Rate limited.",
    4009: b"Session timed out.",
    4010: b"Invalid shard.",
}


@dataclass
class Session:
    """A gateway session: survives a dropped socket so the client can RESUME it."""

    id: str
    intents: int
    identify: dict[str, Any]
    ws: web.WebSocketResponse | None = None
    seq: int = 0
    buffer: list[dict[str, Any]] = field(default_factory=list)
    resumable: bool = True
    resumes: int = 0
    #: ``(shard_id, shard_count)`` from IDENTIFY.
    shard: tuple[int, int] = (0, 1)

    @property
    def connected(self) -> bool:
        return self.ws is not None and not self.ws.closed

    def has_intent(self, intent: int) -> bool:
        return bool(self.intents & intent)

    def serves(self, guild_id: int | None) -> bool:
        """Whether Discord sends this guild's events (None: a DM's) on this session's shard."""
        shard_id, shard_count = self.shard
        return shard_of(guild_id, shard_count) == shard_id


@dataclass
class Connection:
    """One websocket connection attempt, recorded with the URL query the client used."""

    at: float
    query: dict[str, str]
    session_id: str | None = None
    resumed: bool = False
    close_code: int | None = None


PayloadFor = Callable[[Session], "dict[str, Any] | None"]


class Gateway:
    """Owns the sessions and pushes events to whichever bot is connected."""

    def __init__(self, fake: FakeDiscord, heartbeat_interval_ms: int) -> None:
        self.fake = fake
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.sessions: dict[str, Session] = {}
        self.connections: list[Connection] = []
        self.heartbeats: list[Heartbeat] = []
        self.presence_updates: list[dict[str, Any]] = []
        #: Open sockets and the requests they came from (whose transport ``drop_sockets`` cuts).
        self._sockets: dict[web.WebSocketResponse, web.Request] = {}
        #: Sockets the fake closed or cut itself, with the code the client saw (1006: cut).
        self._closed_by_server: dict[web.WebSocketResponse, int] = {}

    # -- websocket handler --

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = Connection(at=time.monotonic(), query=dict(request.query))
        self.connections.append(conn)
        self._sockets[ws] = request
        session: Session | None = None
        try:
            hello = {"heartbeat_interval": self.heartbeat_interval_ms}
            await self._send(ws, {"op": 10, "d": hello})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                session = await self._on_frame(ws, frame, session, conn)
        finally:
            self._sockets.pop(ws, None)
            server_code = self._closed_by_server.pop(ws, None)
            # aiohttp reports the code of the client's reply (1000) when the fake closed first.
            conn.close_code = ws.close_code if server_code is None else server_code
            if session is not None and session.ws is ws:
                session.ws = None
                if server_code is None and ws.close_code in FINAL_CLOSE_CODES:
                    session.resumable = False
            await self.fake.notify()
        return ws

    async def _on_frame(
        self,
        ws: web.WebSocketResponse,
        frame: dict[str, Any],
        session: Session | None,
        conn: Connection,
    ) -> Session | None:
        op, data = frame.get("op"), frame.get("d")
        if op == 1:
            self.heartbeats.append(Heartbeat(time.monotonic(), session.id if session else "", data))
            await self._send(ws, {"op": 11})
        elif op == 2:
            session = await self._identify(ws, data)
            conn.session_id = session.id if session else None
        elif op == 6:
            session = await self._resume(ws, data)
            conn.session_id, conn.resumed = (session.id, True) if session else (None, False)
        elif op == 8:
            await self._request_members(ws, session, data)
        elif op == 3:
            self.presence_updates.append(data)
        elif op != 4:
            log.warning("fake gateway ignored op %s", op)
        await self.fake.notify()
        return session

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> Session | None:
        if data.get("token") != self.fake.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return None
        shard = self._shard(data.get("shard"))
        if shard is None:
            self._closed_by_server[ws] = 4010
            await ws.close(code=4010, message=CLOSE_REASONS[4010])
            return None
        session = Session(
            id=secrets.token_hex(16),
            intents=int(data.get("intents", 0)),
            identify=data,
            ws=ws,
            shard=shard,
        )
        self.sessions[session.id] = session
        state = self.fake.state
        guilds = [g for g in state.guilds.values() if session.serves(g.id)]
        ready = {
            "v": 10,
            "user": state.bot_user.payload() | {"verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.fake.gateway_url,
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "application": {"id": str(state.application_id), "flags": state.application_flags},
            "user_settings": {},
            "auth": {},
            "shard": list(shard),
        }
        await self._dispatch_to(session, "READY", ready)
        for guild in guilds:
            members = session.has_intent(Intent.GUILD_MEMBERS)
            payload = guild.payload(bot_user_id=state.bot_user.id, with_all_members=members)
            await self._dispatch_to(session, "GUILD_CREATE", payload)
        return session

    @staticmethod
    def _shard(value: Any) -> tuple[int, int] | None:
        """IDENTIFY's ``shard`` as ``(shard_id, shard_count)``; None if Discord would refuse it."""
        if value is None:
            return (0, 1)
        if (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int) for v in value)
            and 0 <= value[0] < value[1]
        ):
            return (value[0], value[1])
        return None

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> Session | None:
        session = self.sessions.get(data.get("session_id", ""))
        ok = (
            session is not None
            and session.resumable
            and not session.connected
            and data.get("token") == self.fake.token
        )
        if not ok or session is None:
            await self._send(ws, {"op": 9, "d": False})
            return None
        session.ws = ws
        session.resumes += 1
        client_seq = data.get("seq") or 0
        for frame in [f for f in session.buffer if f["s"] > client_seq]:
            await self._send(ws, frame)
        await self._dispatch_to(session, "RESUMED", {})
        return session

    async def _request_members(
        self, ws: web.WebSocketResponse, session: Session | None, data: dict[str, Any]
    ) -> None:
        if session is None:
            return
        guild = self.fake.state.guilds.get(int(data["guild_id"]))
        if guild is None:
            return
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": [m.payload() for m in guild.members.values()],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        await self._dispatch_to(session, "GUILD_MEMBERS_CHUNK", chunk)

    # -- dispatch --

    async def dispatch(
        self, event: str, payload_for: PayloadFor | dict[str, Any], *, guild_id: int | None
    ) -> list[Session]:
        """Sends an event about ``guild_id`` (None: a DM) to every live or resumable session of
        that guild's shard; returns the sessions that got it.

        ``payload_for`` may be a function of the session, so intent-dependent payloads
        (message content) differ per session; returning None skips that session.
        """
        sent = []
        for session in list(self.sessions.values()):
            if not (session.connected or session.resumable) or not session.serves(guild_id):
                continue
            data = payload_for(session) if callable(payload_for) else payload_for
            if data is None:
                continue
            await self._dispatch_to(session, event, data)
            sent.append(session)
        return sent

    async def _dispatch_to(self, session: Session, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.buffer.append(frame)
        del session.buffer[:-RESUME_BUFFER]
        if session.connected and session.ws is not None:
            await self._send(session.ws, frame)

    async def request_reconnect(self) -> int:
        """Sends op 7 RECONNECT: discord.py closes and RESUMEs; returns how many got it."""
        sent = 0
        for session in self.live_sessions():
            if session.ws is not None:
                await self._send(session.ws, {"op": 7, "d": None})
                sent += 1
        return sent

    async def request_heartbeat(self, session: Session) -> None:
        """Op 1 from the server: the client answers with a heartbeat at once."""
        if session.connected and session.ws is not None:
            await self._send(session.ws, {"op": 1, "d": None})

    async def invalidate_sessions(self, *, resumable: bool = False) -> int:
        """Sends op 9 to connected clients; returns how many got it.

        ``d: false`` (the default) ends every session: the client must IDENTIFY afresh.
        ``d: true`` keeps them: discord.py closes the socket and RESUMEs.
        """
        sent = 0
        for session in self.sessions.values():
            if not resumable:
                session.resumable = False
            if session.connected and session.ws is not None:
                await self._send(session.ws, {"op": 9, "d": resumable})
                sent += 1
        return sent

    async def close_sockets(self, code: int, *, resumable: bool = True) -> int:
        """Closes connected clients' sockets with ``code``; ``resumable=False`` ends the
        sessions too (as 4009 does). Returns how many sockets were closed."""
        live = self.live_sessions()
        for session in live:
            if not resumable:
                session.resumable = False
        for session in live:
            if session.ws is not None:
                self._closed_by_server[session.ws] = code
                await session.ws.close(code=code, message=CLOSE_REASONS.get(code, b""))
        return len(live)

    async def drop_sockets(self) -> int:
        """Cuts connected clients' TCP connections with no close frame (they see 1006).

        The sessions stay resumable, as Discord keeps them after a network failure.
        """
        live = [s for s in self.live_sessions() if s.ws is not None]
        for session in live:
            assert session.ws is not None
            request = self._sockets.get(session.ws)
            if request is not None and request.transport is not None:
                self._closed_by_server[session.ws] = 1006
                request.transport.abort()
        return len(live)

    def live_sessions(self) -> list[Session]:
        return [s for s in self.sessions.values() if s.connected]

    async def close_all(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"FakeDiscord stopped")

    async def _send(self, ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        frame.setdefault("s", None)
        frame.setdefault("t", None)
        frame.setdefault("d", None)
        if ws.closed:
            return
        try:
            await ws.send_str(json.dumps(frame))
        except ConnectionResetError:
            log.debug("client went away while sending %s", frame.get("t") or frame["op"])
