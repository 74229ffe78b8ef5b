"""CLI subcommands `audio-to-image` and `image-to-audio` (spectrogram conversion)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from pathlib import Path

from riffusion_core.cli_subcommand import Subcommand
from riffusion_core.errors import RiffusionError
from riffusion_core.spectrogram_params import SpectrogramParams

IMAGE_SUFFIXES = (".png",)
AUDIO_SUFFIXES = (".wav", ".mp3")


DEFAULTS = SpectrogramParams()


def _whole_number(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is below {minimum}")
        return value

    return parse


def configure_audio_to_image(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="audio file (wav, mp3, ogg, flac...)")
    parser.add_argument("output", type=Path, help="spectrogram image to write (.png)")
    parser.add_argument(
        "--stereo", action="store_true", help="keep left and right (G and B); default mono"
    )
    # The reference's spectrogram parameters; the image's EXIF records them for the way back.
    parser.add_argument(
        "--min-frequency",
        type=_whole_number(0),
        default=DEFAULTS.min_frequency,
        metavar="HZ",
        help=f"lowest frequency, the bottom row (default {DEFAULTS.min_frequency} Hz)",
    )
    parser.add_argument(
        "--max-frequency",
        type=_whole_number(1),
        default=DEFAULTS.max_frequency,
        metavar="HZ",
        help=f"highest frequency, the top row (default {DEFAULTS.max_frequency} Hz; the model's)",
    )
    parser.add_argument(
        "--step-size-ms",
        type=_whole_number(1),
        default=DEFAULTS.step_size_ms,
        metavar="MS",
        help=f"time per image column (default {DEFAULTS.step_size_ms} ms)",
    )
    parser.add_argument(
        "--num-frequencies",
        type=_whole_number(1),
        default=DEFAULTS.num_frequencies,
        metavar="N",
        help=f"mel bins, the image height (default {DEFAULTS.num_frequencies}; the model's)",
    )
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, auto")


def audio_to_image_params(args: argparse.Namespace) -> SpectrogramParams:
    """The parameters asked for, or a RiffusionError saying which option to change."""
    params = dataclasses.replace(
        DEFAULTS,
        stereo=args.stereo,
        min_frequency=args.min_frequency,
        max_frequency=args.max_frequency,
        step_size_ms=args.step_size_ms,
        num_frequencies=args.num_frequencies,
    )
    nyquist = params.sample_rate // 2
    if params.max_frequency > nyquist:
        raise RiffusionError(
            f"--max-frequency can be at most {nyquist} Hz (half the {params.sample_rate} Hz "
            f"sample rate), not {params.max_frequency}."
        )
    if params.min_frequency >= params.max_frequency:
        raise RiffusionError(
            f"--min-frequency ({params.min_frequency} Hz) must be below --max-frequency "
            f"({params.max_frequency} Hz)."
        )
    if not params.is_valid():
        raise RiffusionError("These spectrogram parameters do not describe a usable spectrogram.")
    return params


def run_audio_to_image(args: argparse.Namespace) -> int:
    _check_suffix(args.output, IMAGE_SUFFIXES, "image")
    from riffusion_core.audio_decode import decode_audio
    from riffusion_core.converter import get_converter
    from riffusion_core.image import save_image

    params = audio_to_image_params(args)
    segment = decode_audio(args.input).segment
    converter = get_converter(params, _device(args.device))
    image = converter.spectrogram_image_from_audio(segment)
    save_image(image, args.output)
    print(f"Wrote {args.output} ({image.width} x {image.height}, {segment.duration_seconds:.2f} s)")
    return 0


def configure_image_to_audio(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="spectrogram image (.png, params from its EXIF)")
    parser.add_argument("output", type=Path, help="audio file to write (.wav or .mp3)")
    parser.add_argument("--seed", type=int, default=None, help="make the result reproducible")
    parser.add_argument(
        "--method",
        choices=("fast", "griffinlim"),
        default="fast",
        help="phase reconstruction: fast (default) or the reference 32-iteration Griffin-Lim",
    )
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, auto")


def run_image_to_audio(args: argparse.Namespace) -> int:
    _check_suffix(args.output, AUDIO_SUFFIXES, "audio")
    from riffusion_core.audio import export_audio
    from riffusion_core.converter import get_converter, image_params
    from riffusion_core.image import open_image

    image = open_image(args.input)
    params = dataclasses.replace(image_params(image), stereo=False)  # cache key: maths only
    converter = get_converter(params, _device(args.device))
    segment = converter.audio_from_spectrogram_image(image, seed=args.seed, method=args.method)
    export_audio(segment, args.output)
    channels = "stereo" if segment.channels == 2 else "mono"
    print(f"Wrote {args.output} ({segment.duration_seconds:.2f} s, {channels})")
    return 0


def _check_suffix(path: Path, allowed: tuple[str, ...], kind: str) -> None:
    """Refuse an output name we cannot write before doing any work."""
    if path.suffix.lower() not in allowed:
        raise RiffusionError(
            f"Cannot write {kind} to '{path}': the file name must end in {' or '.join(allowed)}."
        )


def _device(name: str) -> str:
    """A torch device name that exists here ('auto' picks CUDA when available)."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise RiffusionError(f"Unknown device '{name}': use cpu, cuda or auto.") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RiffusionError(f"Device '{name}' is not available here (no CUDA GPU); use cpu.")
    if device.type not in ("cpu", "cuda", "mps"):
        raise RiffusionError(f"Unsupported device '{name}': use cpu, cuda or auto.")
    return str(device)


SUBCOMMANDS = [
    Subcommand(
        name="audio-to-image",
        help="Turn an audio file into a Riffusion spectrogram image (PNG).",
        configure=configure_audio_to_image,
        run=run_audio_to_image,
    ),
    Subcommand(
        name="image-to-audio",
        help="Turn a Riffusion spectrogram image back into audio (WAV or MP3).",
        configure=configure_image_to_audio,
        run=run_image_to_audio,
    ),
]
