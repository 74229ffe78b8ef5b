"""Songs, not clips: sections (intro, verse, chorus...) at one steady tempo, a chorus that returns.

A song is planned once from its `SongSpec` and rendered one clip at a time, so the bot can give
each clip its own queue turn (other people's jobs run in between) and store finished clips as
files: every piece here is pure and restartable.

- `plan_song(spec)` lays the song on the tempo grid (riffusion_core.tempo): each clip holds whole
  bars and keeps exactly its bars' samples, so every join falls on a bar line and the beat holds
  across the whole song without drift.
- A label's clips take seeds derived from (song seed, label, clip position in the section, how
  often the label was re-rolled), so the second chorus is the first chorus again; "new chorus"
  re-rolls only that label.
- Where the label changes, the section's first clip is Riffusion's interpolation from the
  previous section (its prompt and last seed) to the new one at alpha 0.5: the change is
  blended over the clip's bars instead of cut.
- `render_song_clip` renders one clip (one pipeline call); `assemble` joins the clips, cuts the
  end on a beat, normalises the song as one and draws the labelled strip; `render_song` does it
  all in one call for the CLI.

Each clip is img2img from a tempo loop named f"{style}@{bpm:g}bpm" (riffusion_core.seed_images
resolves such names to a loop exactly `clip_grid(bpm).width` px wide); `loop=None` renders from
text alone.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image

from riffusion_core.audio import (
    SAMPLE_RATE,
    AudioSegment,
    samples_to_segment,
    segment_to_samples,
    to_exchange_format,
)
from riffusion_core.clips import ClipPipeline, OnStep, ShouldCancel, render_clips
from riffusion_core.errors import RiffusionError
from riffusion_core.generation import (
    HOP_SAMPLES,
    MAX_GUIDANCE,
    MAX_SEED,
    MAX_STEPS,
    MIN_STEPS,
    GenerationRequest,
    PromptInput,
)
from riffusion_core.loudness import LoudnessSettings, normalise
from riffusion_core.strip import MAX_TIMELINE_WIDTH, side_by_side, timeline_strip
from riffusion_core.tempo import ClipGrid, bar_samples, beat_samples, check_bpm, clip_grid

MAX_SECTIONS = 8
MAX_LABEL_CHARS = 24
MAX_SECTION_PROMPT_CHARS = 300  # forms add a few words; CLIP reads only ~75 tokens anyway
MIN_SONG_S = 30.0
MAX_SONG_S = 240.0
DEFAULT_LOOP = "backbeat"
TRANSITION_ALPHA = 0.5
JOIN_CROSSFADE_MS = 10  # as tracks.CHAIN_CROSSFADE_MS: only hides the phase step at a bar line
END_FADE_BEATS = 0.5  # the song's last half beat fades out: the last hit rings down, on the beat
MAX_RESEED = 1000
_LABEL = re.compile(r"[a-z0-9][a-z0-9 _-]*")


# ----------------------------------------------------------------------------- structures
class SongError(RiffusionError, ValueError):
    """A song request that cannot be made: the message names the problem for the user."""


@dataclass(frozen=True)
class Section:
    """One part of a song: a label (the same label is the same music) and its prompt."""

    label: str
    prompt: str


def _label(text: str, where: str) -> str:
    label = " ".join(text.split()).casefold()
    if not label:
        raise SongError(f"{where} has no label: write it as `label: prompt`.")
    if len(label) > MAX_LABEL_CHARS or not _LABEL.fullmatch(label):
        raise SongError(
            f"{where}: {text.strip()!r} is not a label; use a short name such as intro, verse, "
            f"chorus or outro (letters, digits, at most {MAX_LABEL_CHARS} characters)."
        )
    return label


def _check_prompt(prompt: str, label: str) -> str:
    prompt = " ".join(prompt.split())
    if len(prompt) > MAX_SECTION_PROMPT_CHARS:
        raise SongError(
            f"The prompt of {label!r} is too long ({len(prompt)} characters): keep each section "
            f"under {MAX_SECTION_PROMPT_CHARS}."
        )
    return prompt


def parse_structure(text: str) -> tuple[Section, ...]:
    """Sections from `intro: ambient pads | verse: lofi beat | chorus: sax solo | verse | ...`.

    Labels are trimmed and case-insensitive; a bare label reuses the prompt given to it anywhere
    in the structure (so a chorus comes back as the same chorus). Raises RiffusionError (also a
    ValueError) with one sentence for the user.
    """
    if not text or not text.strip():
        raise SongError(
            "The song structure is empty: write sections like `intro: ambient pads | verse: lofi "
            "beat | chorus: jazz sax | verse | chorus`."
        )
    parts = text.split("|")
    if len(parts) > MAX_SECTIONS:
        raise SongError(
            f"A song has at most {MAX_SECTIONS} sections, not {len(parts)}: merge some or drop "
            "the repeats."
        )
    labels: list[str] = []
    prompts: dict[str, str] = {}
    for number, part in enumerate(parts, start=1):
        where = f"Section {number}"
        if not part.strip():
            raise SongError(f"{where} is empty: remove the extra `|`.")
        head, colon, rest = part.partition(":")
        label = _label(head, where)
        prompt = _check_prompt(rest, label) if colon else ""
        if prompt:
            known = prompts.setdefault(label, prompt)
            if known != prompt:
                raise SongError(
                    f"{label!r} has two different prompts: give its prompt once and repeat the "
                    f"bare label, or give the second one a new label."
                )
        labels.append(label)
    sections = []
    for label in labels:
        if label not in prompts:
            raise SongError(
                f"{label!r} has no prompt: write `{label}: <what it sounds like>` the first "
                "time it appears."
            )
        sections.append(Section(label, prompts[label]))
    return tuple(sections)


FORMS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "pop": ("intro", "verse", "chorus", "verse", "chorus", "outro"),
        "short": ("intro", "chorus", "outro"),
        "ballad": ("intro", "verse", "chorus", "verse", "chorus", "bridge", "chorus", "outro"),
        "dance": ("intro", "build", "drop", "break", "build", "drop", "outro"),
        "loop": ("loop",),
    }
)
"""Named song forms for people who give one prompt; each label's words are in FLAVOURS."""

