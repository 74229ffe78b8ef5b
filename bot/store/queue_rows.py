"""The postgres queue's reads and writes: the jobs table as a queue GPU workers claim from.

PostgreSQL only (GENERATION_QUEUE=postgres). Bots enqueue a job by giving its row a queue
version (and uploading its input files as job_blobs); workers claim with `FOR UPDATE SKIP
LOCKED` under a transaction-level advisory lock, because round-robin is one decision across all
users (a claim takes about a millisecond, so serialising claims costs no throughput). A claim
sets a lease; every later write of the worker names (lease_owner, attempts), its fence, so a
worker that lost its claim (its lease ran out and another worker took the job) changes nothing.
Times are the database's own `now()` (leases, starts, and a job's `created_at` once it is queued):
the machines' clocks never have to agree.

Notifications (LISTEN/NOTIFY) only wake: everything a notification says is also in the rows,
which are polled, so a dropped LISTEN connection slows nothing down by more than a poll.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.db import Database, rowcount
from bot.store.fairness import Waiting, fair_order, pick_batch, waiting_job
from bot.store.models import HELD_STATES, Job, JobBlob, JobState, WorkerRow
from bot.store.records import as_utc
from bot.store.server_models import GuildSettings

QUEUE_CHANNEL = "riffusion_queue"  # bots -> workers: "new", "cancel:<id>"
EVENTS_CHANNEL = "riffusion_events"  # workers -> bots: "started:<ids>", "made:<id>", ...
_LOCK_NAMESPACE = 0x52494646  # "RIFF": the advisory locks of this queue
_CLAIM_LOCK = 0
_ADMISSION_LOCK = 1
RESULT_PREFIX = "result."  # job_blobs a worker writes: result.png, result.mp3, result.wav
QUEUED, RUNNING, MADE = JobState.QUEUED.value, JobState.RUNNING.value, JobState.MADE.value


def user_lock_key(user_id: int) -> int:
    """A 32-bit advisory lock key for a user (collisions only make two users wait in turn)."""
    return (_ADMISSION_LOCK << 30) ^ (user_id % 1_000_000_007)


async def lock_user(session: AsyncSession, user_id: int) -> None:
    """Hold the user's admission lock until the transaction ends: two bots admitting the same
    user's requests at once take turns, so counts and inserts cannot interleave."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:ns, :key)"),
        {"ns": _LOCK_NAMESPACE, "key": user_lock_key(user_id)},
    )


async def notify(session: AsyncSession, channel: str, payload: str) -> None:
    """Sent when the transaction commits (never for one that rolls back)."""
    await session.execute(text("SELECT pg_notify(:c, :p)"), {"c": channel, "p": payload})


# ---- blobs -----------------------------------------------------------------------------------


def pack(name: str, data: bytes) -> dict[str, Any]:
    """A job_blobs row; WAV audio is deflated (PNG and MP3 are compressed already)."""
    if name.endswith(".wav"):
        return {"name": name, "compressed": True, "data": zlib.compress(data, 1)}
    return {"name": name, "compressed": False, "data": data}


def unpack(blob: JobBlob) -> bytes:
    return zlib.decompress(blob.data) if blob.compressed else blob.data


async def _add_blobs(session: AsyncSession, job_id: int, files: Mapping[str, bytes]) -> None:
    if files:
        await session.execute(
            insert(JobBlob), [{"job_id": job_id, **pack(n, d)} for n, d in files.items()]
        )


async def blobs(db: Database, job_id: int, *, prefix: str = "") -> dict[str, bytes]:
    async with db.session() as session:
        rows = await session.scalars(
            select(JobBlob).where(JobBlob.job_id == job_id, JobBlob.name.startswith(prefix))
        )
        return {row.name: unpack(row) for row in rows}


async def _drop_blobs(session: AsyncSession, job_id: int, *where: Any) -> None:
    """The job's blobs (those matching `where`, else all of them) go."""
    await session.execute(delete(JobBlob).where(JobBlob.job_id == job_id, *where))


def _progress(step: int | None, total: int | None) -> tuple[int, int] | None:
    """Step k of N as a worker last wrote it; None before the first step."""
    return (step, total) if step is not None and total else None


# ---- bots: enqueue, watch, cancel ------------------------------------------------------------


