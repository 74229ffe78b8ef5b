"""/queue, /help and /about: where your requests stand, what the bot can do, what it runs on.

/help is built from the command tree at the moment it is asked, so a new command or option shows
up without anyone editing a help text; a command can name its own example in `extras["example"]`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands
from sqlalchemy.exc import SQLAlchemyError

import riffusion_core
from bot.store import records
from bot.store.files import disk_usage
from bot.store.retention import Retention

if TYPE_CHECKING:
    from bot.app.client import RiffusionBot

EXAMPLE_VALUES = {  # option name -> a sample value for generated examples
    "prompt": "jazz saxophone, smooth",
    "negative_prompt": "vocals",
    "seed": "1234",
    "steps": "30",
    "duration": "10",
    "word": "drill",
    "pattern": r"gang\s*sta",
    "number": "1",
}
TYPE_EXAMPLES = {
    discord.AppCommandOptionType.string: "text",
    discord.AppCommandOptionType.integer: "3",
    discord.AppCommandOptionType.number: "7.5",
    discord.AppCommandOptionType.boolean: "True",
    discord.AppCommandOptionType.channel: "#music",
    discord.AppCommandOptionType.user: "@someone",
    discord.AppCommandOptionType.attachment: "<a file>",
}
EMBED_DESCRIPTION_LIMIT = 4000


def walk(
    commands_: list[app_commands.Command | app_commands.Group],
) -> Iterator[tuple[app_commands.Command, app_commands.Group | None]]:
    """Every leaf command with its top-level group (None for a plain command)."""
    for command in commands_:
        if isinstance(command, app_commands.Group):
            for child in command.walk_commands():
                if isinstance(child, app_commands.Command):
                    yield child, command
        else:
            yield command, None


def example(command: app_commands.Command) -> str:
    """The command's own example, or one built from its required options."""
    own = command.extras.get("example")
    if own:
        return own
    parts = [f"/{command.qualified_name}"]
    for param in command.parameters:
        if not param.required:
            continue
        if param.choices:
            value = param.choices[0].name
        else:
            value = EXAMPLE_VALUES.get(param.name) or TYPE_EXAMPLES.get(param.type, "…")
        parts.append(f"{param.name}:{value}")
    return " ".join(parts)


def usage(command: app_commands.Command) -> str:
    options = " ".join(f"{p.name}" if p.required else f"[{p.name}]" for p in command.parameters)
    return f"`/{command.qualified_name}{' ' + options if options else ''}`"


def help_sections(
    tree: app_commands.CommandTree, *, admin: bool, in_guild: bool
) -> list[tuple[str, str]]:
    """(title, text) per top-level command or group the caller can use where they are."""
    sections: dict[str, list[str]] = {}
    top = sorted(tree.get_commands(type=discord.AppCommandType.chat_input), key=lambda c: c.name)
    for command, group in walk(top):
        root = group or command
        perms = root.default_permissions
        if perms is not None and perms.value and not admin:
            continue
        if not in_guild and getattr(root, "guild_only", False):
            continue
        lines = sections.setdefault(root.name, [])
        lines.append(f"{usage(command)} — {command.description}\n  e.g. `{example(command)}`")
    result = [(f"/{name}", "\n".join(lines)) for name, lines in sections.items()]
    menus = tree.get_commands(type=discord.AppCommandType.message)
    if menus:
        # Context-menu commands have no slash form: say where Discord shows them.
        text = "\n".join(
            f"`{menu.name}` — right-click (or long-press) a message with an audio file, then Apps"
            for menu in sorted(menus, key=lambda m: m.name)
        )
        text += "\nOr reply to one of my results with an audio file to remix it in that style."
        result.append(("Message menu", text))
    return result


def help_embeds(sections: list[tuple[str, str]]) -> list[discord.Embed]:
    """Pack sections into embeds within Discord's limits (4096 per description, 6000 total)."""
    embeds: list[discord.Embed] = []
    text = ""
    for title, body in sections:
        block = f"**{title}**\n{body}\n\n"
        if len(text) + len(block) > EMBED_DESCRIPTION_LIMIT and text:
            embeds.append(discord.Embed(description=text.strip()))
            text = ""
        text += block[:EMBED_DESCRIPTION_LIMIT]
    if text:
        embeds.append(discord.Embed(description=text.strip()))
    if embeds:
        embeds[0].title = "What this bot can do"
    return embeds


def gpu_name(device: str) -> str:
    try:
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    except Exception:  # no driver, or a device string torch does not know
        return "GPU"


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def human_duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = (
        [f"{days} d"] * bool(days)
        + [f"{hours} h"] * bool(hours)
        + [f"{minutes} min"] * bool(minutes)
    )
    return " ".join(parts) or f"{secs} s"


