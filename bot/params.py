"""What a user asked for, as one JSON-able dataclass shared by commands, buttons and the DB."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from bot.limits import CLIP_SECONDS, DEFAULT_DENOISING, DEFAULT_GUIDANCE, MAX_SEED
from riffusion_core.generation import PromptInput

"""The seed-image choice that means text to audio (commands, /settings, the /blend default)."""


def random_seed() -> int:
    return random.randint(0, MAX_SEED)


@dataclass(frozen=True)
class RiffParams:
    """The /riff options after defaults are applied (what Info shows and Reroll reuses)."""

    prompt: str
    negative_prompt: str | None = None
    seed: int = 42
    seed_image: str | None = None  # a seed image name (bundled or SEED_IMAGES_DIR), never a path
    steps: int = 50
    guidance: float = DEFAULT_GUIDANCE
    denoising: float = DEFAULT_DENOISING
    duration_s: float = CLIP_SECONDS
    width: int = 512
    bpm: float | None = None  # a steady tempo: clips of whole bars from the tempo's loop

    @property
    def single_clip(self) -> bool:
        if self.bpm is not None:
            return False  # cut to whole bars by riff_in_tempo, never batched as a plain clip
        return self.duration_s <= CLIP_SECONDS + 1e-6

    def prompt_input(self) -> PromptInput:
        """The start end of a generation request (riffusion_core's view of these options)."""
        return PromptInput(
            prompt=self.prompt,
            seed=self.seed,
            negative_prompt=self.negative_prompt,
            guidance=self.guidance,
            denoising=self.denoising,
        )

    def with_seed(self, seed: int) -> RiffParams:
        return replace(self, seed=seed)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RiffParams:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def command(self) -> str:
        """A copy-paste /riff command that reproduces this result."""
        parts = [f"/riff prompt:{self.prompt}"]
        if self.negative_prompt:
            parts.append(f"negative_prompt:{self.negative_prompt}")
        parts.append(f"seed:{self.seed}")
        if self.seed_image and self.bpm is None:
            parts.append(f"seed_image:{self.seed_image}")
        elif self.seed_image and "@" in self.seed_image:
            parts.append(f"seed_image:{self.seed_image.split('@', 1)[0]}")
        parts += [
            f"steps:{self.steps}",
            f"guidance:{self.guidance:g}",
            f"denoising:{self.denoising:g}",
            f"duration:{self.duration_s:g}",
        ]
        if self.bpm is not None:
            parts.append(f"bpm:{self.bpm:g}")
        return " ".join(parts)
