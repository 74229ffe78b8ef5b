"""Old results' files are pruned (favourites and waiting jobs keep theirs), rows stay, and every
button on a pruned result answers clearly. /about and /admin storage report the disk."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from bot.config import SettingsError, load_settings
from bot.store.db import open_database
from bot.store.files import Storage
from bot.store.models import Generation, Job
from bot.store.retention import Retention
from bot.ui.result_buttons import FILES_GONE, PRUNED_NOTE
from bot.ui.text import PRUNED_LINE
from tests.fakediscord import FakeDiscord, Message
from tests.fixtures.bot import BOT_TOKEN, BotHarness, FakeRenderer, generation_id, is_result


async def answer(fake: FakeDiscord, message: Message, action: str) -> str:
    click = await fake.click(message, f"riff:{action}:{generation_id(message)}", fake.member)
    return (await fake.response_message(click)).content


async def test_old_files_are_pruned_except_favourites_and_buttons_say_so(
    fake_discord: FakeDiscord, bot_harness: BotHarness, database_url: str
):
    fake = fake_discord
    bot_harness.database_url = database_url  # SQLite, then PostgreSQL
    async with bot_harness.running(FakeRenderer()):
        made = []
        for prompt in ("favourite", "forgotten", "parent of a waiting job", "recent"):
            await fake.slash(fake.member, "riff", {"prompt": prompt})
            made.append(
                await fake.wait_for_message(
                    lambda m, p=prompt: is_result(m) and p in m.content, timeout=15
                )
            )
        assert "Added" in await answer(fake, made[0], "fav")
    files = sorted((bot_harness.data_dir / "generations").iterdir())
    assert len(files) == 12  # PNG, MP3 and lossless master of each
    forgotten = [p for p in files if p.name.startswith("2.")]
    freed = sum(p.stat().st_size for p in forgotten)

    # Forty days later; and a Variation of #3 was queued (as the first release wrote jobs).
    db = await open_database(bot_harness.settings().effective_database_url)
    old = datetime.now(timezone.utc) - timedelta(days=40)
    async with db.session() as session:
        await session.execute(update(Generation).where(Generation.id <= 3).values(created_at=old))
        session.add(
            Job(
                kind="variation",
                user_id=fake.member.id,
                guild_id=fake.guild.id,
                channel_id=fake.general.id,
                parent_generation_id=3,
                task=None,
                params={
                    "prompt": "parent of a waiting job",
                    "seed": 5,
                    "steps": 3,
                    "denoising": 0.35,
                },
            )
        )
    await db.close()

    async with bot_harness.running(FakeRenderer()) as bot:
        await fake.wait_until(
            lambda: bot.services.retention.last is not None, what="cleanup at start"
        )
        report = bot.services.retention.last
        assert (report.results, report.files, report.bytes) == (1, 3, freed)
        assert not any(p.exists() for p in forgotten)
        variation = await fake.wait_for_message(
            lambda m: is_result(m) and "Variation" in m.content, timeout=15
        )
        assert f"/{made[2].id})" in variation.content  # the waiting job still had its source

        # Every button of the pruned result answers, and says what still works.
        forgotten_msg = made[1]
        assert await answer(fake, forgotten_msg, "variation") == FILES_GONE
        assert await answer(fake, forgotten_msg, "extend") == FILES_GONE
        assert "Reroll still works" in FILES_GONE
        assert PRUNED_LINE in await answer(fake, forgotten_msg, "info")
        assert await answer(fake, forgotten_msg, "fav") == (
            f"⭐ Added #2 to your favourites (you have 2).{PRUNED_NOTE}"
        )
        assert PRUNED_LINE not in await answer(fake, made[0], "info")
        await answer(fake, forgotten_msg, "reroll")
        reroll = await fake.wait_for_message(
            lambda m: is_result(m) and "Reroll" in m.content, timeout=15
        )
        assert f"/{forgotten_msg.id})" in reroll.content

        about = await fake.response_message(await fake.slash(fake.member, "about"), timeout=10)
        fields = {f["name"]: f["value"] for f in about.embeds[0]["fields"]}
        assert "kept 30 days; favourites keep theirs" in fields["Cleanup"]
        assert "freed" in fields["Cleanup"] and "from 1 result(s)" in fields["Cleanup"]
        storage = await fake.response_message(
            await fake.slash(fake.admin, "admin storage"), timeout=10
        )
        assert storage.ephemeral and "**Disk used:**" in storage.content
        assert "**Results with files:** 5, of which 1 favourited" in storage.content
        with pytest.raises(PermissionError):
            await fake.slash(fake.member, "admin storage")

    db = await open_database(bot_harness.settings().effective_database_url)
    async with db.session() as session:
        rows = {g.id: g for g in await session.scalars(select(Generation))}
    await db.close()
    assert rows[2].image_file is None and rows[2].audio_file is None
    assert "master" not in rows[2].extra and rows[2].prompt == "forgotten"  # the row stays
    for kept in (1, 3, 4):
        assert (bot_harness.data_dir / rows[kept].audio_file).is_file()
        assert (bot_harness.data_dir / rows[kept].extra["master"]).is_file()


async def test_retention_zero_keeps_files_forever(bot_harness: BotHarness, database_url: str):
    bot_harness.database_url = database_url
    settings = bot_harness.settings(RETENTION_DAYS="0")
    db = await open_database(settings.effective_database_url)
    storage = Storage(settings.data_dir)
    try:
        (storage.folder / "1.mp3").write_bytes(b"x" * 10)
        async with db.session() as session:
            session.add(
                Generation(
                    kind="riff",
                    user_id=1,
                    prompt="p",
                    seed=1,
                    steps=2,
                    guidance=7,
                    denoising=0.75,
                    duration_s=5,
                    model="m",
                    audio_file="generations/1.mp3",
                    created_at=datetime(2000, 1, 1, tzinfo=timezone.utc),
                )
            )
        retention = Retention(settings, db, storage)
        assert await retention.run() is None
        assert (storage.folder / "1.mp3").is_file()
        enabled = Retention(bot_harness.settings(RETENTION_DAYS="1"), db, storage)
        report = await enabled.run()
        assert (report.results, report.files, report.bytes) == (1, 1, 10)
        assert (await enabled.usage()).results_with_files == 0
        assert await enabled.run() == enabled.last and enabled.last.results == 0
    finally:
        await db.close()


def test_retention_days_setting():
    base = {"DISCORD_TOKEN": BOT_TOKEN}
    assert load_settings(base, dotenv_path=None).retention_days == 30
    assert load_settings({**base, "RETENTION_DAYS": "0"}, dotenv_path=None).retention_days == 0
    with pytest.raises(SettingsError, match="RETENTION_DAYS"):
        load_settings({**base, "RETENTION_DAYS": "-1"}, dotenv_path=None)


def test_cleanup_loop_is_hourly():
    from cogs.retention import Cleanup

    assert Cleanup.prune.hours == 1
