"""RiffusionBot: builds every service, loads the extensions, syncs commands, shuts down.

`make_bot` picks the class: a plain `RiffusionBot` (one gateway connection), or with SHARD_COUNT
a `ShardedRiffusionBot`, the same bot on discord.py's AutoShardedBot (one connection per shard).

Everything with a lifetime is built once, in `setup_hook`, and handed over typed: the cogs get
`bot.services`, buttons reach the same object through `services_of(interaction)`. Commands are
synced only when their definitions changed (a hash of the payloads stored in the database, per
application and scope) or when SYNC_COMMANDS=1: Discord caps command creates at 200 per guild
per day, and a sync on every start burns through that while developing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from functools import partial
from typing import Any

import discord
from discord.ext import commands

from bot.app.commandtree import RiffusionTree
from bot.config import Settings
from bot.engine.job_queue import JobQueue
from bot.engine.queue import GenerationQueue
from bot.engine.renderer import PipelineRenderer, Renderer
from bot.engine.tasks import RenderResult, RenderTask
from bot.jobs.delivery import DeliveryService
from bot.jobs.health import Health
from bot.jobs.inference import InferenceService
from bot.jobs.remix import RemixService
from bot.jobs.service import JobService
from bot.jobs.shared_queue import SharedQueue
from bot.policy.rules import ServerPolicy
from bot.store import records
from bot.store.db import Database
from bot.store.files import Storage
from bot.store.retention import Retention
from bot.ui.library_pages import LIBRARY_ITEMS
from bot.ui.mix_buttons import MixButton, PickClipSelect
from bot.ui.origins import DiscordOrigins
from bot.ui.play import PlayButton
from bot.ui.remix_modals import RemixButton
from bot.ui.result_buttons import ResultButton
from bot.ui.result_message import ResultPoster, result_command
from bot.ui.services import Services
from bot.ui.song_results import NewSectionSelect, SongButton
from bot.ui.status import CancelButton
from bot.voice.sessions import VoiceSessions
from bot.voice.stations import RadioStations
from bot.web.health import HealthRoutes
from bot.web.inference import InferenceRoutes
from bot.web.metrics import GatewayEvents, MetricsRoutes
from bot.web.pages import PageRoutes
from bot.web.radio import RadioRoutes
from bot.web.server import WebRoutes, WebServer
from bot.web.static import StaticRoutes
from riffusion_core.seed_images import loops
from riffusion_core.seed_images.catalogue import SeedImageCatalogue, scan_seed_folder

log = logging.getLogger(__name__)


# One extension per feature, loaded by name (the app never imports the cogs).
EXTENSIONS = (
    "cogs.admin",
    "cogs.blend",
    "cogs.favorites",
    "cogs.info",
    "cogs.remix",
    "cogs.retention",
    "cogs.riff",
    "cogs.settings",
    "cogs.song",
    "cogs.voice",
)
# Buttons, selects and pages that outlive the process: rebuilt from their custom_id on a click.
DYNAMIC_ITEMS = (
    ResultButton,
    CancelButton,
    RemixButton,
    PlayButton,
    MixButton,
    PickClipSelect,
    SongButton,
    NewSectionSelect,
    *LIBRARY_ITEMS,
)


def load_seed_images(settings: Settings) -> SeedImageCatalogue:
    """The bundled seed images plus SEED_IMAGES_DIR's; a bad file is logged and left out."""
    scan = scan_seed_folder(settings.seed_images_dir)
    for line in scan.unusable:
        log.warning("SEED_IMAGES_DIR: left out %s", line)
    for line in scan.hidden:
        log.warning("SEED_IMAGES_DIR: %s", line)
    for name in scan.masks:
        log.info("SEED_IMAGES_DIR: %s is a mask (mask_*), not a seed image; skipped", name)
    folder = scan.catalogue.folder_files
    if settings.seed_images_dir is not None:
        log.info(
            "Seed images from %s: %s", settings.seed_images_dir, ", ".join(folder) or "none usable"
        )
    return scan.catalogue


