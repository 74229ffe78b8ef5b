"""The bot's tables (SQLAlchemy 2 typed ORM).

Buttons carry only a row id in their custom_id, so everything a button needs after a restart is
here: every generation parameter, where the result was posted, and which local files belong to
it. Attachment CDN URLs are never stored: they are signed and expire.

Schema changes go through Alembic (bot/migrations); never edit a released migration.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names so migrations can alter them on SQLite (batch mode) and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        dict[str, Any]: JSON,
        datetime: DateTime(timezone=True),
    }


class JobState(str, enum.Enum):
    """A job's life, the same in the queue, the jobs table and every path that reads them.

    queued -> running -> rendered (its result's rows and files are saved) -> delivered (posted,
    or its owner told where it is); failed or cancelled end it early. Queued, running and
    rendered jobs survive a restart: the first two are rendered again, the third delivered.
    With GENERATION_QUEUE=postgres a worker on another machine goes running -> made, and the
    owning bot takes it on from there (docs/scale-out.md).
    """

    QUEUED = "queued"
    RUNNING = "running"
    # The postgres queue only: a GPU worker made the result and left it in job_blobs for the
    # bot that owns the job, which saves it (rendered) and delivers it.
    MADE = "made"
    RENDERED = "rendered"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Nothing more happens to the job (it may still be shown in /history)."""
        return self in (JobState.DELIVERED, JobState.FAILED, JobState.CANCELLED)


UNFINISHED_STATES = (JobState.QUEUED, JobState.RUNNING, JobState.MADE, JobState.RENDERED)
# What a user "holds" in the queue (the per-user limit): waiting or being made.
HELD_STATES = (JobState.QUEUED, JobState.RUNNING)


class Generation(Base):
    """One posted result: its parameters, its lineage, where it lives in Discord and on disk."""

    __tablename__ = "generations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # riff, reroll, variation, extend, ...
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("generations.id", ondelete="SET NULL"), index=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger, index=True)  # replies: remix
    image_attachment_id: Mapped[int | None] = mapped_column(BigInteger)
    audio_attachment_id: Mapped[int | None] = mapped_column(BigInteger)

    prompt: Mapped[str] = mapped_column(Text)
    negative_prompt: Mapped[str | None] = mapped_column(Text)
    seed: Mapped[int] = mapped_column(BigInteger)
    seed_image: Mapped[str | None] = mapped_column(String(200))  # seed image name; never a path
    steps: Mapped[int] = mapped_column(Integer)
    guidance: Mapped[float] = mapped_column(Float)
    denoising: Mapped[float] = mapped_column(Float)
    width: Mapped[int] = mapped_column(Integer, default=512)
    duration_s: Mapped[float] = mapped_column(Float)  # requested length
    # Parameters other commands add (blend ends, remix strength...) without a migration each.
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)

    model: Mapped[str] = mapped_column(String(200))
    audio_duration_s: Mapped[float | None] = mapped_column(Float)
    mp3_bitrate_kbps: Mapped[int | None] = mapped_column(Integer)
    elapsed_s: Mapped[float | None] = mapped_column(Float)
    # Paths relative to DATA_DIR, named by id; set to None when the file is pruned.
    image_file: Mapped[str | None] = mapped_column(String(200))
    audio_file: Mapped[str | None] = mapped_column(String(200))

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column()
    # Where it was posted, as the web pages need it (docs/web.md): True when the message is in
    # a server channel @everyone can read; then `web_token` names its page (/r/<token>),
    # served only while the server has web pages on and the result is not deleted.
    public: Mapped[bool | None] = mapped_column()
    web_token: Mapped[str | None] = mapped_column(String(43), unique=True, index=True)

    parent: Mapped[Generation | None] = relationship(remote_side=[id], lazy="raise")

    def jump_url(self) -> str | None:
        """The Discord link to the posted message, when it was posted."""
        if self.message_id is None or self.channel_id is None:
            return None
        where = self.guild_id if self.guild_id is not None else "@me"
        return f"https://discord.com/channels/{where}/{self.channel_id}/{self.message_id}"


class Favourite(Base):
    __tablename__ = "favourites"
    __table_args__ = (UniqueConstraint("user_id", "generation_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    generation_id: Mapped[int] = mapped_column(
        ForeignKey("generations.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """A request in the queue, written when enqueued so a restart can resume it.

    `params` + `task` rebuild the work (bot/jobs/specs.py); `attempts` counts starts (a job a
    crash interrupted is re-run once); `generation_id` is set as soon as its result row exists;
    `finished_at` is when rendering finished (rendered jobs are delivered in that order).
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_created", "state", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED.value)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    status_message_id: Mapped[int | None] = mapped_column(BigInteger)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    task: Mapped[dict[str, Any] | None] = mapped_column(default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    parent_generation_id: Mapped[int | None] = mapped_column(
        ForeignKey("generations.id", ondelete="SET NULL")
    )
    generation_id: Mapped[int | None] = mapped_column(
        ForeignKey("generations.id", ondelete="SET NULL")
    )
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

    # The postgres queue (issue 14; unused by the local queue). A row is claimable once
    # `queue_version` is set (workers of that version only); a claim sets the lease, and every
    # write a worker makes names (lease_owner, attempts), so a worker that lost its claim
    # changes nothing. `made` carries the worker's result facts (clips, lengths, bitrate).
    queue_version: Mapped[int | None] = mapped_column(Integer)
    batch_key: Mapped[str | None] = mapped_column(String(120))
    cost: Mapped[float] = mapped_column(Float, default=1.0, server_default="1")
    lease_owner: Mapped[str | None] = mapped_column(String(120))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    progress_step: Mapped[int | None] = mapped_column(Integer)
    progress_total: Mapped[int | None] = mapped_column(Integer)
    cancel_requested: Mapped[bool] = mapped_column(default=False, server_default=false())
    made: Mapped[dict[str, Any] | None] = mapped_column()


class JobBlob(Base):
    """Files that travel with a job between machines (postgres queue): its inputs (named by
    their path under DATA_DIR) and the worker's result (result.png, result.mp3, result.wav).
    Removed when the owning bot has saved the result or the job ended."""

    __tablename__ = "job_blobs"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    compressed: Mapped[bool] = mapped_column(default=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class WorkerRow(Base):
    """A GPU worker seen on the postgres queue: what it runs and how fast, refreshed while it
    lives (bots read it for ETAs, /about and health)."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    device: Mapped[str | None] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    seconds_per_cost: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)  # why it refuses jobs, when it does


class CommandSync(Base):
    """The hash of the command definitions last synced to a scope ("global" or "guild:<id>")."""

    __tablename__ = "command_sync"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    payload_hash: Mapped[str] = mapped_column(String(64))
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)
