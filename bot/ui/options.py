"""Slash-command option types with their declared ranges, from bot/limits.py.

Discord's client enforces these; bot/app/commandtree.py checks them again for clients with an
old copy of a command. Options the bot's settings can lower further (MAX_STEPS, ...) are
checked by the policy when a request is made.
"""

from __future__ import annotations

from discord import app_commands

from bot.limits import (
    MAX_BLEND_CLIPS,
    MAX_BPM_OPTION,
    MAX_DURATION_OPTION_S,
    MAX_GUIDANCE,
    MAX_PROMPT,
    MAX_RADIO_PROMPT,
    MAX_RADIO_STEPS,
    MAX_SEED,
    MAX_SONG_OPTION_S,
    MAX_STEP_OPTION,
    MAX_STRUCTURE,
    MIN_BLEND_CLIPS,
    MIN_BPM_OPTION,
    MIN_DENOISING,
    MIN_DURATION_S,
    MIN_GUIDANCE,
    MIN_SONG_OPTION_S,
    MIN_STEPS,
    MIN_STRENGTH,
)

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
Structure = app_commands.Range[str, 1, MAX_STRUCTURE]
SongLength = app_commands.Range[int, MIN_SONG_OPTION_S, MAX_SONG_OPTION_S]
Bpm = app_commands.Range[int, MIN_BPM_OPTION, MAX_BPM_OPTION]
