"""Every seed image a bot or a CLI run may use: the bundled ones plus a folder of the user's own.

Built once from the folder (SEED_IMAGES_DIR or `--seed-images-dir`) and handed to whoever needs
names or files. riffusion_core's requests know only bundled names and paths, so a folder image
travels to the pipeline as its path (`request_value`) while results keep its name.

Decisions, documented in the README:
- A folder image whose name is a bundled one, or a bundled loop's former name (`og_beat`), takes
  that name: the folder wins, and the scan says so (`hidden`) so it never happens silently. That
  is what lets Riffusion's own seed_images folder bring back the real og_beat.
- Files named `mask_*` are masks (Riffusion keeps them beside its seed images), not seeds.
- A file that is not a usable spectrogram is left out with a one-line reason (`unusable`).
- A bundled style at a tempo (`backbeat@128bpm`, riffusion_core.seed_images.loops) is a name
  like the bundled ones: accepted, canonical with the tempo to 0.1 BPM (`og_beat@128.0bpm` ->
  `backbeat@128bpm`), never listed (there is one per tempo), made from its name where it is
  rendered. A folder file cannot take such a name ('@' is not allowed in them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from riffusion_core.errors import RiffusionError
from riffusion_core.seed_images import ALIASES, bundled_name, list_seed_images
from riffusion_core.seed_images.loops import is_tempo_loop_name, parse_tempo_loop
from riffusion_core.seed_images.usable import UnusableSeedImage, check_seed_spectrogram

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MASK_PREFIX = "mask_"
NO_SEED_IMAGE = "none"  # means "from scratch" wherever a seed image is chosen by name
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def _bundled_names() -> tuple[str, ...]:
    return tuple(list_seed_images())


@dataclass(frozen=True)
class SeedImageCatalogue:
    """Seed image names and where each one's file is; bundled names resolve in riffusion_core."""

    bundled: tuple[str, ...] = field(default_factory=_bundled_names)
    folder_files: Mapping[str, Path] = field(default_factory=dict)  # name -> file in the folder
    folder: Path | None = None

    def names(self) -> list[str]:
        """Every name a user may pick, sorted (former names are not listed)."""
        return sorted({*self.bundled, *self.folder_files})

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.canonical(name) is not None

    def canonical(self, name: str) -> str | None:
        """The current name for `name` (a former name gives the new one); None if unknown."""
        if name in self.folder_files:
            return name
        if is_tempo_loop_name(name):
            try:
                return parse_tempo_loop(name).name
            except RiffusionError:
                return None
        current = bundled_name(name)
        return current if current in self.bundled else None

    def request_value(self, name: str) -> str:
        """What a GenerationRequest takes for `name`: a bundled name, or a folder image's path."""
        current = self.canonical(name)
        if current is None:
            raise RiffusionError(
                f"Unknown seed image {name!r}. Available seed images: {', '.join(self.names())}."
            )
        folder_file = self.folder_files.get(current)
        return str(folder_file) if folder_file is not None else current

    def describe(self, stored: str) -> str:
        """A stored name as Info shows it: the current name, and the stored one if it differs."""
        current = self.canonical(stored)
        if current is None:
            return f"{stored} (no longer installed)"
        if current != stored:
            return f"{current} (recorded as {stored}, its former name)"
        return current


@dataclass(frozen=True)
class FolderScan:
    """A folder read into a catalogue, with what was left out or overrides a bundled name."""

    catalogue: SeedImageCatalogue
    unusable: tuple[str, ...] = ()  # one line per file left out, naming it
    hidden: tuple[str, ...] = ()  # one line per bundled (or former) name a folder image took
    masks: tuple[str, ...] = ()  # mask files, not seed images


def scan_seed_folder(folder: Path | None) -> FolderScan:
    """Read a folder of seed spectrograms (None: the bundled ones only)."""
    if folder is None:
        return FolderScan(SeedImageCatalogue())
    if not folder.is_dir():
        raise RiffusionError(f"The seed image folder {str(folder)!r} does not exist.")
    files: dict[str, Path] = {}
    unusable: list[str] = []
    masks: list[str] = []
    for path in _image_files(folder):
        name = path.stem
        if name.startswith(MASK_PREFIX):
            masks.append(path.name)
        elif problem := _name_problem(path, files):
            unusable.append(problem)
        else:
            try:
                check_seed_spectrogram(path)
            except UnusableSeedImage as exc:
                unusable.append(str(exc))
            else:
                files[name] = path.resolve()
    catalogue = SeedImageCatalogue(folder_files=MappingProxyType(files), folder=folder.resolve())
    hidden = [_hidden_line(n) for n in sorted(files) if n in ALIASES or n in catalogue.bundled]
    return FolderScan(catalogue, tuple(unusable), tuple(hidden), tuple(masks))


def _image_files(folder: Path) -> Iterable[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def _name_problem(path: Path, taken: dict[str, Path]) -> str | None:
    name = path.stem
    if name == NO_SEED_IMAGE:
        return f"{path.name}: the name {NO_SEED_IMAGE!r} means no seed image; rename the file."
    if not NAME.fullmatch(name):
        return (
            f"{path.name}: rename it to letters, digits, '-', '_' and '.' only "
            "(at most 100 characters), so it can be typed as a seed image name."
        )
    if name in taken:
        return f"{path.name}: {taken[name].name} already has the name {name!r}."
    return None


def _hidden_line(name: str) -> str:
    if name in ALIASES:
        return (
            f"{name}: the folder's image now answers to {name!r}, the former name of the "
            f"bundled {ALIASES[name]!r} (still available as {ALIASES[name]!r})."
        )
    return f"{name}: the folder's image replaces the bundled seed image of the same name."