FLAVOURS: MappingProxyType[str, str] = MappingProxyType(
    {
        "intro": "sparse intro, few instruments",
        "verse": "verse, steady groove",
        "chorus": "full energy chorus",
        "bridge": "bridge, different chords",
        "outro": "calm outro, winding down",
        "build": "building tension, rising",
        "drop": "drop, full energy, heavy bass",
        "break": "breakdown, minimal",
        "loop": "",
    }
)
"""Words added to the one prompt per label: enough to steer the energy, not to change the style."""


def form_sections(name: str, prompt: str) -> tuple[Section, ...]:
    """The sections of form `name` (FORMS), each prompt `prompt` plus its label's flavour."""
    form = FORMS.get(name.strip().casefold())
    if form is None:
        raise SongError(f"Unknown song form {name!r}. Forms: {', '.join(FORMS)}.")
    base = " ".join(prompt.split()).rstrip(",")
    if not base:
        raise SongError("The prompt is empty: describe the music you want.")
    _check_prompt(base, "the song")
    return tuple(
        Section(label, f"{base}, {FLAVOURS[label]}" if FLAVOURS[label] else base) for label in form
    )


# ----------------------------------------------------------------------------- the request


@dataclass(frozen=True)
class SongSpec:
    """Everything a song is made from; stored as JSON so a restart can plan it again.

    `reseed` holds (label, n) pairs: the label's clips were re-rolled n times ("new chorus").
    `loop` is the tempo loop's style (None: text to audio); `denoising` is the img2img strength
    from that loop (0.75 as in Riffusion's web app).
    """

    sections: tuple[Section, ...]
    bpm: float = 120.0
    length_s: float = 60.0
    seed: int = 42
    loop: str | None = DEFAULT_LOOP
    steps: int = 50
    guidance: float = 7.0
    denoising: float = 0.75
    negative_prompt: str | None = None
    reseed: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if not self.sections:
            raise SongError("A song needs at least one section.")
        if len(self.sections) > MAX_SECTIONS:
            raise SongError(f"A song has at most {MAX_SECTIONS} sections.")
        try:
            object.__setattr__(self, "bpm", check_bpm(self.bpm))
        except (TypeError, ValueError) as exc:
            raise SongError(f"The tempo {self.bpm!r} is out of range: {exc}.") from None
        if not math.isfinite(self.length_s) or not MIN_SONG_S <= self.length_s <= MAX_SONG_S:
            raise SongError(
                f"A song lasts from {MIN_SONG_S:g} to {MAX_SONG_S:g} seconds, "
                f"not {self.length_s:g}."
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise SongError(f"The seed must be a whole number, not {self.seed!r}.")
        if not 0 <= self.seed <= MAX_SEED:
            raise SongError(f"The seed must be between 0 and {MAX_SEED}.")
        if not MIN_STEPS <= self.steps <= MAX_STEPS:
            raise SongError(f"The steps must be between {MIN_STEPS} and {MAX_STEPS}.")
        if not 0.0 <= self.guidance <= MAX_GUIDANCE:
            raise SongError(f"The guidance must be between 0 and {MAX_GUIDANCE:g}.")
        if not 0.0 < self.denoising <= 1.0:
            raise SongError("The denoising strength must be above 0 and at most 1.")
        labels = {s.label for s in self.sections}
        counts: dict[str, int] = {}
        for label, count in self.reseed:
            if label not in labels:
                raise SongError(f"There is no {label!r} in this song to make again.")
            if not 0 <= count <= MAX_RESEED:
                raise SongError(f"{label!r} can be made again at most {MAX_RESEED} times.")
            counts[label] = count
        object.__setattr__(self, "reseed", tuple(sorted(counts.items())))

    def reseeds(self, label: str) -> int:
        """How often `label` was re-rolled."""
        return dict(self.reseed).get(label, 0)

    def with_new(self, label: str) -> SongSpec:
        """The same song with every occurrence of `label` made again with new seeds."""
        label = _label(label, "The section")
        counts = dict(self.reseed)
        counts[label] = counts.get(label, 0) + 1
        return replace(self, reseed=tuple(counts.items()))

    def to_json(self) -> str:
        data = {
            "version": 1,
            "sections": [[s.label, s.prompt] for s in self.sections],
            "bpm": self.bpm,
            "length_s": self.length_s,
            "seed": self.seed,
            "loop": self.loop,
            "steps": self.steps,
            "guidance": self.guidance,
            "denoising": self.denoising,
            "negative_prompt": self.negative_prompt,
            "reseed": [list(pair) for pair in self.reseed],
        }
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SongSpec:
        data = json.loads(text)
        if data.get("version") != 1:
            raise ValueError(f"unknown song spec version {data.get('version')!r}")
        return cls(
            sections=tuple(Section(label, prompt) for label, prompt in data["sections"]),
            bpm=float(data["bpm"]),
            length_s=float(data["length_s"]),
            seed=int(data["seed"]),
            loop=data["loop"],
            steps=int(data["steps"]),
            guidance=float(data["guidance"]),
            denoising=float(data["denoising"]),
            negative_prompt=data["negative_prompt"],
            reseed=tuple((str(label), int(n)) for label, n in data["reseed"]),
        )


# ----------------------------------------------------------------------------- the plan


def tempo_loop_name(style: str, bpm: float) -> str:
    """The seed-image name of `style`'s loop at `bpm` (resolved by riffusion_core.seed_images)."""
    return f"{style}@{bpm:g}bpm"


def clip_seed(song_seed: int, label: str, position: int, reseeds: int) -> int:
    """The seed of a label's `position`-th clip in each of its sections: a stable hash, so the
    same song plans the same seeds on any machine and Python version."""
    key = f"{song_seed}|{label}|{position}|{reseeds}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") % (MAX_SEED + 1)


