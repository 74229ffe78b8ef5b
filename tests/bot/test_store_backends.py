"""The store's reads and writes below Discord, on SQLite and on PostgreSQL (`database_url`).

What the e2e tests show over the wire on SQLite: favourites and history pages, the settings of a
server and of a user, the jobs a restart resumes and in which order, and the daily counts.
PostgreSQL differs where SQLite is lenient (zones on datetimes, booleans, 64-bit ids, JSON, the
isolation of concurrent writers), so each runs on both.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest

from bot.config import Settings
from bot.jobs.recovery import resume_order
from bot.policy import user_settings
from bot.policy.rules import COUNTED_STATES, ServerPolicy
from bot.store import library, records, settings_rows
from bot.store.db import Database, open_database
from bot.store.models import Generation, JobState

BIG = 2**62  # a snowflake past 32 bits


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await open_database(database_url)
    yield database
    await database.close()


def generation(user_id: int, prompt: str, **values) -> Generation:
    return Generation(
        kind="riff",
        user_id=user_id,
        prompt=prompt,
        seed=BIG,
        steps=3,
        guidance=7.0,
        denoising=0.75,
        duration_s=5.0,
        model="m",
        **values,
    )


async def test_favourites_and_history_pages(db: Database):
    made = [await records.add_generation(db, generation(BIG, f"tune {n}")) for n in range(7)]
    await records.add_generation(db, generation(BIG + 1, "someone else's"))
    for g in made:
        assert (await records.toggle_favourite(db, BIG, g.id))[0]
    await records.update_generation(db, made[0].id, deleted_at=datetime.now(timezone.utc))

    history = await library.load_page(db, "hist", BIG, 0)
    assert history.total == 6 and history.pages == 2
    assert [g.prompt for g in history.entries] == [f"tune {n}" for n in (6, 5, 4, 3, 2)]
    last = await library.load_page(db, "hist", BIG, 9)  # clamped to the last page
    assert last.page == 1 and [g.prompt for g in last.entries] == ["tune 1"]

    favourites = await library.load_page(db, "fav", BIG, 1)
    assert favourites.total == 7 and [g.id for g in favourites.entries] == [made[1].id, made[0].id]
    assert await library.favourite_ids(db, BIG, [made[0].id, 999]) == {made[0].id}
    assert await library.remove_favourite(db, BIG, made[0].id)
    assert not await library.remove_favourite(db, BIG, made[0].id)
    assert await records.toggle_favourite(db, BIG, made[1].id) == (False, 5)
    assert await records.favourite_count(db, made[2].id) == 1
    assert await records.latest_playable(db, BIG) is None  # no audio files recorded
    await records.update_generation(db, made[3].id, audio_file="generations/4.mp3")
    assert await records.latest_playable(db, BIG) == made[3].id


async def test_server_and_user_settings(db: Database):
    policy = ServerPolicy(Settings(discord_token="t"), db)
    assert await settings_rows.guild_settings(db, BIG) is None
    rules = await policy.update(BIG, allowed_channels=[BIG, 5], blocked_words=["loud"])
    rules = await policy.update(BIG, paused=True, paused_by=BIG, max_duration_s=12.5)
    assert rules.allowed_channels == (BIG, 5) and rules.paused and rules.paused_by == BIG
    assert await policy.settings_row(BIG) == {
        "allowed_channels": [BIG, 5],
        "blocked_words": ["loud"],
        "blocked_patterns": [],
    }
    await policy.update(BIG + 1, paused=False)
    assert await ServerPolicy(policy.settings, db).restore_pauses() == [BIG]
    assert (await ServerPolicy(policy.settings, db).rules(BIG)).max_duration_s == 12.5

    assert await user_settings.load(db, BIG) == user_settings.UserDefaults()
    saved = await user_settings.save(db, BIG, steps=30, results_by_dm=1, private_status=False)
    assert (saved.steps, saved.results_by_dm, saved.private_status) == (30, True, False)
    await user_settings.save(db, BIG, negative_prompt="hiss", denoising=0.4)
    assert (await user_settings.load(db, BIG)).negative_prompt == "hiss"
    reset = await user_settings.reset(db, BIG, ["steps", "private_status"])
    assert (reset.steps, reset.private_status, reset.denoising) == (None, None, 0.4)
    row = await settings_rows.user_settings(db, BIG)
    assert (row is not None and row.updated_at.tzinfo is not None) or db.engine.dialect.name == (
        "sqlite"
    )


async def test_jobs_left_behind_resume_in_the_queue_order(db: Database):
    """Recovery: jobs of a stopped run come back from their rows in the turns they had."""

    async def job(user: int) -> int:
        return await records.create_job(
            db,
            kind="riff",
            user_id=user,
            guild_id=BIG,
            channel_id=BIG,
            params={"prompt": "p"},
            parent_generation_id=None,
            task={"type": "render"},
        )

    first = await job(BIG)
    waiting = [await job(BIG), await job(BIG + 1), await job(BIG)]
    done = await job(BIG + 2)
    await records.mark_started(db, [first, done])
    await records.update_job(db, done, state=JobState.RENDERED)
    await records.update_job(db, done, state=JobState.DELIVERED)

    left = await records.unfinished_jobs(db)
    assert [j.id for j in left] == [first, *waiting]
    assert [j.attempts for j in left] == [1, 0, 0, 0] and left[1].task == {"type": "render"}
    starts = await records.last_starts(db, [BIG, BIG + 1, BIG + 2])
    assert set(starts) == {BIG, BIG + 2} and all(s.tzinfo is not None for s in starts.values())
    order = resume_order(left, starts)
    # The running job first; user BIG was just served, so BIG + 1's turn comes before theirs.
    assert [j.id for j in order] == [first, waiting[1], waiting[0], waiting[2]]

    today = await records.jobs_since(
        db, BIG, datetime.now(timezone.utc) - timedelta(hours=1), COUNTED_STATES, BIG
    )
    assert today == 3
    tomorrow = datetime.now(timezone.utc) + timedelta(days=1)
    assert await records.jobs_since(db, BIG, tomorrow, COUNTED_STATES) == 0
    assert await records.generation_counts(db) == (0, 0)


async def test_concurrent_writers(db: Database):
    """Many sessions at once (the pool, and PostgreSQL's row locks) lose no update."""
    made = await records.add_generation(db, generation(BIG, "popular"))
    await asyncio.gather(*(records.toggle_favourite(db, user, made.id) for user in range(40)))
    assert await records.favourite_count(db, made.id) == 40
    jobs = await asyncio.gather(
        *(
            records.create_job(
                db,
                kind="riff",
                user_id=user,
                guild_id=None,
                channel_id=None,
                params={},
                parent_generation_id=None,
            )
            for user in range(20)
        )
    )
    assert sorted(jobs) == list(range(1, 21))
