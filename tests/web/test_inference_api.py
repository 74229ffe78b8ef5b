"""Riffusion's inference API over a real HTTP connection to the bot: the web app's own body
answered with a JPEG and an MP3 of one clip (tiny model), CORS, the key's share of the queue,
fair turns with Discord users, the key's server's blocked words, a caller that goes away, API
rows after a restart, and /metrics."""

from __future__ import annotations

import asyncio
import base64
import io
import time

import aiohttp
import pytest
from PIL import Image

from bot.store import records
from bot.store.models import Job
from riffusion_core.audio_decode import decode_audio
from tests.fakediscord import FakeDiscord
from tests.fixtures.bot import BotHarness, FakeRenderer, is_result
from tests.fixtures.web import free_port
from tests.fixtures.workers import gpu_worker

KEY = "inference-api-test-key-0123456789"
# Section 7 of docs/riffusion-format.md: what the web app sends.
WEB_APP_BODY = {
    "alpha": 0.25,
    "num_inference_steps": 50,
    "seed_image_id": "og_beat",
    "mask_image_id": None,
    "start": {"prompt": "jazz saxophone", "seed": 738973, "denoising": 0.75, "guidance": 7.0},
    "end": {"prompt": "jazz saxophone", "seed": 738974, "denoising": 0.75, "guidance": 7.0},
}


def small(**changes: object) -> dict[str, object]:
    return {**WEB_APP_BODY, "num_inference_steps": 2, **changes}


def data_uri(value: str, mime: str) -> bytes:
    prefix = f"data:{mime};base64,"
    assert value.startswith(prefix)
    return base64.b64decode(value[len(prefix) :])


async def job_rows(bot) -> list[Job]:
    from sqlalchemy import select

    async with bot.services.db.session() as session:
        return list(await session.scalars(select(Job).order_by(Job.id)))


@pytest.mark.timeout(300)
async def test_the_web_apps_body_gets_a_jpeg_and_an_mp3_of_one_clip(
    fake_discord: FakeDiscord, bot_harness: BotHarness, tiny_model_dir
):
    port = free_port()
    async with (
        bot_harness.running(
            RIFFUSION_MODEL=str(tiny_model_dir),
            RIFFUSION_DEVICE="cpu",
            WEB_PORT=str(port),
            WEB_API_KEYS=f"{KEY}:{fake_discord.guild.id}",
        ) as bot,
        aiohttp.ClientSession() as http,
    ):
        url = f"http://127.0.0.1:{port}/k/{KEY}/run_inference/"
        async with http.post(url, json=WEB_APP_BODY) as answer:
            body = await answer.json()
            assert answer.status == 200, body
            assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert set(body) == {"image", "audio", "duration_s"}
        image = Image.open(io.BytesIO(data_uri(body["image"], "image/jpeg")))
        assert image.format == "JPEG" and image.height == 512
        audio = decode_audio(data_uri(body["audio"], "audio/mpeg")).segment
        assert body["duration_s"] == pytest.approx(5.11, abs=0.01)
        assert len(audio) / 1000 == pytest.approx(body["duration_s"], abs=0.1)
        [row] = await job_rows(bot)
        assert (row.kind, row.state, row.guild_id) == ("api", "delivered", fake_discord.guild.id)
        assert row.user_id < 0  # the key's lane


