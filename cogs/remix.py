"""Remix users' audio: /remix, the "Remix with Riffusion" message command, replies to results.

The Remix button on results (bot/ui/remix_modals.py) is the fourth way in; all four end in
RemixService.submit.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.jobs.uploads import looks_like_audio
from bot.ui.options import Prompt, Seed, Strength
from bot.ui.remix_modals import RemixPromptModal
from bot.ui.remix_paths import ReplyRemixes, generation_for_message, remix_from_interaction

if TYPE_CHECKING:
    from bot.app.client import RiffusionBot

log = logging.getLogger(__name__)
CONTEXT_MENU_NAME = "Remix with Riffusion"


class Remix(commands.Cog):
    def __init__(self, bot: RiffusionBot) -> None:
        self.bot = bot
        self.replies = ReplyRemixes(bot.services)
        self.context_menu = app_commands.ContextMenu(
            name=CONTEXT_MENU_NAME, callback=self.remix_message
        )
        self.context_menu.allowed_contexts = app_commands.AppCommandContext(
            guild=True, dm_channel=True, private_channel=True
        )

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.context_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.context_menu.name, type=self.context_menu.type)

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
        prompt: Prompt,
        strength: Strength | None = None,
        seed: Seed | None = None,
    ) -> None:
        await remix_from_interaction(
            self.bot.services, interaction, audio, prompt=prompt, strength=strength, seed=seed
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
        if self.bot.user is not None and message.author.id == self.bot.user.id:
            parent = await generation_for_message(self.bot.services, message.id, message)
        await interaction.response.send_modal(RemixPromptModal(self.bot.services, audio, parent))

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """A reply to one of our results: remix the attached audio (or say how)."""
        if message.author.bot or message.reference is None or self.bot.user is None:
            return
        ref_id = message.reference.message_id
        if ref_id is None:
            return
        resolved = message.reference.resolved
        if isinstance(resolved, discord.Message) and resolved.author.id != self.bot.user.id:
            return
        message_at_hand = resolved if isinstance(resolved, discord.Message) else None
        parent = await generation_for_message(self.bot.services, ref_id, message_at_hand)
        if parent is None:
            return
        await self.replies.on_reply(message, parent)


async def setup(bot: RiffusionBot) -> None:
    await bot.add_cog(Remix(bot))
