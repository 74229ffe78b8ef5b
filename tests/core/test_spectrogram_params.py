"""SpectrogramParams: derived sizes and tolerant EXIF round trips."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from riffusion_core.spectrogram_params import ExifTag, SpectrogramParams, exif_max_value


def test_defaults_and_derived_sizes() -> None:
    params = SpectrogramParams()
    assert (params.n_fft, params.hop_length, params.win_length) == (17640, 441, 4410)
    assert params.num_channels == 1
    assert SpectrogramParams(stereo=True).num_channels == 2
    assert params.num_frames(250400) == 568
    assert params.num_samples(512) == 225351


def test_params_are_hashable_cache_keys() -> None:
    assert hash(SpectrogramParams()) == hash(SpectrogramParams())
    assert SpectrogramParams(stereo=True) != SpectrogramParams()


def _png_with_exif(exif: Image.Exif) -> Image.Image:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG", exif=exif)
    buffer.seek(0)
    return Image.open(buffer)


@pytest.mark.parametrize("endian", ["<", ">"])
def test_exif_round_trip_either_byte_order(endian: str) -> None:
    params = SpectrogramParams(
        stereo=True, step_size_ms=20, max_frequency=8000, power_for_image=0.5
    )
    exif = Image.Exif()
    exif.endian = endian  # the reference PNGs are big-endian ("MM")
    for tag, value in params.to_exif(max_value=12345.5).items():
        exif[tag] = value
    reloaded = _png_with_exif(exif)
    header = reloaded.info["exif"]
    assert header[6:8] == (b"II" if endian == "<" else b"MM")
    read = reloaded.getexif()
    assert SpectrogramParams.from_exif(read) == params
    assert exif_max_value(read) == pytest.approx(12345.5)


def test_foreign_tags_are_ignored_and_missing_tags_default() -> None:
    exif = Image.Exif()
    exif[0x010F] = "Some Camera Maker"  # Make
    exif[0x0131] = "an image editor"  # Software
    exif[ExifTag.STEREO.value] = 1
    params = SpectrogramParams.from_exif(_png_with_exif(exif).getexif())
    assert params == SpectrogramParams(stereo=True)


def test_no_exif_gives_defaults() -> None:
    image = Image.new("RGB", (4, 4))
    assert SpectrogramParams.from_exif(image.getexif()) == SpectrogramParams()
    assert exif_max_value(image.getexif()) is None


def test_nonsense_values_fall_back_to_defaults() -> None:
    exif = {ExifTag.SAMPLE_RATE.value: "fast", ExifTag.MAX_FREQUENCY.value: -5}
    assert SpectrogramParams.from_exif(exif) == SpectrogramParams()


def test_reference_png_exif(clip2_stereo_png, clip2_mono_png) -> None:
    with Image.open(clip2_stereo_png) as image:
        assert image.info["exif"][6:8] == b"MM"
        assert SpectrogramParams.from_exif(image.getexif()) == SpectrogramParams(stereo=True)
    with Image.open(clip2_mono_png) as image:
        assert SpectrogramParams.from_exif(image.getexif()) == SpectrogramParams()
        assert exif_max_value(image.getexif()) == pytest.approx(46801012.0)
