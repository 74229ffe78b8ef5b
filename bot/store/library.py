"""A user's favourites and history as pages of generations (what /favorites and /history list).

Favourites are listed newest-favourited first and include results whose message was deleted
(Delete keeps the files of a favourite); history is the user's own results, newest first,
without the ones they deleted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Select, delete, func, select

from bot.store.db import Database, rowcount
from bot.store.models import Favourite, Generation

PER_PAGE = 5
ListKind = Literal["fav", "hist"]


@dataclass(frozen=True)
class Page:
    """One page of a list; `page` is 0-based and already clamped to the pages there are."""

    kind: ListKind
    user_id: int
    entries: list[Generation]
    total: int
    page: int
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def first_number(self) -> int:
        return self.page * self.per_page + 1


def _query(kind: ListKind, user_id: int) -> Select:
    if kind == "fav":
        return (
            select(Generation)
            .join(Favourite, Favourite.generation_id == Generation.id)
            .where(Favourite.user_id == user_id)
            .order_by(Favourite.created_at.desc(), Favourite.id.desc())
        )
    return (
        select(Generation)
        .where(Generation.user_id == user_id, Generation.deleted_at.is_(None))
        .order_by(Generation.created_at.desc(), Generation.id.desc())
    )


async def load_page(
    db: Database, kind: ListKind, user_id: int, page: int, per_page: int = PER_PAGE
) -> Page:
    """The page asked for, or the last one when the list got shorter (entries removed)."""
    query = _query(kind, user_id)
    async with db.session() as session:
        total = int(
            await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
            or 0
        )
        pages = max(1, math.ceil(total / per_page))
        page = min(max(page, 0), pages - 1)
        rows = await session.scalars(query.offset(page * per_page).limit(per_page))
        return Page(kind, user_id, list(rows), total, page, per_page)


async def favourite_ids(db: Database, user_id: int, generation_ids: list[int]) -> set[int]:
    """Which of these generations the user has favourited."""
    if not generation_ids:
        return set()
    async with db.session() as session:
        rows = await session.scalars(
            select(Favourite.generation_id).where(
                Favourite.user_id == user_id, Favourite.generation_id.in_(generation_ids)
            )
        )
        return set(rows)


async def remove_favourite(db: Database, user_id: int, generation_id: int) -> bool:
    """Remove one favourite; False when it was not one (already removed elsewhere)."""
    async with db.session() as session:
        result = await session.execute(
            delete(Favourite).where(
                Favourite.user_id == user_id, Favourite.generation_id == generation_id
            )
        )
        return rowcount(result) > 0
