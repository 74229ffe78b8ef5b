"""Pruning old results' files, so DATA_DIR does not grow forever.

After RETENTION_DAYS (0 keeps everything) the PNG, MP3 and lossless master of a result are
deleted unless someone favourited it, or a queued job still needs them (a Variation or an
Extend of it). The generation row stays, with its file columns set to None: its parameters
still serve Info and Reroll, and its buttons say that the files were cleaned up. Files go first
and the row after, so a crash in between leaves a row the next run clears, never a lost file
that a row still promises.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import exists, func, or_, select, update

from bot.config import Settings
from bot.store.db import Database
from bot.store.files import Storage, disk_usage
from bot.store.models import UNFINISHED_STATES, Favourite, Generation, Job, JobState

log = logging.getLogger(__name__)

BATCH = 500
WAITING = tuple(state.value for state in UNFINISHED_STATES)


@dataclass(frozen=True)
class PruneReport:
    """One cleanup: when, how many results lost their files, how many files and bytes."""

    at: datetime
    results: int
    files: int
    bytes: int


@dataclass(frozen=True)
class StorageUsage:
    """What /about and /admin storage show."""

    data_dir_bytes: int
    results_with_files: int
    favourites_with_files: int


def has_files():
    return or_(Generation.image_file.is_not(None), Generation.audio_file.is_not(None))


def prunable(cutoff: datetime):
    """Results older than `cutoff` with files, nobody's favourite, not needed by a waiting job
    (as its source, or as its own result still waiting to be delivered)."""
    favourite = exists().where(Favourite.generation_id == Generation.id)
    needed = exists().where(Job.parent_generation_id == Generation.id, Job.state.in_(WAITING))
    undelivered = exists().where(
        Job.generation_id == Generation.id, Job.state == JobState.RENDERED.value
    )
    return (
        select(Generation)
        .where(Generation.created_at < cutoff, has_files(), ~favourite, ~needed, ~undelivered)
        .order_by(Generation.id)
        .limit(BATCH)
    )


class Retention:
    """Runs the cleanup and remembers the last one (for /about and /admin storage)."""

    def __init__(self, settings: Settings, db: Database, storage: Storage) -> None:
        self.settings = settings
        self.db = db
        self.storage = storage
        self.last: PruneReport | None = None
        self._lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return self.settings.retention_days > 0

    def cutoff(self, now: datetime | None = None) -> datetime:
        now = now or datetime.now(timezone.utc)
        return now - timedelta(days=self.settings.retention_days)

    async def run(self) -> PruneReport | None:
        """Prune everything past the retention age; None when files are kept forever."""
        if not self.enabled:
            return None
        async with self._lock:
            report = await prune(self.db, self.storage, self.cutoff())
            self.last = report
        if report.results:
            log.info(
                "Cleaned up the files of %d result(s): %d file(s), %d bytes",
                report.results,
                report.files,
                report.bytes,
            )
        return report

    async def usage(self) -> StorageUsage:
        used = await asyncio.to_thread(disk_usage, self.storage.data_dir)
        favourite = exists().where(Favourite.generation_id == Generation.id)
        async with self.db.session() as session:
            with_files = await session.scalar(
                select(func.count()).select_from(Generation).where(has_files())
            )
            favourites = await session.scalar(
                select(func.count()).select_from(Generation).where(has_files(), favourite)
            )
        return StorageUsage(used, int(with_files or 0), int(favourites or 0))


async def prune(db: Database, storage: Storage, cutoff: datetime) -> PruneReport:
    """Delete the files of prunable results created before `cutoff`, then clear their rows."""
    results = files = size = 0
    while True:
        async with db.session() as session:
            rows = list(await session.scalars(prunable(cutoff)))
        if not rows:
            break
        for row in rows:
            names = storage.files_of(row.image_file, row.audio_file, row.extra)
            gone, freed = await asyncio.to_thread(_delete, storage, names)
            files, size = files + gone, size + freed
        async with db.session() as session:
            for row in rows:
                extra = {k: v for k, v in (row.extra or {}).items() if k != "master"}
                await session.execute(
                    update(Generation)
                    .where(Generation.id == row.id)
                    .values(image_file=None, audio_file=None, extra=extra)
                )
        results += len(rows)
    return PruneReport(datetime.now(timezone.utc), results, files, size)


def _delete(storage: Storage, names: list[str]) -> tuple[int, int]:
    count = freed = 0
    for relative in names:
        size = storage.size_of(relative)
        try:
            path = storage.path(relative)
        except ValueError:  # not one of ours: never delete outside generations/
            continue
        if path.is_file():
            path.unlink(missing_ok=True)
            count, freed = count + 1, freed + size
    return count, freed