async def held(session: AsyncSession, user_id: int, *, besides: int | None = None) -> int:
    """The user's jobs in the shared queue, waiting or being made."""
    query = select(func.count(Job.id)).where(
        Job.user_id == user_id,
        Job.queue_version.is_not(None),
        Job.state.in_([s.value for s in HELD_STATES]),
    )
    if besides is not None:
        query = query.where(Job.id != besides)
    return int(await session.scalar(query) or 0)


async def held_by(db: Database, user_id: int) -> int:
    async with db.session() as session:
        return await held(session, user_id)


@dataclass(frozen=True)
class Admission:
    """Why a job was not put in the shared queue (None fields: it was)."""

    held: int | None = None  # the user already holds this many
    queue_full: bool = False


async def enqueue(
    db: Database,
    job_id: int,
    *,
    user_id: int,
    version: int,
    batch_key: str | None,
    cost: float,
    inputs: Mapping[str, bytes],
    max_held: int | None,
    max_queued: int | None,
) -> Admission | None:
    """Make the row claimable, with its input files; None when done, else why not.

    Under the user's lock: the bot-wide per-user limit and the queue size hold across bot
    processes (`None` limits skip the check: a resumed job already passed them).
    """
    async with db.session() as session:
        await lock_user(session, user_id)
        if max_held is not None:
            count = await held(session, user_id, besides=job_id)
            if count >= max_held:
                return Admission(held=count)
        if max_queued is not None:
            waiting = await session.scalar(
                select(func.count(Job.id)).where(
                    Job.state == QUEUED, Job.queue_version.is_not(None)
                )
            )
            if int(waiting or 0) >= max_queued:
                return Admission(queue_full=True)
        await _drop_blobs(session, job_id)
        await _add_blobs(session, job_id, inputs)
        await session.execute(
            update(Job)
            .where(Job.id == job_id)
            # Its turn counts from now by the database's clock, like every start: bot and
            # worker machines' clocks never have to agree.
            .values(queue_version=version, batch_key=batch_key, cost=cost, created_at=func.now())
        )
        await notify(session, QUEUE_CHANNEL, "new")
    return None


@dataclass(frozen=True)
class JobView:
    """What a bot sees of one of its jobs in the shared queue."""

    id: int
    kind: str
    state: str
    progress: tuple[int, int] | None
    error: str | None
    started_at: datetime | None
    attempts: int
    made: dict[str, Any] | None


async def views(db: Database, job_ids: Iterable[int]) -> dict[int, JobView]:
    ids = list(job_ids)
    if not ids:
        return {}
    async with db.session() as session:
        rows = await session.execute(
            select(
                Job.id,
                Job.kind,
                Job.state,
                Job.progress_step,
                Job.progress_total,
                Job.error,
                Job.started_at,
                Job.attempts,
                Job.made,
            ).where(Job.id.in_(ids))
        )
        return {
            row.id: JobView(
                id=row.id,
                kind=row.kind,
                state=row.state,
                progress=_progress(row.progress_step, row.progress_total),
                error=row.error,
                started_at=as_utc(row.started_at) if row.started_at else None,
                attempts=row.attempts,
                made=row.made,
            )
            for row in rows
        }


@dataclass(frozen=True)
class QueuedRow:
    id: int
    user_id: int
    guild_id: int | None
    cost: float
    interrupted: bool


@dataclass(frozen=True)
class RunningRow:
    id: int
    cost: float
    started_at: datetime | None
    progress: tuple[int, int] | None


@dataclass(frozen=True)
class WorkerView:
    id: str
    host: str
    device: str | None
    version: int
    seconds_per_cost: float | None
    note: str | None
    seen_s_ago: float


@dataclass(frozen=True)
class Snapshot:
    """The whole shared queue at one moment: waiting jobs in the order workers will claim
    them, running ones, paused servers and the workers seen lately."""

    order: list[QueuedRow]
    running: list[RunningRow]
    paused: set[int]
    workers: list[WorkerView]


