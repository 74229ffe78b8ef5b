"""How blend and remix results look, and their persistent buttons and select.

Like bot/ui/result_buttons.py, every item is a DynamicItem whose custom_id carries the
generation id (`mix:reroll:<id>`, `mix:info:<id>`, `blend:pick:<id>:<clips>`), so they work
after restarts with nothing kept in memory. Favourite, Delete and Remix reuse the /riff buttons
(`riff:fav:<id>`, `riff:delete:<id>`, `riff:remix:<id>`), which work for any generation.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

import discord

from bot.engine.tasks import BlendClipTask
from bot.jobs.blends import blend_request
from bot.jobs.service import JobRequest
from bot.limits import CLIP_SECONDS, MAX_BLEND_CLIPS
from bot.params import RiffParams, random_seed
from bot.policy.user_settings import UserDefaults
from bot.store import records
from bot.store.models import Generation
from bot.ui.remix_modals import RemixButton
from bot.ui.replies import reply
from bot.ui.result_buttons import ResultButton
from bot.ui.results import clicked_result, page_link, parent_link
from bot.ui.services import Services, services_of
from bot.ui.text import (
    CONTENT_LIMIT,
    PRUNED_LINE,
    clip,
    files_pruned,
    page_line,
    params_of,
    quote,
    with_command,
)
from riffusion_core.seed_images.catalogue import NO_SEED_IMAGE

log = logging.getLogger(__name__)


# ---- what the messages say ---------------------------------------------------------------------


def blend_info(generation: Generation) -> dict[str, Any]:
    return dict(generation.extra.get("blend") or {})


def remix_info(generation: Generation) -> dict[str, Any]:
    return dict(generation.extra.get("remix") or {})


def seed_image_text(generation: Generation) -> str:
    """How a blend started: its seed image and denoising, or text only (as every blend stored
    before blends recorded a seed image was: their seed_image is empty)."""
    if not generation.seed_image:
        return "none (text only)"
    return f"{generation.seed_image} at denoising {generation.denoising:g}"


def blend_command_options(p: RiffParams) -> str:
    """The seed image part of a copy-paste /blend: explicit, since /blend's default may differ."""
    if not p.seed_image:
        return f"seed_image:{NO_SEED_IMAGE}"
    return f"seed_image:{p.seed_image} denoising:{p.denoising:g}"


def _with_parent(text: str, parent_url: str | None) -> str:
    return clip(text + (f" (from {parent_url})" if parent_url else ""), CONTENT_LIMIT)


def _embed(generation: Generation, image_name: str, fields: list[tuple[str, str]]) -> discord.Embed:
    embed = discord.Embed(colour=discord.Colour.blurple())
    for name, value in fields:
        embed.add_field(name=name, value=clip(value, 1024))
    embed.set_image(url=f"attachment://{image_name}")
    embed.set_footer(text=f"#{generation.id}")
    return embed


def blend_look(generation: Generation, parent_url: str | None, image_name: str) -> dict[str, Any]:
    info = blend_info(generation)
    clips = int(info.get("clips", 2))
    text = (
        f"<@{generation.user_id}> Blend: **{quote(generation.prompt)}** → "
        f"**{quote(info.get('prompt_b', ''))}** in {clips} clips"
    )
    length = generation.audio_duration_s or generation.duration_s
    embed = _embed(
        generation,
        image_name,
        [
            ("Seeds", f"{generation.seed} → {info.get('seed_b')}"),
            ("Steps", str(generation.steps)),
            ("Clips", str(clips)),
            ("Length", f"{length:.1f} s"),
            ("Seed image", seed_image_text(generation)),
        ],
    )
    return {
        "content": _with_parent(text, parent_url),
        "embed": embed,
        "view": blend_view(generation.id, clips),
    }


def blend_clip_look(
    generation: Generation, parent_url: str | None, image_name: str
) -> dict[str, Any]:
    info = blend_info(generation)
    text = (
        f"<@{generation.user_id}> Clip {info.get('clip')} of a blend: "
        f"**{quote(generation.prompt)}** → **{quote(info.get('prompt_b', ''))}** "
        f"(alpha {float(info.get('alpha', 0)):.2f})"
    )
    embed = _embed(
        generation,
        image_name,
        [
            ("Seeds", f"{generation.seed} → {info.get('seed_b')}"),
            ("Steps", str(generation.steps)),
            ("Alpha", f"{float(info.get('alpha', 0)):.2f}"),
            ("Seed image", seed_image_text(generation)),
        ],
    )
    return {
        "content": _with_parent(text, parent_url),
        "embed": embed,
        "view": clip_view(generation.id),
    }


