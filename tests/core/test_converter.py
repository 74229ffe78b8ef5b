"""Spectrogram conversion: golden compatibility with the reference images and round trips."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from pydub import AudioSegment

from riffusion_core.converter import (
    SpectrogramImageConverter,
    get_converter,
    image_is_stereo,
    image_params,
)
from riffusion_core.errors import SpectrogramImageError
from riffusion_core.image import image_to_png_bytes, spectrogram_from_image
from riffusion_core.phase import reduced_grid
from riffusion_core.spectrogram_params import SpectrogramParams
from riffusion_core.stft import FrameTransform
from tests.fixtures.conversion import REFERENCE_CLIPS, reference_wav

MONO = SpectrogramParams()
STEREO = SpectrogramParams(stereo=True)


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def _within_one_level(ours: np.ndarray, reference: np.ndarray) -> float:
    assert ours.shape == reference.shape
    return float(np.mean(np.abs(ours - reference) <= 1))


def _relative_error(image_a: Image.Image, image_b: Image.Image) -> float:
    """||A - s B|| / ||A|| on the encoded mel spectrograms, s the best scale."""
    a = spectrogram_from_image(image_a, image_params(image_a), use_max_value=False).double()
    b = spectrogram_from_image(image_b, image_params(image_b), use_max_value=False).double()
    scale = (a * b).sum() / (b * b).sum()
    return float(torch.linalg.norm(a - scale * b) / torch.linalg.norm(a))


def test_stereo_encoding_matches_reference_png(clip2_segment, clip2_stereo_png) -> None:
    image = get_converter(STEREO).spectrogram_image_from_audio(clip2_segment)
    reference = _pixels(Image.open(clip2_stereo_png))
    assert image.mode == "RGB" and image.size == (568, 512)
    assert _within_one_level(_pixels(image), reference) >= 0.999
    assert not _pixels(image)[..., 0].any()  # R = 0 in stereo images


def test_left_channel_mono_encoding_matches_reference_png(clip2_segment, clip2_mono_png) -> None:
    left = clip2_segment.split_to_mono()[0]
    image = get_converter(MONO).spectrogram_image_from_audio(left)
    reference = _pixels(Image.open(clip2_mono_png))
    assert _within_one_level(_pixels(image), reference) >= 0.999
    ours = _pixels(image)
    assert (ours[..., 0] == ours[..., 1]).all() and (ours[..., 1] == ours[..., 2]).all()


def test_mono_encoding_averages_the_channels(clip2_segment) -> None:
    left, right = clip2_segment.split_to_mono()
    converter = get_converter(MONO)
    mixed = converter.spectrogram_image_from_audio(clip2_segment)
    assert _pixels(mixed).tolist() != _pixels(converter.spectrogram_image_from_audio(left)).tolist()
    # 0.5 L + 0.5 R: the mel spectrogram is linear in the signal, so the stereo-to-mono mix the
    # converter does must equal encoding the averaged samples.
    samples = np.stack(
        [np.array(ch.get_array_of_samples(), dtype=np.float32) for ch in (left, right)]
    )
    mel = converter.maths.mel_from_samples(torch.from_numpy(samples.mean(axis=0, keepdims=True)))
    expected = np.floor(255 - 255 * (mel / mel.max()).numpy() ** 0.25)[0, ::-1]
    assert _within_one_level(_pixels(mixed)[..., 0], expected) == 1.0


@pytest.mark.parametrize("name", REFERENCE_CLIPS)
def test_width_follows_sample_count(name: str) -> None:
    segment = AudioSegment.from_wav(reference_wav(name))
    image = get_converter(MONO).spectrogram_image_from_audio(segment[:1000])
    num_samples = int(segment[:1000].frame_count())
    assert image.size == (1 + num_samples // 441, 512)
    full = int(segment.frame_count())
    assert MONO.num_frames(full) == 1 + full // 441


def test_image_carries_exif_parameters(short_segment) -> None:
    image = get_converter(STEREO).spectrogram_image_from_audio(short_segment)
    reloaded = Image.open(io.BytesIO(image_to_png_bytes(image)))
    assert image_params(reloaded) == STEREO
    assert reloaded.getexif()[11080] > 0


@pytest.mark.parametrize("method", ["fast", "griffinlim"])
def test_round_trip_within_upstream_tolerance(short_segment, method: str) -> None:
    converter = get_converter(MONO)
    image = converter.spectrogram_image_from_audio(short_segment)
    audio = converter.audio_from_spectrogram_image(image, seed=3, method=method)
    assert audio.channels == 1 and audio.sample_width == 2 and audio.frame_rate == 44100
    assert audio.frame_count() == 441 * (image.width - 1)
    assert abs(audio.duration_seconds - short_segment.duration_seconds) < 0.011
    assert audio.max_dBFS == pytest.approx(-0.1, abs=0.01)
    again = converter.spectrogram_image_from_audio(audio)
    assert again.size == image.size
    assert _relative_error(image, again) < 0.15


def test_stereo_image_gives_stereo_audio(short_segment) -> None:
    image = get_converter(STEREO).spectrogram_image_from_audio(short_segment[:500])
    audio = get_converter(MONO).audio_from_spectrogram_image(image, seed=0)
    assert audio.channels == 2
    assert audio.frame_count() == 441 * (image.width - 1)
    left, right = (np.array(ch.get_array_of_samples()) for ch in audio.split_to_mono())
    assert not np.array_equal(left, right)


def test_stereo_image_without_exif_is_still_read_as_stereo(short_segment) -> None:
    image = get_converter(STEREO).spectrogram_image_from_audio(short_segment[:300])
    stripped = Image.fromarray(np.asarray(image))  # no EXIF, like some uploads
    assert image_is_stereo(stripped, default=False)
    assert get_converter(MONO).audio_from_spectrogram_image(stripped, seed=0).channels == 2


@pytest.mark.parametrize("method", ["fast", "griffinlim"])
def test_seeded_output_is_deterministic_and_seeds_differ(short_segment, method: str) -> None:
    converter = get_converter(MONO)
    image = converter.spectrogram_image_from_audio(short_segment[:400])
    first = converter.audio_from_spectrogram_image(image, seed=7, method=method)
    second = converter.audio_from_spectrogram_image(image, seed=7, method=method)
    other = converter.audio_from_spectrogram_image(image, seed=8, method=method)
    assert first.raw_data == second.raw_data
    assert first.raw_data != other.raw_data


def test_short_and_silent_images() -> None:
    converter = get_converter(MONO)
    silent = Image.new("RGB", (3, 512), (255, 255, 255))
    audio = converter.audio_from_spectrogram_image(silent, seed=0)
    assert audio.frame_count() == 441 * 2
    assert audio.max == 0
    tiny = AudioSegment.silent(duration=5, frame_rate=44100)
    assert converter.spectrogram_image_from_audio(tiny).size == (1 + 220 // 441, 512)


def test_get_converter_is_cached_per_params_and_device() -> None:
    assert get_converter(MONO, "cpu") is get_converter(SpectrogramParams(), torch.device("cpu"))
    assert get_converter(STEREO) is not get_converter(MONO)
    inverse = get_converter(MONO).maths.inverse_mel
    assert get_converter(MONO).maths.inverse_mel is inverse  # precomputed once, reused


def test_inverse_mel_is_non_negative_and_consistent(short_segment) -> None:
    converter = get_converter(MONO)
    samples = torch.tensor(
        np.array(short_segment.split_to_mono()[0].get_array_of_samples(), dtype=np.float32)
    )[None]
    mel = converter.maths.mel_from_samples(samples)
    linear = converter.maths.inverse_mel(mel)
    assert linear.shape == (1, 8821, mel.shape[-1])
    assert (linear >= 0).all()
    assert not linear[:, 4001:].any()  # above 10 kHz nothing carries weight
    rebuilt = converter.maths.mel_scale(linear)
    assert float(torch.linalg.norm(rebuilt - mel) / torch.linalg.norm(mel)) < 0.05


def test_banded_products_and_pseudo_inverse_equal_the_dense_ones() -> None:
    inverse = get_converter(MONO).maths.inverse_mel
    dense = get_converter(MONO).maths.mel_scale.fb.double()[inverse.lo : inverse.hi].T
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(2, dense.shape[1], 7, generator=generator, dtype=torch.float64)
    y = torch.rand(2, dense.shape[0], 7, generator=generator, dtype=torch.float64)

    def close(ours: torch.Tensor, reference: torch.Tensor) -> bool:
        return float(torch.linalg.norm(ours.double() - reference) / reference.norm()) < 1e-5

    assert close(inverse.forward.matmul(x.float()), dense @ x)
    assert close(inverse.forward.rmatmul(y.float()), dense.T @ y)
    assert close(inverse.pseudo_inverse(y.float()), torch.linalg.pinv(dense) @ y)


def test_coarse_iterations_at_the_reduced_rate_match_the_full_rate() -> None:
    """One Griffin-Lim projection of a 10 kHz band-limited STFT at 21 kHz equals the 44.1 kHz one.

    Interior frames only: at the edges the reflect padding mirrors about the first / last
    sample, whose time differs between the two rates.
    """
    assert reduced_grid(441, 4410, top_bin=1000) == (210, 2100)
    generator = torch.Generator().manual_seed(0)
    frames, bins = 60, 1001
    spec = torch.polar(
        torch.rand(1, frames, bins, generator=generator),
        2 * torch.pi * torch.rand(1, frames, bins, generator=generator),
    )
    results = []
    for hop, win in ((441, 4410), (210, 2100)):
        transform = FrameTransform(torch.hann_window(win), hop=hop, n_fft=win)
        results.append(
            transform.forward(transform.inverse(spec, hop * (frames - 1)), bins)[:, 8:-8]
        )
    full, reduced = results
    assert float(torch.linalg.norm(full - reduced) / torch.linalg.norm(full)) < 1e-5


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (Image.new("RGB", (64, 256), (255, 255, 255)), "512 pixels high"),
        (Image.new("RGB", (1, 512), (255, 255, 255)), "too narrow"),
        (Image.new("I;16", (64, 512)), "pixel mode"),
        (Image.new("CMYK", (64, 512)), "pixel mode"),
    ],
)
def test_non_spectrogram_images_are_refused(image: Image.Image, message: str) -> None:
    with pytest.raises(SpectrogramImageError, match=message):
        get_converter(MONO).audio_from_spectrogram_image(image, seed=0)


def test_stereo_tagged_image_with_red_is_refused(short_segment) -> None:
    image = get_converter(STEREO).spectrogram_image_from_audio(short_segment[:300])
    pixels = np.asarray(image).copy()
    pixels[..., 0] = 128
    painted = Image.fromarray(pixels)
    painted.info["exif"] = image.info["exif"]
    with pytest.raises(SpectrogramImageError, match="red channel"):
        get_converter(MONO).audio_from_spectrogram_image(painted, seed=0)


def test_foreign_exif_on_a_spectrogram_is_harmless(short_segment) -> None:
    image = get_converter(MONO).spectrogram_image_from_audio(short_segment[:300])
    exif = image.getexif()
    exif[0x010F] = "Camera"
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", exif=exif)
    reloaded = Image.open(buffer)
    assert image_params(reloaded) == MONO
    assert SpectrogramImageConverter(MONO).audio_from_spectrogram_image(reloaded).channels == 1