def retention_text(retention: Retention) -> str:
    """How long results' files are kept, and what the last cleanup freed."""
    days = retention.settings.retention_days
    if not days:
        return "Files of results are kept forever."
    text = f"Files of results are kept {days} days; favourites keep theirs."
    last = retention.last
    if last is None:
        return text + " No cleanup has run yet."
    return (
        text + f" Last cleanup <t:{round(last.at.timestamp())}:R>: freed "
        f"{human_bytes(last.bytes)} from {last.results} result(s)."
    )


class Info(commands.Cog):
    def __init__(self, bot: RiffusionBot) -> None:
        self.bot = bot
        self.started_monotonic = time.monotonic()

    @app_commands.command(
        name="queue", description="Your requests in the queue, and how busy the bot is."
    )
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def queue(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            self.queue_text(interaction.user.id, interaction.guild_id), ephemeral=True
        )

    def queue_text(self, user_id: int, guild_id: int | None) -> str:
        queue = self.bot.services.queue
        running = queue.running_count()
        queued = queue.waiting_count()
        lines = []
        mine = sorted(
            (
                a
                for a in self.bot.services.jobs.active.values()
                if a.requester.user_id == user_id and not a.queued.done
            ),
            key=lambda a: a.job_id,
        )
        for active in mine:
            position = queue.position(active.queued)
            where = "running" if position == 0 else f"#{position} in the queue"
            if position == 0 and active.queued.progress:
                step, total = active.queued.progress
                where += f" (step {step}/{total})"
            eta = queue.eta(active.queued)
            when = f", done <t:{round(eta)}:R>" if eta else ""
            lines.append(f"• {active.request.kind} **{active.params.prompt[:80]}** — {where}{when}")
        head = (
            "**Your requests:**\n" + "\n".join(lines)
            if lines
            else "You have no requests in the queue."
        )
        gpu = f"busy ({running} running)" if running else "idle"
        paused = guild_id is not None and queue.is_paused(guild_id)
        return "\n".join(
            [
                head,
                f"**Queue:** {queued} waiting, {running} running · **GPU:** {gpu}"
                + (" · ⏸️ paused on this server" if paused else ""),
            ]
        )

    @app_commands.command(name="help", description="Every command, with examples.")
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def help(self, interaction: discord.Interaction) -> None:
        in_guild = interaction.guild_id is not None
        admin = in_guild and interaction.permissions.manage_guild
        embeds = help_embeds(help_sections(self.bot.tree, admin=admin, in_guild=in_guild))
        await interaction.response.send_message(embeds=embeds[:10], ephemeral=True)

    @app_commands.command(
        name="about", description="The model, device, queue and uptime of this bot."
    )
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def about(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        embed = await self.about_embed()
        await interaction.followup.send(embed=embed, ephemeral=True)

    async def about_embed(self) -> discord.Embed:
        services = self.bot.services
        settings = services.settings
        if services.renderer is not None:
            device = services.renderer.device_name or settings.riffusion_device
            if device.startswith("cuda"):
                device += f" ({gpu_name(device)})"
        else:  # GENERATION_QUEUE=postgres: the GPUs are the workers'
            device = "\n".join(services.queue.workers_seen()) or "no GPU worker seen lately"
        queue = services.queue
        rate = queue.seconds_per_cost
        try:
            total, today = await self._generation_counts()
            generated = f"{total} in all, {today} today"
        except SQLAlchemyError:  # the database is down: /about still says what is wrong
            generated = "unknown (the database does not answer)"
            services.health.failed("database", "the database does not answer")
        used = await asyncio.to_thread(disk_usage, settings.data_dir)
        retention = services.retention
        embed = discord.Embed(title="About this bot")
        embed.add_field(name="Model", value=settings.riffusion_model, inline=False)
        embed.add_field(name="Device", value=device)
        embed.add_field(
            name="Queue", value=f"{queue.waiting_count()} waiting, {queue.running_count()} running"
        )
        embed.add_field(
            name="Speed", value=f"{rate:.2f} s per step" if rate else "not measured yet"
        )
        embed.add_field(name="Generated", value=generated)
        embed.add_field(
            name="Uptime", value=human_duration(time.monotonic() - self.started_monotonic)
        )
        embed.add_field(name="Disk used", value=f"{human_bytes(used)} in DATA_DIR")
        embed.add_field(name="Cleanup", value=retention_text(retention), inline=False)
        problems = services.health.problems
        if problems:
            embed.add_field(
                name="⚠️ Problems",
                value="\n".join(
                    f"{problem.what}, since <t:{int(problem.since.timestamp())}:R>"
                    for problem in problems
                ),
                inline=False,
            )
        if services.deliveries.waiting:
            embed.add_field(
                name="Waiting for Discord",
                value=f"{services.deliveries.waiting} result(s) made and not yet posted",
            )
        embed.add_field(
            name="Version",
            value=f"riffusion-discord {riffusion_core.__version__}, "
            f"discord.py {discord.__version__}",
            inline=False,
        )
        return embed

    async def _generation_counts(self) -> tuple[int, int]:
        return await records.generation_counts(self.bot.services.db)


async def setup(bot: RiffusionBot) -> None:
    await bot.add_cog(Info(bot))
