"""Settings validation, the database migrations and file storage."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from PIL import Image
from sqlalchemy import select, text

from bot.config import MISSING_TOKEN_MESSAGE, SettingsError, load_settings
from bot.store.db import open_database
from bot.store.files import Storage
from bot.store.models import Base, Favourite, Generation, Job

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE.fake-token-for-tests_0123456789abcdef"


def test_missing_token_says_how_to_get_one():
    with pytest.raises(SettingsError) as info:
        load_settings({}, dotenv_path=None)
    assert info.value.problems == [MISSING_TOKEN_MESSAGE]
    assert "discord.com/developers/applications" in MISSING_TOKEN_MESSAGE
    assert ".env" in MISSING_TOKEN_MESSAGE and "\n" not in MISSING_TOKEN_MESSAGE


def test_every_problem_is_reported_once_per_line():
    env = {
        "DISCORD_TOKEN": "Bot abc",
        "MAX_JOBS_PER_USER": "lots",
        "JOB_TIMEOUT_S": "0",
        "DISCORD_API_BASE": "ftp://x",
        "DISCORD_GUILD_ID": "-4",
    }
    with pytest.raises(SettingsError) as info:
        load_settings(env, dotenv_path=None)
    problems = info.value.problems
    assert len(problems) == 5
    assert any("without the 'Bot ' prefix" in p for p in problems)
    assert any(p.startswith("MAX_JOBS_PER_USER must be a whole number") for p in problems)
    assert all("\n" not in p for p in problems)


def test_settings_from_dotenv_with_environment_winning(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"DISCORD_TOKEN={TOKEN}\nMAX_JOBS_PER_USER=7\nDATA_DIR={tmp_path}/d\n")
    settings = load_settings(
        {
            "MAX_JOBS_PER_USER": "2",
            "DISCORD_GUILD_ID": "42",
            "DISCORD_API_BASE": "http://127.0.0.1:1/api/v10/",
        },
        dotenv_path=dotenv,
    )
    assert settings.discord_token == TOKEN
    assert settings.max_jobs_per_user == 2
    assert settings.guild_id == 42
    assert settings.api_base == "http://127.0.0.1:1/api/v10"
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.effective_database_url.endswith("/d/riffusion.db")
    assert TOKEN not in repr(settings)


POSTGRES = {
    "GENERATION_QUEUE": "postgres",
    "DATABASE_URL": "postgresql+asyncpg://bot:secret@db.internal/riffusion",
}


@pytest.mark.parametrize(
    ("env", "shard_count", "shard_ids"),
    [
        ({}, None, None),
        ({"SHARD_COUNT": "auto"}, 0, None),
        ({"SHARD_COUNT": " AUTO "}, 0, None),
        ({"SHARD_COUNT": "4"}, 4, None),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "3, 1,1", **POSTGRES}, 4, (1, 3)),
    ],
)
def test_shard_settings(env, shard_count, shard_ids):
    settings = load_settings({"DISCORD_TOKEN": TOKEN, **env}, dotenv_path=None)
    assert (settings.shard_count, settings.shard_ids) == (shard_count, shard_ids)


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"SHARD_COUNT": "two"}, "SHARD_COUNT must be auto or a whole number >= 1 (got 'two')."),
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT must be auto or a whole number >= 1 (got '0')."),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0;1", **POSTGRES}, "SHARD_IDS must be shard numbers"),
        ({"SHARD_IDS": "0", **POSTGRES}, "SHARD_IDS needs SHARD_COUNT set to the total number"),
        ({"SHARD_COUNT": "auto", "SHARD_IDS": "0", **POSTGRES}, "SHARD_IDS needs SHARD_COUNT"),
        (
            {"SHARD_COUNT": "2", "SHARD_IDS": "1,2", **POSTGRES},
            "SHARD_IDS must be below SHARD_COUNT (2); got 1, 2.",
        ),
        (
            {"SHARD_COUNT": "2", "SHARD_IDS": "0"},
            "SHARD_IDS (several bot processes) needs GENERATION_QUEUE=postgres",
        ),
    ],
)
def test_shard_settings_that_cannot_work_are_one_line_each(env, problem):
    with pytest.raises(SettingsError) as info:
        load_settings({"DISCORD_TOKEN": TOKEN, **env}, dotenv_path=None)
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(problem)


def test_python_m_bot_exits_2_on_shard_ids_without_the_postgres_queue(tmp_path):
    """Several bot processes (SHARD_IDS) on one machine's local queue: refused before start."""
    env = {"PYTHONPATH": str(ROOT), "DISCORD_TOKEN": TOKEN, "SHARD_COUNT": "2", "SHARD_IDS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: SHARD_IDS (several bot processes) needs GENERATION_QUEUE=postgres: the "
        "processes share one queue and one database."
    ]


