"""Status messages: one line per job phase, and the Cancel button under a waiting job."""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.jobs.origin import JobStatus, Phase
from bot.jobs.service import CancelOutcome
from bot.ui.replies import reply
from bot.ui.services import services_of
from bot.ui.text import (
    cancelled_text,
    delivering_text,
    done_text,
    failed_text,
    status_text,
    suspended_text,
    undelivered_text,
)


def status_line(status: JobStatus) -> str:
    """What the status message of a job says now."""
    params = status.params
    if status.phase is Phase.WAITING:
        return status_text(
            params,
            kind=status.kind,
            position=status.position,
            progress=status.progress,
            eta_unix=status.eta_unix,
            detail=status.detail,
        )
    if status.phase is Phase.DELIVERING:
        return delivering_text(params, status.reason or "Discord is unavailable")
    if status.phase is Phase.SUSPENDED:
        return suspended_text(params, status.reason or "")
    if status.phase is Phase.CANCELLED:
        by = status.cancelled_by
        return cancelled_text(params, "Cancelled." if by is None else f"Cancelled by <@{by}>.")
    if status.phase is Phase.UNDELIVERED:
        return undelivered_text(params, status.reason or "")
    if status.phase is Phase.FAILED:
        return failed_text(params, status.reason or "")
    return done_text(params, status.result_url)


def status_view(status: JobStatus) -> discord.ui.View | None:
    """Cancel while the job waits (or waits for a restart); nothing once it has ended."""
    return cancel_view(status.job_id) if status.cancellable else None


class CancelButton(discord.ui.DynamicItem[discord.ui.Button], template=r"riff:cancel:(?P<id>\d+)"):
    """Cancel on a status message, while queued or running."""

    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Cancel",
                emoji="✖️",
                style=discord.ButtonStyle.secondary,
                custom_id=f"riff:cancel:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> CancelButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        may_moderate = interaction.guild_id is not None and interaction.permissions.manage_messages
        result = services_of(interaction).jobs.cancel(
            self.job_id, interaction.user.id, may_moderate=may_moderate
        )
        if result.outcome is CancelOutcome.FINISHED:
            await reply(interaction, "This request has already finished.")
        elif result.outcome is CancelOutcome.NOT_ALLOWED:
            await reply(
                interaction, f"Only <@{result.owner_id}> (or a moderator) can cancel this request."
            )
        elif result.status is not None:
            try:
                await interaction.response.edit_message(
                    content=status_line(result.status), view=None
                )
            except discord.HTTPException:
                await reply(interaction, "Cancelled.")


def cancel_view(job_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job_id))
    return view
