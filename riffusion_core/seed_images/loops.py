"""Seed loops at any tempo: the bundled beat styles synthesised as whole bars of one clip.

Img2img from a seed image is how Riffusion keeps a rhythm: the model mostly repaints the timbre
and keeps the timing of the init spectrogram. A loop here is exactly `grid.bars` bars of 4/4 at
`grid.bpm` (riffusion_core.tempo), every note's tail wrapping around to the start, and its image
is `grid.width` px wide: the loop as if it played forever, from its first downbeat. Clips made
from it hold the same bars, so a chain cut on the bar grid keeps the beat across its joins.

The four bundled PNGs are these loops at BUNDLED_GRID (two bars in a 512-px clip, about
93.9 BPM); `scripts/make_seed_images.py` writes them. Any other tempo is named
`<style>@<bpm>bpm` (e.g. `backbeat@128bpm`, tempo to 0.1 BPM): a string that travels like any
seed image name, from which any machine makes the same image again. Each (style, tempo) is made
once and kept in a cache folder (`set_cache_dir`; by default the user's cache,
$XDG_CACHE_HOME/riffusion/loops or ~/.cache/riffusion/loops).

Everything is generated with numpy from fixed random seeds, so the same name always gives the
same picture (up to a rare 1-level pixel flip where float rounding meets the uint8 truncation).
"""

from __future__ import annotations

import functools
import math
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch
from PIL import Image
from pydub import AudioSegment

from riffusion_core.errors import RiffusionError
from riffusion_core.image import image_from_spectrogram
from riffusion_core.spectrogram import SpectrogramConverter
from riffusion_core.spectrogram_params import SpectrogramParams
from riffusion_core.tempo import BEATS_PER_BAR, MAX_BPM, MIN_BPM, ClipGrid, clip_grid

PARAMS = SpectrogramParams()  # the published model's: what img2img expects a seed image in
SAMPLE_RATE = PARAMS.sample_rate
HOP_SAMPLES = PARAMS.hop_length

STEPS_PER_BAR = 4 * BEATS_PER_BAR  # sixteenth notes
PATTERN_BARS = 2  # the styles' patterns are written over two bars and tiled
PAD_COLUMNS = 100  # 1 s of wrapped audio on each side so the STFT sees the loop, not an edge
PEAK = 0.89 * 32767  # -1 dBFS in int16 units
GENERATOR_VERSION = 1
"""Part of every cache file name: raise it when a change here changes the pictures."""

BUNDLED_BPM = 60.0 * PATTERN_BARS * BEATS_PER_BAR * SAMPLE_RATE / (HOP_SAMPLES * 511)
"""93.93...: two bars in exactly one 512-px clip (441 * 511 samples)."""
BUNDLED_GRID = ClipGrid(bpm=BUNDLED_BPM, bars=PATTERN_BARS, width=512)
"""The bundled PNGs' layout (built directly: clip_grid would round 511.0000001 columns up)."""
DEFAULT_STYLE = "backbeat"
# Former name -> current name. `og_beat` was the project's own synthesised loop carrying the name
# of Riffusion's default seed image, a different recording; it is `backbeat` now.
ALIASES: Mapping[str, str] = MappingProxyType({"og_beat": "backbeat"})
CACHE_ENV_VAR = "XDG_CACHE_HOME"
TEMPO_NAME = re.compile(r"(?P<style>[A-Za-z0-9_]+)@(?P<bpm>[0-9]+(?:\.[0-9]*)?)bpm", re.IGNORECASE)


# ----------------------------------------------------------------------------- sounds


@dataclass(frozen=True)
class _Loop:
    """Where the steps of one loop fall: `samples` long, `bars` bars."""

    samples: int
    bars: int

    @property
    def steps(self) -> int:
        return self.bars * STEPS_PER_BAR

    @property
    def step_s(self) -> float:
        return self.samples / self.steps / SAMPLE_RATE

    @property
    def bar_s(self) -> float:
        return self.samples / self.bars / SAMPLE_RATE

    def position(self, step: float) -> float:
        """Sample offset of a (possibly fractional, e.g. swung) sixteenth-note step."""
        return step * self.samples / self.steps

    def tiled(self, steps: Iterable[float]) -> list[float]:
        """The two-bar pattern's steps repeated over the loop's bars (cut after the last)."""
        pattern = list(steps)
        repeats = math.ceil(self.bars / PATTERN_BARS)
        period = PATTERN_BARS * STEPS_PER_BAR
        shifted = (s + period * r for r in range(repeats) for s in pattern)
        return [s for s in shifted if s < self.steps]


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
    return np.asarray(wave * env / len(freqs_hz))


