"""GET /static/<name>: the pages' CSS and script, from bot/web/static/, by an allowlist.

Only the names in STATIC are served (never a path taken from the URL), read once and kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).parent / "static"
STATIC = {  # name -> content type; a page links /static/<name>
    "site.css": "text/css",
    "radio.js": "text/javascript",
}
CACHE = "public, max-age=300"


@dataclass
class StaticRoutes:
    """The allowlisted files of bot/web/static/."""

    files: dict[str, tuple[bytes, str]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for name, content_type in STATIC.items():
            self.files[name] = ((STATIC_DIR / name).read_bytes(), content_type)

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/static/{name}", self.serve)]

    async def serve(self, request: web.Request) -> web.Response:
        found = self.files.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        body, content_type = found
        return web.Response(
            body=body,
            content_type=content_type,
            charset="utf-8",
            headers={"Cache-Control": CACHE},
        )
