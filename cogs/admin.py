"""/admin: a server's own rules for the bot (Manage Server only). Users' own settings: /settings.

Discord hides /admin from members without Manage Server (default_permissions), but server admins
can re-grant it to anyone under Server Settings -> Integrations, so every subcommand checks the
caller's permissions again at run time. Settings are stored per guild
(bot/store/server_models.py) and enforced for every request by bot/policy/rules.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.policy.prompt_filter import MAX_RULES, FilterRuleError, compile_pattern, normalise_word
from bot.policy.rules import GuildRules, ServerPolicy
from bot.store.retention import Retention, StorageUsage
from bot.store.web_pages import gallery_url, new_token
from bot.ui.context import guild_id_of

if TYPE_CHECKING:
    from bot.app.client import RiffusionBot

NOT_ALLOWED = "You need the Manage Server permission to change the bot's settings here."


def describe_rules(rules: GuildRules) -> str:
    """Every setting of a guild, one line each (what /admin show prints)."""

    def limit(value: object, unit: str = "") -> str:
        return (
            "no limit of this server's own"
            if value is None
            else f"{value:g}{unit}"
            if isinstance(value, float)
            else f"{value}{unit}"
        )

    channels = ", ".join(f"<#{c}>" for c in rules.allowed_channels) or "all channels"
    return "\n".join(
        [
            f"**Generation:** {'⏸️ paused' if rules.paused else '▶️ running'}",
            f"**Allowed channels:** {channels}",
            f"**Queued jobs per user:** {limit(rules.max_queued_per_user)}",
            f"**Jobs per user per day:** {limit(rules.max_jobs_per_day)}",
            f"**Maximum duration:** {limit(rules.max_duration_s, ' s')}",
            f"**Maximum clips:** {limit(rules.max_clips)}",
            f"**Maximum steps:** {limit(rules.max_steps)}",
            f"**Blocked words:** {len(rules.filter.words)}",
            f"**Blocked patterns:** {len(rules.filter.patterns)}",
            f"**Web pages:** {'on' if rules.web_pages else 'off'}",
        ]
    )


def storage_text(retention: Retention, usage: StorageUsage) -> str:
    """/admin storage: disk use, what is kept, and the last cleanup (bot-wide figures)."""
    from cogs.info import human_bytes, retention_text

    return "\n".join(
        [
            f"**Disk used:** {human_bytes(usage.data_dir_bytes)} in DATA_DIR (the whole bot, "
            "all servers)",
            f"**Results with files:** {usage.results_with_files}, of which "
            f"{usage.favourites_with_files} favourited (kept whatever their age)",
            f"**Cleanup:** {retention_text(retention)}",
        ]
    )


def web_on_text(rules: GuildRules, base_url: str | None) -> str:
    """/admin web on: what it does, and the gallery's link."""
    text = (
        "🌐 Web pages are on. Results posted in channels @everyone can read get "
        "a page (its Info shows the link) with the spectrogram, a player and its command; "
        "results in DMs, private channels or private messages never do, and deleted ones "
        "disappear. `/admin web off` hides them all."
    )
    if base_url is None or rules.web_token is None:
        return text + (
            "\nThe bot's web side is not running (its operator sets WEB_PORT), so no page is "
            "served yet."
        )
    return text + (
        f"\nThis server's gallery of favourited results: {gallery_url(base_url, rules.web_token)}"
    )


def numbered(items: tuple[str, ...] | list[str], empty: str) -> str:
    if not items:
        return empty
    return "\n".join(f"{i}. `{item}`" for i, item in enumerate(items, 1))[:1900]


