"""The in-process generation queue: one worker thread owns the GPU, the event loop never waits.

Why a thread and not a process: the pipeline holds gigabytes of weights on one GPU; a single
worker thread that owns it (and loads it, in `prepare`) keeps memory use flat, while torch releases
the GIL during inference so the gateway heartbeat stays on time.

Scheduling is round-robin across users (a user with ten jobs cannot starve one with a single
job), each user may hold at most `max_jobs_per_user` queued + running jobs, and queued jobs that
share a `batch_key` are rendered together in one call of the render function. Everything that
crosses threads goes through `loop.call_soon_threadsafe`; futures live on the loop.

The queue is generic: `render(payloads, on_step, should_cancel) -> results` does the work, so
tests can drive it with a fake and the bot with the real pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from bot.store.models import JobState  # the same states the jobs table records
from riffusion_core.errors import GenerationCancelled, RiffusionError

log = logging.getLogger(__name__)
WORKER_THREAD_NAME = "generation-worker"

P = TypeVar("P")
R = TypeVar("R")
StepCallback = Callable[[int, int], None]
CancelCheck = Callable[[], bool]
RenderFn = Callable[[Sequence[P], StepCallback, CancelCheck], Sequence[R]]


class QueueFull(RiffusionError):
    """The user (or the whole queue) already has as many jobs as allowed."""

    @classmethod
    def held(cls, held: int, limit: int) -> QueueFull:
        noun = "job" if limit == 1 else "jobs"
        return cls(
            f"You already have {held} {noun} queued or running (the limit is {limit}); wait "
            "for one to finish or cancel one."
        )

    @classmethod
    def full(cls, size: int) -> QueueFull:
        return cls(f"The queue is full ({size} jobs); please try again in a few minutes.")


class QueueClosed(RiffusionError):
    """The bot is shutting down and takes no new work."""

    def __init__(
        self,
        message: str = "The bot is restarting and is not taking new requests "
        "right now; please try again in a minute.",
    ) -> None:
        super().__init__(message)


class JobSuspended(RiffusionError):
    """The bot is stopping before this job finished; its database row resumes it on restart."""

    def __init__(
        self,
        message: str = "The bot is restarting; your request will continue when it is back.",
    ) -> None:
        super().__init__(message)


class JobTimedOut(RiffusionError):
    """The job ran longer than the per-job limit."""


class JobFailed(RiffusionError):
    """The job failed for a reason that is not the user's input (message still for users)."""


@dataclass(frozen=True)
class Continue:
    """What a job that renders in turns returns after one turn (a song: one clip a turn).

    `progress` is the job's whole progress after the turn; `files` are the paths (under
    DATA_DIR) the turn wrote, which a GPU worker of the postgres queue sends with the job.
    """

    progress: tuple[int, int]
    files: tuple[str, ...] = ()


@dataclass(eq=False)
class QueuedJob(Generic[P, R]):
    """A job's live state; owned by the queue, read by the loop thread."""

    id: int
    user_id: int
    payload: P
    batch_key: Hashable | None
    cost: float
    future: asyncio.Future[R]
    group: Hashable | None = None  # e.g. the guild: a paused group's jobs wait (see pause())
    state: JobState = JobState.QUEUED
    progress: tuple[int, int] | None = None
    turns: int = 0  # turns it finished and went back in line for (a job that renders in turns)
    submitted_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    finished_at: float | None = None
    progress_changed: asyncio.Event = field(default_factory=asyncio.Event)
    _cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def done(self) -> bool:
        return self.state in (JobState.RENDERED, JobState.FAILED, JobState.CANCELLED)

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    async def wait(self) -> R:
        """The result; raises GenerationCancelled, JobTimedOut, JobFailed or the render error."""
        # asyncio.wait, unlike awaiting the future, never cancels it when the caller is cancelled.
        await asyncio.wait([self.future])
        return self.future.result()


