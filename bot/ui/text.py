"""Message text, embeds and attachments: what people see in Discord.

Kept apart from the Discord calls so wording and limits (2000-character content, 6000-character
embeds, the upload limit) are checked in one place.
"""

from __future__ import annotations

from dataclasses import replace

import discord

from bot.jobs.kinds import kind_label
from bot.params import RiffParams
from bot.store.models import Generation
from riffusion_core.seed_images.catalogue import SeedImageCatalogue

CONTENT_LIMIT = 2000


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def with_command(text: str, command: str, limit: int) -> str:
    """Info text ending in a copy-paste command as a code block that stays whole: the text
    above gives way to the length limit, and a ``` inside a prompt cannot close the block."""
    block = "```\n" + command.replace("```", "`\u200b``") + "\n```"
    return clip(text, max(limit - len(block) - 1, 1)) + "\n" + block


def quote(prompt: str, limit: int = 200) -> str:
    """A prompt safe to show in bold: no markdown or mentions can break out of it."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(clip(prompt, limit)))


def position_text(position: int | None) -> str:
    if position is None:
        return "finishing"
    if position == 0:
        return "generating"
    return "next in line" if position == 1 else f"#{position} in the queue"


def status_text(
    params: RiffParams,
    *,
    kind: str,
    position: int | None,
    progress: tuple[int, int] | None,
    eta_unix: int | None,
    detail: str | None = None,
) -> str:
    """The live status while a job waits or runs."""
    label = kind_label(kind)
    line = f"🎵 {label}: **{quote(params.prompt)}**: {position_text(position)}"
    if detail is not None:
        line += f", {detail}"
    if progress is not None and (position == 0 or detail is not None):
        step, total = progress
        line += f", step {step}/{total} ({100 * step // max(total, 1)}%)"
    if eta_unix is not None:
        line += f", ready <t:{eta_unix}:R>"
    return clip(line + ".", CONTENT_LIMIT)


def done_text(params: RiffParams, url: str | None) -> str:
    where = f": {url}" if url else "."
    return clip(f"✅ **{quote(params.prompt)}** is ready{where}", CONTENT_LIMIT)


def failed_text(params: RiffParams, reason: str) -> str:
    return clip(f"⚠️ **{quote(params.prompt)}** could not be generated: {reason}", CONTENT_LIMIT)


def delivering_text(params: RiffParams, reason: str) -> str:
    """Made and saved, but Discord does not take it yet: it is retried, not lost."""
    return clip(
        f"⏳ **{quote(params.prompt)}** is made and waits for Discord to accept it ({reason}); "
        "it will be posted as soon as Discord does.",
        CONTENT_LIMIT,
    )


def undelivered_text(params: RiffParams, reason: str) -> str:
    """Made and kept, but Discord would not take it: where to find it."""
    return clip(
        f"⚠️ **{quote(params.prompt)}** was made but could not be posted: {reason} "
        "It is kept in your /history.",
        CONTENT_LIMIT,
    )


def suspended_text(params: RiffParams, reason: str) -> str:
    """A queued request kept over a restart (Cancel still works once the bot is back)."""
    return clip(f"⏸️ **{quote(params.prompt)}**: {reason}", CONTENT_LIMIT)


def cancelled_text(params: RiffParams, reason: str = "Cancelled.") -> str:
    return clip(f"✖️ **{quote(params.prompt)}**: {reason}", CONTENT_LIMIT)


def result_content(generation: Generation, parent_url: str | None) -> str:
    """The result message: mentions the owner (a new message notifies; an edit does not)."""
    params = params_of(generation)
    label = kind_label(generation.kind)
    text = f"<@{generation.user_id}> {label}: **{quote(params.prompt, 300)}**"
    if parent_url:
        text += f" (from {parent_url})"
    return clip(text, CONTENT_LIMIT)


def params_of(generation: Generation) -> RiffParams:
    return RiffParams(
        prompt=generation.prompt,
        negative_prompt=generation.negative_prompt,
        seed=generation.seed,
        seed_image=generation.seed_image,
        steps=generation.steps,
        guidance=generation.guidance,
        denoising=generation.denoising,
        duration_s=generation.duration_s,
        width=generation.width,
    )


def result_embed(generation: Generation, image_name: str) -> discord.Embed:
    """Key parameters at a glance, with the spectrogram shown inline."""
    p = params_of(generation)
    embed = discord.Embed(colour=discord.Colour.blurple())
    embed.add_field(name="Seed", value=str(p.seed))
    embed.add_field(name="Steps", value=str(p.steps))
    embed.add_field(name="Guidance", value=f"{p.guidance:g}")
    embed.add_field(name="Denoising", value=f"{p.denoising:g}")
    length = generation.audio_duration_s or p.duration_s
    embed.add_field(name="Length", value=f"{length:.1f} s")
    embed.add_field(name="Seed image", value=p.seed_image or "none (text to audio)")
    if p.negative_prompt:
        embed.add_field(
            name="Negative prompt", value=clip(quote(p.negative_prompt, 900), 1024), inline=False
        )
    embed.set_image(url=f"attachment://{image_name}")
    embed.set_footer(text=f"#{generation.id}")
    return embed


PRUNED_LINE = "Files: cleaned up (old results keep only their settings); Reroll still works."


def files_pruned(generation: Generation) -> bool:
    """Its files were removed by the cleanup (a deleted result says so itself)."""
    return (
        generation.deleted_at is None
        and generation.image_file is None
        and generation.audio_file is None
    )


def info_text(
    generation: Generation,
    favourites: int,
    parent_url: str | None,
    seed_images: SeedImageCatalogue,
    page_url: str | None = None,
) -> str:
    """Every parameter and a copy-paste command (ephemeral reply to Info), and the link to the
    result's web page when it has one.

    A seed image is shown by its current name (the command must name one /riff offers), with
    the recorded name beside it when that was a former one (see seed_images.ALIASES).
    """
    p = params_of(generation)
    stored = p.seed_image
    if stored is not None:
        p = replace(p, seed_image=seed_images.canonical(stored) or stored)
    lines = [
        f"**{kind_label(generation.kind)} #{generation.id}** by <@{generation.user_id}>",
        f"Prompt: {quote(p.prompt, 500)}",
        f"Negative prompt: {quote(p.negative_prompt, 300) if p.negative_prompt else 'none'}",
        f"Seed: {p.seed} · Steps: {p.steps} · Guidance: {p.guidance:g} · "
        f"Denoising: {p.denoising:g}",
        f"Seed image: {seed_images.describe(stored) if stored else 'none (text to audio)'} · "
        f"Width: {p.width} px · "
        f"Length: {(generation.audio_duration_s or p.duration_s):.2f} s",
        f"Model: {generation.model}",
    ]
    if generation.mp3_bitrate_kbps:
        lines.append(f"MP3: {generation.mp3_bitrate_kbps} kbps")
    if generation.elapsed_s is not None:
        lines.append(f"Rendered in {generation.elapsed_s:.1f} s")
    if parent_url:
        lines.append(f"Made from: {parent_url}")
    if page_url:
        lines.append(page_line(page_url))
    variation_of = generation.extra.get("variation_of")
    if variation_of:
        lines.append(
            f"Variation of #{variation_of} (img2img at denoising {p.denoising:g}), "
            "so the command below gives a related but different result."
        )
    if generation.extra.get("clips", 1) > 1:
        lines.append(f"Clips: {generation.extra['clips']}")
    if files_pruned(generation):
        lines.append(PRUNED_LINE)
    lines.append(f"Favourites: {favourites}")
    return with_command("\n".join(lines), riff_command(generation, seed_images), CONTENT_LIMIT)


def riff_command(generation: Generation, seed_images: SeedImageCatalogue) -> str:
    """The /riff that reproduces a riff (Info and its web page), naming the seed image as /riff
    offers it now."""
    p = params_of(generation)
    stored = p.seed_image
    if stored is not None:
        p = replace(p, seed_image=seed_images.canonical(stored) or stored)
    return p.command()


def page_line(url: str) -> str:
    """Info's line for a result's web page (docs/web.md)."""
    return f"Page: {url}"
