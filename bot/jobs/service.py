"""The job lifecycle, from a request to its posted result, with no Discord code.

For /riff, /blend, remix and every button that makes something new: check the request against
the rules (bot/policy), write its row, queue it, have the origin acknowledge it with a status
(position, ETA, Cancel), keep that status current while the job waits and runs, then save the
result (rows and files) and have the origin post it as one message. Where and how things are
shown is the origin's business (bot/jobs/origin.py; Discord's side is bot/ui/origins.py).

Every job is a database row from the moment it is queued (with what rebuilds its work, see
bot/jobs/specs.py), so a stop or a crash loses none: SIGTERM leaves the queued ones in the
database, and the next start puts them back in the order they were in (bot/jobs/recovery.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.config import Settings
from bot.engine.job_queue import Handle, JobQueue
from bot.engine.queue import JobSuspended, QueueClosed
from bot.engine.radio_clips import RADIO_KIND
from bot.engine.tasks import MadeResult, RenderResult, RenderTask
from bot.jobs import recovery, specs
from bot.jobs.delivery import DeliveryService, PendingDelivery
from bot.jobs.health import Health
from bot.jobs.origin import Delivery, JobStatus, Origin, OriginFactory, Phase
from bot.jobs.result_files import EncodedResult, encode_result
from bot.jobs.specs import JobNotRebuildable, JobSpec
from bot.limits import DEFAULT_UPLOAD_LIMIT
from bot.params import RiffParams
from bot.policy import user_settings
from bot.policy.rules import Requester, ServerPolicy
from bot.policy.user_settings import UserDefaults
from bot.store import records
from bot.store.db import Database
from bot.store.files import Storage
from bot.store.models import Generation, Job, JobState
from bot.store.records import as_utc
from riffusion_core.audio import encode_wav
from riffusion_core.errors import GenerationCancelled, RiffusionError
from riffusion_core.loudness import LoudnessSettings
from riffusion_core.seed_images.catalogue import SeedImageCatalogue

log = logging.getLogger(__name__)

ETA_SLACK_S = 15
MAX_ATTEMPTS = 2  # a job a restart interrupted runs once more, not again and again
TWICE_INTERRUPTED = (
    "the bot restarted twice while making it, so it stopped trying; please send it again."
)
POSTING_FAILED = "something went wrong while saving the result; the bot's log has the details."
DISK_FULL = (
    "the bot's disk is full, so the result could not be saved; the bot's owner can see this in "
    "/about. Please try again later."
)
DISK_FAILED = "the bot could not save the result to its disk; please try again later."
DATABASE_FAILED = (
    "the bot's database is not accepting changes right now, so the result could not be saved; "
    "please try again in a few minutes."
)
FILES_GONE = "its files were removed before it could be posted; please send it again."


API_KIND = "api"  # jobs rows of the web API (bot/jobs/inference.py): never in /history
# Never resumed after a restart: whoever waited for them (a voice channel, an HTTP caller) is gone.
NOT_RESUMED_KINDS = frozenset({RADIO_KIND, API_KIND})

DELIVERY_DRAIN_S = 30.0  # at a stop, how long results waiting for Discord may still post


def delivery_nonce(job_id: int, attempt: int) -> str:
    """The nonce of a result's message: the same for every try of one run of the job."""
    return f"job{job_id}.{attempt}"


class LocalFault(RiffusionError):
    """Saving a result failed on this machine (disk, database): the message is for its owner."""


@dataclass(frozen=True)
class JobRequest:
    """What to make: the parameters, and for anything but a plain riff its render task."""

    params: RiffParams
    kind: str = "riff"
    task: RenderTask | None = None
    parent: Generation | None = None  # the result this one is made from (buttons, remix)
    extra: dict[str, Any] = field(default_factory=dict)  # kind-specific, kept with the result

    @property
    def render_task(self) -> RenderTask:
        return self.task or RenderTask(params=self.params)


@dataclass(eq=False)
class ActiveJob:
    """A job between its acknowledgement and its posted result."""

    job_id: int
    request: JobRequest
    task: RenderTask
    queued: Handle
    origin: Origin
    requester: Requester
    attempt: int = 1  # which run of the job this is (a restart re-runs a running job once)
    by_dm: bool = False
    cancelled_by: int | None = None
    shown: JobStatus | None = None  # the status last shown
    began: float = field(default_factory=time.monotonic)

    @property
    def params(self) -> RiffParams:
        return self.request.params