class RiffusionBot(commands.Bot):
    """The Discord client; everything with a lifetime hangs off it."""

    def __init__(
        self, settings: Settings, *, renderer: Renderer | None = None, **options: Any
    ) -> None:
        # `options` go to discord.py's Client untouched, typed Any there as well.
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
        self.files = Storage(settings.data_dir)
        self.health = Health()
        self.db = Database(settings.effective_database_url)  # migrated in setup_hook
        self.renderer: Renderer | None = None
        self.queue: JobQueue
        if settings.shared_queue:
            # GPU workers elsewhere render (`python -m bot.worker`); no model loads here.
            self.queue = SharedQueue(settings, self.db, self.files, self.health)
        else:
            self.renderer = renderer or PipelineRenderer(
                settings.riffusion_model, settings.riffusion_device, self.files.scratch_dir
            )
            local: GenerationQueue[RenderTask, RenderResult] = GenerationQueue(
                self.renderer,
                prepare=self.renderer.prepare,
                max_jobs_per_user=settings.max_jobs_per_user,
                max_queue_size=settings.max_queue_size,
                max_batch_size=settings.max_batch_size,
                job_timeout_s=settings.job_timeout_s,
            )
            self.queue = local
        self.synced_scopes: list[str] = []
        self.web: WebServer | None = None  # WEB_PORT: the API, pages, health and metrics
        self.gateway_events = GatewayEvents()  # counted for /metrics
        self._services: Services | None = None
        self._closing: asyncio.Future[None] | None = None

    @property
    def services(self) -> Services:
        """Every service, built in setup_hook (before any command or button can run)."""
        if self._services is None:
            raise RuntimeError("the bot's services are built in setup_hook")
        return self._services

    async def setup_hook(self) -> None:
        self._services = services = await self.build_services()
        if self.settings.shared_queue:
            log.info(
                "Jobs go to GPU workers through PostgreSQL (GENERATION_QUEUE=postgres); "
                "this process loads no model"
            )
        self.queue.start()  # the local queue loads the model meanwhile
        services.deliveries.start()
        await services.policy.restore_pauses()  # paused servers are known before jobs return
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        for name in EXTENSIONS:
            await self.load_extension(name)
        await services.jobs.resume_unfinished()
        await self.sync_commands_if_changed(force=self.settings.sync_commands)
        self.web = self.build_web(services.db, services.health)
        if self.web is not None:
            await self.web.start()

    async def build_services(self) -> Services:
        """The one place where services are made and given what they need."""
        settings = self.settings
        db = self.db
        await db.migrate()
        loops.set_cache_dir(self.files.loops_dir)  # tempo loops (songs, /riff bpm) made once
        files = self.files
        seed_images = await asyncio.to_thread(load_seed_images, settings)
        policy = ServerPolicy(settings, db, self.queue)
        origins = DiscordOrigins(ResultPoster(self))
        deliveries = DeliveryService(settings, db)
        health = self.health
        jobs = JobService(
            settings, db, files, self.queue, policy, origins, deliveries, health, seed_images
        )
        return Services(
            settings=settings,
            db=db,
            files=files,
            queue=self.queue,
            renderer=self.renderer,
            policy=policy,
            jobs=jobs,
            remixes=RemixService(settings, jobs, files),
            retention=Retention(settings, db, files),
            voice=VoiceSessions(settings.voice_idle_s),
            radio=RadioStations(settings, self.queue, seed_images),
            origins=origins,
            deliveries=deliveries,
            health=health,
            seed_images=seed_images,
        )

    def build_web(self, db: Database, health: Health) -> WebServer | None:
        """The web side (WEB_PORT), served by one process: with SHARD_IDS, shard 0's."""
        settings = self.settings
        if settings.web_port is None:
            return None
        if settings.shard_ids is not None and 0 not in settings.shard_ids:
            log.info("Web side left to the process that runs shard 0")
            return None
        features: list[WebRoutes] = [
            HealthRoutes(
                db=db,
                health=health,
                queue=self.queue,
                gateway_ready=self.is_ready,
                model_ready=self.model_ready,
            ),
            InferenceRoutes(
                service=InferenceService(self.services.jobs),
                keys=settings.web_api_keys,
                on_loopback=settings.web_on_loopback,
            ),
            MetricsRoutes(
                queue=self.queue,
                health=health,
                jobs=self.services.jobs,
                deliveries=self.services.deliveries,
                gateway=self.gateway_events,
            ),
            PageRoutes(
                db=db,
                files=self.files,
                base_url=settings.web_base_url or "",
                command_of=partial(result_command, seed_images=self.services.seed_images),
            ),
            RadioRoutes(self.services.radio.broadcasts),
            StaticRoutes(),
        ]
        return WebServer(settings.web_host, settings.web_port, features)

    def dispatch(self, event_name: str, /, *args: Any, **kwargs: Any) -> None:
        """Count the gateway's connects, disconnects and resumes for /metrics as they are
        dispatched. Counted here rather than in on_disconnect handlers: discord.py dispatches
        a last disconnect while it closes, when it can no longer schedule a handler."""
        self.gateway_events.saw(event_name)
        super().dispatch(event_name, *args, **kwargs)

    def model_ready(self) -> bool:
        """The model is loaded here (the local queue) and nothing went wrong loading it."""
        queue = self.queue
        return (
            isinstance(queue, GenerationQueue)
            and queue.ready.is_set()
            and queue.prepare_error is None
        )

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
        db = self.services.db
        if not force and await records.synced_hash(db, scope) == digest:
            log.info("Application commands unchanged; not syncing (%s)", scope)
            return False
        synced = await self.tree.sync(guild=guild)
        await records.remember_sync(db, scope, digest)
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
        services = self._services
        try:
            if services is not None:
                await services.jobs.shutdown(self.settings.shutdown_grace_s)
            else:
                await self.queue.shutdown(0)
        finally:
            await super().close()
            if services is not None:
                if self.web is not None:
                    await self.web.stop()
                await services.remixes.close()
                await services.voice.close()
                await services.db.close()


