"""Audio (pydub) <-> Riffusion spectrogram image (PIL): the facade the rest of the project uses.

Converters are expensive to build (filterbank inverse, windows on the device) and cheap to use,
so `get_converter` caches one per (params, device).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import SupportsFloat

import numpy as np
import torch
from PIL import Image
from pydub import AudioSegment

from riffusion_core.audio import samples_to_segment, segment_to_samples
from riffusion_core.errors import AudioDecodeError
from riffusion_core.image import image_from_spectrogram, spectrogram_from_image
from riffusion_core.phase import FastPhaseSettings
from riffusion_core.spectrogram import Method, SpectrogramConverter
from riffusion_core.spectrogram_params import ExifTag, SpectrogramParams

DEFAULT_PARAMS = SpectrogramParams()


class SpectrogramImageConverter:
    """Turns audio into spectrogram images and back, for one parameter set and device."""

    def __init__(
        self, params: SpectrogramParams = DEFAULT_PARAMS, device: str | torch.device = "cpu"
    ) -> None:
        self.params = params
        self.device = torch.device(device)
        self.maths = SpectrogramConverter(params, self.device)

    def spectrogram_image_from_audio(self, segment: AudioSegment) -> Image.Image:
        """RGB spectrogram image (EXIF attached) of `segment`, mono or stereo per params.

        Mono down-mixes as the reference does (channel average); stereo keeps left and right
        (a mono input is duplicated). Width is 1 + floor(N / hop) for N samples.
        """
        samples = self._samples(segment)
        mel = self.maths.mel_from_samples(torch.from_numpy(samples))
        return image_from_spectrogram(mel, self.params)

    def audio_from_spectrogram_image(
        self,
        image: Image.Image,
        *,
        seed: int | None = None,
        method: Method = "fast",
        fast_settings: FastPhaseSettings | None = None,
    ) -> AudioSegment:
        """Peak-normalised (-0.1 dBFS) 16-bit audio of hop * (W - 1) samples for a W-wide image.

        Stereo images (R empty, left in G, right in B, or EXIF stereo) give stereo audio.
        `seed` makes the result reproducible; `method` "griffinlim" is the reference algorithm.
        """
        stereo = image_is_stereo(image, default=self.params.stereo)
        params = dataclasses.replace(self.params, stereo=stereo)
        mel = spectrogram_from_image(image, params)
        samples = self.maths.samples_from_mel(
            mel, method=method, seed=seed, fast_settings=fast_settings
        )
        return samples_to_segment(samples.cpu().numpy(), params.sample_rate, normalize=True)

    def _samples(self, segment: AudioSegment) -> np.ndarray:
        """(C, N) float32 samples in int16 units, channels as the params want them."""
        if segment.channels > 2:
            raise AudioDecodeError(
                f"The audio has {segment.channels} channels; only mono or stereo can be converted."
            )
        if segment.frame_rate != self.params.sample_rate:
            segment = segment.set_frame_rate(self.params.sample_rate)
        samples = segment_to_samples(segment)
        if self.params.stereo:
            return np.repeat(samples, 2, axis=0) if samples.shape[0] == 1 else samples
        return samples.mean(axis=0, keepdims=True) if samples.shape[0] == 2 else samples


@functools.lru_cache(maxsize=8)
def _cached_converter(params: SpectrogramParams, device: str) -> SpectrogramImageConverter:
    return SpectrogramImageConverter(params, device)


def get_converter(
    params: SpectrogramParams = DEFAULT_PARAMS, device: str | torch.device = "cpu"
) -> SpectrogramImageConverter:
    """Shared converter for (params, device); its precomputed inverse is reused across calls."""
    return _cached_converter(params, str(torch.device(device)))


def image_params(image: Image.Image) -> SpectrogramParams:
    """Parameters stored in the image's EXIF (defaults when absent), stereo read from pixels too."""
    exif = image.getexif()
    params = SpectrogramParams.from_exif(exif)
    return dataclasses.replace(params, stereo=image_is_stereo(image, default=params.stereo))


def image_is_stereo(image: Image.Image, *, default: bool) -> bool:
    """Stereo per EXIF; pixels overrule a missing or 'mono' tag when R is empty and G/B are not.

    Reading a stereo image as mono would read R = 0, i.e. full loudness in every bin.
    """
    exif = image.getexif()
    tagged = exif.get(ExifTag.STEREO.value)
    if tagged is not None and _as_int(tagged) == 1:
        return True
    if image.mode == "RGB" and _looks_stereo(image):
        return True
    return default if tagged is None else False


def _looks_stereo(image: Image.Image) -> bool:
    red, green, blue = (_band_range(band) for band in image.split())
    return red == (0, 0) and (green[1] > 0 or blue[1] > 0)


def _band_range(band: Image.Image) -> tuple[float, float]:
    """(lowest, highest) value of a single-band image."""
    low, high = band.getextrema()
    if not isinstance(low, int | float) or not isinstance(high, int | float):
        raise TypeError(f"expected a single-band image, got mode {band.mode}")
    return low, high


def _as_int(value: object) -> int | None:
    if not isinstance(value, str | bytes | SupportsFloat):  # EXIF may hold anything
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None
