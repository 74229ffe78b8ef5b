"""Synthesise the bundled seed images: seamless two-bar beat loops as 512x512 spectrograms.

Img2img from a seed image is how Riffusion keeps a rhythm: the model mostly repaints the timbre
and keeps the timing of the init spectrogram. A 512-px clip is 441 * 511 samples (5.11 s), so each
loop here is exactly two bars of 4/4 in that length (about 93.9 BPM) and every note's tail wraps
around to the start. Clips made from these seeds therefore line up end to start, which is what
makes a chain of clips play back without a gap or a stumble in the beat.

Everything is generated with numpy from fixed random seeds, so re-running the script gives the
same PNGs. Usage: `python scripts/make_seed_images.py [--out DIR] [--style NAME ...]`.

The names describe the loops and never reuse a name of Riffusion's own seed images (og_beat,
agile, marim, motorway, vibes): those are different recordings, which SEED_IMAGES_DIR can add.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

SAMPLE_RATE = 44100
HOP = 441  # 10 ms: one spectrogram column
WIDTH = 512  # image width in pixels (columns)
LOOP_SAMPLES = HOP * (WIDTH - 1)  # 225 351 samples = 5.110 s = two bars of 4/4
STEPS = 32  # sixteenth notes in two bars
BPM = 60.0 * 8 * SAMPLE_RATE / LOOP_SAMPLES  # 93.93...: eight beats in one clip
PAD_COLUMNS = 100  # 1 s of wrapped audio on each side so the STFT sees the loop, not an edge
PEAK = 0.89 * 32767  # -1 dBFS in int16 units

OUT_DIR = Path(__file__).resolve().parent.parent / "riffusion_core" / "seed_images"


def step_position(step: float) -> float:
    """Sample offset of a (possibly fractional, e.g. swung) sixteenth-note step in the loop."""
    return step * LOOP_SAMPLES / STEPS


def add_wrapped(out: np.ndarray, sound: np.ndarray, start: float) -> None:
    """Mix `sound` into the loop at `start`, wrapping the tail around to the loop's beginning."""
    n = len(out)
    first = round(start) % n
    idx = (first + np.arange(len(sound))) % n
    np.add.at(out, idx, sound)


def _time(duration_s: float) -> np.ndarray:
    return np.arange(round(duration_s * SAMPLE_RATE)) / SAMPLE_RATE


def _band(noise: np.ndarray, low_hz: float, high_hz: float) -> np.ndarray:
    """Band-limit white noise with an FFT mask (exact, deterministic, no filter design needed)."""
    spectrum = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(len(noise), 1 / SAMPLE_RATE)
    spectrum[(freqs < low_hz) | (freqs > high_hz)] = 0
    return np.fft.irfft(spectrum, len(noise))


def _fade_edges(sound: np.ndarray, attack_s: float = 0.002, release_s: float = 0.01) -> np.ndarray:
    """Ramp the start and end so an event never starts or stops with a click."""
    a = max(1, round(attack_s * SAMPLE_RATE))
    r = max(1, round(release_s * SAMPLE_RATE))
    env = np.ones(len(sound))
    env[:a] = np.linspace(0, 1, a)
    env[-r:] = np.minimum(env[-r:], np.linspace(1, 0, r))
    return sound * env


def kick(rng: np.random.Generator, decay_s: float = 0.22, punch_hz: float = 110.0) -> np.ndarray:
    t = _time(0.5)
    freq = 45 + punch_hz * np.exp(-t / 0.035)
    body = np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE) * np.exp(-t / decay_s)
    click = _band(rng.standard_normal(len(t)), 1500, 6000) * np.exp(-t / 0.003) * 0.3
    return _fade_edges(body + click)


def snare(rng: np.random.Generator, decay_s: float = 0.12) -> np.ndarray:
    t = _time(0.35)
    noise = _band(rng.standard_normal(len(t)), 1200, 9000)
    noise = noise / np.abs(noise).max() * np.exp(-t / decay_s)
    tone = np.sin(2 * np.pi * 185 * t) * np.exp(-t / 0.05) * 0.6
    return _fade_edges(noise + tone)