class GenerationQueue(Generic[P, R]):
    """Round-robin, batching, cancellable job queue in front of one worker thread."""

    renders_here = True  # the model runs in this process (the JobQueue protocol)

    def __init__(
        self,
        render: RenderFn,
        *,
        prepare: Callable[[], None] | None = None,
        requeue_continuations: bool = True,
        max_jobs_per_user: int = 3,
        max_queue_size: int = 100,
        max_batch_size: int = 4,
        job_timeout_s: float = 600.0,
        eta_smoothing: float = 0.3,
        on_start: Callable[[list[QueuedJob[P, R]]], None] | None = None,
    ) -> None:
        self._render = render
        self._prepare = prepare
        # A result that says Continue puts its job back in line; a GPU worker of the postgres
        # queue turns it down (False) and puts the job back in the shared queue instead.
        self.requeue_continuations = requeue_continuations
        self.on_start = on_start  # called on the loop with each batch as it starts
        self.max_jobs_per_user = max_jobs_per_user
        self.max_queue_size = max_queue_size
        self.max_batch_size = max_batch_size
        self.job_timeout_s = job_timeout_s
        self._eta_smoothing = eta_smoothing
        self.seconds_per_cost: float | None = None  # moving average; None until measured

        self._lock = threading.Condition()
        self._by_user: OrderedDict[int, deque[QueuedJob[P, R]]] = OrderedDict()
        self._turns: deque[int] = deque()  # users with queued jobs, next turn first
        self._front: deque[QueuedJob[P, R]] = deque()  # interrupted by a restart: run first
        self._running: list[QueuedJob[P, R]] = []
        self._ids = itertools.count(1)
        self._closed = False
        self._stop = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()
        self._preparing = False
        self.prepare_error: BaseException | None = None
        self._paused: set[Hashable] = set()

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread; call from the event loop that will await the jobs."""
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._worker, name=WORKER_THREAD_NAME, daemon=True)
        self._thread.start()

    @property
    def closed(self) -> bool:
        return self._closed

    async def shutdown(self, grace_s: float = 60.0) -> list[QueuedJob[P, R]]:
        """Stop taking jobs, let the running batch finish (or cancel it after `grace_s`).

        Returns the jobs that were still queued, in the order they would have started. They,
        and running jobs stopped at the end of the grace, end with JobSuspended: the caller
        keeps their database rows so the next start resumes them.
        """
        with self._lock:  # a reentrant lock: order() takes it again
            dropped = self.order()
            self._closed = True
            self._by_user.clear()
            self._turns.clear()
            self._front.clear()
            running = list(self._running)
        for job in dropped:
            self._finish(job, JobState.CANCELLED, error=JobSuspended())
        if running:
            waiting = [job.future for job in running]
            _, pending = await asyncio.wait(waiting, timeout=grace_s)
            if pending:
                log.warning(
                    "Cancelling %d running job(s) after the %.0f s shutdown grace",
                    len(pending),
                    grace_s,
                )
                for job in running:
                    self._finish(job, JobState.CANCELLED, error=JobSuspended())
                    job._cancel.set()
                await asyncio.wait(waiting, timeout=30)
        with self._lock:
            self._stop = True
            self._lock.notify_all()
        if self._thread is not None:
            # A thread still loading the model is left behind (it is a daemon); one that was
            # rendering stops within a step, and is waited for so torch is idle at exit.
            await asyncio.to_thread(self._thread.join, 2 if self._preparing else 60)
        return dropped

    # ---- loop-thread API ---------------------------------------------------------------------

    async def enqueue(
        self,
        job_id: int,
        user_id: int,
        payload: P,
        *,
        batch_key: Hashable | None = None,
        cost: float = 1.0,
        group: Hashable | None = None,
        resumed: bool = False,
        first: bool = False,
    ) -> QueuedJob[P, R]:
        """`submit` for a job that has a database row (the JobQueue protocol; the local queue
        keeps its own ids and needs nothing from the row)."""
        del job_id
        return self.submit(
            user_id,
            payload,
            batch_key=batch_key,
            cost=cost,
            group=group,
            resumed=resumed,
            first=first,
        )

    async def render_clip(
        self, lane: int, task: Any, *, cost: float, group: int | None
    ) -> QueuedJob[Any, Any]:
        """A radio clip: a job without a row, in its own fairness lane (the JobQueue protocol).
        It renders itself (RendersItself), so the render function takes it beside P."""
        return self.submit(lane, task, batch_key=None, cost=cost, group=group)

    async def held_by(self, user_id: int) -> int | None:
        """None: the caller counts the user's jobs itself (they all live in this process)."""
        del user_id
        return None

    def workers_seen(self) -> list[str]:
        return []  # the worker is this process's own thread

    async def saved(self, job_id: int) -> None:
        """The result was made here: there is no other copy to let go of."""
        del job_id

    def admission(self, user_id: int) -> contextlib.AbstractAsyncContextManager[None]:
        """Nothing to serialise: one process admits every job."""
        del user_id
        return contextlib.nullcontext()

    def waiting_count(self) -> int:
        with self._lock:
            return self.queued_count_locked()

    def running_count(self) -> int:
        return len(self.running_jobs())

    def submit_many(
        self, items: Sequence[tuple[int, P, Hashable | None, float]]
    ) -> list[QueuedJob[P, R]]:
        """Queue several jobs at once, so the worker sees them together and can batch them
        (a GPU worker hands over a claimed batch this way): (user, payload, batch_key, cost)."""
        with self._lock:
            return [
                self.submit(user, payload, batch_key=key, cost=cost, resumed=True)
                for user, payload, key, cost in items
            ]

    def submit(
        self,
        user_id: int,
        payload: P,
        *,
        batch_key: Hashable | None = None,
        cost: float = 1.0,
        group: Hashable | None = None,
        resumed: bool = False,
        first: bool = False,
    ) -> QueuedJob[P, R]:
        """Queue a job; raises QueueFull / QueueClosed with a message for the user.

        `resumed`: a job accepted before a restart, put back without the limits it already
        passed (they may have been lowered since). `first` (resumed jobs a restart interrupted
        while they ran): ahead of every turn, without moving its user's place in the turns,
        which that start already moved.
        """
        loop = self._loop or asyncio.get_running_loop()
        with self._lock:
            if self._closed:
                raise QueueClosed()
            if not resumed:
                self._check_limits_locked(user_id)
            job: QueuedJob[P, R] = QueuedJob(
                id=next(self._ids),
                user_id=user_id,
                payload=payload,
                batch_key=batch_key,
                cost=cost,
                future=loop.create_future(),
                group=group,
            )
            if resumed and first:
                self._front.append(job)
            else:
                if user_id not in self._by_user:
                    self._by_user[user_id] = deque()
                    self._turns.append(user_id)
                self._by_user[user_id].append(job)
            self._lock.notify_all()
        return job

    def _check_limits_locked(self, user_id: int) -> None:
        held = len(self._by_user.get(user_id, ())) + sum(
            1 for job in [*self._front, *self._running] if job.user_id == user_id and not job.done
        )
        if held >= self.max_jobs_per_user:
            raise QueueFull.held(held, self.max_jobs_per_user)
        if self.queued_count_locked() >= self.max_queue_size:
            raise QueueFull.full(self.max_queue_size)

    def cancel(self, job: QueuedJob[P, R]) -> bool:
        """Cancel a queued job at once, or a running one within one step. False if finished."""
        with self._lock:
            if job.done:
                return False
            job._cancel.set()
            if job in self._front:
                self._front.remove(job)
            queued = self._by_user.get(job.user_id)
            if queued is not None and job in queued:
                queued.remove(job)
                if not queued:
                    del self._by_user[job.user_id]
                    self._turns.remove(job.user_id)
        # A running job's future resolves now; its batch stops once every member is cancelled.
        self._finish(job, JobState.CANCELLED, error=GenerationCancelled())
        return True

    def pause(self, group: Hashable) -> None:
        """Hold the queued jobs of `group` (they keep their place; running ones finish)."""
        with self._lock:
            self._paused.add(group)

    def resume(self, group: Hashable) -> None:
        with self._lock:
            self._paused.discard(group)
            self._lock.notify_all()

    def is_paused(self, group: Hashable | None) -> bool:
        return group is not None and group in self._paused

    def _runnable_user_locked(self) -> int | None:
        """The first user in turn order whose next job is not held by a pause."""
        return next(
            (user for user in self._turns if not self.is_paused(self._by_user[user][0].group)), None
        )

    def _runnable_front_locked(self) -> QueuedJob[P, R] | None:
        return next((job for job in self._front if not self.is_paused(job.group)), None)

    def _has_runnable_locked(self) -> bool:
        return self._runnable_front_locked() is not None or (
            self._runnable_user_locked() is not None
        )

    def queued_count_locked(self) -> int:
        return len(self._front) + sum(len(q) for q in self._by_user.values())

    def order(self) -> list[QueuedJob[P, R]]:
        """Queued jobs in the order round-robin will start them (batching aside)."""
        with self._lock:
            queues = {user: deque(q) for user, q in self._by_user.items()}
            turns = deque(self._turns)
            front = list(self._front)
        ordered: list[QueuedJob[P, R]] = front
        while turns:
            user = turns.popleft()
            ordered.append(queues[user].popleft())
            if queues[user]:
                turns.append(user)
        return ordered

    def position(self, job: QueuedJob[P, R]) -> int | None:
        """1-based place in the queue; 0 while running; None once finished."""
        if job.state is JobState.RUNNING:
            return 0
        if job.done:
            return None
        ordered = self.order()
        return ordered.index(job) + 1 if job in ordered else None

    def eta(self, job: QueuedJob[P, R]) -> float | None:
        """Expected finish as a UNIX time, from the moving average of past job times."""
        rate = self.seconds_per_cost
        if rate is None or job.done:
            return None
        now = time.monotonic()
        with self._lock:
            running = list(self._running)
        remaining = 0.0
        for other in running:
            if other.done:
                continue
            expected = rate * other.cost
            elapsed = now - (other.started_at or now)
            if other.progress and other.progress[0] > 0:
                step, total = other.progress
                expected = elapsed * total / step
            remaining = max(remaining, expected - elapsed)
        if job.state is JobState.QUEUED:
            for other in self.order():
                remaining += rate * other.cost
                if other is job:
                    break
        return time.time() + max(remaining, 0.0)

    @property
    def busy(self) -> bool:
        """True while the worker is inside a render call (cancelled members included)."""
        with self._lock:
            return bool(self._running)

    def running_jobs(self) -> list[QueuedJob[P, R]]:
        with self._lock:
            return [job for job in self._running if not job.done]

    def __len__(self) -> int:
        with self._lock:
            return self.queued_count_locked() + sum(1 for j in self._running if not j.done)

    # ---- worker thread -----------------------------------------------------------------------

    def _take_batch(self) -> list[QueuedJob[P, R]]:
        """Pop the next user's first job plus compatible heads of other users, in turn order.

        Jobs a restart interrupted go first, joined by compatible ones from the front.
        """
        first = self._runnable_front_locked()
        if first is not None:
            self._front.remove(first)
            batch = [first]
            for job in list(self._front):
                if (
                    first.batch_key is not None
                    and job.batch_key == first.batch_key
                    and len(batch) < self.max_batch_size
                    and not self.is_paused(job.group)
                ):
                    self._front.remove(job)
                    batch.append(job)
            return batch
        user = self._runnable_user_locked()
        if user is None:  # the worker calls this only once _has_runnable_locked() holds
            raise RuntimeError("_take_batch found no runnable job")
        self._turns.remove(user)
        first = self._by_user[user].popleft()
        self._requeue_turn(user)
        batch = [first]
        if first.batch_key is None:
            return batch
        found = True
        while found and len(batch) < self.max_batch_size:
            found = False
            for user in list(self._turns):
                if len(batch) >= self.max_batch_size:
                    break
                head = self._by_user[user][0]
                if head.batch_key == first.batch_key and not self.is_paused(head.group):
                    batch.append(self._by_user[user].popleft())
                    self._turns.remove(user)
                    self._requeue_turn(user)
                    found = True
        return batch

    def _requeue_turn(self, user: int) -> None:
        if self._by_user[user]:
            self._turns.append(user)
        else:
            del self._by_user[user]

    def _worker(self) -> None:
        if self._prepare is not None and not self._stop:
            self._preparing = True
            try:
                self._prepare()
            except Exception as exc:  # reported to every job below
                log.exception("Could not prepare the generation pipeline")
                self.prepare_error = exc
            finally:
                self._preparing = False
        self.ready.set()
        while True:
            with self._lock:
                while not self._has_runnable_locked() and not self._stop:
                    self._lock.wait()
                if self._stop:
                    return
                batch = self._take_batch()
                started = time.monotonic()
                for job in batch:
                    job.state = JobState.RUNNING
                    job.started_at = started
                self._running = batch
            if self.on_start is not None:
                self._call_soon(self.on_start, list(batch))
            try:
                self._run_batch(batch, started)
            finally:
                with self._lock:
                    self._running = []

    def _run_batch(self, batch: list[QueuedJob[P, R]], started: float) -> None:
        if self.prepare_error is not None:
            error: BaseException = JobFailed(_user_message(self.prepare_error))
            for job in batch:
                self._finish(job, JobState.FAILED, error=error)
            return
        deadline = started + self.job_timeout_s

        def on_step(step: int, total: int) -> None:
            for job in batch:
                self._call_soon(job_progress, job, step, total)

        def should_cancel() -> bool:
            return time.monotonic() > deadline or all(job._cancel.is_set() for job in batch)

        try:
            results = self._render([job.payload for job in batch], on_step, should_cancel)
            if len(results) != len(batch):
                raise RuntimeError(f"render returned {len(results)} results for {len(batch)}")
        except Exception as exc:  # the worker must survive any job
            if time.monotonic() > deadline:
                minutes = self.job_timeout_s / 60
                error = JobTimedOut(
                    f"This request took longer than the {minutes:g}-minute limit and was "
                    "stopped; try fewer steps or a shorter duration."
                )
            elif isinstance(exc, GenerationCancelled):
                error = exc
            elif len(batch) > 1:
                # Out of memory, or one request's bad input: run each alone so a job fails only
                # for its own reasons and its batch neighbours still finish.
                log.warning(
                    "A batch of %d failed (%s); retrying one at a time",
                    len(batch),
                    type(exc).__name__,
                )
                for job in batch:
                    if not job.done:
                        self._run_batch([job], time.monotonic())
                return
            else:
                if not isinstance(exc, RiffusionError):
                    log.error("Generation failed", exc_info=exc)
                error = JobFailed(_user_message(exc))
            for job in batch:
                state = (
                    JobState.CANCELLED
                    if isinstance(error, GenerationCancelled)
                    else JobState.FAILED
                )
                self._finish(job, state, error=error)
            return
        elapsed = time.monotonic() - started
        self._record_time(elapsed, sum(job.cost for job in batch))
        for job, result in zip(batch, results, strict=True):
            if isinstance(result, Continue) and self.requeue_continuations:
                self._requeue(job, result)
            else:
                self._finish(job, JobState.RENDERED, result=result)

    def _requeue(self, job: QueuedJob[P, R], turn: Continue) -> None:
        """A job that renders in turns finished one: it is its user's next job again, and
        the user waits for the other users' turns first (round-robin), so a long job never
        holds the GPU while others wait. When the queue is stopping, the job is kept for the
        next start instead (JobSuspended), where its finished turns are not done again."""
        self._call_soon(job_progress, job, *turn.progress)
        with self._lock:
            if job.done:
                return
            if not self._closed:
                job.state = JobState.QUEUED
                job.started_at = None
                job.turns += 1
                if job.user_id not in self._by_user:
                    self._by_user[job.user_id] = deque()
                    self._turns.append(job.user_id)
                self._by_user[job.user_id].appendleft(job)
                self._lock.notify_all()
                return
        self._finish(job, JobState.CANCELLED, error=JobSuspended())

    def _record_time(self, elapsed: float, cost: float) -> None:
        rate = elapsed / max(cost, 1e-9)
        old = self.seconds_per_cost
        self.seconds_per_cost = (
            rate if old is None else (self._eta_smoothing * rate + (1 - self._eta_smoothing) * old)
        )

    # ---- cross-thread helpers ----------------------------------------------------------------

    def _call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop is None:
            return
        if _on_loop_thread(loop):
            fn(*args)
            return
        with contextlib.suppress(RuntimeError):  # the loop already closed: nobody is waiting
            loop.call_soon_threadsafe(fn, *args)

    def _finish(
        self,
        job: QueuedJob[P, R],
        state: JobState,
        *,
        result: Any = None,
        error: BaseException | None = None,
    ) -> None:
        """Mark the job finished once (first outcome wins) and resolve its future on the loop."""
        with self._lock:
            if job.done:
                return
            job.state = state
            job.finished_at = time.monotonic()
        self._call_soon(_resolve, job.future, result, error)
        self._call_soon(job.progress_changed.set)


