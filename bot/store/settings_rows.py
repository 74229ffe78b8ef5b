"""Reads and writes of the settings tables: a server's /admin rules and a user's /settings.

The policy layer (bot/policy) turns these rows into rules and defaults; this module is only
where their SQL lives.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.store.db import Database
from bot.store.server_models import GuildSettings, UserSettings


async def guild_settings(db: Database, guild_id: int) -> GuildSettings | None:
    async with db.session() as session:
        return await session.get(GuildSettings, guild_id)


async def update_guild_settings(db: Database, guild_id: int, **values: Any) -> GuildSettings:
    """Change some of a guild's settings, creating its row on first use."""
    async with db.session() as session:
        row = await session.get(GuildSettings, guild_id)
        if row is None:
            row = GuildSettings(
                guild_id=guild_id,
                allowed_channels=[],
                blocked_words=[],
                blocked_patterns=[],
                paused=False,
            )
            session.add(row)
        for name, value in values.items():
            setattr(row, name, value)
        await session.flush()
        return row


async def paused_guilds(db: Database) -> list[int]:
    async with db.session() as session:
        return list(
            await session.scalars(
                select(GuildSettings.guild_id).where(GuildSettings.paused.is_(True))
            )
        )


async def user_settings(db: Database, user_id: int) -> UserSettings | None:
    async with db.session() as session:
        return await session.get(UserSettings, user_id)


async def save_user_settings(db: Database, user_id: int, **values: Any) -> UserSettings:
    """Store some of a user's settings, creating their row on first use."""
    async with db.session() as session:
        row = await session.get(UserSettings, user_id)
        if row is None:
            row = UserSettings(user_id=user_id, results_by_dm=False, extra={})
            session.add(row)
        for name, value in values.items():
            setattr(row, name, value)
        await session.flush()
        return row
