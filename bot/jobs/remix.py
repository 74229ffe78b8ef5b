"""Remix: four ways in (reply, /remix, the context menu, the Remix button), one job.

Every path ends in `RemixService.submit`: the upload is checked, downloaded and decoded (see
bot/uploads.py) and a RemixTask is queued through the same RiffService as /riff, so fairness,
limits, progress, cancel and posting are shared.

RiffService answers an interaction with the status message. Reading an upload can take longer
than the 3 s Discord allows before the first answer, so the interaction paths defer (ephemeral)
first and hand RiffService a `DeferredOrigin`; a reply has no interaction at all and gets a
`MessageOrigin`, which posts the status as a reply and edits it with the bot token. Both offer
the few members RiffService uses: user, guild_id, channel_id, channel, filesize_limit,
response.send_message / is_done, original_response, edit_original_response, followup.send.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from sqlalchemy import select

from bot.config import Settings
from bot.engine.tasks import RemixTask
from bot.jobs.uploads import (
    AttachmentLike,
    UploadedAudio,
    UploadError,
    UploadLimits,
    check_declared,
    fetch_audio,
    looks_like_audio,
)
from bot.params import MAX_SEED, RiffParams, random_seed
from bot.policy import user_settings
from bot.policy.user_settings import (
    DEFAULT_GUIDANCE,
    MIN_STRENGTH,
    Limits,
    UserDefaults,
    pick,
    remix_steps_problem,
)
from bot.store import records
from bot.store.models import Generation

if TYPE_CHECKING:
    from bot.app.client import RiffusionBot

log = logging.getLogger(__name__)

DEFAULT_STRENGTH = 0.55
HINT_COOLDOWN_S = 60.0
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024  # Discord's default per-file limit (no boosts)
HINT = (
    'To remix audio, reply to a result with an audio file attached (keep "ping on reply" '
    "on so the bot can see it), or use **/remix** with the file, or right-click a message "
    "with audio → Apps → **Remix with Riffusion**."
)


# Buttons under a result carry its generation id ("riff:fav:12", "mix:info:12", ...).
RESULT_CUSTOM_ID = re.compile(r"(?:riff|mix):[a-z]+:(\d+)")


def generation_id_in_buttons(message: discord.Message) -> int | None:
    """The result a message of ours shows, read from its buttons: this works the moment it is
    posted, and for a favourite posted again (whose message id the database does not hold)."""
    for row in message.components:
        for item in getattr(row, "children", ()):
            match = RESULT_CUSTOM_ID.fullmatch(getattr(item, "custom_id", None) or "")
            if match:
                return int(match[1])
    return None


async def generation_for_message(
    db, message_id: int, message: discord.Message | None = None
) -> Generation | None:
    """The (not deleted) result shown by one of our messages: by its buttons when the message
    itself is at hand, else by the message id recorded when the result was posted."""
    generation_id = generation_id_in_buttons(message) if message is not None else None
    if generation_id is None:
        async with db.session() as session:
            return await session.scalar(
                select(Generation)
                .where(Generation.message_id == message_id, Generation.deleted_at.is_(None))
                .limit(1)
            )
    found = await records.get_generation(db, generation_id)
    if found is None or found.deleted_at is not None:
        return None
    await records.remember_message(db, found, message.id, message.channel.id)
    return found


def upload_limits(settings: Settings) -> UploadLimits:
    return UploadLimits(
        max_bytes=int(settings.max_upload_mb * 1024 * 1024),
        max_duration_s=settings.max_remix_input_s,
        decode_timeout_s=settings.decode_timeout_s,
    )


def strip_mentions(text: str) -> str:
    return re.sub(r"<@!?\d+>", "", text).strip()


# ---- origins: what RiffService answers --------------------------------------------------------


class _DeferredResponse:
    def __init__(self, origin: DeferredOrigin) -> None:
        self._origin = origin
        self._done = False

    def is_done(self) -> bool:
        return self._done

    async def send_message(
        self, content: str, *, view: Any = discord.utils.MISSING, ephemeral: bool | None = None
    ) -> None:
        """Fill the private "thinking" message; `ephemeral=False` (a public status chosen in
        /settings) says so there and posts the status as a public followup."""
        self._done = True
        origin = self._origin
        if ephemeral is False:
            # The first followup would replace the private "thinking" message: fill it first.
            await origin.interaction.edit_original_response(
                content="Your remix is queued; its status is posted in this channel."
            )
            origin.public_status = await origin.interaction.followup.send(
                content, view=view, wait=True
            )
            return
        await origin.interaction.edit_original_response(content=content, view=view)


class DeferredOrigin:
    """An interaction already deferred (ephemeral) while its upload was read."""

    status_is_ephemeral = True  # after a restart its status cannot be edited by the bot token

    def __init__(self, interaction: discord.Interaction) -> None:
        self.interaction = interaction
        self.user = interaction.user
        self.guild_id = interaction.guild_id
        self.channel_id = interaction.channel_id
        self.channel = interaction.channel
        self.filesize_limit = interaction.filesize_limit
        self.response = _DeferredResponse(self)
        self.followup = interaction.followup
        self.public_status: discord.WebhookMessage | None = None

    async def original_response(self) -> discord.Message:
        if self.public_status is not None:
            return self.public_status
        return await self.interaction.original_response()

    async def edit_original_response(self, **kwargs: Any) -> Any:
        if self.public_status is not None:
            return await self.public_status.edit(**kwargs)
        return await self.interaction.edit_original_response(**kwargs)


class _ReplyResponse:
    def __init__(self, origin: MessageOrigin) -> None:
        self._origin = origin

    def is_done(self) -> bool:
        return self._origin.status is not None

    async def send_message(
        self, content: str, *, view: Any = discord.utils.MISSING, ephemeral: bool = False
    ) -> None:
        self._origin.status = await self._origin.message.reply(
            content, view=view, mention_author=False
        )


class _ChannelFollowup:
    def __init__(self, channel: discord.abc.Messageable) -> None:
        self._channel = channel

    async def send(
        self,
        content: str | None = None,
        *,
        wait: bool = False,
        ephemeral: bool = False,
        **kwargs: Any,
    ) -> discord.Message:
        return await self._channel.send(content, **kwargs)


class MessageOrigin:
    """A user's reply to a result: the status is a reply to it, edited with the bot token."""

    def __init__(self, message: discord.Message) -> None:
        self.message = message
        self.status: discord.Message | None = None
        self.user = message.author
        self.guild_id = message.guild.id if message.guild else None
        self.channel_id = message.channel.id
        self.channel = message.channel
        self.filesize_limit = (
            message.guild.filesize_limit if message.guild else DEFAULT_UPLOAD_LIMIT
        )
        self.response = _ReplyResponse(self)
        self.followup = _ChannelFollowup(message.channel)

    async def original_response(self) -> discord.Message:
        assert self.status is not None
        return self.status

    async def edit_original_response(self, **kwargs: Any) -> Any:
        if self.status is not None:
            return await self.status.edit(**kwargs)
        return None


