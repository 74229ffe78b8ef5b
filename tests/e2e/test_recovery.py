"""Nothing is lost over a restart: queued jobs resume in order, a running one runs again once.

Most tests run the real bot in-process against the fake Discord with the tone renderer
(tests/fixtures/bot.py); `test_kill_9_*` runs `python -m bot` with the tiny model and kills it.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import inspect, select, text, update

from bot.store.db import open_database
from bot.store.models import Favourite, Generation, Job
from tests.fakediscord import FakeDiscord, Message, User
from tests.fixtures.audio import write_audio_bytes
from tests.fixtures.bot import BOT_TOKEN, BotHarness, FakeRenderer, is_result, process_env

PROMPT = re.compile(r"\*\*(.+?)\*\*")


def prompt_of(message: Message) -> str:
    return PROMPT.search(message.content).group(1)


def results(fake: FakeDiscord) -> list[Message]:
    return [m for m in fake.bot_messages if is_result(m)]


async def riff(fake: FakeDiscord, user: User, prompt: str, **options: object) -> Message:
    interaction = await fake.slash(user, "riff", {"prompt": prompt, **options})
    return await fake.response_message(interaction)


async def jobs_in_db(harness: BotHarness) -> list[Job]:
    db = await open_database(harness.settings().effective_database_url)
    try:
        async with db.session() as session:
            return list(await session.scalars(select(Job).order_by(Job.id)))
    finally:
        await db.close()


async def wait_for_results(fake: FakeDiscord, count: int, timeout: float = 30) -> list[Message]:
    await fake.wait_until(
        lambda: len(results(fake)) >= count, timeout=timeout, what=f"{count} results"
    )
    return results(fake)


def users(fake: FakeDiscord, *names: str) -> list[User]:
    made = []
    for name in names:
        user = fake.add_user(name)
        fake.add_member(fake.guild, user)
        made.append(user)
    return made


# ---- SIGTERM keeps the queue; the next start resumes it ----------------------------------------


async def test_sigterm_keeps_queued_jobs_and_the_next_start_runs_them(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    [ann] = users(fake, "ann")
    renderer = FakeRenderer(step_s=0.05)
    renderer.gate.clear()
    async with bot_harness.running(renderer, MAX_BATCH_SIZE="1") as bot:
        running = await riff(fake, fake.member, "running at stop")
        await asyncio.to_thread(renderer.started.wait, 10)
        first = await riff(fake, ann, "queued one")
        second = await riff(fake, fake.member, "queued two")
        stopping = asyncio.create_task(bot.close())  # what SIGTERM does
        await asyncio.sleep(0.2)
        renderer.gate.set()
        await stopping
    assert "is ready" in running.content
    for status in (first, second):
        assert "restarting; your request will continue" in status.content
        assert status.custom_ids()[0].startswith("riff:cancel:")
    assert [j.state for j in await jobs_in_db(bot_harness)] == ["delivered", "queued", "queued"]
    assert [prompt_of(m) for m in results(fake)] == ["running at stop"]

    again = FakeRenderer(step_s=0.05)
    again.gate.clear()
    async with bot_harness.running(again, MAX_BATCH_SIZE="1"):
        # Re-attached: the statuses show their place again, with a working Cancel.
        await fake.wait_until(lambda: "generating" in first.content, what="first resumed")
        await fake.wait_until(lambda: "next in line" in second.content, what="second resumed")
        click = await fake.click(second, second.custom_ids()[0], fake.member)
        await fake.interaction_response(click)
        await fake.wait_until(lambda: "Cancelled" in second.content, what="cancel after restart")
        again.gate.set()
        await wait_for_results(fake, 2)
        await fake.wait_until(lambda: "is ready" in first.content, what="first done")
    assert [prompt_of(m) for m in results(fake)] == ["running at stop", "queued one"]
    assert [b[0] for b in again.batches] == ["queued one"]
    assert [j.state for j in await jobs_in_db(bot_harness)] == [
        "delivered",
        "delivered",
        "cancelled",
    ]
    assert bot_harness.exit_codes == [0, 0]


async def test_many_jobs_from_several_users_resume_in_order_each_once(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    member, ann, bob = [fake.member, *users(fake, "ann", "bob")]
    renderer = FakeRenderer(step_s=0.05)
    renderer.gate.clear()
    options = {"MAX_BATCH_SIZE": "1", "SHUTDOWN_GRACE_S": "0", "MAX_STEPS": "200"}
    async with bot_harness.running(renderer, **options) as bot:
        await riff(fake, ann, "ann 0")
        await asyncio.to_thread(renderer.started.wait, 10)
        long = await riff(fake, member, "member 1", steps=200)
        await riff(fake, member, "member 2")
        await riff(fake, bob, "bob 1")
        renderer.gate.set()  # "ann 0" finishes, "member 1" starts and runs for a while
        await fake.wait_until(lambda: "step" in long.content, timeout=15, what="member 1 runs")
        for user, prompt in [(ann, "ann 1"), (bob, "bob 2"), (member, "member 3"), (ann, "ann 2")]:
            await riff(fake, user, prompt)
        expected = ["member 1"] + [job.payload.params.prompt for job in bot.queue.order()]
        # Member was served when "member 1" started, so waits behind bob although
        # "member 2" is older than "bob 1": the restart must keep that.
        assert expected == ["member 1", "bob 1", "member 2", "ann 1", "bob 2", "member 3", "ann 2"]
        stopping = asyncio.create_task(bot.close())  # the grace is 0: "member 1" is cut off
        await stopping
    assert [prompt_of(m) for m in results(fake)] == ["ann 0"]
    rows = {j.params["prompt"]: (j.state, j.attempts) for j in await jobs_in_db(bot_harness)}
    assert rows.pop("ann 0") == ("delivered", 1) and rows.pop("member 1") == ("running", 1)
    assert set(rows.values()) == {("queued", 0)}

    again = FakeRenderer(step_s=0.01)
    async with bot_harness.running(again, **options):
        await wait_for_results(fake, 1 + len(expected))
        await asyncio.sleep(0.3)  # nothing more comes
    assert [b[0] for b in again.batches] == expected  # rendered in the order they had
    # Posting runs concurrently with the next render, so only the set is in order here.
    assert sorted(prompt_of(m) for m in results(fake)) == sorted(["ann 0", *expected])
    rows = await jobs_in_db(bot_harness)
    assert {j.state for j in rows} == {"delivered"}
    assert {j.params["prompt"]: j.attempts for j in rows}["member 1"] == 2
    assert len({j.generation_id for j in rows}) == len(rows)


async def test_a_running_job_is_run_again_once_then_its_owner_is_told(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    renderer = FakeRenderer(step_s=0.02)
    renderer.gate.clear()
    async with bot_harness.running(renderer, SHUTDOWN_GRACE_S="0") as bot:
        status = await riff(fake, fake.member, "cut off")
        await asyncio.to_thread(renderer.started.wait, 10)
        other = await riff(fake, fake.member, "waits")
        stopping = asyncio.create_task(bot.close())
        await asyncio.sleep(0.2)
        renderer.gate.set()
        await stopping
    # As after a crash during the second try: the row is running, and this was its 2nd start.
    db = await open_database(bot_harness.settings().effective_database_url)
    async with db.session() as session:
        await session.execute(update(Job).where(Job.id == 1).values(attempts=2))
    await db.close()
    async with bot_harness.running(FakeRenderer()):
        await fake.wait_until(lambda: "restarted twice" in status.content, what="told")
        await wait_for_results(fake, 1)
    assert status.custom_ids() == []  # no Cancel on a request that is over
    assert "send it again" in status.content
    assert [prompt_of(m) for m in results(fake)] == ["waits"]
    assert "is ready" in other.content
    rows = await jobs_in_db(bot_harness)
    assert [(j.state, j.attempts) for j in rows] == [("failed", 2), ("delivered", 1)]


async def test_a_result_posted_just_before_a_crash_is_not_made_twice(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    async with bot_harness.running(FakeRenderer()):
        status = await riff(fake, fake.member, "posted")
        await wait_for_results(fake, 1)
        await fake.wait_until(lambda: "is ready" in status.content, what="done")
        second = await riff(fake, fake.member, "made, not posted")
        await wait_for_results(fake, 2)
    # Crash states: the job still says running although its result was posted; another crashed
    # after its result row was written but before it was posted.
    db = await open_database(bot_harness.settings().effective_database_url)
    async with db.session() as session:
        await session.execute(update(Job).values(state="running", finished_at=None))
        await session.execute(update(Generation).where(Generation.id == 2).values(message_id=None))
    await db.close()
    made = sorted(p.name for p in (bot_harness.data_dir / "generations").iterdir())
    async with bot_harness.running(FakeRenderer()):
        await wait_for_results(fake, 3)
        await fake.wait_until(lambda: "is ready" in second.content, what="second done")
    assert [prompt_of(m) for m in results(fake)] == [
        "posted",
        "made, not posted",
        "made, not posted",
    ]
    rows = await jobs_in_db(bot_harness)
    assert [j.state for j in rows] == ["delivered", "delivered"] and rows[0].generation_id == 1
    db = await open_database(bot_harness.settings().effective_database_url)
    async with db.session() as session:
        made_again = await session.get(Generation, rows[1].generation_id)
    await db.close()
    # The unposted row was replaced by the result that was posted (SQLite may reuse its id).
    assert made_again.message_id == results(fake)[2].id
    assert [n for n in made if n.startswith("2.")]


async def test_remix_input_is_kept_by_job_id_resumed_and_removed(
    fake_discord: FakeDiscord, bot_harness: BotHarness, pipe_renderer, tmp_path: Path
):
    fake = fake_discord
    wav = write_audio_bytes("wav", 2.0, rate=22050)
    hold = FakeRenderer()
    hold.gate.clear()
    async with bot_harness.running(hold, SHUTDOWN_GRACE_S="0") as bot:
        await riff(fake, fake.member, "holds the worker")
        await asyncio.to_thread(hold.started.wait, 10)
        interaction = await fake.slash(
            fake.admin, "remix", {"audio": ("My Song (final).wav", wav), "prompt": "dub"}
        )
        status = await fake.response_message(interaction, timeout=15)
        assert status.ephemeral
        kept = sorted(p.name for p in (bot_harness.data_dir / "jobs").iterdir())
        assert kept == ["2.wav"]
        stopping = asyncio.create_task(bot.close())
        await asyncio.sleep(0.2)
        hold.gate.set()
        await stopping
    assert (bot_harness.data_dir / "jobs" / "2.wav").is_file()
    async with bot_harness.running(pipe_renderer):
        # The ephemeral status cannot be edited by the bot: a new status is posted.
        await fake.wait_until(
            lambda: [
                m
                for m in fake.bot_messages
                if not m.ephemeral and "Remix" in m.content and "riff:cancel:2" in m.custom_ids()
            ],
            what="new status",
        )
        remix = await fake.wait_for_message(
            lambda m: is_result(m) and "Remix" in m.content, timeout=30
        )
        assert "used all of 0:02" in remix.content
    assert not list((bot_harness.data_dir / "jobs").iterdir())
    assert not list(bot_harness.data_dir.rglob("My Song*"))


# ---- durability of the database ---------------------------------------------------------------


async def test_no_stored_column_holds_an_attachment_url(
    fake_discord: FakeDiscord, bot_harness: BotHarness
):
    fake = fake_discord
    async with bot_harness.running(FakeRenderer()):
        await riff(fake, fake.member, "stored")
        result = await wait_for_results(fake, 1)
        gen = result[0].custom_ids()[0].rsplit(":", 1)[1]
        fav = await fake.click(result[0], f"riff:fav:{gen}", fake.member)
        assert "Added" in (await fake.response_message(fav)).content
        await fake.wait_until(lambda: "is ready" in fake.bot_messages[0].content, what="done")
    urls = [a.url for a in result[0].attachments]
    assert urls and all("attachments" in u for u in urls)
    db = await open_database(bot_harness.settings().effective_database_url)
    try:
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
            seen = 0
            for table in tables:
                for row in (await conn.execute(text(f'SELECT * FROM "{table}"'))).all():
                    for value in row:
                        seen += 1
                        assert "attachments/" not in str(value) and "cdn" not in str(value), (
                            table,
                            value,
                        )
            assert seen > 50
    finally:
        await db.close()


# ---- the real process, killed with SIGKILL mid-job -----------------------------------------------


@pytest.mark.slow
async def test_kill_9_loses_no_favourite_result_or_job(
    fake_discord: FakeDiscord, tiny_model_dir: Path, tmp_path: Path
):
    fake = fake_discord
    fake.token = BOT_TOKEN
    ann, bob = users(fake, "ann", "bob")
    data = tmp_path / "data"
    env = process_env(
        fake, tiny_model_dir, data, MAX_STEPS="200", PROGRESS_INTERVAL_S="0.5", MAX_BATCH_SIZE="1"
    )
    log = (tmp_path / "bot.log").open("ab")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=env, stdout=log, stderr=log
    )
    try:
        await fake.wait_for_bot(timeout=90)
        await riff(fake, fake.member, "kept")
        [kept] = await wait_for_results(fake, 1, timeout=240)
        gen = kept.custom_ids()[0].rsplit(":", 1)[1]
        fav = await fake.click(kept, f"riff:fav:{gen}", fake.member)
        assert "Added" in (await fake.response_message(fav, timeout=10)).content
        # A long one to be cut off, and a queue behind it.
        cut = await riff(fake, fake.member, "cut off", steps=200)
        await fake.wait_until(lambda: "step" in cut.content, timeout=120, what="running")
        for user, prompt in [
            (ann, "ann 1"),
            (fake.member, "member 2"),
            (bob, "bob 1"),
            (ann, "ann 2"),
        ]:
            await riff(fake, user, prompt)
        proc.send_signal(signal.SIGKILL)
        assert await proc.wait() == -signal.SIGKILL
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert (data / "generations" / f"{gen}.mp3").is_file()

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=env, stdout=log, stderr=log
    )
    try:
        await fake.wait_for_bot(timeout=90)
        await wait_for_results(fake, 6, timeout=480)
        await asyncio.sleep(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 60)
        log.close()
    order = [prompt_of(m) for m in results(fake)]
    assert order == ["kept", "cut off", "ann 1", "member 2", "bob 1", "ann 2"]
    db = await open_database(f"sqlite+aiosqlite:///{data / 'riffusion.db'}")
    try:
        async with db.session() as session:
            favourites = list(await session.scalars(select(Favourite)))
            jobs = list(await session.scalars(select(Job).order_by(Job.id)))
            generation = await session.get(Generation, int(gen))
    finally:
        await db.close()
    assert [(f.user_id, f.generation_id) for f in favourites] == [(fake.member.id, int(gen))]
    assert generation.audio_file and (data / generation.audio_file).is_file()
    assert [j.state for j in jobs] == ["delivered"] * 6
    assert jobs[1].attempts == 2 and {j.attempts for j in jobs[2:]} == {1}
    with Image.open(data / generation.image_file) as image:
        assert image.height == 512
