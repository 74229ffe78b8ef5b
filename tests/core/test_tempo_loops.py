"""Seed loops at any tempo: whole bars, the grid's width, seamless, named and cached."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from riffusion_core.errors import RiffusionError
from riffusion_core.generation import GenerationRequest, PromptInput
from riffusion_core.seed_images import load_seed_image, resolve_seed_image
from riffusion_core.seed_images import loops as loops_module
from riffusion_core.seed_images.catalogue import SeedImageCatalogue
from riffusion_core.seed_images.loops import (
    TempoLoop,
    cache_dir,
    is_tempo_loop_name,
    make_loop_image,
    parse_tempo_loop,
    render_loop,
    set_cache_dir,
    tempo_loop,
    tempo_loop_path,
)
from riffusion_core.tempo import bar_samples, clip_grid


def _no_making(*_args, **_kwargs):
    raise AssertionError("the loop was made again")


@pytest.mark.parametrize(
    ("name", "style", "bpm", "canonical"),
    [
        ("backbeat@128bpm", "backbeat", 128.0, "backbeat@128bpm"),
        ("half_time@93.94bpm", "half_time", 93.9, "half_time@93.9bpm"),
        ("og_beat@128.0bpm", "backbeat", 128.0, "backbeat@128bpm"),  # the former name
        (" FOUR_ON_FLOOR@60BPM ", "four_on_floor", 60.0, "four_on_floor@60bpm"),
    ],
)
def test_names_parse_to_a_style_and_a_tempo_to_one_decimal(name, style, bpm, canonical):
    loop = parse_tempo_loop(name)
    assert loop == TempoLoop(style, bpm) and loop.name == canonical
    assert parse_tempo_loop(loop.name) == loop
    assert f"{bpm:.1f}bpm" in loop.file_name


@pytest.mark.parametrize(
    ("name", "message"),
    [("jazz@128bpm", "Loop styles: backbeat"), ("backbeat@200bpm", "between 60 and 180")],
)
def test_a_bad_tempo_loop_name_is_one_sentence(name, message):
    assert is_tempo_loop_name(name)
    with pytest.raises(RiffusionError, match=message):
        parse_tempo_loop(name)
    assert name not in SeedImageCatalogue()


def test_plain_names_are_not_tempo_loops():
    assert not is_tempo_loop_name("backbeat")
    assert not is_tempo_loop_name("backbeat@128")
    assert not is_tempo_loop_name("/tmp/a@128bpm")


@pytest.mark.parametrize("bpm", [70, 128, 180])
def test_a_loop_is_exactly_the_grid_bars(bpm):
    grid = clip_grid(bpm)
    loop = render_loop("four_on_floor", grid)
    assert len(loop) == round(grid.bars * bar_samples(bpm))
    # Four kicks a bar: the loudest onsets fall on the beats.
    beat = bar_samples(bpm) / 4
    envelope = np.abs(loop)
    for k in range(4 * grid.bars):
        at = round(k * beat)
        assert envelope[at : at + 2000].max() > 3 * envelope[at - 2000 : at - 200].mean()


def test_a_loop_image_is_the_grid_width_and_wraps():
    # 120 BPM: a bar is 200 columns; 3 bars = 600 columns in a 608-px image, so column 600 is
    # the first downbeat again.
    grid = clip_grid(120)
    assert (grid.bars, grid.width) == (3, 608)
    image = make_loop_image("backbeat", grid)
    assert image.size == (608, 512)
    grey = np.asarray(image.convert("L"), dtype=np.int16)
    wrap = np.abs(grey[:, 600] - grey[:, 0]).mean()
    assert wrap < 0.25 * np.abs(np.diff(grey, axis=1)).mean()


def test_each_style_and_tempo_is_made_once(tmp_path, monkeypatch):
    loop = tempo_loop("half_time", 100)
    path = tempo_loop_path(loop, tmp_path)
    assert path == tmp_path / "half_time_100.0bpm_v1.png" and path.is_file()
    monkeypatch.setattr(loops_module, "make_loop_image", _no_making)
    assert tempo_loop_path(loop, tmp_path) == path
    assert not list(tmp_path.glob("*.tmp"))


def test_names_resolve_through_the_cache(tmp_path, monkeypatch):
    set_cache_dir(tmp_path)
    path = resolve_seed_image("og_beat@128bpm")
    assert path.parent == tmp_path and path.name == "backbeat_128.0bpm_v1.png"
    image = load_seed_image("backbeat@128bpm")
    assert image.size == (clip_grid(128).width, 512)


def test_a_request_checks_the_name_without_making_the_loop(monkeypatch):
    monkeypatch.setattr(loops_module, "make_loop_image", _no_making)
    request = GenerationRequest(start=PromptInput("drums"), seed_image="ambient_pulse@61.3bpm")
    assert request.seed_image == "ambient_pulse@61.3bpm"
    with pytest.raises(RiffusionError, match="between 60 and 180"):
        GenerationRequest(start=PromptInput("drums"), seed_image="backbeat@59bpm")


def test_the_catalogue_takes_tempo_loops_by_their_current_name():
    catalogue = SeedImageCatalogue()
    assert "og_beat@128.0bpm" in catalogue
    assert catalogue.canonical("og_beat@128.0bpm") == "backbeat@128bpm"
    assert catalogue.request_value("backbeat@128.04bpm") == "backbeat@128bpm"
    assert catalogue.describe("og_beat@128bpm").startswith("backbeat@128bpm (recorded as")
    assert not any("@" in name for name in catalogue.names())


def test_the_default_cache_is_the_users(monkeypatch, tmp_path):
    set_cache_dir(None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "riffusion" / "loops"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "riffusion" / "loops"
