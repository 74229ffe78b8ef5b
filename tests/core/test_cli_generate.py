"""`riffusion riff / blend / remix`: three files per run, reproducible, clear errors."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from riffusion_core.audio import SAMPLE_RATE, export_audio
from riffusion_core.audio_decode import decode_audio
from riffusion_core.cli import main
from riffusion_core.cli_generate import slug
from riffusion_core.seed_images import DEFAULT_INTERPOLATION_SEED_IMAGE, bundled_name
from riffusion_core.spectrogram_params import SpectrogramParams
from tests.conftest import REFERENCE_SEED_DIR

STEPS = "3"


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def written(out: Path) -> dict[str, Path]:
    files = {p.suffix[1:]: p for p in out.iterdir()}
    assert sorted(files) == ["json", "mp3", "png"]
    assert len({p.stem for p in files.values()}) == 1
    return files


def mp3_seconds(path: Path) -> float:
    return decode_audio(path).duration_s


@pytest.fixture
def model_args(tiny_model_dir) -> list[str]:
    return ["--model", str(tiny_model_dir), "--device", "cpu", "--steps", STEPS]


def test_slug_is_a_safe_file_name():
    assert slug("Lo-Fi Beat / 90s!! ") == "lo-fi-beat-90s"
    assert slug("../../etc/passwd") == "etc-passwd"
    assert slug("日本の音楽") == "riff"
    assert slug("Café del mar") == "cafe-del-mar"
    assert len(slug("x" * 500)) == 40


@pytest.mark.slow
def test_riff_writes_png_mp3_json_and_json_reproduces_the_png(tmp_path, model_args, capsys):
    first = tmp_path / "first"
    argv = [
        "riff",
        "Lo-Fi beat!",
        "--seed",
        "7",
        "--out",
        str(first),
        "--seed-image",
        "og_beat",
        *model_args,
    ]
    assert main(argv) == 0
    files = written(first)
    assert files["png"].name == "lo-fi-beat_seed7.png"
    assert str(files["png"]) in capsys.readouterr().out
    image = Image.open(files["png"])
    assert image.size == (512, 512)
    assert SpectrogramParams.from_exif(image.getexif()) == SpectrogramParams()
    assert mp3_seconds(files["mp3"]) == pytest.approx(5.11, abs=0.06)

    record = json.loads(files["json"].read_text())
    assert record["command"] == "riff" and record["device"] == "cpu"
    assert record["scheduler"] == "pndm"
    assert set(record["versions"]) >= {"torch", "diffusers", "transformers", "riffusion_core"}
    clip = record["result"]["clips"][0]["parameters"]
    assert (clip["start"]["seed"], clip["num_inference_steps"], clip["seed_image"]) == (
        7,
        3,
        "backbeat",  # og_beat is its former name: the record keeps the current one
    )

    again = tmp_path / "again"
    assert main([*record["argv"], "--out", str(again)]) == 0
    assert np.array_equal(pixels(written(again)["png"]), pixels(files["png"]))


@pytest.mark.slow
def test_riff_duration_chains_clips(tmp_path, model_args):
    assert main(["riff", "drums", "--duration", "7", "--out", str(tmp_path), *model_args]) == 0
    files = written(tmp_path)
    assert Image.open(files["png"]).size == (1024, 512)
    assert mp3_seconds(files["mp3"]) == pytest.approx(7.0, abs=0.06)
    record = json.loads(files["json"].read_text())
    assert record["result"]["params"]["duration_s"] == 7.0
    assert "--duration" in record["argv"]


@pytest.mark.slow
def test_blend_writes_a_marked_strip(tmp_path, model_args):
    argv = [
        "blend",
        "jazz",
        "heavy metal",
        "--clips",
        "2",
        "--seed-a",
        "1",
        "--seed-b",
        "9",
        "--scheduler",
        "dpmsolver++",
        "--out",
        str(tmp_path),
        *model_args,
    ]
    assert main(argv) == 0
    files = written(tmp_path)
    assert files["png"].name == "jazz_to_heavy-metal_seed1-9.png"
    strip = pixels(files["png"])
    assert strip.shape == (512, 1024, 3) and (strip[:, 512] == (255, 0, 0)).all()
    record = json.loads(files["json"].read_text())
    assert record["result"]["alphas"] == [0.0, 1.0]
    assert record["scheduler"] == "dpmsolver++"
    assert mp3_seconds(files["mp3"]) == pytest.approx(2 * 5.11 - 0.25, abs=0.06)
    # Riffusion's interpolation by default: img2img from its seed image at denoising 0.75.
    current = bundled_name(DEFAULT_INTERPOLATION_SEED_IMAGE)  # without a folder: the bundled loop
    assert record["result"]["params"]["seed_image"] == current
    clips = [c["parameters"] for c in record["result"]["clips"]]
    assert [(c["seed_image"], c["denoising"]) for c in clips] == [(current, 0.75)] * 2
    assert [c["unet_steps"] for c in clips] == [int(int(STEPS) * 0.75)] * 2  # not all 3 steps
    argv = record["argv"]
    assert argv[argv.index("--seed-image") + 1] == current
    assert argv[argv.index("--denoising-b") + 1] == "0.75"


def test_blend_seed_image_and_denoising_options():
    from riffusion_core.cli_generate import configure_blend, configure_riff

    blend = argparse.ArgumentParser()
    configure_blend(blend)
    args = blend.parse_args(["a", "b", "--out", "x"])
    assert (args.seed_image, args.denoising, args.denoising_b) == (
        DEFAULT_INTERPOLATION_SEED_IMAGE,
        0.75,
        None,
    )
    args = blend.parse_args(["a", "b", "--out", "x", "--seed-image", "None", "--denoising-b", ".9"])
    assert (args.seed_image, args.denoising_b) == (None, 0.9)
    riff = argparse.ArgumentParser()
    configure_riff(riff)
    assert riff.parse_args(["a", "--out", "x"]).seed_image is None  # /riff: text to audio


@pytest.fixture
def six_seconds_wav(tmp_path) -> Path:
    from riffusion_core.seed_images.loops import loop_to_segment, render_loop

    loop = loop_to_segment(render_loop("half_time"))
    path = tmp_path / "My Song.wav"
    export_audio((loop + loop).get_sample_slice(0, 6 * SAMPLE_RATE), path)
    return path


@pytest.mark.slow
def test_remix_reports_the_part_used(tmp_path, model_args, six_seconds_wav):
    out = tmp_path / "out"
    argv = [
        "remix",
        str(six_seconds_wav),
        "synthwave",
        "--max-input",
        "3",
        "--strength",
        "0.7",
        "--out",
        str(out),
        *model_args,
    ]
    assert main(argv) == 0
    files = written(out)
    assert files["png"].name == "remix_my-song_synthwave_seed42.png"
    record = json.loads(files["json"].read_text())
    result = record["result"]
    assert (result["input_start_s"], result["input_end_s"], result["truncated"]) == (0, 3, True)
    assert result["source_duration_s"] == pytest.approx(6.0)
    assert len(record["input"]["sha256"]) == 64
    assert mp3_seconds(files["mp3"]) == pytest.approx(3.0, abs=0.06)


def fails(argv: list[str], capsys, *, code: int = 1) -> str:
    """Run the CLI expecting failure; return the single stderr line."""
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse rejects malformed arguments itself
        status = exc.code
    assert status == code
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)
    return err[-1]


def test_errors_are_one_line(tmp_path, tiny_model_dir, capsys):
    model = ["--model", str(tiny_model_dir), "--device", "cpu", "--out", str(tmp_path)]
    assert "no audio file" in fails(["remix", str(tmp_path / "nope.mp3"), "x", *model], capsys)
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(b"this is not audio at all" * 100)
    assert "audio" in fails(["remix", str(garbage), "x", *model], capsys)
    assert "Unknown seed image" in fails(["riff", "x", "--seed-image", "nope", *model], capsys)
    missing = ["riff", "x", "--out", str(tmp_path), "--model", str(tmp_path / "no-model")]
    assert "does not exist" in fails(missing, capsys)
    assert "steps" in fails(["riff", "x", "--steps", "lots", *model], capsys, code=2)
    assert "seed" in fails(["riff", "x", "--seed", "-4", *model], capsys, code=2)
    too_big = ["riff", "x", "--seed", str(2**31), *model]
    assert "2147483647" in fails(too_big, capsys, code=2)  # the bot's seeds: Discord's range
    assert "clips" in fails(["blend", "a", "b", "--clips", "1", *model], capsys, code=2)
    weak_end = ["blend", "a", "b", "--steps", "4", "--denoising-b", "0.1", *model]
    assert "too small for 4 steps" in fails(weak_end, capsys)
    assert "strength" in fails(["remix", "a.wav", "x", "--strength", "2", *model], capsys, code=2)
    assert "empty" in fails(["riff", "   ", *model], capsys)
    assert not any(tmp_path.glob("*.png"))


@pytest.mark.slow
def test_environment_defaults(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("RIFFUSION_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("RIFFUSION_DEVICE", "cpu")
    assert main(["riff", "ambient", "--steps", "2", "--out", str(tmp_path)]) == 0
    record = json.loads(written(tmp_path)["json"].read_text())
    assert record["model"] == str(tiny_model_dir) and record["device"] == "cpu"
    assert record["argv"][record["argv"].index("--model") + 1] == str(tiny_model_dir)


@pytest.mark.slow
def test_record_names_a_user_seed_image_by_absolute_path(tmp_path, model_args, monkeypatch):
    from riffusion_core.seed_images import resolve_seed_image

    monkeypatch.chdir(tmp_path)
    Path("mine.png").write_bytes(resolve_seed_image("half_time").read_bytes())
    assert main(["riff", "beat", "--seed-image", "mine.png", "--out", "out", *model_args]) == 0
    record = json.loads(written(tmp_path / "out")["json"].read_text())
    argv = record["argv"]
    assert argv[argv.index("--seed-image") + 1] == str(tmp_path.resolve() / "mine.png")


@pytest.mark.slow
def test_seed_images_dir_from_the_environment_reaches_the_pipeline(
    tmp_path, model_args, monkeypatch, capsys
):
    """Riffusion's agile by name through $SEED_IMAGES_DIR: the same pixels as agile.png by path."""
    monkeypatch.setenv("SEED_IMAGES_DIR", str(REFERENCE_SEED_DIR))
    agile = str((REFERENCE_SEED_DIR / "agile.png").resolve())
    runs = {"name": "agile", "path": agile, "bundled": "backbeat"}
    for label, seed_image in runs.items():
        argv = ["riff", "beat", "--seed", "3", "--seed-image", seed_image, *model_args]
        assert main([*argv, "--out", str(tmp_path / label)]) == 0
    assert "og_beat: the folder's image now answers to 'og_beat'" in capsys.readouterr().err
    record = json.loads(written(tmp_path / "name")["json"].read_text())
    assert record["argv"][record["argv"].index("--seed-image") + 1] == agile
    assert record["result"]["clips"][0]["parameters"]["seed_image"] == agile
    by_name, by_path, bundled = (pixels(written(tmp_path / label)["png"]) for label in runs)
    assert np.array_equal(by_name, by_path)
    assert np.abs(by_name.astype(int) - bundled).mean() > 1  # the seed image made a difference


def test_a_bad_seed_image_folder_stops_the_cli_with_one_line(tmp_path, tiny_model_dir, capsys):
    folder = tmp_path / "seeds"
    folder.mkdir()
    shutil.copy(REFERENCE_SEED_DIR / "vibes.png", folder / "vibes.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    model = ["--model", str(tiny_model_dir), "--device", "cpu", "--out", str(tmp_path / "out")]
    argv = ["riff", "x", "--seed-images-dir", str(folder), "--seed-image", "vibes", *model]
    line = fails(argv, capsys)
    assert "broken.png: not an image" in line and str(folder) in line
    (folder / "broken.png").unlink()
    argv[argv.index("vibes")] = "nope"
    line = fails(argv, capsys)
    assert "Unknown seed image 'nope'" in line and "vibes" in line and "backbeat" in line
    assert not (tmp_path / "out").exists()
