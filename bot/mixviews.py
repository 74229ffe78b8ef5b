"""How blend and remix results look, and their persistent buttons, select and upload modal.

Like bot/buttons.py, every item is a DynamicItem whose custom_id carries the generation id
(`mix:reroll:<id>`, `mix:info:<id>`, `blend:pick:<id>:<clips>`, `riff:remix:<id>`), so they
work after restarts with nothing kept in memory. Favourite and Delete reuse the /riff buttons
(`riff:fav:<id>`, `riff:delete:<id>`), which work for any generation.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord

from bot import records
from bot.buttons import ResultButton, clicked_result, parent_link, service_of
from bot.models import Generation
from bot.params import random_seed
from bot.render import (
    CONTENT_LIMIT,
    PRUNED_LINE,
    clip,
    files_pruned,
    params_of,
    quote,
    with_command,
)

if TYPE_CHECKING:
    from bot.remixes import RemixService
    from bot.riffs import RiffService

log = logging.getLogger(__name__)

MAX_BLEND_CLIPS = 12


# ---- what the messages say ---------------------------------------------------------------------


def blend_info(generation: Generation) -> dict[str, Any]:
    return dict(generation.extra.get("blend") or {})


def remix_info(generation: Generation) -> dict[str, Any]:
    return dict(generation.extra.get("remix") or {})


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


def mix_info_text(generation: Generation, favourites: int, parent_url: str | None) -> str:
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
        command = (
            f"/remix audio:<your file> prompt:{p.prompt} strength:{p.denoising:g} seed:{p.seed}"
        )
    else:
        info = blend_info(generation)
        lines += [
            f"From: {quote(p.prompt, 400)} (seed {p.seed})",
            f"To: {quote(info.get('prompt_b', ''), 400)} (seed {info.get('seed_b')})",
            "Negative prompt: " + (quote(p.negative_prompt, 300) if p.negative_prompt else "none"),
            f"Steps: {p.steps} · Guidance: {p.guidance:g}",
        ]
        if generation.kind == "blend-clip":
            lines.append(
                f"Clip {info.get('clip')} of {info.get('of_clips')}, alpha "
                f"{float(info.get('alpha', 0)):.3f}"
            )
        command = (
            f"/blend prompt_a:{p.prompt} prompt_b:{info.get('prompt_b', '')} "
            f"clips:{info.get('of_clips', info.get('clips', 4))} seed_a:{p.seed} "
            f"seed_b:{info.get('seed_b')} steps:{p.steps}"
        )
        if p.negative_prompt:
            command += f" negative_prompt:{p.negative_prompt}"
    lines.append(
        f"Length: {(generation.audio_duration_s or p.duration_s):.2f} s · Model: {generation.model}"
    )
    if parent_url:
        lines.append(f"Made from: {parent_url}")
    if files_pruned(generation):
        lines.append(PRUNED_LINE)
    lines.append(f"Favourites: {favourites}")
    return with_command("\n".join(lines), command, CONTENT_LIMIT)


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
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any, /
    ) -> MixButton:
        return cls(match["action"], int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        service = service_of(interaction)
        generation = await clicked_result(interaction, self.generation_id)
        if generation is None:
            return
        if self.action == "info":
            parent_url = await parent_link(service, generation)
            favourites = await records.favourite_count(service.db, generation.id)
            await service.reply(interaction, mix_info_text(generation, favourites, parent_url))
            return
        if generation.kind != "blend":
            await service.reply(interaction, "Only a whole blend can be rerolled here.")
            return
        await start_blend(
            service,
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
        cls, interaction: discord.Interaction, item: discord.ui.Select, match: Any, /
    ) -> PickClipSelect:
        return cls(int(match["id"]), int(match["clips"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        service = service_of(interaction)
        generation = await clicked_result(interaction, self.generation_id)
        if generation is None:
            return
        info = blend_info(generation)
        alphas = list(info.get("alphas") or [])
        k = int(self.item.values[0]) if self.item.values else 0
        if not 1 <= k <= len(alphas):
            await service.reply(interaction, "That blend has no such clip.")
            return
        from bot.mixtasks import BlendClipTask
        from bot.params import CLIP_SECONDS

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
        await service.start(
            interaction,
            params,
            kind="blend-clip",
            task=task,
            parent=generation,
            extra={"blend": clip_info},
        )


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
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any, /
    ) -> RemixButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        generation = await clicked_result(interaction, self.generation_id)
        if generation is None:
            return
        # A modal must be the first response: no defer before it.
        await interaction.response.send_modal(
            RemixUploadModal(remix_service_of(interaction), generation)
        )


class _RemixModal(discord.ui.Modal, title="Remix with Riffusion"):
    """The style (prompt) and strength fields both remix modals ask for."""

    def __init__(self, remixes: RemixService, parent: Generation | None) -> None:
        super().__init__(timeout=15 * 60)
        self.remixes = remixes
        self.parent = parent
        self.prompt = discord.ui.TextInput(
            label="Style (prompt)",
            custom_id="remix:prompt",
            max_length=500,
            required=parent is None,
            placeholder="e.g. lofi hip hop, warm piano",
            default=parent.prompt[:500] if parent else None,
        )
        self.strength = discord.ui.TextInput(
            label="Strength (0.1-1, higher changes more)",
            custom_id="remix:strength",
            required=False,
            max_length=5,
            placeholder="Empty: your /settings default, else 0.55",
        )

    async def submit(self, interaction: discord.Interaction, attachment: Any) -> None:
        strength = None
        if self.strength.value.strip():
            try:
                strength = float(self.strength.value.strip().replace(",", "."))
            except ValueError:
                await interaction.response.send_message(
                    "The strength must be a number between 0.1 and 1, e.g. 0.55.", ephemeral=True
                )
                return
        await self.remixes.from_interaction(
            interaction,
            attachment,
            prompt=self.prompt.value,
            strength=strength,
            parent=self.parent,
        )


class RemixUploadModal(_RemixModal):
    """The Remix button: upload a file (a modal file upload) and pick the style."""

    def __init__(self, remixes: RemixService, parent: Generation | None) -> None:
        super().__init__(remixes, parent)
        self.upload = discord.ui.FileUpload(custom_id="remix:file", min_values=1, max_values=1)
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
        self, remixes: RemixService, attachment: discord.Attachment, parent: Generation | None
    ) -> None:
        super().__init__(remixes, parent)
        self.attachment = attachment
        self.add_item(self.prompt)
        self.add_item(self.strength)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.submit(interaction, self.attachment)


def remix_service_of(interaction: discord.Interaction) -> RemixService:
    cog = interaction.client.get_cog("Remix")  # type: ignore[attr-defined]
    if cog is None:
        raise RuntimeError("the remix cog is not loaded")
    return cog.remixes


async def start_blend(
    service: RiffService,
    interaction: discord.Interaction,
    params,
    *,
    prompt_b: str,
    seed_b: int,
    clips: int,
    parent: Generation | None = None,
) -> None:
    """Queue a blend: /blend and the Reroll seeds button end here."""
    from bot.mixtasks import BlendTask, blend_length_s
    from riffusion_core.tracks import blend_alphas

    params = replace(params, duration_s=blend_length_s(clips, params.width))
    task = BlendTask(params=params, end_prompt=prompt_b, end_seed=seed_b, clips=clips)
    extra = {
        "blend": {
            "prompt_b": prompt_b,
            "seed_b": seed_b,
            "clips": clips,
            "alphas": blend_alphas(clips),
        }
    }
    await service.start(interaction, params, kind="blend", task=task, parent=parent, extra=extra)


MIX_DYNAMIC_ITEMS = (MixButton, PickClipSelect, RemixButton)
