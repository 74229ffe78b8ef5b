"""How Discord answers when it fails: each status with the body and headers it really sends.

A failure is a ``RestFault``; its ``kind`` names it in ``fake.faults.counts`` and is what
``fake.faults.random(kinds=...)`` takes:

- ``"429"`` (a route's bucket), ``"429_global"``, ``"429_shared"``: JSON body and the rate-limit
  headers, with ``Via: 1.1 google``; ``"429_cloudflare"``: Cloudflare's HTML ban page without
  ``Via`` (discord.py raises instead of waiting: it only trusts a 429 that came through Google).
- ``"500"``: Discord's JSON ``{"message": "500: Internal Server Error", "code": 0}``;
  ``"502"``/``"504"`` (and any other 5xx): Cloudflare's HTML page; ``"503"``: the plain-text
  answer of Discord's Envoy proxy. ``"502_landed"`` (``"<status>_landed"``): the request was
  carried out (a message was created) and the client is still told 502.
- ``"<status>_<code>"`` such as ``"404_10003"``: Discord's JSON error, e.g. Unknown Channel.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import time
from dataclasses import dataclass

from aiohttp import web

VIA_GOOGLE = "1.1 google"
RATE_LIMIT_MESSAGE = "You are being rate limited."
RATE_LIMIT_SCOPES = ("user", "global", "shared")
#: Plain text Discord's Envoy proxy answers with when the service behind it is overloaded.
ENVOY_503 = "upstream connect error or disconnect/reset before headers. reset reason: overflow"
HTTP_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Time-out",
    520: "Web server is returning an unknown error",
    521: "Web server is down",
    522: "Connection timed out",
    524: "A timeout occurred",
}
#: Discord's status and message for the error codes a bot meets when something is gone or closed.
DISCORD_ERRORS: dict[int, tuple[int, str]] = {
    10003: (404, "Unknown Channel"),
    10008: (404, "Unknown Message"),
    10015: (404, "Unknown Webhook"),
    10062: (404, "Unknown interaction"),
    50001: (403, "Missing Access"),
    50007: (403, "Cannot send messages to this user"),
    50013: (403, "Missing Permissions"),
    50027: (401, "Invalid Webhook Token"),
}
#: The code a 4xx fault gets when the test names only the status.
DEFAULT_CODES = {401: 50027, 403: 50013, 404: 10003}


def cloudflare_page(status: int) -> str:
    """The HTML error page Cloudflare serves when Discord's origin fails (502, 504, 52x)."""
    title = f"{status} {HTTP_REASONS.get(status, 'Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
        "</body>\r\n</html>\r\n"
    )


CLOUDFLARE_BAN_PAGE = (
    "<!DOCTYPE html><html><head><title>Access denied | discord.com used Cloudflare to restrict "
    "access</title></head><body><h1>Error 1015</h1><h2>You are being rate limited</h2>"
    "</body></html>"
)


def cloudflare_headers() -> dict[str, str]:
    return {
        "Content-Type": "text/html",
        "Server": "cloudflare",
        "CF-RAY": f"{secrets.token_hex(8)}-FRA",
    }


def bucket_for(method: str, path: str) -> str:
    """A stable ``X-RateLimit-Bucket`` per route: ids are the same bucket, as Discord's are."""
    template = "/".join("{id}" if part.isdigit() else part for part in path.split("/"))
    return hashlib.sha1(f"{method} {template}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class RestFault:
    """One failed answer to a REST call.

    ``lands``: the call is carried out first (the message is created) and the answer is still
    this failure, like a 502 from Cloudflare after Discord's origin did the work.
    """

    status: int
    code: int | None = None
    lands: bool = False
    retry_after: float = 0.5
    scope: str = "user"
    via: bool = True

    def __post_init__(self) -> None:
        if self.status == 429:
            if self.scope not in RATE_LIMIT_SCOPES:
                raise ValueError(f"429 scope must be one of {RATE_LIMIT_SCOPES}")
        elif 400 <= self.status < 500:
            if self.code is None:
                if self.status not in DEFAULT_CODES:
                    raise ValueError(f"name the Discord error code for a {self.status}")
                object.__setattr__(self, "code", DEFAULT_CODES[self.status])
            if self.code not in DISCORD_ERRORS:
                raise ValueError(f"unknown Discord error code {self.code}")
        elif not 500 <= self.status < 600:
            raise ValueError(f"{self.status} is not a failure the fake can inject")

    @property
    def kind(self) -> str:
        if self.status == 429:
            if not self.via:
                return "429_cloudflare"
            return "429" if self.scope == "user" else f"429_{self.scope}"
        if self.status < 500:
            return f"{self.status}_{self.code}"
        return f"{self.status}_landed" if self.lands else str(self.status)

    def response(self, method: str, path: str) -> web.Response:
        """The answer as Discord (or Cloudflare in front of it) sends it."""
        if self.status == 429:
            return self._rate_limited(method, path)
        if self.status < 500:
            assert self.code is not None
            http_status, message = DISCORD_ERRORS[self.code]
            return _json(http_status, {"message": message, "code": self.code})
        if self.status == 500:
            return _json(500, {"message": "500: Internal Server Error", "code": 0})
        if self.status == 503:
            headers = {"Content-Type": "text/plain", "Via": VIA_GOOGLE}
            return web.Response(status=503, body=ENVOY_503.encode(), headers=headers)
        return web.Response(
            status=self.status,
            body=cloudflare_page(self.status).encode(),
            headers=cloudflare_headers(),
        )

    def _rate_limited(self, method: str, path: str) -> web.Response:
        if not self.via:
            headers = cloudflare_headers() | {"Retry-After": str(_whole(self.retry_after))}
            return web.Response(status=429, body=CLOUDFLARE_BAN_PAGE.encode(), headers=headers)
        is_global = self.scope == "global"
        headers = {
            "Retry-After": str(_whole(self.retry_after)),
            "X-RateLimit-Scope": self.scope,
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        else:
            headers |= {
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + self.retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{self.retry_after:.3f}",
                "X-RateLimit-Bucket": bucket_for(method, path),
            }
        body = {"message": RATE_LIMIT_MESSAGE, "retry_after": self.retry_after, "global": is_global}
        return _json(429, body, headers)


def parse_kind(kind: str, *, retry_after: float = 0.5) -> RestFault:
    """The ``RestFault`` a kind name stands for (``"429_global"``, ``"502_landed"``, ...)."""
    head, _, tail = kind.partition("_")
    try:
        status = int(head)
    except ValueError:
        raise ValueError(f"unknown REST fault kind {kind!r}") from None
    if status == 429:
        if tail == "cloudflare":
            return RestFault(429, retry_after=retry_after, via=False)
        return RestFault(429, retry_after=retry_after, scope=tail or "user")
    if status >= 500:
        if tail not in ("", "landed"):
            raise ValueError(f"unknown REST fault kind {kind!r}")
        return RestFault(status, lands=tail == "landed")
    return RestFault(status, code=int(tail) if tail else None)


def _whole(seconds: float) -> int:
    """``Retry-After`` carries whole seconds (rounded up); the body has the exact value."""
    return max(1, math.ceil(seconds))


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> web.Response:
    """Exactly ``application/json`` (discord.py compares the header verbatim) and ``Via``."""
    all_headers = {"Content-Type": "application/json", "Via": VIA_GOOGLE, **(headers or {})}
    return web.Response(status=status, body=json.dumps(body).encode(), headers=all_headers)
