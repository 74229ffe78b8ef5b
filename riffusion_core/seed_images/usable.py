"""Is a file a spectrogram the model can start from? One line naming the file when it is not.

Seed images from a folder (SEED_IMAGES_DIR, `--seed-images-dir`) are checked once, when the
folder is read, so a bad file is reported where it is configured instead of failing a request
later. What is accepted is what Riffusion's own seed images are: a PNG (or JPEG/WebP) in grey (L),
palette (P) or RGB, with or without the spectrogram EXIF; without it the model's defaults apply.
Any width works (clips tile or crop it); the height is one row per mel bin.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from riffusion_core.errors import RiffusionError
from riffusion_core.seed_images import HEIGHT
from riffusion_core.spectrogram_params import SpectrogramParams

MODES = ("L", "P", "RGB")
MIN_WIDTH = 8  # one latent column of the model
MODEL = SpectrogramParams()


class UnusableSeedImage(RiffusionError):
    """A file that cannot be used as a seed image; the message names it."""


def check_seed_spectrogram(path: Path) -> SpectrogramParams:
    """The file's spectrogram parameters, or UnusableSeedImage saying what is wrong with it."""
    name = path.name
    try:
        with Image.open(path) as image:
            image.load()
            mode, (width, height) = image.mode, image.size
            params = SpectrogramParams.from_exif(image.getexif())
            stereo = params.stereo or _red_is_empty(image)
    except UnidentifiedImageError:
        raise UnusableSeedImage(f"{name}: not an image (unknown or damaged file format).") from None
    except Image.DecompressionBombError:
        raise UnusableSeedImage(f"{name}: far too large to be a spectrogram.") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UnusableSeedImage(f"{name}: corrupt or truncated image ({exc}).") from None
    if mode not in MODES:
        raise UnusableSeedImage(
            f"{name}: image mode {mode} is not a spectrogram's; save it as greyscale, "
            "palette or RGB without transparency."
        )
    if stereo:
        raise UnusableSeedImage(
            f"{name}: a stereo spectrogram; seed images are mono (make one with "
            "`riffusion audio-to-image` without --stereo)."
        )
    _check_params(name, params)
    if height != params.num_frequencies:
        raise UnusableSeedImage(
            f"{name}: wrong size, {width} x {height} px; a spectrogram has one row per mel bin, "
            f"so it must be {params.num_frequencies} px high."
        )
    if round(width * HEIGHT / height) < MIN_WIDTH:
        raise UnusableSeedImage(f"{name}: only {width} px wide; a seed image needs more columns.")
    return params


def _check_params(name: str, params: SpectrogramParams) -> None:
    """Refuse EXIF parameters that would make the model read the image as something else."""
    wanted = {
        "sample rate": (params.sample_rate, MODEL.sample_rate, "Hz"),
        "lowest frequency": (params.min_frequency, MODEL.min_frequency, "Hz"),
        "highest frequency": (params.max_frequency, MODEL.max_frequency, "Hz"),
        "step": (params.step_size_ms, MODEL.step_size_ms, "ms"),
    }
    wrong = [f"{what} {got} {unit}" for what, (got, want, unit) in wanted.items() if got != want]
    if wrong:
        raise UnusableSeedImage(
            f"{name}: made with other spectrogram parameters ({', '.join(wrong)}); the model's "
            f"are {MODEL.sample_rate} Hz, {MODEL.min_frequency}-{MODEL.max_frequency} Hz, "
            f"{MODEL.step_size_ms} ms steps."
        )


def _red_is_empty(image: Image.Image) -> bool:
    """A stereo spectrogram that lost its EXIF: R is 0 everywhere while G or B are not."""
    if image.mode != "RGB":
        return False
    red, green, blue = (band.getextrema()[1] for band in image.split())
    return red == 0 and (green != 0 or blue != 0)
