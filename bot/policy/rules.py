"""Who may generate what, where and how much: one check every request passes through.

The job service (bot/jobs/service.py) calls `ServerPolicy.check` before queueing anything, so
/riff, /blend, remix, every button and the radio obey the same rules, each checked here once.
Rules come from the guild's /admin settings (GuildSettings in bot/store/server_models.py) over
the bot-wide defaults of Settings; in DMs only the bot-wide defaults apply. Every refusal names
the rule and the limit, so nobody is left guessing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

from bot.engine.tasks import RenderTask
from bot.limits import DEFAULT_UPLOAD_LIMIT
from bot.params import RiffParams
from bot.policy.prompt_filter import FilterTimeout, PromptFilter, describe
from bot.store import records, settings_rows
from bot.store.models import JobState
from bot.store.server_models import GuildSettings

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.engine.job_queue import JobQueue
    from bot.store.db import Database

log = logging.getLogger(__name__)

COUNTED_STATES = (
    JobState.QUEUED,
    JobState.RUNNING,
    JobState.MADE,
    JobState.RENDERED,
    JobState.DELIVERED,
)
FILTER_TIMEOUT_TEXT = (
    "The server's prompt filter could not finish checking this prompt in "
    "time; try a shorter prompt, or ask an admin to simplify the blocked "
    "patterns."
)


class Refusal(str):
    """A refusal about the moment rather than the request: the server is paused ("paused"), or
    the requester has used their share ("limit"). It is its text like any refusal; callers
    outside Discord (the web API) answer these with their own status. Other refusals are plain
    strings."""

    kind: str

    def __new__(cls, text: str, kind: str) -> Refusal:
        refusal = super().__new__(cls, text)
        refusal.kind = kind
        return refusal


def refusal_kind(refusal: str) -> str:
    """ "paused", "limit", or "rule" for a refusal about the request itself."""
    return refusal.kind if isinstance(refusal, Refusal) else "rule"


COMMAND_KINDS = frozenset({"riff", "blend", "remix"})  # requests typed as a command


def steps_advice(kind: str, limit: int) -> str:
    """How to get under a steps limit: a command takes an option; a button re-uses its result's
    steps, so the way out is a new command."""
    if kind in COMMAND_KINDS:
        return f"; choose steps:{limit} or fewer."
    return f"; this result was made with more, so start a new one with steps:{limit} or fewer."


@dataclass(frozen=True)
class Requester:
    """Who asks and where: what every rule is checked against."""

    user_id: int
    guild_id: int | None
    channel_id: int | None
    parent_channel_id: int | None = None  # a thread's channel (allowed channels name those)
    filesize_limit: int = DEFAULT_UPLOAD_LIMIT  # per file, where the result will be posted
    outside_discord: bool = False  # the web API: no channel, so allowed channels do not apply


@dataclass(frozen=True)
class GuildRules:
    """A guild's settings as the policy reads them (immutable; rebuilt on every change)."""

    guild_id: int
    allowed_channels: tuple[int, ...] = ()
    max_queued_per_user: int | None = None
    max_jobs_per_day: int | None = None
    max_duration_s: float | None = None
    max_clips: int | None = None
    max_steps: int | None = None
    paused: bool = False
    paused_by: int | None = None
    filter: PromptFilter = field(default_factory=PromptFilter)
    web_pages: bool = False  # /admin web: public results get a web page (docs/web.md)
    web_token: str | None = None  # names the server's favourites gallery (/g/<token>)

    @classmethod
    def from_row(cls, row: GuildSettings) -> GuildRules:
        return cls(
            guild_id=row.guild_id,
            allowed_channels=tuple(row.allowed_channels or ()),
            max_queued_per_user=row.max_queued_per_user,
            max_jobs_per_day=row.max_jobs_per_day,
            max_duration_s=row.max_duration_s,
            max_clips=row.max_clips,
            max_steps=row.max_steps,
            paused=bool(row.paused),
            paused_by=row.paused_by,
            filter=PromptFilter.build(row.blocked_words or (), row.blocked_patterns or ()),
            web_pages=bool(row.web_pages),
            web_token=row.web_token,
        )


