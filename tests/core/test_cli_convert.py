"""`riffusion audio-to-image` / `image-to-audio`: happy paths and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydub import AudioSegment

from riffusion_core.cli import main
from riffusion_core.spectrogram_params import SpectrogramParams
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def short_wav(tmp_path_factory, clip2_segment) -> Path:
    path = tmp_path_factory.mktemp("cli") / "clip.wav"
    clip2_segment[:1500].export(path, format="wav")
    return path


@pytest.fixture(scope="module")
def stereo_png(tmp_path_factory, short_wav) -> Path:
    path = tmp_path_factory.mktemp("cli") / "clip_stereo.png"
    assert main(["audio-to-image", str(short_wav), str(path), "--stereo"]) == 0
    return path


def _assert_one_line_error(capsys, rc: int, *fragments: str) -> None:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert rc != 0
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    for fragment in fragments:
        assert fragment in lines[0]


def test_audio_to_image_mono_and_stereo(tmp_path, short_wav, stereo_png) -> None:
    mono = tmp_path / "clip.png"
    assert main(["audio-to-image", str(short_wav), str(mono)]) == 0
    with Image.open(mono) as image:
        frames = AudioSegment.from_wav(short_wav).frame_count()
        assert image.size == (1 + int(frames) // 441, 512)
        assert SpectrogramParams.from_exif(image.getexif()) == SpectrogramParams()
    with Image.open(stereo_png) as image:
        assert SpectrogramParams.from_exif(image.getexif()).stereo
        assert not np.asarray(image)[..., 0].any()


@pytest.mark.parametrize("suffix", [".wav", ".mp3"])
def test_image_to_audio_writes_stereo_audio(tmp_path, stereo_png, suffix: str) -> None:
    out = tmp_path / f"out{suffix}"
    assert main(["image-to-audio", str(stereo_png), str(out), "--seed", "1"]) == 0
    assert out.stat().st_size > 0
    if suffix == ".wav":
        audio = AudioSegment.from_wav(out)
        width = Image.open(stereo_png).width
        assert audio.channels == 2 and audio.frame_count() == 441 * (width - 1)


def test_image_to_audio_griffinlim_is_reproducible(tmp_path, stereo_png) -> None:
    outputs = [tmp_path / "a.wav", tmp_path / "b.wav"]
    for out in outputs:
        argv = [
            "image-to-audio",
            str(stereo_png),
            str(out),
            "--seed",
            "5",
            "--method",
            "griffinlim",
        ]
        assert main(argv) == 0
    assert outputs[0].read_bytes() == outputs[1].read_bytes()


def test_missing_input(tmp_path, capsys) -> None:
    rc = main(["audio-to-image", str(tmp_path / "nope.wav"), str(tmp_path / "x.png")])
    _assert_one_line_error(capsys, rc, "nope.wav")
    rc = main(["image-to-audio", str(tmp_path / "nope.png"), str(tmp_path / "x.wav")])
    _assert_one_line_error(capsys, rc, "nope.png")


def test_text_file_as_audio_and_as_image(tmp_path, capsys) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not audio, not an image\n")
    _assert_one_line_error(capsys, main(["audio-to-image", str(text), str(tmp_path / "x.png")]))
    _assert_one_line_error(capsys, main(["image-to-audio", str(text), str(tmp_path / "x.wav")]))


def test_image_renamed_wav(tmp_path, capsys, stereo_png) -> None:
    fake = tmp_path / "song.wav"
    fake.write_bytes(stereo_png.read_bytes())
    _assert_one_line_error(capsys, main(["audio-to-image", str(fake), str(tmp_path / "x.png")]))


def test_non_spectrogram_png(tmp_path, capsys) -> None:
    picture = tmp_path / "photo.png"
    Image.new("RGB", (300, 200), (10, 200, 30)).save(picture)
    rc = main(["image-to-audio", str(picture), str(tmp_path / "x.wav")])
    _assert_one_line_error(capsys, rc, "512 pixels high")


def test_bad_output_suffix(tmp_path, capsys, short_wav, stereo_png) -> None:
    rc = main(["audio-to-image", str(short_wav), str(tmp_path / "x.jpg")])
    _assert_one_line_error(capsys, rc, ".png")
    rc = main(["image-to-audio", str(stereo_png), str(tmp_path / "x.ogg")])
    _assert_one_line_error(capsys, rc, ".wav")
    assert not (tmp_path / "x.ogg").exists()


def test_unknown_device(tmp_path, capsys, stereo_png) -> None:
    rc = main(["image-to-audio", str(stereo_png), str(tmp_path / "x.wav"), "--device", "tpu9"])
    _assert_one_line_error(capsys, rc, "device")


def test_python_dash_m_entry_point(tmp_path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "riffusion_core",
            "image-to-audio",
            str(tmp_path / "missing.png"),
            str(tmp_path / "x.wav"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_spectrogram_options_round_trip_through_exif(tmp_path, short_wav, capsys) -> None:
    """audio-to-image with the reference's options, print-exif shows them, image-to-audio uses
    them: the same length back, and a second conversion gives the same spectrogram."""
    png = tmp_path / "custom.png"
    options = ["--min-frequency", "40", "--max-frequency", "8000"]
    options += ["--step-size-ms", "20", "--num-frequencies", "256", "--stereo"]
    assert main(["audio-to-image", str(short_wav), str(png), *options]) == 0
    wanted = SpectrogramParams(
        stereo=True, step_size_ms=20, num_frequencies=256, min_frequency=40, max_frequency=8000
    )
    frames = AudioSegment.from_wav(short_wav).frame_count()
    with Image.open(png) as image:
        assert SpectrogramParams.from_exif(image.getexif()) == wanted
        assert image.size == (1 + int(frames) // 882, 256)  # 20 ms = 882 samples a column
    capsys.readouterr()

    assert main(["print-exif", str(png)]) == 0
    shown = capsys.readouterr().out
    for line in ("stereo               = True", "step_size_ms         = 20"):
        assert line in shown
    for line in ("num_frequencies      = 256", "min_frequency        = 40"):
        assert line in shown
    assert "max_frequency        = 8000" in shown and "not in the file" not in shown
    assert "max_value" in shown and "not recorded" not in shown

    wav = tmp_path / "back.wav"
    assert main(["image-to-audio", str(png), str(wav), "--seed", "1"]) == 0
    back = AudioSegment.from_wav(wav)
    assert back.channels == 2 and back.frame_count() == 882 * (Image.open(png).width - 1)
    again = tmp_path / "again.png"
    assert main(["audio-to-image", str(wav), str(again), *options]) == 0
    first, second = (np.asarray(Image.open(p), dtype=float) for p in (png, again))
    assert first.shape == second.shape
    assert np.abs(first - second)[..., 1:].mean() < 40  # G and B: left, right (R is 0)


def test_print_exif_without_exif_names_the_defaults(tmp_path, capsys) -> None:
    plain = tmp_path / "plain.png"
    Image.new("L", (512, 512), 200).save(plain)
    assert main(["print-exif", str(plain)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "plain.png has no spectrogram EXIF; it is read with the defaults:"
    assert "  max_frequency        = 10000" in out and "  num_frequencies      = 512" in out

    partial = tmp_path / "partial.png"
    exif = Image.Exif()
    exif[11060] = 5000  # max frequency only, as a tool that kept one tag might leave it
    exif[271] = "a camera"  # a foreign tag is ignored
    Image.new("L", (64, 512), 200).save(partial, exif=exif)
    assert main(["print-exif", str(partial)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "partial.png: spectrogram parameters (EXIF)"
    assert "  max_frequency        = 5000" in out
    assert "  min_frequency        = 0 (not in the file: default)" in out
    assert "  max_value            = not recorded" in out

    rc = main(["print-exif", str(tmp_path / "nope.png")])
    _assert_one_line_error(capsys, rc, "nope.png")


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--max-frequency", "30000"], "at most 22050 Hz"),
        (["--min-frequency", "9000", "--max-frequency", "9000"], "must be below --max-frequency"),
        (["--num-frequencies", "2048"], "too many for 0-10000 Hz"),
    ],
)
def test_spectrogram_options_that_do_not_fit_are_one_line(
    tmp_path, short_wav, capsys, options, fragment
) -> None:
    out = tmp_path / "x.png"
    rc = main(["audio-to-image", str(short_wav), str(out), *options])
    _assert_one_line_error(capsys, rc, fragment)
    assert not out.exists()


def test_spectrogram_options_must_be_numbers(tmp_path, short_wav, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["audio-to-image", str(short_wav), str(tmp_path / "x.png"), "--step-size-ms", "0"])
    assert exit_info.value.code == 2
    assert "--step-size-ms" in capsys.readouterr().err
