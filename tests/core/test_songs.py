"""Songs: parsing structures, the plan on the tempo grid, exact assembly, and a real render."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from riffusion_core.audio import SAMPLE_RATE, AudioSegment, segment_to_samples
from riffusion_core.audio_decode import decode_audio
from riffusion_core.cli import main
from riffusion_core.generation import GenerationRequest
from riffusion_core.songs import (
    FORMS,
    MAX_SECTIONS,
    Section,
    SongClip,
    SongError,
    SongSpec,
    assemble,
    clips_per_section,
    form_sections,
    parse_structure,
    plan_song,
    render_song,
    render_song_clip,
    song_clip_request,
)
from riffusion_core.strip import MARK_COLOUR
from riffusion_core.tempo import beat_samples, clip_grid

POP = (
    "intro: ambient pads | verse: lofi hip hop beat | chorus: jazz saxophone solo | verse | "
    "chorus | outro: ambient pads"
)


def spec(text: str = POP, **fields) -> SongSpec:
    return SongSpec(parse_structure(text), **{"loop": None, "steps": 2, **fields})


# ----------------------------------------------------------------------------- parsing


def test_structure_reuses_prompts_of_repeated_labels():
    sections = parse_structure("  Intro : ambient pads|VERSE: lofi beat | Verse |chorus:  sax  ")
    assert sections == (
        Section("intro", "ambient pads"),
        Section("verse", "lofi beat"),
        Section("verse", "lofi beat"),
        Section("chorus", "sax"),
    )
    assert [s.label for s in parse_structure(POP)] == [
        "intro",
        "verse",
        "chorus",
        "verse",
        "chorus",
        "outro",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "structure is empty"),
        ("   ", "structure is empty"),
        ("intro: pads | | outro: pads", "Section 2 is empty"),
        ("intro: pads | bridge", "'bridge' has no prompt"),
        (" | ".join(f"s{i}: x" for i in range(MAX_SECTIONS + 1)), "at most 8 sections, not 9"),
        ("intro: " + "x" * 301, "too long (301 characters)"),
        ("verse: a | verse: b", "two different prompts"),
        (": pads", "Section 1 has no label"),
        ("!!: pads", "is not a label"),
    ],
)
def test_bad_structures_name_the_problem(text, message):
    with pytest.raises(SongError, match=re.escape(message)) as caught:
        parse_structure(text)
    assert isinstance(caught.value, ValueError)
    assert "\n" not in str(caught.value)


def test_forms_derive_each_section_from_one_prompt():
    sections = form_sections("Pop", "synthwave")
    assert [s.label for s in sections] == list(FORMS["pop"])
    assert all(s.prompt.startswith("synthwave") for s in sections)
    assert sections[2].prompt == "synthwave, full energy chorus"
    assert form_sections("loop", "drums") == (Section("loop", "drums"),)
    with pytest.raises(SongError, match="Unknown song form 'opera'"):
        form_sections("opera", "x")
    with pytest.raises(SongError, match="prompt is empty"):
        form_sections("pop", "  ")


def test_spec_round_trips_through_json_and_checks_its_numbers():
    song = spec(bpm=97, length_s=45, seed=3, loop="half_time", negative_prompt="vocals")
    song = song.with_new("Chorus").with_new("chorus")
    assert song.reseed == (("chorus", 2),)
    assert SongSpec.from_json(song.to_json()) == song
    for bad, message in [
        ({"bpm": 200}, "tempo"),
        ({"length_s": 20}, "from 30 to 240 seconds"),
        ({"reseed": (("bridge", 1),)}, "no 'bridge'"),
        ({"seed": -1}, "seed"),
    ]:
        with pytest.raises(SongError, match=message):
            spec(**bad)


# ----------------------------------------------------------------------------- the plan


@pytest.mark.parametrize("bpm", [60, 97, 127, 128, 180])
@pytest.mark.parametrize("length", [30, 61.3, 240])
def test_plan_covers_the_song_exactly_on_the_grid(bpm, length):
    plan = plan_song(spec("intro: a | verse: b | chorus: c | outro: d", bpm=bpm, length_s=length))
    grid = clip_grid(bpm)
    beat = beat_samples(bpm)
    assert plan.total_samples == round(round(length * SAMPLE_RATE / beat) * beat)
    count = len(plan.clips)  # ceil(total / clip), less one when rounding left the last empty
    assert count in {math.ceil(plan.total_samples / grid.clip_samples) - d for d in (0, 1)}
    assert grid.bounds(count - 1)[0] < plan.total_samples <= grid.bounds(count - 1)[1]
    position = 0
    for clip in plan.clips:
        assert clip.start_sample == position == grid.bounds(clip.index)[0]
        assert 0 < clip.kept_samples <= grid.kept_samples(clip.index) <= grid.rendered_samples
        assert clip.width == grid.width
        position += clip.kept_samples
    assert position == plan.total_samples
    assert all(s.clip_count >= 1 for s in plan.sections)
    assert [s.start_sample for s in plan.sections] == [
        plan.clips[s.first_clip].start_sample for s in plan.sections
    ]
    assert plan.section_starts_s[0] == 0.0
    assert plan.bar_starts[0] == 0 and plan.bar_starts[-1] < plan.total_samples


def test_extra_clips_go_to_whole_labels_in_the_middle_first():
    assert clips_per_section(8, ["intro", "verse", "chorus", "outro"]) == [2, 2, 2, 2]
    assert clips_per_section(6, ["intro", "verse", "chorus", "outro"]) == [1, 2, 2, 1]
    assert clips_per_section(11, ["intro", "verse", "chorus", "outro"]) == [3, 3, 3, 2]
    pop = ["intro", "verse", "chorus", "verse", "chorus", "outro"]
    assert clips_per_section(8, pop) == [1, 2, 1, 2, 1, 1]  # both verses grow, or neither
    assert clips_per_section(9, pop) == [2, 2, 1, 2, 1, 1]


def test_a_repeated_chorus_is_the_same_chorus_and_new_chorus_changes_only_it():
    plan = plan_song(spec(bpm=120, length_s=120, seed=1))
    choruses = [s for s in plan.sections if s.label == "chorus"]
    assert len(choruses) == 2 and choruses[0].clip_count >= 2

    def requests(plan, section):
        return [song_clip_request(plan, section.first_clip + p) for p in range(section.clip_count)]

    first, second = (requests(plan, s) for s in choruses)
    assert first[: len(second)] == second[: len(first)]  # verse -> chorus both times
    again = plan_song(plan.spec.with_new("chorus"))
    for old, new in zip(plan.clips, again.clips, strict=True):
        if old.label == "chorus":
            assert old.seed != new.seed
        elif not (old.is_transition and plan.clips[old.index - 1].label == "chorus"):
            assert old == new  # only the chorus (and transitions out of it) change
    assert plan_song(plan.spec) == plan  # pure: the same spec plans the same song


def test_transitions_blend_from_the_previous_section_only_where_the_label_changes():
    plan = plan_song(spec("intro: a | verse: b | verse | chorus: c", bpm=120, length_s=60))
    firsts = {s.first_clip: s for s in plan.sections}
    for clip in plan.clips:
        section = plan.sections[clip.section]
        changed = clip.section > 0 and plan.sections[clip.section - 1].label != section.label
        assert clip.is_transition == (clip.index in firsts and changed)
        if clip.is_transition:
            before = plan.clips[clip.index - 1]
            assert (clip.start.prompt, clip.start.seed) == (
                plan.sections[clip.section - 1].prompt,
                before.seed,
            )
            assert clip.end is not None and clip.end.prompt == section.prompt
            request = song_clip_request(plan, clip.index)
            assert isinstance(request, GenerationRequest) and request.alpha == 0.5
    assert [plan.clips[s.first_clip].is_transition for s in plan.sections] == [
        False,
        True,
        False,
        True,
    ]


def test_the_plan_names_the_tempo_loop_and_refuses_what_does_not_fit():
    plan = plan_song(spec(loop="backbeat", bpm=128, length_s=30))
    assert {c.seed_image for c in plan.clips} == {"backbeat@128bpm"}
    crowded = " | ".join(f"s{i}: x" for i in range(8))
    with pytest.raises(SongError, match="room for 6 clips, fewer than its 8 sections"):
        plan_song(spec(crowded, bpm=180, length_s=30))
    with pytest.raises(SongError, match="at most 60 seconds"):
        plan_song(spec(length_s=90), max_length_s=60)


# ----------------------------------------------------------------------------- assembly


def tone(samples: int, freq: float) -> AudioSegment:
    t = np.arange(samples) / SAMPLE_RATE
    pcm = np.round(8000 * np.sin(2 * np.pi * freq * t)).astype("<i2")
    return AudioSegment(pcm.tobytes(), frame_rate=SAMPLE_RATE, sample_width=2, channels=1)


def fake_clips(plan) -> list[SongClip]:
    rendered = plan.grid.rendered_samples
    image = Image.new("RGB", (plan.grid.width, 512), "white")
    return [
        SongClip.from_stored(plan, c.index, image, tone(rendered, 110.0 * (1 + c.section)))
        for c in plan.clips
    ]


def test_assembly_is_exact_to_the_sample_and_marks_the_sections():
    plan = plan_song(spec(bpm=97, length_s=37.3))
    song = assemble(plan, fake_clips(plan))
    assert song.audio.frame_count() == plan.total_samples
    x = segment_to_samples(song.audio)[0]
    assert abs(x[-1]) < 50  # the end is faded out
    assert song.image.size == (round(plan.total_samples / 441), 512)
    pixels = np.asarray(song.image)
    for section in plan.sections[1:]:
        column = pixels[:, round(section.start_sample / 441)]
        assert (column == MARK_COLOUR).all(axis=1).mean() > 0.9
    long = plan_song(spec(bpm=180, length_s=120))
    assert assemble(long, fake_clips(long)).image.width == 4000
    with pytest.raises(ValueError, match="clips in order"):
        assemble(plan, fake_clips(plan)[:-1])


# ----------------------------------------------------------------------------- tiny model


@pytest.fixture(scope="module")
def tiny_song(tiny_pipeline):
    steps: list[tuple[int, int]] = []
    song = spec("intro: pads | chorus: sax | outro: pads", bpm=152, length_s=30, seed=5)
    return render_song(tiny_pipeline, song, on_step=lambda d, t: steps.append((d, t))), steps


def test_render_song_end_to_end(tiny_song):
    song, steps = tiny_song
    plan = song.plan
    assert len(plan.clips) == 5  # 4 bars of 152 BPM (6.3 s) per clip, the last cut short
    assert song.audio.frame_count() == plan.total_samples == round(30 * SAMPLE_RATE)
    assert [s.label for s in song.sections] == ["intro", "chorus", "outro"]
    assert steps[-1][0] == steps[-1][1] and [d for d, _ in steps] == sorted(d for d, _ in steps)
    assert len(song.clip_elapsed_s) == 5 and song.elapsed_s >= sum(song.clip_elapsed_s)
    assert song.to_dict()["sections"][1]["start_s"] == pytest.approx(
        plan.sections[1].start_s, abs=1e-4
    )


def test_one_clip_renders_alone_the_same_as_in_the_song(tiny_song, tiny_pipeline):
    song, _ = tiny_song
    plan = song.plan
    clip = render_song_clip(tiny_pipeline, plan, 3)  # a later queue turn, or after a restart
    assert clip.audio.frame_count() == plan.clips[3].kept_samples
    assert clip.stored_audio.raw_data == song.clips[3].stored_audio.raw_data
    stored = SongClip.from_stored(plan, 3, clip.image, clip.stored_audio)
    assert (stored.audio.raw_data, stored.overhang.raw_data) == (
        clip.audio.raw_data,
        clip.overhang.raw_data,
    )
    again = assemble(plan, [*song.clips[:3], stored, *song.clips[4:]])
    assert again.audio.raw_data == song.audio.raw_data


def test_cli_song_writes_audio_png_and_record(tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "songs" / "mine.wav"
    argv = ["song", "--form", "short", "--prompt", "lofi", "--length", "30", "--bpm", "152"]
    argv += ["--loop", "none", "--steps", "2", "--out", str(out)]
    assert main([*argv, "--model", str(tiny_model_dir), "--device", "cpu"]) == 0
    assert decode_audio(out).duration_s == pytest.approx(30.0, abs=0.001)
    assert Image.open(out.with_suffix(".png")).height == 512
    assert str(out.with_suffix(".json")) in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["intro: a | bridge"], "'bridge' has no prompt"),
        (["--form", "pop"], "needs --prompt"),
        (["intro: a", "--form", "pop", "--prompt", "x"], "not both"),
        ([], "Describe the song"),
        (["intro: a", "--bpm", "300"], "tempo"),
        (["intro: a", "--new", "bridge"], "no 'bridge'"),
    ],
)
def test_cli_song_bad_input_is_one_line(tmp_path, capsys, args, message):
    assert main(["song", *args, "--out", str(tmp_path / "x.mp3"), "--model", "nowhere"]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not any(Path(tmp_path).iterdir())