def midi_hz(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _place(
    out: np.ndarray,
    loop: _Loop,
    sound: np.ndarray,
    steps: Iterable[float],
    gain: float = 1.0,
    swing: float = 0.0,
) -> None:
    for step in loop.tiled(steps):
        shift = swing if step % 2 == 1 else 0.0  # swing delays the off-beat sixteenths
        add_wrapped(out, sound * gain, loop.position(step + shift))


def _bass_line(
    out: np.ndarray,
    loop: _Loop,
    notes: list[tuple[float, int, float]],
    gain: float,
    harmonics: int = 6,
    decay_s: float = 0.6,
) -> None:
    """notes: (start step, MIDI note, length in steps) over the two-bar pattern."""
    length_of = {start: (note, length) for start, note, length in notes}
    period = PATTERN_BARS * STEPS_PER_BAR
    for start in loop.tiled(s for s, _, _ in notes):
        note, length = length_of[start % period]
        sound = tone(midi_hz(note), length * loop.step_s, harmonics=harmonics, decay_s=decay_s)
        add_wrapped(out, sound * gain, loop.position(start))


def backbeat(rng: np.random.Generator, loop: _Loop) -> np.ndarray:
    """Straight 4/4 rock/pop groove: kick on 1 and 3, snare on 2 and 4 (the backbeat), bass."""
    out = np.zeros(loop.samples)
    _place(out, loop, kick(rng), [0, 8, 10, 16, 24, 26])
    _place(out, loop, snare(rng), [4, 12, 20, 28], gain=0.7)
    _place(out, loop, hat(rng), range(0, 32, 2), gain=0.25)
    _bass_line(
        out,
        loop,
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


def half_time(rng: np.random.Generator, loop: _Loop) -> np.ndarray:
    """Hip-hop half-time groove: snare on beat 3 of each bar, swung sixteenth hats, a deep bass."""
    out = np.zeros(loop.samples)
    _place(out, loop, kick(rng, decay_s=0.3, punch_hz=90), [0, 3, 10, 16, 19, 22, 27])
    _place(out, loop, snare(rng, decay_s=0.16), [8, 24], gain=0.8)
    _place(out, loop, hat(rng, decay_s=0.02), range(32), gain=0.16, swing=0.33)
    _bass_line(
        out,
        loop,
        [(0, 29, 6), (10, 32, 5), (16, 29, 6), (22, 27, 3), (27, 34, 4)],
        gain=0.4,
        harmonics=3,
        decay_s=0.8,
    )
    return out


def four_on_floor(rng: np.random.Generator, loop: _Loop) -> np.ndarray:
    """Electronic four-on-the-floor: kick every beat, clap on 2 and 4, open hats off the beat."""
    out = np.zeros(loop.samples)
    _place(out, loop, kick(rng, decay_s=0.18, punch_hz=140), range(0, 32, 4))
    _place(out, loop, clap(rng), [4, 12, 20, 28], gain=0.55)
    _place(out, loop, hat(rng, decay_s=0.09, length_s=0.2), range(2, 32, 4), gain=0.3)
    _place(out, loop, hat(rng), range(1, 32, 2), gain=0.1)
    _bass_line(
        out,
        loop,
        [(s, 36 if s < 16 else 34, 1.6) for s in range(2, 32, 4)],
        gain=0.35,
        decay_s=0.15,
    )
    return out


def ambient_pulse(rng: np.random.Generator, loop: _Loop) -> np.ndarray:
    """Sparse ambient pulse: one soft kick per bar, a shaker, and two swelling chords."""
    out = np.zeros(loop.samples)
    _place(out, loop, kick(rng, decay_s=0.35, punch_hz=50), [0, 16], gain=0.6)
    _place(out, loop, hat(rng, decay_s=0.05, length_s=0.18), [6, 14, 22, 30], gain=0.12)
    chords = ((57, 60, 64, 69), (53, 57, 60, 64))  # A minor, F major, one a bar
    for bar in range(loop.bars):
        chord = chords[bar % len(chords)]
        add_wrapped(
            out,
            pad(tuple(midi_hz(n) for n in chord), loop.bar_s * 1.1) * 0.5,
            loop.position(bar * STEPS_PER_BAR - 0.8),  # swells in just before its bar
        )
    _bass_line(out, loop, [(0, 33, 14), (16, 29, 14)], gain=0.3, harmonics=2, decay_s=2.0)
    return out


@dataclass(frozen=True)
class Style:
    name: str
    make: Callable[[np.random.Generator, _Loop], np.ndarray]
    seed: int
    description: str


STYLES: Mapping[str, Style] = MappingProxyType(
    {
        s.name: s
        for s in (
            Style("backbeat", backbeat, 1, "rock/pop: kick on 1 and 3, snare on 2 and 4"),
            Style("half_time", half_time, 2, "hip-hop half time: snare on 3, swung hats"),
            Style("four_on_floor", four_on_floor, 3, "electronic: a kick on every beat"),
            Style("ambient_pulse", ambient_pulse, 4, "sparse: one soft kick a bar, chords"),
        )
    }
)
LOOP_STYLES: tuple[str, ...] = tuple(STYLES)


def style_name(name: str) -> str:
    """The current name of a style given by its name or a former one; RiffusionError if none."""
    current = ALIASES.get(name, name)
    if current not in STYLES:
        raise RiffusionError(f"Unknown loop style {name!r}. Loop styles: {', '.join(LOOP_STYLES)}.")
    return current


# ----------------------------------------------------------------------------- loops and images


def loop_samples(grid: ClipGrid) -> int:
    """The loop's length: the grid's bars, to the nearest sample."""
    return round(grid.clip_samples)


def render_loop(style: str, grid: ClipGrid = BUNDLED_GRID) -> np.ndarray:
    """One seamless loop of `grid.bars` bars (float64, int16 units, peak -1 dBFS)."""
    chosen = STYLES[style_name(style)]
    loop = chosen.make(np.random.default_rng(chosen.seed), _Loop(loop_samples(grid), grid.bars))
    return loop * (PEAK / np.abs(loop).max())


def loop_pcm(loop: np.ndarray, pad_columns: int = 0, length: int | None = None) -> np.ndarray:
    """The loop as 16-bit samples: `length` samples of it played on repeat (default: once),
    with `pad_columns` * 441 samples of the loop's end before them."""
    pad = pad_columns * HOP_SAMPLES
    length = len(loop) if length is None else length
    repeats = math.ceil((length + pad) / len(loop))
    ahead = np.tile(loop, repeats)[: length + pad]
    samples = np.concatenate([loop[len(loop) - pad :], ahead]) if pad else ahead
    return np.round(samples).astype("<i2")


def loop_to_segment(
    loop: np.ndarray, pad_columns: int = 0, length: int | None = None
) -> AudioSegment:
    """loop_pcm as a mono AudioSegment (to listen to, or to remix in tests)."""
    pcm = loop_pcm(loop, pad_columns, length)
    return AudioSegment(pcm.tobytes(), frame_rate=SAMPLE_RATE, sample_width=2, channels=1)


@functools.lru_cache(maxsize=1)
def _spectrogram() -> SpectrogramConverter:
    return SpectrogramConverter(PARAMS, "cpu")


def loop_image(loop: np.ndarray, width: int) -> Image.Image:
    """The loop's spectrogram, `width` px wide with EXIF, as if the loop played forever.

    Made as the converter makes any image from audio (riffusion_core.converter: the same mel
    spectrogram of the 16-bit samples, the same image mapping), minus the audio container.
    The STFT pads the signal's edges by reflection; converting one second of wrapped audio on
    each side and keeping the middle columns gives the columns of an endless loop instead, so
    column 0 is the loop's first downbeat and nothing at either edge is an artefact.
    """
    rendered = HOP_SAMPLES * (width - 1)
    samples = loop_pcm(loop, PAD_COLUMNS, rendered).astype(np.float32)[np.newaxis]
    mel = _spectrogram().mel_from_samples(torch.from_numpy(samples))
    full = image_from_spectrogram(mel, PARAMS)
    if full.width != 2 * PAD_COLUMNS + width:
        raise AssertionError(f"expected {2 * PAD_COLUMNS + width} columns, got {full.width}")
    image = full.crop((PAD_COLUMNS, 0, PAD_COLUMNS + width, full.height))
    image.info["exif"] = full.getexif().tobytes()
    return image


def make_loop_image(style: str, grid: ClipGrid = BUNDLED_GRID) -> Image.Image:
    """The style's loop at `grid` as a seed image of `grid.width` px (no cache)."""
    return loop_image(render_loop(style, grid), grid.width)


# ----------------------------------------------------------------------------- names and cache


def round_bpm(bpm: float) -> float:
    """Tempo to 0.1 BPM, as names and cache files carry it; ValueError outside 60-180."""
    if not math.isfinite(bpm):
        raise RiffusionError(f"The tempo must be a number of BPM, not {bpm}.")
    rounded = round(float(bpm), 1)
    if not MIN_BPM <= rounded <= MAX_BPM:
        raise RiffusionError(
            f"The tempo must be between {MIN_BPM:g} and {MAX_BPM:g} BPM, not {bpm:g}."
        )
    return rounded


@dataclass(frozen=True)
class TempoLoop:
    """A loop style at a tempo (0.1 BPM): a seed image anyone can make again from `name`."""

    style: str
    bpm: float

    @property
    def name(self) -> str:
        """The seed image name, e.g. `backbeat@128bpm` or `half_time@93.9bpm`."""
        return f"{self.style}@{self.bpm:g}bpm"

    @property
    def grid(self) -> ClipGrid:
        return clip_grid(self.bpm)

    @property
    def file_name(self) -> str:
        """The cache key: style, tempo to one decimal, generator version."""
        return f"{self.style}_{self.bpm:.1f}bpm_v{GENERATOR_VERSION}.png"


def tempo_loop(style: str, bpm: float) -> TempoLoop:
    """The loop of `style` (a former name allowed) at `bpm` rounded to 0.1; RiffusionError for
    an unknown style or a tempo outside 60-180 BPM."""
    return TempoLoop(style=style_name(style), bpm=round_bpm(bpm))


def is_tempo_loop_name(name: str) -> bool:
    """Whether `name` has the form of a tempo loop (`<style>@<bpm>bpm`), valid or not."""
    return TEMPO_NAME.fullmatch(name.strip()) is not None


def parse_tempo_loop(name: str) -> TempoLoop:
    """`backbeat@128bpm` -> TempoLoop; RiffusionError (one sentence) when it is not a valid one."""
    match = TEMPO_NAME.fullmatch(name.strip())
    if match is None:
        raise RiffusionError(
            f"{name!r} is not a tempo loop name: write a style and a tempo, e.g. "
            f"{DEFAULT_STYLE}@128bpm."
        )
    return tempo_loop(match["style"].lower(), float(match["bpm"]))


_cache_dir: Path | None = None
_making = threading.Lock()


def set_cache_dir(folder: Path | None) -> None:
    """Where tempo loops are kept in this process (None: the user's cache folder). The bot sets
    DATA_DIR/cache/loops; the CLI keeps the default."""
    global _cache_dir
    _cache_dir = folder


def cache_dir() -> Path:
    """The folder set by set_cache_dir, else $XDG_CACHE_HOME/riffusion/loops, else
    ~/.cache/riffusion/loops."""
    if _cache_dir is not None:
        return _cache_dir
    base = os.environ.get(CACHE_ENV_VAR, "").strip()
    root = Path(base).expanduser() if base else Path.home() / ".cache"
    return root / "riffusion" / "loops"


def tempo_loop_path(loop: TempoLoop, folder: Path | None = None) -> Path:
    """The loop's PNG in `folder` (default: cache_dir()), made first if it is not there.

    Written to a temporary file and renamed, so a reader never sees half a PNG and processes
    sharing the folder at worst make it twice. A folder that cannot be written falls back to
    the system's temporary folder rather than failing a generation.
    """
    folder = cache_dir() if folder is None else folder
    path = folder / loop.file_name
    if path.is_file():
        return path
    with _making:
        if path.is_file():
            return path
        image = make_loop_image(loop.style, loop.grid)
        try:
            return _write_atomically(image, path)
        except OSError:
            fallback = Path(tempfile.gettempdir()) / "riffusion-loops" / loop.file_name
            return fallback if fallback.is_file() else _write_atomically(image, fallback)


def save_png(image: Image.Image, path: Path) -> None:
    """Save a loop image as the bundled PNGs are saved: EXIF parameters kept, optimised."""
    image.save(path, format="PNG", exif=image.info["exif"], optimize=True)


def _write_atomically(image: Image.Image, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=path.stem, suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        save_png(image, Path(scratch))
        os.replace(scratch, path)
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)
    return path
