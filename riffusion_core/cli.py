"""`riffusion` command line: one argparse subcommand per task, gathered from a small registry.

Each module named in SUBCOMMAND_MODULES exposes `SUBCOMMANDS: list[Subcommand]` (Subcommand is
defined in cli_subcommand, which those modules import instead of this one); adding a
command (riff, blend, remix...) means adding a module to that tuple, nothing else. Modules import
their heavy dependencies (torch, diffusers) inside `run`, so `riffusion --help` stays quick.

Errors caused by the input (RiffusionError, unreadable or missing files) print one line on stderr
and exit with status 1; genuine bugs still show their traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from riffusion_core import __version__
from riffusion_core.cli_subcommand import Subcommand
from riffusion_core.errors import RiffusionError

SUBCOMMAND_MODULES: tuple[str, ...] = (
    "riffusion_core.cli_convert",
    "riffusion_core.cli_exif",
    "riffusion_core.cli_generate",
    "riffusion_core.cli_song",
)

EXIT_USER_ERROR = 1


def load_subcommands(modules: Sequence[str] = SUBCOMMAND_MODULES) -> list[Subcommand]:
    commands: list[Subcommand] = []
    for module_name in modules:
        commands.extend(importlib.import_module(module_name).SUBCOMMANDS)
    return commands


def build_parser(commands: Sequence[Subcommand]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="riffusion",
        description="Riffusion music generation: spectrogram images <-> audio, and generation.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in commands:
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.configure(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(load_subcommands())
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except RiffusionError as exc:
        return _fail(str(exc))
    except FileNotFoundError as exc:
        return _fail(f"File not found: {exc.filename or exc}")
    except (IsADirectoryError, PermissionError) as exc:
        return _fail(f"Cannot open {exc.filename or 'the file'}: {exc.strerror or exc}.")
    except KeyboardInterrupt:
        return _fail("Interrupted.")


def _fail(message: str) -> int:
    print(f"riffusion: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_USER_ERROR
