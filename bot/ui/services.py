"""The services the Discord side works with, built once by the app (bot/app/client.py).

Buttons, modals and menus are rebuilt by discord.py from a custom_id on every click, so they
cannot be handed anything: they reach the services through the client that received the
interaction (`services_of`). Cogs get them from the bot they are loaded into.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import discord

from bot.config import Settings
from bot.engine.job_queue import JobQueue
from bot.engine.renderer import Renderer
from bot.jobs.delivery import DeliveryService
from bot.jobs.health import Health
from bot.jobs.origin import Origin
from bot.jobs.remix import RemixService
from bot.jobs.service import JobService
from bot.policy.rules import ServerPolicy
from bot.store.db import Database
from bot.store.files import Storage
from bot.store.retention import Retention
from bot.voice.sessions import VoiceSessions
from bot.voice.stations import RadioStations
from riffusion_core.seed_images.catalogue import SeedImageCatalogue


class InteractionOrigins(Protocol):
    """Makes the origin of a request from what Discord delivered (bot/ui/origins.py)."""

    def interaction(self, interaction: discord.Interaction) -> Origin: ...

    def deferred(self, interaction: discord.Interaction) -> Origin: ...

    def reply(self, message: discord.Message) -> Origin: ...


@dataclass(frozen=True)
class Services:
    """Everything with a lifetime, built in RiffusionBot.setup_hook."""

    settings: Settings
    db: Database
    files: Storage
    queue: JobQueue
    renderer: Renderer | None  # None: GPU workers elsewhere render (GENERATION_QUEUE=postgres)
    policy: ServerPolicy
    jobs: JobService
    remixes: RemixService
    retention: Retention
    voice: VoiceSessions
    radio: RadioStations
    origins: InteractionOrigins
    deliveries: DeliveryService
    health: Health
    seed_images: SeedImageCatalogue  # bundled + SEED_IMAGES_DIR, read once at start


@runtime_checkable
class ServiceHost(Protocol):
    """A client that carries the services (RiffusionBot)."""

    services: Services


def services_of(interaction: discord.Interaction) -> Services:
    """The services of the bot that received this interaction."""
    client = interaction.client
    if not isinstance(client, ServiceHost):
        raise TypeError(f"{type(client).__name__} carries no services")
    return client.services
