"""What to generate (PromptInput, GenerationRequest) and what came out (GenerationResult).

Requests are validated when they are built, so the bot and the CLI can show the user one clear
sentence (a RiffusionError) before anything reaches the GPU queue.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypeGuard

from PIL import Image

from riffusion_core.errors import RiffusionError
from riffusion_core.spectrogram_params import SpectrogramParams

if TYPE_CHECKING:
    from pydub import AudioSegment

_MODEL_PARAMS = SpectrogramParams()  # the geometry the published model was trained on
HEIGHT = _MODEL_PARAMS.num_frequencies  # 512 mel bins
SAMPLE_RATE = _MODEL_PARAMS.sample_rate
HOP_SAMPLES = _MODEL_PARAMS.hop_length  # 10 ms: one image column
CLIP_WIDTH = 512  # px: the square images the model was trained on, and the seed images' loops
CLIP_SECONDS = _MODEL_PARAMS.num_samples(CLIP_WIDTH) / SAMPLE_RATE
"""One clip's audio: 441 * 511 samples = 5.11 s exactly (other widths: tracks.clip_ms)."""
MIN_WIDTH = 64
MAX_WIDTH = 4096
MIN_STEPS = 2
MAX_STEPS = 200
MAX_GUIDANCE = 50.0
MAX_SEED = 2**31 - 1
"""Largest seed. Discord's integer options, the bot's records and shared links carry seeds in
this range (a signed 32-bit integer), so the CLI accepts the same ones: any seed a user sees
anywhere reproduces everywhere. Walks that go to the next seed wrap around (next_seed)."""
MAX_PROMPT_CHARS = 2000
DEFAULT_MAX_BATCH_SIZE = 8  # requests per UNet batch unless the caller says otherwise


