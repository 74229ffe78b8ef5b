"""Result pages and the favourites gallery (docs/web.md): plain HTML, one stylesheet, no script.

/r/<token> is a result's page (spectrogram, player, prompt, parameters, the command that makes
it again, Open Graph tags so a link unfurls with the picture); /r/<token>/image.png and
/r/<token>/audio.mp3 are its files, read through Storage with the paths the result's row holds
(never a path from the URL); /g/<token>?page=N is a server's gallery of favourited results.
Whether anything may be shown is decided in SQL (bot/store/web_pages.py): a result that is not
public, deleted, or of a server with pages off answers exactly as a token that never existed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from string import Template

from aiohttp import web

from bot.jobs.kinds import kind_label
from bot.store.db import Database
from bot.store.files import Storage
from bot.store.models import Generation
from bot.store.web_pages import (
    TOKEN_LENGTH,
    Gallery,
    gallery,
    gallery_url,
    page_url,
    shown_result,
)

# Tokens are secrets.token_urlsafe(32); anything else is not looked up at all.
TOKEN = re.compile(rf"[A-Za-z0-9_-]{{{TOKEN_LENGTH}}}")
# What the pages may load: their own images, audio and stylesheet; nothing runs.
PAGE_CSP = (
    "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# Pages and files are checked again on every request (a deleted result or pages switched off
# stop showing at once); the files' ETag makes that cheap. The stylesheet may be kept.
NO_CACHE = "no-cache"
MAX_PAGE = 10_000  # ?page= beyond this is clamped (the gallery clamps to its last page anyway)

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<meta name="description" content="$description">
<meta name="robots" content="noindex">
$meta<link rel="stylesheet" href="/static/site.css">
</head>
<body>
<main>
$body</main>
</body>
</html>
""")


def e(value: object) -> str:
    """Every value that goes into a page, escaped (quotes too: values sit in attributes)."""
    return html.escape(str(value), quote=True)


def not_found() -> web.HTTPNotFound:
    """The one answer for anything not shown: aiohttp's own 404 for an unknown address."""
    return web.HTTPNotFound()


def parameters(generation: Generation) -> list[tuple[str, str]]:
    """What the page lists under the player (plain values; escaped when written)."""
    rows = [("Prompt", generation.prompt)]
    blend = generation.extra.get("blend") or {}
    if isinstance(blend, dict) and blend.get("prompt_b"):
        rows.append(("Blends into", str(blend["prompt_b"])))
    if generation.negative_prompt:
        rows.append(("Negative prompt", generation.negative_prompt))
    rows += [
        ("Seed", str(generation.seed)),
        ("Steps", str(generation.steps)),
        ("Guidance", f"{generation.guidance:g}"),
        ("Denoising", f"{generation.denoising:g}"),
        ("Seed image", generation.seed_image or "none"),
        ("Length", f"{(generation.audio_duration_s or generation.duration_s):.1f} s"),
        ("Model", generation.model),
        ("Made", generation.created_at.strftime("%Y-%m-%d %H:%M UTC")),
    ]
    return rows


def describe(generation: Generation) -> str:
    """og:description: what it is in one line."""
    length = generation.audio_duration_s or generation.duration_s
    return (
        f"{kind_label(generation.kind)} made with Riffusion: {length:.0f} s, "
        f"seed {generation.seed}, {generation.steps} steps."
    )


