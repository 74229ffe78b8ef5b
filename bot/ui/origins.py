"""Discord's side of the job lifecycle: the origins a request can come from.

The job service (bot/jobs/service.py) talks to an Origin (bot/jobs/origin.py) and never to
Discord. Each class here is one way a request reaches the bot:

- InteractionOrigin: a slash command or a button. The status is the interaction's response,
  edited through its token while that lives (15 minutes), then with the bot token by id.
- DeferredOrigin: an interaction already deferred (privately) while its upload was read; a
  public status (chosen in /settings) becomes a followup.
- ReplyOrigin: a user's reply with an audio file. The status is a reply, edited with the bot
  token; there is no interaction at all.
- ResumedOrigin: a job found in the database after a restart: only its channel and the id of
  its status message are left.

All of them post the result through the same poster (bot/ui/result_message.py): one new message
mentioning the owner, in their DMs first when they asked for that, with PNG + MP3 and buttons.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from typing import Any, Protocol

import discord

from bot.jobs.origin import Delivery, JobStatus, Origin, Posted
from bot.limits import DEFAULT_UPLOAD_LIMIT
from bot.policy.rules import Requester
from bot.ui.context import messageable
from bot.ui.replies import answer, reply
from bot.ui.status import status_line, status_view

log = logging.getLogger(__name__)

WEBHOOK_LIFETIME_S = 14 * 60  # interaction tokens last 15 minutes; stop using them a bit before


def requester_of(interaction: discord.Interaction) -> Requester:
    channel = interaction.channel
    return Requester(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        parent_channel_id=channel.parent_id if isinstance(channel, discord.Thread) else None,
        filesize_limit=interaction.filesize_limit,
    )


class Poster(Protocol):
    """Posts a finished result (bot/ui/result_message.py: ResultPoster)."""

    client: discord.Client

    async def post(
        self,
        delivery: Delivery,
        channel: discord.abc.Messageable | None,
        fallback: discord.Webhook | None = None,
    ) -> Posted: ...

    async def find(
        self, delivery: Delivery, channel: discord.abc.Messageable | None
    ) -> Posted | None: ...

    async def dm(self, user_id: int, text: str) -> None: ...


async def edit_by_id(
    client: discord.Client, channel_id: int | None, message_id: int | None, **changes: Any
) -> bool:
    """Edit one of the bot's messages with the bot token; False when that was not possible."""
    if channel_id is None or message_id is None:
        return False
    message = client.get_partial_messageable(channel_id).get_partial_message(message_id)
    try:
        await message.edit(**changes)
        return True
    except discord.NotFound:
        log.debug("Message %s is gone", message_id)
    except discord.HTTPException as exc:
        log.warning("Could not update message %s: %s", message_id, exc)
    return False


async def logged_edit(edit: Awaitable[object], job_id: int) -> None:
    """A status edit whose failure is only logged: the job goes on whatever the message does."""
    try:
        await edit
    except discord.NotFound:
        log.debug("Status message of job %s is gone", job_id)
    except discord.HTTPException as exc:
        log.warning("Could not update the status of job %s: %s", job_id, exc)


