"""Secrets redacted from every log record, for the bot and its GPU workers alike.

The filter sits on the root handlers, so it sees records from every logger (discord.py, aiohttp,
SQLAlchemy, ours) after formatting arguments and tracebacks into text, and replaces each secret
there. bot/app/logs.py installs it with discord.py's handler; a GPU worker with a plain one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

REDACTED = "[redacted]"


class RedactSecrets(logging.Filter):
    """Rewrites a record's message (arguments and traceback included) without the secrets."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        # The formatter re-renders exc_info when exc_text is empty; it is filled in above.
        record.exc_info = None if record.exc_text else record.exc_info
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def install(redactor: RedactSecrets) -> RedactSecrets:
    """Put the filter on every root handler."""
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # start-up noise
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    return redactor
