"""A bot on the postgres queue, in one process with an in-process GPU worker (FakeRenderer):
what users and operators see of it. Real worker processes are in test_scale_out.py."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from bot.jobs.shared_queue import QUEUE_VERSION
from bot.store.models import Job
from bot.voice.stations import RADIO_UNAVAILABLE
from bot.worker.gpu_worker import GpuWorker
from riffusion_core.seed_images.catalogue import scan_seed_folder
from tests.e2e.test_bot_discord import riff
from tests.e2e.test_reliability import about_fields
from tests.fakediscord import FakeDiscord
from tests.fixtures.bot import BotHarness, FakeRenderer, is_result

QUEUE = {"GENERATION_QUEUE": "postgres", "POLL_INTERVAL_S": "0.1", "LEASE_S": "3"}


async def test_about_shows_the_workers_and_the_radio_says_it_is_not_here(
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

            interaction = await fake.slash(fake.member, "radio start", {"prompt": "lofi"})
            answer = await fake.response_message(interaction, timeout=10)
            assert answer.content == RADIO_UNAVAILABLE
        finally:
            stop.set()
            assert await asyncio.gather(*running) == [0, 0]
