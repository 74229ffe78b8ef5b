"""GENERATION_QUEUE=postgres over the wire, with real processes: the bot (in this process,
against the fake Discord) sends its jobs through a real PostgreSQL to two `python -m bot.worker`
processes rendering the tiny model on the CPU.

- a burst from several users: started in round-robin order, every result delivered once, even
  though the bot is restarted in the middle of it (running jobs re-attach their status);
- a worker killed with SIGKILL mid-job: another worker re-runs it once its lease ran out, and
  it is delivered once; a job cancelled while a worker renders it stops there.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.store.db import Database, open_database
from bot.store.models import Job, WorkerRow
from tests.conftest import REPO_ROOT
from tests.e2e.test_bot_discord import riff
from tests.fakediscord import FakeDiscord, Message
from tests.fixtures.bot import BotHarness, is_result

QUEUE = {
    "GENERATION_QUEUE": "postgres",
    "POLL_INTERVAL_S": "0.25",
    "LEASE_S": "3",
    "MAX_BATCH_SIZE": "2",
    "MAX_STEPS": "60",
    "DEFAULT_STEPS": "3",
}


class Workers:
    """`python -m bot.worker` processes on one database, their output in log files."""

    def __init__(self, url: str, model_dir: Path, folder: Path) -> None:
        self.url = url
        self.model_dir = model_dir
        self.folder = folder
        self.processes: list[subprocess.Popen[bytes]] = []

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "RIFFUSION_"))}
        env.update(
            {
                **QUEUE,
                "PYTHONPATH": str(REPO_ROOT),
                "HF_HUB_OFFLINE": "1",
                "TOKENIZERS_PARALLELISM": "false",
                "DATABASE_URL": self.url,
                "RIFFUSION_MODEL": str(self.model_dir),
                "RIFFUSION_DEVICE": "cpu",
                "DATA_DIR": str(self.folder / f"worker{len(self.processes)}"),
                "SHUTDOWN_GRACE_S": "5",
            }
        )
        return env

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.folder / f"worker{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.worker"],
            cwd=self.folder,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    async def ready(self, db: Database, count: int) -> dict[int, str]:
        """Wait until `count` live workers loaded the model; their ids by process id."""
        live = {p.pid for p in self.processes if p.poll() is None}
        for _ in range(600):
            async with db.session() as session:
                rows = list(await session.scalars(select(WorkerRow)))
            ids = {int(r.id.split(":")[1]): r.id for r in rows if r.device}
            ids = {pid: wid for pid, wid in ids.items() if pid in live}
            if len(ids) >= count:
                return ids
            dead = [p for p in self.processes if p.poll() not in (None, -9)]
            assert not dead, self.logs()
            await asyncio.sleep(0.1)
        raise AssertionError(f"workers did not start:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.folder.glob("worker*.log")))

    def stop(self) -> list[int | None]:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = []
        for process in self.processes:
            try:
                codes.append(process.wait(30))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(process.wait())
        return codes


@pytest.fixture
def workers(postgres_url: str, tiny_model_dir: Path, tmp_path: Path) -> Iterator[Workers]:
    folder = tmp_path / "workers"
    folder.mkdir()
    pool = Workers(postgres_url, tiny_model_dir, folder)
    try:
        yield pool
    finally:
        codes = pool.stop()
        assert all(code in (0, -9) for code in codes), pool.logs()


def results_by_prompt(fake: FakeDiscord) -> Counter[str]:
    return Counter(
        m.content.split("**")[1] if "**" in m.content else m.content
        for m in fake.bot_messages
        if is_result(m)
    )


async def jobs(db: Database) -> list[Job]:
    async with db.session() as session:
        return list(await session.scalars(select(Job).order_by(Job.id)))


async def test_a_burst_is_fair_and_delivered_once_across_a_bot_restart(
    fake_discord: FakeDiscord,
    bot_harness: BotHarness,
    workers: Workers,
    postgres_url: str,
):
    fake = fake_discord
    users = [fake.member, fake.add_user("second"), fake.add_user("third")]
    for user in users[1:]:
        fake.add_member(fake.guild, user)
    bot_harness.database_url = postgres_url
    db = await open_database(postgres_url)
    try:
        async with bot_harness.running(**QUEUE):
            # The burst arrives before any GPU is free (the workers are still loading), so the
            # order in which they start is the queue's choice, not the order of arrival.
            statuses: dict[str, Message] = {}
            for user, count in zip(users, (3, 2, 1), strict=True):
                for i in range(count):
                    prompt = f"{user.name} take {i}"
                    _, statuses[prompt] = await riff(fake, user, prompt)
            assert "in the queue" in statuses[f"{users[2].name} take 0"].content
            workers.start()
            workers.start()
            await workers.ready(db, 2)
            await fake.wait_until(
                lambda: len(results_by_prompt(fake)) >= 2, timeout=120, what="first results"
            )
        # The bot is away a moment; the workers go on. Then it comes back.
        async with bot_harness.running(**QUEUE):
            await fake.wait_until(
                lambda: len(results_by_prompt(fake)) == len(statuses),
                timeout=180,
                what=f"all results (log:\n{workers.logs()[-3000:]})",
            )
            await asyncio.sleep(1.0)  # a duplicate would show up now
        delivered = results_by_prompt(fake)
        assert set(delivered) == set(statuses) and set(delivered.values()) == {1}
        rows = await jobs(db)
        assert {r.state for r in rows} == {"delivered"}
        started = sorted(rows, key=lambda r: (r.started_at, r.id))
        # Round-robin across the three users: each had one job started before anyone's second.
        assert len({r.user_id for r in started[:3]}) == 3
        # Status messages were edited in place to their final line, across the restart.
        for status in statuses.values():
            assert "is ready" in status.content or "posted" in status.content.lower(), (
                status.content
            )
    finally:
        await db.close()


async def test_a_killed_worker_s_job_is_rerun_and_a_cancelled_one_stops(
    fake_discord: FakeDiscord,
    bot_harness: BotHarness,
    workers: Workers,
    postgres_url: str,
):
    fake = fake_discord
    bot_harness.database_url = postgres_url
    db = await open_database(postgres_url)
    try:
        async with bot_harness.running(**QUEUE):
            workers.start()
            workers.start()
            pids = await workers.ready(db, 2)

            _, status = await riff(fake, fake.member, "survivor", steps=25)
            row = await wait_running(db)
            victim = next(pid for pid, wid in pids.items() if wid == row.lease_owner)
            os.kill(victim, signal.SIGKILL)
            await fake.wait_for_message(is_result, timeout=180)
            await fake.wait_until(lambda: "is ready" in status.content, timeout=20)
            [job] = await jobs(db)
            assert job.attempts == 2 and job.lease_owner is None
            assert results_by_prompt(fake) == Counter({"survivor": 1})

            # A job cancelled while the remaining worker renders it stops there.
            _, status = await riff(fake, fake.member, "cancel me", steps=60)
            row = await wait_running(db, prompt="cancel me")
            await fake.wait_until(lambda: "step" in status.content, timeout=60, what="progress")
            click = await fake.click(status, status.custom_ids()[0], fake.member)
            await fake.interaction_response(click)
            await fake.wait_until(lambda: "Cancelled" in status.content, what="cancelled")
            for _ in range(100):
                [_, cancelled] = await jobs(db)
                if cancelled.state == "cancelled" and cancelled.lease_owner is None:
                    break
                await asyncio.sleep(0.1)
            assert cancelled.state == "cancelled" and cancelled.made is None
            assert (cancelled.progress_step or 0) < 60  # stopped well before its last step
            _, status = await riff(fake, fake.member, "next one")
            await fake.wait_until(
                lambda: results_by_prompt(fake)["next one"] == 1, timeout=120, what="next"
            )
            assert results_by_prompt(fake)["cancel me"] == 0
    finally:
        await db.close()


async def wait_running(db: Database, prompt: str | None = None) -> Job:
    for _ in range(1200):
        for row in await jobs(db):
            if row.state == "running" and (prompt is None or row.params["prompt"] == prompt):
                return row
        await asyncio.sleep(0.05)
    raise AssertionError("no job started")
