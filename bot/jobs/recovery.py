"""The order in which jobs a previous run left behind go back into the local queue.

The round-robin rule itself is bot/store/fairness.py: running jobs go first (the queue runs them
before any turn, see GenerationQueue.submit(first=True)), then the waiting ones in the turns the
queue had. Submitting the result in this order reproduces it, because a round-robin order put
back into the queue comes out the same (tests/bot/test_bot_queue.py checks that).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.store.fairness import fair_order, waiting_job
from bot.store.models import Job, JobState


def resume_order(jobs: Sequence[Job], last_start: Mapping[int, datetime]) -> list[Job]:
    """Running jobs by start time, then the queued ones in the turns the queue had."""
    waiting = [
        waiting_job(job)
        for job in jobs
        if job.state in (JobState.RUNNING.value, JobState.QUEUED.value)
    ]
    return [entry.item for entry in fair_order(waiting, last_start)]
