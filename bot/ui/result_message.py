"""A result as one Discord message: its text, embed and buttons by kind, and its files."""

from __future__ import annotations

import io
import logging
from typing import Any

import discord

from bot.jobs.origin import Delivery, Posted
from bot.store.models import Generation
from bot.ui.mix_buttons import blend_clip_look, blend_look, remix_look
from bot.ui.result_buttons import riff_look

log = logging.getLogger(__name__)

LOOKS = {"blend": blend_look, "blend-clip": blend_clip_look, "remix": remix_look}


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


class ResultPoster:
    """Posts a finished result: the owner's DMs (when asked), the channel, else `fallback`."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def post(
        self,
        delivery: Delivery,
        channel: discord.abc.Messageable | None,
        fallback: discord.Webhook | None = None,
    ) -> Posted | None:
        generation = delivery.generation
        kwargs: dict[str, Any] = {
            **result_message(generation, delivery.parent_url),
            "allowed_mentions": discord.AllowedMentions(
                users=[discord.Object(generation.user_id)], everyone=False, roles=False
            ),
        }
        targets = [channel]
        if delivery.by_dm and not isinstance(channel, discord.DMChannel):
            targets.insert(0, await self._dm(generation.user_id))
        for target in targets:
            if target is None:
                continue
            try:
                message = await target.send(files=result_files(delivery), **kwargs)
                return posted(message)
            except (discord.Forbidden, discord.NotFound) as exc:
                log.info("No permission to post in %s (%s); trying the next way", target, exc.code)
        if fallback is not None:
            try:
                message = await fallback.send(files=result_files(delivery), wait=True, **kwargs)
                return posted(message)
            except discord.HTTPException:
                log.exception("The followup for result #%s failed too", generation.id)
        return None

    async def _dm(self, user_id: int) -> discord.abc.Messageable | None:
        try:
            user = self.client.get_user(user_id) or await self.client.fetch_user(user_id)
            return user.dm_channel or await user.create_dm()
        except discord.HTTPException as exc:
            log.info("Could not open a DM with user %s (%s); posting in the channel", user_id, exc)
            return None


def posted(message: discord.Message) -> Posted:
    return Posted(
        message_id=message.id,
        channel_id=message.channel.id,
        jump_url=message.jump_url,
        attachment_ids={a.filename.rsplit(".", 1)[-1]: a.id for a in message.attachments},
    )
