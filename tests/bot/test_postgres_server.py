"""The test PostgreSQL itself (tests/fixtures/postgres.py): what other tests rely on.

It is the wheel's PostgreSQL 18, never run as root, tuned for tests, and its URLs work from
other processes too (bot and worker subprocesses connect to the same database).
"""

from __future__ import annotations

import os
import subprocess
import sys

import asyncpg
from sqlalchemy import text

from bot.store.db import open_database
from tests.conftest import REPO_ROOT
from tests.fixtures.postgres import PostgresServer

CHILD = """
import asyncio, sys
from sqlalchemy import text
from bot.store.db import Database

async def main():
    db = Database(sys.argv[1])
    async with db.session() as session:
        await session.execute(text("INSERT INTO command_sync VALUES ('child', 'h', now())"))
    await db.close()

asyncio.run(main())
"""


async def test_each_test_gets_its_own_empty_database_other_processes_can_reach(
    postgres_server: PostgresServer, postgres_url: str
):
    assert postgres_url.startswith("postgresql+asyncpg://postgres@/test_")
    assert f"?host={postgres_server.socket_dir}" in postgres_url
    raw = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(raw)
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname='public'") == 0
        assert (await conn.fetchval("SHOW server_version")).startswith("18.")
        assert await conn.fetchval("SHOW fsync") == "off"
        assert await conn.fetchval("SHOW max_connections") == "200"
        # The server process is not root's (PostgreSQL refuses root; under root it runs as
        # the unprivileged embedded_postgres user).
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        assert os.stat(f"/proc/{pid}").st_uid != 0
    finally:
        await conn.close()

    db = await open_database(postgres_url)  # migrations run on it, as at the bot's start
    try:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        subprocess.run([sys.executable, "-c", CHILD, postgres_url], env=env, check=True, timeout=60)
        async with db.session() as session:
            scopes = list(await session.scalars(text("SELECT scope FROM command_sync")))
        assert scopes == ["child"]
    finally:
        await db.close()


async def test_databases_are_dropped_after_their_test(postgres_server: PostgresServer):
    name = postgres_server.create_database()
    postgres_server.drop_database(name)
    conn = await asyncpg.connect(postgres_server.url("postgres", driver="postgresql"))
    try:
        listed = [r[0] for r in await conn.fetch("SELECT datname FROM pg_database")]
    finally:
        await conn.close()
    assert "postgres" in listed
    assert [n for n in listed if n.startswith("test_")] == []  # earlier tests' are gone too
