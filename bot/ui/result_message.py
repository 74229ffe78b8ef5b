"""A result as one Discord message: its text, embed and buttons by kind, and its files."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import aiohttp
import discord

from bot.jobs.origin import Delivery, DeliveryError, Posted
from bot.store.models import Generation
from bot.ui.context import public_message
from bot.ui.mix_buttons import blend_clip_look, blend_look, mix_command, remix_look
from bot.ui.result_buttons import riff_look
from bot.ui.results import generation_id_in_buttons
from bot.ui.song_results import song_command, song_look, song_of
from bot.ui.text import riff_command
from riffusion_core.seed_images.catalogue import SeedImageCatalogue

log = logging.getLogger(__name__)

LOOKS = {
    "blend": blend_look,
    "blend-clip": blend_clip_look,
    "remix": remix_look,
    "song": song_look,
}


def image_name(generation_id: int) -> str:
    return f"riff-{generation_id}.png"


def result_message(generation: Generation, parent_url: str | None) -> dict[str, Any]:
    """Content, embed and view of a result message (send kwargs), chosen by its kind."""
    look = LOOKS.get(generation.kind, riff_look)
    return look(generation, parent_url, image_name(generation.id))


def result_files(delivery: Delivery) -> list[discord.File]:
    generation_id = delivery.generation.id
    return [
        discord.File(io.BytesIO(delivery.png), filename=image_name(generation_id)),
        discord.File(io.BytesIO(delivery.mp3), filename=f"riff-{generation_id}.mp3"),
    ]


CANNOT_POST = (
    "the bot may not post in this channel. Ask a server admin to give it Send Messages and "
    "Attach Files here."
)
CHANNEL_GONE = "the channel it was asked in no longer exists (or the bot was removed)."
# What a post or a read can raise: Discord's answers and the network's failures.
POST_ERRORS = (discord.HTTPException, aiohttp.ClientError, asyncio.TimeoutError, OSError)
HISTORY_DEPTH = 50  # recent messages searched for a result an earlier attempt may have posted


def transient(exc: BaseException) -> bool:
    """Whether waiting may change Discord's answer: its 5xx, rate limits and network failures,
    not a refusal (403), a missing channel (404) or a request it will never take (4xx)."""
    if isinstance(exc, discord.HTTPException):
        return exc.status >= 500 or exc.status == 429
    return isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, OSError))


def failure_text(exc: BaseException) -> str:
    if isinstance(exc, discord.HTTPException):
        return f"Discord answered {exc.status}"
    return f"the connection to Discord failed ({type(exc).__name__})"


class ResultPoster:
    """Posts a finished result: the owner's DMs (when asked), the channel, else `fallback`.

    Every post carries the delivery's nonce (discord.py sends it with enforce_nonce), so a
    retry of a post that landed without its answer is not posted twice."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def post(
        self,
        delivery: Delivery,
        channel: discord.abc.Messageable | None,
        fallback: discord.Webhook | None = None,
    ) -> Posted:
        """Post the result; raises DeliveryError (transient or permanent) when it cannot."""
        generation = delivery.generation
        kwargs: dict[str, Any] = {
            **result_message(generation, delivery.parent_url),
            "allowed_mentions": discord.AllowedMentions(
                users=[discord.Object(generation.user_id)], everyone=False, roles=False
            ),
        }
        reason = CANNOT_POST
        for target in await self._targets(delivery, channel):
            try:
                message = await target.send(
                    files=result_files(delivery), nonce=delivery.nonce, **kwargs
                )
                return posted(message, public_message(message, self.client))
            except POST_ERRORS as exc:
                if transient(exc):
                    raise DeliveryError(failure_text(exc), permanent=False) from exc
                reason = CHANNEL_GONE if isinstance(exc, discord.NotFound) else CANNOT_POST
                log.info(
                    "Cannot post result #%s in %s (%s); trying the next way",
                    generation.id,
                    target,
                    exc,
                )
        if fallback is not None:
            try:
                message = await fallback.send(files=result_files(delivery), wait=True, **kwargs)
                return posted(message, public_message(message, self.client))
            except discord.HTTPException:
                log.exception("The followup for result #%s failed too", generation.id)
        raise DeliveryError(reason, permanent=True)

    async def find(
        self, delivery: Delivery, channel: discord.abc.Messageable | None
    ) -> Posted | None:
        """The result's message among the recent ones of its channel (and the owner's DMs when
        it goes there), found by the generation id its buttons carry."""
        me = self.client.user
        for target in await self._targets(delivery, channel):
            try:
                async for message in target.history(limit=HISTORY_DEPTH):
                    if me is not None and message.author.id != me.id:
                        continue
                    if generation_id_in_buttons(message) == delivery.generation.id:
                        return posted(message, public_message(message, self.client))
            except POST_ERRORS as exc:
                if transient(exc):
                    raise DeliveryError(failure_text(exc), permanent=False) from exc
                log.info(
                    "Cannot read %s to look for result #%s (%s)",
                    target,
                    delivery.generation.id,
                    exc,
                )
        return None

    async def dm(self, user_id: int, text: str) -> None:
        """A direct message to a user; failures (DMs closed, an outage) are only logged."""
        channel = await self._dm(user_id)
        if channel is None:
            return
        try:
            await channel.send(text, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            log.info("Could not send user %s a DM (%s)", user_id, exc)

    async def _targets(
        self, delivery: Delivery, channel: discord.abc.Messageable | None
    ) -> list[discord.abc.Messageable]:
        targets = [channel] if channel is not None else []
        if delivery.by_dm and not isinstance(channel, discord.DMChannel):
            dm = await self._dm(delivery.generation.user_id)
            if dm is not None:
                targets.insert(0, dm)
        return targets

    async def _dm(self, user_id: int) -> discord.abc.Messageable | None:
        try:
            user = self.client.get_user(user_id) or await self.client.fetch_user(user_id)
            return user.dm_channel or await user.create_dm()
        except discord.HTTPException as exc:
            log.info("Could not open a DM with user %s (%s); posting in the channel", user_id, exc)
            return None


def posted(message: discord.Message, public: bool) -> Posted:
    return Posted(
        message_id=message.id,
        channel_id=message.channel.id,
        jump_url=message.jump_url,
        attachment_ids={a.filename.rsplit(".", 1)[-1]: a.id for a in message.attachments},
        public=public,
    )


def result_command(generation: Generation, seed_images: SeedImageCatalogue) -> str:
    """The command that makes a result again, as its Info shows it (for its web page)."""
    if generation.kind in ("blend", "blend-clip", "remix"):
        return mix_command(generation)
    if generation.kind == "song":
        spec = song_of(generation)
        return song_command(spec) if spec is not None else ""
    return riff_command(generation, seed_images)
