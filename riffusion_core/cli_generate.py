"""The riff / blend / remix subcommands of the `riffusion` CLI.

Each run writes three files named after the prompt and seed: the spectrogram PNG (EXIF
parameters attached), the MP3, and a JSON record. The JSON holds everything needed to make the
same PNG again (model, scheduler, device, seeds, steps, library versions) including `argv`, the
exact arguments to pass back to `riffusion` (add `--out DIR`).

`SUBCOMMANDS` plugs them into `riffusion_core.cli` (listed in its SUBCOMMAND_MODULES); each
`run_*` returns the exit status and raises RiffusionError for bad input, which the CLI prints as
one line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

from riffusion_core.cli_subcommand import Subcommand
from riffusion_core.errors import RiffusionError
from riffusion_core.generation import (
    CLIP_SECONDS,
    MAX_SEED,
    GenerationRequest,
    PromptInput,
    next_seed,
)
from riffusion_core.seed_images import DEFAULT_INTERPOLATION_SEED_IMAGE
from riffusion_core.seed_images.catalogue import NO_SEED_IMAGE, SeedImageCatalogue, scan_seed_folder
from riffusion_core.seed_images.loops import (
    DEFAULT_STYLE,
    LOOP_STYLES,
    TempoLoop,
    is_tempo_loop_name,
    parse_tempo_loop,
    tempo_loop,
)
from riffusion_core.tempo import MAX_BPM, MIN_BPM, bars_in

DEVICE_ENV_VAR = "RIFFUSION_DEVICE"
SEED_IMAGES_ENV_VAR = "SEED_IMAGES_DIR"
SCHEDULERS = ("pndm", "dpmsolver++")
SLUG_LENGTH = 40


# ----------------------------------------------------------------------------- argument types


def _number(kind: type, check: Callable[[float], bool], what: str) -> Callable[[str], Any]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if (isinstance(value, float) and not math.isfinite(value)) or not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    parse.__name__ = what
    return parse


positive_int = _number(int, lambda v: v > 0, "a whole number above 0")
seed_int = _number(
    int, lambda v: 0 <= v <= MAX_SEED, f"a seed (a whole number from 0 to {MAX_SEED})"
)
positive_float = _number(float, lambda v: v > 0, "a number above 0")
non_negative_float = _number(float, lambda v: v >= 0, "a number, 0 or more")
fraction = _number(float, lambda v: 0 < v <= 1, "a number above 0 and at most 1")
clip_count = _number(int, lambda v: 2 <= v <= 64, "a number of clips from 2 to 64")
target_rms = _number(float, lambda v: -40 <= v <= -3, "a loudness from -40 to -3 dBFS")
tempo_bpm = _number(
    float, lambda v: MIN_BPM <= v <= MAX_BPM, f"a tempo from {MIN_BPM:g} to {MAX_BPM:g} BPM"
)


# ----------------------------------------------------------------------------- parser


def seed_image_name(text: str) -> str | None:
    """--seed-image: a name or path as given; `none` (any case) means text to audio."""
    text = text.strip()
    return None if text.casefold() == NO_SEED_IMAGE else text


def _common(
    parser: argparse.ArgumentParser,
    *,
    steps: int,
    denoising: bool = True,
    seed_image: str | None = None,
) -> None:
    """Options shared by riff, blend and remix (`seed_image`: the command's default)."""
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG, MP3, JSON")
    parser.add_argument("--negative-prompt", default=None, help="what the music should avoid")
    parser.add_argument(
        "--steps", type=positive_int, default=steps, help=f"diffusion steps (default {steps})"
    )
    parser.add_argument(
        "--guidance",
        type=non_negative_float,
        default=7.0,
        help="how closely to follow the prompt (default 7)",
    )
    if denoising:
        default = "none, text to audio" if seed_image is None else f"{seed_image}, like Riffusion"
        parser.add_argument(
            "--seed-image",
            type=seed_image_name,
            default=seed_image,
            help="bundled seed image name or PNG path to start from (a beat loop), or none for "
            f"text to audio (default: {default})",
        )
        parser.add_argument(
            "--seed-images-dir",
            type=Path,
            default=None,
            help="a folder of seed spectrograms named by file (agile.png -> agile), e.g. "
            f"Riffusion's seed_images (default: ${SEED_IMAGES_ENV_VAR})",
        )
        parser.add_argument(
            "--denoising",
            type=fraction,
            default=0.75,
            help="with a seed image: how much to repaint it (default 0.75)",
        )
    parser.add_argument(
        "--model",
        default=None,
        help="Hugging Face id or local folder (default: $RIFFUSION_MODEL, else "
        "riffusion/riffusion-model-v1)",
    )
    parser.add_argument(
        "--device",
        default=None,
        help="auto, cpu, cuda, cuda:N or mps (default: $RIFFUSION_DEVICE, else auto)",
    )
    parser.add_argument(
        "--scheduler",
        choices=SCHEDULERS,
        default="pndm",
        help="pndm (the checkpoint's own) or dpmsolver++ (good at ~20-30 steps)",
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=4, help="clips rendered at once (default 4)"
    )
    parser.add_argument(
        "--target-rms",
        type=target_rms,
        default=-12.0,
        help="loudness of the MP3 in dBFS RMS (default -12, Riffusion's); a limiter keeps "
        "true peaks at or below -1 dBTP",
    )


def configure_riff(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt")
    parser.add_argument("--seed", type=seed_int, default=42)
    length = parser.add_mutually_exclusive_group()
    length.add_argument(
        "--duration",
        type=positive_float,
        default=None,
        help=f"seconds; longer than one clip ({CLIP_SECONDS:.2f} s) chains clips seed s -> s+1 "
        "as the Riffusion web app does (default: one clip); with --bpm, rounded to whole bars",
    )
    length.add_argument(
        "--bars",
        type=positive_int,
        default=None,
        help="with --bpm: the riff's length in bars of 4/4 (default: one clip's bars)",
    )
    parser.add_argument(
        "--bpm",
        type=tempo_bpm,
        default=None,
        help=f"a steady tempo ({MIN_BPM:g}-{MAX_BPM:g}): the seed image becomes a beat loop at "
        "that tempo, each clip holds whole bars and joins fall on bar lines (docs/songs.md)",
    )
    parser.add_argument(
        "--loop",
        choices=LOOP_STYLES,
        default=None,
        help=f"with --bpm: the loop's style (default {DEFAULT_STYLE})",
    )
    _common(parser, steps=50)


def configure_blend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt_a")
    parser.add_argument("prompt_b")
    parser.add_argument("--clips", type=clip_count, default=5, help="clips A -> B (default 5)")
    parser.add_argument("--seed-a", type=seed_int, default=42)
    parser.add_argument("--seed-b", type=seed_int, default=None, help="default: seed A + 1")
    parser.add_argument(
        "--denoising-b",
        type=fraction,
        default=None,
        help="denoising at prompt B; the strength moves linearly from --denoising to this "
        "(default: the same as --denoising)",
    )
    _common(parser, steps=50, seed_image=DEFAULT_INTERPOLATION_SEED_IMAGE)


def configure_remix(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", type=Path)
    parser.add_argument("prompt")
    parser.add_argument(
        "--strength",
        type=fraction,
        default=0.55,
        help="how much to change the input (default 0.55)",
    )
    parser.add_argument("--seed", type=seed_int, default=42)
    parser.add_argument(
        "--max-input",
        type=positive_float,
        default=60.0,
        help="use at most this many seconds of the input (default 60)",
    )
    parser.add_argument(
        "--start",
        type=non_negative_float,
        default=0.0,
        help="start this many seconds into the input (default 0)",
    )
    _common(parser, steps=25, denoising=False)


# ----------------------------------------------------------------------------- helpers


def slug(text: str, limit: int = SLUG_LENGTH) -> str:
    """A safe file-name fragment: ASCII letters, digits and dashes (never empty)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return cleaned[:limit].rstrip("-") or "riff"


def versions() -> dict[str, str]:
    """Library versions that decide the output pixels."""
    out = {}
    for name in ("torch", "diffusers", "transformers"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    import riffusion_core

    out["riffusion_core"] = riffusion_core.__version__
    return out


def _model_and_device(args: argparse.Namespace) -> tuple[str, str]:
    from riffusion_core.model import default_model, resolve_device

    model = args.model or default_model()
    device = args.device or os.environ.get(DEVICE_ENV_VAR, "").strip() or "auto"
    return model, str(resolve_device(device))


def _resolve_seed_image(args: argparse.Namespace) -> None:
    """Turn --seed-image into what the request takes, before the (slow) model load.

    A bundled name stays a name (its current one); a name from the seed image folder or a file
    becomes an absolute path, so the record works anywhere. A folder with a file that is not a
    usable spectrogram stops the run with a line naming the file.
    """
    name = args.seed_image
    if name is None:
        return
    catalogue = _seed_image_catalogue(args.seed_images_dir)
    if name in catalogue:
        args.seed_image = catalogue.request_value(name)
        return
    path = Path(name).expanduser()
    if not path.is_file():
        raise RiffusionError(
            f"Unknown seed image {name!r} (no such name, and no such file). Available seed "
            f"images: {', '.join(catalogue.names())}."
        )
    args.seed_image = str(path.resolve())


def _seed_image_catalogue(folder: Path | None) -> SeedImageCatalogue:
    """The bundled seed images plus the folder's (--seed-images-dir, else $SEED_IMAGES_DIR)."""
    if folder is None:
        raw = os.environ.get(SEED_IMAGES_ENV_VAR, "").strip()
        folder = Path(raw).expanduser() if raw else None
    scan = scan_seed_folder(folder)
    if scan.unusable:
        more = f" (and {len(scan.unusable) - 1} more)" if len(scan.unusable) > 1 else ""
        raise RiffusionError(f"Seed image folder {str(folder)!r}: {scan.unusable[0]}{more}")
    for line in scan.hidden:
        print(f"riffusion: note: {line}", file=sys.stderr)
    return scan.catalogue


def _load(args: argparse.Namespace):
    from riffusion_core.model import load_pipeline

    pipe = load_pipeline(args.model, device=args.device, show_progress=True)
    pipe.set_scheduler(args.scheduler)
    return pipe


class _Progress:
    """A tqdm bar on stderr fed by the pipeline's on_step(done, total)."""

    def __init__(self, label: str) -> None:
        from tqdm import tqdm

        self.bar = tqdm(desc=label, unit="step", file=sys.stderr, disable=None, leave=True)

    def __call__(self, done: int, total: int) -> None:
        if self.bar.total != total:
            self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def _common_argv(args: argparse.Namespace, *, denoising: bool = True) -> list[str]:
    argv = ["--steps", str(args.steps), "--guidance", repr(args.guidance)]
    if args.negative_prompt is not None:
        argv += ["--negative-prompt", args.negative_prompt]
    if denoising:
        name = NO_SEED_IMAGE if args.seed_image is None else args.seed_image  # resolved
        argv += ["--seed-image", name, "--denoising", repr(args.denoising)]
    argv += [
        "--model",
        args.model,
        "--device",
        args.device,
        "--scheduler",
        args.scheduler,
        "--batch-size",
        str(args.batch_size),
        "--target-rms",
        repr(args.target_rms),
    ]
    return argv


def _write(
    args: argparse.Namespace,
    stem: str,
    result,
    argv: list[str],
    extra: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Write <stem>.png/.mp3/.json into args.out and print their paths; the MP3 is the whole
    track normalised to the target loudness (riffusion_core.loudness)."""
    from riffusion_core.audio import export_audio
    from riffusion_core.image import save_image
    from riffusion_core.loudness import LoudnessSettings, normalise

    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RiffusionError(
            f"Cannot create the output folder {str(args.out)!r}: {exc.strerror or exc}."
        ) from None
    paths = {ext: args.out / f"{stem}.{ext}" for ext in ("png", "mp3", "json")}
    save_image(result.image, paths["png"])
    loudness = LoudnessSettings(target_rms_dbfs=args.target_rms)
    export_audio(normalise(result.audio, loudness), paths["mp3"])
    record = {
        "command": argv[0],
        "argv": argv,
        "model": args.model,
        "device": args.device,
        "scheduler": args.scheduler,
        "versions": versions(),
        "loudness": {
            "target_rms_dbfs": loudness.target_rms_dbfs,
            "ceiling_dbtp": loudness.ceiling_dbtp,
        },
        **(extra or {}),
        "result": result.to_dict(),
        "files": {ext: path.name for ext, path in paths.items()},
    }
    paths["json"].write_text(
        json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    for path in paths.values():
        print(path)
    return paths


def _prompt(text: str, seed: int, args: argparse.Namespace):
    if not text.strip():
        raise RiffusionError("The prompt is empty: describe the music you want.")
    fields = {
        "prompt": text,
        "seed": seed,
        "negative_prompt": args.negative_prompt,
        "guidance": args.guidance,
    }
    if hasattr(args, "denoising"):
        fields["denoising"] = args.denoising
    return PromptInput(**fields)


def _run(args: argparse.Namespace, label: str, work: Callable[[Any, _Progress], Any]):
    args.model, args.device = _model_and_device(args)
    pipe = _load(args)
    progress = _Progress(label)
    try:
        return work(pipe, progress)
    finally:
        progress.close()


# ----------------------------------------------------------------------------- commands


def _tempo_loop(args: argparse.Namespace) -> TempoLoop | None:
    """The tempo loop a riff starts from: --bpm [--loop], or a tempo loop named by --seed-image
    (what the JSON record replays); None for a riff without a tempo."""
    if args.bpm is not None and args.seed_image is not None:
        raise RiffusionError(
            "--bpm starts from a beat loop at that tempo (pick its style with --loop), so it "
            "cannot be combined with --seed-image; drop one of them."
        )
    if args.bpm is not None:
        return tempo_loop(args.loop or DEFAULT_STYLE, args.bpm)
    if args.loop is not None:
        raise RiffusionError("--loop needs --bpm.")
    if args.seed_image is not None and is_tempo_loop_name(args.seed_image):
        return parse_tempo_loop(args.seed_image)
    if args.bars is not None:
        raise RiffusionError("--bars needs --bpm (or a tempo loop as --seed-image).")
    return None


def run_riff(args: argparse.Namespace) -> int:
    from riffusion_core.tracks import riff_long

    start = _prompt(args.prompt, args.seed, args)
    loop = _tempo_loop(args)
    if loop is not None:
        return _run_riff_in_tempo(args, start, loop)
    _resolve_seed_image(args)
    duration = args.duration if args.duration is not None else CLIP_SECONDS
    request = GenerationRequest(
        start=start, num_inference_steps=args.steps, seed_image=args.seed_image
    )
    result = _run(
        args,
        "riff",
        lambda pipe, progress: riff_long(
            pipe, request, duration, batch_size=args.batch_size, on_step=progress
        ),
    )
    argv = ["riff", args.prompt, "--seed", str(args.seed), *_common_argv(args)]
    if args.duration is not None:
        argv += ["--duration", repr(args.duration)]
    _write(args, f"{slug(args.prompt)}_seed{args.seed}", result, argv)
    return 0


def _run_riff_in_tempo(args: argparse.Namespace, start: PromptInput, loop: TempoLoop) -> int:
    """A riff of whole bars from the tempo's loop, at the tempo grid's width. Its record names
    the loop as --seed-image with --bars, which replays the same riff."""
    from riffusion_core.tracks import riff_in_tempo

    grid = loop.grid
    if args.bars is not None:
        bars = args.bars
    elif args.duration is not None:
        bars = bars_in(args.duration, grid.bpm)
    else:
        bars = grid.bars
    args.seed_image = loop.name
    _resolve_seed_image(args)  # a name: stays one, checked against the catalogue
    request = GenerationRequest(
        start=start, num_inference_steps=args.steps, seed_image=args.seed_image, width=grid.width
    )
    result = _run(
        args,
        "riff",
        lambda pipe, progress: riff_in_tempo(
            pipe, request, grid, bars, batch_size=args.batch_size, on_step=progress
        ),
    )
    argv = ["riff", args.prompt, "--seed", str(args.seed), *_common_argv(args)]
    argv += ["--bars", str(bars)]
    _write(args, f"{slug(args.prompt)}_seed{args.seed}", result, argv)
    return 0


def run_blend(args: argparse.Namespace) -> int:
    from riffusion_core.tracks import blend

    seed_b = next_seed(args.seed_a) if args.seed_b is None else args.seed_b
    denoising_b = args.denoising if args.denoising_b is None else args.denoising_b
    start = _prompt(args.prompt_a, args.seed_a, args)
    end = replace(_prompt(args.prompt_b, seed_b, args), denoising=denoising_b)
    # Validates steps, seed image and both ends' strengths now, before the slow model load.
    _resolve_seed_image(args)
    for alpha in (0.0, 1.0):
        GenerationRequest(
            start=start,
            end=end,
            alpha=alpha,
            num_inference_steps=args.steps,
            seed_image=args.seed_image,
        )
    result = _run(
        args,
        "blend",
        lambda pipe, progress: blend(
            pipe,
            start,
            end,
            args.clips,
            num_inference_steps=args.steps,
            seed_image=args.seed_image,
            batch_size=args.batch_size,
            on_step=progress,
        ),
    )
    argv = [
        "blend",
        args.prompt_a,
        args.prompt_b,
        "--clips",
        str(args.clips),
        "--seed-a",
        str(args.seed_a),
        "--seed-b",
        str(seed_b),
        *_common_argv(args),
        "--denoising-b",
        repr(denoising_b),
    ]
    stem = f"{slug(args.prompt_a, 24)}_to_{slug(args.prompt_b, 24)}_seed{args.seed_a}-{seed_b}"
    _write(args, stem, result, argv)
    return 0


def run_remix(args: argparse.Namespace) -> int:
    from riffusion_core.audio_decode import decode_audio
    from riffusion_core.tracks import remix

    prompt = _prompt(args.prompt, args.seed, args)
    data = _read_input(args.audio)
    decoded = decode_audio(data, max_duration_s=args.start + args.max_input + 1.0)
    result = _run(
        args,
        "remix",
        lambda pipe, progress: remix(
            pipe,
            decoded.segment,
            prompt,
            args.strength,
            args.steps,
            args.max_input,
            start_s=args.start,
            source_duration_s=decoded.source_duration_s,
            batch_size=args.batch_size,
            on_step=progress,
        ),
    )
    argv = [
        "remix",
        str(args.audio.resolve()),
        args.prompt,
        "--strength",
        repr(args.strength),
        "--seed",
        str(args.seed),
        "--max-input",
        repr(args.max_input),
        "--start",
        repr(args.start),
        *_common_argv(args, denoising=False),
    ]
    digest = hashlib.sha256(data).hexdigest()
    extra = {"input": {"path": str(args.audio.resolve()), "sha256": digest}}
    stem = f"remix_{slug(args.audio.stem, 24)}_{slug(args.prompt, 24)}_seed{args.seed}"
    _write(args, stem, result, argv, extra)
    return 0


def _read_input(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise RiffusionError(f"There is no audio file at {str(path)!r}.") from None
    except IsADirectoryError:
        raise RiffusionError(f"{str(path)!r} is a folder, not an audio file.") from None
    except OSError as exc:
        raise RiffusionError(f"Cannot read {str(path)!r}: {exc.strerror or exc}.") from None


SUBCOMMANDS = [
    Subcommand(
        "riff", "Generate music from a text prompt (PNG, MP3 and JSON).", configure_riff, run_riff
    ),
    Subcommand(
        "blend",
        "Morph from PROMPT_A to PROMPT_B over several crossfaded clips.",
        configure_blend,
        run_blend,
    ),
    Subcommand(
        "remix",
        "Repaint an audio file in the style of a prompt, window by window.",
        configure_remix,
        run_remix,
    ),
]
