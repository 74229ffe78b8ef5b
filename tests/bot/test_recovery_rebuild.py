"""Recovery below Discord: the order unfinished jobs resume in, every kind of job rebuilt from its
row, and SQLite's durability settings. Restarts of the bot itself: tests/e2e/test_recovery.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.engine.tasks import BlendClipTask, BlendTask, ExtendSource, RemixTask, RenderTask
from bot.jobs import specs as jobspecs
from bot.jobs.recovery import resume_order
from bot.jobs.specs import JobNotRebuildable, JobSpec
from bot.params import RiffParams
from bot.store.db import open_database
from bot.store.files import Storage
from bot.store.models import Generation, Job
from riffusion_core.audio import samples_to_segment

# ---- the order, and rebuilding each kind of job --------------------------------------------


def _job(id: int, user: int, state: str, created: int, started: int | None = None) -> Job:
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return Job(
        id=id,
        user_id=user,
        state=state,
        kind="riff",
        created_at=base + timedelta(seconds=created),
        started_at=None if started is None else base + timedelta(seconds=started),
    )


def test_resume_order_rebuilds_the_turns():
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    jobs = [
        _job(1, 1, "running", 0, started=5),  # user 1's first job was running
        _job(2, 1, "queued", 1),
        _job(3, 2, "queued", 2),
        _job(4, 1, "queued", 3),
        _job(5, 3, "queued", 6),  # arrived after user 1 was served: behind user 1
        _job(6, 2, "queued", 7),
    ]
    order = resume_order(jobs, {1: base + timedelta(seconds=5)})
    assert [j.id for j in order] == [1, 3, 2, 5, 6, 4]
    assert [j.id for j in resume_order(jobs[1:], {})] == [2, 3, 5, 4, 6]


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    store = Storage(tmp_path / "data")
    for name in ("7.png", "7.wav"):
        (store.folder / name).write_bytes(b"x")
    return store


def test_every_kind_of_job_is_rebuilt_from_its_row(storage: Storage, tmp_path: Path):
    params = RiffParams(prompt="p", seed=3)
    image, master = storage.folder / "7.png", storage.folder / "7.wav"
    tone = samples_to_segment(__import__("numpy").ones((1, 4410), "float32"))
    tasks = [
        RenderTask(params=params),
        RenderTask(params=params, init_image=image),
        RenderTask(
            params=params, extend=ExtendSource(master_path=master, image_path=image, clips=2)
        ),
        BlendTask(params=params, end_prompt="q", end_seed=9, clips=5),
        BlendClipTask(params=params, end_prompt="q", end_seed=9, alpha=0.25),
        RemixTask(params=params, audio=tone, source_duration_s=7.5, max_input_s=60.0),
    ]
    for job_id, task in enumerate(tasks, 1):
        spec = JobSpec(
            task=jobspecs.describe(task, storage), extra={"k": job_id}, filesize_limit=123
        )
        audio = jobspecs.save_remix_audio(task, job_id, storage)
        if audio:
            assert audio == f"jobs/{job_id}.wav"
            spec.task["audio"] = audio
        stored = JobSpec.from_json(spec.to_json(), default_limit=1)
        assert stored == spec
        rebuilt = jobspecs.rebuild("x", params, stored, storage, None)
        assert type(rebuilt) is type(task)
        if isinstance(task, RemixTask):
            assert len(rebuilt.audio) == len(tone) and rebuilt.source_duration_s == 7.5
        else:
            assert rebuilt == task
        assert rebuilt.batch_key == task.batch_key and rebuilt.cost == task.cost


def test_rows_from_the_first_release_and_missing_files(storage: Storage):
    params = RiffParams(prompt="p")
    parent = Generation(
        id=7, image_file="generations/7.png", extra={"master": "generations/7.wav", "clips": 1}
    )
    legacy = JobSpec.from_json(None, default_limit=10)
    assert jobspecs.rebuild("riff", params, legacy, storage, None) == RenderTask(params=params)
    variation = jobspecs.rebuild("variation", params, legacy, storage, parent)
    assert variation.init_image == storage.folder / "7.png"
    extend = jobspecs.rebuild("extend", params, legacy, storage, parent)
    assert extend.extend.master_path == storage.folder / "7.wav"
    with pytest.raises(JobNotRebuildable, match="cannot redo this kind"):
        jobspecs.rebuild("blend", params, legacy, storage, None)
    (storage.folder / "7.png").unlink()
    with pytest.raises(JobNotRebuildable, match="files of result #7 were cleaned up"):
        jobspecs.rebuild("variation", params, legacy, storage, parent)
    remix = JobSpec.from_json({"type": "remix", "audio": "jobs/99.wav"}, default_limit=10)
    with pytest.raises(JobNotRebuildable, match="send it again"):
        jobspecs.rebuild("remix", params, remix, storage, None)
    escape = JobSpec.from_json({"type": "remix", "audio": "../../etc/passwd"}, default_limit=10)
    with pytest.raises(JobNotRebuildable):
        jobspecs.rebuild("remix", params, escape, storage, None)


# ---- durability of the database ---------------------------------------------------------------


async def test_sqlite_runs_in_wal_with_full_sync(tmp_path: Path):
    db = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == 2  # FULL
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await db.close()