@dataclass(frozen=True)
class PromptInput:
    """One end of a generation: the text, the noise seed and how strongly to follow them."""

    prompt: str
    seed: int = 42
    negative_prompt: str | None = None
    guidance: float = 7.0
    denoising: float = 0.75

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise RiffusionError("The prompt is empty: describe the music you want.")
        if len(self.prompt) > MAX_PROMPT_CHARS:
            raise RiffusionError(f"The prompt is too long (over {MAX_PROMPT_CHARS} characters).")
        if self.negative_prompt is not None and len(self.negative_prompt) > MAX_PROMPT_CHARS:
            raise RiffusionError(
                f"The negative prompt is too long (over {MAX_PROMPT_CHARS} characters)."
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise RiffusionError(f"The seed must be a whole number, not {self.seed!r}.")
        if not 0 <= self.seed <= MAX_SEED:
            raise RiffusionError(f"The seed must be between 0 and {MAX_SEED}.")
        _check_number("guidance", self.guidance, 0.0, MAX_GUIDANCE)
        if not _finite(self.denoising) or not 0.0 < self.denoising <= 1.0:
            raise RiffusionError(
                f"The denoising strength must be above 0 and at most 1, not {self.denoising}."
            )


@dataclass(frozen=True)
class GenerationRequest:
    """One clip: a prompt (or a blend of two at `alpha`), from noise or from a seed image."""

    start: PromptInput
    end: PromptInput | None = None
    alpha: float = 0.0
    num_inference_steps: int = 50
    seed_image: str | None = None  # bundled name or a path; None = text-to-audio
    mask_image: str | None = None  # black = keep the seed image, white = regenerate
    width: int = 512

    def __post_init__(self) -> None:
        if not isinstance(self.start, PromptInput):
            raise RiffusionError("The request needs a start prompt.")
        if self.end is not None and not isinstance(self.end, PromptInput):
            raise RiffusionError("The end of a blend must be a prompt.")
        _check_number("alpha", self.alpha, 0.0, 1.0)
        steps = self.num_inference_steps
        if isinstance(steps, bool) or not isinstance(steps, int):
            raise RiffusionError(f"The number of steps must be a whole number, not {steps!r}.")
        if not MIN_STEPS <= steps <= MAX_STEPS:
            raise RiffusionError(
                f"The number of steps must be between {MIN_STEPS} and {MAX_STEPS}, not {steps}."
            )
        width = self.width
        if isinstance(width, bool) or not isinstance(width, int):
            raise RiffusionError(f"The width must be a whole number of pixels, not {width!r}.")
        if not MIN_WIDTH <= width <= MAX_WIDTH or width % 8:
            raise RiffusionError(
                f"The width must be a multiple of 8 between {MIN_WIDTH} and {MAX_WIDTH} px, "
                f"not {width}."
            )
        if self.seed_image is not None:
            from riffusion_core.seed_images import check_seed_image

            check_seed_image(self.seed_image)
            if self.denoising_passes < 1:
                raise RiffusionError(
                    f"The denoising strength {self.denoising:.2f} is too small for "
                    f"{steps} steps: raise the strength or the number of steps."
                )
        if self.mask_image is not None:
            if self.seed_image is None:
                raise RiffusionError("A mask needs a seed image to keep parts of.")
            from pathlib import Path

            if not Path(self.mask_image).expanduser().is_file():
                raise RiffusionError(f"The mask image {self.mask_image!r} does not exist.")

    @property
    def is_blend(self) -> bool:
        return self.end is not None

    @property
    def guidance(self) -> float:
        """Guidance scale after interpolation (exactly an end's value at alpha 0 or 1)."""
        if self.end is None:
            return float(self.start.guidance)
        return _lerp(self.start.guidance, self.end.guidance, self.alpha)

    @property
    def uses_cfg(self) -> bool:
        """Whether this request runs classifier-free guidance (see `uses_cfg`)."""
        return uses_cfg(self.guidance)

    @property
    def denoising(self) -> float:
        """Denoising strength after interpolation (used only with a seed image)."""
        if self.end is None:
            return float(self.start.denoising)
        return _lerp(self.start.denoising, self.end.denoising, self.alpha)

    @property
    def denoising_passes(self) -> int:
        """How many of the scheduler's steps run (img2img skips the first 1 - strength)."""
        if self.seed_image is None:
            return self.num_inference_steps
        return min(int(self.num_inference_steps * self.denoising), self.num_inference_steps)

    @property
    def duration_s(self) -> float:
        """Length of the audio the image decodes to (441 samples per column, minus one)."""
        return _MODEL_PARAMS.num_samples(self.width) / SAMPLE_RATE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GenerationResult:
    """One rendered clip with everything needed to reproduce it or store it as a record."""

    request: GenerationRequest
    image: Image.Image  # the spectrogram, RGB, 512 high, EXIF with the spectrogram parameters
    audio: AudioSegment  # what the image decodes to (riffusion_core.clips.render_clips)
    duration_s: float
    elapsed_s: float  # wall time of the batch that rendered this clip (images and audio)
    seeds: tuple[int, ...] = ()  # start seed, and end seed for a blend
    scheduler: str = ""
    model_id: str = ""
    device: str = ""
    unet_steps: int = 0  # UNet passes actually run (img2img runs fewer than num_inference_steps)
    batch_size: int = 1  # how many requests shared the UNet batch

    @property
    def parameters(self) -> dict[str, Any]:
        """JSON-ready description of how this clip was made (request + resolved settings)."""
        return {
            **self.request.to_dict(),
            "guidance": self.request.guidance,
            "denoising": self.request.denoising,
            "seeds": list(self.seeds),
            "scheduler": self.scheduler,
            "model_id": self.model_id,
            "device": self.device,
            "height": HEIGHT,
            "unet_steps": self.unet_steps,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON record: the parameters plus timing and sizes (no image or audio bytes)."""
        return {
            "parameters": self.parameters,
            "duration_s": round(self.duration_s, 4),
            "elapsed_s": round(self.elapsed_s, 3),
            "batch_size": self.batch_size,
            "image_size": list(self.image.size),
        }


def uses_cfg(guidance: float) -> bool:
    """Classifier-free guidance runs only above 1, as in the reference and diffusers: at 1 it
    equals the prompt's own prediction at twice the UNet work; below 1 both skip it too."""
    return guidance > 1.0


def next_seed(seed: int) -> int:
    """The seed after `seed` in a walk (s -> s + 1), wrapping from MAX_SEED back to 0."""
    return (seed + 1) % (MAX_SEED + 1)


def _finite(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_number(name: str, value: object, low: float, high: float) -> None:
    if not _finite(value) or not low <= value <= high:
        raise RiffusionError(f"The {name} must be between {low:g} and {high:g}, not {value!r}.")


def _lerp(a: float, b: float, t: float) -> float:
    return float(a * (1 - t) + b * t)