def job_progress(job: QueuedJob[Any, Any], step: int, total: int) -> None:
    if job.progress != (step, total):
        job.progress = (step, total)
        job.progress_changed.set()


def _resolve(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
        future.exception()  # the job's state tells the story; nobody has to await it
    else:
        future.set_result(result)


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _is_out_of_memory(exc: BaseException) -> bool:
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def _user_message(exc: BaseException) -> str:
    """One line a Discord user can read; details stay in the log."""
    if isinstance(exc, RiffusionError):
        return str(exc)
    if _is_out_of_memory(exc):
        return (
            "The GPU ran out of memory for this request; try fewer steps or a shorter "
            "duration, or try again when the queue is quieter."
        )
    return (
        f"Something went wrong while generating ({type(exc).__name__}); the bot's log has "
        "the details. Please try again."
    )


def leave_loading_worker_behind(code: int) -> int:
    """Stopped while the model was still loading: the worker thread sits in native code (torch,
    safetensors), and finalising the interpreter around it aborts the process ("terminate called
    without an active exception", exit -6). Everything worth keeping is saved by now, so leave at
    once, with the real exit code."""
    if any(t.name == WORKER_THREAD_NAME and t.is_alive() for t in threading.enumerate()):
        log.info("Leaving while the model is still loading")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