def clap(rng: np.random.Generator) -> np.ndarray:
    t = _time(0.3)
    noise = _band(rng.standard_normal(len(t)), 900, 5000)
    noise = noise / np.abs(noise).max()
    env = np.exp(-t / 0.09)
    for offset in (0.0, 0.011, 0.022):  # three quick hand claps smeared into one
        env += np.where(t >= offset, np.exp(-(t - offset) / 0.006), 0) * 0.8
    return _fade_edges(noise * env / env.max())


def hat(rng: np.random.Generator, decay_s: float = 0.03, length_s: float = 0.12) -> np.ndarray:
    t = _time(length_s)
    noise = _band(rng.standard_normal(len(t)), 6000, 9800)
    return _fade_edges(noise / np.abs(noise).max() * np.exp(-t / decay_s))


def tone(freq_hz: float, length_s: float, harmonics: int = 6, decay_s: float = 0.6) -> np.ndarray:
    """A saw-like note (harmonics at 1/k) with a gentle decay: a synth bass or pluck."""
    t = _time(length_s)
    wave = sum(np.sin(2 * np.pi * freq_hz * k * t) / k for k in range(1, harmonics + 1))
    return _fade_edges(wave * np.exp(-t / decay_s), attack_s=0.005, release_s=0.03)


def pad(freqs_hz: tuple[float, ...], length_s: float) -> np.ndarray:
    """A soft chord that swells in and out over its whole length."""
    t = _time(length_s)
    env = np.sin(np.pi * t / length_s) ** 2
    wave = sum(
        np.sin(2 * np.pi * f * t) + 0.3 * np.sin(2 * np.pi * 2.003 * f * t) for f in freqs_hz
    )
    return wave * env / len(freqs_hz)


