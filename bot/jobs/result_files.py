"""A result's files as posted: the spectrogram PNG and an MP3 that fits the upload limit, at the
target loudness (the whole track at once, so a blend or a long riff does not pump at its joins).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image
from pydub import AudioSegment

from riffusion_core.audio import encode_mp3_within
from riffusion_core.loudness import LoudnessSettings, normalise

REQUEST_LIMIT = 25 * 1024 * 1024  # Discord's limit on one message's attachments together


@dataclass(frozen=True)
class EncodedResult:
    png: bytes
    mp3: bytes
    bitrate_kbps: int


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", exif=image.getexif())
    return buffer.getvalue()


def encode_result(
    image: Image.Image,
    audio: AudioSegment,
    filesize_limit: int,
    loudness: LoudnessSettings | None = None,
) -> EncodedResult:
    """PNG + MP3 that fit the upload limit (the MP3 bitrate drops until it fits), the audio
    normalised as a whole to `loudness` (default: -12 dBFS RMS, true peak <= -1 dBTP).

    Raises RiffusionError from encode_mp3_within when even the lowest bitrate is too big.
    """
    png = png_bytes(image)
    budget = min(filesize_limit, REQUEST_LIMIT - len(png) - 64 * 1024)
    mp3, bitrate = encode_mp3_within(normalise(audio, loudness), budget)
    return EncodedResult(png=png, mp3=mp3, bitrate_kbps=bitrate)
