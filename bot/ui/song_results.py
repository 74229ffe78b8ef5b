"""A song's result message: its structure and tempo, and what can be done with it next.

"New <section>" renders the song again with new seeds for every occurrence of one section (a
new chorus everywhere it returns; the other sections keep theirs, so they sound the same), and
Extend adds a section. Both make a new song, linked to this one, through the usual queue.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import discord

from bot.engine.song_task import SongTask, song_params
from bot.jobs.service import JobRequest
from bot.store import records
from bot.store.models import Generation
from bot.ui.replies import reply
from bot.ui.result_buttons import ResultButton
from bot.ui.results import clicked_result, page_link, parent_link
from bot.ui.services import Services, services_of
from bot.ui.text import CONTENT_LIMIT, clip, page_line, quote, with_command
from riffusion_core.songs import MAX_SECTIONS, SongError, SongSpec

SONG_INFO_LIMIT = 2000


def song_of(generation: Generation) -> SongSpec | None:
    """The song a result was made from (None for a record that lost it)."""
    text = (generation.extra or {}).get("song")
    if not isinstance(text, str):
        return None
    try:
        return SongSpec.from_json(text)
    except (SongError, ValueError, KeyError, TypeError):
        return None


def structure_text(spec: SongSpec) -> str:
    return " | ".join(s.label for s in spec.sections)


def song_command(spec: SongSpec) -> str:
    """A /song command that makes this song again."""
    seen: set[str] = set()
    parts = []
    for section in spec.sections:
        if section.label in seen:
            parts.append(section.label)
        else:
            parts.append(f"{section.label}: {section.prompt}")
            seen.add(section.label)
    command = (
        f"/song structure:{' | '.join(parts)} bpm:{spec.bpm:g} length:{spec.length_s:g} "
        f"seed:{spec.seed} steps:{spec.steps}"
    )
    if spec.loop:
        command += f" loop:{spec.loop}"
    return command


def song_look(generation: Generation, parent_url: str | None, image_name: str) -> dict[str, Any]:
    spec = song_of(generation)
    length = generation.audio_duration_s or generation.duration_s
    text = f"<@{generation.user_id}> Song: **{quote(generation.prompt)}**"
    if parent_url:
        text += f" (from {parent_url})"
    embed = discord.Embed(colour=discord.Colour.blurple())
    if spec is not None:
        embed.add_field(name="Structure", value=clip(structure_text(spec), 1024), inline=False)
        embed.add_field(name="Tempo", value=f"{spec.bpm:g} BPM")
    embed.add_field(name="Length", value=f"{length:.1f} s")
    embed.add_field(name="Seed", value=str(generation.seed))
    embed.add_field(name="Steps", value=str(generation.steps))
    embed.set_image(url=f"attachment://{image_name}")
    embed.set_footer(text=f"#{generation.id}")
    labels = sorted({s.label for s in spec.sections}) if spec else []
    return {
        "content": clip(text, CONTENT_LIMIT),
        "embed": embed,
        "view": song_view(generation.id, labels),
    }


def song_info_text(
    generation: Generation, favourites: int, parent_url: str | None, page_url: str | None = None
) -> str:
    spec = song_of(generation)
    lines = [f"**Song #{generation.id}** by <@{generation.user_id}>"]
    if spec is None:
        return "\n".join([*lines, "This song's structure was not kept."])
    for i, section in enumerate(spec.sections, 1):
        lines.append(f"{i}. **{section.label}**: {quote(section.prompt, 200)}")
    reseeded = ", ".join(f"{label} ×{n}" for label, n in spec.reseed)
    lines += [
        f"Tempo: {spec.bpm:g} BPM · Length: {spec.length_s:g} s · Loop: {spec.loop or 'none'}",
        f"Seed: {spec.seed} · Steps: {spec.steps} · Guidance: {spec.guidance:g} · "
        f"Strength from the loop: {spec.denoising:g}",
        f"Negative prompt: {quote(spec.negative_prompt, 200) if spec.negative_prompt else 'none'}",
    ]
    if reseeded:
        lines.append(f"New seeds for: {reseeded}")
    lines.append(f"Favourited by {favourites} · Model: {generation.model}")
    if parent_url:
        lines.append(f"Made from {parent_url}")
    if page_url:
        lines.append(page_line(page_url))
    return with_command("\n".join(lines), song_command(spec), SONG_INFO_LIMIT)


def song_view(generation_id: int, labels: list[str]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(SongButton("extend", generation_id))
    view.add_item(ResultButton("fav", generation_id))
    view.add_item(SongButton("info", generation_id))
    view.add_item(ResultButton("delete", generation_id))
    if labels:
        view.add_item(NewSectionSelect(generation_id, labels))
    return view


def extended(spec: SongSpec) -> SongSpec:
    """One section more: the chorus again (or the section most like one), before a closing
    outro if there is one, and the song longer by an average section."""
    sections = list(spec.sections)
    if len(sections) >= MAX_SECTIONS:
        raise SongError(f"This song already has {MAX_SECTIONS} sections, the most a song has.")
    labels = [s.label for s in sections]
    # The chorus if there is one; else the most repeated section that neither opens nor closes
    # the song (the later one on a tie); else the last.
    middle = labels[1:-1] or labels
    again = (
        "chorus"
        if "chorus" in labels
        else max(middle, key=lambda label: (middle.count(label), labels.index(label)))
    )
    section = next(s for s in sections if s.label == again)
    at = len(sections) - 1 if len(sections) > 1 and labels[-1] == "outro" else len(sections)
    sections.insert(at, section)
    longer = spec.length_s * len(sections) / max(len(spec.sections), 1)
    return replace(spec, sections=tuple(sections), length_s=min(round(longer), 240.0))


async def start_song(
    services: Services,
    interaction: discord.Interaction,
    spec: SongSpec,
    title: str,
    parent: Generation,
) -> None:
    if spec.length_s > services.settings.max_song_s:
        await reply(
            interaction,
            f"That would be {spec.length_s:g} s; this bot makes songs of up to "
            f"{services.settings.max_song_s:g} s (MAX_SONG_S).",
        )
        return
    params = song_params(spec, title)
    request = JobRequest(
        params=params,
        kind="song",
        task=SongTask(params=params, song=spec),
        parent=parent,
        extra={"song": spec.to_json()},
    )
    await services.jobs.start(services.origins.interaction(interaction), request)


class SongButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"song:(?P<action>extend|info):(?P<id>\d+)"
):
    """Extend (one section more) and Info under a song."""

    LOOKS = {  # noqa: RUF012 - a constant table
        "extend": ("Extend by a section", "➕", discord.ButtonStyle.primary),
        "info": ("Info", "ℹ️", discord.ButtonStyle.secondary),
    }

    def __init__(self, action: str, generation_id: int) -> None:
        label, emoji, style = self.LOOKS[action]
        super().__init__(
            discord.ui.Button(
                label=label, emoji=emoji, style=style, custom_id=f"song:{action}:{generation_id}"
            )
        )
        self.action = action
        self.generation_id = generation_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> SongButton:
        return cls(match["action"], int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        services = services_of(interaction)
        generation = await clicked_result(services, interaction, self.generation_id)
        if generation is None:
            return
        if self.action == "info":
            parent_url = await parent_link(services, generation)
            favourites = await records.favourite_count(services.db, generation.id)
            page = await page_link(services, generation)
            await reply(interaction, song_info_text(generation, favourites, parent_url, page))
            return
        spec = song_of(generation)
        if spec is None:
            await reply(interaction, "This song's structure was not kept, so it cannot grow.")
            return
        try:
            longer = extended(spec)
        except SongError as exc:
            await reply(interaction, str(exc))
            return
        await start_song(services, interaction, longer, generation.prompt, generation)


class NewSectionSelect(discord.ui.DynamicItem[discord.ui.Select], template=r"song:new:(?P<id>\d+)"):
    """'New chorus': every occurrence of one section with new seeds; the rest as it was."""

    def __init__(self, generation_id: int, labels: list[str]) -> None:
        options = [
            discord.SelectOption(label=f"New {label}", value=label) for label in labels[:25]
        ] or [discord.SelectOption(label="New section", value="")]
        super().__init__(
            discord.ui.Select(
                custom_id=f"song:new:{generation_id}",
                options=options,
                placeholder="Render one section again with new seeds",
            )
        )
        self.generation_id = generation_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> NewSectionSelect:
        return cls(int(match["id"]), [])  # the picked value arrives with the click

    async def callback(self, interaction: discord.Interaction) -> None:
        services = services_of(interaction)
        generation = await clicked_result(services, interaction, self.generation_id)
        if generation is None:
            return
        spec = song_of(generation)
        label = self.item.values[0] if self.item.values else ""
        if spec is None or label not in {s.label for s in spec.sections}:
            await reply(interaction, "That section is not in this song.")
            return
        await start_song(services, interaction, spec.with_new(label), generation.prompt, generation)
