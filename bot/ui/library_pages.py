"""/favorites and /history pages: an embed per page and buttons that survive restarts.

Every button is a DynamicItem whose custom_id carries the list, the owner's user id and the page
(`lib:page:fav:<user>:<page>`, `lib:post:hist:<user>:<page>:<generation>`), so a click works
after a restart with nothing kept in memory; only the owner may use them. Posting again reads
the result's PNG and MP3 from DATA_DIR (the stored file names), never a Discord URL.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from datetime import timezone
from typing import Any

import discord

from bot.jobs.kinds import kind_label
from bot.store import library, records
from bot.store.library import ListKind, Page
from bot.store.models import Generation
from bot.ui.context import messageable
from bot.ui.mix_buttons import MixButton
from bot.ui.remix_modals import RemixButton
from bot.ui.replies import reply
from bot.ui.result_buttons import ResultButton
from bot.ui.results import stored_file
from bot.ui.services import Services, services_of
from bot.ui.text import CONTENT_LIMIT, clip, quote, result_embed

log = logging.getLogger(__name__)

TITLES = {"fav": "Your favourites", "hist": "Your recent results"}
EMPTY = {
    "fav": "You have no favourites yet: press ⭐ Favourite under a result to keep it here.",
    "hist": "You have no results yet: try /riff, /blend or /remix.",
}
MIX_KINDS = ("blend", "blend-clip", "remix")


def files_gone_text(generation: Generation) -> str:
    return (
        f"The files of #{generation.id} were cleaned up to save space, so it cannot be "
        "posted again. Its settings are kept: use Info on the original, or make it anew."
    )


def entry_line(number: int, generation: Generation, has_files: bool) -> str:
    label = kind_label(generation.kind)
    prompt = quote(generation.prompt, 80)
    prompt_b = (generation.extra.get("blend") or {}).get("prompt_b")
    if prompt_b:
        prompt += f" → {quote(prompt_b, 60)}"
    length = generation.audio_duration_s or generation.duration_s
    made = generation.created_at
    if made.tzinfo is None:  # SQLite returns naive UTC datetimes
        made = made.replace(tzinfo=timezone.utc)
    parts = [
        f"**{number}.** #{generation.id} {label}: **{prompt}**",
        f"{length:.1f} s",
        f"<t:{int(made.timestamp())}:R>",
    ]
    url = generation.jump_url()
    if url and generation.deleted_at is None:
        parts.append(f"[message]({url})")
    if not has_files:
        parts.append("files cleaned up")
    return " · ".join(parts)


def page_embed(page: Page, with_files: dict[int, bool]) -> discord.Embed:
    lines = [
        entry_line(page.first_number + i, g, with_files.get(g.id, False))
        for i, g in enumerate(page.entries)
    ]
    embed = discord.Embed(
        title=f"{TITLES[page.kind]} ({page.total})",
        description="\n".join(lines) or EMPTY[page.kind],
        colour=discord.Colour.gold() if page.kind == "fav" else discord.Colour.blurple(),
    )
    embed.set_footer(
        text=f"Page {page.page + 1} of {page.pages} · Post puts a result in this "
        "channel again, with its files."
    )
    return embed


def page_view(page: Page, favourites: set[int]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for generation in page.entries:
        view.add_item(EntryButton("post", page.kind, page.user_id, page.page, generation.id))
    for generation in page.entries:
        action = "unfav" if page.kind == "fav" or generation.id in favourites else "fav"
        view.add_item(EntryButton(action, page.kind, page.user_id, page.page, generation.id))
    if page.pages > 1:
        view.add_item(
            PageButton(page.kind, page.user_id, page.page - 1, back=True, disabled=page.page == 0)
        )
        view.add_item(
            PageButton(
                page.kind,
                page.user_id,
                page.page + 1,
                back=False,
                disabled=page.page >= page.pages - 1,
            )
        )
    return view


async def render(services: Services, kind: ListKind, user_id: int, page: int) -> dict[str, Any]:
    """The embed and buttons of one page (kwargs for send_message / edit_message)."""
    loaded = await library.load_page(services.db, kind, user_id, page)
    ids = [g.id for g in loaded.entries]
    favourites = (
        set(ids) if kind == "fav" else await library.favourite_ids(services.db, user_id, ids)
    )
    with_files = {g.id: stored_files(services, g) is not None for g in loaded.entries}
    return {"embed": page_embed(loaded, with_files), "view": page_view(loaded, favourites)}


def stored_files(services: Services, generation: Generation) -> tuple[Any, Any] | None:
    """(PNG path, MP3 path) when both are still in DATA_DIR."""
    image, audio = (
        stored_file(services.files, generation.image_file),
        stored_file(services.files, generation.audio_file),
    )
    return (image, audio) if image is not None and audio is not None else None


def repost_view(generation: Generation) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ResultButton("fav", generation.id))
    if generation.kind in MIX_KINDS:
        view.add_item(MixButton("info", generation.id))
    else:
        view.add_item(ResultButton("info", generation.id))
    view.add_item(RemixButton(generation.id))
    return view


async def repost(
    interaction: discord.Interaction, services: Services, generation: Generation, kind: ListKind
) -> None:
    """Post the result in this channel again, with its files, and say where (ephemeral)."""
    paths = stored_files(services, generation)
    if paths is None:
        await reply(interaction, files_gone_text(generation))
        return
    await interaction.response.defer(ephemeral=True, thinking=True)
    png, mp3 = await asyncio.gather(
        asyncio.to_thread(paths[0].read_bytes), asyncio.to_thread(paths[1].read_bytes)
    )
    image_name = f"riff-{generation.id}.png"
    files = [
        discord.File(io.BytesIO(png), filename=image_name),
        discord.File(io.BytesIO(mp3), filename=f"riff-{generation.id}.mp3"),
    ]
    star = "⭐ " if kind == "fav" else ""
    text = f"{star}<@{interaction.user.id}> shared #{generation.id}: **{quote(generation.prompt)}**"
    if generation.user_id != interaction.user.id:
        text += f", made by <@{generation.user_id}>"
    url = generation.jump_url()
    if url and generation.deleted_at is None:
        text += f" (first posted {url})"
    channel = _channel_of(interaction)
    try:
        message = await channel.send(
            clip(text, CONTENT_LIMIT),
            files=files,
            embed=result_embed(generation, image_name),
            view=repost_view(generation),
            allowed_mentions=discord.AllowedMentions.none(),
        )
    except discord.Forbidden:
        await interaction.followup.send(
            "I may not post in this channel (I need Send Messages and Attach Files here); "
            "try /favorites in another channel.",
            ephemeral=True,
        )
        return
    except discord.HTTPException as exc:
        reason = (
            "its files are larger than this channel's upload limit"
            if exc.code == 40005 or exc.status == 413
            else f"Discord said: {exc.text}"
        )
        await interaction.followup.send(
            f"Could not post #{generation.id}: {reason}.", ephemeral=True
        )
        return
    await interaction.followup.send(f"Posted #{generation.id}: {message.jump_url}", ephemeral=True)


def _channel_of(interaction: discord.Interaction) -> discord.abc.Messageable:
    """Where the interaction happened, as a channel to post in (a partial one if not cached)."""
    channel = messageable(interaction.channel)
    if channel is not None:
        return channel
    if interaction.channel_id is None:
        raise RuntimeError("A button interaction arrived without a channel")
    return interaction.client.get_partial_messageable(interaction.channel_id)


def _list_kind(text: str) -> ListKind:
    """The list a custom id names (its template admits only fav and hist)."""
    return "fav" if text == "fav" else "hist"


def _not_yours(user_id: int) -> str:
    return (
        f"These buttons belong to <@{user_id}>'s list; use /favorites or /history to see your own."
    )


class PageButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"lib:page:(?P<kind>fav|hist):(?P<uid>\d+):(?P<page>-?\d+)",
):
    """Previous / Next under a page of /favorites or /history."""

    def __init__(
        self, kind: ListKind, user_id: int, page: int, *, back: bool = False, disabled: bool = False
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label="Previous" if back else "Next",
                emoji="◀️" if back else "▶️",
                style=discord.ButtonStyle.secondary,
                disabled=disabled,
                row=2,
                custom_id=f"lib:page:{kind}:{user_id}:{page}",
            )
        )
        self.kind: ListKind = kind
        self.user_id = user_id
        self.page = page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PageButton:
        return cls(_list_kind(match["kind"]), int(match["uid"]), int(match["page"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        services = services_of(interaction)
        if interaction.user.id != self.user_id:
            await reply(interaction, _not_yours(self.user_id))
            return
        shown = await render(services, self.kind, self.user_id, self.page)
        await interaction.response.edit_message(content=None, **shown)


ENTRY_LOOKS = {  # action: (label prefix, emoji, style)
    "post": ("Post", "📤", discord.ButtonStyle.primary),
    "unfav": ("Remove", "✖️", discord.ButtonStyle.secondary),
    "fav": ("Favourite", "⭐", discord.ButtonStyle.secondary),
}


class EntryButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"lib:(?P<action>post|unfav|fav):(?P<kind>fav|hist):(?P<uid>\d+):(?P<page>\d+):"
    r"(?P<id>\d+)",
):
    """Post again, remove from favourites, or favourite: one entry of a page."""

    def __init__(
        self, action: str, kind: ListKind, user_id: int, page: int, generation_id: int
    ) -> None:
        prefix, emoji, style = ENTRY_LOOKS[action]
        super().__init__(
            discord.ui.Button(
                label=f"{prefix} #{generation_id}",
                emoji=emoji,
                style=style,
                row=0 if action == "post" else 1,
                custom_id=f"lib:{action}:{kind}:{user_id}:{page}:{generation_id}",
            )
        )
        self.action = action
        self.kind: ListKind = kind
        self.user_id = user_id
        self.page = page
        self.generation_id = generation_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> EntryButton:
        return cls(
            match["action"],
            _list_kind(match["kind"]),
            int(match["uid"]),
            int(match["page"]),
            int(match["id"]),
        )

    async def callback(self, interaction: discord.Interaction) -> None:
        services = services_of(interaction)
        if interaction.user.id != self.user_id:
            await reply(interaction, _not_yours(self.user_id))
            return
        generation = await records.get_generation(services.db, self.generation_id)
        if generation is None:
            await reply(interaction, f"#{self.generation_id} is no longer in the bot's records.")
            return
        if self.action == "post":
            await repost(interaction, services, generation, self.kind)
            return
        if self.action == "unfav":
            removed = await library.remove_favourite(services.db, self.user_id, generation.id)
            note = (
                f"Removed #{generation.id} from your favourites."
                if removed
                else f"#{generation.id} was not in your favourites any more."
            )
        else:
            added, _count = await records.toggle_favourite(services.db, self.user_id, generation.id)
            note = (
                f"⭐ Added #{generation.id} to your favourites."
                if added
                else f"Removed #{generation.id} from your favourites."
            )
        shown = await render(services, self.kind, self.user_id, self.page)
        await interaction.response.edit_message(content=note, **shown)


LIBRARY_ITEMS = (PageButton, EntryButton)
