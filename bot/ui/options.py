"""Slash-command option types with their declared ranges, from bot/limits.py.

Discord's client enforces these; bot/app/commandtree.py checks them again for clients with an
old copy of a command. Options the bot's settings can lower further (MAX_STEPS, ...) are
checked by the policy when a request is made.
"""

from __future__ import annotations

from discord import app_commands

from bot.limits import (
    MAX_BLEND_CLIPS,
    MAX_DURATION_OPTION_S,
    MAX_GUIDANCE,
    MAX_PROMPT,
    MAX_RADIO_PROMPT,
    MAX_RADIO_STEPS,
    MAX_SEED,
    MAX_STEP_OPTION,
    MIN_BLEND_CLIPS,
    MIN_DENOISING,
    MIN_DURATION_S,
    MIN_GUIDANCE,
    MIN_STEPS,
    MIN_STRENGTH,
)
from bot.params import NO_SEED_IMAGE
from riffusion_core.seed_images import list_seed_images

Prompt = app_commands.Range[str, 1, MAX_PROMPT]
RadioPrompt = app_commands.Range[str, 1, MAX_RADIO_PROMPT]
Seed = app_commands.Range[int, 0, MAX_SEED]
Steps = app_commands.Range[int, MIN_STEPS, MAX_STEP_OPTION]
RadioSteps = app_commands.Range[int, MIN_STEPS, MAX_RADIO_STEPS]
Guidance = app_commands.Range[float, MIN_GUIDANCE, MAX_GUIDANCE]
Denoising = app_commands.Range[float, MIN_DENOISING, 1.0]
Duration = app_commands.Range[float, MIN_DURATION_S, MAX_DURATION_OPTION_S]
BlendClips = app_commands.Range[int, MIN_BLEND_CLIPS, MAX_BLEND_CLIPS]
Strength = app_commands.Range[float, MIN_STRENGTH, 1.0]

SEED_IMAGE_CHOICES = [
    app_commands.Choice(name=name, value=name) for name in list_seed_images()[:24]
]
if SEED_IMAGE_CHOICES:
    SEED_IMAGE_CHOICES.append(app_commands.Choice(name="none (from scratch)", value=NO_SEED_IMAGE))
# /riff's and /blend's seed_image option. Discord rejects an empty choice list; without bundled
# seed images the option is free text checked against the list at run time.
with_seed_image_choices = (
    app_commands.choices(seed_image=SEED_IMAGE_CHOICES) if SEED_IMAGE_CHOICES else lambda f: f
)
