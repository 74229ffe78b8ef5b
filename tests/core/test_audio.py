"""riffusion_core.audio: encoding for Discord, stitching and cutting clips, samples <-> audio."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import av
import numpy as np
import pytest
from pydub import AudioSegment

from riffusion_core.audio import (
    SAMPLE_RATE,
    AudioExportError,
    encode_mp3,
    encode_mp3_within,
    export_audio,
    ffmpeg_executable,
    samples_to_segment,
    segment_to_samples,
    split_windows,
    stitch,
    trim_to,
)
from riffusion_core.audio_decode import decode_audio
from riffusion_core.errors import RiffusionError
from tests.conftest import REPO_ROOT


def dominant_freq(channel: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(channel * np.hanning(len(channel))))
    return float(np.argmax(spectrum) * rate / len(channel))


def as_array(segment: AudioSegment) -> np.ndarray:
    return segment_to_samples(segment)


# --- encoding -------------------------------------------------------------------------------


@pytest.mark.parametrize(("channels", "kbps"), [(1, 128), (2, 192)])
def test_mp3_round_trip_keeps_duration_and_bitrate(sine_segment, channels, kbps):
    seg = sine_segment(3.0, freq=440.0, channels=channels)
    data = encode_mp3(seg, kbps)

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        assert container.format.name == "mp3"
        assert stream.bit_rate == kbps * 1000
    back = decode_audio(data)
    assert back.segment.channels == channels
    assert back.duration_s == pytest.approx(3.0, abs=0.03)  # LAME header trims the padding
    assert dominant_freq(as_array(back.segment)[0]) == pytest.approx(440.0, abs=2.0)
    assert len(data) == pytest.approx(3.0 * kbps * 125, rel=0.05)


def test_mp3_within_lowers_bitrate_until_it_fits(sine_segment):
    seg = sine_segment(10.0, channels=2)  # 240 kB at 192 kbps, 160 kB at 128 kbps
    data, kbps = encode_mp3_within(seg, max_bytes=170_000)
    assert kbps == 128
    assert len(data) <= 170_000

    data, kbps = encode_mp3_within(seg, max_bytes=10_000_000)
    assert kbps == 192

    with pytest.raises(AudioExportError, match="too long"):
        encode_mp3_within(seg, max_bytes=50_000)  # 64 kbps needs 80 kB


def test_export_audio_by_suffix(tmp_path, sine_segment):
    seg = sine_segment(0.5, channels=2)
    wav_path = export_audio(seg, tmp_path / "out.WAV")
    assert decode_audio(wav_path).segment.raw_data == seg.raw_data
    mp3_path = export_audio(seg, tmp_path / "out.mp3")
    assert decode_audio(mp3_path).format_name == "mp3"
    with pytest.raises(AudioExportError, match=r"\.mp3 or \.wav") as caught:
        export_audio(seg, tmp_path / "out.ogg")
    assert isinstance(caught.value, RiffusionError)
    assert not (tmp_path / "out.ogg").exists()


def test_ffmpeg_executable_is_the_bundled_one():
    exe = ffmpeg_executable()
    assert os.access(exe, os.X_OK)
    assert AudioSegment.converter == exe


def test_import_configures_pydub_without_warnings():
    code = (
        "import riffusion_core.audio as a; from pydub import AudioSegment as S; "
        "assert S.converter == a.ffmpeg_executable()"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


# --- editing --------------------------------------------------------------------------------


def test_stitch_without_crossfade_is_gapless_concatenation(sine_segment):
    whole = sine_segment(3.0, freq=330.0)
    parts = [
        whole.get_sample_slice(0, 44100),
        whole.get_sample_slice(44100, 100000),
        whole.get_sample_slice(100000, None),
    ]
    assert stitch(parts, 0).raw_data == whole.raw_data


def test_stitch_length_is_sum_minus_crossfades(sine_segment):
    parts = [sine_segment(1.0), sine_segment(1.5), sine_segment(2.0)]
    out = stitch(parts, 200)
    assert len(out) == 4500 - 2 * 200
    assert out.frame_count() == (4500 - 400) * 44.1


def test_crossfading_a_continuous_sine_leaves_no_click(sine_segment):
    # two clips overlapping by exactly the crossfade: the join must be the sine itself
    rate, overlap = SAMPLE_RATE, 200
    first = sine_segment(2.0, freq=440.0, channels=2)
    second_start = 2 * rate - overlap * rate // 1000
    second = sine_segment(2.0, freq=440.0, channels=2, start_frame=second_start)
    reference = sine_segment(3.8, freq=440.0, channels=2)

    out = stitch([first, second], overlap)

    got, want = as_array(out), as_array(reference)
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= 3  # rounding only
    natural_jump = np.max(np.abs(np.diff(want, axis=1)))
    assert np.max(np.abs(np.diff(got, axis=1))) <= natural_jump + 3


def test_crossfade_between_different_clips_is_smooth(sine_segment):
    out = as_array(stitch([sine_segment(1.0, freq=220.0), sine_segment(1.0, freq=330.0)], 200))
    jumps = np.abs(np.diff(out[0]))
    biggest_natural = 0.5 * 32767 * 2 * np.pi * 330.0 / SAMPLE_RATE
    # pydub steps the gain once per millisecond (0.5 % of 200 ms): tiny steps, no click
    assert jumps.max() <= biggest_natural * 1.15


def test_stitch_mixes_mono_and_stereo_into_stereo(sine_segment):
    out = stitch([sine_segment(0.5, channels=1), sine_segment(0.5, channels=2)], 100)
    assert out.channels == 2 and len(out) == 900


def test_stitch_rejects_crossfade_longer_than_a_clip(sine_segment):
    with pytest.raises(ValueError, match="shorter than"):
        stitch([sine_segment(1.0), sine_segment(0.1)], 200)
    with pytest.raises(ValueError):
        stitch([], 0)


def test_split_windows_and_stitch_give_back_the_input(sine_segment):
    seg = sine_segment(12.3, freq=440.0)
    windows = split_windows(seg, 5000, 200)
    assert [w.frame_count() for w in windows] == [220500, 220500, round(2.7 * 44100)]
    rebuilt = stitch(windows, 200)
    assert rebuilt.frame_count() == seg.frame_count()
    assert np.max(np.abs(as_array(rebuilt) - as_array(seg))) <= 3


def test_split_windows_of_short_audio_is_one_window(sine_segment):
    seg = sine_segment(3.0)
    assert [w.raw_data for w in split_windows(seg, 5000, 200)] == [seg.raw_data]


def test_trim_to(sine_segment):
    seg = sine_segment(2.0)
    assert trim_to(seg, 1.5).frame_count() == round(1.5 * 44100)
    assert trim_to(seg, 5.0) is seg


def test_samples_round_trip_exactly(sine_segment):
    seg = sine_segment(0.3, channels=2)
    samples = segment_to_samples(seg)
    assert samples.dtype == np.float32 and samples.shape == (2, seg.frame_count())
    assert samples.flags.c_contiguous
    assert samples_to_segment(samples, normalize=False).raw_data == seg.raw_data


def test_normalise_to_minus_0_1_dbfs(sine_segment):
    quiet = segment_to_samples(sine_segment(0.5, amplitude=0.01, channels=2))
    seg = samples_to_segment(quiet)
    assert seg.max_dBFS == pytest.approx(-0.1, abs=0.01)
    assert seg.channels == 2 and seg.frame_rate == 44100 and seg.sample_width == 2


def test_silence_stays_silence():
    with np.errstate(all="raise"):
        seg = samples_to_segment(np.zeros((1, 1000), dtype=np.float32))
    assert seg.max == 0 and seg.frame_count() == 1000


def test_samples_are_clipped_and_cleaned():
    wild = np.array([[40000.0, -40000.0, np.nan, np.inf, 12.4]])
    out = segment_to_samples(samples_to_segment(wild, normalize=False))
    assert out.tolist() == [[32767, -32768, 0, 0, 12]]
    mono = samples_to_segment(np.ones(10), normalize=False)
    assert mono.channels == 1
    with pytest.raises(ValueError):
        samples_to_segment(np.zeros((1000, 2)))