class InteractionOrigin:
    """A slash command or a button: the status is the interaction's own response."""

    private_by_default = False

    def __init__(self, interaction: discord.Interaction, poster: Poster) -> None:
        self.interaction = interaction
        self.poster = poster
        self.requester = requester_of(interaction)
        self.status_message_id: int | None = None
        self.acknowledged_at = time.monotonic()

    @property
    def token_alive(self) -> bool:
        """Whether the interaction token may still edit the status and send followups."""
        return time.monotonic() - self.acknowledged_at < WEBHOOK_LIFETIME_S

    async def refuse(self, text: str) -> None:
        await reply(self.interaction, text)

    async def acknowledge(self, status: JobStatus, *, private: bool) -> int | None:
        self.acknowledged_at = time.monotonic()
        try:
            await self.interaction.response.send_message(
                status_line(status),
                view=status_view(status) or discord.utils.MISSING,
                ephemeral=private,
            )
            message = await self.interaction.original_response()
        except discord.HTTPException:
            log.exception("Could not acknowledge the interaction for job %s", status.job_id)
            return None
        self.status_message_id = message.id
        return message.id

    async def show(self, status: JobStatus) -> None:
        content, view = status_line(status), status_view(status)  # view None removes Cancel
        if not self.token_alive:
            await edit_by_id(
                self.poster.client,
                self.requester.channel_id,
                self.status_message_id,
                content=content,
                view=view,
            )
            return
        await logged_edit(
            self.interaction.edit_original_response(content=content, view=view), status.job_id
        )

    async def post_result(self, delivery: Delivery) -> Posted:
        fallback = self.interaction.followup if self.token_alive else None
        return await self.poster.post(delivery, self._channel, fallback)

    async def find_posted(self, delivery: Delivery) -> Posted | None:
        return await self.poster.find(delivery, self._channel)

    async def tell_owner(self, status: JobStatus) -> None:
        if self.token_alive:
            try:
                await self.interaction.followup.send(status_line(status), ephemeral=True)
                return
            except discord.HTTPException as exc:
                log.info("Could not tell user %s by followup: %s", self.requester.user_id, exc)
        await self.poster.dm(self.requester.user_id, status_line(status))

    @property
    def _channel(self) -> discord.abc.Messageable | None:
        """Where the interaction happened; after 15 minutes the bot token posts there."""
        channel = messageable(self.interaction.channel)
        if channel is None and self.requester.channel_id is not None:
            return self.poster.client.get_partial_messageable(self.requester.channel_id)
        return channel


class DeferredOrigin(InteractionOrigin):
    """An interaction deferred (privately) while its upload was read: the status fills the
    private "thinking" message, or, when /settings asks for public statuses, a followup."""

    private_by_default = True

    def __init__(self, interaction: discord.Interaction, poster: Poster) -> None:
        super().__init__(interaction, poster)
        self.public_status: discord.WebhookMessage | None = None

    async def acknowledge(self, status: JobStatus, *, private: bool) -> int | None:
        self.acknowledged_at = time.monotonic()
        message: discord.Message  # the edited response or the public followup
        try:
            if private:
                message = await self.interaction.edit_original_response(
                    content=status_line(status), view=status_view(status)
                )
            else:
                # The first followup would replace the private "thinking" message: fill it first.
                await self.interaction.edit_original_response(
                    content="Your remix is queued; its status is posted in this channel."
                )
                message = self.public_status = await self.interaction.followup.send(
                    status_line(status),
                    view=status_view(status) or discord.utils.MISSING,
                    wait=True,
                )
        except discord.HTTPException:
            log.exception("Could not acknowledge the upload for job %s", status.job_id)
            return None
        self.status_message_id = message.id
        return message.id

    async def show(self, status: JobStatus) -> None:
        if self.public_status is None or not self.token_alive:
            await super().show(status)
            return
        await logged_edit(
            self.public_status.edit(content=status_line(status), view=status_view(status)),
            status.job_id,
        )


class ReplyOrigin:
    """A reply to a result with an audio file: the status is a reply, edited by the bot."""

    private_by_default = False

    def __init__(self, message: discord.Message, poster: Poster) -> None:
        self.message = message
        self.poster = poster
        guild = message.guild
        self.requester = Requester(
            user_id=message.author.id,
            guild_id=guild.id if guild else None,
            channel_id=message.channel.id,
            parent_channel_id=(
                message.channel.parent_id if isinstance(message.channel, discord.Thread) else None
            ),
            filesize_limit=guild.filesize_limit if guild else DEFAULT_UPLOAD_LIMIT,
        )
        self.status: discord.Message | None = None

    async def refuse(self, text: str) -> None:
        await answer(self.message, text)

    async def acknowledge(self, status: JobStatus, *, private: bool) -> int | None:
        try:
            self.status = await self.message.reply(
                status_line(status),
                view=status_view(status) or discord.utils.MISSING,
                mention_author=False,
            )
        except discord.HTTPException:
            log.exception("Could not acknowledge the reply for job %s", status.job_id)
            return None
        return self.status.id

    async def show(self, status: JobStatus) -> None:
        if self.status is None:
            return
        await logged_edit(
            self.status.edit(content=status_line(status), view=status_view(status)),
            status.job_id,
        )

    async def post_result(self, delivery: Delivery) -> Posted:
        return await self.poster.post(delivery, self.message.channel)

    async def find_posted(self, delivery: Delivery) -> Posted | None:
        return await self.poster.find(delivery, self.message.channel)

    async def tell_owner(self, status: JobStatus) -> None:
        await self.poster.dm(self.requester.user_id, status_line(status))


