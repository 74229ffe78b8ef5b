"""/settings: each user's defaults for the options they leave out, and where their music goes.

The rule (bot/policy/user_settings.py): an option given in a command wins, then the user's default
here, then the bot's. Values are checked with the same ranges the commands use, and against the
server's /admin limits when set in a server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.limits import DEFAULT_BLEND_CLIPS, DEFAULT_DENOISING, DEFAULT_GUIDANCE, DEFAULT_STRENGTH
from bot.policy import user_settings
from bot.policy.user_settings import (
    UserDefaults,
    denoising_steps_problem,
    pick,
    remix_steps_problem,
)
from bot.ui.options import BlendClips, Denoising, Guidance, Prompt, Steps, Strength
from bot.ui.seed_options import matching
from bot.ui.text import quote
from riffusion_core.seed_images import DEFAULT_INTERPOLATION_SEED_IMAGE
from riffusion_core.seed_images.catalogue import NO_SEED_IMAGE

if TYPE_CHECKING:
    from bot.app.client import RiffusionBot

LABELS = {  # setting -> how users see it (also the choices of /settings reset)
    "negative_prompt": "Negative prompt",
    "steps": "Steps",
    "guidance": "Guidance",
    "remix_strength": "Remix strength",
    "blend_clips": "Blend clips",
    "seed_image": "Seed image",
    "blend_seed_image": "Blend seed image",
    "denoising": "Denoising",
    "results_by_dm": "Results by DM",
    "private_status": "Status messages",
}
ALL = "all"


def _number(value: float) -> str:
    return f"{value:g}"


def describe(mine: UserDefaults, bot: RiffusionBot) -> str:
    """Every setting with its value, saying where the bot's default applies."""

    def shown(own: Any, bot_default: str, fmt: Callable[[Any], str] = str) -> str:
        return f"{bot_default} (bot default)" if own is None else fmt(own)

    if mine.private_status is None:
        status = "public (bot default; /remix uploads: private)"
    else:
        status = "private (only you see them)" if mine.private_status else "public"
    dm = (
        "yes (if your DMs are closed they are posted in the channel)"
        if mine.results_by_dm
        else "no, posted where you asked"
    )
    return "\n".join(
        [
            "**Your settings** (used when you leave an option out):",
            f"**Negative prompt:** {shown(mine.negative_prompt, 'none', lambda v: quote(v, 300))}",
            f"**Steps:** {shown(mine.steps, str(bot.settings.default_steps))}",
            f"**Guidance:** {shown(mine.guidance, _number(DEFAULT_GUIDANCE), _number)}",
            f"**Remix strength:** {shown(mine.remix_strength, _number(DEFAULT_STRENGTH), _number)}",
            f"**Blend clips:** {shown(mine.blend_clips, str(DEFAULT_BLEND_CLIPS))}",
            f"**Seed image:** {shown(mine.seed_image, 'none (from scratch)')}",
            "**Blend seed image:** "
            + shown(
                mine.blend_seed_image,
                f"{DEFAULT_INTERPOLATION_SEED_IMAGE}, like Riffusion",
                lambda v: "none (text only)" if v == NO_SEED_IMAGE else v,
            ),
            f"**Denoising:** {shown(mine.denoising, _number(DEFAULT_DENOISING), _number)}",
            f"**Results by DM:** {dm}",
            f"**Status messages:** {status}",
            "Buttons that rework a result (Reroll, Variation, Extend) keep that result's settings.",
        ]
    )


