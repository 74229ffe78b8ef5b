"""CLI subcommand `print-exif`: the spectrogram parameters a PNG carries, as the reference's does.

Images lose their EXIF on the way through some tools (Discord has stripped it at times), and an
image without it is read with the defaults; this says which case applies, and which values the
conversion back to audio will use.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from riffusion_core.cli_subcommand import Subcommand
from riffusion_core.spectrogram_params import (
    SpectrogramParams,
    exif_fields,
    exif_max_value,
)


def configure_print_exif(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="spectrogram image (.png)")


def exif_report(name: str, exif_tags: dict[str, Any], max_value: float | None) -> list[str]:
    """The lines print-exif shows for an image's spectrogram tags (no I/O, for tests)."""
    defaults = SpectrogramParams()
    if not exif_tags and max_value is None:
        lines = [f"{name} has no spectrogram EXIF; it is read with the defaults:"]
        lines += [f"  {f.name:<20} = {getattr(defaults, f.name)}" for f in _fields()]
        return lines
    lines = [f"{name}: spectrogram parameters (EXIF)"]
    for f in _fields():
        if f.name in exif_tags:
            lines.append(f"  {f.name:<20} = {exif_tags[f.name]}")
        else:
            lines.append(f"  {f.name:<20} = {getattr(defaults, f.name)} (not in the file: default)")
    lines.append(f"  {'max_value':<20} = {max_value if max_value is not None else 'not recorded'}")
    params = dataclasses.replace(defaults, **exif_tags)
    if not params.is_valid():
        lines.append("These values do not fit together: the image is read with the defaults.")
    return lines


def run_print_exif(args: argparse.Namespace) -> int:
    from riffusion_core.image import open_image

    image = open_image(args.image)
    exif = image.getexif()
    for line in exif_report(args.image.name, exif_fields(exif), exif_max_value(exif)):
        print(line)
    return 0


def _fields() -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(SpectrogramParams)


SUBCOMMANDS = [
    Subcommand(
        name="print-exif",
        help="Print the spectrogram parameters stored in an image's EXIF (or the defaults).",
        configure=configure_print_exif,
        run=run_print_exif,
    ),
]