async def snapshot(db: Database, version: int, *, workers_within_s: float) -> Snapshot:
    async with db.session() as session:
        paused = set(
            await session.scalars(
                select(GuildSettings.guild_id).where(GuildSettings.paused.is_(True))
            )
        )
        rows = (
            await session.execute(
                select(
                    Job.id,
                    Job.user_id,
                    Job.guild_id,
                    Job.cost,
                    Job.state,
                    Job.created_at,
                    Job.started_at,
                    Job.lease_expires_at < func.now(),
                    Job.progress_step,
                    Job.progress_total,
                ).where(Job.queue_version == version, Job.state.in_([QUEUED, RUNNING]))
            )
        ).all()
        users = {row.user_id for row in rows if row.state == QUEUED}
        starts = await _last_starts(session, users)
        now = await session.scalar(select(func.now()))
        seen = await session.scalars(
            select(WorkerRow).where(
                WorkerRow.last_seen_at > func.now() - timedelta(seconds=workers_within_s)
            )
        )
        workers = [
            WorkerView(
                id=w.id,
                host=w.host,
                device=w.device,
                version=w.version,
                seconds_per_cost=w.seconds_per_cost,
                note=w.note,
                seen_s_ago=max(0.0, (as_utc(now) - as_utc(w.last_seen_at)).total_seconds())
                if now is not None
                else 0.0,
            )
            for w in seen
        ]
    waiting: list[Waiting[QueuedRow]] = []
    running: list[RunningRow] = []
    for row in rows:
        expired = row.state == RUNNING and bool(row[7])
        if row.state == RUNNING and not expired:
            running.append(
                RunningRow(
                    id=row.id,
                    cost=row.cost,
                    started_at=as_utc(row.started_at) if row.started_at else None,
                    progress=_progress(row.progress_step, row.progress_total),
                )
            )
            continue
        if row.guild_id is not None and row.guild_id in paused:
            continue
        waiting.append(
            Waiting(
                item=QueuedRow(row.id, row.user_id, row.guild_id, row.cost, expired),
                job_id=row.id,
                user_id=row.user_id,
                created_at=as_utc(row.created_at),
                interrupted_at=as_utc(row.started_at or row.created_at) if expired else None,
            )
        )
    order = [entry.item for entry in fair_order(waiting, starts)]
    return Snapshot(order=order, running=running, paused=paused, workers=workers)


async def request_cancel(db: Database, job_id: int) -> str:
    """Cancel a waiting job at once, or ask its worker to stop (it checks every step).

    Returns the job's state afterwards ("cancelled", "running", or a final state)."""
    async with db.session() as session:
        cancelled = await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == QUEUED)
            .values(state=JobState.CANCELLED.value, finished_at=func.now())
        )
        if rowcount(cancelled):
            await _drop_blobs(session, job_id)
            return JobState.CANCELLED.value
        state = await session.scalar(select(Job.state).where(Job.id == job_id))
        if state == RUNNING:
            await session.execute(update(Job).where(Job.id == job_id).values(cancel_requested=True))
            await notify(session, QUEUE_CHANNEL, f"cancel:{job_id}")
        return state or JobState.CANCELLED.value


async def take_over(db: Database, job_id: int, state: JobState) -> None:
    """The owning bot saved (or gave up on) a made result: its blobs are no longer needed."""
    async with db.session() as session:
        await _drop_blobs(session, job_id)
        await session.execute(
            update(Job).where(Job.id == job_id, Job.state == MADE).values(state=state.value)
        )


# ---- workers: claim, renew, finish -----------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A job a worker now holds: its row, input files, and the fence for every write."""

    job: Job
    attempt: int
    inputs: dict[str, bytes]


@dataclass(frozen=True)
class Claim:
    jobs: list[Claimed]
    exhausted: list[int]  # jobs that kept stopping workers: failed now, not run again


async def _last_starts(session: AsyncSession, users: Iterable[int]) -> dict[int, datetime]:
    ids = list(set(users))
    if not ids:
        return {}
    rows = await session.execute(
        select(Job.user_id, func.max(Job.started_at))
        .where(Job.user_id.in_(ids), Job.started_at.is_not(None))
        .group_by(Job.user_id)
    )
    return {user: as_utc(at) for user, at in rows if at is not None}


def _lease_until(lease_s: float) -> Any:
    return func.now() + timedelta(seconds=lease_s)


