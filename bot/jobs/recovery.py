"""The order in which jobs a previous run left behind go back into the local queue.

The round-robin rule itself is bot/store/fairness.py: running jobs go first (the queue runs them
before any turn, see GenerationQueue.submit(first=True)), then the waiting ones in the turns the
queue had. Submitting the result in this order reproduces it, because a round-robin order put
back into the queue comes out the same (tests/bot/test_bot_queue.py checks that).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.store.fairness import Waiting, fair_order
from bot.store.models import Job, JobState
from bot.store.records import as_utc


def resume_order(jobs: Sequence[Job], last_start: Mapping[int, datetime]) -> list[Job]:
    """Running jobs by start time, then the queued ones in the turns the queue had."""
    waiting = [
        Waiting(
            item=job,
            job_id=job.id,
            user_id=job.user_id,
            created_at=as_utc(job.created_at),
            interrupted_at=(
                as_utc(job.started_at or job.created_at)
                if job.state == JobState.RUNNING.value
                else None
            ),
        )
        for job in jobs
        if job.state in (JobState.RUNNING.value, JobState.QUEUED.value)
    ]
    return [entry.item for entry in fair_order(waiting, last_start)]
