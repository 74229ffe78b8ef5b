"""Buttons that keep working after restarts: DynamicItems whose custom_id carries a row id.

Nothing is kept in memory: on every click discord.py rebuilds the button from its custom_id
(`riff:<action>:<generation id>` or `riff:cancel:<job id>`) and the callback reads the database.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord

from bot.engine.renderer import ExtendSource, RenderTask
from bot.params import CLIP_SECONDS, VARIATION_STRENGTH, random_seed
from bot.store import records
from bot.store.models import Generation
from bot.ui.text import info_text, params_of

if TYPE_CHECKING:
    from bot.jobs.service import RiffService

log = logging.getLogger(__name__)

ACTIONS: dict[str, tuple[str, str, discord.ButtonStyle]] = {
    # action: (label, emoji, style) in display order
    "reroll": ("Reroll", "🎲", discord.ButtonStyle.primary),
    "variation": ("Variation", "🎨", discord.ButtonStyle.secondary),
    "extend": ("Extend", "➕", discord.ButtonStyle.secondary),
    "fav": ("Favourite", "⭐", discord.ButtonStyle.secondary),
    "info": ("Info", "ℹ️", discord.ButtonStyle.secondary),
    "delete": ("Delete", "🗑️", discord.ButtonStyle.danger),
}
GONE = "This result is no longer in the bot's records, so this button cannot do anything."
FILES_GONE = (
    "The files of this result were cleaned up (old results keep only their settings unless "
    "someone favourited them), so Variation and Extend cannot use it any more; Reroll still "
    "works, and so do Info and Favourite."
)
PRUNED_NOTE = " Its files were cleaned up earlier; its settings are kept, so Reroll still works."


def service_of(interaction: discord.Interaction) -> RiffService:
    return interaction.client.riffs  # type: ignore[attr-defined]


async def record_message(
    service: RiffService, generation: Generation, message: discord.Message | None
) -> None:
    """Clicked before the bot recorded where it posted the result (a fast click): record it."""
    if message is not None:
        await records.remember_message(service.db, generation, message.id, message.channel.id)


async def clicked_result(interaction: discord.Interaction, generation_id: int) -> Generation | None:
    """The result a button or menu under it belongs to, or None after telling the user it is
    gone. A click that beats the bot recording where it posted the result records it."""
    service = service_of(interaction)
    generation = await records.get_generation(service.db, generation_id)
    if generation is None:
        await service.reply(interaction, GONE)
        return None
    await record_message(service, generation, interaction.message)
    return generation


async def parent_link(service: RiffService, generation: Generation) -> str | None:
    """A link to the message of the result this one was made from, for Info."""
    if generation.parent_id is None:
        return None
    parent = await records.get_generation(service.db, generation.parent_id)
    return parent.jump_url() if parent else None


class ResultButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"riff:(?P<action>reroll|variation|extend|fav|info|delete):"
    r"(?P<id>\d+)",
):
    """One of the buttons under a result."""

    def __init__(self, action: str, generation_id: int) -> None:
        label, emoji, style = ACTIONS[action]
        super().__init__(
            discord.ui.Button(
                label=label, emoji=emoji, style=style, custom_id=f"riff:{action}:{generation_id}"
            )
        )
        self.action = action
        self.generation_id = generation_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any, /
    ) -> ResultButton:
        return cls(match["action"], int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        generation = await clicked_result(interaction, self.generation_id)
        if generation is None:
            return
        handler = getattr(self, f"_{self.action}")
        await handler(interaction, service_of(interaction), generation)

    async def _reroll(
        self, interaction: discord.Interaction, service: RiffService, generation: Generation
    ) -> None:
        params = params_of(generation).with_seed(random_seed())
        await service.start(interaction, params, kind="reroll", parent=generation)

    async def _variation(
        self, interaction: discord.Interaction, service: RiffService, generation: Generation
    ) -> None:
        image = _stored(service, generation.image_file)
        if image is None:
            await service.reply(interaction, FILES_GONE)
            return
        params = replace(params_of(generation), seed=random_seed(), denoising=VARIATION_STRENGTH)
        await service.start(
            interaction,
            params,
            kind="variation",
            parent=generation,
            task=RenderTask(params=params, init_image=image),
            extra={"variation_of": generation.id},
        )

    async def _extend(
        self, interaction: discord.Interaction, service: RiffService, generation: Generation
    ) -> None:
        master = _stored(service, generation.extra.get("master"))
        image = _stored(service, generation.image_file)
        if master is None or image is None:
            await service.reply(interaction, FILES_GONE)
            return
        length = (generation.audio_duration_s or generation.duration_s) + CLIP_SECONDS
        limit = 2 * service.settings.max_duration_s
        if length > limit:
            await service.reply(
                interaction,
                f"This track is long enough already: extended tracks can be up to {limit:g} s.",
            )
            return
        params = replace(params_of(generation), duration_s=round(length, 2))
        source = ExtendSource(
            master_path=master, image_path=image, clips=int(generation.extra.get("clips", 1))
        )
        await service.start(
            interaction,
            params,
            kind="extend",
            parent=generation,
            task=RenderTask(params=params, extend=source),
            extra={"extends": generation.id},
        )

    async def _fav(
        self, interaction: discord.Interaction, service: RiffService, generation: Generation
    ) -> None:
        added, count = await records.toggle_favourite(
            service.db, interaction.user.id, generation.id
        )
        if added:
            text = f"⭐ Added #{generation.id} to your favourites (you have {count})."
            if generation.image_file is None and generation.audio_file is None:
                text += PRUNED_NOTE
        else:
            text = f"Removed #{generation.id} from your favourites (you have {count})."
        await service.reply(interaction, text)

    async def _info(
        self, interaction: discord.Interaction, service: RiffService, generation: Generation
    ) -> None:
        favourites = await records.favourite_count(service.db, generation.id)
        parent_url = await parent_link(service, generation)
        await service.reply(interaction, info_text(generation, favourites, parent_url))

    async def _delete(
        self, interaction: discord.Interaction, service: RiffService, generation: Generation
    ) -> None:
        may_manage = interaction.guild_id is not None and interaction.permissions.manage_messages
        if interaction.user.id != generation.user_id and not may_manage:
            await service.reply(
                interaction,
                f"Sorry, only <@{generation.user_id}> (who made "
                "this) or members who can manage messages can delete it.",
            )
            return
        try:
            if interaction.message is not None:
                await interaction.message.delete()
        except discord.NotFound:
            pass
        except discord.HTTPException:
            await service.reply(
                interaction,
                "The bot could not delete that message (it may "
                "lack the Manage Messages permission here).",
            )
            return
        await records.update_generation(
            service.db, generation.id, deleted_at=datetime.now(timezone.utc)
        )
        if await records.favourite_count(service.db, generation.id) == 0:
            with contextlib.suppress(OSError, ValueError):
                for relative in (
                    generation.image_file,
                    generation.audio_file,
                    generation.extra.get("master"),
                ):
                    service.storage.delete(relative)
            await records.update_generation(
                service.db, generation.id, image_file=None, audio_file=None
            )
        await service.reply(interaction, "Deleted.")


class CancelButton(discord.ui.DynamicItem[discord.ui.Button], template=r"riff:cancel:(?P<id>\d+)"):
    """Cancel on a status message, while queued or running."""

    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Cancel",
                emoji="✖️",
                style=discord.ButtonStyle.secondary,
                custom_id=f"riff:cancel:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any, /
    ) -> CancelButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await service_of(interaction).cancel(interaction, self.job_id)


DYNAMIC_ITEMS = (ResultButton, CancelButton)


# Buttons other features add under every result (e.g. Play from cogs/voice.py), built per id.
EXTRA_RESULT_ITEMS: list[Callable[[int], discord.ui.Item]] = []


def result_view(generation_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in ACTIONS:
        view.add_item(ResultButton(action, generation_id))
    from bot.ui.mix_buttons import RemixButton  # builds on this module, so imported late

    view.add_item(RemixButton(generation_id))
    for make in EXTRA_RESULT_ITEMS:
        view.add_item(make(generation_id))
    return view


def cancel_view(job_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job_id))
    return view


def _stored(service: RiffService, relative: str | None) -> Path | None:
    if not relative:
        return None
    try:
        path = service.storage.path(relative)
    except ValueError:
        return None
    return path if path.is_file() else None
