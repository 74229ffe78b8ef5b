"""Database reads and writes the bot needs, each one short unit of work."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import delete, func, select, update

from bot.db import Database
from bot.models import Favourite, Generation, Job, JobState


async def create_job(
    db: Database,
    *,
    kind: str,
    user_id: int,
    guild_id: int | None,
    channel_id: int | None,
    params: dict[str, Any],
    parent_generation_id: int | None,
) -> int:
    async with db.session() as session:
        job = Job(
            kind=kind,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            params=params,
            parent_generation_id=parent_generation_id,
        )
        session.add(job)
        await session.flush()
        return job.id


async def update_job(db: Database, job_id: int, **values: Any) -> None:
    state = values.get("state")
    if isinstance(state, JobState):
        values["state"] = state.value
    now = datetime.now(timezone.utc)
    if values.get("state") == JobState.RUNNING.value:
        values.setdefault("started_at", now)
    elif values.get("state") in {
        s.value for s in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)
    }:
        values.setdefault("finished_at", now)
    async with db.session() as session:
        await session.execute(update(Job).where(Job.id == job_id).values(**values))


async def unfinished_jobs(db: Database) -> list[Job]:
    """Jobs a previous run left queued or running (it stopped or crashed)."""
    async with db.session() as session:
        rows = await session.scalars(
            select(Job)
            .where(Job.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]))
            .order_by(Job.created_at, Job.id)
        )
        return list(rows)


async def get_generation(db: Database, generation_id: int) -> Generation | None:
    async with db.session() as session:
        return await session.get(Generation, generation_id)


async def add_generation(db: Database, generation: Generation) -> Generation:
    async with db.session() as session:
        session.add(generation)
        await session.flush()
        return generation


async def update_generation(db: Database, generation_id: int, **values: Any) -> None:
    async with db.session() as session:
        await session.execute(
            update(Generation).where(Generation.id == generation_id).values(**values)
        )


async def toggle_favourite(db: Database, user_id: int, generation_id: int) -> tuple[bool, int]:
    """Add or remove the favourite; returns (is favourite now, the user's favourite count)."""
    async with db.session() as session:
        removed = await session.execute(
            delete(Favourite).where(
                Favourite.user_id == user_id, Favourite.generation_id == generation_id
            )
        )
        now_favourite = removed.rowcount == 0
        if now_favourite:
            session.add(Favourite(user_id=user_id, generation_id=generation_id))
            await session.flush()
        count = await session.scalar(
            select(func.count()).select_from(Favourite).where(Favourite.user_id == user_id)
        )
    return now_favourite, int(count or 0)


async def favourite_count(db: Database, generation_id: int) -> int:
    async with db.session() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Favourite)
            .where(Favourite.generation_id == generation_id)
        )
    return int(count or 0)
