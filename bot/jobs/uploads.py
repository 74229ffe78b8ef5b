"""Audio uploads from Discord users, read so that no file can hurt or stall the bot.

In order, cheapest first: the declared size and content type are checked before a byte is
downloaded; the download is streamed to DATA_DIR/uploads under a name we make up (a uuid, never
the user's filename) and stopped at a hard byte cap whatever Content-Length says; the file is
decoded on a worker thread (never the event loop) with a time limit and a duration cap; the
download is removed whatever happens. Every refusal is an UploadError whose message is one line
for the uploader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiohttp
from pydub import AudioSegment

from riffusion_core.audio_decode import decode_audio
from riffusion_core.errors import AudioDecodeError, RiffusionError

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
AUDIO_SUFFIXES = (
    ".mp3",
    ".wav",
    ".ogg",
    ".oga",
    ".opus",
    ".flac",
    ".m4a",
    ".aac",
    ".aif",
    ".aiff",
    ".webm",
    ".mp4",
    ".mov",
    ".mkv",
    ".caf",
    ".w64",
)
# Containers that often carry only audio but are declared as video by Discord (from the suffix).
AUDIO_VIDEO_TYPES = ("video/mp4", "video/webm", "video/quicktime", "video/x-matroska", "video/ogg")
DECODE_GRACE_S = 5.0  # beyond the decoder's own deadline, before the bot stops waiting for it
SUPPORTED = "Try an MP3, WAV, OGG, FLAC or M4A file."
# Decoding runs here, not on the event loop; two workers so one stuck file cannot block others.
_DECODERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="upload-decode")


class UploadError(RiffusionError):
    """An upload the bot will not use; the message is for the uploader."""


class AttachmentLike(Protocol):
    """What is read from a discord.Attachment (a Protocol so tests can pass simple objects)."""

    filename: str
    size: int
    url: str
    content_type: str | None


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int = 25 * 1024 * 1024
    max_duration_s: float = 60.0
    decode_timeout_s: float = 20.0
    download_timeout_s: float = 60.0

    @property
    def max_mb_text(self) -> str:
        return f"{self.max_bytes / (1024 * 1024):g} MB"


@dataclass(frozen=True)
class UploadedAudio:
    """The decoded upload (at most max_duration_s) and how much of the file that is."""

    segment: AudioSegment
    source_duration_s: float | None  # None: longer than what was read, length unknown
    truncated: bool

    @property
    def used_s(self) -> float:
        return len(self.segment) / 1000

    def used_text(self) -> str:
        """'used 0:00-1:00 of 3:12' (or 'all of 0:12' when the whole file was used)."""
        used = fmt_time(self.used_s)
        if not self.truncated:
            return f"used all of {used}"
        total = fmt_time(self.source_duration_s) if self.source_duration_s else "a longer file"
        return f"used 0:00-{used} of {total}"


def fmt_time(seconds: float) -> str:
    """m:ss, or h:mm:ss from an hour on."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def looks_like_audio(attachment: AttachmentLike) -> bool:
    """Whether the declared type or the name says audio (what is worth trying to decode)."""
    kind = (attachment.content_type or "").split(";", 1)[0].strip().lower()
    if kind.startswith("audio/") or kind in AUDIO_VIDEO_TYPES:
        return True
    if kind and kind != "application/octet-stream":
        return False
    return attachment.filename.lower().endswith(AUDIO_SUFFIXES)


def check_declared(attachment: AttachmentLike, limits: UploadLimits) -> None:
    """Refuse by what Discord declares, before downloading anything."""
    if not looks_like_audio(attachment):
        kind = attachment.content_type or "an unknown type"
        raise UploadError(f"That file ({kind}) is not audio. {SUPPORTED}")
    if attachment.size <= 0:
        raise UploadError(f"That file is empty. {SUPPORTED}")
    if attachment.size > limits.max_bytes:
        raise UploadError(
            f"That file is {attachment.size / (1024 * 1024):.1f} MB; this bot "
            f"takes audio files of up to {limits.max_mb_text}."
        )


async def download(
    attachment: AttachmentLike, folder: Path, limits: UploadLimits, session: aiohttp.ClientSession
) -> Path:
    """Stream the file to `folder`/<uuid>.upload, stopping at the byte cap; returns the path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{uuid.uuid4().hex}.upload"
    cap = min(limits.max_bytes, max(attachment.size, 0))
    received = 0
    timeout = aiohttp.ClientTimeout(total=limits.download_timeout_s)
    try:
        async with session.get(attachment.url, timeout=timeout) as response:
            if response.status != 200:
                raise UploadError(
                    "Discord would not hand over that file (it may have been "
                    "deleted); please upload it again."
                )
            with target.open("wb") as out:
                async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                    received += len(chunk)
                    if received > cap:  # more than declared, or over the limit: stop reading
                        raise UploadError(
                            f"That file is larger than it claims or than "
                            f"{limits.max_mb_text}; it was not used."
                        )
                    out.write(chunk)
    except (aiohttp.ClientError, TimeoutError) as exc:
        target.unlink(missing_ok=True)
        log.info("Download of an upload failed: %s", type(exc).__name__)
        raise UploadError(
            "The file could not be downloaded from Discord; please try again."
        ) from exc
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if received == 0:
        target.unlink(missing_ok=True)
        raise UploadError(f"That file is empty. {SUPPORTED}")
    return target


async def decode_file(path: Path, limits: UploadLimits) -> UploadedAudio:
    """Decode on a worker thread; waits at most a little longer than the decoder's own limit."""
    loop = asyncio.get_running_loop()
    work = loop.run_in_executor(
        _DECODERS,
        lambda: decode_audio(
            path, max_duration_s=limits.max_duration_s, timeout_s=limits.decode_timeout_s
        ),
    )
    try:
        decoded = await asyncio.wait_for(work, limits.decode_timeout_s + DECODE_GRACE_S)
    except TimeoutError as exc:
        raise UploadError(
            f"Reading that file took too long, so it was not used. {SUPPORTED}"
        ) from exc
    except AudioDecodeError as exc:
        raise UploadError(str(exc)) from exc
    except RiffusionError:
        raise
    except Exception as exc:  # a decoder bug must not reach the user as a traceback
        log.warning("Unexpected error decoding an upload", exc_info=exc)
        raise UploadError(f"That file could not be read as audio. {SUPPORTED}") from exc
    return UploadedAudio(
        segment=decoded.segment,
        source_duration_s=decoded.source_duration_s,
        truncated=decoded.truncated,
    )


async def fetch_audio(
    attachment: AttachmentLike, folder: Path, limits: UploadLimits, session: aiohttp.ClientSession
) -> UploadedAudio:
    """Check, download into `folder`, decode, and remove the download: the one entry point for
    uploads."""
    check_declared(attachment, limits)
    path = await download(attachment, folder, limits, session)
    try:
        return await decode_file(path, limits)
    finally:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
