"""/blend: morph from one prompt to another in 2-12 clips, posted as one track and one strip.

Like Riffusion's interpolation, every clip starts from a seed image (Riffusion's og_beat unless
the option or /settings says otherwise) at denoising 0.75; `seed_image:none` blends from text
alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.limits import DEFAULT_BLEND_CLIPS, DEFAULT_DENOISING, DEFAULT_GUIDANCE
from bot.params import RiffParams, random_seed
from bot.policy import user_settings
from bot.policy.user_settings import blend_seed_image, denoising_steps_problem, pick
from bot.ui.mix_buttons import start_blend
from bot.ui.options import BlendClips, Denoising, Prompt, Seed, Steps
from bot.ui.seed_options import matching, offer_seed_images
from riffusion_core.seed_images import DEFAULT_INTERPOLATION_SEED_IMAGE
from riffusion_core.seed_images.catalogue import NO_SEED_IMAGE

if TYPE_CHECKING:
    from bot.app.client import RiffusionBot


class Blend(commands.Cog):
    def __init__(self, bot: RiffusionBot) -> None:
        self.bot = bot
        # The seed images are known once the bot has read SEED_IMAGES_DIR: choices set now.
        offer_seed_images(self.blend, bot.services.seed_images, self.seed_image_names)

    @app_commands.command(
        name="blend",
        description="Morph from one sound into another, in one track.",
        extras={"example": "/blend prompt_a:rock guitar prompt_b:church bells clips:4"},
    )
    @app_commands.describe(
        prompt_a="Where it starts, e.g. 'rock guitar'",
        prompt_b="Where it ends, e.g. 'church bells'",
        clips="How many 5-second clips the morph takes (2-12; default: /settings, else 4)",
        seed_a="Seed of the start (random if left out)",
        seed_b="Seed of the end (random if left out)",
        negative_prompt="What to steer away from, at both ends (default: /settings)",
        steps="More steps: more detail, slower (default: /settings)",
        seed_image="The beat loop every clip starts from (default: /settings, else "
        f"{DEFAULT_INTERPOLATION_SEED_IMAGE}); none: text only",
        denoising="How far each clip moves from the seed image (default: /settings, else 0.75)",
    )
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def blend(
        self,
        interaction: discord.Interaction,
        prompt_a: Prompt,
        prompt_b: Prompt,
        clips: BlendClips | None = None,
        seed_a: Seed | None = None,
        seed_b: Seed | None = None,
        negative_prompt: Prompt | None = None,
        steps: Steps | None = None,
        seed_image: str | None = None,
        denoising: Denoising | None = None,
    ) -> None:
        services = self.bot.services
        available = services.seed_images
        problem = None
        if seed_image not in (None, NO_SEED_IMAGE) and seed_image not in available:
            problem = f"There is no seed image called {seed_image!r}; pick one from the list."
        elif not prompt_a.strip() or not prompt_b.strip():
            problem = "Please describe both ends of the blend (prompt_a and prompt_b)."
        if problem:
            await interaction.response.send_message(problem, ephemeral=True)
            return
        mine, limits = await user_settings.for_request(
            services.db, services.policy, interaction.user.id, interaction.guild_id
        )
        own_steps = limits.steps(mine.steps) if mine.steps is not None else None
        own_clips = limits.blend_clips(mine.blend_clips) if mine.blend_clips else None
        params = RiffParams(
            prompt=prompt_a.strip(),
            negative_prompt=pick(negative_prompt, mine.negative_prompt, "").strip() or None,
            seed=random_seed() if seed_a is None else seed_a,
            seed_image=blend_seed_image(seed_image, mine.blend_seed_image, available),
            steps=pick(steps, own_steps, services.settings.default_steps),
            guidance=pick(None, mine.guidance, DEFAULT_GUIDANCE),
            denoising=pick(denoising, mine.denoising, DEFAULT_DENOISING),
        )
        problem = params.seed_image and denoising_steps_problem(params.steps, params.denoising)
        if problem:
            await interaction.response.send_message(problem, ephemeral=True)
            return
        await start_blend(
            services,
            interaction,
            params,
            prompt_b=prompt_b.strip(),
            seed_b=random_seed() if seed_b is None else seed_b,
            clips=pick(clips, own_clips, DEFAULT_BLEND_CLIPS),
            defaults=mine,
        )

    async def seed_image_names(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Autocomplete, used when there are more seed images than Discord's 25 choices."""
        return matching(self.bot.services.seed_images, current)


async def setup(bot: RiffusionBot) -> None:
    await bot.add_cog(Blend(bot))