class ResumedOrigin:
    """A job resumed after a restart: its channel and its status message's id are left.

    With `tell_if_unseen`, a status that cannot be edited becomes a new message mentioning the
    owner (a job that failed to resume must not fail silently)."""

    private_by_default = False

    def __init__(
        self,
        requester: Requester,
        poster: Poster,
        *,
        status_message_id: int | None,
        tell_if_unseen: bool,
    ) -> None:
        self.requester = requester
        self.poster = poster
        self.status_message_id = status_message_id
        self.tell_if_unseen = tell_if_unseen
        client = poster.client
        self.channel = (
            client.get_partial_messageable(requester.channel_id)
            if requester.channel_id is not None
            else None
        )

    async def refuse(self, text: str) -> None:
        await self._tell(text)

    async def acknowledge(self, status: JobStatus, *, private: bool) -> int | None:
        """Show the resumed job's place and Cancel again: edit its status, or post a new one."""
        text, view = status_line(status), status_view(status)
        if self.status_message_id is not None and self.channel is not None:
            message = self.channel.get_partial_message(self.status_message_id)
            try:
                await message.edit(content=text, view=view)
                return self.status_message_id
            except discord.NotFound:
                pass  # deleted meanwhile: post a new one
            except discord.HTTPException as exc:
                log.warning("Could not update the status of job %s: %s", status.job_id, exc)
                return self.status_message_id
        if self.channel is None:
            return None
        try:
            new = await self.channel.send(
                f"<@{self.requester.user_id}> {text}",
                view=view or discord.utils.MISSING,
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.HTTPException as exc:
            log.info("Could not post a status for resumed job %s: %s", status.job_id, exc)
            return None
        self.status_message_id = new.id
        return new.id

    async def show(self, status: JobStatus) -> None:
        text = status_line(status)
        edited = await edit_by_id(
            self.poster.client,
            self.requester.channel_id,
            self.status_message_id,
            content=text,
            view=status_view(status),
        )
        if not edited and self.tell_if_unseen:
            await self._tell(text)

    async def _tell(self, text: str) -> None:
        if self.channel is None:
            return
        user = self.requester.user_id
        try:
            await self.channel.send(
                f"<@{user}> {text}",
                allowed_mentions=discord.AllowedMentions(
                    users=[discord.Object(user)], everyone=False, roles=False
                ),
            )
        except discord.HTTPException as exc:
            log.info("Could not tell user %s in channel %s: %s", user, self.channel.id, exc)

    async def post_result(self, delivery: Delivery) -> Posted:
        return await self.poster.post(delivery, self.channel)

    async def find_posted(self, delivery: Delivery) -> Posted | None:
        return await self.poster.find(delivery, self.channel)

    async def tell_owner(self, status: JobStatus) -> None:
        await self.poster.dm(self.requester.user_id, status_line(status))


class DiscordOrigins:
    """Makes every kind of origin; the job service gets it as its OriginFactory (for jobs
    resumed after a restart), the Discord side as InteractionOrigins (bot/ui/services.py)."""

    def __init__(self, poster: Poster) -> None:
        self.poster = poster

    def interaction(self, interaction: discord.Interaction) -> Origin:
        return InteractionOrigin(interaction, self.poster)

    def deferred(self, interaction: discord.Interaction) -> Origin:
        return DeferredOrigin(interaction, self.poster)

    def reply(self, message: discord.Message) -> Origin:
        return ReplyOrigin(message, self.poster)

    def resumed(
        self, requester: Requester, *, status_message_id: int | None, tell_owner: bool = True
    ) -> Origin:
        return ResumedOrigin(
            requester, self.poster, status_message_id=status_message_id, tell_if_unseen=tell_owner
        )
