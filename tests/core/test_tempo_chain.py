"""Riffs in tempo: clips cut to whole bars and joined on the bar grid, exactly the bars long."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from riffusion_core.audio import SAMPLE_RATE, samples_to_segment, segment_to_samples
from riffusion_core.cli import main
from riffusion_core.generation import GenerationRequest, PromptInput
from riffusion_core.seed_images.loops import loop_pcm, render_loop, tempo_loop
from riffusion_core.tempo import bar_samples, clip_grid
from riffusion_core.tracks import bars_samples, join_on_grid, riff_in_tempo

STEPS = "2"


def loop_clips(bpm: float, count: int) -> tuple[np.ndarray, list]:
    """The loop at `bpm`, and `count` clips of it as the grid renders them (each from its
    first downbeat, `rendered_samples` long)."""
    grid = clip_grid(bpm)
    loop = render_loop("backbeat", grid)
    pcm = loop_pcm(loop, 0, grid.rendered_samples)
    return loop, [samples_to_segment(pcm.astype(np.float32), normalize=False)] * count


def test_clips_of_a_loop_join_into_the_loop_played_on():
    # 120 BPM: three bars are 264 600 samples exactly, so the grid has no rounding at all and
    # a chain of the loop's clips must be the loop repeated, crossfades included.
    grid = clip_grid(120)
    loop, clips = loop_clips(120, 3)
    total = bars_samples(8, 120)
    joined = segment_to_samples(join_on_grid(clips, grid, total))[0]
    assert len(joined) == total == 8 * 88200
    expected = np.tile(np.round(loop), 3)[:total]
    assert np.abs(joined - expected).max() <= 1


def test_a_join_never_moves_a_bar_line():
    grid = clip_grid(128)  # 3 bars a clip; 1 323 000 / 128 is not a whole number of samples
    clips = [
        samples_to_segment(np.full(grid.rendered_samples, 1000.0 * (k + 1)), normalize=False)
        for k in range(3)
    ]
    joined = segment_to_samples(join_on_grid(clips, grid))[0]
    assert len(joined) == grid.bounds(2)[1]
    for k in (1, 2):
        start = grid.bounds(k)[0]
        # From the bar line on, clip k is all there is once the previous tail has faded.
        assert joined[start - 1] == pytest.approx(1000.0 * k, abs=1)
        assert joined[start + 441 + 1] == pytest.approx(1000.0 * (k + 1), abs=1)
    # A track that ends inside a clip fades out over its last 10 ms instead of stopping dead.
    cut = segment_to_samples(join_on_grid(clips, grid, grid.bounds(2)[0] + 1000))[0]
    assert cut[-441] > 2900 and abs(cut[-1]) < 20
    with pytest.raises(ValueError, match="fewer than its bars"):
        join_on_grid([clips[0].get_sample_slice(0, 1000)] * 2, grid)


@pytest.mark.slow
def test_riff_in_tempo_lasts_exactly_its_bars(tiny_pipeline):
    loop = tempo_loop("half_time", 128)
    grid = loop.grid
    request = GenerationRequest(
        start=PromptInput("drums", seed=3), num_inference_steps=2, seed_image=loop.name
    )
    result = riff_in_tempo(tiny_pipeline, request, grid, 4)
    assert result.audio.frame_count() == round(4 * bar_samples(128))
    assert [c.request.width for c in result.clips] == [grid.width, grid.width]
    assert [c.request.seed_image for c in result.clips] == [loop.name] * 2
    assert result.params["bars"] == 4 and result.params["bpm"] == 128.0


@pytest.mark.slow
def test_cli_riff_with_bpm_is_one_clip_of_whole_bars_and_replays(tmp_path, tiny_model_dir):
    model = ["--model", str(tiny_model_dir), "--device", "cpu", "--steps", STEPS]
    first = tmp_path / "first"
    argv = ["riff", "drums", "--bpm", "100", "--loop", "four_on_floor", "--out", str(first)]
    assert main([*argv, *model]) == 0
    grid = clip_grid(100)  # two bars in a 488-px clip
    png = next(first.glob("*.png"))
    assert Image.open(png).size == (grid.width, 512) == (488, 512)
    record = json.loads(next(first.glob("*.json")).read_text())
    assert record["result"]["duration_s"] == pytest.approx(2 * bar_samples(100) / SAMPLE_RATE)
    clip = record["result"]["clips"][0]["parameters"]
    assert (clip["seed_image"], clip["width"]) == ("four_on_floor@100bpm", 488)
    again = tmp_path / "again"
    assert main([*record["argv"], "--out", str(again)]) == 0
    replayed = next(again.glob("*.png"))
    assert np.array_equal(np.asarray(Image.open(replayed)), np.asarray(Image.open(png)))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--bpm", "120", "--seed-image", "backbeat"], "cannot be combined with --seed-image"),
        (["--loop", "half_time"], "--loop needs --bpm"),
        (["--bars", "4"], "--bars needs --bpm"),
        (["--seed-image", "backbeat@300bpm"], "between 60 and 180"),
    ],
)
def test_tempo_options_are_refused_in_one_line(tmp_path, capsys, extra, message):
    assert main(["riff", "drums", "--out", str(tmp_path), *extra]) != 0
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not list(tmp_path.iterdir())


def test_bpm_out_of_range_is_an_argument_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["riff", "drums", "--out", str(tmp_path), "--bpm", "200"])
    assert "a tempo from 60 to 180 BPM" in capsys.readouterr().err
