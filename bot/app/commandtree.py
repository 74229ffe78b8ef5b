"""The command tree: every slash command's options checked as declared, every failure answered.

Discord enforces option ranges, lengths and choices only in its client, and discord.py does not
check them again. A client that still has an older copy of a command (or a hand-made request)
can send values the bot never declared (`steps:0`, `clips:50`, an option since renamed), so the
declared limits are checked here once for every command, before it runs. And discord.py only
logs a command that raised: the user would see "The application did not respond". `on_error`
answers them instead; the log keeps the details.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import discord
from discord import app_commands

from bot.ui.replies import reply

log = logging.getLogger(__name__)

RELOAD = (
    "Your Discord app has an old copy of this command; please reload Discord (Ctrl+R, "
    "or restart the app) and try again."
)
FAILED = (
    "Sorry, something went wrong while running /{name}; please try again. If it keeps "
    "happening, tell the bot's owner (the details are in the bot's log)."
)


def _number(value: float) -> str:
    return f"{value:g}"


def _span(low: float | None, high: float | None) -> str:
    """The allowed range in words; a branch per bound so each number is known to be set."""
    if low is not None and high is not None:
        return f"between {_number(low)} and {_number(high)}"
    if low is not None:
        return f"at least {_number(low)}"
    if high is not None:
        return f"at most {_number(high)}"
    return "any number"  # unreachable: the caller found the value outside a bound


def option_problem(
    command: app_commands.Command[Any, ..., Any], options: dict[str, Any]
) -> str | None:
    """The first option that breaks the command's own declaration, as a line for the user."""
    params = {p.display_name: p for p in command.parameters}
    for name, value in options.items():
        param = params.get(name)
        if param is None:
            return f"/{command.qualified_name} has no option `{name}` any more."
        if param.choices:
            allowed = [c.value for c in param.choices]
            if value not in allowed:
                names = ", ".join(c.name for c in param.choices)
                return f"`{name}` must be one of: {names} (you sent {value!r})."
            continue
        low, high = param.min_value, param.max_value
        if isinstance(value, str):
            if high is not None and len(value) > high:
                return f"`{name}` can be at most {high} characters long (yours has {len(value)})."
            if low is not None and len(value) < low:
                return f"`{name}` needs at least {low} character(s)."
        elif (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and ((low is not None and value < low) or (high is not None and value > high))
        ):
            return f"`{name}` must be {_span(low, high)} (you sent {_number(value)})."
    return None


async def say(interaction: discord.Interaction, text: str) -> None:
    """A private answer that may fail quietly (the command failed already; the log has it)."""
    with contextlib.suppress(discord.HTTPException):
        await reply(interaction, text)


class RiffusionTree(app_commands.CommandTree):
    """CommandTree with the declared-options check and an answer for every failure."""

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.type is not discord.InteractionType.application_command:
            return True  # autocomplete sees partial values on purpose
        command = interaction.command
        if not isinstance(command, app_commands.Command):
            return True  # context menus have no options
        problem = option_problem(command, dict(iter(interaction.namespace)))
        if problem is None:
            return True
        log.info(
            "Refused /%s from user %s: %s", command.qualified_name, interaction.user.id, problem
        )
        await say(interaction, f"{problem} {RELOAD}")
        return False

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        await super().on_error(interaction, error)  # logs it, with the traceback
        command = interaction.command
        name = command.qualified_name if command is not None else "this command"
        if isinstance(error, app_commands.CommandSignatureMismatch):
            await say(interaction, RELOAD)
        else:
            await say(interaction, FAILED.format(name=name))