async def claim(
    db: Database,
    worker_id: str,
    *,
    version: int,
    max_batch: int,
    lease_s: float,
    max_attempts: int,
    exhausted_message: str,
) -> Claim:
    """Take the next batch in round-robin order (jobs whose worker vanished first)."""
    async with db.session() as session:
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:ns, :key)"),
            {"ns": _LOCK_NAMESPACE, "key": _CLAIM_LOCK},
        )
        paused = select(GuildSettings.guild_id).where(GuildSettings.paused.is_(True))
        expired = Job.lease_expires_at < func.now()
        rows = (
            await session.execute(
                select(Job, expired.label("expired"))
                .where(
                    Job.queue_version == version,
                    or_(Job.state == QUEUED, (Job.state == RUNNING) & expired),
                    or_(Job.guild_id.is_(None), Job.guild_id.not_in(paused)),
                )
                .order_by(Job.id)
                .limit(1000)
                .with_for_update(of=Job, skip_locked=True)
            )
        ).all()
        exhausted: list[int] = []
        waiting: list[Waiting[Job]] = []
        for job, is_expired in rows:
            if (
                job.state == RUNNING
                and is_expired
                and (job.cancel_requested or job.attempts >= max_attempts)
            ):
                final = JobState.CANCELLED if job.cancel_requested else JobState.FAILED
                await session.execute(
                    update(Job)
                    .where(Job.id == job.id)
                    .values(
                        state=final.value,
                        error=None if job.cancel_requested else exhausted_message,
                        lease_owner=None,
                        finished_at=func.now(),
                    )
                )
                exhausted.append(job.id)
                continue
            waiting.append(waiting_job(job))
        starts = await _last_starts(session, {w.user_id for w in waiting})
        batch = pick_batch(fair_order(waiting, starts), max_batch)
        claimed: list[Claimed] = []
        started = await session.scalar(select(func.now()))
        for i, entry in enumerate(batch):
            job = entry.item
            await session.execute(
                update(Job)
                .where(Job.id == job.id)
                .values(
                    state=RUNNING,
                    lease_owner=worker_id,
                    lease_expires_at=_lease_until(lease_s),
                    attempts=Job.attempts + 1,
                    # Microseconds apart, so the batch's turn order stays readable.
                    started_at=(started or func.now()) + timedelta(microseconds=i),
                    progress_step=None,
                    progress_total=None,
                )
            )
            files = await session.scalars(
                select(JobBlob).where(
                    JobBlob.job_id == job.id, JobBlob.name.not_like(f"{RESULT_PREFIX}%")
                )
            )
            await session.refresh(job)
            claimed.append(
                Claimed(job=job, attempt=job.attempts, inputs={b.name: unpack(b) for b in files})
            )
        if claimed:
            ids = ",".join(str(c.job.id) for c in claimed)
            await notify(session, EVENTS_CHANNEL, f"started:{ids}")
        if exhausted:
            await notify(session, EVENTS_CHANNEL, "ended:" + ",".join(map(str, exhausted)))
    return Claim(jobs=claimed, exhausted=exhausted)


def _fenced(job_id: int, worker_id: str, attempt: int) -> Any:
    return (
        (Job.id == job_id)
        & (Job.lease_owner == worker_id)
        & (Job.attempts == attempt)
        & (Job.state == RUNNING)
    )


@dataclass(frozen=True)
class Lease:
    job_id: int
    attempt: int
    progress: tuple[int, int] | None = None


async def renew(
    db: Database, worker_id: str, leases: Sequence[Lease], *, lease_s: float
) -> tuple[set[int], set[int]]:
    """Extend the leases (and record progress); returns (still held, cancel requested)."""
    kept: set[int] = set()
    cancel: set[int] = set()
    async with db.session() as session:
        for lease in leases:
            values: dict[str, Any] = {"lease_expires_at": _lease_until(lease_s)}
            if lease.progress is not None:
                values["progress_step"], values["progress_total"] = lease.progress
            row = (
                await session.execute(
                    update(Job)
                    .where(_fenced(lease.job_id, worker_id, lease.attempt))
                    .values(**values)
                    .returning(Job.id, Job.cancel_requested)
                )
            ).first()
            if row is not None:
                kept.add(row.id)
                if row.cancel_requested:
                    cancel.add(row.id)
    return kept, cancel


