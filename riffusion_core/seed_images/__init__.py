"""Bundled seed images: spectrograms of beat loops that img2img starts from.

A seed image is named by its file stem (`backbeat` for `backbeat.png` in this folder) or given as
a path to any image file. Images are returned RGB and 512 px high (SD's height = 512 mel bins).

A bundled loop that was renamed keeps its former name as an alias (ALIASES), so results, user
defaults, queued jobs and buttons stored under the old name still find it; `bundled_name` is the
one place an alias is resolved. A folder of the user's own seed images is added by
`riffusion_core.seed_images.catalogue`.

A bundled style at another tempo is named `<style>@<bpm>bpm` (`backbeat@128bpm`): its image is
made from the name alone by `riffusion_core.seed_images.loops` and kept in a cache folder, so a
GPU worker on another machine finds the same picture as the bot that queued the job.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from riffusion_core.errors import RiffusionError
from riffusion_core.seed_images.loops import (
    ALIASES,
    is_tempo_loop_name,
    parse_tempo_loop,
    tempo_loop_path,
)

SEED_IMAGE_DIR = Path(__file__).resolve().parent
HEIGHT = 512
DEFAULT_INTERPOLATION_SEED_IMAGE = "og_beat"
"""What Riffusion's interpolation starts from (its web app's and its tools' default, at denoising
0.75): blends, each blend clip, the radio and `riffusion blend` use it unless told otherwise. The
one place to change it; it must stay a name resolve_seed_image accepts."""
_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def bundled_name(name: str) -> str:
    """The current name of a bundled seed image given by its name or a former one."""
    return ALIASES.get(name, name)


def list_seed_images() -> list[str]:
    """Names of the bundled seed images, sorted."""
    return sorted(p.stem for p in SEED_IMAGE_DIR.iterdir() if p.suffix.lower() in _SUFFIXES)


def check_seed_image(name_or_path: str | Path) -> None:
    """RiffusionError unless `name_or_path` names a seed image; a tempo loop is checked by its
    name alone (making its image is left to whoever renders it)."""
    text = str(name_or_path).strip()
    if is_tempo_loop_name(text):
        parse_tempo_loop(text)
    else:
        resolve_seed_image(text)


def resolve_seed_image(name_or_path: str | Path) -> Path:
    """The file behind a bundled name, a tempo loop name (made and cached on first use) or a
    user path; RiffusionError naming the choices if none."""
    text = str(name_or_path).strip()
    if not text:
        raise RiffusionError("The seed image name is empty.")
    if is_tempo_loop_name(text):
        return tempo_loop_path(parse_tempo_loop(text))
    for suffix in _SUFFIXES:
        bundled = SEED_IMAGE_DIR / f"{bundled_name(text)}{suffix}"
        if "/" not in text and "\\" not in text and bundled.is_file():
            return bundled
    path = Path(text).expanduser()
    if path.is_file():
        return path
    names = ", ".join(list_seed_images()) or "none are installed"
    raise RiffusionError(f"Unknown seed image {text!r}. Available seed images: {names}.")


def load_seed_image(name_or_path: str | Path) -> Image.Image:
    """Load a seed image as RGB, scaled to 512 px high (aspect kept, width rounded to 8)."""
    path = resolve_seed_image(name_or_path)
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise RiffusionError(f"The seed image {path.name!r} is not a readable image.") from exc
    if image.height != HEIGHT:
        width = max(8, round(image.width * HEIGHT / image.height))
        image = image.resize((width, HEIGHT), Image.Resampling.BICUBIC)
    if image.width % 8:
        image = image.crop((0, 0, image.width - image.width % 8, HEIGHT))
    return image


def fit_width(image: Image.Image, width: int) -> Image.Image:
    """Crop or tile horizontally to `width` px.

    Seed images are loops whose length is a whole number of bars; stretching would change the
    tempo, tiling keeps it.
    """
    if image.width == width:
        return image
    if image.width > width:
        return image.crop((0, 0, width, image.height))
    tiled = Image.new("RGB", (width, image.height))
    for x in range(0, width, image.width):
        tiled.paste(image, (x, 0))
    return tiled
