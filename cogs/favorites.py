"""/favorites and /history: your kept and your recent results, a page at a time (ephemeral).

The pages and their buttons live in bot/ui/library_pages.py (persistent DynamicItems).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.store.library import ListKind
from bot.ui.library_pages import render

if TYPE_CHECKING:
    from bot.app.client import RiffusionBot

EVERYWHERE = {"guilds": True, "dms": True, "private_channels": True}


class Library(commands.Cog):
    def __init__(self, bot: RiffusionBot) -> None:
        self.bot = bot

    async def _show(self, interaction: discord.Interaction, kind: ListKind) -> None:
        shown = await render(self.bot.services, kind, interaction.user.id, 0)
        await interaction.response.send_message(ephemeral=True, **shown)

    @app_commands.command(
        name="favorites",
        description="Your favourite results: post one here again, with its files, or remove it.",
    )
    @app_commands.allowed_contexts(**EVERYWHERE)
    async def favorites(self, interaction: discord.Interaction) -> None:
        await self._show(interaction, "fav")

    @app_commands.command(
        name="history",
        description="Your recent results: post one here again, or add it to your favourites.",
    )
    @app_commands.allowed_contexts(**EVERYWHERE)
    async def history(self, interaction: discord.Interaction) -> None:
        await self._show(interaction, "hist")


async def setup(bot: RiffusionBot) -> None:
    await bot.add_cog(Library(bot))
