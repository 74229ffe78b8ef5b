"""/riff: a prompt in, a spectrogram and an MP3 out."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.jobs.service import JobRequest
from bot.limits import CLIP_SECONDS, DEFAULT_DENOISING, DEFAULT_GUIDANCE
from bot.params import RiffParams, random_seed
from bot.policy import user_settings
from bot.policy.user_settings import pick
from bot.ui.options import Bpm, Denoising, Duration, Guidance, Prompt, Seed, Steps
from bot.ui.seed_options import matching, offer_seed_images
from riffusion_core.generation import SAMPLE_RATE
from riffusion_core.seed_images.catalogue import NO_SEED_IMAGE
from riffusion_core.seed_images.loops import DEFAULT_STYLE, LOOP_STYLES
from riffusion_core.tempo import bar_samples, bars_in, clip_grid

if TYPE_CHECKING:
    from bot.app.client import RiffusionBot


def in_tempo(
    seed_image: str | None, bpm: float, duration: float, longest: float
) -> tuple[str, int, float] | str:
    """(the tempo's loop, the clip width, the length in whole bars), or why not (for the user).

    The loop is the chosen bundled loop's style at `bpm` (backbeat when none is chosen); a
    picture of the user's own sets its own tempo, so it does not go with `bpm`."""
    style = seed_image or DEFAULT_STYLE
    if style not in LOOP_STYLES:
        return (
            f"`bpm` makes the beat from one of the bundled loops ({', '.join(LOOP_STYLES)}) at "
            f"that tempo; the seed image {seed_image!r} has a tempo of its own. Pick a bundled "
            "loop or leave bpm out."
        )
    bar_s = bar_samples(bpm) / SAMPLE_RATE
    bars = bars_in(duration, bpm)
    if bars > 1 and bars * bar_s > longest + 1e-6:  # rounded past the longest allowed
        bars -= 1
    length = bars * bar_s
    return f"{style}@{bpm:g}bpm", clip_grid(bpm).width, round(length, 3)


class Riff(commands.Cog):
    def __init__(self, bot: RiffusionBot) -> None:
        self.bot = bot
        # The seed images are known once the bot has read SEED_IMAGES_DIR: choices set now.
        offer_seed_images(self.riff, bot.services.seed_images, self.seed_image_names)

    @app_commands.command(name="riff", description="Make a short piece of music from a prompt.")
    @app_commands.describe(
        prompt="What it should sound like, e.g. 'jazz saxophone, smooth'",
        negative_prompt="What to steer away from, e.g. 'vocals, noise' (default: /settings)",
        seed="The same seed and options give the same music (random if left out)",
        seed_image="A beat loop to start from (gives a steady rhythm); none: from scratch",
        steps="More steps: more detail, slower (default: /settings)",
        guidance="How closely to follow the prompt (7 is a good start; default: /settings)",
        denoising="With a seed image: how far to move away from it (0.75 is typical; default: "
        "/settings)",
        duration="Length in seconds (5.1 s is one clip; longer ones are joined)",
        bpm="A steady tempo (60-180): a beat loop at that tempo, whole bars, joins on the beat",
    )
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def riff(
        self,
        interaction: discord.Interaction,
        prompt: Prompt,
        negative_prompt: Prompt | None = None,
        seed: Seed | None = None,
        seed_image: str | None = None,
        steps: Steps | None = None,
        guidance: Guidance | None = None,
        denoising: Denoising | None = None,
        duration: Duration = CLIP_SECONDS,
        bpm: Bpm | None = None,
    ) -> None:
        services = self.bot.services
        seed_images = services.seed_images
        problem = None
        if seed_image not in (None, NO_SEED_IMAGE) and seed_image not in seed_images:
            problem = f"There is no seed image called {seed_image!r}; pick one from the list."
        elif not prompt.strip():
            problem = "Please describe the music you want in the prompt."
        if problem:
            await interaction.response.send_message(problem, ephemeral=True)
            return
        mine, limits = await user_settings.for_request(
            services.db, services.policy, interaction.user.id, interaction.guild_id
        )
        if seed_image is None and mine.seed_image in seed_images:
            seed_image = mine.seed_image  # (a default whose image was since removed: none)
        elif seed_image == NO_SEED_IMAGE:
            seed_image = None
        if seed_image is not None:
            seed_image = seed_images.canonical(seed_image)  # a former name: stored by the new one
        width = 512
        if bpm is not None:
            tempo = in_tempo(seed_image, float(bpm), duration, services.settings.max_duration_s)
            if isinstance(tempo, str):
                await interaction.response.send_message(tempo, ephemeral=True)
                return
            seed_image, width, duration = tempo
        own_steps = limits.steps(mine.steps) if mine.steps is not None else None
        params = RiffParams(
            prompt=prompt.strip(),
            negative_prompt=(pick(negative_prompt, mine.negative_prompt, "")).strip() or None,
            seed=random_seed() if seed is None else seed,
            seed_image=seed_image,
            steps=pick(steps, own_steps, services.settings.default_steps),
            guidance=pick(guidance, mine.guidance, DEFAULT_GUIDANCE),
            denoising=pick(denoising, mine.denoising, DEFAULT_DENOISING),
            duration_s=round(duration, 2),
            width=width,
            bpm=None if bpm is None else float(bpm),
        )
        origin = services.origins.interaction(interaction)
        await services.jobs.start(origin, JobRequest(params=params), mine)

    async def seed_image_names(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Autocomplete, used when there are more seed images than Discord's 25 choices."""
        return matching(self.bot.services.seed_images, current)


async def setup(bot: RiffusionBot) -> None:
    await bot.add_cog(Riff(bot))
