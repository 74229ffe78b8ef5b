"""The bundled seed images: 512x512 spectrograms of seamless two-bar loops, reproducible."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from riffusion_core.spectrogram_params import SpectrogramParams
from scripts import make_seed_images as seeds

SEED_DIR = Path(seeds.__file__).resolve().parent.parent / "riffusion_core" / "seed_images"


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def assert_same_pixels(a: Image.Image, b: Image.Image) -> None:
    """Equal, allowing a rare 1-level flip of the uint8 truncation from float rounding."""
    diff = np.abs(pixels(a) - pixels(b))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


def test_loop_is_two_bars_of_one_clip():
    assert seeds.LOOP_SAMPLES == 441 * 511  # a 512-px clip
    beat_s = 60 / seeds.BPM
    assert 8 * beat_s == pytest.approx(seeds.LOOP_SAMPLES / seeds.SAMPLE_RATE)
    assert 90 < seeds.BPM < 100


def test_every_style_is_bundled():
    assert sorted(p.stem for p in SEED_DIR.glob("*.png")) == sorted(seeds.STYLES)


@pytest.mark.parametrize("name", sorted(seeds.STYLES))
def test_bundled_png_is_a_mono_512_spectrogram(name):
    image = Image.open(SEED_DIR / f"{name}.png")
    assert image.size == (512, 512)
    rgb = pixels(image)
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 0] == rgb[..., 2]).all()
    assert SpectrogramParams.from_exif(image.getexif()) == SpectrogramParams()
    assert rgb.min() < 40 and np.median(rgb) > 100  # loud hits, mostly quiet background


@pytest.mark.parametrize("name", sorted(seeds.STYLES))
def test_bundled_png_loops(name):
    """Column 511 is the same instant of the loop as column 0 (441 * 511 samples later)."""
    grey = pixels(Image.open(SEED_DIR / f"{name}.png"))[..., 0]
    wrap = np.abs(grey[:, -1] - grey[:, 0]).mean()
    neighbours = np.abs(np.diff(grey, axis=1)).mean()
    assert wrap < 0.25 * neighbours, (wrap, neighbours)
    # Tiling two clips (dropping the shared column) shows no seam either.
    tiled = np.concatenate([grey, grey[:, 1:]], axis=1)
    seam = np.abs(tiled[:, 512] - tiled[:, 511]).mean()
    assert seam <= np.abs(np.diff(grey, axis=1)).mean(axis=0).max()


@pytest.mark.parametrize("name", sorted(seeds.STYLES))
def test_loop_audio_wraps_without_a_click(name):
    loop = seeds.render_loop(name)
    steps = np.abs(np.diff(loop))
    assert abs(loop[0] - loop[-1]) <= np.percentile(steps, 99)
    assert np.abs(loop).max() == pytest.approx(seeds.PEAK)


def test_bundled_png_decodes_to_one_clip():
    from riffusion_core.converter import get_converter

    image = Image.open(SEED_DIR / "backbeat.png")
    audio = get_converter(SpectrogramParams(), "cpu").audio_from_spectrogram_image(image, seed=0)
    assert audio.frame_count() == seeds.LOOP_SAMPLES
    assert audio.channels == 1 and audio.frame_rate == 44100


def test_regenerating_is_deterministic():
    name = "half_time"
    assert np.array_equal(seeds.render_loop(name), seeds.render_loop(name))
    assert_same_pixels(seeds.seed_image(name), Image.open(SEED_DIR / f"{name}.png"))


def test_script_writes_pngs(tmp_path):
    assert seeds.main(["--out", str(tmp_path), "--style", "backbeat"]) == 0
    written = Image.open(tmp_path / "backbeat.png")
    assert_same_pixels(written, Image.open(SEED_DIR / "backbeat.png"))
    assert len(written.getexif()) >= 10
