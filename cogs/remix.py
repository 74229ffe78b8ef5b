"""Remix users' audio: /remix, the "Remix with Riffusion" message command, replies to results.

The Remix button on results (bot/mixviews.py) is the fourth way in; all four end in
RemixService.submit.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.jobs.remix import MIN_STRENGTH, RemixService, generation_for_message
from bot.jobs.uploads import looks_like_audio
from bot.params import MAX_SEED
from bot.ui.mix_buttons import RemixButton, RemixPromptModal

if TYPE_CHECKING:
    from bot.app.client import RiffusionBot

log = logging.getLogger(__name__)
CONTEXT_MENU_NAME = "Remix with Riffusion"


class Remix(commands.Cog):
    def __init__(self, bot: RiffusionBot) -> None:
        self.bot = bot
        self.remixes = RemixService(bot)
        self.context_menu = app_commands.ContextMenu(
            name=CONTEXT_MENU_NAME, callback=self.remix_message
        )
        self.context_menu.allowed_contexts = app_commands.AppCommandContext(
            guild=True, dm_channel=True, private_channel=True
        )

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(RemixButton)
        self.bot.tree.add_command(self.context_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.context_menu.name, type=self.context_menu.type)
        self.bot.remove_dynamic_items(RemixButton)
        await self.remixes.close()

    @app_commands.command(name="remix", description="Remix your audio in the style of a prompt.")
    @app_commands.describe(
        audio="An audio file (MP3, WAV, OGG, FLAC, M4A); the first minute or so is used",
        prompt="The style, e.g. 'lofi hip hop, warm piano'",
        strength="How much to change it: 0.1 keeps it close, 1 repaints it (default 0.55)",
        seed="The same seed and options give the same result (random if left out)",
    )
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def remix(
        self,
        interaction: discord.Interaction,
        audio: discord.Attachment,
        prompt: app_commands.Range[str, 1, 500],
        strength: app_commands.Range[float, MIN_STRENGTH, 1.0] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
    ) -> None:
        await self.remixes.from_interaction(
            interaction, audio, prompt=prompt, strength=strength, seed=seed
        )

    async def remix_message(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        """The message command: the target's audio, the style asked for in a modal."""
        audio = next((a for a in message.attachments if looks_like_audio(a)), None)
        if audio is None:
            await interaction.response.send_message(
                "That message has no audio file to remix. Pick a message with an MP3, WAV, "
                "OGG, FLAC or M4A attachment, or use /remix with your file.",
                ephemeral=True,
            )
            return
        parent = None
        if self.bot.riffs is not None and message.author.id == self.bot.user.id:
            parent = await generation_for_message(self.bot.riffs.db, message.id, message)
        await interaction.response.send_modal(RemixPromptModal(self.remixes, audio, parent))

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """A reply to one of our results: remix the attached audio (or say how)."""
        if message.author.bot or message.reference is None or self.bot.riffs is None:
            return
        ref_id = message.reference.message_id
        if ref_id is None:
            return
        resolved = message.reference.resolved
        if isinstance(resolved, discord.Message) and resolved.author.id != self.bot.user.id:
            return
        message_at_hand = resolved if isinstance(resolved, discord.Message) else None
        parent = await generation_for_message(self.bot.riffs.db, ref_id, message_at_hand)
        if parent is None:
            return
        await self.remixes.from_reply(message, parent)


async def setup(bot: RiffusionBot) -> None:
    await bot.add_cog(Remix(bot))