async def test_cors_preflight_and_the_keys_share_of_the_queue(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    port = free_port()
    renderer = FakeRenderer()
    async with (
        bot_harness.running(
            renderer,
            WEB_PORT=str(port),
            WEB_API_KEYS=f"{KEY}:{fake_discord.guild.id}",
            MAX_JOBS_PER_USER="1",
        ),
        aiohttp.ClientSession() as http,
    ):
        url = f"http://127.0.0.1:{port}/run_inference/"
        preflight = {
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization",
        }
        async with http.options(url, headers=preflight) as answer:
            assert answer.status == 204
            assert answer.headers["Access-Control-Allow-Origin"] == "*"
            assert "POST" in answer.headers["Access-Control-Allow-Methods"]
            allowed = answer.headers["Access-Control-Allow-Headers"].lower()
            assert "content-type" in allowed and "authorization" in allowed
        auth = {"Authorization": f"Bearer {KEY}"}
        renderer.gate.clear()
        first = asyncio.create_task(http.post(url, json=small(), headers=auth))
        await asyncio.to_thread(renderer.started.wait, 10)
        async with http.post(url, json=small(), headers=auth) as answer:
            assert answer.status == 429
            assert "You already have 1 job queued or running" in (await answer.json())["error"]
        renderer.gate.set()
        async with await first as answer:
            assert answer.status == 200


async def test_an_api_request_takes_its_turn_among_a_discord_users_riffs(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    port = free_port()
    renderer = FakeRenderer()
    async with (
        bot_harness.running(renderer, WEB_PORT=str(port), MAX_BATCH_SIZE="1") as bot,
        aiohttp.ClientSession() as http,
    ):
        renderer.gate.clear()
        await fake.response_message(await fake.slash(fake.member, "riff", {"prompt": "first"}))
        await asyncio.to_thread(renderer.started.wait, 10)
        await fake.response_message(await fake.slash(fake.member, "riff", {"prompt": "second"}))
        await fake.response_message(await fake.slash(fake.member, "riff", {"prompt": "third"}))
        api = asyncio.create_task(
            http.post(f"http://127.0.0.1:{port}/run_inference/", json=small())
        )
        deadline = time.monotonic() + 10
        while bot.queue.waiting_count() < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        renderer.gate.set()
        async with await api as answer:
            assert answer.status == 200
        await fake.wait_for_message(lambda m: is_result(m) and "third" in m.content, timeout=30)
        # Round-robin: the user's next riff had its turn before the API request came; the API's
        # turn comes before the user's third.
        assert renderer.batches == [["first"], ["second"], ["jazz saxophone"], ["third"]]


async def test_blocked_words_a_caller_that_leaves_a_restart_and_metrics(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    port = free_port()
    renderer = FakeRenderer()
    guild_id = fake_discord.guild.id
    async with (
        bot_harness.running(renderer, WEB_PORT=str(port), WEB_API_KEYS=f"{KEY}:{guild_id}") as bot,
        aiohttp.ClientSession() as http,
    ):
        url = f"http://127.0.0.1:{port}/k/{KEY}/run_inference/"
        await bot.services.policy.update(guild_id, blocked_words=["saxophone"])
        async with http.post(url, json=small()) as answer:
            assert answer.status == 400
            assert "saxophone" in (await answer.json())["error"]
        await bot.services.policy.update(guild_id, blocked_words=[])
        async with http.post(url, json=small()) as answer:
            assert answer.status == 200
        # The caller goes away while its job runs: the job is cancelled.
        renderer.gate.clear()
        renderer.started.clear()
        gone = asyncio.create_task(http.post(url, json=small(alpha=0.5)))
        await asyncio.to_thread(renderer.started.wait, 10)
        gone.cancel()
        renderer.gate.set()
        deadline = time.monotonic() + 10
        while (await job_rows(bot))[-1].state != "cancelled" and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert [row.state for row in await job_rows(bot)] == ["delivered", "cancelled"]
        # An API row a previous run left is cancelled at start, never resumed.
        left = await records.create_job(
            bot.services.db,
            kind="api",
            user_id=-5,
            guild_id=guild_id,
            channel_id=None,
            params=(await job_rows(bot))[0].params,
            parent_generation_id=None,
            task=(await job_rows(bot))[0].task,
        )
        assert await bot.services.jobs.resume_unfinished() == []
        assert [row.state for row in await job_rows(bot) if row.id == left] == ["cancelled"]
        async with http.get(f"http://127.0.0.1:{port}/metrics") as answer:
            assert answer.status == 200
            assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await answer.text()
        for line in (
            'riffusion_queue_jobs{state="waiting"} 0.0',
            'riffusion_queue_jobs{state="running"} 0.0',
            'riffusion_job_duration_seconds_count{kind="api"} 1.0',
            'riffusion_jobs_ended_total{kind="api",outcome="cancelled"} 1.0',
            "riffusion_discord_connects_total 1.0",
            "riffusion_delivery_retries_total 0.0",
        ):
            assert line in text.splitlines(), line
        assert "riffusion_steps_per_second" in text
        assert "riffusion_gpu_memory_allocated_bytes" not in text  # no GPU in use here


async def test_the_api_on_the_postgres_queue_is_rendered_by_a_gpu_worker(
    fake_discord: FakeDiscord, bot_harness: BotHarness, postgres_url: str, tmp_path
):
    """With GENERATION_QUEUE=postgres the clip is a jobs row a GPU worker claims; the worker
    encodes it, and the API answers from what it sent back."""
    port = free_port()
    bot_harness.database_url = postgres_url
    async with (
        bot_harness.running(
            GENERATION_QUEUE="postgres",
            POLL_INTERVAL_S="0.1",
            WEB_PORT=str(port),
            WEB_API_KEYS=f"{KEY}:{fake_discord.guild.id}",
        ) as bot,
        aiohttp.ClientSession() as http,
        gpu_worker(bot.settings, bot.services.db, FakeRenderer(), tmp_path / "worker") as worker,
    ):
        url = f"http://127.0.0.1:{port}/k/{KEY}/run_inference/"
        async with http.post(url, json=small()) as answer:
            body = await answer.json()
            assert answer.status == 200, body
        image = Image.open(io.BytesIO(data_uri(body["image"], "image/jpeg")))
        assert image.format == "JPEG"
        assert decode_audio(data_uri(body["audio"], "audio/mpeg")).segment.duration_seconds > 1
        assert worker.claims == 1
        [row] = await job_rows(bot)
        assert (row.kind, row.state) == ("api", "delivered")
