"""Durable delivery: a rendered result reaches its author once, or its author is told why.

The job service saves a result (rows and files, job state "rendered") before any Discord call,
then hands it here. One worker posts results in the order they finished. When Discord or the
network fails for now (an outage, a 5xx, rate limits beyond discord.py's own retries), the
result is retried with growing pauses (capped, with jitter) for DELIVERY_RETRY_S, while the
queue keeps rendering; the status message says the result waits for Discord whenever it can be
edited. Every attempt carries the same nonce, so Discord posts it at most once within its
de-duplication window; after a failed attempt (whose write may have landed all the same) and
after a restart, the channel's recent messages are searched for the result's buttons before
posting again. An answer that waiting cannot change (the channel is gone, the bot may not post,
DMs closed) ends the retries: the author is told another way and the result stays in /history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass, replace

from bot.config import Settings
from bot.jobs.origin import Delivery, DeliveryError, JobStatus, Origin, Phase, Posted
from bot.store import records
from bot.store.db import Database
from bot.store.models import JobState
from bot.store.web_pages import new_token

log = logging.getLogger(__name__)

FIRST_RETRY_S = 2.0
MAX_RETRY_S = 300.0
JITTER = 0.2  # each pause is off by up to this fraction, so retries of many bots do not align


@dataclass
class PendingDelivery:
    """A saved result on its way to Discord."""

    job_id: int
    origin: Origin
    delivery: Delivery
    status: JobStatus  # the job's status as last shown (kind, params, owner)
    rendered_at: float  # wall-clock time rendering finished: the retries' deadline counts from it
    maybe_posted: bool = False  # an earlier attempt may have landed: look before posting


class DeliveryService:
    """Posts saved results in order, durably; one worker, started with the bot."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self._pending: asyncio.Queue[PendingDelivery] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self.delivered = 0  # since start, for tests and /about
        self.retries = 0  # attempts Discord did not take, since start (metrics)

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="deliveries")

    def submit(self, pending: PendingDelivery) -> None:
        self._pending.put_nowait(pending)

    @property
    def waiting(self) -> int:
        return self._pending.qsize()

    async def shutdown(self, timeout_s: float) -> None:
        """Post what is waiting for up to `timeout_s`; the rest stays "rendered" in the
        database and is delivered after the next start."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._pending.join(), timeout_s)
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    async def _run(self) -> None:
        while True:
            pending = await self._pending.get()
            try:
                await self._deliver(pending)
            except Exception:  # a bug must not stop every later delivery
                log.exception("Delivering job %s failed", pending.job_id)
            finally:
                self._pending.task_done()

    async def _deliver(self, pending: PendingDelivery) -> None:
        deadline = pending.rendered_at + self.settings.delivery_retry_s
        pause = FIRST_RETRY_S
        while True:
            try:
                posted = await self._attempt(pending)
            except DeliveryError as exc:
                if exc.permanent:
                    await self._undeliverable(pending, exc.reason)
                    return
                left = deadline - time.time()
                if left <= 0:
                    await self._undeliverable(
                        pending, f"Discord did not accept it for too long ({exc.reason})."
                    )
                    return
                log.warning(
                    "Job %s: Discord did not take the result (%s); retrying in %.0f s",
                    pending.job_id,
                    exc.reason,
                    pause,
                )
                pending.maybe_posted = True
                self.retries += 1
                await pending.origin.show(
                    replace(pending.status, phase=Phase.DELIVERING, reason=exc.reason)
                )
                await asyncio.sleep(min(left, pause * random.uniform(1 - JITTER, 1 + JITTER)))
                pause = min(pause * 2, MAX_RETRY_S)
                continue
            await self._delivered(pending, posted)
            return

    async def _attempt(self, pending: PendingDelivery) -> Posted:
        if pending.maybe_posted:
            found = await pending.origin.find_posted(pending.delivery)
            if found is not None:
                log.info("Job %s was posted by an earlier attempt", pending.job_id)
                return found
        return await pending.origin.post_result(pending.delivery)

    async def _delivered(self, pending: PendingDelivery, posted: Posted) -> None:
        generation = pending.delivery.generation
        await records.remember_post(
            self.db,
            generation.id,
            message_id=posted.message_id,
            channel_id=posted.channel_id,
            image_attachment_id=posted.attachment_ids.get("png"),
            audio_attachment_id=posted.attachment_ids.get("mp3"),
            public=posted.public,
            web_token=(generation.web_token or new_token()) if posted.public else None,
        )
        await records.update_job(self.db, pending.job_id, state=JobState.DELIVERED)
        self.delivered += 1
        await pending.origin.show(
            replace(pending.status, phase=Phase.DONE, result_url=posted.jump_url, reason=None)
        )

    async def _undeliverable(self, pending: PendingDelivery, reason: str) -> None:
        log.warning("Job %s could not be delivered: %s", pending.job_id, reason)
        await records.update_job(
            self.db, pending.job_id, state=JobState.FAILED, error=f"not delivered: {reason}"
        )
        undelivered = replace(pending.status, phase=Phase.UNDELIVERED, reason=reason)
        await pending.origin.show(undelivered)
        await pending.origin.tell_owner(undelivered)
