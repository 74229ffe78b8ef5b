"""The web server: one aiohttp application on the bot's event loop, started in setup_hook.

Each feature is a route module (the WebRoutes protocol) the app builds with what it needs and
hands over here; this module only serves them, with what every answer needs: a cap on request
bodies, headers that keep pages from being framed or sniffed, and one JSON shape for errors of
the API. A port already in use is one warning line, and the bot runs on without its web side.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from aiohttp import web

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # the inference API's JSON is well under 1 KB
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "frame-ancestors 'none'",
}


class WebRoutes(Protocol):
    """A feature of the web side: the routes it serves."""

    def routes(self) -> list[web.RouteDef]: ...


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if isinstance(response, web.HTTPException):
        raise response
    return response


class WebServer:
    """Serves the route modules on WEB_HOST:WEB_PORT until stopped."""

    def __init__(self, host: str, port: int, features: Sequence[WebRoutes]) -> None:
        self.host = host
        self.port = port
        self.app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[security_headers])
        for feature in features:
            self.app.add_routes(feature.routes())
        self._runner: web.AppRunner | None = None

    @property
    def running(self) -> bool:
        """Listening now (started, and the port was free)."""
        return self._runner is not None

    async def start(self) -> bool:
        """Listen; False (and one warning) when the port is taken or not ours to use."""
        # handler_cancellation: a client that goes away cancels its handler (and the API its job)
        runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, handler_cancellation=True
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            why = "is already in use" if exc.errno == errno.EADDRINUSE else f"failed ({exc})"
            log.warning(
                "Web side off: %s:%d %s (set WEB_PORT to a free port, or empty for none)",
                self.host,
                self.port,
                why,
            )
            return False
        self._runner = runner
        log.info("Web side on http://%s:%d", self.host, self.port)
        return True

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
