"""Mel spectrogram tensors <-> Riffusion PNG images (format doc, section 2).

Pixels hold x = (S / max S) ** power as 255 - 255 x truncated to uint8, rows flipped so that the
top row is the highest mel bin. Mono images repeat the channel in R, G and B; stereo images keep R
at 0 and put the left channel in G and the right one in B.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from typing import IO

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from riffusion_core.errors import SpectrogramImageError
from riffusion_core.spectrogram_params import ExifTag, SpectrogramParams, exif_max_value

MAX_CHANNELS = 2


def image_from_spectrogram(spectrogram: torch.Tensor, params: SpectrogramParams) -> Image.Image:
    """RGB image (EXIF attached) of a (C, n_mels, T) magnitude mel spectrogram, C in {1, 2}."""
    if spectrogram.ndim != 3 or spectrogram.shape[0] not in (1, 2):
        raise SpectrogramImageError(
            f"A spectrogram image holds 1 or 2 channels, not {tuple(spectrogram.shape)[:1]}."
        )
    spec = spectrogram.detach().to("cpu", torch.float32)
    max_value = float(spec.max()) if spec.numel() else 0.0
    scale = max_value if max_value > 0 else 1.0
    x = (spec / scale).clamp(0, 1) ** params.power_for_image
    pixels = torch.floor(255.0 - 255.0 * x).to(torch.uint8).flip(1).numpy()
    height, width = pixels.shape[1:]
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    if pixels.shape[0] == 1:
        rgb[:] = pixels[0, :, :, None]
    else:
        rgb[..., 0] = 0
        rgb[..., 1] = pixels[0]
        rgb[..., 2] = pixels[1]
    image = Image.fromarray(rgb, mode="RGB")
    return _attach_params(image, _with_stereo(params, pixels.shape[0] == 2), max_value)


def mono_spectrogram_image(pixels: np.ndarray, params: SpectrogramParams) -> Image.Image:
    """RGB image (R = G = B, EXIF attached) of (n_mels, T) uint8 pixels, top row highest bin.

    For images made without a spectrogram to measure, such as the pipeline's: the PNG is then a
    well-formed mono spectrogram whose audio is exactly what the clip played. The maximum-value
    tag is left out: such an image has no absolute scale, and audio is peak-normalised anyway.
    """
    if pixels.ndim != 2 or pixels.dtype != np.uint8:
        raise SpectrogramImageError("A mono spectrogram image is one 2-D plane of 8-bit pixels.")
    image = Image.fromarray(np.stack([pixels, pixels, pixels], axis=-1))
    return _attach_params(image, _with_stereo(params, False), None)


def _attach_params(
    image: Image.Image, params: SpectrogramParams, max_value: float | None
) -> Image.Image:
    """Write the parameters (and the spectrogram's maximum, when it has one) as EXIF tags."""
    exif = Image.Exif()
    tags = params.to_exif(max_value=1.0 if max_value is None else max_value)
    for tag, value in tags.items():
        if max_value is not None or tag != ExifTag.MAX_VALUE.value:
            exif[tag] = value
    image.info["exif"] = exif.tobytes()
    return image


def spectrogram_from_image(
    image: Image.Image, params: SpectrogramParams, *, use_max_value: bool = True
) -> torch.Tensor:
    """(C, n_mels, T) float32 magnitudes encoded by `image`, C = params.num_channels.

    The scale is the EXIF maximum when present (else 1): it does not matter for audio, which is
    peak-normalised, but it keeps spectrogram values comparable across images.
    """
    rgb = _as_rgb_array(image)
    height = rgb.shape[0]
    if height != params.num_frequencies:
        raise SpectrogramImageError(
            f"This image is {height} pixels high; a spectrogram image must be "
            f"{params.num_frequencies} pixels high (one row per mel bin)."
        )
    if rgb.shape[1] < 2:
        raise SpectrogramImageError("This image is too narrow to hold any audio (width < 2).")
    if params.stereo:
        if rgb[..., 0].any():
            raise SpectrogramImageError(
                "This image is marked stereo but its red channel is not empty, so it is not a "
                "stereo spectrogram image."
            )
        pixels = np.stack([rgb[..., 1], rgb[..., 2]])
    else:
        pixels = rgb[..., 0][None]
    values = (255.0 - torch.from_numpy(np.ascontiguousarray(pixels)).float()) / 255.0
    spectrogram = values.flip(1) ** (1.0 / params.power_for_image)
    max_value = exif_max_value(image.getexif()) if use_max_value else None
    if max_value is not None:
        spectrogram *= max_value
    return spectrogram


def save_image(image: Image.Image, target: str | Path | IO[bytes]) -> None:
    """Save as PNG keeping the EXIF parameters (Pillow drops them unless passed explicitly)."""
    image.save(target, format="PNG", exif=image.getexif())


def image_to_png_bytes(image: Image.Image) -> bytes:
    """PNG bytes with the EXIF parameters, e.g. for an upload."""
    buffer = io.BytesIO()
    save_image(image, buffer)
    return buffer.getvalue()


def open_image(source: str | Path | bytes | IO[bytes]) -> Image.Image:
    """Load an image fully, turning unreadable files into SpectrogramImageError."""
    stream: str | Path | IO[bytes] = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with Image.open(stream) as opened:
            opened.load()
            image = opened.copy()
            image.info = dict(opened.info)
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        name = source if isinstance(source, str | Path) else "the upload"
        raise SpectrogramImageError(f"Cannot read {name} as an image ({exc}).") from exc
    return image


def _as_rgb_array(image: Image.Image) -> np.ndarray:
    """(H, W, 3) uint8 array; modes that are not plain colour or grey images are refused."""
    if image.mode not in ("RGB", "RGBA", "L", "LA", "P", "PA", "RGBX"):
        raise SpectrogramImageError(
            f"This image has pixel mode {image.mode}; a spectrogram image is 8-bit RGB."
        )
    try:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError) as exc:
        raise SpectrogramImageError(f"Cannot convert this image to RGB ({exc}).") from exc


def _with_stereo(params: SpectrogramParams, stereo: bool) -> SpectrogramParams:
    return params if params.stereo == stereo else replace(params, stereo=stereo)