def clipped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class PageRoutes:
    """The pages; `command_of` is the command a result's Info shows (bot/ui, given by the
    app, since this layer does not import the Discord side)."""

    db: Database
    files: Storage
    base_url: str  # Settings.web_base_url: absolute links for Open Graph
    command_of: Callable[[Generation], str]

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/r/{token}", self.page),
            web.get("/r/{token}/image.png", self.image),
            web.get("/r/{token}/audio.mp3", self.audio),
            web.get("/g/{token}", self.gallery),  # its stylesheet: StaticRoutes
        ]

    async def _result(self, request: web.Request) -> Generation:
        token = request.match_info.get("token", "")
        if not TOKEN.fullmatch(token):
            raise not_found()
        generation = await shown_result(self.db, token)
        if generation is None:
            raise not_found()
        return generation

    def _file(self, relative: str | None) -> Path | None:
        """A result's stored file (its row's path under DATA_DIR), if it is still there."""
        if not relative:
            return None
        try:
            path = self.files.path(relative)
        except ValueError:
            return None
        return path if path.is_file() else None

    async def _serve(self, request: web.Request, which: str, content_type: str) -> web.FileResponse:
        generation = await self._result(request)
        relative = generation.image_file if which == "image" else generation.audio_file
        path = self._file(relative)
        if path is None:
            raise not_found()
        return web.FileResponse(
            path, headers={"Content-Type": content_type, "Cache-Control": NO_CACHE}
        )

    async def image(self, request: web.Request) -> web.FileResponse:
        return await self._serve(request, "image", "image/png")

    async def audio(self, request: web.Request) -> web.FileResponse:
        return await self._serve(request, "audio", "audio/mpeg")

    async def page(self, request: web.Request) -> web.Response:
        generation = await self._result(request)
        token = generation.web_token or ""
        here = page_url(self.base_url, token)
        title = f"{clipped(generation.prompt, 90)} · {kind_label(generation.kind)}"
        description = describe(generation)
        has_image = self._file(generation.image_file) is not None
        has_audio = self._file(generation.audio_file) is not None
        meta = [
            ("og:type", "music.song"),
            ("og:title", title),
            ("og:description", description),
            ("og:url", here),
            ("og:site_name", "Riffusion"),
        ]
        if has_image:
            meta += [
                ("og:image", f"{here}/image.png"),
                ("og:image:type", "image/png"),
                ("og:image:alt", f"Spectrogram of {clipped(generation.prompt, 200)}"),
            ]
        if has_audio:
            meta += [("og:audio", f"{here}/audio.mp3"), ("og:audio:type", "audio/mpeg")]
        tags = "".join(f'<meta property="{e(k)}" content="{e(v)}">\n' for k, v in meta)
        tags += '<meta name="twitter:card" content="summary_large_image">\n'
        tags += f'<meta name="twitter:title" content="{e(title)}">\n'
        tags += f'<meta name="twitter:description" content="{e(description)}">\n'
        if has_image:
            tags += f'<meta name="twitter:image" content="{e(here)}/image.png">\n'
        body = [f"<h1>{e(generation.prompt)}</h1>\n"]
        if has_image:
            body.append(
                f'<img class="spectrogram" src="/r/{e(token)}/image.png" '
                f'alt="Spectrogram of this {e(kind_label(generation.kind).lower())}" '
                f'width="{generation.width}" height="512">\n'
            )
        if has_audio:
            body.append(
                f'<audio controls preload="metadata" src="/r/{e(token)}/audio.mp3">'
                f'<a href="/r/{e(token)}/audio.mp3">Download the MP3</a></audio>\n'
            )
        if not (has_image and has_audio):
            body.append('<p class="note">Some of this result\'s files were removed.</p>\n')
        rows = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>\n" for k, v in parameters(generation))
        body.append(f"<h2>{e(kind_label(generation.kind))}</h2>\n<dl>\n{rows}</dl>\n")
        command = self.command_of(generation)
        if command:
            body.append(
                "<h2>Make it again</h2>\n<p>In Discord, with the bot:</p>\n"
                f"<pre><code>{e(command)}</code></pre>\n"
            )
        body.append("<footer>Made with Riffusion on Discord.</footer>\n")
        return self._html(title, description, tags, "".join(body))

    async def gallery(self, request: web.Request) -> web.Response:
        token = request.match_info.get("token", "")
        if not TOKEN.fullmatch(token):
            raise not_found()
        asked = request.query.get("page", "1")
        number = int(asked) if asked.isdigit() else 1
        found = await gallery(self.db, token, min(max(number, 1), MAX_PAGE) - 1)
        if found is None:
            raise not_found()
        title = "Favourites"
        description = f"{found.total} favourited results made with Riffusion on this server."
        tags = "".join(
            f'<meta property="{k}" content="{e(v)}">\n'
            for k, v in (
                ("og:type", "website"),
                ("og:title", title),
                ("og:description", description),
                ("og:url", gallery_url(self.base_url, token, found.page)),
            )
        )
        return self._html(title, description, tags, self._gallery_body(found, token))

    @staticmethod
    def _gallery_body(found: Gallery, token: str) -> str:
        body = [f"<h1>Favourites</h1>\n<p>Page {found.page + 1} of {found.pages}.</p>\n"]
        if not found.entries:
            body.append('<p class="note">Nothing favourited here yet.</p>\n')
        else:
            cards = []
            for entry in found.entries:
                generation = entry.generation
                link = f"/r/{e(generation.web_token)}"
                stars = f"★ {entry.favourites}"
                cards.append(
                    f'<li><a href="{link}"><img src="{link}/image.png" alt="" loading="lazy" '
                    f'width="{generation.width}" height="512">'
                    f"<span>{e(clipped(generation.prompt, 120))}</span>"
                    f"<small>{e(kind_label(generation.kind))} · {e(stars)}</small></a></li>\n"
                )
            body.append(f'<ul class="cards">\n{"".join(cards)}</ul>\n')
        newer = (
            f'<a href="/g/{e(token)}?page={found.page}" rel="prev">← Previous</a>'
            if found.page > 0
            else "<span></span>"
        )
        older = (
            f'<a href="/g/{e(token)}?page={found.page + 2}" rel="next">Next →</a>'
            if found.page + 1 < found.pages
            else "<span></span>"
        )
        body.append(f'<nav class="pages">{newer}{older}</nav>\n')
        return "".join(body)

    @staticmethod
    def _html(title: str, description: str, meta: str, body: str) -> web.Response:
        text = PAGE.substitute(title=e(title), description=e(description), meta=meta, body=body)
        return web.Response(
            text=text,
            content_type="text/html",
            charset="utf-8",
            headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": NO_CACHE},
        )
