"""The Remix button under results and the two remix modals (upload, or style for a message's
file). Like every result button, the Remix button carries its generation id
(`riff:remix:<id>`) and works after restarts."""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.jobs.uploads import AttachmentLike
from bot.store.models import Generation
from bot.ui.remix_paths import remix_from_interaction
from bot.ui.results import clicked_result
from bot.ui.services import Services, services_of


class RemixButton(discord.ui.DynamicItem[discord.ui.Button], template=r"riff:remix:(?P<id>\d+)"):
    """Opens a modal to upload audio and remix it in this result's style."""

    def __init__(self, generation_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Remix",
                emoji="🎛️",
                style=discord.ButtonStyle.secondary,
                custom_id=f"riff:remix:{generation_id}",
            )
        )
        self.generation_id = generation_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RemixButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        services = services_of(interaction)
        generation = await clicked_result(services, interaction, self.generation_id)
        if generation is None:
            return
        # A modal must be the first response: no defer before it.
        await interaction.response.send_modal(RemixUploadModal(services, generation))


class _RemixModal(discord.ui.Modal, title="Remix with Riffusion"):
    """The style (prompt) and strength fields both remix modals ask for."""

    def __init__(self, services: Services, parent: Generation | None) -> None:
        super().__init__(timeout=15 * 60)
        self.services = services
        self.parent = parent
        self.prompt: discord.ui.TextInput[_RemixModal] = discord.ui.TextInput(
            label="Style (prompt)",
            custom_id="remix:prompt",
            max_length=500,
            required=parent is None,
            placeholder="e.g. lofi hip hop, warm piano",
            default=parent.prompt[:500] if parent else None,
        )
        self.strength: discord.ui.TextInput[_RemixModal] = discord.ui.TextInput(
            label="Strength (0.1-1, higher changes more)",
            custom_id="remix:strength",
            required=False,
            max_length=5,
            placeholder="Empty: your /settings default, else 0.55",
        )

    async def submit(self, interaction: discord.Interaction, attachment: AttachmentLike) -> None:
        strength = None
        if self.strength.value.strip():
            try:
                strength = float(self.strength.value.strip().replace(",", "."))
            except ValueError:
                await interaction.response.send_message(
                    "The strength must be a number between 0.1 and 1, e.g. 0.55.", ephemeral=True
                )
                return
        await remix_from_interaction(
            self.services,
            interaction,
            attachment,
            prompt=self.prompt.value,
            strength=strength,
            parent=self.parent,
        )


class RemixUploadModal(_RemixModal):
    """The Remix button: upload a file (a modal file upload) and pick the style."""

    def __init__(self, services: Services, parent: Generation | None) -> None:
        super().__init__(services, parent)
        self.upload: discord.ui.FileUpload[RemixUploadModal] = discord.ui.FileUpload(
            custom_id="remix:file", min_values=1, max_values=1
        )
        self.add_item(
            discord.ui.Label(
                text="Audio to remix",
                component=self.upload,
                description="MP3, WAV, OGG, FLAC or M4A",
            )
        )
        self.add_item(self.prompt)
        self.add_item(self.strength)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        if not self.upload.values:
            await interaction.response.send_message("Please attach an audio file.", ephemeral=True)
            return
        await self.submit(interaction, self.upload.values[0])


class RemixPromptModal(_RemixModal):
    """The message context-menu command: the file is the target's, the style is asked here."""

    def __init__(
        self, services: Services, attachment: discord.Attachment, parent: Generation | None
    ) -> None:
        super().__init__(services, parent)
        self.attachment = attachment
        self.add_item(self.prompt)
        self.add_item(self.strength)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.submit(interaction, self.attachment)
