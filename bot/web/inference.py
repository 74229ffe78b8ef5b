"""POST /run_inference/: Riffusion's inference API, as its reference server answers it.

Riffusion's web app (github.com/riffusion/riffusion-app) talks to one URL with the reference's
InferenceInput JSON and shows the InferenceOutput it gets back; pointed at this bot, its clips
are made on the bot's queue, in turn with Discord users (bot/jobs/inference.py).

- Keys: WEB_API_KEYS binds each key to a server, whose rules apply. A key travels as
  `Authorization: Bearer <key>` or in the path, `/k/<key>/run_inference/` (the web app's proxy
  forwards to one fixed URL and sends no header). Keys are compared in constant time; a
  missing or wrong key is the same 401, which never says whether a key exists. Without a key
  only a loopback web side (WEB_HOST 127.0.0.1, localhost or ::1) answers.
- CORS is open as the reference's is (any origin; a preflight is answered).
- Statuses: 200 the clip; 400 a body that is not an InferenceInput, or a rule of the server
  (blocked words, too many steps); 401 no valid key; 413 a body over the cap; 429 the key's
  share of the queue (or of the day) is used; 503 the server is paused or the bot is stopping;
  500 rendering failed. Every error is JSON: {"error": "..."}.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from bot.jobs.inference import BadInput, Caller, InferenceService, Refused, api_lane
from bot.web.server import MAX_BODY_BYTES

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization",
    "Access-Control-Max-Age": "600",
}
NO_KEY = (
    "a valid API key is required: send it as 'Authorization: Bearer <key>' or in the path "
    "/k/<key>/run_inference/"
)
STATUS_OF = {"paused": 503, "limit": 429, "rule": 400, "failed": 500}


def error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers={**CORS_HEADERS, **headers})


def find_key(given: str, keys: Sequence[tuple[str, int]]) -> tuple[str, int] | None:
    """The (key, guild) pair `given` is, compared in constant time against every key."""
    found = None
    for key, guild_id in keys:
        if hmac.compare_digest(given.encode(), key.encode()):
            found = (key, guild_id)
    return found


@dataclass
class InferenceRoutes:
    """The reference's one call, with and without the key in the path."""

    service: InferenceService
    keys: tuple[tuple[str, int], ...]
    on_loopback: bool  # keys are optional for callers on this machine

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/run_inference/", self.run_inference),
            web.post("/k/{key}/run_inference/", self.run_inference),
            web.options("/run_inference/", self.preflight),
            web.options("/k/{key}/run_inference/", self.preflight),
        ]

    async def preflight(self, request: web.Request) -> web.Response:
        return web.Response(status=204, headers=CORS_HEADERS)

    def caller(self, request: web.Request) -> Caller | None:
        """Who calls: the key's server, this machine without a key (loopback), or None."""
        given = request.match_info.get("key")
        if given is None:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                given = token.strip()
        if given is None:
            return Caller(lane=api_lane(None), guild_id=None) if self.on_loopback else None
        found = find_key(given, self.keys)
        if found is None:
            return None
        key, guild_id = found
        return Caller(lane=api_lane(key), guild_id=guild_id)

    async def run_inference(self, request: web.Request) -> web.Response:
        caller = self.caller(request)
        if caller is None:
            return error(401, NO_KEY, **{"WWW-Authenticate": "Bearer"})
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return error(413, f"the body is over {MAX_BODY_BYTES} bytes")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return error(413, f"the body is over {MAX_BODY_BYTES} bytes")
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return error(400, "the body must be JSON (InferenceInput)")
        try:
            inference = self.service.parse(data)
            output = await self.service.run(caller, inference)
        except BadInput as exc:
            return error(400, str(exc))
        except Refused as exc:
            return error(STATUS_OF.get(exc.why, 400), str(exc))
        return web.json_response(output.to_json(), headers=CORS_HEADERS)
