"""The bot's side of the postgres queue: jobs go to GPU workers on other machines.

With GENERATION_QUEUE=postgres the bot loads no model. `enqueue` makes a job's row claimable
(with its input files, bot/store/queue_rows.py), and one watcher task follows this process's
jobs: woken by the workers' notifications, and polling every POLL_INTERVAL_S whatever happens to
LISTEN, it moves each job's handle through running (with the worker's step k/N) to its result,
which the worker left in the database. Positions and ETAs come from a snapshot of the whole
shared queue (every bot's jobs, in the order workers will claim them) and the speed workers
measure. The job service cannot tell this queue from the local one (the JobQueue protocol).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from collections.abc import AsyncIterator, Callable, Hashable
from pathlib import Path
from typing import Any

from PIL import Image
from pydub import AudioSegment
from sqlalchemy import text

from bot.config import Settings
from bot.engine.job_queue import Handle
from bot.engine.queue import JobFailed, JobSuspended, QueueClosed, QueuedJob, QueueFull
from bot.engine.radio_clips import RADIO_KIND, RadioRender, RadioTask
from bot.engine.tasks import MadeResult, RenderResult, RenderTask
from bot.jobs import specs
from bot.jobs.health import Health
from bot.store import queue_rows, records
from bot.store.db import Database
from bot.store.files import Storage
from bot.store.models import Job, JobState
from bot.store.notify import Listener
from riffusion_core.errors import GenerationCancelled

log = logging.getLogger(__name__)

# Bumped whenever what a bot writes for a worker (or reads back) changes meaning: a worker only
# claims jobs of its own version, and says so when it sees others waiting.
QUEUE_VERSION = 1
SEED_IMAGE_BLOB = "seed_image.png"  # a seed image from SEED_IMAGES_DIR travels with the job
WORKERS_SEEN_S = 60.0  # a worker not heard from for this long is not counted
ADMISSIONS_AT_ONCE = 4  # below the connection pool's size (5), see admission()
NO_WORKER = (
    "no GPU worker of this bot's version has been seen for a minute; start one with "
    "`python -m bot.worker` (docs/scale-out.md)"
)


def decode_radio(files: dict[str, bytes]) -> RadioRender:
    """A radio clip as its worker sent it (our own WAV and PNG, read in-process)."""
    audio = AudioSegment.from_wav(io.BytesIO(files["result.wav"]))
    png = files.get("result.png")
    image = Image.open(io.BytesIO(png)) if png is not None else None
    if image is not None:
        image.load()
    return RadioRender(audio, image)


def seed_file(value: str | None) -> Path | None:
    """The file behind a seed image value the job service resolved to a path (SEED_IMAGES_DIR);
    None for a name (bundled loops and tempo loops: every worker makes those itself)."""
    if value is None:
        return None
    path = Path(value)
    if path.suffix.lower() not in {".png", ".jpg", ".jpeg", ".webp"} or not path.is_file():
        return None
    return path


def batch_key_text(key: Hashable | None) -> str | None:
    """Batch keys as the jobs table stores them: equal keys, equal text."""
    return None if key is None else repr(key)


class SharedQueue:
    """The JobQueue of a bot whose jobs are rendered by workers through PostgreSQL."""

    renders_here = False

    def __init__(
        self,
        settings: Settings,
        db: Database,
        files: Storage,
        health: Health,
        *,
        version: int = QUEUE_VERSION,
    ) -> None:
        self.settings = settings
        self.db = db
        self.files = files
        self.health = health
        self.version = version
        self.on_start: Callable[[list[Handle]], None] | None = None  # workers record starts
        self.handles: dict[int, QueuedJob[Any, Any]] = {}
        self.latest: queue_rows.Snapshot | None = None
        self._paused: set[Hashable] = set()
        self._closed = False
        self._unserved_since: float | None = None  # jobs waiting and no worker seen, since
        self._wake = asyncio.Event()
        self._admitting = asyncio.Semaphore(ADMISSIONS_AT_ONCE)
        self._watcher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.listener = Listener(
            db.url,
            [queue_rows.EVENTS_CHANNEL],
            self._notified,
            retry_s=settings.poll_interval_s,
            name="riffusion-listen-bot",
        )

    # ---- lifecycle ---------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def start(self) -> None:
        if self._watcher is None:
            self.listener.start()
            self._watcher = asyncio.create_task(self._watch(), name="shared-queue-watch")

    async def shutdown(self, grace_s: float) -> list[Handle]:
        """Stop watching. Jobs go on on the workers: their handles end with JobSuspended, and
        the next start finds them in the table (running ones re-attach, made ones deliver)."""
        del grace_s  # nothing renders here, so nothing to wait for
        self._closed = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await self.listener.stop()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=10)
        for handle in list(self.handles.values()):
            self._finish(handle, JobState.CANCELLED, error=JobSuspended())
        self.handles.clear()
        return []

    # ---- queueing ----------------------------------------------------------------------------

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
        """Make the row claimable (a resumed job whose row already is: just follow it)."""
        del first  # a job whose worker vanished goes first anyway (fairness.py)
        if self._closed:
            raise QueueClosed()
        async with self.db.session() as session:
            row = await session.get(Job, job_id)
        if row is None:
            raise JobFailed("this request's record is gone; please send it again.")
        if not (resumed and row.queue_version is not None):
            inputs = await asyncio.to_thread(self._inputs, row, payload)
            refused = await queue_rows.enqueue(
                self.db,
                job_id,
                user_id=user_id,
                version=self.version,
                batch_key=batch_key_text(batch_key),
                cost=cost,
                inputs=inputs,
                max_held=None if resumed else self.settings.max_jobs_per_user,
                max_queued=None if resumed else self.settings.max_queue_size,
            )
            if refused is not None and refused.held is not None:
                raise QueueFull.held(refused.held, self.settings.max_jobs_per_user)
            if refused is not None:
                raise QueueFull.full(self.settings.max_queue_size)
        loop = asyncio.get_running_loop()
        handle: Handle = QueuedJob(
            id=job_id,
            user_id=user_id,
            payload=payload,
            batch_key=batch_key,
            cost=cost,
            future=loop.create_future(),
            group=group,
        )
        self.handles[job_id] = handle
        self._wake.set()
        return handle

    def _inputs(self, row: Job, payload: RenderTask) -> dict[str, bytes]:
        """The files the job reads, by their path under DATA_DIR (blocking)."""
        files: dict[str, bytes] = {}
        for relative in specs.input_files(row.task or {}):
            path = self.files.existing(relative, any_folder=True)
            if path is None:
                raise JobFailed(
                    "a file this request needs was removed before it could start; please "
                    "send it again."
                )
            files[relative] = path.read_bytes()
        seed = seed_file(payload.params.seed_image)
        if seed is not None:  # a SEED_IMAGES_DIR image, resolved to its file here
            files[SEED_IMAGE_BLOB] = seed.read_bytes()
        return files

    async def render_clip(
        self, lane: int, task: RadioTask, *, cost: float, group: int | None
    ) -> QueuedJob[RadioTask, RadioRender]:
        """A radio clip through the workers: a row of kind "radio" (never resumed after a
        restart, never in /history) whose result is the clip's WAV and spectrogram PNG."""
        if self._closed:
            raise QueueClosed()
        job_id = await records.create_job(
            self.db,
            kind=RADIO_KIND,
            user_id=lane,
            guild_id=group,
            channel_id=None,
            params={},
            parent_generation_id=None,
            task=task.to_spec(),
        )
        inputs: dict[str, bytes] = {}
        seed = seed_file(task.seed_image)
        if seed is not None:
            inputs[SEED_IMAGE_BLOB] = await asyncio.to_thread(seed.read_bytes)
        await queue_rows.enqueue(
            self.db,
            job_id,
            user_id=lane,
            version=self.version,
            batch_key=None,
            cost=cost,
            inputs=inputs,
            max_held=None,
            max_queued=None,
        )
        handle: QueuedJob[RadioTask, RadioRender] = QueuedJob(
            id=job_id,
            user_id=lane,
            payload=task,
            batch_key=None,
            cost=cost,
            future=asyncio.get_running_loop().create_future(),
            group=group,
        )
        self.handles[job_id] = handle
        self._wake.set()
        return handle

    def cancel(self, job: QueuedJob[Any, Any]) -> bool:
        """Stop showing the job at once; the row is cancelled (a waiting job) or its worker is
        asked to stop, which it does within a step."""
        if job.done:
            return False
        job._cancel.set()
        self._finish(job, JobState.CANCELLED, error=GenerationCancelled())
        self._spawn(self._cancel_row(job.id))
        return True

    async def _cancel_row(self, job_id: int) -> None:
        state = await queue_rows.request_cancel(self.db, job_id)
        if state == JobState.MADE.value:  # made just before the cancel: nobody wants it now
            await queue_rows.take_over(self.db, job_id, JobState.CANCELLED)

    # ---- what the status, /queue and /about show ----------------------------------------------

    def position(self, job: Handle) -> int | None:
        if job.state is JobState.RUNNING:
            return 0
        if job.done:
            return None
        order = [row.id for row in self.latest.order] if self.latest else []
        return order.index(job.id) + 1 if job.id in order else len(order) + 1

    def _live_workers(self) -> list[queue_rows.WorkerView]:
        if self.latest is None:
            return []
        return [w for w in self.latest.workers if w.version == self.version]

    @property
    def seconds_per_cost(self) -> float | None:
        rates = [w.seconds_per_cost for w in self._live_workers() if w.seconds_per_cost]
        return sum(rates) / len(rates) if rates else None

    def eta(self, job: Handle) -> float | None:
        """Work ahead of the job shared among the live workers, at their measured speed."""
        rate = self.seconds_per_cost
        if rate is None or job.done or self.latest is None:
            return None
        workers = max(1, len(self._live_workers()))
        now = time.time()
        if job.state is JobState.RUNNING:
            expected = rate * job.cost
            elapsed = now - job.started_at if job.started_at else 0.0
            if job.progress and job.progress[0] > 0:
                step, total = job.progress
                expected = elapsed * total / step
            return now + max(expected - elapsed, 0.0)
        ahead = 0.0
        for running in self.latest.running:
            expected = rate * running.cost
            started = running.started_at
            elapsed = now - started.timestamp() if started else 0.0
            if running.progress and running.progress[0] > 0:
                expected = elapsed * running.progress[1] / running.progress[0]
            ahead += max(expected - elapsed, 0.0)
        for waiting in self.latest.order:
            ahead += rate * waiting.cost
            if waiting.id == job.id:
                break
        return now + ahead / workers

    def waiting_count(self) -> int:
        return len(self.latest.order) if self.latest else 0

    def running_count(self) -> int:
        return len(self.latest.running) if self.latest else 0

    def workers(self) -> list[queue_rows.WorkerView]:
        """The workers seen in the last minute (any version)."""
        return list(self.latest.workers) if self.latest else []

    def workers_seen(self) -> list[str]:
        lines = []
        for w in self.workers():
            speed = f", {w.seconds_per_cost:.2f} s/step" if w.seconds_per_cost else ""
            line = f"{w.host}: {w.device or 'loading'}{speed}"
            if w.version != self.version:
                line += f" (queue version {w.version}, this bot {self.version}: refuses jobs)"
            lines.append(line)
        return lines

    def pause(self, group: Hashable) -> None:
        self._paused.add(group)  # workers read the pause from guild_settings

    def resume(self, group: Hashable) -> None:
        self._paused.discard(group)
        self._spawn(self._notify_workers())

    async def _notify_workers(self) -> None:
        async with self.db.session() as session:
            await queue_rows.notify(session, queue_rows.QUEUE_CHANNEL, "new")

    def is_paused(self, group: Hashable | None) -> bool:
        if group is None:
            return False
        return group in self._paused or bool(self.latest and group in self.latest.paused)

    async def held_by(self, user_id: int) -> int | None:
        return await queue_rows.held_by(self.db, user_id)

    @contextlib.asynccontextmanager
    async def admission(self, user_id: int) -> AsyncIterator[None]:
        """A session-level advisory lock on the user, across every bot process."""
        key = queue_rows.user_lock_key(user_id) ^ (1 << 29)  # not the enqueue lock's key
        # The lock holds a pooled connection while the checks take others: a bounded number
        # of admissions at a time can never take the whole pool and wait on each other.
        async with self._admitting, self.db.engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            await conn.commit()
            try:
                yield
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                await conn.commit()

    # ---- following the jobs ------------------------------------------------------------------

    def _notified(self, channel: str, payload: str) -> None:
        self._wake.set()

    async def _watch(self) -> None:
        while True:
            self._wake.clear()  # before looking: a notification during the look wakes again
            try:
                await self.refresh()
                self.health.worked("database")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is down: keep trying, say so in /about
                log.warning("Could not read the shared queue (%s)", exc.__class__.__name__)
                self.health.failed(
                    "database", f"the shared queue cannot be read ({exc.__class__.__name__})"
                )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_interval_s)

    async def refresh(self) -> None:
        """One look at the shared queue: this process's jobs, then the whole picture."""
        mine = [job_id for job_id, handle in self.handles.items() if not handle.done]
        views = await queue_rows.views(self.db, mine)
        for job_id in mine:
            handle = self.handles[job_id]
            view = views.get(job_id)
            if view is None:
                self._finish(handle, JobState.FAILED, error=JobFailed("this request was removed."))
            else:
                await self._apply(handle, view)
        self.handles = {i: h for i, h in self.handles.items() if not h.done}
        self.latest = await queue_rows.snapshot(
            self.db, self.version, workers_within_s=WORKERS_SEEN_S
        )
        if self.latest.order and not self._live_workers():
            now = time.monotonic()
            self._unserved_since = self._unserved_since or now
            if now - self._unserved_since >= WORKERS_SEEN_S:
                self.health.failed("workers", NO_WORKER)
        else:
            self._unserved_since = None
            self.health.worked("workers")

    async def _apply(self, handle: Handle, view: queue_rows.JobView) -> None:
        state = view.state
        if state == JobState.RUNNING.value:
            if handle.state is JobState.QUEUED:
                handle.state = JobState.RUNNING
                handle.started_at = view.started_at.timestamp() if view.started_at else None
                handle.progress_changed.set()
            if view.progress != handle.progress and view.progress is not None:
                handle.progress = view.progress
                handle.progress_changed.set()
        elif state == JobState.QUEUED.value and handle.state is JobState.RUNNING:
            # Its worker gave it back (stopping), or a song finished a turn (its progress).
            handle.state = JobState.QUEUED
            handle.progress = view.progress
            handle.progress_changed.set()
        elif state == JobState.MADE.value and view.kind == RADIO_KIND:
            files = await queue_rows.blobs(self.db, handle.id, prefix=queue_rows.RESULT_PREFIX)
            clip = await asyncio.to_thread(decode_radio, files)
            await queue_rows.take_over(self.db, handle.id, JobState.DELIVERED)
            self._finish(handle, JobState.RENDERED, result=clip)
        elif state == JobState.MADE.value:
            try:
                result = await self._result(handle.id, view.made or {})
            except (KeyError, ValueError) as exc:
                log.error("Job %s: the worker's result is incomplete (%s)", handle.id, exc)
                self._finish(
                    handle,
                    JobState.FAILED,
                    error=JobFailed("the result arrived incomplete; please try again."),
                )
                return
            self._finish(handle, JobState.RENDERED, result=result)
        elif state == JobState.FAILED.value:
            self._finish(
                handle,
                JobState.FAILED,
                error=JobFailed(view.error or "the GPU worker could not make it."),
            )
        elif state == JobState.CANCELLED.value:
            self._finish(handle, JobState.CANCELLED, error=GenerationCancelled())
        elif state in (JobState.RENDERED.value, JobState.DELIVERED.value):
            # Another process of this bot took it over (a restart while this one stopped).
            self._finish(handle, JobState.CANCELLED, error=JobSuspended())

    async def _result(self, job_id: int, made: dict[str, Any]) -> MadeResult:
        files = await queue_rows.blobs(self.db, job_id, prefix=queue_rows.RESULT_PREFIX)
        return MadeResult(
            png=files["result.png"],
            mp3=files["result.mp3"],
            wav=files["result.wav"],
            bitrate_kbps=int(made["bitrate_kbps"]),
            clips=int(made["clips"]),
            elapsed_s=float(made["elapsed_s"]),
            duration_s=float(made["duration_s"]),
            model=made.get("model"),
        )

    async def saved(self, job_id: int) -> None:
        """The job service saved a made result under DATA_DIR: drop its copy in the database."""
        await queue_rows.take_over(self.db, job_id, JobState.RENDERED)

    def _finish(
        self,
        job: QueuedJob[Any, Any],
        state: JobState,
        *,
        result: RenderResult | RadioRender | None = None,
        error: BaseException | None = None,
    ) -> None:
        if job.done:
            return
        job.state = state
        job.finished_at = time.monotonic()
        if not job.future.done():
            if error is not None:
                job.future.set_exception(error)
                job.future.exception()  # the state tells the story; nobody has to await it
            else:
                job.future.set_result(result)
        job.progress_changed.set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("Shared queue update failed", exc_info=task.exception())
