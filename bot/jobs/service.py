"""Runs one request from the click to the posted result.

For every /riff and every button that makes something new: queue the work, answer the
interaction at once with a status message (position, ETA, Cancel), keep that status current
while the job waits and runs, then post the result as ONE new channel message with the bot token
(interaction tokens die after 15 minutes) that mentions the owner, with PNG + MP3 and buttons.

Every job is a database row from the moment it is queued (with what rebuilds its work, see
bot/jobspecs.py), so a stop or a crash loses none: SIGTERM leaves the queued ones in the
database, and the next start puts them back in the order they were in (bot/recovery.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import discord

from bot.config import Settings
from bot.engine.queue import GenerationQueue, JobSuspended, QueueClosed, QueuedJob
from bot.engine.renderer import RenderOutput, RenderTask
from bot.jobs import recovery
from bot.jobs import specs as jobspecs
from bot.jobs.specs import JobNotRebuildable, JobSpec
from bot.params import RiffParams
from bot.policy import user_settings
from bot.store import records
from bot.store.db import Database
from bot.store.files import Storage
from bot.store.models import Generation, Job, JobState
from bot.ui.text import (
    Attachments,
    build_attachments,
    cancelled_text,
    done_text,
    failed_text,
    result_content,
    result_embed,
    status_text,
    suspended_text,
)
from riffusion_core.audio import encode_wav
from riffusion_core.errors import GenerationCancelled, RiffusionError

log = logging.getLogger(__name__)

WEBHOOK_LIFETIME_S = 14 * 60  # interaction tokens last 15 minutes; stop using them a bit before
ETA_SLACK_S = 15
MAX_ATTEMPTS = 2  # a job a restart interrupted runs once more, not again and again
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024  # Discord's default, for rows written before jobs.task
TWICE_INTERRUPTED = (
    "the bot restarted twice while making it, so it stopped trying; please send it again."
)


@dataclass(eq=False)
class ActiveJob:
    """A job between its acknowledgement and its posted result."""

    job_id: int
    kind: str
    params: RiffParams
    task: RenderTask
    queued: QueuedJob[RenderTask, RenderOutput]
    interaction: discord.Interaction | None  # None: resumed after a restart (no token)
    user_id: int
    channel: discord.abc.Messageable | None
    guild_id: int | None
    channel_id: int | None
    filesize_limit: int
    parent: Generation | None = None
    extra: dict = field(default_factory=dict)
    status_message_id: int | None = None
    acknowledged_at: float = field(default_factory=time.monotonic)
    cancelled_by: int | None = None
    shown: str | None = None  # the status text last sent

    @property
    def token_alive(self) -> bool:
        """Whether the interaction token may still edit the status and send followups."""
        return self.interaction is not None and (
            time.monotonic() - self.acknowledged_at < WEBHOOK_LIFETIME_S
        )


class RiffService:
    """Glue between interactions, the queue, the database and the files."""

    def __init__(
        self,
        client: discord.Client,
        settings: Settings,
        db: Database,
        storage: Storage,
        queue: GenerationQueue[RenderTask, RenderOutput],
    ) -> None:
        self.client = client
        self.settings = settings
        self.db = db
        self.storage = storage
        self.queue = queue
        self.active: dict[int, ActiveJob] = {}
        self._job_ids: dict[int, int] = {}  # the queue's job id -> the jobs row id
        self._tasks: set[asyncio.Task] = set()
        self._starting: set[asyncio.Task] = set()  # start() calls between queueing and follow
        queue.on_start = self._started

    # ---- starting ----------------------------------------------------------------------------

    async def start(
        self,
        interaction: discord.Interaction,
        params: RiffParams,
        *,
        kind: str = "riff",
        task: RenderTask | None = None,
        parent: Generation | None = None,
        extra: dict | None = None,
    ) -> None:
        """Queue the request and acknowledge the interaction with its status message."""
        current = asyncio.current_task()
        if current is not None:  # a stop waits for this to hand the job to _follow
            self._starting.add(current)
        try:
            await self._start(interaction, params, kind=kind, task=task, parent=parent, extra=extra)
        finally:
            self._starting.discard(current)  # type: ignore[arg-type]

    async def _start(
        self,
        interaction: discord.Interaction,
        params: RiffParams,
        *,
        kind: str,
        task: RenderTask | None,
        parent: Generation | None,
        extra: dict | None,
    ) -> None:
        task = task or RenderTask(params=params)
        policy = getattr(self.client, "policy", None)  # server rules: bot/policy.py (/admin)
        if policy is not None:
            mine = sum(
                1
                for a in self.active.values()
                if a.user_id == interaction.user.id and not a.queued.done
            )
            refusal = await policy.check(
                interaction, params, task=task, kind=kind, active_jobs=mine, extra=extra
            )
            if refusal:
                await self.reply(interaction, refusal)
                return
        if self.queue.closed:
            await self.reply(interaction, str(QueueClosed()))
            return
        # /settings "status": private (ephemeral) or public; unset: the origin's usual.
        private = (await user_settings.load(self.db, interaction.user.id)).private_status
        visibility = {} if private is None else {"ephemeral": private}
        spec = JobSpec(
            task=jobspecs.describe(task, self.settings.data_dir),
            extra=extra or {},
            filesize_limit=interaction.filesize_limit,
            status_ephemeral=private
            if private is not None
            else bool(getattr(interaction, "status_is_ephemeral", False)),
        )
        # The row first: a job the queue holds always has one, so a crash cannot lose it.
        job_id = await records.create_job(
            self.db,
            kind=kind,
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            params=params.to_json(),
            parent_generation_id=parent.id if parent else None,
            task=spec.to_json(),
        )
        try:
            audio = await asyncio.to_thread(
                jobspecs.save_remix_audio, task, job_id, self.settings.data_dir
            )
            if audio is not None:
                spec.task["audio"] = audio
                await records.update_job(self.db, job_id, task=spec.to_json())
            queued = self.queue.submit(
                interaction.user.id,
                task,
                batch_key=task.batch_key,
                cost=task.cost,
                group=interaction.guild_id,  # a guild's pause holds its queued jobs
            )
        except BaseException as exc:
            await self._forget(job_id)
            if isinstance(exc, RiffusionError):
                await self.reply(interaction, str(exc))
                return
            raise
        active = ActiveJob(
            job_id=job_id,
            kind=kind,
            params=params,
            task=task,
            queued=queued,
            interaction=interaction,
            user_id=interaction.user.id,
            channel=interaction.channel,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            filesize_limit=interaction.filesize_limit,
            parent=parent,
            extra=extra or {},
        )
        self.active[job_id] = active
        self._job_ids[queued.id] = job_id
        from bot.ui.result_buttons import cancel_view  # buttons import this module

        try:
            active.shown = self._status(active, eta=self._eta(active))
            await interaction.response.send_message(
                active.shown, view=cancel_view(job_id), **visibility
            )
            message = await interaction.original_response()
            active.status_message_id = message.id
            await records.update_job(self.db, job_id, status_message_id=message.id)
        except discord.HTTPException:
            log.exception("Could not acknowledge the interaction for job %s", job_id)
        self._spawn(self._follow(active), name=f"job-{job_id}")

    async def _forget(self, job_id: int) -> None:
        """Undo a row for a job that was refused before anyone was told it was queued."""
        with contextlib.suppress(Exception):
            await records.delete_job(self.db, job_id)
        with contextlib.suppress(OSError):
            jobspecs.remove_job_files(job_id, self.settings.data_dir)

    def _started(self, batch: list[QueuedJob[RenderTask, RenderOutput]]) -> None:
        """The queue started a batch (on the loop): record it before anything else can fail."""
        job_ids = [self._job_ids[job.id] for job in batch if job.id in self._job_ids]
        if job_ids:
            self._spawn(records.mark_started(self.db, job_ids), name="mark-started")

    # ---- cancelling --------------------------------------------------------------------------

    async def cancel(self, interaction: discord.Interaction, job_id: int) -> None:
        """Cancel button: the owner or a member who can manage messages."""
        active = self.active.get(job_id)
        if active is None or active.queued.done:
            await self.reply(interaction, "This request has already finished.")
            return
        allowed = interaction.user.id == active.user_id or (
            interaction.permissions.manage_messages and interaction.guild_id is not None
        )
        if not allowed:
            await self.reply(
                interaction, f"Only <@{active.user_id}> (or a moderator) can cancel this request."
            )
            return
        active.cancelled_by = interaction.user.id
        self.queue.cancel(active.queued)
        text = cancelled_text(active.params, self._cancel_reason(active))
        try:
            await interaction.response.edit_message(content=text, view=None)
        except discord.HTTPException:
            await self.reply(interaction, "Cancelled.")

    def _cancel_reason(self, active: ActiveJob) -> str:
        if active.cancelled_by in (None, active.user_id):
            return "Cancelled."
        return f"Cancelled by <@{active.cancelled_by}>."

    # ---- following a job ---------------------------------------------------------------------

    async def _follow(self, active: ActiveJob) -> None:
        job = active.queued
        suspended = False
        try:
            await self._track_progress(active)
            try:
                output = await job.wait()
            except JobSuspended as exc:
                # Stopping: the row stays queued/running and the next start resumes it.
                suspended = True
                await self._edit_status(
                    active, suspended_text(active.params, str(exc)), keep_view=True
                )
                return
            except GenerationCancelled:
                await records.update_job(self.db, active.job_id, state=JobState.CANCELLED)
                await self._edit_status(
                    active, cancelled_text(active.params, self._cancel_reason(active))
                )
                return
            except RiffusionError as exc:
                await records.update_job(
                    self.db, active.job_id, state=JobState.FAILED, error=str(exc)
                )
                await self._edit_status(active, failed_text(active.params, str(exc)))
                return
            try:
                await self._deliver(active, output)
            except RiffusionError as exc:  # e.g. the MP3 cannot fit the upload limit
                await records.update_job(
                    self.db, active.job_id, state=JobState.FAILED, error=str(exc)
                )
                await self._edit_status(active, failed_text(active.params, str(exc)))
        except Exception:
            log.exception("Job %s failed after rendering", active.job_id)
            with contextlib.suppress(Exception):
                await records.update_job(
                    self.db,
                    active.job_id,
                    state=JobState.FAILED,
                    error="internal error while posting",
                )
                await self._edit_status(
                    active,
                    failed_text(
                        active.params,
                        "something went wrong while posting the result; the "
                        "bot's log has the details.",
                    ),
                )
        finally:
            self.active.pop(active.job_id, None)
            self._job_ids.pop(job.id, None)
            if not suspended:
                with contextlib.suppress(OSError):
                    jobspecs.remove_job_files(active.job_id, self.settings.data_dir)

    async def _track_progress(self, active: ActiveJob) -> None:
        """Edit the status at most every PROGRESS_INTERVAL_S, and only when its text changes."""
        job = active.queued
        interval = self.settings.progress_interval_s
        shown_eta = self._eta(active)
        shown_text = active.shown or self._status(active, eta=shown_eta)
        last_edit = time.monotonic()
        while not job.done:
            job.progress_changed.clear()
            # Wake on progress, or every interval anyway: the queue position changes silently.
            with contextlib.suppress(asyncio.TimeoutError):  # not TimeoutError on 3.10
                await asyncio.wait_for(job.progress_changed.wait(), timeout=interval)
            too_soon = last_edit + interval - time.monotonic()
            if too_soon > 0:
                await asyncio.sleep(too_soon)
            if job.done:
                break
            eta = self._eta(active)
            if (
                shown_eta is None
                or eta is None
                or abs(eta - shown_eta) > max(ETA_SLACK_S, 0.2 * max(shown_eta - time.time(), 0))
            ):
                shown_eta = eta
            text = self._status(active, eta=shown_eta)
            if text != shown_text:
                shown_text = text
                last_edit = time.monotonic()
                await self._edit_status(active, text, keep_view=True)

    def _eta(self, active: ActiveJob) -> int | None:
        eta = self.queue.eta(active.queued)
        return None if eta is None else round(eta)

    def _status(self, active: ActiveJob, eta: int | None = None) -> str:
        job = active.queued
        return status_text(
            active.params,
            kind=active.kind,
            position=self.queue.position(job),
            progress=job.progress,
            eta_unix=eta,
        )

    # ---- delivering --------------------------------------------------------------------------

    async def _deliver(self, active: ActiveJob, output: RenderOutput) -> None:
        """Save, post one message mentioning the owner, link it from the status message."""
        params = active.params
        generation = await records.add_generation(
            self.db,
            Generation(
                kind=active.kind,
                parent_id=active.parent.id if active.parent else None,
                user_id=active.user_id,
                guild_id=active.guild_id,
                channel_id=active.channel_id,
                prompt=params.prompt,
                negative_prompt=params.negative_prompt,
                seed=params.seed,
                seed_image=params.seed_image,
                steps=params.steps,
                guidance=params.guidance,
                denoising=params.denoising,
                width=params.width,
                duration_s=params.duration_s,
                extra={**active.extra, "clips": output.clips},
                model=self.settings.riffusion_model,
                audio_duration_s=output.duration_s,
                elapsed_s=output.elapsed_s,
            ),
            job_id=active.job_id,
        )
        attachments = await asyncio.to_thread(
            self._save_files, generation.id, output, active.filesize_limit
        )
        generation.image_file = self.storage.relative(generation.id, ".png")
        generation.audio_file = self.storage.relative(generation.id, ".mp3")
        generation.mp3_bitrate_kbps = attachments.bitrate_kbps
        await records.update_generation(
            self.db,
            generation.id,
            image_file=generation.image_file,
            audio_file=generation.audio_file,
            mp3_bitrate_kbps=attachments.bitrate_kbps,
            extra={**generation.extra, "master": self.storage.relative(generation.id, ".wav")},
        )
        message = await self._post(active, generation, attachments)
        if message is not None:
            files = {a.filename.rsplit(".", 1)[-1]: a.id for a in message.attachments}
            generation.message_id = message.id
            generation.channel_id = message.channel.id
            await records.update_generation(
                self.db,
                generation.id,
                message_id=message.id,
                channel_id=message.channel.id,
                image_attachment_id=files.get("png"),
                audio_attachment_id=files.get("mp3"),
            )
        await records.update_job(
            self.db, active.job_id, state=JobState.DONE, generation_id=generation.id
        )
        if message is None:
            await self._edit_status(
                active,
                failed_text(
                    params,
                    "the bot may not post in this channel. Ask a server admin to give it "
                    "Send Messages and Attach Files here.",
                ),
            )
        else:
            await self._edit_status(active, done_text(params, message.jump_url))

    def _save_files(self, generation_id: int, output: RenderOutput, limit: int) -> Attachments:
        """Encode and write PNG, MP3 (within the upload limit) and the lossless master."""
        attachments = build_attachments(output.image, output.audio, limit)
        self.storage.save_bytes(generation_id, ".png", attachments.png)
        self.storage.save_bytes(generation_id, ".mp3", attachments.mp3)
        self.storage.save_bytes(generation_id, ".wav", encode_wav(output.master))
        return attachments

    async def _post(
        self, active: ActiveJob, generation: Generation, attachments: Attachments
    ) -> discord.Message | None:
        from bot.ui.result_buttons import result_view

        parent_url = active.parent.jump_url() if active.parent else None
        image_name = f"riff-{generation.id}.png"
        kwargs = dict(
            content=result_content(generation, parent_url),
            embed=result_embed(generation, image_name),
            view=result_view(generation.id),
            allowed_mentions=discord.AllowedMentions(
                users=[discord.Object(active.user_id)], everyone=False, roles=False
            ),
        )
        look = getattr(active.task, "result_look", None)  # blend, remix: own text and buttons
        if look is not None:
            kwargs.update(look(generation, parent_url, image_name))
        targets = [active.channel]
        policy = getattr(self.client, "policy", None)
        if policy is not None:  # results by DM when the user asked (bot/policy.py)
            targets = await policy.destinations(self.client, active.user_id, active.channel)
        for channel in targets:
            if channel is None:
                continue
            try:
                return await channel.send(files=attachments.files(generation.id), **kwargs)
            except (discord.Forbidden, discord.NotFound) as exc:
                log.info(
                    "No permission to post in channel %s (%s); trying the next way",
                    getattr(channel, "id", None),
                    exc.code,
                )
        if active.token_alive:
            try:
                return await active.interaction.followup.send(  # type: ignore[union-attr]
                    files=attachments.files(generation.id), wait=True, **kwargs
                )
            except discord.HTTPException:
                log.exception("The followup for job %s failed too", active.job_id)
        return None

    # ---- messages ----------------------------------------------------------------------------

    async def _edit_status(
        self,
        active: ActiveJob,
        text: str,
        *,
        keep_view: bool = False,
        view: discord.ui.View | None = None,
    ) -> None:
        """Edit the status message: through the interaction while its token lives, else by id."""
        view_kwargs: dict[str, Any] = (
            {"view": view} if view is not None else ({} if keep_view else {"view": None})
        )
        try:
            if active.token_alive:
                await active.interaction.edit_original_response(  # type: ignore[union-attr]
                    content=text, **view_kwargs
                )
            elif active.status_message_id and active.channel_id:
                message = self.client.get_partial_messageable(
                    active.channel_id
                ).get_partial_message(active.status_message_id)
                await message.edit(content=text, **view_kwargs)
        except discord.NotFound:
            log.debug("Status message of job %s is gone", active.job_id)
        except discord.HTTPException as exc:
            log.warning("Could not update the status of job %s: %s", active.job_id, exc)

    async def reply(self, interaction: discord.Interaction, text: str) -> None:
        """An ephemeral answer, whether or not the interaction was already answered."""
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)

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

    # ---- resuming after a restart ------------------------------------------------------------

    async def resume_unfinished(self) -> list[int]:
        """Put the jobs a previous run left (stopped or crashed) back in the queue, in order.

        Returns the ids of the resumed jobs. A job that was running is run again once; one
        that cannot be rebuilt, or that two restarts interrupted, fails with a line for its
        owner in its status message. Remix inputs of jobs no longer waiting are removed.
        """
        rows = await records.unfinished_jobs(self.db)
        resumed: list[int] = []
        if rows:
            starts = await records.last_starts(self.db, [row.user_id for row in rows])
            for row in recovery.resume_order(rows, starts):
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
        await asyncio.to_thread(
            recovery.remove_orphan_job_files, self.settings.data_dir, set(self.active)
        )
        return resumed

    async def _resume(self, row: Job) -> bool:
        params = RiffParams.from_json(row.params)
        if row.generation_id is not None and await self._already_made(row, params):
            return False
        if row.state == JobState.RUNNING.value and row.attempts >= MAX_ATTEMPTS:
            await self._fail_stored(row, TWICE_INTERRUPTED)
            return False
        spec = JobSpec.from_json(row.task, default_limit=DEFAULT_UPLOAD_LIMIT)
        parent = None
        if row.parent_generation_id is not None:
            parent = await records.get_generation(self.db, row.parent_generation_id)
        try:
            task = await asyncio.to_thread(
                jobspecs.rebuild, row.kind, params, spec, self.storage, parent
            )
        except JobNotRebuildable as exc:
            await self._fail_stored(row, str(exc))
            return False
        # Queued again before the queue can start it (its start is recorded as running).
        await records.update_job(self.db, row.id, state=JobState.QUEUED)
        queued = self.queue.submit(
            row.user_id,
            task,
            batch_key=task.batch_key,
            cost=task.cost,
            group=row.guild_id,
            resumed=True,
            first=row.state == JobState.RUNNING.value,
        )
        channel = self.client.get_partial_messageable(row.channel_id) if row.channel_id else None
        active = ActiveJob(
            job_id=row.id,
            kind=row.kind,
            params=params,
            task=task,
            queued=queued,
            interaction=None,
            user_id=row.user_id,
            channel=channel,
            guild_id=row.guild_id,
            channel_id=row.channel_id,
            filesize_limit=spec.filesize_limit,
            parent=parent,
            extra=spec.extra,
            status_message_id=None if spec.status_ephemeral else row.status_message_id,
        )
        self.active[row.id] = active
        self._job_ids[queued.id] = row.id
        await self._reattach_status(active)
        self._spawn(self._follow(active), name=f"job-{row.id}")
        return True

    async def _already_made(self, row: Job, params: RiffParams) -> bool:
        """The result row exists: posted (finish the job) or not (remove it, make it again)."""
        generation = await records.get_generation(self.db, row.generation_id)
        if generation is not None and generation.message_id is not None:
            await records.update_job(self.db, row.id, state=JobState.DONE)
            await self._edit_stored(row, done_text(params, generation.jump_url()), tell=False)
            return True
        if generation is not None:
            with contextlib.suppress(OSError, ValueError):
                for relative in self.storage.files_of(
                    generation.image_file, generation.audio_file, generation.extra
                ):
                    self.storage.delete(relative)
            await records.delete_generation(self.db, generation.id)
        return False

    async def _reattach_status(self, active: ActiveJob) -> None:
        """Show the resumed job's place and Cancel again: edit its status, or post a new one."""
        from bot.ui.result_buttons import cancel_view

        text = active.shown = self._status(active, eta=self._eta(active))
        if active.status_message_id is not None and active.channel_id is not None:
            message = self.client.get_partial_messageable(active.channel_id).get_partial_message(
                active.status_message_id
            )
            try:
                await message.edit(content=text, view=cancel_view(active.job_id))
                return
            except discord.NotFound:
                pass  # deleted meanwhile: post a new one
            except discord.HTTPException as exc:
                log.warning("Could not update the status of job %s: %s", active.job_id, exc)
                return
        if active.channel is None:
            return
        try:
            status = await active.channel.send(
                f"<@{active.user_id}> {text}",
                view=cancel_view(active.job_id),
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.HTTPException as exc:
            log.info("Could not post a status for resumed job %s: %s", active.job_id, exc)
            return
        active.status_message_id = status.id
        await records.update_job(self.db, active.job_id, status_message_id=status.id)

    async def _fail_stored(self, row: Job, reason: str) -> None:
        await records.update_job(self.db, row.id, state=JobState.FAILED, error=reason)
        with contextlib.suppress(OSError):
            jobspecs.remove_job_files(row.id, self.settings.data_dir)
        await self._edit_stored(row, failed_text(RiffParams.from_json(row.params), reason))

    async def _edit_stored(self, row: Job, text: str, *, tell: bool = True) -> None:
        """Edit a stored job's status message with the bot token (there is no interaction).

        A status only the owner could see (an ephemeral one) cannot be edited that way; with
        `tell`, the owner gets a new message in the channel instead.
        """
        spec = JobSpec.from_json(row.task, default_limit=DEFAULT_UPLOAD_LIMIT)
        if row.channel_id and row.status_message_id and not spec.status_ephemeral:
            message = self.client.get_partial_messageable(row.channel_id).get_partial_message(
                row.status_message_id
            )
            try:
                await message.edit(content=text, view=None)
                return
            except discord.HTTPException as exc:
                log.info("Could not update the status of job %s: %s", row.id, exc)
        if tell and row.channel_id:
            with contextlib.suppress(discord.HTTPException):
                await self.client.get_partial_messageable(row.channel_id).send(
                    f"<@{row.user_id}> {text}",
                    allowed_mentions=discord.AllowedMentions(
                        users=[discord.Object(row.user_id)], everyone=False, roles=False
                    ),
                )
