"""Local faults and long waits over the wire: a full disk or a database that refuses writes
fails the job with a clear line for its owner, leaves nothing half-written, shows in /about and
the log, and the next job works without a restart; a job that waited past the interaction
token's life edits its status and posts through the channel, never the expired token."""

from __future__ import annotations

import asyncio
import errno

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.store import records
from bot.store.files import Storage
from bot.store.models import Generation, Job
from bot.ui import origins as origins_module
from tests.e2e.test_bot_discord import riff
from tests.fakediscord import FakeDiscord
from tests.fixtures.bot import BotHarness, FakeRenderer, is_result
from tests.fixtures.discord import ErrorCollector


async def about_fields(fake: FakeDiscord) -> dict[str, str]:
    interaction = await fake.slash(fake.member, "about")
    about = await fake.response_message(interaction, timeout=10)
    return {f["name"]: f["value"] for f in about.embeds[0]["fields"]}


def logged_errors(collector: ErrorCollector) -> list[str]:
    """What the operator reads in the log (and no longer counts as an unexpected error)."""
    return [record.getMessage() for record in collector.unreported()]


async def test_a_full_disk_fails_the_job_clearly_and_the_next_one_works(
    fake_discord: FakeDiscord,
    bot_harness: BotHarness,
    monkeypatch: pytest.MonkeyPatch,
    discord_errors: ErrorCollector,
):
    fake = fake_discord
    real_save = Storage.save_bytes
    full = {"on": True}

    def save_bytes(self: Storage, generation_id: int, suffix: str, data: bytes) -> str:
        if full["on"] and suffix == ".mp3":  # the PNG is written, then the disk fills up
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, generation_id, suffix, data)

    monkeypatch.setattr(Storage, "save_bytes", save_bytes)
    async with bot_harness.running(FakeRenderer()) as bot:
        _, status = await riff(fake, fake.member, "no room")
        await fake.wait_until(lambda: "could not be generated" in status.content, timeout=15)
        assert "disk is full" in status.content and status.custom_ids() == []
        assert not [m for m in fake.bot_messages if is_result(m)]
        # Nothing half-written: no result row, no file left behind.
        async with bot.services.db.session() as session:
            assert list(await session.scalars(select(Generation))) == []
            assert list(await session.scalars(select(Job.state))) == ["failed"]
        assert not list((bot_harness.data_dir / "generations").iterdir())
        fields = await about_fields(fake)
        assert "disk of DATA_DIR is full" in fields["⚠️ Problems"]
        assert logged_errors(discord_errors) == [
            "Problem: the disk of DATA_DIR is full ([Errno 28] No space left on device)"
        ]

        full["on"] = False  # room again: no restart needed
        _, status = await riff(fake, fake.member, "room again")
        await fake.wait_for_message(is_result, timeout=15)
        await fake.wait_until(lambda: "is ready" in status.content, timeout=15)
        assert "⚠️ Problems" not in await about_fields(fake)


async def test_a_database_that_refuses_writes_fails_the_job_clearly(
    fake_discord: FakeDiscord,
    bot_harness: BotHarness,
    monkeypatch: pytest.MonkeyPatch,
    discord_errors: ErrorCollector,
):
    fake = fake_discord
    real_add = records.add_generation
    locked = {"on": True}

    async def add_generation(*args: object, **kwargs: object) -> Generation:
        if locked["on"]:
            raise OperationalError("INSERT INTO generations", {}, Exception("database is locked"))
        return await real_add(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(records, "add_generation", add_generation)
    async with bot_harness.running(FakeRenderer()):
        _, status = await riff(fake, fake.member, "locked out")
        await fake.wait_until(lambda: "could not be generated" in status.content, timeout=15)
        assert "database is not accepting changes" in status.content
        assert "database refuses writes" in (await about_fields(fake))["⚠️ Problems"]
        assert logged_errors(discord_errors) == [
            "Problem: the database refuses writes (OperationalError)"
        ]
        # Other requests are still served meanwhile, and work once the database does.
        locked["on"] = False
        _, status = await riff(fake, fake.admin, "unlocked")
        await fake.wait_for_message(is_result, timeout=15)
        await fake.wait_until(lambda: "is ready" in status.content, timeout=15)
        assert "⚠️ Problems" not in await about_fields(fake)


async def test_a_job_that_outlives_its_token_uses_the_channel(
    fake_discord: FakeDiscord, bot_harness: BotHarness, monkeypatch: pytest.MonkeyPatch
):
    fake = fake_discord
    renderer = FakeRenderer()
    renderer.gate.clear()  # the job waits, as behind a long queue
    monkeypatch.setattr(origins_module, "WEBHOOK_LIFETIME_S", 0.5)
    async with bot_harness.running(renderer):
        interaction, status = await riff(fake, fake.member, "patience")
        # The bot has read back its status message (it edits it by id from now on).
        await fake.wait_until(
            lambda: any(
                r.method == "GET" and r.path.endswith("/messages/@original") for r in fake.requests
            ),
            what="the status read back",
        )
        fake.expire_token(interaction)  # any use of the token now fails, as after 15 minutes
        fake.advance_time(15 * 60)
        await fake.wait_until(lambda: renderer.started.is_set(), timeout=10)
        await asyncio.sleep(0.6)  # the bot's own clock: past WEBHOOK_LIFETIME_S
        expired_at = len(fake.requests)
        renderer.gate.set()
        result = await fake.wait_for_message(is_result, timeout=15)
        await fake.wait_until(lambda: "is ready" in status.content, timeout=15)
        assert result.webhook_id is None and result.channel_id == fake.general.id
        later = fake.requests[expired_at:]
        assert not [r for r in later if r.path.startswith("/webhooks/")], later
        edits = [r for r in later if r.method == "PATCH" and "/messages/" in r.path]
        assert edits and all(r.path.startswith("/channels/") for r in edits)
