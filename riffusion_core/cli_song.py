"""`riffusion song`: a whole song from sections (or a named form and one prompt).

Writes the song to --out (MP3 or WAV by its suffix), its labelled strip as a PNG next to it and
a JSON record with the song's spec, from which the same song can be made again. Every input is
checked (and the song planned) before the slow model load, so a mistake costs one line at once.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from riffusion_core.cli_generate import (
    _load,
    _model_and_device,
    _Progress,
    fraction,
    non_negative_float,
    positive_float,
    positive_int,
    seed_int,
    versions,
)
from riffusion_core.cli_subcommand import Subcommand
from riffusion_core.errors import RiffusionError
from riffusion_core.seed_images.catalogue import NO_SEED_IMAGE
from riffusion_core.songs import (
    DEFAULT_LOOP,
    FORMS,
    SongSpec,
    form_sections,
    parse_structure,
    plan_song,
)

AUDIO_SUFFIXES = (".mp3", ".wav")


def configure_song(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "structure",
        nargs="?",
        default=None,
        help='sections, e.g. "intro: ambient pads | verse: lofi beat | chorus: jazz sax | verse '
        "| chorus | outro: ambient pads\" (a bare label repeats that section's music)",
    )
    parser.add_argument(
        "--form", default=None, help=f"instead of a structure: {', '.join(FORMS)} (with --prompt)"
    )
    parser.add_argument("--prompt", default=None, help="the one prompt of a --form song")
    parser.add_argument("--bpm", type=positive_float, default=120.0, help="tempo (60-180)")
    parser.add_argument(
        "--length", type=positive_float, default=60.0, help="seconds (30-240, default 60)"
    )
    parser.add_argument("--seed", type=seed_int, default=42)
    parser.add_argument(
        "--new",
        action="append",
        default=[],
        metavar="LABEL",
        help="make every LABEL section again with new seeds (repeat to re-roll again)",
    )
    parser.add_argument("--out", type=Path, required=True, help="the song file: .mp3 or .wav")
    parser.add_argument("--steps", type=positive_int, default=50, help="diffusion steps")
    parser.add_argument("--guidance", type=non_negative_float, default=7.0)
    parser.add_argument(
        "--denoising", type=fraction, default=0.75, help="how much of the tempo loop to repaint"
    )
    parser.add_argument("--negative-prompt", default=None)
    parser.add_argument(
        "--loop",
        default=DEFAULT_LOOP,
        help=f"tempo loop style the clips start from, or none for text to audio "
        f"(default {DEFAULT_LOOP})",
    )
    parser.add_argument("--model", default=None, help="Hugging Face id or local folder")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--scheduler", choices=("pndm", "dpmsolver++"), default="pndm")


def song_spec(args: argparse.Namespace) -> SongSpec:
    """The spec the arguments describe; RiffusionError with one line when they do not add up."""
    if args.structure is not None and args.form is not None:
        raise RiffusionError("Give either a structure or --form with --prompt, not both.")
    if args.structure is not None:
        if args.prompt is not None:
            raise RiffusionError("--prompt goes with --form; a structure has its own prompts.")
        sections = parse_structure(args.structure)
    elif args.form is not None:
        if args.prompt is None:
            raise RiffusionError(f"--form {args.form} needs --prompt: what should it sound like?")
        sections = form_sections(args.form, args.prompt)
    else:
        raise RiffusionError("Describe the song: a structure, or --form with --prompt.")
    loop = None if args.loop.strip().casefold() == NO_SEED_IMAGE else args.loop.strip()
    spec = SongSpec(
        sections=sections,
        bpm=args.bpm,
        length_s=args.length,
        seed=args.seed,
        loop=loop,
        steps=args.steps,
        guidance=args.guidance,
        denoising=args.denoising,
        negative_prompt=args.negative_prompt,
    )
    for label in args.new:
        spec = spec.with_new(label)
    return spec


def run_song(args: argparse.Namespace) -> int:
    from riffusion_core.audio import export_audio
    from riffusion_core.image import save_image
    from riffusion_core.songs import render_song

    if args.out.suffix.lower() not in AUDIO_SUFFIXES:
        raise RiffusionError(f"--out must name a .mp3 or .wav file, not {str(args.out)!r}.")
    spec = song_spec(args)
    plan_song(spec)  # refuses what cannot be planned before the model loads
    args.model, args.device = _model_and_device(args)
    pipe = _load(args)
    progress = _Progress("song")
    try:
        result = render_song(pipe, spec, on_step=progress)
    finally:
        progress.close()
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RiffusionError(f"Cannot create the folder for {str(args.out)!r}: {exc}.") from None
    png, record = args.out.with_suffix(".png"), args.out.with_suffix(".json")
    export_audio(result.audio, args.out)
    save_image(result.image, png)
    data = {
        "command": "song",
        "model": args.model,
        "device": args.device,
        "scheduler": args.scheduler,
        "versions": versions(),
        "result": result.to_dict(),
        "files": {"audio": args.out.name, "png": png.name},
    }
    record.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for path in (args.out, png, record):
        print(path)
    return 0


SUBCOMMANDS = [
    Subcommand(
        "song",
        "Make a whole song from sections (intro, verse, chorus...) at a steady tempo.",
        configure_song,
        run_song,
    )
]
