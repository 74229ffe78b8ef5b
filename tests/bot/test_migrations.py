"""The schema moves forward without losing data, and stays portable to PostgreSQL.

A database written by the first release (revision 0001) is upgraded by starting the bot: its
favourite, its result's buttons and its queued job all keep working. Every revision is walked
with the rows its release wrote, down and up again. These run on SQLite and on a real PostgreSQL
(tests/fixtures/postgres.py); the migrations are also rendered as PostgreSQL SQL (offline mode),
and the models and the queries the bot runs compile for that dialect.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from alembic import command
from alembic.script import ScriptDirectory
from PIL import Image
from sqlalchemy import JSON, BigInteger, bindparam, select, text
from sqlalchemy.dialects import postgresql

from bot.store import records, retention
from bot.store.db import Database, alembic_config
from bot.store.models import Base, Favourite, Generation, Job
from bot.store.server_models import GuildSettings  # noqa: F401  (its tables share Base.metadata)
from riffusion_core.audio import encode_mp3, encode_wav, samples_to_segment
from tests.conftest import REPO_ROOT
from tests.fakediscord import FakeDiscord
from tests.fixtures.bot import BotHarness, FakeRenderer, is_result
from tests.fixtures.postgres import advance_sequences

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
    fake_discord: FakeDiscord, bot_harness: BotHarness, database_url: str
):
    fake = fake_discord
    bot_harness.database_url = database_url
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
        await advance_sequences(conn, "generations", "favourites", "jobs")
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


async def test_done_jobs_of_earlier_releases_become_delivered(database_url: str):
    db = Database(database_url)
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


BIG = 2**60  # a snowflake-sized id: 64-bit columns or bust
# Rows each release wrote, in its own schema, before the next migration ran: (revision, SQL).
ROWS_PER_REVISION = [
    (
        "0001",
        """INSERT INTO generations (id, kind, user_id, guild_id, channel_id, message_id, prompt,
            seed, steps, guidance, denoising, width, duration_s, extra, model, created_at)
           VALUES (1, 'riff', :big, :big, :big, :big, 'first', :big, 3, 7.0, 0.75, 512, 5.0,
            '{"clips": 1}', 'm', '2026-11-01 10:00:00')""",
    ),
    (
        "0001",
        """INSERT INTO favourites (id, user_id, generation_id, created_at)
           VALUES (1, :big, 1, '2026-11-01 10:05:00')""",
    ),
    (
        "0001",
        """INSERT INTO jobs (id, kind, state, user_id, params, generation_id, created_at)
           VALUES (1, 'riff', 'done', :big, '{"prompt": "first"}', 1, '2026-11-01 09:59:00')""",
    ),
    (
        "0002",
        """INSERT INTO generations (id, kind, parent_id, user_id, message_id, prompt, seed,
            steps, guidance, denoising, width, duration_s, extra, model, created_at)
           VALUES (2, 'reroll', 1, :big, 77, 'second', 2, 3, 7.0, 0.75, 512, 5.0, '{}', 'm',
            '2026-11-02 10:00:00')""",
    ),
    (
        "0003",
        """INSERT INTO guild_settings (guild_id, allowed_channels, blocked_words,
            blocked_patterns, paused, paused_by, max_steps, updated_at)
           VALUES (:big, '[5, 6]', '["loud"]', '[]', TRUE, :big, 20, '2026-11-03 10:00:00')""",
    ),
    (
        "0003",
        """INSERT INTO user_settings (user_id, results_by_dm, extra, updated_at)
           VALUES (:big, TRUE, '{}', '2026-11-03 10:00:00')""",
    ),
    ("0004", "UPDATE user_settings SET steps = 30, private_status = FALSE"),
    (
        "0005",
        """INSERT INTO jobs (id, kind, state, user_id, params, task, attempts,
            parent_generation_id, created_at)
           VALUES (2, 'variation', 'queued', :big, '{"prompt": "second"}',
            '{"type": "render"}', 1, 2, '2026-11-05 10:00:00')""",
    ),
    ("0006", "UPDATE user_settings SET blend_seed_image = 'none', denoising = 0.5"),
]


async def test_every_migration_from_0001_keeps_the_rows_written_before_it(database_url: str):
    """Each revision in turn, with the rows its release wrote, then the bot's reads and writes
    on the result; and all the way down and up again (downgrades work on both databases)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from bot.policy import user_settings
    from bot.store import library, settings_rows

    db = Database(database_url)
    try:
        for revision, sql in ROWS_PER_REVISION:
            await db.migrate(revision)
            async with db.engine.begin() as conn:
                await conn.execute(text(sql), {"big": BIG})
        async with db.engine.begin() as conn:
            await advance_sequences(conn, "generations", "favourites", "jobs")
        await db.migrate()

        [job] = await records.unfinished_jobs(db)
        assert (job.id, job.kind, job.task, job.attempts) == (2, "variation", {"type": "render"}, 1)
        assert job.created_at.tzinfo is not None or db.engine.dialect.name == "sqlite"
        async with db.session() as session:
            states = list(await session.scalars(select(Job.state).order_by(Job.id)))
        assert states == ["delivered", "queued"]
        guild = await settings_rows.guild_settings(db, BIG)
        assert guild is not None and guild.paused and guild.paused_by == BIG
        assert (guild.allowed_channels, guild.blocked_words, guild.max_steps) == (
            [5, 6],
            ["loud"],
            20,
        )
        assert await settings_rows.paused_guilds(db) == [BIG]
        assert await user_settings.load(db, BIG) == user_settings.UserDefaults(
            steps=30,
            private_status=False,
            results_by_dm=True,
            blend_seed_image="none",
            denoising=0.5,
        )
        page = await library.load_page(db, "fav", BIG, 0)
        assert [g.id for g in page.entries] == [1] and page.entries[0].extra == {"clips": 1}
        assert page.entries[0].seed == BIG
        found = await records.generation_by_message(db, 77)
        assert found is not None and found.parent_id == 1
        # New rows take ids after the old ones.
        assert await records.toggle_favourite(db, BIG, 2) == (True, 2)
        new_job = await records.create_job(
            db,
            kind="riff",
            user_id=BIG,
            guild_id=None,
            channel_id=None,
            params={},
            parent_generation_id=None,
        )
        assert new_job == 3

        def down_and_up(connection) -> list:
            config = alembic_config(database_url)
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
            command.upgrade(config, "head")
            return compare_metadata(MigrationContext.configure(connection), Base.metadata)

        async with db.engine.begin() as conn:
            assert await conn.run_sync(down_and_up) == []
        assert await records.unfinished_jobs(db) == []
    finally:
        await db.close()


