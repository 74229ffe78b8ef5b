"""RiffusionBot: opens the database, starts the GPU queue, loads cogs, syncs commands.

Commands are synced only when their definitions changed (a hash of the payloads stored in the
database, per application and scope) or when SYNC_COMMANDS=1: Discord caps command creates at
200 per guild per day, and a sync on every start burns through that while developing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import pkgutil

import discord
from discord.ext import commands

import cogs
from bot.app.commandtree import RiffusionTree
from bot.config import Settings
from bot.engine.queue import GenerationQueue
from bot.engine.renderer import PipelineRenderer, RenderOutput, RenderTask
from bot.jobs.service import RiffService
from bot.store.db import Database, open_database
from bot.store.files import Storage
from bot.store.models import CommandSync, utcnow
from bot.store.retention import Retention
from bot.ui.result_buttons import DYNAMIC_ITEMS

log = logging.getLogger(__name__)


def extension_names() -> list[str]:
    """Every module in cogs/ is an extension (one per feature)."""
    return sorted(
        f"cogs.{m.name}" for m in pkgutil.iter_modules(cogs.__path__) if not m.name.startswith("_")
    )


class RiffusionBot(commands.Bot):
    """The Discord client; everything with a lifetime hangs off it."""

    def __init__(
        self, settings: Settings, *, renderer: PipelineRenderer | None = None, **options: object
    ) -> None:
        intents = discord.Intents.default()
        # Messages echo what users typed: nothing pings unless a send names whom it pings.
        options.setdefault("allowed_mentions", discord.AllowedMentions.none())
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            tree_cls=RiffusionTree,
            **options,
        )
        self.settings = settings
        self.renderer = renderer or PipelineRenderer(
            settings.riffusion_model, settings.riffusion_device, settings.data_dir / "tmp"
        )
        self.db: Database | None = None
        self.storage = Storage(settings.data_dir)
        self.queue: GenerationQueue[RenderTask, RenderOutput] = GenerationQueue(
            self.renderer,
            prepare=self.renderer.prepare,
            max_jobs_per_user=settings.max_jobs_per_user,
            max_queue_size=settings.max_queue_size,
            max_batch_size=settings.max_batch_size,
            job_timeout_s=settings.job_timeout_s,
        )
        self.riffs: RiffService | None = None
        self.retention: Retention | None = None
        self.synced_scopes: list[str] = []
        self._closing: asyncio.Future[None] | None = None

    async def setup_hook(self) -> None:
        self.db = await open_database(self.settings.effective_database_url)
        self.riffs = RiffService(self, self.settings, self.db, self.storage, self.queue)
        self.retention = Retention(self.settings, self.db, self.storage)
        self.queue.start()  # loads the model meanwhile
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        for name in extension_names():
            await self.load_extension(name)
        # After the cogs: paused servers are known (cogs/admin.py) before their jobs return.
        await self.riffs.resume_unfinished()
        await self.sync_commands_if_changed(force=self.settings.sync_commands)

    # ---- command sync ------------------------------------------------------------------------

    def command_payload_hash(self, guild: discord.abc.Snowflake | None) -> str:
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands(guild=guild)]
        payload.sort(key=lambda c: (c.get("type", 1), c["name"]))
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    async def sync_commands_if_changed(self, *, force: bool = False) -> bool:
        """Sync to the dev guild (instant) or globally, only if the definitions changed."""
        guild = discord.Object(self.settings.guild_id) if self.settings.guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        scope = f"{self.application_id}:" + (f"guild:{guild.id}" if guild else "global")
        digest = self.command_payload_hash(guild)
        assert self.db is not None
        async with self.db.session() as session:
            stored = await session.get(CommandSync, scope)
            if not force and stored is not None and stored.payload_hash == digest:
                log.info("Application commands unchanged; not syncing (%s)", scope)
                return False
        synced = await self.tree.sync(guild=guild)
        async with self.db.session() as session:
            row = await session.get(CommandSync, scope)
            if row is None:
                session.add(CommandSync(scope=scope, payload_hash=digest))
            else:
                row.payload_hash, row.synced_at = digest, utcnow()
        self.synced_scopes.append(scope)
        log.info("Synced %d application command(s) to %s", len(synced), scope)
        return True

    # ---- shutdown ----------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop taking work, finish (or cancel after the grace) what runs, then disconnect.

        Idempotent: SIGTERM, a test and discord.py itself may all ask; they share one shutdown.
        """
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._shutdown())
        await asyncio.shield(self._closing)

    async def _shutdown(self) -> None:
        try:
            if self.riffs is not None:
                await self.riffs.shutdown(self.settings.shutdown_grace_s)
            else:
                await self.queue.shutdown(0)
        finally:
            await super().close()
            if self.db is not None:
                await self.db.close()
                self.db = None
