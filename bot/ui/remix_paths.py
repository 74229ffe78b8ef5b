"""The Discord side of remix: /remix, the message menu and the upload modal (interactions),
and replies with an audio file to one of the bot's results.

Reading an upload can take longer than the 3 s Discord allows before the first answer, so the
interaction paths check what they can at once, defer (privately), read the file, and hand the
job service a deferred origin. A reply has no interaction: its status is a reply of its own.
"""

from __future__ import annotations

import re
import time

import discord

from bot.jobs.uploads import AttachmentLike, UploadError, check_declared, looks_like_audio
from bot.policy import user_settings
from bot.store import records
from bot.store.models import Generation
from bot.ui.replies import answer
from bot.ui.results import generation_id_in_buttons
from bot.ui.services import Services

HINT_COOLDOWN_S = 60.0
HINT = (
    'To remix audio, reply to a result with an audio file attached (keep "ping on reply" '
    "on so the bot can see it), or use **/remix** with the file, or right-click a message "
    "with audio → Apps → **Remix with Riffusion**."
)


async def generation_for_message(
    services: Services, message_id: int, message: discord.Message | None = None
) -> Generation | None:
    """The (not deleted) result shown by one of our messages: by its buttons when the message
    itself is at hand, else by the message id recorded when the result was posted."""
    generation_id = generation_id_in_buttons(message) if message is not None else None
    if message is None or generation_id is None:
        return await records.generation_by_message(services.db, message_id)
    found = await records.get_generation(services.db, generation_id)
    if found is None or found.deleted_at is not None:
        return None
    await records.remember_message(services.db, found, message.id, message.channel.id)
    return found


def strip_mentions(text: str) -> str:
    return re.sub(r"<@!?\d+>", "", text).strip()


async def remix_from_interaction(
    services: Services,
    interaction: discord.Interaction,
    attachment: AttachmentLike,
    *,
    prompt: str | None,
    strength: float | None = None,
    seed: int | None = None,
    parent: Generation | None = None,
) -> None:
    """Check at once, defer, read the upload, then queue (errors are ephemeral)."""
    remixes = services.remixes
    mine, limits = await user_settings.for_request(
        services.db, services.policy, interaction.user.id, interaction.guild_id
    )
    try:
        request = remixes.check_request(prompt, strength, seed, parent, mine, limits)
        check_declared(attachment, remixes.limits)
    except UploadError as exc:
        await interaction.response.send_message(str(exc), ephemeral=True)
        return
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        audio = await remixes.read(interaction.user.id, attachment)
    except UploadError as exc:
        await interaction.edit_original_response(content=f"⚠️ {exc}")
        return
    await remixes.submit(services.origins.deferred(interaction), request, audio, mine)


class ReplyRemixes:
    """Replies to the bot's results: remix the attached audio, or say once a minute how."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._hinted: dict[int, float] = {}

    async def on_reply(self, message: discord.Message, parent: Generation) -> None:
        audio_files = [a for a in message.attachments if looks_like_audio(a)]
        if not audio_files:
            if message.attachments:
                await answer(
                    message,
                    f"⚠️ {message.attachments[0].filename!r} is not an "
                    "audio file. Try an MP3, WAV, OGG, FLAC or M4A file.",
                )
            else:
                await self._hint(message)
            return
        services = self.services
        guild_id = message.guild.id if message.guild else None
        mine, limits = await user_settings.for_request(
            services.db, services.policy, message.author.id, guild_id
        )
        try:
            request = services.remixes.check_request(
                strip_mentions(message.content), None, None, parent, mine, limits
            )
            audio = await services.remixes.read(message.author.id, audio_files[0])
        except UploadError as exc:
            await answer(message, f"⚠️ {exc}")
            return
        await services.remixes.submit(services.origins.reply(message), request, audio, mine)

    async def _hint(self, message: discord.Message) -> None:
        now = time.monotonic()
        if now - self._hinted.get(message.author.id, -HINT_COOLDOWN_S) < HINT_COOLDOWN_S:
            return
        if len(self._hinted) > 1000:  # forget old ones so the map stays small
            self._hinted = {u: t for u, t in self._hinted.items() if now - t < HINT_COOLDOWN_S}
        self._hinted[message.author.id] = now
        await answer(message, HINT)
