"""A bot on the postgres queue, in one process with an in-process GPU worker (FakeRenderer):
what users and operators see of it. Real worker processes are in test_scale_out.py."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from PIL import Image
from pydub.generators import Sine
from sqlalchemy import select

from bot.config import load_settings
from bot.engine.radio_clips import RadioRender, RadioTask
from bot.engine.renderer import PipelineRenderer
from bot.jobs.health import Health
from bot.jobs.shared_queue import QUEUE_VERSION, SharedQueue
from bot.store.db import open_database
from bot.store.files import Storage
from bot.store.models import Job, JobBlob
from bot.voice.radio import SeedWalk
from bot.voice.sessions import radio_renderer
from bot.worker.gpu_worker import GpuWorker
from riffusion_core.seed_images.catalogue import scan_seed_folder
from tests.e2e.test_bot_discord import riff
from tests.e2e.test_reliability import about_fields
from tests.fakediscord import FakeDiscord
from tests.fixtures.bot import BotHarness, FakeRenderer, is_result
from tests.fixtures.workers import gpu_worker

QUEUE = {"GENERATION_QUEUE": "postgres", "POLL_INTERVAL_S": "0.1", "LEASE_S": "3"}


async def test_about_shows_the_workers_of_every_version(
    fake_discord: FakeDiscord, bot_harness: BotHarness, postgres_url: str, tmp_path
):
    fake = fake_discord
    bot_harness.database_url = postgres_url
    async with bot_harness.running(**QUEUE) as bot:
        assert bot.renderer is None  # no model in the bot
        settings = replace(bot.settings, data_dir=tmp_path / "worker")
        seeds = scan_seed_folder(None).catalogue
        current = GpuWorker(settings, bot.services.db, FakeRenderer(), seeds)
        older = GpuWorker(settings, bot.services.db, FakeRenderer(), seeds, version=0)
        stop = asyncio.Event()
        running = [asyncio.create_task(w.run(stop)) for w in (current, older)]
        try:
            _, status = await riff(fake, fake.member, "through the shared queue")
            result = await fake.wait_for_message(is_result, timeout=30)
            assert "through the shared queue" in result.content
            await fake.wait_until(lambda: "is ready" in status.content, timeout=10)
            assert current.claims == 1 and older.claims == 0

            async with bot.services.db.session() as session:
                job = await session.get(Job, 1)
                assert job is not None and job.queue_version == QUEUE_VERSION
            fields = await about_fields(fake)
            device = fields["Device"]
            assert device.count("\n") == 1  # one line per worker
            assert f"queue version 0, this bot {QUEUE_VERSION}: refuses jobs" in device
        finally:
            stop.set()
            assert await asyncio.gather(*running) == [0, 0]


class ToneRenderer(FakeRenderer):
    """Renders radio clips (tasks that render themselves) as tones, like a GPU worker would."""

    def __call__(self, tasks, on_step, should_cancel):
        [task] = tasks
        assert isinstance(task, RadioTask) and task.seed_image is not None
        self.batches.append([task.clip.label])
        on_step(task.steps, task.steps)
        image = Image.new("RGB", (64, 64), (task.clip.index, 0, 0))
        audio = Sine(330 + 10 * task.clip.index).to_audio_segment(duration=5110)
        return [RadioRender(audio, image)]


async def test_radio_clips_render_on_the_workers_and_leave_no_rows_behind(
    postgres_url: str, tmp_path
):
    db = await open_database(postgres_url)
    settings = load_settings(
        {"DATABASE_URL": postgres_url, **QUEUE, "DATA_DIR": str(tmp_path / "bot")},
        dotenv_path=None,
        need_token=False,
    )
    queue = SharedQueue(settings, db, Storage(tmp_path / "bot"), Health())
    renderer = ToneRenderer()
    queue.start()
    try:
        async with gpu_worker(settings, db, renderer, tmp_path / "worker"):
            render = radio_renderer(queue, lane=-42, group=None, steps=3, seed_image="og_beat")
            clips = SeedWalk("lofi", 7)
            made = [await asyncio.wait_for(render(clips.next()), 30) for _ in range(2)]
            assert [len(m.audio) for m in made] == [5110, 5110]
            # The spectrogram came along too (the radio's web page shows it).
            assert [m.image.getpixel((0, 0)) for m in made if m.image] == [(0, 0, 0), (1, 0, 0)]
            assert len(renderer.batches) == 2
            async with db.session() as session:
                rows = list(await session.scalars(select(Job)))
                blobs = list(await session.scalars(select(JobBlob)))
            assert [(r.kind, r.state, r.user_id) for r in rows] == [("radio", "delivered", -42)] * 2
            assert blobs == []  # the clips' WAVs and PNGs were taken and dropped
    finally:
        await queue.shutdown(0)
        await db.close()


@pytest.mark.timeout(300)
async def test_a_song_goes_round_the_shared_queue_one_clip_a_turn(
    fake_discord: FakeDiscord,
    bot_harness: BotHarness,
    postgres_url: str,
    tiny_model_dir,
    tmp_path,
):
    """On the postgres queue a song is claimed once per clip: each turn's clip travels with the
    job (job_blobs), any worker may render the next, and the last one assembles the song."""
    fake = fake_discord
    bot_harness.database_url = postgres_url
    async with bot_harness.running(**QUEUE) as bot:
        renderer = PipelineRenderer(str(tiny_model_dir), "cpu", tmp_path / "scratch")
        async with gpu_worker(
            bot.settings, bot.services.db, renderer, tmp_path / "worker"
        ) as worker:
            song = await fake.slash(
                fake.member,
                "song",
                {"form": "short", "prompt": "lofi", "bpm": 128, "length": 30, "steps": 2},
            )
            status = await fake.response_message(song)
            result = await fake.wait_for_message(
                lambda m: is_result(m) and "Song" in m.content, timeout=240
            )
            await fake.wait_until(lambda: "is ready" in status.content, timeout=30)
            async with bot.services.db.session() as session:
                job = (await session.scalars(select(Job).where(Job.kind == "song"))).one()
                blobs = list(await session.scalars(select(JobBlob)))
            assert worker.claims == job.made["clips"] > 1  # one claim a clip
            assert job.attempts == 1 and blobs == []  # turns are not tries; nothing left over
            assert result.attachments