def prompt_texts(
    params: RiffParams, task: RenderTask | None = None, extra: dict[str, Any] | None = None
) -> dict[str, str | None]:
    """Every prompt a request carries, by a name users recognise: the prompt, the negative
    prompt, any other prompt its task renders (a blend's end prompt), and any prompt kept in
    `extra` (e.g. `{"blend": {"prompt_b": ...}}`)."""
    texts: dict[str, str | None] = {
        "prompt": params.prompt,
        "negative prompt": params.negative_prompt,
    }

    def add(name: str, value: Any) -> None:
        if isinstance(value, str) and "prompt" in name and value not in texts.values():
            texts[name.replace("_", " ")] = value
        elif isinstance(value, dict):
            for key, inner in value.items():
                add(str(key), inner)

    if task is not None:
        for name, value in task.other_prompts().items():
            add(name, value)
    add("extra", extra or {})
    return texts


def next_utc_midnight(now: datetime | None = None) -> datetime:
    now = now or datetime.now(timezone.utc)
    return datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=timezone.utc)


class ServerPolicy:
    """Reads and caches guild rules and user settings; answers "may this request run?"."""

    def __init__(self, settings: Settings, db: Database, queue: JobQueue | None = None) -> None:
        self.settings = settings
        self.db = db
        self.queue = queue
        self._rules: dict[int, GuildRules] = {}
        self._lock = asyncio.Lock()

    # ---- reading and changing settings ---------------------------------------------------------

    async def rules(self, guild_id: int) -> GuildRules:
        cached = self._rules.get(guild_id)
        if cached is not None:
            return cached
        row = await settings_rows.guild_settings(self.db, guild_id)
        rules = GuildRules.from_row(row) if row is not None else GuildRules(guild_id)
        self._rules[guild_id] = rules
        return rules

    async def update(self, guild_id: int, **values: Any) -> GuildRules:
        """Change some of a guild's settings (whole values: lists are replaced, not mutated)."""
        async with self._lock:
            row = await settings_rows.update_guild_settings(self.db, guild_id, **values)
            rules = GuildRules.from_row(row)
        self._rules[guild_id] = rules
        if self.queue is not None and "paused" in values:
            (self.queue.pause if rules.paused else self.queue.resume)(guild_id)
        return rules

    async def settings_row(self, guild_id: int) -> dict[str, Any]:
        """The stored lists as plain values (for edits that add or remove one entry)."""
        row = await settings_rows.guild_settings(self.db, guild_id)
        if row is None:
            return {"allowed_channels": [], "blocked_words": [], "blocked_patterns": []}
        return {
            "allowed_channels": list(row.allowed_channels or []),
            "blocked_words": list(row.blocked_words or []),
            "blocked_patterns": list(row.blocked_patterns or []),
        }

    async def restore_pauses(self) -> list[int]:
        """Hold the queue for guilds paused before a restart."""
        paused = await settings_rows.paused_guilds(self.db)
        if self.queue is not None:
            for guild_id in paused:
                self.queue.pause(guild_id)
        return paused

    # ---- counting --------------------------------------------------------------------------

    async def jobs_today(self, user_id: int, guild_id: int | None) -> int:
        """The user's requests since UTC midnight (in this guild; in DMs: everywhere).

        Queued and running requests count as well as finished ones, so a burst cannot slip past
        the limit; failed and cancelled ones do not count against the user.
        """
        midnight = next_utc_midnight() - timedelta(days=1)
        return await records.jobs_since(self.db, user_id, midnight, COUNTED_STATES, guild_id)

    # ---- the check -------------------------------------------------------------------------

    async def check(
        self,
        requester: Requester,
        params: RiffParams,
        *,
        task: RenderTask | None = None,
        kind: str = "riff",
        active_jobs: int = 0,
        extra: dict | None = None,
        daily: bool = True,
    ) -> str | None:
        """None when the request may be queued; otherwise the refusal, naming rule and limit.

        `active_jobs`: the user's requests already queued or running (the job service knows);
        `daily=False` for things that are not counted per day (the radio).
        """
        guild_id = requester.guild_id
        rules = await self.rules(guild_id) if guild_id is not None else None
        texts = prompt_texts(params, task, extra)
        if params.steps > self.settings.max_steps:
            # A button re-uses its result's steps, which may predate a lower MAX_STEPS.
            return (
                f"This bot allows at most {self.settings.max_steps} steps and this request "
                f"would use {params.steps} (the bot's setting: MAX_STEPS)"
                + steps_advice(kind, self.settings.max_steps)
            )
        if kind == "riff" and params.duration_s > self.settings.max_duration_s + 1e-6:
            return f"This bot makes tracks of up to {self.settings.max_duration_s:g} seconds."
        if rules is not None:
            refusal = self._guild_rules(requester, rules, params, task, kind)
            if refusal:
                return refusal
            if rules.filter:
                try:
                    blocked = await asyncio.to_thread(rules.filter.find, texts)
                except FilterTimeout:
                    return FILTER_TIMEOUT_TEXT
                if blocked is not None:
                    return describe(blocked)
            if rules.max_queued_per_user is not None and active_jobs >= rules.max_queued_per_user:
                noun = "request" if rules.max_queued_per_user == 1 else "requests"
                return Refusal(
                    f"You already have {active_jobs} request(s) queued or running; this "
                    f"server allows {rules.max_queued_per_user} {noun} at a time per member "
                    "(admin setting: queued jobs per user). Wait for one to finish or "
                    "cancel one.",
                    "limit",
                )
        limit = (
            rules.max_jobs_per_day
            if rules and rules.max_jobs_per_day is not None
            else (self.settings.max_jobs_per_day or None)
        )
        if daily and limit is not None:
            used = await self.jobs_today(requester.user_id, guild_id)
            if used >= limit:
                where = "on this server" if guild_id is not None else "with this bot"
                source = (
                    "admin setting"
                    if rules and rules.max_jobs_per_day is not None
                    else "the bot's setting"
                )
                reset = int(next_utc_midnight().timestamp())
                return Refusal(
                    f"You have used all {limit} of your requests for today {where} "
                    f"({source}: jobs per day); the count resets <t:{reset}:R>.",
                    "limit",
                )
        return None

    def _guild_rules(
        self,
        requester: Requester,
        rules: GuildRules,
        params: RiffParams,
        task: RenderTask | None,
        kind: str,
    ) -> str | None:
        if rules.paused:
            return Refusal(
                "Generation is paused on this server by its admins, so your request was "
                "not queued; please try again after they resume it.",
                "paused",
            )
        if rules.allowed_channels and not requester.outside_discord:
            ids = {requester.channel_id, requester.parent_channel_id}
            if not ids & set(rules.allowed_channels):
                where = ", ".join(f"<#{c}>" for c in rules.allowed_channels)
                return (
                    f"Music is made only in {where} on this server (admin setting: allowed "
                    "channels)."
                )
        if rules.max_steps is not None and params.steps > rules.max_steps:
            return (
                f"This server allows at most {rules.max_steps} steps and this request "
                f"would use {params.steps} (admin setting: maximum steps)"
                + steps_advice(kind, rules.max_steps)
            )
        if rules.max_duration_s is not None and params.duration_s > rules.max_duration_s + 1e-6:
            return (
                f"This server allows tracks of up to {rules.max_duration_s:g} s (this one "
                f"would be {params.duration_s:g} s; admin setting: maximum duration)."
            )
        clips = (task or RenderTask(params=params)).clip_count
        if rules.max_clips is not None and clips > rules.max_clips:
            return (
                f"This server allows at most {rules.max_clips} clip(s) per track (this one "
                f"needs {clips}; admin setting: maximum clips)."
            )
        return None
