"""Database reads and writes the bot needs, each one short unit of work."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from bot.store.db import Database, rowcount
from bot.store.models import (
    UNFINISHED_STATES,
    CommandSync,
    Favourite,
    Generation,
    Job,
    JobState,
    utcnow,
)


async def create_job(
    db: Database,
    *,
    kind: str,
    user_id: int,
    guild_id: int | None,
    channel_id: int | None,
    params: dict[str, Any],
    parent_generation_id: int | None,
    task: dict[str, Any] | None = None,
) -> int:
    async with db.session() as session:
        job = Job(
            kind=kind,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            params=params,
            task=task or {},
            parent_generation_id=parent_generation_id,
        )
        session.add(job)
        await session.flush()
        return job.id


async def delete_job(db: Database, job_id: int) -> None:
    """Forget a row whose job the queue refused (it was never acknowledged to anyone)."""
    async with db.session() as session:
        await session.execute(delete(Job).where(Job.id == job_id))


async def mark_started(db: Database, job_ids: Sequence[int]) -> None:
    """A batch started: running, one more attempt, start times in the batch's turn order.

    Only rows still queued change: a job that already finished keeps its final state. The
    start times step by a microsecond so the order the queue served them stays readable
    (bot/jobs/recovery.py rebuilds the queue's turns from them).
    """
    base = datetime.now(timezone.utc)
    async with db.session() as session:
        for i, job_id in enumerate(job_ids):
            await session.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == JobState.QUEUED.value)
                .values(
                    state=JobState.RUNNING.value,
                    started_at=base + timedelta(microseconds=i),
                    attempts=Job.attempts + 1,
                )
            )


async def last_starts(db: Database, user_ids: Iterable[int]) -> dict[int, datetime]:
    """Each user's most recent job start (any state): when the queue last served them."""
    users = list(set(user_ids))
    if not users:
        return {}
    async with db.session() as session:
        rows = await session.execute(
            select(Job.user_id, func.max(Job.started_at))
            .where(Job.user_id.in_(users), Job.started_at.is_not(None))
            .group_by(Job.user_id)
        )
        return {user: as_utc(at) for user, at in rows if at is not None}


def as_utc(value: datetime) -> datetime:
    """SQLite hands datetimes back without a zone; they were written in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


async def update_job(db: Database, job_id: int, **values: Any) -> None:
    state = values.get("state")
    if isinstance(state, JobState):
        values["state"] = state.value
    now = datetime.now(timezone.utc)
    if values.get("state") == JobState.RUNNING.value:
        values.setdefault("started_at", now)
    elif values.get("state") is not None and values["state"] != JobState.QUEUED.value:
        # When rendering finished (or the job ended without): a delivery keeps that time.
        values.setdefault("finished_at", func.coalesce(Job.finished_at, now))
    async with db.session() as session:
        await session.execute(update(Job).where(Job.id == job_id).values(**values))


async def unfinished_jobs(db: Database) -> list[Job]:
    """Jobs a previous run left queued, running or rendered (it stopped or crashed)."""
    async with db.session() as session:
        rows = await session.scalars(
            select(Job)
            .where(Job.state.in_([state.value for state in UNFINISHED_STATES]))
            .order_by(Job.created_at, Job.id)
        )
        return list(rows)


async def get_generation(db: Database, generation_id: int) -> Generation | None:
    async with db.session() as session:
        return await session.get(Generation, generation_id)


async def add_generation(
    db: Database, generation: Generation, *, job_id: int | None = None
) -> Generation:
    """Insert the result row; with `job_id`, link the job to it in the same transaction."""
    async with db.session() as session:
        session.add(generation)
        await session.flush()
        if job_id is not None:
            await session.execute(
                update(Job).where(Job.id == job_id).values(generation_id=generation.id)
            )
        return generation


async def delete_generation(db: Database, generation_id: int) -> None:
    async with db.session() as session:
        await session.execute(delete(Generation).where(Generation.id == generation_id))


async def update_generation(db: Database, generation_id: int, **values: Any) -> None:
    async with db.session() as session:
        await session.execute(
            update(Generation).where(Generation.id == generation_id).values(**values)
        )


async def remember_message(
    db: Database, generation: Generation, message_id: int, channel_id: int
) -> None:
    """Someone used a result before the bot recorded where it posted it (a click or a reply
    right after posting): record it now, so links to it and lookups by message work."""
    if generation.message_id is None:
        generation.message_id, generation.channel_id = message_id, channel_id
        await update_generation(db, generation.id, message_id=message_id, channel_id=channel_id)


async def toggle_favourite(db: Database, user_id: int, generation_id: int) -> tuple[bool, int]:
    """Add or remove the favourite; returns (is favourite now, the user's favourite count).

    Two clicks of one user racing (a double click, two devices) can both find no row; the
    unique (user, generation) constraint stops the second insert, and that click reports the
    favourite as added, which it is.
    """
    try:
        return await _toggle_favourite(db, user_id, generation_id)
    except IntegrityError:
        async with db.session() as session:
            count = await session.scalar(
                select(func.count()).select_from(Favourite).where(Favourite.user_id == user_id)
            )
        return True, int(count or 0)


async def _toggle_favourite(db: Database, user_id: int, generation_id: int) -> tuple[bool, int]:
    async with db.session() as session:
        removed = await session.execute(
            delete(Favourite).where(
                Favourite.user_id == user_id, Favourite.generation_id == generation_id
            )
        )
        now_favourite = rowcount(removed) == 0
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


async def generation_by_message(db: Database, message_id: int) -> Generation | None:
    """The (not deleted) result posted as this message, by the id recorded when it was posted."""
    async with db.session() as session:
        return await session.scalar(
            select(Generation)
            .where(Generation.message_id == message_id, Generation.deleted_at.is_(None))
            .limit(1)
        )


async def latest_playable(db: Database, user_id: int) -> int | None:
    """The user's newest result that still has its audio."""
    async with db.session() as session:
        return await session.scalar(
            select(Generation.id)
            .where(
                Generation.user_id == user_id,
                Generation.deleted_at.is_(None),
                Generation.audio_file.is_not(None),
            )
            .order_by(Generation.id.desc())
            .limit(1)
        )


async def synced_hash(db: Database, scope: str) -> str | None:
    """The hash of the application commands last synced to `scope`."""
    async with db.session() as session:
        row = await session.get(CommandSync, scope)
        return row.payload_hash if row is not None else None


async def remember_sync(db: Database, scope: str, digest: str) -> None:
    async with db.session() as session:
        row = await session.get(CommandSync, scope)
        if row is None:
            session.add(CommandSync(scope=scope, payload_hash=digest))
        else:
            row.payload_hash, row.synced_at = digest, utcnow()


async def generation_counts(db: Database) -> tuple[int, int]:
    """Results made in all, and since UTC midnight (for /about)."""
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    async with db.session() as session:
        total = await session.scalar(select(func.count()).select_from(Generation))
        today = await session.scalar(
            select(func.count())
            .select_from(Generation)
            .where(
                Generation.created_at >= midnight,
                Generation.created_at < midnight + timedelta(days=1),
            )
        )
    return int(total or 0), int(today or 0)


async def jobs_since(
    db: Database,
    user_id: int,
    since: datetime,
    states: Iterable[JobState],
    guild_id: int | None = None,
) -> int:
    """The user's jobs created since `since` in these states (in one guild, or everywhere)."""
    query = (
        select(func.count())
        .select_from(Job)
        .where(
            Job.user_id == user_id,
            Job.created_at >= since,
            Job.state.in_([state.value for state in states]),
        )
    )
    if guild_id is not None:
        query = query.where(Job.guild_id == guild_id)
    async with db.session() as session:
        return int(await session.scalar(query) or 0)


async def remember_post(db: Database, generation_id: int, **where: int | bool | str | None) -> None:
    """Where a result was posted: its message, channel and attachment ids, and whether that
    is a public channel (with its page's token)."""
    await update_generation(db, generation_id, **where)
