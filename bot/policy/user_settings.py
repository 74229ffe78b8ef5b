"""A user's /settings: defaults for the options they leave out, and where their music goes.

The rule every command follows: an option the user gave wins; otherwise their default from
/settings; otherwise the bot's own default. Buttons that rework an existing result (Reroll,
Variation, Extend, Reroll seeds, Pick clip) keep that result's parameters instead, so a reroll
sounds like its parent. Defaults are checked when they are saved, and lowered to a server's
limits where those are stricter (a default saved elsewhere must not make every request fail).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from bot.limits import (
    MAX_BLEND_CLIPS,
    MAX_GUIDANCE,
    MAX_PROMPT,
    MAX_STEP_OPTION,
    MIN_BLEND_CLIPS,
    MIN_DENOISING,
    MIN_GUIDANCE,
    MIN_STEPS,
    MIN_STRENGTH,
)
from bot.store import settings_rows
from bot.store.server_models import UserSettings
from riffusion_core.seed_images import DEFAULT_INTERPOLATION_SEED_IMAGE
from riffusion_core.seed_images.catalogue import NO_SEED_IMAGE, SeedImageCatalogue

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.policy.rules import ServerPolicy
    from bot.store.db import Database


@dataclass(frozen=True)
class UserDefaults:
    """What a user chose in /settings; None means "the bot's default"."""

    negative_prompt: str | None = None
    steps: int | None = None
    guidance: float | None = None
    remix_strength: float | None = None
    blend_clips: int | None = None
    seed_image: str | None = None  # /riff's; None: text to audio
    blend_seed_image: str | None = None  # /blend's; None: Riffusion's, NO_SEED_IMAGE: text only
    denoising: float | None = None  # how far /riff and /blend move from their seed image
    results_by_dm: bool = False
    private_status: bool | None = None  # None: public, except /remix uploads (private)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_row(cls, row: UserSettings | None) -> UserDefaults:
        if row is None:
            return cls()
        return cls(**{name: getattr(row, name) for name in cls.names()})


@dataclass(frozen=True)
class Limits:
    """The limits a default must respect where it is used: the bot's and the server's."""

    max_steps: int
    max_clips: int | None = None  # a server's maximum clips per track
    steps_source: str = "bot"  # "bot" or "server": which setting max_steps comes from

    def steps(self, value: int) -> int:
        return min(value, self.max_steps)

    def blend_clips(self, value: int) -> int:
        if self.max_clips is None:
            return value
        return max(MIN_BLEND_CLIPS, min(value, self.max_clips))


async def limits_for(
    settings: Settings, policy: ServerPolicy | None, guild_id: int | None
) -> Limits:
    """The bot's maximum steps, lowered by the server's /admin limits in a guild."""
    limits = Limits(max_steps=settings.max_steps)
    if policy is None or guild_id is None:
        return limits
    rules = await policy.rules(guild_id)
    if rules.max_steps is not None and rules.max_steps < limits.max_steps:
        limits = replace(limits, max_steps=rules.max_steps, steps_source="server")
    return replace(limits, max_clips=rules.max_clips)


async def load(db: Database, user_id: int) -> UserDefaults:
    return UserDefaults.from_row(await settings_rows.user_settings(db, user_id))


async def save(db: Database, user_id: int, **values: Any) -> UserDefaults:
    """Store some settings (None resets one to the bot's default) and return them all."""
    unknown = set(values) - set(UserDefaults.names())
    if unknown:
        raise ValueError(f"unknown settings: {sorted(unknown)}")
    if "results_by_dm" in values:
        values["results_by_dm"] = bool(values["results_by_dm"])
    return UserDefaults.from_row(await settings_rows.save_user_settings(db, user_id, **values))


async def reset(db: Database, user_id: int, names: list[str] | None = None) -> UserDefaults:
    """Back to the bot's defaults: the named settings, or all of them."""
    blank = UserDefaults()
    chosen = names if names is not None else UserDefaults.names()
    return await save(db, user_id, **{name: getattr(blank, name) for name in chosen})


def check(values: dict[str, Any], limits: Limits, seed_images: list[str]) -> str | None:
    """The first problem with values a user wants to save, as a line for them; None if fine."""
    steps = values.get("steps")
    if steps is not None:
        if not MIN_STEPS <= steps <= MAX_STEP_OPTION:
            return f"Steps must be between {MIN_STEPS} and {MAX_STEP_OPTION} (got {steps})."
        if steps > limits.max_steps:
            where = "This server allows" if limits.steps_source == "server" else "This bot allows"
            return f"{where} at most {limits.max_steps} steps, so {steps} cannot be your default."
    guidance = values.get("guidance")
    if guidance is not None and not MIN_GUIDANCE <= guidance <= MAX_GUIDANCE:
        return f"Guidance must be between {MIN_GUIDANCE:g} and {MAX_GUIDANCE:g} (got {guidance:g})."
    strength = values.get("remix_strength")
    if strength is not None and not MIN_STRENGTH <= strength <= 1.0:
        return f"The remix strength must be between {MIN_STRENGTH:g} and 1 (got {strength:g})."
    clips = values.get("blend_clips")
    if clips is not None:
        if not MIN_BLEND_CLIPS <= clips <= MAX_BLEND_CLIPS:
            return f"A blend takes {MIN_BLEND_CLIPS} to {MAX_BLEND_CLIPS} clips (got {clips})."
        if limits.max_clips is not None and clips > limits.max_clips:
            return (
                f"This server allows at most {limits.max_clips} clips per track, so "
                f"{clips} cannot be your default blend length."
            )
    for name in ("seed_image", "blend_seed_image"):
        image = values.get(name)
        if image is not None and image != NO_SEED_IMAGE and image not in seed_images:
            names = ", ".join([*seed_images, NO_SEED_IMAGE])
            return f"There is no seed image called {image!r}; pick one of: {names}."
    denoising = values.get("denoising")
    if denoising is not None and not MIN_DENOISING <= denoising <= 1.0:
        return f"The denoising must be between {MIN_DENOISING:g} and 1 (got {denoising:g})."
    negative = values.get("negative_prompt")
    if negative is not None and not negative.strip():
        return "The negative prompt is empty; use /settings reset to clear it."
    if negative is not None and len(negative) > MAX_PROMPT:
        return f"The negative prompt is too long (at most {MAX_PROMPT} characters)."
    return None


def remix_steps_problem(steps: int, strength: float) -> str | None:
    """A remix runs steps x strength denoising passes: it needs at least one."""
    if int(steps * strength) < 1:
        return (
            f"A remix strength of {strength:g} is too small for {steps} steps (it would "
            "change nothing); raise the strength or the steps."
        )
    return None


def denoising_steps_problem(steps: int, denoising: float) -> str | None:
    """From a seed image, steps x denoising passes run: at least one must."""
    if int(steps * denoising) < 1:
        return (
            f"A denoising of {denoising:g} is too small for {steps} steps (nothing would be "
            "generated); raise the denoising or the steps."
        )
    return None


def blend_seed_image(
    given: str | None, mine: str | None, seed_images: SeedImageCatalogue
) -> str | None:
    """The seed image a /blend starts from: the option, else the user's /blend default, else
    Riffusion's (DEFAULT_INTERPOLATION_SEED_IMAGE); NO_SEED_IMAGE (or nothing installed) means
    text to audio. A saved default whose image was since removed falls back to Riffusion's.
    Names come back current (a former name gives the new one)."""
    if given is None and mine is not None and mine in seed_images:
        given = mine
    elif given is None and mine == NO_SEED_IMAGE:
        given = NO_SEED_IMAGE
    if given == NO_SEED_IMAGE:
        return None
    if given is None:
        given = DEFAULT_INTERPOLATION_SEED_IMAGE
    return seed_images.canonical(given)


async def for_request(
    db: Database, policy: ServerPolicy, user_id: int, guild_id: int | None
) -> tuple[UserDefaults, Limits]:
    """A user's defaults and the limits where they ask: read once per request."""
    limits = await limits_for(policy.settings, policy, guild_id)
    return await load(db, user_id), limits


def pick(given: Any, mine: Any, bot_default: Any) -> Any:
    """The option the user gave, else their /settings default, else the bot's."""
    if given is not None:
        return given
    return bot_default if mine is None else mine
