"""The result a button, select or menu belongs to, and its files on disk."""

from __future__ import annotations

import re
from pathlib import Path

import discord

from bot.store import records
from bot.store.files import Storage
from bot.store.models import Generation
from bot.store.web_pages import page_url
from bot.ui.replies import reply
from bot.ui.services import Services

GONE = "This result is no longer in the bot's records, so this button cannot do anything."


async def clicked_result(
    services: Services, interaction: discord.Interaction, generation_id: int
) -> Generation | None:
    """The result a button or menu under it belongs to, or None after telling the user it is
    gone. A click that beats the bot recording where it posted the result records it."""
    generation = await records.get_generation(services.db, generation_id)
    if generation is None:
        await reply(interaction, GONE)
        return None
    message = interaction.message
    if message is not None:
        await records.remember_message(services.db, generation, message.id, message.channel.id)
    return generation


async def parent_link(services: Services, generation: Generation) -> str | None:
    """A link to the message of the result this one was made from, for Info."""
    if generation.parent_id is None:
        return None
    parent = await records.get_generation(services.db, generation.parent_id)
    return parent.jump_url() if parent else None


async def page_link(services: Services, generation: Generation) -> str | None:
    """The result's web page for Info, when it has one: the bot has a web side (WEB_PORT), the
    result was posted in a public channel and is not deleted, and its server has web pages on
    (/admin web). The page serves on exactly these terms (bot/store/web_pages.py)."""
    base_url = services.settings.web_base_url
    if (
        base_url is None
        or not generation.public
        or generation.web_token is None
        or generation.guild_id is None
        or generation.deleted_at is not None
    ):
        return None
    rules = await services.policy.rules(generation.guild_id)
    return page_url(base_url, generation.web_token) if rules.web_pages else None


def stored_file(files: Storage, relative: str | None) -> Path | None:
    """A result's file under DATA_DIR, if it is still there."""
    if not relative:
        return None
    try:
        path = files.path(relative)
    except ValueError:
        return None
    return path if path.is_file() else None


# Buttons under a result carry its generation id ("riff:fav:12", "mix:info:12", ...).
# (Cancel, `riff:cancel:<job id>`, carries a job's id, not a result's: it never counts.)
RESULT_CUSTOM_ID = re.compile(r"(?:riff:(?!cancel:)[a-z]+|mix:[a-z]+|song:[a-z]+):(\d+)")


def generation_id_in_buttons(message: discord.Message) -> int | None:
    """The result a message of ours shows, read from its buttons: this works the moment it is
    posted, and for a favourite posted again (whose message id the database does not hold)."""
    for row in message.components:
        if not isinstance(row, discord.ActionRow):
            continue
        for item in row.children:
            custom_id = (
                item.custom_id if isinstance(item, (discord.Button, discord.SelectMenu)) else None
            )
            match = RESULT_CUSTOM_ID.fullmatch(custom_id or "")
            if match:
                return int(match[1])
    return None