@dataclass(frozen=True)
class PlannedSection:
    index: int
    label: str
    prompt: str
    first_clip: int
    clip_count: int
    start_sample: int

    @property
    def start_s(self) -> float:
        return self.start_sample / SAMPLE_RATE


@dataclass(frozen=True)
class PlannedClip:
    """One clip of the song: what to render and which samples of it to keep.

    A transition clip (`end` set) interpolates from the previous section to this one at `alpha`.
    """

    index: int
    section: int
    label: str
    position: int  # within its section
    start: PromptInput
    end: PromptInput | None
    alpha: float
    seed_image: str | None
    width: int
    steps: int
    start_sample: int
    kept_samples: int

    @property
    def is_transition(self) -> bool:
        return self.end is not None

    @property
    def seed(self) -> int:
        """This clip's own seed (the end's for a transition)."""
        return (self.end or self.start).seed


@dataclass(frozen=True)
class SongPlan:
    spec: SongSpec
    grid: ClipGrid
    total_samples: int
    sections: tuple[PlannedSection, ...]
    clips: tuple[PlannedClip, ...]

    @property
    def duration_s(self) -> float:
        return self.total_samples / SAMPLE_RATE

    @property
    def section_starts_s(self) -> tuple[float, ...]:
        return tuple(s.start_s for s in self.sections)

    @property
    def bar_starts(self) -> tuple[int, ...]:
        """Sample of every bar line inside the song (the first is 0)."""
        bar = bar_samples(self.grid.bpm)
        starts = (round(k * bar) for k in range(math.ceil(self.total_samples / bar)))
        return tuple(s for s in starts if s < self.total_samples)