def midi_hz(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _place(out: np.ndarray, sound: np.ndarray, steps, gain: float = 1.0, swing: float = 0.0):
    for step in steps:
        shift = swing if step % 2 == 1 else 0.0  # swing delays the off-beat sixteenths
        add_wrapped(out, sound * gain, step_position(step + shift))


def _bass_line(out: np.ndarray, notes: list[tuple[float, int, float]], gain: float, **kw) -> None:
    """notes: (start step, MIDI note, length in steps)."""
    step_s = LOOP_SAMPLES / STEPS / SAMPLE_RATE
    for start, note, length in notes:
        add_wrapped(out, tone(midi_hz(note), length * step_s, **kw) * gain, step_position(start))


def backbeat(rng: np.random.Generator) -> np.ndarray:
    """Straight 4/4 rock/pop groove: kick on 1 and 3, snare on 2 and 4 (the backbeat), bass."""
    out = np.zeros(LOOP_SAMPLES)
    _place(out, kick(rng), [0, 8, 10, 16, 24, 26])
    _place(out, snare(rng), [4, 12, 20, 28], gain=0.7)
    _place(out, hat(rng), range(0, 32, 2), gain=0.25)
    _bass_line(
        out,
        [
            (0, 33, 3),
            (4, 33, 2),
            (8, 36, 3),
            (12, 38, 2),
            (16, 31, 3),
            (20, 31, 2),
            (24, 36, 3),
            (28, 35, 3),
        ],
        gain=0.35,
        decay_s=0.4,
    )
    return out


def half_time(rng: np.random.Generator) -> np.ndarray:
    """Hip-hop half-time groove: snare on beat 3 of each bar, swung sixteenth hats, a deep bass."""
    out = np.zeros(LOOP_SAMPLES)
    _place(out, kick(rng, decay_s=0.3, punch_hz=90), [0, 3, 10, 16, 19, 22, 27])
    _place(out, snare(rng, decay_s=0.16), [8, 24], gain=0.8)
    _place(out, hat(rng, decay_s=0.02), range(32), gain=0.16, swing=0.33)
    _bass_line(
        out,
        [(0, 29, 6), (10, 32, 5), (16, 29, 6), (22, 27, 3), (27, 34, 4)],
        gain=0.4,
        harmonics=3,
        decay_s=0.8,
    )
    return out


def four_on_floor(rng: np.random.Generator) -> np.ndarray:
    """Electronic four-on-the-floor: kick every beat, clap on 2 and 4, open hats off the beat."""
    out = np.zeros(LOOP_SAMPLES)
    _place(out, kick(rng, decay_s=0.18, punch_hz=140), range(0, 32, 4))
    _place(out, clap(rng), [4, 12, 20, 28], gain=0.55)
    _place(out, hat(rng, decay_s=0.09, length_s=0.2), range(2, 32, 4), gain=0.3)
    _place(out, hat(rng), [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31], gain=0.1)
    _bass_line(
        out, [(s, 36 if s < 16 else 34, 1.6) for s in range(2, 32, 4)], gain=0.35, decay_s=0.15
    )
    return out


def ambient_pulse(rng: np.random.Generator) -> np.ndarray:
    """Sparse ambient pulse: one soft kick per bar, a shaker, and two swelling chords."""
    out = np.zeros(LOOP_SAMPLES)
    _place(out, kick(rng, decay_s=0.35, punch_hz=50), [0, 16], gain=0.6)
    _place(out, hat(rng, decay_s=0.05, length_s=0.18), [6, 14, 22, 30], gain=0.12)
    bar_s = LOOP_SAMPLES / 2 / SAMPLE_RATE
    chords = ((57, 60, 64, 69), (53, 57, 60, 64))  # A minor, F major
    for bar, chord in enumerate(chords):
        add_wrapped(
            out,
            pad(tuple(midi_hz(n) for n in chord), bar_s * 1.1) * 0.5,
            step_position(bar * 16 - 0.8),
        )
    _bass_line(out, [(0, 33, 14), (16, 29, 14)], gain=0.3, harmonics=2, decay_s=2.0)
    return out


@dataclass(frozen=True)
class Style:
    name: str
    make: Callable[[np.random.Generator], np.ndarray]
    seed: int


STYLES = {
    s.name: s
    for s in (
        Style("backbeat", backbeat, 1),  # once called og_beat (still an alias)
        Style("half_time", half_time, 2),
        Style("four_on_floor", four_on_floor, 3),
        Style("ambient_pulse", ambient_pulse, 4),
    )
}


def render_loop(name: str) -> np.ndarray:
    """One seamless loop of LOOP_SAMPLES samples (float64, int16 units, peak -1 dBFS)."""
    style = STYLES[name]
    loop = style.make(np.random.default_rng(style.seed))
    return loop * (PEAK / np.abs(loop).max())


def loop_to_segment(loop: np.ndarray, pad_columns: int = 0):
    """The loop as a mono AudioSegment, with `pad_columns` * 441 wrapped samples on each side."""
    from riffusion_core.audio import AudioSegment

    pad = pad_columns * HOP
    samples = np.concatenate([loop[len(loop) - pad :], loop, loop[:pad]]) if pad else loop
    pcm = np.round(samples).astype("<i2")
    return AudioSegment(pcm.tobytes(), frame_rate=SAMPLE_RATE, sample_width=2, channels=1)


def loop_image(loop: np.ndarray) -> Image.Image:
    """The loop's 512x512 spectrogram with EXIF, computed as if the loop played forever.

    The converter pads the signal's edges by reflection; converting one second of wrapped audio on
    each side and keeping the middle columns gives the columns of an endless loop instead, so the
    first and last columns show the same moment of the beat.
    """
    from riffusion_core.converter import get_converter
    from riffusion_core.spectrogram_params import SpectrogramParams

    converter = get_converter(SpectrogramParams(), "cpu")
    full = converter.spectrogram_image_from_audio(loop_to_segment(loop, PAD_COLUMNS))
    assert full.width == 2 * PAD_COLUMNS + WIDTH, full.size
    image = full.crop((PAD_COLUMNS, 0, PAD_COLUMNS + WIDTH, full.height))
    image.info["exif"] = full.getexif().tobytes()
    return image


def seed_image(name: str) -> Image.Image:
    return loop_image(render_loop(name))


def save_png(image: Image.Image, path: Path) -> None:
    image.save(path, format="PNG", exif=image.info["exif"], optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="folder for the PNGs")
    parser.add_argument("--style", action="append", choices=sorted(STYLES), help="default: all")
    parser.add_argument("--wav", action="store_true", help="also write each loop as a WAV")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.style or list(STYLES):
        loop = render_loop(name)
        path = args.out / f"{name}.png"
        save_png(loop_image(loop), path)
        if args.wav:
            loop_to_segment(loop).export(args.out / f"{name}.wav", format="wav")
        print(f"{path}  ({BPM:.2f} BPM, two bars in {LOOP_SAMPLES / SAMPLE_RATE:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(main())
