"""The hourly cleanup of old results' files (bot/store/retention.py), also run once at start."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from discord.ext import commands, tasks

if TYPE_CHECKING:
    from bot.app.client import RiffusionBot

log = logging.getLogger(__name__)


class Cleanup(commands.Cog):
    def __init__(self, bot: RiffusionBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        if self.bot.services.retention.enabled:
            self.prune.start()  # the first run is now: at start

    async def cog_unload(self) -> None:
        self.prune.cancel()

    @tasks.loop(hours=1)
    async def prune(self) -> None:
        try:
            await self.bot.services.retention.run()
        except Exception:  # a bad hour must not stop the loop; the next one tries again
            log.exception("The cleanup of old results failed")


async def setup(bot: RiffusionBot) -> None:
    await bot.add_cog(Cleanup(bot))
