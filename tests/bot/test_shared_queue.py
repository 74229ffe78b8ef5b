"""The postgres queue on a real PostgreSQL: claims, fairness, batching, leases, fences, limits,
cancel, LISTEN falling back to polling, and versions (bot/store/queue_rows.py, SharedQueue,
GpuWorker). End-to-end runs with worker processes are in tests/e2e/test_scale_out.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from bot.config import Settings, load_settings
from bot.engine.queue import QueueFull
from bot.engine.tasks import MadeResult, RenderTask
from bot.jobs.health import Health
from bot.jobs.shared_queue import QUEUE_VERSION, SharedQueue
from bot.params import RiffParams
from bot.store import queue_rows, records
from bot.store.db import Database, open_database
from bot.store.files import Storage
from bot.store.models import Job, JobState
from bot.worker.gpu_worker import GpuWorker
from riffusion_core.errors import GenerationCancelled
from riffusion_core.seed_images.catalogue import scan_seed_folder
from tests.fixtures.bot import FakeRenderer
from tests.fixtures.workers import gpu_worker


def settings_for(url: str, data_dir: Path, **env: str) -> Settings:
    return load_settings(
        {
            "DATABASE_URL": url,
            "GENERATION_QUEUE": "postgres",
            "DATA_DIR": str(data_dir),
            "POLL_INTERVAL_S": "0.1",
            "LEASE_S": "2",
            **env,
        },
        dotenv_path=None,
        need_token=False,
    )


@pytest.fixture
async def db(postgres_url: str) -> AsyncIterator[Database]:
    database = await open_database(postgres_url)
    yield database
    await database.close()


async def new_job(
    db: Database,
    user: int,
    prompt: str,
    *,
    key: str | None = "k",
    version: int = QUEUE_VERSION,
    steps: int = 3,
) -> int:
    params = RiffParams(prompt=prompt, steps=steps).to_json()
    job_id = await records.create_job(
        db,
        kind="riff",
        user_id=user,
        guild_id=None,
        channel_id=1,
        params=params,
        parent_generation_id=None,
        task={"type": "clip"},
    )
    refused = await queue_rows.enqueue(
        db,
        job_id,
        user_id=user,
        version=version,
        batch_key=key,
        cost=3.0,
        inputs={},
        max_held=None,
        max_queued=None,
    )
    assert refused is None
    return job_id


async def claim(db: Database, worker: str = "w1", *, batch: int = 1, lease_s: float = 30.0):
    return await queue_rows.claim(
        db,
        worker,
        version=QUEUE_VERSION,
        max_batch=batch,
        lease_s=lease_s,
        max_attempts=3,
        exhausted_message="gave up",
    )


def prompts(claimed: queue_rows.Claim) -> list[str]:
    return [c.job.params["prompt"] for c in claimed.jobs]


async def test_workers_claim_round_robin_across_users(db: Database) -> None:
    for prompt in ("a1", "a2", "a3"):
        await new_job(db, 1, prompt)
    await new_job(db, 2, "b1")
    await new_job(db, 3, "c1")
    order = []
    for _ in range(5):
        taken = await claim(db)
        order += prompts(taken)
        for c in taken.jobs:
            await queue_rows.finish(db, "w1", queue_rows.Lease(c.job.id, c.attempt), JobState.MADE)
    assert order == ["a1", "b1", "c1", "a2", "a3"]
    assert (await claim(db)).jobs == []


async def test_a_claim_batches_compatible_jobs_in_turn_order(db: Database) -> None:
    await new_job(db, 1, "a1")
    await new_job(db, 1, "a2", key="other")
    await new_job(db, 2, "b1")
    await new_job(db, 3, "c1")
    taken = await claim(db, batch=4)
    # a2 needs another pipeline call; nobody's later job overtakes their earlier one.
    assert prompts(taken) == ["a1", "b1", "c1"]
    assert all(c.attempt == 1 for c in taken.jobs)
    assert prompts(await claim(db, batch=4)) == ["a2"]


async def test_two_workers_never_claim_the_same_job(db: Database, postgres_url: str) -> None:
    for i in range(12):
        await new_job(db, i % 4, f"job {i}")
    other = await open_database(postgres_url)
    try:
        results = await asyncio.gather(*(claim(d, f"w{d is db}") for d in [db, other] * 6))
    finally:
        await other.close()
    claimed = [c.job.id for r in results for c in r.jobs]
    assert len(claimed) == 12 and len(set(claimed)) == 12


async def test_a_lost_claim_writes_nothing_and_the_next_worker_reruns_it(db: Database) -> None:
    job_id = await new_job(db, 1, "x")
    first = (await claim(db, "w1", lease_s=0.2)).jobs[0]
    await asyncio.sleep(0.4)  # w1 stopped renewing (killed, or cut off from the database)
    second = (await claim(db, "w2")).jobs[0]
    assert second.job.id == job_id and second.attempt == 2
    lease1 = queue_rows.Lease(job_id, first.attempt, progress=(2, 3))
    assert await queue_rows.renew(db, "w1", [lease1], lease_s=30) == (set(), set())
    assert not await queue_rows.finish(db, "w1", lease1, JobState.FAILED, error="late")
    lease2 = queue_rows.Lease(job_id, second.attempt)
    assert await queue_rows.finish(
        db, "w2", lease2, JobState.MADE, made={"clips": 1}, files={"result.png": b"png"}
    )
    view = (await queue_rows.views(db, [job_id]))[job_id]
    assert (view.state, view.error, view.attempts) == ("made", None, 2)
    assert await queue_rows.blobs(db, job_id) == {"result.png": b"png"}


async def test_a_job_that_keeps_killing_workers_fails_after_three_tries(db: Database) -> None:
    job_id = await new_job(db, 1, "too big")
    for attempt in (1, 2, 3):
        taken = await claim(db, f"w{attempt}", lease_s=0.1)
        assert [c.attempt for c in taken.jobs] == [attempt]
        await asyncio.sleep(0.25)
    final = await claim(db, "w4")
    assert final.jobs == [] and final.exhausted == [job_id]
    view = (await queue_rows.views(db, [job_id]))[job_id]
    assert (view.state, view.error) == ("failed", "gave up")


async def test_paused_servers_jobs_wait(db: Database) -> None:
    from bot.store import settings_rows

    params = RiffParams(prompt="paused", steps=3).to_json()
    job_id = await records.create_job(
        db,
        kind="riff",
        user_id=5,
        guild_id=77,
        channel_id=1,
        params=params,
        parent_generation_id=None,
        task={"type": "clip"},
    )
    await queue_rows.enqueue(
        db,
        job_id,
        user_id=5,
        version=QUEUE_VERSION,
        batch_key=None,
        cost=1,
        inputs={},
        max_held=None,
        max_queued=None,
    )
    await settings_rows.update_guild_settings(db, 77, paused=True)
    assert (await claim(db)).jobs == []
    await settings_rows.update_guild_settings(db, 77, paused=False)
    assert [c.job.id for c in (await claim(db)).jobs] == [job_id]


async def test_two_bot_processes_cannot_both_admit_a_users_fourth_job(
    db: Database, postgres_url: str, tmp_path: Path
) -> None:
    other = await open_database(postgres_url)
    settings = settings_for(postgres_url, tmp_path, MAX_JOBS_PER_USER="3")
    queues = [SharedQueue(settings, d, Storage(tmp_path / "data"), Health()) for d in (db, other)]
    rows = [
        await records.create_job(
            db,
            kind="riff",
            user_id=9,
            guild_id=None,
            channel_id=1,
            params=RiffParams(prompt=f"p{i}").to_json(),
            parent_generation_id=None,
            task={"type": "clip"},
        )
        for i in range(8)
    ]
    task = RenderTask(params=RiffParams(prompt="p"))
    try:
        outcomes = await asyncio.gather(
            *(queues[i % 2].enqueue(job_id, 9, task) for i, job_id in enumerate(rows)),
            return_exceptions=True,
        )
    finally:
        await other.close()
    admitted = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, QueueFull)]
    assert len(admitted) == 3 and len(refused) == 5
    assert "the limit is 3" in str(refused[0])


async def test_listen_dropped_polling_keeps_jobs_moving(db: Database, tmp_path: Path) -> None:
    settings = settings_for(db.url, tmp_path, POLL_INTERVAL_S="0.3")
    queue = SharedQueue(settings, db, Storage(tmp_path / "data"), Health())
    queue.start()
    try:
        await asyncio.wait_for(queue.listener.connected.wait(), 10)
        async with db.session() as session:  # an administrator (or a network cut) kills it
            await session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'riffusion-listen-bot'"
                )
            )
        job_id = await new_job(db, 1, "x")
        handle = await queue.enqueue(
            job_id, 1, RenderTask(params=RiffParams(prompt="x")), resumed=True
        )
        taken = (await claim(db)).jobs[0]
        await queue_rows.finish(
            db,
            "w1",
            queue_rows.Lease(job_id, taken.attempt),
            JobState.MADE,
            made={"clips": 1, "elapsed_s": 0.1, "duration_s": 1.0, "bitrate_kbps": 128},
            files={"result.png": b"p", "result.mp3": b"m", "result.wav": b"w" * 100},
        )
        result = await asyncio.wait_for(handle.wait(), 10)
        assert isinstance(result, MadeResult) and result.wav == b"w" * 100
        await asyncio.wait_for(queue.listener.connected.wait(), 10)  # and it came back
        assert queue.listener.drops >= 1
    finally:
        await queue.shutdown(0)


async def test_a_worker_renders_a_bots_job_and_stops_a_cancelled_one(
    db: Database, tmp_path: Path
) -> None:
    settings = settings_for(db.url, tmp_path)
    bot_queue = SharedQueue(settings, db, Storage(tmp_path / "bot"), Health())
    bot_queue.start()
    try:
        async with gpu_worker(
            settings, db, FakeRenderer(step_s=0.05), tmp_path / "worker"
        ) as worker:
            first = await new_job(db, 1, "made")
            handle = await bot_queue.enqueue(
                first, 1, RenderTask(params=RiffParams(prompt="made", steps=3)), resumed=True
            )
            result = await asyncio.wait_for(handle.wait(), 30)
            assert isinstance(result, MadeResult)
            assert result.png.startswith(b"\x89PNG") and result.clips == 1
            assert result.wav.startswith(b"RIFF") and len(result.mp3) > 1000

            second = await new_job(db, 1, "cancelled", steps=200)  # 50 ms a step: 10 s
            long = RenderTask(params=RiffParams(prompt="cancelled", steps=200))
            handle = await bot_queue.enqueue(second, 1, long, resumed=True)
            while handle.progress is None or handle.progress[0] < 2:
                await asyncio.sleep(0.05)
            assert bot_queue.position(handle) == 0
            bot_queue.cancel(handle)
            with pytest.raises(GenerationCancelled):
                await handle.wait()

            async def row_state() -> str:
                async with db.session() as session:
                    return str(await session.scalar(select(Job.state).where(Job.id == second)))

            for _ in range(100):
                if await row_state() == "cancelled" and not worker.running:
                    break
                await asyncio.sleep(0.05)
            assert await row_state() == "cancelled"
            assert not worker.running  # the worker let go of it within a step or two
    finally:
        await bot_queue.shutdown(0)


async def test_a_worker_of_another_version_refuses_jobs_and_says_why(db: Database) -> None:
    await new_job(db, 1, "new", version=QUEUE_VERSION + 1)
    assert (await claim(db)).jobs == []
    assert await queue_rows.waiting_versions(db, QUEUE_VERSION) == {QUEUE_VERSION + 1: 1}


async def test_a_stopping_worker_gives_its_job_back_without_counting_a_try(
    db: Database, tmp_path: Path
) -> None:
    settings = settings_for(db.url, tmp_path, SHUTDOWN_GRACE_S="0.3")
    worker = GpuWorker(settings, db, FakeRenderer(step_s=0.1), scan_seed_folder(None).catalogue)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    job_id = await new_job(db, 1, "long", steps=200)  # 20 s unless stopped
    while not worker.running:
        await asyncio.sleep(0.05)
    stop.set()  # SIGTERM: the grace (0.3 s) is far shorter than the job
    assert await asyncio.wait_for(running, 20) == 0
    view = (await queue_rows.views(db, [job_id]))[job_id]
    assert (view.state, view.attempts) == ("queued", 0)
    assert [c.job.id for c in (await claim(db, "w2")).jobs] == [job_id]  # another one takes it


def test_tls_in_database_url_reaches_the_listen_connection() -> None:
    """SQLAlchemy's asyncpg dialect takes `ssl=`; a DSN for asyncpg.connect needs `sslmode=`
    (else asyncpg sends `ssl` to the server as a setting, which refuses it)."""
    from urllib.parse import parse_qs, urlsplit

    from bot.store.notify import asyncpg_dsn

    dsn = urlsplit(asyncpg_dsn("postgresql+asyncpg://bot:pw@db.example/riffusion?ssl=verify-full"))
    assert (dsn.scheme, dsn.netloc, dsn.path) == ("postgresql", "bot:pw@db.example", "/riffusion")
    assert parse_qs(dsn.query) == {"sslmode": ["verify-full"]}
    local = urlsplit(asyncpg_dsn("postgresql+asyncpg://bot@/r?host=/tmp/s"))
    assert parse_qs(local.query) == {"host": ["/tmp/s"]}