class ShardedRiffusionBot(RiffusionBot, commands.AutoShardedBot):
    """RiffusionBot over several gateway connections (SHARD_COUNT), one per shard.

    Discord sends a guild's events on shard (guild_id >> 22) % shard_count and DMs on shard 0;
    discord.py's AutoShardedBot routes what the bot sends back (voice, member requests) through
    the right one. Everything else is RiffusionBot's: the services do not know about shards.
    SHARD_COUNT=auto leaves shard_count None, so discord.py asks Discord (GET /gateway/bot).
    """

    #: Discord takes one IDENTIFY per 5 s (max_concurrency 1): the wait before each shard after
    #: the first, as discord.py's default hook does. Tests against the fake set it to 0.
    identify_interval_s = 5.0

    def __init__(
        self, settings: Settings, *, renderer: Renderer | None = None, **options: Any
    ) -> None:
        options.setdefault("shard_count", settings.shard_count or None)
        if settings.shard_ids is not None:
            options.setdefault("shard_ids", list(settings.shard_ids))
        super().__init__(settings, renderer=renderer, **options)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        if initial:  # the first shard: the count is known now, also when Discord chose it
            log.info("Discord shards: %s", self.shards_text())
        else:
            await asyncio.sleep(self.identify_interval_s)

    def shards_text(self) -> str:
        """Which shards this process runs, of how many: "this process runs 0, 1 of 2"."""
        count = self.shard_count
        if count is None:  # SHARD_COUNT=auto, before discord.py asked Discord
            return "as many as Discord recommends"
        mine = ", ".join(map(str, self.shard_ids if self.shard_ids is not None else range(count)))
        total = f"{count}" if self.settings.shard_count else f"{count} (Discord's recommendation)"
        return f"this process runs {mine} of {total}"


def make_bot(
    settings: Settings, *, renderer: Renderer | None = None, **options: Any
) -> RiffusionBot:
    """The bot `settings` ask for: sharded when SHARD_COUNT is set, else one plain client."""
    cls = RiffusionBot if settings.shard_count is None else ShardedRiffusionBot
    return cls(settings, renderer=renderer, **options)
