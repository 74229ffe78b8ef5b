"""The order in which jobs a previous run left behind go back into the queue.

The queue serves users round-robin: a user joins the turns when they go from no queued job to
one, and moves to the back each time one of their jobs starts. The database keeps when each job
was created and started, which is enough to rebuild those turns: a user's place is the later of
their oldest waiting job's creation and their last start. Jobs that were running go first (the
queue runs them before any turn, see GenerationQueue.submit(first=True)). Submitting the result
in this order reproduces it, because a round-robin order put back into the queue comes out the
same (tests/bot/test_bot_queue.py checks that).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.store.models import Job, JobState
from bot.store.records import as_utc


def resume_order(jobs: Sequence[Job], last_start: Mapping[int, datetime]) -> list[Job]:
    """Running jobs by start time, then the queued ones in the turns the queue had."""
    running = sorted(
        (job for job in jobs if job.state == JobState.RUNNING.value),
        key=lambda job: (as_utc(job.started_at or job.created_at), job.id),
    )
    waiting: dict[int, deque[Job]] = {}
    for job in sorted((j for j in jobs if j.state == JobState.QUEUED.value), key=lambda j: j.id):
        waiting.setdefault(job.user_id, deque()).append(job)

    def turn(user: int) -> tuple[datetime, int]:
        oldest = waiting[user][0]
        joined = as_utc(oldest.created_at)
        served = last_start.get(user)
        return (max(joined, served) if served is not None else joined, oldest.id)

    turns = deque(sorted(waiting, key=turn))
    ordered: list[Job] = []
    while turns:
        user = turns.popleft()
        ordered.append(waiting[user].popleft())
        if waiting[user]:
            turns.append(user)
    return running + ordered
