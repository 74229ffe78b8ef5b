"""Tables for running a real server: per-guild admin settings and per-user preferences.

Kept apart from bot/models.py (the core tables) so server administration can change without
touching the generation records; both share one metadata, so Alembic sees every table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, utcnow


class GuildSettings(Base):
    """What a server's admins chose with /admin. None or empty means "no rule of our own"."""

    __tablename__ = "guild_settings"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    allowed_channels: Mapped[list[int]] = mapped_column(JSON, default=list)
    max_queued_per_user: Mapped[int | None] = mapped_column(Integer)
    max_jobs_per_day: Mapped[int | None] = mapped_column(Integer)
    max_duration_s: Mapped[float | None] = mapped_column(Float)
    max_clips: Mapped[int | None] = mapped_column(Integer)
    max_steps: Mapped[int | None] = mapped_column(Integer)
    blocked_words: Mapped[list[str]] = mapped_column(JSON, default=list)
    blocked_patterns: Mapped[list[str]] = mapped_column(JSON, default=list)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_by: Mapped[int | None] = mapped_column(BigInteger)
    # /admin web: public results get a web page; `web_token` names the favourites gallery
    # (/g/<token>), made the first time pages are switched on and kept when they are off.
    web_pages: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    web_token: Mapped[str | None] = mapped_column(String(43), unique=True, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class UserSettings(Base):
    """One user's /settings: defaults for options they leave out, and where results go.

    A None default means "the bot's own default"; bot/user_settings.py reads and writes these.
    """

    __tablename__ = "user_settings"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    results_by_dm: Mapped[bool] = mapped_column(Boolean, default=False)
    # Status messages: True private (ephemeral), False public, None each command's usual.
    private_status: Mapped[bool | None] = mapped_column(Boolean)
    negative_prompt: Mapped[str | None] = mapped_column(Text)
    steps: Mapped[int | None] = mapped_column(Integer)
    guidance: Mapped[float | None] = mapped_column(Float)
    remix_strength: Mapped[float | None] = mapped_column(Float)
    blend_clips: Mapped[int | None] = mapped_column(Integer)
    seed_image: Mapped[str | None] = mapped_column(String(200))  # a seed image name, never a path
    # /blend's own: None is the bot's (Riffusion's seed image); "none" is text to audio.
    blend_seed_image: Mapped[str | None] = mapped_column(String(200))
    denoising: Mapped[float | None] = mapped_column(Float)  # from a seed image: /riff, /blend
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
