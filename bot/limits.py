"""Every bound the bot declares or enforces, in one place.

Commands declare these as their options' ranges (bot/ui/options.py), /settings checks saved
defaults against them, and the policy and the job service enforce the configurable ones
(Settings: MAX_STEPS, MAX_DURATION_S, ...) within them. One clip and the largest seed come from
riffusion_core, which defines the format.
"""

from __future__ import annotations

from riffusion_core.generation import CLIP_SECONDS, MAX_SEED

__all__ = ["CLIP_SECONDS", "MAX_SEED"]  # defined by the format, used by the bot from here

# Text
MAX_PROMPT = 500  # characters, for every prompt and negative prompt
MAX_RADIO_PROMPT = 300

# Diffusion
MIN_STEPS = 2
MAX_STEP_OPTION = 200  # the largest value a steps option accepts (MAX_STEPS may lower it)
MAX_RADIO_STEPS = 100
MIN_GUIDANCE, MAX_GUIDANCE = 0.0, 30.0
DEFAULT_GUIDANCE = 7.0
MIN_DENOISING = 0.05
DEFAULT_DENOISING = 0.75
VARIATION_STRENGTH = 0.35  # how far Variation moves from its result (img2img denoising)

# Remix
MIN_STRENGTH = 0.1  # the gentlest remix that still changes something
DEFAULT_STRENGTH = 0.55

# Length
MIN_DURATION_S = 1.0
MAX_DURATION_OPTION_S = 120.0  # the option's range; MAX_DURATION_S may lower it
EXTEND_FACTOR = 2  # Extend grows a track up to this many times MAX_DURATION_S
MIN_BLEND_CLIPS, MAX_BLEND_CLIPS = 2, 12
# /song (issue 16): its length's range (MAX_SONG_S may lower it) and its structure's text.
MIN_SONG_OPTION_S, MAX_SONG_OPTION_S = 30, 240
MAX_STRUCTURE = 1000
MIN_BPM_OPTION, MAX_BPM_OPTION = 60, 180
DEFAULT_BLEND_CLIPS = 4

# Discord
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024  # per file, without server boosts
