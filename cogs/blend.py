"""/blend: morph from one prompt to another in 2-12 clips, posted as one track and one strip."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.params import MAX_SEED, RiffParams, random_seed
from bot.policy import user_settings
from bot.policy.user_settings import DEFAULT_BLEND_CLIPS, DEFAULT_GUIDANCE, pick
from bot.ui.mix_buttons import MAX_BLEND_CLIPS, MixButton, PickClipSelect, start_blend

if TYPE_CHECKING:
    from bot.app.client import RiffusionBot


class Blend(commands.Cog):
    def __init__(self, bot: RiffusionBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(MixButton, PickClipSelect)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(MixButton, PickClipSelect)

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
    )
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def blend(
        self,
        interaction: discord.Interaction,
        prompt_a: app_commands.Range[str, 1, 500],
        prompt_b: app_commands.Range[str, 1, 500],
        clips: app_commands.Range[int, 2, MAX_BLEND_CLIPS] | None = None,
        seed_a: app_commands.Range[int, 0, MAX_SEED] | None = None,
        seed_b: app_commands.Range[int, 0, MAX_SEED] | None = None,
        negative_prompt: app_commands.Range[str, 1, 500] | None = None,
        steps: app_commands.Range[int, 2, 200] | None = None,
    ) -> None:
        settings = self.bot.settings
        problem = None
        if steps is not None and steps > settings.max_steps:
            problem = f"This bot allows at most {settings.max_steps} steps."
        elif not prompt_a.strip() or not prompt_b.strip():
            problem = "Please describe both ends of the blend (prompt_a and prompt_b)."
        if problem:
            await interaction.response.send_message(problem, ephemeral=True)
            return
        mine, limits = await user_settings.for_request(
            self.bot, interaction.user.id, interaction.guild_id
        )
        own_steps = limits.steps(mine.steps) if mine.steps is not None else None
        own_clips = limits.blend_clips(mine.blend_clips) if mine.blend_clips else None
        params = RiffParams(
            prompt=prompt_a.strip(),
            negative_prompt=pick(negative_prompt, mine.negative_prompt, "").strip() or None,
            seed=random_seed() if seed_a is None else seed_a,
            steps=pick(steps, own_steps, settings.default_steps),
            guidance=pick(None, mine.guidance, DEFAULT_GUIDANCE),
        )
        assert self.bot.riffs is not None
        await start_blend(
            self.bot.riffs,
            interaction,
            params,
            prompt_b=prompt_b.strip(),
            seed_b=random_seed() if seed_b is None else seed_b,
            clips=pick(clips, own_clips, DEFAULT_BLEND_CLIPS),
        )


async def setup(bot: RiffusionBot) -> None:
    await bot.add_cog(Blend(bot))
