"""Everything the bot keeps under DATA_DIR, named by id only (the one module that knows its
folders: generations/, jobs/, uploads/, tmp/; the SQLite file's name is in bot/config.py).

User-supplied text (prompts, names) never becomes part of a path, and Discord CDN URLs are never
kept: the bot re-uploads from here when it needs a file again (buttons, favourites, restarts).
Files are written to a temporary name, flushed to disk and renamed into place before the
database points at them, so a crash or a power cut never leaves a row naming a half file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from PIL import Image

GENERATIONS_DIR = "generations"  # each result's <id>.png, .mp3 and .wav (the lossless master)
JOBS_DIR = "jobs"  # the input audio of remix jobs still waiting: <job id>.wav
UPLOADS_DIR = "uploads"  # downloads being read, under names the bot makes up
SCRATCH_DIR = "tmp"  # the renderer's temporary files


class Storage:
    """Reads and writes the files under DATA_DIR; refuses paths that lead outside it."""

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

    # ---- the other folders -------------------------------------------------------------------

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / UPLOADS_DIR

    @property
    def scratch_dir(self) -> Path:
        return self.data_dir / SCRATCH_DIR

    @property
    def loops_dir(self) -> Path:
        """Tempo seed loops, made on first use (riffusion_core.seed_images.loops)."""
        return self.data_dir / "cache" / "loops"

    @staticmethod
    def job_audio_relative(job_id: int) -> str:
        return f"{JOBS_DIR}/{int(job_id)}.wav"

    def save_job_audio(self, job_id: int, wav: bytes) -> str:
        """Keep a waiting remix's input (never under the uploader's file name)."""
        relative = self.job_audio_relative(job_id)
        target = self.data_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_durably(target, lambda f: f.write(wav))
        return relative

    @staticmethod
    def job_folder_relative(job_id: int) -> str:
        """A waiting job's own folder (a song's finished clips), relative to DATA_DIR."""
        return f"{JOBS_DIR}/{int(job_id)}"

    def job_folder(self, job_id: int) -> Path:
        return self.data_dir / self.job_folder_relative(job_id)

    def remove_job_files(self, job_id: int) -> None:
        (self.data_dir / self.job_audio_relative(job_id)).unlink(missing_ok=True)
        shutil.rmtree(self.job_folder(job_id), ignore_errors=True)

    def remove_orphan_job_files(self, keep: set[int]) -> int:
        """Delete jobs/ files of jobs that are not waiting any more (and stray temp files).

        Returns how many files were removed.
        """
        folder = self.data_dir / JOBS_DIR
        if not folder.is_dir():
            return 0
        removed = 0
        for path in folder.iterdir():
            stem = path.name.split(".", 1)[0]
            if path.is_dir():  # a job's folder (a song's clips)
                if not (path.name.isdigit() and int(path.name) in keep):
                    shutil.rmtree(path, ignore_errors=True)
                    removed += 1
                continue
            wanted = stem.isdigit() and int(stem) in keep and path.suffix == ".wav"
            if path.is_file() and not wanted and not _just_written(path):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def relative_to_data(self, path: Path) -> str:
        """A path under DATA_DIR as the database stores it."""
        return Path(path).resolve().relative_to(self.data_dir.resolve()).as_posix()

    def existing(self, relative: str | None, *, any_folder: bool = False) -> Path | None:
        """The file under DATA_DIR, if it is there (generations/ only unless `any_folder`)."""
        if not relative:
            return None
        if any_folder:
            root = self.data_dir.resolve()
            path = (root / relative).resolve()
            return path if root in path.parents and path.is_file() else None
        try:
            path = self.path(relative)
        except ValueError:
            return None
        return path if path.is_file() else None

    def _write(self, relative: str, writer: Callable[[BinaryIO], object]) -> None:
        _write_durably(self.path(relative), writer)


def _just_written(path: Path, within_s: float = 60.0) -> bool:
    """Written in the last minute: perhaps by another bot process sharing DATA_DIR, which has
    not recorded its job yet (or is still writing it)."""
    try:
        return time.time() - path.stat().st_mtime < within_s
    except OSError:
        return True


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
