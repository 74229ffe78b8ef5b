"""Buttons that keep working after restarts: DynamicItems whose custom_id carries a row id.

Nothing is kept in memory: on every click discord.py rebuilds the button from its custom_id
(`riff:<action>:<generation id>` or `riff:cancel:<job id>`) and the callback reads the database.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import discord

from bot.engine.tasks import ExtendSource, RenderTask
from bot.jobs.service import JobRequest
from bot.limits import CLIP_SECONDS, EXTEND_FACTOR, VARIATION_STRENGTH
from bot.params import random_seed
from bot.store import records
from bot.store.models import Generation
from bot.ui.play import PlayButton
from bot.ui.remix_modals import RemixButton
from bot.ui.replies import reply
from bot.ui.results import clicked_result, page_link, parent_link, stored_file
from bot.ui.services import Services, services_of
from bot.ui.text import info_text, params_of, result_content, result_embed

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
FILES_GONE = (
    "The files of this result were cleaned up (old results keep only their settings unless "
    "someone favourited them), so Variation and Extend cannot use it any more; Reroll still "
    "works, and so do Info and Favourite."
)
PRUNED_NOTE = " Its files were cleaned up earlier; its settings are kept, so Reroll still works."


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
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ResultButton:
        return cls(match["action"], int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        services = services_of(interaction)
        generation = await clicked_result(services, interaction, self.generation_id)
        if generation is None:
            return
        handlers = {
            "reroll": self._reroll,
            "variation": self._variation,
            "extend": self._extend,
            "fav": self._fav,
            "info": self._info,
            "delete": self._delete,
        }
        await handlers[self.action](interaction, services, generation)

    @staticmethod
    async def _start(
        interaction: discord.Interaction, services: Services, request: JobRequest
    ) -> None:
        await services.jobs.start(services.origins.interaction(interaction), request)

    async def _reroll(
        self, interaction: discord.Interaction, services: Services, generation: Generation
    ) -> None:
        params = params_of(generation).with_seed(random_seed())
        await self._start(
            interaction, services, JobRequest(params=params, kind="reroll", parent=generation)
        )

    async def _variation(
        self, interaction: discord.Interaction, services: Services, generation: Generation
    ) -> None:
        image = stored_file(services.files, generation.image_file)
        if image is None:
            await reply(interaction, FILES_GONE)
            return
        params = replace(params_of(generation), seed=random_seed(), denoising=VARIATION_STRENGTH)
        request = JobRequest(
            params=params,
            kind="variation",
            parent=generation,
            task=RenderTask(params=params, init_image=image),
            extra={"variation_of": generation.id},
        )
        await self._start(interaction, services, request)

    async def _extend(
        self, interaction: discord.Interaction, services: Services, generation: Generation
    ) -> None:
        master = stored_file(services.files, generation.extra.get("master"))
        image = stored_file(services.files, generation.image_file)
        if master is None or image is None:
            await reply(interaction, FILES_GONE)
            return
        length = (generation.audio_duration_s or generation.duration_s) + CLIP_SECONDS
        limit = EXTEND_FACTOR * services.settings.max_duration_s
        if length > limit:
            await reply(
                interaction,
                f"This track is long enough already: extended tracks can be up to {limit:g} s.",
            )
            return
        params = replace(params_of(generation), duration_s=round(length, 2))
        source = ExtendSource(
            master_path=master, image_path=image, clips=int(generation.extra.get("clips", 1))
        )
        request = JobRequest(
            params=params,
            kind="extend",
            parent=generation,
            task=RenderTask(params=params, extend=source),
            extra={"extends": generation.id},
        )
        await self._start(interaction, services, request)

    async def _fav(
        self, interaction: discord.Interaction, services: Services, generation: Generation
    ) -> None:
        added, count = await records.toggle_favourite(
            services.db, interaction.user.id, generation.id
        )
        if added:
            text = f"⭐ Added #{generation.id} to your favourites (you have {count})."
            if generation.image_file is None and generation.audio_file is None:
                text += PRUNED_NOTE
        else:
            text = f"Removed #{generation.id} from your favourites (you have {count})."
        await reply(interaction, text)

    async def _info(
        self, interaction: discord.Interaction, services: Services, generation: Generation
    ) -> None:
        favourites = await records.favourite_count(services.db, generation.id)
        parent_url = await parent_link(services, generation)
        page = await page_link(services, generation)
        await reply(
            interaction, info_text(generation, favourites, parent_url, services.seed_images, page)
        )

    async def _delete(
        self, interaction: discord.Interaction, services: Services, generation: Generation
    ) -> None:
        may_manage = interaction.guild_id is not None and interaction.permissions.manage_messages
        if interaction.user.id != generation.user_id and not may_manage:
            await reply(
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
            await reply(
                interaction,
                "The bot could not delete that message (it may "
                "lack the Manage Messages permission here).",
            )
            return
        await records.update_generation(
            services.db, generation.id, deleted_at=datetime.now(timezone.utc)
        )
        if await records.favourite_count(services.db, generation.id) == 0:
            with contextlib.suppress(OSError, ValueError):
                for relative in (
                    generation.image_file,
                    generation.audio_file,
                    generation.extra.get("master"),
                ):
                    services.files.delete(relative)
            await records.update_generation(
                services.db, generation.id, image_file=None, audio_file=None
            )
        await reply(interaction, "Deleted.")


def result_view(generation_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in ACTIONS:
        view.add_item(ResultButton(action, generation_id))
    view.add_item(RemixButton(generation_id))
    view.add_item(PlayButton(generation_id))
    return view


def riff_look(generation: Generation, parent_url: str | None, image_name: str) -> dict[str, Any]:
    """A riff (and its rerolls, variations, extends): the prompt and every button."""
    return {
        "content": result_content(generation, parent_url),
        "embed": result_embed(generation, image_name),
        "view": result_view(generation.id),
    }
