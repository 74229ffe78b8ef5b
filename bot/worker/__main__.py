"""`python -m bot.worker` / `riffusion-worker`: render jobs of the postgres queue on this GPU.

Reads the bot's .env (DATABASE_URL, RIFFUSION_MODEL, RIFFUSION_DEVICE, MAX_BATCH_SIZE, ...; no
Discord token needed), loads the model, and serves every bot process that shares the database
until SIGTERM or Ctrl+C, after which it finishes the batch it runs (SHUTDOWN_GRACE_S) or gives
it back. Exit codes: 0 after a clean stop, 1 when the model cannot be loaded, 2 when the
settings are unusable (each problem printed as one line).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TYPE_CHECKING

from bot.config import Settings, SettingsError, load_settings
from bot.logs import RedactSecrets, install
from bot.process import EXIT_FAILED, EXIT_OK, EXIT_SETTINGS, stop_on_signals

if TYPE_CHECKING:
    from bot.engine.renderer import Renderer

log = logging.getLogger("bot.worker")

NEEDS_POSTGRES = (
    "a GPU worker needs the bot's PostgreSQL DATABASE_URL (postgresql+asyncpg://...): it takes "
    "its jobs from the queue there (GENERATION_QUEUE=postgres, docs/scale-out.md)."
)


async def run_worker(
    settings: Settings, *, renderer: Renderer | None = None, stop: asyncio.Event | None = None
) -> int:
    """Run one worker until `stop` is set (or SIGTERM/SIGINT); returns the exit code."""
    # Heavy imports (torch, audio) once the settings are known good, as `python -m bot` does.
    from alembic.util.exc import CommandError

    from bot.engine.renderer import PipelineRenderer
    from bot.store.db import open_database
    from bot.store.files import Storage
    from bot.worker.gpu_worker import GpuWorker
    from riffusion_core.seed_images import loops
    from riffusion_core.seed_images.catalogue import scan_seed_folder

    stop = stop or asyncio.Event()
    try:
        db = await open_database(settings.effective_database_url)
    except CommandError as exc:  # the schema is of another release (Alembic says which)
        log.error(
            "The database's schema does not match this worker's release (%s); run the same "
            "release of the bot and its workers (docs/scale-out.md, upgrading)",
            exc,
        )
        return EXIT_SETTINGS
    try:
        storage = Storage(settings.data_dir)
        loops.set_cache_dir(storage.loops_dir)  # tempo loops, made once on this machine
        renderer = renderer or PipelineRenderer(
            settings.riffusion_model, settings.riffusion_device, storage.scratch_dir
        )
        scan = await asyncio.to_thread(scan_seed_folder, settings.seed_images_dir)
        worker = GpuWorker(settings, db, renderer, scan.catalogue)
        with stop_on_signals(stop):
            return await worker.run(stop)
    finally:
        await db.close()


def main(argv: list[str] | None = None) -> int:
    """Console entry point."""
    del argv  # configured through the environment / .env, like the bot
    try:
        settings = load_settings(need_token=False)
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_SETTINGS
    if not settings.effective_database_url.startswith("postgresql"):
        print(f"error: {NEEDS_POSTGRES}", file=sys.stderr)
        return EXIT_SETTINGS
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)-8s %(name)s: %(message)s"
    )
    install(RedactSecrets(settings.secrets))
    try:
        code = asyncio.run(run_worker(settings))
    except KeyboardInterrupt:
        code = EXIT_OK
    except Exception:
        log.exception("The worker stopped because of an unexpected error")
        code = EXIT_FAILED
    from bot.engine.queue import leave_loading_worker_behind

    return leave_loading_worker_behind(code)


if __name__ == "__main__":
    sys.exit(main())
