"""Logging through discord.py's setup, with secrets redacted from every record (bot/logs.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import discord

from bot.logs import REDACTED, RedactSecrets, install

__all__ = ["REDACTED", "RedactSecrets", "setup_logging"]


def setup_logging(level: str, secrets: Iterable[str]) -> RedactSecrets:
    """discord.py's colour-aware logging on the root logger, plus the redaction filter."""
    discord.utils.setup_logging(level=logging.getLevelName(level), root=True)
    return install(RedactSecrets(secrets))