@dataclass(frozen=True)
class JobEnd:
    """A job ended (for metrics): its kind, how ("done", "failed", "cancelled", "suspended")
    and how long it took from being queued."""

    kind: str
    outcome: str
    seconds: float


JobEndHook = Callable[[JobEnd], None]


def with_seed_file(task: RenderTask, seed_images: SeedImageCatalogue) -> RenderTask:
    """The task as the worker runs it: a seed image from SEED_IMAGES_DIR by its file's path.

    riffusion_core knows the bundled names only; the job and its result keep the name. An
    unknown name is left as it is, for the request to refuse with the list of names.
    """
    name = task.params.seed_image
    if name is None or name not in seed_images:
        return task
    value = seed_images.request_value(name)
    if value == name:
        return task
    return replace(task, params=replace(task.params, seed_image=value))


class CancelOutcome(enum.Enum):
    FINISHED = "finished"  # nothing to cancel any more
    NOT_ALLOWED = "not allowed"  # neither its owner nor a moderator
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class CancelResult:
    outcome: CancelOutcome
    owner_id: int | None = None
    status: JobStatus | None = None  # CANCELLED: what the status message should now say


class JobService:
    """Runs every request: rows, queue, status, files, posting, cancel, stop and resume."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        files: Storage,
        queue: JobQueue,
        policy: ServerPolicy,
        origins: OriginFactory,
        deliveries: DeliveryService,
        health: Health,
        seed_images: SeedImageCatalogue,
    ) -> None:
        self.settings = settings
        self.deliveries = deliveries
        self.health = health
        self.seed_images = seed_images
        self.db = db
        self.files = files
        self.queue = queue
        self.policy = policy
        self.origins = origins
        self.active: dict[int, ActiveJob] = {}
        self._job_ids: dict[int, int] = {}  # the queue's job id -> the jobs row id
        self._tasks: set[asyncio.Task[None]] = set()
        self._starting: set[asyncio.Task[Any]] = set()  # start() calls between queue and follow
        self.on_end: list[JobEndHook] = []  # told of every job that ends (metrics)
        queue.on_start = self._started

    # ---- starting ----------------------------------------------------------------------------

    async def start(
        self, origin: Origin, request: JobRequest, defaults: UserDefaults | None = None
    ) -> None:
        """Check, record and queue the request, and have the origin acknowledge it.

        `defaults`: the user's /settings when the caller has read them already (each request
        reads them once)."""
        current = asyncio.current_task()
        if current is not None:  # a stop waits for this to hand the job to _follow
            self._starting.add(current)
        try:
            # Other bot processes admit this user's requests in turn (the postgres queue).
            async with self.queue.admission(origin.requester.user_id):
                await self._start(origin, request, defaults)
        finally:
            if current is not None:
                self._starting.discard(current)

    def jobs_of(self, user_id: int) -> int:
        """The user's requests queued or running now."""
        return sum(
            1 for a in self.active.values() if a.requester.user_id == user_id and not a.queued.done
        )

    async def _start(
        self, origin: Origin, request: JobRequest, defaults: UserDefaults | None
    ) -> None:
        requester = origin.requester
        task = request.render_task
        held = await self.queue.held_by(requester.user_id)
        refusal = await self.policy.check(
            requester,
            request.params,
            task=task,
            kind=request.kind,
            active_jobs=self.jobs_of(requester.user_id) if held is None else held,
        )
        if refusal:
            await origin.refuse(refusal)
            return
        if self.queue.closed:
            await origin.refuse(str(QueueClosed()))
            return
        if defaults is None:
            defaults = await user_settings.load(self.db, requester.user_id)
        private = (
            defaults.private_status
            if defaults.private_status is not None
            else origin.private_by_default
        )
        spec = JobSpec(
            task=specs.describe(task, self.files),
            extra=request.extra,
            filesize_limit=requester.filesize_limit,
            status_ephemeral=private,
        )
        # The row first: a job the queue holds always has one, so a crash cannot lose it.
        job_id = await records.create_job(
            self.db,
            kind=request.kind,
            user_id=requester.user_id,
            guild_id=requester.guild_id,
            channel_id=requester.channel_id,
            params=request.params.to_json(),
            parent_generation_id=request.parent.id if request.parent else None,
            task=spec.to_json(),
        )
        # Its own folder under DATA_DIR, for work kept between queue turns (a song's clips).
        task = task.for_job(self.files.job_folder(job_id), self.files.job_folder_relative(job_id))
        try:
            audio = await asyncio.to_thread(specs.save_remix_audio, task, job_id, self.files)
            if audio is not None:
                spec.task["audio"] = audio
                await records.update_job(self.db, job_id, task=spec.to_json())
            queued = await self.queue.enqueue(
                job_id,
                requester.user_id,
                self._with_seed_file(task),
                batch_key=task.batch_key,
                cost=task.cost,
                group=requester.guild_id,  # a guild's pause holds its queued jobs
            )
        except BaseException as exc:
            await self._forget(job_id)
            if isinstance(exc, RiffusionError):
                await origin.refuse(str(exc))
                return
            raise
        active = ActiveJob(
            job_id=job_id,
            request=request,
            task=task,
            queued=queued,
            origin=origin,
            requester=requester,
            by_dm=defaults.results_by_dm,
        )
        self.active[job_id] = active
        self._job_ids[queued.id] = job_id
        active.shown = self._status(active)
        status_message_id = await origin.acknowledge(active.shown, private=private)
        if status_message_id is not None:
            await records.update_job(self.db, job_id, status_message_id=status_message_id)
        self._spawn(self._follow(active), name=f"job-{job_id}")

    def _with_seed_file(self, task: RenderTask) -> RenderTask:
        return with_seed_file(task, self.seed_images)

    def ended(self, end: JobEnd) -> None:
        """Tell the hooks a job ended (a hook's error is logged, never the job's)."""
        for hook in self.on_end:
            try:
                hook(end)
            except Exception:
                log.exception("A job-end hook failed")

    async def _forget(self, job_id: int) -> None:
        """Undo a row for a job that was refused before anyone was told it was queued."""
        with contextlib.suppress(Exception):
            await records.delete_job(self.db, job_id)
        with contextlib.suppress(OSError):
            self.files.remove_job_files(job_id)

    def _started(self, batch: list[Handle]) -> None:
        """The queue started a batch (on the loop): record it before anything else can fail."""
        job_ids = [self._job_ids[job.id] for job in batch if job.id in self._job_ids]
        if job_ids:
            self._spawn(records.mark_started(self.db, job_ids), name="mark-started")

    # ---- cancelling --------------------------------------------------------------------------

    def cancel(self, job_id: int, user_id: int, *, may_moderate: bool) -> CancelResult:
        """Cancel a queued or running job: its owner, or a moderator (`may_moderate`)."""
        active = self.active.get(job_id)
        if active is None or active.queued.done:
            return CancelResult(CancelOutcome.FINISHED)
        owner = active.requester.user_id
        if user_id != owner and not may_moderate:
            return CancelResult(CancelOutcome.NOT_ALLOWED, owner_id=owner)
        active.cancelled_by = user_id
        self.queue.cancel(active.queued)
        return CancelResult(CancelOutcome.CANCELLED, owner_id=owner, status=self._cancelled(active))

    def _cancelled(self, active: ActiveJob) -> JobStatus:
        by = active.cancelled_by
        return self._final(
            active, Phase.CANCELLED, cancelled_by=None if by == active.requester.user_id else by
        )

    # ---- following a job ---------------------------------------------------------------------

    async def _follow(self, active: ActiveJob) -> None:
        job = active.queued
        suspended = False
        outcome = "failed"
        try:
            await self._track_progress(active)
            try:
                output = await job.wait()
            except JobSuspended as exc:
                # Stopping: the row stays queued/running and the next start resumes it.
                suspended = True
                outcome = "suspended"
                await active.origin.show(self._final(active, Phase.SUSPENDED, reason=str(exc)))
                return
            except GenerationCancelled:
                outcome = "cancelled"
                await records.update_job(self.db, active.job_id, state=JobState.CANCELLED)
                await active.origin.show(self._cancelled(active))
                return
            except RiffusionError as exc:
                await self._fail(active, str(exc))
                return
            try:
                self.deliveries.submit(await self._save_result(active, output))
                outcome = "done"
            except RiffusionError as exc:  # disk full, database down, MP3 over the upload limit
                await self._fail(active, str(exc))
        except Exception:
            log.exception("Job %s failed after rendering", active.job_id)
            with contextlib.suppress(Exception):
                await self._fail(active, POSTING_FAILED, error="internal error while saving")
        finally:
            self.ended(JobEnd(active.request.kind, outcome, time.monotonic() - active.began))
            self.active.pop(active.job_id, None)
            self._job_ids.pop(job.id, None)
            if not suspended:
                with contextlib.suppress(OSError):
                    self.files.remove_job_files(active.job_id)

    async def _fail(self, active: ActiveJob, reason: str, *, error: str | None = None) -> None:
        """Record the failure, then tell the owner: they are told even when the database,
        which recording needs, is down."""
        try:
            await records.update_job(
                self.db, active.job_id, state=JobState.FAILED, error=error or reason
            )
        except SQLAlchemyError:
            log.exception("Could not record that job %s failed", active.job_id)
        await active.origin.show(self._final(active, Phase.FAILED, reason=reason))

    async def _track_progress(self, active: ActiveJob) -> None:
        """Show progress at most every PROGRESS_INTERVAL_S, and only when something changed."""
        job = active.queued
        interval = self.settings.progress_interval_s
        shown = active.shown or self._status(active)
        last_edit = time.monotonic()
        while not job.done:
            job.progress_changed.clear()
            # Wake on progress, or every interval anyway: the queue position changes silently.
            with contextlib.suppress(asyncio.TimeoutError):  # not TimeoutError on 3.10
                await asyncio.wait_for(job.progress_changed.wait(), timeout=interval)
            too_soon = last_edit + interval - time.monotonic()
            if too_soon > 0:  # no edit yet, but a job that ends meanwhile is delivered at once
                await asyncio.wait([job.future], timeout=too_soon)
            if job.done:
                break
            status = self._status(active, shown_eta=shown.eta_unix)
            if status != shown:
                shown = active.shown = status
                last_edit = time.monotonic()
                await active.origin.show(status)

    def _status(self, active: ActiveJob, *, shown_eta: int | None = None) -> JobStatus:
        """The waiting status; the ETA shown before is kept unless it moved noticeably."""
        job = active.queued
        eta = self.queue.eta(job)
        rate = self.queue.seconds_per_cost
        later_turns = active.task.turns_left(job.progress) - 1  # a song's clips still to come
        if eta is not None and rate is not None and later_turns > 0:
            eta += later_turns * rate * active.task.cost
        eta_unix = None if eta is None else round(eta)
        if (
            shown_eta is not None
            and eta_unix is not None
            and abs(eta_unix - shown_eta) <= max(ETA_SLACK_S, 0.2 * max(shown_eta - time.time(), 0))
        ):
            eta_unix = shown_eta
        return JobStatus(
            job_id=active.job_id,
            kind=active.request.kind,
            params=active.params,
            owner_id=active.requester.user_id,
            position=self.queue.position(job),
            progress=job.progress,
            detail=active.task.progress_detail(job.progress),
            eta_unix=eta_unix,
        )

    def _final(self, active: ActiveJob, phase: Phase, **fields: Any) -> JobStatus:
        return JobStatus(
            job_id=active.job_id,
            kind=active.request.kind,
            params=active.params,
            owner_id=active.requester.user_id,
            phase=phase,
            **fields,
        )

    # ---- delivering --------------------------------------------------------------------------

    async def _save_result(self, active: ActiveJob, output: RenderResult) -> PendingDelivery:
        """Rows and files of the result, then the job is "rendered": from here on a restart
        delivers it instead of making it again. A local fault leaves nothing half-written."""
        request, params, requester = active.request, active.params, active.requester
        try:
            generation = await records.add_generation(
                self.db,
                Generation(
                    kind=request.kind,
                    parent_id=request.parent.id if request.parent else None,
                    user_id=requester.user_id,
                    guild_id=requester.guild_id,
                    channel_id=requester.channel_id,
                    prompt=params.prompt,
                    negative_prompt=params.negative_prompt,
                    seed=params.seed,
                    seed_image=params.seed_image,
                    steps=params.steps,
                    guidance=params.guidance,
                    denoising=params.denoising,
                    width=params.width,
                    duration_s=params.duration_s,
                    extra={**request.extra, "clips": output.clips},
                    model=(
                        output.model
                        if isinstance(output, MadeResult) and output.model
                        else self.settings.riffusion_model
                    ),
                    audio_duration_s=output.duration_s,
                    elapsed_s=output.elapsed_s,
                ),
                job_id=active.job_id,
            )
        except SQLAlchemyError as exc:
            self.health.failed(
                "database", f"the database refuses writes ({exc.__class__.__name__})"
            )
            raise LocalFault(DATABASE_FAILED) from exc
        try:
            encoded = await asyncio.to_thread(
                self._save_files, generation.id, output, requester.filesize_limit
            )
        except OSError as exc:
            await self._forget_result(generation)
            if exc.errno == errno.ENOSPC:
                self.health.failed("disk", f"the disk of DATA_DIR is full ({exc})")
                raise LocalFault(DISK_FULL) from exc
            self.health.failed("disk", f"files cannot be written under DATA_DIR ({exc})")
            raise LocalFault(DISK_FAILED) from exc
        except RiffusionError:
            await self._forget_result(generation)
            raise
        self.health.worked("disk")
        generation.image_file = self.files.relative(generation.id, ".png")
        generation.audio_file = self.files.relative(generation.id, ".mp3")
        generation.mp3_bitrate_kbps = encoded.bitrate_kbps
        generation.extra = {
            **generation.extra,
            "master": self.files.relative(generation.id, ".wav"),
        }
        try:
            await records.update_generation(
                self.db,
                generation.id,
                image_file=generation.image_file,
                audio_file=generation.audio_file,
                mp3_bitrate_kbps=encoded.bitrate_kbps,
                extra=generation.extra,
            )
            await records.update_job(self.db, active.job_id, state=JobState.RENDERED)
            await self.queue.saved(active.job_id)
        except SQLAlchemyError as exc:
            self.health.failed(
                "database", f"the database refuses writes ({exc.__class__.__name__})"
            )
            await self._forget_result(generation)
            raise LocalFault(DATABASE_FAILED) from exc
        self.health.worked("database")
        return PendingDelivery(
            job_id=active.job_id,
            origin=active.origin,
            delivery=Delivery(
                generation=generation,
                png=encoded.png,
                mp3=encoded.mp3,
                parent_url=request.parent.jump_url() if request.parent else None,
                by_dm=active.by_dm,
                nonce=delivery_nonce(active.job_id, active.attempt),
            ),
            status=active.shown or self._status(active),
            rendered_at=time.time(),
        )

    def _save_files(self, generation_id: int, output: RenderResult, limit: int) -> EncodedResult:
        """Encode and write PNG, MP3 (within the upload limit, at the target loudness) and the
        lossless master (as rendered: Extend continues it sample for sample). A GPU worker
        elsewhere (the postgres queue) sends them encoded already."""
        if isinstance(output, MadeResult):
            encoded = EncodedResult(
                png=output.png, mp3=output.mp3, bitrate_kbps=output.bitrate_kbps
            )
            master = output.wav
        else:
            loudness = LoudnessSettings(target_rms_dbfs=self.settings.target_rms_dbfs)
            encoded = encode_result(output.image, output.audio, limit, loudness)
            master = encode_wav(output.master)
        self.files.save_bytes(generation_id, ".png", encoded.png)
        self.files.save_bytes(generation_id, ".mp3", encoded.mp3)
        self.files.save_bytes(generation_id, ".wav", master)
        return encoded

    async def _forget_result(self, generation: Generation) -> None:
        """Remove a result that could not be saved whole: its files and its row."""
        with contextlib.suppress(OSError, ValueError):
            for suffix in (".png", ".mp3", ".wav"):
                self.files.delete(self.files.relative(generation.id, suffix))
        with contextlib.suppress(SQLAlchemyError):
            await records.delete_generation(self.db, generation.id)

    # ---- lifecycle ---------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def shutdown(self, grace_s: float) -> None:
        """Stop taking work, let the running job finish and be posted; keep the queued ones.

        Queued jobs (and a running one still going after the grace) end with JobSuspended:
        their status says the request will continue, and their rows resume them on next start.
        """
        kept = await self.queue.shutdown(grace_s)
        if kept:
            log.info("%d queued job(s) are kept for the next start", len(kept))
        starting = self._starting - {asyncio.current_task()}
        if starting:  # acknowledged as the queue closed: let them hand their job to _follow
            await asyncio.wait(starting, timeout=30)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=30)
        await self.deliveries.shutdown(DELIVERY_DRAIN_S)

    # ---- resuming after a restart ------------------------------------------------------------

    async def resume_unfinished(self) -> list[int]:
        """Put the jobs a previous run left (stopped or crashed) back in the queue, in order.

        Returns the ids of the resumed jobs. A job that was running is run again once; one
        that cannot be rebuilt, or that two restarts interrupted, fails with a line for its
        owner in its status message. Remix inputs of jobs no longer waiting are removed.
        """
        rows = [row for row in await records.unfinished_jobs(self.db) if self.owns(row.guild_id)]
        for row in (row for row in rows if row.kind in NOT_RESUMED_KINDS):  # radio, web API
            await records.update_job(self.db, row.id, state=JobState.CANCELLED)
        rows = [row for row in rows if row.kind not in NOT_RESUMED_KINDS]
        rendered = sorted(
            (row for row in rows if row.state == JobState.RENDERED.value),
            key=lambda row: (as_utc(row.finished_at or row.created_at), row.id),
        )
        for row in rendered:  # made before the stop: deliver them first, in the order they finished
            try:
                await self._resume_delivery(row)
            except Exception:
                log.exception("Could not resume the delivery of job %s", row.id)
        rows = [row for row in rows if row.state != JobState.RENDERED.value]
        resumed: list[int] = []
        if rows:
            starts = await records.last_starts(self.db, [row.user_id for row in rows])
            made = [row for row in rows if row.state == JobState.MADE.value]  # postgres queue
            for row in made + recovery.resume_order(rows, starts):
                try:
                    if await self._resume(row):
                        resumed.append(row.id)
                except Exception:
                    log.exception("Could not resume job %s", row.id)
                    await self._fail_stored(
                        row,
                        "the bot could not pick it up again after a restart; please send it again.",
                    )
            log.info("Resumed %d of %d unfinished job(s)", len(resumed), len(rows))
        # DATA_DIR may be shared with other bot processes (SHARD_IDS): a job file is an orphan
        # only when no process has its job unfinished.
        unfinished = {row.id for row in await records.unfinished_jobs(self.db)}
        await asyncio.to_thread(self.files.remove_orphan_job_files, set(self.active) | unfinished)
        return resumed

    def owns(self, guild_id: int | None) -> bool:
        """Whether this process answers for a server's jobs: with SHARD_IDS, several bot
        processes share one database, each resuming the jobs of its own shards (DMs: shard 0).
        """
        shards, count = self.settings.shard_ids, self.settings.shard_count
        if shards is None or not count:
            return True
        shard = 0 if guild_id is None else (guild_id >> 22) % count
        return shard in shards

    def _stored_origin(self, row: Job, *, tell_owner: bool = True) -> Origin:
        spec = JobSpec.from_json(row.task, default_limit=DEFAULT_UPLOAD_LIMIT)
        requester = Requester(
            user_id=row.user_id,
            guild_id=row.guild_id,
            channel_id=row.channel_id,
            filesize_limit=spec.filesize_limit,
        )
        # A status only its owner could see (ephemeral) cannot be edited with the bot token.
        message_id = None if spec.status_ephemeral else row.status_message_id
        return self.origins.resumed(requester, status_message_id=message_id, tell_owner=tell_owner)

    async def _resume_delivery(self, row: Job) -> None:
        """A result saved but not known to be posted: deliver it (looking for it first)."""
        params = RiffParams.from_json(row.params)
        generation = (
            await records.get_generation(self.db, row.generation_id)
            if row.generation_id is not None
            else None
        )
        if generation is not None and generation.message_id is not None:
            await records.update_job(self.db, row.id, state=JobState.DELIVERED)
            return
        try:
            if generation is None or not generation.image_file or not generation.audio_file:
                raise FileNotFoundError(row.generation_id)
            png, mp3 = await asyncio.gather(
                asyncio.to_thread(self.files.read_bytes, generation.image_file),
                asyncio.to_thread(self.files.read_bytes, generation.audio_file),
            )
        except (OSError, ValueError):
            await self._fail_stored(row, FILES_GONE)
            return
        parent = None
        if row.parent_generation_id is not None:
            parent = await records.get_generation(self.db, row.parent_generation_id)
        defaults = await user_settings.load(self.db, row.user_id)
        self.deliveries.submit(
            PendingDelivery(
                job_id=row.id,
                origin=self._stored_origin(row, tell_owner=False),
                delivery=Delivery(
                    generation=generation,
                    png=png,
                    mp3=mp3,
                    parent_url=parent.jump_url() if parent else None,
                    by_dm=defaults.results_by_dm,
                    nonce=delivery_nonce(row.id, row.attempts),
                ),
                status=self._stored_status(row, params, Phase.WAITING),
                rendered_at=as_utc(row.finished_at or row.created_at).timestamp(),
                maybe_posted=True,
            )
        )

    async def _resume(self, row: Job) -> bool:
        params = RiffParams.from_json(row.params)
        if row.generation_id is not None and await self._already_made(row, params):
            return False
        spec = JobSpec.from_json(row.task, default_limit=DEFAULT_UPLOAD_LIMIT)
        parent = None
        if row.parent_generation_id is not None:
            parent = await records.get_generation(self.db, row.parent_generation_id)
        if self.queue.renders_here:
            if row.state == JobState.RUNNING.value and row.attempts >= MAX_ATTEMPTS:
                await self._fail_stored(row, TWICE_INTERRUPTED)
                return False
            try:
                task = await asyncio.to_thread(
                    specs.rebuild, row.kind, params, spec, self.files, parent
                )
            except JobNotRebuildable as exc:
                await self._fail_stored(row, str(exc))
                return False
            task = task.for_job(
                self.files.job_folder(row.id), self.files.job_folder_relative(row.id)
            )
            # Queued again before the queue can start it (its start is recorded as running).
            await records.update_job(self.db, row.id, state=JobState.QUEUED)
        else:
            # A GPU worker rebuilds the work from the row; a running or made job goes on where
            # it is, and this process only follows it again.
            task = RenderTask(params=params)
        defaults = await user_settings.load(self.db, row.user_id)
        queued = await self.queue.enqueue(
            row.id,
            row.user_id,
            self._with_seed_file(task),
            batch_key=task.batch_key,
            cost=task.cost if self.queue.renders_here else row.cost,
            group=row.guild_id,
            resumed=True,
            first=row.state == JobState.RUNNING.value,
        )
        # No await from here until the job is known by its queue id: the queue may start it at
        # once, and its start is recorded through that id (_started).
        origin = self._stored_origin(row, tell_owner=False)
        active = ActiveJob(
            job_id=row.id,
            request=JobRequest(
                params=params,
                kind=row.kind,
                task=task if self.queue.renders_here else None,
                parent=parent,
                extra=spec.extra,
            ),
            task=task,
            queued=queued,
            origin=origin,
            requester=origin.requester,
            attempt=row.attempts + 1,
            by_dm=defaults.results_by_dm,
        )
        self.active[row.id] = active
        self._job_ids[queued.id] = row.id
        active.shown = self._status(active)
        status_message_id = await origin.acknowledge(active.shown, private=False)
        if status_message_id is not None and status_message_id != row.status_message_id:
            await records.update_job(self.db, row.id, status_message_id=status_message_id)
        self._spawn(self._follow(active), name=f"job-{row.id}")
        return True

    async def _already_made(self, row: Job, params: RiffParams) -> bool:
        """The result row exists: posted (finish the job) or not (remove it, make it again)."""
        assert row.generation_id is not None
        generation = await records.get_generation(self.db, row.generation_id)
        if generation is not None and generation.message_id is not None:
            await records.update_job(self.db, row.id, state=JobState.DELIVERED)
            status = self._stored_status(row, params, Phase.DONE, result_url=generation.jump_url())
            await self._stored_origin(row, tell_owner=False).show(status)
            return True
        if generation is not None:
            with contextlib.suppress(OSError, ValueError):
                for relative in self.files.files_of(
                    generation.image_file, generation.audio_file, generation.extra
                ):
                    self.files.delete(relative)
            await records.delete_generation(self.db, generation.id)
        return False

    async def _fail_stored(self, row: Job, reason: str) -> None:
        await records.update_job(self.db, row.id, state=JobState.FAILED, error=reason)
        with contextlib.suppress(OSError):
            self.files.remove_job_files(row.id)
        params = RiffParams.from_json(row.params)
        await self._stored_origin(row).show(
            self._stored_status(row, params, Phase.FAILED, reason=reason)
        )

    @staticmethod
    def _stored_status(row: Job, params: RiffParams, phase: Phase, **fields: Any) -> JobStatus:
        return JobStatus(
            job_id=row.id, kind=row.kind, params=params, owner_id=row.user_id, phase=phase, **fields
        )
