"""Seed images beyond the bundled ones: former names, a folder of spectrograms, unusable files.

The reference images are Riffusion's own (../shared/reference/riffusion-seed-images): 512 x 512,
grey (L) or palette (P), no EXIF; mask_beat_lines_80.png beside them is a mask.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from riffusion_core import seed_images
from riffusion_core.converter import get_converter
from riffusion_core.errors import RiffusionError
from riffusion_core.generation import GenerationRequest, PromptInput
from riffusion_core.seed_images.catalogue import SeedImageCatalogue, scan_seed_folder
from riffusion_core.seed_images.usable import UnusableSeedImage, check_seed_spectrogram
from riffusion_core.spectrogram_params import SpectrogramParams
from tests.conftest import REFERENCE_SEED_DIR, REFERENCE_SEEDS

BUNDLED = ["ambient_pulse", "backbeat", "four_on_floor", "half_time"]


def spectrogram(path: Path, size=(512, 512), mode="L", params: SpectrogramParams | None = None):
    """A plausible spectrogram file: quiet background, a few loud columns (beats)."""
    pixels = np.full((size[1], size[0]), 230, dtype=np.uint8)
    pixels[:, :: max(1, size[0] // 8)] = 20
    image = Image.fromarray(pixels, mode="L").convert(mode)
    exif = None
    if params is not None:
        exif = Image.Exif()
        for tag, value in params.to_exif(1000.0).items():
            exif[tag] = value
    image.save(path, exif=exif) if exif is not None else image.save(path)
    return path


def rms_dbfs(samples: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean((samples / 32768.0) ** 2))))


# ---- the rename -----------------------------------------------------------------------------


def test_no_bundled_loop_carries_a_name_of_riffusions():
    assert seed_images.list_seed_images() == BUNDLED
    assert not set(REFERENCE_SEEDS) & set(seed_images.list_seed_images())


def test_the_former_name_still_finds_the_loop():
    assert seed_images.bundled_name("og_beat") == "backbeat"
    assert seed_images.resolve_seed_image("og_beat") == seed_images.resolve_seed_image("backbeat")
    request = GenerationRequest(PromptInput("x"), seed_image="og_beat")
    assert request.seed_image == "og_beat"  # valid: the pipeline loads backbeat.png
    catalogue = SeedImageCatalogue()
    assert "og_beat" in catalogue and "og_beat" not in catalogue.names()
    assert catalogue.canonical("og_beat") == "backbeat"
    assert catalogue.request_value("og_beat") == "backbeat"
    assert catalogue.describe("og_beat") == "backbeat (recorded as og_beat, its former name)"
    assert catalogue.describe("half_time") == "half_time"
    assert catalogue.describe("gone") == "gone (no longer installed)"
    assert catalogue.canonical("gone") is None and "gone" not in catalogue
    with pytest.raises(RiffusionError, match="Available seed images: ambient_pulse, backbeat"):
        catalogue.request_value("gone")


# ---- Riffusion's own seed images --------------------------------------------------------------


def test_the_reference_seed_images_load_from_their_folder():
    scan = scan_seed_folder(REFERENCE_SEED_DIR)
    catalogue = scan.catalogue
    assert sorted(catalogue.folder_files) == sorted(REFERENCE_SEEDS)
    assert catalogue.names() == sorted({*BUNDLED, *REFERENCE_SEEDS})
    assert scan.unusable == () and scan.masks == ("mask_beat_lines_80.png",)
    # Riffusion's og_beat takes its name back from the bundled loop, and says so.
    assert catalogue.canonical("og_beat") == "og_beat"
    assert catalogue.request_value("og_beat") == str(REFERENCE_SEED_DIR.resolve() / "og_beat.png")
    assert catalogue.request_value("backbeat") == "backbeat"
    [hidden] = scan.hidden
    assert hidden.startswith("og_beat:") and "backbeat" in hidden
    for name in REFERENCE_SEEDS:
        assert check_seed_spectrogram(catalogue.folder_files[name]) == SpectrogramParams()
        image = seed_images.load_seed_image(catalogue.request_value(name))
        assert image.mode == "RGB" and image.size == (512, 512)


@pytest.mark.parametrize("name", REFERENCE_SEEDS)
def test_each_reference_seed_image_decodes_to_audible_audio(name):
    with Image.open(REFERENCE_SEED_DIR / f"{name}.png") as image:
        assert image.mode in ("L", "P")
        audio = get_converter(SpectrogramParams(), "cpu").audio_from_spectrogram_image(
            image, seed=0
        )
    samples = np.asarray(audio.get_array_of_samples(), dtype=np.float64)
    assert audio.channels == 1 and audio.frame_count() == 441 * 511  # 5.11 s
    # Measured: og_beat -23.9, agile -22.0, marim -24.8, motorway -20.2, vibes -28.9 dBFS RMS.
    assert -35.0 < rms_dbfs(samples) < -15.0
    # Sound all along the loop, not a burst: every half second holds something.
    halves = samples[: 10 * 22050].reshape(10, 22050)
    assert (np.sqrt((halves**2).mean(axis=1)) > 100).all()


# ---- a folder of one's own ----------------------------------------------------------------------


def test_a_folder_accepts_what_the_format_allows(tmp_path):
    spectrogram(tmp_path / "grey.png")
    spectrogram(tmp_path / "palette.png", mode="P")
    spectrogram(tmp_path / "colour.png", mode="RGB", params=SpectrogramParams())
    spectrogram(tmp_path / "long.png", size=(1024, 512))
    spectrogram(
        tmp_path / "narrow_bins.png", size=(256, 256), params=SpectrogramParams(num_frequencies=256)
    )
    (tmp_path / "README.md").write_text("not an image, and not named like one")
    scan = scan_seed_folder(tmp_path)
    assert scan.unusable == () and scan.hidden == ()
    assert sorted(scan.catalogue.folder_files) == [
        "colour",
        "grey",
        "long",
        "narrow_bins",
        "palette",
    ]
    # 256 mel bins over the same range: stretched to the model's 512 rows.
    image = seed_images.load_seed_image(scan.catalogue.request_value("narrow_bins"))
    assert image.size == (512, 512)


def test_a_folder_name_wins_over_a_bundled_one_and_says_so(tmp_path):
    spectrogram(tmp_path / "half_time.png")
    scan = scan_seed_folder(tmp_path)
    assert scan.hidden == (
        "half_time: the folder's image replaces the bundled seed image of the same name.",
    )
    assert scan.catalogue.request_value("half_time") == str((tmp_path / "half_time.png").resolve())
    assert scan.catalogue.names() == BUNDLED


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda p: p.write_text("hello"), "not an image"),
        (lambda p: p.write_bytes(b""), "not an image"),
        (
            lambda p: p.write_bytes(spectrogram(p).read_bytes()[:400]),
            "corrupt or truncated image",
        ),
        (lambda p: spectrogram(p, size=(512, 300)), "wrong size, 512 x 300 px"),
        (
            lambda p: spectrogram(p, params=SpectrogramParams(num_frequencies=256)),
            "must be 256 px high",
        ),
        (lambda p: spectrogram(p, mode="RGBA"), "image mode RGBA"),
        (lambda p: spectrogram(p, mode="I;16"), "image mode I;16"),
        (lambda p: spectrogram(p, params=SpectrogramParams(stereo=True)), "a stereo spectrogram"),
        (
            lambda p: Image.merge(
                "RGB", [Image.new("L", (512, 512), 0), *[Image.new("L", (512, 512), 200)] * 2]
            ).save(p),
            "a stereo spectrogram",
        ),
        (
            lambda p: spectrogram(p, params=SpectrogramParams(max_frequency=8000)),
            "highest frequency 8000 Hz",
        ),
        (
            lambda p: spectrogram(p, params=SpectrogramParams(step_size_ms=20)),
            "step 20 ms",
        ),
        (lambda p: spectrogram(p, size=(4, 512)), "only 4 px wide"),
    ],
)
def test_an_unusable_file_is_left_out_with_one_line_naming_it(tmp_path, make, fragment):
    spectrogram(tmp_path / "good.png")
    make(tmp_path / "bad.png")
    scan = scan_seed_folder(tmp_path)
    assert list(scan.catalogue.folder_files) == ["good"]
    [line] = scan.unusable
    assert line.startswith("bad.png: ") and fragment in line and "\n" not in line
    with pytest.raises(UnusableSeedImage, match=r"^bad\.png: "):
        check_seed_spectrogram(tmp_path / "bad.png")


def test_names_that_cannot_be_typed_or_collide_are_left_out(tmp_path):
    spectrogram(tmp_path / "my loop.png")
    spectrogram(tmp_path / "none.png")
    spectrogram(tmp_path / "twin.png")
    shutil.copy(tmp_path / "twin.png", tmp_path / "twin.webp")
    spectrogram(tmp_path / "mask_lines.png")
    spectrogram(tmp_path / ".hidden.png")
    scan = scan_seed_folder(tmp_path)
    assert list(scan.catalogue.folder_files) == ["twin"]
    assert scan.masks == ("mask_lines.png",)
    assert [line.split(":")[0] for line in scan.unusable] == [
        "my loop.png",
        "none.png",
        "twin.webp",
    ]
    assert "twin.png already has the name 'twin'" in scan.unusable[2]


def test_a_missing_folder_is_an_error_and_none_means_bundled_only(tmp_path):
    with pytest.raises(RiffusionError, match="does not exist"):
        scan_seed_folder(tmp_path / "nowhere")
    assert scan_seed_folder(None).catalogue.names() == BUNDLED