def remix_look(generation: Generation, parent_url: str | None, image_name: str) -> dict[str, Any]:
    info = remix_info(generation)
    text = (
        f"<@{generation.user_id}> Remix: **{quote(generation.prompt)}** "
        f"(strength {generation.denoising:g}; {info.get('used', 'used the upload')})"
    )
    embed = _embed(
        generation,
        image_name,
        [
            ("Seed", str(generation.seed)),
            ("Steps", str(generation.steps)),
            ("Strength", f"{generation.denoising:g}"),
            ("Length", f"{(generation.audio_duration_s or generation.duration_s):.1f} s"),
        ],
    )
    return {
        "content": _with_parent(text, parent_url),
        "embed": embed,
        "view": remix_view(generation.id),
    }


def mix_command(generation: Generation) -> str:
    """The copy-paste command of a blend, blend clip or remix (Info and its web page)."""
    p = params_of(generation)
    if generation.kind == "remix":
        return f"/remix audio:<your file> prompt:{p.prompt} strength:{p.denoising:g} seed:{p.seed}"
    info = blend_info(generation)
    command = (
        f"/blend prompt_a:{p.prompt} prompt_b:{info.get('prompt_b', '')} "
        f"clips:{info.get('of_clips', info.get('clips', 4))} seed_a:{p.seed} "
        f"seed_b:{info.get('seed_b')} steps:{p.steps} {blend_command_options(p)}"
    )
    if p.negative_prompt:
        command += f" negative_prompt:{p.negative_prompt}"
    return command


def mix_info_text(
    generation: Generation, favourites: int, parent_url: str | None, page_url: str | None = None
) -> str:
    """Info for blend / remix results: every parameter and a copy-paste command."""
    p = params_of(generation)
    lines = [
        f"**{generation.kind.replace('-', ' ').title()} #{generation.id}** by "
        f"<@{generation.user_id}>"
    ]
    if generation.kind == "remix":
        info = remix_info(generation)
        lines += [
            f"Prompt: {quote(p.prompt, 500)}",
            f"Seed: {p.seed} · Steps: {p.steps} · Strength: {p.denoising:g}",
            f"Input: {info.get('used', 'unknown')}",
        ]
    else:
        info = blend_info(generation)
        lines += [
            f"From: {quote(p.prompt, 400)} (seed {p.seed})",
            f"To: {quote(info.get('prompt_b', ''), 400)} (seed {info.get('seed_b')})",
            "Negative prompt: " + (quote(p.negative_prompt, 300) if p.negative_prompt else "none"),
            f"Steps: {p.steps} · Guidance: {p.guidance:g}",
            f"Seed image: {seed_image_text(generation)}",
        ]
        if generation.kind == "blend-clip":
            lines.append(
                f"Clip {info.get('clip')} of {info.get('of_clips')}, alpha "
                f"{float(info.get('alpha', 0)):.3f}"
            )
    lines.append(
        f"Length: {(generation.audio_duration_s or p.duration_s):.2f} s · Model: {generation.model}"
    )
    if parent_url:
        lines.append(f"Made from: {parent_url}")
    if page_url:
        lines.append(page_line(page_url))
    if files_pruned(generation):
        lines.append(PRUNED_LINE)
    lines.append(f"Favourites: {favourites}")
    return with_command("\n".join(lines), mix_command(generation), CONTENT_LIMIT)


# ---- views ------------------------------------------------------------------------------------


