"""Durable delivery (bot/jobs/delivery.py) against an Origin that fails on purpose: transient
failures are retried in order until they pass, a permanent one ends with the owner told, an
answer lost in an outage is found instead of posted twice, and the deadline is kept."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.jobs import delivery as delivery_module
from bot.jobs.delivery import DeliveryService, PendingDelivery
from bot.jobs.origin import Delivery, DeliveryError, JobStatus, Phase, Posted
from bot.params import RiffParams
from bot.policy.rules import Requester
from bot.store import records
from bot.store.db import Database, open_database
from bot.store.models import Generation, Job, JobState


@dataclass
class ScriptedOrigin:
    """An Origin whose posts fail as scripted: each entry is an error to raise, or None."""

    script: list[DeliveryError | None]
    landed_despite_error: bool = False  # a failed post that Discord posted all the same
    posts: list[str] = field(default_factory=list)  # nonces of the posts that reached "Discord"
    shown: list[JobStatus] = field(default_factory=list)
    told: list[JobStatus] = field(default_factory=list)
    log: list[str] = field(default_factory=list)  # shared order of successful posts
    requester: Requester = field(default_factory=lambda: Requester(7, 1, 5))
    private_by_default: bool = False

    async def refuse(self, text: str) -> None:
        raise AssertionError(f"nothing is refused here: {text}")

    async def acknowledge(self, status: JobStatus, *, private: bool) -> int | None:
        return None

    async def post_result(self, delivery: Delivery) -> Posted:
        error = self.script.pop(0) if self.script else None
        if error is None or self.landed_despite_error:
            self.posts.append(delivery.nonce)
        if error is not None:
            raise error
        self.log.append(delivery.nonce)
        return self._posted(delivery)

    async def find_posted(self, delivery: Delivery) -> Posted | None:
        return self._posted(delivery) if delivery.nonce in self.posts else None

    async def show(self, status: JobStatus) -> None:
        self.shown.append(status)

    async def tell_owner(self, status: JobStatus) -> None:
        self.told.append(status)

    @staticmethod
    def _posted(delivery: Delivery) -> Posted:
        gid = delivery.generation.id
        return Posted(message_id=1000 + gid, channel_id=5, jump_url=f"https://discord/{gid}")


TRANSIENT = DeliveryError("Discord answered 502", permanent=False)
FORBIDDEN = DeliveryError("the bot may not post in this channel.", permanent=True)


@pytest.fixture
async def db(database_url: str):
    """Delivery states are rows: each test runs on SQLite and on PostgreSQL."""
    database = await open_database(database_url)
    yield database
    await database.close()


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery_module, "FIRST_RETRY_S", 0.01)
    monkeypatch.setattr(delivery_module, "MAX_RETRY_S", 0.05)


async def pending(db: Database, origin: ScriptedOrigin, prompt: str, rendered_at: float):
    params = RiffParams(prompt=prompt)
    job_id = await records.create_job(
        db,
        kind="riff",
        user_id=7,
        guild_id=1,
        channel_id=5,
        params=params.to_json(),
        parent_generation_id=None,
    )
    generation = await records.add_generation(
        db,
        Generation(
            kind="riff",
            user_id=7,
            prompt=prompt,
            seed=1,
            steps=2,
            guidance=7.0,
            denoising=0.75,
            width=512,
            duration_s=5.11,
            extra={},
            model="m",
        ),
        job_id=job_id,
    )
    await records.update_job(db, job_id, state=JobState.RENDERED)
    return PendingDelivery(
        job_id=job_id,
        origin=origin,
        delivery=Delivery(
            generation=generation,
            png=b"png",
            mp3=b"mp3",
            parent_url=None,
            by_dm=False,
            nonce=f"job{job_id}.1",
        ),
        status=JobStatus(job_id=job_id, kind="riff", params=params, owner_id=7),
        rendered_at=rendered_at,
    )


async def states(db: Database) -> list[str]:
    async with db.session() as session:
        return list(await session.scalars(select(Job.state).order_by(Job.id)))


async def run(service: DeliveryService, *items: PendingDelivery) -> None:
    service.start()
    for item in items:
        service.submit(item)
    await service.shutdown(10)


async def test_transient_failures_are_retried_in_order_and_posted_once(db: Database):

    log: list[str] = []
    first = ScriptedOrigin([TRANSIENT, TRANSIENT, None], log=log)
    second = ScriptedOrigin([None], log=log)
    service = DeliveryService(Settings(discord_token="t"), db)
    a = await pending(db, first, "a", time.time())
    b = await pending(db, second, "b", time.time())
    await run(service, a, b)
    assert log == [a.delivery.nonce, b.delivery.nonce]  # in the order they finished
    assert first.posts == [a.delivery.nonce]
    assert [s.phase for s in first.shown] == [Phase.DELIVERING, Phase.DELIVERING, Phase.DONE]
    assert first.shown[0].reason == "Discord answered 502"
    assert await states(db) == ["delivered", "delivered"]
    generation = await records.get_generation(db, a.delivery.generation.id)
    assert generation is not None and generation.message_id == 1000 + generation.id


async def test_a_post_that_landed_during_an_outage_is_found_not_posted_again(db: Database):

    origin = ScriptedOrigin([TRANSIENT, None], landed_despite_error=True)
    item = await pending(db, origin, "landed", time.time())
    await run(DeliveryService(Settings(discord_token="t"), db), item)
    assert origin.posts == [item.delivery.nonce]  # once, although the first answer was a 502
    assert origin.script == [None]  # the second post was never made: it was found
    assert await states(db) == ["delivered"]


async def test_a_permanent_refusal_ends_the_retries_and_tells_the_owner(db: Database):

    origin = ScriptedOrigin([FORBIDDEN])
    item = await pending(db, origin, "refused", time.time())
    await run(DeliveryService(Settings(discord_token="t"), db), item)
    assert origin.posts == []
    assert origin.shown[-1].phase is Phase.UNDELIVERED
    assert "may not post" in (origin.shown[-1].reason or "")
    assert origin.told == [origin.shown[-1]]
    assert await states(db) == ["failed"]
    # The result stays: its row is there for /history.
    assert await records.get_generation(db, item.delivery.generation.id) is not None


async def test_retries_stop_at_the_deadline(db: Database):

    origin = ScriptedOrigin([TRANSIENT] * 1000)
    settings = Settings(discord_token="t", delivery_retry_s=0.2)
    item = await pending(db, origin, "late", time.time())
    started = time.monotonic()
    await run(DeliveryService(settings, db), item)
    assert time.monotonic() - started < 5
    assert await states(db) == ["failed"]
    assert "too long" in (origin.shown[-1].reason or "") and origin.told


async def test_a_stop_keeps_what_is_still_waiting(db: Database):

    origin = ScriptedOrigin([TRANSIENT] * 1000)
    item = await pending(db, origin, "kept", time.time())
    service = DeliveryService(Settings(discord_token="t"), db)
    service.start()
    service.submit(item)
    await asyncio.sleep(0.1)
    await service.shutdown(0.1)
    assert await states(db) == ["rendered"]  # the next start delivers it


def test_a_status_message_is_never_taken_for_a_result():
    """Looking for a posted result by the ids its buttons carry: Cancel carries a job id."""
    from bot.ui.results import RESULT_CUSTOM_ID

    assert RESULT_CUSTOM_ID.fullmatch("riff:cancel:12") is None
    assert [RESULT_CUSTOM_ID.fullmatch(c)[1] for c in ("riff:fav:12", "mix:info:12")] == ["12"] * 2