class Admin(commands.Cog):
    """The /admin command group."""

    admin = app_commands.Group(
        name="admin",
        description="Server settings for the music bot (Manage Server).",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )
    channels = app_commands.Group(
        name="channels", parent=admin, description="Channels where the bot makes music."
    )
    words = app_commands.Group(
        name="words", parent=admin, description="Words that may not appear in prompts."
    )
    patterns = app_commands.Group(
        name="patterns", parent=admin, description="Regular expressions prompts may not match."
    )

    def __init__(self, bot: RiffusionBot, policy: ServerPolicy) -> None:
        self.bot = bot
        self.policy = policy

    async def _allowed(self, interaction: discord.Interaction) -> bool:
        """The run-time permission check (answers the refusal itself)."""
        if interaction.guild_id is None:
            await self._say(interaction, "Server settings can only be changed in a server.")
            return False
        if not interaction.permissions.manage_guild:
            await self._say(interaction, NOT_ALLOWED)
            return False
        return True

    @staticmethod
    async def _say(interaction: discord.Interaction, text: str) -> None:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(
                text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
            )

    # ---- overview, pause, sync -------------------------------------------------------------

    @admin.command(name="show", description="Show this server's settings for the bot.")
    async def show(self, interaction: discord.Interaction) -> None:
        if await self._allowed(interaction):
            rules = await self.policy.rules(guild_id_of(interaction))
            await self._say(interaction, describe_rules(rules))

    @admin.command(
        name="pause",
        description="Pause generation here: queued requests wait, new ones are refused.",
    )
    async def pause(self, interaction: discord.Interaction) -> None:
        if await self._allowed(interaction):
            await self.policy.update(
                guild_id_of(interaction), paused=True, paused_by=interaction.user.id
            )
            await self._say(
                interaction,
                "⏸️ Generation is paused on this server. Queued requests "
                "wait; new ones are told the bot is paused. `/admin resume` resumes.",
            )

    @admin.command(name="resume", description="Resume generation on this server.")
    async def resume(self, interaction: discord.Interaction) -> None:
        if await self._allowed(interaction):
            await self.policy.update(guild_id_of(interaction), paused=False, paused_by=None)
            await self._say(interaction, "▶️ Generation resumed; queued requests go on.")

    @admin.command(name="sync", description="Re-sync the bot's slash commands with Discord.")
    async def sync(self, interaction: discord.Interaction) -> None:
        if not await self._allowed(interaction):
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            await self.bot.sync_commands_if_changed(force=True)
        except discord.HTTPException as exc:
            await self._say(
                interaction,
                f"Discord refused the sync ({exc.status}: {exc.text}); "
                "try again later (command creates are capped per day).",
            )
            return
        count = len(
            self.bot.tree.get_commands(
                guild=discord.Object(self.bot.settings.guild_id)
                if self.bot.settings.guild_id
                else None
            )
        )
        await self._say(interaction, f"Synced {count} commands with Discord.")

    @admin.command(
        name="storage", description="Disk used by the bot and its cleanup of old results' files."
    )
    async def storage(self, interaction: discord.Interaction) -> None:
        if not await self._allowed(interaction):
            return
        retention = self.bot.services.retention
        await interaction.response.defer(ephemeral=True, thinking=True)
        usage = await retention.usage()
        await self._say(interaction, storage_text(retention, usage))

    @admin.command(
        name="web",
        description="Web pages for results posted in public channels, and a favourites gallery.",
    )
    @app_commands.describe(state="on: public results get a page (a link in Info); off: none")
    async def web(self, interaction: discord.Interaction, state: Literal["on", "off"]) -> None:
        if not await self._allowed(interaction):
            return
        guild_id = guild_id_of(interaction)
        if state == "off":
            await self.policy.update(guild_id, web_pages=False)
            await self._say(
                interaction,
                "Web pages are off: no result of this server has a page, and its gallery link "
                "shows nothing (it works again with `/admin web on`).",
            )
            return
        token = (await self.policy.rules(guild_id)).web_token or new_token()
        rules = await self.policy.update(guild_id, web_pages=True, web_token=token)
        await self._say(interaction, web_on_text(rules, self.bot.settings.web_base_url))

    # ---- limits ----------------------------------------------------------------------------

    @admin.command(
        name="limits",
        description="Set per-user limits and maximums (0 removes a limit); no options shows them.",
    )
    @app_commands.describe(
        queued_per_user="Requests one member may have queued or running at once",
        jobs_per_day="Requests one member may make per UTC day",
        max_duration="Longest track, in seconds",
        max_clips="Most clips (5.1 s each) in one track",
        max_steps="Most diffusion steps per request",
    )
    async def limits(
        self,
        interaction: discord.Interaction,
        queued_per_user: app_commands.Range[int, 0, 100] | None = None,
        jobs_per_day: app_commands.Range[int, 0, 10000] | None = None,
        max_duration: app_commands.Range[float, 0.0, 600.0] | None = None,
        max_clips: app_commands.Range[int, 0, 100] | None = None,
        max_steps: app_commands.Range[int, 0, 200] | None = None,
    ) -> None:
        if not await self._allowed(interaction):
            return
        given = {
            "max_queued_per_user": queued_per_user,
            "max_jobs_per_day": jobs_per_day,
            "max_duration_s": max_duration,
            "max_clips": max_clips,
            "max_steps": max_steps,
        }
        changes = {k: (v or None) for k, v in given.items() if v is not None}
        steps, duration = changes.get("max_steps"), changes.get("max_duration_s")
        if steps is not None and steps < 2:
            await self._say(interaction, "Steps must be at least 2 (0 removes the limit).")
            return
        if duration is not None and duration < 1:
            await self._say(
                interaction, "The maximum duration must be at least 1 s (0 removes the limit)."
            )
            return
        guild_id = guild_id_of(interaction)
        rules = await (
            self.policy.update(guild_id, **changes) if changes else self.policy.rules(guild_id)
        )
        head = "Limits updated." if changes else "Current limits:"
        await self._say(interaction, f"{head}\n{describe_rules(rules)}")

    # ---- channels --------------------------------------------------------------------------

    @channels.command(name="add", description="Allow the bot to make music in a channel.")
    async def channels_add(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> None:
        if not await self._allowed(interaction):
            return
        guild_id = guild_id_of(interaction)
        current = (await self.policy.settings_row(guild_id))["allowed_channels"]
        if channel.id not in current:
            current.append(channel.id)
        await self.policy.update(guild_id, allowed_channels=current)
        await self._say(
            interaction, "The bot now makes music only in: " + ", ".join(f"<#{c}>" for c in current)
        )

    @channels.command(name="remove", description="Stop allowing a channel.")
    async def channels_remove(
        self, interaction: discord.Interaction, channel: discord.TextChannel
    ) -> None:
        if not await self._allowed(interaction):
            return
        guild_id = guild_id_of(interaction)
        current = (await self.policy.settings_row(guild_id))["allowed_channels"]
        if channel.id not in current:
            await self._say(interaction, f"<#{channel.id}> is not in the list.")
            return
        current.remove(channel.id)
        await self.policy.update(guild_id, allowed_channels=current)
        where = ", ".join(f"<#{c}>" for c in current) or "every channel (the list is empty)"
        await self._say(interaction, f"Removed. The bot makes music in: {where}")

    @channels.command(name="list", description="Where the bot may make music.")
    async def channels_list(self, interaction: discord.Interaction) -> None:
        if await self._allowed(interaction):
            rules = await self.policy.rules(guild_id_of(interaction))
            where = ", ".join(f"<#{c}>" for c in rules.allowed_channels)
            await self._say(
                interaction,
                f"Allowed channels: {where}"
                if where
                else "No list: the bot makes music in every channel it can post in.",
            )

    # ---- blocked words and patterns --------------------------------------------------------

    async def _add_rule(
        self, interaction: discord.Interaction, column: str, rule: str, noun: str
    ) -> list[str] | None:
        """Add a blocked word or pattern (once) and save; None, after saying why, when full."""
        guild_id = guild_id_of(interaction)
        current = (await self.policy.settings_row(guild_id))[column]
        if rule not in current:
            if len(current) >= MAX_RULES:
                await self._say(
                    interaction, f"There are already {MAX_RULES} {noun}; remove one first."
                )
                return None
            current.append(rule)
        await self.policy.update(guild_id, **{column: current})
        return current

    @words.command(
        name="add", description="Block a word or phrase in prompts (whole words, any case)."
    )
    async def words_add(
        self, interaction: discord.Interaction, word: app_commands.Range[str, 1, 100]
    ) -> None:
        if not await self._allowed(interaction):
            return
        try:
            word = normalise_word(word)
        except FilterRuleError as exc:
            await self._say(interaction, str(exc))
            return
        current = await self._add_rule(interaction, "blocked_words", word, "blocked words")
        if current is None:
            return
        await self._say(
            interaction,
            f"Blocked “{word}” in prompts and negative prompts ({len(current)} blocked word(s)).",
        )

    @words.command(name="remove", description="Unblock a word or phrase.")
    async def words_remove(
        self, interaction: discord.Interaction, word: app_commands.Range[str, 1, 100]
    ) -> None:
        if not await self._allowed(interaction):
            return
        guild_id = guild_id_of(interaction)
        current = (await self.policy.settings_row(guild_id))["blocked_words"]
        key = " ".join(word.split()).casefold()
        if key not in current:
            await self._say(interaction, f"“{key}” is not blocked.")
            return
        current.remove(key)
        await self.policy.update(guild_id, blocked_words=current)
        await self._say(interaction, f"Unblocked “{key}”.")

    @words.command(name="list", description="The blocked words.")
    async def words_list(self, interaction: discord.Interaction) -> None:
        if await self._allowed(interaction):
            rules = await self.policy.rules(guild_id_of(interaction))
            await self._say(interaction, numbered(rules.filter.words, "No blocked words."))

    @patterns.command(
        name="add", description="Block prompts matching a regular expression (case-insensitive)."
    )
    async def patterns_add(
        self, interaction: discord.Interaction, pattern: app_commands.Range[str, 1, 200]
    ) -> None:
        if not await self._allowed(interaction):
            return
        try:
            compile_pattern(pattern)
        except FilterRuleError as exc:
            await self._say(interaction, f"Not added: {exc}")
            return
        current = await self._add_rule(interaction, "blocked_patterns", pattern, "blocked patterns")
        if current is None:
            return
        await self._say(interaction, f"Blocked pattern #{current.index(pattern) + 1}: `{pattern}`")

    @patterns.command(name="remove", description="Unblock a pattern by its number in the list.")
    async def patterns_remove(
        self, interaction: discord.Interaction, number: app_commands.Range[int, 1, 100]
    ) -> None:
        if not await self._allowed(interaction):
            return
        guild_id = guild_id_of(interaction)
        current = (await self.policy.settings_row(guild_id))["blocked_patterns"]
        if number > len(current):
            await self._say(
                interaction, f"There is no pattern #{number} ({len(current)} in the list)."
            )
            return
        removed = current.pop(number - 1)
        await self.policy.update(guild_id, blocked_patterns=current)
        await self._say(interaction, f"Removed pattern `{removed}`.")

    @patterns.command(name="list", description="The blocked patterns, numbered.")
    async def patterns_list(self, interaction: discord.Interaction) -> None:
        if await self._allowed(interaction):
            rules = await self.policy.rules(guild_id_of(interaction))
            await self._say(interaction, numbered(rules.filter.patterns, "No blocked patterns."))


async def setup(bot: RiffusionBot) -> None:
    await bot.add_cog(Admin(bot, bot.services.policy))
