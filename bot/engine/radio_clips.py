"""The radio's clips as queue work: a point of the seed walk, and the task that renders it.

Discord-free, so a GPU worker on another machine renders radio clips from the jobs table too
(kind "radio", GENERATION_QUEUE=postgres); the station that plays them is bot/voice/radio.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from PIL import Image
from pydub import AudioSegment

from bot.limits import DEFAULT_DENOISING, DEFAULT_GUIDANCE
from riffusion_core.clips import render_clips

RADIO_KIND = "radio"  # jobs rows of radio clips: never resumed, never in /history


@dataclass(frozen=True)
class RadioClip:
    """One clip of the walk: a point `alpha` of the way from one (prompt, seed) to the next."""

    index: int
    start_prompt: str
    start_seed: int
    end_prompt: str
    end_seed: int
    alpha: float

    @property
    def label(self) -> str:
        if self.start_prompt == self.end_prompt:
            return f"{self.end_prompt} (seed {self.start_seed}→{self.end_seed}, {self.alpha:g})"
        return f"{self.start_prompt} → {self.end_prompt} ({self.alpha:g})"


@dataclass(frozen=True)
class RadioRender:
    """A rendered radio clip: its audio (what the stream plays) and its spectrogram image (what
    a listener's page shows; None where a renderer has none)."""

    audio: AudioSegment
    image: Image.Image | None = None


@dataclass(frozen=True)
class RadioTask:
    """A queue payload that renders one radio clip (an interpolation step of the walk).

    It renders itself (`render_on`), so the GPU worker runs it like blend and remix tasks;
    it is never batched with /riff clips, and its cost is its steps, for ETAs.
    """

    clip: RadioClip
    steps: int
    seed_image: str | None
    denoising: float = DEFAULT_DENOISING  # Riffusion's: the web app's walk sends 0.75
    guidance: float = DEFAULT_GUIDANCE

    batch_key = None

    @property
    def cost(self) -> float:
        return float(self.steps)

    @property
    def single_clip(self) -> bool:
        return True

    def request(self) -> Any:
        from riffusion_core.generation import GenerationRequest, PromptInput

        clip = self.clip
        start = PromptInput(
            prompt=clip.start_prompt,
            seed=clip.start_seed,
            guidance=self.guidance,
            denoising=self.denoising,
        )
        end = PromptInput(
            prompt=clip.end_prompt,
            seed=clip.end_seed,
            guidance=self.guidance,
            denoising=self.denoising,
        )
        return GenerationRequest(
            start=start,
            end=end,
            alpha=clip.alpha,
            num_inference_steps=self.steps,
            seed_image=self.seed_image,
        )

    def to_spec(self) -> dict[str, Any]:
        """As the jobs table keeps it (a GPU worker elsewhere rebuilds it: the postgres
        queue)."""
        return {
            "type": RADIO_KIND,
            "clip": asdict(self.clip),
            "steps": self.steps,
            "seed_image": self.seed_image,
            "denoising": self.denoising,
            "guidance": self.guidance,
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> RadioTask:
        return cls(
            clip=RadioClip(**spec["clip"]),
            steps=int(spec["steps"]),
            seed_image=spec.get("seed_image"),
            denoising=float(spec["denoising"]),
            guidance=float(spec["guidance"]),
        )

    def render_on(self, pipe: Any, on_step: Any, should_cancel: Any) -> RadioRender:
        result = render_clips(pipe, [self.request()], on_step=on_step, should_cancel=should_cancel)
        return RadioRender(result[0].audio, result[0].image)
