"""Runs one request from the click to the posted result.

For every /riff and every button that makes something new: queue the work, answer the
interaction at once with a status message (position, ETA, Cancel), keep that status current
while the job waits and runs, then post the result as ONE new channel message with the bot token
(interaction tokens die after 15 minutes) that mentions the owner, with PNG + MP3 and buttons.
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

from bot import records
from bot.config import Settings
from bot.db import Database
from bot.models import Generation, JobState
from bot.params import RiffParams
from bot.queue import GenerationQueue, QueuedJob
from bot.render import (
    Attachments,
    build_attachments,
    cancelled_text,
    done_text,
    failed_text,
    result_content,
    result_embed,
    status_text,
)
from bot.renderer import RenderOutput, RenderTask
from bot.storage import Storage
from riffusion_core.audio import encode_wav
from riffusion_core.errors import GenerationCancelled, RiffusionError

log = logging.getLogger(__name__)

WEBHOOK_LIFETIME_S = 14 * 60  # interaction tokens last 15 minutes; stop using them a bit before
ETA_SLACK_S = 15


@dataclass(eq=False)
class ActiveJob:
    """A job between its acknowledgement and its posted result."""

    job_id: int
    kind: str
    params: RiffParams
    task: RenderTask
    queued: QueuedJob[RenderTask, RenderOutput]
    interaction: discord.Interaction
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
        self._tasks: set[asyncio.Task] = set()

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
        task = task or RenderTask(params=params)
        policy = getattr(self.client, "policy", None)  # server rules: bot/policy.py (/admin)
        if policy is not None:
            mine = sum(1 for a in self.active.values()
                       if a.user_id == interaction.user.id and not a.queued.done)
            refusal = await policy.check(interaction, params, task=task, kind=kind,
                                         active_jobs=mine, extra=extra)
            if refusal:
                await self.reply(interaction, refusal)
                return
        try:
            queued = self.queue.submit(
                interaction.user.id, task, batch_key=task.batch_key, cost=task.cost,
                group=interaction.guild_id,  # a guild's pause holds its queued jobs
            )
        except RiffusionError as exc:
            await self.reply(interaction, str(exc))
            return
        try:
            job_id = await records.create_job(
                self.db,
                kind=kind,
                user_id=interaction.user.id,
                guild_id=interaction.guild_id,
                channel_id=interaction.channel_id,
                params=params.to_json(),
                parent_generation_id=parent.id if parent else None,
            )
        except Exception:
            self.queue.cancel(queued)
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
        from bot.buttons import cancel_view  # buttons import this module

        try:
            await interaction.response.send_message(
                self._status(active, eta=self._eta(active)), view=cancel_view(job_id)
            )
            message = await interaction.original_response()
            active.status_message_id = message.id
            await records.update_job(self.db, job_id, status_message_id=message.id)
        except discord.HTTPException:
            log.exception("Could not acknowledge the interaction for job %s", job_id)
        self._spawn(self._follow(active), name=f"job-{job_id}")

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
        try:
            await self._track_progress(active)
            try:
                output = await job.wait()
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

    async def _track_progress(self, active: ActiveJob) -> None:
        """Edit the status at most every PROGRESS_INTERVAL_S, and only when its text changes."""
        job = active.queued
        interval = self.settings.progress_interval_s
        shown_eta = self._eta(active)
        shown_text = self._status(active, eta=shown_eta)
        marked_running = False
        last_edit = time.monotonic()
        while not job.done:
            job.progress_changed.clear()
            # Wake on progress, or every interval anyway: the queue position changes silently.
            with contextlib.suppress(asyncio.TimeoutError):  # not TimeoutError on 3.10
                await asyncio.wait_for(job.progress_changed.wait(), timeout=interval)
            if not marked_running and job.started_at is not None and not job.done:
                marked_running = True
                await records.update_job(self.db, active.job_id, state=JobState.RUNNING)
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
        from bot.buttons import result_view

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
        if time.monotonic() - active.acknowledged_at < WEBHOOK_LIFETIME_S:
            try:
                return await active.interaction.followup.send(
                    files=attachments.files(generation.id), wait=True, **kwargs
                )
            except discord.HTTPException:
                log.exception("The followup for job %s failed too", active.job_id)
        return None

    # ---- messages ----------------------------------------------------------------------------

    async def _edit_status(self, active: ActiveJob, text: str, *, keep_view: bool = False) -> None:
        """Edit the status message: through the interaction while its token lives, else by id."""
        view_kwargs = {} if keep_view else {"view": None}
        try:
            if time.monotonic() - active.acknowledged_at < WEBHOOK_LIFETIME_S:
                await active.interaction.edit_original_response(content=text, **view_kwargs)
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
        """Stop taking work, let the running job finish and be posted, tell the queued ones."""
        dropped = await self.queue.shutdown(grace_s)
        if dropped:
            log.info("%d queued job(s) were not started because the bot is stopping", len(dropped))
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=30)

    async def recover_unfinished(self) -> None:
        """Tell the owners of jobs a previous run left behind (it stopped or crashed)."""
        for job in await records.unfinished_jobs(self.db):
            reason = "The bot restarted before this request finished; please send it again."
            await records.update_job(self.db, job.id, state=JobState.FAILED, error=reason)
            if job.channel_id and job.status_message_id:
                message = self.client.get_partial_messageable(job.channel_id).get_partial_message(
                    job.status_message_id
                )
                with contextlib.suppress(discord.HTTPException):
                    params = RiffParams.from_json(job.params)
                    await message.edit(content=failed_text(params, reason), view=None)