async def test_migrations_create_the_schema_models_describe(database_url: str):
    db = await open_database(database_url)
    await db.migrate()  # idempotent: every start runs it
    async with db.engine.connect() as conn:
        if db.engine.dialect.name == "sqlite":
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
        diffs = await conn.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
        )
    assert diffs == [], "models.py and the migrations disagree: add a migration"
    await db.close()


async def test_generations_favourites_and_jobs_round_trip(database_url: str):
    db = await open_database(database_url)
    async with db.session() as session:
        parent = Generation(
            kind="riff",
            user_id=2**60,
            guild_id=1,
            channel_id=2,
            prompt="jazz",
            seed=7,
            steps=10,
            guidance=7.0,
            denoising=0.75,
            duration_s=5.0,
            model="tiny",
        )
        session.add(parent)
        await session.flush()
        child = Generation(
            kind="reroll",
            parent_id=parent.id,
            user_id=5,
            prompt="jazz",
            seed=8,
            steps=10,
            guidance=7.0,
            denoising=0.75,
            duration_s=5.0,
            model="tiny",
            extra={"note": "x"},
        )
        session.add_all(
            [
                child,
                Favourite(user_id=5, generation_id=parent.id),
                Job(kind="riff", user_id=5, params={"prompt": "jazz"}),
            ]
        )
    async with db.session() as session:
        rows = (await session.scalars(select(Generation).order_by(Generation.id))).all()
        assert [g.kind for g in rows] == ["riff", "reroll"]
        assert rows[0].user_id == 2**60 and rows[1].parent_id == rows[0].id
        assert rows[1].extra == {"note": "x"}
        assert rows[0].jump_url() is None
        job = (await session.scalars(select(Job))).one()
        assert job.state == "queued"
        # Deleting a generation removes its favourites (foreign keys are on).
        await session.delete(rows[0])
    async with db.session() as session:
        assert (await session.scalars(select(Favourite))).all() == []
        assert (await session.get(Generation, rows[1].id)).parent_id is None
    await db.close()


def test_storage_names_files_by_id_only(tmp_path):
    storage = Storage(tmp_path)
    image = Image.new("RGB", (8, 8), "white")
    exif = image.getexif()
    exif[11000] = 44100
    rel = storage.save_image(12, image)
    assert rel == "generations/12.png"
    assert Image.open(storage.path(rel)).getexif()[11000] == 44100
    assert storage.save_bytes(12, ".mp3", b"ID3") == "generations/12.mp3"
    assert storage.read_bytes("generations/12.mp3") == b"ID3"
    with pytest.raises(ValueError):
        storage.path("../../etc/passwd")
    with pytest.raises(ValueError):
        storage.save_bytes(1, "/../x.sh", b"")
    storage.delete(rel)
    assert not storage.path(rel).exists()


def test_env_example_documents_every_setting_the_bot_reads():
    """Every variable bot/config.py reads is in .env.example, and nothing stale is left there."""
    source = (ROOT / "bot" / "config.py").read_text()
    read = {
        arg.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        for arg in node.args
        if isinstance(arg, ast.Constant)
        and isinstance(arg.value, str)
        and re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+", arg.value)
    }
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert "DISCORD_TOKEN" in read and "MAX_UPLOAD_MB" in read  # the scan sees the settings
    assert read == documented


def test_the_postgres_queue_needs_a_postgresql_database():
    with pytest.raises(SettingsError) as info:
        load_settings({"DISCORD_TOKEN": TOKEN, "GENERATION_QUEUE": "postgres"}, dotenv_path=None)
    assert info.value.problems == [
        "GENERATION_QUEUE=postgres needs a PostgreSQL DATABASE_URL "
        "(postgresql+asyncpg://user:password@host/database): workers on other machines share "
        "the queue through it."
    ]
    with pytest.raises(SettingsError) as info:
        load_settings({"DISCORD_TOKEN": TOKEN, "GENERATION_QUEUE": "redis"}, dotenv_path=None)
    assert info.value.problems == ["GENERATION_QUEUE must be local or postgres (got 'redis')."]
    settings = load_settings({"DISCORD_TOKEN": TOKEN, **POSTGRES}, dotenv_path=None)
    assert settings.shared_queue and "secret" in settings.secrets  # the password is redacted


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"GENERATION_QUEUE": "postgres"}, "error: GENERATION_QUEUE=postgres needs a PostgreSQL"),
        ({}, "error: a GPU worker needs the bot's PostgreSQL DATABASE_URL"),
    ],
)
def test_python_m_bot_and_its_worker_exit_2_without_postgresql(tmp_path, env, line):
    """One clear line and exit code 2, for the bot and for a GPU worker (which needs no token)."""
    program = "bot" if env else "bot.worker"
    base = {"PYTHONPATH": str(ROOT), "DISCORD_TOKEN": TOKEN} if env else {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", program],
        cwd=tmp_path,
        env={**base, **env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    [only] = done.stderr.splitlines()
    assert only.startswith(line)
