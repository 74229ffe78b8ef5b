"""What the rest of the bot needs of a generation queue, whichever kind runs it.

Two queues keep this contract: the local one (bot/engine/queue.py: a worker thread in this
process owns the GPU) and the shared one (bot/jobs/shared_queue.py: the jobs table in
PostgreSQL, drained by GPU workers on other machines). The job service, the server policy, /queue
and /about work with either; GENERATION_QUEUE chooses (bot/app/client.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable
from typing import Any, Protocol

from bot.engine.queue import QueuedJob
from bot.engine.radio_clips import RadioRender, RadioTask
from bot.engine.tasks import RenderResult, RenderTask

Handle = QueuedJob[RenderTask, RenderResult]


class JobQueue(Protocol):
    """Round-robin, batching, cancellable queue of render jobs with positions and ETAs."""

    renders_here: bool  # True: the model runs in this process (tasks are rebuilt here)
    on_start: Callable[[list[Handle]], None] | None  # a batch started, called on the loop

    @property
    def closed(self) -> bool: ...

    @property
    def seconds_per_cost(self) -> float | None:
        """Measured speed (seconds per UNet step); None until measured."""
        ...

    def start(self) -> None: ...

    async def shutdown(self, grace_s: float) -> list[Handle]: ...

    async def enqueue(
        self,
        job_id: int,
        user_id: int,
        payload: RenderTask,
        *,
        batch_key: Hashable | None = None,
        cost: float = 1.0,
        group: Hashable | None = None,
        resumed: bool = False,
        first: bool = False,
    ) -> Handle:
        """Queue the job of row `job_id`; raises QueueFull / QueueClosed for its user."""
        ...

    async def render_clip(
        self, lane: int, task: RadioTask, *, cost: float, group: int | None
    ) -> QueuedJob[RadioTask, RadioRender]:
        """Queue one radio clip in the fairness lane `lane` (no request row: a radio does not
        outlive the bot); `group` is the guild, whose pause holds it."""
        ...

    def cancel(self, job: QueuedJob[Any, Any]) -> bool: ...

    def position(self, job: Handle) -> int | None: ...

    def eta(self, job: Handle) -> float | None: ...

    def pause(self, group: Hashable) -> None: ...

    def resume(self, group: Hashable) -> None: ...

    def is_paused(self, group: Hashable | None) -> bool: ...

    def waiting_count(self) -> int: ...

    def running_count(self) -> int: ...

    async def held_by(self, user_id: int) -> int | None:
        """The user's jobs waiting or running across every bot process; None: count your own."""
        ...

    def workers_seen(self) -> list[str]:
        """GPU workers on other machines seen lately, a line each; empty when the model runs
        in this process."""
        ...

    async def saved(self, job_id: int) -> None:
        """The job service saved the job's result under DATA_DIR (the queue may let go of its
        copy)."""
        ...

    def admission(self, user_id: int) -> contextlib.AbstractAsyncContextManager[None]:
        """Held from the limit checks until the job is queued, so two bot processes cannot
        both admit a user's job past a limit."""
        ...