def blend_view(generation_id: int, clips: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(MixButton("reroll", generation_id))
    view.add_item(ResultButton("fav", generation_id))
    view.add_item(MixButton("info", generation_id))
    view.add_item(ResultButton("delete", generation_id))
    view.add_item(PickClipSelect(generation_id, clips))
    return view


def clip_view(generation_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ResultButton("variation", generation_id))
    view.add_item(RemixButton(generation_id))
    view.add_item(ResultButton("fav", generation_id))
    view.add_item(MixButton("info", generation_id))
    view.add_item(ResultButton("delete", generation_id))
    return view


def remix_view(generation_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(RemixButton(generation_id))
    view.add_item(ResultButton("fav", generation_id))
    view.add_item(MixButton("info", generation_id))
    view.add_item(ResultButton("delete", generation_id))
    return view


# ---- items ------------------------------------------------------------------------------------


MIX_ACTIONS = {
    "reroll": ("Reroll seeds", "🎲", discord.ButtonStyle.primary),
    "info": ("Info", "ℹ️", discord.ButtonStyle.secondary),
}


class MixButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"mix:(?P<action>reroll|info):(?P<id>\d+)"
):
    """Reroll seeds (blends) and Info (blends, blend clips, remixes)."""

    def __init__(self, action: str, generation_id: int) -> None:
        label, emoji, style = MIX_ACTIONS[action]
        super().__init__(
            discord.ui.Button(
                label=label, emoji=emoji, style=style, custom_id=f"mix:{action}:{generation_id}"
            )
        )
        self.action = action
        self.generation_id = generation_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> MixButton:
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
            await reply(interaction, mix_info_text(generation, favourites, parent_url, page))
            return
        if generation.kind != "blend":
            await reply(interaction, "Only a whole blend can be rerolled here.")
            return
        await start_blend(
            services,
            interaction,
            replace(params_of(generation), seed=random_seed()),
            prompt_b=blend_info(generation).get("prompt_b", ""),
            seed_b=random_seed(),
            clips=int(blend_info(generation).get("clips", 4)),
            parent=generation,
        )


class PickClipSelect(
    discord.ui.DynamicItem[discord.ui.Select], template=r"blend:pick:(?P<id>\d+):(?P<clips>\d+)"
):
    """'Pick clip k': re-render that alpha of the blend alone, as a normal single clip."""

    def __init__(self, generation_id: int, clips: int) -> None:
        clips = max(2, min(clips, MAX_BLEND_CLIPS))
        options = [
            discord.SelectOption(
                label=f"Clip {k}", value=str(k), description=f"alpha {(k - 1) / (clips - 1):.2f}"
            )
            for k in range(1, clips + 1)
        ]
        super().__init__(
            discord.ui.Select(
                custom_id=f"blend:pick:{generation_id}:{clips}",
                options=options,
                placeholder="Pick a clip to render on its own",
            )
        )
        self.generation_id = generation_id
        self.clips = clips

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PickClipSelect:
        return cls(int(match["id"]), int(match["clips"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        services = services_of(interaction)
        generation = await clicked_result(services, interaction, self.generation_id)
        if generation is None:
            return
        info = blend_info(generation)
        alphas = list(info.get("alphas") or [])
        k = int(self.item.values[0]) if self.item.values else 0
        if not 1 <= k <= len(alphas):
            await reply(interaction, "That blend has no such clip.")
            return
        params = replace(params_of(generation), duration_s=CLIP_SECONDS)
        clip_info = {
            "prompt_b": info.get("prompt_b", ""),
            "seed_b": info.get("seed_b"),
            "clip": k,
            "of_clips": len(alphas),
            "alpha": alphas[k - 1],
        }
        task = BlendClipTask(
            params=params,
            end_prompt=clip_info["prompt_b"],
            end_seed=int(clip_info["seed_b"]),
            alpha=float(alphas[k - 1]),
        )
        request = JobRequest(
            params=params,
            kind="blend-clip",
            task=task,
            parent=generation,
            extra={"blend": clip_info},
        )
        await services.jobs.start(services.origins.interaction(interaction), request)


async def start_blend(
    services: Services,
    interaction: discord.Interaction,
    params: RiffParams,
    *,
    prompt_b: str,
    seed_b: int,
    clips: int,
    parent: Generation | None = None,
    defaults: UserDefaults | None = None,
) -> None:
    """Queue a blend: /blend and the Reroll seeds button end here."""
    request = blend_request(params, prompt_b=prompt_b, seed_b=seed_b, clips=clips, parent=parent)
    await services.jobs.start(services.origins.interaction(interaction), request, defaults)
