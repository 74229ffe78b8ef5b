"""A GPU worker: claims jobs from the postgres queue, renders them, leaves the results there.

Runs on each GPU machine (`python -m bot.worker`) with the bot's .env. Inside, the local queue
(bot/engine/queue.py) does what it does in a single-machine bot: it owns the pipeline on its
thread, batches compatible jobs in one call, splits a batch that fails (out of memory) and
retries each job alone, enforces the per-job time limit, and stops within a step when a job is
cancelled. This module is the part that talks to PostgreSQL:

- claim a batch in round-robin order when idle (woken by LISTEN, polling every POLL_INTERVAL_S);
- every heartbeat (about a second), renew the leases with the step reached; a job whose lease was
  not renewed (the row says another worker has it, or it was cancelled) is stopped here;
- a cancel notification stops the job at once, the heartbeat within a second without it;
- encode the result as the bot will post it (PNG, MP3 within the owner's upload limit, WAV
  master) and store it with the job, fenced: a worker that lost its claim writes nothing;
- on SIGTERM finish the running batch (SHUTDOWN_GRACE_S) or give its jobs back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.engine.queue import Continue, GenerationQueue, JobSuspended, QueuedJob
from bot.engine.radio_clips import RADIO_KIND, RadioRender, RadioTask
from bot.engine.renderer import Renderer
from bot.engine.tasks import RenderOutput, RenderTask
from bot.jobs import specs
from bot.jobs.result_files import encode_result, png_bytes
from bot.jobs.shared_queue import QUEUE_VERSION, SEED_IMAGE_BLOB
from bot.jobs.specs import JobSpec
from bot.limits import DEFAULT_UPLOAD_LIMIT
from bot.params import RiffParams
from bot.store import queue_rows
from bot.store.db import Database
from bot.store.files import Storage
from bot.store.models import JobState
from bot.store.notify import Listener
from riffusion_core.audio import encode_wav
from riffusion_core.errors import GenerationCancelled, RiffusionError
from riffusion_core.loudness import LoudnessSettings
from riffusion_core.seed_images.catalogue import SeedImageCatalogue

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0  # leases renewed and progress written this often (at most LEASE_S / 3)
SEEN_EVERY_S = 5.0  # the workers row refreshed this often
VERSION_CHECK_S = 30.0
EXHAUSTED = (
    "it stopped the GPU worker {n} times (too big for the GPU, or the worker keeps crashing), "
    "so it was not tried again; please try a smaller request."
)
WorkerTask = RenderTask | RadioTask
WorkerHandle = QueuedJob[WorkerTask, RenderOutput | RadioRender | Continue]


@dataclass
class Running:
    """A claimed job on this worker."""

    lease: queue_rows.Lease
    handle: WorkerHandle
    spec: JobSpec
    scratch: Path
    lost: bool = False  # the row says it is no longer ours: write nothing


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class GpuWorker:
    """Claims, renders and stores jobs of the shared queue until stopped."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        renderer: Renderer,
        seed_images: SeedImageCatalogue,
        *,
        version: int = QUEUE_VERSION,
        ident: str | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.renderer = renderer
        self.seed_images = seed_images
        self.version = version
        self.id = ident or worker_id()
        self.host = socket.gethostname()
        self.queue: GenerationQueue[WorkerTask, RenderOutput | RadioRender | Continue] = (
            GenerationQueue(
                renderer,
                prepare=renderer.prepare,
                max_jobs_per_user=1_000_000,  # limits are the bots' business; claims bound the work
                max_queue_size=1_000_000,
                max_batch_size=settings.max_batch_size,
                job_timeout_s=settings.job_timeout_s,
                requeue_continuations=False,  # a song's next turn: back to the shared table
            )
        )
        self.running: dict[int, Running] = {}
        self.note: str | None = None
        self._wake = asyncio.Event()
        self._finishing: set[asyncio.Task[None]] = set()
        self._scratch_root = Path(settings.data_dir) / "worker-scratch"
        self.listener = Listener(
            db.url,
            [queue_rows.QUEUE_CHANNEL],
            self._notified,
            retry_s=settings.poll_interval_s,
            name="riffusion-listen-worker",
        )
        self.claims = 0  # batches claimed (tests, logs)

    # ---- lifecycle ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> int:
        """Load the model, then claim and render until `stop` is set; returns an exit code."""
        self.queue.start()
        await asyncio.to_thread(self.queue.ready.wait)
        if self.queue.prepare_error is not None:
            log.error("The model could not be loaded; this worker takes no jobs")
            await self.queue.shutdown(0)
            return 1
        log.info(
            "Worker %s renders on %s (model %s, batches of up to %d, queue version %d)",
            self.id,
            self.renderer.device_name,
            self.settings.riffusion_model,
            self.settings.max_batch_size,
            self.version,
        )
        await self._seen()
        self.listener.start()
        heartbeat = asyncio.create_task(self._heartbeat(), name="worker-heartbeat")
        try:
            await self._claim_loop(stop)
        finally:
            kept = await self.queue.shutdown(self.settings.shutdown_grace_s)
            del kept  # claimed jobs are in self.running: their follow-ups give them back
            if self._finishing:
                await asyncio.wait(set(self._finishing), timeout=60)
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await self.listener.stop()
            with contextlib.suppress(Exception):
                await queue_rows.worker_gone(self.db, self.id)
            shutil.rmtree(self._scratch_root / self.id.replace(":", "_"), ignore_errors=True)
        log.info("Worker %s stopped", self.id)
        return 0

    def _notified(self, channel: str, payload: str) -> None:
        if payload.startswith("cancel:"):
            with contextlib.suppress(ValueError):
                self._stop_job(int(payload.split(":", 1)[1]), lost=False)
        self._wake.set()

    # ---- claiming ----------------------------------------------------------------------------

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                self._wake.clear()
                claim = await self._claim()
                if claim is None or not claim.jobs:
                    waker = asyncio.ensure_future(self._wake.wait())
                    await asyncio.wait(
                        {waker, stopping},
                        timeout=self.settings.poll_interval_s,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    waker.cancel()
                    continue
                await self._render(claim.jobs, stopping)
        finally:
            stopping.cancel()

    async def _claim(self) -> queue_rows.Claim | None:
        try:
            claim = await queue_rows.claim(
                self.db,
                self.id,
                version=self.version,
                max_batch=self.settings.max_batch_size,
                lease_s=self.settings.lease_s,
                max_attempts=self.settings.worker_max_attempts,
                exhausted_message=EXHAUSTED.format(n=self.settings.worker_max_attempts),
            )
        except Exception as exc:  # the database is away: try again after a poll
            log.warning("Could not claim jobs (%s); retrying", exc.__class__.__name__)
            return None
        for job_id in claim.exhausted:
            log.warning("Job %s kept stopping workers; it failed", job_id)
        if claim.jobs:
            self.claims += 1
            log.info(
                "Claimed job(s) %s", ", ".join(f"{c.job.id} (try {c.attempt})" for c in claim.jobs)
            )
        return claim

    async def _render(
        self, claimed: list[queue_rows.Claimed], stopping: asyncio.Future[Any]
    ) -> None:
        """Rebuild the claimed jobs, hand them to the local queue together (one batch), and
        follow each to its end; returns when the GPU is free again."""
        items: list[tuple[queue_rows.Claimed, WorkerTask, JobSpec, Path]] = []
        for claimed_job in claimed:
            lease = queue_rows.Lease(claimed_job.job.id, claimed_job.attempt)
            try:
                task, spec, scratch = await asyncio.to_thread(self._rebuild, claimed_job)
            except RiffusionError as exc:
                await queue_rows.finish(self.db, self.id, lease, JobState.FAILED, error=str(exc))
                continue
            except Exception:
                log.exception("Job %s could not be rebuilt", claimed_job.job.id)
                await queue_rows.finish(
                    self.db,
                    self.id,
                    lease,
                    JobState.FAILED,
                    error="the GPU worker could not read this request; please send it again.",
                )
                continue
            items.append((claimed_job, task, spec, scratch))
        if not items:
            return
        handles = self.queue.submit_many(
            [(c.job.user_id, task, task.batch_key, task.cost) for c, task, _, _ in items]
        )
        for (claimed_job, _task, spec, scratch), handle in zip(items, handles, strict=True):
            job_id = claimed_job.job.id
            self.running[job_id] = Running(
                lease=queue_rows.Lease(job_id, claimed_job.attempt),
                handle=handle,
                spec=spec,
                scratch=scratch,
            )
            # Each job is stored (encoded, written) when its render ends, while the next
            # batch may already run.
            finishing = asyncio.create_task(self._complete(job_id, handle), name=f"finish-{job_id}")
            self._finishing.add(finishing)
            finishing.add_done_callback(self._finishing.discard)
        # The GPU is free once every render ended; a stop (SIGTERM) returns at once, and the
        # local queue's shutdown grants the running batch SHUTDOWN_GRACE_S.
        pending: set[asyncio.Future[Any]] = {h.future for h in handles}
        while pending and not stopping.done():
            _, pending = await asyncio.wait(
                pending | {stopping}, return_when=asyncio.FIRST_COMPLETED
            )
            pending.discard(stopping)

    def _rebuild(self, claimed: queue_rows.Claimed) -> tuple[WorkerTask, JobSpec, Path]:
        """The job's inputs written under a scratch folder laid out like DATA_DIR, and its
        RenderTask rebuilt from them (blocking)."""
        job = claimed.job
        scratch = Path(tempfile.mkdtemp(prefix=f"job{job.id}-", dir=self._scratch_folder()))
        storage = Storage(scratch)
        seed_file: str | None = None
        for name, data in claimed.inputs.items():
            target = (scratch / name).resolve()
            if scratch.resolve() not in target.parents:
                raise RiffusionError("this request names a file outside its folder.")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            if name == SEED_IMAGE_BLOB:
                seed_file = str(target)
        spec = JobSpec.from_json(job.task, default_limit=DEFAULT_UPLOAD_LIMIT)
        if job.kind == RADIO_KIND:
            radio = RadioTask.from_spec(spec.task)
            seed = seed_file or self._seed(radio.seed_image)
            return replace(radio, seed_image=seed), spec, scratch
        params = RiffParams.from_json(job.params)
        params = replace(params, seed_image=seed_file or self._seed(params.seed_image))
        task = specs.rebuild(job.kind, params, spec, storage, None)
        # Work kept between turns (a song's clips) came as blobs under the same paths.
        task = task.for_job(storage.job_folder(job.id), storage.job_folder_relative(job.id))
        return task, spec, scratch

    def _seed(self, name: str | None) -> str | None:
        """A seed image name as the pipeline takes it (a SEED_IMAGES_DIR file by its path)."""
        if name is not None and name in self.seed_images:
            return self.seed_images.request_value(name)
        return name

    def _scratch_folder(self) -> Path:
        folder = self._scratch_root / self.id.replace(":", "_")
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # ---- finishing ---------------------------------------------------------------------------

    async def _complete(self, job_id: int, handle: WorkerHandle) -> None:
        running = self.running[job_id]
        lease = running.lease
        await asyncio.wait([handle.future])
        try:
            try:
                output = handle.future.result()
            except JobSuspended:  # this worker is stopping: another one takes the job
                if not running.lost and await queue_rows.release(self.db, self.id, lease):
                    log.info("Gave job %s back to the queue", job_id)
                return
            except GenerationCancelled:
                if running.lost:
                    log.info("Job %s is no longer this worker's; stopped it", job_id)
                else:
                    await queue_rows.finish(self.db, self.id, lease, JobState.CANCELLED)
                return
            except RiffusionError as exc:
                if not running.lost:
                    await queue_rows.finish(
                        self.db, self.id, lease, JobState.FAILED, error=str(exc)
                    )
                return
            if running.lost:
                log.info("Job %s is no longer this worker's; its result is dropped", job_id)
                return
            if isinstance(output, Continue):
                files = await asyncio.to_thread(self._turn_files, running.scratch, output)
                turn = replace(lease, progress=output.progress)
                if await queue_rows.continue_later(self.db, self.id, turn, files):
                    log.info("Job %s: a turn done (%d/%d), back in line", job_id, *output.progress)
                return
            started = time.perf_counter()
            made, files = await asyncio.to_thread(self._encode, output, running.spec)
            stored = await queue_rows.finish(
                self.db, self.id, lease, JobState.MADE, made=made, files=files
            )
            if stored:
                log.info("Job %s made (stored in %.2f s)", job_id, time.perf_counter() - started)
            else:
                log.warning("Job %s was handed to another worker; its result is dropped", job_id)
        except Exception:
            log.exception("Could not store the outcome of job %s", job_id)
        finally:
            self.running.pop(job_id, None)
            shutil.rmtree(running.scratch, ignore_errors=True)

    def _encode(
        self, output: RenderOutput | RadioRender, spec: JobSpec
    ) -> tuple[dict[str, Any], dict[str, bytes]]:
        """The files exactly as the bot posts and keeps them (blocking); a radio clip is its
        WAV as rendered (the station sets the loudness of the stream) and its spectrogram PNG
        (for the radio's web page)."""
        if isinstance(output, RadioRender):
            made = {"clips": 1, "duration_s": len(output.audio) / 1000, "worker": self.id}
            files = {"result.wav": encode_wav(output.audio)}
            if output.image is not None:
                files["result.png"] = png_bytes(output.image)
            return made, files
        loudness = LoudnessSettings(target_rms_dbfs=self.settings.target_rms_dbfs)
        encoded = encode_result(output.image, output.audio, spec.filesize_limit, loudness)
        made = {
            "clips": output.clips,
            "elapsed_s": round(output.elapsed_s, 3),
            "duration_s": output.duration_s,
            "bitrate_kbps": encoded.bitrate_kbps,
            "worker": self.id,
            "model": self.settings.riffusion_model,
        }
        files = {
            "result.png": encoded.png,
            "result.mp3": encoded.mp3,
            "result.wav": encode_wav(output.master),
        }
        return made, files

    @staticmethod
    def _turn_files(scratch: Path, turn: Continue) -> dict[str, bytes]:
        """The files a turn wrote (paths under the job's scratch, laid out like DATA_DIR)."""
        return {name: (scratch / name).read_bytes() for name in turn.files}

    def _stop_job(self, job_id: int, *, lost: bool) -> None:
        running = self.running.get(job_id)
        if running is None or running.handle.done:
            return
        running.lost = running.lost or lost
        self.queue.cancel(running.handle)

    # ---- heartbeat ---------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        interval = min(HEARTBEAT_S, self.settings.lease_s / 3)
        last_seen = last_version_check = 0.0
        while True:
            await asyncio.sleep(interval)
            try:
                await self._renew()
                now = time.monotonic()
                if now - last_version_check >= VERSION_CHECK_S:
                    last_version_check = now
                    await self._check_versions()
                if now - last_seen >= SEEN_EVERY_S:
                    last_seen = now
                    await self._seen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("Heartbeat failed (%s); retrying", exc.__class__.__name__)

    async def _renew(self) -> None:
        active = {i: r for i, r in self.running.items() if not r.handle.done and not r.lost}
        if not active:
            return
        leases = [replace(r.lease, progress=r.handle.progress) for r in active.values()]
        kept, cancel = await queue_rows.renew(
            self.db, self.id, leases, lease_s=self.settings.lease_s
        )
        for job_id in active:
            if job_id not in kept:
                log.warning("Job %s: the lease is gone (cancelled or taken over); stopping", job_id)
                self._stop_job(job_id, lost=True)
            elif job_id in cancel:
                self._stop_job(job_id, lost=False)

    async def _check_versions(self) -> None:
        others = await queue_rows.waiting_versions(self.db, self.version)
        if not others:
            self.note = None
            return
        waiting = ", ".join(f"{n} of version {v}" for v, n in sorted(others.items()))
        note = (
            f"refuses waiting jobs ({waiting}): this worker speaks queue version "
            f"{self.version}; run the same release of the bot and its workers"
        )
        if note != self.note:
            log.warning("Worker %s %s", self.id, note)
        self.note = note

    async def _seen(self) -> None:
        await queue_rows.worker_seen(
            self.db,
            self.id,
            host=self.host,
            device=self.renderer.device_name,
            version=self.version,
            seconds_per_cost=self.queue.seconds_per_cost,
            note=self.note,
        )
