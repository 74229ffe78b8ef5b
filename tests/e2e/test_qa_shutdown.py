"""QA: a request acknowledged in the moment the bot stops is kept and its status says so."""

from __future__ import annotations

import asyncio

import pytest

from bot.store import records
from tests.fakediscord import FakeDiscord
from tests.fixtures.bot import BotHarness, FakeRenderer

pytestmark = pytest.mark.timeout(120)


async def test_a_request_acknowledged_while_the_bot_stops_is_told_and_kept(
    fake_discord: FakeDiscord, bot_harness: BotHarness, monkeypatch: pytest.MonkeyPatch
):
    fake = fake_discord
    renderer = FakeRenderer()
    original_update = records.update_job
    stopping: list[asyncio.Future] = []
    first: set[int] = set()

    async def update_job(db, job_id, **values):
        if "status_message_id" in values and job_id not in first and not stopping:
            # SIGTERM arrives while /riff is still recording its status message.
            stopping.append(asyncio.ensure_future(bot.close()))
            await fake.wait_until(lambda: bot.queue.closed, what="queue closed")
            await asyncio.wait(stopping, timeout=2)  # (a fixed bot waits for this /riff)
        return await original_update(db, job_id, **values)

    async with bot_harness.running(renderer) as bot:
        renderer.gate.clear()
        await fake.slash(fake.admin, "riff", {"prompt": "first", "steps": 2})
        await fake.wait_until(lambda: renderer.started.is_set(), what="first job running")
        first.update(bot.services.jobs.active)
        monkeypatch.setattr(records, "update_job", update_job)
        interaction = await fake.slash(fake.member, "riff", {"prompt": "second", "steps": 2})
        status = await fake.response_message(interaction)
        renderer.gate.set()
        await fake.wait_until(lambda: stopping, what="stop")
        await asyncio.wait(stopping, timeout=30)
    assert "will continue" in status.content  # told, not left saying "next in line"
    async with bot_harness.running(FakeRenderer()):
        result = await fake.wait_for_message(
            lambda m: "second" in m.content and m.attachments, timeout=15
        )
        assert fake.member.mention in result.content
