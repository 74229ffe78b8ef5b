"""/song: sections, a steady tempo and repeats, minutes long (issue 16).

Parses and checks the request, then hands a SongTask to the job service: the queue renders it
one clip per turn (bot/engine/song_task.py), so other people's requests go on meanwhile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.engine.song_task import SongTask, song_params
from bot.jobs.service import JobRequest
from bot.limits import DEFAULT_GUIDANCE
from bot.params import RiffParams, random_seed
from bot.policy import user_settings
from bot.policy.user_settings import pick
from bot.ui.options import Bpm, Prompt, Seed, SongLength, Steps, Structure
from bot.ui.replies import reply
from riffusion_core.seed_images.loops import LOOP_STYLES
from riffusion_core.songs import DEFAULT_LOOP, FORMS, SongError, SongSpec, form_sections
from riffusion_core.songs import parse_structure as parse

if TYPE_CHECKING:
    from bot.app.client import RiffusionBot

SONG_DENOISING = 0.75  # img2img from the tempo loop, as Riffusion's web app walks from a loop
NEEDS_STRUCTURE = (
    "Give the song a structure, e.g. `intro: ambient pads | verse: lofi hip hop beat | "
    "chorus: jazz saxophone solo | verse | chorus | outro: ambient pads`, or pick a form and "
    "give one prompt."
)


class Song(commands.Cog):
    def __init__(self, bot: RiffusionBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="song", description="A whole song: sections, a steady tempo, a chorus that returns."
    )
    @app_commands.describe(
        structure="Sections as 'label: prompt | label: prompt | label' (a label again repeats it)",
        form="Or a ready-made form built from one prompt",
        prompt="With a form: what the song sounds like",
        bpm="Tempo in beats per minute (60-180)",
        length="Length in seconds (30-240)",
        seed="The same seed and options give the same song (random if left out)",
        loop="The beat loop every clip starts from, at the song's tempo",
        steps="More steps: more detail, slower (default: /settings)",
    )
    @app_commands.choices(
        form=[app_commands.Choice(name=name, value=name) for name in FORMS],
        loop=[app_commands.Choice(name=name.replace("_", " "), value=name) for name in LOOP_STYLES],
    )
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def song(
        self,
        interaction: discord.Interaction,
        structure: Structure | None = None,
        form: str | None = None,
        prompt: Prompt | None = None,
        bpm: Bpm = 100,
        length: SongLength = 120,
        seed: Seed | None = None,
        loop: str | None = None,
        steps: Steps | None = None,
    ) -> None:
        services = self.bot.services
        settings = services.settings
        try:
            if structure and structure.strip():
                sections = parse(structure)
            elif form and prompt and prompt.strip():
                sections = form_sections(form, prompt)
            else:
                await reply(interaction, NEEDS_STRUCTURE)
                return
        except SongError as exc:
            await reply(interaction, str(exc))
            return
        if length > settings.max_song_s:
            await reply(
                interaction,
                f"This bot makes songs of up to {settings.max_song_s:g} seconds "
                "(the bot's setting: MAX_SONG_S).",
            )
            return
        mine, limits = await user_settings.for_request(
            services.db, services.policy, interaction.user.id, interaction.guild_id
        )
        own_steps = limits.steps(mine.steps) if mine.steps is not None else None
        spec = SongSpec(
            sections=sections,
            bpm=float(bpm),
            length_s=float(length),
            seed=random_seed() if seed is None else seed,
            loop=loop or DEFAULT_LOOP,
            steps=pick(steps, own_steps, settings.default_steps),
            guidance=mine.guidance if mine.guidance is not None else DEFAULT_GUIDANCE,
            denoising=SONG_DENOISING,
            negative_prompt=mine.negative_prompt or None,
        )
        params: RiffParams = song_params(spec, structure or f"{form} song: {prompt}")
        request = JobRequest(
            params=params,
            kind="song",
            task=SongTask(params=params, song=spec),
            extra={"song": spec.to_json()},
        )
        await services.jobs.start(services.origins.interaction(interaction), request, mine)


async def setup(bot: RiffusionBot) -> None:
    await bot.add_cog(Song(bot))
