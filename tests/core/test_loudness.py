"""riffusion_core.loudness: the meters, the limiter and normalising to the reference's loudness,
measured on the samples and on the decoded MP3 (what users hear)."""

from __future__ import annotations

import io
import math
import time

import av
import numpy as np
import pytest

from riffusion_core.audio import (
    AudioSegment,
    encode_mp3,
    samples_to_segment,
    segment_to_samples,
    stitch,
)
from riffusion_core.converter import get_converter
from riffusion_core.loudness import (
    INT16_FULL_SCALE,
    LoudnessSettings,
    StreamNormaliser,
    limiter_reduction_db,
    normalise,
    normalise_samples,
    rms_dbfs,
    true_peak_dbfs,
)
from riffusion_core.seed_images import list_seed_images, load_seed_image
from riffusion_core.spectrogram_params import SpectrogramParams
from tests.conftest import REFERENCE_DIR

RATE = 44100
TARGET, CEILING = -12.0, -1.0


def decode_mp3(data: bytes) -> np.ndarray:
    """(channels, frames) float samples of an MP3 as a player decodes them (not clipped)."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        return np.concatenate([f.to_ndarray() for f in container.decode(stream)], axis=-1)


def full_scale(segment: AudioSegment) -> np.ndarray:
    return segment_to_samples(segment) / INT16_FULL_SCALE


def sine(freq: float, seconds: float, amplitude: float = 0.5, phase: float = 0.0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return amplitude * np.sin(2 * np.pi * freq * t + phase)


def block_gain_db(before: np.ndarray, after: np.ndarray, block: int = 441) -> np.ndarray:
    """Gain applied per 10 ms block (RMS after over RMS before)."""
    n = before.shape[-1] // block * block
    b = np.sqrt(np.mean(before[..., :n].reshape(-1, n // block, block) ** 2, axis=(0, 2)))
    a = np.sqrt(np.mean(after[..., :n].reshape(-1, n // block, block) ** 2, axis=(0, 2)))
    return 20 * np.log10(a / b)


@pytest.fixture(scope="module")
def seed_loop() -> AudioSegment:
    """A bundled seed loop decoded to audio: what a generated clip sounds like."""
    name = sorted(list_seed_images())[0]
    converter = get_converter(SpectrogramParams(), "cpu")
    return converter.audio_from_spectrogram_image(load_seed_image(name), seed=0)


# ----------------------------------------------------------------------------- meters


def test_rms_of_known_signals():
    assert rms_dbfs(np.ones((2, 1000))) == pytest.approx(0.0)
    assert rms_dbfs(sine(997, 1.0, amplitude=1.0)) == pytest.approx(-3.01, abs=0.01)
    assert rms_dbfs(np.zeros((1, 100))) == -math.inf


def test_true_peak_finds_the_peaks_between_samples():
    # A sine at a quarter of the sample rate, sampled 45 degrees off its peaks: every sample is
    # 3 dB below the waveform's peak, which BS.1770's 4x oversampling finds.
    x = sine(RATE / 4, 0.5, amplitude=0.5, phase=math.pi / 4)
    assert 20 * math.log10(np.abs(x).max()) == pytest.approx(-9.03, abs=0.01)
    assert true_peak_dbfs(x) == pytest.approx(-6.02, abs=0.2)
    for freq in (100, 997, 5000, 10000):
        assert true_peak_dbfs(sine(freq, 0.5, amplitude=1.0, phase=0.3)) == pytest.approx(
            0.0, abs=0.1
        )


def test_limiter_reduction_covers_every_need_and_is_smooth():
    rng = np.random.default_rng(3)
    import torch

    need = torch.zeros(20000)
    need[rng.integers(0, 20000, size=30)] = torch.from_numpy(rng.uniform(0.5, 10, size=30)).float()
    reduction = limiter_reduction_db(need, lookahead=220, release_db_per_sample=40 / RATE)
    assert bool((reduction >= need - 1e-4).all())
    # Attack over the look-ahead window: the gain never moves more than the largest need / 220
    # per sample (a step would be the whole need at once).
    assert float(reduction.diff().abs().max()) <= 10 / 220 + 1e-4


# ----------------------------------------------------------------------------- normalising


def test_normal_material_reaches_the_target_on_the_mp3_too(seed_loop):
    loud = normalise(seed_loop)
    x = full_scale(loud)
    assert rms_dbfs(x) == pytest.approx(TARGET, abs=1.0)
    assert true_peak_dbfs(x) <= CEILING
    heard = decode_mp3(encode_mp3(loud, 192))
    assert rms_dbfs(heard) == pytest.approx(TARGET, abs=1.0)
    assert true_peak_dbfs(heard) <= CEILING
    # It was quieter before: the converter only peak-normalises to -0.1 dBFS.
    assert rms_dbfs(full_scale(seed_loop)) < TARGET - 0.5


@pytest.mark.skipif(not REFERENCE_DIR.is_dir(), reason="reference clips not available")
def test_reference_music_reaches_the_target_under_the_ceiling():
    path = sorted(REFERENCE_DIR.glob("*.wav"))[0]
    clip = AudioSegment.from_file(path)
    loud = normalise(clip)
    heard = decode_mp3(encode_mp3(loud, 192))
    assert loud.channels == 2 and len(loud) == len(clip)
    assert rms_dbfs(heard) == pytest.approx(TARGET, abs=1.0)
    assert true_peak_dbfs(heard) <= CEILING


def test_spiky_material_sits_at_the_ceiling():
    """A crest factor the limiter cannot bring to the target stays quieter, at the ceiling."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 5 * RATE)) * 0.003
    x[0, :: RATE // 2] = 0.9  # clicks 40 dB over the rest
    out = normalise_samples(x)
    assert true_peak_dbfs(out) == pytest.approx(CEILING, abs=0.2)
    assert rms_dbfs(out) < TARGET - 1.0
    # Never more limiting than allowed: the clicks stand at most max_limiting_db above the
    # level a plain gain would have put them at.
    gain = rms_dbfs(out) - rms_dbfs(x)
    assert true_peak_dbfs(x) + gain - true_peak_dbfs(out) <= LoudnessSettings().max_limiting_db + 1


def test_a_louder_target_is_a_setting():
    x = sine(440, 1.0, amplitude=0.05)[np.newaxis]
    out = normalise_samples(x, LoudnessSettings(target_rms_dbfs=-20.0))
    assert rms_dbfs(out) == pytest.approx(-20.0, abs=0.05)
    with pytest.raises(ValueError):
        LoudnessSettings(target_rms_dbfs=3.0)


def test_silence_stays_silence():
    silent = AudioSegment.silent(duration=2000, frame_rate=RATE).set_channels(2)
    assert normalise(silent).raw_data == silent.raw_data
    stream = StreamNormaliser()
    assert stream(silent).raw_data == silent.raw_data


def test_a_blend_is_normalised_as_a_whole_without_pumping_at_its_join():
    quiet = samples_to_segment(sine(330, 3.0, amplitude=0.05)[np.newaxis] * 32768, normalize=False)
    loud = samples_to_segment(sine(330, 3.0, amplitude=0.4)[np.newaxis] * 32768, normalize=False)
    track = stitch([quiet, loud], 250)
    out = normalise(track)
    gains = block_gain_db(full_scale(track), full_scale(out))
    assert gains.max() - gains.min() < 0.1  # one gain for the whole track
    assert true_peak_dbfs(full_scale(out)) <= CEILING
    # Clip by clip the gain would jump by the clips' difference (18 dB) at the join.
    apart = stitch([normalise(quiet), normalise(loud)], 250)
    jumps = block_gain_db(full_scale(track), full_scale(apart))
    assert jumps.max() - jumps.min() > 10


def test_the_radio_stream_glides_from_clip_to_clip():
    stream = StreamNormaliser()
    clips = [
        samples_to_segment(sine(330, 2.0, amplitude=a)[np.newaxis] * 32768, normalize=False)
        for a in (0.05, 0.4, 0.1, 0.1)
    ]
    outs = [stream(clip) for clip in clips]
    tail = stream.flush()
    assert tail is not None and stream.flush() is None
    played = np.concatenate([full_scale(o) for o in [*outs, tail]], axis=-1)
    heard = np.concatenate([full_scale(c) for c in clips], axis=-1)
    assert played.shape == heard.shape  # nothing lost, nothing added
    gains = block_gain_db(heard, played)
    assert np.abs(np.diff(gains)).max() < 1.0  # no step anywhere, joins included
    assert true_peak_dbfs(played) <= CEILING
    # Down to the loud clip within the held 200 ms: it plays at the target, not limited.
    second = played[:, 2 * RATE + RATE // 2 : 4 * RATE - RATE // 4]
    assert rms_dbfs(second) == pytest.approx(TARGET, abs=0.5)
    # Up again slowly over the next clip; the one after is at the target.
    last = played[:, 6 * RATE + RATE // 2 : 8 * RATE - RATE // 4]
    assert rms_dbfs(last) == pytest.approx(TARGET, abs=0.5)


def test_a_minute_of_stereo_takes_well_under_a_few_seconds():
    """Vectorised: a per-sample Python loop would take minutes. (About 0.5 s on a 2-core CPU
    with one torch thread; the bound allows for a loaded test machine.)"""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 60 * RATE)) * 0.05
    x[:, :: RATE // 3] = 0.8  # beats for the limiter to catch
    started = time.perf_counter()
    out = normalise_samples(x)
    assert time.perf_counter() - started < 4.0
    assert true_peak_dbfs(out) <= CEILING
