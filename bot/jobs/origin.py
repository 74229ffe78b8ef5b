"""The contract between the job lifecycle and whoever asked: an Origin.

The job service never talks to Discord. Each request comes with an Origin (an interaction, a
deferred upload, a reply, a job resumed after a restart: bot/ui/origins.py), and the service
tells it what happened: refused, queued (with the status to show), progress, finished, failed.
The origin decides how that looks and where it goes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from bot.params import RiffParams
from bot.policy.rules import Requester

if TYPE_CHECKING:
    from bot.store.models import Generation


class Phase(enum.Enum):
    """Where a job stands, as its author sees it."""

    WAITING = "waiting"  # queued or running: position, progress and ETA say more
    DELIVERING = "delivering"  # rendered and saved; Discord does not take it yet (reason)
    SUSPENDED = "suspended"  # the bot is stopping; the job continues at the next start
    CANCELLED = "cancelled"
    FAILED = "failed"
    UNDELIVERED = "undelivered"  # made and kept, but Discord would not take it (reason)
    DONE = "done"


@dataclass(frozen=True)
class JobStatus:
    """One job's status: what a status message shows."""

    job_id: int
    kind: str
    params: RiffParams
    owner_id: int
    phase: Phase = Phase.WAITING
    position: int | None = None  # 0: rendering; None: finishing
    progress: tuple[int, int] | None = None  # (step, total) while rendering
    detail: str | None = None  # where a job in several parts is (a song: its section)
    eta_unix: int | None = None
    reason: str | None = None  # why it failed, was suspended or waits for Discord
    cancelled_by: int | None = None
    result_url: str | None = None  # DONE: where the result is

    @property
    def cancellable(self) -> bool:
        """Whether the status still offers Cancel."""
        return self.phase in (Phase.WAITING, Phase.SUSPENDED)


@dataclass(frozen=True)
class Delivery:
    """A finished result, saved, to be posted as one message."""

    generation: Generation
    png: bytes
    mp3: bytes
    parent_url: str | None
    by_dm: bool  # the owner asked for results in their DMs (/settings)
    nonce: str  # the same for every attempt of this job: Discord posts it at most once


class DeliveryError(Exception):
    """Posting a result failed. `permanent`: waiting cannot change the answer (the channel is
    gone, the bot was removed or may not post, the owner's DMs are closed); otherwise Discord
    or the network failed for now and a later attempt may succeed. `reason` is for users."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class Posted:
    """Where a result was posted."""

    message_id: int
    channel_id: int
    jump_url: str
    attachment_ids: dict[str, int] = field(default_factory=dict)  # by extension: png, mp3
    # In a server channel @everyone can read (not a DM, a private channel or an ephemeral
    # message): the result may get a web page (docs/web.md).
    public: bool = False


class Origin(Protocol):
    """Where a request came from, and how to answer its author."""

    @property
    def requester(self) -> Requester:
        """Who asked, where, and how large their uploads may be."""
        ...

    @property
    def private_by_default(self) -> bool:
        """Whether the status is private unless /settings says otherwise."""
        ...

    async def refuse(self, text: str) -> None:
        """Answer privately that the request was not queued (text written for users)."""

    async def acknowledge(self, status: JobStatus, *, private: bool) -> int | None:
        """Show the first status (with Cancel); returns the status message's id if known."""

    async def show(self, status: JobStatus) -> None:
        """Update the status message; failures to do so are the origin's to log."""

    async def post_result(self, delivery: Delivery) -> Posted:
        """Post the result as one message; raises DeliveryError when it could not."""

    async def find_posted(self, delivery: Delivery) -> Posted | None:
        """The result's message if an earlier attempt posted it after all (an answer lost in
        an outage, a crash before it was recorded): Discord keeps the buttons' custom_ids,
        which carry the generation id. Raises DeliveryError when it cannot look."""

    async def tell_owner(self, status: JobStatus) -> None:
        """Tell the owner what the status message may not reach them with: the interaction's
        followup while its token lives, else a DM. Failures are only logged."""


class OriginFactory(Protocol):
    """Builds origins for jobs found in the database after a restart (they have no
    interaction any more, only the channel and the status message's id)."""

    def resumed(
        self,
        requester: Requester,
        *,
        status_message_id: int | None,
        tell_owner: bool = True,
    ) -> Origin: ...
