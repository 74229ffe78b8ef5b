"""Spectrogram parameters of the published Riffusion model and their EXIF encoding.

The parameters travel with every spectrogram PNG as custom integer EXIF tags, so an image made
with other settings (stereo, another FFT size...) is read back the way it was written. Reading is
tolerant: foreign tags are ignored and missing tags fall back to the defaults, because images pass
through tools (and Discord) that drop or add metadata.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class ExifTag(IntEnum):
    """Custom EXIF tag numbers used by Riffusion's reference implementation."""

    SAMPLE_RATE = 11000
    STEREO = 11005
    STEP_SIZE_MS = 11010
    WINDOW_DURATION_MS = 11020
    PADDED_DURATION_MS = 11030
    NUM_FREQUENCIES = 11040
    MIN_FREQUENCY = 11050
    MAX_FREQUENCY = 11060
    POWER_FOR_IMAGE = 11070
    MAX_VALUE = 11080


@dataclass(frozen=True)
class SpectrogramParams:
    """How audio becomes a mel spectrogram image (defaults: the published model).

    Frozen and hashable so that converters (with their precomputed filterbank inverses) can be
    cached per parameter set.
    """

    stereo: bool = False
    sample_rate: int = 44100
    step_size_ms: int = 10
    window_duration_ms: int = 100
    padded_duration_ms: int = 400
    num_frequencies: int = 512
    min_frequency: int = 0
    max_frequency: int = 10000
    power_for_image: float = 0.25

    @property
    def n_fft(self) -> int:
        """FFT size: the window zero-padded to `padded_duration_ms` (17640 by default)."""
        return int(self.padded_duration_ms / 1000.0 * self.sample_rate)

    @property
    def hop_length(self) -> int:
        """Samples between frames (441 by default): one image column."""
        return int(self.step_size_ms / 1000.0 * self.sample_rate)

    @property
    def win_length(self) -> int:
        """Hann window length (4410 by default), four times shorter than the FFT."""
        return int(self.window_duration_ms / 1000.0 * self.sample_rate)

    @property
    def num_channels(self) -> int:
        return 2 if self.stereo else 1

    def num_frames(self, num_samples: int) -> int:
        """Image width for `num_samples` samples (centred STFT frames)."""
        return 1 + num_samples // self.hop_length

    def num_samples(self, num_frames: int) -> int:
        """Audio length rebuilt from an image `num_frames` columns wide."""
        return self.hop_length * max(num_frames - 1, 0)

    def to_exif(self, max_value: float) -> dict[int, int | float]:
        """EXIF tags describing these parameters and the spectrogram's maximum value."""
        return {
            ExifTag.SAMPLE_RATE.value: int(self.sample_rate),
            ExifTag.STEREO.value: int(self.stereo),
            ExifTag.STEP_SIZE_MS.value: int(self.step_size_ms),
            ExifTag.WINDOW_DURATION_MS.value: int(self.window_duration_ms),
            ExifTag.PADDED_DURATION_MS.value: int(self.padded_duration_ms),
            ExifTag.NUM_FREQUENCIES.value: int(self.num_frequencies),
            ExifTag.MIN_FREQUENCY.value: int(self.min_frequency),
            ExifTag.MAX_FREQUENCY.value: int(self.max_frequency),
            ExifTag.POWER_FOR_IMAGE.value: float(self.power_for_image),
            ExifTag.MAX_VALUE.value: float(max_value),
        }

    @classmethod
    def from_exif(cls, exif: Mapping[int, Any]) -> SpectrogramParams:
        """Parameters from EXIF tags; foreign tags are ignored, missing or odd ones -> defaults."""
        defaults = cls()
        params = dataclasses.replace(defaults, **exif_fields(exif))
        return params if params.is_valid() else defaults

    def is_valid(self) -> bool:
        """True when the parameters describe a usable STFT and mel range."""
        return (
            self.sample_rate > 0
            and self.hop_length > 0
            and 0 < self.win_length <= self.n_fft
            and self.num_frequencies > 0
            and 0 <= self.min_frequency < self.max_frequency <= self.sample_rate / 2
            and self.power_for_image > 0
        )


_FIELD_TAGS: tuple[tuple[str, ExifTag, type], ...] = (
    ("sample_rate", ExifTag.SAMPLE_RATE, int),
    ("stereo", ExifTag.STEREO, bool),
    ("step_size_ms", ExifTag.STEP_SIZE_MS, int),
    ("window_duration_ms", ExifTag.WINDOW_DURATION_MS, int),
    ("padded_duration_ms", ExifTag.PADDED_DURATION_MS, int),
    ("num_frequencies", ExifTag.NUM_FREQUENCIES, int),
    ("min_frequency", ExifTag.MIN_FREQUENCY, int),
    ("max_frequency", ExifTag.MAX_FREQUENCY, int),
    ("power_for_image", ExifTag.POWER_FOR_IMAGE, float),
)


def exif_fields(exif: Mapping[int, Any]) -> dict[str, Any]:
    """The spectrogram parameters an image's EXIF holds, by field name (missing ones left out)."""
    found = {}
    for name, tag, kind in _FIELD_TAGS:
        value = _tag_value(exif, tag, kind)
        if value is not None:
            found[name] = value
    return found


def exif_max_value(exif: Mapping[int, Any]) -> float | None:
    """The spectrogram maximum stored in the image, or None when absent or unusable."""
    value = _tag_value(exif, ExifTag.MAX_VALUE, float)
    return value if value is not None and value > 0 else None


def _tag_value(exif: Mapping[int, Any], tag: ExifTag, kind: type) -> Any:
    """One tag converted to `kind`; None when missing or not a plain number."""
    raw: Any = exif.get(tag.value)  # int, float, IFDRational, bytes, tuples: whatever was written
    if isinstance(raw, tuple | list) and len(raw) == 1:
        raw = raw[0]
    try:
        number = float(raw)  # Pillow may hand back IFDRational for float tags
    except (TypeError, ValueError):
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    if kind is bool:
        return bool(number)
    if kind is int:
        return round(number)
    return number
