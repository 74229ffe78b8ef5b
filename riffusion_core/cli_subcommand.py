"""What a `riffusion` subcommand module provides: the contract between cli.py and its commands.

It lives apart from cli.py so that command modules (cli_convert, cli_generate) depend on this
small definition only, while cli.py loads them by name: the dependency runs one way.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Subcommand:
    """One CLI subcommand: `configure` adds its arguments, `run` does the work (exit status)."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
