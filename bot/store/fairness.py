"""The round-robin rule, on rows: who goes next when several users wait.

The queue serves users in turns: a user joins the turns when they go from no waiting job to one,
and moves to the back each time one of their jobs starts. The database keeps when each job was
created and started, which is enough to rebuild those turns: a user's place is the later of their
oldest waiting job's creation and their last start. Jobs that were interrupted while running (a
restart, a worker's lease that ran out) go before every turn.

One rule, three readers: a restart puts the local queue back in this order (bot/jobs/recovery.py),
the postgres queue's workers claim in it, and bots show positions from it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from bot.store.models import Job, JobState
from bot.store.records import as_utc

T = TypeVar("T")


@dataclass(frozen=True)
class Waiting(Generic[T]):
    """One waiting job as the rule sees it; `item` is whatever the caller orders (a row)."""

    item: T
    job_id: int
    user_id: int
    created_at: datetime
    interrupted_at: datetime | None = None  # started once and stopped before it finished
    batch_key: Hashable | None = None


def waiting_job(job: Job) -> Waiting[Job]:
    """A jobs row as the rule sees it: a running one was interrupted (a restart, a lease that
    ran out) and goes first."""
    running = job.state == JobState.RUNNING.value
    return Waiting(
        item=job,
        job_id=job.id,
        user_id=job.user_id,
        created_at=as_utc(job.created_at),
        interrupted_at=as_utc(job.started_at or job.created_at) if running else None,
        batch_key=job.batch_key,
    )


def fair_order(
    waiting: Sequence[Waiting[T]], last_start: Mapping[int, datetime]
) -> list[Waiting[T]]:
    """Interrupted jobs by start time, then the rest in the turns the queue has."""
    interrupted = sorted(
        (w for w in waiting if w.interrupted_at is not None),
        key=lambda w: (w.interrupted_at, w.job_id),
    )
    queues: dict[int, deque[Waiting[T]]] = {}
    for entry in sorted((w for w in waiting if w.interrupted_at is None), key=lambda w: w.job_id):
        queues.setdefault(entry.user_id, deque()).append(entry)

    def turn(user: int) -> tuple[datetime, int]:
        oldest = queues[user][0]
        served = last_start.get(user)
        joined = oldest.created_at
        return (max(joined, served) if served is not None else joined, oldest.job_id)

    turns = deque(sorted(queues, key=turn))
    ordered: list[Waiting[T]] = []
    while turns:
        user = turns.popleft()
        ordered.append(queues[user].popleft())
        if queues[user]:
            turns.append(user)
    return interrupted + ordered


def pick_batch(order: Sequence[Waiting[T]], max_batch: int) -> list[Waiting[T]]:
    """The next job, plus later ones that may share its pipeline call (equal batch key).

    As in the local queue, a user's job joins only when it is that user's next one: nobody's
    later request overtakes their earlier one.
    """
    if not order:
        return []
    first = order[0]
    batch = [first]
    if first.batch_key is None:
        return batch
    blocked: set[int] = set()  # users whose next job did not fit: their later ones wait too
    for entry in order[1:]:
        if len(batch) >= max_batch:
            break
        if entry.user_id in blocked:
            continue
        if entry.batch_key == first.batch_key:
            batch.append(entry)
        else:
            blocked.add(entry.user_id)
    return batch