# ---- the service ------------------------------------------------------------------------------


@dataclass
class RemixRequest:
    """A remix as the user asked for it, before the upload is read."""

    prompt: str
    strength: float = DEFAULT_STRENGTH
    seed: int = field(default_factory=random_seed)
    parent: Generation | None = None
    steps: int | None = None  # None: the bot's default
    negative_prompt: str | None = None
    guidance: float = DEFAULT_GUIDANCE


class RemixService:
    """Reads uploads safely and queues remix jobs; owned by the Remix cog."""

    def __init__(self, bot: RiffusionBot) -> None:
        self.bot = bot
        self.settings = bot.settings
        self.limits = upload_limits(bot.settings)
        self._session: aiohttp.ClientSession | None = None
        self._hinted: dict[int, float] = {}
        self._reading: set[int] = set()  # users with an upload being downloaded or decoded

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def check_request(
        self,
        prompt: str | None,
        strength: float | None,
        seed: int | None,
        parent: Generation | None,
        mine: UserDefaults | None = None,
        limits: Limits | None = None,
    ) -> RemixRequest:
        """Fill defaults (the user's /settings, then the bot's); raises UploadError (a
        user-facing line) for unusable options."""
        mine = mine or UserDefaults()
        text = (prompt or "").strip() or (parent.prompt if parent else "")
        if not text:
            raise UploadError(
                "Please describe the style to remix into, e.g. 'lofi hip hop, warm piano'."
            )
        if len(text) > 500:
            raise UploadError("The prompt is too long (at most 500 characters).")
        strength = pick(strength, mine.remix_strength, DEFAULT_STRENGTH)
        if not MIN_STRENGTH <= strength <= 1.0:
            raise UploadError(
                f"The strength must be between {MIN_STRENGTH:g} and 1 (got {strength:g})."
            )
        own_steps = mine.steps if mine.steps is None or limits is None else limits.steps(mine.steps)
        steps = pick(None, own_steps, self.settings.default_steps)
        problem = remix_steps_problem(steps, strength)
        if problem:
            raise UploadError(problem)
        if seed is not None and not 0 <= seed <= MAX_SEED:
            raise UploadError(f"The seed must be between 0 and {MAX_SEED}.")
        return RemixRequest(
            prompt=text,
            strength=strength,
            seed=random_seed() if seed is None else seed,
            parent=parent,
            steps=steps,
            negative_prompt=mine.negative_prompt,
            guidance=pick(None, mine.guidance, DEFAULT_GUIDANCE),
        )

    # ---- interaction paths: /remix, the context menu, the upload modal -----------------------

    async def from_interaction(
        self,
        interaction: discord.Interaction,
        attachment: AttachmentLike,
        *,
        prompt: str | None,
        strength: float | None = None,
        seed: int | None = None,
        parent: Generation | None = None,
    ) -> None:
        """Check at once, defer, read the upload, then queue (errors are ephemeral)."""
        mine, limits = await user_settings.for_request(
            self.bot, interaction.user.id, interaction.guild_id
        )
        try:
            request = self.check_request(prompt, strength, seed, parent, mine, limits)
            check_declared(attachment, self.limits)
        except UploadError as exc:
            await interaction.response.send_message(str(exc), ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            audio = await self.read(interaction.user.id, attachment)
        except UploadError as exc:
            await interaction.edit_original_response(content=f"⚠️ {exc}")
            return
        await self.submit(DeferredOrigin(interaction), request, audio)

    # ---- reply path ----------------------------------------------------------------------------

    async def from_reply(self, message: discord.Message, parent: Generation) -> None:
        """A reply to one of our results: remix its audio, or explain how when none is seen."""
        audio_files = [a for a in message.attachments if looks_like_audio(a)]
        if not audio_files:
            if message.attachments:
                await self._answer(
                    message,
                    f"⚠️ {message.attachments[0].filename!r} is not an "
                    "audio file. Try an MP3, WAV, OGG, FLAC or M4A file.",
                )
            else:
                await self._hint(message)
            return
        guild_id = message.guild.id if message.guild else None
        mine, limits = await user_settings.for_request(self.bot, message.author.id, guild_id)
        try:
            request = self.check_request(
                strip_mentions(message.content), None, None, parent, mine, limits
            )
            audio = await self.read(message.author.id, audio_files[0])
        except UploadError as exc:
            await self._answer(message, f"⚠️ {exc}")
            return
        await self.submit(MessageOrigin(message), request, audio)

    async def read(self, user_id: int, attachment: AttachmentLike) -> UploadedAudio:
        """fetch_audio, one upload at a time per user (a burst of big files cannot pile up)."""
        if user_id in self._reading:
            raise UploadError(
                "Your previous file is still being read; wait a moment and try again."
            )
        self._reading.add(user_id)
        try:
            return await fetch_audio(attachment, self.settings.data_dir, self.limits, self.session)
        finally:
            self._reading.discard(user_id)

    async def _hint(self, message: discord.Message) -> None:
        now = time.monotonic()
        if now - self._hinted.get(message.author.id, -HINT_COOLDOWN_S) < HINT_COOLDOWN_S:
            return
        if len(self._hinted) > 1000:  # forget old ones so the map stays small
            self._hinted = {u: t for u, t in self._hinted.items() if now - t < HINT_COOLDOWN_S}
        self._hinted[message.author.id] = now
        await self._answer(message, HINT)

    async def _answer(self, message: discord.Message, text: str) -> None:
        try:
            await message.reply(
                text,
                mention_author=True,
                allowed_mentions=discord.AllowedMentions(
                    users=[message.author], everyone=False, roles=False
                ),
            )
        except discord.HTTPException as exc:
            log.info("Could not answer a reply in channel %s: %s", message.channel.id, exc)

    # ---- the one job ---------------------------------------------------------------------------

    async def submit(
        self, origin: DeferredOrigin | MessageOrigin, request: RemixRequest, audio: UploadedAudio
    ) -> None:
        """Queue the remix through RiffService (status, progress, cancel, result)."""
        service = self.bot.riffs
        if service is None:  # stopping
            await origin.response.send_message(
                "The bot is restarting; please try again in a minute.", ephemeral=True
            )
            return
        params = RiffParams(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            seed=request.seed,
            steps=request.steps or self.settings.default_steps,
            guidance=request.guidance,
            denoising=request.strength,
            duration_s=round(audio.used_s, 2),
        )
        task = RemixTask(
            params=params,
            audio=audio.segment,
            source_duration_s=audio.source_duration_s,
            max_input_s=self.limits.max_duration_s,
        )
        extra = {
            "remix": {
                "used": audio.used_text(),
                "input_s": round(audio.used_s, 3),
                "source_duration_s": audio.source_duration_s,
                "truncated": audio.truncated,
            }
        }
        await service.start(
            origin,
            params,
            kind="remix",
            task=task,  # type: ignore[arg-type]
            parent=request.parent,
            extra=extra,
        )