def clips_per_section(clips: int, labels: Sequence[str]) -> list[int]:
    """Equal weight per section: each gets clips // n. The rest go one per section, a label at
    a time (every occurrence of it, so a chorus is as long each time it comes back and starts
    from the same verse), middle labels before intro and outro (meant to be short); what no
    whole label can take goes to single sections in the same order."""
    n = len(labels)
    counts = [clips // n] * n
    rest = clips - n * (clips // n)
    order = sorted(range(n), key=lambda i: (labels[i] in ("intro", "outro"), i))
    for label in dict.fromkeys(labels[i] for i in order):
        where = [i for i in range(n) if labels[i] == label]
        if len(where) <= rest:
            for i in where:
                counts[i] += 1
            rest -= len(where)
    for i in order[:rest]:
        counts[i] += 1
    return counts


def plan_song(spec: SongSpec, *, max_length_s: float = MAX_SONG_S) -> SongPlan:
    """Lay `spec` on the tempo grid: clips, seeds, transitions and the samples each one keeps.

    The song lasts `spec.length_s` rounded to a whole beat; it has ceil(length / clip) clips,
    the last one cut short to end exactly there. `max_length_s` is the caller's cap (a server
    may allow less than MAX_SONG_S). Pure: the same spec always gives the same plan.
    """
    if spec.length_s > max_length_s:
        raise SongError(f"A song can last at most {max_length_s:g} seconds here.")
    grid = clip_grid(spec.bpm)
    beat = beat_samples(spec.bpm)
    total = round(max(1, round(spec.length_s * SAMPLE_RATE / beat)) * beat)
    count = max(1, math.ceil(total / grid.clip_samples))
    if count > 1 and grid.bounds(count - 1)[0] >= total:  # rounding left the last clip empty
        count -= 1
    labels = [s.label for s in spec.sections]
    if count < len(labels):
        raise SongError(
            f"A {total / SAMPLE_RATE:.0f}-second song at {spec.bpm:g} BPM has room for {count} "
            f"clips, fewer than its {len(labels)} sections: make it longer or use fewer sections."
        )
    seed_image = None if spec.loop is None else tempo_loop_name(spec.loop, spec.bpm)
    sections: list[PlannedSection] = []
    clips: list[PlannedClip] = []
    for index, (section, n) in enumerate(
        zip(spec.sections, clips_per_section(count, labels), strict=True)
    ):
        first = len(clips)
        sections.append(
            PlannedSection(index, section.label, section.prompt, first, n, grid.bounds(first)[0])
        )
        reseeds = spec.reseeds(section.label)
        for position in range(n):
            own = PromptInput(
                prompt=section.prompt,
                seed=clip_seed(spec.seed, section.label, position, reseeds),
                negative_prompt=spec.negative_prompt,
                guidance=spec.guidance,
                denoising=spec.denoising,
            )
            start, end, alpha = own, None, 0.0
            changed = index > 0 and spec.sections[index - 1].label != section.label
            if position == 0 and changed:
                before = clips[-1]
                start = replace(own, prompt=spec.sections[index - 1].prompt, seed=before.seed)
                end, alpha = own, TRANSITION_ALPHA
            clip_index = len(clips)
            begin, stop = grid.bounds(clip_index)
            clips.append(
                PlannedClip(
                    index=clip_index,
                    section=index,
                    label=section.label,
                    position=position,
                    start=start,
                    end=end,
                    alpha=alpha,
                    seed_image=seed_image,
                    width=grid.width,
                    steps=spec.steps,
                    start_sample=begin,
                    kept_samples=min(stop, total) - begin,
                )
            )
    return SongPlan(spec, grid, total, tuple(sections), tuple(clips))


def song_clip_request(plan: SongPlan, index: int) -> GenerationRequest:
    """The GenerationRequest of clip `index` (a blend of two ends for a transition clip)."""
    clip = plan.clips[index]
    return GenerationRequest(
        start=clip.start,
        end=clip.end,
        alpha=clip.alpha,
        num_inference_steps=clip.steps,
        seed_image=clip.seed_image,
        width=clip.width,
    )


# ----------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class SongClip:
    """A rendered clip: its spectrogram, its audio cut to exactly its bars, and the few ms after
    the bar line (`overhang`) that the next clip crossfades with.

    Store `stored_audio` (one file) and rebuild with `SongClip.from_stored`.
    """

    index: int
    image: Image.Image
    audio: AudioSegment
    overhang: AudioSegment

    @property
    def stored_audio(self) -> AudioSegment:
        return self.audio + self.overhang

    @classmethod
    def from_stored(
        cls, plan: SongPlan, index: int, image: Image.Image, stored: AudioSegment
    ) -> SongClip:
        return _cut(plan, index, image, stored)


def _cut(plan: SongPlan, index: int, image: Image.Image, audio: AudioSegment) -> SongClip:
    kept = plan.clips[index].kept_samples
    audio = to_exchange_format(audio)
    frames = int(audio.frame_count())
    if frames < kept:
        raise ValueError(f"clip {index} has {frames} samples, fewer than its {kept} bars")
    extra = min(frames, kept + JOIN_CROSSFADE_MS * SAMPLE_RATE // 1000)
    return SongClip(
        index, image, audio.get_sample_slice(0, kept), audio.get_sample_slice(kept, extra)
    )


def render_song_clip(
    pipe: ClipPipeline,
    plan: SongPlan,
    index: int,
    on_step: OnStep | None = None,
    should_cancel: ShouldCancel | None = None,
) -> SongClip:
    """Render clip `index` (one pipeline call) and cut it to its bars at sample precision."""
    [result] = render_clips(
        pipe, [song_clip_request(plan, index)], on_step=on_step, should_cancel=should_cancel
    )
    return _cut(plan, index, result.image, result.audio)


@dataclass
class SongResult:
    """The finished song: one normalised track, its labelled strip and where sections start."""

    plan: SongPlan
    image: Image.Image
    audio: AudioSegment
    sections: tuple[PlannedSection, ...]
    assemble_s: float  # joining, cutting, normalising and drawing
    elapsed_s: float  # everything: the clips too when render_song made them
    clips: tuple[SongClip, ...] = ()  # what it was assembled from
    clip_elapsed_s: tuple[float, ...] = field(default=())

    @property
    def duration_s(self) -> float:
        return self.audio.frame_count() / self.audio.frame_rate

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": "song",
            "spec": json.loads(self.plan.spec.to_json()),
            "duration_s": round(self.duration_s, 4),
            "elapsed_s": round(self.elapsed_s, 3),
            "assemble_s": round(self.assemble_s, 3),
            "image_size": list(self.image.size),
            "bars_per_clip": self.plan.grid.bars,
            "clip_width": self.plan.grid.width,
            "sections": [
                {"label": s.label, "prompt": s.prompt, "start_s": round(s.start_s, 4)}
                for s in self.sections
            ],
            "clips": [
                {
                    "label": c.label,
                    "seed": c.seed,
                    "transition": c.is_transition,
                    "start_s": round(c.start_sample / SAMPLE_RATE, 4),
                }
                for c in self.plan.clips
            ],
        }


def _join(plan: SongPlan, clips: Sequence[SongClip]) -> np.ndarray:
    """The clips on the grid, (channels, total) in int16 units. At each bar line the new clip
    fades in over JOIN_CROSSFADE_MS while the old one fades out over its own overhang (its
    music after the bar), so the join keeps the grid: nothing moves, nothing is shortened."""
    parts = [segment_to_samples(c.audio) for c in clips]
    tails = [segment_to_samples(c.overhang) for c in clips]
    channels = max(p.shape[0] for p in parts)
    out = np.zeros((channels, plan.total_samples), dtype=np.float32)
    for clip, part in zip(plan.clips, parts, strict=True):
        out[:, clip.start_sample : clip.start_sample + part.shape[1]] = part
    for clip, tail in zip(plan.clips[:-1], tails[:-1], strict=True):
        length = tail.shape[1]
        if not length:
            continue
        at = clip.start_sample + clip.kept_samples
        fade = (np.arange(length, dtype=np.float32) + 0.5) / length
        region = out[:, at : at + length]
        region[:] = region * fade + tail * (1.0 - fade)
    return out


def assemble(
    plan: SongPlan,
    clips: Sequence[SongClip],
    *,
    loudness: LoudnessSettings | None = None,
    normalised: bool = True,
    max_width: int = MAX_TIMELINE_WIDTH,
) -> SongResult:
    """The song from its rendered clips (in plan order): joined on the bar grid, the last half
    beat faded, normalised as one track (one gain, so nothing pumps between sections) and drawn
    as one strip with section labels and bar marks, squeezed to `max_width` px.

    Normalising is most of assembly's time (its limiter's gain search over the whole song:
    bench/song_cost.py); `normalised=False` leaves the level for a caller that normalises at
    export anyway, so the song is not normalised twice.
    """
    started = time.perf_counter()
    if len(clips) != len(plan.clips) or [c.index for c in clips] != list(range(len(clips))):
        raise ValueError(f"assemble needs the plan's {len(plan.clips)} clips in order")
    for clip, planned in zip(clips, plan.clips, strict=True):
        if clip.audio.frame_count() != planned.kept_samples:
            raise ValueError(f"clip {clip.index} is not cut to its {planned.kept_samples} samples")
    samples = _join(plan, clips)
    fade = min(plan.total_samples, max(1, round(END_FADE_BEATS * beat_samples(plan.grid.bpm))))
    samples[:, -fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    audio = samples_to_segment(samples, SAMPLE_RATE, normalize=False)
    if normalised:
        audio = normalise(audio, loudness)
    image = song_strip(plan, [c.image for c in clips], max_width)
    took = time.perf_counter() - started
    return SongResult(
        plan, image, audio, plan.sections, assemble_s=took, elapsed_s=took, clips=tuple(clips)
    )


def song_strip(
    plan: SongPlan, images: Sequence[Image.Image], max_width: int = MAX_TIMELINE_WIDTH
) -> Image.Image:
    """Each clip's image cut to the columns of its kept samples, side by side (column x is
    sample 441 x of the song, with no drift), labelled at sections and ticked at bars."""

    def column(sample: int) -> int:
        return round(sample / HOP_SAMPLES)

    pieces = []
    for clip, image in zip(plan.clips, images, strict=True):
        width = column(clip.start_sample + clip.kept_samples) - column(clip.start_sample)
        pieces.append(image.crop((0, 0, max(1, min(width, image.width)), image.height)))
    strip = side_by_side(pieces)
    marks = [(column(s.start_sample), s.label) for s in plan.sections]
    return timeline_strip(strip, marks, [column(b) for b in plan.bar_starts], max_width)


def render_song(
    pipe: ClipPipeline,
    spec: SongSpec,
    on_step: OnStep | None = None,
    should_cancel: ShouldCancel | None = None,
) -> SongResult:
    """Plan, render every clip and assemble (the CLI's path; the bot renders clip by clip)."""
    started = time.perf_counter()
    plan = plan_song(spec)
    count = len(plan.clips)
    clips, took = [], []
    for index in range(count):

        def step(done: int, total: int, index: int = index) -> None:
            if on_step is not None:
                on_step(index * total + done, count * total)

        clip_started = time.perf_counter()
        clips.append(render_song_clip(pipe, plan, index, step, should_cancel))
        took.append(time.perf_counter() - clip_started)
    result = assemble(plan, clips)
    result.elapsed_s = time.perf_counter() - started
    result.clip_elapsed_s = tuple(took)
    return result