async def finish(
    db: Database,
    worker_id: str,
    lease: Lease,
    state: JobState,
    *,
    made: dict[str, Any] | None = None,
    files: Mapping[str, bytes] | None = None,
    error: str | None = None,
) -> bool:
    """Record how the job ended (made, failed, cancelled), fenced: False if the claim is lost."""
    async with db.session() as session:
        updated = (
            await session.execute(
                update(Job)
                .where(_fenced(lease.job_id, worker_id, lease.attempt))
                .values(
                    state=state.value,
                    made=made,
                    error=error,
                    lease_owner=None,
                    lease_expires_at=None,
                    finished_at=func.now(),
                )
                .returning(Job.id)
            )
        ).first()
        if updated is None:
            return False
        if state is JobState.MADE:
            await _drop_blobs(session, lease.job_id, JobBlob.name.not_like(f"{RESULT_PREFIX}%"))
            await _add_blobs(session, lease.job_id, files or {})
        else:
            await _drop_blobs(session, lease.job_id)
        await notify(session, EVENTS_CHANNEL, f"ended:{lease.job_id}")
    return True


async def continue_later(
    db: Database, worker_id: str, lease: Lease, files: Mapping[str, bytes]
) -> bool:
    """A job that renders in turns (a song) finished one: back in the shared queue with the
    files the turn made and its progress, for any worker's next claim. Fenced; the turn is not
    counted as an attempt, and its start moved the user's turn back (fairness.py)."""
    async with db.session() as session:
        values: dict[str, Any] = {
            "state": QUEUED,
            "lease_owner": None,
            "lease_expires_at": None,
            "attempts": Job.attempts - 1,
        }
        if lease.progress is not None:
            values["progress_step"], values["progress_total"] = lease.progress
        updated = await session.execute(
            update(Job).where(_fenced(lease.job_id, worker_id, lease.attempt)).values(**values)
        )
        if not rowcount(updated):
            return False
        names = list(files)
        if names:
            await _drop_blobs(session, lease.job_id, JobBlob.name.in_(names))
            await _add_blobs(session, lease.job_id, files)
        await notify(session, QUEUE_CHANNEL, "new")
        await notify(session, EVENTS_CHANNEL, f"turn:{lease.job_id}")
    return True


async def release(db: Database, worker_id: str, lease: Lease) -> bool:
    """A stopping worker gives a job back (not counted as an attempt); fenced."""
    async with db.session() as session:
        updated = await session.execute(
            update(Job)
            .where(_fenced(lease.job_id, worker_id, lease.attempt))
            .values(
                state=QUEUED,
                lease_owner=None,
                lease_expires_at=None,
                attempts=Job.attempts - 1,
                progress_step=None,
                progress_total=None,
            )
        )
        if rowcount(updated):
            await notify(session, QUEUE_CHANNEL, "new")
            return True
    return False


async def waiting_versions(db: Database, version: int) -> dict[int, int]:
    """Waiting jobs written for other queue versions, by version (a worker says it can't)."""
    async with db.session() as session:
        rows = await session.execute(
            select(Job.queue_version, func.count(Job.id))
            .where(
                Job.state == QUEUED,
                Job.queue_version.is_not(None),
                Job.queue_version != version,
            )
            .group_by(Job.queue_version)
        )
        return {int(v): int(n) for v, n in rows if v is not None}


async def worker_seen(
    db: Database,
    worker_id: str,
    *,
    host: str,
    device: str | None,
    version: int,
    seconds_per_cost: float | None,
    note: str | None,
) -> None:
    """Insert or refresh the worker's row (the heartbeat bots read)."""
    async with db.session() as session:
        row = await session.get(WorkerRow, worker_id)
        if row is None:
            session.add(
                WorkerRow(
                    id=worker_id,
                    host=host,
                    device=device,
                    version=version,
                    seconds_per_cost=seconds_per_cost,
                    note=note,
                )
            )
            return
        row.device = device
        row.seconds_per_cost = seconds_per_cost
        row.note = note
        row.last_seen_at = await session.scalar(select(func.now())) or row.last_seen_at


async def worker_gone(db: Database, worker_id: str) -> None:
    async with db.session() as session:
        await session.execute(delete(WorkerRow).where(WorkerRow.id == worker_id))
