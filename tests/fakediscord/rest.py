"""REST routes (``/api/v10``) and the fake CDN, answering the way discord.py expects.

Every JSON answer carries exactly ``Content-Type: application/json``: discord.py compares the
header verbatim and treats anything else (aiohttp's ``; charset=utf-8``) as text.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .models import Channel, Guild, Interaction, Message, MessageFlag, Perm, RequestRecord
from .nonces import MAX_NONCE_LENGTH
from .validation import (
    APIError,
    Upload,
    check_message,
    check_modal,
    form_error,
    invalid_webhook_token,
    missing_permissions,
    unknown_channel,
    unknown_interaction,
    unknown_message,
)

if TYPE_CHECKING:
    from .server import FakeDiscord

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
FILE_FIELD = re.compile(r"files\[(\d+)\]")
#: Callback types each interaction type may answer with (Discord rejects the others).
ALLOWED_CALLBACKS = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(data).encode(), headers={"Content-Type": "application/json"}
    )


def no_content() -> web.Response:
    return web.Response(status=204)


async def read_body(request: web.Request) -> tuple[Any, list[Upload]]:
    """JSON body, or multipart ``payload_json`` + ``files[n]`` parts (how discord.py uploads)."""
    if request.content_type.startswith("multipart/"):
        payload: Any = {}
        uploads: list[Upload] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            name = getattr(part, "name", None) or ""
            if name == "payload_json":
                payload = json.loads(await part.text())  # type: ignore[union-attr]
            elif match := FILE_FIELD.fullmatch(name):
                data = bytes(await part.read(decode=False))  # type: ignore[union-attr]
                filename = getattr(part, "filename", None) or f"file{match[1]}"
                uploads.append(
                    Upload(int(match[1]), filename, data, part.headers.get("Content-Type"))
                )
        return payload, uploads
    text = await request.text() if request.can_read_body else ""
    return (json.loads(text) if text else {}), []


class RestAPI:
    """Route handlers; all state lives in the FakeDiscord they belong to."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.state = fake.state

    def routes(self) -> list[web.RouteDef]:
        p = API_PREFIX
        return [
            web.get(p + "/gateway", self.get_gateway),
            web.get(p + "/gateway/bot", self.get_gateway_bot),
            web.get(p + "/users/@me", self.get_me),
            web.get(p + "/users/{user_id:\\d+}", self.get_user),
            web.post(p + "/users/@me/channels", self.create_dm),
            web.get(p + "/oauth2/applications/@me", self.get_application),
            web.get(p + "/applications/@me", self.get_application),
            web.get(p + "/applications/{app_id}/commands", self.get_commands),
            web.put(p + "/applications/{app_id}/commands", self.put_commands),
            web.get(p + "/applications/{app_id}/guilds/{guild_id}/commands", self.get_commands),
            web.put(p + "/applications/{app_id}/guilds/{guild_id}/commands", self.put_commands),
            web.post(p + "/interactions/{interaction_id}/{token}/callback", self.callback),
            web.post(p + "/webhooks/{app_id}/{token}", self.followup),
            web.get(p + "/webhooks/{app_id}/{token}/messages/{message_id}", self.get_webhook_msg),
            web.patch(
                p + "/webhooks/{app_id}/{token}/messages/{message_id}", self.edit_webhook_msg
            ),
            web.delete(
                p + "/webhooks/{app_id}/{token}/messages/{message_id}", self.delete_webhook_msg
            ),
            web.get(p + "/channels/{channel_id}", self.get_channel),
            web.get(p + "/channels/{channel_id}/messages", self.list_messages),
            web.post(p + "/channels/{channel_id}/messages", self.create_message),
            web.get(p + "/channels/{channel_id}/messages/{message_id}", self.get_message),
            web.patch(p + "/channels/{channel_id}/messages/{message_id}", self.edit_message),
            web.delete(p + "/channels/{channel_id}/messages/{message_id}", self.delete_message),
            web.post(p + "/channels/{channel_id}/typing", self.typing),
            web.put(
                p + "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
                self.add_reaction,
            ),
            web.delete(
                p + "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
                self.remove_reaction,
            ),
            web.get(p + "/guilds/{guild_id}", self.get_guild),
            web.get(p + "/guilds/{guild_id}/channels", self.get_guild_channels),
            web.get(p + "/guilds/{guild_id}/members/{user_id}", self.get_member),
            web.get("/cdn/attachments/{channel_id}/{attachment_id}/{filename}", self.cdn),
        ]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Injected faults (``fake.faults``), then the real answer; every API call is logged."""
        is_api = request.path.startswith(API_PREFIX)
        path = request.path[len(API_PREFIX) :]
        fault = self.fake.faults.pick(request.method, path) if is_api else None
        response: web.StreamResponse | None = None
        try:
            if fault is not None and not fault.lands:
                await request.read()  # answering before the upload is read resets the socket
            else:
                response = await self._serve(request, handler)
            if fault is not None:
                response = fault.response(request.method, path)
            assert response is not None
            return response
        finally:
            if is_api:
                self.state.requests.append(
                    RequestRecord(
                        time.monotonic(),
                        request.method,
                        path,
                        response.status if response is not None else 500,
                        fault=fault.kind if fault is not None else None,
                    )
                )
            await self.fake.notify()

    async def _serve(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Auth, the handler, Discord-shaped errors, and loud unknown routes."""
        try:
            if self._needs_bot_auth(request) and (
                request.headers.get("Authorization") != f"Bot {self.fake.token}"
            ):
                raise APIError(401, 0, "401: Unauthorized")
            return await handler(request)
        except APIError as exc:
            return json_response(exc.body(), exc.status)
        except web.HTTPException as exc:
            if exc.status in (404, 405):
                # A route the fake lacks: fail the test (the log guard turns ERROR into a failure)
                log.error("FakeDiscord has no route for %s %s", request.method, request.path)
            return json_response({"code": 0, "message": f"{exc.status}: {exc.reason}"}, exc.status)

    def _needs_bot_auth(self, request: web.Request) -> bool:
        path = request.path[len(API_PREFIX) :]
        return request.path.startswith(API_PREFIX) and not path.startswith(
            ("/interactions/", "/webhooks/", "/gateway")
        )

    # -- users, application, gateway --

    async def get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.fake.gateway_url})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        """What an auto-sharded client asks first: the URL and how many shards to run."""
        return json_response(
            {
                "url": self.fake.gateway_url,
                "shards": self.fake.recommended_shards,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    async def get_me(self, request: web.Request) -> web.Response:
        return json_response(
            self.state.bot_user.payload() | {"verified": True, "mfa_enabled": False}
        )

    async def get_user(self, request: web.Request) -> web.Response:
        user = self.state.users.get(int(request.match_info["user_id"]))
        if user is None:
            raise APIError(404, 10013, "Unknown User")
        return json_response(user.payload())

    async def get_application(self, request: web.Request) -> web.Response:
        state = self.state
        return json_response(
            {
                "id": str(state.application_id),
                "name": state.bot_user.name,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": state.owner.payload(),
                "verify_key": "0" * 64,
                "team": None,
                "flags": state.application_flags,
                "bot": state.bot_user.payload(),
                "install_params": {"scopes": ["bot", "applications.commands"], "permissions": "0"},
                "integration_types_config": {"0": {}},
            }
        )

    async def create_dm(self, request: web.Request) -> web.Response:
        payload, _ = await read_body(request)
        user = self.state.users.get(int(payload.get("recipient_id", 0)))
        if user is None:
            raise APIError(404, 10013, "Unknown User")
        return json_response(self.state.dm_channel(user).payload())

    # -- application commands --

    def _check_app(self, request: web.Request) -> int | None:
        if request.match_info["app_id"] != str(self.state.application_id):
            raise APIError(404, 10002, "Unknown Application")
        guild_id = request.match_info.get("guild_id")
        if guild_id is None:
            return None
        if int(guild_id) not in self.state.guilds:
            raise APIError(403, 50001, "Missing Access")
        return int(guild_id)

    async def get_commands(self, request: web.Request) -> web.Response:
        guild_id = self._check_app(request)
        return json_response([c.payload() for c in self.state.commands_for(guild_id)])

    async def put_commands(self, request: web.Request) -> web.Response:
        guild_id = self._check_app(request)
        definitions, _ = await read_body(request)
        seen: set[tuple[str, int]] = set()
        for i, definition in enumerate(definitions):
            key = (definition.get("name", ""), int(definition.get("type", 1)))
            if key in seen:
                raise form_error(
                    [i, "name"],
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                )
            seen.add(key)
            if key[1] == 1 and not 1 <= len(definition.get("description") or "") <= 100:
                raise form_error(
                    [i, "description"],
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
        if sum(1 for _, t in seen if t == 3) > 15:
            raise APIError(400, 30032, "Maximum number of application commands reached (15)")
        commands = self.state.overwrite_commands(guild_id, definitions)
        return json_response([c.payload() for c in commands])

    # -- interactions --

    async def callback(self, request: web.Request) -> web.Response:
        interaction = self.state.interactions.get(int(request.match_info["interaction_id"]))
        if interaction is None or interaction.token != request.match_info["token"]:
            raise unknown_interaction()
        if interaction.callbacks:
            raise APIError(400, 40060, "Interaction has already been acknowledged.")
        if self.fake.now() - interaction.created_at > self.fake.ack_timeout:
            raise unknown_interaction()
        body, uploads = await read_body(request)
        kind = int(body.get("type", 0))
        data = body.get("data") or {}
        if kind not in ALLOWED_CALLBACKS.get(interaction.type, set()):
            raise form_error(
                ["type"],
                "INTERACTION_RESPONSE_TYPE_INVALID",
                f"Callback type {kind} is not valid for interaction type {interaction.type}",
            )
        if kind in (6, 7) and interaction.source_message is None:
            raise form_error(
                ["type"],
                "INTERACTION_RESPONSE_TYPE_INVALID",
                "This interaction has no message to update",
            )
        message = self._apply_callback(interaction, kind, data, uploads)
        await self.fake.record_callback(interaction, kind, data, message)
        result: dict[str, Any] = {
            "interaction": {
                "id": str(interaction.id),
                "type": interaction.type,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(message and message.ephemeral),
            }
        }
        if message is not None:
            result["interaction"]["response_message_id"] = str(message.id)
            result["resource"] = {"type": kind, "message": message.payload()}
        return json_response(result)

    def _apply_callback(
        self, interaction: Interaction, kind: int, data: dict[str, Any], uploads: list[Upload]
    ) -> Message | None:
        limits = self.fake.limits
        if kind == 4:
            check_message(data, uploads, limits, creating=True)
            return self._interaction_message(interaction, data, uploads)
        if kind == 5:
            flags = int(data.get("flags") or 0) & MessageFlag.EPHEMERAL
            message = self._interaction_message(interaction, {"content": "", "flags": flags}, [])
            message.flags |= MessageFlag.LOADING
            return message
        if kind == 7:
            check_message(data, uploads, limits, creating=False)
            assert interaction.source_message is not None
            return self.state.edit_message(interaction.source_message, data, uploads)
        if kind == 8:
            choices = data.get("choices") or []
            if len(choices) > limits.autocomplete_choices:
                raise form_error(
                    ["data", "choices"],
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {limits.autocomplete_choices} or fewer in length.",
                )
        if kind == 9:
            check_modal(data, limits)
        return None

    def _interaction_message(
        self,
        interaction: Interaction,
        data: dict[str, Any],
        uploads: list[Upload],
        *,
        followup: bool = False,
    ) -> Message:
        state = self.state
        command_type = (interaction.payload.get("data") or {}).get("type", 1)
        kind = 0
        if interaction.type == 2 and not followup:
            kind = 20 if command_type == 1 else 23
        metadata: dict[str, Any] = {
            "id": str(interaction.id),
            "type": interaction.type,
            "user": interaction.user.payload(),
            "authorizing_integration_owners": interaction.payload.get(
                "authorizing_integration_owners", {}
            ),
        }
        if interaction.source_message is not None:
            metadata["interacted_message_id"] = str(interaction.source_message.id)
        if followup and interaction.original is not None:
            metadata["original_response_message_id"] = str(interaction.original.id)
        message = state.create_message(
            interaction.channel,
            state.bot_user,
            data,
            uploads,
            type=kind,
            webhook_id=state.application_id,
            application_id=state.application_id,
            interaction_metadata=metadata,
        )
        if followup:
            interaction.followups.append(message)
        else:
            interaction.original = message
        return message

    def _webhook_interaction(self, request: web.Request) -> Interaction:
        """The interaction behind a webhook token; expired tokens answer 50027 like Discord."""
        if request.match_info["app_id"] != str(self.state.application_id):
            raise APIError(404, 10015, "Unknown Webhook")
        interaction = self.state.interaction_by_token(request.match_info["token"])
        if (
            interaction is None
            or interaction.token_expired
            or (self.fake.now() - interaction.created_at > self.fake.token_lifetime)
        ):
            raise invalid_webhook_token()
        if not interaction.callbacks:
            raise APIError(404, 10015, "Unknown Webhook")
        return interaction

    def _webhook_message(self, request: web.Request) -> tuple[Interaction, Message]:
        interaction = self._webhook_interaction(request)
        ref = request.match_info["message_id"]
        if ref == "@original":
            message = interaction.original
        else:
            candidates = [interaction.original, *interaction.followups]
            message = next((m for m in candidates if m is not None and str(m.id) == ref), None)
        if message is None or message.deleted:
            raise unknown_message()
        return interaction, message

    async def followup(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        body, uploads = await read_body(request)
        check_message(body, uploads, self.fake.limits, creating=True)
        original = interaction.original
        first = interaction.response
        if original is not None and original.loading and first is not None and first.type == 5:
            # After a deferred response the first followup fills the "thinking" message.
            message = self.state.edit_message(original, body, uploads)
            await self.fake.dispatch_message(message, "MESSAGE_UPDATE")
        else:
            message = self._interaction_message(interaction, body, uploads, followup=True)
            await self.fake.dispatch_message(message, "MESSAGE_CREATE")
        if request.query.get("wait", "false").lower() in ("true", "1"):
            return json_response(message.payload())
        return no_content()

    async def get_webhook_msg(self, request: web.Request) -> web.Response:
        _, message = self._webhook_message(request)
        return json_response(message.payload())

    async def edit_webhook_msg(self, request: web.Request) -> web.Response:
        _, message = self._webhook_message(request)
        body, uploads = await read_body(request)
        check_message(body, uploads, self.fake.limits, creating=False)
        self.state.edit_message(message, body, uploads)
        await self.fake.dispatch_message(message, "MESSAGE_UPDATE")
        return json_response(message.payload())

    async def delete_webhook_msg(self, request: web.Request) -> web.Response:
        _, message = self._webhook_message(request)
        await self.fake.delete(message)
        return no_content()

    # -- channels and messages --

    def _channel(self, request: web.Request) -> Channel:
        channel = self.state.channels.get(int(request.match_info["channel_id"]))
        if channel is None:
            raise unknown_channel()
        return channel

    def _require(self, channel: Channel, needed: int) -> None:
        """Raises 50001/50013 when the bot lacks ``needed`` in ``channel``."""
        if channel.is_dm:
            return
        perms = self.state.permissions(self.state.bot_user, channel)
        if not perms & Perm.VIEW_CHANNEL:
            raise APIError(403, 50001, "Missing Access")
        if perms & needed != needed:
            raise missing_permissions()

    def _channel_message(self, request: web.Request, channel: Channel) -> Message:
        message = self.state.messages.get(int(request.match_info["message_id"]))
        if (
            message is None
            or message.deleted
            or message.channel_id != channel.id
            or (message.ephemeral)
        ):
            raise unknown_message()
        return message

    async def get_channel(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        self._require(channel, Perm.VIEW_CHANNEL)
        return json_response(channel.payload())

    async def list_messages(self, request: web.Request) -> web.Response:
        """Channel history as Discord pages it: newest first, at most ``limit`` (1-100, 50).

        ``before``: the newest ones older than it; ``after``: the oldest ones newer than it
        (still listed newest first); ``around``: about half on each side, itself included.
        Payloads carry components (custom_ids) but no nonce.
        """
        channel = self._channel(request)
        self._require(channel, Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        query = request.query
        limit = _query_int(query, "limit", 50)
        if not 1 <= limit <= 100:
            raise form_error(
                ["limit"],
                "NUMBER_TYPE_MAX" if limit > 100 else "NUMBER_TYPE_MIN",
                "int value should be between 1 and 100.",
            )
        oldest_first = sorted(self.state.channel_messages(channel), key=lambda m: m.id)
        if "before" in query:
            before = _query_int(query, "before")
            picked = [m for m in oldest_first if m.id < before][-limit:]
        elif "after" in query:
            after = _query_int(query, "after")
            picked = [m for m in oldest_first if m.id > after][:limit]
        elif "around" in query:
            around = _query_int(query, "around")
            half = limit // 2
            older = [m for m in oldest_first if m.id < around][-half:] if half else []
            picked = older + [m for m in oldest_first if m.id >= around][: limit - half]
        else:
            picked = oldest_first[-limit:]
        return json_response([m.payload() for m in reversed(picked)])

    async def create_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        body, uploads = await read_body(request)
        if channel.is_dm:
            assert channel.recipient is not None
            if channel.recipient.id in self.state.dms_closed:
                raise APIError(403, 50007, "Cannot send messages to this user")
        needed = Perm.SEND_MESSAGES | (Perm.ATTACH_FILES if uploads else 0)
        self._require(channel, needed)
        check_message(body, uploads, self.fake.limits, creating=True)
        ref = body.get("message_reference")
        if ref and ref.get("message_id"):
            target = self.state.messages.get(int(ref["message_id"]))
            if (target is None or target.deleted) and ref.get("fail_if_not_exists", True):
                raise form_error(
                    ["message_reference"], "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                )
        if not channel.is_dm and not (
            self.state.permissions(self.state.bot_user, channel) & Perm.EMBED_LINKS
        ):
            body = {**body, "embeds": []}  # Discord drops embeds silently without Embed Links
        body = {**body, "flags": int(body.get("flags") or 0) & ~MessageFlag.EPHEMERAL}
        nonce = _nonce(body)
        author = self.state.bot_user
        if nonce is not None and body.get("enforce_nonce"):
            earlier = self.state.messages.get(self.fake.nonces.find(author.id, nonce) or 0)
            if earlier is not None and not earlier.deleted:
                self.fake.nonces.hits += 1
                return json_response(earlier.payload(with_nonce=True))
        message = self.state.create_message(channel, author, body, uploads)
        message.nonce = nonce
        if nonce is not None:
            self.fake.nonces.remember(author.id, nonce, message.id)
        await self.fake.dispatch_message(message, "MESSAGE_CREATE")
        return json_response(message.payload(with_nonce=True))

    async def get_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        self._require(channel, Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        return json_response(self._channel_message(request, channel).payload())

    async def edit_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        message = self._channel_message(request, channel)
        if message.author.id != self.state.bot_user.id:
            raise APIError(403, 50005, "Cannot edit a message authored by another user")
        body, uploads = await read_body(request)
        check_message(body, uploads, self.fake.limits, creating=False)
        self.state.edit_message(message, body, uploads)
        await self.fake.dispatch_message(message, "MESSAGE_UPDATE")
        return json_response(message.payload())

    async def delete_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        message = self._channel_message(request, channel)
        if message.author.id != self.state.bot_user.id and not channel.is_dm:
            self._require(channel, Perm.MANAGE_MESSAGES)
        await self.fake.delete(message)
        return no_content()

    async def typing(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        self._require(channel, Perm.SEND_MESSAGES)
        self.fake.typing.append((time.monotonic(), channel.id))
        return no_content()

    async def add_reaction(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        self._require(channel, Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY | Perm.ADD_REACTIONS)
        message = self._channel_message(request, channel)
        await self.fake.set_reaction(
            self.state.bot_user, message, request.match_info["emoji"], added=True
        )
        return no_content()

    async def remove_reaction(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        message = self._channel_message(request, channel)
        await self.fake.set_reaction(
            self.state.bot_user, message, request.match_info["emoji"], added=False
        )
        return no_content()

    # -- guilds --

    def _guild(self, request: web.Request) -> Guild:
        guild = self.state.guilds.get(int(request.match_info["guild_id"]))
        if guild is None:
            raise APIError(404, 10004, "Unknown Guild")
        return guild

    async def get_guild(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        payload = guild.payload(bot_user_id=self.state.bot_user.id, with_all_members=False)
        for key in ("members", "channels", "threads", "voice_states", "presences"):
            payload.pop(key)
        return json_response(payload)

    async def get_guild_channels(self, request: web.Request) -> web.Response:
        return json_response([c.payload() for c in self._guild(request).channels.values()])

    async def get_member(self, request: web.Request) -> web.Response:
        member = self._guild(request).members.get(int(request.match_info["user_id"]))
        if member is None:
            raise APIError(404, 10007, "Unknown Member")
        return json_response(member.payload())

    # -- CDN --

    async def cdn(self, request: web.Request) -> web.Response:
        attachment = self.state.attachments.get(int(request.match_info["attachment_id"]))
        if attachment is None or attachment.filename != request.match_info["filename"]:
            raise APIError(404, 0, "404: Not Found")
        return web.Response(
            body=attachment.data, content_type=attachment.content_type or "application/octet-stream"
        )


def _query_int(query: Mapping[str, str], name: str, default: int | None = None) -> int:
    """An integer query parameter, refused like Discord refuses one that is not a number."""
    raw = query.get(name)
    if raw is None:
        if default is None:
            raise form_error([name], "BASE_TYPE_REQUIRED", "This field is required")
        return default
    try:
        return int(raw)
    except ValueError:
        raise form_error([name], "NUMBER_TYPE_COERCE", f'Value "{raw}" is not int.') from None


def _nonce(body: Mapping[str, Any]) -> str | None:
    """The create body's nonce as a string; Discord refuses one longer than 25 characters."""
    nonce = body.get("nonce")
    if nonce is None:
        return None
    text = str(nonce)
    if len(text) > MAX_NONCE_LENGTH:
        raise form_error(
            ["nonce"], "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_NONCE_LENGTH} or fewer in length."
        )
    return text