MIGRATE_AT_START = """
import asyncio, sys
from bot.store.db import open_database

async def main():
    db = await open_database(sys.argv[1])
    await db.close()

asyncio.run(main())
"""


def test_processes_starting_together_migrate_one_at_a_time(postgres_url: str):
    """Shards and workers start at once, each migrating an empty PostgreSQL database at start:
    one migrates, the others wait for it and find the schema current (none crashes)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE_AT_START, postgres_url],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    failures = [p.stderr.read()[-800:] for p in processes if p.wait(120) != 0 and p.stderr]
    assert failures == []


OLD_BLEND_ROW = """INSERT INTO generations (id, kind, parent_id, user_id, guild_id, channel_id,
    message_id, image_attachment_id, audio_attachment_id, prompt, negative_prompt, seed,
    seed_image, steps, guidance, denoising, width, duration_s, extra, model, audio_duration_s,
    mp3_bitrate_kbps, elapsed_s, image_file, audio_file, created_at, deleted_at)
   VALUES (1, 'blend', NULL, :user, :guild, :channel, :message, 11, 12, 'old rock', NULL, 5,
    NULL, 3, 7.0, 0.75, 512, 9.97, :extra, 'riffusion/riffusion-model-v1', 9.97, 192, 1.5,
    'generations/1.png', 'generations/1.mp3', '2026-11-30 10:00:00.000000', NULL)"""


async def test_a_blend_from_before_seed_images_stays_text_only(
    fake_discord: FakeDiscord, bot_harness: BotHarness, database_url: str
):
    """Blends were text to audio until /blend started from a seed image; their rows have no
    seed image. After the upgrade their Info, copy-paste command, Reroll seeds and Pick a clip
    say and do text only, so they still sound like their parent."""
    fake = fake_discord
    bot_harness.database_url = database_url
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
            text(OLD_BLEND_ROW).bindparams(bindparam("extra", type_=JSON)),
            {
                "user": fake.member.id,
                "guild": fake.guild.id,
                "channel": channel.id,
                "message": old.id,
                "extra": extra,
            },
        )
        await advance_sequences(conn, "generations")
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