class UserSettingsCog(commands.Cog, name="Settings"):
    """The /settings command group."""

    group = app_commands.Group(
        name="settings",
        description="Your defaults for /riff, /blend and /remix, and where your music goes.",
        allowed_contexts=app_commands.AppCommandContext(
            guild=True, dm_channel=True, private_channel=True
        ),
    )

    def __init__(self, bot: RiffusionBot) -> None:
        self.bot = bot

    async def _say(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    @group.command(name="show", description="Show your settings.")
    async def show(self, interaction: discord.Interaction) -> None:
        mine = await user_settings.load(self.bot.services.db, interaction.user.id)
        await self._say(interaction, describe(mine, self.bot))

    @group.command(
        name="set",
        description="Change some of your defaults (no options: show them).",
        extras={"example": "/settings set steps:30 negative_prompt:vocals"},
    )
    @app_commands.describe(
        negative_prompt="What to steer away from by default, e.g. 'vocals, noise'",
        steps="Steps by default: more detail, slower",
        guidance="How closely to follow the prompt by default (7 is a good start)",
        remix_strength="How much /remix changes your audio by default (0.1 to 1)",
        blend_clips="How many clips a /blend takes by default (2-12)",
        seed_image="A beat loop /riff starts from by default (none: from scratch)",
        blend_seed_image="The beat loop /blend starts from by default (none: text only)",
        denoising="How far /riff and /blend move from their seed image by default (0.75: typical)",
        results_by_dm="Send your finished music to your DMs instead of the channel",
        status="Whether everyone sees your queue status messages, or only you",
    )
    @app_commands.choices(
        status=[
            app_commands.Choice(name="public (everyone sees them)", value="public"),
            app_commands.Choice(name="private (only you)", value="private"),
        ]
    )
    async def set_(
        self,
        interaction: discord.Interaction,
        negative_prompt: Prompt | None = None,
        steps: Steps | None = None,
        guidance: Guidance | None = None,
        remix_strength: Strength | None = None,
        blend_clips: BlendClips | None = None,
        seed_image: str | None = None,
        blend_seed_image: str | None = None,
        denoising: Denoising | None = None,
        results_by_dm: bool | None = None,
        status: app_commands.Choice[str] | None = None,
    ) -> None:
        given: dict[str, Any] = {
            "negative_prompt": negative_prompt,
            "steps": steps,
            "guidance": guidance,
            "remix_strength": remix_strength,
            "blend_clips": blend_clips,
            "seed_image": seed_image,
            "blend_seed_image": blend_seed_image,
            "denoising": denoising,
            "results_by_dm": results_by_dm,
            "private_status": None if status is None else status.value == "private",
        }
        changes = {name: value for name, value in given.items() if value is not None}
        for name in ("seed_image", "blend_seed_image"):  # a former name is saved as the new one
            if changes.get(name) not in (None, NO_SEED_IMAGE):
                current = self.bot.services.seed_images.canonical(changes[name])
                changes[name] = current or changes[name]
        mine = await user_settings.load(self.bot.services.db, interaction.user.id)
        if not changes:
            await self._say(interaction, describe(mine, self.bot))
            return
        problem = await self._problem(interaction, changes, mine)
        if problem:
            await self._say(interaction, f"Nothing was saved: {problem}")
            return
        if changes.get("seed_image") == NO_SEED_IMAGE:
            changes["seed_image"] = None
        if "negative_prompt" in changes:
            changes["negative_prompt"] = changes["negative_prompt"].strip()
        mine = await user_settings.save(self.bot.services.db, interaction.user.id, **changes)
        names = ", ".join(LABELS[name] for name in changes)
        await self._say(interaction, f"Saved: {names}.\n{describe(mine, self.bot)}")

    async def _problem(
        self, interaction: discord.Interaction, changes: dict[str, Any], mine: UserDefaults
    ) -> str | None:
        limits = await user_settings.limits_for(
            self.bot.settings, self.bot.services.policy, interaction.guild_id
        )
        problem = user_settings.check(changes, limits, self.bot.services.seed_images.names())
        if problem:
            return problem
        steps = pick(changes.get("steps"), mine.steps, self.bot.settings.default_steps)
        if "steps" in changes or "remix_strength" in changes:
            strength = pick(changes.get("remix_strength"), mine.remix_strength, DEFAULT_STRENGTH)
            problem = remix_steps_problem(steps, strength)
        if not problem and ("steps" in changes or "denoising" in changes):
            denoising = pick(changes.get("denoising"), mine.denoising, DEFAULT_DENOISING)
            problem = denoising_steps_problem(steps, denoising)
        return problem

    @set_.autocomplete("seed_image")
    @set_.autocomplete("blend_seed_image")
    async def seed_image_names(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return matching(self.bot.services.seed_images, current)

    @group.command(
        name="reset",
        description="Go back to the bot's default for one setting, or for all of them.",
        extras={"example": "/settings reset setting:Steps"},
    )
    @app_commands.describe(setting="The setting to reset (or all of them)")
    @app_commands.choices(
        setting=[
            *(app_commands.Choice(name=label, value=name) for name, label in LABELS.items()),
            app_commands.Choice(name="All settings", value=ALL),
        ]
    )
    async def reset(
        self, interaction: discord.Interaction, setting: app_commands.Choice[str]
    ) -> None:
        names = None if setting.value == ALL else [setting.value]
        mine = await user_settings.reset(self.bot.services.db, interaction.user.id, names)
        what = "all your settings" if names is None else f"your {LABELS[setting.value].lower()}"
        await self._say(
            interaction, f"Reset {what} to the bot's default.\n{describe(mine, self.bot)}"
        )


async def setup(bot: RiffusionBot) -> None:
    await bot.add_cog(UserSettingsCog(bot))
