"""Generated files on disk, named by generation id only.

User-supplied text (prompts, names) never becomes part of a path, and Discord CDN URLs are never
kept: the bot re-uploads from here when it needs a file again (buttons, favourites, restarts).
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

    def _write(self, relative: str, writer: Callable[[BinaryIO], object]) -> None:
        target = self.path(relative)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                writer(f)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
