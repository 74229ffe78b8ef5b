"""What the web pages may show (docs/web.md): a result's page and a server's favourites gallery.

A result has a page only while all of these hold: it was posted in a server channel @everyone
can read (`Generation.public`, recorded at delivery with its unguessable `web_token`), it is
not deleted, and its server's admins have web pages on (`GuildSettings.web_pages`). Every
query here checks all of them in SQL, so a page that may not be shown is not found at all.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

from sqlalchemy import Select, func, select

from bot.store.db import Database
from bot.store.models import Favourite, Generation
from bot.store.server_models import GuildSettings

GALLERY_PER_PAGE = 24
TOKEN_BYTES = 32  # secrets.token_urlsafe(32): 43 characters, 256 random bits
TOKEN_LENGTH = 43


def new_token() -> str:
    """An unguessable name for a page or a gallery."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def _shown() -> Select[Generation]:
    """Results that have a page now."""
    return (
        select(Generation)
        .join(GuildSettings, GuildSettings.guild_id == Generation.guild_id)
        .where(
            GuildSettings.web_pages.is_(True),
            Generation.public.is_(True),
            Generation.web_token.is_not(None),
            Generation.deleted_at.is_(None),
        )
    )


async def shown_result(db: Database, token: str) -> Generation | None:
    """The result whose page `token` names, if it may be shown."""
    async with db.session() as session:
        return await session.scalar(_shown().where(Generation.web_token == token))


@dataclass(frozen=True)
class GalleryEntry:
    generation: Generation
    favourites: int


@dataclass(frozen=True)
class Gallery:
    """One page (0-based, clamped) of a server's favourited public results."""

    guild_id: int
    entries: list[GalleryEntry]
    total: int
    page: int
    per_page: int = GALLERY_PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


async def gallery(
    db: Database, guild_token: str, page: int, per_page: int = GALLERY_PER_PAGE
) -> Gallery | None:
    """A page of the gallery `guild_token` names (None: no such gallery, or pages are off):
    that server's results with a page and at least one favourite, the most favourited first,
    then the newest."""
    async with db.session() as session:
        guild_id = await session.scalar(
            select(GuildSettings.guild_id).where(
                GuildSettings.web_token == guild_token, GuildSettings.web_pages.is_(True)
            )
        )
        if guild_id is None:
            return None
        favourites = func.count(Favourite.id).label("favourites")
        query = (
            _shown()
            .add_columns(favourites)
            .join(Favourite, Favourite.generation_id == Generation.id)
            .where(Generation.guild_id == guild_id)
            .group_by(Generation.id)
        )
        total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
        pages = max(1, math.ceil(total / per_page))
        page = min(max(page, 0), pages - 1)
        rows = await session.execute(
            query.order_by(favourites.desc(), Generation.created_at.desc(), Generation.id.desc())
            .offset(page * per_page)
            .limit(per_page)
        )
        entries = [GalleryEntry(generation, int(count)) for generation, count in rows.all()]
        return Gallery(guild_id, entries, total, page, per_page)


def page_url(base_url: str, token: str) -> str:
    """A result's page; `base_url` is Settings.web_base_url."""
    return f"{base_url}/r/{token}"


def gallery_url(base_url: str, token: str, page: int = 0) -> str:
    """A server's favourites gallery (`page` 0-based; ?page= counts from 1)."""
    return f"{base_url}/g/{token}" + (f"?page={page + 1}" if page else "")
