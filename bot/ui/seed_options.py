"""The `seed_image` option of a command: the catalogue's names as choices, or autocomplete.

Discord allows at most 25 choices. Up to that many (the names plus "none") the option lists them,
and Discord itself refuses anything else; beyond that it autocompletes from the catalogue and the
command checks the value it gets. Set when the extension loads, from the catalogue built at start,
on that cog's own copy of the command.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Coroutine
from typing import Any

import discord
from discord import app_commands

from riffusion_core.seed_images.catalogue import NO_SEED_IMAGE, SeedImageCatalogue

MAX_CHOICES = 25  # Discord's limit for an option's choices and for autocomplete suggestions
NONE_LABEL = "none (from scratch)"

Autocomplete = Callable[
    [discord.Interaction, str], Coroutine[Any, Any, list[app_commands.Choice[str]]]
]


def seed_image_choices(catalogue: SeedImageCatalogue) -> list[app_commands.Choice[str]] | None:
    """Every name and "none" as choices; None when they are more than Discord allows."""
    names = catalogue.names()
    if len(names) + 1 > MAX_CHOICES:
        return None
    return [
        *(app_commands.Choice(name=name, value=name) for name in names),
        app_commands.Choice(name=NONE_LABEL, value=NO_SEED_IMAGE),
    ]


def matching(catalogue: SeedImageCatalogue, typed: str) -> list[app_commands.Choice[str]]:
    """Autocomplete suggestions: "none" and the names containing what was typed, at most 25."""
    wanted = typed.strip().casefold()
    names = [NO_SEED_IMAGE, *catalogue.names()]
    found = [name for name in names if wanted in name.casefold()]
    return [app_commands.Choice(name=name, value=name) for name in found[:MAX_CHOICES]]


def offer_seed_images(
    command: app_commands.Command[Any, ..., Any],
    catalogue: SeedImageCatalogue,
    complete: Autocomplete,
    parameter: str = "seed_image",
) -> None:
    """Give `command`'s option the catalogue's names as choices, or `complete` when too many."""
    # discord.py copies a cog's commands for each instance but shares their parameters with the
    # class: this instance gets its own, so what one bot sets never reaches another.
    command._params[parameter] = copy.copy(command._params[parameter])
    choices = seed_image_choices(catalogue)
    if choices is not None:
        app_commands.choices(**{parameter: choices})(command)
    else:
        app_commands.autocomplete(**{parameter: complete})(command)
