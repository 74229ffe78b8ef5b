"""Generated files on disk, named by generation id only.

User-supplied text (prompts, names) never becomes part of a path, and Discord CDN URLs are never
kept: the bot re-uploads from here when it needs a file again (buttons, favourites, restarts).
Files are written to a temporary name, flushed to disk and renamed into place before the
database points at them, so a crash or a power cut never leaves a row naming a half file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from PIL import Image

GENERATIONS_DIR = "generations"


class Storage:
    """Reads and writes DATA_DIR/generations/<id>.png, .mp3 and .wav (the lossless master)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.folder = self.data_dir / GENERATIONS_DIR
        self.folder.mkdir(parents=True, exist_ok=True)

    def relative(self, generation_id: int, suffix: str) -> str:
        """The path stored in the database, relative to DATA_DIR."""
        if suffix not in (".png", ".mp3", ".wav"):
            raise ValueError(f"unsupported file type {suffix!r}")
        return f"{GENERATIONS_DIR}/{int(generation_id)}{suffix}"

    def path(self, relative: str) -> Path:
        """Absolute path of a stored relative path, refusing anything outside DATA_DIR."""
        resolved = (self.data_dir / relative).resolve()
        if self.folder.resolve() not in resolved.parents:
            raise ValueError(f"{relative!r} is not a generation file")
        return resolved

    def save_image(self, generation_id: int, image: Image.Image) -> str:
        """Save the spectrogram PNG (with its EXIF parameters) and return its relative path."""
        relative = self.relative(generation_id, ".png")
        exif = image.getexif()
        self._write(relative, lambda f: image.save(f, format="PNG", exif=exif))
        return relative

    def save_bytes(self, generation_id: int, suffix: str, data: bytes) -> str:
        relative = self.relative(generation_id, suffix)
        self._write(relative, lambda f: f.write(data))
        return relative

    def read_bytes(self, relative: str) -> bytes:
        return self.path(relative).read_bytes()

    def delete(self, relative: str | None) -> None:
        if relative:
            self.path(relative).unlink(missing_ok=True)

    def files_of(
        self, image_file: str | None, audio_file: str | None, extra: dict | None
    ) -> list[str]:
        """The relative paths a generation row names (PNG, MP3, lossless master)."""
        master = (extra or {}).get("master")
        return [p for p in (image_file, audio_file, master) if p]

    def size_of(self, relative: str) -> int:
        try:
            return self.path(relative).stat().st_size
        except (OSError, ValueError):
            return 0

    def _write(self, relative: str, writer: Callable[[BinaryIO], object]) -> None:
        _write_durably(self.path(relative), writer)

    @staticmethod
    def write_durably(target: Path, data: bytes) -> None:
        """Write `data` to `target` atomically and flushed (for files outside generations/)."""
        _write_durably(target, lambda f: f.write(data))


def disk_usage(folder: Path) -> int:
    """Bytes of every file under `folder` (what DATA_DIR takes on disk, near enough)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:
                continue
    return total


def _write_durably(target: Path, writer: Callable[[BinaryIO], object]) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
