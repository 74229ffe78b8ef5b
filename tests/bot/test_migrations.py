"""The schema moves forward without losing data, and stays portable to PostgreSQL.

A database written by the first release (revision 0001) is upgraded by starting the bot: its
favourite, its result's buttons and its queued job all keep working. The migrations are also
rendered as PostgreSQL SQL (offline mode; there is no server here), and the models and the
queries the bot runs compile for that dialect.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import numpy as np
from alembic import command
from alembic.script import ScriptDirectory
from PIL import Image
from sqlalchemy import BigInteger, select, text
from sqlalchemy.dialects import postgresql

from bot.store import records, retention
from bot.store.db import Database, alembic_config
from bot.store.models import Base, Favourite, Generation, Job
from bot.store.server_models import GuildSettings  # noqa: F401  (its tables share Base.metadata)
from riffusion_core.audio import encode_mp3, encode_wav, samples_to_segment
from tests.fakediscord import FakeDiscord
from tests.fixtures.bot import BotHarness, FakeRenderer, is_result

# The newest migration: every database is upgraded to it at start.
HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()

POSTGRES_URL = "postgresql+asyncpg://bot:secret@db.invalid/riffusion"
# Columns holding Discord snowflakes: 64-bit, or PostgreSQL refuses ids past 2**31.
SNOWFLAKES = {
    "user_id",
    "guild_id",
    "channel_id",
    "message_id",
    "status_message_id",
    "image_attachment_id",
    "audio_attachment_id",
    "paused_by",
}


def postgres_sql(revision: str = "head") -> str:
    cfg = alembic_config(POSTGRES_URL)
    cfg.output_buffer = io.StringIO()
    command.upgrade(cfg, revision, sql=True)
    return cfg.output_buffer.getvalue()


def test_migrations_render_for_postgresql():
    sql = postgres_sql()
    for table in ("generations", "favourites", "jobs", "command_sync", "guild_settings"):
        assert f"CREATE TABLE {table} " in sql
    assert "ALTER TABLE jobs ADD COLUMN task JSON" in sql
    assert "ALTER TABLE jobs ADD COLUMN attempts INTEGER DEFAULT 0 NOT NULL" in sql
    assert "BIGINT" in sql and "SERIAL" in sql  # autoincrement ids, 64-bit snowflakes
    assert "ALTER TABLE user_settings ADD COLUMN blend_seed_image VARCHAR(200)" in sql
    assert "ALTER TABLE user_settings ADD COLUMN denoising FLOAT" in sql
    assert "_alembic_tmp" not in sql and "sqlite" not in sql.lower()  # no SQLite batch copies
    assert sql.rstrip().endswith("COMMIT;") and f"version_num='{HEAD}'" in sql
    assert "UPDATE jobs SET state = 'delivered' WHERE state = 'done'" in sql
    assert "blend_seed_image" in sql  # /blend's own seed-image default


def test_models_and_queries_compile_for_postgresql():
    dialect = postgresql.asyncpg.dialect()
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if column.name in SNOWFLAKES:
                assert isinstance(column.type, BigInteger), f"{table.name}.{column.name}"
    from sqlalchemy.schema import CreateTable

    for table in Base.metadata.sorted_tables:
        assert "CREATE TABLE" in str(CreateTable(table).compile(dialect=dialect))
    queries = [
        retention.prunable(retention.datetime.now(retention.timezone.utc)),
        select(Job).where(Job.state.in_(["queued", "running"])).order_by(Job.created_at),
    ]
    for query in queries:
        compiled = str(query.compile(dialect=dialect))
        assert "EXISTS" in compiled or "jobs" in compiled
    # The engine is built without connecting, and with no SQLite-only setup.
    db = Database(POSTGRES_URL)
    assert db.engine.dialect.name == "postgresql" and db.engine.dialect.driver == "asyncpg"


FIRST_RELEASE_ROWS = [
    """INSERT INTO generations (id, kind, parent_id, user_id, guild_id, channel_id, message_id,
        image_attachment_id, audio_attachment_id, prompt, negative_prompt, seed, seed_image,
        steps, guidance, denoising, width, duration_s, extra, model, audio_duration_s,
        mp3_bitrate_kbps, elapsed_s, image_file, audio_file, created_at, deleted_at)
       VALUES (1, 'riff', NULL, :user, :guild, :channel, :message, 11, 12, 'old jazz', NULL,
        77, NULL, 3, 7.0, 0.75, 512, 5.11, '{"clips": 1, "master": "generations/1.wav"}',
        'riffusion/riffusion-model-v1', 5.11, 192, 1.5, 'generations/1.png',
        'generations/1.mp3', '2026-11-01 10:00:00.000000', NULL)""",
    """INSERT INTO favourites (id, user_id, generation_id, created_at)
       VALUES (1, :user, 1, '2026-11-01 10:05:00.000000')""",
    """INSERT INTO jobs (id, kind, state, user_id, guild_id, channel_id, status_message_id,
        params, parent_generation_id, generation_id, error, created_at, started_at, finished_at)
       VALUES (1, 'riff', 'done', :user, :guild, :channel, NULL, '{"prompt": "old jazz"}',
        NULL, 1, NULL, '2026-11-01 09:59:00.000000', '2026-11-01 09:59:01.000000',
        '2026-11-01 10:00:00.000000')""",
    """INSERT INTO jobs (id, kind, state, user_id, guild_id, channel_id, status_message_id,
        params, parent_generation_id, generation_id, error, created_at, started_at, finished_at)
       VALUES (2, 'reroll', 'queued', :user, :guild, :channel, :status,
        '{"prompt": "old jazz", "seed": 78, "steps": 3, "duration_s": 5.11}', 1, NULL, NULL,
        '2026-11-01 10:06:00.000000', NULL, NULL)""",
]


async def test_a_database_from_the_first_release_is_upgraded_and_keeps_working(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    channel = fake.general
    result_ids = [f"riff:{a}:1" for a in ("reroll", "variation", "extend", "fav", "info", "delete")]
    old_result = fake.state.create_message(
        channel,
        fake.bot_user,
        {
            "content": f"{fake.member.mention} Riff: **old jazz**",
            "components": [
                {
                    "type": 1,
                    "components": [
                        {"type": 2, "style": 2, "label": cid, "custom_id": cid}
                        for cid in result_ids[:5]
                    ],
                }
            ],
        },
        [],
    )
    status = fake.state.create_message(
        channel,
        fake.bot_user,
        {
            "content": "🎵 Reroll: **old jazz**: next in line.",
            "components": [
                {
                    "type": 1,
                    "components": [
                        {"type": 2, "style": 2, "label": "Cancel", "custom_id": "riff:cancel:2"}
                    ],
                }
            ],
        },
        [],
    )
    folder = bot_harness.data_dir / "generations"
    folder.mkdir(parents=True)
    tone = samples_to_segment(
        (8000 * np.sin(np.arange(44100 * 5) * 2 * np.pi * 330 / 44100))[None, :].astype("f4")
    )
    Image.new("RGB", (512, 512), (90, 90, 90)).save(folder / "1.png")
    (folder / "1.mp3").write_bytes(encode_mp3(tone))
    (folder / "1.wav").write_bytes(encode_wav(tone))

    db = Database(bot_harness.settings().effective_database_url)
    await db.migrate("0001")
    async with db.engine.begin() as conn:
        for sql in FIRST_RELEASE_ROWS:
            await conn.execute(
                text(sql),
                {
                    "user": fake.member.id,
                    "guild": fake.guild.id,
                    "channel": channel.id,
                    "message": old_result.id,
                    "status": status.id,
                },
            )
    await db.close()

    async with bot_harness.running(FakeRenderer()) as bot:
        # The queued reroll was resumed: its status shows its place again, then its result.
        reroll = await fake.wait_for_message(
            lambda m: is_result(m) and "Reroll" in m.content, timeout=15
        )
        assert f"/{old_result.id})" in reroll.content and "old jazz" in reroll.content
        await fake.wait_until(lambda: "is ready" in status.content, what="status finished")
        info = await fake.click(old_result, "riff:info:1", fake.member)
        text_ = (await fake.response_message(info)).content
        assert "seed:77" in text_ and "Favourites: 1" in text_
        variation = await fake.click(old_result, "riff:variation:1", fake.member)
        variation_status = await fake.response_message(variation)
        await fake.wait_for_message(lambda m: is_result(m) and "Variation" in m.content, timeout=15)
        # Its status says "ready" once the job is recorded as delivered (after the post).
        await fake.wait_until(lambda: "is ready" in variation_status.content, what="delivered")
        async with bot.services.db.session() as session:
            favourites = list(await session.scalars(select(Favourite)))
            version = (
                await session.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar()
        assert [(f.user_id, f.generation_id) for f in favourites] == [(fake.member.id, 1)]
        assert version == HEAD
        unfav = await fake.click(old_result, "riff:fav:1", fake.member)
        assert (
            "Removed #1 from your favourites (you have 0)"
            in (await fake.response_message(unfav)).content
        )
        # The Variation's job is marked done just after its result is posted: give it a moment.
        for _ in range(100):
            jobs = await records.unfinished_jobs(bot.services.db)
            if not jobs:
                break
            await asyncio.sleep(0.05)
        assert jobs == []
    assert Path(bot_harness.data_dir / "generations" / "1.mp3").is_file()


async def test_done_jobs_of_earlier_releases_become_delivered(tmp_path: Path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/old.db")
    try:
        await db.migrate("0006")
        async with db.session() as session:
            for state in ("done", "queued", "failed"):
                await session.execute(
                    text(
                        "INSERT INTO jobs (kind, state, user_id, params, attempts, created_at) "
                        "VALUES ('riff', :state, 1, '{}', 1, CURRENT_TIMESTAMP)"
                    ),
                    {"state": state},
                )
        await db.migrate()
        async with db.session() as session:
            states = list(await session.scalars(select(Job.state).order_by(Job.id)))
        assert states == ["delivered", "queued", "failed"]
    finally:
        await db.close()


OLD_BLEND_ROW = """INSERT INTO generations (id, kind, parent_id, user_id, guild_id, channel_id,
    message_id, image_attachment_id, audio_attachment_id, prompt, negative_prompt, seed,
    seed_image, steps, guidance, denoising, width, duration_s, extra, model, audio_duration_s,
    mp3_bitrate_kbps, elapsed_s, image_file, audio_file, created_at, deleted_at)
   VALUES (1, 'blend', NULL, :user, :guild, :channel, :message, 11, 12, 'old rock', NULL, 5,
    NULL, 3, 7.0, 0.75, 512, 9.97, :extra, 'riffusion/riffusion-model-v1', 9.97, 192, 1.5,
    'generations/1.png', 'generations/1.mp3', '2026-11-30 10:00:00.000000', NULL)"""


async def test_a_blend_from_before_seed_images_stays_text_only(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    """Blends were text to audio until /blend started from a seed image; their rows have no
    seed image. After the upgrade their Info, copy-paste command, Reroll seeds and Pick a clip
    say and do text only, so they still sound like their parent."""
    fake = fake_discord
    channel = fake.general
    old = fake.state.create_message(
        channel,
        fake.bot_user,
        {
            "content": f"{fake.member.mention} Blend: **old rock** → **old bells** in 2 clips",
            "components": [
                {
                    "type": 1,
                    "components": [
                        {"type": 2, "style": 2, "label": cid, "custom_id": cid}
                        for cid in ("mix:reroll:1", "mix:info:1")
                    ],
                },
                {
                    "type": 1,
                    "components": [
                        {
                            "type": 3,
                            "custom_id": "blend:pick:1:2",
                            "options": [
                                {"label": "Clip 1", "value": "1"},
                                {"label": "Clip 2", "value": "2"},
                            ],
                        }
                    ],
                },
            ],
        },
        [],
    )
    extra = {
        "blend": {"prompt_b": "old bells", "seed_b": 6, "clips": 2, "alphas": [0.0, 1.0]},
        "clips": 2,
    }
    db = Database(bot_harness.settings().effective_database_url)
    await db.migrate("0005")  # the schema as the release before this one left it
    async with db.engine.begin() as conn:
        await conn.execute(
            text(OLD_BLEND_ROW),
            {
                "user": fake.member.id,
                "guild": fake.guild.id,
                "channel": channel.id,
                "message": old.id,
                "extra": json.dumps(extra),
            },
        )
    await db.close()

    async with bot_harness.running(FakeRenderer()) as bot:
        info = await fake.click(old, "mix:info:1", fake.member)
        shown = (await fake.response_message(info)).content
        assert "Seed image: none (text only)" in shown
        assert "seed_b:6 steps:3 seed_image:none" in shown  # pasted, it stays text only

        reroll = await fake.click(old, "mix:reroll:1", fake.member)
        await fake.response_message(reroll)
        await fake.wait_for_message(lambda m: is_result(m) and "Blend" in m.content, timeout=15)
        pick = await fake.click(old, "blend:pick:1:2", fake.member, values=["2"])
        await fake.response_message(pick)
        await fake.wait_for_message(lambda m: is_result(m) and "Clip 2" in m.content, timeout=15)
        async with bot.services.db.session() as session:
            made = list(await session.scalars(select(Generation).where(Generation.id > 1)))
        assert sorted(g.kind for g in made) == ["blend", "blend-clip"]
        assert [g.seed_image for g in made] == [None, None]
        assert all(g.parent_id == 1 and g.prompt == "old rock" for g in made)
